/*
 * test_owm.c - OpenWeatherMap: the pure decoder on real-format and hostile
 * bodies, and owm_fetch against a libmicrohttpd fake (how the city, the
 * country and the key reach the upstream; how statuses map to errors;
 * that messages never carry the key or the URL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "fake_http.h"
#include "http_client.h"
#include "owm.h"

/* A real answer, as api.openweathermap.org sends it. */
static const char london[] =
    "{\"coord\":{\"lon\":-0.1257,\"lat\":51.5085},\"weather\":[{\"id\":803,"
    "\"main\":\"Clouds\",\"description\":\"broken clouds\",\"icon\":\"04d\"}],"
    "\"base\":\"stations\",\"main\":{\"temp\":12.4,\"feels_like\":11.6,"
    "\"temp_min\":11.1,\"temp_max\":13.5,\"pressure\":1012,\"humidity\":76},"
    "\"visibility\":10000,\"wind\":{\"speed\":4.6,\"deg\":240},\"clouds\":"
    "{\"all\":75},\"dt\":1700000000,\"sys\":{\"type\":2,\"id\":2075535,"
    "\"country\":\"GB\",\"sunrise\":1699946000,\"sunset\":1699978000},"
    "\"timezone\":0,\"id\":2643743,\"name\":\"London\",\"cod\":200}";

static int decode(const char *body, struct weather_report *r, char *err,
                  size_t errlen)
{
    return owm_decode(body, strlen(body), r, err, errlen);
}

static void test_decode_real(void **state)
{
    struct weather_report r;
    char err[160];

    (void)state;
    assert_int_equal(decode(london, &r, err, sizeof(err)), 0);
    assert_true(r.temp_c == 12.4);
    assert_string_equal(r.name, "London");
    assert_string_equal(r.country, "GB");
    assert_true(r.has_coords);
    assert_true(r.lat == 51.5085 && r.lon == -0.1257);
}

static void test_decode_minimal_and_odd_extras(void **state)
{
    struct weather_report r;
    char err[160];

    (void)state;
    assert_int_equal(decode("{\"main\":{\"temp\":31}}", &r, err, sizeof(err)),
                     0);
    assert_true(r.temp_c == 31.0);
    assert_string_equal(r.name, "");
    assert_string_equal(r.country, "");
    assert_false(r.has_coords);

    /* Decoration of the wrong shape is dropped, not fatal. */
    assert_int_equal(decode("{\"main\":{\"temp\":-5.5},\"name\":42,"
                            "\"sys\":{\"country\":\"GBR\"},"
                            "\"coord\":{\"lat\":200,\"lon\":0}}",
                            &r, err, sizeof(err)),
                     0);
    assert_true(r.temp_c == -5.5);
    assert_string_equal(r.name, "");
    assert_string_equal(r.country, "");
    assert_false(r.has_coords);
    assert_int_equal(decode("{\"main\":{\"temp\":1},\"sys\":{\"country\":"
                            "\"g1\"},\"coord\":[1,2],\"name\":"
                            "\"S\\u00e3o Paulo\"}",
                            &r, err, sizeof(err)),
                     0);
    assert_string_equal(r.country, "");
    assert_string_equal(r.name, "S\xc3\xa3o Paulo");
    assert_int_equal(decode("{\"main\":{\"temp\":1},\"sys\":{\"country\":"
                            "\"br\"}}",
                            &r, err, sizeof(err)),
                     0);
    assert_string_equal(r.country, "BR");
}

static void test_decode_hostile(void **state)
{
    static const char nul[] = "{\"main\":{\"temp\":1}}\0";
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "null",
        "{\"main\":{\"temp\":12.4}",    /* truncated */
        "{}",                           /* no main */
        "{\"main\":12}",                /* main not an object */
        "{\"main\":{}}",                /* no temp */
        "{\"main\":{\"temp\":\"12\"}}", /* string */
        "{\"main\":{\"temp\":null}}",
        "{\"main\":{\"temp\":true}}",
        "{\"main\":{\"temp\":[12]}}",
        "{\"main\":{\"temp\":1e300}}", /* implausible */
        "{\"main\":{\"temp\":-273.15}}",
        "{\"main\":{\"temp\":1e999}}", /* overflows: not JSON */
        "{\"main\":{\"temp\":99999999999999999999999}}",
        "{\"main\":{\"temp\":NaN}}",
        "{\"main\":{\"temp\":Infinity}}",
        "{\"main\":{\"temp\":1},\"main\":{\"temp\":2}}", /* duplicate key */
    };
    struct weather_report r;
    char err[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0x5a, sizeof(r));
        err[0] = '\0';
        if (decode(bad[i], &r, err, sizeof(err)) != TEMPO_EUPSTREAM)
            fail_msg("accepted: %s", bad[i]);
        assert_true(strlen(err) > 0);
        assert_int_equal(((unsigned char *)&r)[0], 0x5a); /* untouched */
    }
    /* A NUL inside the declared length is not JSON either. */
    assert_int_equal(owm_decode(nul, sizeof(nul) - 1, &r, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_int_equal(owm_decode(nul, sizeof(nul) - 2, &r, err, sizeof(err)), 0);
}

/* ---- owm_fetch against the fake ---- */

static struct fake_route routes[] = {
    {.path = "/ok/data/2.5/weather", .status = 200, .body = london},
    {.path = "/p404/data/2.5/weather",
     .status = 404,
     .body = "{\"cod\":\"404\",\"message\":\"city not found\"}"},
    {.path = "/p401/data/2.5/weather",
     .status = 401,
     .body = "{\"cod\":401,\"message\":\"Invalid API key SECRETKEY\"}"},
    {.path = "/p429/data/2.5/weather", .status = 429, .body = "{}"},
    {.path = "/p500/data/2.5/weather", .status = 500, .body = "{}"},
    {.path = "/junk/data/2.5/weather", .status = 200, .body = "<html>"},
    {.path = NULL},
};

static char key[] = "SECRETKEY";
static char base[128];
static struct config cfg;
static struct owm *owm;
static struct http_client *hc;

static int setup(void **state)
{
    (void)state;
    fake_start(routes);
    memset(&cfg, 0, sizeof(cfg));
    cfg.openweather_api_key = key;
    cfg.openweather_url = base;
    cfg.upstream_timeout_ms = 2000;
    cfg.upstream_retries = 1;
    owm = owm_create(&cfg);
    hc = http_client_create();
    assert_non_null(owm);
    assert_non_null(hc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    owm_destroy(owm);
    http_client_destroy(hc);
    fake_stop();
    return 0;
}

static int fetch(const char *prefix, const struct weather_query *q,
                 struct weather_report *r, char *err, size_t errlen)
{
    snprintf(base, sizeof(base), "%s%s", fake_base(), prefix);
    return owm_fetch(owm, hc, q, clock_mono_ms() + 5000, r, err, errlen);
}

static void test_fetch_city_encoding(void **state)
{
    struct weather_query q = {.city = "London&appid=x", .country = "GB"};
    struct weather_report r;
    char err[160];

    (void)state;
    assert_int_equal(fetch("/ok", &q, &r, err, sizeof(err)), 0);
    assert_true(r.temp_c == 12.4);
    assert_string_equal(r.name, "London");
    /* The hostile city is one value; the only appid is ours. */
    assert_string_equal(fake_arg_value("q"), "London&appid=x,GB");
    assert_string_equal(fake_arg_value("appid"), "SECRETKEY");
    assert_string_equal(fake_arg_value("units"), "metric");
    assert_int_equal(fake_last.dup_args, 0);
    assert_null(fake_arg_value("lat"));

    q.country = NULL;
    q.city = "S\xc3\xa3o Paulo";
    assert_int_equal(fetch("/ok", &q, &r, err, sizeof(err)), 0);
    assert_string_equal(fake_arg_value("q"), "S\xc3\xa3o Paulo");
}

static void test_fetch_coordinates(void **state)
{
    struct weather_query q = {.lat = 51.5, .lon = -0.12};
    struct weather_report r;
    char err[160];

    (void)state;
    assert_int_equal(fetch("/ok", &q, &r, err, sizeof(err)), 0);
    assert_string_equal(fake_arg_value("lat"), "51.500000");
    assert_string_equal(fake_arg_value("lon"), "-0.120000");
    assert_string_equal(fake_arg_value("appid"), "SECRETKEY");
    assert_null(fake_arg_value("q"));
}

static void expect_error(const char *prefix, int want, const char *word,
                         int hits)
{
    struct weather_query q = {.city = "Atlantis"};
    struct weather_report r;
    char err[160], path[64];
    size_t i;

    assert_int_equal(fetch(prefix, &q, &r, err, sizeof(err)), want);
    assert_non_null(strstr(err, word));
    assert_null(strstr(err, "SECRETKEY"));
    assert_null(strstr(err, "http"));
    snprintf(path, sizeof(path), "%s/data/2.5/weather", prefix);
    for (i = 0; routes[i].path != NULL; i++)
        if (strcmp(routes[i].path, path) == 0)
            assert_int_equal(routes[i].hits, hits);
}

static void test_fetch_statuses(void **state)
{
    (void)state;
    expect_error("/p404", TEMPO_ENOCITY, "not found", 1);
    expect_error("/p401", TEMPO_EUPSTREAM, "API key", 1);
    expect_error("/p429", TEMPO_EUPSTREAM, "rate limit", 1);
    expect_error("/p500", TEMPO_EUPSTREAM, "500", 2); /* retried once */
    expect_error("/junk", TEMPO_EUPSTREAM, "not JSON", 1);
}

static void test_fetch_bad_base_url(void **state)
{
    struct weather_query q = {.city = "London"};
    struct weather_report r;
    char err[160];

    (void)state;
    snprintf(base, sizeof(base), "::not a url");
    assert_int_not_equal(
        owm_fetch(owm, hc, &q, clock_mono_ms() + 1000, &r, err, sizeof(err)),
        0);
    assert_null(strstr(err, "SECRETKEY"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_real),
        cmocka_unit_test(test_decode_minimal_and_odd_extras),
        cmocka_unit_test(test_decode_hostile),
        cmocka_unit_test_setup_teardown(test_fetch_city_encoding, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fetch_coordinates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fetch_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_bad_base_url, setup,
                                        teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
