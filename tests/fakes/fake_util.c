/*
 * fake_util.c - pure helpers for fake-upstream: strict number parsing,
 * hashing, percent and base64 coding, query/form parameters.  No sockets,
 * no locks, no logging; every function is safe on hostile input.
 */
#include "fake.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char HEX[] = "0123456789ABCDEF";
static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

uint64_t fu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool fu_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool fu_parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return false;
    errno = 0;
    v = strtod(s, &end);
    /* The range test also rejects NaN; min/max are finite. */
    if (errno != 0 || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

double fu_round2(double x)
{
    double y = x * 100.0;
    long long k = (long long)(y < 0 ? y - 0.5 : y + 0.5);

    return (double)k / 100.0;
}

double fu_abs(double x)
{
    return x < 0 ? -x : x;
}

uint64_t fu_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t fu_hash_lower(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++) {
        h ^= (unsigned char)tolower((unsigned char)*s);
        h *= 0x100000001b3ULL;
    }
    return h;
}

bool fu_utf8_ok(const char *s)
{
    json_t *j = json_string(s);

    json_decref(j);
    return j != NULL;
}

int fu_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

char *fu_trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* In-place form decoding: '+' is a space, %XX a byte, a bad % is kept.
 * A decoded %00 ends the value early (values are C strings). */
static void pct_decode(char *s)
{
    char *w = s;

    for (const char *r = s; *r; r++) {
        int hi = r[0] == '%' ? fu_hexval((unsigned char)r[1]) : -1;
        int lo = hi >= 0 ? fu_hexval((unsigned char)r[2]) : -1;

        if (*r == '+') {
            *w++ = ' ';
        } else if (lo >= 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

char *fu_pct_encode(const char *s)
{
    char *out = malloc(strlen(s) * 3 + 1);
    char *w = out;

    if (out == NULL)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = HEX[c >> 4];
            *w++ = HEX[c & 15];
        }
    }
    *w = '\0';
    return out;
}

char *fu_escape_raw(const char *s, size_t max)
{
    char *out = malloc(max + 1);
    size_t n = 0;

    if (out == NULL)
        return NULL;
    for (; *s && n + 3 <= max; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c < 0x7f) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = HEX[c >> 4];
            out[n++] = HEX[c & 15];
        }
    }
    out[n] = '\0';
    return out;
}

unsigned char *fu_b64_decode(const char *s, size_t *len)
{
    size_t in = strlen(s), n = 0;
    unsigned char *out;
    uint32_t acc = 0;
    int bits = 0;

    while (in > 0 && s[in - 1] == '=')
        in--;
    out = malloc(in * 3 / 4 + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < in; i++) {
        const char *p = strchr(B64, s[i]);

        if (p == NULL) { /* s[i] is never NUL here */
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    *len = n;
    return out;
}

int fu_args_parse(struct fu_args *a, const char *s, size_t len)
{
    char *p;

    a->n = 0;
    a->buf = malloc(len + 1);
    if (a->buf == NULL)
        return -1;
    memcpy(a->buf, s, len);
    a->buf[len] = '\0';
    for (p = a->buf; p != NULL && a->n < FU_ARGS_MAX;) {
        char *amp = strchr(p, '&');
        char *eq;

        if (amp != NULL)
            *amp = '\0';
        eq = strchr(p, '=');
        if (eq != NULL)
            *eq = '\0';
        if (*p != '\0') {
            pct_decode(p);
            if (eq != NULL)
                pct_decode(eq + 1);
            a->key[a->n] = p;
            a->val[a->n] = eq != NULL ? eq + 1 : "";
            a->n++;
        }
        p = amp != NULL ? amp + 1 : NULL;
    }
    return 0;
}

const char *fu_args_get(const struct fu_args *a, const char *key)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->key[i], key) == 0)
            return a->val[i];
    return NULL;
}

void fu_args_free(struct fu_args *a)
{
    free(a->buf);
    a->buf = NULL;
    a->n = 0;
}
