/*
 * spotify.c - see spotify.h.
 *
 * DESIGN
 *
 * The token lives in the shared struct spotify under a mutex.  A thread
 * that finds it missing or about to expire either becomes the one that
 * renews it (`refreshing`) or waits on a condition variable for that
 * renewal to complete; waiters share the renewal's outcome, failure
 * included, so a dead accounts service costs one request per wave of
 * callers, not one per thread.  A 401 from the search invalidates the
 * token only if it is still the one that got the 401 (`token_gen`), so two
 * threads rejected at once renew it once.
 *
 * The rate-limit gate is process-wide state under its own mutex: a 429
 * closes it until now + Retry-After (http_client hands the 429 back at
 * once instead of sleeping on it in one thread); while it is closed every
 * search fails at once without a request; when it reopens, exactly one
 * search goes out as a probe, and only a probe that is not answered 429
 * opens it for everyone.  Requests already in flight when the first 429
 * arrives are the only ones that can land inside a window.
 *
 * spotify_fetch runs the pages of one pool refresh on up to
 * SPOTIFY_FETCHERS short-lived threads, each with one of the genre's
 * long-lived http clients (so connections are reused from one refresh to
 * the next, and no handle is used by two threads at once).  Decoding and
 * the caller's callback run under the fetch's mutex, one page at a time.
 *
 * Nothing secret leaves this file: error messages name the step and the
 * HTTP status, never the token or the client credentials.
 */
#include "spotify.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "breaker.h"
#include "config.h"
#include "errors.h"
#include "http_client.h"
#include "metrics.h"
#include "rng.h"

#define SP_NAME "spotify"
#define TOKEN_MARGIN_MS 60000   /* renew this long before expiry */
#define RETRY_AFTER_DEF_MS 5000 /* a 429 without a usable Retry-After */

struct spotify {
    const struct config *cfg;
    struct breaker *breaker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char token[SPOTIFY_TOKEN_MAX];
    int64_t valid_until; /* clock_mono_ms(); 0 = no usable token */
    unsigned token_gen;  /* bumped by each new token */
    int refreshing;
    unsigned refresh_gen; /* bumped by each finished renewal */
    int refresh_rc;
    char refresh_err[160];

    pthread_mutex_t gate_mu; /* the 429 gate */
    pthread_cond_t gate_cv;  /* a probe finished */
    int limited;             /* a 429 was seen and no probe passed since */
    int64_t retry_at;        /* no request before this (clock_mono_ms) */
    int probing;             /* the probe after retry_at is in flight */

    const atomic_int *abort;  /* borrowed, may be NULL */
    long total[GENRE__COUNT]; /* search results per genre; -1 unknown */
    struct http_client *fetchers[GENRE__COUNT][SPOTIFY_FETCHERS];
};

struct spotify *spotify_create(const struct config *cfg)
{
    struct spotify *sp = calloc(1, sizeof(*sp));
    pthread_condattr_t ca;
    int g;

    if (sp == NULL)
        return NULL;
    sp->cfg = cfg;
    sp->breaker = breaker_create((int)cfg->breaker_failures,
                                 cfg->breaker_open_ms, WM_PROV_SPOTIFY);
    if (sp->breaker == NULL) {
        free(sp);
        return NULL;
    }
    pthread_mutex_init(&sp->mu, NULL);
    pthread_mutex_init(&sp->gate_mu, NULL);
    for (g = 0; g < GENRE__COUNT; g++)
        sp->total[g] = -1;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sp->cv, &ca);
    pthread_cond_init(&sp->gate_cv, &ca);
    pthread_condattr_destroy(&ca);
    wmetrics_provider_enable(WM_PROV_SPOTIFY);
    return sp;
}

void spotify_destroy(struct spotify *sp)
{
    int g, k;

    if (sp == NULL)
        return;
    for (g = 0; g < GENRE__COUNT; g++)
        for (k = 0; k < SPOTIFY_FETCHERS; k++)
            http_client_destroy(sp->fetchers[g][k]);
    breaker_destroy(sp->breaker);
    pthread_cond_destroy(&sp->gate_cv);
    pthread_mutex_destroy(&sp->gate_mu);
    pthread_cond_destroy(&sp->cv);
    pthread_mutex_destroy(&sp->mu);
    /* The token is a credential: do not leave it in freed memory. */
    memset(sp->token, 0, sizeof(sp->token));
    free(sp);
}

int spotify_decode_token(const char *body, size_t len,
                         char token[SPOTIFY_TOKEN_MAX], long *expires_in,
                         char *err, size_t errlen)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz0123456789._~+/=-";
    json_t *root = NULL, *tok, *exp;
    json_error_t jerr;
    const char *s;
    size_t tl;
    long e = 3600;
    int rc = TEMPO_EUPSTREAM;

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    tok = json_object_get(root, "access_token");
    s = json_string_value(tok);
    tl = json_string_length(tok);
    if (s == NULL || tl == 0 || tl >= SPOTIFY_TOKEN_MAX ||
        strspn(s, ok) != tl) {
        snprintf(err, errlen,
                 SP_NAME " token answer has no usable "
                         "access_token");
        goto out;
    }
    exp = json_object_get(root, "expires_in");
    if (exp != NULL) {
        double d = json_number_value(exp);

        if (!json_is_number(exp) || !(d >= 1.0)) {
            snprintf(err, errlen,
                     SP_NAME " token answer has a bad "
                             "expires_in");
            goto out;
        }
        e = d > 86400.0 ? 86400 : (long)d;
    }
    memcpy(token, s, tl + 1);
    *expires_in = e;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Asks the accounts service for a new token (no lock held). */
static int fetch_token(struct spotify *sp, struct http_client *hc,
                       int64_t deadline_ms, char token[SPOTIFY_TOKEN_MAX],
                       long *expires_in, char *err, size_t errlen)
{
    static const char *const headers[] = {"Accept: application/json", NULL};
    struct http_request req = {0};
    struct http_response resp = {0};
    char why[160];
    char *url;
    int rc, sent = 0;

    url = http_url_build(sp->cfg->spotify_accounts_url, "/api/token", NULL, why,
                         sizeof(why));
    if (url == NULL) {
        snprintf(err, errlen, SP_NAME " token: %s", why);
        return TEMPO_EINTERNAL;
    }
    req.url = url;
    req.headers = headers;
    req.form = "grant_type=client_credentials";
    req.username = sp->cfg->spotify_client_id;
    req.password = sp->cfg->spotify_client_secret;
    req.timeout_ms = sp->cfg->upstream_timeout_ms;
    req.retries = (int)sp->cfg->upstream_retries;
    req.deadline_ms = deadline_ms;
    req.breaker = sp->breaker;
    req.metrics_provider = WM_PROV_SPOTIFY;
    req.attempts = &sent;
    rc = http_client_request(hc, &req, &resp, why, sizeof(why));
    wmetrics_spotify_calls(WM_SP_TOKEN, sent);
    free(url);
    if (rc != 0) {
        snprintf(err, errlen, SP_NAME " token: %s", why);
        return rc;
    }
    if (resp.status == 200)
        rc = spotify_decode_token(resp.body, resp.len, token, expires_in, err,
                                  errlen);
    else if (resp.status == 400 || resp.status == 401)
        snprintf(err, errlen, SP_NAME " rejected the client credentials");
    else
        snprintf(err, errlen, SP_NAME " token request answered HTTP %ld",
                 resp.status);
    if (resp.status != 200)
        rc = TEMPO_EUPSTREAM;
    http_response_clear(&resp);
    return rc;
}

/*
 * Copies a valid token into `token`, renewing it if needed.  `stale_gen`
 * (or -1) names a token the caller saw rejected; *gen gets the generation
 * of the token returned.
 */
static int get_token(struct spotify *sp, struct http_client *hc,
                     int64_t deadline_ms, long stale_gen,
                     char token[SPOTIFY_TOKEN_MAX], unsigned *gen, char *err,
                     size_t errlen)
{
    struct timespec ts = {deadline_ms / 1000, (deadline_ms % 1000) * 1000000};
    char fresh[SPOTIFY_TOKEN_MAX];
    long expires_in = 0;
    int rc;

    pthread_mutex_lock(&sp->mu);
    if (stale_gen >= 0 && (unsigned)stale_gen == sp->token_gen)
        sp->valid_until = 0;
    for (;;) {
        if (sp->valid_until > clock_mono_ms()) {
            memcpy(token, sp->token, sizeof(sp->token));
            *gen = sp->token_gen;
            pthread_mutex_unlock(&sp->mu);
            return 0;
        }
        if (!sp->refreshing)
            break;
        {
            unsigned rg = sp->refresh_gen;

            while (sp->refreshing && sp->refresh_gen == rg)
                if (pthread_cond_timedwait(&sp->cv, &sp->mu, &ts) == ETIMEDOUT)
                    break;
            if (sp->refresh_gen == rg) {
                pthread_mutex_unlock(&sp->mu);
                snprintf(err, errlen,
                         SP_NAME " token: timed out waiting "
                                 "for renewal");
                return TEMPO_ETIMEOUT;
            }
            if (sp->refresh_rc != 0) {
                rc = sp->refresh_rc;
                snprintf(err, errlen, "%s", sp->refresh_err);
                pthread_mutex_unlock(&sp->mu);
                return rc;
            }
        }
    }
    sp->refreshing = 1;
    pthread_mutex_unlock(&sp->mu);

    rc = fetch_token(sp, hc, deadline_ms, fresh, &expires_in, err, errlen);

    pthread_mutex_lock(&sp->mu);
    sp->refreshing = 0;
    sp->refresh_gen++;
    sp->refresh_rc = rc;
    if (rc == 0) {
        /* Short-lived tokens are kept for half their life instead. */
        int64_t life = expires_in * 1000 > 2 * TOKEN_MARGIN_MS
                           ? expires_in * 1000 - TOKEN_MARGIN_MS
                           : expires_in * 500;
        memcpy(sp->token, fresh, sizeof(sp->token));
        sp->token_gen++;
        sp->valid_until = clock_mono_ms() + life;
        memcpy(token, sp->token, sizeof(sp->token));
        *gen = sp->token_gen;
    } else {
        snprintf(sp->refresh_err, sizeof(sp->refresh_err), "%s", err);
    }
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    memset(fresh, 0, sizeof(fresh));
    return rc;
}

/* ---- the 429 gate -------------------------------------------------------- */

/*
 * 0: send (*probe: as the probe after a Retry-After); -1: the gate is
 * closed, send nothing.  While another thread's probe is out, waits (until
 * deadline_ms) for its outcome rather than failing at once, so a refresh
 * whose pages meet a reopening gate still fetches them all.
 */
static int gate_admit(struct spotify *sp, int64_t deadline_ms, int *probe)
{
    struct timespec ts = {deadline_ms / 1000, (deadline_ms % 1000) * 1000000};
    int rc = 0;

    *probe = 0;
    pthread_mutex_lock(&sp->gate_mu);
    while (sp->limited && sp->probing)
        if (pthread_cond_timedwait(&sp->gate_cv, &sp->gate_mu, &ts) ==
            ETIMEDOUT)
            break;
    if (sp->limited) {
        if (sp->probing || clock_mono_ms() < sp->retry_at)
            rc = -1;
        else
            sp->probing = *probe = 1;
    }
    pthread_mutex_unlock(&sp->gate_mu);
    if (rc != 0)
        wmetrics_spotify_gated();
    return rc;
}

/* Records what an admitted request came to: status 0 = no answer. */
static void gate_record(struct spotify *sp, int probe, long status,
                        long retry_after_ms)
{
    pthread_mutex_lock(&sp->gate_mu);
    if (probe) {
        sp->probing = 0;
        pthread_cond_broadcast(&sp->gate_cv);
    }
    if (status == 429) {
        int64_t until =
            clock_mono_ms() +
            (retry_after_ms >= 0 ? retry_after_ms : RETRY_AFTER_DEF_MS);
        sp->limited = 1;
        if (until > sp->retry_at)
            sp->retry_at = until;
        wmetrics_spotify_retry_at(sp->retry_at);
    } else if (probe && status > 0) {
        sp->limited = 0; /* answered, and not rate-limited: open again */
        wmetrics_spotify_retry_at(0);
    }
    pthread_mutex_unlock(&sp->gate_mu);
}

void spotify_set_abort(struct spotify *sp, const atomic_int *flag)
{
    sp->abort = flag;
}

int64_t spotify_retry_at(struct spotify *sp)
{
    int64_t at;

    pthread_mutex_lock(&sp->gate_mu);
    at = sp->limited ? sp->retry_at : 0;
    pthread_mutex_unlock(&sp->gate_mu);
    return at;
}

/* ---- search -------------------------------------------------------------- */

/*
 * One search page through the gate, with one token renewal on 401.
 * Returns 0 with resp holding a 200 answer, else an error with err set
 * (resp then empty).
 */
static int search_page(struct spotify *sp, struct http_client *hc, enum genre g,
                       size_t offset, int64_t deadline_ms,
                       struct http_response *resp, char *err, size_t errlen)
{
    char token[SPOTIFY_TOKEN_MAX], auth[SPOTIFY_TOKEN_MAX + 32];
    char q[32], lim[16], off[16], why[160];
    const char *headers[] = {"Accept: application/json", auth, NULL};
    const char *params[9];
    struct http_request req = {0};
    char *url = NULL;
    long stale_gen = -1;
    unsigned gen = 0;
    int rc = TEMPO_EINTERNAL, tries, probe, sent;

    token[0] = auth[0] = '\0';
    snprintf(q, sizeof(q), "genre:%s", genre_name(g));
    snprintf(lim, sizeof(lim), "%d", SPOTIFY_PAGE_MAX);
    snprintf(off, sizeof(off), "%zu", offset);
    params[0] = "q";
    params[1] = q;
    params[2] = "type";
    params[3] = "track";
    params[4] = "limit";
    params[5] = lim;
    params[6] = "offset";
    params[7] = off;
    params[8] = NULL;
    url = http_url_build(sp->cfg->spotify_api_url, "/v1/search", params, why,
                         sizeof(why));
    if (url == NULL) {
        snprintf(err, errlen, SP_NAME ": %s", why);
        goto out;
    }
    for (tries = 0; tries < 2; tries++) {
        rc =
            get_token(sp, hc, deadline_ms, stale_gen, token, &gen, err, errlen);
        if (rc != 0)
            goto out;
        if (gate_admit(sp, deadline_ms, &probe) != 0) {
            rc = TEMPO_EUPSTREAM;
            snprintf(err, errlen,
                     SP_NAME " rate limit: waiting out Retry-After");
            goto out;
        }
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        req.url = url;
        req.headers = headers;
        req.timeout_ms = sp->cfg->upstream_timeout_ms;
        req.retries = (int)sp->cfg->upstream_retries;
        req.deadline_ms = deadline_ms;
        req.breaker = sp->breaker;
        req.metrics_provider = WM_PROV_SPOTIFY;
        req.no_retry_429 = 1; /* the gate paces every thread on it */
        req.attempts = &sent;
        sent = 0;
        http_response_clear(resp);
        rc = http_client_request(hc, &req, resp, why, sizeof(why));
        wmetrics_spotify_calls(WM_SP_SEARCH, sent);
        gate_record(sp, probe, rc == 0 ? resp->status : 0,
                    rc == 0 ? resp->retry_after_ms : -1);
        if (rc != 0) {
            snprintf(err, errlen, SP_NAME ": %s", why);
            goto out;
        }
        if (resp->status != 401)
            break;
        stale_gen = (long)gen;
    }
    if (resp->status != 200) {
        rc = TEMPO_EUPSTREAM;
        if (resp->status == 401)
            snprintf(err, errlen, SP_NAME " rejected a fresh token");
        else if (resp->status == 429)
            snprintf(err, errlen, SP_NAME " rate limit exceeded");
        else
            snprintf(err, errlen, SP_NAME " search answered HTTP %ld",
                     resp->status);
        http_response_clear(resp);
    }
out:
    free(url);
    memset(token, 0, sizeof(token));
    memset(auth, 0, sizeof(auth));
    return rc;
}

/* ---- fetching for the pool ----------------------------------------------- */

/* One spotify_fetch in progress, shared by its page threads. */
struct fetch {
    struct spotify *sp;
    enum genre g;
    int64_t deadline_ms;
    spotify_track_fn fn;
    void *ctx;
    pthread_mutex_t mu; /* guards everything below, and calls to fn */
    const size_t *offsets;
    size_t n, next;
    size_t done, failed;
    long total;
    int last_rc;
    char last_err[256];
};

/* Fetches and decodes one page; records the outcome in f. */
static void fetch_one(struct fetch *f, struct http_client *hc, size_t offset)
{
    struct http_response resp = {0};
    struct spotify_page page;
    char err[256];
    int rc;

    rc = search_page(f->sp, hc, f->g, offset, f->deadline_ms, &resp, err,
                     sizeof(err));
    pthread_mutex_lock(&f->mu);
    if (rc == 0)
        rc = spotify_decode_page(resp.body, resp.len, f->fn, f->ctx, &page, err,
                                 sizeof(err));
    if (rc == 0) {
        f->done++;
        if (page.total >= 0)
            f->total = page.total;
    } else {
        f->failed++;
        f->last_rc = rc;
        snprintf(f->last_err, sizeof(f->last_err), "%s", err);
    }
    pthread_mutex_unlock(&f->mu);
    http_response_clear(&resp);
}

struct fetcher {
    struct fetch *f;
    struct http_client *hc;
};

static void *fetch_thread(void *arg)
{
    struct fetcher *w = arg;
    struct fetch *f = w->f;

    for (;;) {
        size_t i;

        pthread_mutex_lock(&f->mu);
        i = f->next < f->n ? f->next++ : f->n;
        pthread_mutex_unlock(&f->mu);
        if (i >= f->n)
            return NULL;
        fetch_one(f, w->hc, f->offsets[i]);
    }
}

/* Offsets are drawn from tempo's one random source (common/rng). */
static uint64_t page_random(void *unused)
{
    (void)unused;
    return rng_u64();
}

/* Fetches f->offsets on up to SPOTIFY_FETCHERS threads at once. */
static void fetch_pages(struct fetch *f)
{
    struct spotify *sp = f->sp;
    struct fetcher w[SPOTIFY_FETCHERS];
    pthread_t th[SPOTIFY_FETCHERS];
    int started[SPOTIFY_FETCHERS] = {0};
    size_t k, left = f->n - f->next;
    size_t nth = left < SPOTIFY_FETCHERS ? left : SPOTIFY_FETCHERS;

    if (nth == 0)
        return;

    for (k = 0; k < nth; k++) {
        w[k].f = f;
        w[k].hc = sp->fetchers[f->g][k];
        if (w[k].hc == NULL)
            continue;
        /* One page needs no thread of its own. */
        started[k] =
            nth > 1 && pthread_create(&th[k], NULL, fetch_thread, &w[k]) == 0;
    }
    /* Whatever no thread took (one page, or pthread_create failed) is
     * fetched here, on the first client. */
    if (w[0].hc != NULL && !started[0])
        fetch_thread(&w[0]);
    for (k = 0; k < nth; k++)
        if (started[k])
            pthread_join(th[k], NULL);
    if (f->next < f->n) { /* no client at all: out of memory */
        f->failed += f->n - f->next;
        f->last_rc = TEMPO_EINTERNAL;
        snprintf(f->last_err, sizeof(f->last_err), "out of memory");
    }
}

int spotify_fetch(struct spotify *sp, enum genre g, size_t want,
                  int64_t deadline_ms, spotify_track_fn fn, void *ctx,
                  struct spotify_fetch_stats *st, char *err, size_t errlen)
{
    size_t offsets[SPOTIFY_SLOTS + 1], pages, k, n, reach;
    struct fetch f;
    long total;

    memset(st, 0, sizeof(*st));
    st->total = -1;
    if (genre_name(g) == NULL || want == 0) {
        snprintf(err, errlen, "no such genre");
        return TEMPO_EINTERNAL;
    }
    for (k = 0; k < SPOTIFY_FETCHERS; k++)
        if (sp->fetchers[g][k] == NULL) {
            sp->fetchers[g][k] = http_client_create();
            if (sp->fetchers[g][k] != NULL && sp->abort != NULL)
                http_client_set_abort(sp->fetchers[g][k], sp->abort);
        }
    memset(&f, 0, sizeof(f));
    pthread_mutex_init(&f.mu, NULL);
    f.sp = sp;
    f.g = g;
    f.deadline_ms = deadline_ms;
    f.fn = fn;
    f.ctx = ctx;
    f.last_rc = TEMPO_EUPSTREAM;
    snprintf(f.last_err, sizeof(f.last_err), SP_NAME " fetched nothing");

    pthread_mutex_lock(&sp->mu);
    total = sp->total[g];
    pthread_mutex_unlock(&sp->mu);
    f.total = total;
    pages = (want + SPOTIFY_PAGE_MAX - 1) / SPOTIFY_PAGE_MAX;
    /* The first page goes alone: it learns the genre's total the first
     * time, and it is the one request that finds out whether Spotify is
     * up (breaker) and not rate-limiting us (gate) before the others are
     * sent. */
    if (total < 0)
        n = spotify_plan_pages(-1, 1, 0, page_random, NULL, offsets);
    else
        n = spotify_plan_pages(total, pages, 0, page_random, NULL, offsets);
    if (n == 0) { /* a genre without results */
        snprintf(f.last_err, sizeof(f.last_err),
                 SP_NAME " found no tracks for genre %s", genre_name(g));
        goto out;
    }
    f.offsets = offsets;
    f.n = 1;
    fetch_pages(&f);
    st->pages = 1;
    if (!f.done)
        goto out;
    if (total < 0) {
        if (f.total < 0)
            goto out; /* no total in the answer: the probe is all */
        n = 1 + spotify_plan_pages(f.total, pages - 1, 1, page_random, NULL,
                                   offsets + 1);
    }
    f.n = n;
    f.next = 1;
    st->pages = n;
    if (n > 1)
        fetch_pages(&f);
out:
    st->pages_failed = f.failed;
    st->total = f.total;
    reach = f.total < 0                      ? want
            : f.total < SPOTIFY_OFFSET_LIMIT ? (size_t)f.total
                                             : SPOTIFY_OFFSET_LIMIT;
    st->wanted = want < reach ? want : reach;
    if (f.total >= 0) {
        pthread_mutex_lock(&sp->mu);
        sp->total[g] = f.total;
        pthread_mutex_unlock(&sp->mu);
    }
    pthread_mutex_destroy(&f.mu);
    if (f.done > 0)
        return 0;
    snprintf(err, errlen, "%s", f.last_err);
    return f.last_rc;
}
