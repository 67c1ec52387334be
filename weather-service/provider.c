/*
 * provider.c - see provider.h.
 */
#include "provider.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "breaker.h"
#include "config.h"
#include "errors.h"
#include "http_client.h"
#include "metrics.h"

int provider_init(struct weather_provider *p, const struct config *cfg,
                  int metrics_id, const char *name)
{
    p->cfg = cfg;
    p->metrics_id = metrics_id;
    p->name = name;
    p->breaker = breaker_create((int)cfg->breaker_failures,
                                cfg->breaker_open_ms, metrics_id);
    if (p->breaker == NULL)
        return -1;
    wmetrics_provider_enable(metrics_id);
    return 0;
}

void provider_fini(struct weather_provider *p)
{
    breaker_destroy(p->breaker);
    p->breaker = NULL;
}

int provider_get(const struct weather_provider *p, struct http_client *hc,
                 const char *base, const char *path, const char *const *params,
                 int64_t deadline_ms, int follow_ups,
                 struct http_response *resp, char *err, size_t errlen)
{
    static const char *const headers[] = {"Accept: application/json", NULL};
    struct http_request req = {0};
    char why[160];
    char *url;
    int rc;

    url = http_url_build(base, path, params, why, sizeof(why));
    if (url == NULL) {
        snprintf(err, errlen, "%s: %s", p->name, why);
        return TEMPO_EINTERNAL;
    }
    req.url = url;
    req.headers = headers;
    req.timeout_ms = p->cfg->upstream_timeout_ms;
    req.retries = (int)p->cfg->upstream_retries;
    req.deadline_ms = deadline_ms;
    req.breaker = p->breaker;
    req.metrics_provider = p->metrics_id;
    req.follow_ups = follow_ups;
    rc = http_client_request(hc, &req, resp, why, sizeof(why));
    free(url);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", p->name, why);
    return rc;
}

int provider_number(const json_t *v, double min, double max, double *out)
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
