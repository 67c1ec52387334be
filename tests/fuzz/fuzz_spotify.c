/*
 * fuzz_spotify.c - libFuzzer target for the pure decoders of
 * weather-service/spotify.h and spotify_page.h: spotify_decode_token and
 * spotify_decode_page (json_pull.h underneath).  Every input is given to
 * both.
 *
 * Input: the response body, as is.
 *
 * Checked beyond memory safety:
 *  - token: 0 with 1..SPOTIFY_TOKEN_MAX-1 header-safe characters
 *    [A-Za-z0-9._~+/=-], NUL-terminated, and expires_in within 1..86400;
 *    or TEMPO_EUPSTREAM with token and expires_in untouched;
 *  - page: 0 only for valid JSON with a tracks.items array (jansson
 *    agrees, items and total alike, unless it refuses for its own number
 *    or depth limits or the body repeats a key), every track delivered
 *    well formed (non-empty UTF-8 name, "spotify:" uri, 1..16 artists,
 *    all under SPOTIFY_TEXT_MAX); otherwise TEMPO_EUPSTREAM with nothing
 *    delivered and *page untouched;
 *  - messages printable ASCII (no token, no body).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fuzz_util.h"
#include "json_pull.h"
#include "spotify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char token_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz0123456789"
                                  "._~+/=-";

static void fuzz_token(const char *body, size_t size)
{
    char *token = malloc(SPOTIFY_TOKEN_MAX); /* exactly the promised size */
    char err[160];
    long exp = -77;
    size_t n;
    int rc;

    FUZZ_CHECK(token != NULL);
    memset(token, 'X', SPOTIFY_TOKEN_MAX);
    memset(err, 'X', sizeof(err));
    rc = spotify_decode_token(body, size, token, &exp, err, sizeof(err));
    if (rc == 0) {
        FUZZ_CHECK(fuzz_terminated(token, SPOTIFY_TOKEN_MAX));
        n = strlen(token);
        FUZZ_CHECK(n >= 1 && n <= SPOTIFY_TOKEN_MAX - 1);
        FUZZ_CHECK(strspn(token, token_chars) == n);
        FUZZ_CHECK(exp >= 1 && exp <= 86400);
    } else {
        FUZZ_CHECK(rc == TEMPO_EUPSTREAM);
        FUZZ_CHECK(exp == -77);
        FUZZ_CHECK(token[0] == 'X' && token[SPOTIFY_TOKEN_MAX - 1] == 'X');
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
        FUZZ_CHECK(err[0] != '\0' && fuzz_printable(err));
    }
    free(token);
}

/* Checks one decoded track against spotify_page.h's promises. */
static int check_track(void *ctx, const struct spotify_track *t)
{
    size_t *n = ctx, i, len;

    (*n)++;
    FUZZ_CHECK(t->name != NULL && t->uri != NULL);
    len = strlen(t->name);
    FUZZ_CHECK(len > 0 && len < SPOTIFY_TEXT_MAX);
    FUZZ_CHECK(fuzz_utf8_valid(t->name, len));
    len = strlen(t->uri);
    FUZZ_CHECK(len < SPOTIFY_TEXT_MAX && strncmp(t->uri, "spotify:", 8) == 0);
    FUZZ_CHECK(fuzz_utf8_valid(t->uri, len));
    if (t->url != NULL) {
        len = strlen(t->url);
        FUZZ_CHECK(len < SPOTIFY_TEXT_MAX && fuzz_utf8_valid(t->url, len));
    }
    FUZZ_CHECK(t->nartists >= 1 && t->nartists <= SPOTIFY_ARTISTS_MAX);
    for (i = 0; i < t->nartists; i++) {
        len = strlen(t->artists[i]);
        FUZZ_CHECK(len > 0 && len < SPOTIFY_TEXT_MAX);
        FUZZ_CHECK(fuzz_utf8_valid(t->artists[i], len));
    }
    return 0;
}

/*
 * What jansson makes of the body: 1 and *items when it is JSON with a
 * tracks.items array, 0 when it is JSON without one, -1 when jansson
 * rejects it, -2 when it rejects it for its own limits only (numbers
 * beyond a double or an int64, nesting, \u0000 in a key), where the
 * scanner may accept.
 * A duplicate key, or a raw NUL byte, makes the comparison moot (-3).
 */
static int reference(const char *body, size_t size, size_t *items, long *total)
{
    json_error_t je;
    json_t *root, *tr, *it, *to;
    int r;

    /* jansson reads a raw NUL byte outside strings as the end of the
     * text (it accepts "[1]\0garbage"); the scanner refuses it. */
    if (memchr(body, '\0', size) != NULL)
        return -3;
    root = json_loadb(body, size, JSON_ALLOW_NUL, &je);
    if (root == NULL) {
        enum json_error_code c = json_error_code(&je);
        return c == json_error_numeric_overflow ||
                       c == json_error_stack_overflow ||
                       c == json_error_null_byte_in_key
                   ? -2
                   : -1;
    }
    json_decref(root);
    root = json_loadb(body, size, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return -3;
    tr = json_object_get(root, "tracks");
    it = json_object_get(tr, "items");
    to = json_object_get(tr, "total");
    r = json_is_array(it) ? 1 : 0;
    if (r) {
        *items = json_array_size(it);
        *total = json_is_integer(to) && json_integer_value(to) >= 0
                     ? (long)json_integer_value(to)
                     : -1;
    }
    json_decref(root);
    return r;
}

/* Deepest nesting of a body jansson accepted (brackets outside strings). */
static size_t max_depth(const char *b, size_t n)
{
    size_t d = 0, m = 0, i;
    int in_str = 0;

    for (i = 0; i < n; i++) {
        if (in_str) {
            if (b[i] == '\\')
                i++;
            else if (b[i] == '"')
                in_str = 0;
        } else if (b[i] == '"') {
            in_str = 1;
        } else if (b[i] == '[' || b[i] == '{') {
            if (++d > m)
                m = d;
        } else if (b[i] == ']' || b[i] == '}') {
            d--;
        }
    }
    return m;
}

static void fuzz_page(const char *body, size_t size)
{
    struct spotify_page page = {12345, -77};
    size_t got = 0, items = 0;
    long total = -1;
    char err[160];
    int rc, ref;

    memset(err, 'X', sizeof(err));
    rc = spotify_decode_page(body, size, check_track, &got, &page, err,
                             sizeof(err));
    ref = reference(body, size, &items, &total);
    if (rc != 0) {
        FUZZ_CHECK(rc == TEMPO_EUPSTREAM);
        FUZZ_CHECK(page.items == 12345 && page.total == -77);
        FUZZ_CHECK(got == 0); /* nothing delivered from a rejected body */
        FUZZ_CHECK(ref != 1 || max_depth(body, size) > JPULL_MAX_DEPTH);
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
        FUZZ_CHECK(err[0] != '\0' && fuzz_printable(err));
        return;
    }
    /* Accepted: valid JSON with tracks.items, as jansson sees it. */
    FUZZ_CHECK(ref == 1 || ref == -2 || ref == -3);
    if (ref == 1) {
        FUZZ_CHECK(page.items == items);
        FUZZ_CHECK(page.total == total);
    }
    FUZZ_CHECK(got <= page.items);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;

    fuzz_token(body, size);
    fuzz_page(body, size);
    return 0;
}
