/*
 * test_cache.c - the weather cache: key normalisation, TTL (on a fake
 * clock), stale answers when the provider fails, coalescing of concurrent
 * lookups into one fetch (real threads), waiter deadlines, the size bound
 * and UTF-8-safe name truncation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "errors.h"

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A scripted provider: returns `rc` (and temp) after `delay_ms`. */
struct provider {
    int calls;
    int rc;
    double temp;
    int delay_ms;
};

static int fetch(void *ctx, struct weather_report *out, char *err,
                 size_t errlen)
{
    struct provider *p = ctx;
    int rc;

    __atomic_add_fetch(&p->calls, 1, __ATOMIC_SEQ_CST);
    if (p->delay_ms > 0)
        usleep((useconds_t)p->delay_ms * 1000);
    rc = __atomic_load_n(&p->rc, __ATOMIC_SEQ_CST);
    if (rc != 0) {
        snprintf(err, errlen, "provider says %d", rc);
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->temp_c = p->temp;
    snprintf(out->name, sizeof(out->name), "Town");
    return 0;
}

static struct cache *make(long ttl_s, long stale_s, size_t max)
{
    struct cache_opts o = {.ttl_s = ttl_s,
                           .stale_s = stale_s,
                           .max_entries = max,
                           .now_ms = fake_clock};
    struct cache *c = cache_create(&o);

    assert_non_null(c);
    fake_now = 1000000;
    return c;
}

static int get(struct cache *c, const char *key, struct provider *p,
               struct weather_report *r, enum cache_how *how)
{
    char err[128];

    return cache_get(c, key, fetch, p, mono_ms() + 5000, r, how, err,
                     sizeof(err));
}

static void key_of(const char *city, const char *cc, char *out)
{
    struct weather_query q = {.city = city, .country = cc};

    assert_int_equal(cache_key(&q, out), 0);
}

static void test_key_normalisation(void **state)
{
    char a[CACHE_KEY_MAX], b[CACHE_KEY_MAX];
    struct weather_query q = {0};
    char long_city[300];

    (void)state;
    key_of("London", NULL, a);
    assert_string_equal(a, "c:london|");
    key_of("  LONDON\t", NULL, b);
    assert_string_equal(a, b);
    key_of("New   York", "US", a);
    assert_string_equal(a, "c:new york|US");
    key_of("new york ", "US", b);
    assert_string_equal(a, b);
    key_of("London", "CA", a);
    key_of("London", "GB", b);
    assert_string_not_equal(a, b);
    key_of("S\xc3\x83O PAULO", NULL, a); /* non-ASCII bytes kept as is */
    assert_string_equal(a, "c:s\xc3\x83o paulo|");

    q.lat = 51.5074;
    q.lon = -0.1278;
    assert_int_equal(cache_key(&q, a), 0);
    assert_string_equal(a, "g:51.51,-0.13");
    q.lat = 51.5051;
    q.lon = -0.1251;
    assert_int_equal(cache_key(&q, b), 0);
    assert_string_equal(a, b);
    q.lat = -0.001; /* no "-0.00" twin of "0.00" */
    q.lon = 0.004;
    assert_int_equal(cache_key(&q, a), 0);
    assert_string_equal(a, "g:0.00,0.00");

    memset(long_city, 'a', sizeof(long_city) - 1);
    long_city[sizeof(long_city) - 1] = '\0';
    q.city = long_city;
    assert_int_equal(cache_key(&q, a), TEMPO_EINVAL);
    long_city[200] = '\0'; /* the longest valid city fits */
    assert_int_equal(cache_key(&q, a), 0);
}

static void test_ttl(void **state)
{
    struct cache *c = make(600, 3600, 100);
    struct provider p = {.temp = 12.5};
    struct weather_report r;
    enum cache_how how;

    (void)state;
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    assert_int_equal(how, CACHE_FETCHED);
    assert_true(r.temp_c == 12.5);
    assert_string_equal(r.name, "Town");

    p.temp = 30.0;
    fake_now += 599 * 1000;
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    assert_int_equal(how, CACHE_HIT);
    assert_true(r.temp_c == 12.5);
    assert_int_equal(p.calls, 1);

    fake_now += 1000; /* exactly the TTL: expired */
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    assert_int_equal(how, CACHE_FETCHED);
    assert_true(r.temp_c == 30.0);
    assert_int_equal(p.calls, 2);

    assert_int_equal(get(c, "other", &p, &r, &how), 0);
    assert_int_equal(p.calls, 3);
    assert_int_equal(cache_size(c), 2);
    cache_destroy(c);
}

/* cache_peek answers fresh hits only, never fetching: it is what lets the
 * worker's AMQP thread serve a call without a pool thread. */
static void test_peek(void **state)
{
    struct cache *c = make(600, 3600, 100);
    struct provider p = {.temp = 7.5};
    struct weather_report r;
    enum cache_how how;

    (void)state;
    assert_int_equal(cache_peek(c, "k", &r), -1); /* absent */
    assert_int_equal(p.calls, 0);
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(cache_peek(c, "k", &r), 0);
    assert_true(r.temp_c == 7.5);
    assert_string_equal(r.name, "Town");
    fake_now += 600 * 1000; /* expired: a peek does not serve stale */
    assert_int_equal(cache_peek(c, "k", &r), -1);
    assert_int_equal(p.calls, 1);
    cache_destroy(c);

    c = make(0, 0, 100); /* cache off: never a hit */
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    assert_int_equal(cache_peek(c, "k", &r), -1);
    cache_destroy(c);
}

static void test_ttl_zero_disables(void **state)
{
    struct cache *c = make(0, 3600, 100);
    struct provider p = {.temp = 1.0};
    struct weather_report r;
    enum cache_how how;

    (void)state;
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    assert_int_equal(how, CACHE_FETCHED);
    assert_int_equal(p.calls, 2);
    assert_int_equal(cache_size(c), 0);
    cache_destroy(c);
}

static void test_stale_on_upstream_failure(void **state)
{
    struct cache *c = make(60, 3600, 100);
    struct provider p = {.temp = 8.0};
    struct weather_report r;
    enum cache_how how;
    char err[128];

    (void)state;
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    fake_now += 120 * 1000; /* past TTL */
    p.rc = TEMPO_EUPSTREAM;
    p.temp = 99.0;
    assert_int_equal(cache_get(c, "k", fetch, &p, mono_ms() + 1000, &r, &how,
                               err, sizeof(err)),
                     0);
    assert_int_equal(how, CACHE_STALE);
    assert_true(r.temp_c == 8.0);
    assert_non_null(strstr(err, "provider says")); /* why, for the log */
    assert_int_equal(p.calls, 2);

    p.rc = TEMPO_ETIMEOUT;
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    assert_int_equal(how, CACHE_STALE);

    /* City-not-found is an answer, not a failure: no stale for it. */
    p.rc = TEMPO_ENOCITY;
    assert_int_equal(get(c, "k", &p, &r, &how), TEMPO_ENOCITY);

    /* Too old even for stale. */
    p.rc = TEMPO_EUPSTREAM;
    fake_now += 3600 * 1000;
    assert_int_equal(get(c, "k", &p, &r, &how), TEMPO_EUPSTREAM);

    /* A success refreshes the entry. */
    p.rc = 0;
    p.temp = 20.0;
    assert_int_equal(get(c, "k", &p, &r, &how), 0);
    assert_int_equal(how, CACHE_FETCHED);
    assert_true(r.temp_c == 20.0);
    cache_destroy(c);
}

static void test_failed_first_fetch_leaves_nothing(void **state)
{
    struct cache *c = make(60, 3600, 100);
    struct provider p = {.rc = TEMPO_ENOCITY};
    struct weather_report r;
    enum cache_how how;

    (void)state;
    assert_int_equal(get(c, "atlantis", &p, &r, &how), TEMPO_ENOCITY);
    assert_int_equal(cache_size(c), 0);
    p.rc = TEMPO_EUPSTREAM;
    assert_int_equal(get(c, "atlantis", &p, &r, &how), TEMPO_EUPSTREAM);
    assert_int_equal(p.calls, 2);
    assert_int_equal(cache_size(c), 0);
    cache_destroy(c);
}

struct racer {
    struct cache *c;
    struct provider *p;
    int rc;
    enum cache_how how;
    double temp;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct weather_report rep;
    char err[128];

    r->rc = cache_get(r->c, "same", fetch, r->p, mono_ms() + 5000, &rep,
                      &r->how, err, sizeof(err));
    r->temp = rep.temp_c;
    return NULL;
}

static void run_race(struct cache *c, struct provider *p, struct racer *rs,
                     int n)
{
    pthread_t th[16];
    int i;

    for (i = 0; i < n; i++) {
        rs[i].c = c;
        rs[i].p = p;
        assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    }
    for (i = 0; i < n; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
}

static void test_coalescing(void **state)
{
    struct cache *c = make(60, 3600, 100);
    struct provider p = {.temp = 17.0, .delay_ms = 300};
    struct racer rs[8];
    int i, fetched = 0;

    (void)state;
    memset(rs, 0, sizeof(rs));
    run_race(c, &p, rs, 8);
    assert_int_equal(p.calls, 1);
    for (i = 0; i < 8; i++) {
        assert_int_equal(rs[i].rc, 0);
        assert_true(rs[i].temp == 17.0);
        fetched += rs[i].how == CACHE_FETCHED;
    }
    assert_int_equal(fetched, 1);
    cache_destroy(c);
}

static void test_coalesced_failure(void **state)
{
    struct cache *c = make(60, 3600, 100);
    struct provider p = {.rc = TEMPO_EUPSTREAM, .delay_ms = 300};
    struct racer rs[6];
    int i;

    (void)state;
    memset(rs, 0, sizeof(rs));
    run_race(c, &p, rs, 6);
    assert_int_equal(p.calls, 1); /* one failure, shared */
    for (i = 0; i < 6; i++)
        assert_int_equal(rs[i].rc, TEMPO_EUPSTREAM);
    assert_int_equal(cache_size(c), 0);
    cache_destroy(c);
}

static void test_waiter_deadline(void **state)
{
    struct cache *c = make(60, 3600, 100);
    struct provider p = {.temp = 5.0, .delay_ms = 600};
    struct racer leader = {0};
    struct weather_report r;
    enum cache_how how;
    pthread_t th;
    char err[128];
    int64_t t0;

    (void)state;
    leader.c = c;
    leader.p = &p;
    assert_int_equal(pthread_create(&th, NULL, race, &leader), 0);
    usleep(100 * 1000); /* let the leader start its fetch */
    t0 = mono_ms();
    assert_int_equal(cache_get(c, "same", fetch, &p, mono_ms() + 100, &r, &how,
                               err, sizeof(err)),
                     TEMPO_ETIMEOUT);
    assert_true(mono_ms() - t0 < 400);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(leader.rc, 0);
    assert_int_equal(p.calls, 1);
    cache_destroy(c);
}

static void test_size_bound_evicts_oldest(void **state)
{
    struct cache *c = make(600, 3600, 3);
    struct provider p = {.temp = 1.0};
    struct weather_report r;
    enum cache_how how;
    char key[8];
    int i;

    (void)state;
    for (i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(get(c, key, &p, &r, &how), 0);
        fake_now += 1000;
        assert_true(cache_size(c) <= 3);
    }
    assert_int_equal(p.calls, 5);
    assert_int_equal(get(c, "k4", &p, &r, &how), 0); /* newest: kept */
    assert_int_equal(how, CACHE_HIT);
    assert_int_equal(get(c, "k0", &p, &r, &how), 0); /* oldest: gone */
    assert_int_equal(how, CACHE_FETCHED);
    assert_int_equal(p.calls, 6);
    cache_destroy(c);
}

static void test_report_name_truncation(void **state)
{
    struct weather_report r;
    char name[600];
    size_t i, n;

    (void)state;
    for (i = 0; i + 1 < sizeof(name); i += 2) {
        name[i] = (char)0xC3; /* "é" */
        name[i + 1] = (char)0xA9;
    }
    name[sizeof(name) - 1] = '\0';
    /* Offset by one ASCII byte so the cut would fall mid-character. */
    name[0] = 'x';
    weather_report_set_name(&r, name, strlen(name));
    n = strlen(r.name);
    assert_true(n < WEATHER_NAME_MAX);
    assert_true(n >= WEATHER_NAME_MAX - 3);
    assert_true(((unsigned char)r.name[n - 1] & 0xC0) == 0x80); /* whole */
    weather_report_set_name(&r, "Paris", 5);
    assert_string_equal(r.name, "Paris");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_normalisation),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_ttl_zero_disables),
        cmocka_unit_test(test_stale_on_upstream_failure),
        cmocka_unit_test(test_failed_first_fetch_leaves_nothing),
        cmocka_unit_test(test_coalescing),
        cmocka_unit_test(test_coalesced_failure),
        cmocka_unit_test(test_waiter_deadline),
        cmocka_unit_test(test_size_bound_evicts_oldest),
        cmocka_unit_test(test_report_name_truncation),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
