/*
 * json_scan.c - see json_scan.h.  A recursive-descent recogniser; the
 * depth limit bounds its stack.  Keys of one object are kept as spans (at
 * most JSON_SCAN_MAX_KEYS) and compared byte for byte, which equals
 * jansson's comparison because escaped keys are declined.
 */
#include "json_scan.h"

#include "validate.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct scan {
    const unsigned char *s;
    size_t len, pos;
};

struct span {
    size_t off, len;
};

static int scan_value(struct scan *sc, int depth);

static void skip_ws(struct scan *sc)
{
    while (sc->pos < sc->len &&
           (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t' ||
            sc->s[sc->pos] == '\n' || sc->s[sc->pos] == '\r'))
        sc->pos++;
}

static int hex4(struct scan *sc, uint32_t *out)
{
    uint32_t v = 0;
    size_t i;

    if (sc->len - sc->pos < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        unsigned char c = sc->s[sc->pos + i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    sc->pos += 4;
    *out = v;
    return 0;
}

/* A string at sc->pos (on its '"').  *escaped says whether it had any
 * escape; the span excludes the quotes. */
static int scan_string(struct scan *sc, struct span *sp, int *escaped)
{
    *escaped = 0;
    sc->pos++; /* '"' */
    sp->off = sc->pos;
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];
        uint32_t cp, lo;
        size_t n;

        if (c == '"') {
            sp->len = sc->pos - sp->off;
            sc->pos++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c < 0x80 && c != '\\') { /* ASCII: all a Python peer sends */
            sc->pos++;
            continue;
        }
        if (c != '\\') {
            n = validate_utf8_decode(sc->s + sc->pos, sc->len - sc->pos, &cp);
            if (n == 0)
                return -1;
            sc->pos += n;
            continue;
        }
        *escaped = 1;
        if (++sc->pos >= sc->len)
            return -1;
        c = sc->s[sc->pos++];
        if (strchr("\"\\/bfnrt", c) != NULL && c != '\0')
            continue;
        if (c != 'u' || hex4(sc, &cp) < 0 || cp == 0)
            return -1;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return -1; /* a lone low surrogate */
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (sc->len - sc->pos < 2 || sc->s[sc->pos] != '\\' ||
                sc->s[sc->pos + 1] != 'u')
                return -1;
            sc->pos += 2;
            if (hex4(sc, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                return -1;
        }
    }
    return -1;
}

static int scan_digits(struct scan *sc)
{
    size_t start = sc->pos;

    while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
        sc->pos++;
    return sc->pos > start ? 0 : -1;
}

/* A number; integers must fit int64 and reals be finite, as in jansson. */
static int scan_number(struct scan *sc)
{
    size_t start = sc->pos;
    int real = 0;
    char buf[64], *end;

    if (sc->s[sc->pos] == '-')
        sc->pos++;
    if (sc->pos >= sc->len)
        return -1;
    if (sc->s[sc->pos] == '0')
        sc->pos++;
    else if (scan_digits(sc) < 0)
        return -1;
    if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
        sc->pos++;
        real = 1;
        if (scan_digits(sc) < 0)
            return -1;
    }
    if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
        sc->pos++;
        real = 1;
        if (sc->pos < sc->len &&
            (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
            sc->pos++;
        if (scan_digits(sc) < 0)
            return -1;
    }
    if (sc->pos - start >= sizeof(buf))
        return -1; /* declined: no reply has such numbers */
    memcpy(buf, sc->s + start, sc->pos - start);
    buf[sc->pos - start] = '\0';
    errno = 0;
    if (real) {
        double d = strtod(buf, &end);
        if (errno == ERANGE && (d > 1.0 || d < -1.0))
            return -1; /* overflow: jansson refuses it */
    } else {
        (void)strtoll(buf, &end, 10);
        if (errno == ERANGE)
            return -1;
    }
    return 0;
}

static int scan_literal(struct scan *sc, const char *word)
{
    size_t n = strlen(word);

    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
        return -1;
    sc->pos += n;
    return 0;
}

/*
 * An object.  With want (top level only), the spans of the values of
 * want[0] and want[1] are reported in found[0..1].
 */
static int scan_object(struct scan *sc, int depth, const char *const *want,
                       struct span *found)
{
    struct span keys[JSON_SCAN_MAX_KEYS];
    size_t nkeys = 0, i;

    sc->pos++; /* '{' */
    skip_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == '}') {
        sc->pos++;
        return 0;
    }
    for (;;) {
        struct span k;
        int escaped;
        size_t vstart;

        if (sc->pos >= sc->len || sc->s[sc->pos] != '"' ||
            scan_string(sc, &k, &escaped) < 0 || escaped ||
            nkeys == JSON_SCAN_MAX_KEYS)
            return -1;
        for (i = 0; i < nkeys; i++)
            if (keys[i].len == k.len &&
                memcmp(sc->s + keys[i].off, sc->s + k.off, k.len) == 0)
                return -1; /* duplicate key */
        keys[nkeys++] = k;
        skip_ws(sc);
        if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
            return -1;
        sc->pos++;
        skip_ws(sc);
        vstart = sc->pos;
        if (scan_value(sc, depth + 1) < 0)
            return -1;
        for (i = 0; want != NULL && i < 2; i++)
            if (strlen(want[i]) == k.len &&
                memcmp(sc->s + k.off, want[i], k.len) == 0) {
                found[i].off = vstart;
                found[i].len = sc->pos - vstart;
            }
        skip_ws(sc);
        if (sc->pos >= sc->len)
            return -1;
        if (sc->s[sc->pos] == '}') {
            sc->pos++;
            return 0;
        }
        if (sc->s[sc->pos] != ',')
            return -1;
        sc->pos++;
        skip_ws(sc);
    }
}

static int scan_array(struct scan *sc, int depth)
{
    sc->pos++; /* '[' */
    skip_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
        sc->pos++;
        return 0;
    }
    for (;;) {
        if (scan_value(sc, depth + 1) < 0)
            return -1;
        skip_ws(sc);
        if (sc->pos >= sc->len)
            return -1;
        if (sc->s[sc->pos] == ']') {
            sc->pos++;
            return 0;
        }
        if (sc->s[sc->pos] != ',')
            return -1;
        sc->pos++;
        skip_ws(sc);
    }
}

static int scan_value(struct scan *sc, int depth)
{
    struct span sp;
    int escaped;

    if (depth > JSON_SCAN_MAX_DEPTH)
        return -1;
    skip_ws(sc);
    if (sc->pos >= sc->len)
        return -1;
    switch (sc->s[sc->pos]) {
    case '{':
        return scan_object(sc, depth, NULL, NULL);
    case '[':
        return scan_array(sc, depth);
    case '"':
        return scan_string(sc, &sp, &escaped);
    case 't':
        return scan_literal(sc, "true");
    case 'f':
        return scan_literal(sc, "false");
    case 'n':
        return scan_literal(sc, "null");
    default:
        if (sc->s[sc->pos] == '-' ||
            (sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9'))
            return scan_number(sc);
        return -1;
    }
}

int json_scan_value(const char *s, size_t len, size_t *pos)
{
    struct scan sc = {(const unsigned char *)s, len, *pos};

    if (scan_value(&sc, 0) < 0)
        return -1;
    *pos = sc.pos;
    return 0;
}

int json_scan_object2(const char *s, size_t len, const char *key_a,
                      size_t *a_off, size_t *a_len, const char *key_b,
                      size_t *b_off, size_t *b_len)
{
    struct scan sc = {(const unsigned char *)s, len, 0};
    const char *want[2] = {key_a, key_b};
    struct span found[2] = {{(size_t)-1, 0}, {(size_t)-1, 0}};

    skip_ws(&sc);
    if (sc.pos >= sc.len || sc.s[sc.pos] != '{' ||
        scan_object(&sc, 0, want, found) < 0)
        return -1;
    skip_ws(&sc);
    if (sc.pos != sc.len)
        return -1; /* garbage after the document */
    *a_off = found[0].off;
    *a_len = found[0].len;
    *b_off = found[1].off;
    *b_len = found[1].len;
    return 0;
}
