/*
 * spotify_page.c - see spotify_page.h.
 *
 * DESIGN
 *
 * A search page is read twice with json_pull.h: the first pass validates
 * the whole document (so a truncated or malformed body delivers no track
 * at all, as a jansson parse would), the second walks only
 * tracks.items[].{name, uri, artists[].name, external_urls.spotify} and
 * tracks.total and skips everything else (album, available_markets,
 * images, ...), which is most of the ~35 KB.  Both passes together cost a
 * fraction of building and freeing a jansson tree of the page.
 *
 * The scratch strings of one item live in one heap block per page, so a
 * page costs one allocation whatever its size.  A key seen twice in an
 * object is read twice; the last value wins, as in jansson.
 */
#include "spotify_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json_pull.h"

#define KEY_MAX 32 /* longer keys are none of ours */

struct item {
    char name[SPOTIFY_TEXT_MAX];
    char uri[SPOTIFY_TEXT_MAX];
    char url[SPOTIFY_TEXT_MAX];
    char artists[SPOTIFY_ARTISTS_MAX][SPOTIFY_TEXT_MAX];
};

/* external_urls: {"spotify": "..."}.  *has says whether url was set. */
static int read_urls(struct jpull *s, struct item *it, int *has)
{
    char key[KEY_MAX];
    size_t len;
    int r;

    if (jpull_peek(s) != JPULL_OBJECT)
        return jpull_skip(s);
    if (jpull_object(s) < 0)
        return -1;
    while ((r = jpull_member(s, key, sizeof(key), NULL)) > 0) {
        if (strcmp(key, "spotify") != 0) {
            if (jpull_skip(s) < 0)
                return -1;
            continue;
        }
        r = jpull_string(s, it->url, sizeof(it->url), &len);
        if (r < 0)
            return -1;
        *has = r == 0;
    }
    return r;
}

/* artists: [{"name": "..."}, ...]; *n gets the usable names. */
static int read_artists(struct jpull *s, struct item *it, size_t *n)
{
    char key[KEY_MAX];
    int r, named;

    *n = 0;
    if (jpull_peek(s) != JPULL_ARRAY)
        return jpull_skip(s);
    if (jpull_array(s) < 0)
        return -1;
    while ((r = jpull_element(s)) > 0) {
        if (*n >= SPOTIFY_ARTISTS_MAX || jpull_peek(s) != JPULL_OBJECT) {
            if (jpull_skip(s) < 0)
                return -1;
            continue;
        }
        if (jpull_object(s) < 0)
            return -1;
        named = 0;
        while ((r = jpull_member(s, key, sizeof(key), NULL)) > 0) {
            size_t len = 0;

            if (strcmp(key, "name") != 0) {
                if (jpull_skip(s) < 0)
                    return -1;
                continue;
            }
            r = jpull_string(s, it->artists[*n], SPOTIFY_TEXT_MAX, &len);
            if (r < 0)
                return -1;
            named = r == 0 && len > 0;
        }
        if (r < 0)
            return -1;
        if (named)
            (*n)++;
    }
    return r;
}

/* One entry of tracks.items: fills t when it is a usable track. */
static int read_item(struct jpull *s, struct item *it, struct spotify_track *t,
                     int *usable)
{
    char key[KEY_MAX];
    size_t len, i, nart = 0;
    int r, has_name = 0, has_uri = 0, has_url = 0;

    *usable = 0;
    if (jpull_peek(s) != JPULL_OBJECT)
        return jpull_skip(s);
    if (jpull_object(s) < 0)
        return -1;
    while ((r = jpull_member(s, key, sizeof(key), NULL)) > 0) {
        if (strcmp(key, "name") == 0) {
            r = jpull_string(s, it->name, sizeof(it->name), &len);
            has_name = r == 0 && len > 0;
        } else if (strcmp(key, "uri") == 0) {
            r = jpull_string(s, it->uri, sizeof(it->uri), &len);
            has_uri = r == 0 && strncmp(it->uri, "spotify:", 8) == 0;
        } else if (strcmp(key, "artists") == 0) {
            r = read_artists(s, it, &nart);
        } else if (strcmp(key, "external_urls") == 0) {
            has_url = 0;
            r = read_urls(s, it, &has_url);
        } else {
            r = jpull_skip(s);
        }
        if (r < 0)
            return -1;
    }
    if (r < 0)
        return -1;
    if (!has_name || !has_uri || nart == 0)
        return 0;
    t->name = it->name;
    t->uri = it->uri;
    t->url = has_url ? it->url : NULL;
    for (i = 0; i < nart; i++)
        t->artists[i] = it->artists[i];
    t->nartists = nart;
    *usable = 1;
    return 0;
}

/* tracks: {"items": [...], "total": N, ...}. */
static int read_tracks(struct jpull *s, struct item *it, spotify_track_fn fn,
                       void *ctx, struct spotify_page *page, int *has_items,
                       int *fn_rc)
{
    char key[KEY_MAX];
    int r;

    if (jpull_peek(s) != JPULL_OBJECT)
        return jpull_skip(s);
    if (jpull_object(s) < 0)
        return -1;
    while ((r = jpull_member(s, key, sizeof(key), NULL)) > 0) {
        if (strcmp(key, "total") == 0) {
            long v = -1;

            r = jpull_count(s, &v);
            page->total = r == 0 ? v : -1;
        } else if (strcmp(key, "items") == 0 && jpull_peek(s) == JPULL_ARRAY) {
            *has_items = 1;
            page->items = 0;
            r = jpull_array(s);
            while (r >= 0 && (r = jpull_element(s)) > 0) {
                struct spotify_track t;
                int usable;

                page->items++;
                r = read_item(s, it, &t, &usable);
                if (r == 0 && usable && *fn_rc == 0)
                    *fn_rc = fn(ctx, &t);
            }
        } else {
            r = jpull_skip(s);
        }
        if (r < 0)
            return -1;
    }
    return r;
}

int spotify_decode_page(const char *body, size_t len, spotify_track_fn fn,
                        void *ctx, struct spotify_page *page, char *err,
                        size_t errlen)
{
    struct jpull s;
    struct item *it = NULL;
    struct spotify_page pg = {0, -1};
    char key[KEY_MAX];
    int r, has_items = 0, fn_rc = 0, rc = TEMPO_EUPSTREAM;

    /* Pass 1: the whole document must be valid JSON. */
    jpull_init(&s, body, len);
    if (jpull_peek(&s) != JPULL_OBJECT || jpull_skip(&s) < 0 ||
        jpull_end(&s) < 0) {
        snprintf(err, errlen, "spotify search answered malformed JSON");
        return TEMPO_EUPSTREAM;
    }
    it = malloc(sizeof(*it));
    if (it == NULL) {
        snprintf(err, errlen, "out of memory");
        return TEMPO_EINTERNAL;
    }
    /* Pass 2: the fields we use. */
    jpull_init(&s, body, len);
    r = jpull_object(&s);
    while (r >= 0 && (r = jpull_member(&s, key, sizeof(key), NULL)) > 0) {
        if (strcmp(key, "tracks") == 0)
            r = read_tracks(&s, it, fn, ctx, &pg, &has_items, &fn_rc);
        else
            r = jpull_skip(&s);
    }
    if (fn_rc != 0) {
        rc = fn_rc;
        snprintf(err, errlen, "out of memory");
    } else if (r < 0 || jpull_end(&s) < 0) {
        snprintf(err, errlen, "spotify search answered malformed JSON");
    } else if (!has_items) {
        snprintf(err, errlen, "spotify search answered without tracks.items");
    } else {
        *page = pg;
        rc = 0;
    }
    free(it);
    return rc;
}

size_t spotify_plan_pages(long total, size_t pages, int skip_first,
                          uint64_t (*rnd)(void *), void *rctx,
                          size_t offsets[SPOTIFY_SLOTS])
{
    size_t slots, first = skip_first ? 1 : 0, avail, n = 0, i, j;
    size_t pick[SPOTIFY_SLOTS];

    if (total < 0) {
        if (!skip_first && pages > 0)
            offsets[n++] = 0;
        return n;
    }
    if (total > SPOTIFY_OFFSET_LIMIT)
        total = SPOTIFY_OFFSET_LIMIT;
    slots = ((size_t)total + SPOTIFY_PAGE_MAX - 1) / SPOTIFY_PAGE_MAX;
    if (slots <= first)
        return 0;
    avail = slots - first;
    for (i = 0; i < avail; i++)
        pick[i] = first + i;
    if (pages > avail)
        pages = avail;
    /* A partial Fisher-Yates shuffle: the first `pages` are the sample. */
    for (i = 0; i < pages; i++) {
        size_t tmp;

        j = i + (size_t)(rnd(rctx) % (avail - i));
        tmp = pick[i];
        pick[i] = pick[j];
        pick[j] = tmp;
        offsets[n++] = pick[i] * SPOTIFY_PAGE_MAX;
    }
    return n;
}
