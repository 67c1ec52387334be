/*
 * metrics.c - see metrics.h.
 *
 * DESIGN
 * The families are const tables over common/prom.h, so the hot path does
 * one to three relaxed atomic adds and never locks or allocates.  Every
 * label value comes from a table: the outcomes from the error table
 * (errors.h: "ok", every exc_type a worker sends, "other"), the rest from
 * the enums of metrics.h.  Strings passed in (a method name, an exc_type)
 * are looked up and fall back to the last value ("unknown" / "other"), so
 * nothing a client sends, and no configuration value, ever reaches the
 * exposition.  Every series is exposed, zero or not, but for providers
 * that are not configured and the music pool when Spotify is off.
 */
#include "metrics.h"

#include "clock.h"
#include "errors.h"
#include "genre.h"
#include "prom.h"
#include "tbuf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- labels -------------------------------------------------------------- */

/* The methods of service.c's table; anything else is "unknown". */
static const char *const method_values[] = {"get_playlist", "unknown"};
static const struct prom_label method_label = {"method", method_values,
                                               NELEMS(method_values)};

/* "ok", the exc_types a worker replies with (errors.h), "other"; filled
 * once (init). */
static const char *outcome_values[TEMPO_ERR_COUNT + 2];
static struct prom_label outcome_label = {"outcome", outcome_values, 0};
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const char *genre_values[GENRE__COUNT];
static const struct prom_label genre_label = {"genre", genre_values,
                                              GENRE__COUNT};

static void init(void)
{
    size_t n = 0;
    int i;

    outcome_values[n++] = "ok";
    for (i = 0; i < TEMPO_ERR_COUNT; i++)
        if (tempo_err_wire(tempo_err_at(i)) != ERR_WIRE_NO)
            outcome_values[n++] = tempo_err_exc_type(tempo_err_at(i));
    outcome_values[n++] = "other";
    outcome_label.n = n;
    for (i = 0; i < GENRE__COUNT; i++)
        genre_values[i] = genre_name((enum genre)i);
}

static const char *const provider_values[WM_PROV__COUNT] = {
    "none", "openweathermap", "open-meteo", "spotify"};
static const struct prom_label provider_label = {"provider", provider_values,
                                                 WM_PROV__COUNT};

enum up_result { UP_OK, UP_4XX, UP_5XX, UP_TIMEOUT, UP_ERROR, UP__COUNT };
static const char *const result_values[UP__COUNT] = {
    "ok", "http_4xx", "http_5xx", "timeout", "error"};
static const struct prom_label result_label = {"result", result_values,
                                               UP__COUNT};

static const char *const endpoint_values[WM_SP__COUNT] = {"token", "search"};
static const struct prom_label endpoint_label = {"endpoint", endpoint_values,
                                                 WM_SP__COUNT};

/* ---- families ------------------------------------------------------------ */

static atomic_int prov_enabled[WM_PROV__COUNT];
static atomic_int pool_on;

static int provider_applies(size_t p)
{
    return p > WM_PROV_NONE && p < WM_PROV__COUNT &&
           atomic_load_explicit(&prov_enabled[p], memory_order_relaxed);
}

static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                0.5,   1,    2.5,   5,    10};

static atomic_long calls_cells[NELEMS(method_values) * (TEMPO_ERR_COUNT + 2)];
static const struct prom_family calls = {
    "tempo_worker_calls_total",
    "RPC calls answered, by method and outcome (ok or the reply's "
    "exc_type).",
    PROM_COUNTER,
    &method_label,
    &outcome_label,
    NULL,
    calls_cells};

static atomic_long inflight_cell;
static const struct prom_family inflight = {"tempo_worker_calls_in_flight",
                                            "RPC calls being served now.",
                                            PROM_GAUGE,
                                            NULL,
                                            NULL,
                                            NULL,
                                            &inflight_cell};

static struct prom_hcell call_lat_cells[NELEMS(method_values)];
static const struct prom_histogram call_lat = {
    "tempo_worker_call_duration_seconds",
    "Time to serve an RPC call, by method.",
    bounds,
    NELEMS(bounds),
    &method_label,
    NULL,
    call_lat_cells};

static struct prom_hcell up_lat_cells[WM_PROV__COUNT];
static const struct prom_histogram up_lat = {
    "tempo_worker_upstream_request_duration_seconds",
    "Upstream HTTP attempt latency, by provider.",
    bounds,
    NELEMS(bounds),
    &provider_label,
    provider_applies,
    up_lat_cells};

static atomic_long up_req_cells[WM_PROV__COUNT * UP__COUNT];
static const struct prom_family up_req = {
    "tempo_worker_upstream_requests_total",
    "Upstream HTTP attempts (retries included), by provider and result.",
    PROM_COUNTER,
    &provider_label,
    &result_label,
    provider_applies,
    up_req_cells};

static atomic_long up_retries_cells[WM_PROV__COUNT];
static const struct prom_family up_retries = {
    "tempo_worker_upstream_retries_total",
    "Upstream HTTP attempts after the first of a request, by provider.",
    PROM_COUNTER,
    &provider_label,
    NULL,
    provider_applies,
    up_retries_cells};

static atomic_long up_rejected_cells[WM_PROV__COUNT];
static const struct prom_family up_rejected = {
    "tempo_worker_upstream_short_circuits_total",
    "Upstream requests refused at once by an open circuit breaker.",
    PROM_COUNTER,
    &provider_label,
    NULL,
    provider_applies,
    up_rejected_cells};

static atomic_long up_skipped_cells[WM_PROV__COUNT];
static const struct prom_family up_skipped = {
    "tempo_worker_upstream_skipped_total",
    "Upstream attempts not started: the call's time left was below the "
    "provider's typical answer time.",
    PROM_COUNTER,
    &provider_label,
    NULL,
    provider_applies,
    up_skipped_cells};

static atomic_long breaker_cells[WM_PROV__COUNT];
static const struct prom_family breaker = {
    "tempo_worker_circuit_breaker_state",
    "Circuit breaker per provider: 0 closed, 1 open, 2 half-open.",
    PROM_GAUGE,
    &provider_label,
    NULL,
    provider_applies,
    breaker_cells};

static atomic_long cache_cells[WM_CACHE__COUNT];
static const struct prom_family cache_fam[WM_CACHE__COUNT] = {
    {"tempo_worker_cache_hits_total",
     "Weather lookups answered by a fresh cache entry.", PROM_COUNTER, NULL,
     NULL, NULL, &cache_cells[WM_CACHE_HIT]},
    {"tempo_worker_cache_misses_total",
     "Weather lookups that fetched from the provider.", PROM_COUNTER, NULL,
     NULL, NULL, &cache_cells[WM_CACHE_MISS]},
    {"tempo_worker_cache_stale_serves_total",
     "Failed weather fetches answered with an older cached entry.",
     PROM_COUNTER, NULL, NULL, NULL, &cache_cells[WM_CACHE_STALE]},
    {"tempo_worker_cache_coalesced_waits_total",
     "Weather lookups that waited for a concurrent fetch of the same place.",
     PROM_COUNTER, NULL, NULL, NULL, &cache_cells[WM_CACHE_COALESCED]},
};

static atomic_long degraded_cell, broker_cell;
static const struct prom_family degraded = {
    "tempo_worker_degraded_answers_total",
    "Answers served from the built-in catalog because the music provider "
    "failed.",
    PROM_COUNTER,
    NULL,
    NULL,
    NULL,
    &degraded_cell};
static const struct prom_family broker = {"tempo_worker_broker_connected",
                                          "1 while connected to the broker.",
                                          PROM_GAUGE,
                                          NULL,
                                          NULL,
                                          NULL,
                                          &broker_cell};

static atomic_long pool_tracks_cells[GENRE__COUNT];
static atomic_long pool_fetched[GENRE__COUNT]; /* ms; 0 = no pool */
static atomic_long pool_refresh_cells[GENRE__COUNT];
static atomic_long pool_failure_cells[GENRE__COUNT];
static const struct prom_family pool_tracks = {
    "tempo_worker_music_pool_tracks",
    "Spotify tracks held in the pool, by genre (0: no pool yet).",
    PROM_GAUGE,
    &genre_label,
    NULL,
    NULL,
    pool_tracks_cells};
static const struct prom_family pool_refreshes = {
    "tempo_worker_music_pool_refreshes_total",
    "Pool refreshes whose tracks were taken, by genre.",
    PROM_COUNTER,
    &genre_label,
    NULL,
    NULL,
    pool_refresh_cells};
static const struct prom_family pool_failures = {
    "tempo_worker_music_pool_refresh_failures_total",
    "Pool refreshes that failed (the old pool, if any, kept serving), by "
    "genre.",
    PROM_COUNTER,
    &genre_label,
    NULL,
    NULL,
    pool_failure_cells};

static atomic_long sp_calls_cells[WM_SP__COUNT];
static const struct prom_family sp_calls = {
    "tempo_worker_spotify_calls_total",
    "HTTP requests sent to Spotify (retries included), by endpoint.",
    PROM_COUNTER,
    &endpoint_label,
    NULL,
    NULL,
    sp_calls_cells};
static atomic_long sp_gated_cell;
static const struct prom_family sp_gated = {
    "tempo_worker_spotify_rate_limited_total",
    "Spotify searches not sent because a 429's Retry-After was still "
    "running.",
    PROM_COUNTER,
    NULL,
    NULL,
    NULL,
    &sp_gated_cell};
static atomic_long sp_retry_at; /* ms, clock_mono_ms; 0 = open */

/* ---- recording ----------------------------------------------------------- */

double wmetrics_now(void)
{
    return clock_mono_s();
}

static int provider_ok(int p)
{
    return p > WM_PROV_NONE && p < WM_PROV__COUNT;
}

void wmetrics_call_begin(void)
{
    prom_inc(&inflight_cell);
}

void wmetrics_call_end(const char *method, const char *exc_type, double seconds)
{
    size_t m = prom_lookup(&method_label, method), o = 0;

    pthread_once(&once, init);
    if (exc_type != NULL) {
        o = prom_lookup(&outcome_label, exc_type);
        if (o == 0) /* an exc_type spelled "ok" is not success */
            o = outcome_label.n - 1;
    }
    prom_inc(prom_cell(&calls, m, o));
    prom_observe(&call_lat, m, seconds);
    prom_add(&inflight_cell, -1);
}

void wmetrics_call_abandon(void)
{
    prom_add(&inflight_cell, -1);
}

void wmetrics_provider_enable(int provider)
{
    if (provider_ok(provider))
        atomic_store_explicit(&prov_enabled[provider], 1, memory_order_relaxed);
}

void wmetrics_upstream(int provider, long http_status, int timed_out,
                       double seconds)
{
    enum up_result r;

    if (!provider_ok(provider))
        return;
    if (http_status >= 500)
        r = UP_5XX;
    else if (http_status >= 400)
        r = UP_4XX;
    else if (http_status > 0)
        r = UP_OK;
    else
        r = timed_out ? UP_TIMEOUT : UP_ERROR;
    prom_inc(prom_cell(&up_req, (size_t)provider, r));
    prom_observe(&up_lat, (size_t)provider, seconds);
}

void wmetrics_upstream_retry(int provider)
{
    if (provider_ok(provider))
        prom_inc(&up_retries_cells[provider]);
}

void wmetrics_upstream_rejected(int provider)
{
    if (provider_ok(provider))
        prom_inc(&up_rejected_cells[provider]);
}

void wmetrics_upstream_skipped(int provider)
{
    if (provider_ok(provider))
        prom_inc(&up_skipped_cells[provider]);
}

void wmetrics_breaker(int provider, enum wmetrics_breaker state)
{
    if (provider_ok(provider))
        prom_set(&breaker_cells[provider], (long)state);
}

void wmetrics_cache(enum wmetrics_cache event)
{
    if ((unsigned)event < WM_CACHE__COUNT)
        prom_inc(&cache_cells[event]);
}

void wmetrics_degraded(void)
{
    prom_inc(&degraded_cell);
}

void wmetrics_broker_connected(int connected)
{
    prom_set(&broker_cell, connected ? 1 : 0);
}

void wmetrics_spotify_calls(enum wmetrics_spotify_call endpoint, int n)
{
    if ((unsigned)endpoint < WM_SP__COUNT && n > 0)
        prom_add(&sp_calls_cells[endpoint], n);
}

void wmetrics_spotify_gated(void)
{
    prom_inc(&sp_gated_cell);
}

void wmetrics_spotify_retry_at(int64_t at_ms)
{
    prom_set(&sp_retry_at, (long)at_ms);
}

void wmetrics_pool_enable(void)
{
    atomic_store_explicit(&pool_on, 1, memory_order_relaxed);
}

void wmetrics_pool_set(int genre, size_t tracks, int64_t fetched_ms)
{
    if (genre < 0 || genre >= GENRE__COUNT)
        return;
    prom_set(&pool_tracks_cells[genre], (long)tracks);
    prom_set(&pool_fetched[genre], (long)fetched_ms);
}

void wmetrics_pool_refresh(int genre, int ok)
{
    if (genre < 0 || genre >= GENRE__COUNT)
        return;
    prom_inc(ok ? &pool_refresh_cells[genre] : &pool_failure_cells[genre]);
}

/* ---- rendering ----------------------------------------------------------- */

/* The exposition starts at 16 KiB and may grow to 1 MiB. */
#define TEXT_INITIAL 16384
#define TEXT_MAX (1u << 20)

static void render_music(struct tbuf *b)
{
    int64_t now = clock_mono_ms(), at;
    int g;

    if (!atomic_load_explicit(&pool_on, memory_order_relaxed))
        return;
    prom_write(b, &pool_tracks);
    /* Ages only exist where there is a pool. */
    prom_write_header(b, "tempo_worker_music_pool_age_seconds",
                      "Age of the pool's tracks, by genre (absent while "
                      "there is no pool).",
                      "gauge");
    for (g = 0; g < GENRE__COUNT; g++) {
        long fetched = prom_get(&pool_fetched[g]);
        if (fetched > 0)
            prom_write_sample(b, "tempo_worker_music_pool_age_seconds", "genre",
                              genre_values[g],
                              (double)(now - fetched) / 1000.0);
    }
    prom_write(b, &pool_refreshes);
    prom_write(b, &pool_failures);
    prom_write(b, &sp_calls);
    prom_write(b, &sp_gated);
    at = prom_get(&sp_retry_at);
    prom_write_value(b, "tempo_worker_spotify_retry_after_seconds",
                     "Seconds until Spotify may be called again after a 429 "
                     "(0: now).",
                     PROM_GAUGE, at > now ? (double)(at - now) / 1000.0 : 0.0);
}

char *wmetrics_render(size_t *len)
{
    struct tbuf b;
    size_t i;

    pthread_once(&once, init);
    tbuf_init(&b, TEXT_INITIAL, TEXT_MAX);
    prom_write(&b, &calls);
    prom_write(&b, &inflight);
    prom_write_histogram(&b, &call_lat);
    prom_write_histogram(&b, &up_lat);
    prom_write(&b, &up_req);
    prom_write(&b, &up_retries);
    prom_write(&b, &up_rejected);
    prom_write(&b, &up_skipped);
    prom_write(&b, &breaker);
    for (i = 0; i < WM_CACHE__COUNT; i++)
        prom_write(&b, &cache_fam[i]);
    prom_write(&b, &degraded);
    prom_write(&b, &broker);
    render_music(&b);
    return tbuf_finish(&b, len);
}
