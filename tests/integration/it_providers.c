/*
 * it_providers.c - provider selection end to end (SPEC sections 4 and 5):
 * keyless by default (Open-Meteo + catalog), OpenWeatherMap and Spotify as
 * soon as their credentials are set, each provider forced, a forced
 * provider without credentials refused at start, and Spotify's failure
 * modes.  The fake upstream's request log proves which endpoints were
 * called in each mode.
 */
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define OWM_KEY "OPENWEATHER_API_KEY=test-key"
#define SP_ID "SPOTIFY_CLIENT_ID=test-id"
#define SP_SECRET "SPOTIFY_CLIENT_SECRET=test-secret"

/* Requests the fake saw on one path label (0 if none). */
static long fake_count(const struct h_stack *s, const char *label)
{
    json_t *j = h_fake_get(s, "/_fake/requests");
    json_t *n = json_object_get(json_object_get(j, "paths"), label);
    long v = n ? (long)json_integer_value(n) : 0;

    json_decref(j);
    return v;
}

static json_t *weather(struct h_stack *s, const char *path)
{
    long status = 0;
    json_t *j = h_get_json(s, path, &status);

    if (status != 200) {
        char *dump = json_dumps(j, 0);
        fail_msg("GET %s: %ld %s", path, status, dump);
    }
    return j;
}

static void assert_sources(json_t *j, const char *w, const char *m)
{
    const char *ws = NULL, *ms = NULL;

    assert_int_equal(json_unpack(j, "{s:{s:s,s:s}}", "sources", "weather", &ws,
                                 "music", &ms),
                     0);
    assert_string_equal(ws, w);
    assert_string_equal(ms, m);
}

static void test_keyless_default(void **state)
{
    struct h_stack s = {0};
    json_t *j;

    (void)state;
    h_stack_start(&s, "keyless", 1, NULL, NULL);
    j = weather(&s, "/weather?city=Lisbon");
    assert_sources(j, "open-meteo", "catalog");
    assert_string_equal(json_string_value(json_object_get(j, "genre")), "pop");
    json_decref(j);
    j = weather(&s, "/weather?lat=59.9127&lon=10.7461");
    assert_sources(j, "open-meteo", "catalog");
    assert_string_equal(json_string_value(json_object_get(j, "genre")),
                        "classical");
    json_decref(j);

    assert_int_equal(fake_count(&s, "/v1/search(geocoding)"), 1);
    assert_int_equal(fake_count(&s, "/v1/forecast"), 2);
    assert_int_equal(fake_count(&s, "/data/2.5/weather"), 0);
    assert_int_equal(fake_count(&s, "/api/token"), 0);
    assert_int_equal(fake_count(&s, "/v1/search(spotify)"), 0);
    h_stack_stop(&s);
}

static void test_catalog_varies(void **state)
{
    static const char *const env[] = {"PLAYLIST_SIZE=5", NULL};
    struct h_stack s = {0};
    char *first = NULL;
    int i, differ = 0;

    (void)state;
    h_stack_start(&s, "catalog", 1, env, NULL);
    for (i = 0; i < 6; i++) {
        json_t *j = weather(&s, "/weather?city=London");
        json_t *tracks = json_object_get(j, "tracks");
        char *t = json_dumps(tracks, JSON_COMPACT);
        assert_int_equal(json_array_size(tracks), 5);
        if (first == NULL)
            first = t;
        else {
            differ |= strcmp(first, t) != 0;
            free(t);
        }
        json_decref(j);
    }
    free(first);
    assert_true(differ); /* not always the same five tracks */
    h_stack_stop(&s);
}

static void test_keys_switch_providers(void **state)
{
    static const char *const env[] = {OWM_KEY, SP_ID, SP_SECRET, NULL};
    struct h_stack s = {0};
    json_t *j, *t;
    size_t i;

    (void)state;
    h_stack_start(&s, "keys", 1, env, NULL);
    j = weather(&s, "/weather?city=London");
    assert_sources(j, "openweathermap", "spotify");
    assert_string_equal(json_string_value(json_object_get(j, "genre")), "rock");
    assert_int_equal(json_array_size(json_object_get(j, "tracks")), 10);
    json_array_foreach(json_object_get(j, "tracks"), i, t)
    {
        const char *uri = json_string_value(json_object_get(t, "uri"));
        const char *url = json_string_value(json_object_get(t, "url"));
        assert_non_null(uri);
        assert_non_null(url);
        assert_true(strncmp(uri, "spotify:track:", 14) == 0);
        assert_true(strncmp(url, "https://open.spotify.com/track/", 31) == 0);
    }
    json_decref(j);
    j = weather(&s, "/weather?city=Cairo");
    assert_string_equal(json_string_value(json_object_get(j, "genre")),
                        "party");
    json_decref(j);

    assert_int_equal(fake_count(&s, "/data/2.5/weather"), 2);
    assert_int_equal(fake_count(&s, "/v1/search(geocoding)"), 0);
    assert_int_equal(fake_count(&s, "/v1/forecast"), 0);
    /* The token is fetched once and reused across calls. */
    assert_int_equal(fake_count(&s, "/api/token"), 1);
    assert_true(fake_count(&s, "/v1/search(spotify)") >= 2);
    h_stack_stop(&s);
}

static void test_forced_providers(void **state)
{
    static const char *const env1[] = {OWM_KEY,
                                       SP_ID,
                                       SP_SECRET,
                                       "WEATHER_PROVIDER=open-meteo",
                                       "MUSIC_PROVIDER=catalog",
                                       NULL};
    static const char *const env2[] = {OWM_KEY,
                                       "WEATHER_PROVIDER="
                                       "openweathermap",
                                       NULL};
    struct h_stack s = {0};
    json_t *j;

    (void)state;
    h_stack_start(&s, "forced1", 1, env1, NULL);
    j = weather(&s, "/weather?city=Paris");
    assert_sources(j, "open-meteo", "catalog");
    json_decref(j);
    assert_int_equal(fake_count(&s, "/data/2.5/weather"), 0);
    assert_int_equal(fake_count(&s, "/api/token"), 0);
    h_stack_stop(&s);

    memset(&s, 0, sizeof(s));
    h_stack_start(&s, "forced2", 1, env2, NULL);
    j = weather(&s, "/weather?city=Paris");
    assert_sources(j, "openweathermap", "catalog");
    json_decref(j);
    assert_int_equal(fake_count(&s, "/data/2.5/weather"), 1);
    h_stack_stop(&s);
}

/* Runs the worker with env and returns its exit status and stderr. */
static int worker_exit(const char *const env[], char *out, size_t cap)
{
    const char *const argv[] = {TEMPO_WORKER_BIN, NULL};

    return h_run(argv, env, out, cap);
}

static void test_forced_without_credentials(void **state)
{
    static const char *const env1[] = {"WEATHER_PROVIDER=openweathermap", NULL};
    static const char *const env2[] = {"MUSIC_PROVIDER=spotify", SP_ID, NULL};
    static const char *const env3[] = {"WEATHER_PROVIDER=bogus", NULL};
    char out[2048];

    (void)state;
    assert_int_equal(worker_exit(env1, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "OPENWEATHER_API_KEY"));
    assert_int_equal(worker_exit(env2, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "SPOTIFY_CLIENT_SECRET"));
    assert_null(strstr(out, "test-id")); /* a secret is never echoed */
    assert_int_equal(worker_exit(env3, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "WEATHER_PROVIDER"));
}

static void test_spotify_failures(void **state)
{
    static const char *const env[] = {SP_ID, SP_SECRET, "WEATHER_CACHE_TTL_S=0",
                                      NULL};
    struct h_stack s = {0};
    json_t *j;
    long before;
    int i;

    (void)state;
    h_stack_start(&s, "spotify", 1, env, NULL);
    /* Garbage from Spotify on a first fetch is a failure, not a crash:
     * the catalog answers, marked degraded. */
    h_fake_post(&s, "/_fake/fault?path=/v1/search(spotify)&status=200"
                    "&body=garbage&count=50");
    j = weather(&s, "/weather?city=Oslo");
    assert_sources(j, "open-meteo", "catalog");
    assert_true(json_is_true(json_object_get(j, "degraded")));
    assert_int_equal(json_array_size(json_object_get(j, "tracks")), 10);
    json_decref(j);
    assert_true(fake_count(&s, "/v1/search(spotify)") >= 1);
    h_fake_post(&s, "/_fake/reset");

    /* Spotify back: after the failed fetch's backoff (1 s) the next
     * request fetches the pool and gets Spotify's tracks. */
    for (i = 0; i < 60; i++) {
        j = weather(&s, "/weather?city=Oslo");
        if (json_object_get(j, "degraded") == NULL)
            break;
        json_decref(j);
        j = NULL;
        usleep(100000);
    }
    assert_non_null(j);
    assert_sources(j, "open-meteo", "spotify");
    json_decref(j);
    /* Since the reset: no new token (it is reused), one pool fetch. */
    assert_int_equal(fake_count(&s, "/api/token"), 0);
    assert_true(fake_count(&s, "/v1/search(spotify)") >= 1);

    /* With a pool, a Spotify outage or an expired token changes nothing
     * for answers, and costs no Spotify call per request. */
    before = fake_count(&s, "/v1/search(spotify)");
    h_fake_post(&s, "/_fake/expire-tokens");
    h_fake_post(&s, "/_fake/fault?path=/v1/search(spotify)&status=503"
                    "&count=50");
    for (i = 0; i < 5; i++) {
        j = weather(&s, "/weather?city=Oslo");
        assert_sources(j, "open-meteo", "spotify");
        assert_null(json_object_get(j, "degraded"));
        json_decref(j);
    }
    assert_int_equal(fake_count(&s, "/v1/search(spotify)"), before);
    h_stack_stop(&s);
}

static void test_owm_failures(void **state)
{
    static const char *const env[] = {"OPENWEATHER_API_KEY=wrong-key", NULL};
    struct h_stack s = {0};
    struct h_resp r;

    (void)state;
    h_stack_start(&s, "owmbad", 1, env, NULL);
    /* A rejected key is the operator's problem: 502, and the key never
     * reaches the client. */
    h_http(&s, "GET", "/weather?city=London", NULL, &r);
    h_assert_error(&r, 502, "upstream_error");
    assert_null(strstr(r.body, "wrong-key"));
    h_resp_free(&r);
    h_stack_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_keyless_default, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_catalog_varies, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_keys_switch_providers,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_forced_providers, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_forced_without_credentials,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_spotify_failures, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_owm_failures, h_kill_all_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
