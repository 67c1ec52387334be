/*
 * spotify_page.h - pure helpers for Spotify's track search
 * (GET /v1/search?q=genre:<g>&type=track&limit=10&offset=k): decoding a
 * page and planning which pages to fetch.  No I/O, no state; safe from
 * any thread.  The HTTP side is spotify.h.
 */
#ifndef TEMPO_SPOTIFY_PAGE_H
#define TEMPO_SPOTIFY_PAGE_H

#include <stddef.h>
#include <stdint.h>

#define SPOTIFY_PAGE_MAX 10       /* Spotify's cap on search "limit" */
#define SPOTIFY_OFFSET_LIMIT 1000 /* Spotify's cap on search "offset" */
#define SPOTIFY_SLOTS (SPOTIFY_OFFSET_LIMIT / SPOTIFY_PAGE_MAX)
#define SPOTIFY_ARTISTS_MAX 16 /* artists kept per track */
#define SPOTIFY_TEXT_MAX 1024  /* bytes of a name, uri or url (UTF-8) */

/* One track of a search page.  Borrowed: valid during the callback. */
struct spotify_track {
    const char *name; /* non-empty */
    const char *uri;  /* "spotify:..." */
    const char *url;  /* external_urls.spotify, or NULL */
    const char *artists[SPOTIFY_ARTISTS_MAX]; /* non-empty names */
    size_t nartists;                          /* 1..SPOTIFY_ARTISTS_MAX */
};

/* Receives the tracks of a page in order; returns 0, or a negative
 * tempo_err to stop (out of memory). */
typedef int (*spotify_track_fn)(void *ctx, const struct spotify_track *t);

struct spotify_page {
    size_t items; /* entries in tracks.items, unusable ones included */
    long total;   /* tracks.total; -1 when absent or not a count */
};

/*
 * Pure decoder of a search answer (json_pull.h: only the fields used are
 * decoded; the rest is validated and skipped).  Calls fn for each
 * well-formed item of tracks.items: a non-empty string name, at least one
 * artist with a non-empty string name, a uri starting "spotify:", all
 * under SPOTIFY_TEXT_MAX bytes; other items (null, wrong types, too long)
 * are skipped.  Returns 0 with *page filled; TEMPO_EUPSTREAM when the body
 * is not valid JSON or has no tracks.items array; fn's error.
 */
int spotify_decode_page(const char *body, size_t len, spotify_track_fn fn,
                        void *ctx, struct spotify_page *page, char *err,
                        size_t errlen);

/*
 * Pure: the offsets of the search pages to fetch for a genre of `total`
 * results, at most `pages` of them, written to offsets[] (room for
 * SPOTIFY_SLOTS).  Offsets are multiples of SPOTIFY_PAGE_MAX below
 * min(total, SPOTIFY_OFFSET_LIMIT), distinct, drawn at random with rnd
 * when there are more than `pages`; slot 0 is left out if skip_first.
 * total < 0 (unknown) plans the one page at offset 0 (unless skip_first).
 * Returns how many offsets were written.
 */
size_t spotify_plan_pages(long total, size_t pages, int skip_first,
                          uint64_t (*rnd)(void *), void *rctx,
                          size_t offsets[SPOTIFY_SLOTS]);

#endif
