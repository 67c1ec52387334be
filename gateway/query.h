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

/*
 * Validates args and builds kwargs: {"city": "...", "country": "GB"} (country
 * only when given) or {"lat": 51.5, "lon": -0.12}.  Exactly one form;
 * repeated known keys are an error; unknown keys are ignored.  Returns 0 with
 * *kwargs a new reference, or TEMPO_EINVAL with a client-safe message in err
 * (TEMPO_EINTERNAL only when out of memory).  *kwargs is written only on
 * success; err may be NULL.
 */
int query_parse(const struct query_arg *args, size_t n, json_t **kwargs,
                char *err, size_t errlen);

#endif
