/*
 * test_framing.c - request framing (gateway/framing.h) against RFC 9112
 * section 6.3 and the smuggling forms of issue 12 item 3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "errors.h"
#include "framing.h"

#include <string.h>

#define MAXH 8

/* Checks a request given as "Name: value" strings (NULL-terminated,
 * split at the first ':' with the one space after it dropped). Returns
 * 0, 1 (400, keep-alive) or 2 (400, close). */
static int check(const char *method, const char *version,
                 const char *const *lines, const char **why)
{
    struct framing_header h[MAXH];
    const char *w = NULL;
    size_t n = 0;
    int close = -1, rc;

    for (; lines != NULL && lines[n] != NULL; n++) {
        const char *colon = strchr(lines[n], ':');
        assert_non_null(colon);
        h[n].name = lines[n];
        h[n].name_len = (size_t)(colon - lines[n]);
        h[n].value = colon[1] == ' ' ? colon + 2 : colon + 1;
        h[n].value_len = strlen(h[n].value);
    }
    rc = framing_check(method, version, h, n, &w, &close);
    if (why != NULL)
        *why = w;
    if (rc == 0) {
        assert_int_equal(close, -1);
        return 0;
    }
    assert_int_equal(rc, TEMPO_EBADREQ);
    assert_non_null(w);
    return close ? 2 : 1;
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_sound_requests(void **state)
{
    (void)state;
    assert_int_equal(check("GET", "HTTP/1.1", L("Host: localhost:5000"), NULL),
                     0);
    assert_int_equal(check("GET", "HTTP/1.1",
                           L("Host: x", "Accept: */*", "User-Agent: curl/7.88",
                             "X-Request-Id: abc", "Content-Length: 0"),
                           NULL),
                     0);
    /* HTTP/1.0 needs no Host. */
    assert_int_equal(check("GET", "HTTP/1.0", NULL, NULL), 0);
    /* Empty Host is allowed (RFC 9112 section 3.2), and IPv6 literals. */
    assert_int_equal(check("GET", "HTTP/1.1", L("Host: "), NULL), 0);
    assert_int_equal(check("GET", "HTTP/1.1", L("Host: [::1]:5000"), NULL), 0);
    /* Bodies are framed soundly for other methods (answered 405). */
    assert_int_equal(check("POST", "HTTP/1.1",
                           L("Host: x", "Transfer-Encoding: chunked"), NULL),
                     0);
    assert_int_equal(
        check("POST", "HTTP/1.1",
              L("Host: x", "Content-Length: 5", "Content-Length: 005"), NULL),
        0);
    assert_int_equal(check("PUT", "HTTP/1.1",
                           L("Host: x", "transfer-encoding: CHUNKED"), NULL),
                     0);
    /* Non-ASCII and tabs in values are field content. */
    assert_int_equal(
        check("GET", "HTTP/1.1", L("Host: x", "X-A: caf\xc3\xa9\tbar"), NULL),
        0);
}

static void test_smuggling_closes(void **state)
{
    const char *why;

    (void)state;
    /* CL + TE (either order, any case). */
    assert_int_equal(
        check("POST", "HTTP/1.1",
              L("Host: x", "Content-Length: 5", "Transfer-Encoding: chunked"),
              &why),
        2);
    assert_string_equal(why, "both Content-Length and Transfer-Encoding");
    assert_int_equal(
        check("GET", "HTTP/1.1",
              L("Host: x", "transfer-encoding: chunked", "content-length: 0"),
              NULL),
        2);
    /* Two different Content-Lengths. */
    assert_int_equal(
        check("POST", "HTTP/1.1",
              L("Host: x", "Content-Length: 0", "Content-Length: 5"), &why),
        2);
    assert_string_equal(why, "conflicting Content-Length headers");
    assert_int_equal(
        check("POST", "HTTP/1.1",
              L("Host: x", "Content-Length: 5", "Content-Length: 5, 5"), NULL),
        2);
    assert_int_equal(
        check("POST", "HTTP/1.1", L("Host: x", "Content-Length: +5"), NULL), 2);
    assert_int_equal(
        check("POST", "HTTP/1.1", L("Host: x", "Content-Length: "), NULL), 2);
    /* Unknown or stacked codings. */
    assert_int_equal(check("POST", "HTTP/1.1",
                           L("Host: x", "Transfer-Encoding: xchunked"), &why),
                     2);
    assert_string_equal(why, "unsupported Transfer-Encoding");
    assert_int_equal(check("POST", "HTTP/1.1",
                           L("Host: x", "Transfer-Encoding: gzip, chunked"),
                           NULL),
                     2);
    assert_int_equal(check("POST", "HTTP/1.1",
                           L("Host: x", "Transfer-Encoding: chunked ", "X: y"),
                           NULL),
                     2);
    assert_int_equal(check("POST", "HTTP/1.1",
                           L("Host: x", "Transfer-Encoding: chunked",
                             "Transfer-Encoding: chunked"),
                           NULL),
                     2);
    assert_int_equal(
        check("POST", "HTTP/1.1", L("Host: x", "Transfer-Encoding: "), NULL),
        2);
    /* HTTP/1.0 with Transfer-Encoding (RFC 9112 section 6.1). */
    assert_int_equal(
        check("POST", "HTTP/1.0", L("Transfer-Encoding: chunked"), &why), 2);
    assert_string_equal(why, "Transfer-Encoding in an HTTP/1.0 request");
    /* White space before the colon: a different name to libmicrohttpd,
     * Transfer-Encoding to a proxy that trims it. */
    assert_int_equal(check("GET", "HTTP/1.1",
                           L("Host: x", "Transfer-Encoding : chunked"), &why),
                     2);
    assert_string_equal(why, "malformed header field name");
    assert_int_equal(check("GET", "HTTP/1.1", L("Host: x", "X\tY: 1"), NULL),
                     2);
    assert_int_equal(check("GET", "HTTP/1.1", L("Host: x", ": empty"), NULL),
                     2);
    assert_int_equal(check("GET", "HTTP/1.1", L("Host: x", "X(y): 1"), NULL),
                     2);
    /* A bare CR (a line end to some parsers) or other controls. */
    assert_int_equal(check("GET", "HTTP/1.1",
                           L("Host: x", "X-A: 1\rTransfer-Encoding: x"), &why),
                     2);
    assert_string_equal(why, "control character in a header field value");
    assert_int_equal(
        check("GET", "HTTP/1.1", L("Host: x", "X-A: \x1b[2J"), NULL), 2);
}

static void test_get_with_body(void **state)
{
    const char *why;

    (void)state;
    assert_int_equal(
        check("GET", "HTTP/1.1", L("Host: x", "Content-Length: 12"), &why), 2);
    assert_string_equal(why, "a GET or HEAD request must not have a body");
    assert_int_equal(check("HEAD", "HTTP/1.1",
                           L("Host: x", "Transfer-Encoding: chunked"), NULL),
                     2);
    assert_int_equal(
        check("GET", "HTTP/1.1", L("Host: x", "Content-Length: 000"), NULL), 0);
}

static void test_host(void **state)
{
    const char *why;

    (void)state;
    assert_int_equal(check("GET", "HTTP/1.1", L("Accept: */*"), &why), 1);
    assert_string_equal(why, "missing Host header");
    /* Any 1.x above 1.0 is 1.1 to libmicrohttpd. */
    assert_int_equal(check("GET", "HTTP/1.2", NULL, NULL), 1);
    assert_int_equal(check("GET", "HTTP/1.1", L("Host: a", "host: b"), &why),
                     1);
    assert_string_equal(why, "more than one Host header");
    assert_int_equal(check("GET", "HTTP/1.1", L("Host: a b"), NULL), 1);
    assert_int_equal(check("GET", "HTTP/1.1", L("Host: a/b"), NULL), 1);
    assert_int_equal(check("GET", "HTTP/1.0", L("Host: a", "Host: b"), NULL),
                     1);
}

static void test_explicit_lengths(void **state)
{
    /* Names and values are not NUL-terminated: lengths rule. */
    struct framing_header h[2] = {{"Hostile", 4, "x", 1},
                                  {"Content-Lengthy", 14, "0junk", 1}};
    struct framing_header nul[2] = {{"Host", 4, "x", 1}, {"X-A", 3, "a\0b", 3}};
    const char *why = NULL;
    int close = 0;

    (void)state;
    assert_int_equal(framing_check("GET", "HTTP/1.1", h, 2, &why, &close), 0);
    assert_int_equal(framing_check("GET", "HTTP/1.1", nul, 2, &why, &close),
                     TEMPO_EBADREQ);
    assert_int_equal(close, 1);
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(framing_size_check(100, 500, 6144), 0);
    assert_int_equal(framing_size_check(FRAMING_MAX_URI, 6144, 6144), 0);
    assert_int_equal(framing_size_check(FRAMING_MAX_URI + 1, 5000, 6144),
                     TEMPO_EURILONG);
    assert_int_equal(framing_size_check(100, 6145, 6144), TEMPO_EHDRLARGE);
    assert_int_equal(framing_size_check(5000, 9000, 6144), TEMPO_EURILONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sound_requests),
        cmocka_unit_test(test_smuggling_closes),
        cmocka_unit_test(test_get_with_body),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_explicit_lengths),
        cmocka_unit_test(test_sizes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
