/*
 * spotify.h - tracks by genre from the Spotify Web API (SPEC section 5),
 * fetched in bulk for the worker's track pool (music_pool.h).
 *
 * An app token from the client-credentials flow
 * (POST {SPOTIFY_ACCOUNTS_URL}/api/token, HTTP Basic id:secret) is shared
 * by all threads and reused until 60 s before it expires; when it must be
 * renewed, one thread does it and the others wait for its outcome.  A 401
 * from the search renews the token once and retries.  Tracks come from
 * GET {SPOTIFY_API_URL}/v1/search?q=genre:<g>&type=track&limit=10&offset=k.
 *
 * Rate limits: a 429 closes a gate shared by every thread of the process
 * until its Retry-After has passed; while it is closed no Spotify request
 * is sent at all, and when it reopens one request probes before the others
 * may follow, so a 429 storm costs at most one request per Retry-After
 * window.  The circuit breaker (5 failures, 5 s) applies as well.
 */
#ifndef TEMPO_SPOTIFY_H
#define TEMPO_SPOTIFY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "genre.h"
#include "spotify_page.h"

#define SPOTIFY_FETCHERS 10 /* pages of one fetch in flight at once */
#define SPOTIFY_TOKEN_MAX 2048

struct config;
struct http_client;
struct spotify;

/* cfg is borrowed and must outlive the provider.  NULL: out of memory. */
struct spotify *spotify_create(const struct config *cfg);
void spotify_destroy(struct spotify *sp); /* NULL is a no-op */

/*
 * Pure decoder of a token answer: access_token (1..SPOTIFY_TOKEN_MAX-1
 * characters of [A-Za-z0-9._~+/=-], so it is safe in a header) and
 * expires_in (seconds, clamped to 1..86400; 3600 when absent).  Returns 0
 * or TEMPO_EUPSTREAM.
 */
int spotify_decode_token(const char *body, size_t len,
                         char token[SPOTIFY_TOKEN_MAX], long *expires_in,
                         char *err, size_t errlen);

/* What one spotify_fetch did. */
struct spotify_fetch_stats {
    size_t pages;        /* search pages asked for */
    size_t pages_failed; /* of which failed (error, gate, breaker) */
    size_t wanted;       /* tracks it tried for: min(want, reachable) */
    long total;          /* the genre's result count; -1 unknown */
};

/*
 * Fetches up to `want` tracks of genre g for a pool refresh: the first
 * time, one page at offset 0 to learn the genre's total (remembered for
 * later fetches), then pages at random valid offsets
 * (spotify_plan_pages), up to SPOTIFY_FETCHERS of them at once, each on
 * its own connection (http clients kept per genre).  Tracks go to fn, one
 * call at a time, duplicates included.  Returns 0 when at least one page
 * was decoded (st says how complete it is), else TEMPO_EUPSTREAM /
 * TEMPO_ETIMEOUT with a client-safe message in err.  Every request ends by
 * deadline_ms.  Calls for one genre must not overlap (the pool runs one
 * refresher per genre); different genres may run at once.
 */
int spotify_fetch(struct spotify *sp, enum genre g, size_t want,
                  int64_t deadline_ms, spotify_track_fn fn, void *ctx,
                  struct spotify_fetch_stats *st, char *err, size_t errlen);

/* From now on, once *flag is non-zero, fetches end at once (the worker is
 * stopping; see http_client_set_abort).  flag is borrowed. */
void spotify_set_abort(struct spotify *sp, const atomic_int *flag);

/* While a 429's Retry-After runs: when it ends (CLOCK_MONOTONIC ms), else
 * 0.  Thread-safe. */
int64_t spotify_retry_at(struct spotify *sp);

#endif
