/*
 * it_wire.c - the Nameko wire format on the real broker (SPEC section 3).
 *
 * A tap queue bound to nameko-rpc with "weather_service.*" (calls) and "*"
 * (replies: their routing key is a bare uuid) captures what the gateway and
 * the worker publish; every field SPEC section 3 names is checked.  Then the
 * test plays a Nameko client itself and sends the worker bad calls.
 */
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static struct h_stack stack;

static int setup(void **state)
{
    (void)state;
    h_stack_start(&stack, "wire", 1, NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_stack_stop(&stack);
    return 0;
}

static char *bytes_dup(amqp_bytes_t b)
{
    char *s = malloc(b.len + 1);

    assert_non_null(s);
    memcpy(s, b.bytes, b.len);
    s[b.len] = '\0';
    return s;
}

static void declare_tap(amqp_connection_state_t c, const char *name)
{
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, 0, 1, 1,
                       amqp_empty_table);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    amqp_queue_bind(c, 1, amqp_cstring_bytes(name),
                    amqp_cstring_bytes("nameko-rpc"),
                    amqp_cstring_bytes("weather_service.*"), amqp_empty_table);
    amqp_queue_bind(c, 1, amqp_cstring_bytes(name),
                    amqp_cstring_bytes("nameko-rpc"), amqp_cstring_bytes("*"),
                    amqp_empty_table);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    amqp_basic_consume(c, 1, amqp_cstring_bytes(name), amqp_empty_bytes, 0, 1,
                       0, amqp_empty_table);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
}

static int next_message(amqp_connection_state_t c, amqp_envelope_t *env,
                        int timeout_s)
{
    struct timeval tv = {timeout_s, 0};
    amqp_rpc_reply_t r;

    amqp_maybe_release_buffers(c);
    r = amqp_consume_message(c, env, &tv, 0);
    return r.reply_type == AMQP_RESPONSE_NORMAL ? 0 : -1;
}

static const amqp_field_value_t *header(const amqp_basic_properties_t *p,
                                        const char *key)
{
    int i;

    for (i = 0; i < p->headers.num_entries; i++)
        if (p->headers.entries[i].key.len == strlen(key) &&
            memcmp(p->headers.entries[i].key.bytes, key, strlen(key)) == 0)
            return &p->headers.entries[i].value;
    return NULL;
}

static int is_uuid(const char *s)
{
    size_t i;

    if (strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return 1;
}

static void test_topology_flags(void **state)
{
    amqp_connection_state_t c = h_amqp_connect();

    (void)state;
    /* Re-declaring with Nameko's exact flags succeeds only if ours match
     * (RabbitMQ answers 406 PRECONDITION_FAILED otherwise). */
    amqp_exchange_declare(c, 1, amqp_cstring_bytes("nameko-rpc"),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                          amqp_empty_table);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    amqp_queue_declare(c, 1, amqp_cstring_bytes("rpc-weather_service"), 0, 1, 0,
                       0, amqp_empty_table);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    amqp_destroy_connection(c);
}

static void test_call_and_reply_fields(void **state)
{
    static const char *const hdr[] = {"X-Request-Id: wire-test-1", NULL};
    amqp_connection_state_t c = h_amqp_connect();
    amqp_envelope_t call, reply;
    amqp_basic_properties_t *p;
    const amqp_field_value_t *v;
    char *s, *reply_to, *corr;
    long expiration;
    struct h_resp r;
    json_t *j;

    (void)state;
    declare_tap(c, "tempo-wire-tap");
    h_http(&stack, "GET", "/weather?city=London", hdr, &r);
    assert_int_equal(r.status, 200);

    /* The call. */
    assert_int_equal(next_message(c, &call, 5), 0);
    s = bytes_dup(call.exchange);
    assert_string_equal(s, "nameko-rpc");
    free(s);
    s = bytes_dup(call.routing_key);
    assert_string_equal(s, "weather_service.get_playlist");
    free(s);
    p = &call.message.properties;
    assert_true(p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG);
    s = bytes_dup(p->content_type);
    assert_string_equal(s, "application/json");
    free(s);
    s = bytes_dup(p->content_encoding);
    assert_string_equal(s, "utf-8");
    free(s);
    assert_int_equal(p->delivery_mode, 1);
    corr = bytes_dup(p->correlation_id);
    assert_true(is_uuid(corr));
    reply_to = bytes_dup(p->reply_to);
    assert_true(is_uuid(reply_to)); /* a routing key, not a queue name */
    assert_true(p->_flags & AMQP_BASIC_EXPIRATION_FLAG);
    s = bytes_dup(p->expiration);
    expiration = strtol(s, NULL, 10);
    assert_true(expiration > 0 && expiration <= 5000);
    free(s);
    v = header(p, "nameko.call_id_stack");
    assert_non_null(v);
    assert_int_equal(v->kind, AMQP_FIELD_KIND_ARRAY);
    assert_int_equal(v->value.array.num_entries, 1);
    s = bytes_dup(v->value.array.entries[0].value.bytes);
    assert_string_equal(s, "gateway.wire-test-1");
    free(s);
    v = header(p, "nameko.request_id");
    assert_non_null(v);
    s = bytes_dup(v->value.bytes);
    assert_string_equal(s, "wire-test-1");
    free(s);
    s = bytes_dup(call.message.body);
    assert_string_equal(s,
                        "{\"args\": [], \"kwargs\": {\"city\": \"London\"}}");
    free(s);

    /* The reply. */
    assert_int_equal(next_message(c, &reply, 5), 0);
    s = bytes_dup(reply.exchange);
    assert_string_equal(s, "nameko-rpc");
    free(s);
    s = bytes_dup(reply.routing_key);
    assert_string_equal(s, reply_to);
    free(s);
    p = &reply.message.properties;
    s = bytes_dup(p->correlation_id);
    assert_string_equal(s, corr);
    free(s);
    s = bytes_dup(p->content_type);
    assert_string_equal(s, "application/json");
    free(s);
    assert_false(p->_flags & AMQP_BASIC_REPLY_TO_FLAG);
    s = bytes_dup(reply.message.body);
    assert_true(strncmp(s, "{\"result\": {", 12) == 0);
    j = json_loads(s, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "error")));
    /* The HTTP body is the reply's result, passed through. */
    {
        json_t *http = json_loads(r.body, 0, NULL);
        assert_true(json_equal(http, json_object_get(j, "result")));
        json_decref(http);
    }
    json_decref(j);
    free(s);
    free(corr);
    free(reply_to);
    amqp_destroy_envelope(&call);
    amqp_destroy_envelope(&reply);
    h_resp_free(&r);

    /* An error reply: CityNotFound with tempo's exc_path. */
    h_http(&stack, "GET", "/weather?city=Atlantis", NULL, &r);
    assert_int_equal(r.status, 404);
    h_resp_free(&r);
    assert_int_equal(next_message(c, &call, 5), 0);
    assert_int_equal(next_message(c, &reply, 5), 0);
    s = bytes_dup(reply.message.body);
    j = json_loads(s, 0, NULL);
    assert_non_null(j);
    {
        const char *type = NULL, *path = NULL, *value = NULL, *arg = NULL;
        assert_int_equal(json_unpack(j, "{s:n,s:{s:s,s:s,s:[s],s:s}}", "result",
                                     "error", "exc_type", &type, "exc_path",
                                     &path, "exc_args", &arg, "value", &value),
                         0);
        assert_string_equal(type, "CityNotFound");
        assert_string_equal(path, "tempo.CityNotFound");
        assert_string_equal(arg, "Atlantis");
        assert_non_null(strstr(value, "Atlantis"));
    }
    json_decref(j);
    free(s);
    amqp_destroy_envelope(&call);
    amqp_destroy_envelope(&reply);
    amqp_destroy_connection(c);
}

/* Sends a raw call to the worker as a Nameko client would; returns the
 * reply body (malloc'd) or NULL if none came within wait_s. */
static char *raw_call(const char *method, const char *body, int with_reply,
                      int wait_s)
{
    amqp_connection_state_t c = h_amqp_connect();
    amqp_basic_properties_t props;
    amqp_envelope_t env;
    char rk[128], key[37] = "0b8e3a52-8a5c-4d7e-9d2f-6a1b2c3d4e5f";
    char *out = NULL;

    snprintf(key + 30, 7, "%06x", (unsigned)(rand() & 0xffffff));
    /* A server-named queue: a fixed name for an exclusive queue races the
     * broker's cleanup of the previous call's connection (405
     * RESOURCE_LOCKED). */
    amqp_queue_declare_ok_t *q = amqp_queue_declare(c, 1, amqp_empty_bytes, 0,
                                                    0, 1, 1, amqp_empty_table);
    assert_non_null(q);
    amqp_bytes_t qname = amqp_bytes_malloc_dup(q->queue);
    amqp_queue_bind(c, 1, qname, amqp_cstring_bytes("nameko-rpc"),
                    amqp_cstring_bytes(key), amqp_empty_table);
    amqp_basic_consume(c, 1, qname, amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    amqp_bytes_free(qname);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_CORRELATION_ID_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.correlation_id = amqp_cstring_bytes("corr-raw-1");
    props.delivery_mode = 2; /* as Python Nameko sends */
    if (with_reply) {
        props._flags |= AMQP_BASIC_REPLY_TO_FLAG;
        props.reply_to = amqp_cstring_bytes(key);
    }
    snprintf(rk, sizeof(rk), "weather_service.%s", method);
    assert_int_equal(amqp_basic_publish(c, 1, amqp_cstring_bytes("nameko-rpc"),
                                        amqp_cstring_bytes(rk), 0, 0, &props,
                                        amqp_cstring_bytes(body)),
                     AMQP_STATUS_OK);
    if (next_message(c, &env, wait_s) == 0) {
        char *corr = bytes_dup(env.message.properties.correlation_id);
        assert_string_equal(corr, "corr-raw-1");
        free(corr);
        out = bytes_dup(env.message.body);
        amqp_destroy_envelope(&env);
    }
    amqp_destroy_connection(c);
    return out;
}

static void expect_error(const char *body, const char *type, const char *path)
{
    json_t *j = json_loads(body, 0, NULL);
    const char *t = NULL, *p = NULL;

    assert_non_null(j);
    if (json_unpack(j, "{s:n,s:{s:s,s:s,s:o,s:s}}", "result", "error",
                    "exc_type", &t, "exc_path", &p, "exc_args", &(json_t *){0},
                    "value", &(const char *){0}) != 0)
        fail_msg("not a Nameko error envelope: %s", body);
    assert_string_equal(t, type);
    assert_string_equal(p, path);
    json_decref(j);
}

static void test_bad_calls(void **state)
{
    char *reply;

    (void)state;
    reply = raw_call("no_such_method", "{\"args\": [1], \"kwargs\": {}}", 1, 5);
    assert_non_null(reply);
    expect_error(reply, "MethodNotFound", "nameko.exceptions.MethodNotFound");
    assert_non_null(strstr(reply, "\"exc_args\": [\"no_such_method\"]"));
    free(reply);

    reply = raw_call("get_playlist", "this is not json", 1, 5);
    assert_non_null(reply);
    expect_error(reply, "MalformedRequest",
                 "nameko.exceptions.MalformedRequest");
    free(reply);

    reply = raw_call("get_playlist", "{\"kwargs\": {}}", 1, 5);
    assert_non_null(reply);
    expect_error(reply, "MalformedRequest",
                 "nameko.exceptions.MalformedRequest");
    free(reply);

    reply = raw_call("get_playlist",
                     "{\"args\": [], \"kwargs\": {\"city\": 42}}", 1, 5);
    assert_non_null(reply);
    expect_error(reply, "InvalidArgument", "tempo.InvalidArgument");
    free(reply);

    reply = raw_call("get_playlist",
                     "{\"args\": [], \"kwargs\": {\"town\": \"x\"}}", 1, 5);
    assert_non_null(reply);
    expect_error(reply, "IncorrectSignature",
                 "nameko.exceptions.IncorrectSignature");
    free(reply);

    /* A body over the 1 MiB cap is refused without being parsed. */
    {
        size_t big = 2 * 1024 * 1024;
        char *body = malloc(big + 1);
        assert_non_null(body);
        memset(body, ' ', big);
        static const char head[] = "{\"args\": [], \"kwargs\": {\"city\": \"";
        memcpy(body, head, strlen(head));
        body[big] = '\0';
        reply = raw_call("get_playlist", body, 1, 10);
        free(body);
        assert_non_null(reply);
        expect_error(reply, "MalformedRequest",
                     "nameko.exceptions.MalformedRequest");
        free(reply);
    }

    /* A good call from a Python-style client is answered. */
    reply = raw_call("get_playlist",
                     "{\"args\": [], \"kwargs\": {\"city\": \"Oslo\"}}", 1, 5);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "\"genre\": \"classical\""));
    free(reply);

    /* No reply_to: processed and acked, nobody answered. */
    reply = raw_call("get_playlist",
                     "{\"args\": [], \"kwargs\": {\"city\": \"Oslo\"}}", 0, 1);
    assert_null(reply);
}

static void test_nothing_left_unacked(void **state)
{
    amqp_connection_state_t c;
    amqp_queue_declare_ok_t *ok;

    (void)state;
    /* The worker is still there after all the bad calls. */
    assert_int_equal(h_queue_consumers(), 1);
    /* Stop it: any call it had not acked would now be requeued. */
    assert_int_equal(h_stop(stack.workers[0], SIGTERM, 15000), 0);
    stack.workers[0] = 0;
    c = h_amqp_connect();
    ok = amqp_queue_declare(c, 1, amqp_cstring_bytes("rpc-weather_service"), 1,
                            0, 0, 0, amqp_empty_table);
    assert_non_null(ok);
    assert_int_equal(ok->message_count, 0);
    assert_int_equal(ok->consumer_count, 0);
    amqp_destroy_connection(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_flags),
        cmocka_unit_test(test_call_and_reply_fields),
        cmocka_unit_test(test_bad_calls),
        cmocka_unit_test(test_nothing_left_unacked),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
