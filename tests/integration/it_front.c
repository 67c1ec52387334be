/*
 * it_front.c - the gateway's front door over real HTTP: the page at /, its
 * script, style sheet and icon, and /openapi.json.  Each answers GET and
 * HEAD (the same headers, no body) with its content type and charset, a
 * strict Content-Security-Policy, nosniff, an ETag and 304 on a match; any
 * other method gets 405 with Allow; every answer has an X-Request-Id; each
 * route is counted under its own metrics label; the page loads nothing
 * from elsewhere and runs no inline code.  The browser's view is
 * tests/front/test_browser.py; test_openapi.py checks that the page loads
 * from a gateway without a broker.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../promcheck.h"

static struct h_stack stack;

static const struct {
    const char *path;
    const char *type;
    const char *csp; /* a directive the policy must hold */
} files[] = {
    {"/", "text/html; charset=utf-8", "default-src 'self'"},
    {"/app.js", "text/javascript; charset=utf-8", "default-src 'self'"},
    {"/app.css", "text/css; charset=utf-8", "default-src 'self'"},
    {"/favicon.svg", "image/svg+xml", "default-src 'none'"},
    {"/openapi.json", "application/json", "default-src 'none'"},
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static int setup(void **state)
{
    (void)state;
    h_stack_start(&stack, "front", 1, NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_stack_stop(&stack);
    return 0;
}

static void want_header(const struct h_resp *r, const char *name,
                        const char *value)
{
    char got[1024];

    if (!h_header(r, name, got, sizeof(got)))
        fail_msg("no %s header in:\n%s", name, r->headers);
    if (value != NULL && strcmp(got, value) != 0)
        fail_msg("%s: \"%s\", want \"%s\"", name, got, value);
}

static void test_files_get_and_head(void **state)
{
    static const char *const hdr[] = {"X-Request-Id: front-1", NULL};
    size_t i;

    (void)state;
    for (i = 0; i < NFILES; i++) {
        struct h_resp g, h;
        char csp[512], etag[64], len[32], hlen[32];

        h_http(&stack, "GET", files[i].path, hdr, &g);
        if (g.status != 200)
            fail_msg("GET %s: %ld", files[i].path, g.status);
        assert_string_equal(g.content_type, files[i].type);
        assert_string_equal(g.request_id, "front-1");
        assert_true(g.len > 100);
        want_header(&g, "X-Content-Type-Options", "nosniff");
        want_header(&g, "Referrer-Policy", "no-referrer");
        want_header(&g, "Cache-Control", "no-cache");
        assert_true(h_header(&g, "Content-Security-Policy", csp, sizeof(csp)));
        assert_non_null(strstr(csp, files[i].csp));
        assert_non_null(strstr(csp, "frame-ancestors 'none'"));
        assert_non_null(strstr(csp, "base-uri 'none'"));
        assert_null(strstr(csp, "unsafe"));
        assert_true(h_header(&g, "ETag", etag, sizeof(etag)));
        assert_int_equal(strlen(etag), 34);
        assert_true(h_header(&g, "Content-Length", len, sizeof(len)));
        assert_int_equal(strtoul(len, NULL, 10), g.len);

        /* HEAD: the same answer, no body. */
        h_http(&stack, "HEAD", files[i].path, NULL, &h);
        assert_int_equal(h.status, 200);
        assert_int_equal(h.len, 0);
        assert_string_equal(h.content_type, files[i].type);
        assert_true(strlen(h.request_id) > 0);
        assert_string_not_equal(h.request_id, "front-1");
        want_header(&h, "ETag", etag);
        assert_true(h_header(&h, "Content-Length", hlen, sizeof(hlen)));
        assert_string_equal(hlen, len);
        h_resp_free(&h);
        h_resp_free(&g);
    }
}

static void test_conditional_get(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NFILES; i++) {
        struct h_resp r;
        char etag[64], inm[128], other[128];
        const char *hdr[] = {inm, NULL};
        const char *hdr2[] = {other, NULL};

        h_http(&stack, "HEAD", files[i].path, NULL, &r);
        assert_true(h_header(&r, "ETag", etag, sizeof(etag)));
        h_resp_free(&r);

        snprintf(inm, sizeof(inm), "If-None-Match: \"x\", W/%s", etag);
        h_http(&stack, "GET", files[i].path, hdr, &r);
        if (r.status != 304)
            fail_msg("GET %s with %s: %ld", files[i].path, inm, r.status);
        assert_int_equal(r.len, 0);
        want_header(&r, "ETag", etag);
        want_header(&r, "Cache-Control", "no-cache");
        assert_true(strlen(r.request_id) > 0);
        h_resp_free(&r);

        /* A stale tag (another file's, or garbage) gets the full file. */
        snprintf(other, sizeof(other), "If-None-Match: \"%032d\"", 0);
        h_http(&stack, "GET", files[i].path, hdr2, &r);
        assert_int_equal(r.status, 200);
        assert_true(r.len > 100);
        h_resp_free(&r);
    }
}

static void test_other_methods(void **state)
{
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH",
                                          "OPTIONS"};
    size_t i, m;

    (void)state;
    for (i = 0; i < NFILES; i++)
        for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
            struct h_resp r;

            h_http(&stack, methods[m], files[i].path, NULL, &r);
            h_assert_error(&r, 405, "method_not_allowed");
            assert_string_equal(r.allow, "GET, HEAD");
            want_header(&r, "X-Content-Type-Options", "nosniff");
            h_resp_free(&r);
        }
    /* Near misses are unknown paths, not files. */
    {
        static const char *const near[] = {"/index.html",  "/app.js/",
                                           "/App.js",      "/openapi.json.gz",
                                           "/favicon.ico", "/web/app.js"};
        for (i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
            struct h_resp r;
            h_http(&stack, "GET", near[i], NULL, &r);
            h_assert_error(&r, 404, "not_found");
            h_resp_free(&r);
        }
    }
}

/* Whether html has an inline event handler: " on<letters>=". */
static int has_event_attribute(const char *html)
{
    const char *p;

    for (p = strstr(html, " on"); p != NULL; p = strstr(p + 1, " on")) {
        const char *q = p + 3;
        while (*q >= 'a' && *q <= 'z')
            q++;
        if (q > p + 3 && *q == '=')
            return 1;
    }
    return 0;
}

/* What the CSP relies on: no inline script or style, nothing external. */
static void test_page_is_self_contained(void **state)
{
    struct h_resp r;
    const char *p;

    (void)state;
    h_http(&stack, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<script src=\"/app.js\" defer></script>"));
    assert_non_null(strstr(r.body, "href=\"/app.css\""));
    for (p = strstr(r.body, "<script"); p != NULL; p = strstr(p + 1, "<script"))
        assert_true(strncmp(p, "<script src=\"/", 14) == 0);
    assert_null(strstr(r.body, "<style"));
    assert_null(strstr(r.body, " style="));
    assert_false(has_event_attribute(r.body));
    assert_null(strstr(r.body, "src=\"http"));
    assert_null(strstr(r.body, "href=\"http"));
    assert_null(strstr(r.body, "//fonts."));
    assert_non_null(strstr(r.body, "<label for=\"city\">"));
    assert_non_null(strstr(r.body, "<label for=\"country\">"));
    assert_non_null(strstr(r.body, "aria-live=\"polite\""));
    assert_non_null(strstr(r.body, "name=\"viewport\""));
    h_resp_free(&r);

    /* The script builds the page from the reply as text only. */
    h_http(&stack, "GET", "/app.js", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "innerHTML"));
    assert_null(strstr(r.body, "outerHTML"));
    assert_null(strstr(r.body, "insertAdjacentHTML"));
    assert_null(strstr(r.body, "document.write"));
    assert_null(strstr(r.body, "eval("));
    assert_null(strstr(r.body, "http://"));
    assert_non_null(strstr(r.body, "Weather data by "));
    h_resp_free(&r);

    h_http(&stack, "GET", "/app.css", NULL, &r);
    assert_null(strstr(r.body, "@import"));
    assert_null(strstr(r.body, "url("));
    h_resp_free(&r);
}

static void test_openapi_document(void **state)
{
    static const char *const argv[] = {TEMPO_GATEWAY_BIN, "--version", NULL};
    const char *version = NULL, *oas = NULL;
    char out[256];
    json_t *doc;
    long st = 0;

    (void)state;
    doc = h_get_json(&stack, "/openapi.json", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_unpack(doc, "{s:s,s:{s:s}}", "openapi", &oas, "info",
                                 "version", &version),
                     0);
    assert_true(strncmp(oas, "3.1.", 4) == 0);
    /* The document describes this gateway's version. */
    assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_non_null(strstr(out, version));
    assert_string_equal(strrchr(out, ' ') + 1, version);
    assert_non_null(json_object_get(json_object_get(doc, "paths"), "/weather"));
    json_decref(doc);
}

static void test_metrics_route_labels(void **state)
{
    struct h_resp r;
    char err[256], labels[128];
    size_t i;

    (void)state;
    /* The earlier tests made 200s, 304s and 405s on every file. */
    h_http(&stack, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    if (promcheck(r.body, 1, err, sizeof(err)) != 0)
        fail_msg("/metrics does not parse: %s", err);
    for (i = 0; i < NFILES; i++) {
        static const char *const statuses[] = {"200", "304", "405"};
        size_t s;
        double v = 0;
        for (s = 0; s < 3; s++) {
            snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%s\"",
                     files[i].path, statuses[s]);
            if (promcheck_sum(r.body, "tempo_http_requests_total", labels,
                              &v) != 1 ||
                v < 1)
                fail_msg("no tempo_http_requests_total{%s}", labels);
        }
        snprintf(labels, sizeof(labels), "route=\"%s\",le=\"+Inf\"",
                 files[i].path);
        assert_int_equal(promcheck_sum(r.body,
                                       "tempo_http_request_duration_seconds_"
                                       "bucket",
                                       labels, &v),
                         1);
        assert_true(v >= 3);
    }
    /* Unknown paths are "other", never their own label. */
    assert_null(strstr(r.body, "route=\"/index.html\""));
    assert_null(strstr(r.body, "route=\"/favicon.ico\""));
    h_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_get_and_head),
        cmocka_unit_test(test_conditional_get),
        cmocka_unit_test(test_other_methods),
        cmocka_unit_test(test_page_is_self_contained),
        cmocka_unit_test(test_openapi_document),
        cmocka_unit_test(test_metrics_route_labels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
