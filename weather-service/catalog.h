/*
 * catalog.h - the built-in music catalog: real, well-known tracks per
 * genre, served when no Spotify credentials are configured or Spotify
 * fails.  The data is weather-service/data/catalog.tsv
 * (genre<TAB>title<TAB>artist[; artist...]), compiled in at build time.
 * A catalog is immutable after creation: any thread may sample it.
 */
#ifndef TEMPO_CATALOG_H
#define TEMPO_CATALOG_H

#include <stddef.h>

#include "genre.h"
#include "nameko.h"

#define CATALOG_MAX_ARTISTS 8

struct catalog;

/* Parses the compiled-in data.  NULL with a message in err on failure. */
struct catalog *catalog_create(char *err, size_t errlen);

/*
 * Parses len bytes of TSV (copied).  Blank and '#' lines are skipped; any
 * other line needs a known genre, a non-empty title and 1..8 non-empty
 * artists, all valid UTF-8.  NULL with "line N: why" in err otherwise.
 */
struct catalog *catalog_parse(const char *tsv, size_t len, char *err,
                              size_t errlen);

void catalog_destroy(struct catalog *c); /* NULL is a no-op */

/* Number of tracks of genre g. */
size_t catalog_count(const struct catalog *c, enum genre g);

/*
 * Writes min(n, count) distinct tracks of genre g, in random order
 * (common/rng, so repeated calls differ), to out: each the serialised
 * reply JSON {"name": .., "artists": [..]} (no uri/url), valid as long as
 * the catalog.  Returns how many; 0 also when out of memory.
 */
size_t catalog_pick(const struct catalog *c, enum genre g, size_t n,
                    struct nameko_raw *out);

#endif
