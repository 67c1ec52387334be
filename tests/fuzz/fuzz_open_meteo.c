/*
 * fuzz_open_meteo.c - libFuzzer target for the pure decoders of
 * weather-service/open_meteo.h: open_meteo_decode_geocoding,
 * open_meteo_decode_forecast and open_meteo_decode_error.  Every input is
 * given to all three (a real geocoding, forecast or error body is a valid
 * but usually uninteresting input for the other two).
 *
 * Checked beyond memory safety:
 *  - geocoding: 0 with a non-empty valid UTF-8 name, coordinates in range
 *    and country "" or two upper-case letters; or TEMPO_ENOCITY /
 *    TEMPO_EUPSTREAM with *out untouched and a printable message;
 *  - forecast: 0 with a finite temperature within -100..100, or
 *    TEMPO_EUPSTREAM with *temp_c untouched and a printable message;
 *  - error: TEMPO_EINVAL or TEMPO_EUPSTREAM and a NUL-terminated message
 *    (it quotes the upstream's "reason", so it is not required to be
 *    printable; see the report of the fuzzing run).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cache.h"
#include "errors.h"
#include "fuzz_util.h"
#include "open_meteo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_geocoding(const char *body, size_t size)
{
    struct weather_report r, pristine;
    char err[160];
    int rc;

    memset(&r, 0x5a, sizeof(r));
    memcpy(&pristine, &r, sizeof(r));
    memset(err, 'X', sizeof(err));
    rc = open_meteo_decode_geocoding(body, size, &r, err, sizeof(err));
    if (rc != 0) {
        FUZZ_CHECK(rc == TEMPO_ENOCITY || rc == TEMPO_EUPSTREAM);
        FUZZ_CHECK(memcmp(&r, &pristine, sizeof(r)) == 0);
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
        FUZZ_CHECK(err[0] != '\0' && fuzz_printable(err));
        return;
    }
    FUZZ_CHECK(fuzz_terminated(r.name, sizeof(r.name)));
    FUZZ_CHECK(r.name[0] != '\0');
    FUZZ_CHECK(fuzz_utf8_valid(r.name, strlen(r.name)));
    FUZZ_CHECK(r.has_coords == 1);
    FUZZ_CHECK(isfinite(r.lat) && r.lat >= -90.0 && r.lat <= 90.0);
    FUZZ_CHECK(isfinite(r.lon) && r.lon >= -180.0 && r.lon <= 180.0);
    FUZZ_CHECK(fuzz_terminated(r.country, sizeof(r.country)));
    FUZZ_CHECK(r.country[0] == '\0' ||
               (r.country[0] >= 'A' && r.country[0] <= 'Z' &&
                r.country[1] >= 'A' && r.country[1] <= 'Z' &&
                r.country[2] == '\0'));
}

static void fuzz_forecast(const char *body, size_t size)
{
    double t = 12345.0;
    char err[160];
    int rc;

    memset(err, 'X', sizeof(err));
    rc = open_meteo_decode_forecast(body, size, &t, err, sizeof(err));
    if (rc != 0) {
        FUZZ_CHECK(rc == TEMPO_EUPSTREAM);
        FUZZ_CHECK(t == 12345.0);
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
        FUZZ_CHECK(err[0] != '\0' && fuzz_printable(err));
        return;
    }
    FUZZ_CHECK(isfinite(t) && t >= -100.0 && t <= 100.0);
}

static void fuzz_error(const char *body, size_t size)
{
    char err[200];
    int rc;

    memset(err, 'X', sizeof(err));
    rc = open_meteo_decode_error(body, size, err, sizeof(err));
    FUZZ_CHECK(rc == TEMPO_EINVAL || rc == TEMPO_EUPSTREAM);
    FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
    FUZZ_CHECK(err[0] != '\0');
    /* A tiny buffer must be respected too. */
    memset(err, 'X', sizeof(err));
    (void)open_meteo_decode_error(body, size, err, 8);
    FUZZ_CHECK(fuzz_terminated(err, 8) && err[8] == 'X');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;

    fuzz_geocoding(body, size);
    fuzz_forecast(body, size);
    fuzz_error(body, size);
    return 0;
}
