/*
 * fuzz_http.c - libFuzzer target for the gateway's HTTP-level pure parts:
 * gateway/framing.h (request framing), common/netaddr.h (addresses, CIDR
 * lists, X-Forwarded-For entries) and gateway/clientip.h (which client a
 * request counts against), over what libmicrohttpd would hand over.
 *
 * Input format, lines separated by '\n':
 *   line 0   TRUSTED_PROXIES value (netaddr_list_parse)
 *   line 1   "<method> <version>" of the request
 *   line 2+  header lines "<name>:<value>", split at the first ':' with
 *            the bytes kept as they are (libmicrohttpd strips the white
 *            space after the colon; leaving it in exercises more)
 * Every name and value is copied into a buffer of exactly its length, so
 * a read past a length is an ASan report.  The peer address is 10.0.0.1,
 * or 2001:db8::1 when the first byte is odd.
 *
 * Checked beyond memory safety:
 *  - framing_check gives the same verdict twice, and a message exactly
 *    when it fails; when it passes, no name holds white space, no value a
 *    CR, LF or NUL, and there is not both Content-Length and
 *    Transfer-Encoding;
 *  - a parsed list has at most NETADDR_LIST_MAX blocks, each inside its
 *    family's prefix length and containing its own network address;
 *  - clientip_resolve gives the peer when the peer is not trusted, and
 *    otherwise the peer or an address written in some X-Forwarded-For.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clientip.h"
#include "errors.h"
#include "framing.h"
#include "fuzz_util.h"
#include "netaddr.h"

#define MAX_LINES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct line {
    const uint8_t *p;
    size_t len;
};

static size_t split(const uint8_t *data, size_t size, struct line *l)
{
    size_t n = 0, pos = 0;

    while (pos <= size && n < MAX_LINES) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
        l[n].p = data + pos;
        l[n].len = len;
        n++;
        pos += len + 1;
        if (nl == NULL)
            break;
    }
    return n;
}

static int holds(const char *s, size_t len, const char *set)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (memchr(set, s[i], strlen(set) + 1) != NULL)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct line l[MAX_LINES];
    struct framing_header h[MAX_LINES];
    char *names[MAX_LINES], *values[MAX_LINES];
    const char *xff[MAX_LINES];
    size_t xff_len[MAX_LINES], nxff = 0;
    size_t n, nh = 0, i;
    struct netaddr_list list;
    struct netaddr peer, out;
    char *trusted, *method = NULL, *version = NULL, err[128];
    const char *why1 = NULL, *why2 = NULL;
    int close1 = -1, close2 = -1, rc1, rc2, have_list, cl = 0, te = 0;

    n = split(data, size, l);
    trusted = fuzz_dup_cstr(l[0].p, l[0].len);
    have_list = netaddr_list_parse(trusted, &list, err, sizeof(err)) == 0;
    if (have_list) {
        FUZZ_CHECK(list.n <= NETADDR_LIST_MAX);
        for (i = 0; i < list.n; i++) {
            const struct netaddr_cidr *c = &list.cidr[i];
            FUZZ_CHECK(c->net.family == 4 || c->net.family == 6);
            FUZZ_CHECK(c->prefix <= (c->net.family == 4 ? 32u : 128u));
            FUZZ_CHECK(netaddr_list_contains(&list, &c->net));
        }
    } else {
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
        list.n = 0;
    }

    if (n > 1) {
        char *line = fuzz_dup_cstr(l[1].p, l[1].len);
        char *sp = strchr(line, ' ');
        if (sp != NULL) {
            *sp = '\0';
            version = strdup(sp + 1);
        }
        method = strdup(line);
        free(line);
    }
    for (i = 2; i < n; i++) {
        const uint8_t *colon = memchr(l[i].p, ':', l[i].len);
        size_t nl = colon ? (size_t)(colon - l[i].p) : l[i].len;
        size_t vl = colon ? l[i].len - nl - 1 : 0;
        names[nh] = fuzz_dup_exact(l[i].p, nl);
        values[nh] = fuzz_dup_exact(colon ? colon + 1 : l[i].p, vl);
        h[nh].name = names[nh];
        h[nh].name_len = nl;
        h[nh].value = values[nh];
        h[nh].value_len = vl;
        if (nl == 15 && strncasecmp(names[nh], "X-Forwarded-For", 15) == 0) {
            xff[nxff] = values[nh];
            xff_len[nxff++] = vl;
        }
        cl += nl == 14 && strncasecmp(names[nh], "Content-Length", 14) == 0;
        te += nl == 17 && strncasecmp(names[nh], "Transfer-Encoding", 17) == 0;
        nh++;
    }

    rc1 = framing_check(method, version, h, nh, &why1, &close1);
    rc2 = framing_check(method, version, h, nh, &why2, &close2);
    FUZZ_CHECK(rc1 == rc2 && why1 == why2 && close1 == close2);
    if (rc1 == 0) {
        FUZZ_CHECK(why1 == NULL && close1 == -1);
        FUZZ_CHECK(!(cl > 0 && te > 0));
        for (i = 0; i < nh; i++) {
            FUZZ_CHECK(h[i].name_len > 0);
            FUZZ_CHECK(!holds(h[i].name, h[i].name_len, " \t"));
            FUZZ_CHECK(!holds(h[i].value, h[i].value_len, "\r\n"));
        }
    } else {
        FUZZ_CHECK(rc1 == TEMPO_EBADREQ && why1 != NULL);
        FUZZ_CHECK(close1 == 0 || close1 == 1);
    }

    {
        const char *p = size > 0 && (data[0] & 1) ? "2001:db8::1" : "10.0.0.1";
        FUZZ_CHECK(netaddr_parse(p, strlen(p), &peer) == 0);
    }
    clientip_resolve(&list, &peer, xff, xff_len, nxff, &out);
    if (!netaddr_list_contains(&list, &peer)) {
        FUZZ_CHECK(netaddr_equal(&out, &peer));
    } else if (!netaddr_equal(&out, &peer)) {
        /* It must be written in one of the entries. */
        int found = 0;
        size_t k;
        for (k = 0; k < nxff && !found; k++) {
            size_t s = 0, e;
            for (e = 0; e <= xff_len[k] && !found; e++) {
                struct netaddr a;
                if (e < xff_len[k] && xff[k][e] != ',')
                    continue;
                if (netaddr_parse_forwarded(xff[k] + s, e - s, &a) == 0 &&
                    netaddr_equal(&a, &out))
                    found = 1;
                s = e + 1;
            }
        }
        FUZZ_CHECK(found);
    }

    for (i = 0; i < nh; i++) {
        free(names[i]);
        free(values[i]);
    }
    free(method);
    free(version);
    free(trusted);
    return 0;
}
