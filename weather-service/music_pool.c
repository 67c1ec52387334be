/*
 * music_pool.c - see music_pool.h.
 *
 * DESIGN
 *
 * Core.  A set is an array of tracks, each one malloc'd block holding its
 * strings, artist pointers and its reply JSON (serialised once, when it
 * is added), plus an atomic reference count: readers take a reference
 * under the genre's lock and pick their tracks after releasing it, so a
 * refresh can swap sets while replies are being built, and a reply
 * splices the tracks' bytes instead of building and serialising a jansson
 * tree per request (which was half of a Spotify-backed reply's cost).
 * The builder deduplicates by uri with an open-addressing hash table.
 * Timing (mp_decide) is a pure function of the genre's state and the
 * time, so every transition is unit-tested.
 *
 * Shell.  One refresher thread per genre sleeps on the genre's condition
 * variable until mp_decide's wake time or a request's signal, runs the
 * fetch without the lock, then publishes the new set (or the failure) and
 * broadcasts to waiting requests, exactly like the weather cache's leader
 * and waiters, except that the leader is never a request.  Requests never
 * call upstream, so a request with a pool never waits for Spotify.
 *
 * Clock and randomness are the only external inputs: the clock is
 * opts.now_ms (default common/clock's CLOCK_MONOTONIC milliseconds, which
 * real waits use too) and randomness comes from the caller (service.c
 * passes common/rng).
 */
#include "music_pool.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "errors.h"
#include "metrics.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000

/* ---- core: sets and builders --------------------------------------------- */

struct mp_set {
    atomic_int refs;
    size_t n;
    struct mp_track *t;
    struct nameko_raw *json; /* each track as it goes into a reply */
    void **blocks;           /* one per track */
};

struct mp_builder {
    size_t max, n;
    struct mp_track *t;
    struct nameko_raw *json;
    void **blocks;
    size_t nslots; /* power of two, > 2 max */
    size_t *slots; /* index + 1 into t; 0 = empty */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct mp_builder *mp_builder_create(size_t max)
{
    struct mp_builder *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    b->max = max;
    b->nslots = 16;
    while (b->nslots <= 2 * max)
        b->nslots *= 2;
    b->t = calloc(max > 0 ? max : 1, sizeof(*b->t));
    b->json = calloc(max > 0 ? max : 1, sizeof(*b->json));
    b->blocks = calloc(max > 0 ? max : 1, sizeof(*b->blocks));
    b->slots = calloc(b->nslots, sizeof(*b->slots));
    if (b->t == NULL || b->json == NULL || b->blocks == NULL ||
        b->slots == NULL) {
        mp_builder_destroy(b);
        return NULL;
    }
    return b;
}

void mp_builder_destroy(struct mp_builder *b)
{
    size_t i;

    if (b == NULL)
        return;
    for (i = 0; i < b->n; i++)
        free(b->blocks[i]);
    free(b->t);
    free(b->json);
    free(b->blocks);
    free(b->slots);
    free(b);
}

size_t mp_builder_count(const struct mp_builder *b)
{
    return b->n;
}

/* Copies s to *pos (advancing it) and returns the copy. */
static const char *copy_str(char **pos, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = *pos;

    memcpy(d, s, n);
    *pos += n;
    return d;
}

/*
 * The track as it goes into a reply, serialised once per refresh (a
 * sample then costs a few pointers).  Its strings were validated as UTF-8
 * when they were decoded.  A new malloc'd string, or NULL.
 */
static char *track_json(const struct mp_track *t)
{
    json_t *o = json_object(), *artists = json_array();
    char *text = NULL;
    size_t i;
    int bad = o == NULL || artists == NULL;

    /* The _new calls take the value even when they fail. */
    for (i = 0; !bad && i < t->nartists; i++)
        bad |=
            json_array_append_new(artists, json_string_nocheck(t->artists[i]));
    if (!bad) {
        bad |= json_object_set_new_nocheck(o, "name",
                                           json_string_nocheck(t->name));
        bad |= json_object_set_new_nocheck(o, "artists", artists);
        artists = NULL;
        bad |=
            json_object_set_new_nocheck(o, "uri", json_string_nocheck(t->uri));
        if (t->url != NULL)
            bad |= json_object_set_new_nocheck(o, "url",
                                               json_string_nocheck(t->url));
    }
    if (!bad)
        text = nameko_dumps(o);
    json_decref(artists);
    json_decref(o);
    return text;
}

int mp_builder_add(struct mp_builder *b, const struct mp_track *t)
{
    size_t need, i, slot, jlen;
    const char **arts;
    char *block, *pos, *json;
    struct mp_track *out;

    if (b->n >= b->max || t->nartists == 0 || t->name == NULL || t->uri == NULL)
        return 0;
    slot = (size_t)hash_str(t->uri) & (b->nslots - 1);
    while (b->slots[slot] != 0) {
        if (strcmp(b->t[b->slots[slot] - 1].uri, t->uri) == 0)
            return 0;
        slot = (slot + 1) & (b->nslots - 1);
    }
    json = track_json(t);
    if (json == NULL)
        return TEMPO_EINTERNAL;
    jlen = strlen(json);
    need = t->nartists * sizeof(char *) + strlen(t->name) + strlen(t->uri) +
           (t->url != NULL ? strlen(t->url) + 1 : 0) + 2 + jlen + 1;
    for (i = 0; i < t->nartists; i++)
        need += strlen(t->artists[i]) + 1;
    block = malloc(need);
    if (block == NULL) {
        free(json);
        return TEMPO_EINTERNAL;
    }
    arts = (const char **)(void *)block;
    pos = block + t->nartists * sizeof(char *);
    out = &b->t[b->n];
    for (i = 0; i < t->nartists; i++)
        arts[i] = copy_str(&pos, t->artists[i]);
    out->artists = arts;
    out->nartists = t->nartists;
    out->name = copy_str(&pos, t->name);
    out->uri = copy_str(&pos, t->uri);
    out->url = t->url != NULL ? copy_str(&pos, t->url) : NULL;
    b->json[b->n].json = copy_str(&pos, json);
    b->json[b->n].len = jlen;
    free(json);
    b->blocks[b->n] = block;
    b->slots[slot] = ++b->n;
    return 1;
}

struct mp_set *mp_builder_finish(struct mp_builder *b)
{
    struct mp_set *s;

    if (b == NULL)
        return NULL;
    s = b->n > 0 ? calloc(1, sizeof(*s)) : NULL;
    if (s == NULL) {
        mp_builder_destroy(b);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->n = b->n;
    s->t = b->t;
    s->json = b->json;
    s->blocks = b->blocks;
    b->t = NULL;
    b->json = NULL;
    b->blocks = NULL;
    b->n = 0;
    mp_builder_destroy(b);
    return s;
}

struct mp_set *mp_set_ref(struct mp_set *s)
{
    if (s != NULL)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void mp_set_unref(struct mp_set *s)
{
    size_t i;

    if (s == NULL ||
        atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (i = 0; i < s->n; i++)
        free(s->blocks[i]);
    free(s->blocks);
    free(s->json);
    free(s->t);
    free(s);
}

size_t mp_set_size(const struct mp_set *s)
{
    return s != NULL ? s->n : 0;
}

const struct mp_track *mp_set_track(const struct mp_set *s, size_t i)
{
    return s != NULL && i < s->n ? &s->t[i] : NULL;
}

/* ---- core: selection ----------------------------------------------------- */

size_t mp_select(size_t n, size_t k, uint64_t (*rnd)(void *), void *rctx,
                 size_t *out)
{
    size_t m = 0, j, i, tmp;

    if (k > n)
        k = n;
    /* Floyd: for j in n-k..n-1, take a random t in 0..j, or j itself if t
     * is already taken.  Every k-subset is equally likely. */
    for (j = n - k; j < n; j++) {
        size_t t = (size_t)(rnd(rctx) % (j + 1));

        for (i = 0; i < m && out[i] != t; i++)
            ;
        out[m] = i < m ? j : t;
        m++;
    }
    /* Floyd's order is not uniform: shuffle (Fisher-Yates). */
    for (i = m; i > 1; i--) {
        j = (size_t)(rnd(rctx) % i);
        tmp = out[i - 1];
        out[i - 1] = out[j];
        out[j] = tmp;
    }
    return m;
}

size_t mp_set_pick(const struct mp_set *s, size_t k, uint64_t (*rnd)(void *),
                   void *rctx, struct nameko_raw *out)
{
    size_t idx[MP_PICK_MAX], m, i;

    if (k > MP_PICK_MAX)
        k = MP_PICK_MAX;
    m = mp_select(mp_set_size(s), k, rnd, rctx, idx);
    for (i = 0; i < m; i++)
        out[i] = s->json[idx[i]];
    return m;
}

/* ---- core: timing -------------------------------------------------------- */

enum mp_age mp_age_of(int64_t age_ms, int64_t ttl_ms)
{
    if (age_ms < ttl_ms)
        return MP_FRESH;
    return age_ms < 2 * ttl_ms ? MP_STALE : MP_EXPIRED;
}

int64_t mp_backoff_ms(unsigned failures, int64_t ttl_ms)
{
    int64_t cap = ttl_ms / 4, d = BACKOFF_FIRST_MS;

    if (cap > BACKOFF_MAX_MS)
        cap = BACKOFF_MAX_MS;
    if (cap < BACKOFF_FIRST_MS)
        cap = BACKOFF_FIRST_MS;
    while (failures > 1 && d < cap) {
        d *= 2;
        failures--;
    }
    return d < cap ? d : cap;
}

int mp_accept(size_t got, size_t wanted, size_t pages_failed)
{
    return got > 0 && (pages_failed == 0 || 2 * got >= wanted);
}

int64_t mp_refresh_due(const struct mp_state *st, int64_t ttl_ms)
{
    int64_t due = st->fetched_ms + ttl_ms - ttl_ms / 4;

    return st->next_try_ms > due ? st->next_try_ms : due;
}

enum mp_action mp_decide(const struct mp_state *st, int64_t now, int64_t ttl_ms,
                         int64_t *wake_ms)
{
    int64_t due;

    *wake_ms = INT64_MAX;
    if (st->has_set) {
        if (mp_age_of(now - st->fetched_ms, ttl_ms) == MP_EXPIRED)
            return MP_DROP;
        due = mp_refresh_due(st, ttl_ms);
        if (now < due) {
            *wake_ms = due;
            return MP_IDLE;
        }
        if (st->last_used_ms >= st->fetched_ms)
            return MP_REFRESH;
        /* Nobody asked since the last refresh: let it age; a request
         * wakes us, or it expires. */
        *wake_ms = st->fetched_ms + 2 * ttl_ms;
        return MP_IDLE;
    }
    if (!st->demand)
        return MP_IDLE;
    if (now >= st->next_try_ms)
        return MP_REFRESH;
    *wake_ms = st->next_try_ms;
    return MP_IDLE;
}

/* ---- shell --------------------------------------------------------------- */

struct genre_pool {
    struct music_pool *pool;
    enum genre g;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the refresher waits here */
    pthread_cond_t done; /* requests wait here for a refresh */
    struct mp_state st;
    struct mp_set *set;
    int refreshing;
    unsigned attempts; /* finished refreshes, good or bad */
    int last_rc;
    char last_err[160];
};

struct music_pool {
    struct music_pool_opts o;
    atomic_int quit; /* set once; each genre's waiters are woken */
    struct genre_pool gp[GENRE__COUNT];
};

static int64_t default_now(void *unused)
{
    (void)unused;
    return clock_mono_ms();
}

static int64_t pool_now(const struct music_pool *p)
{
    return p->o.now_ms(p->o.clock_ctx);
}

/* Waits on cv until `at` (ms on CLOCK_MONOTONIC; INT64_MAX = no limit). */
static int wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t at)
{
    struct timespec ts;

    if (at == INT64_MAX)
        return pthread_cond_wait(cv, mu);
    ts.tv_sec = at / 1000;
    ts.tv_nsec = (at % 1000) * 1000000;
    return pthread_cond_timedwait(cv, mu, &ts);
}

static void publish_metrics(struct genre_pool *gp)
{
    wmetrics_pool_set((int)gp->g, mp_set_size(gp->set),
                      gp->set != NULL ? gp->st.fetched_ms : 0);
}

/* Runs one refresh; called and returns with gp->mu held. */
static void refresh(struct genre_pool *gp)
{
    struct music_pool *p = gp->pool;
    struct music_pool_fetch_result res = {0, 0, 0};
    struct mp_builder *b = mp_builder_create(p->o.target);
    struct mp_set *fresh = NULL;
    char err[160] = "out of memory";
    int64_t now;
    int rc = TEMPO_EINTERNAL, ok;

    gp->refreshing = 1;
    gp->st.demand = 0;
    pthread_mutex_unlock(&gp->mu);
    if (b != NULL)
        rc = p->o.fetch(p->o.fetch_ctx, gp->g, p->o.target,
                        clock_mono_ms() + p->o.fetch_budget_ms, b, &res, err,
                        sizeof(err));
    ok = rc == 0 && b != NULL &&
         mp_accept(mp_builder_count(b), res.wanted, res.pages_failed);
    if (rc == 0 && !ok) {
        rc = TEMPO_EUPSTREAM;
        snprintf(err, sizeof(err),
                 b != NULL && mp_builder_count(b) == 0
                     ? "spotify found no tracks for the genre"
                     : "spotify answered too few pages");
    }
    if (ok)
        fresh = mp_builder_finish(b);
    else
        mp_builder_destroy(b);
    if (ok && fresh == NULL) {
        ok = 0;
        rc = TEMPO_EINTERNAL;
        snprintf(err, sizeof(err), "out of memory");
    }
    pthread_mutex_lock(&gp->mu);
    now = pool_now(p);
    gp->refreshing = 0;
    gp->attempts++;
    gp->last_rc = ok ? 0 : rc;
    if (ok) {
        mp_set_unref(gp->set);
        gp->set = fresh;
        gp->st.has_set = 1;
        gp->st.fetched_ms = now;
        gp->st.failures = 0;
        gp->st.next_try_ms = 0;
        gp->last_err[0] = '\0';
    } else {
        gp->st.failures++;
        gp->st.next_try_ms = now + mp_backoff_ms(gp->st.failures, p->o.ttl_ms);
        /* Retry-After is on clock_mono_ms; map it onto the pool clock. */
        if (res.retry_at_ms > 0) {
            int64_t at = now + (res.retry_at_ms - clock_mono_ms());

            if (at > gp->st.next_try_ms)
                gp->st.next_try_ms = at;
        }
        snprintf(gp->last_err, sizeof(gp->last_err), "%s", err);
    }
    wmetrics_pool_refresh((int)gp->g, ok);
    publish_metrics(gp);
    pthread_cond_broadcast(&gp->done);
}

static void *refresher(void *arg)
{
    struct genre_pool *gp = arg;
    struct music_pool *p = gp->pool;

    pthread_mutex_lock(&gp->mu);
    while (!atomic_load(&p->quit)) {
        int64_t now = pool_now(p), wake;

        switch (mp_decide(&gp->st, now, p->o.ttl_ms, &wake)) {
        case MP_DROP:
            mp_set_unref(gp->set);
            gp->set = NULL;
            gp->st.has_set = 0;
            publish_metrics(gp);
            continue;
        case MP_REFRESH:
            refresh(gp);
            continue;
        case MP_IDLE:
            break;
        }
        /* wake is on the pool clock; the wait is on the real one. */
        wait_until(&gp->wake, &gp->mu,
                   wake == INT64_MAX ? INT64_MAX
                                     : clock_mono_ms() + (wake - now));
    }
    pthread_mutex_unlock(&gp->mu);
    return NULL;
}

struct music_pool *music_pool_create(const struct music_pool_opts *o)
{
    struct music_pool *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;
    int g;

    if (p == NULL)
        return NULL;
    p->o = *o;
    atomic_init(&p->quit, 0);
    if (p->o.now_ms == NULL)
        p->o.now_ms = default_now;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (g = 0; g < GENRE__COUNT; g++) {
        struct genre_pool *gp = &p->gp[g];

        gp->pool = p;
        gp->g = (enum genre)g;
        pthread_mutex_init(&gp->mu, NULL);
        pthread_cond_init(&gp->wake, &ca);
        pthread_cond_init(&gp->done, &ca);
    }
    pthread_condattr_destroy(&ca);
    wmetrics_pool_enable();
    for (g = 0; g < GENRE__COUNT; g++) {
        if (pthread_create(&p->gp[g].thread, NULL, refresher, &p->gp[g]) != 0) {
            music_pool_destroy(p);
            return NULL;
        }
        p->gp[g].started = 1;
    }
    return p;
}

void music_pool_destroy(struct music_pool *p)
{
    int g;

    if (p == NULL)
        return;
    atomic_store(&p->quit, 1);
    for (g = 0; g < GENRE__COUNT; g++) {
        /* Under the lock, so no refresher is between its check and its
         * wait when the broadcast goes out. */
        pthread_mutex_lock(&p->gp[g].mu);
        pthread_cond_broadcast(&p->gp[g].wake);
        pthread_cond_broadcast(&p->gp[g].done);
        pthread_mutex_unlock(&p->gp[g].mu);
    }
    for (g = 0; g < GENRE__COUNT; g++) {
        struct genre_pool *gp = &p->gp[g];

        if (gp->started)
            pthread_join(gp->thread, NULL);
        mp_set_unref(gp->set);
        pthread_cond_destroy(&gp->wake);
        pthread_cond_destroy(&gp->done);
        pthread_mutex_destroy(&gp->mu);
    }
    free(p);
}

/* A request found no set; called with gp->mu held.  Returns 0 once a set
 * is there, else an error (err set) or MUSIC_POOL_WOULD_BLOCK. */
static int no_set(struct genre_pool *gp, int wait, int64_t deadline_ms,
                  char *err, size_t errlen)
{
    struct music_pool *p = gp->pool;
    unsigned att0;

    if (!gp->refreshing && gp->st.failures > 0 &&
        pool_now(p) < gp->st.next_try_ms) {
        /* The last try failed and backs off: do not wait for nothing. */
        gp->st.demand = 1;
        snprintf(err, errlen, "%s (retrying later)", gp->last_err);
        return MUSIC_POOL_UNAVAILABLE;
    }
    if (!wait)
        return MUSIC_POOL_WOULD_BLOCK;
    gp->st.demand = 1;
    pthread_cond_signal(&gp->wake);
    att0 = gp->attempts;
    /* The refresh in progress, or the one just asked for: whichever
     * finishes first is the answer for every waiter. */
    while (gp->set == NULL && !atomic_load(&p->quit) && gp->attempts == att0)
        if (wait_until(&gp->done, &gp->mu, deadline_ms) == ETIMEDOUT)
            break;
    if (gp->set != NULL)
        return 0;
    if (gp->attempts == att0) {
        snprintf(err, errlen, "timed out waiting for spotify");
        return TEMPO_ETIMEOUT;
    }
    snprintf(err, errlen, "%s", gp->last_err);
    return gp->last_rc != 0 ? gp->last_rc : TEMPO_EUPSTREAM;
}

int music_pool_get(struct music_pool *p, enum genre g, int wait,
                   int64_t deadline_ms, struct mp_set **set, char *err,
                   size_t errlen)
{
    struct genre_pool *gp;
    int rc = 0;

    if ((int)g < 0 || g >= GENRE__COUNT) {
        snprintf(err, errlen, "no such genre");
        return TEMPO_EINTERNAL;
    }
    gp = &p->gp[g];
    pthread_mutex_lock(&gp->mu);
    if (gp->set != NULL &&
        mp_age_of(pool_now(p) - gp->st.fetched_ms, p->o.ttl_ms) == MP_EXPIRED) {
        /* Never serve past the limit, even before the refresher wakes. */
        mp_set_unref(gp->set);
        gp->set = NULL;
        gp->st.has_set = 0;
        publish_metrics(gp);
    }
    if (gp->set == NULL)
        rc = no_set(gp, wait, deadline_ms, err, errlen);
    if (rc == 0) {
        int64_t now = pool_now(p);

        gp->st.last_used_ms = now;
        /* A refresh is due: the refresher may be asleep until expiry (it
         * does not refresh genres nobody asks for), so tell it.  This
         * holds only until it starts, so it costs one wake-up. */
        if (!gp->refreshing && now >= mp_refresh_due(&gp->st, p->o.ttl_ms))
            pthread_cond_signal(&gp->wake);
        *set = mp_set_ref(gp->set);
    }
    pthread_mutex_unlock(&gp->mu);
    return rc;
}

size_t music_pool_size(struct music_pool *p, enum genre g)
{
    size_t n;

    if ((int)g < 0 || g >= GENRE__COUNT)
        return 0;
    pthread_mutex_lock(&p->gp[g].mu);
    n = mp_set_size(p->gp[g].set);
    pthread_mutex_unlock(&p->gp[g].mu);
    return n;
}
