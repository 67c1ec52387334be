/*
 * it_trace.c - W3C Trace Context across tempo (issue 11): a client's
 * traceparent reaches both daemons' logs and, as a child, the upstream
 * requests; an invalid one is replaced, never reflected.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT "00f067aa0ba902b7"

static struct h_stack stack;

static int setup(void **state)
{
    static const char *const genv[] = {"LOG_FORMAT=json", NULL};

    (void)state;
    h_stack_start(&stack, "trace", 1, NULL, genv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_stack_stop(&stack);
    return 0;
}

/* The traceparent the fake last saw on a route, or "" (static buffer). */
static const char *upstream_traceparent(const char *label)
{
    static char buf[128];
    json_t *j = h_fake_get(&stack, "/_fake/requests");
    const char *v = json_string_value(
        json_object_get(json_object_get(j, "traceparent"), label));

    snprintf(buf, sizeof(buf), "%s", v != NULL ? v : "");
    json_decref(j);
    return buf;
}

static int is_traceparent(const char *s)
{
    size_t i;

    if (strlen(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return 0;
    for (i = 0; i < 55; i++)
        if (i != 2 && i != 35 && i != 52 && !strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

static void test_traceparent_followed(void **state)
{
    static const char *const hdrs[] = {
        "traceparent: 00-" TRACE_ID "-" PARENT "-01",
        "tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        "X-Request-Id: trace-test-1", NULL};
    struct h_resp r;
    const char *tp;

    (void)state;
    h_fake_post(&stack, "/_fake/reset");
    h_http(&stack, "GET", "/weather?city=Cairo", hdrs, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);

    /* Both daemons log it next to the request id: the gateway in JSON,
     * the worker in text. */
    assert_int_equal(h_wait_log(&stack, "gateway.log",
                                "\"trace_id\":\"" TRACE_ID "\"", 3000),
                     0);
    assert_int_equal(
        h_wait_log(&stack, "gateway.log", "\"request_id\":\"trace-test-1\"", 0),
        0);
    assert_int_equal(h_wait_log(&stack, "worker0.log",
                                "req=trace-test-1 trace=" TRACE_ID, 3000),
                     0);

    /* Upstream requests are children: same trace, a new span, the
     * sampled flag kept. */
    tp = upstream_traceparent("/v1/search(geocoding)");
    assert_true(is_traceparent(tp));
    assert_memory_equal(tp, "00-" TRACE_ID "-", 36);
    assert_memory_not_equal(tp + 36, PARENT, 16);
    assert_string_equal(tp + 52, "-01");
    tp = upstream_traceparent("/v1/forecast");
    assert_memory_equal(tp, "00-" TRACE_ID "-", 36);
}

static void test_invalid_traceparent_replaced(void **state)
{
    static const char *const bad[] = {
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-" TRACE_ID "-0000000000000000-01",
        "ff-" TRACE_ID "-" PARENT "-01",
        "00-" TRACE_ID "-" PARENT "-01-extra",
        "00-" TRACE_ID "-" PARENT,
        "00-zzf92f3577b34da6a3ce929d0e0e4736-" PARENT "-01",
    };
    char hdr[160], city[32];
    const char *hdrs[2] = {hdr, NULL};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct h_resp r;
        const char *tp;
        snprintf(hdr, sizeof(hdr), "traceparent: %s", bad[i]);
        snprintf(city, sizeof(city), "Temp%zu", i + 5); /* a cache miss */
        h_fake_post(&stack, "/_fake/reset");
        {
            char path[64];
            snprintf(path, sizeof(path), "/weather?city=%s", city);
            h_http(&stack, "GET", path, hdrs, &r);
        }
        assert_int_equal(r.status, 200);
        h_resp_free(&r);
        tp = upstream_traceparent("/v1/search(geocoding)");
        if (!is_traceparent(tp))
            fail_msg("case %zu: upstream got \"%s\"", i, tp);
        /* A new trace: neither the bad trace id nor the bad parent. */
        assert_memory_not_equal(tp + 3, TRACE_ID, 32);
        assert_memory_not_equal(tp + 3, "00000000000000000000000000000000", 32);
    }
    /* Never reflected into a log line. */
    assert_int_equal(h_wait_log(&stack, "gateway.log", "4BF92F35", 0), -1);
    assert_int_equal(h_wait_log(&stack, "worker0.log", "4BF92F35", 0), -1);
    assert_int_equal(h_wait_log(&stack, "worker0.log", "zzf92f35", 0), -1);
}

/* Without any header: a new trace all the same, so logs correlate. */
static void test_new_trace_without_header(void **state)
{
    static const char *const hdrs[] = {"X-Request-Id: trace-test-new", NULL};
    struct h_resp r;
    const char *tp;
    char needle[96];

    (void)state;
    h_fake_post(&stack, "/_fake/reset");
    h_http(&stack, "GET", "/weather?city=Temp21", hdrs, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    tp = upstream_traceparent("/v1/forecast");
    assert_true(is_traceparent(tp));
    assert_string_equal(tp + 52, "-00"); /* nothing was sampled */
    snprintf(needle, sizeof(needle), "req=trace-test-new trace=%.32s", tp + 3);
    assert_int_equal(h_wait_log(&stack, "worker0.log", needle, 3000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_followed),
        cmocka_unit_test(test_invalid_traceparent_replaced),
        cmocka_unit_test(test_new_trace_without_header),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
