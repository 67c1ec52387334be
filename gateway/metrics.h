/*
 * metrics.h - the gateway's Prometheus metrics (common/prom.h).
 * Process-wide, lock-free (relaxed atomics), safe from any thread.
 * Every series is exposed, zero or not.
 */
#ifndef TEMPO_METRICS_H
#define TEMPO_METRICS_H

#include <stddef.h>

enum metrics_route {
    ROUTE_WEATHER = 0,
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_PAGE, /* "/" and the files the page loads, each its own label */
    ROUTE_APP_JS,
    ROUTE_APP_CSS,
    ROUTE_FAVICON,
    ROUTE_OPENAPI,
    ROUTE_OTHER,
    ROUTE__COUNT
};

/* Counts one finished HTTP request and its latency. */
void metrics_request(enum metrics_route route, int status, double seconds);

void metrics_rpc_timeout(void);
void metrics_rpc_unroutable(void);
void metrics_broker_reconnect(void);
void metrics_broker_blocked(int blocked);
void metrics_error(int err);       /* an error answer (a negative tempo_err) */
void metrics_header_timeout(void); /* a connection cut at its header deadline */

/*
 * Renders the text exposition into a new malloc'd string (*len set).
 * inflight and connected are sampled by the caller (rpc_client_inflight,
 * rpc_client_connected).  Served as PROM_CONTENT_TYPE (prom.h).
 */
char *metrics_render(long inflight, int connected, size_t *len);

#endif
