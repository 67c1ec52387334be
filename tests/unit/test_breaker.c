/*
 * test_breaker.c - the per-upstream breaker: it opens after `threshold`
 * failures in a row, neutral outcomes count neither way (and release a
 * probe), one probe at a time once the open period has passed; and the
 * latency estimate rises quickly and falls slowly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <unistd.h>

#include "breaker.h"

static void test_opens_after_threshold(void **state)
{
    struct breaker *b = breaker_create(3, 200, 0);
    int probe = 1;

    (void)state;
    assert_non_null(b);
    assert_int_equal(breaker_admit(b, &probe), 0);
    assert_int_equal(probe, 0);
    breaker_record(b, BREAKER_FAIL, probe);
    breaker_record(b, BREAKER_FAIL, 0);
    breaker_record(b, BREAKER_OK, 0); /* a success resets the count */
    breaker_record(b, BREAKER_FAIL, 0);
    breaker_record(b, BREAKER_FAIL, 0);
    assert_int_equal(breaker_admit(b, &probe), 0);
    breaker_record(b, BREAKER_FAIL, 0);
    assert_int_equal(breaker_admit(b, &probe), -1);
    breaker_destroy(b);
}

static void test_neutral_counts_neither_way(void **state)
{
    struct breaker *b = breaker_create(2, 200, 0);
    int probe = 0, i;

    (void)state;
    assert_non_null(b);
    for (i = 0; i < 10; i++)
        breaker_record(b, BREAKER_NEUTRAL, 0);
    assert_int_equal(breaker_admit(b, &probe), 0);
    breaker_record(b, BREAKER_FAIL, 0);
    breaker_record(b, BREAKER_NEUTRAL, 0); /* does not reset either */
    breaker_record(b, BREAKER_FAIL, 0);
    assert_int_equal(breaker_admit(b, &probe), -1);
    breaker_destroy(b);
}

static void test_one_probe_at_a_time(void **state)
{
    struct breaker *b = breaker_create(1, 100, 0);
    int probe = 0, other = 0;

    (void)state;
    assert_non_null(b);
    breaker_record(b, BREAKER_FAIL, 0);
    assert_int_equal(breaker_admit(b, &probe), -1);
    usleep(150 * 1000);
    assert_int_equal(breaker_admit(b, &probe), 0);
    assert_int_equal(probe, 1);
    assert_int_equal(breaker_admit(b, &other), -1); /* one probe only */
    /* A neutral probe (say, the caller ran out of time) hands the probe
     * to the next call instead of keeping the circuit shut. */
    breaker_record(b, BREAKER_NEUTRAL, probe);
    assert_int_equal(breaker_admit(b, &probe), 0);
    assert_int_equal(probe, 1);
    breaker_record(b, BREAKER_OK, probe);
    assert_int_equal(breaker_admit(b, &probe), 0);
    assert_int_equal(probe, 0);
    breaker_destroy(b);
}

static void test_latency_estimate(void **state)
{
    struct breaker *b = breaker_create(5, 5000, 0);
    int i;

    (void)state;
    assert_non_null(b);
    assert_int_equal(breaker_typical_ms(b), 0); /* nothing known */
    breaker_note_latency(b, 1);
    assert_int_equal(breaker_typical_ms(b), 1);
    /* The upstream slows from 1 ms to 1000 ms: seen within a few calls. */
    for (i = 0; i < 5; i++)
        breaker_note_latency(b, 1000);
    assert_true(breaker_typical_ms(b) >= 960);
    /* One quick answer does not make it fast again. */
    breaker_note_latency(b, 10);
    assert_true(breaker_typical_ms(b) >= 800);
    for (i = 0; i < 60; i++)
        breaker_note_latency(b, 10);
    assert_true(breaker_typical_ms(b) < 50);
    /* A cut attempt (one slow request) does not raise it. */
    breaker_note_cut(b);
    assert_true(breaker_typical_ms(b) < 50);
    breaker_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_threshold),
        cmocka_unit_test(test_neutral_counts_neither_way),
        cmocka_unit_test(test_one_probe_at_a_time),
        cmocka_unit_test(test_latency_estimate),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
