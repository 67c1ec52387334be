/*
 * test_envelope.c - reading a Nameko call's envelope (weather-service/
 * envelope.h): reply_to and correlation id, the method from the routing
 * key, the request id (nameko.request_id or the call_id_stack's last
 * entry), the trace context, and the deadline from `expiration` and the
 * absolute header, with hostile values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "envelope.h"

#define MONO 1000000LL
#define WALL 1764650000000LL

static amqp_envelope_t env;
static amqp_table_entry_t hdr[8];
static amqp_field_value_t stack_items[3];

static void reset(const char *routing_key)
{
    memset(&env, 0, sizeof(env));
    env.routing_key = amqp_cstring_bytes(routing_key);
    env.message.properties.headers.entries = hdr;
}

static void flag(amqp_flags_t f)
{
    env.message.properties._flags |= f;
}

static void header_str(const char *key, const char *v)
{
    amqp_table_t *t = &env.message.properties.headers;

    flag(AMQP_BASIC_HEADERS_FLAG);
    hdr[t->num_entries].key = amqp_cstring_bytes(key);
    hdr[t->num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
    hdr[t->num_entries].value.value.bytes = amqp_cstring_bytes(v);
    t->num_entries++;
}

static void header_i64(const char *key, int64_t v)
{
    amqp_table_t *t = &env.message.properties.headers;

    flag(AMQP_BASIC_HEADERS_FLAG);
    hdr[t->num_entries].key = amqp_cstring_bytes(key);
    hdr[t->num_entries].value.kind = AMQP_FIELD_KIND_I64;
    hdr[t->num_entries].value.value.i64 = v;
    t->num_entries++;
}

static void test_gateway_call(void **state)
{
    struct call_envelope e;

    (void)state;
    reset("weather_service.get_playlist");
    flag(AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
         AMQP_BASIC_EXPIRATION_FLAG);
    env.message.properties.reply_to = amqp_cstring_bytes("5d1e0f6a");
    env.message.properties.correlation_id = amqp_cstring_bytes("corr-1");
    env.message.properties.expiration = amqp_cstring_bytes("5000");
    header_str("nameko.request_id", "req-1");
    header_i64("tempo.deadline_ms", WALL + 3000); /* waited 2 s queued */
    header_str("traceparent",
               "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    header_str("tracestate", "congo=t61rcWkgMzE");
    assert_int_equal(envelope_read(&env, MONO, WALL, &e), 0);
    assert_true(e.has_reply_to);
    assert_string_equal(e.reply_to, "5d1e0f6a");
    assert_string_equal(e.corr_id, "corr-1");
    assert_string_equal(e.method, "get_playlist");
    assert_string_equal(e.request_id, "req-1");
    assert_string_equal(e.trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(e.trace.state, "congo=t61rcWkgMzE");
    assert_true(e.deadline_ms == MONO + 3000); /* the header wins */
}

static void test_deadlines(void **state)
{
    struct call_envelope e;

    (void)state;
    /* Only an expiration: counted from now. */
    reset("weather_service.get_playlist");
    flag(AMQP_BASIC_EXPIRATION_FLAG);
    env.message.properties.expiration = amqp_cstring_bytes("250");
    envelope_read(&env, MONO, WALL, &e);
    assert_true(e.deadline_ms == MONO + 250);
    /* The header earlier than the expiration, and already past. */
    header_i64("tempo.deadline_ms", WALL - 10);
    envelope_read(&env, MONO, WALL, &e);
    assert_true(e.deadline_ms > 0 && e.deadline_ms < MONO);
    /* Hostile expirations and headers: ignored, never a crash. */
    reset("weather_service.get_playlist");
    flag(AMQP_BASIC_EXPIRATION_FLAG);
    env.message.properties.expiration = amqp_cstring_bytes("-5");
    envelope_read(&env, MONO, WALL, &e);
    assert_true(e.deadline_ms == 0);
    env.message.properties.expiration = amqp_cstring_bytes("12x");
    envelope_read(&env, MONO, WALL, &e);
    assert_true(e.deadline_ms == 0);
    env.message.properties.expiration =
        amqp_cstring_bytes("99999999999999999999");
    envelope_read(&env, MONO, WALL, &e);
    assert_true(e.deadline_ms == 0);
    header_str("tempo.deadline_ms", "soon");
    envelope_read(&env, MONO, WALL, &e);
    assert_true(e.deadline_ms == 0);
    /* A deadline more than a day ahead is not believed. */
    reset("weather_service.get_playlist");
    header_i64("tempo.deadline_ms", WALL + 2 * 86400000LL);
    envelope_read(&env, MONO, WALL, &e);
    assert_true(e.deadline_ms == 0);
    /* Neither: none (a Python Nameko client sends none). */
    reset("weather_service.get_playlist");
    envelope_read(&env, MONO, WALL, &e);
    assert_true(e.deadline_ms == 0);
}

static void test_request_ids(void **state)
{
    struct call_envelope e;
    amqp_table_t *t = &env.message.properties.headers;

    (void)state;
    /* A plain Nameko caller: only the stack; its last entry. */
    reset("weather_service.get_playlist");
    flag(AMQP_BASIC_HEADERS_FLAG);
    stack_items[0].kind = AMQP_FIELD_KIND_UTF8;
    stack_items[0].value.bytes = amqp_cstring_bytes("gateway.outer");
    stack_items[1].kind = AMQP_FIELD_KIND_UTF8;
    stack_items[1].value.bytes =
        amqp_cstring_bytes("standalone_rpc_proxy.call.5d1e");
    hdr[0].key = amqp_cstring_bytes("nameko.call_id_stack");
    hdr[0].value.kind = AMQP_FIELD_KIND_ARRAY;
    hdr[0].value.value.array.num_entries = 2;
    hdr[0].value.value.array.entries = stack_items;
    t->num_entries = 1;
    envelope_read(&env, MONO, WALL, &e);
    assert_string_equal(e.request_id, "standalone_rpc_proxy.call.5d1e");
    /* A bad nameko.request_id falls back to the stack, never reflected. */
    header_str("nameko.request_id", "evil\nid");
    envelope_read(&env, MONO, WALL, &e);
    assert_string_equal(e.request_id, "standalone_rpc_proxy.call.5d1e");
    /* A bad stack entry: none. */
    stack_items[1].value.bytes = amqp_cstring_bytes("x y");
    envelope_read(&env, MONO, WALL, &e);
    assert_string_equal(e.request_id, "");
    /* An invalid traceparent: no trace. */
    header_str("traceparent", "00-zz-00f067aa0ba902b7-01");
    envelope_read(&env, MONO, WALL, &e);
    assert_string_equal(e.trace.trace_id, "");
}

static void test_unusable(void **state)
{
    static const char nul_corr[] = {'a', '\0', 'b'};
    struct call_envelope e;

    (void)state;
    reset("no-dot-in-key");
    flag(AMQP_BASIC_REPLY_TO_FLAG);
    env.message.properties.reply_to = amqp_cstring_bytes("rk");
    assert_int_equal(envelope_read(&env, MONO, WALL, &e), -1);
    assert_true(e.has_reply_to); /* still answerable */
    reset("weather_service.get_playlist");
    flag(AMQP_BASIC_CORRELATION_ID_FLAG);
    env.message.properties.correlation_id.bytes = (void *)(uintptr_t)nul_corr;
    env.message.properties.correlation_id.len = 3;
    assert_int_equal(envelope_read(&env, MONO, WALL, &e), -1);
    reset("weather_service.a_method_name_far_too_long_for_the_sixty_four_"
          "byte_field_it_is_copied_into");
    assert_int_equal(envelope_read(&env, MONO, WALL, &e), -1);
    /* Empty reply_to: processed, not answered. */
    reset("weather_service.get_playlist");
    flag(AMQP_BASIC_REPLY_TO_FLAG);
    env.message.properties.reply_to = amqp_cstring_bytes("");
    assert_int_equal(envelope_read(&env, MONO, WALL, &e), 0);
    assert_false(e.has_reply_to);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_call),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_unusable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
