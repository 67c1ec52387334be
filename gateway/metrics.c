/*
 * metrics.c - see metrics.h.  Fixed arrays of relaxed atomic counters: the
 * hot path does two or three atomic adds and never locks.  Latency sums
 * are kept in microseconds as integers so they stay atomic.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "tbuf.h"

static const int statuses[] = {200, 304, 400, 404, 405, 500, 502, 503, 504};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
static const char *const route_names[ROUTE__COUNT] = {
    [ROUTE_WEATHER] = "/weather",
    [ROUTE_HEALTHZ] = "/healthz",
    [ROUTE_READYZ] = "/readyz",
    [ROUTE_METRICS] = "/metrics",
    [ROUTE_PAGE] = "/",
    [ROUTE_APP_JS] = "/app.js",
    [ROUTE_APP_CSS] = "/app.css",
    [ROUTE_FAVICON] = "/favicon.svg",
    [ROUTE_OPENAPI] = "/openapi.json",
    [ROUTE_OTHER] = "other"};
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKET (sizeof(buckets) / sizeof(buckets[0]))
static const char *const codes[] = {"invalid_argument", "city_not_found",
                                    "not_found",        "method_not_allowed",
                                    "upstream_error",   "service_unavailable",
                                    "timeout",          "internal"};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static atomic_ulong req_count[ROUTE__COUNT][NSTATUS + 1];
static atomic_ulong lat_bucket[ROUTE__COUNT][NBUCKET + 1];
static atomic_ulong lat_sum_us[ROUTE__COUNT];
static atomic_ulong rpc_timeouts, rpc_unroutable, reconnects;
static atomic_ulong err_codes[NCODES];
static atomic_int broker_blocked;

#define RELAXED memory_order_relaxed

/* The exposition starts at 16 KiB and may grow to 1 MiB. */
#define TEXT_INITIAL 16384
#define TEXT_MAX (1u << 20)

void metrics_request(enum metrics_route route, int status, double seconds)
{
    size_t s, b;

    if ((unsigned)route >= ROUTE__COUNT)
        route = ROUTE_OTHER;
    for (s = 0; s < NSTATUS && statuses[s] != status; s++)
        ;
    atomic_fetch_add_explicit(&req_count[route][s], 1, RELAXED);
    for (b = 0; b < NBUCKET && seconds > buckets[b]; b++)
        ;
    atomic_fetch_add_explicit(&lat_bucket[route][b], 1, RELAXED);
    if (seconds > 0)
        atomic_fetch_add_explicit(&lat_sum_us[route],
                                  (unsigned long)(seconds * 1e6), RELAXED);
}

void metrics_rpc_timeout(void)
{
    atomic_fetch_add_explicit(&rpc_timeouts, 1, RELAXED);
}

void metrics_rpc_unroutable(void)
{
    atomic_fetch_add_explicit(&rpc_unroutable, 1, RELAXED);
}

void metrics_broker_reconnect(void)
{
    atomic_fetch_add_explicit(&reconnects, 1, RELAXED);
}

void metrics_broker_blocked(int blocked)
{
    atomic_store_explicit(&broker_blocked, blocked ? 1 : 0, RELAXED);
}

void metrics_error_code(const char *code)
{
    size_t i;

    for (i = 0; i < NCODES; i++)
        if (strcmp(codes[i], code) == 0) {
            atomic_fetch_add_explicit(&err_codes[i], 1, RELAXED);
            return;
        }
}

char *metrics_render(long inflight, int ready, size_t *len)
{
    struct tbuf b;
    size_t r, s, i;

    tbuf_init(&b, TEXT_INITIAL, TEXT_MAX);
    tbuf_printf(&b, "# HELP tempo_http_requests_total HTTP requests by route "
                    "and status.\n# TYPE tempo_http_requests_total counter\n");
    for (r = 0; r < ROUTE__COUNT; r++)
        for (s = 0; s <= NSTATUS; s++) {
            unsigned long v = atomic_load_explicit(&req_count[r][s], RELAXED);
            if (v == 0)
                continue;
            if (s < NSTATUS)
                tbuf_printf(&b,
                            "tempo_http_requests_total{route=\"%s\","
                            "status=\"%d\"} %lu\n",
                            route_names[r], statuses[s], v);
            else
                tbuf_printf(&b,
                            "tempo_http_requests_total{route=\"%s\","
                            "status=\"other\"} %lu\n",
                            route_names[r], v);
        }
    tbuf_printf(&b, "# HELP tempo_http_request_duration_seconds HTTP request "
                    "latency.\n# TYPE tempo_http_request_duration_seconds "
                    "histogram\n");
    for (r = 0; r < ROUTE__COUNT; r++) {
        unsigned long cum = 0;
        for (i = 0; i <= NBUCKET; i++) {
            cum += atomic_load_explicit(&lat_bucket[r][i], RELAXED);
            if (i < NBUCKET)
                tbuf_printf(&b,
                            "tempo_http_request_duration_seconds_bucket{route="
                            "\"%s\",le=\"%g\"} %lu\n",
                            route_names[r], buckets[i], cum);
            else
                tbuf_printf(&b,
                            "tempo_http_request_duration_seconds_bucket{route="
                            "\"%s\",le=\"+Inf\"} %lu\n",
                            route_names[r], cum);
        }
        tbuf_printf(&b,
                    "tempo_http_request_duration_seconds_sum{route=\"%s\"} "
                    "%.6f\n"
                    "tempo_http_request_duration_seconds_count{route=\"%s\"} "
                    "%lu\n",
                    route_names[r],
                    (double)atomic_load_explicit(&lat_sum_us[r], RELAXED) / 1e6,
                    route_names[r], cum);
    }
    tbuf_printf(&b, "# HELP tempo_http_errors_total Error replies by code.\n"
                    "# TYPE tempo_http_errors_total counter\n");
    for (i = 0; i < NCODES; i++)
        tbuf_printf(&b, "tempo_http_errors_total{code=\"%s\"} %lu\n", codes[i],
                    atomic_load_explicit(&err_codes[i], RELAXED));
    tbuf_printf(&b,
                "# HELP tempo_rpc_inflight RPC calls waiting for a reply.\n"
                "# TYPE tempo_rpc_inflight gauge\ntempo_rpc_inflight %ld\n"
                "# HELP tempo_rpc_timeouts_total RPC calls that hit "
                "RPC_TIMEOUT_MS.\n# TYPE tempo_rpc_timeouts_total counter\n"
                "tempo_rpc_timeouts_total %lu\n"
                "# HELP tempo_rpc_unroutable_total RPC calls refused because "
                "no worker consumes the queue.\n"
                "# TYPE tempo_rpc_unroutable_total counter\n"
                "tempo_rpc_unroutable_total %lu\n"
                "# HELP tempo_broker_reconnects_total Successful reconnects "
                "to the broker.\n# TYPE tempo_broker_reconnects_total counter\n"
                "tempo_broker_reconnects_total %lu\n"
                "# HELP tempo_broker_connected 1 while connected to the "
                "broker.\n# TYPE tempo_broker_connected gauge\n"
                "tempo_broker_connected %d\n"
                "# HELP tempo_broker_blocked 1 while the broker blocks the "
                "connection (resource alarm).\n"
                "# TYPE tempo_broker_blocked gauge\n"
                "tempo_broker_blocked %d\n",
                inflight, atomic_load_explicit(&rpc_timeouts, RELAXED),
                atomic_load_explicit(&rpc_unroutable, RELAXED),
                atomic_load_explicit(&reconnects, RELAXED), ready ? 1 : 0,
                atomic_load_explicit(&broker_blocked, RELAXED));
    return tbuf_finish(&b, len);
}
