/*
 * it_broker.c - what the daemons do with the broker beyond the happy path
 * (issues 12 and 13): /readyz that says whether a call can be served, the
 * service queue as classic or quorum (declared by tempo or found existing),
 * the absolute deadline a call carries, and the context a plain Nameko
 * caller sends.
 */
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* Epoch milliseconds, as the deadline header carries them. */
static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The queue's type as the broker reports it ("classic", "quorum"), or "". */
static void queue_type(char *out, size_t cap)
{
    char cmd[512], line[256];
    FILE *p;

    out[0] = '\0';
    snprintf(cmd, sizeof(cmd),
             "bash %s ctl \"$TEMPO_BROKER_DIR\" list_queues -q name type "
             "2>/dev/null",
             TEMPO_BROKER_SH);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p) != NULL) {
        char name[128], type[64];
        if (sscanf(line, "%127s %63s", name, type) == 2 &&
            strcmp(name, "rpc-weather_service") == 0)
            snprintf(out, cap, "%s", type);
    }
    pclose(p);
}

static void delete_service_queue(void)
{
    amqp_connection_state_t c = h_amqp_connect();

    amqp_queue_delete(c, 1, amqp_cstring_bytes("rpc-weather_service"), 0, 0);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    amqp_destroy_connection(c);
}

/* Declares rpc-weather_service as a durable quorum queue, as an operator
 * would before deploying. */
static void declare_quorum_queue(void)
{
    amqp_connection_state_t c = h_amqp_connect();
    amqp_table_entry_t arg;
    amqp_table_t args;

    arg.key = amqp_cstring_bytes("x-queue-type");
    arg.value.kind = AMQP_FIELD_KIND_UTF8;
    arg.value.value.bytes = amqp_cstring_bytes("quorum");
    args.num_entries = 1;
    args.entries = &arg;
    amqp_queue_declare(c, 1, amqp_cstring_bytes("rpc-weather_service"), 0, 1, 0,
                       0, args);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    amqp_queue_bind(c, 1, amqp_cstring_bytes("rpc-weather_service"),
                    amqp_cstring_bytes("nameko-rpc"),
                    amqp_cstring_bytes("weather_service.*"), amqp_empty_table);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    amqp_destroy_connection(c);
}

/* Leaves the shared broker with the classic queue the other tests expect. */
static int restore_classic(void **state)
{
    (void)state;
    h_kill_all();
    delete_service_queue();
    return 0;
}

static long fake_count(const struct h_stack *s, const char *label)
{
    json_t *j = h_fake_get(s, "/_fake/requests");
    long n = (long)json_integer_value(
        json_object_get(json_object_get(j, "paths"), label));

    json_decref(j);
    return n;
}

/* ---- /readyz ------------------------------------------------------------- */

static void test_readyz_follows_workers(void **state)
{
    struct h_stack s = {0};
    struct h_resp r;

    (void)state;
    h_stack_start(&s, "readyz", 1, NULL, NULL);
    assert_int_equal(h_status(&s, "/readyz"), 200);

    /* The last worker goes: the gateway can no longer serve, and says so
     * (the consumer check runs every 200 ms). */
    assert_int_equal(h_stop(s.workers[0], SIGTERM, 15000), 0);
    s.workers[0] = 0;
    assert_int_equal(h_wait_status(&s, "/readyz", 503, 5000), 503);
    h_http(&s, "GET", "/readyz", NULL, &r);
    assert_non_null(strstr(r.body, "\"broker\":true"));
    assert_non_null(strstr(r.body, "no weather-service worker"));
    h_resp_free(&r);
    h_http(&s, "GET", "/weather?city=London", NULL, &r);
    h_assert_error(&r, 503, "service_unavailable");
    assert_true(r.seconds < 1.0); /* at once, not after RPC_TIMEOUT_MS */
    h_resp_free(&r);

    h_worker_start(&s, 0, NULL);
    assert_int_equal(h_wait_status(&s, "/readyz", 200, 15000), 200);
    assert_int_equal(h_status(&s, "/weather?city=London"), 200);
    h_stack_stop(&s);
}

/* ---- broker signals ------------------------------------------------------ */

static long metric(const struct h_stack *s, const char *name)
{
    struct h_resp r;
    char needle[128];
    const char *p;
    long v = -1;

    /* The sample line, not the HELP text that names it too. */
    snprintf(needle, sizeof(needle), "\n%s ", name);
    h_http(s, "GET", "/metrics", NULL, &r);
    p = r.body != NULL ? strstr(r.body, needle) : NULL;
    if (p != NULL)
        v = strtol(p + strlen(needle), NULL, 10);
    h_resp_free(&r);
    return v;
}

static int clear_alarm(void **state)
{
    (void)state;
    h_kill_all();
    h_broker_ctl("set_vm_memory_high_watermark 0.6");
    return 0;
}

/*
 * A memory alarm blocks publishers.  RabbitMQ tells a connection so
 * (connection.blocked) when it next publishes: that first call waits for
 * its deadline, and from then on the gateway answers 503 at once (not
 * after its timeout), keeps its connection (no reconnect storm on a broker
 * short of memory), says so on /readyz, and serves again when it clears.
 */
static void test_memory_alarm(void **state)
{
    static const char *const genv[] = {"RPC_TIMEOUT_MS=1500", NULL};
    struct h_stack s = {0};
    struct h_resp r;
    long reconnects;

    (void)state;
    h_stack_start(&s, "alarm", 1, NULL, genv);
    assert_int_equal(h_status(&s, "/weather?city=London"), 200);
    reconnects = metric(&s, "tempo_broker_reconnects_total");
    assert_int_equal(h_broker_ctl("set_vm_memory_high_watermark 0.0000001"), 0);
    h_http(&s, "GET", "/weather?city=Berlin", NULL, &r);
    assert_true(r.status == 503 || r.status == 504);
    h_resp_free(&r);
    assert_int_equal(h_wait_status(&s, "/readyz", 503, 10000), 503);
    h_http(&s, "GET", "/readyz", NULL, &r);
    assert_non_null(strstr(r.body, "resource alarm"));
    assert_non_null(strstr(r.body, "\"broker\":true"));
    h_resp_free(&r);
    h_http(&s, "GET", "/weather?city=Paris", NULL, &r);
    h_assert_error(&r, 503, "service_unavailable");
    assert_true(r.seconds < 1.0);
    assert_non_null(strstr(r.body, "resource alarm"));
    h_resp_free(&r);
    assert_int_equal(metric(&s, "tempo_broker_blocked"), 1);
    sleep(3); /* the old gateway gave up on the blocked connection here */
    assert_int_equal(metric(&s, "tempo_broker_reconnects_total"), reconnects);

    assert_int_equal(h_broker_ctl("set_vm_memory_high_watermark 0.6"), 0);
    assert_int_equal(h_wait_status(&s, "/readyz", 200, 10000), 200);
    assert_int_equal(h_status(&s, "/weather?city=Paris"), 200);
    assert_int_equal(metric(&s, "tempo_broker_blocked"), 0);
    assert_int_equal(metric(&s, "tempo_broker_reconnects_total"), reconnects);
    h_stack_stop(&s);
}

/* The broker deletes the gateway's reply queue (an operator, a policy):
 * basic.cancel tells the gateway, which makes a fresh one at once instead
 * of answering 504 for good. */
static void test_reply_queue_deleted(void **state)
{
    struct h_stack s = {0};
    char path[512], *log, *q, cmd[160];
    size_t i;

    (void)state;
    h_stack_start(&s, "reply-deleted", 1, NULL, NULL);
    assert_int_equal(h_status(&s, "/weather?city=London"), 200);
    snprintf(path, sizeof(path), "%s/gateway.log", s.logdir);
    log = h_read_file(path);
    assert_non_null(log);
    q = strstr(log, "rpc.reply-gateway-");
    assert_non_null(q);
    for (i = 0; q[i] != ',' && q[i] != ' ' && q[i] != '\0' && i < 80; i++)
        ;
    snprintf(cmd, sizeof(cmd), "delete_queue %.*s", (int)i, q);
    free(log);
    assert_int_equal(h_broker_ctl(cmd), 0);
    assert_int_equal(h_wait_log(&s, "gateway.log", "consumer cancelled", 5000),
                     0);
    assert_int_equal(h_wait_status(&s, "/weather?city=Oslo", 200, 10000), 200);
    h_stack_stop(&s);
}

/* ---- queue types --------------------------------------------------------- */

/* A queue an operator declared as quorum is consumed as it is, with the
 * default RPC_QUEUE_TYPE (classic): no 406, no retry loop. */
static void test_existing_quorum_queue(void **state)
{
    struct h_stack s = {0};
    char type[64];

    (void)state;
    delete_service_queue();
    declare_quorum_queue();
    h_stack_start(&s, "quorum-existing", 1, NULL, NULL);
    assert_int_equal(h_status(&s, "/weather?city=London"), 200);
    assert_int_equal(h_status(&s, "/weather?lat=38.7167&lon=-9.1333"), 200);
    queue_type(type, sizeof(type));
    assert_string_equal(type, "quorum");
    assert_int_equal(h_wait_log(&s, "worker0.log", "PRECONDITION_FAILED", 0),
                     -1);
    h_stack_stop(&s);
}

/* RPC_QUEUE_TYPE=quorum declares it so when it does not exist; the
 * per-message expiration still drops calls nobody took in time (RabbitMQ
 * 3.10 quorum queues support message TTL), and the gateway's calls are
 * still answered by the next worker after one dies (at-least-once). */
static void test_declares_quorum_queue(void **state)
{
    static const char *const wenv[] = {"RPC_QUEUE_TYPE=quorum", NULL};
    struct h_stack s = {0};
    char type[64], *reply;

    (void)state;
    delete_service_queue();
    h_stack_start(&s, "quorum-declare", 1, wenv, NULL);
    queue_type(type, sizeof(type));
    assert_string_equal(type, "quorum");
    assert_int_equal(h_status(&s, "/weather?city=Paris"), 200);

    /* No consumer: a call with a 300 ms expiration is gone when a worker
     * comes back 1.5 s later, so it is never answered. */
    assert_int_equal(h_stop(s.workers[0], SIGTERM, 15000), 0);
    s.workers[0] = 0;
    assert_int_equal(h_wait_consumers(0, 5000), 0);
    h_fake_post(&s, "/_fake/reset");
    reply = h_raw_call("get_playlist",
                       "{\"args\": [], \"kwargs\": {\"city\": \"Oslo\"}}", NULL,
                       "300", 1500);
    assert_null(reply);
    h_worker_start(&s, 0, wenv);
    assert_int_equal(h_wait_consumers(1, 15000), 0);
    assert_int_equal(h_wait_status(&s, "/readyz", 200, 5000), 200);
    sleep(1); /* a redelivered call would be served by now */
    assert_int_equal(fake_count(&s, "/v1/search(geocoding)"), 0);
    assert_int_equal(h_status(&s, "/weather?city=Oslo"), 200);
    assert_int_equal(fake_count(&s, "/v1/search(geocoding)"), 1);
    h_stack_stop(&s);
}

/* ---- deadlines ----------------------------------------------------------- */

/* A call whose absolute deadline has passed (it waited in a backlog) gets
 * an answer at once and costs no upstream request, although its
 * expiration alone would still allow a minute. */
static void test_call_past_deadline(void **state)
{
    struct h_stack s = {0};
    amqp_table_entry_t hdr;
    amqp_table_t headers;
    char *reply;

    (void)state;
    h_stack_start(&s, "deadline", 1, NULL, NULL);
    h_fake_post(&s, "/_fake/reset");
    hdr.key = amqp_cstring_bytes("tempo.deadline_ms");
    hdr.value.kind = AMQP_FIELD_KIND_I64;
    hdr.value.value.i64 = wall_ms() - 1000;
    headers.num_entries = 1;
    headers.entries = &hdr;
    reply = h_raw_call("get_playlist",
                       "{\"args\": [], \"kwargs\": {\"city\": \"Berlin\"}}",
                       &headers, "60000", 5000);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "\"exc_type\": \"UpstreamTimeout\""));
    free(reply);
    assert_int_equal(fake_count(&s, "/v1/search(geocoding)"), 0);
    assert_int_equal(fake_count(&s, "/v1/forecast"), 0);

    /* The same call with time left is served normally. */
    hdr.value.value.i64 = wall_ms() + 5000;
    reply = h_raw_call("get_playlist",
                       "{\"args\": [], \"kwargs\": {\"city\": \"Berlin\"}}",
                       &headers, "60000", 5000);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "\"error\": null"));
    free(reply);
    assert_int_equal(fake_count(&s, "/v1/forecast"), 1);
    h_stack_stop(&s);
}

/* ---- what a plain Nameko caller sends ------------------------------------ */

/* ClusterRpcProxy sends only nameko.call_id_stack: its last entry is the
 * request id in the worker's logs.  Positional arguments bind as on
 * get_playlist(city=None, lat=None, lon=None). */
static void test_plain_nameko_caller(void **state)
{
    struct h_stack s = {0};
    amqp_table_entry_t hdr;
    amqp_table_t headers;
    amqp_field_value_t stack_items[2];
    char *reply;

    (void)state;
    h_stack_start(&s, "nameko-caller", 1, NULL, NULL);
    stack_items[0].kind = AMQP_FIELD_KIND_UTF8;
    stack_items[0].value.bytes = amqp_cstring_bytes("gateway.outer-1");
    stack_items[1].kind = AMQP_FIELD_KIND_UTF8;
    stack_items[1].value.bytes =
        amqp_cstring_bytes("standalone_rpc_proxy.call.5d1e0f6a");
    hdr.key = amqp_cstring_bytes("nameko.call_id_stack");
    hdr.value.kind = AMQP_FIELD_KIND_ARRAY;
    hdr.value.value.array.num_entries = 2;
    hdr.value.value.array.entries = stack_items;
    headers.num_entries = 1;
    headers.entries = &hdr;

    reply =
        h_raw_call("get_playlist", "{\"args\": [\"Lisbon\"], \"kwargs\": {}}",
                   &headers, NULL, 5000);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "\"name\": \"Lisbon\""));
    assert_non_null(strstr(reply, "\"error\": null"));
    free(reply);
    reply = h_raw_call("get_playlist",
                       "{\"args\": [null, 38.7167, -9.1333], \"kwargs\": {}}",
                       &headers, NULL, 5000);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "\"temperature_c\": 22.0"));
    free(reply);
    /* Its request id is on the worker's lines for the call (debug). */
    assert_int_equal(h_wait_log(&s, "worker0.log",
                                "req=standalone_rpc_proxy.call.5d1e0f6a", 3000),
                     0);
    h_stack_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_readyz_follows_workers,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_memory_alarm, clear_alarm),
        cmocka_unit_test_teardown(test_reply_queue_deleted,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_existing_quorum_queue, restore_classic),
        cmocka_unit_test_teardown(test_declares_quorum_queue, restore_classic),
        cmocka_unit_test_teardown(test_call_past_deadline, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_plain_nameko_caller,
                                  h_kill_all_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
