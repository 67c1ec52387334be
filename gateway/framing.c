/*
 * framing.c - see framing.h.  One pass over the headers counts and
 * remembers the framing fields; the rules are then applied in the
 * documented order.
 */
#include "framing.h"

#include "errors.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 section 5.6.2: tchar (c != NUL). */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(const char *s, size_t len)
{
    size_t i;

    if (len == 0)
        return 0;
    for (i = 0; i < len; i++)
        if (s[i] == '\0' || !is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

/* No control characters but HTAB (obs-text, 0x80.., is allowed). */
static int is_field_value(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int name_is(const struct framing_header *h, const char *name)
{
    return h->name_len == strlen(name) &&
           strncasecmp(h->name, name, h->name_len) == 0;
}

/* 1*DIGIT, compared by value: leading zeros skipped (*sig, *siglen). */
static int parse_length(const char *s, size_t len, const char **sig,
                        size_t *siglen)
{
    size_t i;

    if (len == 0)
        return -1;
    for (i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    for (i = 0; i + 1 < len && s[i] == '0'; i++)
        ;
    *sig = s + i;
    *siglen = len - i;
    return 0;
}

/* host[:port]: reg-name, IPv4 or [IP-literal] characters, possibly empty
 * (RFC 9112 section 3.2 allows an empty Host). */
static int is_host(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0' ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("-._~%!$&'()*+,;=:[]", c)))
            return 0;
    }
    return 1;
}

int framing_check(const char *method, const char *version,
                  const struct framing_header *h, size_t n, const char **why,
                  int *must_close)
{
    const struct framing_header *te = NULL, *host = NULL;
    const char *cl = NULL;
    size_t cl_len = 0, n_te = 0, n_cl = 0, n_host = 0, i;
    int http10 = version != NULL && strcmp(version, "HTTP/1.0") == 0;
    int get = method != NULL &&
              (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
    const char *msg = NULL;
    int close = 1;

    for (i = 0; i < n && msg == NULL; i++) {
        const char *sig;
        size_t siglen;

        if (!is_token(h[i].name, h[i].name_len))
            msg = "malformed header field name";
        else if (!is_field_value(h[i].value, h[i].value_len))
            msg = "control character in a header field value";
        else if (name_is(&h[i], "Transfer-Encoding")) {
            n_te++;
            te = &h[i];
        } else if (name_is(&h[i], "Content-Length")) {
            if (parse_length(h[i].value, h[i].value_len, &sig, &siglen) < 0)
                msg = "malformed Content-Length";
            else if (n_cl++ > 0 &&
                     (siglen != cl_len || memcmp(sig, cl, siglen) != 0))
                msg = "conflicting Content-Length headers";
            cl = sig;
            cl_len = siglen;
        } else if (name_is(&h[i], "Host")) {
            n_host++;
            host = &h[i];
        }
    }
    if (msg != NULL)
        goto bad;
    if (n_te > 0 && http10)
        msg = "Transfer-Encoding in an HTTP/1.0 request";
    else if (n_te > 0 && n_cl > 0)
        msg = "both Content-Length and Transfer-Encoding";
    else if (n_te > 1 ||
             (te != NULL && !(te->value_len == 7 &&
                              strncasecmp(te->value, "chunked", 7) == 0)))
        msg = "unsupported Transfer-Encoding";
    else if (get && (n_te > 0 || (n_cl > 0 && !(cl_len == 1 && cl[0] == '0'))))
        msg = "a GET or HEAD request must not have a body";
    if (msg != NULL)
        goto bad;
    close = 0;
    if (!http10 && n_host == 0)
        msg = "missing Host header";
    else if (n_host > 1)
        msg = "more than one Host header";
    else if (host != NULL && !is_host(host->value, host->value_len))
        msg = "malformed Host header";
    if (msg == NULL)
        return 0;
bad:
    *why = msg;
    *must_close = close;
    return TEMPO_EBADREQ;
}

int framing_size_check(size_t uri_len, size_t header_size, size_t max_header)
{
    if (uri_len > FRAMING_MAX_URI)
        return TEMPO_EURILONG;
    if (header_size > max_header)
        return TEMPO_EHDRLARGE;
    return 0;
}
