/*
 * cache.c - see cache.h.
 *
 * DESIGN
 *
 * One mutex guards a chained hash table and a list of entries ordered by
 * the time of their last successful fetch (oldest first), so eviction and
 * expiry only ever look at the head.  An entry being fetched carries an
 * `inflight` mark; others asking for it wait on the cache's one condition
 * variable (a broadcast per completed fetch is cheap at a few dozen
 * threads) until the entry's generation moves on, then take the leader's
 * result or error.  `refs` counts the threads that hold a pointer to an
 * entry outside the lock, so nothing is freed under a waiter's feet.
 *
 * An entry whose first fetch failed holds no answer; it is dropped as
 * soon as nobody refers to it, so junk queries do not fill the cache.
 */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "errors.h"
#include "metrics.h"

struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* age list */
    uint32_t hash;
    int refs;
    int inflight;
    unsigned gen; /* completed fetches */
    int has_value;
    int64_t fetched_ms;
    struct weather_report value;
    int last_rc;
    char last_err[192];
    char key[]; /* NUL-terminated */
};

struct cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t ttl_ms;
    int64_t stale_ms;
    size_t max;
    size_t count;
    size_t nbuckets; /* power of two */
    struct entry **buckets;
    struct entry *head, *tail;
    int64_t (*now_ms)(void *);
    void *clock_ctx;
};

static int64_t mono_ms(void *unused)
{
    (void)unused;
    return clock_mono_ms();
}

/* Rounds to 2 decimals, half away from zero, without libm (|v| <= 180). */
static double round2(double v)
{
    double r = (double)(long)(v * 100.0 + (v < 0 ? -0.5 : 0.5)) / 100.0;

    return r == 0.0 ? 0.0 : r; /* no "-0.00" key beside "0.00" */
}

int cache_key(const struct weather_query *q, char buf[CACHE_KEY_MAX])
{
    size_t o = 2, i, n;
    int space = 0;

    if (q->city == NULL) {
        snprintf(buf, CACHE_KEY_MAX, "g:%.2f,%.2f", round2(q->lat),
                 round2(q->lon));
        return 0;
    }
    memcpy(buf, "c:", 2);
    n = strlen(q->city);
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)q->city[i];

        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' ||
            ch == '\f') {
            space = o > 2;
            continue;
        }
        /* Room for this byte, a pending space, "|CC" and the NUL. */
        if (o + 1 + (size_t)space + 4 > CACHE_KEY_MAX)
            return TEMPO_EINVAL;
        if (space)
            buf[o++] = ' ';
        space = 0;
        buf[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    buf[o++] = '|';
    if (q->country != NULL && strlen(q->country) == 2) {
        buf[o++] = q->country[0];
        buf[o++] = q->country[1];
    }
    buf[o] = '\0';
    return 0;
}

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

struct cache *cache_create(const struct cache_opts *o)
{
    struct cache *c = calloc(1, sizeof(*c));
    pthread_condattr_t ca;

    if (c == NULL)
        return NULL;
    c->ttl_ms = (int64_t)(o->ttl_s > 0 ? o->ttl_s : 0) * 1000;
    c->stale_ms = (int64_t)(o->stale_s > 0 ? o->stale_s : 0) * 1000;
    if (c->stale_ms < c->ttl_ms)
        c->stale_ms = c->ttl_ms; /* a fresh answer is never evicted as old */
    c->max = o->max_entries > 0 ? o->max_entries : 1;
    c->nbuckets = 64;
    while (c->nbuckets < c->max && c->nbuckets < (1u << 20))
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    c->now_ms = o->now_ms ? o->now_ms : mono_ms;
    c->clock_ctx = o->clock_ctx;
    pthread_mutex_init(&c->mu, NULL);
    /* Waits end at deadlines on CLOCK_MONOTONIC, immune to clock steps. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    return c;
}

void cache_destroy(struct cache *c)
{
    struct entry *e, *next;

    if (c == NULL)
        return;
    for (e = c->head; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    free(c->buckets);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static struct entry *find(struct cache *c, const char *key, uint32_t h)
{
    struct entry *e;

    for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void list_unlink(struct cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(struct cache *c, struct entry *e)
{
    e->prev = c->tail;
    e->next = NULL;
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
}

static void remove_entry(struct cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    list_unlink(c, e);
    c->count--;
    free(e);
}

static int idle(const struct entry *e)
{
    return e->refs == 0 && !e->inflight;
}

/* Drops answers too old even to serve stale, then the oldest idle entries
 * while the cache is full. */
static void make_room(struct cache *c, int64_t now)
{
    struct entry *e, *next;

    for (e = c->head; e != NULL && now - e->fetched_ms >= c->stale_ms;
         e = next) {
        next = e->next;
        if (idle(e))
            remove_entry(c, e);
    }
    for (e = c->head; e != NULL && c->count >= c->max; e = next) {
        next = e->next;
        if (idle(e))
            remove_entry(c, e);
    }
}

static struct entry *insert(struct cache *c, const char *key, uint32_t h,
                            int64_t now)
{
    size_t kl = strlen(key);
    struct entry *e;
    size_t b;

    make_room(c, now);
    e = calloc(1, sizeof(*e) + kl + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->key, key, kl + 1);
    e->hash = h;
    e->fetched_ms = now;
    b = h & (c->nbuckets - 1);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    list_append(c, e);
    c->count++;
    return e;
}

/* Serves e's old answer for a failed fetch if the failure is the
 * upstream's and the answer is young enough; else passes rc on. */
static int stale_or_fail(struct cache *c, struct entry *e, int rc, int64_t now,
                         struct weather_report *out, enum cache_how *how)
{
    if ((rc == TEMPO_EUPSTREAM || rc == TEMPO_ETIMEOUT) && e->has_value &&
        now - e->fetched_ms < c->stale_ms) {
        *out = e->value;
        *how = CACHE_STALE;
        wmetrics_cache(WM_CACHE_STALE);
        return 0;
    }
    return rc;
}

static void release(struct cache *c, struct entry *e)
{
    e->refs--;
    if (idle(e) && !e->has_value)
        remove_entry(c, e);
}

/* Waits for the fetch in flight on e; called and returns with c->mu held. */
static int wait_for_leader(struct cache *c, struct entry *e,
                           int64_t deadline_ms, struct weather_report *out,
                           enum cache_how *how, char *err, size_t errlen)
{
    unsigned gen0 = e->gen;
    struct timespec ts = {deadline_ms / 1000, (deadline_ms % 1000) * 1000000};
    int rc = 0;

    e->refs++;
    while (e->inflight && e->gen == gen0)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
            break;
    if (e->gen == gen0) {
        snprintf(err, errlen, "timed out waiting for the weather provider");
        rc = stale_or_fail(c, e, TEMPO_ETIMEOUT, c->now_ms(c->clock_ctx), out,
                           how);
    } else if (e->last_rc == 0) {
        *out = e->value;
        *how = CACHE_HIT;
    } else {
        snprintf(err, errlen, "%s", e->last_err);
        rc = stale_or_fail(c, e, e->last_rc, c->now_ms(c->clock_ctx), out, how);
    }
    release(c, e);
    return rc;
}

int cache_peek(struct cache *c, const char *key, struct weather_report *out)
{
    struct entry *e;
    int rc = -1;

    if (c->ttl_ms == 0)
        return -1;
    pthread_mutex_lock(&c->mu);
    e = find(c, key, hash_key(key));
    if (e != NULL && e->has_value && !e->inflight &&
        c->now_ms(c->clock_ctx) - e->fetched_ms < c->ttl_ms) {
        *out = e->value;
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == 0)
        wmetrics_cache(WM_CACHE_HIT);
    return rc;
}

int cache_get(struct cache *c, const char *key, cache_fetch_fn fetch, void *ctx,
              int64_t deadline_ms, struct weather_report *out,
              enum cache_how *how, char *err, size_t errlen)
{
    uint32_t h = hash_key(key);
    struct weather_report val;
    struct entry *e;
    int64_t now;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    if (c->ttl_ms == 0) {
        wmetrics_cache(WM_CACHE_MISS);
        rc = fetch(ctx, out, err, errlen);
        if (rc == 0)
            *how = CACHE_FETCHED;
        return rc;
    }

    pthread_mutex_lock(&c->mu);
    now = c->now_ms(c->clock_ctx);
    e = find(c, key, h);
    if (e != NULL && e->has_value && !e->inflight &&
        now - e->fetched_ms < c->ttl_ms) {
        *out = e->value;
        *how = CACHE_HIT;
        pthread_mutex_unlock(&c->mu);
        wmetrics_cache(WM_CACHE_HIT);
        return 0;
    }
    if (e != NULL && e->inflight) {
        wmetrics_cache(WM_CACHE_COALESCED);
        rc = wait_for_leader(c, e, deadline_ms, out, how, err, errlen);
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    if (e == NULL)
        e = insert(c, key, h, now);
    if (e == NULL) { /* out of memory: still answer, uncached */
        pthread_mutex_unlock(&c->mu);
        wmetrics_cache(WM_CACHE_MISS);
        rc = fetch(ctx, out, err, errlen);
        if (rc == 0)
            *how = CACHE_FETCHED;
        return rc;
    }
    e->inflight = 1;
    e->refs++;
    pthread_mutex_unlock(&c->mu);
    wmetrics_cache(WM_CACHE_MISS);

    rc = fetch(ctx, &val, err, errlen);

    pthread_mutex_lock(&c->mu);
    now = c->now_ms(c->clock_ctx);
    e->inflight = 0;
    e->gen++;
    e->last_rc = rc;
    if (rc == 0) {
        e->value = val;
        e->has_value = 1;
        e->fetched_ms = now;
        list_unlink(c, e);
        list_append(c, e);
        *out = val;
        *how = CACHE_FETCHED;
    } else {
        snprintf(e->last_err, sizeof(e->last_err), "%s",
                 errlen > 0 && err[0] ? err : "weather provider failed");
        rc = stale_or_fail(c, e, rc, now, out, how);
    }
    pthread_cond_broadcast(&c->cv);
    release(c, e);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

size_t cache_size(struct cache *c)
{
    size_t n;

    pthread_mutex_lock(&c->mu);
    n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}
