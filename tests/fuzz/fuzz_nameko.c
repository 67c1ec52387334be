/*
 * fuzz_nameko.c - libFuzzer target for the Nameko envelope code
 * (common/nameko.h): nameko_call_decode, nameko_reply_decode, and the
 * encoders and Python-compatible serialiser through round trips.
 *
 * Every input is used four ways:
 *  1. as a call body: on success args is an array and kwargs an object,
 *     and kwargs survives nameko_call_encode -> nameko_call_decode;
 *  2. as a reply body: on success exactly one of result / exc_type is set
 *     (both NUL-terminated, valid UTF-8, exc_type non-empty), *reply is
 *     untouched on failure, and the reply survives re-encoding with
 *     nameko_reply_encode_result / nameko_reply_encode_error;
 *  3. as any JSON value: nameko_dumps of it, when not NULL (too deep or
 *     too big), is ASCII only, parses back to an equal value, and is a
 *     fixed point (dumps(load(dumps(v))) == dumps(v)), which pins the
 *     shortest-repr float formatting;
 *  4. as raw C strings "exc_type\0value": nameko_reply_encode_error must
 *     turn any bytes (invalid UTF-8 included) into a body that
 *     nameko_reply_decode accepts.
 * Decoder error messages must be printable ASCII (they never quote the
 * body) and NUL-terminated within the buffer.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fuzz_util.h"
#include "nameko.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(const char *err, size_t cap)
{
    FUZZ_CHECK(fuzz_terminated(err, cap));
    FUZZ_CHECK(err[0] != '\0');
    FUZZ_CHECK(fuzz_printable(err));
}

static void fuzz_call(const uint8_t *data, size_t size)
{
    struct nameko_call call = {NULL, NULL}, again = {NULL, NULL};
    char err[96];
    char *body, *body2;
    int rc;

    memset(err, 'X', sizeof(err));
    rc = nameko_call_decode(data, size, &call, err, sizeof(err));
    if (rc != 0) {
        FUZZ_CHECK(rc == TEMPO_EINVAL);
        FUZZ_CHECK(call.args == NULL && call.kwargs == NULL);
        check_err(err, sizeof(err));
        return;
    }
    FUZZ_CHECK(json_is_array(call.args));
    FUZZ_CHECK(json_is_object(call.kwargs));

    body = nameko_call_encode(call.kwargs);
    if (body != NULL) { /* NULL: deeper than the encoder goes, or too big */
        FUZZ_CHECK(strlen(body) <= NAMEKO_MAX_BODY);
        FUZZ_CHECK(fuzz_ascii(body, strlen(body)));
        FUZZ_CHECK(nameko_call_decode(body, strlen(body), &again, err,
                                      sizeof(err)) == 0);
        FUZZ_CHECK(json_array_size(again.args) == 0);
        FUZZ_CHECK(json_equal(again.kwargs, call.kwargs));
        body2 = nameko_call_encode(again.kwargs);
        FUZZ_CHECK(body2 != NULL && strcmp(body, body2) == 0);
        free(body2);
        json_decref(again.args);
        json_decref(again.kwargs);
        free(body);
    }
    json_decref(call.args);
    json_decref(call.kwargs);
}

static void check_reply_strings(const struct nameko_reply *r)
{
    FUZZ_CHECK(fuzz_terminated(r->exc_type, sizeof(r->exc_type)));
    FUZZ_CHECK(fuzz_terminated(r->value, sizeof(r->value)));
    FUZZ_CHECK(fuzz_utf8_valid(r->exc_type, strlen(r->exc_type)));
    FUZZ_CHECK(fuzz_utf8_valid(r->value, strlen(r->value)));
}

static void fuzz_reply(const uint8_t *data, size_t size)
{
    struct nameko_reply reply, pristine, again;
    char err[96];
    char *body;
    int rc;

    memset(&reply, 0xa5, sizeof(reply));
    memcpy(&pristine, &reply, sizeof(reply));
    memset(err, 'X', sizeof(err));
    rc = nameko_reply_decode(data, size, &reply, err, sizeof(err));
    if (rc != 0) {
        FUZZ_CHECK(rc == TEMPO_EINTERNAL);
        FUZZ_CHECK(memcmp(&reply, &pristine, sizeof(reply)) == 0);
        check_err(err, sizeof(err));
        return;
    }
    check_reply_strings(&reply);
    if (reply.result != NULL) {
        FUZZ_CHECK(json_is_object(reply.result));
        FUZZ_CHECK(reply.exc_type[0] == '\0' && reply.value[0] == '\0');
        body = nameko_reply_encode_result(reply.result);
        if (body != NULL) {
            FUZZ_CHECK(fuzz_ascii(body, strlen(body)));
            FUZZ_CHECK(nameko_reply_decode(body, strlen(body), &again, err,
                                           sizeof(err)) == 0);
            FUZZ_CHECK(json_equal(again.result, reply.result));
            nameko_reply_clear(&again);
            free(body);
        }
    } else {
        FUZZ_CHECK(reply.exc_type[0] != '\0');
        body = nameko_reply_encode_error(reply.exc_type, "tempo.Fuzz", NULL,
                                         reply.value);
        FUZZ_CHECK(body != NULL);
        FUZZ_CHECK(fuzz_ascii(body, strlen(body)));
        FUZZ_CHECK(nameko_reply_decode(body, strlen(body), &again, err,
                                       sizeof(err)) == 0);
        FUZZ_CHECK(again.result == NULL);
        FUZZ_CHECK(strcmp(again.exc_type, reply.exc_type) == 0);
        FUZZ_CHECK(strcmp(again.value, reply.value) == 0);
        nameko_reply_clear(&again);
        free(body);
    }
    nameko_reply_clear(&reply);
    FUZZ_CHECK(reply.result == NULL);
}

static void fuzz_dumps(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *v, *back;
    char *s, *s2;

    v = json_loadb((const char *)data, size,
                   JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (v == NULL)
        return;
    s = nameko_dumps(v);
    if (s != NULL) {
        FUZZ_CHECK(fuzz_ascii(s, strlen(s)));
        back = json_loads(s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        FUZZ_CHECK(back != NULL);
        FUZZ_CHECK(json_equal(back, v));
        s2 = nameko_dumps(back);
        FUZZ_CHECK(s2 != NULL && strcmp(s, s2) == 0);
        free(s2);
        json_decref(back);
        free(s);
    }
    json_decref(v);
}

static void fuzz_encode_error(const uint8_t *data, size_t size)
{
    struct nameko_reply r;
    char err[96];
    char *type, *value, *body;
    size_t tlen;

    type = fuzz_dup_cstr(data, size); /* ends at the first NUL */
    tlen = strlen(type);
    value = tlen < size ? type + tlen + 1 : type + tlen;
    body = nameko_reply_encode_error(type, type, NULL, value);
    FUZZ_CHECK(body != NULL); /* inputs are far below NAMEKO_MAX_BODY / 6 */
    FUZZ_CHECK(fuzz_ascii(body, strlen(body)));
    if (tlen == 0) {
        FUZZ_CHECK(nameko_reply_decode(body, strlen(body), &r, err,
                                       sizeof(err)) == TEMPO_EINTERNAL);
    } else {
        FUZZ_CHECK(
            nameko_reply_decode(body, strlen(body), &r, err, sizeof(err)) == 0);
        FUZZ_CHECK(r.result == NULL && r.exc_type[0] != '\0');
        check_reply_strings(&r);
        nameko_reply_clear(&r);
    }
    free(body);
    free(type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_call(data, size);
    fuzz_reply(data, size);
    fuzz_dumps(data, size);
    if (size <= NAMEKO_MAX_BODY / 8)
        fuzz_encode_error(data, size);
    return 0;
}
