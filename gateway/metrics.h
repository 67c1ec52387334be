/*
 * metrics.h - the gateway's Prometheus counters.  Process-wide, lock-free
 * (relaxed atomics), safe from any thread.  Rendering walks them once.
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
void metrics_error_code(const char *code);

/*
 * Renders the text exposition into a new malloc'd string (*len set).
 * inflight is sampled by the caller (rpc_client_inflight), ready likewise.
 */
char *metrics_render(long inflight, int ready, size_t *len);

#endif
