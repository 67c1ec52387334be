/*
 * metrics.c - see metrics.h.  The families are const tables over
 * common/prom.h; recording is one or two relaxed atomic adds and never
 * locks.  The error codes' label comes from the error table (errors.h),
 * so a new row is counted and exposed without touching this file.
 */
#include "metrics.h"

#include "errors.h"
#include "prom.h"
#include "tbuf.h"

#include <pthread.h>
#include <stdio.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- labels -------------------------------------------------------------- */

static const char *const route_values[ROUTE__COUNT] = {
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
static const struct prom_label route_label = {"route", route_values,
                                              ROUTE__COUNT};

/* Every status the gateway answers with, then the catch-all. */
static const int statuses[] = {200, 304, 400, 404, 405, 414, 429,
                               431, 499, 500, 502, 503, 504};
static const char *const status_values[] = {"200", "304", "400", "404",  "405",
                                            "414", "429", "431", "499",  "500",
                                            "502", "503", "504", "other"};
_Static_assert(NELEMS(status_values) == NELEMS(statuses) + 1,
               "one label value per status, and other");
static const struct prom_label status_label = {"status", status_values,
                                               NELEMS(status_values)};

/* The error table's distinct code words (filled once, see init). */
static const char *code_values[TEMPO_ERR_COUNT];
static struct prom_label code_label = {"code", code_values, 0};
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    const char *const *codes;
    int i, n = tempo_err_codes(&codes);

    for (i = 0; i < n; i++)
        code_values[i] = codes[i];
    code_label.n = (size_t)n;
}

/* ---- families ------------------------------------------------------------ */

static const double latency_bounds[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static atomic_long requests_cells[ROUTE__COUNT * NELEMS(status_values)];
static const struct prom_family requests = {
    "tempo_http_requests_total",
    "HTTP requests by route and status.",
    PROM_COUNTER,
    &route_label,
    &status_label,
    NULL,
    requests_cells};

static struct prom_hcell latency_cells[ROUTE__COUNT];
static const struct prom_histogram latency = {
    "tempo_http_request_duration_seconds",
    "HTTP request latency, by route.",
    latency_bounds,
    NELEMS(latency_bounds),
    &route_label,
    NULL,
    latency_cells};

static atomic_long error_cells[TEMPO_ERR_COUNT];
static const struct prom_family errors = {"tempo_http_errors_total",
                                          "Error replies by code.",
                                          PROM_COUNTER,
                                          &code_label,
                                          NULL,
                                          NULL,
                                          error_cells};

static atomic_long header_timeouts_cell, rpc_timeouts_cell, rpc_unroutable_cell,
    reconnects_cell, blocked_cell;
static const struct prom_family header_timeouts = {
    "tempo_http_header_timeouts_total",
    "Connections closed because a request's headers were not in within "
    "HTTP_HEADER_TIMEOUT_MS.",
    PROM_COUNTER,
    NULL,
    NULL,
    NULL,
    &header_timeouts_cell};
static const struct prom_family rpc_timeouts = {
    "tempo_rpc_timeouts_total",
    "RPC calls that hit RPC_TIMEOUT_MS.",
    PROM_COUNTER,
    NULL,
    NULL,
    NULL,
    &rpc_timeouts_cell};
static const struct prom_family rpc_unroutable = {
    "tempo_rpc_unroutable_total",
    "RPC calls refused because no worker consumes the queue.",
    PROM_COUNTER,
    NULL,
    NULL,
    NULL,
    &rpc_unroutable_cell};
static const struct prom_family reconnects = {
    "tempo_broker_reconnects_total",
    "Successful reconnects to the broker.",
    PROM_COUNTER,
    NULL,
    NULL,
    NULL,
    &reconnects_cell};
static const struct prom_family blocked = {
    "tempo_broker_blocked",
    "1 while the broker blocks the connection (resource alarm).",
    PROM_GAUGE,
    NULL,
    NULL,
    NULL,
    &blocked_cell};

/* ---- recording ----------------------------------------------------------- */

void metrics_request(enum metrics_route route, int status, double seconds)
{
    size_t s;

    if ((unsigned)route >= ROUTE__COUNT)
        route = ROUTE_OTHER;
    for (s = 0; s < NELEMS(statuses) && statuses[s] != status; s++)
        ;
    prom_inc(prom_cell(&requests, (size_t)route, s));
    prom_observe(&latency, (size_t)route, seconds);
}

void metrics_rpc_timeout(void)
{
    prom_inc(&rpc_timeouts_cell);
}

void metrics_rpc_unroutable(void)
{
    prom_inc(&rpc_unroutable_cell);
}

void metrics_broker_reconnect(void)
{
    prom_inc(&reconnects_cell);
}

void metrics_broker_blocked(int is_blocked)
{
    prom_set(&blocked_cell, is_blocked ? 1 : 0);
}

void metrics_header_timeout(void)
{
    prom_inc(&header_timeouts_cell);
}

void metrics_error(int err)
{
    int k;

    pthread_once(&once, init);
    k = tempo_err_code_index(err);
    if (k >= 0)
        prom_inc(&error_cells[k]);
}

/* ---- rendering ----------------------------------------------------------- */

/* The exposition starts at 16 KiB and may grow to 1 MiB. */
#define TEXT_INITIAL 16384
#define TEXT_MAX (1u << 20)

char *metrics_render(long inflight, int connected, size_t *len)
{
    struct tbuf b;

    pthread_once(&once, init);
    tbuf_init(&b, TEXT_INITIAL, TEXT_MAX);
    prom_write(&b, &requests);
    prom_write_histogram(&b, &latency);
    prom_write(&b, &errors);
    prom_write(&b, &header_timeouts);
    prom_write_value(&b, "tempo_rpc_inflight", "RPC calls waiting for a reply.",
                     PROM_GAUGE, (double)inflight);
    prom_write(&b, &rpc_timeouts);
    prom_write(&b, &rpc_unroutable);
    prom_write(&b, &reconnects);
    prom_write_value(&b, "tempo_broker_connected",
                     "1 while connected to the broker.", PROM_GAUGE,
                     connected ? 1 : 0);
    prom_write(&b, &blocked);
    return tbuf_finish(&b, len);
}
