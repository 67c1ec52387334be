/*
 * metrics.c - see metrics.h.
 *
 * DESIGN
 *
 * Like the gateway's metrics.c: fixed arrays of relaxed atomic counters,
 * indexed by small enums, so the hot path does a couple of atomic adds and
 * never locks or allocates.  Histogram sums are kept in integer
 * microseconds so that they stay atomic.  Rendering reads each counter
 * once; a histogram's _count is the sum of the bucket values it read, so
 * the buckets, +Inf and _count always agree within one scrape even while
 * other threads keep counting.
 *
 * Every label value printed comes from the const tables below.  Inputs
 * (method names, exc_types) are looked up in them and fall back to
 * "unknown" / "other", so nothing a client sends, and no configuration
 * value, ever reaches the exposition.  Series are printed even when zero,
 * so rate() works from the first scrape.
 *
 * The HTTP endpoint is a separate libmicrohttpd daemon with its own
 * polling thread: it only reads the atomics, so a scrape never slows a
 * call down.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "genre.h"
#include "mhd_watch.h"
#include "tbuf.h"

#define RELAXED memory_order_relaxed
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The methods of service.c's table; anything else is "unknown". */
static const char *const method_names[] = {"get_playlist", "unknown"};
#define NMETHOD NELEMS(method_names)

/* "ok", then the exc_types a worker replies with; the rest is "other". */
static const char *const outcome_names[] = {"ok",
                                            "CityNotFound",
                                            "UpstreamError",
                                            "UpstreamTimeout",
                                            "InvalidArgument",
                                            "MethodNotFound",
                                            "MalformedRequest",
                                            "IncorrectSignature",
                                            "other"};
#define NOUTCOME NELEMS(outcome_names)

static const char *const provider_names[WM_PROV__COUNT] = {
    "none", "openweathermap", "open-meteo", "spotify"};

enum up_result { UP_OK, UP_4XX, UP_5XX, UP_TIMEOUT, UP_ERROR, UP__COUNT };
static const char *const result_names[UP__COUNT] = {
    "ok", "http_4xx", "http_5xx", "timeout", "error"};

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                 0.5,   1,    2.5,   5,    10};
#define NBUCKET NELEMS(buckets)

struct hist {
    atomic_ulong bucket[NBUCKET + 1]; /* per bucket, not cumulative */
    atomic_ulong sum_us;
};

static atomic_ulong calls[NMETHOD][NOUTCOME];
static struct hist call_lat[NMETHOD];
static atomic_long calls_inflight;

static atomic_int prov_enabled[WM_PROV__COUNT];
static struct hist up_lat[WM_PROV__COUNT];
static atomic_ulong up_req[WM_PROV__COUNT][UP__COUNT];
static atomic_ulong up_retries[WM_PROV__COUNT];
static atomic_ulong up_rejected[WM_PROV__COUNT];
static atomic_int breaker_state[WM_PROV__COUNT];

static atomic_ulong cache_events[WM_CACHE__COUNT];
static atomic_ulong degraded;
static atomic_int broker_up;

static const char *const sp_call_names[WM_SP__COUNT] = {"token", "search"};
static atomic_ulong sp_calls[WM_SP__COUNT];
static atomic_ulong sp_gated;
static atomic_llong sp_retry_at; /* ms, http_now_ms clock; 0 = open */

static atomic_int pool_on;
static atomic_ulong pool_tracks[GENRE__COUNT];
static atomic_llong pool_fetched[GENRE__COUNT]; /* ms; 0 = no pool */
static atomic_ulong pool_refreshes[GENRE__COUNT];
static atomic_ulong pool_failures[GENRE__COUNT];

/* ---- recording ----------------------------------------------------------- */

double wmetrics_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void observe(struct hist *h, double seconds)
{
    size_t b;

    for (b = 0; b < NBUCKET && !(seconds <= buckets[b]); b++)
        ;
    atomic_fetch_add_explicit(&h->bucket[b], 1, RELAXED);
    if (seconds > 0 && seconds < 1e6)
        atomic_fetch_add_explicit(&h->sum_us, (unsigned long)(seconds * 1e6),
                                  RELAXED);
}

static size_t lookup(const char *const *names, size_t n, const char *s)
{
    size_t i;

    for (i = 0; s != NULL && i < n - 1; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return n - 1; /* the catch-all last entry */
}

static int provider_ok(int p)
{
    return p > WM_PROV_NONE && p < WM_PROV__COUNT;
}

void wmetrics_call_begin(void)
{
    atomic_fetch_add_explicit(&calls_inflight, 1, RELAXED);
}

void wmetrics_call_end(const char *method, const char *exc_type, double seconds)
{
    size_t m = lookup(method_names, NMETHOD, method);
    size_t o = exc_type == NULL ? 0 : lookup(outcome_names, NOUTCOME, exc_type);

    if (o == 0 && exc_type != NULL)
        o = NOUTCOME - 1; /* an exc_type spelled "ok" is not success */
    atomic_fetch_add_explicit(&calls[m][o], 1, RELAXED);
    observe(&call_lat[m], seconds);
    atomic_fetch_sub_explicit(&calls_inflight, 1, RELAXED);
}

void wmetrics_call_abandon(void)
{
    atomic_fetch_sub_explicit(&calls_inflight, 1, RELAXED);
}

void wmetrics_provider_enable(int provider)
{
    if (provider_ok(provider))
        atomic_store_explicit(&prov_enabled[provider], 1, RELAXED);
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
    atomic_fetch_add_explicit(&up_req[provider][r], 1, RELAXED);
    observe(&up_lat[provider], seconds);
}

void wmetrics_upstream_retry(int provider)
{
    if (provider_ok(provider))
        atomic_fetch_add_explicit(&up_retries[provider], 1, RELAXED);
}

void wmetrics_upstream_rejected(int provider)
{
    if (provider_ok(provider))
        atomic_fetch_add_explicit(&up_rejected[provider], 1, RELAXED);
}

void wmetrics_breaker(int provider, enum wmetrics_breaker state)
{
    if (provider_ok(provider))
        atomic_store_explicit(&breaker_state[provider], (int)state, RELAXED);
}

void wmetrics_cache(enum wmetrics_cache event)
{
    if ((unsigned)event < WM_CACHE__COUNT)
        atomic_fetch_add_explicit(&cache_events[event], 1, RELAXED);
}

void wmetrics_degraded(void)
{
    atomic_fetch_add_explicit(&degraded, 1, RELAXED);
}

void wmetrics_broker_connected(int connected)
{
    atomic_store_explicit(&broker_up, connected ? 1 : 0, RELAXED);
}

void wmetrics_spotify_calls(enum wmetrics_spotify_call endpoint, int n)
{
    if ((unsigned)endpoint < WM_SP__COUNT && n > 0)
        atomic_fetch_add_explicit(&sp_calls[endpoint], (unsigned long)n,
                                  RELAXED);
}

void wmetrics_spotify_gated(void)
{
    atomic_fetch_add_explicit(&sp_gated, 1, RELAXED);
}

void wmetrics_spotify_retry_at(int64_t at_ms)
{
    atomic_store_explicit(&sp_retry_at, (long long)at_ms, RELAXED);
}

void wmetrics_pool_enable(void)
{
    atomic_store_explicit(&pool_on, 1, RELAXED);
}

void wmetrics_pool_set(int genre, size_t tracks, int64_t fetched_ms)
{
    if (genre < 0 || genre >= GENRE__COUNT)
        return;
    atomic_store_explicit(&pool_tracks[genre], (unsigned long)tracks, RELAXED);
    atomic_store_explicit(&pool_fetched[genre], (long long)fetched_ms, RELAXED);
}

void wmetrics_pool_refresh(int genre, int ok)
{
    if (genre < 0 || genre >= GENRE__COUNT)
        return;
    atomic_fetch_add_explicit(
        ok ? &pool_refreshes[genre] : &pool_failures[genre], 1, RELAXED);
}

/* ---- rendering ----------------------------------------------------------- */

/* The exposition starts at 16 KiB and may grow to 1 MiB. */
#define TEXT_INITIAL 16384
#define TEXT_MAX (1u << 20)

static void family(struct tbuf *b, const char *name, const char *type,
                   const char *help)
{
    tbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram series; `label` is `name="value"` (no braces). */
static void render_hist(struct tbuf *b, const char *name, const char *label,
                        struct hist *h)
{
    unsigned long cum = 0;
    size_t i;

    for (i = 0; i <= NBUCKET; i++) {
        cum += atomic_load_explicit(&h->bucket[i], RELAXED);
        if (i < NBUCKET)
            tbuf_printf(b, "%s_bucket{%s,le=\"%g\"} %lu\n", name, label,
                        buckets[i], cum);
        else
            tbuf_printf(b, "%s_bucket{%s,le=\"+Inf\"} %lu\n", name, label, cum);
    }
    tbuf_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %lu\n", name, label,
                (double)atomic_load_explicit(&h->sum_us, RELAXED) / 1e6, name,
                label, cum);
}

static int enabled(size_t p)
{
    return atomic_load_explicit(&prov_enabled[p], RELAXED) != 0;
}

static void render_calls(struct tbuf *b)
{
    char label[64];
    size_t m, o;

    family(b, "tempo_worker_calls_total", "counter",
           "RPC calls answered, by method and outcome (ok or the reply's "
           "exc_type).");
    for (m = 0; m < NMETHOD; m++)
        for (o = 0; o < NOUTCOME; o++)
            tbuf_printf(b,
                        "tempo_worker_calls_total{method=\"%s\","
                        "outcome=\"%s\"} %lu\n",
                        method_names[m], outcome_names[o],
                        atomic_load_explicit(&calls[m][o], RELAXED));
    family(b, "tempo_worker_calls_in_flight", "gauge",
           "RPC calls being served now.");
    tbuf_printf(b, "tempo_worker_calls_in_flight %ld\n",
                atomic_load_explicit(&calls_inflight, RELAXED));
    family(b, "tempo_worker_call_duration_seconds", "histogram",
           "Time to serve an RPC call, by method.");
    for (m = 0; m < NMETHOD; m++) {
        snprintf(label, sizeof(label), "method=\"%s\"", method_names[m]);
        render_hist(b, "tempo_worker_call_duration_seconds", label,
                    &call_lat[m]);
    }
}

static void render_upstreams(struct tbuf *b)
{
    char label[64];
    size_t p, r;

    family(b, "tempo_worker_upstream_request_duration_seconds", "histogram",
           "Upstream HTTP attempt latency, by provider.");
    for (p = 1; p < WM_PROV__COUNT; p++)
        if (enabled(p)) {
            snprintf(label, sizeof(label), "provider=\"%s\"",
                     provider_names[p]);
            render_hist(b, "tempo_worker_upstream_request_duration_seconds",
                        label, &up_lat[p]);
        }
    family(b, "tempo_worker_upstream_requests_total", "counter",
           "Upstream HTTP attempts (retries included), by provider and "
           "result.");
    for (p = 1; p < WM_PROV__COUNT; p++)
        for (r = 0; r < UP__COUNT && enabled(p); r++)
            tbuf_printf(b,
                        "tempo_worker_upstream_requests_total{provider=\"%s\","
                        "result=\"%s\"} %lu\n",
                        provider_names[p], result_names[r],
                        atomic_load_explicit(&up_req[p][r], RELAXED));
    family(b, "tempo_worker_upstream_retries_total", "counter",
           "Upstream HTTP attempts after the first of a request, by "
           "provider.");
    for (p = 1; p < WM_PROV__COUNT; p++)
        if (enabled(p))
            tbuf_printf(b,
                        "tempo_worker_upstream_retries_total{provider=\"%s\"} "
                        "%lu\n",
                        provider_names[p],
                        atomic_load_explicit(&up_retries[p], RELAXED));
    family(b, "tempo_worker_upstream_short_circuits_total", "counter",
           "Upstream requests refused at once by an open circuit breaker.");
    for (p = 1; p < WM_PROV__COUNT; p++)
        if (enabled(p))
            tbuf_printf(b,
                        "tempo_worker_upstream_short_circuits_total{provider="
                        "\"%s\"} %lu\n",
                        provider_names[p],
                        atomic_load_explicit(&up_rejected[p], RELAXED));
    family(b, "tempo_worker_circuit_breaker_state", "gauge",
           "Circuit breaker per provider: 0 closed, 1 open, 2 half-open.");
    for (p = 1; p < WM_PROV__COUNT; p++)
        if (enabled(p))
            tbuf_printf(b,
                        "tempo_worker_circuit_breaker_state{provider=\"%s\"} "
                        "%d\n",
                        provider_names[p],
                        atomic_load_explicit(&breaker_state[p], RELAXED));
}

static void render_answers(struct tbuf *b)
{
    static const struct {
        const char *name, *help;
    } cache_fam[WM_CACHE__COUNT] = {
        {"tempo_worker_cache_hits_total",
         "Weather lookups answered by a fresh cache entry."},
        {"tempo_worker_cache_misses_total",
         "Weather lookups that fetched from the provider."},
        {"tempo_worker_cache_stale_serves_total",
         "Failed weather fetches answered with an older cached entry."},
        {"tempo_worker_cache_coalesced_waits_total",
         "Weather lookups that waited for a concurrent fetch of the same "
         "place."},
    };
    size_t i;

    for (i = 0; i < WM_CACHE__COUNT; i++) {
        family(b, cache_fam[i].name, "counter", cache_fam[i].help);
        tbuf_printf(b, "%s %lu\n", cache_fam[i].name,
                    atomic_load_explicit(&cache_events[i], RELAXED));
    }
    family(b, "tempo_worker_degraded_answers_total", "counter",
           "Answers served from the built-in catalog because the music "
           "provider failed.");
    tbuf_printf(b, "tempo_worker_degraded_answers_total %lu\n",
                atomic_load_explicit(&degraded, RELAXED));
    family(b, "tempo_worker_broker_connected", "gauge",
           "1 while connected to the broker.");
    tbuf_printf(b, "tempo_worker_broker_connected %d\n",
                atomic_load_explicit(&broker_up, RELAXED));
}

/* The per-genre families of the music pool, one table row each. */
enum pool_value { PV_TRACKS, PV_AGE, PV_REFRESHES, PV_FAILURES };
static const struct {
    const char *name, *type, *help;
    enum pool_value v;
} pool_fam[] = {
    {"tempo_worker_music_pool_tracks", "gauge",
     "Spotify tracks held in the pool, by genre (0: no pool yet).", PV_TRACKS},
    {"tempo_worker_music_pool_age_seconds", "gauge",
     "Age of the pool's tracks, by genre (absent while there is no pool).",
     PV_AGE},
    {"tempo_worker_music_pool_refreshes_total", "counter",
     "Pool refreshes whose tracks were taken, by genre.", PV_REFRESHES},
    {"tempo_worker_music_pool_refresh_failures_total", "counter",
     "Pool refreshes that failed (the old pool, if any, kept serving), by "
     "genre.",
     PV_FAILURES},
};

static void render_music(struct tbuf *b)
{
    int64_t now = clock_mono_ms(), at;
    size_t f;
    int g;

    if (!atomic_load_explicit(&pool_on, RELAXED))
        return;
    for (f = 0; f < NELEMS(pool_fam); f++) {
        family(b, pool_fam[f].name, pool_fam[f].type, pool_fam[f].help);
        for (g = 0; g < GENRE__COUNT; g++) {
            long long fetched = atomic_load_explicit(&pool_fetched[g], RELAXED);
            unsigned long v = 0;

            switch (pool_fam[f].v) {
            case PV_TRACKS:
                v = atomic_load_explicit(&pool_tracks[g], RELAXED);
                break;
            case PV_AGE:
                if (fetched > 0)
                    tbuf_printf(b, "%s{genre=\"%s\"} %.3f\n", pool_fam[f].name,
                                genre_name(g),
                                (double)(now - fetched) / 1000.0);
                continue;
            case PV_REFRESHES:
                v = atomic_load_explicit(&pool_refreshes[g], RELAXED);
                break;
            case PV_FAILURES:
                v = atomic_load_explicit(&pool_failures[g], RELAXED);
                break;
            }
            tbuf_printf(b, "%s{genre=\"%s\"} %lu\n", pool_fam[f].name,
                        genre_name(g), v);
        }
    }
    family(b, "tempo_worker_spotify_calls_total", "counter",
           "HTTP requests sent to Spotify (retries included), by endpoint.");
    for (f = 0; f < WM_SP__COUNT; f++)
        tbuf_printf(
            b, "tempo_worker_spotify_calls_total{endpoint=\"%s\"} %lu\n",
            sp_call_names[f], atomic_load_explicit(&sp_calls[f], RELAXED));
    family(b, "tempo_worker_spotify_rate_limited_total", "counter",
           "Spotify searches not sent because a 429's Retry-After was "
           "still running.");
    tbuf_printf(b, "tempo_worker_spotify_rate_limited_total %lu\n",
                atomic_load_explicit(&sp_gated, RELAXED));
    family(b, "tempo_worker_spotify_retry_after_seconds", "gauge",
           "Seconds until Spotify may be called again after a 429 (0: "
           "now).");
    at = atomic_load_explicit(&sp_retry_at, RELAXED);
    tbuf_printf(b, "tempo_worker_spotify_retry_after_seconds %.3f\n",
                at > now ? (double)(at - now) / 1000.0 : 0.0);
}

char *wmetrics_render(size_t *len)
{
    struct tbuf b;

    tbuf_init(&b, TEXT_INITIAL, TEXT_MAX);
    render_calls(&b);
    render_upstreams(&b);
    render_answers(&b);
    render_music(&b);
    return tbuf_finish(&b, len);
}

/* ---- the HTTP endpoint --------------------------------------------------- */

#define SRV_MAX_CONNECTIONS 8
#define SRV_IDLE_TIMEOUT_S 10

struct wmetrics_server {
    struct MHD_Daemon *daemon;
    struct mhd_watch *watch;
    int port;
};

static const char body_ok[] = "{\"status\":\"ok\"}";
static const char body_404[] = "{\"error\":{\"status\":404,\"code\":"
                               "\"not_found\",\"message\":\"no such "
                               "endpoint\"}}";
static const char body_405[] = "{\"error\":{\"status\":405,\"code\":"
                               "\"method_not_allowed\",\"message\":\"only "
                               "GET and HEAD are allowed\"}}";
static const char body_500[] = "{\"error\":{\"status\":500,\"code\":"
                               "\"internal\",\"message\":\"metrics "
                               "unavailable\"}}";

/* Queues a response; `text` is static unless `owned`. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *ctype, char *text, size_t len,
                             int owned)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(
        len, text, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        if (owned)
            free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET, HEAD");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* libmicrohttpd 0.9.75 takes a non-const buffer, which it never writes
 * to when told MHD_RESPMEM_PERSISTENT. */
#define STATIC_REPLY(c, st, body)                                              \
    reply(c, st, "application/json", (char *)(uintptr_t)(body),                \
          sizeof(body) - 1, 0)

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct wmetrics_server *s = cls;
    int is_metrics = strcmp(url, "/metrics") == 0;
    char *text;
    size_t len = 0;

    (void)version;
    mhd_watch_headers_done(s->watch, c);
    (void)upload;
    (void)con_cls;
    *upload_size = 0; /* bodies are ignored */
    if (!is_metrics && strcmp(url, "/healthz") != 0)
        return STATIC_REPLY(c, MHD_HTTP_NOT_FOUND, body_404);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return STATIC_REPLY(c, MHD_HTTP_METHOD_NOT_ALLOWED, body_405);
    if (!is_metrics)
        return STATIC_REPLY(c, MHD_HTTP_OK, body_ok);
    text = wmetrics_render(&len);
    if (text == NULL)
        return STATIC_REPLY(c, MHD_HTTP_INTERNAL_SERVER_ERROR, body_500);
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                 text, len, 1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct wmetrics_server *s = cls;

    (void)con_cls;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        mhd_watch_request_done(s->watch, c);
}

struct wmetrics_server *wmetrics_server_start(long port, long header_timeout_ms,
                                              char *err, size_t errlen)
{
    struct wmetrics_server *s;
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;

    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "metrics port %ld out of range", port);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->watch =
        mhd_watch_create(header_timeout_ms, SRV_IDLE_TIMEOUT_S, NULL, NULL);
    if (s->watch == NULL) {
        snprintf(err, errlen, "cannot start the metrics header deadline");
        free(s);
        return NULL;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons((uint16_t)port);
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, 0, NULL,
        NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)SRV_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SRV_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 16u, MHD_OPTION_NOTIFY_CONNECTION,
        mhd_watch_notify, s->watch, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        s, MHD_OPTION_END);
    if (s->daemon == NULL) {
        snprintf(err, errlen,
                 "cannot serve metrics on 0.0.0.0:%ld (port in use?)", port);
        mhd_watch_destroy(s->watch);
        free(s);
        return NULL;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL ? (int)info->port : (int)port;
    return s;
}

int wmetrics_server_port(const struct wmetrics_server *s)
{
    return s->port;
}

void wmetrics_server_stop(struct wmetrics_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon);
    mhd_watch_destroy(s->watch);
    free(s);
}
