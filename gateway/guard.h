/*
 * guard.h - the gateway's checks of a request before it is routed: its
 * framing and size (framing.h) and its client's rate (ratelimit.h, the
 * client named by clientip.h), over what libmicrohttpd parsed.  A thin
 * shell around those pure modules.
 *
 * Threads: one guard per HTTP server; guard_check and guard_rate run on
 * libmicrohttpd's thread (the gateway runs one), which owns the rate
 * table, so the hot path takes no lock.
 */
#ifndef TEMPO_GUARD_H
#define TEMPO_GUARD_H

#include <microhttpd.h>

struct config;
struct guard;

/* Reads cfg (HTTP_MAX_HEADER_BYTES, RATE_LIMIT_*, TRUSTED_PROXIES;
 * borrowed only during the call).  NULL on failure with err filled. */
struct guard *guard_create(const struct config *cfg, char *err, size_t errlen);

void guard_destroy(struct guard *g); /* NULL is a no-op */

/* libmicrohttpd's per-connection memory for cfg: room for
 * HTTP_MAX_HEADER_BYTES of request plus its records and the answer's
 * headers (4/3 of it, at least 8 KiB). */
size_t guard_connection_memory(const struct config *cfg);

/*
 * The first access-handler call (headers in): 0 if the request may go on,
 * or a negative tempo_err (TEMPO_EBADREQ, TEMPO_EURILONG, TEMPO_EHDRLARGE)
 * with *why a static client-safe message and *must_close set when the
 * connection must be closed after the answer.  uri_len is the request
 * target's length as sent (mhd_watch_uri_len).
 */
int guard_check(struct guard *g, struct MHD_Connection *c, const char *method,
                const char *version, size_t uri_len, const char **why,
                int *must_close);

/* Is rate limiting on? */
int guard_rate_limited(const struct guard *g);

/*
 * Takes a token for the request's client: 0, or TEMPO_ERATELIMIT with
 * *retry_after_s set.  Always 0 when rate limiting is off.
 */
int guard_rate(struct guard *g, struct MHD_Connection *c, long *retry_after_s);

#endif
