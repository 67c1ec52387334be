/*
 * fuzz_owm.c - libFuzzer target for owm_decode (weather-service/owm.h), the
 * pure decoder of an OpenWeatherMap 200 body, and weather_report_set_name
 * which it uses for upstream names of any length.
 *
 * Input: the response body, as is.  Checked beyond memory safety:
 *  - success: temp_c finite within -100..100; name NUL-terminated, valid
 *    UTF-8 (long names cut at a character boundary); country "" or two
 *    upper-case letters; coordinates, when set, within range;
 *  - failure: TEMPO_EUPSTREAM, *out untouched, and a printable message
 *    that does not quote the body.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cache.h"
#include "errors.h"
#include "fuzz_util.h"
#include "owm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_report(const struct weather_report *r)
{
    FUZZ_CHECK(isfinite(r->temp_c) && r->temp_c >= -100.0 &&
               r->temp_c <= 100.0);
    FUZZ_CHECK(fuzz_terminated(r->name, sizeof(r->name)));
    FUZZ_CHECK(fuzz_utf8_valid(r->name, strlen(r->name)));
    FUZZ_CHECK(fuzz_terminated(r->country, sizeof(r->country)));
    FUZZ_CHECK(r->country[0] == '\0' ||
               (r->country[0] >= 'A' && r->country[0] <= 'Z' &&
                r->country[1] >= 'A' && r->country[1] <= 'Z' &&
                r->country[2] == '\0'));
    FUZZ_CHECK(r->has_coords == 0 || r->has_coords == 1);
    if (r->has_coords) {
        FUZZ_CHECK(isfinite(r->lat) && r->lat >= -90.0 && r->lat <= 90.0);
        FUZZ_CHECK(isfinite(r->lon) && r->lon >= -180.0 && r->lon <= 180.0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weather_report r, pristine;
    char err[160];
    int rc;

    memset(&r, 0x5a, sizeof(r));
    memcpy(&pristine, &r, sizeof(r));
    memset(err, 'X', sizeof(err));
    rc = owm_decode((const char *)data, size, &r, err, sizeof(err));
    if (rc == 0) {
        check_report(&r);
    } else {
        FUZZ_CHECK(rc == TEMPO_EUPSTREAM);
        FUZZ_CHECK(memcmp(&r, &pristine, sizeof(r)) == 0);
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
        FUZZ_CHECK(err[0] != '\0' && fuzz_printable(err));
    }

    /* The name setter on raw bytes: never more than the buffer, never a
     * split character when the input was valid UTF-8. */
    memset(&r, 0, sizeof(r));
    weather_report_set_name(&r, (const char *)data, size);
    FUZZ_CHECK(fuzz_terminated(r.name, sizeof(r.name)));
    if (fuzz_utf8_valid((const char *)data, size) &&
        memchr(data, '\0', size) == NULL) {
        size_t n = strlen(r.name);
        FUZZ_CHECK(fuzz_utf8_valid(r.name, n));
        FUZZ_CHECK(n == size || size > WEATHER_NAME_MAX - 1);
        FUZZ_CHECK(n + 4 > WEATHER_NAME_MAX - 1 || n == size);
    }
    return 0;
}
