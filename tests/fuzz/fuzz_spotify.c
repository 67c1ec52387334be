/*
 * fuzz_spotify.c - libFuzzer target for the pure decoders of
 * weather-service/spotify.h: spotify_decode_token and
 * spotify_decode_tracks.  Every input is given to both.
 *
 * Input: the response body, as is; `max` for the track decoder is derived
 * from the input's length (0..12), so corpus files stay real bodies.  The
 * track array starts with one track already held, so that duplicate
 * detection is exercised.
 *
 * Checked beyond memory safety:
 *  - token: 0 with 1..SPOTIFY_TOKEN_MAX-1 header-safe characters
 *    [A-Za-z0-9._~+/=-], NUL-terminated, and expires_in within 1..86400;
 *    or TEMPO_EUPSTREAM with token and expires_in untouched;
 *  - tracks: 0 with page_items equal to the length of tracks.items, the
 *    array grown to at most max, each new track {name, artists, uri, url?}
 *    well formed and every uri distinct; or TEMPO_EUPSTREAM with the array
 *    untouched;
 *  - messages printable ASCII (no token, no body).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fuzz_util.h"
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

static void check_track(const json_t *t)
{
    const json_t *name = json_object_get(t, "name");
    const json_t *artists = json_object_get(t, "artists");
    const json_t *uri = json_object_get(t, "uri");
    const json_t *url = json_object_get(t, "url");
    const json_t *a;
    size_t i;

    FUZZ_CHECK(json_is_object(t));
    FUZZ_CHECK(json_object_size(t) == (url != NULL ? 4u : 3u));
    FUZZ_CHECK(json_is_string(name) && json_string_length(name) > 0);
    FUZZ_CHECK(json_is_string(uri) &&
               strncmp(json_string_value(uri), "spotify:", 8) == 0);
    FUZZ_CHECK(url == NULL || json_is_string(url));
    FUZZ_CHECK(json_is_array(artists) && json_array_size(artists) > 0);
    json_array_foreach(artists, i, a)
        FUZZ_CHECK(json_is_string(a) && json_string_length(a) > 0);
}

/* The number of tracks.items in the body, or (size_t)-1 if none. */
static size_t ref_items(const char *body, size_t size)
{
    json_error_t je;
    json_t *root = json_loadb(body, size, JSON_REJECT_DUPLICATES, &je);
    json_t *items = json_object_get(json_object_get(root, "tracks"), "items");
    size_t n = json_is_array(items) ? json_array_size(items) : (size_t)-1;

    json_decref(root);
    return n;
}

static void fuzz_tracks(const char *body, size_t size)
{
    json_t *tracks, *t, *u;
    size_t max = size % 13, page_items = 12345, i, j, n;
    char err[160];
    int rc;

    tracks = json_pack("[{s:s, s:[s], s:s}]", "name", "Held", "artists",
                       "Someone", "uri", "spotify:track:held");
    FUZZ_CHECK(tracks != NULL);
    memset(err, 'X', sizeof(err));
    rc = spotify_decode_tracks(body, size, tracks, max, &page_items, err,
                               sizeof(err));
    n = json_array_size(tracks);
    if (rc != 0) {
        FUZZ_CHECK(rc == TEMPO_EUPSTREAM);
        FUZZ_CHECK(n == 1 && page_items == 12345);
        FUZZ_CHECK(ref_items(body, size) == (size_t)-1);
        FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
        FUZZ_CHECK(err[0] != '\0' && fuzz_printable(err));
        json_decref(tracks);
        return;
    }
    FUZZ_CHECK(page_items == ref_items(body, size));
    FUZZ_CHECK(n == 1 || n <= max);
    FUZZ_CHECK(n - 1 <= page_items);
    json_array_foreach(tracks, i, t)
    {
        check_track(t);
        u = json_object_get(t, "uri");
        for (j = i + 1; j < n; j++)
            FUZZ_CHECK(strcmp(json_string_value(u),
                              json_string_value(json_object_get(
                                  json_array_get(tracks, j), "uri"))) != 0);
    }
    json_decref(tracks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;

    fuzz_token(body, size);
    fuzz_tracks(body, size);
    return 0;
}
