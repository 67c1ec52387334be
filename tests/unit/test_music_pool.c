/*
 * test_music_pool.c - the track pool: the pure core (selection without
 * repeats, the builder's deduplication, the tracks' serialised JSON, ages,
 * backoff, acceptance and every refresher decision) and the shell with a
 * scripted fetch and a test clock (one fetch for many cold waiters, no
 * waiting when asked not to, background refresh after 3/4 TTL, a failed
 * refresh keeps the old pool, expiry after 2 TTL, backoff after a failed
 * first fetch).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "http_client.h"
/* Both weather-service/ and gateway/ hold a metrics.h: name ours. */
#include "../../weather-service/metrics.h"
#include "music_pool.h"
#include "raw_json.h"

static uint64_t lcg(void *ctx)
{
    uint64_t *x = ctx;

    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 17;
}

/* mp_set_pick's tracks as the JSON array a reply carries. */
static json_t *pick_json(const struct mp_set *s, size_t k, uint64_t *seed)
{
    struct nameko_raw out[MP_PICK_MAX];

    return raw_json_array(out, mp_set_pick(s, k, lcg, seed, out));
}

/* ---- core ---- */

static void test_select(void **state)
{
    size_t out[64], count[20] = {0}, i, j, n, round;
    uint64_t seed = 7;

    (void)state;
    for (round = 0; round < 2000; round++) {
        n = mp_select(20, 5, lcg, &seed, out);
        assert_int_equal(n, 5);
        for (i = 0; i < n; i++) {
            assert_true(out[i] < 20);
            count[out[i]]++;
            for (j = i + 1; j < n; j++)
                assert_true(out[i] != out[j]); /* no repeats */
        }
    }
    /* Each index is drawn 1/4 of the time: 500 of 2000, well within
     * 350..650 for any decent generator. */
    for (i = 0; i < 20; i++)
        assert_true(count[i] > 350 && count[i] < 650);
    /* k >= n: a permutation of everything. */
    n = mp_select(7, 50, lcg, &seed, out);
    assert_int_equal(n, 7);
    memset(count, 0, sizeof(count));
    for (i = 0; i < n; i++)
        count[out[i]]++;
    for (i = 0; i < 7; i++)
        assert_int_equal(count[i], 1);
    assert_int_equal(mp_select(0, 5, lcg, &seed, out), 0);
    assert_int_equal(mp_select(5, 0, lcg, &seed, out), 0);
}

static void add(struct mp_builder *b, const char *uri, const char *name,
                const char *url, int want)
{
    const char *arts[2] = {"A1", "A2"};
    struct mp_track t = {name, uri, url, arts, 2};

    assert_int_equal(mp_builder_add(b, &t), want);
}

static void test_builder_and_set(void **state)
{
    struct mp_builder *b = mp_builder_create(3);
    struct mp_set *s;
    const struct mp_track *t;
    char uri[32];

    (void)state;
    assert_non_null(b);
    snprintf(uri, sizeof(uri), "spotify:track:1");
    add(b, uri, "One", "https://x/1", 1);
    uri[14] = '9'; /* the builder copied the first one */
    add(b, "spotify:track:1", "One again", NULL, 0); /* same uri */
    add(b, "spotify:track:2", "Two", NULL, 1);
    add(b, "spotify:track:3", "Three", "https://x/3", 1);
    add(b, "spotify:track:4", "Four", NULL, 0); /* full */
    assert_int_equal(mp_builder_count(b), 3);
    s = mp_builder_finish(b);
    assert_non_null(s);
    assert_int_equal(mp_set_size(s), 3);
    t = mp_set_track(s, 0);
    assert_string_equal(t->uri, "spotify:track:1");
    assert_string_equal(t->name, "One");
    assert_string_equal(t->url, "https://x/1");
    assert_int_equal(t->nartists, 2);
    assert_string_equal(t->artists[1], "A2");
    assert_null(mp_set_track(s, 1)->url);
    assert_null(mp_set_track(s, 3));
    /* A reader's reference outlives the owner's. */
    assert_ptr_equal(mp_set_ref(s), s);
    mp_set_unref(s);
    assert_int_equal(mp_set_size(s), 3);
    mp_set_unref(s);
    mp_set_unref(NULL);

    assert_null(mp_builder_finish(mp_builder_create(5))); /* empty */
}

static void test_sample_json(void **state)
{
    struct mp_builder *b = mp_builder_create(MUSIC_POOL_TRACKS);
    struct mp_set *s;
    json_t *a, *t, *want;
    uint64_t seed = 99;
    char uri[32], name[32];
    size_t i, j;
    int differ = 0;
    char *first = NULL;

    (void)state;
    for (i = 0; i < 30; i++) {
        snprintf(uri, sizeof(uri), "spotify:track:%zu", i);
        snprintf(name, sizeof(name), "Song %zu", i);
        add(b, uri, name, i == 0 ? "https://open.spotify.com/track/0" : NULL,
            1);
    }
    s = mp_builder_finish(b);
    for (i = 0; i < 20; i++) {
        char *d;

        a = pick_json(s, 10, &seed);
        assert_int_equal(json_array_size(a), 10);
        for (j = 0; j < 10; j++) {
            size_t k;

            t = json_array_get(a, j);
            for (k = j + 1; k < 10; k++)
                assert_string_not_equal(
                    json_string_value(json_object_get(t, "uri")),
                    json_string_value(
                        json_object_get(json_array_get(a, k), "uri")));
        }
        d = json_dumps(a, JSON_COMPACT);
        if (first == NULL)
            first = d;
        else {
            differ |= strcmp(first, d) != 0;
            free(d);
        }
        json_decref(a);
    }
    free(first);
    assert_true(differ);
    /* The reply's track shape: name, artists, uri, url when known. */
    a = pick_json(s, 100, &seed);
    assert_int_equal(json_array_size(a), 30);
    json_array_foreach(a, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "uri")),
                   "spotify:track:0") != 0)
            continue;
        want = json_pack("{s:s, s:[s,s], s:s, s:s}", "name", "Song 0",
                         "artists", "A1", "A2", "uri", "spotify:track:0", "url",
                         "https://open.spotify.com/track/0");
        assert_true(json_equal(t, want));
        json_decref(want);
    }
    json_decref(a);
    mp_set_unref(s);
}

static void test_timing(void **state)
{
    (void)state;
    assert_int_equal(mp_age_of(0, 1000), MP_FRESH);
    assert_int_equal(mp_age_of(999, 1000), MP_FRESH);
    assert_int_equal(mp_age_of(1000, 1000), MP_STALE);
    assert_int_equal(mp_age_of(1999, 1000), MP_STALE);
    assert_int_equal(mp_age_of(2000, 1000), MP_EXPIRED);

    /* 1 s doubling, at most TTL/4 and 60 s, at least 1 s. */
    assert_int_equal(mp_backoff_ms(1, 3600000), 1000);
    assert_int_equal(mp_backoff_ms(2, 3600000), 2000);
    assert_int_equal(mp_backoff_ms(4, 3600000), 8000);
    assert_int_equal(mp_backoff_ms(7, 3600000), 60000);
    assert_int_equal(mp_backoff_ms(1000, 3600000), 60000);
    assert_int_equal(mp_backoff_ms(3, 10000), 2500);
    assert_int_equal(mp_backoff_ms(3, 2000), 1000);

    assert_false(mp_accept(0, 200, 0));
    assert_true(mp_accept(13, 13, 0));
    assert_true(mp_accept(10, 200, 0)); /* every page answered */
    assert_true(mp_accept(100, 200, 10));
    assert_false(mp_accept(90, 200, 11));
}

static void expect(const struct mp_state *st, int64_t now, enum mp_action a,
                   int64_t wake)
{
    int64_t w = -1;

    assert_int_equal(mp_decide(st, now, 1000, &w), a);
    if (a == MP_IDLE)
        assert_int_equal(w, wake);
}

static void test_decide(void **state)
{
    struct mp_state st = {0};

    (void)state;
    /* No pool, nobody asked: sleep until asked. */
    expect(&st, 5000, MP_IDLE, INT64_MAX);
    st.demand = 1;
    expect(&st, 5000, MP_REFRESH, 0);
    /* A failed first fetch: not before next_try. */
    st.failures = 1;
    st.next_try_ms = 6000;
    expect(&st, 5000, MP_IDLE, 6000);
    expect(&st, 6000, MP_REFRESH, 0);
    st.demand = 0;
    expect(&st, 6000, MP_IDLE, INT64_MAX);

    /* A pool fetched at 10,000 (TTL 1,000): refresh due at 10,750. */
    memset(&st, 0, sizeof(st));
    st.has_set = 1;
    st.fetched_ms = 10000;
    st.last_used_ms = 10100;
    expect(&st, 10100, MP_IDLE, 10750);
    expect(&st, 10750, MP_REFRESH, 0);
    /* Not used since it was fetched: let it age until it expires. */
    st.last_used_ms = 9000;
    expect(&st, 10750, MP_IDLE, 12000);
    expect(&st, 11999, MP_IDLE, 12000);
    expect(&st, 12000, MP_DROP, 0);
    /* A failed refresh backs off, and the old pool still serves. */
    st.last_used_ms = 10800;
    st.failures = 2;
    st.next_try_ms = 11500;
    expect(&st, 10800, MP_IDLE, 11500);
    expect(&st, 11500, MP_REFRESH, 0);
    expect(&st, 12000, MP_DROP, 0); /* expired even while failing */
}

/* ---- shell ---- */

static atomic_llong clock_ms;
static atomic_int fetches, fail_next, fetch_delay_ms;
static atomic_llong fetch_retry_at;

static int64_t test_now(void *ctx)
{
    (void)ctx;
    return atomic_load(&clock_ms);
}

/* Serves `want` tracks tagged with the fetch's number, or fails. */
static int scripted_fetch(void *ctx, enum genre g, size_t want,
                          int64_t deadline_ms, struct mp_builder *b,
                          struct music_pool_fetch_result *res, char *err,
                          size_t errlen)
{
    int n = atomic_fetch_add(&fetches, 1) + 1;
    size_t i;

    (void)ctx;
    (void)deadline_ms;
    if (atomic_load(&fetch_delay_ms) > 0)
        usleep((useconds_t)atomic_load(&fetch_delay_ms) * 1000);
    res->wanted = want;
    res->pages_failed = 0;
    res->retry_at_ms = atomic_load(&fetch_retry_at);
    if (atomic_load(&fail_next)) {
        res->pages_failed = 1;
        snprintf(err, errlen, "spotify search answered HTTP 500");
        return TEMPO_EUPSTREAM;
    }
    for (i = 0; i < want; i++) {
        char uri[64], name[64];
        const char *arts[1] = {"Band"};
        struct mp_track t = {name, uri, NULL, arts, 1};

        snprintf(uri, sizeof(uri), "spotify:track:%s-%d-%zu", genre_name(g), n,
                 i);
        snprintf(name, sizeof(name), "Fetch %d song %zu", n, i);
        mp_builder_add(b, &t);
    }
    return 0;
}

static struct music_pool *pool;

static int shell_setup(void **state)
{
    struct music_pool_opts o = {0};

    (void)state;
    atomic_store(&clock_ms, 1000000);
    atomic_store(&fetches, 0);
    atomic_store(&fail_next, 0);
    atomic_store(&fetch_delay_ms, 0);
    atomic_store(&fetch_retry_at, 0);
    o.ttl_ms = 3600000;
    o.target = 40;
    o.fetch_budget_ms = 5000;
    o.fetch = scripted_fetch;
    o.now_ms = test_now;
    pool = music_pool_create(&o);
    assert_non_null(pool);
    return 0;
}

static int shell_teardown(void **state)
{
    (void)state;
    music_pool_destroy(pool);
    return 0;
}

/* 10 tracks of g's pool, as a reply would carry them. */
static int sample(enum genre g, int wait, json_t **out, char *err)
{
    static _Thread_local uint64_t seed = 1;
    struct mp_set *set = NULL;
    int rc;

    *out = NULL;
    rc = music_pool_get(pool, g, wait, clock_mono_ms() + 5000, &set, err, 200);
    if (rc == 0) {
        *out = pick_json(set, 10, &seed);
        mp_set_unref(set);
    }
    return rc;
}

/* The fetch number the tracks of a sample came from. */
static int fetch_of(const json_t *tracks)
{
    const char *name =
        json_string_value(json_object_get(json_array_get(tracks, 0), "name"));
    int n = 0;

    assert_non_null(name);
    assert_int_equal(sscanf(name, "Fetch %d", &n), 1);
    return n;
}

/* Waits (bounded) until `fetches` reaches n and its result is in. */
static void wait_fetches(int n)
{
    int i;

    for (i = 0; i < 500 && atomic_load(&fetches) < n; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&fetches), n);
    usleep(50000); /* the refresher publishes right after the fetch */
}

struct waiter {
    int rc;
    size_t n;
};

static void *cold_waiter(void *arg)
{
    struct waiter *w = arg;
    json_t *t;
    char err[200];

    w->rc = sample(GENRE_ROCK, 1, &t, err);
    w->n = json_array_size(t);
    json_decref(t);
    return NULL;
}

static void test_cold_start_one_fetch(void **state)
{
    struct waiter w[8];
    pthread_t th[8];
    json_t *t;
    char err[200];
    int i;

    (void)state;
    /* Without waiting: nothing to serve, and nothing asked for. */
    assert_int_equal(sample(GENRE_ROCK, 0, &t, err), MUSIC_POOL_WOULD_BLOCK);
    usleep(50000);
    assert_int_equal(atomic_load(&fetches), 0);
    assert_int_equal(music_pool_size(pool, GENRE_ROCK), 0);

    atomic_store(&fetch_delay_ms, 200);
    for (i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, cold_waiter, &w[i]), 0);
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, 0);
        assert_int_equal(w[i].n, 10);
    }
    assert_int_equal(atomic_load(&fetches), 1); /* coalesced */
    assert_int_equal(music_pool_size(pool, GENRE_ROCK), 40);
    /* Other genres are separate pools. */
    assert_int_equal(music_pool_size(pool, GENRE_POP), 0);
    /* Warm: answered without waiting, and no more fetches. */
    for (i = 0; i < 50; i++) {
        assert_int_equal(sample(GENRE_ROCK, 0, &t, err), 0);
        json_decref(t);
    }
    assert_int_equal(atomic_load(&fetches), 1);
}

static void test_refresh_and_failure(void **state)
{
    json_t *t;
    char err[200], *text;
    size_t len;
    int i, n = 0;

    (void)state;
    assert_int_equal(sample(GENRE_POP, 1, &t, err), 0);
    assert_int_equal(fetch_of(t), 1);
    json_decref(t);

    /* Before 3/4 TTL nothing happens; after it, the next use wakes the
     * refresher, which fetches in the background. */
    atomic_fetch_add(&clock_ms, 2000000);
    assert_int_equal(sample(GENRE_POP, 0, &t, err), 0);
    json_decref(t);
    usleep(50000);
    assert_int_equal(atomic_load(&fetches), 1);
    atomic_fetch_add(&clock_ms, 800000); /* 2,800 s: due */
    assert_int_equal(sample(GENRE_POP, 0, &t, err), 0);
    assert_int_equal(fetch_of(t), 1); /* still the old one, at once */
    json_decref(t);
    wait_fetches(2);
    assert_int_equal(sample(GENRE_POP, 0, &t, err), 0);
    assert_int_equal(fetch_of(t), 2);
    json_decref(t);

    /* A failed refresh keeps serving the old pool, and says so. */
    atomic_store(&fail_next, 1);
    atomic_fetch_add(&clock_ms, 2700000);
    assert_int_equal(sample(GENRE_POP, 0, &t, err), 0);
    json_decref(t);
    wait_fetches(3);
    text = wmetrics_render(&len);
    assert_non_null(strstr(text, "tempo_worker_music_pool_refresh_failures_"
                                 "total{genre=\"pop\"} 1\n"));
    assert_non_null(strstr(text, "tempo_worker_music_pool_refreshes_total{"
                                 "genre=\"pop\"} 2\n"));
    assert_non_null(strstr(text, "tempo_worker_music_pool_tracks{genre="
                                 "\"pop\"} 40\n"));
    free(text);
    /* Stale (3,700 s old) and still failing: still served. */
    atomic_fetch_add(&clock_ms, 1000000);
    for (i = 0; i < 5; i++) {
        assert_int_equal(sample(GENRE_POP, 0, &t, err), 0);
        assert_int_equal(fetch_of(t), 2);
        json_decref(t);
    }

    /* Spotify back: a retry after the backoff succeeds. */
    atomic_store(&fail_next, 0);
    for (i = 0; i < 1000; i++) {
        assert_int_equal(sample(GENRE_POP, 0, &t, err), 0);
        n = fetch_of(t);
        json_decref(t);
        if (n > 3)
            break;
        /* The pool's time passes too: backoffs run on its clock. */
        atomic_fetch_add(&clock_ms, 100);
        usleep(10000);
    }
    assert_true(n > 3);
}

static void test_expiry(void **state)
{
    json_t *t;
    char err[200];

    (void)state;
    assert_int_equal(sample(GENRE_PARTY, 1, &t, err), 0);
    json_decref(t);
    /* Twice the TTL without a successful refresh: never served again. */
    atomic_store(&fail_next, 1);
    atomic_fetch_add(&clock_ms, 7200000);
    assert_int_equal(sample(GENRE_PARTY, 1, &t, err), TEMPO_EUPSTREAM);
    assert_non_null(strstr(err, "HTTP 500"));
    assert_int_equal(music_pool_size(pool, GENRE_PARTY), 0);
    assert_int_equal(atomic_load(&fetches), 2);
}

static void test_cold_failure_backs_off(void **state)
{
    json_t *t;
    char err[200];
    int i;

    (void)state;
    atomic_store(&fail_next, 1);
    atomic_store(&fetch_retry_at, clock_mono_ms() + 60000); /* Retry-After */
    assert_int_equal(sample(GENRE_CLASSICAL, 1, &t, err), TEMPO_EUPSTREAM);
    assert_int_equal(atomic_load(&fetches), 1);
    /* Backing off: every caller gets the error at once, waiting or not,
     * and nothing is fetched for them. */
    for (i = 0; i < 20; i++) {
        assert_int_equal(sample(GENRE_CLASSICAL, i % 2, &t, err),
                         MUSIC_POOL_UNAVAILABLE);
        assert_non_null(strstr(err, "HTTP 500 (retrying later)"));
    }
    usleep(1200 * 1000); /* past the 1 s backoff, not the Retry-After */
    assert_int_equal(sample(GENRE_CLASSICAL, 1, &t, err),
                     MUSIC_POOL_UNAVAILABLE);
    assert_int_equal(atomic_load(&fetches), 1);
    /* Once the Retry-After has passed, the next caller's wait fetches. */
    atomic_store(&fail_next, 0);
    atomic_fetch_add(&clock_ms, 61000);
    assert_int_equal(sample(GENRE_CLASSICAL, 1, &t, err), 0);
    json_decref(t);
    assert_int_equal(atomic_load(&fetches), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_builder_and_set),
        cmocka_unit_test(test_sample_json),
        cmocka_unit_test(test_timing),
        cmocka_unit_test(test_decide),
        cmocka_unit_test_setup_teardown(test_cold_start_one_fetch, shell_setup,
                                        shell_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_and_failure, shell_setup,
                                        shell_teardown),
        cmocka_unit_test_setup_teardown(test_expiry, shell_setup,
                                        shell_teardown),
        cmocka_unit_test_setup_teardown(test_cold_failure_backs_off,
                                        shell_setup, shell_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
