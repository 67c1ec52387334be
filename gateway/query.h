/*
 * query.h - turns the query string of GET /weather into the kwargs of a
 * weather_service.get_playlist call (SPEC section 2).  Pure.
 */
#ifndef TEMPO_QUERY_H
#define TEMPO_QUERY_H

#include <jansson.h>
#include <stddef.h>

/* One decoded query argument, as libmicrohttpd hands it over: value may be
 * NULL ("?city") and may contain NUL bytes (value_len counts them). */
struct query_arg {
    const char *key;
    const char *value;
    size_t value_len;
};

/* More query arguments than this (known or not) are refused with 400: a
 * bound on work, documented in README.  Unknown ones are never stored. */
#define QUERY_MAX_ARGS 64

/*
 * The streaming form, for libmicrohttpd's argument iterator: feed every
 * argument to query_acc_add, then call query_acc_finish.  Only the four
 * known keys are kept (borrowed pointers: the arguments must outlive the
 * finish call); unknown ones are counted and dropped.  Zero-initialise it
 * (or query_acc_init) before use.
 */
struct query_acc {
    struct query_arg known[4]; /* city, country, lat, lon */
    unsigned char have[4];
    size_t nargs;
};

void query_acc_init(struct query_acc *acc);

/*
 * One argument: key of key_len bytes (libmicrohttpd's key_size, which
 * counts a decoded NUL), value of value_len bytes or NULL ("?city").
 * Returns 0, or TEMPO_EINVAL with a client-safe message in err: a NUL in
 * a key or a value, more than QUERY_MAX_ARGS arguments, a known key given
 * twice.  After an error, stop feeding and answer it.
 */
int query_acc_add(struct query_acc *acc, const char *key, size_t key_len,
                  const char *value, size_t value_len, char *err,
                  size_t errlen);

/* Validates what was fed and builds kwargs, as query_parse does. */
int query_acc_finish(const struct query_acc *acc, json_t **kwargs, char *err,
                     size_t errlen);

/*
 * Validates args and builds kwargs: {"city": "...", "country": "GB"} (country
 * only when given) or {"lat": 51.5, "lon": -0.12}.  Exactly one form;
 * repeated known keys are an error; unknown keys are ignored; the rules of
 * query_acc_add apply (keys are C strings here; NULL keys are skipped). Returns
 * 0 with *kwargs a new reference, or TEMPO_EINVAL with a client-safe message in
 * err (TEMPO_EINTERNAL only when out of memory).  *kwargs is written only on
 * success; err may be NULL.
 */
int query_parse(const struct query_arg *args, size_t n, json_t **kwargs,
                char *err, size_t errlen);

#endif
