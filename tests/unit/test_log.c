/*
 * test_log.c - common/log.h: levels checked before arguments are
 * evaluated, the text and JSON line formats with request and trace ids,
 * and escaping, so request data cannot forge or split lines.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_context_and_escaping, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message_truncated, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
