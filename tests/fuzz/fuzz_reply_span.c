/*
 * fuzz_reply_span.c - libFuzzer differential target: the gateway's fast
 * path (nameko_reply_result_span, a validating scan that builds no tree)
 * against the full decoder (nameko_reply_decode, jansson).
 *
 * Whenever the scan accepts a body, the decoder must accept it too as a
 * success, and the span must parse (with the decoder's own rules) to a
 * value equal to the decoded result.  The scan may decline what the
 * decoder accepts (escaped keys, deep nesting): the gateway then decodes.
 * Also checked: json_scan_value agrees with jansson on whether any input
 * is one valid JSON value (again only in the direction scan -> jansson).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "json_scan.h"
#include "nameko.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = fuzz_dup_exact(data, size);
    struct nameko_reply r;
    size_t off = 0, span = 0, pos = 0;
    char err[128];

    if (nameko_reply_result_span(body, size, &off, &span) == 0) {
        json_t *direct;
        FUZZ_CHECK(off < size && span <= size - off && span >= 2);
        FUZZ_CHECK(body[off] == '{' && body[off + span - 1] == '}');
        FUZZ_CHECK(nameko_reply_decode(body, size, &r, err, sizeof(err)) == 0);
        FUZZ_CHECK(r.result != NULL && json_is_object(r.result));
        direct = json_loadb(body + off, span, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(direct != NULL);
        FUZZ_CHECK(json_equal(direct, r.result));
        json_decref(direct);
        nameko_reply_clear(&r);
    }
    if (json_scan_value(body, size, &pos) == 0) {
        json_t *v;
        FUZZ_CHECK(pos <= size);
        v = json_loadb(body, pos, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                       NULL);
        FUZZ_CHECK(v != NULL);
        json_decref(v);
    }
    free(body);
    return 0;
}
