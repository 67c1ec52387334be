/*
 * nameko.c - Nameko RPC envelopes to and from JSON (see nameko.h).
 *
 * Encoding.  A Python Nameko peer serialises with kombu's json serializer,
 * i.e. json.dumps() with its defaults: ", " and ": " separators,
 * ensure_ascii (everything outside printable ASCII as \uXXXX in lower-case
 * hex, astral characters as a surrogate pair), keys in insertion order,
 * floats as repr() (the shortest text that reads back as the same double,
 * always with a '.' or an exponent: 5.0, 12.4, 1e-05, 1e+16).  jansson's
 * json_dumps cannot produce that format, so this file has its own small
 * serialiser over jansson values.  It writes into a growable buffer with a
 * hard cap of NAMEKO_MAX_BODY (what a peer accepts) and a depth limit of
 * DUMP_MAX_DEPTH (which also ends a reference cycle); either limit makes
 * the encoder return NULL rather than a partial body.  A reply can carry
 * an array whose elements were serialised earlier by this same code
 * (nameko_reply_encode_result_spliced): the worker serialises each track
 * once, when its pool or catalog is built, and splices the bytes of the
 * ones a reply picks.  Invalid UTF-8 in C
 * strings handed to the error encoder becomes U+FFFD instead of failing,
 * so a worker can always report an error.
 *
 * Decoding.  Bodies are parsed by json_loadb with JSON_REJECT_DUPLICATES: a
 * Python dict can never produce a duplicate key, so one in a body is either
 * a bug or an attempt to make two parsers disagree about a value ("kwargs"
 * twice).  NUL characters (\u0000) are rejected too (jansson's default),
 * because the C code downstream treats strings as NUL-terminated.  Error
 * messages describe the problem and its byte offset but never quote the
 * body.  A malformed call is the caller's fault (TEMPO_EINVAL, answered
 * with MalformedRequest); a malformed reply is the worker's fault
 * (TEMPO_EINTERNAL, answered to the HTTP client with 500).
 */
#include "nameko.h"

#include "errors.h"
#include "json_scan.h"
#include "tbuf.h"
#include "validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_MAX_DEPTH 512

/* A message body: at most NAMEKO_MAX_BODY bytes of text. */
static void body_init(struct tbuf *sb)
{
    tbuf_init(sb, 256, NAMEKO_MAX_BODY + 1);
}

static char *body_finish(struct tbuf *sb)
{
    size_t len;

    return tbuf_finish(sb, &len);
}

/* --- serialiser ------------------------------------------------------ */

static void dump_u16(struct tbuf *sb, uint32_t u)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\',
                   'u',
                   hex[(u >> 12) & 15],
                   hex[(u >> 8) & 15],
                   hex[(u >> 4) & 15],
                   hex[u & 15]};

    tbuf_add(sb, esc, sizeof(esc));
}

/* Python's two-character escapes (json.encoder ESCAPE_DCT), or NULL. */
static const char *short_escape(unsigned char c)
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    default:
        return NULL;
    }
}

/* A JSON string the way json.dumps(ensure_ascii=True) writes it. */
static void dump_string(struct tbuf *sb, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    const char *esc;
    size_t i = 0, run;

    tbuf_add(sb, "\"", 1);
    while (i < len && !tbuf_failed(sb)) {
        uint32_t cp;
        size_t n;

        /* Copy printable ASCII in one go. */
        for (run = i; run < len && s[run] >= 0x20 && s[run] <= 0x7e &&
                      s[run] != '"' && s[run] != '\\';
             run++)
            ;
        if (run > i) {
            tbuf_add(sb, str + i, run - i);
            i = run;
            continue;
        }
        esc = short_escape(s[i]);
        if (esc != NULL) {
            tbuf_add(sb, esc, 2);
            i++;
            continue;
        }
        n = validate_utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            cp = 0xfffd; /* invalid byte: replacement character */
            n = 1;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            dump_u16(sb, 0xd800 | (cp >> 10));
            dump_u16(sb, 0xdc00 | (cp & 0x3ff));
        } else {
            dump_u16(sb, cp);
        }
        i += n;
    }
    tbuf_add(sb, "\"", 1);
}

static const unsigned long long pow10_tab[18] = {
    1ULL,
    10ULL,
    100ULL,
    1000ULL,
    10000ULL,
    100000ULL,
    1000000ULL,
    10000000ULL,
    100000000ULL,
    1000000000ULL,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
};

/* Whether c * 10^q, as text, reads back as a. */
static int reads_back(unsigned long long c, int q, double a)
{
    char num[48], rev[24];
    size_t n = 0, o = 0;
    unsigned u = q < 0 ? (unsigned)-q : (unsigned)q;

    do
        rev[n++] = (char)('0' + c % 10);
    while ((c /= 10) > 0);
    while (n > 0)
        num[o++] = rev[--n];
    num[o++] = 'e';
    if (q < 0)
        num[o++] = '-';
    do
        rev[n++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    while (n > 0)
        num[o++] = rev[--n];
    num[o] = '\0';
    return strtod(num, NULL) == a;
}

/* What "%.*e" prints for a with prec digits, as a ~ *m * 10^*q. */
static void printf_digits(double a, int prec, unsigned long long *m, int *q)
{
    char num[48];
    const char *p = num;
    int esign = 1, exp10 = 0;

    snprintf(num, sizeof(num), "%.*e", prec - 1, a);
    *m = 0;
    for (; *p != 'e' && *p != '\0'; p++)
        if (*p >= '0' && *p <= '9')
            *m = *m * 10 + (unsigned long long)(*p - '0');
    if (*p == 'e')
        p++;
    if (*p == '-' || *p == '+')
        esign = *p++ == '-' ? -1 : 1;
    for (; *p >= '0' && *p <= '9'; p++)
        exp10 = exp10 * 10 + (*p - '0');
    *q = esign * exp10 - (prec - 1);
}

/*
 * a correctly rounded to p digits (what "%.*e" prints), derived from its
 * 17 digits m17 * 10^q17: round half up on the digits beyond p.  Those
 * digits are themselves rounded, so an exact half there (...5000) may be
 * either side of the true half: that case asks printf.  A carry
 * (999 -> 1000) is renormalised to p digits, as printf prints it.
 */
static void round_to(unsigned long long m17, int q17, double a, int p,
                     unsigned long long *m, int *q)
{
    unsigned long long scale = pow10_tab[17 - p], tail = m17 % scale;

    *m = m17 / scale;
    *q = q17 + (17 - p);
    if (p == 17 || tail < scale / 2)
        return;
    if (tail == scale / 2) {
        printf_digits(a, p, m, q);
        return;
    }
    if (++*m == pow10_tab[p]) {
        *m = pow10_tab[p - 1];
        ++*q;
    }
}

/*
 * The p-digit text that reads back as a, if any: the correctly rounded
 * candidate or one of its two neighbours in the last place (next to a
 * power of two the rounding interval is lopsided, and a neighbour can
 * read back where the rounded value does not; Python's repr, i.e. David
 * Gay's shortest mode, finds those too).  Returns 1 with *best and *q.
 */
static int digits_at(unsigned long long m17, int q17, double a, int p,
                     unsigned long long *best, int *q)
{
    static const int delta[3] = {0, -1, 1};
    unsigned long long m;
    int i;

    round_to(m17, q17, a, p, &m, q);
    for (i = 0; i < 3; i++) {
        unsigned long long c = m + (unsigned long long)(long long)delta[i];

        if (c != 0 && reads_back(c, *q, a)) {
            *best = c;
            return 1;
        }
    }
    return 0;
}

/*
 * The shortest decimal that reads back as a (finite, > 0): digits (no
 * trailing zeros) and decpt, with a = 0.DIGITS * 10^decpt.  Some p-digit
 * text reads back exactly when the correctly rounded one or a neighbour
 * does (the texts that read back form an interval around a), and if p
 * digits do, p + 1 do too, so the shortest p is found by bisection over
 * 1..17 (17 always read back).  One printf gives the 17 digits that every
 * shorter rounding is derived from (round_to).
 */
static void shortest_digits(double a, char digits[24], int *decpt)
{
    unsigned long long m17, best, c;
    int q17, q, cq, lo = 1, hi = 17, nd;

    printf_digits(a, 17, &m17, &q17);
    best = m17;
    q = q17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;

        if (digits_at(m17, q17, a, mid, &c, &cq)) {
            hi = mid;
            best = c;
            q = cq;
        } else {
            lo = mid + 1;
        }
    }
    while (best % 10 == 0 && best > 0) {
        best /= 10;
        q++;
    }
    nd = snprintf(digits, 24, "%llu", best);
    *decpt = nd + q;
}

/*
 * A double as Python's repr(): the shortest digits that read back as the
 * same value, in fixed notation when the decimal point falls within
 * -3..16 digits of the start (always with a fractional part: 5.0), else
 * as d[.ddd]e+XX (1e-05, 1.5e+16).
 */
static void dump_real(struct tbuf *sb, double v)
{
    char digits[24], out[48];
    int nd, decpt, exp10, i, o = 0;

    if (!isfinite(v)) { /* JSON has no NaN or Infinity */
        tbuf_fail(sb);
        return;
    }
    if (signbit(v)) {
        out[o++] = '-';
        v = -v;
    }
    if (v == 0) {
        digits[0] = '0';
        digits[1] = '\0';
        decpt = 1;
    } else {
        shortest_digits(v, digits, &decpt);
    }
    nd = (int)strlen(digits);

    if (decpt > 16 || decpt < -3) {
        exp10 = decpt - 1;
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        o += snprintf(out + o, sizeof(out) - (size_t)o, "e%c%02d",
                      exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (decpt <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (i = 0; i < -decpt; i++)
            out[o++] = '0';
        for (i = 0; i < nd; i++)
            out[o++] = digits[i];
    } else if (decpt >= nd) {
        for (i = 0; i < nd; i++)
            out[o++] = digits[i];
        for (; i < decpt; i++)
            out[o++] = '0';
        out[o++] = '.';
        out[o++] = '0';
    } else {
        for (i = 0; i < nd; i++) {
            if (i == decpt)
                out[o++] = '.';
            out[o++] = digits[i];
        }
    }
    tbuf_add(sb, out, (size_t)o);
}

static void dump_value(struct tbuf *sb, const json_t *v, int depth);

/* The already serialised elements of the array at key. */
struct splice {
    const char *key;
    const struct nameko_raw *items;
    size_t n;
};

static void dump_object(struct tbuf *sb, const json_t *v, int depth,
                        const struct splice *sp)
{
    void *it;
    size_t i, j;

    tbuf_add(sb, "{", 1);
    /* jansson iterates objects in insertion order. */
    it = json_object_iter((json_t *)v);
    for (i = 0; it != NULL && !tbuf_failed(sb); i++) {
        const char *key = json_object_iter_key(it);

        if (i > 0)
            tbuf_add(sb, ", ", 2);
        dump_string(sb, key, json_object_iter_key_len(it));
        tbuf_add(sb, ": ", 2);
        if (sp != NULL && strcmp(key, sp->key) == 0) {
            tbuf_add(sb, "[", 1);
            for (j = 0; j < sp->n; j++) {
                if (j > 0)
                    tbuf_add(sb, ", ", 2);
                tbuf_add(sb, sp->items[j].json, sp->items[j].len);
            }
            tbuf_add(sb, "]", 1);
        } else {
            dump_value(sb, json_object_iter_value(it), depth + 1);
        }
        it = json_object_iter_next((json_t *)v, it);
    }
    tbuf_add(sb, "}", 1);
}

static void dump_value(struct tbuf *sb, const json_t *v, int depth)
{
    char num[32];
    size_t i;
    int n;

    if (tbuf_failed(sb))
        return;
    if (v == NULL || depth > DUMP_MAX_DEPTH) {
        tbuf_fail(sb);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        dump_object(sb, v, depth, NULL);
        break;
    case JSON_ARRAY:
        tbuf_add(sb, "[", 1);
        for (i = 0; i < json_array_size(v) && !tbuf_failed(sb); i++) {
            if (i > 0)
                tbuf_add(sb, ", ", 2);
            dump_value(sb, json_array_get(v, i), depth + 1);
        }
        tbuf_add(sb, "]", 1);
        break;
    case JSON_STRING:
        dump_string(sb, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        tbuf_add(sb, num, (size_t)n);
        break;
    case JSON_REAL:
        dump_real(sb, json_real_value(v));
        break;
    case JSON_TRUE:
        tbuf_add(sb, "true", 4);
        break;
    case JSON_FALSE:
        tbuf_add(sb, "false", 5);
        break;
    case JSON_NULL:
        tbuf_add(sb, "null", 4);
        break;
    default:
        tbuf_fail(sb);
        break;
    }
}

char *nameko_dumps(const json_t *value)
{
    struct tbuf sb;

    body_init(&sb);
    dump_value(&sb, value, 0);
    return body_finish(&sb);
}

char *nameko_call_encode(const json_t *kwargs)
{
    struct tbuf sb;

    if (!json_is_object(kwargs))
        return NULL;
    body_init(&sb);
    tbuf_puts(&sb, "{\"args\": [], \"kwargs\": ");
    dump_value(&sb, kwargs, 1);
    tbuf_puts(&sb, "}");
    return body_finish(&sb);
}

static char *encode_result(const json_t *result, const struct splice *sp)
{
    struct tbuf sb;

    if (result == NULL || (sp != NULL && !json_is_object(result)))
        return NULL;
    body_init(&sb);
    tbuf_puts(&sb, "{\"result\": ");
    if (sp != NULL)
        dump_object(&sb, result, 1, sp);
    else
        dump_value(&sb, result, 1);
    tbuf_puts(&sb, ", \"error\": null}");
    return body_finish(&sb);
}

char *nameko_reply_encode_result(const json_t *result)
{
    return encode_result(result, NULL);
}

char *nameko_reply_encode_result_spliced(const json_t *result,
                                         const char *array_key,
                                         const struct nameko_raw *items,
                                         size_t n, size_t *kept)
{
    struct splice sp = {array_key, items, n};
    char *s = encode_result(result, &sp);

    while (s == NULL && sp.n > 1) {
        sp.n /= 2;
        s = encode_result(result, &sp);
    }
    if (kept != NULL)
        *kept = sp.n;
    return s;
}

char *nameko_reply_encode_error(const char *exc_type, const char *exc_path,
                                const json_t *exc_args, const char *value)
{
    struct tbuf sb;

    if (exc_type == NULL || exc_path == NULL ||
        (exc_args != NULL && !json_is_array(exc_args)))
        return NULL;
    body_init(&sb);
    if (value == NULL)
        value = "";
    tbuf_puts(&sb, "{\"result\": null, \"error\": {\"exc_type\": ");
    dump_string(&sb, exc_type, strlen(exc_type));
    tbuf_puts(&sb, ", \"exc_path\": ");
    dump_string(&sb, exc_path, strlen(exc_path));
    tbuf_puts(&sb, ", \"exc_args\": ");
    if (exc_args != NULL)
        dump_value(&sb, exc_args, 2);
    else
        tbuf_puts(&sb, "[]");
    tbuf_puts(&sb, ", \"value\": ");
    dump_string(&sb, value, strlen(value));
    tbuf_puts(&sb, "}}");
    return body_finish(&sb);
}

/* --- decoders -------------------------------------------------------- */

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

/* A fixed description of a parse error: jansson's own text quotes the
 * input ("near '...'"), which must not travel back in a message. */
static const char *parse_problem(const json_error_t *je)
{
    switch (json_error_code(je)) {
    case json_error_out_of_memory:
        return "out of memory";
    case json_error_stack_overflow:
        return "nested too deeply";
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "truncated";
    case json_error_end_of_input_expected:
        return "garbage after the JSON value";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "NUL character";
    case json_error_duplicate_key:
        return "duplicate object key";
    case json_error_numeric_overflow:
        return "number out of range";
    case json_error_invalid_syntax:
    default:
        return "syntax error";
    }
}

/* Parses an envelope that must be a JSON object.  `what` is "call" or
 * "reply" in messages. */
static json_t *load_object(const void *body, size_t len, const char *what,
                           char *err, size_t errlen)
{
    json_error_t je;
    json_t *root;

    if (body == NULL || len == 0) {
        set_err(err, errlen, "%s body is empty", what);
        return NULL;
    }
    if (len > NAMEKO_MAX_BODY) {
        set_err(err, errlen, "%s body is larger than %d bytes", what,
                NAMEKO_MAX_BODY);
        return NULL;
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        set_err(err, errlen, "%s body is not valid JSON: %s (at byte %d)", what,
                parse_problem(&je), je.position);
        return NULL;
    }
    if (!json_is_object(root)) {
        set_err(err, errlen, "%s body is not a JSON object", what);
        json_decref(root);
        return NULL;
    }
    return root;
}

int nameko_call_decode(const void *body, size_t len, struct nameko_call *call,
                       char *err, size_t errlen)
{
    json_t *root, *args, *kwargs;
    int rc = TEMPO_EINVAL;

    root = load_object(body, len, "call", err, errlen);
    if (root == NULL)
        return TEMPO_EINVAL;
    args = json_object_get(root, "args");
    kwargs = json_object_get(root, "kwargs");
    if (args == NULL || kwargs == NULL) {
        set_err(err, errlen, "call body has no \"%s\"",
                args == NULL ? "args" : "kwargs");
        goto out;
    }
    if (!json_is_array(args)) {
        set_err(err, errlen, "call \"args\" is not an array");
        goto out;
    }
    if (!json_is_object(kwargs)) {
        set_err(err, errlen, "call \"kwargs\" is not an object");
        goto out;
    }
    call->args = json_incref(args);
    call->kwargs = json_incref(kwargs);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Copies at most cap-1 bytes of s, never cutting a UTF-8 sequence. */
static void copy_trunc(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
}

int nameko_reply_decode(const void *body, size_t len,
                        struct nameko_reply *reply, char *err, size_t errlen)
{
    json_t *root, *result, *error, *exc_type, *value;
    int rc = TEMPO_EINTERNAL;

    root = load_object(body, len, "reply", err, errlen);
    if (root == NULL)
        return TEMPO_EINTERNAL;
    result = json_object_get(root, "result");
    error = json_object_get(root, "error");
    if (result == NULL || error == NULL) {
        set_err(err, errlen, "reply body has no \"%s\"",
                result == NULL ? "result" : "error");
        goto out;
    }
    if (!json_is_null(error)) {
        /* Nameko's proxy looks at "error" first; so do we. */
        if (!json_is_object(error)) {
            set_err(err, errlen, "reply \"error\" is not an object");
            goto out;
        }
        exc_type = json_object_get(error, "exc_type");
        if (!json_is_string(exc_type) || json_string_length(exc_type) == 0) {
            set_err(err, errlen, "reply error has no \"exc_type\" string");
            goto out;
        }
        reply->result = NULL;
        copy_trunc(reply->exc_type, sizeof(reply->exc_type),
                   json_string_value(exc_type), json_string_length(exc_type));
        /* "value" is str(exc) in Nameko; tolerate its absence. */
        value = json_object_get(error, "value");
        if (json_is_string(value))
            copy_trunc(reply->value, sizeof(reply->value),
                       json_string_value(value), json_string_length(value));
        else
            reply->value[0] = '\0';
        rc = 0;
        goto out;
    }
    if (json_is_null(result)) {
        set_err(err, errlen, "reply has neither a result nor an error");
        goto out;
    }
    if (!json_is_object(result)) {
        set_err(err, errlen, "reply \"result\" is not an object");
        goto out;
    }
    reply->result = json_incref(result);
    reply->exc_type[0] = '\0';
    reply->value[0] = '\0';
    rc = 0;
out:
    json_decref(root);
    return rc;
}

void nameko_reply_clear(struct nameko_reply *reply)
{
    if (reply == NULL)
        return;
    json_decref(reply->result);
    reply->result = NULL;
    reply->exc_type[0] = '\0';
    reply->value[0] = '\0';
}

int nameko_reply_result_span(const void *body, size_t len, size_t *off,
                             size_t *span)
{
    const char *b = body;
    size_t r_off, r_len, e_off, e_len;

    if (b == NULL || len == 0 || len > NAMEKO_MAX_BODY ||
        json_scan_object2(b, len, "result", &r_off, &r_len, "error", &e_off,
                          &e_len) < 0)
        return -1;
    if (r_off == (size_t)-1 || e_off == (size_t)-1 || b[r_off] != '{' ||
        e_len != 4 || memcmp(b + e_off, "null", 4) != 0)
        return -1;
    *off = r_off;
    *span = r_len;
    return 0;
}
