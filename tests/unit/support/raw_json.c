/* raw_json.c - see raw_json.h. */
#include "raw_json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

json_t *raw_json_array(const struct nameko_raw *items, size_t n)
{
    json_t *out = json_array();
    size_t i;

    assert_non_null(out);
    for (i = 0; i < n; i++) {
        json_error_t je;
        json_t *v = json_loadb(items[i].json, items[i].len,
                               JSON_REJECT_DUPLICATES, &je);
        char *again;

        if (v == NULL)
            fail_msg("item %zu is not JSON: %s", i, je.text);
        again = nameko_dumps(v);
        assert_non_null(again);
        assert_int_equal(strlen(again), items[i].len);
        assert_memory_equal(again, items[i].json, items[i].len);
        free(again);
        assert_int_equal(json_array_append_new(out, v), 0);
    }
    return out;
}
