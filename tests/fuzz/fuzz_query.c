/*
 * fuzz_query.c - libFuzzer target for query_parse (gateway/query.h), and
 * through it validate_city, validate_country and validate_coord.
 *
 * Input format: a raw query string, "key=value&key=value...", split on '&'
 * and on the first '=' of each pair, with no percent-decoding (the bytes
 * are what libmicrohttpd would hand over after decoding, so NUL, control
 * bytes and invalid UTF-8 all reach the parser).  A pair without '=' has a
 * NULL value, like "?city".  Each value is copied into a buffer of exactly
 * value_len bytes with no NUL after it, so a parser that relies on a
 * terminator instead of value_len is caught by ASan.
 *
 * Checked beyond memory safety:
 *  - failure: TEMPO_EINVAL, *kwargs untouched, err NUL-terminated within
 *    errlen (errlen varies with the input, err is sometimes NULL) and
 *    printable ASCII;
 *  - success: kwargs is {"city": <the value bytes>, "country"?: "XX"} or
 *    {"lat": -90..90, "lon": -180..180}, and it survives the Nameko call
 *    round trip (nameko_call_encode, then nameko_call_decode) unchanged,
 *    which is the path a query takes from gateway to worker; the worker's
 *    cache_key (weather-service/cache.h) then always has room for it;
 *  - validate_request_id on the whole input agrees with a reference;
 *  - the streaming form (query_acc_*, with libmicrohttpd's key lengths)
 *    agrees with query_parse, refuses keys holding a NUL, and refuses
 *    more than QUERY_MAX_ARGS arguments (so does query_parse).
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "errors.h"
#include "fuzz_util.h"
#include "nameko.h"
#include "query.h"
#include "validate.h"

#define MAX_ARGS 80 /* above QUERY_MAX_ARGS */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ref_request_id(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (i >= 128)
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '-'))
            return 0;
    }
    return i > 0;
}

static const struct query_arg *find_arg(const struct query_arg *args, size_t n,
                                        const char *key)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(args[i].key, key) == 0)
            return &args[i];
    return NULL;
}

/* What a successful parse must have produced from args. */
static void check_kwargs(const struct query_arg *args, size_t n,
                         const json_t *kwargs)
{
    const struct query_arg *city = find_arg(args, n, "city");
    const struct query_arg *country = find_arg(args, n, "country");
    const json_t *v;

    FUZZ_CHECK(json_is_object(kwargs));
    if (city != NULL) {
        v = json_object_get(kwargs, "city");
        FUZZ_CHECK(json_is_string(v));
        FUZZ_CHECK(city->value != NULL);
        FUZZ_CHECK(json_string_length(v) == city->value_len);
        FUZZ_CHECK(city->value_len >= 1 &&
                   city->value_len <= VALIDATE_CITY_MAX);
        FUZZ_CHECK(memcmp(json_string_value(v), city->value, city->value_len) ==
                   0);
        FUZZ_CHECK(memchr(city->value, '\0', city->value_len) == NULL);
        FUZZ_CHECK(fuzz_utf8_valid(city->value, city->value_len));
        v = json_object_get(kwargs, "country");
        if (country == NULL) {
            FUZZ_CHECK(v == NULL);
            FUZZ_CHECK(json_object_size(kwargs) == 1);
        } else {
            const char *cc = json_string_value(v);
            FUZZ_CHECK(cc != NULL && strlen(cc) == 2);
            FUZZ_CHECK(cc[0] >= 'A' && cc[0] <= 'Z');
            FUZZ_CHECK(cc[1] >= 'A' && cc[1] <= 'Z');
            FUZZ_CHECK(country->value_len == 2);
            FUZZ_CHECK((country->value[0] & ~0x20) == cc[0]);
            FUZZ_CHECK((country->value[1] & ~0x20) == cc[1]);
            FUZZ_CHECK(json_object_size(kwargs) == 2);
        }
        FUZZ_CHECK(find_arg(args, n, "lat") == NULL);
        FUZZ_CHECK(find_arg(args, n, "lon") == NULL);
    } else {
        double lat, lon;

        FUZZ_CHECK(json_object_size(kwargs) == 2);
        FUZZ_CHECK(json_is_real(json_object_get(kwargs, "lat")));
        FUZZ_CHECK(json_is_real(json_object_get(kwargs, "lon")));
        lat = json_real_value(json_object_get(kwargs, "lat"));
        lon = json_real_value(json_object_get(kwargs, "lon"));
        FUZZ_CHECK(isfinite(lat) && lat >= -90.0 && lat <= 90.0);
        FUZZ_CHECK(isfinite(lon) && lon >= -180.0 && lon <= 180.0);
        FUZZ_CHECK(country == NULL);
    }
}

/* The worker's cache key for valid kwargs: always fits, always tagged. */
static void check_cache_key(const json_t *kwargs)
{
    struct weather_query q = {NULL, NULL, 0.0, 0.0};
    char key[CACHE_KEY_MAX + 1];

    memset(key, 'X', sizeof(key));
    q.city = json_string_value(json_object_get(kwargs, "city"));
    q.country = json_string_value(json_object_get(kwargs, "country"));
    if (q.city == NULL) {
        q.lat = json_real_value(json_object_get(kwargs, "lat"));
        q.lon = json_real_value(json_object_get(kwargs, "lon"));
    }
    FUZZ_CHECK(cache_key(&q, key) == 0);
    FUZZ_CHECK(fuzz_terminated(key, CACHE_KEY_MAX) &&
               key[CACHE_KEY_MAX] == 'X');
    FUZZ_CHECK(strncmp(key, q.city != NULL ? "c:" : "g:", 2) == 0);
}

/* kwargs -> call body -> kwargs, as gateway and worker do it. */
static void check_round_trip(const json_t *kwargs)
{
    struct nameko_call call = {NULL, NULL};
    char err[128];
    char *body = nameko_call_encode(kwargs);

    FUZZ_CHECK(body != NULL);
    FUZZ_CHECK(fuzz_ascii(body, strlen(body)));
    FUZZ_CHECK(
        nameko_call_decode(body, strlen(body), &call, err, sizeof(err)) == 0);
    FUZZ_CHECK(json_is_array(call.args) && json_array_size(call.args) == 0);
    FUZZ_CHECK(json_equal(call.kwargs, (json_t *)kwargs));
    check_cache_key(call.kwargs);
    json_decref(call.args);
    json_decref(call.kwargs);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct query_arg args[MAX_ARGS];
    json_t *const sentinel = (json_t *)(uintptr_t)0x1;
    json_t *kwargs = sentinel;
    size_t n = 0, pos = 0, errlen, i;
    char *err = NULL, *whole;
    int rc;

    size_t klens[MAX_ARGS];
    int nul_key = 0, rc2;

    /* Split "k=v&k=v..." into at most MAX_ARGS arguments. */
    while (pos <= size && n < MAX_ARGS) {
        const uint8_t *start = data + pos;
        const uint8_t *amp = memchr(start, '&', size - pos);
        size_t plen = amp != NULL ? (size_t)(amp - start) : size - pos;
        const uint8_t *eq = memchr(start, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - start) : plen;

        args[n].key = fuzz_dup_cstr(start, klen);
        klens[n] = klen;
        nul_key |= memchr(start, '\0', klen) != NULL;
        if (eq != NULL) {
            args[n].value_len = plen - klen - 1;
            args[n].value = fuzz_dup_exact(eq + 1, args[n].value_len);
        } else {
            args[n].value = NULL;
            args[n].value_len = 0;
        }
        n++;
        pos += plen + 1;
    }

    /* Vary the error buffer: sometimes NULL, often small. */
    errlen = size % 7 == 3 ? 0 : 1 + size % 150;
    if (errlen != 0) {
        err = malloc(errlen);
        FUZZ_CHECK(err != NULL);
        memset(err, 'X', errlen);
    }

    rc = query_parse(args, n, &kwargs, err, errlen);
    if (rc == 0) {
        FUZZ_CHECK(kwargs != sentinel && kwargs != NULL);
        check_kwargs(args, n, kwargs);
        check_round_trip(kwargs);
        json_decref(kwargs);
    } else {
        FUZZ_CHECK(rc == TEMPO_EINVAL);
        FUZZ_CHECK(kwargs == sentinel);
        if (err != NULL) {
            FUZZ_CHECK(fuzz_terminated(err, errlen));
            FUZZ_CHECK(fuzz_printable(err));
            FUZZ_CHECK(errlen == 1 || err[0] != '\0');
        }
    }

    /* The streaming form with libmicrohttpd's key lengths: the same
     * verdict as query_parse unless a key holds a NUL, which it refuses
     * (query_parse only sees the key up to the NUL). */
    {
        struct query_acc acc;
        json_t *kw2 = NULL;
        char err2[128];

        query_acc_init(&acc);
        rc2 = 0;
        for (i = 0; i < n && rc2 == 0; i++)
            rc2 = query_acc_add(&acc, args[i].key, klens[i], args[i].value,
                                args[i].value_len, err2, sizeof(err2));
        if (rc2 == 0)
            rc2 = query_acc_finish(&acc, &kw2, err2, sizeof(err2));
        if (nul_key)
            FUZZ_CHECK(rc2 == TEMPO_EINVAL);
        else
            FUZZ_CHECK(rc2 == rc);
        if (n > QUERY_MAX_ARGS)
            FUZZ_CHECK(rc2 == TEMPO_EINVAL && rc == TEMPO_EINVAL);
        if (rc2 == 0)
            json_decref(kw2);
        else
            FUZZ_CHECK(fuzz_printable(err2));
    }

    /* X-Request-Id check on the whole input, as a C string. */
    whole = fuzz_dup_cstr(data, size);
    FUZZ_CHECK(validate_request_id(whole) == ref_request_id(whole));
    free(whole);

    free(err);
    for (i = 0; i < n; i++) {
        free((void *)args[i].key);
        free((void *)args[i].value);
    }
    return 0;
}
