/*
 * fuzz_etag.c - libFuzzer target for static_etag_match (gateway/static.h),
 * the If-None-Match parser of the gateway's static files.
 *
 * Input: the raw header value (any bytes; libmicrohttpd hands the parser a
 * NUL-terminated string, so the input is cut at its first NUL and copied
 * into a buffer of exactly that length plus the terminator, for ASan to
 * see any read past it).  Matched against the real ETag of each served
 * file.
 *
 * Checked beyond memory safety:
 *  - a match needs a reason: the header holds '*' or the tag's 32 hex
 *    digits;
 *  - the parser stops at the first match, so bytes after a matching header
 *    never undo it: H matches => H + any suffix matches;
 *  - every well-formed list ending in the tag matches: "H, <tag>" and
 *    "H, W/<tag>" whenever H is empty or only commas and spaces, and the
 *    plain tag always;
 *  - NULL arguments never match.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {"/", "/app.js", "/app.css", "/favicon.svg",
                                    "/openapi.json"};

static char *cstr(const char *a, size_t alen, const char *b)
{
    size_t blen = b ? strlen(b) : 0;
    char *p = malloc(alen + blen + 1);

    FUZZ_CHECK(p != NULL);
    memcpy(p, a, alen);
    if (blen != 0)
        memcpy(p + alen, b, blen);
    p[alen + blen] = '\0';
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = strnlen((const char *)data, size), i;
    char *h = cstr((const char *)data, len, NULL);
    int only_sep = strspn(h, ", \t") == len;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        const struct static_asset *a = static_asset_find(paths[i]);
        const char *etag;
        char hex[33], *t;
        int m;

        FUZZ_CHECK(a != NULL);
        etag = static_asset_etag(a);
        memcpy(hex, etag + 1, 32);
        hex[32] = '\0';
        m = static_etag_match(h, etag);
        FUZZ_CHECK(m == 0 || m == 1);
        if (m)
            FUZZ_CHECK(strchr(h, '*') != NULL || strstr(h, hex) != NULL);
        if (m) {
            t = cstr(h, len, ",x\"\"garbage");
            FUZZ_CHECK(static_etag_match(t, etag) == 1);
            free(t);
        }
        if (only_sep) {
            char *w = cstr("W/", 2, etag);
            t = cstr(h, len, etag);
            FUZZ_CHECK(static_etag_match(t, etag) == 1);
            free(t);
            t = cstr(h, len, w);
            FUZZ_CHECK(static_etag_match(t, etag) == 1);
            free(t);
            free(w);
        }
        FUZZ_CHECK(static_etag_match(etag, etag) == 1);
        FUZZ_CHECK(static_etag_match(NULL, etag) == 0);
        FUZZ_CHECK(static_etag_match(h, NULL) == 0);
    }
    free(h);
    return 0;
}
