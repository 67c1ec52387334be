/*
 * test_spotify.c - Spotify: the pure decoders (token, search page) on
 * real-format and hostile bodies, and spotify_tracks against a
 * libmicrohttpd fake: the client-credentials request, token reuse and
 * expiry, one renewal on 401, one renewal for many threads, paging with
 * offsets, small genres, and failures that must not leak credentials.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "fake_http.h"
#include "http_client.h"
#include "spotify.h"

/* ---- decoders ---- */

static void test_decode_token(void **state)
{
    static const char *const bad[] = {
        "",
        "{}",
        "{\"access_token\":\"\"}",
        "{\"access_token\":42}",
        "{\"access_token\":\"a b\"}",
        "{\"access_token\":\"abc\\r\\nX-Evil: 1\"}",
        "{\"access_token\":\"abc\",\"expires_in\":\"3600\"}",
        "{\"access_token\":\"abc\",\"expires_in\":0}",
        "{\"access_token\":\"abc\",\"expires_in\":-5}",
        "[\"access_token\"]",
    };
    static const char real[] = "{\"access_token\":\"BQDx-y_Z.9~+/=\","
                               "\"token_type\":\"Bearer\",\"expires_in\":3600}";
    static const char bare[] = "{\"access_token\":\"a\"}";
    static const char long_life[] =
        "{\"access_token\":\"a\",\"expires_in\":1e9}";
    char tok[SPOTIFY_TOKEN_MAX], err[160], *huge;
    long exp = 0;
    size_t i;

    (void)state;
    assert_int_equal(
        spotify_decode_token(real, strlen(real), tok, &exp, err, sizeof(err)),
        0);
    assert_string_equal(tok, "BQDx-y_Z.9~+/=");
    assert_int_equal(exp, 3600);
    assert_int_equal(
        spotify_decode_token(bare, strlen(bare), tok, &exp, err, sizeof(err)),
        0);
    assert_int_equal(exp, 3600); /* absent: Spotify's usual hour */
    assert_int_equal(spotify_decode_token(long_life, strlen(long_life), tok,
                                          &exp, err, sizeof(err)),
                     0);
    assert_int_equal(exp, 86400);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (spotify_decode_token(bad[i], strlen(bad[i]), tok, &exp, err,
                                 sizeof(err)) != TEMPO_EUPSTREAM)
            fail_msg("accepted: %s", bad[i]);

    huge = malloc(SPOTIFY_TOKEN_MAX + 64);
    assert_non_null(huge);
    i = (size_t)snprintf(huge, 32, "{\"access_token\":\"");
    memset(huge + i, 'a', SPOTIFY_TOKEN_MAX);
    memcpy(huge + i + SPOTIFY_TOKEN_MAX, "\"}", 3);
    assert_int_equal(
        spotify_decode_token(huge, strlen(huge), tok, &exp, err, sizeof(err)),
        TEMPO_EUPSTREAM);
    free(huge);
}

static const char page[] =
    "{\"tracks\":{\"href\":\"https://api.spotify.com/v1/search?query=genre%3A"
    "rock&type=track&offset=0&limit=10\",\"items\":["
    "{\"album\":{\"name\":\"A Night at the Opera\"},\"artists\":[{\"name\":"
    "\"Queen\",\"type\":\"artist\"}],\"duration_ms\":354320,\"external_urls\":"
    "{\"spotify\":\"https://open.spotify.com/track/4u7EnebtmKWzUH433cf5Qv\"},"
    "\"name\":\"Bohemian Rhapsody\",\"type\":\"track\",\"uri\":"
    "\"spotify:track:4u7EnebtmKWzUH433cf5Qv\"},"
    "null,"
    "{\"name\":\"No uri\",\"artists\":[{\"name\":\"X\"}]},"
    "{\"name\":\"No artists\",\"artists\":[],\"uri\":\"spotify:track:1\"},"
    "{\"name\":\"Bad "
    "uri\",\"artists\":[{\"name\":\"X\"}],\"uri\":\"http://x\"},"
    "{\"name\":\"Odd artists\",\"artists\":[{\"name\":5},\"Y\",{\"name\":"
    "\"Z\"}],\"uri\":\"spotify:track:2\",\"external_urls\":{\"spotify\":7}},"
    "{\"name\":\"Dup\",\"artists\":[{\"name\":\"Queen\"}],\"uri\":"
    "\"spotify:track:4u7EnebtmKWzUH433cf5Qv\"},"
    "{\"name\":\"Two\",\"artists\":[{\"name\":\"A\"},{\"name\":\"B\"}],"
    "\"uri\":\"spotify:track:3\"}"
    "],\"limit\":10,\"offset\":0,\"total\":1000}}";

static void test_decode_tracks(void **state)
{
    json_t *tracks = json_array(), *t, *want;
    size_t items = 0;
    char err[160];

    (void)state;
    assert_int_equal(spotify_decode_tracks(page, strlen(page), tracks, 10,
                                           &items, err, sizeof(err)),
                     0);
    assert_int_equal(items, 8); /* all items, skipped ones included */
    assert_int_equal(json_array_size(tracks), 3);
    t = json_array_get(tracks, 0);
    want = json_pack("{s:s, s:[s], s:s, s:s}", "name", "Bohemian Rhapsody",
                     "artists", "Queen", "uri",
                     "spotify:track:4u7EnebtmKWzUH433cf5Qv", "url",
                     "https://open.spotify.com/track/4u7EnebtmKWzUH433cf5Qv");
    assert_true(json_equal(t, want));
    json_decref(want);
    t = json_array_get(tracks, 1);
    want = json_pack("{s:s, s:[s], s:s}", "name", "Odd artists", "artists", "Z",
                     "uri", "spotify:track:2");
    assert_true(json_equal(t, want)); /* no url: it was not a string */
    json_decref(want);
    assert_int_equal(
        json_array_size(json_object_get(json_array_get(tracks, 2), "artists")),
        2);

    /* Tracks already held are not added twice; max is honoured. */
    assert_int_equal(spotify_decode_tracks(page, strlen(page), tracks, 10,
                                           &items, err, sizeof(err)),
                     0);
    assert_int_equal(json_array_size(tracks), 3);
    json_array_clear(tracks);
    assert_int_equal(spotify_decode_tracks(page, strlen(page), tracks, 2,
                                           &items, err, sizeof(err)),
                     0);
    assert_int_equal(json_array_size(tracks), 2);
    json_decref(tracks);
}

static void test_decode_tracks_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        "x",
        "[]",
        "{}",
        "{\"tracks\":null}",
        "{\"tracks\":{}}",
        "{\"tracks\":{\"items\":{}}}",
        "{\"tracks\":{\"items\":\"a\"}}",
    };
    static const char junk_items[] = "{\"tracks\":{\"items\":[1,[],{}]}}";
    json_t *tracks = json_array();
    size_t i, items;
    char err[160];

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (spotify_decode_tracks(bad[i], strlen(bad[i]), tracks, 10, &items,
                                  err, sizeof(err)) != TEMPO_EUPSTREAM)
            fail_msg("accepted: %s", bad[i]);
    assert_int_equal(spotify_decode_tracks(junk_items, strlen(junk_items),
                                           tracks, 10, &items, err,
                                           sizeof(err)),
                     0);
    assert_int_equal(items, 3);
    assert_int_equal(json_array_size(tracks), 0);
    json_decref(tracks);
}

/* ---- spotify_tracks against the fake ---- */

static int token_serial;
static long token_expires = 3600;
static int search_total = 1000;
static size_t seen_offsets[16], seen_limits[16];
static int nseen;

static char *token_body(const json_t *args, const char *auth)
{
    json_t *j;
    char tok[32], *s;

    (void)args;
    (void)auth;
    snprintf(tok, sizeof(tok), "tok-%d", ++token_serial);
    j = json_pack("{s:s, s:s, s:i}", "access_token", tok, "token_type",
                  "Bearer", "expires_in", (json_int_t)token_expires);
    s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

static char *search_body(const json_t *args, const char *auth)
{
    const char *o = json_string_value(json_object_get(args, "offset"));
    const char *l = json_string_value(json_object_get(args, "limit"));
    size_t off = o ? strtoul(o, NULL, 10) : 0,
           lim = l ? strtoul(l, NULL, 10) : 20, i;
    json_t *items = json_array(), *j;
    char *s;

    (void)auth;
    if (nseen < 16) {
        seen_offsets[nseen] = off;
        seen_limits[nseen++] = lim;
    }
    for (i = off; i < off + lim && i < (size_t)search_total; i++) {
        char name[32], uri[48], url[80];

        snprintf(name, sizeof(name), "Song %zu", i);
        snprintf(uri, sizeof(uri), "spotify:track:%zu", i);
        snprintf(url, sizeof(url), "https://open.spotify.com/track/%zu", i);
        json_array_append_new(
            items, json_pack("{s:s, s:[{s:s}], s:s, s:{s:s}}", "name", name,
                             "artists", "name", "Band", "uri", uri,
                             "external_urls", "spotify", url));
    }
    j = json_pack("{s:{s:o, s:i}}", "tracks", "items", items, "total",
                  (json_int_t)search_total);
    s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

static struct fake_route routes[] = {
    {.path = "/acc/api/token", .status = 200, .dynamic = token_body},
    {.path = "/api/v1/search", .status = 200, .dynamic = search_body},
    {.path = NULL},
};
#define TOKEN (&routes[0])
#define SEARCH (&routes[1])

static char acc_base[128], api_base[128], cid[] = "cid", secret[] = "csecret";
static struct config cfg;
static struct spotify *sp;
static struct http_client *hc;

static int setup(void **state)
{
    (void)state;
    TOKEN->status = 200;
    TOKEN->delay_ms = 0;
    SEARCH->status = 200;
    SEARCH->fail_first = 0;
    token_serial = 0;
    token_expires = 3600;
    search_total = 1000;
    nseen = 0;
    fake_start(routes);
    snprintf(acc_base, sizeof(acc_base), "%s/acc", fake_base());
    snprintf(api_base, sizeof(api_base), "%s/api/", fake_base());
    memset(&cfg, 0, sizeof(cfg));
    cfg.spotify_accounts_url = acc_base;
    cfg.spotify_api_url = api_base;
    cfg.spotify_client_id = cid;
    cfg.spotify_client_secret = secret;
    cfg.upstream_timeout_ms = 2000;
    cfg.upstream_retries = 1;
    sp = spotify_create(&cfg);
    hc = http_client_create();
    assert_non_null(sp);
    assert_non_null(hc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    spotify_destroy(sp);
    http_client_destroy(hc);
    fake_stop();
    return 0;
}

static int tracks(enum genre g, size_t n, json_t **out, char *err,
                  size_t errlen)
{
    return spotify_tracks(sp, hc, g, n, http_now_ms() + 5000, out, err, errlen);
}

static void test_one_page(void **state)
{
    json_t *t = NULL;
    char err[160];
    const char *off;

    (void)state;
    assert_int_equal(tracks(GENRE_ROCK, 10, &t, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 10);
    assert_non_null(json_object_get(json_array_get(t, 0), "url"));
    json_decref(t);
    assert_int_equal(TOKEN->hits, 1);
    assert_int_equal(SEARCH->hits, 1);
    /* The client-credentials request. */
    assert_string_equal(TOKEN->req_body, "grant_type=client_credentials");
    assert_string_equal(TOKEN->req_auth, "Basic Y2lkOmNzZWNyZXQ="); /* cid:.. */
    /* The search. */
    assert_string_equal(SEARCH->req_auth, "Bearer tok-1");
    assert_string_equal(fake_route_arg("/api/v1/search", "q"), "genre:rock");
    assert_string_equal(fake_route_arg("/api/v1/search", "type"), "track");
    assert_string_equal(fake_route_arg("/api/v1/search", "limit"), "10");
    off = fake_route_arg("/api/v1/search", "offset");
    assert_non_null(off);
    assert_true(strtoul(off, NULL, 10) <= SPOTIFY_OFFSET_MAX);
}

static void test_paging(void **state)
{
    json_t *t = NULL, *a;
    char err[160];
    size_t i, j;

    (void)state;
    assert_int_equal(tracks(GENRE_PARTY, 25, &t, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 25);
    assert_int_equal(SEARCH->hits, 3);
    assert_int_equal(nseen, 3);
    assert_int_equal(seen_limits[0], 10);
    assert_int_equal(seen_limits[1], 10);
    assert_int_equal(seen_limits[2], 5);
    assert_int_equal(seen_offsets[1], seen_offsets[0] + 10);
    assert_int_equal(seen_offsets[2], seen_offsets[0] + 20);
    json_array_foreach(t, i, a) for (j = i + 1; j < json_array_size(t); j++)
        assert_false(json_equal(a, json_array_get(t, j)));
    json_decref(t);
}

static void test_offsets_vary(void **state)
{
    json_t *t = NULL;
    char err[160];
    int i, distinct = 0;

    (void)state;
    for (i = 0; i < 6; i++) {
        assert_int_equal(tracks(GENRE_POP, 10, &t, err, sizeof(err)), 0);
        json_decref(t);
    }
    for (i = 1; i < 6; i++)
        distinct += seen_offsets[i] != seen_offsets[0];
    assert_true(distinct >= 1);       /* six equal draws of 201: ~3e-12 */
    assert_int_equal(TOKEN->hits, 1); /* one token for all six */
}

static void test_refresh_once_on_401(void **state)
{
    json_t *t = NULL;
    char err[160];

    (void)state;
    SEARCH->fail_first = 1;
    SEARCH->fail_status = 401;
    assert_int_equal(tracks(GENRE_ROCK, 5, &t, err, sizeof(err)), 0);
    json_decref(t);
    assert_int_equal(TOKEN->hits, 2);
    assert_int_equal(SEARCH->hits, 2);
    assert_string_equal(SEARCH->req_auth, "Bearer tok-2");
}

static void test_persistent_401(void **state)
{
    json_t *t = NULL;
    char err[160];

    (void)state;
    SEARCH->status = 401;
    assert_int_equal(tracks(GENRE_ROCK, 5, &t, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_null(t);
    assert_int_equal(TOKEN->hits, 2); /* renewed once, not in a loop */
    assert_int_equal(SEARCH->hits, 2);
    assert_null(strstr(err, "tok-"));
}

static void test_token_rejected(void **state)
{
    json_t *t = NULL;
    char err[160];

    (void)state;
    TOKEN->status = 400;
    assert_int_equal(tracks(GENRE_ROCK, 5, &t, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_int_equal(SEARCH->hits, 0);
    assert_null(strstr(err, "csecret"));
    assert_null(strstr(err, "cid"));
    assert_non_null(strstr(err, "credentials"));
}

static void test_token_expiry(void **state)
{
    json_t *t = NULL;
    char err[160];

    (void)state;
    token_expires = 1; /* kept for half its life */
    assert_int_equal(tracks(GENRE_ROCK, 1, &t, err, sizeof(err)), 0);
    json_decref(t);
    assert_int_equal(tracks(GENRE_ROCK, 1, &t, err, sizeof(err)), 0);
    json_decref(t);
    assert_int_equal(TOKEN->hits, 1);
    usleep(600 * 1000);
    assert_int_equal(tracks(GENRE_ROCK, 1, &t, err, sizeof(err)), 0);
    json_decref(t);
    assert_int_equal(TOKEN->hits, 2);
}

struct racer {
    int rc;
    size_t n;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct http_client *mine = http_client_create();
    json_t *t = NULL;
    char err[160];

    r->rc = spotify_tracks(sp, mine, GENRE_CLASSICAL, 3, http_now_ms() + 5000,
                           &t, err, sizeof(err));
    r->n = json_array_size(t);
    json_decref(t);
    http_client_destroy(mine);
    return NULL;
}

static void test_one_renewal_for_many_threads(void **state)
{
    struct racer rs[8];
    pthread_t th[8];
    int i;

    (void)state;
    TOKEN->delay_ms = 300;
    memset(rs, 0, sizeof(rs));
    for (i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    for (i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(rs[i].rc, 0);
        assert_int_equal(rs[i].n, 3);
    }
    assert_int_equal(TOKEN->hits, 1);
    assert_int_equal(SEARCH->hits, 8);
}

static void test_search_failure(void **state)
{
    json_t *t = NULL;
    char err[160];

    (void)state;
    SEARCH->status = 503;
    assert_int_equal(tracks(GENRE_ROCK, 5, &t, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_int_equal(SEARCH->hits, 2); /* retried once */
    assert_non_null(strstr(err, "503"));
}

static void test_small_and_empty_genres(void **state)
{
    json_t *t = NULL;
    char err[160];

    (void)state;
    /* Five results: a random offset past them restarts at 0. */
    search_total = 5;
    assert_int_equal(tracks(GENRE_CLASSICAL, 10, &t, err, sizeof(err)), 0);
    assert_true(json_array_size(t) >= 1 && json_array_size(t) <= 5);
    json_decref(t);
    t = NULL;
    search_total = 0;
    assert_int_equal(tracks(GENRE_CLASSICAL, 10, &t, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_null(t);
    assert_non_null(strstr(err, "no tracks"));
    assert_true(SEARCH->hits <= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_token),
        cmocka_unit_test(test_decode_tracks),
        cmocka_unit_test(test_decode_tracks_hostile),
        cmocka_unit_test_setup_teardown(test_one_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_vary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_once_on_401, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_persistent_401, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_renewal_for_many_threads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_and_empty_genres, setup,
                                        teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
