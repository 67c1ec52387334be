/*
 * test_wmetrics.c - the worker's Prometheus metrics (weather-service/
 * metrics.h): the exposition parses (tests/promcheck.h, itself tested here
 * against good and bad texts), counters move by exactly what was
 * recorded, histogram buckets land where they should, arbitrary strings
 * never reach a label, concurrent increments are not lost, and the HTTP
 * endpoint serves /metrics, /healthz, 404 and 405.
 *
 * The counters are process-wide, so the tests compare deltas; the first
 * test relies on running before any provider is enabled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Both weather-service/ and gateway/ hold a metrics.h: name ours. */
#include "../../weather-service/metrics.h"
#include "../../weather-service/metrics_http.h"
#include "../promcheck.h"
#include "genre.h"

static char *render(void)
{
    size_t len = 0;
    char *text = wmetrics_render(&len);

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* Renders, checks the whole text, and returns the sum of the matching
 * samples (failing if there are none). */
static double value(const char *name, const char *labels)
{
    char *text = render(), err[512];
    double v = 0;
    int n;

    if (promcheck(text, 1, err, sizeof(err)) != 0)
        fail_msg("exposition does not parse: %s\n%s", err, text);
    n = promcheck_sum(text, name, labels, &v);
    if (n <= 0)
        fail_msg("no sample %s{%s}", name, labels);
    free(text);
    return v;
}

static void assert_valid(const char *text)
{
    char err[512];

    if (promcheck(text, 1, err, sizeof(err)) != 0)
        fail_msg("rejected: %s\n%s", err, text);
}

/* ---- the checker itself -------------------------------------------------- */

static void test_promcheck_accepts(void **state)
{
    static const char good[] = "# A free comment\n"
                               "\n"
                               "# HELP a_total Things, with a \\\\ and a \\n.\n"
                               "# TYPE a_total counter\n"
                               "a_total{k=\"v\",q=\"quo\\\"te\\\\ \\n\"} 3\n"
                               "a_total{k=\"w\",} 4 1700000000000\n"
                               "# HELP g A gauge.\n"
                               "# TYPE g gauge\n"
                               "g NaN\n"
                               "g{x=\"1\"} -2.5e-3\n"
                               "g{x=\"2\"} +Inf\n"
                               "# HELP h A histogram.\n"
                               "# TYPE h histogram\n"
                               "h_bucket{r=\"a\",le=\"0.1\"} 1\n"
                               "h_bucket{r=\"a\",le=\"1\"} 1\n"
                               "h_bucket{r=\"a\",le=\"+Inf\"} 2\n"
                               "h_sum{r=\"a\"} 5.5\n"
                               "h_count{r=\"a\"} 2\n"
                               "h_bucket{r=\"b\",le=\"+Inf\"} 0\n"
                               "h_sum{r=\"b\"} 0\n"
                               "h_count{r=\"b\"} 0\n";
    double v;

    (void)state;
    assert_valid(good);
    assert_int_equal(promcheck_sum(good, "a_total", "", &v), 2);
    assert_true(v == 7);
    assert_int_equal(promcheck_sum(good, "a_total", "k=\"w\"", &v), 1);
    assert_true(v == 4);
    assert_int_equal(
        promcheck_sum(good, "a_total", "q=\"quo\\\"te\\\\ \\n\"", &v), 1);
    assert_true(v == 3);
    assert_int_equal(promcheck_sum(good, "h_bucket", "r=\"a\",le=\"1\"", &v),
                     1);
    assert_true(v == 1);
    assert_int_equal(promcheck_sum(good, "a_total", "k=\"x\"", &v), 0);
    assert_int_equal(promcheck_sum(good, "nope", "", &v), 0);
}

static void test_promcheck_rejects(void **state)
{
    static const char *const bad[] = {
        /* names, labels, values */
        "# TYPE x gauge\n1x 1\n",
        "# TYPE x gauge\nx-y 1\n",
        "# TYPE x gauge\nx{1a=\"v\"} 1\n",
        "# TYPE x gauge\nx{__a=\"v\"} 1\n",
        "# TYPE x gauge\nx{a=\"v\",a=\"w\"} 1\n",
        "# TYPE x gauge\nx{a=v} 1\n",
        "# TYPE x gauge\nx{a=\"v} 1\n",
        "# TYPE x gauge\nx{a=\"\\q\"} 1\n",
        "# TYPE x gauge\nx{a=\"v\" b=\"w\"} 1\n",
        "# TYPE x gauge\nx abc\n",
        "# TYPE x gauge\nx 0x10\n",
        "# TYPE x gauge\nx\n",
        "# TYPE x gauge\nx 1 2 3\n",
        "# TYPE x gauge\nx 1 12a\n",
        "# TYPE x gauge\nx 1",
        /* metadata and grouping */
        "# TYPE x gauge\n# TYPE x gauge\nx 1\n",
        "# HELP x a\n# HELP x b\nx 1\n",
        "# TYPE x nonsense\nx 1\n",
        "# HELP x a \\q\nx 1\n",
        "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx{a=\"b\"} 1\n",
        "x 1\n# TYPE x gauge\n",
        "# TYPE x gauge\nx{a=\"b\"} 1\nx{a=\"b\"} 2\n",
        "# TYPE c counter\nc -1\n",
        "# TYPE c counter\nc NaN\n",
        /* histograms */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 0\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 0\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n",
        "# TYPE h histogram\nh_bucket 1\n",
        "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
        "# TYPE h histogram\nh 1\n",
        "# TYPE h histogram\nh_sum{le=\"1\"} 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"
        "h_bucket{le=\"+Inf\"} 1\n",
    };
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (promcheck(bad[i], 0, err, sizeof(err)) == 0)
            fail_msg("accepted bad text #%zu:\n%s", i, bad[i]);
        assert_true(strncmp(err, "line ", 5) == 0);
    }
    /* Untyped samples pass unless strict. */
    assert_int_equal(promcheck("x 1\n", 0, err, sizeof(err)), 0);
    assert_int_equal(promcheck("x 1\n", 1, err, sizeof(err)), -1);
}

/* ---- the exposition ------------------------------------------------------ */

static void test_render_initial(void **state)
{
    static const char *const families[] = {
        "tempo_worker_calls_total counter",
        "tempo_worker_calls_in_flight gauge",
        "tempo_worker_call_duration_seconds histogram",
        "tempo_worker_upstream_request_duration_seconds histogram",
        "tempo_worker_upstream_requests_total counter",
        "tempo_worker_upstream_retries_total counter",
        "tempo_worker_upstream_short_circuits_total counter",
        "tempo_worker_upstream_skipped_total counter",
        "tempo_worker_circuit_breaker_state gauge",
        "tempo_worker_cache_hits_total counter",
        "tempo_worker_cache_misses_total counter",
        "tempo_worker_cache_stale_serves_total counter",
        "tempo_worker_cache_coalesced_waits_total counter",
        "tempo_worker_degraded_answers_total counter",
        "tempo_worker_broker_connected gauge",
    };
    char *text = render(), line[160];
    double v;
    size_t i;

    (void)state;
    assert_valid(text);
    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        snprintf(line, sizeof(line), "# TYPE %s\n", families[i]);
        if (strstr(text, line) == NULL)
            fail_msg("missing %s", line);
    }
    /* Every method x outcome series exists from the start, at zero:
     * 2 methods (get_playlist, unknown) x 10 outcomes (ok, the 8 exc_types
     * of errors.h a worker sends, other). */
    assert_int_equal(promcheck_sum(text, "tempo_worker_calls_total", "", &v),
                     2 * 10);
    assert_int_equal(promcheck_sum(text, "tempo_worker_calls_total",
                                   "outcome=\"InternalError\"", &v),
                     2);
    assert_true(v == 0);
    /* No provider is configured yet: no provider series. */
    assert_null(strstr(text, "provider="));
    /* No music pool either: no pool or Spotify series. */
    assert_null(strstr(text, "music_pool"));
    assert_null(strstr(text, "spotify_"));
    free(text);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_music(void **state)
{
    static const char *const families[] = {
        "tempo_worker_music_pool_tracks gauge",
        "tempo_worker_music_pool_age_seconds gauge",
        "tempo_worker_music_pool_refreshes_total counter",
        "tempo_worker_music_pool_refresh_failures_total counter",
        "tempo_worker_spotify_calls_total counter",
        "tempo_worker_spotify_rate_limited_total counter",
        "tempo_worker_spotify_retry_after_seconds gauge",
    };
    char *text, line[160];
    double v;
    size_t i;

    (void)state;
    wmetrics_pool_enable();
    text = render();
    assert_valid(text);
    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        snprintf(line, sizeof(line), "# TYPE %s\n", families[i]);
        if (strstr(text, line) == NULL)
            fail_msg("missing %s", line);
    }
    /* Every genre from the start; no age while there is no pool. */
    assert_int_equal(
        promcheck_sum(text, "tempo_worker_music_pool_tracks", "", &v), 4);
    assert_true(v == 0);
    assert_null(strstr(text, "tempo_worker_music_pool_age_seconds{"));
    free(text);

    wmetrics_pool_set(GENRE_ROCK, 200, now_ms() - 90000);
    wmetrics_pool_set(99, 1, 1); /* ignored */
    wmetrics_pool_refresh(GENRE_ROCK, 1);
    wmetrics_pool_refresh(GENRE_ROCK, 0);
    wmetrics_pool_refresh(GENRE_ROCK, 0);
    wmetrics_spotify_calls(WM_SP_SEARCH, 20);
    wmetrics_spotify_calls(WM_SP_TOKEN, 1);
    wmetrics_spotify_calls(WM_SP__COUNT, 5); /* ignored */
    wmetrics_spotify_gated();
    wmetrics_spotify_retry_at(now_ms() + 30000);
    assert_true(value("tempo_worker_music_pool_tracks", "genre=\"rock\"") ==
                200);
    v = value("tempo_worker_music_pool_age_seconds", "genre=\"rock\"");
    assert_true(v >= 90 && v < 200);
    assert_true(value("tempo_worker_music_pool_refreshes_total",
                      "genre=\"rock\"") == 1);
    assert_true(value("tempo_worker_music_pool_refresh_failures_total",
                      "genre=\"rock\"") == 2);
    assert_true(value("tempo_worker_music_pool_refresh_failures_total",
                      "genre=\"pop\"") == 0);
    assert_true(
        value("tempo_worker_spotify_calls_total", "endpoint=\"search\"") == 20);
    assert_true(
        value("tempo_worker_spotify_calls_total", "endpoint=\"token\"") == 1);
    assert_true(value("tempo_worker_spotify_rate_limited_total", "") == 1);
    v = value("tempo_worker_spotify_retry_after_seconds", "");
    assert_true(v > 20 && v <= 30);
    wmetrics_spotify_retry_at(0);
    assert_true(value("tempo_worker_spotify_retry_after_seconds", "") == 0);
    wmetrics_pool_set(GENRE_ROCK, 0, 0);
    text = render();
    assert_null(strstr(text, "tempo_worker_music_pool_age_seconds{"));
    free(text);
}

static void test_calls(void **state)
{
    static const char ok[] = "method=\"get_playlist\",outcome=\"ok\"";
    double ok0 = value("tempo_worker_calls_total", ok);
    double nf0 = value("tempo_worker_calls_total",
                       "method=\"get_playlist\",outcome=\"CityNotFound\"");
    double unk0 = value("tempo_worker_calls_total",
                        "method=\"unknown\",outcome=\"MethodNotFound\"");
    double oth0 = value("tempo_worker_calls_total",
                        "method=\"unknown\",outcome=\"other\"");
    double cnt0 = value("tempo_worker_call_duration_seconds_count",
                        "method=\"get_playlist\"");
    double in0 = value("tempo_worker_calls_in_flight", "");
    char *text;

    (void)state;
    wmetrics_call_begin();
    wmetrics_call_begin();
    assert_true(value("tempo_worker_calls_in_flight", "") == in0 + 2);
    wmetrics_call_end("get_playlist", NULL, 0.02);
    wmetrics_call_end("get_playlist", "CityNotFound", 0.01);
    assert_true(value("tempo_worker_calls_in_flight", "") == in0);

    /* Arbitrary strings are never echoed into labels. */
    wmetrics_call_begin();
    wmetrics_call_end("sekrit\"},evil{x=\"", "MethodNotFound", 0.001);
    wmetrics_call_begin();
    wmetrics_call_end("", "ok", 0.001); /* "ok" as an exc_type is not ok */
    wmetrics_call_begin();
    wmetrics_call_end(NULL, "sekrit-exc", 0.001);

    assert_true(value("tempo_worker_calls_total", ok) == ok0 + 1);
    assert_true(value("tempo_worker_calls_total",
                      "method=\"get_playlist\",outcome=\"CityNotFound\"") ==
                nf0 + 1);
    assert_true(value("tempo_worker_calls_total",
                      "method=\"unknown\",outcome=\"MethodNotFound\"") ==
                unk0 + 1);
    assert_true(value("tempo_worker_calls_total",
                      "method=\"unknown\",outcome=\"other\"") == oth0 + 2);
    assert_true(value("tempo_worker_call_duration_seconds_count",
                      "method=\"get_playlist\"") == cnt0 + 2);
    assert_true(value("tempo_worker_calls_in_flight", "") == in0);
    text = render();
    assert_null(strstr(text, "sekrit"));
    assert_null(strstr(text, "evil"));
    free(text);
}

static void test_upstreams(void **state)
{
    static const char sp[] = "provider=\"spotify\"";
    static const char *const results[] = {"ok", "http_4xx", "http_5xx",
                                          "timeout", "error"};
    double req0[5], r0, rej0, cnt0, sum0, b0, b1, b10, binf;
    char labels[96];
    char *text;
    size_t i;

    (void)state;
    wmetrics_provider_enable(WM_PROV_SPOTIFY);
    wmetrics_provider_enable(WM_PROV_OWM);
    wmetrics_provider_enable(99); /* ignored */
    text = render();
    assert_valid(text);
    assert_non_null(strstr(text, "provider=\"openweathermap\""));
    assert_non_null(strstr(text, "provider=\"spotify\""));
    assert_null(strstr(text, "provider=\"open-meteo\""));
    assert_null(strstr(text, "provider=\"none\""));
    free(text);

    for (i = 0; i < 5; i++) {
        snprintf(labels, sizeof(labels), "%s,result=\"%s\"", sp, results[i]);
        req0[i] = value("tempo_worker_upstream_requests_total", labels);
    }
    r0 = value("tempo_worker_upstream_retries_total", sp);
    rej0 = value("tempo_worker_upstream_short_circuits_total", sp);
    cnt0 = value("tempo_worker_upstream_request_duration_seconds_count", sp);
    sum0 = value("tempo_worker_upstream_request_duration_seconds_sum", sp);
    b0 = value("tempo_worker_upstream_request_duration_seconds_bucket",
               "provider=\"spotify\",le=\"0.005\"");
    b1 = value("tempo_worker_upstream_request_duration_seconds_bucket",
               "provider=\"spotify\",le=\"0.5\"");
    b10 = value("tempo_worker_upstream_request_duration_seconds_bucket",
                "provider=\"spotify\",le=\"10\"");
    binf = value("tempo_worker_upstream_request_duration_seconds_bucket",
                 "provider=\"spotify\",le=\"+Inf\"");

    wmetrics_upstream(WM_PROV_SPOTIFY, 200, 0, 0.003);
    wmetrics_upstream(WM_PROV_SPOTIFY, 404, 0, 0.3);
    wmetrics_upstream(WM_PROV_SPOTIFY, 429, 0, 0.3);
    wmetrics_upstream(WM_PROV_SPOTIFY, 503, 0, 100.0);
    wmetrics_upstream(WM_PROV_SPOTIFY, 0, 1, 0.004);
    wmetrics_upstream(WM_PROV_SPOTIFY, 0, 0, 0.004);
    wmetrics_upstream(WM_PROV_NONE, 200, 0, 0.1); /* not counted */
    wmetrics_upstream(-1, 200, 0, 0.1);
    wmetrics_upstream_retry(WM_PROV_SPOTIFY);
    wmetrics_upstream_retry(WM_PROV__COUNT);
    wmetrics_upstream_rejected(WM_PROV_SPOTIFY);

    {
        static const double delta[] = {1, 2, 1, 1, 1};
        for (i = 0; i < 5; i++) {
            snprintf(labels, sizeof(labels), "%s,result=\"%s\"", sp,
                     results[i]);
            assert_true(value("tempo_worker_upstream_requests_total", labels) ==
                        req0[i] + delta[i]);
        }
    }
    assert_true(value("tempo_worker_upstream_retries_total", sp) == r0 + 1);
    assert_true(value("tempo_worker_upstream_short_circuits_total", sp) ==
                rej0 + 1);
    assert_true(value("tempo_worker_upstream_request_duration_seconds_count",
                      sp) == cnt0 + 6);
    assert_true(value("tempo_worker_upstream_request_duration_seconds_sum",
                      sp) > sum0 + 100.6 &&
                value("tempo_worker_upstream_request_duration_seconds_sum",
                      sp) < sum0 + 100.62);
    /* 0.003, 0.004, 0.004 in le=0.005; two 0.3 more by le=0.5; 100 s only
     * in +Inf. */
    assert_true(value("tempo_worker_upstream_request_duration_seconds_bucket",
                      "provider=\"spotify\",le=\"0.005\"") == b0 + 3);
    assert_true(value("tempo_worker_upstream_request_duration_seconds_bucket",
                      "provider=\"spotify\",le=\"0.5\"") == b1 + 5);
    assert_true(value("tempo_worker_upstream_request_duration_seconds_bucket",
                      "provider=\"spotify\",le=\"10\"") == b10 + 5);
    assert_true(value("tempo_worker_upstream_request_duration_seconds_bucket",
                      "provider=\"spotify\",le=\"+Inf\"") == binf + 6);

    assert_true(value("tempo_worker_circuit_breaker_state", sp) == 0);
    wmetrics_breaker(WM_PROV_SPOTIFY, WM_BREAKER_OPEN);
    assert_true(value("tempo_worker_circuit_breaker_state", sp) == 1);
    wmetrics_breaker(WM_PROV_SPOTIFY, WM_BREAKER_HALF_OPEN);
    assert_true(value("tempo_worker_circuit_breaker_state", sp) == 2);
    assert_true(value("tempo_worker_circuit_breaker_state",
                      "provider=\"openweathermap\"") == 0);
    wmetrics_breaker(WM_PROV_SPOTIFY, WM_BREAKER_CLOSED);
    assert_true(value("tempo_worker_circuit_breaker_state", sp) == 0);
}

static void test_answers(void **state)
{
    static const char *const names[] = {
        "tempo_worker_cache_hits_total", "tempo_worker_cache_misses_total",
        "tempo_worker_cache_stale_serves_total",
        "tempo_worker_cache_coalesced_waits_total"};
    double before[4], deg0;
    int i;

    (void)state;
    for (i = 0; i < 4; i++)
        before[i] = value(names[i], "");
    deg0 = value("tempo_worker_degraded_answers_total", "");
    wmetrics_cache(WM_CACHE_HIT);
    wmetrics_cache(WM_CACHE_HIT);
    wmetrics_cache(WM_CACHE_MISS);
    wmetrics_cache(WM_CACHE_STALE);
    wmetrics_cache(WM_CACHE_COALESCED);
    wmetrics_cache(WM_CACHE__COUNT); /* ignored */
    wmetrics_degraded();
    assert_true(value(names[0], "") == before[0] + 2);
    assert_true(value(names[1], "") == before[1] + 1);
    assert_true(value(names[2], "") == before[2] + 1);
    assert_true(value(names[3], "") == before[3] + 1);
    assert_true(value("tempo_worker_degraded_answers_total", "") == deg0 + 1);

    wmetrics_broker_connected(1);
    assert_true(value("tempo_worker_broker_connected", "") == 1);
    wmetrics_broker_connected(0);
    assert_true(value("tempo_worker_broker_connected", "") == 0);
}

#define NTHREADS 4
#define NPER 20000

static void *hammer(void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < NPER; i++) {
        wmetrics_call_begin();
        wmetrics_cache(WM_CACHE_MISS);
        wmetrics_upstream(WM_PROV_OWM, 200, 0, 0.001);
        wmetrics_call_end("get_playlist", "UpstreamTimeout", 0.001);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    pthread_t t[NTHREADS];
    double calls0, miss0, up0, in0;
    int i;

    (void)state;
    calls0 = value("tempo_worker_calls_total",
                   "method=\"get_playlist\",outcome=\"UpstreamTimeout\"");
    miss0 = value("tempo_worker_cache_misses_total", "");
    up0 = value("tempo_worker_upstream_requests_total",
                "provider=\"openweathermap\",result=\"ok\"");
    in0 = value("tempo_worker_calls_in_flight", "");
    for (i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    assert_true(value("tempo_worker_calls_total",
                      "method=\"get_playlist\",outcome=\"UpstreamTimeout\"") ==
                calls0 + NTHREADS * NPER);
    assert_true(value("tempo_worker_cache_misses_total", "") ==
                miss0 + NTHREADS * NPER);
    assert_true(value("tempo_worker_upstream_requests_total",
                      "provider=\"openweathermap\",result=\"ok\"") ==
                up0 + NTHREADS * NPER);
    assert_true(value("tempo_worker_calls_in_flight", "") == in0);
}

/* ---- the HTTP endpoint --------------------------------------------------- */

struct body {
    char *p;
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct body *b = ud;

    b->p = realloc(b->p, b->len + size * n + 1);
    assert_non_null(b->p);
    memcpy(b->p + b->len, data, size * n);
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

/* Requests path on the server; returns the status, body in *b. */
static long get(int port, const char *method, const char *path, struct body *b,
                char *ctype, size_t ctype_len)
{
    CURL *c = curl_easy_init();
    char url[128];
    char *ct = NULL;
    long status = 0;

    assert_non_null(c);
    b->p = NULL;
    b->len = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ctype != NULL)
        snprintf(ctype, ctype_len, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    if (b->p == NULL)
        b->p = calloc(1, 1);
    return status;
}

static void test_server(void **state)
{
    struct wmetrics_server *s;
    struct body b;
    char err[256], ctype[128];
    int port;

    (void)state;
    wmetrics_server_stop(NULL); /* no-op */
    s = wmetrics_server_start(0, 5000, err, sizeof(err));
    if (s == NULL)
        fail_msg("%s", err);
    port = wmetrics_server_port(s);
    assert_true(port > 0);

    assert_int_equal(get(port, "GET", "/metrics", &b, ctype, sizeof(ctype)),
                     200);
    assert_true(strncmp(ctype, "text/plain; version=0.0.4", 25) == 0);
    assert_valid(b.p);
    assert_non_null(strstr(b.p, "tempo_worker_calls_total{"));
    free(b.p);

    assert_int_equal(get(port, "HEAD", "/metrics", &b, NULL, 0), 200);
    assert_int_equal(b.len, 0);
    free(b.p);

    assert_int_equal(get(port, "GET", "/healthz", &b, ctype, sizeof(ctype)),
                     200);
    assert_string_equal(b.p, "{\"status\":\"ok\"}");
    assert_string_equal(ctype, "application/json");
    free(b.p);

    assert_int_equal(get(port, "GET", "/metrics/x", &b, NULL, 0), 404);
    assert_non_null(strstr(b.p, "\"not_found\""));
    free(b.p);
    assert_int_equal(get(port, "POST", "/metrics", &b, NULL, 0), 405);
    assert_non_null(strstr(b.p, "\"method_not_allowed\""));
    free(b.p);

    /* The port is taken now: a second server cannot start. */
    assert_null(wmetrics_server_start(port, 5000, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot serve metrics"));
    assert_null(wmetrics_server_start(70000, 5000, err, sizeof(err)));

    wmetrics_server_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promcheck_accepts),
        cmocka_unit_test(test_promcheck_rejects),
        cmocka_unit_test(test_render_initial), /* before any provider */
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_upstreams),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_music),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_server),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
