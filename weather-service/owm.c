/*
 * owm.c - see owm.h.  The decoder trusts nothing but main.temp being a
 * plausible temperature: everything else is decoration for the reply's
 * "location" and is dropped rather than failing the call when odd.
 */
#include "owm.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "http_client.h"
#include "metrics.h"
#include "provider.h"

#define OWM_NAME "openweathermap"

struct owm {
    struct weather_provider p;
};

struct owm *owm_create(const struct config *cfg)
{
    struct owm *o = calloc(1, sizeof(*o));

    if (o != NULL && provider_init(&o->p, cfg, WM_PROV_OWM, OWM_NAME) != 0) {
        free(o);
        o = NULL;
    }
    return o;
}

void owm_destroy(struct owm *o)
{
    if (o == NULL)
        return;
    provider_fini(&o->p);
    free(o);
}

static void get_country(const json_t *v, char out[3])
{
    const char *s = json_string_value(v);

    out[0] = '\0';
    if (s == NULL || json_string_length(v) != 2)
        return;
    if (((s[0] | 32) < 'a' || (s[0] | 32) > 'z') ||
        ((s[1] | 32) < 'a' || (s[1] | 32) > 'z'))
        return;
    out[0] = (char)(s[0] & ~32);
    out[1] = (char)(s[1] & ~32);
    out[2] = '\0';
}

int owm_decode(const char *body, size_t len, struct weather_report *out,
               char *err, size_t errlen)
{
    json_t *root = NULL, *v;
    json_error_t jerr;
    struct weather_report r;
    double lat, lon;
    int rc = TEMPO_EUPSTREAM;

    memset(&r, 0, sizeof(r));
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, OWM_NAME " answered something not JSON");
        goto out;
    }
    v = json_object_get(json_object_get(root, "main"), "temp");
    if (v == NULL) {
        snprintf(err, errlen, OWM_NAME " answered without main.temp");
        goto out;
    }
    if (provider_number(v, -100.0, 100.0, &r.temp_c) != 0) {
        snprintf(err, errlen, OWM_NAME " answered an implausible main.temp");
        goto out;
    }
    v = json_object_get(root, "name");
    if (json_is_string(v))
        weather_report_set_name(&r, json_string_value(v),
                                json_string_length(v));
    get_country(json_object_get(json_object_get(root, "sys"), "country"),
                r.country);
    v = json_object_get(root, "coord");
    if (provider_number(json_object_get(v, "lat"), -90, 90, &lat) == 0 &&
        provider_number(json_object_get(v, "lon"), -180, 180, &lon) == 0) {
        r.has_coords = 1;
        r.lat = lat;
        r.lon = lon;
    }
    *out = r;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int owm_fetch(struct owm *o, struct http_client *hc,
              const struct weather_query *q, int64_t deadline_ms,
              struct weather_report *out, char *err, size_t errlen)
{
    const struct config *cfg = o->p.cfg;
    struct http_response resp = {0};
    char *place = NULL, lat[32], lon[32];
    const char *params[9];
    int rc;

    if (q->city != NULL) {
        size_t cl = strlen(q->city);

        /* OWM reads "q=<city>,<cc>"; the comma is part of the value. */
        place = malloc(cl + 4);
        if (place == NULL) {
            rc = TEMPO_EINTERNAL;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        memcpy(place, q->city, cl + 1);
        if (q->country != NULL && q->country[0] != '\0')
            snprintf(place + cl, 4, ",%.2s", q->country);
        params[0] = "q";
        params[1] = place;
        params[2] = "appid";
        params[3] = cfg->openweather_api_key;
        params[4] = "units";
        params[5] = "metric";
        params[6] = NULL;
    } else {
        snprintf(lat, sizeof(lat), "%.6f", q->lat);
        snprintf(lon, sizeof(lon), "%.6f", q->lon);
        params[0] = "lat";
        params[1] = lat;
        params[2] = "lon";
        params[3] = lon;
        params[4] = "appid";
        params[5] = cfg->openweather_api_key;
        params[6] = "units";
        params[7] = "metric";
        params[8] = NULL;
    }
    rc = provider_get(&o->p, hc, cfg->openweather_url, "/data/2.5/weather",
                      params, deadline_ms, 0, &resp, err, errlen);
    if (rc != 0)
        goto out;
    switch (resp.status) {
    case 200:
        rc = owm_decode(resp.body, resp.len, out, err, errlen);
        break;
    case 404:
        rc = TEMPO_ENOCITY;
        snprintf(err, errlen, "city not found");
        break;
    case 401:
        rc = TEMPO_EUPSTREAM;
        snprintf(err, errlen, OWM_NAME " rejected the API key");
        break;
    case 429:
        rc = TEMPO_EUPSTREAM;
        snprintf(err, errlen, OWM_NAME " rate limit exceeded");
        break;
    default:
        rc = TEMPO_EUPSTREAM;
        snprintf(err, errlen, OWM_NAME " answered HTTP %ld", resp.status);
        break;
    }
out:
    http_response_clear(&resp);
    free(place);
    return rc;
}
