/*
 * owm.h - OpenWeatherMap current weather (SPEC section 5):
 * GET {OPENWEATHER_URL}/data/2.5/weather?q=<city>[,<cc>]&appid=..&units=metric
 * or ?lat=..&lon=...  Thread-safe: the provider holds only frozen config
 * and a circuit breaker; each call brings its thread's http_client.
 */
#ifndef TEMPO_OWM_H
#define TEMPO_OWM_H

#include <stddef.h>
#include <stdint.h>

#include "weather.h"

struct config;
struct http_client;
struct owm;

/* cfg is borrowed and must outlive the provider.  NULL: out of memory. */
struct owm *owm_create(const struct config *cfg);
void owm_destroy(struct owm *o); /* NULL is a no-op */

/*
 * Fetches the current weather for q.  Returns 0 with *out filled, or
 * TEMPO_ENOCITY (404), TEMPO_EUPSTREAM (bad key, rate limit, 5xx, garbage,
 * connection failure), TEMPO_ETIMEOUT; err gets a client-safe message
 * (never the URL or the key).
 */
int owm_fetch(struct owm *o, struct http_client *hc,
              const struct weather_query *q, int64_t deadline_ms,
              struct weather_report *out, char *err, size_t errlen);

/*
 * Pure decoder of a 200 body: main.temp (required: a finite number within
 * -100..100 degrees), name, sys.country and coord (optional; ignored when
 * of the wrong type or out of range).  Returns 0 with *out filled, or
 * TEMPO_EUPSTREAM with a message in err.
 */
int owm_decode(const char *body, size_t len, struct weather_report *out,
               char *err, size_t errlen);

#endif
