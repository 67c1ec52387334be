/*
 * test_errors.c - the one error table (errors.h) against SPEC sections 2
 * and 3: HTTP status and code word per row, and how a reply's exc_type
 * maps back to HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "errors.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    int err;
    int status;
    const char *code;
    const char *exc_type;
    const char *exc_path;
} rows[] = {
    {TEMPO_EINVAL, 400, "invalid_argument", "InvalidArgument",
     "tempo.InvalidArgument"},
    {TEMPO_ENOCITY, 404, "city_not_found", "CityNotFound",
     "tempo.CityNotFound"},
    {TEMPO_ENOTFOUND, 404, "not_found", "NotFound", "tempo.NotFound"},
    {TEMPO_EMETHOD, 405, "method_not_allowed", "MethodNotAllowed",
     "tempo.MethodNotAllowed"},
    {TEMPO_EUPSTREAM, 502, "upstream_error", "UpstreamError",
     "tempo.UpstreamError"},
    {TEMPO_EUNAVAIL, 503, "service_unavailable", "ServiceUnavailable",
     "tempo.ServiceUnavailable"},
    {TEMPO_ETIMEOUT, 504, "timeout", "UpstreamTimeout",
     "tempo.UpstreamTimeout"},
    {TEMPO_EINTERNAL, 500, "internal", "InternalError", "tempo.InternalError"},
    /* The gateway's own HTTP-level answers (README "Errors"). */
    {TEMPO_EBADREQ, 400, "bad_request", "BadRequest", "tempo.BadRequest"},
    {TEMPO_EURILONG, 414, "uri_too_long", "UriTooLong", "tempo.UriTooLong"},
    {TEMPO_EHDRLARGE, 431, "header_too_large", "HeaderTooLarge",
     "tempo.HeaderTooLarge"},
    {TEMPO_ERATELIMIT, 429, "rate_limited", "RateLimited", "tempo.RateLimited"},
    /* Nameko's own protocol errors: 500 at the gateway (SPEC section 3). */
    {TEMPO_EMETHODNF, 500, "internal", "MethodNotFound",
     "nameko.exceptions.MethodNotFound"},
    {TEMPO_EMALFORMED, 500, "internal", "MalformedRequest",
     "nameko.exceptions.MalformedRequest"},
    {TEMPO_ESIGNATURE, 500, "internal", "IncorrectSignature",
     "nameko.exceptions.IncorrectSignature"},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void test_every_row(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < NROWS; i++) {
        assert_true(rows[i].err < 0);
        assert_int_equal(tempo_err_http_status(rows[i].err), rows[i].status);
        assert_string_equal(tempo_err_code(rows[i].err), rows[i].code);
        assert_string_equal(tempo_err_exc_type(rows[i].err), rows[i].exc_type);
        assert_string_equal(tempo_err_exc_path(rows[i].err), rows[i].exc_path);
    }
}

static void test_codes_are_distinct(void **state)
{
    const char *const *codes;
    size_t i, j;
    int n;

    (void)state;
    /* Every row is listed above, each error and exc_type once; code words
     * repeat only for 500 "internal". */
    assert_int_equal(TEMPO_ERR_COUNT, NROWS);
    for (i = 0; i < NROWS; i++)
        for (j = i + 1; j < NROWS; j++) {
            assert_int_not_equal(rows[i].err, rows[j].err);
            assert_string_not_equal(rows[i].exc_type, rows[j].exc_type);
            if (strcmp(rows[i].code, rows[j].code) == 0)
                assert_string_equal(rows[i].code, "internal");
        }
    /* The distinct code words: the SPEC's eight and the gateway's four. */
    n = tempo_err_codes(&codes);
    assert_int_equal(n, 12);
    for (i = 0; i < (size_t)n; i++)
        for (j = i + 1; j < (size_t)n; j++)
            assert_string_not_equal(codes[i], codes[j]);
    for (i = 0; i < NROWS; i++) {
        int k = tempo_err_code_index(rows[i].err);
        assert_true(k >= 0 && k < n);
        assert_string_equal(codes[k], rows[i].code);
        assert_int_equal(tempo_err_at(tempo_err_index(rows[i].err)),
                         rows[i].err);
    }
}

static void test_body(void **state)
{
    char *s;

    (void)state;
    s = tempo_err_body(TEMPO_ENOCITY, "city not found: \"Atlantis\"");
    assert_string_equal(s, "{\"error\":{\"status\":404,\"code\":"
                           "\"city_not_found\",\"message\":\"city not found: "
                           "\\\"Atlantis\\\"\"}}");
    free(s);
    /* Not UTF-8, or none: the code word, never garbage. */
    s = tempo_err_body(TEMPO_EINVAL, "bad \xff byte");
    assert_string_equal(s, "{\"error\":{\"status\":400,\"code\":"
                           "\"invalid_argument\",\"message\":"
                           "\"invalid_argument\"}}");
    free(s);
    s = tempo_err_body(12345, NULL);
    assert_non_null(strstr(s, "\"status\":500"));
    free(s);
}

static void test_unknown_values_are_internal(void **state)
{
    static const int odd[] = {
        0, 1, -1, 12345, -12345, TEMPO__FIRST, TEMPO__END, -2147483647};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        assert_int_equal(tempo_err_http_status(odd[i]), 500);
        assert_string_equal(tempo_err_code(odd[i]), "internal");
        assert_string_equal(tempo_err_exc_type(odd[i]), "InternalError");
        assert_string_equal(tempo_err_exc_path(odd[i]), "tempo.InternalError");
    }
}

/* SPEC section 3: the exc_type values the gateway maps to HTTP. */
static void test_from_exc_type(void **state)
{
    static const struct {
        const char *exc_type;
        int err;
        int status;
    } map[] = {
        {"InvalidArgument", TEMPO_EINVAL, 400},
        {"CityNotFound", TEMPO_ENOCITY, 404},
        {"UpstreamError", TEMPO_EUPSTREAM, 502},
        {"UpstreamTimeout", TEMPO_ETIMEOUT, 504},
        {"MethodNotFound", TEMPO_EINTERNAL, 500},
        {"MalformedRequest", TEMPO_EINTERNAL, 500},
        {"IncorrectSignature", TEMPO_EINTERNAL, 500},
        /* "anything else 500" */
        {"ValueError", TEMPO_EINTERNAL, 500},
        {"RemoteError", TEMPO_EINTERNAL, 500},
        {"InternalError", TEMPO_EINTERNAL, 500},
        {"ServiceUnavailable", TEMPO_EINTERNAL, 500},
        {"NotFound", TEMPO_EINTERNAL, 500},
        {"MethodNotAllowed", TEMPO_EINTERNAL, 500},
        /* The gateway's own verdicts are not a worker's to give. */
        {"RateLimited", TEMPO_EINTERNAL, 500},
        {"BadRequest", TEMPO_EINTERNAL, 500},
        {"invalidargument", TEMPO_EINTERNAL, 500},
        {"InvalidArgument ", TEMPO_EINTERNAL, 500},
        {"tempo.InvalidArgument", TEMPO_EINTERNAL, 500},
        {"", TEMPO_EINTERNAL, 500},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        int err = tempo_err_from_exc_type(map[i].exc_type);
        if (err != map[i].err)
            fail_msg("%s mapped to %d", map[i].exc_type, err);
        assert_int_equal(tempo_err_http_status(err), map[i].status);
    }
    assert_int_equal(tempo_err_from_exc_type(NULL), TEMPO_EINTERNAL);
}

/* What a worker sends for each of its errors comes back as the same one. */
static void test_worker_errors_round_trip(void **state)
{
    static const int worker_errs[] = {TEMPO_EINVAL, TEMPO_ENOCITY,
                                      TEMPO_EUPSTREAM, TEMPO_ETIMEOUT,
                                      TEMPO_EINTERNAL};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(worker_errs) / sizeof(worker_errs[0]); i++)
        assert_int_equal(
            tempo_err_from_exc_type(tempo_err_exc_type(worker_errs[i])),
            worker_errs[i]);
    /* exc_paths are "tempo.<type>", or "nameko.exceptions.<type>" for
     * Nameko's own (SPEC section 3). */
    for (i = 0; i < NROWS; i++) {
        const char *path = tempo_err_exc_path(rows[i].err);
        const char *type = tempo_err_exc_type(rows[i].err);
        if (strncmp(path, "tempo.", 6) == 0)
            assert_string_equal(path + 6, type);
        else if (strncmp(path, "nameko.exceptions.", 18) == 0)
            assert_string_equal(path + 18, type);
        else
            fail_msg("exc_path %s", path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row),
        cmocka_unit_test(test_codes_are_distinct),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_unknown_values_are_internal),
        cmocka_unit_test(test_from_exc_type),
        cmocka_unit_test(test_worker_errors_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
