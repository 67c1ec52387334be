/*
 * test_log.c - common/log.h: levels checked before arguments are
 * evaluated, the text and JSON line formats with request and trace ids,
 * and escaping, so request data cannot forge or split lines: control
 * characters, Unicode line separators, bidi overrides and invalid UTF-8
 * (issue 12 item 9).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

static FILE *capture;
static int saved_fd = -1;

/* Points fd 2 at a temporary file for the duration of one test. */
static int setup(void **state)
{
    (void)state;
    capture = tmpfile();
    assert_non_null(capture);
    saved_fd = dup(2);
    assert_true(dup2(fileno(capture), 2) >= 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dup2(saved_fd, 2);
    close(saved_fd);
    fclose(capture);
    log_set_context(NULL, NULL);
    return 0;
}

/* Everything written so far (static buffer). */
static const char *output(void)
{
    static char buf[16384];
    size_t n;

    fflush(capture);
    rewind(capture);
    n = fread(buf, 1, sizeof(buf) - 1, capture);
    buf[n] = '\0';
    return buf;
}

static int evaluated;

static int side_effect(void)
{
    evaluated++;
    return 7;
}

static void test_levels(void **state)
{
    (void)state;
    log_init("testd", LOG_INFO, 0);
    evaluated = 0;
    log_debug("hidden %d", side_effect());
    assert_int_equal(evaluated, 0); /* not even evaluated */
    log_info("shown %d", side_effect());
    assert_int_equal(evaluated, 1);
    log_error("bad");
    assert_null(strstr(output(), "hidden"));
    assert_non_null(strstr(output(), " info testd["));
    assert_non_null(strstr(output(), "] shown 7\n"));
    assert_non_null(strstr(output(), " error testd["));
    assert_int_equal(log_level_parse("warning"), LOG_WARN);
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("loud"), -1);
}

static void test_text_context_and_escaping(void **state)
{
    const char *out;

    (void)state;
    log_init("testd", LOG_DEBUG, 0);
    log_set_context("req-1", "4bf92f3577b34da6a3ce929d0e0e4736");
    log_info("city %s", "Lon\ndon\x1b[31m");
    log_set_context("evil\nid", "NOT-A-TRACE-ID");
    log_info("second");
    log_set_request_id(NULL);
    log_info("third");
    out = output();
    assert_non_null(
        strstr(out, "req=req-1 trace=4bf92f3577b34da6a3ce929d0e0e4736 city "
                    "Lon\\x0adon\\x1b[31m\n"));
    /* An id from a peer is escaped; a bad trace id is left out. */
    assert_non_null(strstr(out, "req=evil\\x0aid second\n"));
    assert_null(strstr(out, "NOT-A-TRACE-ID"));
    assert_non_null(strstr(out, "] third\n"));
    /* One line per call: three newlines in all. */
    assert_int_equal(strchr(out, '\n') != NULL, 1);
    {
        size_t n = 0;
        const char *p;
        for (p = out; *p; p++)
            n += *p == '\n';
        assert_int_equal(n, 3);
    }
}

static void test_json(void **state)
{
    json_t *j;
    json_error_t je;

    (void)state;
    log_init("testd", LOG_DEBUG, 1);
    log_set_context("req-2", "4bf92f3577b34da6a3ce929d0e0e4736");
    log_warn("quote \" and \x01 and caf\xc3\xa9");
    j = json_loads(output(), 0, &je);
    if (j == NULL)
        fail_msg("not one JSON line: %s", je.text);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "daemon")),
                        "testd");
    assert_string_equal(json_string_value(json_object_get(j, "request_id")),
                        "req-2");
    assert_string_equal(json_string_value(json_object_get(j, "trace_id")),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "quote \" and \x01 and caf\xc3\xa9");
    assert_non_null(json_object_get(j, "time"));
    json_decref(j);
}

static void test_long_message_truncated(void **state)
{
    char *big = malloc(10000);
    const char *out;

    (void)state;
    assert_non_null(big);
    memset(big, 'z', 9999);
    big[9999] = '\0';
    log_init("testd", LOG_INFO, 0);
    log_info("%s", big);
    out = output();
    assert_non_null(strstr(out, "zzz...\n"));
    assert_true(strlen(out) < 3000);
    free(big);
}

/* ---- escaping of what reaches text lines (issue 12 item 9) --------------- */

/* Logs msg once at info and returns what was written (static buffer). */
static const char *logged(int json, const char *msg)
{
    static char buf[16384];
    FILE *f = tmpfile();
    int saved;
    size_t n;

    assert_non_null(f);
    log_init("test", LOG_DEBUG, json);
    saved = dup(STDERR_FILENO);
    dup2(fileno(f), STDERR_FILENO);
    log_info("%s", msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The message part of a text line ("<time> info test[pid] <message>\n"),
 * checking that the line is exactly one line. */
static const char *message_of(const char *line)
{
    static char msg[16384];
    const char *p = strstr(line, "] ");
    size_t len = strlen(line);

    assert_non_null(p);
    assert_true(len > 0 && line[len - 1] == '\n');
    assert_null(memchr(line, '\n', len - 1));
    assert_null(memchr(line, '\r', len));
    snprintf(msg, sizeof(msg), "%s", p + 2);
    msg[strcspn(msg, "\n")] = '\0';
    return msg;
}

static void test_plain_text_unchanged(void **state)
{
    (void)state;
    assert_string_equal(message_of(logged(0, "GET /weather -> 502")),
                        "GET /weather -> 502");
    /* Ordinary non-ASCII text stays readable. */
    assert_string_equal(message_of(logged(0, "S\xc3\xa3o Paulo \xe6\x9d\xb1")),
                        "S\xc3\xa3o Paulo \xe6\x9d\xb1");
}

static void test_c0_and_backslash(void **state)
{
    (void)state;
    assert_string_equal(message_of(logged(0, "a\nb\rc\x1b[2Jd\\e")),
                        "a\\x0ab\\x0dc\\x1b[2Jd\\\\e");
}

static void test_unicode_line_separators(void **state)
{
    (void)state;
    /* U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR. */
    assert_string_equal(message_of(logged(0, "city=x\xe2\x80\xa8"
                                             "2026 error forged")),
                        "city=x\\u{2028}2026 error forged");
    assert_string_equal(message_of(logged(0, "a\xe2\x80\xa9z")), "a\\u{2029}z");
}

static void test_c1_controls(void **state)
{
    (void)state;
    /* U+0085 NEL (a line break for some readers), U+009B CSI. */
    assert_string_equal(message_of(logged(0, "a\xc2\x85z")), "a\\u{0085}z");
    assert_string_equal(message_of(logged(0, "a\xc2\x9b"
                                             "2Jz")),
                        "a\\u{009b}2Jz");
    /* U+00A0 is not a control: kept. */
    assert_string_equal(message_of(logged(0, "a\xc2\xa0z")), "a\xc2\xa0z");
}

static void test_bidi_overrides(void **state)
{
    (void)state;
    assert_string_equal(message_of(logged(0, "a\xe2\x80\xaez")), "a\\u{202e}z");
    assert_string_equal(message_of(logged(0, "a\xe2\x81\xa6z")), "a\\u{2066}z");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    /* A lone continuation byte, a truncated sequence, an overlong NUL. */
    assert_string_equal(message_of(logged(0, "a\x80z")), "a\\x80z");
    assert_string_equal(message_of(logged(0, "a\xe2\x80")), "a\\xe2\\x80");
    assert_string_equal(message_of(logged(0, "a\xc0\x80z")), "a\\xc0\\x80z");
}

static void test_json_lines(void **state)
{
    const char *line;

    (void)state;
    line = logged(1, "x\xe2\x80\xa8y\nz");
    /* jansson escapes the newline; the line is one JSON object. */
    assert_null(memchr(line, '\n', strlen(line) - 1));
    assert_non_null(strstr(line, "\"message\":\"x"));
    /* Not UTF-8: escaped by us rather than dropped. */
    line = logged(1, "a\xff");
    assert_non_null(strstr(line, "a\\\\xff"));
}

static void test_request_id_escaped(void **state)
{
    const char *line;

    (void)state;
    log_set_request_id("id\xe2\x80\xa8x");
    line = logged(0, "m");
    log_set_request_id(NULL);
    assert_non_null(strstr(line, "req=id\\xe2\\x80\\xa8x m"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_context_and_escaping, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message_truncated, setup,
                                        teardown),
        cmocka_unit_test(test_plain_text_unchanged),
        cmocka_unit_test(test_c0_and_backslash),
        cmocka_unit_test(test_unicode_line_separators),
        cmocka_unit_test(test_c1_controls),
        cmocka_unit_test(test_bidi_overrides),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_request_id_escaped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
