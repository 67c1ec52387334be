/*
 * query.c - GET /weather's query string to get_playlist kwargs (query.h).
 *
 * Design: one pass collects the four known keys (city, country, lat, lon),
 * refusing a key given twice, since "?city=a&city=b" has no single meaning
 * and different layers (proxies, caches, us) could pick different values.
 * Then the form is checked (exactly one of city / lat+lon; country only with
 * city), then each value through validate.c, and only then are kwargs
 * built.  A key without a value ("?city") is an empty value.  Unknown keys
 * are ignored so that cache-busters and tracking parameters do no harm;
 * they are counted (at most QUERY_MAX_ARGS arguments in all) but never
 * stored, so memory does not grow with them.
 */
#include "query.h"

#include "errors.h"
#include "validate.h"

#include <stdio.h>
#include <string.h>

enum { K_CITY, K_COUNTRY, K_LAT, K_LON, K_COUNT };

static const char *const known_keys[K_COUNT] = {"city", "country", "lat",
                                                "lon"};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

static int known_index(const char *key)
{
    int i;

    if (key == NULL)
        return -1;
    for (i = 0; i < K_COUNT; i++)
        if (strcmp(key, known_keys[i]) == 0)
            return i;
    return -1;
}

/* Checks which keys are present; the values are checked afterwards. */
static int check_form(const struct query_arg *const seen[K_COUNT], char *err,
                      size_t errlen)
{
    int city = seen[K_CITY] != NULL, country = seen[K_COUNTRY] != NULL;
    int lat = seen[K_LAT] != NULL, lon = seen[K_LON] != NULL;

    if (city && (lat || lon)) {
        set_err(err, errlen, "give either city or lat and lon, not both");
        return TEMPO_EINVAL;
    }
    if (country && !city) {
        set_err(err, errlen, "country is only allowed together with city");
        return TEMPO_EINVAL;
    }
    if (lat != lon) {
        set_err(err, errlen,
                lat ? "lat needs lon: give both lat and lon"
                    : "lon needs lat: give both lat and lon");
        return TEMPO_EINVAL;
    }
    if (!city && !lat) {
        set_err(err, errlen, "missing argument: give city, or lat and lon");
        return TEMPO_EINVAL;
    }
    return 0;
}

static int build_city(const struct query_arg *city,
                      const struct query_arg *country, json_t **kwargs,
                      char *err, size_t errlen)
{
    const char *cv = city->value != NULL ? city->value : "";
    size_t clen = city->value != NULL ? city->value_len : 0;
    char cc[3];
    json_t *o = NULL;
    int rc;

    rc = validate_city(cv, clen, err, errlen);
    if (rc < 0)
        return rc;
    if (country != NULL) {
        rc = validate_country(country->value != NULL ? country->value : "",
                              country->value != NULL ? country->value_len : 0,
                              cc, err, errlen);
        if (rc < 0)
            return rc;
    }
    o = json_object();
    if (o == NULL)
        goto oom;
    /* json_object_set_new steals the value even when it fails. */
    if (json_object_set_new(o, "city", json_stringn(cv, clen)) < 0)
        goto oom;
    if (country != NULL &&
        json_object_set_new(o, "country", json_string(cc)) < 0)
        goto oom;
    *kwargs = o;
    return 0;
oom:
    json_decref(o);
    set_err(err, errlen, "out of memory");
    return TEMPO_EINTERNAL;
}

static int build_coords(const struct query_arg *lat,
                        const struct query_arg *lon, json_t **kwargs, char *err,
                        size_t errlen)
{
    double la, lo;
    json_t *o;
    int rc;

    rc = validate_coord(lat->value, lat->value != NULL ? lat->value_len : 0,
                        -90.0, 90.0, "lat", &la, err, errlen);
    if (rc < 0)
        return rc;
    rc = validate_coord(lon->value, lon->value != NULL ? lon->value_len : 0,
                        -180.0, 180.0, "lon", &lo, err, errlen);
    if (rc < 0)
        return rc;
    o = json_object();
    if (o == NULL || json_object_set_new(o, "lat", json_real(la)) < 0 ||
        json_object_set_new(o, "lon", json_real(lo)) < 0) {
        json_decref(o);
        set_err(err, errlen, "out of memory");
        return TEMPO_EINTERNAL;
    }
    *kwargs = o;
    return 0;
}

void query_acc_init(struct query_acc *acc)
{
    memset(acc, 0, sizeof(*acc));
}

int query_acc_add(struct query_acc *acc, const char *key, size_t key_len,
                  const char *value, size_t value_len, char *err, size_t errlen)
{
    char msg[80];
    int k;

    if (++acc->nargs > QUERY_MAX_ARGS) {
        snprintf(msg, sizeof(msg), "too many query arguments (at most %d)",
                 QUERY_MAX_ARGS);
        set_err(err, errlen, msg);
        return TEMPO_EINVAL;
    }
    /* "city%00x=London" decodes to a key whose C string is "city":
     * refuse rather than read it as city. */
    if (key == NULL || memchr(key, '\0', key_len) != NULL ||
        (value != NULL && memchr(value, '\0', value_len) != NULL)) {
        set_err(err, errlen, "NUL byte in a query argument");
        return TEMPO_EINVAL;
    }
    k = known_index(key);
    if (k < 0 || strlen(key) != key_len)
        return 0; /* unknown: ignored, not stored */
    if (acc->have[k]) {
        snprintf(msg, sizeof(msg), "%s is given more than once", known_keys[k]);
        set_err(err, errlen, msg);
        return TEMPO_EINVAL;
    }
    acc->have[k] = 1;
    acc->known[k].key = known_keys[k];
    acc->known[k].value = value;
    acc->known[k].value_len = value != NULL ? value_len : 0;
    return 0;
}

int query_acc_finish(const struct query_acc *acc, json_t **kwargs, char *err,
                     size_t errlen)
{
    const struct query_arg *seen[K_COUNT];
    int k, rc;

    for (k = 0; k < K_COUNT; k++)
        seen[k] = acc->have[k] ? &acc->known[k] : NULL;
    rc = check_form(seen, err, errlen);
    if (rc < 0)
        return rc;
    if (seen[K_CITY] != NULL)
        return build_city(seen[K_CITY], seen[K_COUNTRY], kwargs, err, errlen);
    return build_coords(seen[K_LAT], seen[K_LON], kwargs, err, errlen);
}

int query_parse(const struct query_arg *args, size_t n, json_t **kwargs,
                char *err, size_t errlen)
{
    struct query_acc acc;
    size_t i;
    int rc;

    query_acc_init(&acc);
    for (i = 0; args != NULL && i < n; i++) {
        if (args[i].key == NULL)
            continue;
        rc = query_acc_add(&acc, args[i].key, strlen(args[i].key),
                           args[i].value, args[i].value_len, err, errlen);
        if (rc < 0)
            return rc;
    }
    return query_acc_finish(&acc, kwargs, err, errlen);
}
