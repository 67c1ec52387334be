/*
 * test_genre.c - the temperature -> genre rule of SPEC section 2, at and
 * around every boundary, and its refusal of NaN and infinities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h> /* NAN, INFINITY: macros, no libm */
#include <string.h>

#include "errors.h"
#include "genre.h"

static enum genre g_of(double t)
{
    enum genre g = GENRE__COUNT;

    assert_int_equal(genre_from_celsius(t, &g), 0);
    return g;
}

static void test_table(void **state)
{
    (void)state;
    assert_int_equal(g_of(45.0), GENRE_PARTY);
    assert_int_equal(g_of(30.5), GENRE_PARTY);
    assert_int_equal(g_of(22.0), GENRE_POP);
    assert_int_equal(g_of(12.4), GENRE_ROCK);
    assert_int_equal(g_of(0.0), GENRE_CLASSICAL);
    assert_int_equal(g_of(-40.0), GENRE_CLASSICAL);
}

static void test_boundaries(void **state)
{
    (void)state;
    /* 30 is pop, anything above is party. */
    assert_int_equal(g_of(30.0), GENRE_POP);
    assert_int_equal(g_of(30.000001), GENRE_PARTY);
    /* 15 is pop, just below is rock: the challenge's 14-15 gap closed. */
    assert_int_equal(g_of(15.0), GENRE_POP);
    assert_int_equal(g_of(14.999999), GENRE_ROCK);
    assert_int_equal(g_of(14.5), GENRE_ROCK);
    assert_int_equal(g_of(14.99), GENRE_ROCK);
    /* 10 is rock, just below is classical. */
    assert_int_equal(g_of(10.0), GENRE_ROCK);
    assert_int_equal(g_of(9.999999), GENRE_CLASSICAL);
    assert_int_equal(g_of(-0.0), GENRE_CLASSICAL);
}

static void test_non_finite_rejected(void **state)
{
    enum genre g = GENRE_POP;

    (void)state;
    assert_int_equal(genre_from_celsius(NAN, &g), TEMPO_EINVAL);
    assert_int_equal(genre_from_celsius(-NAN, &g), TEMPO_EINVAL);
    assert_int_equal(genre_from_celsius(INFINITY, &g), TEMPO_EINVAL);
    assert_int_equal(genre_from_celsius(-INFINITY, &g), TEMPO_EINVAL);
    assert_int_equal(g, GENRE_POP); /* untouched on error */
}

static void test_names(void **state)
{
    static const char *const names[] = {"party", "pop", "rock", "classical"};
    int i;

    (void)state;
    for (i = 0; i < GENRE__COUNT; i++) {
        assert_string_equal(genre_name((enum genre)i), names[i]);
        assert_int_equal(genre_parse(names[i], strlen(names[i])), i);
    }
    assert_null(genre_name(GENRE__COUNT));
    assert_null(genre_name((enum genre) - 1));
    assert_int_equal(genre_parse("Rock", 4), -1);
    assert_int_equal(genre_parse("rocks", 5), -1);
    assert_int_equal(genre_parse("rock", 3), -1); /* "roc" */
    assert_int_equal(genre_parse("", 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_non_finite_rejected),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
