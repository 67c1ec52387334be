/*
 * test_spotify.c - Spotify: the pure decoders (token, search page) on
 * real-format and hostile bodies, the page planner, and spotify_fetch
 * against a libmicrohttpd fake: the client-credentials request, token
 * reuse and expiry, one renewal on 401, one renewal for many threads, the
 * first fetch's probe and the genre total it learns, pages in parallel on
 * reused connections, small and empty genres, the shared 429 gate, and
 * failures that must not leak credentials.
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

/* Collects decoded tracks as JSON, for comparisons. */
static int collect(void *ctx, const struct spotify_track *t)
{
    json_t *arr = ctx, *artists = json_array(), *o;
    size_t i;

    for (i = 0; i < t->nartists; i++)
        json_array_append_new(artists, json_string(t->artists[i]));
    o = json_pack("{s:s, s:o, s:s}", "name", t->name, "artists", artists, "uri",
                  t->uri);
    if (t->url != NULL)
        json_object_set_new(o, "url", json_string(t->url));
    json_array_append_new(arr, o);
    return 0;
}

static int decode(const char *body, json_t *out, struct spotify_page *pg)
{
    char err[160];

    return spotify_decode_page(body, strlen(body), collect, out, pg, err,
                               sizeof(err));
}

static void test_decode_page(void **state)
{
    json_t *tracks = json_array(), *t, *want;
    struct spotify_page pg = {0, 0};

    (void)state;
    assert_int_equal(decode(page, tracks, &pg), 0);
    assert_int_equal(pg.items, 8); /* all items, skipped ones included */
    assert_int_equal(pg.total, 1000);
    /* Duplicates are the caller's business (the pool drops them). */
    assert_int_equal(json_array_size(tracks), 4);
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
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(tracks, 2), "name")),
        "Dup");
    assert_int_equal(
        json_array_size(json_object_get(json_array_get(tracks, 3), "artists")),
        2);
    json_decref(tracks);
}

static void test_decode_page_text(void **state)
{
    /* Escapes, a surrogate pair, raw UTF-8; a key seen twice: the last
     * wins, as in jansson; a name over SPOTIFY_TEXT_MAX is not a track. */
    static const char esc[] =
        "{\"tracks\":{\"total\":2.5,\"items\":[{\"name\":\"x\",\"name\":"
        "\"Caf\\u00e9 \\\"\\ud83c\\udfb5\\\" \\/ \xe2\x99\xab\\n\","
        "\"artists\":[{\"name\":\"S\\u00edn\"}],\"uri\":\"spotify:track:e\","
        "\"external_urls\":{\"spotify\":\"https:\\/\\/open.spotify.com\\/t\"}}"
        "]}}";
    json_t *tracks = json_array(), *t;
    struct spotify_page pg;
    char *big, *many;
    size_t i, o;

    (void)state;
    assert_int_equal(decode(esc, tracks, &pg), 0);
    assert_int_equal(pg.total, -1); /* not a count */
    t = json_array_get(tracks, 0);
    assert_string_equal(json_string_value(json_object_get(t, "name")),
                        "Caf\xc3\xa9 \"\xf0\x9f\x8e\xb5\" / \xe2\x99\xab\n");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(t, "artists"), 0)),
        "S\xc3\xadn");
    assert_string_equal(json_string_value(json_object_get(t, "url")),
                        "https://open.spotify.com/t");
    json_array_clear(tracks);

    big = malloc(SPOTIFY_TEXT_MAX + 200);
    assert_non_null(big);
    o = (size_t)snprintf(big, 64, "{\"tracks\":{\"items\":[{\"name\":\"");
    memset(big + o, 'a', SPOTIFY_TEXT_MAX);
    o += SPOTIFY_TEXT_MAX;
    snprintf(big + o, 128,
             "\",\"artists\":[{\"name\":\"A\"}],\"uri\":\"spotify:track:b\"}"
             "]}}");
    assert_int_equal(decode(big, tracks, &pg), 0);
    assert_int_equal(pg.items, 1);
    assert_int_equal(json_array_size(tracks), 0);
    free(big);

    /* Twenty artists: the first SPOTIFY_ARTISTS_MAX are kept. */
    many = malloc(1024);
    assert_non_null(many);
    o = (size_t)snprintf(many, 1024,
                         "{\"tracks\":{\"items\":[{\"name\":\"M\","
                         "\"uri\":\"spotify:track:m\",\"artists\":[");
    for (i = 0; i < 20; i++)
        o += (size_t)snprintf(many + o, 1024 - o, "%s{\"name\":\"a%zu\"}",
                              i ? "," : "", i);
    snprintf(many + o, 1024 - o, "]}]}}");
    assert_int_equal(decode(many, tracks, &pg), 0);
    t = json_array_get(tracks, 0);
    assert_int_equal(json_array_size(json_object_get(t, "artists")),
                     SPOTIFY_ARTISTS_MAX);
    free(many);
    json_decref(tracks);
}

static void test_decode_page_hostile(void **state)
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
        /* not JSON at all, in ways a lazy scanner would let through */
        "{\"tracks\":{\"items\":[]}",
        "{\"tracks\":{\"items\":[]}}}",
        "{\"tracks\":{\"items\":[],}}",
        "{\"tracks\":{\"items\":[1,]}}",
        "{\"tracks\":{\"items\":[01]}}",
        "{\"tracks\":{\"items\":[1.]}}",
        "{\"tracks\":{\"items\":[-]}}",
        "{\"tracks\":{\"items\":[tru]}}",
        "{\"tracks\":{\"items\":[\"\\x\"]}}",
        "{\"tracks\":{\"items\":[\"\\ud800\"]}}",
        "{\"tracks\":{\"items\":[\"\\udc00\\ud800\"]}}",
        "{\"tracks\":{\"items\":[\"\xc0\xaf\"]}}",
        "{\"tracks\":{\"items\":[\"\xed\xa0\x80\"]}}",
        "{\"tracks\":{\"items\":[\"\xf4\x90\x80\x80\"]}}",
        "{\"tracks\":{\"items\":[\"a\tb\"]}}",
        "{\"tracks\" {\"items\":[]}}",
        "{\"tracks\":{\"items\":[]}} x",
        "{'tracks':{}}",
    };
    static const char junk_items[] = "{\"tracks\":{\"items\":[1,[],{},"
                                     "{\"name\":\"\\u0000\",\"artists\":[{"
                                     "\"name\":\"A\"}],\"uri\":\"spotify:x\"}"
                                     "]}}";
    /* A page cut short delivers nothing, not the tracks before the cut. */
    static const char cut[] = "{\"tracks\":{\"items\":[{\"name\":\"N\","
                              "\"artists\":[{\"name\":\"A\"}],"
                              "\"uri\":\"spotify:track:1\"},{\"name\":\"M\",";
    json_t *tracks = json_array();
    struct spotify_page pg;
    char *deep;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (decode(bad[i], tracks, &pg) != TEMPO_EUPSTREAM)
            fail_msg("accepted: %s", bad[i]);
    assert_int_equal(decode(cut, tracks, &pg), TEMPO_EUPSTREAM);
    assert_int_equal(json_array_size(tracks), 0);
    assert_int_equal(decode(junk_items, tracks, &pg), 0);
    assert_int_equal(pg.items, 4);
    assert_int_equal(json_array_size(tracks), 0);

    /* Nesting deeper than the scanner's limit is refused, not recursed. */
    deep = malloc(200000);
    assert_non_null(deep);
    memcpy(deep, "{\"a\":", 5);
    memset(deep + 5, '[', 100000);
    deep[100005] = '\0';
    assert_int_equal(decode(deep, tracks, &pg), TEMPO_EUPSTREAM);
    free(deep);
    json_decref(tracks);
}

/* ---- the planner ---- */

static uint64_t counter_rng(void *ctx)
{
    uint64_t *x = ctx;

    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 11;
}

static void test_plan_pages(void **state)
{
    size_t off[SPOTIFY_SLOTS], n, i, j;
    uint64_t seed = 42;

    (void)state;
    /* Unknown total: the one probe page at 0. */
    assert_int_equal(spotify_plan_pages(-1, 20, 0, counter_rng, &seed, off), 1);
    assert_int_equal(off[0], 0);
    assert_int_equal(spotify_plan_pages(-1, 20, 1, counter_rng, &seed, off), 0);
    /* 13 results: pages at 0 and 10 only; 0 already fetched. */
    n = spotify_plan_pages(13, 20, 0, counter_rng, &seed, off);
    assert_int_equal(n, 2);
    assert_true((off[0] == 0 && off[1] == 10) || (off[0] == 10 && off[1] == 0));
    n = spotify_plan_pages(13, 20, 1, counter_rng, &seed, off);
    assert_int_equal(n, 1);
    assert_int_equal(off[0], 10);
    assert_int_equal(spotify_plan_pages(0, 20, 0, counter_rng, &seed, off), 0);
    /* 5,000 results: Spotify stops at offset 1000; 19 distinct pages. */
    n = spotify_plan_pages(5000, 19, 1, counter_rng, &seed, off);
    assert_int_equal(n, 19);
    for (i = 0; i < n; i++) {
        assert_true(off[i] >= 10 && off[i] + SPOTIFY_PAGE_MAX <= 1000);
        assert_int_equal(off[i] % SPOTIFY_PAGE_MAX, 0);
        for (j = i + 1; j < n; j++)
            assert_true(off[i] != off[j]);
    }
    /* Every slot, when fewer than asked. */
    assert_int_equal(spotify_plan_pages(1000, 500, 0, counter_rng, &seed, off),
                     SPOTIFY_SLOTS);
}

/* ---- spotify_fetch against the fake ---- */

static int token_serial;
static long token_expires = 3600;
static int search_total = 1000;
static int send_total = 1;
static size_t seen_offsets[128], seen_limits[128];
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
    if (nseen < 128) {
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
    j = json_pack("{s:{s:o}}", "tracks", "items", items);
    if (send_total)
        json_object_set_new(json_object_get(j, "tracks"), "total",
                            json_integer(search_total));
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

static int setup(void **state)
{
    (void)state;
    TOKEN->status = 200;
    TOKEN->delay_ms = 0;
    SEARCH->status = 200;
    SEARCH->fail_first = 0;
    SEARCH->delay_ms = 0;
    SEARCH->header = NULL;
    token_serial = 0;
    token_expires = 3600;
    search_total = 1000;
    send_total = 1;
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
    assert_non_null(sp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    spotify_destroy(sp);
    fake_stop();
    return 0;
}

static int fetch(enum genre g, size_t want, json_t **out,
                 struct spotify_fetch_stats *st, char *err, size_t errlen)
{
    *out = json_array();
    return spotify_fetch(sp, g, want, clock_mono_ms() + 10000, collect, *out,
                         st, err, errlen);
}

/* Asserts that tracks holds distinct uris. */
static void assert_distinct(const json_t *tracks)
{
    size_t i, j;

    for (i = 0; i < json_array_size(tracks); i++)
        for (j = i + 1; j < json_array_size(tracks); j++)
            assert_string_not_equal(json_string_value(json_object_get(
                                        json_array_get(tracks, i), "uri")),
                                    json_string_value(json_object_get(
                                        json_array_get(tracks, j), "uri")));
}

static void test_first_fetch_probes(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];
    int i, conns;

    (void)state;
    assert_int_equal(fetch(GENRE_ROCK, 200, &t, &st, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 200);
    assert_distinct(t);
    assert_non_null(json_object_get(json_array_get(t, 0), "url"));
    json_decref(t);
    assert_int_equal(st.pages, 20);
    assert_int_equal(st.pages_failed, 0);
    assert_int_equal(st.wanted, 200);
    assert_int_equal(st.total, 1000);
    assert_int_equal(TOKEN->hits, 1);
    assert_int_equal(SEARCH->hits, 20);
    /* The probe first, at offset 0; then 19 other pages of 10. */
    assert_int_equal(seen_offsets[0], 0);
    for (i = 0; i < 20; i++)
        assert_int_equal(seen_limits[i], 10);
    for (i = 1; i < 20; i++)
        assert_true(seen_offsets[i] > 0 && seen_offsets[i] <= 990);
    /* The client-credentials request and the search. */
    assert_string_equal(TOKEN->req_body, "grant_type=client_credentials");
    assert_string_equal(TOKEN->req_auth, "Basic Y2lkOmNzZWNyZXQ="); /* cid:.. */
    assert_string_equal(SEARCH->req_auth, "Bearer tok-1");
    assert_string_equal(fake_route_arg("/api/v1/search", "q"), "genre:rock");
    assert_string_equal(fake_route_arg("/api/v1/search", "type"), "track");
    /* Pages went out on several connections at once. */
    conns = fake_connections;
    assert_true(conns > 2 && conns <= SPOTIFY_FETCHERS + 1);

    /* The total is known now: no probe, and the same connections. */
    nseen = 0;
    assert_int_equal(fetch(GENRE_ROCK, 200, &t, &st, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 200);
    json_decref(t);
    assert_int_equal(st.pages, 20);
    assert_int_equal(SEARCH->hits, 40);
    assert_int_equal(TOKEN->hits, 1);
    /* Reused: without keep-alive each of the 20 pages would connect anew.
     * (Not exactly the same count: on a loaded machine a fetcher may find
     * its idle connection closed and open one more.) */
    assert_true(fake_connections - conns < 20 / 2);
}

static void test_offsets_vary(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];
    size_t first[2];
    int i;

    (void)state;
    assert_int_equal(fetch(GENRE_POP, 10, &t, &st, err, sizeof(err)), 0);
    json_decref(t);
    for (i = 0; i < 2; i++) {
        nseen = 0;
        assert_int_equal(fetch(GENRE_POP, 10, &t, &st, err, sizeof(err)), 0);
        assert_int_equal(st.pages, 1);
        json_decref(t);
        first[i] = seen_offsets[0];
    }
    if (first[0] == first[1]) { /* 1 in 100: try once more */
        nseen = 0;
        assert_int_equal(fetch(GENRE_POP, 10, &t, &st, err, sizeof(err)), 0);
        json_decref(t);
        first[1] = seen_offsets[0];
    }
    assert_true(first[0] != first[1]); /* random: 1 in 10,000 to fail */
}

static void test_small_and_empty_genres(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];

    (void)state;
    /* 13 results: the probe finds 10 and the total; one more page. */
    search_total = 13;
    assert_int_equal(fetch(GENRE_CLASSICAL, 200, &t, &st, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 13);
    assert_int_equal(st.wanted, 13);
    assert_int_equal(st.pages, 2);
    json_decref(t);
    assert_int_equal(SEARCH->hits, 2);
    /* Later fetches never ask past the end. */
    nseen = 0;
    assert_int_equal(fetch(GENRE_CLASSICAL, 200, &t, &st, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 13);
    assert_int_equal(nseen, 2);
    assert_true(seen_offsets[0] <= 10 && seen_offsets[1] <= 10);
    json_decref(t);

    search_total = 0;
    assert_int_equal(fetch(GENRE_PARTY, 200, &t, &st, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 0);
    assert_int_equal(st.total, 0);
    json_decref(t);

    /* No total in the answer: it stays unknown and the probe is all. */
    send_total = 0;
    search_total = 1000;
    assert_int_equal(fetch(GENRE_POP, 200, &t, &st, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 10);
    assert_int_equal(st.total, -1);
    json_decref(t);
}

static void test_refresh_once_on_401(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];

    (void)state;
    SEARCH->fail_first = 1;
    SEARCH->fail_status = 401;
    assert_int_equal(fetch(GENRE_ROCK, 5, &t, &st, err, sizeof(err)), 0);
    json_decref(t);
    assert_int_equal(TOKEN->hits, 2);
    assert_int_equal(SEARCH->hits, 2);
    assert_string_equal(SEARCH->req_auth, "Bearer tok-2");
}

static void test_persistent_401(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];

    (void)state;
    SEARCH->status = 401;
    assert_int_equal(fetch(GENRE_ROCK, 5, &t, &st, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_int_equal(json_array_size(t), 0);
    json_decref(t);
    assert_int_equal(TOKEN->hits, 2); /* renewed once, not in a loop */
    assert_int_equal(SEARCH->hits, 2);
    assert_null(strstr(err, "tok-"));
}

static void test_token_rejected(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];

    (void)state;
    TOKEN->status = 400;
    assert_int_equal(fetch(GENRE_ROCK, 5, &t, &st, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    json_decref(t);
    assert_int_equal(SEARCH->hits, 0);
    assert_null(strstr(err, "csecret"));
    assert_null(strstr(err, "cid"));
    assert_non_null(strstr(err, "credentials"));
}

static void test_token_expiry(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];

    (void)state;
    token_expires = 2; /* kept for half its life: 1 s */
    assert_int_equal(fetch(GENRE_ROCK, 1, &t, &st, err, sizeof(err)), 0);
    json_decref(t);
    assert_int_equal(fetch(GENRE_ROCK, 1, &t, &st, err, sizeof(err)), 0);
    json_decref(t);
    assert_int_equal(TOKEN->hits, 1);
    usleep(1100 * 1000);
    assert_int_equal(fetch(GENRE_ROCK, 1, &t, &st, err, sizeof(err)), 0);
    json_decref(t);
    assert_int_equal(TOKEN->hits, 2);
}

static void test_one_renewal_for_parallel_pages(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];

    (void)state;
    /* A token that lives 1 s (kept 0.5 s); learn the total with it. */
    token_expires = 1;
    assert_int_equal(fetch(GENRE_CLASSICAL, 10, &t, &st, err, sizeof(err)), 0);
    json_decref(t);
    assert_int_equal(TOKEN->hits, 1);
    /* Expired: the ten parallel pages of the next fetch all need a new
     * one at once, and share one (slow) renewal. */
    usleep(600 * 1000);
    TOKEN->delay_ms = 300;
    token_expires = 3600;
    assert_int_equal(fetch(GENRE_CLASSICAL, 100, &t, &st, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 100);
    json_decref(t);
    assert_int_equal(TOKEN->hits, 2);
    assert_int_equal(SEARCH->hits, 11);
}

static void test_search_failure(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];

    (void)state;
    SEARCH->status = 503;
    assert_int_equal(fetch(GENRE_ROCK, 5, &t, &st, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    json_decref(t);
    assert_int_equal(SEARCH->hits, 2); /* retried once */
    assert_non_null(strstr(err, "503"));
    assert_int_equal(st.pages, 1);
    assert_int_equal(st.pages_failed, 1);
}

static void test_rate_limit_gate(void **state)
{
    struct spotify_fetch_stats st;
    json_t *t = NULL;
    char err[256];
    int64_t at;

    (void)state;
    /* Learn the total, so the next fetches plan ten pages at once. */
    assert_int_equal(fetch(GENRE_ROCK, 10, &t, &st, err, sizeof(err)), 0);
    json_decref(t);
    pthread_mutex_lock(&fake_mu);
    SEARCH->status = 429;
    SEARCH->header = "Retry-After: 1";
    pthread_mutex_unlock(&fake_mu);
    assert_int_equal(fetch(GENRE_ROCK, 10, &t, &st, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    json_decref(t);
    assert_int_equal(SEARCH->hits, 2); /* not retried: the gate paces */
    at = spotify_retry_at(sp);
    assert_true(at > clock_mono_ms() && at <= clock_mono_ms() + 1000);

    /* Closed: ten pages wanted, none sent, from any genre. */
    assert_int_equal(fetch(GENRE_ROCK, 100, &t, &st, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    json_decref(t);
    assert_int_equal(fetch(GENRE_POP, 100, &t, &st, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    json_decref(t);
    assert_int_equal(SEARCH->hits, 2);
    assert_non_null(strstr(err, "rate limit"));

    /* Reopened but still limited: one probe, not ten requests. */
    usleep(1100 * 1000);
    assert_int_equal(fetch(GENRE_ROCK, 100, &t, &st, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    json_decref(t);
    assert_int_equal(SEARCH->hits, 3);

    /* Reopened and fine: the probe opens it for all ten pages. */
    pthread_mutex_lock(&fake_mu);
    SEARCH->status = 200;
    SEARCH->header = NULL;
    pthread_mutex_unlock(&fake_mu);
    usleep(1100 * 1000);
    assert_int_equal(fetch(GENRE_ROCK, 100, &t, &st, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(t), 100);
    assert_int_equal(st.pages_failed, 0);
    json_decref(t);
    assert_int_equal(SEARCH->hits, 13);
    assert_int_equal(spotify_retry_at(sp), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_token),
        cmocka_unit_test(test_decode_page),
        cmocka_unit_test(test_decode_page_text),
        cmocka_unit_test(test_decode_page_hostile),
        cmocka_unit_test(test_plan_pages),
        cmocka_unit_test_setup_teardown(test_first_fetch_probes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_offsets_vary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_and_empty_genres, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refresh_once_on_401, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_persistent_401, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_renewal_for_parallel_pages,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_gate, setup, teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
