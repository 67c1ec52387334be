/*
 * test_http_client.c - the upstream HTTP client against a real socket: a
 * libmicrohttpd server on 127.0.0.1 plays the upstream.  Covers URL
 * encoding, retries (5xx yes, 4xx no), timeouts and the deadline, 429 with
 * Retry-After, the body cap, POST + Basic auth, option isolation between
 * requests, keep-alive reuse and the circuit breaker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "breaker.h"
#include "errors.h"
#include "fake_http.h"
#include "http_client.h"

static char big_body[HTTP_MAX_BODY + 2];

static struct fake_route routes[] = {
    {.path = "/ok", .status = 200, .body = "{\"ok\":true}"},
    {.path = "/missing", .status = 404, .body = "{}"},
    {.path = "/down", .status = 503, .body = "{}"},
    {.path = "/flaky",
     .status = 200,
     .body = "recovered",
     .fail_first = 2,
     .fail_status = 502},
    {.path = "/slow", .status = 200, .body = "late", .delay_ms = 700},
    {.path = "/big", .status = 200, .body = big_body},
    {.path = "/limited",
     .status = 429,
     .body = "{}",
     .header = "Retry-After: 1"},
    {.path = "/limited-once",
     .status = 200,
     .body = "after wait",
     .fail_first = 1,
     .fail_status = 429},
    {.path = "/token", .status = 200, .body = "{}"},
    {.path = NULL},
};

static struct http_client *hc;

static int setup(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; routes[i].path != NULL; i++)
        routes[i].hits = 0;
    fake_start(routes);
    hc = http_client_create();
    assert_non_null(hc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    http_client_destroy(hc);
    hc = NULL;
    fake_stop();
    return 0;
}

static struct fake_route *route(const char *path)
{
    size_t i;

    for (i = 0; routes[i].path != NULL; i++)
        if (strcmp(routes[i].path, path) == 0)
            return &routes[i];
    fail_msg("no route %s", path);
    return NULL;
}

/* A GET of path with the given retry policy. */
static int get(const char *path, long timeout_ms, int retries,
               long deadline_in_ms, struct breaker *b,
               struct http_response *resp, char *err, size_t errlen)
{
    struct http_request req = {0};
    char *url = http_url_build(fake_base(), path, NULL, err, errlen);
    int rc;

    assert_non_null(url);
    req.url = url;
    req.timeout_ms = timeout_ms;
    req.retries = retries;
    req.deadline_ms = clock_mono_ms() + deadline_in_ms;
    req.breaker = b;
    rc = http_client_request(hc, &req, resp, err, errlen);
    free(url);
    return rc;
}

static void test_url_build_encodes_values(void **state)
{
    const char *params[] = {"q", "London&appid=x", "units", "a b/\xc3\xa9?#",
                            NULL};
    char err[128];
    char *url;

    (void)state;
    url = http_url_build("http://example.test:8080/base/", "/v1/x", params, err,
                         sizeof(err));
    assert_non_null(url);
    /* The path prefix survives, the '&' and '=' of the value do not. */
    assert_non_null(strstr(url, "http://example.test:8080/base/v1/x?q="));
    assert_null(strstr(url, "&appid"));
    assert_null(strstr(url, "x=x"));
    assert_non_null(strstr(url, "&units="));
    free(url);

    url = http_url_build("not a url", "/x", NULL, err, sizeof(err));
    assert_null(url);
    assert_true(strlen(err) > 0);
}

static void test_query_reaches_upstream_verbatim(void **state)
{
    const char *params[] = {"q",    "London&appid=x",         "appid", "KEY",
                            "name", "S\xc3\xa3o Paulo +1%20", NULL};
    struct http_request req = {0};
    struct http_response resp = {0};
    char err[128];
    char *url;

    (void)state;
    url = http_url_build(fake_base(), "/ok", params, err, sizeof(err));
    assert_non_null(url);
    req.url = url;
    req.timeout_ms = 2000;
    req.deadline_ms = clock_mono_ms() + 2000;
    assert_int_equal(http_client_request(hc, &req, &resp, err, sizeof(err)), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"ok\":true}");
    assert_int_equal(resp.len, strlen("{\"ok\":true}"));
    assert_string_equal(fake_arg_value("q"), "London&appid=x");
    assert_string_equal(fake_arg_value("appid"), "KEY");
    assert_string_equal(fake_arg_value("name"), "S\xc3\xa3o Paulo +1%20");
    assert_int_equal(fake_last.dup_args, 0);
    assert_string_equal(fake_last.method, "GET");
    http_response_clear(&resp);
    free(url);
}

static void test_4xx_is_not_retried(void **state)
{
    struct http_response resp = {0};
    char err[128];

    (void)state;
    assert_int_equal(
        get("/missing", 1000, 3, 5000, NULL, &resp, err, sizeof(err)), 0);
    assert_int_equal(resp.status, 404);
    assert_int_equal(resp.attempts, 1);
    assert_int_equal(fake_hits("/missing"), 1);
    http_response_clear(&resp);
}

static void test_5xx_is_retried_then_returned(void **state)
{
    struct http_response resp = {0};
    char err[128];

    (void)state;
    assert_int_equal(get("/down", 1000, 2, 5000, NULL, &resp, err, sizeof(err)),
                     0);
    assert_int_equal(resp.status, 503);
    assert_int_equal(resp.attempts, 3);
    assert_int_equal(fake_hits("/down"), 3);
    http_response_clear(&resp);
}

static void test_5xx_then_success(void **state)
{
    struct http_response resp = {0};
    char err[128];

    (void)state;
    assert_int_equal(
        get("/flaky", 1000, 2, 5000, NULL, &resp, err, sizeof(err)), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "recovered");
    assert_int_equal(fake_hits("/flaky"), 3);
    http_response_clear(&resp);
}

static void test_timeout_is_retried_and_reported(void **state)
{
    struct http_response resp = {0};
    char err[128];
    int64_t t0 = clock_mono_ms();

    (void)state;
    assert_int_equal(get("/slow", 150, 1, 5000, NULL, &resp, err, sizeof(err)),
                     TEMPO_ETIMEOUT);
    assert_null(resp.body);
    assert_true(clock_mono_ms() - t0 < 650);
    assert_int_equal(fake_hits("/slow"), 2);
}

static void test_deadline_bounds_retries(void **state)
{
    struct http_response resp = {0};
    char err[128];
    int64_t t0 = clock_mono_ms();

    (void)state;
    /* Ten retries of 200 ms would take 2 s; the deadline is 300 ms. */
    assert_int_equal(get("/slow", 200, 10, 300, NULL, &resp, err, sizeof(err)),
                     TEMPO_ETIMEOUT);
    assert_true(clock_mono_ms() - t0 < 600);
    assert_true(fake_hits("/slow") <= 2);
}

static void test_connection_refused(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    struct http_request req = {0};
    struct http_response resp = {0};
    char url[64], err[128];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    (void)state;
    /* A port that was just free: bound, then closed without listening. */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x",
             (unsigned)ntohs(sa.sin_port));
    req.url = url;
    req.timeout_ms = 500;
    req.retries = 1;
    req.deadline_ms = clock_mono_ms() + 2000;
    assert_int_equal(http_client_request(hc, &req, &resp, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_null(strstr(err, url)); /* no URLs in messages */
}

static void test_body_cap(void **state)
{
    struct http_response resp = {0};
    char err[128];

    (void)state;
    assert_int_equal(get("/big", 5000, 2, 10000, NULL, &resp, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_non_null(strstr(err, "too large"));
    assert_int_equal(fake_hits("/big"), 1); /* not retried */
}

static void test_429_retry_after_beyond_deadline(void **state)
{
    struct http_response resp = {0};
    char err[128];
    int64_t t0 = clock_mono_ms();

    (void)state;
    assert_int_equal(
        get("/limited", 1000, 3, 500, NULL, &resp, err, sizeof(err)), 0);
    assert_int_equal(resp.status, 429);
    assert_int_equal(fake_hits("/limited"), 1);
    assert_true(clock_mono_ms() - t0 < 400); /* did not sit out the wait */
    http_response_clear(&resp);
}

static void test_429_retry_after_within_deadline(void **state)
{
    struct fake_route *r = route("/limited-once");
    struct http_response resp = {0};
    char err[128];
    int64_t t0 = clock_mono_ms();

    (void)state;
    pthread_mutex_lock(&fake_mu);
    r->header = "Retry-After: 1";
    pthread_mutex_unlock(&fake_mu);
    /* fail_first answers 429 without the header: no hint, no retry. */
    assert_int_equal(
        get("/limited-once", 1000, 3, 5000, NULL, &resp, err, sizeof(err)), 0);
    assert_int_equal(resp.status, 429);
    http_response_clear(&resp);

    pthread_mutex_lock(&fake_mu);
    r->hits = 0;
    r->fail_first = 0;
    r->status = 429;
    r->body = "{}";
    pthread_mutex_unlock(&fake_mu);
    /* Now every answer is a 429 with Retry-After: 1; with a 5 s deadline
     * and one retry, the client waits once, about a second. */
    assert_int_equal(
        get("/limited-once", 1000, 1, 5000, NULL, &resp, err, sizeof(err)), 0);
    assert_int_equal(resp.status, 429);
    assert_int_equal(fake_hits("/limited-once"), 2);
    assert_true(clock_mono_ms() - t0 >= 900);
    http_response_clear(&resp);
}

static void test_post_form_basic_auth_then_reset(void **state)
{
    struct http_request req = {0};
    struct http_response resp = {0};
    char err[128];
    char *url = http_url_build(fake_base(), "/token", NULL, err, sizeof(err));
    static const char *const hdrs[] = {"X-Test: 1", NULL};

    (void)state;
    req.url = url;
    req.form = "grant_type=client_credentials";
    req.username = "id";
    req.password = "s:cret";
    req.headers = hdrs;
    req.timeout_ms = 2000;
    req.deadline_ms = clock_mono_ms() + 2000;
    assert_int_equal(http_client_request(hc, &req, &resp, err, sizeof(err)), 0);
    http_response_clear(&resp);
    assert_string_equal(fake_last.method, "POST");
    assert_string_equal(fake_last.body, "grant_type=client_credentials");
    /* base64("id:s:cret") */
    assert_string_equal(fake_last.auth, "Basic aWQ6czpjcmV0");

    /* The next request on the same handle carries none of that. */
    memset(&req, 0, sizeof(req));
    req.url = url;
    req.timeout_ms = 2000;
    req.deadline_ms = clock_mono_ms() + 2000;
    assert_int_equal(http_client_request(hc, &req, &resp, err, sizeof(err)), 0);
    http_response_clear(&resp);
    assert_string_equal(fake_last.method, "GET");
    assert_string_equal(fake_last.auth, "");
    assert_string_equal(fake_last.body, "");
    free(url);
}

static void test_keep_alive_reuses_connection(void **state)
{
    struct http_response resp = {0};
    char err[128];
    int i;

    (void)state;
    for (i = 0; i < 3; i++) {
        assert_int_equal(
            get("/ok", 1000, 0, 2000, NULL, &resp, err, sizeof(err)), 0);
        http_response_clear(&resp);
    }
    assert_int_equal(fake_connections, 1);
}

static void test_circuit_breaker(void **state)
{
    struct breaker *b = breaker_create(2, 300, 0);
    struct http_response resp = {0};
    char err[128];

    (void)state;
    assert_non_null(b);
    assert_int_equal(get("/down", 1000, 0, 2000, b, &resp, err, sizeof(err)),
                     0);
    http_response_clear(&resp);
    assert_int_equal(get("/down", 1000, 0, 2000, b, &resp, err, sizeof(err)),
                     0);
    http_response_clear(&resp);
    assert_int_equal(fake_hits("/down"), 2);

    /* Open: fails at once, without reaching the upstream. */
    assert_int_equal(get("/ok", 1000, 0, 2000, b, &resp, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_non_null(strstr(err, "circuit"));
    assert_int_equal(fake_hits("/ok"), 0);

    /* Half-open after the pause: one probe, which closes it. */
    usleep(350 * 1000);
    assert_int_equal(get("/ok", 1000, 0, 2000, b, &resp, err, sizeof(err)), 0);
    http_response_clear(&resp);
    assert_int_equal(get("/ok", 1000, 0, 2000, b, &resp, err, sizeof(err)), 0);
    http_response_clear(&resp);
    assert_int_equal(fake_hits("/ok"), 2);
    breaker_destroy(b);
}

/* A timeout the caller's deadline cut short says nothing about the
 * upstream: it must not open the circuit (each of these would, before:
 * under a backlog every late call then fails at once).  A timeout with
 * the full UPSTREAM_TIMEOUT_MS does count. */
static void test_deadline_cut_is_not_a_failure(void **state)
{
    struct breaker *b = breaker_create(2, 60000, 0);
    struct http_response resp = {0};
    char err[128];
    int i;

    (void)state;
    assert_non_null(b);
    /* Each with a little more time than the last: every one is started
     * (it has more time than the cut attempts before it took) and cut. */
    for (i = 0; i < 4; i++)
        assert_int_equal(
            get("/slow", 5000, 0, 150 + 100 * i, b, &resp, err, sizeof(err)),
            TEMPO_ETIMEOUT);
    assert_int_equal(fake_hits("/slow"), 4);
    assert_int_equal(get("/ok", 1000, 0, 2000, b, &resp, err, sizeof(err)), 0);
    http_response_clear(&resp);

    /* Two timeouts after the full attempt timeout: open. */
    for (i = 0; i < 2; i++)
        assert_int_equal(get("/slow", 150, 0, 2000, b, &resp, err, sizeof(err)),
                         TEMPO_ETIMEOUT);
    assert_int_equal(get("/ok", 1000, 0, 2000, b, &resp, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_non_null(strstr(err, "circuit"));
    breaker_destroy(b);
}

/* Once the upstream is known to take ~700 ms, a call with 300 ms left is
 * not started (the answer could not come in time); one with enough time
 * is. */
static void test_too_little_time_is_not_started(void **state)
{
    struct breaker *b = breaker_create(5, 5000, 0);
    struct http_response resp = {0};
    char err[128];

    (void)state;
    assert_non_null(b);
    assert_int_equal(get("/slow", 3000, 0, 3000, b, &resp, err, sizeof(err)),
                     0);
    http_response_clear(&resp);
    assert_true(breaker_typical_ms(b) >= 650);
    assert_int_equal(fake_hits("/slow"), 1);

    assert_int_equal(get("/slow", 3000, 0, 300, b, &resp, err, sizeof(err)),
                     TEMPO_ETIMEOUT);
    assert_non_null(strstr(err, "deadline too close"));
    assert_int_equal(fake_hits("/slow"), 1);

    assert_int_equal(get("/slow", 3000, 0, 3000, b, &resp, err, sizeof(err)),
                     0);
    http_response_clear(&resp);
    assert_int_equal(fake_hits("/slow"), 2);

    /* 1.2 s is enough for one such answer, not for two in a row: a
     * request that another one follows (Open-Meteo's geocoding, then the
     * forecast) is not started. */
    {
        struct http_request req = {0};
        char *url =
            http_url_build(fake_base(), "/slow", NULL, err, sizeof(err));

        assert_non_null(url);
        req.url = url;
        req.timeout_ms = 3000;
        req.deadline_ms = clock_mono_ms() + 1200;
        req.breaker = b;
        req.follow_ups = 1;
        assert_int_equal(http_client_request(hc, &req, &resp, err, sizeof(err)),
                         TEMPO_ETIMEOUT);
        assert_non_null(strstr(err, "more requests follow"));
        assert_int_equal(fake_hits("/slow"), 2);
        free(url);
    }
    breaker_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_build_encodes_values),
        cmocka_unit_test_setup_teardown(test_query_reaches_upstream_verbatim,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_4xx_is_not_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_5xx_is_retried_then_returned,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_5xx_then_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_is_retried_and_reported,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_bounds_retries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_retry_after_beyond_deadline,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_retry_after_within_deadline,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_form_basic_auth_then_reset,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive_reuses_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_circuit_breaker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_cut_is_not_a_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_little_time_is_not_started,
                                        setup, teardown),
    };
    int rc;

    memset(big_body, 'x', sizeof(big_body) - 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
