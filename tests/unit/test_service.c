/*
 * test_service.c - the get_playlist RPC method end to end in-process:
 * service_call against libmicrohttpd fakes of OpenWeatherMap, Open-Meteo
 * and Spotify.  Covers the reply shape of SPEC section 2, Nameko faults
 * (MethodNotFound, IncorrectSignature), InvalidArgument rules,
 * CityNotFound, the cache ("cached"), the Spotify -> catalog fallback
 * ("degraded") when the track pool has nothing, the pool serving through a
 * Spotify outage, stale answers ("stale"), and upstream error/timeout
 * faults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "fake_http.h"
#include "log.h"
#include "service.h"

static const char owm_london[] =
    "{\"coord\":{\"lon\":-0.1257,\"lat\":51.5085},\"main\":{\"temp\":12.4},"
    "\"sys\":{\"country\":\"GB\"},\"name\":\"London\",\"cod\":200}";
static const char om_forecast[] =
    "{\"current\":{\"time\":\"2024-01-01T12:00\",\"temperature_2m\":31.5}}";
static const char sp_token[] =
    "{\"access_token\":\"tok\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
static const char sp_page[] =
    "{\"tracks\":{\"items\":[{\"name\":\"Song\",\"artists\":[{\"name\":"
    "\"Band\"}],\"uri\":\"spotify:track:1\",\"external_urls\":{\"spotify\":"
    "\"https://open.spotify.com/track/1\"}}]}}";

static struct fake_route routes[] = {
    {.path = "/owm/data/2.5/weather", .status = 200, .body = owm_london},
    {.path = "/om/v1/forecast", .status = 200, .body = om_forecast},
    {.path = "/acc/api/token", .status = 200, .body = sp_token},
    {.path = "/sp/v1/search", .status = 200, .body = sp_page},
    {.path = "/slow/data/2.5/weather",
     .status = 200,
     .body = owm_london,
     .delay_ms = 800},
    {.path = NULL},
};
#define OWM (&routes[0])
#define SEARCH (&routes[3])

static char key[] = "SECRETKEY", cid[] = "cid", secret[] = "csecret",
            wid[] = "host:42";
static char owm_url[128], om_url[128], acc_url[128], sp_url[128];
static struct config cfg;
static struct service *svc;
static struct service_worker *sw;

static void start(int weather, int music, long ttl, const char *owm_prefix)
{
    char err[256];

    fake_start(routes);
    snprintf(owm_url, sizeof(owm_url), "%s%s", fake_base(), owm_prefix);
    snprintf(om_url, sizeof(om_url), "%s/om", fake_base());
    snprintf(acc_url, sizeof(acc_url), "%s/acc", fake_base());
    snprintf(sp_url, sizeof(sp_url), "%s/sp", fake_base());
    memset(&cfg, 0, sizeof(cfg));
    cfg.weather_provider = weather;
    cfg.music_provider = music;
    cfg.openweather_api_key = key;
    cfg.openweather_url = owm_url;
    cfg.open_meteo_url = om_url;
    cfg.open_meteo_geocoding_url = om_url;
    cfg.spotify_client_id = cid;
    cfg.spotify_client_secret = secret;
    cfg.spotify_accounts_url = acc_url;
    cfg.spotify_api_url = sp_url;
    cfg.playlist_size = 10;
    cfg.weather_cache_ttl_s = ttl;
    cfg.music_pool_ttl_s = 3600;
    cfg.upstream_timeout_ms = 300;
    cfg.upstream_retries = 0;
    cfg.worker_id = wid;
    svc = service_create(&cfg, err, sizeof(err));
    if (svc == NULL)
        fail_msg("service_create: %s", err);
    sw = service_worker_create(svc);
    assert_non_null(sw);
}

static int teardown(void **state)
{
    (void)state;
    service_worker_destroy(sw);
    service_destroy(svc);
    fake_stop();
    OWM->status = 200;
    SEARCH->status = 200;
    return 0;
}

/* Calls method with kwargs given as JSON text. */
static int call(const char *method, const char *args, const char *kwargs,
                json_t **res, struct service_fault *f)
{
    json_t *a = args ? json_loads(args, 0, NULL) : json_array();
    json_t *k = kwargs ? json_loads(kwargs, 0, NULL) : NULL;
    int rc;

    *res = NULL;
    rc = service_call(sw, method, a, k, 0, res, f);
    json_decref(a);
    json_decref(k);
    return rc;
}

/* What the worker's AMQP thread does first: prepare, and run the plan
 * itself only if it is ready (no upstream call, no wait).  Returns 1 when
 * the call would go to a pool thread. */
static int call_try(const char *kwargs, json_t **res, struct service_fault *f)
{
    struct service_plan *p = NULL;
    struct service_result r;
    json_t *k = json_loads(kwargs, 0, NULL);
    int rc;

    *res = NULL;
    rc = service_prepare(svc, "get_playlist", NULL, k, 0, &p, f);
    if (rc == 0)
        rc = service_plan_ready(svc, p) ? service_run(sw, p, &r, f) : 1;
    service_plan_free(p);
    if (rc == 0) {
        *res = service_result_json(&r);
        assert_non_null(*res);
        service_result_clear(&r);
    }
    json_decref(k);
    return rc;
}

static void expect_fault(const char *method, const char *args,
                         const char *kwargs, const char *type, const char *path)
{
    struct service_fault f;
    json_t *res;

    if (call(method, args, kwargs, &res, &f) == 0)
        fail_msg("%s succeeded", kwargs ? kwargs : "(null)");
    assert_null(res);
    if (strcmp(f.exc_type, type) != 0)
        fail_msg("%s: got %s (%s), want %s", kwargs ? kwargs : "(null)",
                 f.exc_type, f.value, type);
    assert_string_equal(f.exc_path, path);
    assert_true(json_is_array(f.exc_args));
    assert_true(strlen(f.value) > 0);
    assert_null(strstr(f.value, "SECRETKEY"));
    json_decref(f.exc_args);
}

static void test_reply_shape_and_cache(void **state)
{
    struct service_fault f;
    json_t *res, *loc, *tracks, *t;
    size_t i;

    (void)state;
    start(WEATHER_OWM, MUSIC_CATALOG, 600, "/owm");
    assert_int_equal(
        call("get_playlist", "[]", "{\"city\": \"London\"}", &res, &f), 0);
    loc = json_object_get(res, "location");
    assert_string_equal(json_string_value(json_object_get(loc, "name")),
                        "London");
    assert_string_equal(json_string_value(json_object_get(loc, "country")),
                        "GB");
    assert_true(json_real_value(json_object_get(loc, "lat")) == 51.5085);
    assert_true(json_real_value(json_object_get(loc, "lon")) == -0.1257);
    assert_true(json_real_value(json_object_get(res, "temperature_c")) == 12.4);
    assert_string_equal(json_string_value(json_object_get(res, "genre")),
                        "rock");
    tracks = json_object_get(res, "tracks");
    assert_int_equal(json_array_size(tracks), 10);
    json_array_foreach(tracks, i, t)
    {
        assert_true(json_is_string(json_object_get(t, "name")));
        assert_true(json_array_size(json_object_get(t, "artists")) >= 1);
    }
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(res, "sources"), "weather")),
                        "openweathermap");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(res, "sources"), "music")),
                        "catalog");
    assert_true(json_is_false(json_object_get(res, "cached")));
    assert_string_equal(json_string_value(json_object_get(res, "worker")),
                        "host:42");
    assert_null(json_object_get(res, "degraded"));
    assert_null(json_object_get(res, "stale"));
    json_decref(res);

    /* Same city, other spelling: from the cache. */
    assert_int_equal(call("get_playlist", "[]",
                          "{\"city\": \" LONDON \", \"country\": null}", &res,
                          &f),
                     0);
    assert_true(json_is_true(json_object_get(res, "cached")));
    assert_int_equal(OWM->hits, 1);
    json_decref(res);
    /* The city and key reached OWM properly. */
    assert_string_equal(fake_route_arg("/owm/data/2.5/weather", "q"), "London");
    assert_string_equal(fake_route_arg("/owm/data/2.5/weather", "appid"),
                        "SECRETKEY");
}

static void test_protocol_faults(void **state)
{
    (void)state;
    start(WEATHER_OWM, MUSIC_CATALOG, 600, "/owm");
    expect_fault("get_weather", "[]", "{}", "MethodNotFound",
                 "nameko.exceptions.MethodNotFound");
    /* Positional arguments bind as on get_playlist(city, lat, lon,
     * country); too many, or one given twice, do not. */
    expect_fault("get_playlist", "[\"a\", null, null, null, 1]", "{}",
                 "IncorrectSignature", "nameko.exceptions.IncorrectSignature");
    expect_fault("get_playlist", "[\"London\"]", "{\"city\": \"Paris\"}",
                 "IncorrectSignature", "nameko.exceptions.IncorrectSignature");
    expect_fault("get_playlist", "{}", "{}", "IncorrectSignature",
                 "nameko.exceptions.IncorrectSignature");
    expect_fault("get_playlist", "[]", "{\"city\":\"x\",\"town\":\"y\"}",
                 "IncorrectSignature", "nameko.exceptions.IncorrectSignature");
    expect_fault("get_playlist", "[]", "[1]", "IncorrectSignature",
                 "nameko.exceptions.IncorrectSignature");
}

static void test_positional_arguments(void **state)
{
    struct service_fault f;
    json_t *res, *loc;

    (void)state;
    start(WEATHER_OWM, MUSIC_CATALOG, 600, "/owm");
    assert_int_equal(call("get_playlist", "[\"London\"]", "{}", &res, &f), 0);
    loc = json_object_get(res, "location");
    assert_string_equal(json_string_value(json_object_get(loc, "name")),
                        "London");
    json_decref(res);
    /* get_playlist(None, 51.5, -0.12): the coordinate form. */
    assert_int_equal(
        call("get_playlist", "[null, 51.5, -0.12]", "{}", &res, &f), 0);
    loc = json_object_get(res, "location");
    assert_true(json_real_value(json_object_get(loc, "lat")) == 51.5);
    assert_true(json_real_value(json_object_get(loc, "lon")) == -0.12);
    json_decref(res);
    /* Mixed: city positionally, country by keyword. */
    assert_int_equal(
        call("get_playlist", "[\"London\"]", "{\"country\": \"GB\"}", &res, &f),
        0);
    json_decref(res);
}

static void test_invalid_arguments(void **state)
{
    static const char *const bad[] = {
        NULL,
        "{}",
        "{\"city\": 5}",
        "{\"city\": \"\"}",
        "{\"city\": \"   \"}",
        "{\"city\": \"a\\u0001b\"}",
        "{\"city\": \"London\", \"lat\": 1, \"lon\": 2}",
        "{\"city\": \"London\", \"country\": \"GBR\"}",
        "{\"city\": \"London\", \"country\": 44}",
        "{\"lat\": 1}",
        "{\"lon\": 1}",
        "{\"lat\": \"51.5\", \"lon\": 0}",
        "{\"lat\": 91, \"lon\": 0}",
        "{\"lat\": 0, \"lon\": -180.5}",
        "{\"lat\": true, \"lon\": 0}",
        "{\"lat\": 1, \"lon\": 2, \"country\": \"GB\"}",
    };
    size_t i;

    (void)state;
    start(WEATHER_OWM, MUSIC_CATALOG, 600, "/owm");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_fault("get_playlist", "[]", bad[i], "InvalidArgument",
                     "tempo.InvalidArgument");
    assert_int_equal(OWM->hits, 0);
}

static void test_city_not_found(void **state)
{
    struct service_fault f;
    json_t *res;

    (void)state;
    OWM->status = 404;
    start(WEATHER_OWM, MUSIC_CATALOG, 600, "/owm");
    assert_int_equal(
        call("get_playlist", "[]", "{\"city\": \"Atlantis\"}", &res, &f),
        TEMPO_ENOCITY);
    assert_string_equal(f.exc_type, "CityNotFound");
    assert_string_equal(f.exc_path, "tempo.CityNotFound");
    assert_string_equal(f.value, "city not found: Atlantis");
    assert_string_equal(json_string_value(json_array_get(f.exc_args, 0)),
                        "Atlantis");
    json_decref(f.exc_args);
}

static void test_spotify_and_degraded(void **state)
{
    struct service_fault f;
    json_t *res, *t;
    int hits;

    (void)state;
    start(WEATHER_OPEN_METEO, MUSIC_SPOTIFY, 600, "/owm");
    assert_int_equal(
        call("get_playlist", "[]", "{\"lat\": 40.4, \"lon\": -3.7}", &res, &f),
        0);
    assert_string_equal(json_string_value(json_object_get(res, "genre")),
                        "party");
    assert_true(json_is_null(
        json_object_get(json_object_get(res, "location"), "name")));
    assert_true(json_real_value(json_object_get(
                    json_object_get(res, "location"), "lat")) == 40.4);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(res, "sources"), "weather")),
                        "open-meteo");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(res, "sources"), "music")),
                        "spotify");
    t = json_array_get(json_object_get(res, "tracks"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "uri")),
                        "spotify:track:1");
    assert_int_equal(json_array_size(json_object_get(res, "tracks")), 1);
    json_decref(res);

    /* The pool answers: Spotify down changes nothing, and costs no call. */
    SEARCH->status = 500;
    hits = fake_hits("/sp/v1/search");
    assert_int_equal(
        call("get_playlist", "[]", "{\"lat\": 40.4, \"lon\": -3.7}", &res, &f),
        0);
    assert_null(json_object_get(res, "degraded"));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(res, "sources"), "music")),
                        "spotify");
    json_decref(res);
    assert_int_equal(fake_hits("/sp/v1/search"), hits);
    /* ... and is served without blocking once the weather is cached. */
    assert_int_equal(call_try("{\"lat\": 40.4, \"lon\": -3.7}", &res, &f), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(res, "sources"), "music")),
                        "spotify");
    json_decref(res);
}

static void test_spotify_down_cold(void **state)
{
    struct service_fault f;
    json_t *res;
    int hits;

    (void)state;
    SEARCH->status = 500;
    start(WEATHER_OPEN_METEO, MUSIC_SPOTIFY, 600, "/owm");
    /* No pool and Spotify down: the catalog, degraded. */
    assert_int_equal(
        call("get_playlist", "[]", "{\"lat\": 40.4, \"lon\": -3.7}", &res, &f),
        0);
    assert_true(json_is_true(json_object_get(res, "degraded")));
    assert_true(json_is_false(json_object_get(res, "cached")));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(res, "sources"), "music")),
                        "catalog");
    assert_int_equal(json_array_size(json_object_get(res, "tracks")), 10);
    json_decref(res);
    /* While the failed first fetch backs off, the next call does not wait
     * or call Spotify: it is answered at once, even without blocking. */
    hits = fake_hits("/sp/v1/search");
    assert_int_equal(call_try("{\"lat\": 40.4, \"lon\": -3.7}", &res, &f), 0);
    assert_true(json_is_true(json_object_get(res, "degraded")));
    assert_true(json_is_true(json_object_get(res, "cached")));
    json_decref(res);
    assert_int_equal(fake_hits("/sp/v1/search"), hits);
}

static void test_upstream_errors_and_stale(void **state)
{
    struct service_fault f;
    json_t *res;

    (void)state;
    start(WEATHER_OWM, MUSIC_CATALOG, 1, "/owm");
    OWM->status = 500;
    assert_int_equal(
        call("get_playlist", "[]", "{\"city\": \"Paris\"}", &res, &f),
        TEMPO_EUPSTREAM);
    assert_string_equal(f.exc_type, "UpstreamError");
    assert_null(strstr(f.value, "SECRETKEY"));
    assert_null(strstr(f.value, "http"));
    json_decref(f.exc_args);

    OWM->status = 200;
    assert_int_equal(
        call("get_playlist", "[]", "{\"city\": \"Paris\"}", &res, &f), 0);
    json_decref(res);
    usleep(1100 * 1000); /* past the 1 s TTL */
    OWM->status = 503;
    assert_int_equal(
        call("get_playlist", "[]", "{\"city\": \"Paris\"}", &res, &f), 0);
    assert_true(json_is_true(json_object_get(res, "stale")));
    assert_true(json_is_true(json_object_get(res, "cached")));
    json_decref(res);
}

static void test_upstream_timeout(void **state)
{
    struct service_fault f;
    json_t *res;

    (void)state;
    start(WEATHER_OWM, MUSIC_CATALOG, 600, "/slow");
    assert_int_equal(
        call("get_playlist", "[]", "{\"city\": \"Paris\"}", &res, &f),
        TEMPO_ETIMEOUT);
    assert_string_equal(f.exc_type, "UpstreamTimeout");
    json_decref(f.exc_args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reply_shape_and_cache, teardown),
        cmocka_unit_test_teardown(test_protocol_faults, teardown),
        cmocka_unit_test_teardown(test_positional_arguments, teardown),
        cmocka_unit_test_teardown(test_invalid_arguments, teardown),
        cmocka_unit_test_teardown(test_city_not_found, teardown),
        cmocka_unit_test_teardown(test_spotify_and_degraded, teardown),
        cmocka_unit_test_teardown(test_spotify_down_cold, teardown),
        cmocka_unit_test_teardown(test_upstream_errors_and_stale, teardown),
        cmocka_unit_test_teardown(test_upstream_timeout, teardown),
    };

    int rc;

    log_init("test", LOG_ERROR, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
