/*
 * spotify.h - tracks by genre from the Spotify Web API (SPEC section 5).
 *
 * An app token from the client-credentials flow
 * (POST {SPOTIFY_ACCOUNTS_URL}/api/token, HTTP Basic id:secret) is shared
 * by all threads and reused until 60 s before it expires; when it must be
 * renewed, one thread does it and the others wait for its outcome.  A 401
 * from the search renews the token once and retries.  Tracks come from
 * GET {SPOTIFY_API_URL}/v1/search?q=genre:<g>&type=track&limit=<=10&offset=k,
 * paged for playlists over 10, starting at a random offset (0..200) so
 * repeated requests differ.
 */
#ifndef TEMPO_SPOTIFY_H
#define TEMPO_SPOTIFY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "genre.h"

#define SPOTIFY_PAGE_MAX 10    /* Spotify's cap on search "limit" */
#define SPOTIFY_OFFSET_MAX 200 /* first page starts at 0..this */
#define SPOTIFY_TOKEN_MAX 2048

struct config;
struct http_client;
struct spotify;

/* cfg is borrowed and must outlive the provider.  NULL: out of memory. */
struct spotify *spotify_create(const struct config *cfg);
void spotify_destroy(struct spotify *sp); /* NULL is a no-op */

/*
 * Finds up to n distinct tracks of genre g.  Returns 0 with *tracks a new
 * array of 1..n objects {name, artists: [..], uri, url?}, or
 * TEMPO_EUPSTREAM / TEMPO_ETIMEOUT with a client-safe message in err (no
 * token, no credentials).  If a later page fails, the tracks already found
 * are returned.
 */
int spotify_tracks(struct spotify *sp, struct http_client *hc, enum genre g,
                   size_t n, int64_t deadline_ms, json_t **tracks, char *err,
                   size_t errlen);

/*
 * Pure decoder of a token answer: access_token (1..SPOTIFY_TOKEN_MAX-1
 * characters of [A-Za-z0-9._~+/=-], so it is safe in a header) and
 * expires_in (seconds, clamped to 1..86400; 3600 when absent).  Returns 0
 * or TEMPO_EUPSTREAM.
 */
int spotify_decode_token(const char *body, size_t len,
                         char token[SPOTIFY_TOKEN_MAX], long *expires_in,
                         char *err, size_t errlen);

/*
 * Pure decoder of a search answer.  Appends to `tracks` (an array, owned
 * by the caller) each well-formed item of tracks.items (a string name, at
 * least one artist name, a "spotify:" uri not already in `tracks`) until
 * it holds `max`; odd items (null, wrong types) are skipped.  *page_items
 * gets the number of items in the page, skipped ones included.  Returns 0,
 * or TEMPO_EUPSTREAM when the body has no tracks.items array.
 */
int spotify_decode_tracks(const char *body, size_t len, json_t *tracks,
                          size_t max, size_t *page_items, char *err,
                          size_t errlen);

#endif
