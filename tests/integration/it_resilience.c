/*
 * it_resilience.c - faults injected into a real stack (issue "Resilience"):
 * broker outage and restart, fail-over between broker URLs, a worker killed
 * mid-call, graceful drains of worker and gateway, and hostile HTTP
 * clients.  Each test asserts what a client would see.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- a request running in the background --------------------------------- */

struct bg {
    pthread_t t;
    const struct h_stack *s;
    char path[256];
    struct h_resp r;
};

static void *bg_run(void *arg)
{
    struct bg *b = arg;

    h_http(b->s, "GET", b->path, NULL, &b->r);
    return NULL;
}

static void bg_start(struct bg *b, const struct h_stack *s, const char *path)
{
    memset(b, 0, sizeof(*b));
    b->s = s;
    snprintf(b->path, sizeof(b->path), "%s", path);
    assert_int_equal(pthread_create(&b->t, NULL, bg_run, b), 0);
}

/* Upstream requests the fake has received so far. */
static long long fake_total(const struct h_stack *s)
{
    json_t *j = h_fake_get(s, "/_fake/requests");
    long long n = json_integer_value(json_object_get(j, "total"));

    json_decref(j);
    return n;
}

/* bg_start, then waits until the call is at the upstream (the fake has
 * seen a new request): the worker holds it, unacked, from then on. */
static void bg_start_in_flight(struct bg *b, const struct h_stack *s,
                               const char *path)
{
    long long before = fake_total(s);
    int waited;

    bg_start(b, s, path);
    for (waited = 0; fake_total(s) == before; waited += 10) {
        if (waited > 10000)
            fail_msg("%s never reached the upstream", path);
        usleep(10000);
    }
}

static void bg_join(struct bg *b)
{
    pthread_join(b->t, NULL);
}

static long status_of(const struct h_stack *s, const char *path)
{
    struct h_resp r;
    long st;

    h_http(s, "GET", path, NULL, &r);
    st = r.status;
    h_resp_free(&r);
    return st;
}

/* ---- broker -------------------------------------------------------------- */

static void test_broker_restart(void **state)
{
    /* Slowville answers after 10 s: a broker that takes a few seconds to
     * stop on a loaded machine still closes the connections first. */
    static const char *const fake_args[] = {"--slow-ms", "10000", NULL};
    static const char *const wenv[] = {"UPSTREAM_TIMEOUT_MS=12000", NULL};
    static const char *const genv[] = {"RPC_TIMEOUT_MS=15000", NULL};
    struct h_stack s = {0};
    struct h_resp r;
    struct bg slow;

    (void)state;
    h_fake_start(&s, fake_args);
    h_stack_start(&s, "broker-restart", 1, wenv, genv);
    assert_int_equal(status_of(&s, "/weather?city=London"), 200);

    /* A call in flight when the broker goes away fails at once. */
    bg_start_in_flight(&slow, &s, "/weather?city=Slowville");
    assert_int_equal(h_broker_ctl("stop_app"), 0);
    bg_join(&slow);
    h_assert_error(&slow.r, 503, "service_unavailable");
    assert_true(slow.r.seconds < 9.5); /* before Slowville answers */
    h_resp_free(&slow.r);

    /* During the outage: not ready, and requests get 503 quickly. */
    assert_int_equal(h_wait_status(&s, "/readyz", 503, 5000), 503);
    h_http(&s, "GET", "/weather?city=London", NULL, &r);
    h_assert_error(&r, 503, "service_unavailable");
    assert_true(r.seconds < 1.0);
    h_resp_free(&r);
    assert_int_equal(status_of(&s, "/healthz"), 200);

    /* Back: both daemons reconnect and redeclare by themselves. */
    assert_int_equal(h_broker_ctl("start_app"), 0);
    assert_int_equal(h_wait_status(&s, "/readyz", 200, 20000), 200);
    assert_int_equal(h_wait_consumers(1, 20000), 0);
    assert_int_equal(h_wait_status(&s, "/weather?city=Paris", 200, 10000), 200);
    h_http(&s, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "tempo_broker_reconnects_total 1"));
    h_resp_free(&r);
    h_stack_stop(&s);
}

/* A failed test_broker_restart must not leave the broker stopped for the
 * tests after it. */
static int restart_broker(void **state)
{
    (void)state;
    h_kill_all();
    h_broker_ctl("start_app");
    return 0;
}

static void test_broker_frozen(void **state)
{
    struct h_stack s = {0};
    struct h_resp r;

    (void)state;
    h_stack_start(&s, "broker-frozen", 1, NULL, NULL);
    /* A broker that stops answering but keeps its sockets open: only the
     * AMQP heartbeats (10 s, two missed) can tell. */
    assert_int_equal(h_broker_signal(SIGSTOP), 0);
    if (h_wait_status(&s, "/readyz", 503, 40000) != 503) {
        h_broker_signal(SIGCONT);
        fail_msg("the gateway did not notice the frozen broker in 40 s");
    }
    h_http(&s, "GET", "/weather?city=London", NULL, &r);
    h_assert_error(&r, 503, "service_unavailable");
    h_resp_free(&r);
    assert_int_equal(h_broker_signal(SIGCONT), 0);
    assert_int_equal(h_wait_status(&s, "/readyz", 200, 30000), 200);
    assert_int_equal(h_wait_consumers(1, 30000), 0);
    assert_int_equal(h_wait_status(&s, "/weather?city=London", 200, 10000),
                     200);
    h_stack_stop(&s);
}

static int thaw_broker(void **state)
{
    h_broker_signal(SIGCONT);
    return h_kill_all_teardown(state);
}

static void test_failover_url_list(void **state)
{
    char url[700], env_url[800];
    const char *env[2];
    struct h_stack s = {0};

    (void)state;
    /* The first node is down: both daemons go on to the second. */
    snprintf(url, sizeof(url), "amqp://guest:guest@127.0.0.1:%d/, %s",
             h_free_port(), h_broker_url());
    snprintf(env_url, sizeof(env_url), "AMQP_URL=%s", url);
    env[0] = env_url;
    env[1] = NULL;
    h_stack_start(&s, "failover", 1, env, env);
    assert_int_equal(status_of(&s, "/weather?city=Oslo"), 200);
    h_stack_stop(&s);
}

/* ---- workers ------------------------------------------------------------- */

static void test_worker_killed_mid_call(void **state)
{
    static const char *const fake_args[] = {"--slow-ms", "1500", NULL};
    static const char *const wenv[] = {"UPSTREAM_TIMEOUT_MS=5000",
                                       "WEATHER_CACHE_TTL_S=0", NULL};
    static const char *const genv[] = {"RPC_TIMEOUT_MS=15000", NULL};
    struct h_stack s = {0};
    struct bg slow;
    char pid_b[32];
    json_t *j;

    (void)state;
    h_fake_start(&s, fake_args);
    h_stack_start(&s, "worker-killed", 1, wenv, genv);
    /* Worker A takes the call; B joins; A dies before answering. */
    bg_start_in_flight(&slow, &s, "/weather?city=Slowville");
    h_worker_start(&s, 1, wenv);
    s.nworkers = 2;
    assert_int_equal(h_wait_consumers(2, 10000), 0);
    kill(s.workers[0], SIGKILL);
    h_stop(s.workers[0], 0, 5000);
    s.workers[0] = 0;
    bg_join(&slow);
    if (slow.r.status != 200)
        fail_msg("want 200 from the redelivered call, got %ld %s",
                 slow.r.status, slow.r.body);
    j = json_loads(slow.r.body, 0, NULL);
    assert_non_null(j);
    snprintf(pid_b, sizeof(pid_b), ":%d", (int)s.workers[1]);
    assert_non_null(
        strstr(json_string_value(json_object_get(j, "worker")), pid_b));
    json_decref(j);
    h_resp_free(&slow.r);
    h_stack_stop(&s);
}

/* A stack whose only worker is busy with a 1.5 s call (Slowville) that
 * the background request `slow` is waiting for. */
static void start_with_slow_call(struct h_stack *s, const char *name,
                                 struct bg *slow)
{
    static const char *const fake_args[] = {"--slow-ms", "1500", NULL};
    static const char *const wenv[] = {"UPSTREAM_TIMEOUT_MS=5000",
                                       "WEATHER_CACHE_TTL_S=0", NULL};
    static const char *const genv[] = {"RPC_TIMEOUT_MS=10000", NULL};

    h_fake_start(s, fake_args);
    h_stack_start(s, name, 1, wenv, genv);
    bg_start_in_flight(slow, s, "/weather?city=Slowville");
}

static void test_worker_graceful_drain(void **state)
{
    struct h_stack s = {0};
    struct bg slow;
    int rc;

    (void)state;
    start_with_slow_call(&s, "worker-drain", &slow);
    /* SIGTERM mid-call: it finishes the call, replies, acks, exits 0. */
    rc = h_stop(s.workers[0], SIGTERM, 10000);
    s.workers[0] = 0;
    assert_int_equal(rc, 0);
    bg_join(&slow);
    assert_int_equal(slow.r.status, 200);
    h_resp_free(&slow.r);
    /* Nothing was left behind for redelivery. */
    assert_int_equal(h_wait_consumers(0, 5000), 0);
    h_stack_stop(&s);
}

/* DRAIN_TIMEOUT_MS bounds the stop even when a call runs on: its upstream
 * request is cut short (the broker hands the call to another worker). */
static void test_worker_drain_bounded(void **state)
{
    static const char *const fake_args[] = {"--slow-ms", "8000", NULL};
    static const char *const wenv[] = {"UPSTREAM_TIMEOUT_MS=10000",
                                       "DRAIN_TIMEOUT_MS=1000",
                                       "WEATHER_CACHE_TTL_S=0", NULL};
    static const char *const genv[] = {"RPC_TIMEOUT_MS=20000", NULL};
    struct h_stack s = {0};
    struct bg slow;
    int rc;

    (void)state;
    h_fake_start(&s, fake_args);
    h_stack_start(&s, "worker-drain-bounded", 1, wenv, genv);
    bg_start_in_flight(&slow, &s, "/weather?city=Slowville");
    /* Exits 0 within a few seconds, not after the 8 s call. */
    rc = h_stop(s.workers[0], SIGTERM, 5000);
    s.workers[0] = 0;
    assert_int_equal(rc, 0);
    assert_int_equal(h_wait_log(&s, "worker0.log", "drain timeout", 0), 0);
    /* The call went back to the queue: a new worker serves it. */
    h_worker_start(&s, 0, wenv);
    bg_join(&slow);
    assert_int_equal(slow.r.status, 200);
    h_resp_free(&slow.r);
    h_stack_stop(&s);
}

static void test_gateway_graceful_drain(void **state)
{
    struct h_stack s = {0};
    struct bg slow;
    int rc;

    (void)state;
    start_with_slow_call(&s, "gateway-drain", &slow);
    rc = h_stop(s.gateway, SIGTERM, 10000);
    s.gateway = 0;
    assert_int_equal(rc, 0);
    bg_join(&slow);
    assert_int_equal(slow.r.status, 200); /* answered, not cut off */
    h_resp_free(&slow.r);
    h_stack_stop(&s);
}

static void test_rpc_timeout(void **state)
{
    static const char *const fake_args[] = {"--slow-ms", "6000", NULL};
    static const char *const wenv[] = {"UPSTREAM_TIMEOUT_MS=10000",
                                       "WORKER_CONCURRENCY=1", NULL};
    static const char *const genv[] = {"RPC_TIMEOUT_MS=1500", NULL};
    struct h_stack s = {0};
    struct h_resp r;

    (void)state;
    h_fake_start(&s, fake_args);
    h_stack_start(&s, "rpc-timeout", 1, wenv, genv);
    h_http(&s, "GET", "/weather?city=Slowville", NULL, &r);
    h_assert_error(&r, 504, "timeout");
    assert_true(r.seconds < 4.0);
    h_resp_free(&r);
    /* The worker's only thread gave up on Slowville at the caller's
     * deadline (the call's expiration), not after 6 s upstream: the next
     * call is served in time.  Its late reply is dropped by the gateway. */
    h_http(&s, "GET", "/weather?city=London", NULL, &r);
    if (r.status != 200)
        fail_msg("want 200, got %ld %s", r.status, r.body);
    h_resp_free(&r);
    h_stack_stop(&s);
}

/* ---- upstreams ----------------------------------------------------------- */

static long fake_count(const struct h_stack *s, const char *label)
{
    json_t *j = h_fake_get(s, "/_fake/requests");
    json_t *n = json_object_get(json_object_get(j, "paths"), label);
    long v = n ? (long)json_integer_value(n) : 0;

    json_decref(j);
    return v;
}

static void test_upstream_retry_and_stale(void **state)
{
    static const char *const wenv[] = {"WEATHER_CACHE_TTL_S=1",
                                       "UPSTREAM_RETRIES=2", NULL};
    struct h_stack s = {0};
    struct h_resp r;
    json_t *j;

    (void)state;
    h_stack_start(&s, "upstream", 1, wenv, NULL);
    /* One 503 is retried: the client never sees it. */
    h_fake_post(&s, "/_fake/fault?path=/v1/forecast&status=503&count=1");
    h_http(&s, "GET", "/weather?city=Berlin", NULL, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    assert_int_equal(fake_count(&s, "/v1/forecast"), 2);

    /* A 404 is an answer, not a failure: never retried. */
    h_http(&s, "GET", "/weather?city=Atlantis", NULL, &r);
    h_assert_error(&r, 404, "city_not_found");
    h_resp_free(&r);
    assert_int_equal(fake_count(&s, "/v1/search(geocoding)"), 2);

    /* The provider goes down after the cache entry expired: the recent
     * answer is served, marked stale, instead of a 502. */
    usleep(1500000);
    h_fake_post(&s, "/_fake/fault?path=/v1/search(geocoding)&status=500"
                    "&count=100");
    j = h_get_json(&s, "/weather?city=Berlin", &r.status);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(j, "stale")));
    assert_true(json_is_true(json_object_get(j, "cached")));
    json_decref(j);
    /* A city never seen before has nothing to fall back on: 502. */
    h_http(&s, "GET", "/weather?city=Hamburg", NULL, &r);
    h_assert_error(&r, 502, "upstream_error");
    h_resp_free(&r);
    h_stack_stop(&s);
}

/* ---- hostile HTTP clients ------------------------------------------------ */

static int raw_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_slowloris(void **state)
{
    static const char *const genv[] = {"HTTP_IDLE_TIMEOUT_S=2", NULL};
    struct h_stack s = {0};
    int fds[200], i, closed = 0;
    struct timeval tv = {5, 0};

    (void)state;
    h_stack_start(&s, "slowloris", 1, NULL, genv);
    /* 200 clients that never finish their headers... */
    for (i = 0; i < 200; i++) {
        fds[i] = raw_connect(s.gateway_port);
        assert_true(fds[i] >= 0);
        assert_true(write(fds[i], "GET /weather?city=Lon", 21) == 21);
    }
    /* ...do not stop the gateway from serving others... */
    assert_int_equal(status_of(&s, "/weather?city=London"), 200);
    /* ...and are closed once idle for HTTP_IDLE_TIMEOUT_S. */
    for (i = 0; i < 200; i++) {
        char c;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (read(fds[i], &c, 1) <= 0)
            closed++;
        close(fds[i]);
    }
    assert_int_equal(closed, 200);
    h_stack_stop(&s);
}

static void test_oversized_requests(void **state)
{
    struct h_stack s = {0};
    char *path, *hdr;
    const char *hdrs[2];
    struct h_resp r;

    (void)state;
    h_stack_start(&s, "oversized", 1, NULL, NULL);
    path = malloc(70000);
    assert_non_null(path);
    memcpy(path, "/weather?city=", 14);
    memset(path + 14, 'a', 65000);
    path[14 + 65000] = '\0';
    h_http(&s, "GET", path, NULL, &r);
    /* Refused by the request size cap (libmicrohttpd: 414), not served. */
    assert_true(r.status == 414 || r.status == 431 || r.status == 400 ||
                r.status == 0);
    h_resp_free(&r);
    hdr = malloc(70000);
    assert_non_null(hdr);
    memcpy(hdr, "X-Junk: ", 8);
    memset(hdr + 8, 'b', 60000);
    hdr[8 + 60000] = '\0';
    hdrs[0] = hdr;
    hdrs[1] = NULL;
    h_http(&s, "GET", "/weather?city=London", hdrs, &r);
    assert_true(r.status != 200);
    h_resp_free(&r);
    free(path);
    free(hdr);
    /* Still serving. */
    assert_int_equal(status_of(&s, "/weather?city=London"), 200);
    h_stack_stop(&s);
}

static void test_per_ip_limit(void **state)
{
    static const char *const genv[] = {"HTTP_MAX_PER_IP=20", NULL};
    struct h_stack s = {0};
    int fds[25], i, refused = 0;

    (void)state;
    h_stack_start(&s, "per-ip", 1, NULL, genv);
    for (i = 0; i < 25; i++) {
        fds[i] = raw_connect(s.gateway_port);
        usleep(5000);
    }
    /* The ones over the limit are closed straight away. */
    for (i = 0; i < 25; i++) {
        struct timeval tv = {0, 300000};
        char c;
        if (fds[i] < 0) {
            refused++;
            continue;
        }
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (read(fds[i], &c, 1) == 0)
            refused++;
    }
    assert_true(refused >= 5);
    for (i = 0; i < 25; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    assert_int_equal(h_wait_status(&s, "/healthz", 200, 5000), 200);
    h_stack_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_broker_restart, restart_broker),
        cmocka_unit_test_teardown(test_broker_frozen, thaw_broker),
        cmocka_unit_test_teardown(test_failover_url_list, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_worker_killed_mid_call,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_worker_graceful_drain,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_worker_drain_bounded,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_gateway_graceful_drain,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_rpc_timeout, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_upstream_retry_and_stale,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_slowloris, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_oversized_requests, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_per_ip_limit, h_kill_all_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
