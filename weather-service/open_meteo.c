/*
 * open_meteo.c - see open_meteo.h.  Geocoding and forecast are two calls
 * under one deadline; the breaker is shared by both because they fail
 * together when Open-Meteo is down.
 */
#include "open_meteo.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "http_client.h"
#include "metrics.h"
#include "provider.h"
#include "validate.h"

#define OM_NAME "open-meteo"

struct open_meteo {
    struct weather_provider p;
};

struct open_meteo *open_meteo_create(const struct config *cfg)
{
    struct open_meteo *om = calloc(1, sizeof(*om));

    if (om != NULL &&
        provider_init(&om->p, cfg, WM_PROV_OPEN_METEO, OM_NAME) != 0) {
        free(om);
        om = NULL;
    }
    return om;
}

void open_meteo_destroy(struct open_meteo *om)
{
    if (om == NULL)
        return;
    provider_fini(&om->p);
    free(om);
}

int open_meteo_decode_geocoding(const char *body, size_t len,
                                struct weather_report *out, char *err,
                                size_t errlen)
{
    json_t *root = NULL, *results, *first, *name, *cc;
    json_error_t jerr;
    struct weather_report r;
    int rc = TEMPO_EUPSTREAM;

    memset(&r, 0, sizeof(r));
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        snprintf(err, errlen,
                 OM_NAME " geocoding answered something not "
                         "a JSON object");
        goto out;
    }
    results = json_object_get(root, "results");
    if (results == NULL || json_is_null(results) ||
        (json_is_array(results) && json_array_size(results) == 0)) {
        rc = TEMPO_ENOCITY;
        snprintf(err, errlen, "city not found");
        goto out;
    }
    first = json_array_get(results, 0);
    name = json_object_get(first, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        provider_number(json_object_get(first, "latitude"), -90, 90, &r.lat) ||
        provider_number(json_object_get(first, "longitude"), -180, 180,
                        &r.lon)) {
        snprintf(err, errlen,
                 OM_NAME " geocoding answered a malformed "
                         "result");
        goto out;
    }
    r.has_coords = 1;
    weather_report_set_name(&r, json_string_value(name),
                            json_string_length(name));
    cc = json_object_get(first, "country_code");
    if (json_is_string(cc) && json_string_length(cc) == 2) {
        const char *s = json_string_value(cc);
        int i;

        for (i = 0; i < 2; i++) {
            char ch = (char)(s[i] & ~32);
            if (ch < 'A' || ch > 'Z')
                break;
            r.country[i] = ch;
        }
        if (i < 2)
            r.country[0] = '\0';
    }
    *out = r;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int open_meteo_decode_forecast(const char *body, size_t len, double *temp_c,
                               char *err, size_t errlen)
{
    json_t *root = NULL, *v;
    json_error_t jerr;
    double t;
    int rc = TEMPO_EUPSTREAM;

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, OM_NAME " answered something not JSON");
        goto out;
    }
    v = json_object_get(json_object_get(root, "current"), "temperature_2m");
    if (v == NULL || json_is_null(v)) {
        snprintf(err, errlen,
                 OM_NAME " answered without "
                         "current.temperature_2m");
        goto out;
    }
    if (provider_number(v, -100.0, 100.0, &t) != 0) {
        snprintf(err, errlen,
                 OM_NAME " answered an implausible "
                         "temperature");
        goto out;
    }
    *temp_c = t;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int open_meteo_decode_error(const char *body, size_t len, char *err,
                            size_t errlen)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *reason = json_string_value(json_object_get(root, "reason"));
    int rc = TEMPO_EUPSTREAM;

    if (reason == NULL) {
        snprintf(err, errlen, OM_NAME " rejected the request");
    } else {
        char safe[161];
        /* Open-Meteo words range errors "... must be in range of ...". */
        if (strstr(reason, "range") != NULL)
            rc = TEMPO_EINVAL;
        validate_copy_text(safe, sizeof(safe), reason);
        snprintf(err, errlen, OM_NAME " rejected the request: %s", safe);
    }
    json_decref(root);
    return rc;
}

/* One GET; maps non-200 statuses.  On 0, *resp holds a 200 answer. */
static int get(struct open_meteo *om, struct http_client *hc, const char *base,
               const char *path, const char *const *params, int64_t deadline_ms,
               int follow_ups, struct http_response *resp, char *err,
               size_t errlen)
{
    int rc = provider_get(&om->p, hc, base, path, params, deadline_ms,
                          follow_ups, resp, err, errlen);

    if (rc != 0)
        return rc;
    if (resp->status == 200)
        return 0;
    rc = TEMPO_EUPSTREAM;
    if (resp->status == 400)
        rc = open_meteo_decode_error(resp->body, resp->len, err, errlen);
    else if (resp->status == 429)
        snprintf(err, errlen, OM_NAME " rate limit exceeded");
    else
        snprintf(err, errlen, OM_NAME " answered HTTP %ld", resp->status);
    http_response_clear(resp);
    return rc;
}

int open_meteo_fetch(struct open_meteo *om, struct http_client *hc,
                     const struct weather_query *q, int64_t deadline_ms,
                     struct weather_report *out, char *err, size_t errlen)
{
    struct http_response resp = {0};
    struct weather_report r;
    char lat[32], lon[32];
    const char *params[9];
    int rc;

    memset(&r, 0, sizeof(r));
    if (q->city != NULL) {
        params[0] = "name";
        params[1] = q->city;
        params[2] = "count";
        params[3] = "1";
        params[4] = NULL;
        if (q->country != NULL && q->country[0] != '\0') {
            params[4] = "countryCode";
            params[5] = q->country;
            params[6] = NULL;
        }
        /* The forecast follows: start only with time for both. */
        rc = get(om, hc, om->p.cfg->open_meteo_geocoding_url, "/v1/search",
                 params, deadline_ms, 1, &resp, err, errlen);
        if (rc != 0)
            goto out;
        rc = open_meteo_decode_geocoding(resp.body, resp.len, &r, err, errlen);
        http_response_clear(&resp);
        if (rc != 0)
            goto out;
    } else {
        r.has_coords = 1;
        r.lat = q->lat;
        r.lon = q->lon;
    }
    snprintf(lat, sizeof(lat), "%.6f", r.lat);
    snprintf(lon, sizeof(lon), "%.6f", r.lon);
    params[0] = "latitude";
    params[1] = lat;
    params[2] = "longitude";
    params[3] = lon;
    params[4] = "current";
    params[5] = "temperature_2m";
    params[6] = NULL;
    rc = get(om, hc, om->p.cfg->open_meteo_url, "/v1/forecast", params,
             deadline_ms, 0, &resp, err, errlen);
    if (rc != 0)
        goto out;
    rc =
        open_meteo_decode_forecast(resp.body, resp.len, &r.temp_c, err, errlen);
    if (rc == 0)
        *out = r;
out:
    http_response_clear(&resp);
    return rc;
}
