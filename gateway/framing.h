/*
 * framing.h - is a request's message framing sound?  Pure: a function over
 * the method, the version and the header list that libmicrohttpd parsed,
 * run once the headers are in and before any body is read.
 *
 * libmicrohttpd 0.9.75 frames bodies on its own and is lenient where RFC
 * 9112 says to refuse, so that a front proxy and tempo could disagree on
 * where a request ends (request smuggling).  What it does before our
 * handler sees anything, for each case handled here:
 *  - Transfer-Encoding wins over Content-Length, silently (then the body
 *    is read as chunked, and the connection kept alive);
 *  - only the first of several Content-Length lines is used;
 *  - a Transfer-Encoding other than exactly "chunked" makes the body's
 *    length unknown: it reads until the client closes (or times out);
 *  - Host is checked only in its strict mode, which answers in HTML;
 *  - a field name with white space ("Transfer-Encoding : chunked") is kept
 *    as a different name, so a proxy that trims it sees chunked framing
 *    and libmicrohttpd does not;
 *  - a bare CR inside a line is kept in the value.
 * It does refuse, itself and in HTML, a request line or header line it
 * cannot parse, a Content-Length that is not a number (400) or overflows
 * (413), and HTTP versions other than 1.x (505); see README "Errors".
 */
#ifndef TEMPO_FRAMING_H
#define TEMPO_FRAMING_H

#include <stddef.h>

/* One header line as libmicrohttpd stored it (not NUL-terminated here). */
struct framing_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* The longest request target (path and query, as sent) answered with
 * anything but 414. */
#define FRAMING_MAX_URI 4096

/*
 * Checks, in this order, and returns TEMPO_EBADREQ at the first failure
 * with *why a static client-safe message, *must_close set when the rest
 * of the connection cannot be trusted (RFC 9112 section 6.3: answer 400,
 * then close):
 *  close: a field name that is not an RFC 9110 token; a field value with
 *    a control character other than HTAB (CR, LF, NUL, ...);
 *    Transfer-Encoding in an HTTP/1.0 request; Transfer-Encoding together
 *    with Content-Length; more than one Transfer-Encoding line or one
 *    other than "chunked"; a Content-Length that is not digits, or two
 *    that differ; a GET or HEAD request with a body (Transfer-Encoding,
 *    or Content-Length above 0: tempo reads no request bodies);
 *  keep-alive: an HTTP/1.1 request without Host, or with more than one,
 *    or one that is not a host[:port].
 * Returns 0 when the framing is sound (*why and *must_close untouched).
 * version is libmicrohttpd's ("HTTP/1.0", "HTTP/1.1"; any other 1.x is
 * treated as 1.1).
 */
int framing_check(const char *method, const char *version,
                  const struct framing_header *h, size_t n, const char **why,
                  int *must_close);

/*
 * The size check of a request that libmicrohttpd managed to store:
 * uri_len is the request target's length as sent, header_size that of the
 * request line and header block.  Returns 0, TEMPO_EURILONG when uri_len
 * > FRAMING_MAX_URI, else TEMPO_EHDRLARGE when header_size > max_header.
 */
int framing_size_check(size_t uri_len, size_t header_size, size_t max_header);

#endif
