/*
 * test_ratelimit.c - the token buckets of gateway/ratelimit.h on a clock
 * the test drives: bursts, refill, Retry-After, clients kept apart (IPv4,
 * IPv6 /64), and memory that stays fixed under a flood of addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "netaddr.h"
#include "ratelimit.h"

#include <stdio.h>
#include <string.h>

static struct netaddr ip(const char *s)
{
    struct netaddr a;

    if (netaddr_parse(s, strlen(s), &a) != 0)
        fail_msg("bad address %s", s);
    return a;
}

static struct netaddr ipv4_n(uint32_t n)
{
    struct netaddr a;

    memset(&a, 0, sizeof(a));
    a.family = 4;
    a.bytes[0] = (uint8_t)(n >> 24);
    a.bytes[1] = (uint8_t)(n >> 16);
    a.bytes[2] = (uint8_t)(n >> 8);
    a.bytes[3] = (uint8_t)n;
    return a;
}

/* How many of n requests at time t are allowed. */
static int allowed(struct ratelimit *rl, const struct netaddr *a, uint64_t t,
                   int n)
{
    long ra;
    int i, ok = 0;

    for (i = 0; i < n; i++)
        ok += ratelimit_take(rl, a, t, &ra);
    return ok;
}

static void test_arguments(void **state)
{
    (void)state;
    assert_null(ratelimit_create(0, 10, 64, 1));
    assert_null(ratelimit_create(-1, 10, 64, 1));
    assert_null(ratelimit_create(10, 0, 64, 1));
    assert_null(ratelimit_create(1000001, 10, 64, 1));
    ratelimit_destroy(NULL);
}

static void test_burst_then_refill(void **state)
{
    struct ratelimit *rl = ratelimit_create(10, 5, 64, 42);
    struct netaddr a = ip("127.0.0.1");
    long ra = -1;

    (void)state;
    assert_non_null(rl);
    /* A burst of 5 at once, then refused. */
    assert_int_equal(allowed(rl, &a, 1000, 5), 5);
    assert_int_equal(ratelimit_take(rl, &a, 1000, &ra), 0);
    assert_int_equal(ra, 1); /* 100 ms to the next token: say 1 s */
    /* 10 per second: one token per 100 ms. */
    assert_int_equal(allowed(rl, &a, 1099, 1), 0);
    assert_int_equal(allowed(rl, &a, 1100, 2), 1);
    assert_int_equal(allowed(rl, &a, 1350, 5), 2);
    /* Long away: full again, never more than the burst. */
    assert_int_equal(allowed(rl, &a, 1000000, 10), 5);
    assert_int_equal(allowed(rl, &a, UINT64_MAX / 2, 10), 5);
    ratelimit_destroy(rl);
}

static void test_retry_after(void **state)
{
    struct ratelimit *rl = ratelimit_create(1, 1, 64, 7);
    struct netaddr a = ip("192.0.2.1");
    long ra = 0;

    (void)state;
    assert_int_equal(ratelimit_take(rl, &a, 5000, &ra), 1);
    assert_int_equal(ratelimit_take(rl, &a, 5000, &ra), 0);
    assert_int_equal(ra, 1);
    ratelimit_destroy(rl);
    /* Slower than one per second is not possible (rps >= 1), but a burst
     * of 1 at 1/s after 400 ms still needs 600 ms: 1 s. */
    rl = ratelimit_create(1, 3, 64, 7);
    assert_int_equal(allowed(rl, &a, 0, 3), 3);
    assert_int_equal(ratelimit_take(rl, &a, 400, &ra), 0);
    assert_int_equal(ra, 1);
    assert_int_equal(ratelimit_take(rl, &a, 1000, &ra), 1);
    ratelimit_destroy(rl);
}

static void test_clock_backwards(void **state)
{
    struct ratelimit *rl = ratelimit_create(10, 2, 64, 3);
    struct netaddr a = ip("10.0.0.1");

    (void)state;
    assert_int_equal(allowed(rl, &a, 10000, 2), 2);
    assert_int_equal(allowed(rl, &a, 0, 1), 0); /* no refill from the past */
    assert_int_equal(allowed(rl, &a, 10100, 1), 1);
    ratelimit_destroy(rl);
}

static void test_clients_apart(void **state)
{
    struct ratelimit *rl = ratelimit_create(1, 3, 1024, 99);
    struct netaddr a = ip("127.0.0.1"), b = ip("127.0.0.2");
    struct netaddr m = ip("::ffff:127.0.0.2");
    struct netaddr v6a = ip("2001:db8:1:2::1"),
                   v6b = ip("2001:db8:1:2:ffff::9");
    struct netaddr v6c = ip("2001:db8:1:3::1");
    struct netaddr v4as6 = ip("::7f00:1"); /* not mapped: another client */

    (void)state;
    assert_int_equal(allowed(rl, &a, 0, 10), 3);
    assert_int_equal(allowed(rl, &b, 0, 1), 1);
    /* The mapped form of 127.0.0.2 is 127.0.0.2. */
    assert_int_equal(allowed(rl, &m, 0, 10), 2);
    /* One IPv6 /64 is one client; the next /64 is another. */
    assert_int_equal(allowed(rl, &v6a, 0, 2), 2);
    assert_int_equal(allowed(rl, &v6b, 0, 10), 1);
    assert_int_equal(allowed(rl, &v6c, 0, 10), 3);
    assert_int_equal(allowed(rl, &v4as6, 0, 10), 3);
    ratelimit_destroy(rl);
}

static void test_memory_fixed_under_flood(void **state)
{
    struct ratelimit *rl = ratelimit_create(1, 2, 1024, 12345);
    struct netaddr heavy = ip("198.51.100.7");
    struct ratelimit_stats st;
    uint32_t i;
    int heavy_ok = 0;

    (void)state;
    /* A million distinct addresses, one request each, within one second,
     * with a client over its limit among them. */
    for (i = 0; i < 1000000; i++) {
        struct netaddr a = ipv4_n(0x0a000000u + i);
        long ra;
        assert_int_equal(ratelimit_take(rl, &a, i / 1000, &ra), 1);
        if (i % 100 == 0)
            heavy_ok += ratelimit_take(rl, &heavy, i / 1000, &ra);
    }
    ratelimit_stats(rl, &st);
    assert_int_equal(st.slots, 1024);
    assert_true(st.used <= st.slots);
    assert_true(st.evictions > 0); /* the table is lossy, not unbounded */
    /* Seen often, the heavy client stayed tracked: it got its burst and
     * one refill per second, not a fresh burst per eviction. */
    assert_true(heavy_ok <= 2 + 1 + 1);
    ratelimit_destroy(rl);
}

static void test_full_buckets_evicted_first(void **state)
{
    struct ratelimit *rl = ratelimit_create(100, 1, 64, 5);
    struct ratelimit_stats st;
    uint32_t i;
    long ra;

    (void)state;
    /* Each client makes one request, 20 ms apart: with 100/s and a burst
     * of 1, a bucket is full again 10 ms later, so every entry can be
     * replaced without forgetting anything. */
    for (i = 0; i < 10000; i++) {
        struct netaddr a = ipv4_n(i);
        assert_int_equal(ratelimit_take(rl, &a, (uint64_t)i * 20, &ra), 1);
    }
    ratelimit_stats(rl, &st);
    assert_int_equal(st.evictions, 0);
    assert_true(st.used <= 64);
    ratelimit_destroy(rl);
}

static void test_one_set_evicts_least_recent(void **state)
{
    struct ratelimit *r1 = ratelimit_create(1, 1, 8, 1);
    struct netaddr a = ip("203.0.113.1"), b = ip("203.0.113.2");
    long ra;

    (void)state;
    /* One set of 8 (slots rounded): 9 live clients force one eviction. */
    for (uint32_t i = 0; i < 9; i++) {
        struct netaddr c = ipv4_n(i + 1);
        assert_int_equal(ratelimit_take(r1, &c, 0, &ra), 1);
    }
    struct ratelimit_stats st;
    ratelimit_stats(r1, &st);
    assert_int_equal(st.slots, 8);
    assert_int_equal(st.used, 8);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(ratelimit_take(r1, &a, 0, &ra), 1);
    assert_int_equal(ratelimit_take(r1, &b, 0, &ra), 1);
    ratelimit_destroy(r1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_clients_apart),
        cmocka_unit_test(test_memory_fixed_under_flood),
        cmocka_unit_test(test_full_buckets_evicted_first),
        cmocka_unit_test(test_one_set_evicts_least_recent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
