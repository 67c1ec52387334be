/*
 * test_tbuf.c - the capped text buffer behind both metrics expositions:
 * appends grow it by doubling, the cap is exact (text + NUL <= max), the
 * first failed append sticks, and tbuf_finish hands over or frees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tbuf.h"

static void test_append_and_grow(void **state)
{
    struct tbuf b;
    char *text;
    size_t len = 0, i;

    (void)state;
    tbuf_init(&b, 4, 1024);
    tbuf_printf(&b, "%s", "");
    tbuf_printf(&b, "a=%d ", 1);
    for (i = 0; i < 20; i++)
        tbuf_printf(&b, "%c", (char)('a' + i));
    text = tbuf_finish(&b, &len);
    assert_non_null(text);
    assert_int_equal(len, 24);
    assert_string_equal(text, "a=1 abcdefghijklmnopqrst");
    free(text);
}

static void test_empty(void **state)
{
    struct tbuf b;
    char *text;
    size_t len = 99;

    (void)state;
    tbuf_init(&b, 16, 16);
    text = tbuf_finish(&b, &len);
    assert_non_null(text);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
}

static void test_cap_is_exact(void **state)
{
    struct tbuf b;
    char *text;
    size_t len = 0;

    (void)state;
    /* 16 -> 32 -> 48 (not 64): 47 characters and the NUL fit. */
    tbuf_init(&b, 16, 48);
    tbuf_printf(&b, "%47s", "x");
    text = tbuf_finish(&b, &len);
    assert_non_null(text);
    assert_int_equal(len, 47);
    free(text);

    tbuf_init(&b, 16, 48);
    tbuf_printf(&b, "%48s", "x");
    len = 7;
    assert_null(tbuf_finish(&b, &len));
    assert_int_equal(len, 7); /* untouched on failure */
}

static void test_failure_sticks(void **state)
{
    struct tbuf b;
    size_t len = 7;

    (void)state;
    tbuf_init(&b, 8, 8);
    tbuf_printf(&b, "abc");
    tbuf_printf(&b, "%s", "too long for eight");
    tbuf_printf(&b, "d"); /* would fit, but the text is already broken */
    assert_null(tbuf_finish(&b, &len));
    assert_int_equal(len, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_grow),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_cap_is_exact),
        cmocka_unit_test(test_failure_sticks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
