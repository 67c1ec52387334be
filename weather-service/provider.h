/*
 * provider.h - what the weather providers (owm, open_meteo) share: the
 * frozen config, one circuit breaker per provider, and a GET under the
 * upstream settings (UPSTREAM_TIMEOUT_MS, UPSTREAM_RETRIES, the breaker,
 * the caller's deadline).  Each provider keeps only its own URLs, query
 * parameters, status mapping and decoder.  Thread-safe as the breaker is;
 * each call brings its thread's http_client.
 */
#ifndef TEMPO_PROVIDER_H
#define TEMPO_PROVIDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct breaker;
struct config;
struct http_client;
struct http_response;

struct weather_provider {
    const struct config *cfg; /* borrowed */
    struct breaker *breaker;
    int metrics_id;   /* WM_PROV_* (metrics.h) */
    const char *name; /* in messages and metrics: "openweathermap" */
};

/* Creates the breaker (BREAKER_FAILURES, BREAKER_OPEN_MS) and enables the
 * provider's metrics.  0, or -1 when out of memory. */
int provider_init(struct weather_provider *p, const struct config *cfg,
                  int metrics_id, const char *name);
void provider_fini(struct weather_provider *p);

/*
 * GET base + path ? params (NULL-terminated name/value pairs, escaped
 * here) with Accept: application/json.  follow_ups: requests the caller
 * still makes after this one within the same deadline (http_client.h).
 * Returns 0 with *resp holding the answer, whatever its status (the
 * caller maps it and clears *resp), or a negative tempo_err with
 * "<name>: why" in err (connection failure, timeout, circuit open; never
 * the URL, which may hold a key).
 */
int provider_get(const struct weather_provider *p, struct http_client *hc,
                 const char *base, const char *path, const char *const *params,
                 int64_t deadline_ms, int follow_ups,
                 struct http_response *resp, char *err, size_t errlen);

/* Reads a finite JSON number within [min, max]; 0 on success. */
int provider_number(const json_t *v, double min, double max, double *out);

#endif
