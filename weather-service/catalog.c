/*
 * catalog.c - see catalog.h.  The TSV is copied once and cut in place:
 * tabs, semicolons and newlines become NULs, so every title and artist is
 * a string inside one allocation.  Each track is serialised once, as it
 * goes into a reply (nameko_dumps), so a sample is a few pointers.
 */
#include "catalog.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nameko.h"
#include "rng.h"

/* The generated catalog_data.c (see data/catalog.cmake). */
extern const unsigned char catalog__tsv[];
extern const size_t catalog__tsv_len;

struct track {
    const char *title;
    const char *artists[CATALOG_MAX_ARTISTS];
    size_t nartists;
    struct nameko_raw json; /* the track in a reply, malloc'd */
};

struct catalog {
    char *text;
    struct track *tracks[GENRE__COUNT];
    size_t count[GENRE__COUNT];
    size_t cap[GENRE__COUNT];
};

/* Strips spaces and tabs at both ends, in place. */
static char *trim(char *s)
{
    char *e;

    while (*s == ' ')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static int utf8_ok(const char *s)
{
    json_t *j = json_string(s); /* jansson validates UTF-8 */

    json_decref(j);
    return j != NULL;
}

static json_t *track_json(const struct track *t)
{
    json_t *artists = json_array();
    size_t i;

    for (i = 0; artists != NULL && i < t->nartists; i++)
        if (json_array_append_new(artists, json_string(t->artists[i])) != 0) {
            json_decref(artists);
            return NULL;
        }
    return json_pack("{s:s, s:o}", "name", t->title, "artists", artists);
}

/* The track as it goes into a reply, serialised once. */
static int encode_track(struct track *t)
{
    json_t *j = track_json(t);
    char *text = j != NULL ? nameko_dumps(j) : NULL;

    json_decref(j);
    t->json.json = text;
    t->json.len = text != NULL ? strlen(text) : 0;
    return text != NULL ? 0 : -1;
}

static int add_track(struct catalog *c, int g, struct track *t)
{
    if (c->count[g] == c->cap[g]) {
        size_t cap = c->cap[g] ? c->cap[g] * 2 : 64;
        struct track *p = realloc(c->tracks[g], cap * sizeof(*p));

        if (p == NULL)
            return -1;
        c->tracks[g] = p;
        c->cap[g] = cap;
    }
    if (encode_track(t) != 0)
        return -1;
    c->tracks[g][c->count[g]++] = *t;
    return 0;
}

/* Parses one line (NUL-terminated, no newline).  0 or -1 with err. */
static int parse_line(struct catalog *c, char *line, char *err, size_t errlen)
{
    char *f[3], *tab, *a, *next;
    struct track t;
    int g, i;

    memset(&t, 0, sizeof(t));
    f[0] = line;
    for (i = 1; i < 3; i++) {
        tab = strchr(f[i - 1], '\t');
        if (tab == NULL) {
            snprintf(err, errlen, "expected 3 tab-separated fields");
            return -1;
        }
        *tab = '\0';
        f[i] = tab + 1;
    }
    if (strchr(f[2], '\t') != NULL) {
        snprintf(err, errlen, "more than 3 fields");
        return -1;
    }
    g = genre_parse(f[0], strlen(f[0]));
    if (g < 0) {
        snprintf(err, errlen, "unknown genre");
        return -1;
    }
    t.title = trim(f[1]);
    if (t.title[0] == '\0' || !utf8_ok(t.title)) {
        snprintf(err, errlen, "empty or invalid title");
        return -1;
    }
    for (a = f[2]; a != NULL; a = next) {
        next = strchr(a, ';');
        if (next != NULL)
            *next++ = '\0';
        a = trim(a);
        if (a[0] == '\0' || !utf8_ok(a) || t.nartists == CATALOG_MAX_ARTISTS) {
            snprintf(err, errlen, "empty, invalid or too many artists");
            return -1;
        }
        t.artists[t.nartists++] = a;
    }
    if (add_track(c, g, &t) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

struct catalog *catalog_parse(const char *tsv, size_t len, char *err,
                              size_t errlen)
{
    struct catalog *c = calloc(1, sizeof(*c));
    char *line, *nl, why[96];
    size_t lineno = 0;

    if (c != NULL)
        c->text = malloc(len + 1);
    if (c == NULL || c->text == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    memcpy(c->text, tsv, len);
    c->text[len] = '\0';
    if (strlen(c->text) != len) {
        snprintf(err, errlen, "catalog contains a NUL byte");
        goto fail;
    }
    for (line = c->text; line != NULL; line = nl) {
        nl = strchr(line, '\n');
        if (nl != NULL)
            *nl++ = '\0';
        lineno++;
        line = trim(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (parse_line(c, line, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "catalog line %zu: %s", lineno, why);
            goto fail;
        }
    }
    return c;
fail:
    catalog_destroy(c);
    return NULL;
}

struct catalog *catalog_create(char *err, size_t errlen)
{
    return catalog_parse((const char *)catalog__tsv, catalog__tsv_len, err,
                         errlen);
}

void catalog_destroy(struct catalog *c)
{
    size_t i;
    int g;

    if (c == NULL)
        return;
    for (g = 0; g < GENRE__COUNT; g++) {
        for (i = 0; i < c->count[g]; i++)
            free((char *)c->tracks[g][i].json.json);
        free(c->tracks[g]);
    }
    free(c->text);
    free(c);
}

size_t catalog_count(const struct catalog *c, enum genre g)
{
    if ((int)g < 0 || g >= GENRE__COUNT)
        return 0;
    return c->count[g];
}

size_t catalog_pick(const struct catalog *c, enum genre g, size_t n,
                    struct nameko_raw *out)
{
    size_t count = catalog_count(c, g), k = n < count ? n : count, i;
    size_t *idx = malloc((count ? count : 1) * sizeof(*idx));

    if (idx == NULL)
        return 0;
    for (i = 0; i < count; i++)
        idx[i] = i;
    /* A partial Fisher-Yates shuffle: the first k slots are the sample. */
    for (i = 0; i < k; i++) {
        size_t j = i + (size_t)rng_below(count - i), tmp = idx[i];

        idx[i] = idx[j];
        idx[j] = tmp;
        out[i] = c->tracks[g][idx[i]].json;
    }
    free(idx);
    return k;
}
