/*
 * test_open_meteo.c - Open-Meteo: the pure decoders (geocoding, forecast,
 * error bodies) on real-format and hostile input, and open_meteo_fetch
 * against a libmicrohttpd fake: geocode-then-forecast, countryCode, the
 * coordinate shortcut, not-found and error mapping.
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
#include "open_meteo.h"

/* Real answers, as the Open-Meteo APIs send them. */
static const char geo_london[] =
    "{\"results\":[{\"id\":2643743,\"name\":\"London\",\"latitude\":51.50853,"
    "\"longitude\":-0.12574,\"elevation\":25.0,\"feature_code\":\"PPLC\","
    "\"country_code\":\"GB\",\"admin1_id\":6269131,\"timezone\":"
    "\"Europe/London\",\"population\":7556900,\"country_id\":2635167,"
    "\"country\":\"United Kingdom\",\"admin1\":\"England\"}],"
    "\"generationtime_ms\":0.6}";
static const char geo_none[] = "{\"generationtime_ms\":0.3}";
static const char forecast[] =
    "{\"latitude\":51.5,\"longitude\":-0.12,\"generationtime_ms\":0.02,"
    "\"utc_offset_seconds\":0,\"timezone\":\"GMT\",\"timezone_abbreviation\":"
    "\"GMT\",\"elevation\":23.0,\"current_units\":{\"time\":\"iso8601\","
    "\"interval\":\"seconds\",\"temperature_2m\":\"\\u00b0C\"},\"current\":"
    "{\"time\":\"2024-01-01T12:00\",\"interval\":900,\"temperature_2m\":12.4}}";
static const char range_error[] =
    "{\"error\":true,\"reason\":\"Latitude must be in range of -90 to 90\\u00b0"
    ". Given: 91.0.\"}";

static void test_decode_geocoding(void **state)
{
    static const char odd_cc[] = "{\"results\":[{\"name\":\"X\",\"latitude\":1,"
                                 "\"longitude\":2,\"country_code\":\"g1\"}]}";
    struct weather_report r;
    char err[200];

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(open_meteo_decode_geocoding(geo_london, strlen(geo_london),
                                                 &r, err, sizeof(err)),
                     0);
    assert_string_equal(r.name, "London");
    assert_string_equal(r.country, "GB");
    assert_true(r.has_coords && r.lat == 51.50853 && r.lon == -0.12574);

    assert_int_equal(open_meteo_decode_geocoding(odd_cc, strlen(odd_cc), &r,
                                                 err, sizeof(err)),
                     0);
    assert_string_equal(r.country, "");
}

static void test_decode_geocoding_not_found(void **state)
{
    static const char *const none[] = {geo_none, "{\"results\":[]}",
                                       "{\"results\":null}"};
    struct weather_report r;
    char err[200];
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++)
        assert_int_equal(open_meteo_decode_geocoding(none[i], strlen(none[i]),
                                                     &r, err, sizeof(err)),
                         TEMPO_ENOCITY);
}

static void test_decode_geocoding_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        "nope",
        "[]",
        "{\"results\":{}}",
        "{\"results\":[null]}",
        "{\"results\":[{\"name\":\"X\",\"latitude\":\"1\",\"longitude\":2}]}",
        "{\"results\":[{\"name\":\"X\",\"latitude\":91,\"longitude\":2}]}",
        "{\"results\":[{\"name\":\"X\",\"latitude\":1,\"longitude\":-181}]}",
        "{\"results\":[{\"latitude\":1,\"longitude\":2}]}",
        "{\"results\":[{\"name\":\"\",\"latitude\":1,\"longitude\":2}]}",
        "{\"results\":[{\"name\":7,\"latitude\":1,\"longitude\":2}]}",
        "{\"results\":[{\"name\":\"X\",\"latitude\":1e999,\"longitude\":2}]}",
    };
    struct weather_report r;
    char err[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (open_meteo_decode_geocoding(bad[i], strlen(bad[i]), &r, err,
                                        sizeof(err)) != TEMPO_EUPSTREAM)
            fail_msg("accepted: %s", bad[i]);
}

static void test_decode_forecast(void **state)
{
    static const char *const bad[] = {
        "",
        "{}",
        "{\"current\":{}}",
        "{\"current\":{\"temperature_2m\":null}}",
        "{\"current\":{\"temperature_2m\":\"12\"}}",
        "{\"current\":{\"temperature_2m\":150}}",
        "{\"current\":{\"temperature_2m\":1e300}}",
        "{\"current\":[12]}",
        "{\"current\":{\"temperature_2m\":NaN}}",
    };
    static const char cold[] = "{\"current\":{\"temperature_2m\":-3}}";
    double t = 0;
    char err[200];
    size_t i;

    (void)state;
    assert_int_equal(open_meteo_decode_forecast(forecast, strlen(forecast), &t,
                                                err, sizeof(err)),
                     0);
    assert_true(t == 12.4);
    assert_int_equal(
        open_meteo_decode_forecast(cold, strlen(cold), &t, err, sizeof(err)),
        0);
    assert_true(t == -3.0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 42.0;
        if (open_meteo_decode_forecast(bad[i], strlen(bad[i]), &t, err,
                                       sizeof(err)) != TEMPO_EUPSTREAM)
            fail_msg("accepted: %s", bad[i]);
        assert_true(t == 42.0);
    }
}

static void test_decode_error(void **state)
{
    static const char other[] =
        "{\"error\":true,\"reason\":\"Cannot initialize WeatherVariable\"}";
    char err[200];

    (void)state;
    assert_int_equal(open_meteo_decode_error(range_error, strlen(range_error),
                                             err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_non_null(strstr(err, "Latitude must be in range"));
    assert_int_equal(
        open_meteo_decode_error(other, strlen(other), err, sizeof(err)),
        TEMPO_EUPSTREAM);
    assert_non_null(strstr(err, "WeatherVariable"));
    assert_int_equal(open_meteo_decode_error("<html>", 6, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_int_equal(
        open_meteo_decode_error("{\"reason\":5}", 12, err, sizeof(err)),
        TEMPO_EUPSTREAM);
}

/* ---- open_meteo_fetch against the fake ---- */

static struct fake_route routes[] = {
    {.path = "/geo/v1/search", .status = 200, .body = geo_london},
    {.path = "/fc/v1/forecast", .status = 200, .body = forecast},
    {.path = "/nogeo/v1/search", .status = 200, .body = geo_none},
    {.path = "/fc400/v1/forecast", .status = 400, .body = range_error},
    {.path = "/fc502/v1/forecast", .status = 502, .body = "bad gateway"},
    {.path = NULL},
};

static char geo_base[128], fc_base[128];
static struct config cfg;
static struct open_meteo *om;
static struct http_client *hc;

static int setup(void **state)
{
    (void)state;
    fake_start(routes);
    memset(&cfg, 0, sizeof(cfg));
    cfg.open_meteo_geocoding_url = geo_base;
    cfg.open_meteo_url = fc_base;
    cfg.upstream_timeout_ms = 2000;
    cfg.upstream_retries = 1;
    om = open_meteo_create(&cfg);
    hc = http_client_create();
    assert_non_null(om);
    assert_non_null(hc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    open_meteo_destroy(om);
    http_client_destroy(hc);
    fake_stop();
    return 0;
}

static int fetch(const char *geo, const char *fc, const struct weather_query *q,
                 struct weather_report *r, char *err, size_t errlen)
{
    snprintf(geo_base, sizeof(geo_base), "%s%s", fake_base(), geo);
    snprintf(fc_base, sizeof(fc_base), "%s%s", fake_base(), fc);
    return open_meteo_fetch(om, hc, q, clock_mono_ms() + 5000, r, err, errlen);
}

static void test_fetch_city(void **state)
{
    struct weather_query q = {.city = "London&appid=x", .country = "GB"};
    struct weather_report r;
    char err[200];

    (void)state;
    assert_int_equal(fetch("/geo", "/fc", &q, &r, err, sizeof(err)), 0);
    assert_true(r.temp_c == 12.4);
    assert_string_equal(r.name, "London");
    assert_string_equal(r.country, "GB");
    assert_true(r.has_coords && r.lat == 51.50853);
    assert_string_equal(fake_route_arg("/geo/v1/search", "name"),
                        "London&appid=x");
    assert_string_equal(fake_route_arg("/geo/v1/search", "count"), "1");
    assert_string_equal(fake_route_arg("/geo/v1/search", "countryCode"), "GB");
    assert_null(fake_route_arg("/geo/v1/search", "appid"));
    /* The forecast asks for the geocoded point. */
    assert_string_equal(fake_route_arg("/fc/v1/forecast", "latitude"),
                        "51.508530");
    assert_string_equal(fake_route_arg("/fc/v1/forecast", "longitude"),
                        "-0.125740");
    assert_string_equal(fake_route_arg("/fc/v1/forecast", "current"),
                        "temperature_2m");

    q.country = NULL;
    assert_int_equal(fetch("/geo", "/fc", &q, &r, err, sizeof(err)), 0);
    assert_null(fake_route_arg("/geo/v1/search", "countryCode"));
}

static void test_fetch_coordinates_skip_geocoding(void **state)
{
    struct weather_query q = {.lat = -33.87, .lon = 151.21};
    struct weather_report r;
    char err[200];

    (void)state;
    assert_int_equal(fetch("/geo", "/fc", &q, &r, err, sizeof(err)), 0);
    assert_int_equal(routes[0].hits, 0);
    assert_int_equal(routes[1].hits, 1);
    assert_string_equal(r.name, "");
    assert_string_equal(r.country, "");
    assert_true(r.has_coords && r.lat == -33.87 && r.lon == 151.21);
    assert_string_equal(fake_route_arg("/fc/v1/forecast", "latitude"),
                        "-33.870000");
}

static void test_fetch_errors(void **state)
{
    struct weather_query q = {.city = "Atlantis"};
    struct weather_report r;
    char err[200];

    (void)state;
    assert_int_equal(fetch("/nogeo", "/fc", &q, &r, err, sizeof(err)),
                     TEMPO_ENOCITY);
    assert_int_equal(routes[1].hits, 0); /* no forecast for no place */

    q.city = "London";
    assert_int_equal(fetch("/geo", "/fc400", &q, &r, err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_int_equal(fetch("/geo", "/fc502", &q, &r, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_non_null(strstr(err, "502"));
    assert_int_equal(routes[4].hits, 2); /* retried once */
    assert_null(strstr(err, "http"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_geocoding),
        cmocka_unit_test(test_decode_geocoding_not_found),
        cmocka_unit_test(test_decode_geocoding_hostile),
        cmocka_unit_test(test_decode_forecast),
        cmocka_unit_test(test_decode_error),
        cmocka_unit_test_setup_teardown(test_fetch_city, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_coordinates_skip_geocoding,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_errors, setup, teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
