/*
 * json_pull.c - see json_pull.h.
 *
 * DESIGN
 *
 * The scanner is a cursor over the text plus a stack of one flag per open
 * container ("no member yet"), so that members and elements can be pulled
 * one at a time and commas checked without recursion.  jpull_skip walks a
 * nested value with the same stack, iteratively: a hostile document
 * cannot exhaust the C stack, and nesting is bounded by JPULL_MAX_DEPTH.
 *
 * Strings are validated byte by byte (RFC 3629 UTF-8: no overlong forms,
 * no surrogates, nothing above U+10FFFF; no raw control characters; only
 * the eight escapes and \uXXXX, with surrogates in pairs) whether they are
 * decoded or skipped, so skipping is exactly as strict as reading.
 */
#include "json_pull.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

static int fail(struct jpull *s)
{
    s->failed = 1;
    return -1;
}

void jpull_init(struct jpull *s, const char *buf, size_t len)
{
    s->p = (const unsigned char *)buf;
    s->end = s->p + len;
    s->failed = buf == NULL && len > 0;
    s->depth = 0;
}

static void ws(struct jpull *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

enum jpull_kind jpull_peek(struct jpull *s)
{
    if (s->failed)
        return JPULL_BAD;
    ws(s);
    if (s->p >= s->end)
        return JPULL_BAD;
    switch (*s->p) {
    case '{':
        return JPULL_OBJECT;
    case '[':
        return JPULL_ARRAY;
    case '"':
        return JPULL_STRING;
    case 't':
    case 'f':
    case 'n':
        return JPULL_LITERAL;
    default:
        return *s->p == '-' || (*s->p >= '0' && *s->p <= '9') ? JPULL_NUMBER
                                                              : JPULL_BAD;
    }
}

static int open_container(struct jpull *s, unsigned char c)
{
    if (s->failed)
        return -1;
    ws(s);
    if (s->p >= s->end || *s->p != c || s->depth >= JPULL_MAX_DEPTH)
        return fail(s);
    s->p++;
    s->first[++s->depth] = 1;
    return 0;
}

int jpull_object(struct jpull *s)
{
    return open_container(s, '{');
}

int jpull_array(struct jpull *s)
{
    return open_container(s, '[');
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        unsigned char c = p[i];

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
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n, i;
    uint32_t cp;

    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1Fu;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0Fu;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07u;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* Appends code point cp as UTF-8 if it fits (*o < cap - 1 stays true for
 * the NUL); sets *full otherwise. */
static void put_cp(char *buf, size_t cap, size_t *o, uint32_t cp, int *full)
{
    unsigned char tmp[4];
    size_t n, i;

    if (cp < 0x80) {
        tmp[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (unsigned char)(0xC0 | (cp >> 6));
        tmp[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (unsigned char)(0xE0 | (cp >> 12));
        tmp[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        tmp[0] = (unsigned char)(0xF0 | (cp >> 18));
        tmp[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*full || cap == 0 || *o + n > cap - 1) {
        *full = 1;
        return;
    }
    for (i = 0; i < n; i++)
        buf[(*o)++] = (char)tmp[i];
}

/*
 * Scans the string at s->p (which is '"').  buf may be NULL (validate
 * only).  Returns 0 decoded, 1 valid but unusable (too long or holding
 * U+0000), -1 malformed.
 */
static int scan_string(struct jpull *s, char *buf, size_t cap, size_t *len)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    size_t o = 0;
    int full = buf == NULL, nul = 0;

    for (;;) {
        const unsigned char *run = p;

        /* The common case: a run of plain ASCII, copied at once. */
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run && !full) {
            size_t n = (size_t)(p - run);

            if (cap == 0 || o + n > cap - 1)
                full = 1;
            else {
                memcpy(buf + o, run, n);
                o += n;
            }
        }
        if (p >= end || *p < 0x20)
            return fail(s);
        if (*p == '"') {
            p++;
            break;
        }
        if (*p >= 0x80) {
            size_t n = utf8_len(p, end);

            if (n == 0)
                return fail(s);
            if (!full && (cap == 0 || o + n > cap - 1))
                full = 1;
            else if (!full) {
                memcpy(buf + o, p, n);
                o += n;
            }
            p += n;
            continue;
        }
        /* A backslash. */
        if (end - p < 2)
            return fail(s);
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
            put_cp(buf, cap, &o, p[1], &full);
            p += 2;
            break;
        case 'b':
            put_cp(buf, cap, &o, '\b', &full);
            p += 2;
            break;
        case 'f':
            put_cp(buf, cap, &o, '\f', &full);
            p += 2;
            break;
        case 'n':
            put_cp(buf, cap, &o, '\n', &full);
            p += 2;
            break;
        case 'r':
            put_cp(buf, cap, &o, '\r', &full);
            p += 2;
            break;
        case 't':
            put_cp(buf, cap, &o, '\t', &full);
            p += 2;
            break;
        case 'u': {
            uint32_t cp, lo;

            if (end - p < 6 || hex4(p + 2, &cp) < 0)
                return fail(s);
            p += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(s); /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                    hex4(p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return fail(s);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0)
                nul = 1;
            put_cp(buf, cap, &o, cp, &full);
            break;
        }
        default:
            return fail(s);
        }
    }
    s->p = p;
    if (buf == NULL)
        return 0;
    if (full || nul) {
        if (cap > 0)
            buf[0] = '\0';
        if (len != NULL)
            *len = 0;
        return 1;
    }
    buf[o] = '\0';
    if (len != NULL)
        *len = o;
    return 0;
}

/* Scans a number at s->p per the JSON grammar; *plain says whether it is
 * a non-negative integer without fraction or exponent. */
static int scan_number(struct jpull *s, int *plain)
{
    const unsigned char *p = s->p, *end = s->end;

    *plain = 1;
    if (p < end && *p == '-') {
        *plain = 0;
        p++;
    }
    if (p >= end)
        return fail(s);
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return fail(s);
    }
    if (p < end && *p == '.') {
        *plain = 0;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return fail(s);
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *plain = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return fail(s);
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    return 0;
}

static int scan_literal(struct jpull *s)
{
    static const char *const lits[] = {"true", "false", "null"};
    size_t i, n, left = (size_t)(s->end - s->p);

    for (i = 0; i < 3; i++) {
        n = strlen(lits[i]);
        if (left >= n && memcmp(s->p, lits[i], n) == 0) {
            s->p += n;
            return 0;
        }
    }
    return fail(s);
}

/* Before a member or element: the comma unless it is the first, or the
 * closing bracket.  Returns 1 (an item follows), 0 (closed), -1. */
static int next_item(struct jpull *s, unsigned char close)
{
    if (s->failed || s->depth == 0)
        return fail(s);
    ws(s);
    if (s->p >= s->end)
        return fail(s);
    if (*s->p == close) {
        s->p++;
        s->depth--;
        return 0;
    }
    if (!s->first[s->depth]) {
        if (*s->p != ',')
            return fail(s);
        s->p++;
        ws(s);
    }
    s->first[s->depth] = 0;
    return 1;
}

int jpull_member(struct jpull *s, char *key, size_t cap, size_t *klen)
{
    char dummy[1];
    int r = next_item(s, '}');

    if (r <= 0)
        return r;
    if (s->p >= s->end || *s->p != '"')
        return fail(s);
    if (key == NULL || cap == 0) {
        key = dummy;
        cap = sizeof(dummy);
    }
    r = scan_string(s, key, cap, klen);
    if (r < 0)
        return -1;
    ws(s);
    if (s->p >= s->end || *s->p != ':')
        return fail(s);
    s->p++;
    return 1;
}

int jpull_element(struct jpull *s)
{
    return next_item(s, ']');
}

int jpull_string(struct jpull *s, char *buf, size_t cap, size_t *len)
{
    enum jpull_kind k = jpull_peek(s);

    if (k == JPULL_BAD)
        return fail(s);
    if (k != JPULL_STRING) {
        if (cap > 0)
            buf[0] = '\0';
        return jpull_skip(s) < 0 ? -1 : 1;
    }
    return scan_string(s, buf, cap, len);
}

int jpull_count(struct jpull *s, long *out)
{
    const unsigned char *start;
    enum jpull_kind k = jpull_peek(s);
    long v = 0;
    int plain;

    if (k == JPULL_BAD)
        return fail(s);
    if (k != JPULL_NUMBER)
        return jpull_skip(s) < 0 ? -1 : 1;
    start = s->p;
    if (scan_number(s, &plain) < 0)
        return -1;
    if (s->p - start == 2 && start[0] == '-' && start[1] == '0') {
        *out = 0; /* -0 is the integer 0, as jansson reads it */
        return 0;
    }
    if (!plain)
        return 1;
    for (; start < s->p; start++) {
        if (v > (LONG_MAX - (*start - '0')) / 10)
            return 1; /* valid JSON, too big for us */
        v = v * 10 + (*start - '0');
    }
    *out = v;
    return 0;
}

/* Consumes one scalar value; containers are handled by jpull_skip. */
static int skip_scalar(struct jpull *s, enum jpull_kind k)
{
    int plain;

    switch (k) {
    case JPULL_STRING:
        return scan_string(s, NULL, 0, NULL);
    case JPULL_NUMBER:
        return scan_number(s, &plain);
    case JPULL_LITERAL:
        return scan_literal(s);
    default:
        return fail(s);
    }
}

int jpull_skip(struct jpull *s)
{
    enum jpull_kind k = jpull_peek(s);
    unsigned base = s->depth;
    /* Bit per open level above base: 1 = object.  Bounded by the depth
     * limit, so it fits in the first[] stack's companion below. */
    unsigned char is_obj[JPULL_MAX_DEPTH + 1];

    if (k != JPULL_OBJECT && k != JPULL_ARRAY)
        return skip_scalar(s, k);
    for (;;) {
        int r;

        if (k == JPULL_OBJECT || k == JPULL_ARRAY) {
            if (open_container(s, k == JPULL_OBJECT ? '{' : '[') < 0)
                return -1;
            is_obj[s->depth] = k == JPULL_OBJECT;
        } else if (k != JPULL_BAD && skip_scalar(s, k) < 0) {
            return -1;
        }
        /* Find the next value to consume, closing finished containers. */
        for (;;) {
            if (s->depth == base)
                return 0;
            if (is_obj[s->depth])
                r = jpull_member(s, NULL, 0, NULL);
            else
                r = jpull_element(s);
            if (r < 0)
                return -1;
            if (r > 0)
                break;
        }
        k = jpull_peek(s);
        if (k == JPULL_BAD)
            return fail(s);
    }
}

int jpull_end(struct jpull *s)
{
    if (s->failed)
        return -1;
    ws(s);
    return s->p == s->end && s->depth == 0 ? 0 : fail(s);
}
