/*
 * test_clientip.c - which address a request counts against
 * (gateway/clientip.h): the peer unless it is a trusted proxy, then the
 * right-most untrusted X-Forwarded-For entry; forged and malformed
 * headers never name the client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clientip.h"
#include "netaddr.h"

#include <stdio.h>
#include <string.h>

static struct netaddr ip(const char *s)
{
    struct netaddr a;

    if (netaddr_parse(s, strlen(s), &a) != 0)
        fail_msg("bad address %s", s);
    return a;
}

/* The client for peer and header lines h[0..] (NULL-terminated). */
static const char *client(const char *trusted, const char *peer,
                          const char *const *h)
{
    static char buf[NETADDR_STRLEN];
    struct netaddr_list l;
    struct netaddr p = ip(peer), out;
    size_t len[8], n = 0;

    if (netaddr_list_parse(trusted, &l, NULL, 0) != 0)
        fail_msg("bad list %s", trusted);
    for (n = 0; h != NULL && h[n] != NULL; n++)
        len[n] = strlen(h[n]);
    clientip_resolve(&l, &p, h, len, n, &out);
    netaddr_format(&out, buf, sizeof(buf));
    return buf;
}

static void test_untrusted_peer_is_the_client(void **state)
{
    static const char *const forged[] = {"1.2.3.4", NULL};

    (void)state;
    /* Default: nothing trusted, X-Forwarded-For ignored. */
    assert_string_equal(client("", "203.0.113.9", forged), "203.0.113.9");
    /* A peer outside the list: ignored as well. */
    assert_string_equal(client("10.0.0.0/8", "203.0.113.9", forged),
                        "203.0.113.9");
    assert_string_equal(client("", "2001:db8::1", NULL), "2001:db8::1");
}

static void test_right_most_untrusted(void **state)
{
    static const char *const one[] = {"198.51.100.7", NULL};
    static const char *const chain[] = {"6.6.6.6, 198.51.100.7, 10.1.1.1",
                                        NULL};
    static const char *const lines[] = {"6.6.6.6", "198.51.100.7",
                                        " 10.1.1.1 , 10.2.2.2", NULL};
    static const char *const ports[] = {"[2001:db8::5]:443, 192.0.2.4:1234",
                                        NULL};

    (void)state;
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", one), "198.51.100.7");
    /* The client's own "6.6.6.6" is to the left of what the proxies
     * appended: never reached. */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", chain),
                        "198.51.100.7");
    /* Several header lines are one list, in order. */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", lines),
                        "198.51.100.7");
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", ports), "192.0.2.4");
    assert_string_equal(client("10.0.0.0/8,192.0.2.4", "10.0.0.2", ports),
                        "2001:db8::5");
    /* IPv6 proxies. */
    assert_string_equal(client("fd00::/8", "fd00::1", one), "198.51.100.7");
    /* A mapped peer is its IPv4 address. */
    assert_string_equal(client("10.0.0.0/8", "::ffff:10.0.0.3", one),
                        "198.51.100.7");
}

static void test_all_trusted_or_missing(void **state)
{
    static const char *const all[] = {"10.9.9.9, 10.8.8.8", NULL};

    (void)state;
    /* No header from a trusted proxy: the proxy itself. */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", NULL), "10.0.0.2");
    /* Every entry trusted: the left-most. */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", all), "10.9.9.9");
}

static void test_garbage_ends_the_walk(void **state)
{
    static const char *const junk[] = {"198.51.100.7, unknown", NULL};
    static const char *const empty[] = {"198.51.100.7,,", NULL};
    static const char *const blank[] = {"", NULL};
    static const char *const deep_junk[] = {"evil, 10.3.3.3", NULL};
    static const char *const nul[] = {"198.51.100.7", NULL};
    struct netaddr_list l;
    struct netaddr p = ip("10.0.0.2"), out;
    size_t len = 13; /* "198.51.100.7\0" as sent, NUL included */

    (void)state;
    /* The nearest proxy wrote garbage: count against that proxy. */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", junk), "10.0.0.2");
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", empty), "10.0.0.2");
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", blank), "10.0.0.2");
    /* Garbage behind a trusted hop: the last trusted hop. */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", deep_junk),
                        "10.3.3.3");
    assert_int_equal(netaddr_list_parse("10.0.0.0/8", &l, NULL, 0), 0);
    clientip_resolve(&l, &p, nul, &len, 1, &out);
    assert_true(netaddr_equal(&out, &p));
}

static void test_hops_bounded(void **state)
{
    char big[64 * 12 + 32];
    const char *h[2] = {big, NULL};
    size_t o = 0, i;

    (void)state;
    o += (size_t)snprintf(big + o, sizeof(big) - o, "198.51.100.7");
    for (i = 0; i < CLIENTIP_MAX_HOPS; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, ",10.0.%zu.1", i);
    /* 64 trusted hops on the right: the walk stops after the last of
     * them (the 65th entry is not examined). */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", h), "10.0.0.1");
    /* 63: the client is the 64th entry. */
    memmove(big + 12, big + 12 + 9, strlen(big + 12 + 9) + 1); /* ",10.0.0.1" */
    assert_string_equal(client("10.0.0.0/8", "10.0.0.2", h), "198.51.100.7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untrusted_peer_is_the_client),
        cmocka_unit_test(test_right_most_untrusted),
        cmocka_unit_test(test_all_trusted_or_missing),
        cmocka_unit_test(test_garbage_ends_the_walk),
        cmocka_unit_test(test_hops_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
