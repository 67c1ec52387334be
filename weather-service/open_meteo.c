/*
 * open_meteo.c - see open_meteo.h.  Geocoding and forecast are two calls
 * under one deadline; the breaker is shared by both because they fail
 * together when Open-Meteo is down.
 */
#include "open_meteo.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "config.h"
#include "errors.h"
#include "http_client.h"
#include "metrics.h"
#include "validate.h"

#define OM_NAME "open-meteo"

struct open_meteo {
    const struct config *cfg;
    struct breaker *breaker;
};

struct open_meteo *open_meteo_create(const struct config *cfg)
{
    struct open_meteo *om = calloc(1, sizeof(*om));

    if (om == NULL)
        return NULL;
    om->cfg = cfg;
    om->breaker = breaker_create((int)cfg->breaker_failures,
                                 cfg->breaker_open_ms, WM_PROV_OPEN_METEO);
    if (om->breaker == NULL) {
        free(om);
        return NULL;
    }
    wmetrics_provider_enable(WM_PROV_OPEN_METEO);
    return om;
}

void open_meteo_destroy(struct open_meteo *om)
{
    if (om == NULL)
        return;
    breaker_destroy(om->breaker);
    free(om);
}

static int get_number(const json_t *v, double min, double max, double *out)
{
    double d;

    if (!json_is_number(v))
        return -1;
    d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max)
        return -1;
    *out = d;
    return 0;
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
        get_number(json_object_get(first, "latitude"), -90, 90, &r.lat) ||
        get_number(json_object_get(first, "longitude"), -180, 180, &r.lon)) {
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
    if (get_number(v, -100.0, 100.0, &t) != 0) {
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
    static const char *const headers[] = {"Accept: application/json", NULL};
    struct http_request req = {0};
    char why[160];
    char *url;
    int rc;

    url = http_url_build(base, path, params, why, sizeof(why));
    if (url == NULL) {
        snprintf(err, errlen, OM_NAME ": %s", why);
        return TEMPO_EINTERNAL;
    }
    req.url = url;
    req.headers = headers;
    req.timeout_ms = om->cfg->upstream_timeout_ms;
    req.retries = (int)om->cfg->upstream_retries;
    req.deadline_ms = deadline_ms;
    req.breaker = om->breaker;
    req.metrics_provider = WM_PROV_OPEN_METEO;
    req.follow_ups = follow_ups;
    rc = http_client_request(hc, &req, resp, why, sizeof(why));
    free(url);
    if (rc != 0) {
        snprintf(err, errlen, OM_NAME ": %s", why);
        return rc;
    }
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
        rc = get(om, hc, om->cfg->open_meteo_geocoding_url, "/v1/search",
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
    rc = get(om, hc, om->cfg->open_meteo_url, "/v1/forecast", params,
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
