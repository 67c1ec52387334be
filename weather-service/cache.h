/*
 * cache.h - the worker's weather cache (of weather.h's reports).
 *
 * Entries are keyed by a normalised query (cache_key).  A fresh entry (age
 * below the TTL) answers at once.  Concurrent lookups of the same missing
 * key coalesce: one caller runs the fetch, the others wait for its result.
 * When a fetch fails with an upstream error or timeout, an older answer
 * still within the stale limit is returned instead, marked CACHE_STALE.
 * Thread-safe; nothing here logs.
 */
#ifndef TEMPO_CACHE_H
#define TEMPO_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "weather.h"

#define CACHE_KEY_MAX 256

/*
 * Writes q's key into buf (CACHE_KEY_MAX bytes): "c:<city>|<CC>" with the
 * city trimmed, inner whitespace runs collapsed and ASCII lower-cased, or
 * "g:<lat>,<lon>" with both rounded to 2 decimals (about 1 km).  Returns
 * 0, or TEMPO_EINVAL if the city does not fit.
 */
int cache_key(const struct weather_query *q, char buf[CACHE_KEY_MAX]);

/* Produces a report for a cache miss; returns 0 or a negative tempo_err
 * with a message in err.  Runs without any cache lock held. */
typedef int (*cache_fetch_fn)(void *ctx, struct weather_report *out, char *err,
                              size_t errlen);

struct cache_opts {
    long ttl_s;         /* 0 disables the cache: every get fetches */
    long stale_s;       /* max age of an answer served when fetch fails */
    size_t max_entries; /* oldest entries are evicted beyond this */
    /* Clock for entry ages, for tests; NULL means CLOCK_MONOTONIC ms. */
    int64_t (*now_ms)(void *clock_ctx);
    void *clock_ctx;
};

enum cache_how {
    CACHE_FETCHED = 0, /* this call ran the fetch */
    CACHE_HIT,         /* a fresh entry, or a concurrent caller's fetch */
    CACHE_STALE,       /* fetch failed; an older answer served (err says
                        * why the fetch failed) */
};

struct cache;

/* Returns a new cache or NULL (out of memory).  o is copied. */
struct cache *cache_create(const struct cache_opts *o);
void cache_destroy(struct cache *c); /* NULL is a no-op; no callers left */

/*
 * Looks key up and, if needed, calls fetch(ctx, ...) (or waits for a
 * concurrent caller's fetch of the same key until deadline_ms, a
 * CLOCK_MONOTONIC time in ms).  Returns 0 with *out and *how filled, or
 * the fetch's error (TEMPO_ETIMEOUT if the wait ran out) with a message in
 * err.  City-not-found and other non-upstream errors never serve stale.
 */
int cache_get(struct cache *c, const char *key, cache_fetch_fn fetch, void *ctx,
              int64_t deadline_ms, struct weather_report *out,
              enum cache_how *how, char *err, size_t errlen);

/*
 * Non-blocking lookup: 0 with *out filled when key holds a fresh value (a
 * hit), -1 otherwise (absent, expired, or being fetched).  Never fetches
 * and never waits, so the worker's AMQP thread can answer hits itself.
 */
int cache_peek(struct cache *c, const char *key, struct weather_report *out);

/* Number of entries held (for tests and metrics). */
size_t cache_size(struct cache *c);

#endif
