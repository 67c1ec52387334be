/*
 * test_amqp_url.c - AMQP_URL as an operator writes it and as an attacker
 * might (common/amqp_url.h): URLs that parse and what they mean, URLs that
 * must be refused (and errors that never quote a password), list splitting
 * with a comma in a password, masking, and the fail-over order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "amqp_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct amqp_url url;

static void parse_ok(const char *s)
{
    char err[256] = "";

    memset(&url, 0x5a, sizeof(url));
    if (amqp_url_parse(s, strlen(s), &url, err, sizeof(err)) != 0)
        fail_msg("%s: %s", s, err);
}

static void test_parse_defaults(void **state)
{
    (void)state;
    parse_ok("amqp://guest:guest@localhost:5672/");
    assert_int_equal(url.tls, 0);
    assert_string_equal(url.host, "localhost");
    assert_int_equal(url.port, 5672);
    assert_string_equal(url.user, "guest");
    assert_string_equal(url.password, "guest");
    assert_string_equal(url.vhost, "/");
    assert_int_equal(url.host_is_ip, 0);

    parse_ok("amqps://app:pw@broker.example.com");
    assert_int_equal(url.tls, 1);
    assert_int_equal(url.port, 5671);
    assert_string_equal(url.vhost, "/");

    parse_ok("AMQP://rabbit");
    assert_string_equal(url.user, "guest");
    assert_string_equal(url.password, "guest");
    assert_int_equal(url.port, 5672);

    parse_ok("amqp://only-user@h");
    assert_string_equal(url.user, "only-user");
    assert_string_equal(url.password, "guest");
    parse_ok("amqp://u:@h");
    assert_string_equal(url.password, "");
    parse_ok("  amqp://h:1  ");
    assert_int_equal(url.port, 1);
    parse_ok("amqp://h:65535");
    assert_int_equal(url.port, 65535);
    parse_ok("amqps://h:5672");
    assert_int_equal(url.port, 5672);
}

static void test_parse_decoding(void **state)
{
    (void)state;
    parse_ok("amqp://h/%2F");
    assert_string_equal(url.vhost, "/");
    parse_ok("amqp://h/prod");
    assert_string_equal(url.vhost, "prod");
    parse_ok("amqp://h/a%2fb");
    assert_string_equal(url.vhost, "a/b");
    parse_ok("amqp://h/");
    assert_string_equal(url.vhost, "/");

    /* Reserved characters in a password, percent-encoded. */
    parse_ok("amqp://u%40corp:s3%2Ccr%40t%3A%2F%25@h/");
    assert_string_equal(url.user, "u@corp");
    assert_string_equal(url.password, "s3,cr@t:/%");
    /* sub-delims and ':' may stay raw in a password. */
    parse_ok("amqp://u:a:b!$&'()*+;=@h");
    assert_string_equal(url.password, "a:b!$&'()*+;=");
    /* UTF-8, encoded. */
    parse_ok("amqp://u:p%C3%A4ss@h");
    assert_string_equal(url.password, "p\xc3\xa4ss");
}

static void test_parse_hosts(void **state)
{
    (void)state;
    parse_ok("amqp://[::1]:5673/");
    assert_string_equal(url.host, "::1");
    assert_int_equal(url.port, 5673);
    assert_int_equal(url.host_is_ip, 1);
    parse_ok("amqp://u:p@[2001:db8::7]");
    assert_string_equal(url.host, "2001:db8::7");
    assert_int_equal(url.port, 5672);
    parse_ok("amqp://10.0.0.1:5672");
    assert_int_equal(url.host_is_ip, 1);
    parse_ok("amqp://rabbit_1.svc-x.local");
    assert_int_equal(url.host_is_ip, 0);
    /* Digits and dots but not an address: a name. */
    parse_ok("amqp://10.0.0.300");
    assert_int_equal(url.host_is_ip, 0);
}

#define SECRET "s3kr1t-pw"

/* Each must be refused, with an error that does not quote the input. */
static const char *const bad[] = {
    "",
    "   ",
    "http://" SECRET "@h/",
    "amqp:/h",
    "amqp//h",
    "amqpx://h",
    "amqp://",
    "amqp://u:" SECRET "@",
    "amqp://u:" SECRET "@:5672/",
    "amqp://:5672",
    "amqp://h:0",
    "amqp://h:65536",
    "amqp://h:99999",
    "amqp://h:",
    "amqp://h:-1",
    "amqp://h:+5",
    "amqp://h:5x",
    "amqp://h:0000005672",
    "amqp://h/a/b",
    "amqp://h/?heartbeat=5",
    "amqp://h?x",
    "amqp://h#frag",
    "amqp://u:" SECRET "@evil@h/",
    "amqp://u:" SECRET "%@h",
    "amqp://u:" SECRET "%4@h",
    "amqp://u:" SECRET "%GG@h",
    "amqp://u:" SECRET "%00@h",
    "amqp://u:" SECRET " x@h",
    "amqp://u:" SECRET "\"@h",
    "amqp://u:" SECRET "\xc3\xa4@h",
    "amqp://u:" SECRET "\x01@h",
    "amqp://h o/",
    "amqp://ho%73t/",
    "amqp://[::1",
    "amqp://[zz::1]:1",
    "amqp://[::1]x",
    "amqp://[::1]:",
    "amqp://[]:5672",
    "amqp://h/v%00",
    "amqp://h/v\x7f",
    "amqp://u:" SECRET "/x@h",
    "amqps://u:" SECRET "@h:5671/vh ost",
};

static void test_parse_refuses(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        struct amqp_url u;
        memset(&u, 0, sizeof(u));
        if (amqp_url_parse(bad[i], strlen(bad[i]), &u, err, sizeof(err)) == 0)
            fail_msg("accepted: \"%s\"", bad[i]);
        assert_true(strlen(err) > 0);
        assert_null(strstr(err, SECRET));
        assert_null(strstr(err, "s3kr"));
        /* Nothing was written to the output on failure. */
        assert_int_equal(u.port, 0);
        assert_string_equal(u.password, "");
    }
}

static void test_parse_hostile_lengths(void **state)
{
    char *big = malloc(10000), err[256];
    struct amqp_url u;

    (void)state;
    assert_non_null(big);
    /* A NUL inside the given length. */
    assert_int_equal(amqp_url_parse("amqp://h\0x", 10, &u, err, sizeof(err)),
                     -1);
    /* Host of 253 is fine, 254 is not. */
    memcpy(big, "amqp://", 7);
    memset(big + 7, 'a', 254);
    big[7 + 253] = '\0';
    assert_int_equal(amqp_url_parse(big, strlen(big), &u, err, sizeof(err)), 0);
    big[7 + 253] = 'a';
    big[7 + 254] = '\0';
    assert_int_equal(amqp_url_parse(big, strlen(big), &u, err, sizeof(err)),
                     -1);
    /* A password of 2048 bytes is fine (tokens), 2049 is not; 9000
     * percent-escapes do not overflow anything. */
    snprintf(big, 10000, "amqp://u:");
    memset(big + 9, 'p', 2048);
    snprintf(big + 9 + 2048, 100, "@h/");
    assert_int_equal(amqp_url_parse(big, strlen(big), &u, err, sizeof(err)), 0);
    assert_int_equal(strlen(u.password), 2048);
    snprintf(big, 10000, "amqp://u:");
    memset(big + 9, 'p', 2049);
    snprintf(big + 9 + 2049, 100, "@h/");
    assert_int_equal(amqp_url_parse(big, strlen(big), &u, err, sizeof(err)),
                     -1);
    snprintf(big, 10000, "amqp://h/");
    {
        size_t i;
        for (i = 0; i < 3000; i++)
            memcpy(big + 9 + 3 * i, "%41", 3);
        big[9 + 9000] = '\0';
    }
    assert_int_equal(amqp_url_parse(big, strlen(big), &u, err, sizeof(err)),
                     -1);
    /* A tiny error buffer is still NUL-terminated. */
    assert_int_equal(amqp_url_parse("http://x", 8, &u, err, 4), -1);
    assert_int_equal(strlen(err), 3);
    free(big);
}

static void test_list(void **state)
{
    const char *list = "amqp://a:b@h1:5672/, amqps://c:d%2Ce@h2/vh ,amqp://h3";
    char err[256];
    struct amqp_url u;

    (void)state;
    assert_int_equal(amqp_url_list_count(list), 3);
    assert_int_equal(amqp_url_list_check(list, err, sizeof(err)), 0);
    assert_int_equal(amqp_url_list_get(list, 1, &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "h2");
    assert_string_equal(u.password, "d,e");
    assert_string_equal(u.vhost, "vh");
    assert_int_equal(u.tls, 1);
    assert_int_equal(amqp_url_list_get(list, 2, &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "h3");
    assert_int_equal(amqp_url_list_get(list, 3, &u, err, sizeof(err)), -1);
    assert_int_equal(amqp_url_list_has_tls(list), 1);
    assert_int_equal(amqp_url_list_has_tls("amqp://a,amqp://b"), 0);

    assert_int_equal(amqp_url_list_check("amqp://a,,amqp://b", err, 256), -1);
    assert_non_null(strstr(err, "entry 2"));
    assert_int_equal(amqp_url_list_check("amqp://a,", err, 256), -1);
    assert_non_null(strstr(err, "entry 2"));
    assert_int_equal(amqp_url_list_check("amqp://a,http://b", err, 256), -1);
    assert_non_null(strstr(err, "entry 2"));
}

/* A raw comma in a password splits the URL: refused, with the hint, and
 * without quoting either half of the password. */
static void test_list_raw_comma_in_password(void **state)
{
    char err[256];

    (void)state;
    assert_int_equal(amqp_url_list_check("amqp://u:pa" SECRET ",ss" SECRET
                                         "@h/",
                                         err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "entry 1"));
    assert_non_null(strstr(err, "%2C"));
    assert_null(strstr(err, SECRET));
    assert_int_equal(amqp_url_list_check("amqp://u:pa%2Css@h/", err, 256), 0);
}

static void test_list_limit(void **state)
{
    char list[2000] = "", err[256];
    int i;

    (void)state;
    for (i = 0; i < AMQP_URL_MAX_ENTRIES; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list),
                 "%samqp://h%d", i ? "," : "", i);
    assert_int_equal(amqp_url_list_check(list, err, sizeof(err)), 0);
    snprintf(list + strlen(list), sizeof(list) - strlen(list), ",amqp://x");
    assert_int_equal(amqp_url_list_check(list, err, sizeof(err)), -1);
}

static void mask_is(const char *in, const char *want)
{
    char out[512];

    assert_int_equal(amqp_url_list_mask(in, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void test_mask(void **state)
{
    char out[512];

    (void)state;
    mask_is("amqp://admin:hunter2@broker:5672/", "amqp://admin:*@broker:5672/");
    mask_is("amqp://a:b@h1/, amqps://c:d%2Ce%40f@h2:5671/%2F ,amqp://h3",
            "amqp://a:*@h1/, amqps://c:*@h2:5671/%2F ,amqp://h3");
    mask_is("amqp://u:@h", "amqp://u:@h");
    mask_is("amqp://user@h", "amqp://user@h");
    mask_is("amqp://h", "amqp://h");
    mask_is("amqp://u:a:b@[::1]:1/v", "amqp://u:*@[::1]:1/v");

    /* Lists that do not parse are not shown at all: no half-masked
     * password from a wrong split. */
    assert_int_equal(
        amqp_url_list_mask("amqp://u:pa" SECRET ",ss@h/", out, sizeof(out)),
        -1);
    assert_null(strstr(out, SECRET));
    assert_null(strstr(out, "ss@h"));
    assert_int_equal(
        amqp_url_list_mask("amqp://u:" SECRET "@evil@h", out, sizeof(out)), -1);
    assert_null(strstr(out, SECRET));
    /* Too small an output: the placeholder (or its start), never a
     * partial URL. */
    assert_int_equal(
        amqp_url_list_mask("amqp://admin:" SECRET "@broker/", out, 12), -1);
    assert_null(strstr(out, "admin"));
    assert_int_equal(amqp_url_list_mask("amqp://h", out, 0), -1);
}

static void test_mask_never_shows_password_bytes(void **state)
{
    static const char *const lists[] = {
        "amqp://u:" SECRET "@h/",
        "amqp://u:" SECRET "@h/,amqp://v:" SECRET "@g/",
        "amqps://u:" SECRET "%2C" SECRET "@h:1/v",
        "amqp://u:" SECRET ":" SECRET "@h",
    };
    size_t i;
    char out[512];

    (void)state;
    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        assert_int_equal(amqp_url_list_mask(lists[i], out, sizeof(out)), 0);
        assert_null(strstr(out, "s3kr"));
        assert_non_null(strstr(out, ":*@"));
    }
}

static void test_failover_order(void **state)
{
    struct amqp_url_cursor c;
    unsigned i, seen[3] = {0, 0, 0};

    (void)state;
    /* A fresh cursor starts at rnd % n, then walks round-robin. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(amqp_url_cursor_next(&c, 3, 7), 1);
    assert_int_equal(amqp_url_cursor_next(&c, 3, 0), 2);
    assert_int_equal(amqp_url_cursor_next(&c, 3, 0), 0);
    assert_int_equal(amqp_url_cursor_next(&c, 3, 0), 1);

    /* Not sticky: connected to node 1 (the call returned 1), it is lost,
     * and the next attempt is node 2, not node 1 again. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(amqp_url_cursor_next(&c, 3, 1), 1);
    assert_int_equal(amqp_url_cursor_next(&c, 3, 1), 2);

    /* A whole failed round comes back to where it started, so rounds
     * continue the same rotation. */
    memset(&c, 0, sizeof(c));
    for (i = 0; i < 3; i++)
        amqp_url_cursor_next(&c, 3, 2);
    assert_int_equal(amqp_url_cursor_next(&c, 3, 0), 2);

    /* Random starts spread evenly over the nodes. */
    for (i = 0; i < 300; i++) {
        memset(&c, 0, sizeof(c));
        seen[amqp_url_cursor_next(&c, 3, i * 2654435761u)]++;
    }
    for (i = 0; i < 3; i++)
        assert_true(seen[i] >= 80);

    /* One node: always it.  No node: 0. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(amqp_url_cursor_next(&c, 1, 12345), 0);
    assert_int_equal(amqp_url_cursor_next(&c, 1, 12345), 0);
    assert_int_equal(amqp_url_cursor_next(&c, 0, 12345), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_defaults),
        cmocka_unit_test(test_parse_decoding),
        cmocka_unit_test(test_parse_hosts),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_parse_hostile_lengths),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_raw_comma_in_password),
        cmocka_unit_test(test_list_limit),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_mask_never_shows_password_bytes),
        cmocka_unit_test(test_failover_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
