/*
 * fuzz_util.h - small helpers shared by the libFuzzer targets in this
 * directory (header-only, all static).
 *
 * The targets do more than feed bytes to a parser and wait for ASan: each
 * one also checks the parser's written contract (what an output looks like
 * on success, that an error message is printable and never quotes the
 * input, that outputs are untouched on failure).  A broken contract calls
 * FUZZ_CHECK, which prints the condition and aborts, so libFuzzer saves the
 * input as a crash like any memory error.  It writes to file descriptor 2,
 * not through stderr, which fuzz_config points elsewhere.
 */
#ifndef TEMPO_FUZZ_UTIL_H
#define TEMPO_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            dprintf(2, "%s:%d: contract broken: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* A copy of data[0..len) in a buffer of exactly len bytes (no NUL after
 * it), so that ASan sees any read past the length the callee was given. */
static inline char *fuzz_dup_exact(const uint8_t *data, size_t len)
{
    char *p = malloc(len != 0 ? len : 1);

    FUZZ_CHECK(p != NULL);
    if (len != 0)
        memcpy(p, data, len);
    return p;
}

/* A NUL-terminated copy of data[0..len). */
static inline char *fuzz_dup_cstr(const uint8_t *data, size_t len)
{
    char *p = malloc(len + 1);

    FUZZ_CHECK(p != NULL);
    if (len != 0)
        memcpy(p, data, len);
    p[len] = '\0';
    return p;
}

/* Is s NUL-terminated within cap bytes? */
static inline int fuzz_terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* Only printable ASCII (0x20..0x7e)?  Messages that travel to clients or
 * logs must be, so that no input byte can forge a log line. */
static inline int fuzz_printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

/* Only ASCII (0x00..0x7f)? */
static inline int fuzz_ascii(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] > 0x7f)
            return 0;
    return 1;
}

/* Strict UTF-8 (no overlongs, surrogates or values above U+10FFFF)? */
static inline int fuzz_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        size_t n, k;
        unsigned long cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (len - i < n)
            return 0;
        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n;
    }
    return 1;
}

/* Does needle[0..nlen) occur in hay[0..hlen)? */
static inline int fuzz_contains(const char *hay, size_t hlen,
                                const char *needle, size_t nlen)
{
    size_t i;

    if (nlen == 0)
        return 1;
    for (i = 0; i + nlen <= hlen; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return 1;
    return 0;
}

#endif
