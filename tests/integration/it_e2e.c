/*
 * it_e2e.c - the HTTP API end to end: gateway -> RabbitMQ -> worker ->
 * fake upstream, keyless defaults (Open-Meteo + catalog).  Checks success
 * for a city and coordinates, the genre rule at its boundaries, every error
 * class of SPEC section 2, hostile input, and that the worker stays up.
 */
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static struct h_stack stack;

static int setup(void **state)
{
    static const char *const wenv[] = {"UPSTREAM_TIMEOUT_MS=1500",
                                       "UPSTREAM_RETRIES=1", NULL};
    static const char *const genv[] = {"RPC_TIMEOUT_MS=4000", NULL};

    (void)state;
    h_stack_start(&stack, "e2e", 1, wenv, genv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_stack_stop(&stack);
    return 0;
}

static json_t *get_ok(const char *path)
{
    long status = 0;
    json_t *j = h_get_json(&stack, path, &status);

    if (status != 200) {
        char *s = json_dumps(j, 0);
        fail_msg("GET %s: %ld %s", path, status, s);
    }
    return j;
}

static void check_playlist(json_t *j, const char *genre, size_t ntracks)
{
    json_t *tracks = json_object_get(j, "tracks"), *t;
    const char *worker = NULL, *g = NULL, *ws = NULL, *ms = NULL;
    int cached = -1;
    size_t i;

    assert_int_equal(json_unpack(j, "{s:s,s:s,s:{s:s,s:s},s:b}", "genre", &g,
                                 "worker", &worker, "sources", "weather", &ws,
                                 "music", &ms, "cached", &cached),
                     0);
    assert_string_equal(g, genre);
    assert_string_equal(ws, "open-meteo");
    assert_string_equal(ms, "catalog");
    assert_true(strchr(worker, ':') != NULL);
    assert_true(json_is_array(tracks));
    assert_int_equal(json_array_size(tracks), ntracks);
    json_array_foreach(tracks, i, t)
    {
        json_t *artists = json_object_get(t, "artists");
        assert_true(json_is_string(json_object_get(t, "name")));
        assert_true(json_is_array(artists));
        assert_true(json_array_size(artists) >= 1);
        assert_true(json_is_string(json_array_get(artists, 0)));
    }
}

static void test_city(void **state)
{
    json_t *j = get_ok("/weather?city=London");
    const char *name = NULL, *country = NULL;
    double lat = 0, lon = 0, t = 0;

    (void)state;
    assert_int_equal(json_unpack(j, "{s:{s:s,s:s,s:F,s:F},s:F}", "location",
                                 "name", &name, "country", &country, "lat",
                                 &lat, "lon", &lon, "temperature_c", &t),
                     0);
    assert_string_equal(name, "London");
    assert_string_equal(country, "GB");
    assert_true(lat > 51.4 && lat < 51.6);
    assert_true(lon > -0.2 && lon < 0.0);
    assert_true(t > 12.39 && t < 12.41);
    check_playlist(j, "rock", 10);
    json_decref(j);
}

static void test_coordinates(void **state)
{
    json_t *j = get_ok("/weather?lat=51.5085&lon=-0.1257");
    double t = 0;

    (void)state;
    assert_int_equal(json_unpack(j, "{s:F}", "temperature_c", &t), 0);
    assert_true(t > 12.39 && t < 12.41);
    check_playlist(j, "rock", 10);
    json_decref(j);
    /* Not a known city: the fake answers lat / 2 = -20.5 */
    j = get_ok("/weather?lat=-41&lon=174.77");
    assert_int_equal(json_unpack(j, "{s:F}", "temperature_c", &t), 0);
    assert_true(t > -20.51 && t < -20.49);
    check_playlist(j, "classical", 10);
    json_decref(j);
}

static void test_genre_boundaries(void **state)
{
    static const struct {
        const char *city;
        const char *genre;
    } cases[] = {
        {"Temp30.01", "party"},   {"Temp30", "pop"},
        {"Temp15", "pop"},        {"Temp14.99", "rock"},
        {"Temp10", "rock"},       {"Temp9.99", "classical"},
        {"Temp-40", "classical"}, {"Temp45", "party"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[128];
        json_t *j;
        snprintf(path, sizeof(path), "/weather?city=%s", cases[i].city);
        j = get_ok(path);
        check_playlist(j, cases[i].genre, 10);
        json_decref(j);
    }
}

static void test_country_and_encoding(void **state)
{
    json_t *j = get_ok("/weather?city=Springfield&country=au");
    const char *country = NULL;
    double t = 0;

    (void)state;
    assert_int_equal(json_unpack(j, "{s:{s:s},s:F}", "location", "country",
                                 &country, "temperature_c", &t),
                     0);
    assert_string_equal(country, "AU");
    assert_true(t > 24.99 && t < 25.01);
    json_decref(j);

    /* A city with URL metacharacters reaches the upstream as one value. */
    j = get_ok("/weather?city=London%26appid%3Dx");
    json_decref(j);
    j = h_fake_get(&stack, "/_fake/requests");
    {
        const char *last = NULL;
        json_unpack(j, "{s:{s:s}}", "last", "/v1/search(geocoding)", &last);
        assert_non_null(last);
        assert_non_null(strcasestr(last, "London%26appid%3Dx"));
    }
    json_decref(j);
}

static void test_not_found(void **state)
{
    struct h_resp r;

    (void)state;
    h_http(&stack, "GET", "/weather?city=Atlantis", NULL, &r);
    h_assert_error(&r, 404, "city_not_found");
    assert_non_null(strstr(r.body, "Atlantis"));
    h_resp_free(&r);
    h_http(&stack, "GET", "/nope", NULL, &r);
    h_assert_error(&r, 404, "not_found");
    h_resp_free(&r);
}

static void test_upstream_errors(void **state)
{
    static const char *const cities[] = {"Errorville", "Garbage", "Wrongtype",
                                         "Ratelimit"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cities) / sizeof(cities[0]); i++) {
        char path[128];
        struct h_resp r;
        snprintf(path, sizeof(path), "/weather?city=%s", cities[i]);
        h_http(&stack, "GET", path, NULL, &r);
        h_assert_error(&r, 502, "upstream_error");
        /* No upstream URL, key or internal detail leaks to the client. */
        assert_null(strstr(r.body, "127.0.0.1"));
        assert_null(strstr(r.body, "http"));
        h_resp_free(&r);
    }
}

static void test_bad_input(void **state)
{
    static const char *const paths[] = {
        "/weather",
        "/weather?",
        "/weather?city=",
        "/weather?city",
        "/weather?city=%20%20",
        "/weather?city=London&lat=1&lon=2",
        "/weather?lat=10",
        "/weather?lon=10",
        "/weather?lat=abc&lon=1",
        "/weather?lat=91&lon=0",
        "/weather?lat=-90.0001&lon=0",
        "/weather?lat=0&lon=180.5",
        "/weather?lat=1e2&lon=0",
        "/weather?lat=nan&lon=0",
        "/weather?lat=0x10&lon=0",
        "/weather?city=%C0%AF",
        "/weather?city=%ED%A0%80",
        "/weather?city=Lon%00don",
        "/weather?city=Lon%01don",
        "/weather?city=London%0D%0AX-Injected:%201",
        "/weather?city=London&country=GBR",
        "/weather?city=London&country=1",
        "/weather?city=London&city=Paris",
        "/weather?lat=1&lon=2&country=GB",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct h_resp r;
        h_http(&stack, "GET", paths[i], NULL, &r);
        if (r.status != 400)
            fail_msg("%s: want 400, got %ld %s", paths[i], r.status, r.body);
        h_assert_error(&r, 400, "invalid_argument");
        h_resp_free(&r);
    }
}

static void test_city_length(void **state)
{
    char path[512];
    struct h_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/weather?city=");
    memset(path + 14, 'a', 200);
    path[14 + 200] = '\0';
    h_http(&stack, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200); /* exactly 200 bytes is allowed */
    h_resp_free(&r);
    path[14 + 200] = 'a';
    path[14 + 201] = '\0';
    h_http(&stack, "GET", path, NULL, &r);
    h_assert_error(&r, 400, "invalid_argument");
    h_resp_free(&r);
}

static void test_methods_and_ops(void **state)
{
    struct h_resp r;
    long status;
    json_t *j;

    (void)state;
    h_http(&stack, "POST", "/weather?city=London", NULL, &r);
    h_assert_error(&r, 405, "method_not_allowed");
    assert_non_null(strstr(r.allow, "GET"));
    h_resp_free(&r);
    h_http(&stack, "DELETE", "/healthz", NULL, &r);
    h_assert_error(&r, 405, "method_not_allowed");
    h_resp_free(&r);

    h_http(&stack, "HEAD", "/weather?city=London", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    h_resp_free(&r);

    j = h_get_json(&stack, "/healthz", &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    j = h_get_json(&stack, "/readyz", &status);
    assert_int_equal(status, 200);
    json_decref(j);
}

static void test_request_id(void **state)
{
    static const char *const good[] = {"X-Request-Id: abc-123.x:y_z", NULL};
    static const char *const bad[] = {"X-Request-Id: bad id!", NULL};
    struct h_resp r;

    (void)state;
    h_http(&stack, "GET", "/weather?city=Paris", good, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.request_id, "abc-123.x:y_z");
    h_resp_free(&r);
    h_http(&stack, "GET", "/weather?city=Paris", bad, &r);
    assert_int_equal(r.status, 200);
    assert_true(strlen(r.request_id) > 0);
    assert_string_not_equal(r.request_id, "bad id!");
    h_resp_free(&r);
}

static void test_worker_survived(void **state)
{
    json_t *j;

    (void)state;
    /* After every kind of bad input the same worker process still serves. */
    assert_int_equal(kill(stack.workers[0], 0), 0);
    j = get_ok("/weather?city=Lisbon");
    check_playlist(j, "pop", 10);
    json_decref(j);
}

static void test_no_worker(void **state)
{
    struct h_resp r;

    (void)state;
    assert_int_equal(h_stop(stack.workers[0], SIGTERM, 15000), 0);
    stack.workers[0] = 0;
    assert_int_equal(h_wait_consumers(0, 10000), 0);
    /* The gateway believes "no consumer" about a second after the last
     * sign of one (CONSUMER_GRACE_MS); /readyz says when. */
    assert_int_equal(h_wait_status(&stack, "/readyz", 503, 5000), 503);
    h_http(&stack, "GET", "/weather?city=London", NULL, &r);
    h_assert_error(&r, 503, "service_unavailable");
    assert_true(r.seconds < 2.0); /* at once, not after RPC_TIMEOUT_MS */
    h_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_city),
        cmocka_unit_test(test_coordinates),
        cmocka_unit_test(test_genre_boundaries),
        cmocka_unit_test(test_country_and_encoding),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_upstream_errors),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_city_length),
        cmocka_unit_test(test_methods_and_ops),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_worker_survived),
        cmocka_unit_test(test_no_worker),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
