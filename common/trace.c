/*
 * trace.c - see trace.h.  Grammar from W3C Trace Context Level 1,
 * sections 3.2 (traceparent) and 3.3 (tracestate).
 */
#include "trace.h"

#include "rng.h"

#include <stdio.h>
#include <string.h>

static int lhex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int hex_field(const char *s, size_t n)
{
    size_t i;
    int nonzero = 0;

    for (i = 0; i < n; i++) {
        if (!lhex(s[i]))
            return -1;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

static unsigned hexval(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

int trace_parse(const char *tp, struct trace *t)
{
    size_t len;

    if (tp == NULL)
        return -1;
    len = strlen(tp);
    if (len < TRACE_HEADER_LEN || hex_field(tp, 2) < 0 || tp[2] != '-' ||
        tp[35] != '-' || tp[52] != '-')
        return -1;
    if (tp[0] == 'f' && tp[1] == 'f')
        return -1; /* version 255 is invalid */
    if (tp[0] == '0' && tp[1] == '0' && len != TRACE_HEADER_LEN)
        return -1;
    if (len > TRACE_HEADER_LEN && tp[TRACE_HEADER_LEN] != '-')
        return -1;
    if (hex_field(tp + 3, TRACE_ID_LEN) != 1 ||
        hex_field(tp + 36, TRACE_SPAN_LEN) != 1 || hex_field(tp + 53, 2) < 0)
        return -1;
    memcpy(t->trace_id, tp + 3, TRACE_ID_LEN);
    t->trace_id[TRACE_ID_LEN] = '\0';
    memcpy(t->span_id, tp + 36, TRACE_SPAN_LEN);
    t->span_id[TRACE_SPAN_LEN] = '\0';
    t->flags = (hexval(tp[53]) << 4 | hexval(tp[54])) & 0x01;
    return 0;
}

static int lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}

static int key_char(char c)
{
    return lcalpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '*' || c == '/';
}

/* key = simple-key / tenant-id "@" system-id; [s, e) */
static int key_valid(const char *s, const char *e)
{
    const char *at = memchr(s, '@', (size_t)(e - s)), *p;

    if (at == NULL) {
        if (e - s < 1 || e - s > 256 || !lcalpha(*s))
            return 0;
        for (p = s + 1; p < e; p++)
            if (!key_char(*p))
                return 0;
        return 1;
    }
    if (at - s < 1 || at - s > 241 ||
        !(lcalpha(*s) || (*s >= '0' && *s <= '9')))
        return 0;
    for (p = s + 1; p < at; p++)
        if (!key_char(*p))
            return 0;
    if (e - (at + 1) < 1 || e - (at + 1) > 14 || !lcalpha(at[1]))
        return 0;
    for (p = at + 2; p < e; p++)
        if (!key_char(*p))
            return 0;
    return 1;
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr;
 * nblk-chr = %x21-2B / %x2D-3C / %x3E-7E */
static int value_valid(const char *s, const char *e)
{
    const char *p;

    if (e - s < 1 || e - s > 256 || e[-1] == ' ')
        return 0;
    for (p = s; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
            return 0;
    }
    return 1;
}

int trace_state_valid(const char *s)
{
    int members = 0;

    if (s == NULL || strlen(s) > TRACE_STATE_MAX)
        return 0;
    for (;;) {
        const char *end = strchr(s, ','), *eq, *a, *b;
        if (end == NULL)
            end = s + strlen(s);
        a = s;
        b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a < b) { /* empty members are allowed and ignored */
            eq = memchr(a, '=', (size_t)(b - a));
            if (eq == NULL || !key_valid(a, eq) || !value_valid(eq + 1, b) ||
                ++members > 32)
                return 0;
        }
        if (*end == '\0')
            return members > 0;
        s = end + 1;
    }
}

static void random_hex(char *out, size_t ndigits)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[TRACE_ID_LEN / 2];
    size_t i, nbytes = ndigits / 2;

    rng_secure(raw, nbytes);
    for (i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[ndigits] = '\0';
    if (hex_field(out, ndigits) == 0) /* all zeros: invalid, try again */
        random_hex(out, ndigits);
}

void trace_begin(struct trace *t, const char *traceparent,
                 const char *tracestate)
{
    struct trace in;

    memset(t, 0, sizeof(*t));
    if (trace_parse(traceparent, &in) == 0) {
        memcpy(t->trace_id, in.trace_id, sizeof(t->trace_id));
        t->flags = in.flags;
        if (tracestate != NULL && trace_state_valid(tracestate))
            snprintf(t->state, sizeof(t->state), "%s", tracestate);
    } else {
        random_hex(t->trace_id, TRACE_ID_LEN);
        t->flags = 0;
    }
    random_hex(t->span_id, TRACE_SPAN_LEN);
}

void trace_format(const struct trace *t, char *out, size_t cap)
{
    snprintf(out, cap, "00-%s-%s-%02x", t->trace_id, t->span_id,
             t->flags & 0xffu);
}

void trace_format_child(const struct trace *t, char *out, size_t cap)
{
    struct trace child = *t;

    random_hex(child.span_id, TRACE_SPAN_LEN);
    trace_format(&child, out, cap);
}
