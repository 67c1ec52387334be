/*
 * test_static.c - the files the gateway serves itself (gateway/static.c):
 * each one is embedded byte for byte from gateway/web/, with its content
 * type and an ETag that follows the content; If-None-Match matching by
 * RFC 9110's weak comparison, and hostile header values that must only
 * ever mean "no match"; responses (200 with the body and every security
 * header, 304 on a match).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "static.h"

static const struct {
    const char *path;
    const char *file;
    const char *type;
} served[] = {
    {"/", "index.html", "text/html; charset=utf-8"},
    {"/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/app.css", "app.css", "text/css; charset=utf-8"},
    {"/favicon.svg", "favicon.svg", "image/svg+xml"},
    {"/openapi.json", "openapi.json", "application/json"},
};

/* Reads gateway/web/<name> from the source tree (malloc'd). */
static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/gateway/web/%s", TEMPO_SOURCE_DIR, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_assets_are_the_source_files(void **state)
{
    char tags[5][40];
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(served) / sizeof(served[0]); i++) {
        const struct static_asset *a = static_asset_find(served[i].path);
        const char *etag;
        size_t len;
        char *want;

        if (a == NULL)
            fail_msg("nothing served at %s", served[i].path);
        assert_string_equal(static_asset_type(a), served[i].type);
        want = slurp(served[i].file, &len);
        assert_int_equal(static_asset_len(a), len);
        assert_memory_equal(static_asset_data(a), want, len);
        free(want);
        /* A strong tag: 32 lower-case hex digits in quotes, unique. */
        etag = static_asset_etag(a);
        assert_int_equal(strlen(etag), 34);
        assert_true(etag[0] == '"' && etag[33] == '"');
        assert_int_equal(strspn(etag + 1, "0123456789abcdef"), 32);
        snprintf(tags[i], sizeof(tags[i]), "%s", etag);
        for (j = 0; j < i; j++)
            assert_string_not_equal(tags[j], tags[i]);
    }
}

static void test_unknown_paths(void **state)
{
    (void)state;
    assert_null(static_asset_find("/index.html"));
    assert_null(static_asset_find("/app.js/"));
    assert_null(static_asset_find("//"));
    assert_null(static_asset_find(""));
    assert_null(static_asset_find("/APP.JS"));
    assert_null(static_asset_find("/../gateway/web/app.js"));
    assert_null(static_asset_find(NULL));
}

static void test_etag_match(void **state)
{
    const char *e = "\"0123456789abcdef0123456789abcdef\"";

    (void)state;
    assert_true(static_etag_match("\"0123456789abcdef0123456789abcdef\"", e));
    assert_true(static_etag_match("W/\"0123456789abcdef0123456789abcdef\"", e));
    assert_true(static_etag_match("*", e));
    assert_true(static_etag_match(" \t*", e));
    assert_true(
        static_etag_match("\"old\", \"0123456789abcdef0123456789abcdef\"", e));
    assert_true(static_etag_match("\"a\",W/\"b\" ,  "
                                  "\"0123456789abcdef0123456789abcdef\" ",
                                  e));
    assert_true(
        static_etag_match(",,\"0123456789abcdef0123456789abcdef\",", e));
    /* No match: other tags, case, missing quotes, prefixes, suffixes. */
    assert_false(static_etag_match("\"0123456789ABCDEF0123456789ABCDEF\"", e));
    assert_false(static_etag_match("0123456789abcdef0123456789abcdef", e));
    assert_false(static_etag_match("\"0123456789abcdef0123456789abcde\"", e));
    assert_false(static_etag_match("\"0123456789abcdef0123456789abcdef0\"", e));
    assert_false(static_etag_match("\"x\"", e));
    assert_false(static_etag_match("", e));
    assert_false(static_etag_match("   ", e));
    assert_false(static_etag_match(NULL, e));
    assert_false(static_etag_match("*", NULL));
}

static void test_etag_match_hostile(void **state)
{
    const char *e = "\"0123456789abcdef0123456789abcdef\"";
    char big[8192];

    (void)state;
    /* Malformed members end the list: what follows is never looked at. */
    assert_false(static_etag_match("\"unterminated", e));
    assert_false(static_etag_match("W/", e));
    assert_false(static_etag_match("W", e));
    assert_false(
        static_etag_match("w/\"0123456789abcdef0123456789abcdef\"", e));
    assert_false(static_etag_match(
        "\"a\"junk, \"0123456789abcdef0123456789abcdef\"", e));
    assert_false(
        static_etag_match("garbage, \"0123456789abcdef0123456789abcdef\"", e));
    assert_false(static_etag_match("\"\"", e));
    assert_false(static_etag_match("\"\"\"\"\"", e));
    /* A header as long as a request can carry, made of empty tags; then
     * the same with the right tag last. */
    size_t n = 0, elen = strlen(e);
    while (n + 3 + elen + 1 < sizeof(big)) {
        memcpy(big + n, "\"\",", 3);
        n += 3;
    }
    big[n] = '\0';
    assert_false(static_etag_match(big, e));
    memcpy(big + n, e, elen + 1);
    assert_true(static_etag_match(big, e));
}

static const char *header(struct MHD_Response *r, const char *name)
{
    return MHD_get_response_header(r, name);
}

static void test_responses(void **state)
{
    const struct static_asset *page = static_asset_find("/");
    const struct static_asset *doc = static_asset_find("/openapi.json");
    struct MHD_Response *r;
    int status = 0;
    char inm[64];

    (void)state;
    r = static_asset_response(page, NULL, &status);
    assert_non_null(r);
    assert_int_equal(status, 200);
    assert_string_equal(header(r, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(header(r, "ETag"), static_asset_etag(page));
    assert_string_equal(header(r, "Cache-Control"), "no-cache");
    assert_string_equal(header(r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(header(r, "Referrer-Policy"), "no-referrer");
    assert_string_equal(header(r, "Content-Security-Policy"),
                        "default-src 'self'; object-src 'none'; "
                        "base-uri 'none'; form-action 'self'; "
                        "frame-ancestors 'none'");
    MHD_destroy_response(r);

    snprintf(inm, sizeof(inm), "W/%s", static_asset_etag(page));
    status = 0;
    r = static_asset_response(page, inm, &status);
    assert_non_null(r);
    assert_int_equal(status, 304);
    assert_null(header(r, "Content-Type"));
    assert_string_equal(header(r, "ETag"), static_asset_etag(page));
    MHD_destroy_response(r);

    /* Another file's tag does not match; data files run nothing. */
    status = 0;
    r = static_asset_response(doc, static_asset_etag(page), &status);
    assert_non_null(r);
    assert_int_equal(status, 200);
    assert_string_equal(header(r, "Content-Security-Policy"),
                        "default-src 'none'; base-uri 'none'; "
                        "frame-ancestors 'none'");
    MHD_destroy_response(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets_are_the_source_files),
        cmocka_unit_test(test_unknown_paths),
        cmocka_unit_test(test_etag_match),
        cmocka_unit_test(test_etag_match_hostile),
        cmocka_unit_test(test_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
