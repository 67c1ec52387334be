/*
 * music_pool.h - the worker's pool of Spotify tracks per genre.
 *
 * Each genre's pool holds up to `target` distinct tracks (by uri) fetched
 * in one refresh; a request gets a fresh random selection of PLAYLIST_SIZE
 * of them without any upstream call.  One refresher thread per genre keeps
 * the pool fresh:
 *
 *   age < 3/4 TTL        fresh: served, nothing to do
 *   3/4 TTL .. TTL       fresh: served; refreshed in the background if the
 *                        genre was asked for since the last refresh
 *   TTL .. 2 TTL         stale: still served while refreshes fail
 *   2 TTL                expired: dropped (requests go to the catalog,
 *                        degraded, until a refresh succeeds)
 *
 * A failed refresh keeps the old pool and is retried with backoff (1 s,
 * doubling, at most TTL/4 and 60 s, and never before the upstream's
 * Retry-After).  A genre nobody asks for is not refreshed, so an idle
 * genre costs no upstream calls and its pool is dropped at 2 TTL.  The
 * first request of a genre with no pool wakes its refresher and waits for
 * that one refresh (concurrent requests wait for the same one); while a
 * failed first refresh backs off, requests get an error at once.
 *
 * The first half of this header is the pure core (no threads, no clock,
 * no I/O: unit-tested directly); the second half is the shell.
 */
#ifndef TEMPO_MUSIC_POOL_H
#define TEMPO_MUSIC_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "genre.h"
#include "nameko.h"

#define MUSIC_POOL_TRACKS 200 /* what a refresh aims for (20 pages) */

/* ---- pure core ----------------------------------------------------------- */

/* A track: strings are UTF-8, NUL-terminated; url may be NULL. */
struct mp_track {
    const char *name;
    const char *uri;
    const char *url;
    const char *const *artists;
    size_t nartists; /* >= 1 */
};

struct mp_builder; /* collects the tracks of one refresh */
struct mp_set;     /* an immutable set of distinct tracks, refcounted */

/* A builder that keeps at most max tracks.  NULL: out of memory. */
struct mp_builder *mp_builder_create(size_t max);
void mp_builder_destroy(struct mp_builder *b); /* NULL is a no-op */

/*
 * Copies t in unless its uri is already held or the builder is full.
 * Returns 1 added, 0 not added, TEMPO_EINTERNAL out of memory.
 */
int mp_builder_add(struct mp_builder *b, const struct mp_track *t);
size_t mp_builder_count(const struct mp_builder *b);

/* Turns the builder's tracks into a new set (one reference) and destroys
 * the builder; NULL when it held none or out of memory. */
struct mp_set *mp_builder_finish(struct mp_builder *b);

/* Reference counting, thread-safe: a set outlives the pool that dropped
 * it while a reader holds it.  unref(NULL) is a no-op. */
struct mp_set *mp_set_ref(struct mp_set *s);
void mp_set_unref(struct mp_set *s);
size_t mp_set_size(const struct mp_set *s);
const struct mp_track *mp_set_track(const struct mp_set *s, size_t i);

/*
 * Writes min(k, n) distinct indexes of 0..n-1 to out, in random order
 * (Floyd's sampling, then a shuffle: bounded time, uniform), using rnd.
 * Returns how many.
 */
size_t mp_select(size_t n, size_t k, uint64_t (*rnd)(void *), void *rctx,
                 size_t *out);

/* The most tracks one pick returns. */
#define MP_PICK_MAX CONFIG_PLAYLIST_MAX

/*
 * Writes min(k, size, MP_PICK_MAX) distinct random tracks of s (mp_select)
 * to out, each its reply JSON {"name", "artists": [..], "uri", "url"?} as
 * nameko_dumps serialised it when the track was added; the bytes belong
 * to s and stay valid while a reference to s is held.  Returns how many.
 */
size_t mp_set_pick(const struct mp_set *s, size_t k, uint64_t (*rnd)(void *),
                   void *rctx, struct nameko_raw *out);

enum mp_age { MP_FRESH, MP_STALE, MP_EXPIRED };

/* fresh below ttl, stale below 2 ttl, then expired. */
enum mp_age mp_age_of(int64_t age_ms, int64_t ttl_ms);

/* Delay before retry number `failures` (>= 1) of a failed refresh. */
int64_t mp_backoff_ms(unsigned failures, int64_t ttl_ms);

/*
 * Whether a refresh's tracks replace the pool: some tracks, and either
 * every page answered or at least half of what was wanted came.
 */
int mp_accept(size_t got, size_t wanted, size_t pages_failed);

/* What a genre's refresher knows (all times on one ms clock). */
struct mp_state {
    int has_set;
    int64_t fetched_ms;   /* when the set was fetched */
    int64_t last_used_ms; /* last request that sampled it (0: never) */
    int demand;           /* a request found no set since the last try */
    unsigned failures;    /* consecutive failed refreshes */
    int64_t next_try_ms;  /* no refresh before this (backoff, Retry-After) */
};

/* When a refresh of a held set is due: 3/4 TTL after it was fetched, or
 * the end of a backoff if later. */
int64_t mp_refresh_due(const struct mp_state *st, int64_t ttl_ms);

enum mp_action { MP_IDLE, MP_REFRESH, MP_DROP };

/*
 * The refresher's decision at `now`: refresh, drop an expired set, or
 * wait; with MP_IDLE, *wake_ms is when to decide again (INT64_MAX: only
 * when a request asks).
 */
enum mp_action mp_decide(const struct mp_state *st, int64_t now, int64_t ttl_ms,
                         int64_t *wake_ms);

/* ---- shell --------------------------------------------------------------- */

struct music_pool_fetch_result {
    size_t wanted;       /* tracks the fetch tried for (<= want) */
    size_t pages_failed; /* parts of it that failed */
    int64_t retry_at_ms; /* upstream asked not to call before (0: none) */
};

/*
 * Fetches up to `want` tracks of genre g into b by deadline_ms.  Runs on
 * g's refresher thread, never twice at once for one genre.  Returns 0 or
 * a negative tempo_err with a client-safe message in err; res is filled
 * either way.
 */
typedef int (*music_pool_fetch_fn)(void *ctx, enum genre g, size_t want,
                                   int64_t deadline_ms, struct mp_builder *b,
                                   struct music_pool_fetch_result *res,
                                   char *err, size_t errlen);

struct music_pool_opts {
    int64_t ttl_ms;          /* MUSIC_POOL_TTL_S * 1000 */
    size_t target;           /* tracks per genre, e.g. MUSIC_POOL_TRACKS */
    int64_t fetch_budget_ms; /* how long one refresh may take */
    music_pool_fetch_fn fetch;
    void *fetch_ctx; /* borrowed; must outlive the pool */
    /* Clock, for tests; NULL means clock_mono_ms() (common/clock.h). */
    int64_t (*now_ms)(void *clock_ctx);
    void *clock_ctx;
};

struct music_pool;

/* Starts one refresher thread per genre (idle until asked).  o is
 * copied.  NULL when out of memory or a thread cannot start. */
struct music_pool *music_pool_create(const struct music_pool_opts *o);

/* Stops the refreshers (waiting for a refresh in progress) and frees the
 * pool.  NULL is a no-op. */
void music_pool_destroy(struct music_pool *p);

#define MUSIC_POOL_WOULD_BLOCK 1
#define MUSIC_POOL_UNAVAILABLE 2

/*
 * A new reference to genre g's current set (the caller picks from it with
 * mp_set_pick and mp_set_unref's it when the reply is sent).  With no set
 * yet:
 *   - wait: asks the refresher and waits for its refresh until deadline_ms
 *     (clock_mono_ms time); concurrent callers share one refresh;
 *   - !wait: returns MUSIC_POOL_WOULD_BLOCK, having done nothing;
 *   - either way, while a failed refresh backs off: MUSIC_POOL_UNAVAILABLE
 *     at once, with the failure (already logged by the refresh) in err.
 * Errors: TEMPO_EUPSTREAM (the refresh failed: err says why),
 * TEMPO_ETIMEOUT (deadline), TEMPO_EINTERNAL (no such genre).
 * Thread-safe; never calls upstream itself.
 */
int music_pool_get(struct music_pool *p, enum genre g, int wait,
                   int64_t deadline_ms, struct mp_set **set, char *err,
                   size_t errlen);

/* Tracks held for g (0: no pool); for tests and logs. */
size_t music_pool_size(struct music_pool *p, enum genre g);

#endif
