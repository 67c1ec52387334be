/*
 * test_netaddr.c - addresses and CIDR lists (common/netaddr.h) as an
 * operator writes them in TRUSTED_PROXIES and as proxies write them in
 * X-Forwarded-For, hostile forms included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "errors.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static struct netaddr addr(const char *s)
{
    struct netaddr a;

    if (netaddr_parse(s, strlen(s), &a) != 0)
        fail_msg("cannot parse %s", s);
    return a;
}

static const char *text(const struct netaddr *a)
{
    static char buf[NETADDR_STRLEN];

    netaddr_format(a, buf, sizeof(buf));
    return buf;
}

static void test_parse_addresses(void **state)
{
    static const char *const good[] = {"192.0.2.1", "0.0.0.0", "::1",
                                       "2001:db8::1", "fe80::1:2:3:4"};
    static const char *const bad[] = {
        "",           "1.2.3",    "1.2.3.4.5", "01.2.3.4",     "1.2.3.256",
        "0x1.2.3.4",  " 1.2.3.4", "1.2.3.4 ",  "fe80::1%eth0", "[::1]",
        "1.2.3.4:80", "::1::2",   "localhost", "unknown",      "1.2.3.4/32"};
    struct netaddr a;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(netaddr_parse(good[i], strlen(good[i]), &a), 0);
        assert_string_equal(text(&a), good[i]);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (netaddr_parse(bad[i], strlen(bad[i]), &a) != TEMPO_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    /* Explicit lengths: no terminator needed, NUL inside refused. */
    assert_int_equal(netaddr_parse("10.0.0.1xyz", 8, &a), 0);
    assert_string_equal(text(&a), "10.0.0.1");
    assert_int_equal(netaddr_parse("10.0.0.1\0", 9, &a), TEMPO_EINVAL);
}

static void test_mapped_is_ipv4(void **state)
{
    struct netaddr a = addr("::ffff:192.0.2.1"), b = addr("192.0.2.1");

    (void)state;
    assert_int_equal(a.family, 4);
    assert_true(netaddr_equal(&a, &b));
}

static void test_from_sockaddr(void **state)
{
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr sa;
    struct netaddr a;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.2", &in.sin_addr);
    assert_int_equal(netaddr_from_sockaddr((struct sockaddr *)&in, &a), 0);
    assert_string_equal(text(&a), "127.0.0.2");
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::7", &in6.sin6_addr);
    assert_int_equal(netaddr_from_sockaddr((struct sockaddr *)&in6, &a), 0);
    assert_string_equal(text(&a), "2001:db8::7");
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr);
    assert_int_equal(netaddr_from_sockaddr((struct sockaddr *)&in6, &a), 0);
    assert_int_equal(a.family, 4);
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    assert_int_equal(netaddr_from_sockaddr(&sa, &a), TEMPO_EINVAL);
    assert_int_equal(netaddr_from_sockaddr(NULL, &a), TEMPO_EINVAL);
}

static void test_forwarded_entries(void **state)
{
    static const struct {
        const char *in, *want;
    } good[] = {
        {"192.0.2.1", "192.0.2.1"},
        {"  192.0.2.1\t", "192.0.2.1"},
        {"192.0.2.1:4711", "192.0.2.1"},
        {"2001:db8::1", "2001:db8::1"},
        {"[2001:db8::1]", "2001:db8::1"},
        {" [2001:db8::1]:443 ", "2001:db8::1"},
        {"::ffff:192.0.2.9", "192.0.2.9"},
    };
    static const char *const bad[] = {"",
                                      " ",
                                      "unknown",
                                      "_hidden",
                                      "[192.0.2.1]",
                                      "192.0.2.1:",
                                      "192.0.2.1:99999x",
                                      "[2001:db8::1",
                                      "[2001:db8::1]x",
                                      "[::1]:",
                                      "1.2.3.4:5:6",
                                      "2001:db8::1:80x",
                                      "192.0.2.1 192.0.2.2"};
    struct netaddr a;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (netaddr_parse_forwarded(good[i].in, strlen(good[i].in), &a) != 0)
            fail_msg("refused \"%s\"", good[i].in);
        assert_string_equal(text(&a), good[i].want);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (netaddr_parse_forwarded(bad[i], strlen(bad[i]), &a) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
}

static void test_list_parse_and_contains(void **state)
{
    struct netaddr_list l;
    char err[128];
    struct netaddr a;

    (void)state;
    assert_int_equal(
        netaddr_list_parse(" 10.0.0.0/8, 192.0.2.7 ,fd00::/8,172.16.5.9/12", &l,
                           err, sizeof(err)),
        0);
    assert_int_equal(l.n, 4);
    a = addr("10.200.3.4");
    assert_true(netaddr_list_contains(&l, &a));
    a = addr("11.0.0.1");
    assert_false(netaddr_list_contains(&l, &a));
    a = addr("192.0.2.7");
    assert_true(netaddr_list_contains(&l, &a));
    a = addr("192.0.2.8");
    assert_false(netaddr_list_contains(&l, &a));
    a = addr("fd12:3456::1");
    assert_true(netaddr_list_contains(&l, &a));
    a = addr("fe80::1");
    assert_false(netaddr_list_contains(&l, &a));
    /* Host bits were cleared: 172.16.5.9/12 is 172.16.0.0/12. */
    a = addr("172.31.255.255");
    assert_true(netaddr_list_contains(&l, &a));
    a = addr("172.32.0.0");
    assert_false(netaddr_list_contains(&l, &a));
    /* A mapped peer matches an IPv4 block. */
    a = addr("::ffff:10.9.9.9");
    assert_true(netaddr_list_contains(&l, &a));

    assert_int_equal(netaddr_list_parse("0.0.0.0/0", &l, err, sizeof(err)), 0);
    a = addr("203.0.113.5");
    assert_true(netaddr_list_contains(&l, &a));
    a = addr("2001:db8::5");
    assert_false(netaddr_list_contains(&l, &a)); /* not an IPv6 block */
    assert_int_equal(
        netaddr_list_parse("::ffff:10.0.0.0/104", &l, err, sizeof(err)), 0);
    a = addr("10.1.1.1");
    assert_true(netaddr_list_contains(&l, &a));

    /* Empty means nothing is trusted. */
    assert_int_equal(netaddr_list_parse("", &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    assert_false(netaddr_list_contains(&l, &a));
    assert_int_equal(netaddr_list_parse("  ", &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
}

static void test_list_errors(void **state)
{
    static const char *const bad[] = {
        "10.0.0.0/33",        "10.0.0.0/",         "10.0.0.0/-1",
        "10.0.0.0/8/8",       "fd00::/129",        "10.0.0.0/0008",
        "10.0.0.0,,10.0.0.1", "10.0.0.0,",         ",10.0.0.0",
        "localhost",          "10.0.0.0 10.0.0.1", "::ffff:10.0.0.0/95",
        "10.0.0.0/ 8"};
    struct netaddr_list l;
    char err[128], many[1024];
    size_t i, o = 0;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (netaddr_list_parse(bad[i], &l, err, sizeof(err)) != TEMPO_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(strstr(err, "entry"));
    }
    assert_int_equal(netaddr_list_parse("10.0.0.0,junk", &l, err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_non_null(strstr(err, "entry 2"));
    for (i = 0; i < NETADDR_LIST_MAX + 1; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "%s10.0.0.%zu",
                              i ? "," : "", i);
    assert_int_equal(netaddr_list_parse(many, &l, err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_non_null(strstr(err, "more than"));
    assert_int_equal(netaddr_list_parse(many, &l, NULL, 0), TEMPO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_addresses),
        cmocka_unit_test(test_mapped_is_ipv4),
        cmocka_unit_test(test_from_sockaddr),
        cmocka_unit_test(test_forwarded_entries),
        cmocka_unit_test(test_list_parse_and_contains),
        cmocka_unit_test(test_list_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
