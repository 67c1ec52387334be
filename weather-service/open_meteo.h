/*
 * open_meteo.h - Open-Meteo, the keyless weather provider (SPEC section 5).
 * A city is first geocoded, on OPEN_METEO_GEOCODING_URL, with
 *   GET /v1/search?name=<city>&count=1[&countryCode=CC]
 * then its temperature read, on OPEN_METEO_URL, from
 *   GET /v1/forecast?latitude=..&longitude=..&current=temperature_2m
 * A coordinate query goes straight to the forecast.  Thread-safe like owm.
 */
#ifndef TEMPO_OPEN_METEO_H
#define TEMPO_OPEN_METEO_H

#include <stddef.h>
#include <stdint.h>

#include "weather.h"

struct config;
struct http_client;
struct open_meteo;

/* cfg is borrowed and must outlive the provider.  NULL: out of memory. */
struct open_meteo *open_meteo_create(const struct config *cfg);
void open_meteo_destroy(struct open_meteo *om); /* NULL is a no-op */

/*
 * Fetches the current weather for q.  Returns 0 with *out filled (for a
 * coordinate query: no name or country, the asked coordinates), or
 * TEMPO_ENOCITY, TEMPO_EINVAL (Open-Meteo says a value is out of range),
 * TEMPO_EUPSTREAM, TEMPO_ETIMEOUT with a client-safe message in err.
 */
int open_meteo_fetch(struct open_meteo *om, struct http_client *hc,
                     const struct weather_query *q, int64_t deadline_ms,
                     struct weather_report *out, char *err, size_t errlen);

/*
 * Pure decoder of a geocoding answer.  results[0] needs a string name and
 * latitude/longitude within range; country_code is optional.  No
 * "results" key or an empty array is TEMPO_ENOCITY; anything malformed is
 * TEMPO_EUPSTREAM.  Fills name, country and coordinates of *out.
 */
int open_meteo_decode_geocoding(const char *body, size_t len,
                                struct weather_report *out, char *err,
                                size_t errlen);

/*
 * Pure decoder of a forecast answer: current.temperature_2m must be a
 * finite number within -100..100.  Returns 0 or TEMPO_EUPSTREAM.
 */
int open_meteo_decode_forecast(const char *body, size_t len, double *temp_c,
                               char *err, size_t errlen);

/*
 * Pure decoder of an Open-Meteo error body {"error": true, "reason": ".."}.
 * Returns TEMPO_EINVAL when the reason is about a value's range, else
 * TEMPO_EUPSTREAM; err gets the reason (shortened) when there is one.
 */
int open_meteo_decode_error(const char *body, size_t len, char *err,
                            size_t errlen);

#endif
