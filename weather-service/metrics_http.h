/*
 * metrics_http.h - the worker's small HTTP endpoint for its Prometheus
 * metrics (metrics.h) and a liveness probe.
 */
#ifndef TEMPO_METRICS_HTTP_H
#define TEMPO_METRICS_HTTP_H

#include <stddef.h>

struct wmetrics_server;

/*
 * Serves GET/HEAD /metrics and /healthz on 0.0.0.0:port (all addresses,
 * so Prometheus in another container can scrape it) from libmicrohttpd's
 * own thread, with a small connection limit and idle timeout, and a
 * total deadline of header_timeout_ms for each request's headers
 * (HTTP_HEADER_TIMEOUT_MS; mhd_watch.h), so that slow clients cannot hold
 * its few connections.  Port 0 picks a free port (tests; see
 * wmetrics_server_port).  The caller must have blocked the signals it
 * handles itself before calling.  Returns a new server or NULL with a
 * message in err.
 */
struct wmetrics_server *wmetrics_server_start(long port, long header_timeout_ms,
                                              char *err, size_t errlen);

/* The port actually bound. */
int wmetrics_server_port(const struct wmetrics_server *s);

/* Stops serving and frees s.  NULL is a no-op. */
void wmetrics_server_stop(struct wmetrics_server *s);

#endif
