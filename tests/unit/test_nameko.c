/*
 * test_nameko.c - Nameko envelopes (nameko.h, SPEC section 3): bodies must
 * be byte-identical to what Python Nameko sends (shared/nameko-wire.md
 * captures), and hostile bodies must fail cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "errors.h"
#include "nameko.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Captured from a real Nameko (nameko-wire.md).  The reply's track list
 * was shortened with "..." in the capture; here it ends after two tracks. */
static const char CAPTURED_CALL[] = "{\"args\": [], \"kwargs\": {\"city\": "
                                    "\"London\"}}";
static const char CAPTURED_REPLY[] =
    "{\"result\": {\"location\": {\"city\": \"London\", \"country\": \"GB\", "
    "\"lat\": 51.5085, \"lon\": -0.1257}, \"temperature_c\": 12.3, "
    "\"genre\": \"rock\", \"tracks\": [{\"name\": \"Thunder & Lightning\", "
    "\"artists\": [\"The Rolling Pebbles\"], \"uri\": "
    "\"spotify:track:1v5cLrRg92dehrZZEgxoA9\"}, {\"name\": "
    "\"Mot\\u00f6rway\", \"artists\": [\"Mot\\u00f6rcycle\"], \"uri\": "
    "\"spotify:track:l7KqRtKBrvtdd6cqpDgV7H\"}]}, \"error\": null}";
static const char CAPTURED_METHOD_NOT_FOUND[] =
    "{\"result\": null, \"error\": {\"exc_type\": \"MethodNotFound\", "
    "\"exc_path\": \"nameko.exceptions.MethodNotFound\", \"exc_args\": "
    "[\"no_such_method\"], \"value\": \"no_such_method\"}}";

/* Dumps v (stolen) and compares with want. */
static void expect_dump(json_t *v, const char *want)
{
    char *s;

    assert_non_null(v);
    s = nameko_dumps(v);
    json_decref(v);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

static void test_call_encode_captured(void **state)
{
    json_t *kw = json_pack("{s:s}", "city", "London");
    char *body;

    (void)state;
    body = nameko_call_encode(kw);
    assert_non_null(body);
    assert_string_equal(body, CAPTURED_CALL);
    assert_int_equal(strlen(body), 42);
    free(body);
    json_decref(kw);

    kw = json_pack("{s:f,s:f}", "lat", 48.85, "lon", 2.35);
    body = nameko_call_encode(kw);
    assert_string_equal(body, "{\"args\": [], \"kwargs\": {\"lat\": 48.85, "
                              "\"lon\": 2.35}}");
    free(body);
    json_decref(kw);

    kw = json_pack("{s:s,s:s}", "city", "Mot\xc3\xb6rway", "country", "GB");
    body = nameko_call_encode(kw);
    assert_string_equal(body, "{\"args\": [], \"kwargs\": {\"city\": "
                              "\"Mot\\u00f6rway\", \"country\": \"GB\"}}");
    free(body);
    json_decref(kw);

    kw = json_object();
    body = nameko_call_encode(kw);
    assert_string_equal(body, "{\"args\": [], \"kwargs\": {}}");
    free(body);
    json_decref(kw);

    /* kwargs must be an object. */
    assert_null(nameko_call_encode(NULL));
    kw = json_array();
    assert_null(nameko_call_encode(kw));
    json_decref(kw);
}

static void test_dumps_floats_like_python_repr(void **state)
{
    static const struct {
        double v;
        const char *repr;
    } rows[] = {
        {12.4, "12.4"},
        {12.3, "12.3"},
        {51.5085, "51.5085"},
        {-0.1257, "-0.1257"},
        {5.0, "5.0"},
        {100.0, "100.0"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.0 / 3.0, "0.3333333333333333"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1e15, "1000000000000000.0"},
        {1e16, "1e+16"},
        {1e22, "1e+22"},
        {1e23, "1e+23"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {5e-324, "5e-324"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        /* Powers of two, where the rounding interval is lopsided. */
        {5.986310706507379e+51, "5.986310706507379e+51"},
        {1.90109156629516e-211, "1.90109156629516e-211"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        expect_dump(json_real(rows[i].v), rows[i].repr);
    assert_true(ldexp(1.0, 172) == 5.986310706507379e+51);
}

/*
 * The reference for the float serialiser: the shortest precision whose
 * correctly rounded text (or a neighbour in the last place) reads back,
 * found by trying every precision in turn, as the first version of
 * nameko.c did.  Slow and plainly right.  digits without trailing zeros,
 * a = 0.DIGITS * 10^decpt.
 */
static void reference_digits(double a, char digits[24], int *decpt)
{
    static const int delta[3] = {0, -1, 1};
    unsigned long long m = 0, best = 0;
    int prec, q = 0, i;
    char num[48];

    for (prec = 1; prec <= 17 && best == 0; prec++) {
        int e;
        char *p;

        snprintf(num, sizeof(num), "%.*e", prec - 1, a);
        m = 0;
        for (p = num; *p != 'e'; p++)
            if (*p >= '0' && *p <= '9')
                m = m * 10 + (unsigned long long)(*p - '0');
        e = (int)strtol(p + 1, NULL, 10);
        q = e - (prec - 1);
        for (i = 0; i < 3; i++) {
            unsigned long long c = m + (unsigned long long)(long long)delta[i];
            if (c == 0)
                continue;
            snprintf(num, sizeof(num), "%llue%d", c, q);
            if (strtod(num, NULL) == a) {
                best = c;
                break;
            }
        }
    }
    while (best % 10 == 0) {
        best /= 10;
        q++;
    }
    *decpt = snprintf(digits, 24, "%llu", best) + q;
}

/*
 * The digits (no leading or trailing zeros) and decimal point of a
 * repr() text of a non-zero value: "0.00015" and "1.5e-04" both give 15
 * and -3 (0.15 * 10^-3).
 */
static void repr_digits(const char *s, char digits[24], int *decpt)
{
    char d[48];
    int n = 0, point = -1, z = 0;

    if (*s == '-')
        s++;
    for (; *s != '\0' && *s != 'e' && n < 47; s++)
        if (*s == '.')
            point = n;
        else
            d[n++] = *s;
    if (point < 0)
        point = n;
    while (z < n && d[z] == '0')
        z++;
    while (n > z && d[n - 1] == '0')
        n--;
    memcpy(digits, d + z, (size_t)(n - z));
    digits[n - z] = '\0';
    *decpt = point - z + (*s == 'e' ? (int)strtol(s + 1, NULL, 10) : 0);
}

/* The serialiser's digits match the reference on random bit patterns,
 * short decimals (what upstream JSON carries), ties and powers of two. */
static void test_dumps_floats_match_reference(void **state)
{
    uint64_t x = 88172645463325252ULL;
    long i;

    (void)state;
    for (i = 0; i < 30000; i++) {
        double v[5];
        char num[48];
        int k;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(&v[0], &x, sizeof(v[0]));
        snprintf(num, sizeof(num), "%llu.%llue%d",
                 (unsigned long long)(x % 1000),
                 (unsigned long long)((x >> 10) % 100000),
                 (int)((x >> 30) % 40) - 20);
        v[1] = strtod(num, NULL);
        snprintf(num, sizeof(num), "%llu5e%d",
                 (unsigned long long)((x >> 5) % 1000000000000000ULL),
                 (int)((x >> 50) % 60) - 30);
        v[2] = strtod(num, NULL); /* 17 digits end in 50: a tie at 16 */
        v[3] = nextafter(v[2], 0);
        v[4] = ldexp(1.0, (int)(x % 2098) - 1074);
        for (k = 0; k < 5; k++) {
            double a = fabs(v[k]);
            char want[24], got[24], *text;
            json_t *j = json_real(a);
            int wd, gd;

            if (!isfinite(a) || a == 0) {
                json_decref(j);
                continue;
            }
            text = nameko_dumps(j);
            json_decref(j);
            assert_non_null(text);
            reference_digits(a, want, &wd);
            repr_digits(text, got, &gd);
            if (strcmp(want, got) != 0 || wd != gd)
                fail_msg("%.17g: got %s, want digits %s point %d", a, text,
                         want, wd);
            free(text);
        }
    }
}

static void test_dumps_scalars(void **state)
{
    (void)state;
    /* Integers stay integers. */
    expect_dump(json_integer(0), "0");
    expect_dump(json_integer(-7), "-7");
    expect_dump(json_integer(INT64_MAX), "9223372036854775807");
    expect_dump(json_integer(INT64_MIN), "-9223372036854775808");
    expect_dump(json_true(), "true");
    expect_dump(json_false(), "false");
    expect_dump(json_null(), "null");
    assert_null(nameko_dumps(NULL));
}

static void test_dumps_strings_ensure_ascii(void **state)
{
    (void)state;
    expect_dump(json_string("Mot\xc3\xb6rway"), "\"Mot\\u00f6rway\"");
    expect_dump(json_string("\xf0\x9f\x8e\xb5"), "\"\\ud83c\\udfb5\"");
    expect_dump(json_string("\xf4\x8f\xbf\xbf"), "\"\\udbff\\udfff\"");
    expect_dump(json_string("\xe6\x9d\xb1\xe4\xba\xac"), "\"\\u6771\\u4eac\"");
    expect_dump(json_string("\xe2\x80\xa8"), "\"\\u2028\"");
    expect_dump(json_string("\"\\/\b\f\n\r\t"), "\"\\\"\\\\/\\b\\f\\n\\r\\t\"");
    expect_dump(json_string("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
    expect_dump(json_string("\xc2\x80"), "\"\\u0080\"");
    expect_dump(json_stringn("a\0b", 3), "\"a\\u0000b\"");
    expect_dump(json_string(""), "\"\"");
    expect_dump(json_string("<script>&'"), "\"<script>&'\"");
}

static void test_dumps_containers(void **state)
{
    json_t *o;

    (void)state;
    expect_dump(json_object(), "{}");
    expect_dump(json_array(), "[]");
    expect_dump(json_pack("[i,f,b,b,n,s]", 1, 2.5, 1, 0, "x"),
                "[1, 2.5, true, false, null, \"x\"]");
    /* Keys in insertion order, not sorted. */
    o = json_object();
    json_object_set_new(o, "zeta", json_integer(1));
    json_object_set_new(o, "alpha", json_array());
    json_object_set_new(o, "mid", json_object());
    json_object_set_new(o, "\xc3\xa9", json_null());
    expect_dump(o, "{\"zeta\": 1, \"alpha\": [], \"mid\": {}, "
                   "\"\\u00e9\": null}");
    expect_dump(json_pack("{s:[{s:[]}]}", "a", "b"), "{\"a\": [{\"b\": []}]}");
}

static json_t *nest(int depth)
{
    json_t *v = json_array(), *outer;
    int i;

    for (i = 1; i < depth; i++) {
        outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    return v;
}

static void test_dumps_limits(void **state)
{
    char *big, *s;
    json_t *v;

    (void)state;
    /* Deep but sane nesting is fine; absurd nesting fails cleanly. */
    v = nest(100);
    s = nameko_dumps(v);
    assert_non_null(s);
    assert_int_equal(strlen(s), 200);
    free(s);
    json_decref(v);
    v = nest(10000);
    assert_null(nameko_dumps(v));
    json_decref(v);

    /* Output is capped at NAMEKO_MAX_BODY bytes, quotes included. */
    big = malloc(NAMEKO_MAX_BODY);
    assert_non_null(big);
    memset(big, 'a', NAMEKO_MAX_BODY);
    v = json_stringn(big, NAMEKO_MAX_BODY - 2);
    s = nameko_dumps(v);
    assert_non_null(s);
    assert_int_equal(strlen(s), NAMEKO_MAX_BODY);
    free(s);
    json_decref(v);
    v = json_stringn(big, NAMEKO_MAX_BODY - 1);
    assert_null(nameko_dumps(v));
    json_decref(v);
    /* Escaping counts: 600k newlines are 1.2 MB once escaped. */
    memset(big, '\n', NAMEKO_MAX_BODY);
    v = json_stringn(big, 600 * 1024);
    assert_null(nameko_dumps(v));
    json_decref(v);
    v = json_object();
    json_object_set_new(v, "city", json_stringn(big, 600 * 1024));
    assert_null(nameko_call_encode(v));
    assert_null(nameko_reply_encode_result(v));
    json_decref(v);
    free(big);
}

static void test_reply_encode_result(void **state)
{
    json_t *r = json_pack("{s:s,s:f,s:b}", "genre", "rock", "temperature_c",
                          12.4, "cached", 0);
    char *s;

    (void)state;
    s = nameko_reply_encode_result(r);
    assert_string_equal(s, "{\"result\": {\"genre\": \"rock\", "
                           "\"temperature_c\": 12.4, \"cached\": false}, "
                           "\"error\": null}");
    free(s);
    json_decref(r);
    assert_null(nameko_reply_encode_result(NULL));
}

static void test_reply_encode_error_captured(void **state)
{
    json_t *args = json_pack("[s]", "no_such_method");
    char *s;

    (void)state;
    s = nameko_reply_encode_error("MethodNotFound",
                                  "nameko.exceptions.MethodNotFound", args,
                                  "no_such_method");
    assert_non_null(s);
    assert_string_equal(s, CAPTURED_METHOD_NOT_FOUND);
    free(s);
    json_decref(args);

    /* SPEC section 3's example. */
    args = json_pack("[s]", "Atlantis");
    s = nameko_reply_encode_error("CityNotFound", "tempo.CityNotFound", args,
                                  "city not found: Atlantis");
    assert_string_equal(s, "{\"result\": null, \"error\": {\"exc_type\": "
                           "\"CityNotFound\", \"exc_path\": "
                           "\"tempo.CityNotFound\", \"exc_args\": "
                           "[\"Atlantis\"], \"value\": \"city not found: "
                           "Atlantis\"}}");
    free(s);
    json_decref(args);

    /* No args, no value. */
    s = nameko_reply_encode_error(
        "MalformedRequest", "nameko.exceptions.MalformedRequest", NULL, NULL);
    assert_string_equal(s, "{\"result\": null, \"error\": {\"exc_type\": "
                           "\"MalformedRequest\", \"exc_path\": "
                           "\"nameko.exceptions.MalformedRequest\", "
                           "\"exc_args\": [], \"value\": \"\"}}");
    free(s);

    /* A value with invalid UTF-8 is still encodable (U+FFFD). */
    s = nameko_reply_encode_error("UpstreamError", "tempo.UpstreamError", NULL,
                                  "bad \xff byte \"q\"\n");
    assert_non_null(strstr(s, "\"value\": \"bad \\ufffd byte \\\"q\\\"\\n\""));
    free(s);

    /* Missing type/path, or args that are not a list, are refused. */
    assert_null(nameko_reply_encode_error(NULL, "x", NULL, "v"));
    assert_null(nameko_reply_encode_error("X", NULL, NULL, "v"));
    args = json_object();
    assert_null(nameko_reply_encode_error("X", "x.X", args, "v"));
    json_decref(args);
}

static void test_reply_decode_captured(void **state)
{
    struct nameko_reply r;
    json_t *track;
    char err[256], *again;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(nameko_reply_decode(CAPTURED_REPLY, strlen(CAPTURED_REPLY),
                                         &r, err, sizeof(err)),
                     0);
    assert_non_null(r.result);
    assert_string_equal(r.exc_type, "");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(r.result, "location"), "city")),
                        "London");
    assert_true(json_real_value(json_object_get(r.result, "temperature_c")) ==
                12.3);
    track = json_array_get(json_object_get(r.result, "tracks"), 1);
    assert_string_equal(json_string_value(json_object_get(track, "name")),
                        "Mot\xc3\xb6rway");

    /* Re-encoding gives the captured bytes back. */
    again = nameko_reply_encode_result(r.result);
    assert_string_equal(again, CAPTURED_REPLY);
    free(again);
    nameko_reply_clear(&r);
    assert_null(r.result);
    nameko_reply_clear(&r); /* twice is fine */
    nameko_reply_clear(NULL);
}

static void test_reply_decode_errors(void **state)
{
    struct nameko_reply r;
    char err[256];

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(nameko_reply_decode(CAPTURED_METHOD_NOT_FOUND,
                                         strlen(CAPTURED_METHOD_NOT_FOUND), &r,
                                         err, sizeof(err)),
                     0);
    assert_null(r.result);
    assert_string_equal(r.exc_type, "MethodNotFound");
    assert_string_equal(r.value, "no_such_method");
    /* SPEC section 3: MethodNotFound is the gateway's 500. */
    assert_int_equal(tempo_err_from_exc_type(r.exc_type), TEMPO_EINTERNAL);
    assert_int_equal(tempo_err_http_status(tempo_err_from_exc_type(r.exc_type)),
                     500);
    nameko_reply_clear(&r);

    /* "error" wins over a non-null "result"; "value" may be missing. */
    {
        static const char b[] = "{\"result\": {}, \"error\": {\"exc_type\": "
                                "\"CityNotFound\"}}";
        assert_int_equal(
            nameko_reply_decode(b, strlen(b), &r, err, sizeof(err)), 0);
        assert_null(r.result);
        assert_string_equal(r.exc_type, "CityNotFound");
        assert_string_equal(r.value, "");
        assert_int_equal(tempo_err_from_exc_type(r.exc_type), TEMPO_ENOCITY);
    }
    {
        static const char b[] = "{\"result\": null, \"error\": {\"exc_type\": "
                                "\"UpstreamError\", \"value\": 42}}";
        assert_int_equal(
            nameko_reply_decode(b, strlen(b), &r, err, sizeof(err)), 0);
        assert_string_equal(r.value, "");
    }
}

static void test_reply_decode_truncates(void **state)
{
    struct nameko_reply r;
    json_t *body;
    char *s, err[256], longtype[200], longval[1300];
    size_t i, n;

    (void)state;
    memset(longtype, 'T', sizeof(longtype) - 1);
    longtype[sizeof(longtype) - 1] = '\0';
    for (i = 0; i + 2 < sizeof(longval); i += 2)
        memcpy(longval + i, "\xc3\xa9", 2); /* é */
    longval[i] = '\0';
    body =
        json_pack("{s:n,s:{s:s,s:s,s:[],s:s}}", "result", "error", "exc_type",
                  longtype, "exc_path", "x.T", "exc_args", "value", longval);
    s = nameko_dumps(body);
    json_decref(body);
    assert_int_equal(nameko_reply_decode(s, strlen(s), &r, err, sizeof(err)),
                     0);
    free(s);
    assert_int_equal(strlen(r.exc_type), sizeof(r.exc_type) - 1);
    n = strlen(r.value);
    assert_true(n < sizeof(r.value) && n >= sizeof(r.value) - 4);
    /* Cut between characters, never inside one. */
    assert_int_equal(n % 2, 0);
    assert_int_equal((unsigned char)r.value[n - 1], 0xa9);
    nameko_reply_clear(&r);
}

struct bad_body {
    const char *body;
    size_t len; /* 0: strlen */
};

static size_t body_len(const struct bad_body *b)
{
    return b->len != 0 ? b->len : strlen(b->body);
}

static int printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static void test_reply_decode_malformed(void **state)
{
    static const struct bad_body bad[] = {
        {"", 0},
        {"   ", 0},
        {"SECRETxyz", 0},
        {"[]", 0},
        {"null", 0},
        {"\"result\"", 0},
        {"{}", 0},
        {"{\"result\": {}}", 0},
        {"{\"error\": null}", 0},
        {"{\"result\": null, \"error\": null}", 0},
        {"{\"result\": [], \"error\": null}", 0},
        {"{\"result\": \"SECRETxyz\", \"error\": null}", 0},
        {"{\"result\": 1, \"error\": null}", 0},
        {"{\"result\": null, \"error\": \"boom\"}", 0},
        {"{\"result\": null, \"error\": []}", 0},
        {"{\"result\": null, \"error\": true}", 0},
        {"{\"result\": null, \"error\": {}}", 0},
        {"{\"result\": null, \"error\": {\"exc_type\": 5}}", 0},
        {"{\"result\": null, \"error\": {\"exc_type\": null}}", 0},
        {"{\"result\": null, \"error\": {\"exc_type\": \"\"}}", 0},
        {"{\"result\": {}, \"result\": {}, \"error\": null}", 0},
        {"{\"result\": {}, \"error\": null} trailing", 0},
        {"{\"result\": {}, \"error\": null", 0},
        {"{\"result\": {\"a\": \"\xc0\xaf\"}, \"error\": null}", 0},
        {"{\"result\": {\"a\": \"x\\u0000y\"}, \"error\": null}", 0},
        {"{\"result\": {\"a\": NaN}, \"error\": null}", 0},
        {"{\"result\": {\"a\": 1e999}, \"error\": null}", 0},
        {"{\"result\": {}\0, \"error\": null}", 16},
    };
    struct nameko_reply r;
    char err[256];
    char *deep, *huge;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0, sizeof(r));
        r.result = (json_t *)&r; /* sentinel: must stay untouched */
        err[0] = '\0';
        if (nameko_reply_decode(bad[i].body, body_len(&bad[i]), &r, err,
                                sizeof(err)) != TEMPO_EINTERNAL)
            fail_msg("accepted bad reply #%zu", i);
        assert_true(r.result == (json_t *)&r);
        assert_true(err[0] != '\0' && printable(err));
        assert_null(strstr(err, "SECRETxyz"));
    }
    assert_int_equal(nameko_reply_decode(NULL, 0, &r, err, sizeof(err)),
                     TEMPO_EINTERNAL);

    /* 100k nested arrays: jansson's depth limit, not a stack overflow. */
    deep = malloc(100001);
    assert_non_null(deep);
    memset(deep, '[', 100000);
    deep[100000] = '\0';
    assert_int_equal(nameko_reply_decode(deep, 100000, &r, err, sizeof(err)),
                     TEMPO_EINTERNAL);
    assert_non_null(strstr(err, "nested too deeply"));
    free(deep);

    /* Over NAMEKO_MAX_BODY: refused before parsing. */
    huge = malloc(NAMEKO_MAX_BODY + 1);
    assert_non_null(huge);
    memset(huge, ' ', NAMEKO_MAX_BODY + 1);
    memcpy(huge, CAPTURED_REPLY, strlen(CAPTURED_REPLY));
    assert_int_equal(
        nameko_reply_decode(huge, NAMEKO_MAX_BODY + 1, &r, err, sizeof(err)),
        TEMPO_EINTERNAL);
    assert_non_null(strstr(err, "larger than"));
    /* ... while the same reply padded to exactly the limit is fine. */
    assert_int_equal(
        nameko_reply_decode(huge, NAMEKO_MAX_BODY, &r, err, sizeof(err)), 0);
    nameko_reply_clear(&r);
    free(huge);
}

static void test_call_decode(void **state)
{
    struct nameko_call c = {NULL, NULL};
    char err[256];
    static const char extra[] = "{\"kwargs\": {\"lat\": 51.5, \"lon\": -0.12}, "
                                "\"args\": [1], \"context\": {}}";

    (void)state;
    assert_int_equal(nameko_call_decode(CAPTURED_CALL, strlen(CAPTURED_CALL),
                                        &c, err, sizeof(err)),
                     0);
    assert_true(json_is_array(c.args) && json_array_size(c.args) == 0);
    assert_string_equal(json_string_value(json_object_get(c.kwargs, "city")),
                        "London");
    json_decref(c.args);
    json_decref(c.kwargs);

    /* Extra keys are ignored; numbers keep their JSON type. */
    assert_int_equal(
        nameko_call_decode(extra, strlen(extra), &c, err, sizeof(err)), 0);
    assert_int_equal(json_integer_value(json_array_get(c.args, 0)), 1);
    assert_true(json_real_value(json_object_get(c.kwargs, "lon")) == -0.12);
    json_decref(c.args);
    json_decref(c.kwargs);
}

static void test_call_decode_malformed(void **state)
{
    static const struct bad_body bad[] = {
        {"", 0},
        {"SECRETxyz", 0},
        {"[]", 0},
        {"[{\"args\": [], \"kwargs\": {}}]", 0},
        {"\"str\"", 0},
        {"{}", 0},
        {"{\"args\": []}", 0},
        {"{\"kwargs\": {}}", 0},
        {"{\"args\": {}, \"kwargs\": {}}", 0},
        {"{\"args\": null, \"kwargs\": {}}", 0},
        {"{\"args\": \"SECRETxyz\", \"kwargs\": {}}", 0},
        {"{\"args\": [], \"kwargs\": []}", 0},
        {"{\"args\": [], \"kwargs\": null}", 0},
        {"{\"args\": [], \"kwargs\": \"city=London\"}", 0},
        {"{\"args\": [], \"kwargs\": {}, \"kwargs\": {\"city\": \"x\"}}", 0},
        {"{\"args\": [], \"kwargs\": {\"city\": \"a\", \"city\": \"b\"}}", 0},
        {"{\"args\": [], \"kwargs\": {}} {}", 0},
        {"{\"args\": [], \"kwargs\": {\"city\": \"Lon", 0},
        {"{\"args\": [], \"kwargs\": {\"city\": \"\xed\xa0\x80\"}}", 0},
        {"{\"args\": [], \"kwargs\": {\"city\": \"a\\u0000b\"}}", 0},
        {"{\"args\": [], \"kwargs\": {\"lat\": NaN, \"lon\": 0}}", 0},
        {"{\"args\": [], \"kwargs\": {\"lat\": Infinity}}", 0},
        {"{\"args\": [], \"kwargs\": {\"n\": 99999999999999999999}}", 0},
        {"{'args': [], 'kwargs': {}}", 0},
    };
    struct nameko_call c;
    char err[256];
    char *deep;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c.args = c.kwargs = (json_t *)&c; /* sentinel */
        err[0] = '\0';
        if (nameko_call_decode(bad[i].body, body_len(&bad[i]), &c, err,
                               sizeof(err)) != TEMPO_EINVAL)
            fail_msg("accepted bad call #%zu", i);
        assert_true(c.args == (json_t *)&c && c.kwargs == (json_t *)&c);
        assert_true(err[0] != '\0' && printable(err));
        assert_null(strstr(err, "SECRETxyz"));
    }
    assert_int_equal(nameko_call_decode(NULL, 0, &c, err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_string_equal(err, "call body is empty");
    assert_int_equal(nameko_call_decode("{\"args\": []}", 12, &c, NULL, 0),
                     TEMPO_EINVAL);

    deep = malloc(NAMEKO_MAX_BODY + 1);
    assert_non_null(deep);
    memset(deep, '{', NAMEKO_MAX_BODY + 1);
    assert_int_equal(nameko_call_decode(deep, 50000, &c, err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_int_equal(
        nameko_call_decode(deep, NAMEKO_MAX_BODY + 1, &c, err, sizeof(err)),
        TEMPO_EINVAL);
    assert_non_null(strstr(err, "larger than"));
    free(deep);
}

/* A worker's reply, through the gateway's decoder, to the HTTP status. */
static void test_round_trips(void **state)
{
    static const struct {
        int err;
        int status;
    } rows[] = {{TEMPO_EINVAL, 400},
                {TEMPO_ENOCITY, 404},
                {TEMPO_EUPSTREAM, 502},
                {TEMPO_ETIMEOUT, 504},
                {TEMPO_EINTERNAL, 500}};
    struct nameko_reply r;
    json_t *result, *args;
    char *s, err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        args = json_pack("[s]", "x");
        s = nameko_reply_encode_error(tempo_err_exc_type(rows[i].err),
                                      tempo_err_exc_path(rows[i].err), args,
                                      "S\xc3\xa3o Paulo: nope");
        json_decref(args);
        assert_int_equal(
            nameko_reply_decode(s, strlen(s), &r, err, sizeof(err)), 0);
        free(s);
        assert_null(r.result);
        assert_string_equal(r.value, "S\xc3\xa3o Paulo: nope");
        assert_int_equal(
            tempo_err_http_status(tempo_err_from_exc_type(r.exc_type)),
            rows[i].status);
        nameko_reply_clear(&r);
    }

    result = json_pack("{s:{s:s,s:f},s:[{s:s}],s:b,s:s}", "location", "name",
                       "K\xc3\xb8"
                       "benhavn",
                       "lat", 55.6761, "tracks", "name", "\xf0\x9f\x8e\xb5",
                       "cached", 1, "worker", "3f2a9c1d7e4b:17");
    s = nameko_reply_encode_result(result);
    assert_int_equal(nameko_reply_decode(s, strlen(s), &r, err, sizeof(err)),
                     0);
    assert_true(json_equal(r.result, result));
    free(s);
    nameko_reply_clear(&r);
    json_decref(result);

    /* A call the gateway encodes is a call the worker decodes. */
    {
        struct nameko_call c;
        json_t *kw = json_pack("{s:f,s:f}", "lat", -33.8688, "lon", 151.2093);
        s = nameko_call_encode(kw);
        assert_int_equal(nameko_call_decode(s, strlen(s), &c, err, sizeof(err)),
                         0);
        assert_true(json_equal(c.kwargs, kw));
        free(s);
        json_decref(c.args);
        json_decref(c.kwargs);
        json_decref(kw);
    }
}

/* The gateway's fast path: the span is exactly the result object, any
 * valid success reply is found, and anything the full decoder would not
 * accept as a success is left to it (-1). */
static void test_reply_result_span(void **state)
{
    static const char py[] =
        "{\"result\": {\"genre\": \"rock\", \"t\": [1, {}]}, "
        "\"error\": null}";
    static const char compact[] = "{\"result\":{\"a\":1},\"error\":null}";
    static const struct {
        const char *body, *result;
    } ok[] = {
        {"{\"error\": null, \"result\": {\"a\": 1}}", "{\"a\": 1}"},
        {" {\"result\": {\"a\": 1}, \"error\": null} \n", "{\"a\": 1}"},
        {"{\"result\": {\"n\": \"\\u00e9\\ud83c\\udfb5\"}, \"x\": [], "
         "\"error\": null}",
         "{\"n\": \"\\u00e9\\ud83c\\udfb5\"}"},
        {"{\"result\": {\"v\": -0.5e-3, \"i\": -9223372036854775808}, "
         "\"error\": null}",
         "{\"v\": -0.5e-3, \"i\": -9223372036854775808}"},
    };
    static const char *const fallback[] = {
        "{\"result\": null, \"error\": {\"exc_type\": \"X\"}}",
        "{\"result\": 5, \"error\": null}",
        "{\"result\": {}",
        "",
        "{\"result\": {}, \"error\": nul}",
        /* issue 12: first and last bytes look right, the middle does not */
        "{\"result\": {\"a\": 1}}, \"error\": null}",
        "{\"result\": {\"a\": 1}, \"error\": null}}",
        "{\"result\": {\"a\": 1,}, \"error\": null}",
        "{\"result\": {\"a\": 01}, \"error\": null}",
        "{\"result\": {\"a\": 1.}, \"error\": null}",
        "{\"result\": {\"a\": 1e999}, \"error\": null}",
        "{\"result\": {\"a\": 9223372036854775808}, \"error\": null}",
        "{\"result\": {\"a\": \"\\u0000\"}, \"error\": null}",
        "{\"result\": {\"a\": \"\\ud800\"}, \"error\": null}",
        "{\"result\": {\"a\": \"\\udc00\"}, \"error\": null}",
        "{\"result\": {\"a\": \"\\x\"}, \"error\": null}",
        "{\"result\": {\"a\": \"\xc3\x28\"}, \"error\": null}",
        "{\"result\": {\"a\": \"\xed\xa0\x80\"}, \"error\": null}",
        "{\"result\": {\"a\": \"\xc0\xaf\"}, \"error\": null}",
        "{\"result\": {\"a\": \"tab\tinside\"}, \"error\": null}",
        "{\"result\": {\"a\": 1, \"a\": 2}, \"error\": null}",
        "{\"result\": {}, \"result\": {}, \"error\": null}",
        "{\"result\": {}, \"error\": null, \"error\": null}",
        "{\"result\": {}}",
        "{\"error\": null}",
        "{\"result\": {}, \"error\": false}",
        "[{\"result\": {}, \"error\": null}]",
        "{\"result\": {}, \"error\": null} x",
        "\xef\xbb\xbf{\"result\": {}, \"error\": null}",
        "{\"result\": {\"a\": tru}, \"error\": null}",
        "{\"result\": {\"a\" 1}, \"error\": null}",
        "{'result': {}, 'error': null}",
    };
    size_t off = 0, span = 0, i;
    char deep[400];

    (void)state;
    assert_int_equal(nameko_reply_result_span(py, strlen(py), &off, &span), 0);
    assert_int_equal(span, strlen("{\"genre\": \"rock\", \"t\": [1, {}]}"));
    assert_memory_equal(py + off, "{\"genre\": \"rock\", \"t\": [1, {}]}",
                        span);
    assert_int_equal(
        nameko_reply_result_span(compact, strlen(compact), &off, &span), 0);
    assert_memory_equal(compact + off, "{\"a\":1}", span);
    assert_int_equal(span, 7);
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (nameko_reply_result_span(ok[i].body, strlen(ok[i].body), &off,
                                     &span) != 0)
            fail_msg("declined: %s", ok[i].body);
        assert_int_equal(span, strlen(ok[i].result));
        assert_memory_equal(ok[i].body + off, ok[i].result, span);
    }
    for (i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++)
        if (nameko_reply_result_span(fallback[i], strlen(fallback[i]), &off,
                                     &span) != -1)
            fail_msg("accepted: %s", fallback[i]);
    /* The smallest success reply has an empty object. */
    assert_int_equal(nameko_reply_result_span(
                         "{\"result\": {}, \"error\": null}", 29, &off, &span),
                     0);
    assert_int_equal(span, 2);
    /* Nesting beyond the scanner's limit is left to the decoder. */
    {
        size_t n =
            (size_t)snprintf(deep, sizeof(deep), "{\"result\": {\"a\": ");
        memset(deep + n, '[', 100);
        memset(deep + n + 100, ']', 100);
        snprintf(deep + n + 200, sizeof(deep) - n - 200, "}, \"error\": null}");
    }
    assert_int_equal(nameko_reply_result_span(deep, strlen(deep), &off, &span),
                     -1);
}

/* A reply with pre-serialised tracks is byte for byte the reply of the
 * whole tree, wherever the spliced key sits. */
static void test_reply_encode_spliced(void **state)
{
    static const char *const tracks[] = {
        "{\"name\": \"Caf\\u00e9\", \"artists\": [\"A\", \"B\"]}",
        "{\"name\": \"Two\", \"artists\": [\"C\"], \"uri\": \"u\"}",
        "{\"name\": \"Three\", \"artists\": []}",
    };
    struct nameko_raw items[3];
    json_t *tree = json_pack("{s:s, s:f, s:[], s:b}", "genre", "rock",
                             "temperature_c", 12.4, "tracks", "cached", 1);
    json_t *arr = json_object_get(tree, "tracks"), *ph;
    char *want, *got;
    size_t i, kept = 0;

    (void)state;
    for (i = 0; i < 3; i++) {
        items[i].json = tracks[i];
        items[i].len = strlen(tracks[i]);
        json_array_append_new(arr, json_loads(tracks[i], 0, NULL));
    }
    want = nameko_reply_encode_result(tree);
    assert_non_null(want);
    ph = json_pack("{s:s, s:f, s:n, s:b}", "genre", "rock", "temperature_c",
                   12.4, "tracks", "cached", 1);
    got = nameko_reply_encode_result_spliced(ph, "tracks", items, 3, &kept);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(kept, 3);
    free(got);
    free(want);
    /* No items: an empty array. */
    got = nameko_reply_encode_result_spliced(ph, "tracks", items, 0, &kept);
    assert_string_equal(got, "{\"result\": {\"genre\": \"rock\", "
                             "\"temperature_c\": 12.4, \"tracks\": [], "
                             "\"cached\": true}, \"error\": null}");
    assert_int_equal(kept, 0);
    free(got);
    /* Only a top-level key is spliced; a result that is not an object is
     * refused. */
    json_decref(ph);
    ph = json_pack("{s:{s:n}}", "inner", "tracks");
    got = nameko_reply_encode_result_spliced(ph, "tracks", items, 1, NULL);
    assert_string_equal(got, "{\"result\": {\"inner\": {\"tracks\": "
                             "null}}, \"error\": null}");
    free(got);
    json_decref(ph);
    ph = json_array();
    assert_null(
        nameko_reply_encode_result_spliced(ph, "tracks", items, 1, NULL));
    json_decref(ph);
    json_decref(tree);
}

/* A reply over the cap loses tracks until it fits; one that cannot fit
 * at all gives NULL (the worker then sends an error reply). */
static void test_reply_encode_fit(void **state)
{
    struct nameko_raw items[10];
    json_t *res = json_pack("{s:s, s:n}", "genre", "rock", "tracks"), *t;
    char *big = malloc(200003), *s;
    size_t i, kept = 0;

    (void)state;
    assert_non_null(big);
    memset(big, 'x', 200002);
    big[0] = big[200001] = '"';
    big[200002] = '\0';
    for (i = 0; i < 10; i++) { /* ~2 MB: twice the cap */
        items[i].json = big;
        items[i].len = 200002;
    }
    s = nameko_reply_encode_result_spliced(res, "tracks", items, 10, &kept);
    assert_non_null(s);
    assert_int_equal(kept, 5); /* 10 x 200 kB -> 5: just under 1 MiB */
    assert_true(strlen(s) <= NAMEKO_MAX_BODY);
    free(s);
    /* Small enough already: untouched. */
    s = nameko_reply_encode_result_spliced(res, "tracks", items, 1, &kept);
    assert_non_null(s);
    assert_int_equal(kept, 1);
    free(s);
    /* One element that alone is too big: NULL. */
    t = json_pack("{s:n}", "tracks");
    for (i = 0; i < 5; i++) {
        char key[8];
        snprintf(key, sizeof(key), "p%zu", i);
        json_object_set_new(t, key, json_string(big));
    }
    assert_null(
        nameko_reply_encode_result_spliced(t, "tracks", items, 10, &kept));
    assert_int_equal(kept, 1);
    json_decref(t);
    json_decref(res);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_result_span),
        cmocka_unit_test(test_reply_encode_spliced),
        cmocka_unit_test(test_reply_encode_fit),
        cmocka_unit_test(test_call_encode_captured),
        cmocka_unit_test(test_dumps_floats_like_python_repr),
        cmocka_unit_test(test_dumps_floats_match_reference),
        cmocka_unit_test(test_dumps_scalars),
        cmocka_unit_test(test_dumps_strings_ensure_ascii),
        cmocka_unit_test(test_dumps_containers),
        cmocka_unit_test(test_dumps_limits),
        cmocka_unit_test(test_reply_encode_result),
        cmocka_unit_test(test_reply_encode_error_captured),
        cmocka_unit_test(test_reply_decode_captured),
        cmocka_unit_test(test_reply_decode_errors),
        cmocka_unit_test(test_reply_decode_truncates),
        cmocka_unit_test(test_reply_decode_malformed),
        cmocka_unit_test(test_call_decode),
        cmocka_unit_test(test_call_decode_malformed),
        cmocka_unit_test(test_round_trips),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
