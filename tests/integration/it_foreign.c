/*
 * it_foreign.c - the gateway against a worker that is not ours: a stand-in
 * speaking Nameko's wire format (as a Python Nameko weather_service would)
 * from this test, with replies the C worker never sends: Python-style JSON
 * passed through as the HTTP body, long non-ASCII error values, unknown
 * exception types, garbage, and a duplicate reply.
 */
#include "harness.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static struct h_stack stack;
static pthread_t worker_thread;
static atomic_int worker_stop;
static atomic_int worker_ready;

/* The reply body the stand-in sends for a call naming `city`. */
static char *reply_for(const char *city)
{
    if (strcmp(city, "Python") == 0)
        return strdup("{\"result\": {\"location\": {\"name\": \"Python\"}, "
                      "\"temperature_c\": 21.5, \"genre\": \"pop\", "
                      "\"tracks\": [{\"name\": \"Mot\\u00f6rway\", "
                      "\"artists\": [\"Band\"]}], \"worker\": \"py:1\"}, "
                      "\"error\": null}");
    if (strcmp(city, "LongError") == 0) {
        /* 300 bytes of e-acute: cut anywhere, it must stay valid UTF-8. */
        char *s = malloc(800);
        size_t o;
        int i;
        assert_non_null(s);
        o = (size_t)snprintf(s, 800,
                             "{\"result\": null, \"error\": {\"exc_type\": "
                             "\"CityNotFound\", \"exc_path\": "
                             "\"tempo.CityNotFound\", \"exc_args\": [], "
                             "\"value\": \"");
        for (i = 0; i < 150; i++) {
            s[o++] = (char)0xc3;
            s[o++] = (char)0xa9;
        }
        snprintf(s + o, 800 - o, "\"}}");
        return s;
    }
    if (strcmp(city, "PyError") == 0)
        return strdup(
            "{\"result\": null, \"error\": {\"exc_type\": "
            "\"ValueError\", \"exc_path\": \"builtins.ValueError\", "
            "\"exc_args\": [\"x\"], \"value\": \"secret internals\"}}");
    if (strcmp(city, "Garbage") == 0)
        return strdup("{\"result\": ");
    return strdup("{\"result\": null, \"error\": {\"exc_type\": "
                  "\"UpstreamError\", \"exc_path\": \"tempo.UpstreamError\", "
                  "\"exc_args\": [], \"value\": \"down\"}}");
}

static void *standin(void *arg)
{
    amqp_connection_state_t c = h_amqp_connect();
    struct timeval tv = {0, 200000};

    (void)arg;
    amqp_queue_declare(c, 1, amqp_cstring_bytes("rpc-weather_service"), 0, 1, 0,
                       0, amqp_empty_table);
    amqp_queue_bind(c, 1, amqp_cstring_bytes("rpc-weather_service"),
                    amqp_cstring_bytes("nameko-rpc"),
                    amqp_cstring_bytes("weather_service.*"), amqp_empty_table);
    amqp_basic_consume(c, 1, amqp_cstring_bytes("rpc-weather_service"),
                       amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    atomic_store(&worker_ready, 1);
    while (!atomic_load(&worker_stop)) {
        amqp_envelope_t env;
        amqp_basic_properties_t props;
        json_t *call, *city;
        char *body;
        int dup;

        amqp_maybe_release_buffers(c);
        if (amqp_consume_message(c, &env, &tv, 0).reply_type !=
            AMQP_RESPONSE_NORMAL)
            continue;
        call =
            json_loadb(env.message.body.bytes, env.message.body.len, 0, NULL);
        city = json_object_get(json_object_get(call, "kwargs"), "city");
        body = reply_for(city ? json_string_value(city) : "");
        dup = city && strcmp(json_string_value(city), "Python") == 0;
        memset(&props, 0, sizeof(props));
        props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                       AMQP_BASIC_CORRELATION_ID_FLAG |
                       AMQP_BASIC_DELIVERY_MODE_FLAG;
        props.content_type = amqp_cstring_bytes("application/json");
        props.correlation_id = env.message.properties.correlation_id;
        props.delivery_mode = 2; /* Python Nameko sends persistent */
        amqp_basic_publish(c, 1, amqp_cstring_bytes("nameko-rpc"),
                           env.message.properties.reply_to, 0, 0, &props,
                           amqp_cstring_bytes(body));
        if (dup) /* a duplicate reply must be dropped, not crash anything */
            amqp_basic_publish(c, 1, amqp_cstring_bytes("nameko-rpc"),
                               env.message.properties.reply_to, 0, 0, &props,
                               amqp_cstring_bytes(body));
        amqp_basic_ack(c, 1, env.delivery_tag, 0);
        free(body);
        json_decref(call);
        amqp_destroy_envelope(&env);
    }
    amqp_destroy_connection(c);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    h_stack_start(&stack, "foreign", 0, NULL, NULL);
    assert_int_equal(pthread_create(&worker_thread, NULL, standin, NULL), 0);
    while (!atomic_load(&worker_ready))
        usleep(10000);
    assert_int_equal(h_wait_consumers(1, 10000), 0);
    usleep(300000); /* the gateway caches the consumer count briefly */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&worker_stop, 1);
    pthread_join(worker_thread, NULL);
    h_stack_stop(&stack);
    return 0;
}

static void test_python_result_passed_through(void **state)
{
    struct h_resp r;
    json_t *j;

    (void)state;
    h_http(&stack, "GET", "/weather?city=Python", NULL, &r);
    assert_int_equal(r.status, 200);
    j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "worker")),
                        "py:1");
    /* Python's ensure_ascii escape reaches the client as the same text. */
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(j, "tracks"), 0), "name")),
        "Mot\xc3\xb6rway");
    json_decref(j);
    h_resp_free(&r);
    /* The duplicate reply was dropped; the gateway still serves. */
    h_http(&stack, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
}

static void test_long_utf8_error(void **state)
{
    struct h_resp r;

    (void)state;
    h_http(&stack, "GET", "/weather?city=LongError", NULL, &r);
    h_assert_error(&r, 404, "city_not_found"); /* parses as valid JSON */
    h_resp_free(&r);
}

static void test_foreign_exception_is_internal(void **state)
{
    struct h_resp r;

    (void)state;
    h_http(&stack, "GET", "/weather?city=PyError", NULL, &r);
    h_assert_error(&r, 500, "internal");
    assert_null(strstr(r.body, "secret internals"));
    h_resp_free(&r);
    h_http(&stack, "GET", "/weather?city=Garbage", NULL, &r);
    h_assert_error(&r, 500, "internal");
    h_resp_free(&r);
    h_http(&stack, "GET", "/weather?city=Other", NULL, &r);
    h_assert_error(&r, 502, "upstream_error");
    h_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_result_passed_through),
        cmocka_unit_test(test_long_utf8_error),
        cmocka_unit_test(test_foreign_exception_is_internal),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
