/*
 * amqp_url.c - see amqp_url.h.
 *
 * Design: one scanner, parse_one(), finds the parts of a URL by position
 * (scheme, user-info up to the last '@' of the authority, host, port,
 * path), checks each part's characters, then decodes.  It also reports
 * where the raw password lies, which is all that masking needs: the mask
 * is built only from lists that parse, so it can never be fooled into
 * printing half a password by a URL that was split in the wrong place.
 * rabbitmq-c's own amqp_parse_url is not used: it writes into its input,
 * gives a missing host the default "localhost", and says nothing about
 * what was wrong.
 */
#include "amqp_url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* The raw (undecoded) span of the password inside one entry, from the
 * entry's first byte (before white space is trimmed). */
struct span {
    size_t off, len;
};

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_val(int c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

static int is_unreserved(int c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* RFC 3986 sub-delims without ',', which separates list entries. */
static int is_subdelim(int c)
{
    return c != '\0' && strchr("!$&'()*+;=", c) != NULL;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t';
}

/*
 * Percent-decodes s[0..len) into out (cap bytes with the NUL), allowing raw
 * unreserved and sub-delims characters, plus those in `extra`.  Returns 0,
 * or -1 with why set.
 */
static int decode(const char *s, size_t len, const char *extra, char *out,
                  size_t cap, const char **why)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 1 >= cap) {
            *why = "too long";
            return -1;
        }
        if (c == '%') {
            int v;
            if (i + 2 >= len || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
                *why = "has a malformed %-escape";
                return -1;
            }
            v = hex_val(s[i + 1]) * 16 + hex_val(s[i + 2]);
            if (v == 0) {
                *why = "holds %00";
                return -1;
            }
            out[o++] = (char)v;
            i += 2;
            continue;
        }
        if (!is_unreserved(c) && !is_subdelim(c) &&
            !(c != '\0' && extra != NULL && strchr(extra, c) != NULL)) {
            *why = "holds a character that must be %-encoded";
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int check_port(const char *s, size_t len, int *port)
{
    size_t i;
    long v = 0;

    if (len == 0 || len > 5)
        return -1;
    for (i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int check_host(const char *s, size_t len, int bracketed, char *out,
                      int *is_ip)
{
    unsigned char addr[16];
    size_t i;

    if (len == 0 || len > AMQP_URL_HOST_MAX)
        return -1;
    if (bracketed) {
        if (len > 45)
            return -1;
        for (i = 0; i < len; i++)
            if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
                return -1;
        memcpy(out, s, len);
        out[len] = '\0';
        if (inet_pton(AF_INET6, out, addr) != 1)
            return -1;
        *is_ip = 1;
        return 0;
    }
    for (i = 0; i < len; i++)
        if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-' && s[i] != '.' &&
            s[i] != '_')
            return -1;
    memcpy(out, s, len);
    out[len] = '\0';
    *is_ip = inet_pton(AF_INET, out, addr) == 1;
    return 0;
}

static int ci_prefix(const char *s, size_t len, const char *p)
{
    size_t i, n = strlen(p);

    if (len < n)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != p[i])
            return 0;
    }
    return 1;
}

#define FAIL(msg)                                                              \
    do {                                                                       \
        why = (msg);                                                           \
        goto fail;                                                             \
    } while (0)

static int parse_one(const char *s, size_t len, struct amqp_url *out,
                     struct span *pw, char *err, size_t errlen)
{
    /* Scratch copy, so *out is written only on success. */
    struct amqp_url u;
    const char *orig, *p, *end = s + len, *auth, *auth_end, *at = NULL, *q;
    const char *hp, *hend, *colon = NULL, *why = NULL, *dwhy = NULL;
    int bracketed = 0;

    memset(&u, 0, sizeof(u));
    pw->off = pw->len = 0;
    orig = s;
    while (s < end && is_space(*s))
        s++;
    while (end > s && is_space(end[-1]))
        end--;
    len = (size_t)(end - s);
    if (len == 0)
        FAIL("is empty");
    if (memchr(s, '\0', len) != NULL)
        FAIL("holds a NUL byte");
    if (ci_prefix(s, len, "amqps://")) {
        u.tls = 1;
        p = s + 8;
    } else if (ci_prefix(s, len, "amqp://")) {
        p = s + 7;
    } else if (memchr(s, '@', len) != NULL &&
               (len < 3 || memmem(s, len, "://", 3) == NULL)) {
        FAIL("is not an amqp:// or amqps:// URL (a ',' in a password must "
             "be written %2C)");
    } else {
        FAIL("is not an amqp:// or amqps:// URL");
    }
    u.port = u.tls ? 5671 : 5672;

    /* The authority ends at the first '/', '?' or '#'. */
    auth = p;
    for (auth_end = auth; auth_end < end; auth_end++)
        if (*auth_end == '/' || *auth_end == '?' || *auth_end == '#')
            break;
    for (q = auth; q < auth_end; q++)
        if (*q == '@')
            at = q;

    if (at != NULL) {
        const char *uc = memchr(auth, ':', (size_t)(at - auth));
        const char *uend = uc != NULL ? uc : at;
        if (memchr(auth, '@', (size_t)(at - auth)) != NULL)
            FAIL("has a raw '@' in the user or password (write %40)");
        if (decode(auth, (size_t)(uend - auth), NULL, u.user, sizeof(u.user),
                   &dwhy) < 0)
            goto user_fail;
        if (uc != NULL) {
            pw->off = (size_t)(uc + 1 - orig);
            pw->len = (size_t)(at - uc - 1);
            if (decode(uc + 1, pw->len, ":", u.password, sizeof(u.password),
                       &dwhy) < 0)
                goto pass_fail;
        } else {
            snprintf(u.password, sizeof(u.password), "guest");
        }
        hp = at + 1;
    } else {
        snprintf(u.user, sizeof(u.user), "guest");
        snprintf(u.password, sizeof(u.password), "guest");
        hp = auth;
    }

    /* host [":" port] */
    if (hp < auth_end && *hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(auth_end - hp));
        if (rb == NULL)
            FAIL("has an IPv6 address without its closing ']'");
        bracketed = 1;
        hend = rb;
        hp++;
        if (rb + 1 < auth_end) {
            if (rb[1] != ':')
                FAIL("has junk after the IPv6 address");
            colon = rb + 1;
        }
    } else {
        colon = memchr(hp, ':', (size_t)(auth_end - hp));
        hend = colon != NULL ? colon : auth_end;
    }
    if (hend == hp)
        FAIL("has no host");
    if (check_host(hp, (size_t)(hend - hp), bracketed, u.host, &u.host_is_ip) <
        0)
        FAIL(bracketed ? "has an invalid IPv6 address"
                       : "has an invalid host name");
    if (colon != NULL &&
        check_port(colon + 1, (size_t)(auth_end - colon - 1), &u.port) < 0)
        FAIL("has a port that is not 1..65535");

    /* [ "/" vhost ] */
    if (auth_end < end && *auth_end != '/')
        FAIL("has a query or fragment, which is not supported");
    if (auth_end >= end || auth_end + 1 == end) {
        snprintf(u.vhost, sizeof(u.vhost), "/");
    } else {
        const char *v = auth_end + 1;
        size_t vlen = (size_t)(end - v);
        if (memchr(v, '?', vlen) != NULL || memchr(v, '#', vlen) != NULL)
            FAIL("has a query or fragment, which is not supported");
        if (memchr(v, '/', vlen) != NULL)
            FAIL("has a '/' in the vhost (write %2F)");
        if (decode(v, vlen, ":@", u.vhost, sizeof(u.vhost), &dwhy) < 0)
            goto vhost_fail;
    }
    *out = u;
    return 0;

user_fail:
    snprintf(err, errlen, "user name %s", dwhy);
    return -1;
pass_fail:
    snprintf(err, errlen, "password %s", dwhy);
    return -1;
vhost_fail:
    snprintf(err, errlen, "vhost %s", dwhy);
    return -1;
fail:
    snprintf(err, errlen, "%s", why);
    return -1;
}

int amqp_url_parse(const char *s, size_t len, struct amqp_url *out, char *err,
                   size_t errlen)
{
    struct span pw;

    return parse_one(s, len, out, &pw, err, errlen);
}

unsigned amqp_url_list_count(const char *list)
{
    unsigned n = 1;

    for (; *list != '\0'; list++)
        if (*list == ',')
            n++;
    return n;
}

/* The raw bytes of entry idx: [*start, *start + *len). */
static int entry_span(const char *list, unsigned idx, const char **start,
                      size_t *len)
{
    const char *p = list, *e;
    unsigned i;

    for (i = 0; i < idx; i++) {
        p = strchr(p, ',');
        if (p == NULL)
            return -1;
        p++;
    }
    e = strchr(p, ',');
    *start = p;
    *len = e != NULL ? (size_t)(e - p) : strlen(p);
    return 0;
}

int amqp_url_list_get(const char *list, unsigned idx, struct amqp_url *out,
                      char *err, size_t errlen)
{
    const char *s = "";
    size_t len = 0;
    struct span pw;
    char why[160];

    if (entry_span(list, idx, &s, &len) < 0) {
        snprintf(err, errlen, "entry %u does not exist", idx + 1);
        return -1;
    }
    if (parse_one(s, len, out, &pw, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "entry %u %.140s", idx + 1, why);
        return -1;
    }
    return 0;
}

int amqp_url_list_check(const char *list, char *err, size_t errlen)
{
    unsigned n = amqp_url_list_count(list), i;
    struct amqp_url u;

    if (n > AMQP_URL_MAX_ENTRIES) {
        snprintf(err, errlen, "more than %d URLs", AMQP_URL_MAX_ENTRIES);
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned j;
        if (amqp_url_list_get(list, i, &u, err, errlen) == 0)
            continue;
        /* "amqp://u:pa,ss@h": the usual cause of a later entry without a
         * scheme is a raw comma in a password. */
        for (j = i + 1; j < n && strstr(err, "%2C") == NULL; j++) {
            const char *s = "";
            size_t len = 0, used = strlen(err);
            if (entry_span(list, j, &s, &len) < 0)
                break;
            while (len > 0 && is_space(*s)) {
                s++;
                len--;
            }
            if (len > 0 && !ci_prefix(s, len, "amqp://") &&
                !ci_prefix(s, len, "amqps://") && used < errlen) {
                snprintf(err + used, errlen - used,
                         " (a ',' inside a password must be written %%2C)");
                break;
            }
        }
        return -1;
    }
    return 0;
}

int amqp_url_list_has_tls(const char *list)
{
    unsigned n = amqp_url_list_count(list), i;
    struct amqp_url u;
    char err[160];

    for (i = 0; i < n && i < AMQP_URL_MAX_ENTRIES; i++)
        if (amqp_url_list_get(list, i, &u, err, sizeof(err)) == 0 && u.tls)
            return 1;
    return 0;
}

int amqp_url_list_mask(const char *list, char *out, size_t cap)
{
    static const char placeholder[] = "(invalid; not shown)";
    unsigned n = amqp_url_list_count(list), i;
    size_t o = 0;
    char why[160];

    if (cap == 0)
        return -1;
    if (n > AMQP_URL_MAX_ENTRIES)
        goto invalid;
    for (i = 0; i < n; i++) {
        struct amqp_url u;
        struct span pw;
        const char *s;
        size_t len, keep;
        if (entry_span(list, i, &s, &len) < 0 ||
            parse_one(s, len, &u, &pw, why, sizeof(why)) < 0)
            goto invalid;
        /* Copy the entry with the raw password span replaced by "*". */
        keep = pw.len > 0 ? pw.off : len;
        if (o + keep + (i + 1 < n) + 2 >= cap)
            goto invalid;
        memcpy(out + o, s, keep);
        o += keep;
        if (pw.len > 0) {
            size_t rest = len - pw.off - pw.len;
            if (o + 1 + rest + 2 >= cap)
                goto invalid;
            out[o++] = '*';
            memcpy(out + o, s + pw.off + pw.len, rest);
            o += rest;
        }
        if (i + 1 < n)
            out[o++] = ',';
    }
    out[o] = '\0';
    return 0;
invalid:
    snprintf(out, cap, "%s", placeholder);
    return -1;
}

unsigned amqp_url_cursor_next(struct amqp_url_cursor *c, unsigned n,
                              uint32_t rnd)
{
    unsigned idx;

    if (n == 0)
        return 0;
    if (!c->started) {
        c->started = 1;
        c->next = rnd % n;
    }
    idx = c->next % n;
    c->next = (idx + 1) % n;
    return idx;
}
