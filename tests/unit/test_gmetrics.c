/*
 * test_gmetrics.c - the gateway's Prometheus metrics (gateway/metrics.h
 * over common/prom.h): the exposition is strictly valid (tests/promcheck.h,
 * the checker the worker's test uses too), every series exists from the
 * first scrape, counts land where they belong, and error codes come from
 * the error table, rows that share a code word adding up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../promcheck.h"
#include "errors.h"
#include "metrics.h"
#include "prom.h"

static char *render(long inflight, int connected)
{
    size_t len = 0;
    char *text = metrics_render(inflight, connected, &len), err[512];

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    if (promcheck(text, 1, err, sizeof(err)) != 0)
        fail_msg("exposition does not parse: %s\n%s", err, text);
    return text;
}

static double sum(const char *text, const char *name, const char *labels,
                  int *n)
{
    double v = 0;

    *n = promcheck_sum(text, name, labels, &v);
    return v;
}

static void test_initial(void **state)
{
    char *text = render(0, 0);
    const char *const *codes;
    int n, ncodes = tempo_err_codes(&codes), i;
    double v;

    (void)state;
    /* 10 routes x (13 statuses + other), all zero. */
    v = sum(text, "tempo_http_requests_total", "", &n);
    assert_int_equal(n, 10 * 14);
    assert_true(v == 0);
    /* One histogram series per route. */
    sum(text, "tempo_http_request_duration_seconds_count", "", &n);
    assert_int_equal(n, 10);
    /* One error series per distinct code word of the table. */
    sum(text, "tempo_http_errors_total", "", &n);
    assert_int_equal(n, ncodes);
    for (i = 0; i < ncodes; i++) {
        char lab[64];
        snprintf(lab, sizeof(lab), "code=\"%s\"", codes[i]);
        sum(text, "tempo_http_errors_total", lab, &n);
        assert_int_equal(n, 1);
    }
    assert_true(sum(text, "tempo_broker_connected", "", &n) == 0);
    assert_non_null(strstr(text, "# TYPE tempo_rpc_inflight gauge\n"));
    free(text);
}

static void test_counts(void **state)
{
    char *text;
    int n;

    (void)state;
    metrics_request(ROUTE_WEATHER, 200, 0.003);
    metrics_request(ROUTE_WEATHER, 200, 0.2);
    metrics_request(ROUTE_WEATHER, 504, 5.0);
    metrics_request(ROUTE_PAGE, 304, 0.0001);
    metrics_request(ROUTE_OTHER, 418, 0.01); /* an odd status: other */
    metrics_request((enum metrics_route)99, 200, 0.01); /* route: other */
    metrics_error(TEMPO_ETIMEOUT);
    metrics_error(TEMPO_EMETHODNF); /* both "internal" */
    metrics_error(TEMPO_EINTERNAL);
    metrics_error(12345); /* unknown: internal too */
    metrics_rpc_timeout();
    metrics_broker_reconnect();
    metrics_broker_blocked(1);
    metrics_header_timeout();
    text = render(7, 1);
    assert_true(sum(text, "tempo_http_requests_total",
                    "route=\"/weather\",status=\"200\"", &n) == 2);
    assert_true(sum(text, "tempo_http_requests_total",
                    "route=\"/weather\",status=\"504\"", &n) == 1);
    assert_true(sum(text, "tempo_http_requests_total",
                    "route=\"/\",status=\"304\"", &n) == 1);
    assert_true(sum(text, "tempo_http_requests_total",
                    "route=\"other\",status=\"other\"", &n) == 1);
    assert_true(sum(text, "tempo_http_requests_total",
                    "route=\"other\",status=\"200\"", &n) == 1);
    /* The histogram: le="0.005" holds the 3 ms request, +Inf all three. */
    assert_true(sum(text, "tempo_http_request_duration_seconds_bucket",
                    "route=\"/weather\",le=\"0.005\"", &n) == 1);
    assert_true(sum(text, "tempo_http_request_duration_seconds_bucket",
                    "route=\"/weather\",le=\"+Inf\"", &n) == 3);
    assert_true(sum(text, "tempo_http_request_duration_seconds_count",
                    "route=\"/weather\"", &n) == 3);
    {
        double s = sum(text, "tempo_http_request_duration_seconds_sum",
                       "route=\"/weather\"", &n);
        assert_true(s > 5.2 && s < 5.21);
    }
    assert_true(sum(text, "tempo_http_errors_total", "code=\"timeout\"", &n) ==
                1);
    assert_true(sum(text, "tempo_http_errors_total", "code=\"internal\"", &n) ==
                3);
    assert_true(sum(text, "tempo_rpc_inflight", "", &n) == 7);
    assert_true(sum(text, "tempo_rpc_timeouts_total", "", &n) == 1);
    assert_true(sum(text, "tempo_broker_reconnects_total", "", &n) == 1);
    assert_true(sum(text, "tempo_broker_connected", "", &n) == 1);
    assert_true(sum(text, "tempo_broker_blocked", "", &n) == 1);
    assert_true(sum(text, "tempo_http_header_timeouts_total", "", &n) == 1);
    free(text);
    metrics_broker_blocked(0);
    text = render(0, 1);
    assert_true(sum(text, "tempo_broker_blocked", "", &n) == 0);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial),
        cmocka_unit_test(test_counts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
