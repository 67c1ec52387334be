/*
 * test_amqp_headers.c - reading AMQP header tables from any peer
 * (common/amqp_headers.h): kinds, bounds, hostile values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_headers.h"

static amqp_table_entry_t entries[8];
static amqp_table_t table = {0, entries};

static void put(const char *key, amqp_field_value_t v)
{
    entries[table.num_entries].key = amqp_cstring_bytes(key);
    entries[table.num_entries].value = v;
    table.num_entries++;
}

static amqp_field_value_t str(const char *s)
{
    amqp_field_value_t v;

    v.kind = AMQP_FIELD_KIND_UTF8;
    v.value.bytes = amqp_cstring_bytes(s);
    return v;
}

static void test_strings(void **state)
{
    char out[16];
    amqp_field_value_t v;
    static const char nul[] = {'a', '\0', 'b'};

    (void)state;
    table.num_entries = 0;
    put("a", str("hello"));
    put("long", str("0123456789abcdefXYZ"));
    v.kind = AMQP_FIELD_KIND_BYTES;
    v.value.bytes.bytes = (void *)(uintptr_t)nul;
    v.value.bytes.len = 3;
    put("nul", v);
    v.kind = AMQP_FIELD_KIND_I32;
    v.value.i32 = 5;
    put("num", v);
    assert_int_equal(amqp_headers_string(&table, "a", out, sizeof(out)), 0);
    assert_string_equal(out, "hello");
    assert_int_equal(amqp_headers_string(&table, "long", out, sizeof(out)), -1);
    assert_string_equal(out, "");
    assert_int_equal(amqp_headers_string(&table, "nul", out, sizeof(out)), -1);
    assert_int_equal(amqp_headers_string(&table, "num", out, sizeof(out)), -1);
    assert_int_equal(amqp_headers_string(&table, "absent", out, sizeof(out)),
                     -1);
    assert_null(amqp_headers_find(NULL, "a"));
}

static void test_last_string(void **state)
{
    amqp_field_value_t items[3], v;
    char out[64];

    (void)state;
    table.num_entries = 0;
    items[0] = str("gateway.outer");
    items[1] = str("standalone_rpc_proxy.call.1");
    v.kind = AMQP_FIELD_KIND_ARRAY;
    v.value.array.num_entries = 2;
    v.value.array.entries = items;
    put("stack", v);
    v.value.array.num_entries = 0;
    put("empty", v);
    items[2].kind = AMQP_FIELD_KIND_I8;
    items[2].value.i8 = 1;
    v.value.array.num_entries = 1;
    v.value.array.entries = &items[2];
    put("ints", v);
    put("plain", str("x"));
    assert_int_equal(
        amqp_headers_last_string(&table, "stack", out, sizeof(out)), 0);
    assert_string_equal(out, "standalone_rpc_proxy.call.1");
    assert_int_equal(
        amqp_headers_last_string(&table, "empty", out, sizeof(out)), -1);
    assert_int_equal(amqp_headers_last_string(&table, "ints", out, sizeof(out)),
                     -1);
    assert_int_equal(
        amqp_headers_last_string(&table, "plain", out, sizeof(out)), -1);
}

static void test_int64(void **state)
{
    amqp_field_value_t v;
    int64_t n = 0;

    (void)state;
    table.num_entries = 0;
    v.kind = AMQP_FIELD_KIND_I64;
    v.value.i64 = 1764650000123LL;
    put("i64", v);
    v.kind = AMQP_FIELD_KIND_U64;
    v.value.u64 = UINT64_MAX;
    put("u64big", v);
    v.kind = AMQP_FIELD_KIND_U16;
    v.value.u16 = 65535;
    put("u16", v);
    put("digits", str("1764650000123"));
    put("sign", str("-5"));
    put("huge", str("9999999999999999999"));
    put("empty", str(""));
    assert_int_equal(amqp_headers_int64(&table, "i64", &n), 0);
    assert_true(n == 1764650000123LL);
    assert_int_equal(amqp_headers_int64(&table, "u64big", &n), -1);
    assert_int_equal(amqp_headers_int64(&table, "u16", &n), 0);
    assert_true(n == 65535);
    assert_int_equal(amqp_headers_int64(&table, "digits", &n), 0);
    assert_true(n == 1764650000123LL);
    assert_int_equal(amqp_headers_int64(&table, "sign", &n), -1);
    assert_int_equal(amqp_headers_int64(&table, "huge", &n), -1);
    assert_int_equal(amqp_headers_int64(&table, "empty", &n), -1);
    assert_int_equal(amqp_headers_int64(&table, "absent", &n), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_last_string),
        cmocka_unit_test(test_int64),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
