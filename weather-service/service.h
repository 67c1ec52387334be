/*
 * service.h - the weather_service RPC methods, independent of AMQP.
 *
 * The worker's AMQP loop hands each decoded call to service_call() on one of
 * its threads and publishes whatever comes back.  One `struct service` is
 * shared by all threads (providers, caches, Spotify token and track pool:
 * thread-safe inside); each thread owns one `struct service_worker` (its CURL
 * handle).
 */
#ifndef TEMPO_SERVICE_H
#define TEMPO_SERVICE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct service;
struct service_worker;

/*
 * Creates the service from a frozen config (borrowed; must outlive the
 * service).  Logs the chosen providers once, never secrets.  Returns NULL
 * with a message in err on failure.
 */
struct service *service_create(const struct config *cfg, char *err,
                               size_t errlen);
void service_destroy(struct service *svc); /* NULL is a no-op */

/* Per-thread state.  Create and use on the same thread. */
struct service_worker *service_worker_create(struct service *svc);
void service_worker_destroy(struct service_worker *w); /* NULL: no-op */

/* Why a call failed, ready for a Nameko error envelope. */
struct service_fault {
    const char *exc_type; /* static string, e.g. "CityNotFound" */
    const char *exc_path; /* static string, e.g. "tempo.CityNotFound" */
    json_t *exc_args;     /* new reference (array) or NULL */
    char value[512];      /* human-readable, client-safe, no secrets */
};

/*
 * Runs `method` (borrowed strings/values) with Nameko args and kwargs.
 * deadline_ms (CLOCK_MONOTONIC milliseconds, 0 = none) is when the caller
 * stops waiting: upstream work is cut short to finish before it, and a
 * call already past it fails with UpstreamTimeout without upstream calls.
 * Methods are looked up in a const table; an unknown one is a
 * MethodNotFound fault.  Returns 0 with *result a new reference (the SPEC
 * section 2 reply object), or a negative tempo_err with *fault filled (the
 * caller json_decref's fault->exc_args).  request_id (may be NULL) is only
 * for logging.
 */
int service_call(struct service_worker *w, const char *method,
                 const json_t *args, const json_t *kwargs,
                 const char *request_id, int64_t deadline_ms, json_t **result,
                 struct service_fault *fault);

/*
 * service_call without blocking: answers (0 or a negative tempo_err, as
 * service_call) only when no upstream call or wait is needed: invalid
 * calls, and playlists whose weather is a fresh cache hit and whose music
 * comes from the built-in catalog or the genre's Spotify track pool (or
 * from the catalog, degraded, while a failed first fetch of the pool backs
 * off).  Otherwise returns SERVICE_WOULD_BLOCK having done nothing but a
 * cache lookup, and the call goes to service_call on a pool thread.
 */
#define SERVICE_WOULD_BLOCK 1
int service_call_try(struct service_worker *w, const char *method,
                     const json_t *args, const json_t *kwargs,
                     const char *request_id, int64_t deadline_ms,
                     json_t **result, struct service_fault *fault);

#endif
