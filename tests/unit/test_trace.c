/*
 * test_trace.c - W3C Trace Context parsing, validation and propagation
 * (common/trace.h), with the spec's own examples and hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

static void test_parse_valid(void **state)
{
    struct trace t;

    (void)state;
    assert_int_equal(trace_parse("00-" TID "-" SID "-01", &t), 0);
    assert_string_equal(t.trace_id, TID);
    assert_string_equal(t.span_id, SID);
    assert_int_equal(t.flags, 1);
    assert_int_equal(trace_parse("00-" TID "-" SID "-00", &t), 0);
    assert_int_equal(t.flags, 0);
    /* Unknown flag bits are dropped, not propagated. */
    assert_int_equal(trace_parse("00-" TID "-" SID "-ff", &t), 0);
    assert_int_equal(t.flags, 1);
    /* A later version may carry more fields after a '-'. */
    assert_int_equal(trace_parse("01-" TID "-" SID "-01-what-ever", &t), 0);
    assert_int_equal(trace_parse("cc-" TID "-" SID "-01", &t), 0);
}

static void test_parse_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "00",
        "00-" TID "-" SID,
        "00-" TID "-" SID "-0",
        "00-" TID "-" SID "-01-", /* version 00 is exactly 55 */
        "00-" TID "-" SID "-011",
        "01-" TID "-" SID "-01x", /* later version: '-' after 55 */
        "ff-" TID "-" SID "-01",  /* version 255 */
        "00-00000000000000000000000000000000-" SID "-01",
        "00-" TID "-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01", /* upper case */
        "00-" TID "-00F067AA0BA902B7-01",
        "00-" TID "-" SID "-0G",
        "0x-" TID "-" SID "-01",
        "00_" TID "-" SID "-01",
        "00-" TID "_" SID "-01",
        " 00-" TID "-" SID "-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-" SID "-01",
    };
    struct trace t;
    size_t i;

    (void)state;
    assert_int_equal(trace_parse(NULL, &t), -1);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (trace_parse(bad[i], &t) != -1)
            fail_msg("accepted: \"%s\"", bad[i]);
}

static void test_tracestate(void **state)
{
    static const char *const good[] = {
        "congo=t61rcWkgMzE",
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        " rojo=1 ,\tcongo=2 ",
        "a@b=c",
        "tenant1@vendor=x y",
        "a=1,,b=2",
        "k/v*_-=~",
    };
    static const char *const bad[] = {
        "",
        ",",
        "Rojo=1",         /* keys are lower case */
        "1abc=1",         /* simple keys start with a letter */
        "rojo",           /* no value */
        "rojo=",          /* empty value */
        "rojo=a=b",       /* '=' in a value */
        "rojo=trailing ", /* value ends with a space? (trimmed: ok) */
        "a@=1",
        "@b=1",
        "a@B=1",
        "a@bcdefghijklmnop=1", /* system id over 14 */
        "k=\x01",
        "k=\xc3\xa9",
    };
    char many[600];
    size_t i, n = 0;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!trace_state_valid(good[i]))
            fail_msg("rejected: \"%s\"", good[i]);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (i == 7)
            continue; /* trailing OWS belongs to the list, not the value */
        if (trace_state_valid(bad[i]))
            fail_msg("accepted: \"%s\"", bad[i]);
    }
    assert_true(trace_state_valid("rojo=trailing "));
    assert_false(trace_state_valid(NULL));
    /* 32 members are fine, 33 are not; more than 512 bytes never. */
    for (i = 0; i < 33; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "%sk%zu=v",
                              i ? "," : "", i);
    assert_false(trace_state_valid(many));
    many[strlen(many) - strlen(",k32=v")] = '\0';
    assert_true(trace_state_valid(many));
    memset(many, 'a', 520);
    many[0] = 'k';
    many[1] = '=';
    many[520] = '\0';
    assert_false(trace_state_valid(many));
}

static void test_begin_and_format(void **state)
{
    struct trace t, back, t2;
    char out[TRACE_HEADER_LEN + 1], child[TRACE_HEADER_LEN + 1];

    (void)state;
    trace_begin(&t, "00-" TID "-" SID "-01", "congo=t61rcWkgMzE");
    assert_string_equal(t.trace_id, TID);
    assert_string_not_equal(t.span_id, SID); /* our own span */
    assert_string_equal(t.state, "congo=t61rcWkgMzE");
    trace_format(&t, out, sizeof(out));
    assert_int_equal(trace_parse(out, &back), 0);
    assert_string_equal(back.trace_id, TID);
    assert_string_equal(back.span_id, t.span_id);
    assert_int_equal(back.flags, 1);
    trace_format_child(&t, child, sizeof(child));
    assert_int_equal(trace_parse(child, &back), 0);
    assert_string_equal(back.trace_id, TID);
    assert_string_not_equal(back.span_id, t.span_id);

    /* Invalid or absent: a new trace, and the tracestate is dropped. */
    trace_begin(&t, "00-" TID "-" SID "-0x", "congo=t61rcWkgMzE");
    assert_string_not_equal(t.trace_id, TID);
    assert_string_equal(t.state, "");
    assert_int_equal(t.flags, 0);
    trace_format(&t, out, sizeof(out));
    assert_int_equal(trace_parse(out, &back), 0);
    trace_begin(&t2, NULL, NULL);
    assert_string_not_equal(t.trace_id, t2.trace_id);
    /* A valid traceparent with an invalid tracestate keeps the first. */
    trace_begin(&t, "00-" TID "-" SID "-00", "Bad=1");
    assert_string_equal(t.trace_id, TID);
    assert_string_equal(t.state, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_tracestate),
        cmocka_unit_test(test_begin_and_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
