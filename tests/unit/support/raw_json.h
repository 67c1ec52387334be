/*
 * raw_json.h - reading back serialised JSON fragments (struct nameko_raw,
 * as catalog_pick and mp_set_pick return them) in unit tests.
 */
#ifndef TEMPO_TESTS_RAW_JSON_H
#define TEMPO_TESTS_RAW_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "nameko.h"

/*
 * The array of items[0..n-1], each parsed with duplicate keys rejected.
 * Fails the running cmocka test unless every item is one JSON value whose
 * bytes are exactly what nameko_dumps writes for it (Python's json.dumps
 * format, as a Nameko peer would send it).  A new reference.
 */
json_t *raw_json_array(const struct nameko_raw *items, size_t n);

#endif
