/*
 * it_metrics.c - the Prometheus endpoints end to end: the gateway's
 * /metrics and a worker's (METRICS_PORT) both parse as text exposition
 * (tests/promcheck.h, strict: every family has HELP and TYPE, histograms
 * are cumulative and end in +Inf), their counters follow real traffic (a
 * good city, Atlantis 404, Errorville 502, a cached repeat, a Spotify
 * outage answered from the catalog, Open-Meteo's circuit breaker opening),
 * and no secret from the worker's environment ever shows up in them.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../promcheck.h"

/* Values that must never be exposed. */
static const char *const secrets[] = {"sekrit-value", "test-key", "test-id"};

/*
 * GETs /metrics from the gateway (port 0) or a worker's metrics port,
 * asserts a 200 text exposition that parses and holds no secret, and
 * returns the body (malloc'd).
 */
static char *scrape(const struct h_stack *s, int port)
{
    struct h_stack t = *s;
    struct h_resp r;
    char err[512];
    char *body;
    size_t i;

    if (port > 0)
        snprintf(t.base, sizeof(t.base), "http://127.0.0.1:%d", port);
    h_http(&t, "GET", "/metrics", NULL, &r);
    if (r.status != 200)
        fail_msg("GET %s/metrics: %ld", t.base, r.status);
    assert_true(strncmp(r.content_type, "text/plain", 10) == 0);
    if (promcheck(r.body, 1, err, sizeof(err)) != 0)
        fail_msg("%s/metrics does not parse: %s", t.base, err);
    for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strstr(r.body, secrets[i]) != NULL)
            fail_msg("%s/metrics exposes \"%s\"", t.base, secrets[i]);
    body = r.body;
    r.body = NULL;
    return body;
}

static double metric(const char *text, const char *name, const char *labels)
{
    double v = 0;

    if (promcheck_sum(text, name, labels, &v) <= 0)
        fail_msg("no sample %s{%s}", name, labels);
    return v;
}

/*
 * Polls until metric name{labels} >= min (the gateway counts a request
 * only once its answer is sent, so a scrape can race the client) and
 * returns its last value.
 */
static double await_metric(const struct h_stack *s, int port, const char *name,
                           const char *labels, double min)
{
    double v = 0;
    int i;

    for (i = 0; i < 50; i++) {
        char *text = scrape(s, port);
        v = metric(text, name, labels);
        free(text);
        if (v >= min)
            break;
        usleep(100000);
    }
    return v;
}

static void expect_status(struct h_stack *s, const char *path, long status)
{
    struct h_resp r;

    h_http(s, "GET", path, NULL, &r);
    if (r.status != status)
        fail_msg("GET %s: %ld (want %ld): %.300s", path, r.status, status,
                 r.body);
    h_resp_free(&r);
}

#define GW_WEATHER(st) "route=\"/weather\",status=\"" st "\""
#define CALLS(outcome) "method=\"get_playlist\",outcome=\"" outcome "\""
#define OM "provider=\"open-meteo\""

static void test_metrics_follow_traffic(void **state)
{
    static const char *const fake_args[] = {"--spotify-secret=sekrit-value",
                                            NULL};
    static char port_env[32];
    const char *const env[] = {port_env,
                               "SPOTIFY_CLIENT_ID=test-id",
                               "SPOTIFY_CLIENT_SECRET=sekrit-value",
                               "OPENWEATHER_API_KEY=test-key",
                               "WEATHER_PROVIDER=open-meteo",
                               NULL};
    struct h_stack s = {0}, ws;
    struct h_resp r;
    char *gw, *wk;
    int mport = h_free_port(), i;

    (void)state;
    snprintf(port_env, sizeof(port_env), "METRICS_PORT=%d", mport);
    h_fake_start(&s, fake_args);
    h_stack_start(&s, "metrics", 1, env, NULL);

    /* The worker's endpoint is up, and idle. */
    ws = s;
    snprintf(ws.base, sizeof(ws.base), "http://127.0.0.1:%d", mport);
    h_http(&ws, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    wk = scrape(&s, mport);
    assert_true(metric(wk, "tempo_worker_calls_total", "") == 0);
    assert_true(metric(wk, "tempo_worker_broker_connected", "") == 1);
    assert_true(metric(wk, "tempo_worker_circuit_breaker_state", OM) == 0);
    /* Only configured providers appear. */
    assert_null(strstr(wk, "provider=\"openweathermap\""));
    free(wk);

    expect_status(&s, "/weather?city=London", 200);
    expect_status(&s, "/weather?city=Atlantis", 404);
    expect_status(&s, "/weather?city=Errorville", 502);

    /* The gateway's view. */
    assert_true(await_metric(&s, 0, "tempo_http_requests_total",
                             GW_WEATHER("200"), 1) >= 1);
    assert_true(await_metric(&s, 0, "tempo_http_requests_total",
                             GW_WEATHER("404"), 1) >= 1);
    assert_true(await_metric(&s, 0, "tempo_http_requests_total",
                             GW_WEATHER("502"), 1) >= 1);

    /* The worker's view. */
    wk = scrape(&s, mport);
    assert_true(metric(wk, "tempo_worker_calls_total", CALLS("ok")) >= 1);
    assert_true(metric(wk, "tempo_worker_calls_total", CALLS("CityNotFound")) >=
                1);
    assert_true(
        metric(wk, "tempo_worker_calls_total", CALLS("UpstreamError")) >= 1);
    assert_true(metric(wk, "tempo_worker_calls_in_flight", "") == 0);
    assert_true(metric(wk, "tempo_worker_call_duration_seconds_count",
                       "method=\"get_playlist\"") >= 3);
    assert_true(metric(wk, "tempo_worker_cache_misses_total", "") >= 3);
    assert_true(metric(wk, "tempo_worker_cache_hits_total", "") == 0);
    /* London and Atlantis geocoded fine; Errorville's 500 was retried. */
    assert_true(metric(wk, "tempo_worker_upstream_requests_total",
                       OM ",result=\"ok\"") >= 3);
    assert_true(metric(wk, "tempo_worker_upstream_requests_total",
                       OM ",result=\"http_5xx\"") >= 2);
    assert_true(metric(wk, "tempo_worker_upstream_retries_total", OM) >= 1);
    assert_true(metric(wk,
                       "tempo_worker_upstream_request_duration_seconds_count",
                       OM) >= 5);
    /* London's tracks: a token, then a search. */
    assert_true(metric(wk, "tempo_worker_upstream_requests_total",
                       "provider=\"spotify\",result=\"ok\"") >= 2);
    free(wk);

    /* A repeat is a cache hit. */
    expect_status(&s, "/weather?city=London", 200);
    wk = scrape(&s, mport);
    assert_true(metric(wk, "tempo_worker_cache_hits_total", "") >= 1);
    free(wk);

    /* Spotify down: a degraded answer from the catalog. */
    h_fake_post(&s, "/_fake/fault?path=/v1/search(spotify)&status=503"
                    "&count=50");
    expect_status(&s, "/weather?city=Oslo", 200);
    h_fake_post(&s, "/_fake/reset");
    wk = scrape(&s, mport);
    assert_true(metric(wk, "tempo_worker_degraded_answers_total", "") >= 1);
    assert_true(metric(wk, "tempo_worker_upstream_requests_total",
                       "provider=\"spotify\",result=\"http_5xx\"") >= 1);
    free(wk);

    /* Five failed requests in a row (Oslo's success reset the count)
     * open Open-Meteo's breaker; the next request is refused without
     * reaching it. */
    for (i = 0; i < 5; i++)
        expect_status(&s, "/weather?city=Errorville", 502);
    wk = scrape(&s, mport);
    assert_true(metric(wk, "tempo_worker_circuit_breaker_state", OM) == 1);
    free(wk);
    expect_status(&s, "/weather?city=Lisbon", 502);
    wk = scrape(&s, mport);
    assert_true(metric(wk, "tempo_worker_upstream_short_circuits_total", OM) >=
                1);
    assert_true(
        metric(wk, "tempo_worker_calls_total", CALLS("UpstreamError")) >= 7);
    free(wk);

    /* The endpoint only serves GET/HEAD on its two paths. */
    h_http(&ws, "GET", "/nope", NULL, &r);
    assert_int_equal(r.status, 404);
    h_resp_free(&r);
    h_http(&ws, "POST", "/metrics", NULL, &r);
    assert_int_equal(r.status, 405);
    h_resp_free(&r);

    gw = scrape(&s, 0); /* checks the gateway for secrets once more */
    free(gw);
    h_stack_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_metrics_follow_traffic,
                                  h_kill_all_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
