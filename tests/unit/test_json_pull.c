/*
 * test_json_pull.c - the pull scanner: walking objects and arrays, key and
 * string decoding (escapes, surrogate pairs, caps, U+0000), counts, and
 * validity: on a table of valid and invalid documents it must agree with
 * jansson (the parser tempo uses everywhere else), except where jansson
 * refuses valid JSON for its own limits (numbers too big for a double or
 * int64).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_pull.h"

static void test_walk(void **state)
{
    static const char doc[] =
        " {\"a\" : [1, -2.5e3, \"x\", true, null, {\"deep\": [[]]}],\n"
        "  \"n\": 42, \"s\": \"h\\u00e9\\ud83d\\ude00\\n\", \"z\": {} } ";
    struct jpull s;
    char key[16], str[32];
    size_t klen, len;
    long n = 0;
    int r, elems = 0;

    (void)state;
    jpull_init(&s, doc, strlen(doc));
    assert_int_equal(jpull_peek(&s), JPULL_OBJECT);
    assert_int_equal(jpull_object(&s), 0);
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_string_equal(key, "a");
    assert_int_equal(jpull_array(&s), 0);
    while ((r = jpull_element(&s)) > 0) {
        elems++;
        assert_int_equal(jpull_skip(&s), 0);
    }
    assert_int_equal(r, 0);
    assert_int_equal(elems, 6);
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_string_equal(key, "n");
    assert_int_equal(jpull_count(&s, &n), 0);
    assert_int_equal(n, 42);
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_string_equal(key, "s");
    assert_int_equal(jpull_string(&s, str, sizeof(str), &len), 0);
    assert_string_equal(str, "h\xc3\xa9\xf0\x9f\x98\x80\n");
    assert_int_equal(len, 8);
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_string_equal(key, "z");
    assert_int_equal(jpull_skip(&s), 0);
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 0);
    assert_int_equal(jpull_end(&s), 0);
}

static void test_unusable_values(void **state)
{
    static const char doc[] = "{\"a\":\"\\u0000\",\"b\":\"0123456789\","
                              "\"c\":5,\"d\":-1,\"e\":1.5,\"f\":"
                              "99999999999999999999999,"
                              "\"a-key-longer-than-the-buffer\":1}";
    struct jpull s;
    char key[16], str[8];
    size_t klen, len;
    long n;

    (void)state;
    jpull_init(&s, doc, strlen(doc));
    assert_int_equal(jpull_object(&s), 0);
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_int_equal(jpull_string(&s, str, sizeof(str), &len), 1); /* NUL */
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_int_equal(jpull_string(&s, str, sizeof(str), &len), 1); /* long */
    assert_string_equal(str, "");
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_int_equal(jpull_string(&s, str, sizeof(str), &len), 1); /* 5 */
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_int_equal(jpull_count(&s, &n), 1); /* negative */
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_int_equal(jpull_count(&s, &n), 1); /* fraction */
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_int_equal(jpull_count(&s, &n), 1); /* too big */
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 1);
    assert_string_equal(key, ""); /* too long to be any key of ours */
    assert_int_equal(jpull_skip(&s), 0);
    assert_int_equal(jpull_member(&s, key, sizeof(key), &klen), 0);
    assert_int_equal(jpull_end(&s), 0);
}

/* Whole-document validity, the scanner's way. */
static int scan_valid(const char *doc, size_t len)
{
    struct jpull s;

    jpull_init(&s, doc, len);
    return jpull_skip(&s) == 0 && jpull_end(&s) == 0;
}

static int jansson_valid(const char *doc, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(doc, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

    json_decref(j);
    return j != NULL;
}

static void test_agrees_with_jansson(void **state)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        " [ ] ",
        "{\"a\":1}",
        "[1,2,3]",
        "[\"\"]",
        "0",
        "-0",
        "-0.0e+0",
        "1E5",
        "\"x\"",
        "true",
        "null",
        "[[[[[]]]]]",
        "{\"a\":{\"b\":[{}]}}",
        "[\"\\u0000\"]",
        "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
        "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]",
        "[\"\\uD834\\uDD1E\"]",
        /* invalid */
        "",
        " ",
        "{",
        "}",
        "[",
        "]",
        "[1,]",
        "[,1]",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,}",
        "{1:2}",
        "{\"a\" 1}",
        "[1 2]",
        "01",
        "1.",
        ".5",
        "1e",
        "1e+",
        "-",
        "+1",
        "tru",
        "nul",
        "True",
        "[true false]",
        "\"abc",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"\\a\"",
        "\"\t\"",
        "\"\x01\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\xff\"",
        "\"\xc0\x80\"",
        "\"\xe0\x80\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xf8\x88\x80\x80\x80\"",
        "\"\xc3\"",
        "[1]x",
        "{}{}",
        "[\"a\"]]",
        "{\"a\":1}}",
        "[NaN]",
        "[Infinity]",
        "[1,2",
        "{\"a\":[}",
        "/* */{}",
        "[\"\\x41\"]",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        int a = scan_valid(docs[i], strlen(docs[i]));
        int b = jansson_valid(docs[i], strlen(docs[i]));

        if (a != b)
            fail_msg("scanner %s, jansson %s: '%s'", a ? "accepts" : "rejects",
                     b ? "accepts" : "rejects", docs[i]);
    }
    /* An embedded NUL byte outside a string is not JSON. */
    assert_false(scan_valid("[1]\0", 4));
    assert_false(scan_valid("[\"a\0b\"]", 7));
}

static void test_depth_limit(void **state)
{
    char *doc = malloc(2 * (JPULL_MAX_DEPTH + 1) + 1);
    size_t d;

    (void)state;
    assert_non_null(doc);
    for (d = JPULL_MAX_DEPTH; d <= JPULL_MAX_DEPTH + 1; d++) {
        memset(doc, '[', d);
        memset(doc + d, ']', d);
        assert_int_equal(scan_valid(doc, 2 * d), d <= JPULL_MAX_DEPTH);
    }
    free(doc);
}

static void test_failed_stays_failed(void **state)
{
    struct jpull s;
    char key[8];

    (void)state;
    jpull_init(&s, "{\"a\" 1, \"b\": 2}", 15);
    assert_int_equal(jpull_object(&s), 0);
    assert_int_equal(jpull_member(&s, key, sizeof(key), NULL), -1);
    assert_int_equal(jpull_member(&s, key, sizeof(key), NULL), -1);
    assert_int_equal(jpull_peek(&s), JPULL_BAD);
    assert_int_equal(jpull_skip(&s), -1);
    assert_int_equal(jpull_end(&s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_unusable_values),
        cmocka_unit_test(test_agrees_with_jansson),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_failed_stays_failed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
