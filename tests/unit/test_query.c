/*
 * test_query.c - GET /weather's query arguments to get_playlist kwargs
 * (query.h, SPEC section 2): the forms a client may use and every 400 row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "errors.h"
#include "nameko.h"
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXARGS 8

/* Builds args from "key", "value" pairs; a value of NONE is a key without
 * '=' ("?city"), which libmicrohttpd hands over as NULL. */
static const char NONE[] = "<none>";

struct q {
    struct query_arg a[MAXARGS];
    size_t n;
};

static struct q make(const char *const *kv)
{
    struct q q;
    size_t i;

    memset(&q, 0, sizeof(q));
    for (i = 0; kv[i] != NULL; i += 2) {
        q.a[q.n].key = kv[i];
        q.a[q.n].value = kv[i + 1] == NONE ? NULL : kv[i + 1];
        q.a[q.n].value_len = kv[i + 1] == NONE ? 0 : strlen(kv[i + 1]);
        q.n++;
    }
    return q;
}

/* Parses and returns the kwargs as Python would print them (caller
 * frees), or NULL with the message in err. */
static char *parse(const struct q *q, char *err, size_t errlen, int *rc)
{
    json_t *kwargs = NULL;
    char *s;

    err[0] = '\0';
    *rc = query_parse(q->a, q->n, &kwargs, err, errlen);
    if (*rc != 0) {
        assert_null(kwargs); /* untouched on error */
        return NULL;
    }
    assert_non_null(kwargs);
    s = nameko_dumps(kwargs);
    json_decref(kwargs);
    assert_non_null(s);
    return s;
}

#define EXPECT_KWARGS(want, ...)                                               \
    do {                                                                       \
        static const char *const kv_[] = {__VA_ARGS__, NULL};                  \
        struct q q_ = make(kv_);                                               \
        char err_[256];                                                        \
        int rc_;                                                               \
        char *got_ = parse(&q_, err_, sizeof(err_), &rc_);                     \
        if (got_ == NULL)                                                      \
            fail_msg("rejected: %s", err_);                                    \
        assert_string_equal(got_, want);                                       \
        free(got_);                                                            \
    } while (0)

/* A 400 whose message contains `why`. */
#define EXPECT_ERROR(why, ...)                                                 \
    do {                                                                       \
        static const char *const kv_[] = {__VA_ARGS__, NULL};                  \
        struct q q_ = make(kv_);                                               \
        char err_[256];                                                        \
        int rc_;                                                               \
        char *got_ = parse(&q_, err_, sizeof(err_), &rc_);                     \
        if (got_ != NULL)                                                      \
            fail_msg("accepted: %s", got_);                                    \
        assert_int_equal(rc_, TEMPO_EINVAL);                                   \
        if (strstr(err_, why) == NULL)                                         \
            fail_msg("message \"%s\" lacks \"%s\"", err_, why);                \
    } while (0)

static void test_city_forms(void **state)
{
    (void)state;
    EXPECT_KWARGS("{\"city\": \"London\"}", "city", "London");
    EXPECT_KWARGS("{\"city\": \"London\", \"country\": \"GB\"}", "city",
                  "London", "country", "gb");
    /* Order of the query does not matter; kwargs order is fixed. */
    EXPECT_KWARGS("{\"city\": \"Paris\", \"country\": \"FR\"}", "country", "FR",
                  "city", "Paris");
    EXPECT_KWARGS("{\"city\": \"S\\u00e3o Paulo\"}", "city",
                  "S\xc3\xa3o Paulo");
    /* A city is one opaque string: no parameter injection, kept as given. */
    EXPECT_KWARGS("{\"city\": \"London&appid=x\"}", "city", "London&appid=x");
    EXPECT_KWARGS("{\"city\": \"  Rio \"}", "city", "  Rio ");
}

static void test_coord_forms(void **state)
{
    (void)state;
    EXPECT_KWARGS("{\"lat\": 51.5, \"lon\": -0.12}", "lat", "51.5", "lon",
                  "-0.12");
    EXPECT_KWARGS("{\"lat\": 48.85, \"lon\": 2.35}", "lon", "2.35", "lat",
                  "48.85");
    /* Integers become floats, as a Python caller would send them. */
    EXPECT_KWARGS("{\"lat\": 51.0, \"lon\": 0.0}", "lat", "51", "lon", "0");
    /* Range ends are inclusive. */
    EXPECT_KWARGS("{\"lat\": 90.0, \"lon\": -180.0}", "lat", "90.0", "lon",
                  "-180");
    EXPECT_KWARGS("{\"lat\": -90.0, \"lon\": 180.0}", "lat", "-90", "lon",
                  "180");
}

static void test_unknown_keys_ignored(void **state)
{
    (void)state;
    EXPECT_KWARGS("{\"city\": \"London\"}", "appid", "x", "city", "London",
                  "units", "imperial");
    /* Repeating an unknown key is not an error either. */
    EXPECT_KWARGS("{\"city\": \"Oslo\"}", "_", "1", "_", "2", "city", "Oslo");
    /* Keys are case-sensitive: "City" is unknown. */
    EXPECT_ERROR("give city, or lat and lon", "City", "London");
    /* A NULL key (defensive) is skipped. */
    {
        struct query_arg a[2] = {{NULL, "x", 1}, {"city", "Rome", 4}};
        json_t *kw = NULL;
        char err[128];
        assert_int_equal(query_parse(a, 2, &kw, err, sizeof(err)), 0);
        assert_string_equal(json_string_value(json_object_get(kw, "city")),
                            "Rome");
        json_decref(kw);
    }
}

static void test_form_errors(void **state)
{
    json_t *kw = NULL;
    char err[128];

    (void)state;
    /* Nothing at all. */
    assert_int_equal(query_parse(NULL, 0, &kw, err, sizeof(err)), TEMPO_EINVAL);
    assert_string_equal(err, "missing argument: give city, or lat and lon");
    EXPECT_ERROR("give city, or lat and lon", "units", "metric");
    /* Both forms. */
    EXPECT_ERROR("give either city or lat and lon, not both", "city", "London",
                 "lat", "51.5", "lon", "0");
    EXPECT_ERROR("give either city or lat and lon, not both", "city", "London",
                 "lat", "51.5");
    EXPECT_ERROR("give either city or lat and lon, not both", "lon", "0",
                 "city", "London");
    /* Half a coordinate pair. */
    EXPECT_ERROR("lat needs lon", "lat", "51.5");
    EXPECT_ERROR("lon needs lat", "lon", "0.1");
    /* country only goes with city. */
    EXPECT_ERROR("country is only allowed together with city", "country", "GB");
    EXPECT_ERROR("country is only allowed together with city", "country", "GB",
                 "lat", "1", "lon", "2");
}

static void test_duplicates(void **state)
{
    (void)state;
    EXPECT_ERROR("city is given more than once", "city", "London", "city",
                 "Paris");
    EXPECT_ERROR("city is given more than once", "city", "London", "city",
                 "London");
    EXPECT_ERROR("lat is given more than once", "lat", "1", "lon", "2", "lat",
                 "3");
    EXPECT_ERROR("lon is given more than once", "lat", "1", "lon", "2", "lon",
                 "2");
    EXPECT_ERROR("country is given more than once", "city", "Rome", "country",
                 "IT", "country", "IT");
}

static void test_city_value_errors(void **state)
{
    char big[202];

    (void)state;
    EXPECT_ERROR("city is empty", "city", "");
    EXPECT_ERROR("city is empty", "city", NONE); /* "?city" */
    EXPECT_ERROR("city is blank", "city", "   ");
    EXPECT_ERROR("not valid UTF-8", "city", "\xc0\xaf");
    EXPECT_ERROR("not valid UTF-8", "city", "\xed\xa0\x80");
    EXPECT_ERROR("not valid UTF-8", "city", "Lond\xc3");
    EXPECT_ERROR("control character", "city", "Lon\ndon");
    EXPECT_ERROR("control character", "city", "\xc2\x85");
    EXPECT_ERROR("country must be a two-letter", "city", "London", "country",
                 "GBR");
    EXPECT_ERROR("country must be a two-letter", "city", "London", "country",
                 "");
    EXPECT_ERROR("country must be a two-letter", "city", "London", "country",
                 NONE);
    EXPECT_ERROR("country must be a two-letter", "city", "London", "country",
                 "G1");

    /* 200 bytes pass, 201 do not. */
    memset(big, 'x', sizeof(big));
    {
        struct query_arg a[1] = {{"city", big, 200}};
        json_t *kw = NULL;
        char err[128];
        assert_int_equal(query_parse(a, 1, &kw, err, sizeof(err)), 0);
        assert_int_equal(json_string_length(json_object_get(kw, "city")), 200);
        json_decref(kw);
        a[0].value_len = 201;
        assert_int_equal(query_parse(a, 1, &kw, err, sizeof(err)),
                         TEMPO_EINVAL);
        assert_string_equal(err, "city is longer than 200 bytes");
    }
    /* A NUL inside the value (%00) is seen, not cut off. */
    {
        struct query_arg a[1] = {{"city", "Lon\0don", 7}};
        json_t *kw = NULL;
        char err[128];
        assert_int_equal(query_parse(a, 1, &kw, err, sizeof(err)),
                         TEMPO_EINVAL);
        assert_non_null(strstr(err, "NUL"));
        assert_null(kw);
    }
}

static void test_coord_value_errors(void **state)
{
    (void)state;
    EXPECT_ERROR("lat must be between -90 and 90", "lat", "90.0001", "lon",
                 "0");
    EXPECT_ERROR("lat must be between -90 and 90", "lat", "-91", "lon", "0");
    EXPECT_ERROR("lon must be between -180 and 180", "lat", "0", "lon",
                 "-180.0001");
    EXPECT_ERROR("lon must be between -180 and 180", "lat", "0", "lon", "181");
    EXPECT_ERROR("lat must be a plain decimal", "lat", "1e5", "lon", "0");
    EXPECT_ERROR("lat must be a plain decimal", "lat", "nan", "lon", "0");
    EXPECT_ERROR("lon must be a plain decimal", "lat", "0", "lon", "inf");
    EXPECT_ERROR("lat must be a plain decimal", "lat", "0x10", "lon", "0");
    EXPECT_ERROR("lat must be a plain decimal", "lat", " 1", "lon", "0");
    EXPECT_ERROR("lat must be a plain decimal", "lat", "+1", "lon", "0");
    EXPECT_ERROR("lat must be a plain decimal", "lat", ".5", "lon", "0");
    EXPECT_ERROR("lat must be a plain decimal", "lat", "1.", "lon", "0");
    EXPECT_ERROR("lat must be a plain decimal", "lat", "abc", "lon", "0");
    EXPECT_ERROR("lat is empty", "lat", "", "lon", "0");
    EXPECT_ERROR("lat is empty", "lat", NONE, "lon", "0");
    EXPECT_ERROR("lon is empty", "lat", "1", "lon", NONE);
}

static void test_messages_are_safe(void **state)
{
    struct query_arg a[2] = {{"city", "\x1b]0;pwned\x07", 10},
                             {"country", "GB", 2}};
    json_t *kw = NULL;
    char err[256];
    size_t i;

    (void)state;
    assert_int_equal(query_parse(a, 2, &kw, err, sizeof(err)), TEMPO_EINVAL);
    assert_null(strstr(err, "pwned"));
    for (i = 0; err[i] != '\0'; i++)
        assert_true((unsigned char)err[i] >= 0x20 &&
                    (unsigned char)err[i] < 0x7f);
    /* A NULL or empty error buffer is allowed. */
    assert_int_equal(query_parse(a, 2, &kw, NULL, 0), TEMPO_EINVAL);
}

/* Issue 12 item 9: libmicrohttpd hands over keys with their decoded
 * length; a NUL inside ("city%00x=London") must not make "city". */
static void test_nul_in_keys_and_values(void **state)
{
    struct query_acc acc;
    json_t *kw = NULL;
    char err[128];

    (void)state;
    query_acc_init(&acc);
    assert_int_equal(
        query_acc_add(&acc, "city\0x", 6, "London", 6, err, sizeof(err)),
        TEMPO_EINVAL);
    assert_non_null(strstr(err, "NUL"));
    /* An unknown key with a NUL is refused too, and so is a value. */
    query_acc_init(&acc);
    assert_int_equal(query_acc_add(&acc, "x\0", 2, "1", 1, err, sizeof(err)),
                     TEMPO_EINVAL);
    query_acc_init(&acc);
    assert_int_equal(query_acc_add(&acc, "utm", 3, "a\0b", 3, err, sizeof(err)),
                     TEMPO_EINVAL);
    /* Without the NUL the same key is city. */
    query_acc_init(&acc);
    assert_int_equal(
        query_acc_add(&acc, "city", 4, "London", 6, err, sizeof(err)), 0);
    assert_int_equal(query_acc_finish(&acc, &kw, err, sizeof(err)), 0);
    assert_string_equal(json_string_value(json_object_get(kw, "city")),
                        "London");
    json_decref(kw);
}

/* Unknown arguments are ignored however many there are, up to the
 * documented QUERY_MAX_ARGS in all (issue 12: 32 used to give 400). */
static void test_many_unknown_arguments(void **state)
{
    struct query_acc acc;
    json_t *kw = NULL;
    char err[128], key[16];
    int i;

    (void)state;
    query_acc_init(&acc);
    for (i = 0; i < QUERY_MAX_ARGS - 1; i++) {
        int n = snprintf(key, sizeof(key), "utm%d", i);
        assert_int_equal(
            query_acc_add(&acc, key, (size_t)n, "x", 1, err, sizeof(err)), 0);
    }
    assert_int_equal(
        query_acc_add(&acc, "city", 4, "Oslo", 4, err, sizeof(err)), 0);
    assert_int_equal(query_acc_finish(&acc, &kw, err, sizeof(err)), 0);
    json_decref(kw);
    /* One more is too many. */
    assert_int_equal(query_acc_add(&acc, "utm", 3, "x", 1, err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_non_null(strstr(err, "too many query arguments"));
    /* Unknown keys are not stored: the accumulator is small and fixed. */
    assert_true(sizeof(struct query_acc) < 256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_city_forms),
        cmocka_unit_test(test_coord_forms),
        cmocka_unit_test(test_unknown_keys_ignored),
        cmocka_unit_test(test_form_errors),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_city_value_errors),
        cmocka_unit_test(test_coord_value_errors),
        cmocka_unit_test(test_messages_are_safe),
        cmocka_unit_test(test_nul_in_keys_and_values),
        cmocka_unit_test(test_many_unknown_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
