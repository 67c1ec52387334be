/*
 * netaddr.c - see netaddr.h.  Text is copied into a small NUL-terminated
 * buffer and handed to inet_pton(3), which accepts exactly the dotted quad
 * (no octal or hex parts, no fewer than four parts) and the RFC 4291 IPv6
 * forms; everything around it (brackets, ports, lists, prefixes) is parsed
 * here with explicit lengths.
 */
#include "netaddr.h"

#include "errors.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

/* Stores a 16-byte IPv6 address, unmapping ::ffff:a.b.c.d. */
static void store_v6(struct netaddr *out, const uint8_t b[16])
{
    memset(out, 0, sizeof(*out));
    if (memcmp(b, v4mapped, sizeof(v4mapped)) == 0) {
        out->family = 4;
        memcpy(out->bytes, b + 12, 4);
    } else {
        out->family = 6;
        memcpy(out->bytes, b, 16);
    }
}

int netaddr_parse(const char *s, size_t len, struct netaddr *out)
{
    char buf[NETADDR_STRLEN];
    uint8_t b[16];

    if (s == NULL || len == 0 || len >= sizeof(buf) ||
        memchr(s, '\0', len) != NULL)
        return TEMPO_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, b) == 1) {
        memset(out, 0, sizeof(*out));
        out->family = 4;
        memcpy(out->bytes, b, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, b) == 1) {
        store_v6(out, b);
        return 0;
    }
    return TEMPO_EINVAL;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Is s[0..len) a decimal port, 1..5 digits? */
static int is_port(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 5)
        return 0;
    for (i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int netaddr_parse_forwarded(const char *s, size_t len, struct netaddr *out)
{
    const char *colon;

    if (s == NULL)
        return TEMPO_EINVAL;
    while (len > 0 && is_ows(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_ows(s[len - 1]))
        len--;
    if (len == 0)
        return TEMPO_EINVAL;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        size_t inner, rest;
        struct netaddr a;
        if (close == NULL)
            return TEMPO_EINVAL;
        inner = (size_t)(close - s) - 1;
        rest = len - inner - 2;
        if (rest != 0 && !(close[1] == ':' && is_port(close + 2, rest - 1)))
            return TEMPO_EINVAL;
        /* Brackets hold an IPv6 address only. */
        if (netaddr_parse(s + 1, inner, &a) < 0 ||
            memchr(s + 1, ':', inner) == NULL)
            return TEMPO_EINVAL;
        *out = a;
        return 0;
    }
    /* "a.b.c.d:port": exactly one colon, after a dotted quad. */
    colon = memchr(s, ':', len);
    if (colon != NULL &&
        memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) == NULL) {
        struct netaddr a;
        size_t alen = (size_t)(colon - s);
        if (!is_port(colon + 1, len - alen - 1) ||
            netaddr_parse(s, alen, &a) < 0 || a.family != 4)
            return TEMPO_EINVAL;
        *out = a;
        return 0;
    }
    return netaddr_parse(s, len, out);
}

int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
    if (sa == NULL)
        return TEMPO_EINVAL;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in =
            (const struct sockaddr_in *)(const void *)sa;
        memset(out, 0, sizeof(*out));
        out->family = 4;
        memcpy(out->bytes, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 =
            (const struct sockaddr_in6 *)(const void *)sa;
        store_v6(out, in6->sin6_addr.s6_addr);
        return 0;
    }
    return TEMPO_EINVAL;
}

void netaddr_format(const struct netaddr *a, char *buf, size_t cap)
{
    const char *r = NULL;

    if (cap == 0)
        return;
    if (a != NULL && a->family == 4)
        r = inet_ntop(AF_INET, a->bytes, buf, (socklen_t)cap);
    else if (a != NULL && a->family == 6)
        r = inet_ntop(AF_INET6, a->bytes, buf, (socklen_t)cap);
    if (r == NULL)
        snprintf(buf, cap, "?");
}

int netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
    return a->family == b->family &&
           memcmp(a->bytes, b->bytes, a->family == 4 ? 4 : 16) == 0;
}

/* Clears the bits of a below prefix. */
static void mask_to(struct netaddr *a, unsigned prefix)
{
    unsigned bits = a->family == 4 ? 32 : 128, i;

    for (i = prefix; i < bits; i++)
        a->bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

/* Parses one "addr" or "addr/prefix" entry of len bytes (trimmed). */
static int parse_cidr(const char *s, size_t len, struct netaddr_cidr *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    struct netaddr a;
    unsigned max, prefix;
    size_t i;

    if (netaddr_parse(s, alen, &a) < 0)
        return TEMPO_EINVAL;
    /* The prefix counts the bits of the address as written. */
    max = memchr(s, ':', alen) != NULL ? 128 : 32;
    prefix = max;
    if (slash != NULL) {
        size_t plen = len - alen - 1;
        if (plen == 0 || plen > 3)
            return TEMPO_EINVAL;
        prefix = 0;
        for (i = 0; i < plen; i++) {
            if (slash[1 + i] < '0' || slash[1 + i] > '9')
                return TEMPO_EINVAL;
            prefix = prefix * 10 + (unsigned)(slash[1 + i] - '0');
        }
        if (prefix > max)
            return TEMPO_EINVAL;
    }
    /* "::ffff:10.0.0.0/104" was unmapped to IPv4: shift the prefix. */
    if (a.family == 4 && memchr(s, ':', alen) != NULL) {
        if (slash != NULL && prefix < 96)
            return TEMPO_EINVAL;
        prefix = slash != NULL ? prefix - 96 : 32;
    }
    mask_to(&a, prefix);
    out->net = a;
    out->prefix = prefix;
    return 0;
}

int netaddr_list_parse(const char *s, struct netaddr_list *out, char *err,
                       size_t errlen)
{
    struct netaddr_list l;
    const char *p = s;
    char msg[96];

    memset(&l, 0, sizeof(l));
    if (s == NULL)
        s = p = "";
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0') {
        *out = l;
        return 0;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len;
        if (end == NULL)
            end = p + strlen(p);
        while (p < end && is_ows(*p))
            p++;
        len = (size_t)(end - p);
        while (len > 0 && is_ows(p[len - 1]))
            len--;
        if (l.n == NETADDR_LIST_MAX) {
            snprintf(msg, sizeof(msg), "more than %d entries",
                     NETADDR_LIST_MAX);
            set_err(err, errlen, msg);
            return TEMPO_EINVAL;
        }
        if (len == 0 || parse_cidr(p, len, &l.cidr[l.n]) < 0) {
            snprintf(msg, sizeof(msg),
                     "entry %zu is not an IP address or CIDR block "
                     "(like 10.0.0.0/8 or fd00::/8)",
                     l.n + 1);
            set_err(err, errlen, msg);
            return TEMPO_EINVAL;
        }
        l.n++;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    *out = l;
    return 0;
}

int netaddr_list_contains(const struct netaddr_list *l, const struct netaddr *a)
{
    size_t i;

    for (i = 0; l != NULL && i < l->n; i++) {
        struct netaddr m = *a;
        if (l->cidr[i].net.family != a->family)
            continue;
        mask_to(&m, l->cidr[i].prefix);
        if (netaddr_equal(&m, &l->cidr[i].net))
            return 1;
    }
    return 0;
}
