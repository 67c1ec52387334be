/*
 * it_spotify_pool.c - the Spotify track pool end to end (issue 9): real
 * gateway, worker and broker, the fake upstream as Spotify.
 *
 *  - successive answers for one city differ, tracks within an answer are
 *    distinct, and requests cost no Spotify calls once the pool is there;
 *  - Spotify answering 500 for 30 s (across a background refresh, with
 *    MUSIC_POOL_TTL_S=20 so that the refresh falls inside the outage):
 *    every answer stays 200 from Spotify's pool, not degraded; the failed
 *    refreshes show in the metrics and a refresh succeeds afterwards;
 *  - a cold worker with Spotify down answers from the catalog with
 *    "degraded": true, without one Spotify call per request, and uses
 *    Spotify again once it is back;
 *  - a 429 storm (Retry-After: 2 for 9 s) costs at most one search per
 *    Retry-After window: the fake's arrival times are at least 2 s apart.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../promcheck.h"

#define SP_ID "SPOTIFY_CLIENT_ID=test-id"
#define SP_SECRET "SPOTIFY_CLIENT_SECRET=test-secret"
#define OWM_KEY "OPENWEATHER_API_KEY=test-key"
#define SEARCH "/v1/search(spotify)"

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Spotify searches the fake has seen. */
static long searches(const struct h_stack *s)
{
    json_t *j = h_fake_get(s, "/_fake/requests");
    json_t *n = json_object_get(json_object_get(j, "paths"), SEARCH);
    long v = n ? (long)json_integer_value(n) : 0;

    json_decref(j);
    return v;
}

/* GET /weather?city=... answered 200; returns the body. */
static json_t *weather(struct h_stack *s, const char *city)
{
    char path[128];
    long status = 0;
    json_t *j;

    snprintf(path, sizeof(path), "/weather?city=%s", city);
    j = h_get_json(s, path, &status);
    if (status != 200) {
        char *dump = json_dumps(j, 0);
        fail_msg("GET %s: %ld %s", path, status, dump);
    }
    return j;
}

static const char *music(const json_t *j)
{
    return json_string_value(
        json_object_get(json_object_get(j, "sources"), "music"));
}

/* The worker's metric name{labels} (summed), from its METRICS_PORT. */
static double metric(const struct h_stack *s, int port, const char *name,
                     const char *labels)
{
    struct h_stack t = *s;
    struct h_resp r;
    char err[256];
    double v = 0;

    snprintf(t.base, sizeof(t.base), "http://127.0.0.1:%d", port);
    h_http(&t, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    if (promcheck(r.body, 1, err, sizeof(err)) != 0)
        fail_msg("worker /metrics does not parse: %s", err);
    if (promcheck_sum(r.body, name, labels, &v) <= 0)
        fail_msg("no sample %s{%s}", name, labels);
    h_resp_free(&r);
    return v;
}

static void assert_distinct_tracks(const json_t *tracks)
{
    size_t i, j;

    for (i = 0; i < json_array_size(tracks); i++) {
        const char *u = json_string_value(
            json_object_get(json_array_get(tracks, i), "uri"));

        assert_non_null(u);
        assert_true(strncmp(u, "spotify:track:", 14) == 0);
        for (j = i + 1; j < json_array_size(tracks); j++)
            assert_string_not_equal(u, json_string_value(json_object_get(
                                           json_array_get(tracks, j), "uri")));
    }
}

static void test_answers_vary_from_one_pool(void **state)
{
    static char port_env[32];
    const char *const env[] = {OWM_KEY, SP_ID, SP_SECRET, port_env, NULL};
    struct h_stack s = {0};
    char *first = NULL;
    long after_first;
    int i, differ = 0, mport = h_free_port();

    (void)state;
    snprintf(port_env, sizeof(port_env), "METRICS_PORT=%d", mport);
    h_stack_start(&s, "pool-vary", 1, env, NULL);
    for (i = 0; i < 20; i++) {
        json_t *j = weather(&s, "London"), *tracks;
        char *t;

        assert_string_equal(music(j), "spotify");
        assert_null(json_object_get(j, "degraded"));
        tracks = json_object_get(j, "tracks");
        assert_int_equal(json_array_size(tracks), 10);
        assert_distinct_tracks(tracks);
        t = json_dumps(tracks, JSON_COMPACT);
        if (first == NULL) {
            first = t;
            after_first = searches(&s);
        } else {
            differ |= strcmp(first, t) != 0;
            free(t);
        }
        json_decref(j);
    }
    free(first);
    assert_true(differ);
    /* One pool fetch (a probe page, then the rest), none per request. */
    assert_true(after_first >= 2 && after_first <= 20);
    assert_int_equal(searches(&s), after_first);
    assert_true(metric(&s, mport, "tempo_worker_music_pool_tracks",
                       "genre=\"rock\"") == 200);
    assert_true(metric(&s, mport, "tempo_worker_music_pool_refreshes_total",
                       "genre=\"rock\"") == 1);
    assert_true(metric(&s, mport, "tempo_worker_spotify_calls_total",
                       "endpoint=\"search\"") == (double)after_first);
    assert_true(metric(&s, mport, "tempo_worker_music_pool_tracks",
                       "genre=\"pop\"") == 0);
    h_stack_stop(&s);
}

static void test_outage_served_from_pool(void **state)
{
    static char port_env[32];
    const char *const env[] = {
        OWM_KEY, SP_ID, SP_SECRET, port_env, "MUSIC_POOL_TTL_S=20", NULL};
    struct h_stack s = {0};
    int64_t end;
    long before, during;
    int i, answers = 0, mport = h_free_port();
    json_t *j;

    (void)state;
    snprintf(port_env, sizeof(port_env), "METRICS_PORT=%d", mport);
    h_stack_start(&s, "pool-outage", 1, env, NULL);
    j = weather(&s, "London");
    assert_string_equal(music(j), "spotify");
    json_decref(j);
    before = searches(&s);

    /* Spotify answers 500 for 30 s; the pool's refresh falls due at 15 s
     * (3/4 of 20) and fails, and is retried with backoff. */
    h_fake_post(&s, "/_fake/fault?path=" SEARCH "&status=500"
                    "&duration_ms=30000");
    end = now_ms() + 30000;
    while (now_ms() < end) {
        j = weather(&s, "London");
        if (strcmp(music(j), "spotify") != 0 ||
            json_object_get(j, "degraded") != NULL) {
            char *dump = json_dumps(j, 0);
            fail_msg("answer %d of the outage: %s", answers, dump);
        }
        assert_int_equal(json_array_size(json_object_get(j, "tracks")), 10);
        json_decref(j);
        answers++;
        usleep(500000);
    }
    during = searches(&s) - before;
    /* Refreshes were tried during the outage, and they failed ... */
    assert_true(during >= 1);
    assert_true(metric(&s, mport,
                       "tempo_worker_music_pool_refresh_failures_total",
                       "genre=\"rock\"") >= 1);
    /* ... but not once per answer: backoff and the breaker bound them. */
    assert_true(during < 20 * 3 * 4);
    /* Spotify is back: the next refresh succeeds (bounded wait). */
    for (i = 0; i < 150; i++) {
        if (metric(&s, mport, "tempo_worker_music_pool_refreshes_total",
                   "genre=\"rock\"") >= 2)
            break;
        j = weather(&s, "London");
        json_decref(j);
        usleep(100000);
    }
    assert_true(metric(&s, mport, "tempo_worker_music_pool_refreshes_total",
                       "genre=\"rock\"") >= 2);
    assert_true(metric(&s, mport, "tempo_worker_music_pool_age_seconds",
                       "genre=\"rock\"") < 20);
    assert_true(answers >= 30);
    h_stack_stop(&s);
}

static void test_cold_worker_spotify_down(void **state)
{
    const char *const env[] = {OWM_KEY, SP_ID, SP_SECRET, NULL};
    struct h_stack s = {0};
    json_t *j;
    int i;

    (void)state;
    h_fake_start(&s, NULL);
    h_fake_post(&s, "/_fake/fault?path=" SEARCH "&status=500"
                    "&duration_ms=60000");
    h_stack_start(&s, "pool-cold-down", 1, env, NULL);
    for (i = 0; i < 20; i++) {
        j = weather(&s, "London");
        assert_string_equal(music(j), "catalog");
        assert_true(json_is_true(json_object_get(j, "degraded")));
        assert_int_equal(json_array_size(json_object_get(j, "tracks")), 10);
        json_decref(j);
    }
    /* The first fetch failed (1 + UPSTREAM_RETRIES attempts); the rest of
     * the answers came at once, without asking Spotify each time. */
    assert_true(searches(&s) >= 1 && searches(&s) < 20);

    /* Spotify back: answers from Spotify again, after a backoff. */
    h_fake_post(&s, "/_fake/reset");
    for (i = 0; i < 100; i++) {
        j = weather(&s, "London");
        if (strcmp(music(j), "spotify") == 0)
            break;
        json_decref(j);
        j = NULL;
        usleep(100000);
    }
    assert_non_null(j);
    assert_null(json_object_get(j, "degraded"));
    json_decref(j);
    h_stack_stop(&s);
}

static void test_429_storm_one_call_per_window(void **state)
{
    const char *const env[] = {OWM_KEY, SP_ID, SP_SECRET, NULL};
    struct h_stack s = {0};
    json_t *req, *times, *t;
    int64_t end;
    int64_t prev = -1, t0;
    size_t i;
    int answers = 0, storm_calls = 0;

    (void)state;
    h_fake_start(&s, NULL);
    h_stack_start(&s, "pool-429", 1, env, NULL);
    /* Every search answers 429 with Retry-After: 2 for 9 s, while a cold
     * worker is asked for London ten times a second. */
    h_fake_post(&s, "/_fake/fault?path=" SEARCH "&status=429"
                    "&retry_after=2&duration_ms=9000");
    end = now_ms() + 9000;
    while (now_ms() < end) {
        json_t *j = weather(&s, "London");

        assert_true(json_is_true(json_object_get(j, "degraded")));
        json_decref(j);
        answers++;
        usleep(100000);
    }
    assert_true(answers >= 40);

    req = h_fake_get(&s, "/_fake/requests");
    /* The storm began with the first weather call (fake-relative ms). */
    t0 = (int64_t)json_integer_value(json_array_get(
        json_object_get(json_object_get(req, "times"), "/data/2.5/weather"),
        0));
    times = json_object_get(json_object_get(req, "times"), SEARCH);
    json_array_foreach(times, i, t)
    {
        int64_t at = (int64_t)json_integer_value(t);

        if (at >= t0 + 9000)
            break; /* after the storm */
        if (prev >= 0 && at - prev < 1900)
            fail_msg("searches %zu and %zu only %lld ms apart", i - 1, i,
                     (long long)(at - prev));
        prev = at;
        storm_calls++;
    }
    json_decref(req);
    /* 9 s of 429s with Retry-After 2: one search per window at most. */
    assert_true(storm_calls >= 1 && storm_calls <= 9 / 2 + 1);

    /* The storm is over: the pool fills and Spotify answers again. */
    for (i = 0; i < 100; i++) {
        json_t *j = weather(&s, "London");
        int ok = strcmp(music(j), "spotify") == 0;

        json_decref(j);
        if (ok)
            break;
        usleep(100000);
    }
    assert_true(i < 100);
    h_stack_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_answers_vary_from_one_pool,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_outage_served_from_pool,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_cold_worker_spotify_down,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_429_storm_one_call_per_window,
                                  h_kill_all_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
