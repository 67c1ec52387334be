/*
 * validate.c - the argument rules of SPEC section 2 (see validate.h).
 *
 * Design: every check walks the bytes it was given (explicit lengths, so a
 * NUL inside a value is seen rather than silently ending it) and reports the
 * first problem in one sentence that names the argument and the reason.  The
 * messages go back to HTTP clients and RPC peers, so they never quote the
 * input: a value full of control characters or invalid UTF-8 cannot reach a
 * log line or a JSON body through them.
 *
 * Coordinates use a deliberately small grammar, -?DIGITS(.DIGITS)?, checked
 * before strtod sees the text; strtod alone would accept " 1", "+1", "1e5",
 * "0x10", "inf" and "nan".  tempo never calls setlocale(), so strtod works
 * in the "C" locale and '.' is the decimal point.
 */
#include "validate.h"

#include "errors.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COORD_MAX_LEN 32
#define REQUEST_ID_MAX 128

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

size_t validate_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t c = s[0], min;
    size_t n, i;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0; /* continuation byte, 0xc0/0xc1 overlong lead, 0xf5.. */
    }
    if (len < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* White space as Python's str.isspace() sees it, minus the C0/C1 controls
 * that are rejected before this is asked. */
static int is_space(uint32_t cp)
{
    return cp == 0x20 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

int validate_city(const char *s, size_t len, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)s;
    int blank = 1;
    size_t i = 0;

    if (s == NULL || len == 0) {
        set_err(err, errlen, "city is empty");
        return TEMPO_EINVAL;
    }
    if (len > VALIDATE_CITY_MAX) {
        set_err(err, errlen, "city is longer than %d bytes", VALIDATE_CITY_MAX);
        return TEMPO_EINVAL;
    }
    while (i < len) {
        uint32_t cp;
        size_t n = validate_utf8_decode(p + i, len - i, &cp);

        if (n == 0) {
            set_err(err, errlen, "city is not valid UTF-8 (at byte %zu)", i);
            return TEMPO_EINVAL;
        }
        if (cp == 0) {
            set_err(err, errlen, "city contains a NUL byte (at byte %zu)", i);
            return TEMPO_EINVAL;
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
            set_err(err, errlen,
                    "city contains a control character (U+%04X at byte %zu)",
                    (unsigned)cp, i);
            return TEMPO_EINVAL;
        }
        if (!is_space(cp))
            blank = 0;
        i += n;
    }
    if (blank) {
        set_err(err, errlen, "city is blank");
        return TEMPO_EINVAL;
    }
    return 0;
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int validate_country(const char *s, size_t len, char out[3], char *err,
                     size_t errlen)
{
    if (s == NULL || len != 2 || !is_alpha(s[0]) || !is_alpha(s[1])) {
        set_err(err, errlen,
                "country must be a two-letter ISO 3166-1 alpha-2 code, "
                "such as GB");
        return TEMPO_EINVAL;
    }
    out[0] = (char)(s[0] & ~0x20); /* ASCII upper case */
    out[1] = (char)(s[1] & ~0x20);
    out[2] = '\0';
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* -?DIGITS(.DIGITS)? over exactly len bytes. */
static int plain_decimal(const char *s, size_t len)
{
    size_t i = 0, start;

    if (i < len && s[i] == '-')
        i++;
    start = i;
    while (i < len && is_digit(s[i]))
        i++;
    if (i == start)
        return 0;
    if (i < len && s[i] == '.') {
        start = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == start)
            return 0;
    }
    return i == len;
}

int validate_coord(const char *s, size_t len, double min, double max,
                   const char *what, double *out, char *err, size_t errlen)
{
    char text[COORD_MAX_LEN + 1];
    char *end = NULL;
    double v;

    if (what == NULL)
        what = "coordinate";
    if (s == NULL || len == 0) {
        set_err(err, errlen, "%s is empty", what);
        return TEMPO_EINVAL;
    }
    if (len > COORD_MAX_LEN) {
        set_err(err, errlen, "%s is longer than %d bytes", what, COORD_MAX_LEN);
        return TEMPO_EINVAL;
    }
    if (!plain_decimal(s, len)) {
        set_err(err, errlen,
                "%s must be a plain decimal number such as -12.5 "
                "(no exponent, '+', spaces, hex, inf or nan)",
                what);
        return TEMPO_EINVAL;
    }
    memcpy(text, s, len);
    text[len] = '\0';
    v = strtod(text, &end);
    if (end != text + len) {
        set_err(err, errlen, "%s is not a number", what);
        return TEMPO_EINVAL;
    }
    if (validate_coord_value(v, min, max, what, err, errlen) < 0)
        return TEMPO_EINVAL;
    *out = v;
    return 0;
}

int validate_coord_value(double v, double min, double max, const char *what,
                         char *err, size_t errlen)
{
    if (what == NULL)
        what = "coordinate";
    if (!isfinite(v)) {
        set_err(err, errlen, "%s must be a finite number", what);
        return TEMPO_EINVAL;
    }
    if (v < min || v > max) {
        set_err(err, errlen, "%s must be between %g and %g", what, min, max);
        return TEMPO_EINVAL;
    }
    return 0;
}

int validate_request_id(const char *s)
{
    size_t i;

    if (s == NULL)
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (i >= REQUEST_ID_MAX)
            return 0;
        if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '_' && c != ':' &&
            c != '-')
            return 0;
    }
    return i > 0;
}

void validate_copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src), i;

    if (n > cap - 1) {
        n = cap - 1;
        /* Back up over continuation bytes, then drop the lead byte whose
         * character did not fit. */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[n] = '\0';
}
