/*
 * test_validate.c - the argument rules of SPEC section 2 (validate.h):
 * what a client may send as city, country, lat/lon and X-Request-Id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "errors.h"
#include "validate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A message is client-safe when it is printable ASCII: it can go into a
 * JSON body or a log line as is. */
static void assert_printable(const char *msg)
{
    const unsigned char *p = (const unsigned char *)msg;

    assert_true(*p != '\0');
    for (; *p != '\0'; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static int city(const char *s, size_t len, char *err, size_t errlen)
{
    err[0] = '\0';
    return validate_city(s, len, err, errlen);
}

#define CITY_OK(lit)                                                           \
    do {                                                                       \
        char e_[128];                                                          \
        assert_int_equal(city(lit, sizeof(lit) - 1, e_, sizeof(e_)), 0);       \
    } while (0)

/* The message names city and the reason (`why` is a substring). */
#define CITY_BAD(lit, why)                                                     \
    do {                                                                       \
        char e_[128];                                                          \
        assert_int_equal(city(lit, sizeof(lit) - 1, e_, sizeof(e_)),           \
                         TEMPO_EINVAL);                                        \
        assert_printable(e_);                                                  \
        assert_non_null(strstr(e_, "city"));                                   \
        assert_non_null(strstr(e_, why));                                      \
    } while (0)

static void test_city_valid(void **state)
{
    (void)state;
    CITY_OK("London");
    CITY_OK("New York");
    CITY_OK("S\xc3\xa3o Paulo");         /* São Paulo */
    CITY_OK("\xe6\x9d\xb1\xe4\xba\xac"); /* 東京 */
    CITY_OK("Ma\xc3\xb1"
            "ana \xf0\x9f\x8e\xb5"); /* emoji: 4 bytes */
    CITY_OK("\xf4\x8f\xbf\xbf");     /* U+10FFFF, the last scalar */
    CITY_OK("\xef\xbf\xbf");         /* U+FFFF is a scalar value */
    CITY_OK(" London ");             /* kept as given */
    CITY_OK("\xc2\xa0x");            /* NBSP then a letter */
    CITY_OK("London&appid=x");       /* one string, not a parameter */
    CITY_OK("O'Brien \"quoted\" \\ / <b>");
    CITY_OK("x");
}

static void test_city_empty_and_blank(void **state)
{
    char err[128];

    (void)state;
    assert_int_equal(city("", 0, err, sizeof(err)), TEMPO_EINVAL);
    assert_string_equal(err, "city is empty");
    assert_int_equal(city(NULL, 0, err, sizeof(err)), TEMPO_EINVAL);
    assert_string_equal(err, "city is empty");
    CITY_BAD(" ", "blank");
    CITY_BAD("     ", "blank");
    CITY_BAD("\xc2\xa0", "blank");                  /* NBSP */
    CITY_BAD("\xe3\x80\x80 \xe2\x80\x83", "blank"); /* ideographic + em */
}

static void test_city_length(void **state)
{
    char buf[VALIDATE_CITY_MAX + 2], err[128];
    size_t i;

    (void)state;
    memset(buf, 'a', sizeof(buf));
    assert_int_equal(city(buf, 200, err, sizeof(err)), 0);
    assert_int_equal(city(buf, 201, err, sizeof(err)), TEMPO_EINVAL);
    assert_string_equal(err, "city is longer than 200 bytes");

    /* Bytes, not characters: 100 x "é" is 200 bytes, one more is over. */
    for (i = 0; i + 1 < sizeof(buf); i += 2) {
        buf[i] = '\xc3';
        buf[i + 1] = '\xa9';
    }
    assert_int_equal(city(buf, 200, err, sizeof(err)), 0);
    buf[200] = 'a';
    assert_int_equal(city(buf, 201, err, sizeof(err)), TEMPO_EINVAL);
}

static void test_city_bad_utf8(void **state)
{
    (void)state;
    CITY_BAD("\xc0\xaf", "UTF-8");                  /* overlong '/' */
    CITY_BAD("\xc1\xbf", "UTF-8");                  /* overlong DEL */
    CITY_BAD("\xe0\x80\xaf", "UTF-8");              /* overlong, 3 bytes */
    CITY_BAD("\xf0\x80\x80\xaf", "UTF-8");          /* overlong, 4 bytes */
    CITY_BAD("\xed\xa0\x80", "UTF-8");              /* U+D800 surrogate */
    CITY_BAD("\xed\xbf\xbf", "UTF-8");              /* U+DFFF surrogate */
    CITY_BAD("a\xed\xa0\xbd\xed\xb2\xa9", "UTF-8"); /* CESU-8 pair */
    CITY_BAD("\xf4\x90\x80\x80", "UTF-8");          /* U+110000 */
    CITY_BAD("\xf5\x80\x80\x80", "UTF-8");
    CITY_BAD("\xff", "UTF-8");
    CITY_BAD("\x80", "UTF-8");     /* stray continuation */
    CITY_BAD("Lond\xc3", "UTF-8"); /* truncated at the end */
    CITY_BAD("\xe2\x82", "UTF-8");
    CITY_BAD("\xf0\x9f\x8e", "UTF-8");
    CITY_BAD("\xe2\x82x", "UTF-8");         /* interrupted */
    CITY_BAD("Lond\xe9n", "UTF-8");         /* Latin-1 */
    CITY_BAD("\xe2\x82\xac\xa9", "byte 3"); /* offset reported */
}

static void test_city_control_and_nul(void **state)
{
    char err[128];

    (void)state;
    CITY_BAD("Lon\0don", "NUL");
    CITY_BAD("\0", "NUL");
    CITY_BAD("London\n", "control");
    CITY_BAD("Lon\rdon", "control");
    CITY_BAD("\tLondon", "control");
    CITY_BAD("\x1b[31mLondon", "control"); /* terminal escape */
    CITY_BAD("London\x7f", "control");     /* DEL */
    CITY_BAD("\xc2\x80", "control");       /* U+0080, C1 */
    CITY_BAD("a\xc2\x85", "control");      /* U+0085 NEL */
    CITY_BAD("\xc2\x9f", "control");       /* U+009F, last C1 */
    CITY_BAD("x\n", "U+000A");

    /* The message never echoes the value. */
    assert_int_equal(city("evil\ninjected", 13, err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_null(strstr(err, "evil"));
    assert_null(strstr(err, "injected"));
}

static void test_city_err_buffer(void **state)
{
    char tiny[8];

    (void)state;
    /* No buffer, or a tiny one, is fine. */
    assert_int_equal(validate_city("", 0, NULL, 0), TEMPO_EINVAL);
    assert_int_equal(validate_city("\xc0\xaf", 2, tiny, sizeof(tiny)),
                     TEMPO_EINVAL);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static void test_country(void **state)
{
    char out[3], err[128];
    static const char *const bad[] = {"",   "G",  "GBR",       "G1",
                                      "1B", "G ", "\xc3\xa9x", "--"};
    size_t i;

    (void)state;
    assert_int_equal(validate_country("GB", 2, out, err, sizeof(err)), 0);
    assert_string_equal(out, "GB");
    assert_int_equal(validate_country("gb", 2, out, err, sizeof(err)), 0);
    assert_string_equal(out, "GB");
    assert_int_equal(validate_country("bR", 2, out, err, sizeof(err)), 0);
    assert_string_equal(out, "BR");
    /* Only the form is checked, not the ISO list. */
    assert_int_equal(validate_country("ZZ", 2, out, err, sizeof(err)), 0);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(out, "ok", 3);
        err[0] = '\0';
        assert_int_equal(
            validate_country(bad[i], strlen(bad[i]), out, err, sizeof(err)),
            TEMPO_EINVAL);
        assert_non_null(strstr(err, "country"));
        assert_printable(err);
        assert_string_equal(out, "ok"); /* untouched on error */
    }
    assert_int_equal(validate_country("G\0", 2, out, err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_int_equal(validate_country(NULL, 0, out, err, sizeof(err)),
                     TEMPO_EINVAL);
}

static int lat(const char *s, double *v, char *err, size_t errlen)
{
    return validate_coord(s, strlen(s), -90.0, 90.0, "lat", v, err, errlen);
}

static void test_coord_valid(void **state)
{
    static const struct {
        const char *s;
        double v;
    } ok[] = {
        {"51", 51.0},
        {"1.5", 1.5},
        {"-0.5", -0.5},
        {"51.5085", 51.5085},
        {"0", 0.0},
        {"-0", 0.0},
        {"90", 90.0},
        {"90.0", 90.0},
        {"-90", -90.0},
        {"-90.000", -90.0},
        {"007.25", 7.25},
        {"0.1275", 0.1275},
        {"89.99999999999999", 89.99999999999999},
    };
    char err[128];
    double v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = -1000;
        assert_int_equal(lat(ok[i].s, &v, err, sizeof(err)), 0);
        assert_true(v == ok[i].v);
    }
    /* lon's range, inclusive at both ends. */
    assert_int_equal(
        validate_coord("-180", 4, -180, 180, "lon", &v, err, sizeof(err)), 0);
    assert_true(v == -180.0);
    assert_int_equal(
        validate_coord("180.0", 5, -180, 180, "lon", &v, err, sizeof(err)), 0);
    assert_true(v == 180.0);
}

static void test_coord_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "-",
        ".",
        ".5",
        "1.",
        "-.5",
        "1e5",
        "1E5",
        "1e-5",
        "0x10",
        "inf",
        "-inf",
        "nan",
        "NaN",
        " 1",
        "1 ",
        "+1",
        "1,5",
        "1.2.3",
        "--1",
        "abc",
        "1a",
        "\t1",
        "1\n",
        "\xef\xbc\x91",                      /* fullwidth digit one */
        "123456789012345678901234567890.12", /* 33 bytes */
    };
    char err[160];
    double v = 42.0;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(lat(bad[i], &v, err, sizeof(err)), TEMPO_EINVAL);
        assert_true(strncmp(err, "lat ", 4) == 0);
        assert_printable(err);
        assert_true(v == 42.0); /* untouched on error */
    }
    /* NUL inside: length says 2. */
    assert_int_equal(
        validate_coord("1\0", 2, -90, 90, "lat", &v, err, sizeof(err)),
        TEMPO_EINVAL);
    assert_int_equal(
        validate_coord(NULL, 0, -90, 90, "lat", &v, err, sizeof(err)),
        TEMPO_EINVAL);
}

static void test_coord_range(void **state)
{
    char err[128];
    double v = 7.0;

    (void)state;
    assert_int_equal(lat("90.0001", &v, err, sizeof(err)), TEMPO_EINVAL);
    assert_string_equal(err, "lat must be between -90 and 90");
    assert_int_equal(lat("-90.0001", &v, err, sizeof(err)), TEMPO_EINVAL);
    assert_int_equal(lat("91", &v, err, sizeof(err)), TEMPO_EINVAL);
    assert_int_equal(
        lat("1000000000000000000000000000000", &v, err, sizeof(err)),
        TEMPO_EINVAL);
    assert_int_equal(
        validate_coord("-180.0001", 9, -180, 180, "lon", &v, err, sizeof(err)),
        TEMPO_EINVAL);
    assert_string_equal(err, "lon must be between -180 and 180");
    assert_int_equal(
        validate_coord("180.5", 5, -180, 180, "lon", &v, err, sizeof(err)),
        TEMPO_EINVAL);
    assert_true(v == 7.0);
}

static void test_coord_value(void **state)
{
    char err[128];

    (void)state;
    assert_int_equal(
        validate_coord_value(90.0, -90, 90, "lat", err, sizeof(err)), 0);
    assert_int_equal(
        validate_coord_value(-180.0, -180, 180, "lon", err, sizeof(err)), 0);
    assert_int_equal(
        validate_coord_value(90.0001, -90, 90, "lat", err, sizeof(err)),
        TEMPO_EINVAL);
    assert_string_equal(err, "lat must be between -90 and 90");
    assert_int_equal(
        validate_coord_value(NAN, -90, 90, "lat", err, sizeof(err)),
        TEMPO_EINVAL);
    assert_string_equal(err, "lat must be a finite number");
    assert_int_equal(
        validate_coord_value(INFINITY, -180, 180, "lon", err, sizeof(err)),
        TEMPO_EINVAL);
    assert_int_equal(validate_coord_value(-INFINITY, -180, 180, "lon", NULL, 0),
                     TEMPO_EINVAL);
}

static void test_request_id(void **state)
{
    char id[130];

    (void)state;
    assert_true(validate_request_id("a"));
    assert_true(validate_request_id("3f2a9c1d-7e4b.x_y:z"));
    assert_true(validate_request_id("ABCxyz0189"));
    memset(id, 'a', 128);
    id[128] = '\0';
    assert_true(validate_request_id(id));
    id[128] = 'a';
    id[129] = '\0';
    assert_false(validate_request_id(id)); /* 129 */
    assert_false(validate_request_id(""));
    assert_false(validate_request_id(NULL));
    assert_false(validate_request_id("a b"));
    assert_false(validate_request_id("a/b"));
    assert_false(validate_request_id("id\n"));
    assert_false(validate_request_id("id\r\nX-Evil: 1"));
    assert_false(validate_request_id("caf\xc3\xa9"));
    assert_false(validate_request_id("a+b"));
    assert_false(validate_request_id("{x}"));
}

/* Text from peers goes into messages: never split a character, never
 * carry control characters (found by fuzzing the gateway's error path). */
static void test_copy_text(void **state)
{
    char out[8];

    (void)state;
    validate_copy_text(out, sizeof(out), "abc");
    assert_string_equal(out, "abc");
    validate_copy_text(out, sizeof(out), "abcdefghij");
    assert_string_equal(out, "abcdefg");
    /* "aaaaaa" + e-acute (2 bytes): 8 bytes do not fit in 7. */
    validate_copy_text(out, sizeof(out), "aaaaaa\xc3\xa9");
    assert_string_equal(out, "aaaaaa");
    /* A 4-byte character straddling the cut is dropped whole. */
    validate_copy_text(out, sizeof(out), "aaaaa\xf0\x9f\x8e\xb5");
    assert_string_equal(out, "aaaaa");
    validate_copy_text(out, sizeof(out), "a\nb\x1b[c\x7f");
    assert_string_equal(out, "a?b?[c?");
    validate_copy_text(out, 1, "abc");
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_text),
        cmocka_unit_test(test_city_valid),
        cmocka_unit_test(test_city_empty_and_blank),
        cmocka_unit_test(test_city_length),
        cmocka_unit_test(test_city_bad_utf8),
        cmocka_unit_test(test_city_control_and_nul),
        cmocka_unit_test(test_city_err_buffer),
        cmocka_unit_test(test_country),
        cmocka_unit_test(test_coord_valid),
        cmocka_unit_test(test_coord_invalid),
        cmocka_unit_test(test_coord_range),
        cmocka_unit_test(test_coord_value),
        cmocka_unit_test(test_request_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
