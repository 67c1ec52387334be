/*
 * http_client.h - the worker's one way to talk to upstream HTTP APIs.
 *
 * A struct http_client wraps one CURL easy handle and belongs to one thread
 * (libcurl forbids sharing a handle); reusing it keeps connections alive
 * between calls.  A request is retried on timeouts, connection errors and
 * 5xx (never on other 4xx), with jittered exponential backoff, and on 429
 * when the upstream's Retry-After fits in the request's deadline.  Nothing
 * here logs: failures come back as a negative tempo_err and a client-safe
 * message (no URLs, which may carry API keys).
 *
 * curl_global_init() must have run before the first http_client_create();
 * service_create() does it.
 */
#ifndef TEMPO_HTTP_CLIENT_H
#define TEMPO_HTTP_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Largest response body accepted; a bigger one is an upstream error. */
#define HTTP_MAX_BODY (1024 * 1024)

/* Deadlines below are on clock_mono_ms() (clock.h). */
#include "clock.h"

struct breaker;

struct http_request {
    const char *url;            /* built by http_url_build */
    const char *const *headers; /* NULL-terminated "Name: value", or NULL */
    const char *form;     /* POST body (x-www-form-urlencoded); NULL = GET */
    const char *username; /* HTTP Basic, with password; NULL = none */
    const char *password;
    long timeout_ms;         /* per attempt (UPSTREAM_TIMEOUT_MS) */
    int retries;             /* extra attempts (UPSTREAM_RETRIES) */
    int64_t deadline_ms;     /* absolute, clock_mono_ms() clock */
    struct breaker *breaker; /* borrowed, may be NULL (breaker.h) */
    int metrics_provider;    /* enum wmetrics_provider; 0 = none */
    int no_retry_429; /* a 429 comes back at once, with its Retry-After in
                       * resp->retry_after_ms, for callers that pace all
                       * their threads on it (spotify.c) */
    int *attempts;    /* if not NULL, set to the attempts made (requests
                       * sent), whatever the outcome */
    int follow_ups;   /* requests to the same upstream the caller makes
                       * after this one within the same deadline: an
                       * attempt starts only with time for all of them
                       * (1 + follow_ups typical answers) */
};

struct http_response {
    long status;
    char *body; /* malloc'd, NUL-terminated (also binary-safe via len) */
    size_t len;
    int attempts;        /* attempts made, for tests and debugging */
    long retry_after_ms; /* the final answer's Retry-After; -1: none */
};

struct http_client;

/* Returns a new client or NULL (out of memory / curl failure). */
struct http_client *http_client_create(void);
void http_client_destroy(struct http_client *hc); /* NULL is a no-op */

/*
 * Performs req.  Returns 0 when the upstream answered: resp->status is the
 * final status (2xx, any 4xx, or a 5xx/429 left after retries) and
 * resp->body must be released with http_response_clear.  Otherwise returns
 * TEMPO_ETIMEOUT (the last attempt timed out or no time was left),
 * TEMPO_EUPSTREAM (connection failed, body over HTTP_MAX_BODY, circuit
 * open) or TEMPO_EINTERNAL, with resp untouched and a message in err.
 */
int http_client_request(struct http_client *hc, const struct http_request *req,
                        struct http_response *resp, char *err, size_t errlen);

void http_response_clear(struct http_response *resp); /* NULL: no-op */

/*
 * From now on, once *flag is non-zero, requests end at once (a transfer in
 * progress within about a second, libcurl's progress interval; a backoff
 * wait within 50 ms) with TEMPO_ETIMEOUT.  flag is borrowed.
 */
void http_client_set_abort(struct http_client *hc, const atomic_int *flag);

struct trace;

/* Requests from now on carry a child traceparent (a new span id each) and
 * the tracestate of t (borrowed until cleared with NULL). */
void http_client_set_trace(struct http_client *hc, const struct trace *t);

/*
 * Builds base + path + "?k1=v1&k2=v2..." with every key and value
 * percent-encoded by libcurl's URL API, so a value such as
 * "London&appid=x" stays one value.  params is a NULL-terminated list of
 * alternating keys and values (NULL for none).  base may end in "/" and
 * may carry a path prefix.  Returns a new string (free with free()) or
 * NULL with a message in err (malformed base URL).
 */
char *http_url_build(const char *base, const char *path,
                     const char *const *params, char *err, size_t errlen);

#endif
