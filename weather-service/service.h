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

#include "config.h"
#include "nameko.h"

struct config;
struct mp_set;
struct service;
struct service_worker;

/*
 * Creates the service from a frozen config (borrowed; must outlive the
 * service).  Logs the chosen providers once, never secrets.  Returns NULL
 * with a message in err on failure.  The process must have called
 * curl_global_init (main.c does, once, before any thread starts).
 */
struct service *service_create(const struct config *cfg, char *err,
                               size_t errlen);
void service_destroy(struct service *svc); /* NULL is a no-op */

/* Per-thread state.  Create and use on the same thread. */
struct service_worker *service_worker_create(struct service *svc);
void service_worker_destroy(struct service_worker *w); /* NULL: no-op */

struct trace;

/* The trace context of the call this thread serves next (borrowed until
 * cleared with NULL): its upstream requests carry a child traceparent. */
void service_worker_set_trace(struct service_worker *w, const struct trace *t);

/* Why a call failed, ready for a Nameko error envelope. */
struct service_fault {
    const char *exc_type; /* static string, e.g. "CityNotFound" */
    const char *exc_path; /* static string, e.g. "tempo.CityNotFound" */
    json_t *exc_args;     /* new reference (array) or NULL */
    char value[512];      /* human-readable, client-safe, no secrets */
};

/*
 * A call in three steps, so that it is decoded and validated exactly once:
 *
 *   service_prepare   (the AMQP thread) looks the method up, binds Nameko
 *                     args and kwargs to its parameters and validates them,
 *                     yielding a plan (validated query, cache key,
 *                     deadline);
 *   service_plan_ready (the AMQP thread) says whether the plan can be
 *                     answered from memory alone: its weather is a fresh
 *                     cache hit (copied into the plan) and its music needs
 *                     no upstream call (the built-in catalog, the genre's
 *                     Spotify track pool, or the catalog, degraded, while
 *                     a failed first fetch of the pool backs off).  Then
 *                     service_run never blocks and the AMQP thread answers
 *                     the call itself;
 *   service_run       (a pool thread, or the AMQP thread when ready) does
 *                     the upstream work and builds the reply object.
 */
struct service_plan;

/*
 * A reply object whose playlist is already serialised: obj is the SPEC
 * section 2 object with a placeholder at "tracks", and tracks[] are the
 * playlist's entries in order (nameko_reply_encode_result_spliced puts
 * them there).  The entries point into the catalog or into `hold`, a
 * reference to the track pool's set, which service_result_clear drops.
 */
struct service_result {
    json_t *obj;
    struct nameko_raw tracks[CONFIG_PLAYLIST_MAX];
    size_t ntracks;
    struct mp_set *hold;
};

/* Releases what a result holds and zeroes it; a zeroed one is a no-op. */
void service_result_clear(struct service_result *r);

/* The whole reply object as a Nameko peer decodes it (tests, simple
 * callers): a new reference, or NULL. */
json_t *service_result_json(const struct service_result *r);

/*
 * Prepares `method` (borrowed strings/values) with Nameko args (array) and
 * kwargs (object; either may be NULL).  Positional args bind to the
 * method's parameters in order, as on a Python method
 * `get_playlist(city=None, lat=None, lon=None, country=None)`.
 * deadline_ms (CLOCK_MONOTONIC milliseconds, 0 = none) is when the caller
 * stops waiting; a call already past it fails with UpstreamTimeout.
 * Returns 0 with *plan new (service_plan_free), or a negative tempo_err
 * with *fault filled (unknown method: MethodNotFound; arguments that do
 * not bind: IncorrectSignature; invalid values: InvalidArgument).
 */
int service_prepare(struct service *svc, const char *method, const json_t *args,
                    const json_t *kwargs, int64_t deadline_ms,
                    struct service_plan **plan, struct service_fault *fault);

/* 1 when service_run(plan) needs no upstream call and cannot block. */
int service_plan_ready(struct service *svc, struct service_plan *plan);

/*
 * Runs a prepared plan on a thread that owns w.  Upstream work is cut
 * short to finish before the plan's deadline.  Returns 0 with *result
 * filled (service_result_clear it), or a negative tempo_err with *fault
 * filled (the caller json_decref's fault->exc_args) and *result zeroed.
 */
int service_run(struct service_worker *w, struct service_plan *plan,
                struct service_result *result, struct service_fault *fault);

void service_plan_free(struct service_plan *plan); /* NULL is a no-op */

/* service_prepare + service_run in one go, *result the reply object as
 * service_result_json gives it (tests, simple callers). */
int service_call(struct service_worker *w, const char *method,
                 const json_t *args, const json_t *kwargs, int64_t deadline_ms,
                 json_t **result, struct service_fault *fault);

/*
 * From now on every plan's upstream work ends at once (any thread): used
 * when the worker stops and the calls still running were already handed
 * back to the broker.
 */
void service_abort(struct service *svc);

#endif
