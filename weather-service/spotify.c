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
 * Nothing secret leaves this file: error messages name the step and the
 * HTTP status, never the token or the client credentials.
 */
#include "spotify.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "errors.h"
#include "http_client.h"
#include "metrics.h"

#define SP_NAME "spotify"
#define TOKEN_MARGIN_MS 60000 /* renew this long before expiry */

struct spotify {
    const struct config *cfg;
    struct http_breaker *breaker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char token[SPOTIFY_TOKEN_MAX];
    int64_t valid_until; /* http_now_ms(); 0 = no usable token */
    unsigned token_gen;  /* bumped by each new token */
    int refreshing;
    unsigned refresh_gen; /* bumped by each finished renewal */
    int refresh_rc;
    char refresh_err[160];
};

struct spotify *spotify_create(const struct config *cfg)
{
    struct spotify *sp = calloc(1, sizeof(*sp));
    pthread_condattr_t ca;

    if (sp == NULL)
        return NULL;
    sp->cfg = cfg;
    sp->breaker = http_breaker_create(5, 5000);
    if (sp->breaker == NULL) {
        free(sp);
        return NULL;
    }
    pthread_mutex_init(&sp->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sp->cv, &ca);
    pthread_condattr_destroy(&ca);
    wmetrics_provider_enable(WM_PROV_SPOTIFY);
    return sp;
}

void spotify_destroy(struct spotify *sp)
{
    if (sp == NULL)
        return;
    http_breaker_destroy(sp->breaker);
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

static int has_uri(const json_t *tracks, const char *uri)
{
    size_t i;
    json_t *t;

    json_array_foreach(tracks, i, t)
    {
        const char *u = json_string_value(json_object_get(t, "uri"));
        if (u != NULL && strcmp(u, uri) == 0)
            return 1;
    }
    return 0;
}

/* Builds one reply track from a search item, or NULL if it is unusable. */
static json_t *track_from_item(const json_t *item)
{
    json_t *name = json_object_get(item, "name");
    json_t *uri = json_object_get(item, "uri");
    json_t *artists = json_object_get(item, "artists");
    json_t *url =
        json_object_get(json_object_get(item, "external_urls"), "spotify");
    json_t *out = NULL, *names = NULL, *a;
    size_t i;

    if (!json_is_string(name) || json_string_length(name) == 0 ||
        !json_is_string(uri) ||
        strncmp(json_string_value(uri), "spotify:", 8) != 0 ||
        !json_is_array(artists))
        return NULL;
    names = json_array();
    if (names == NULL)
        return NULL;
    json_array_foreach(artists, i, a)
    {
        json_t *an = json_object_get(a, "name");
        if (json_is_string(an) && json_string_length(an) > 0)
            json_array_append(names, an);
    }
    if (json_array_size(names) == 0) {
        json_decref(names);
        return NULL;
    }
    out = json_pack("{s:O, s:o, s:O}", "name", name, "artists", names, "uri",
                    uri);
    if (out != NULL && json_is_string(url))
        json_object_set(out, "url", url);
    return out;
}

int spotify_decode_tracks(const char *body, size_t len, json_t *tracks,
                          size_t max, size_t *page_items, char *err,
                          size_t errlen)
{
    json_t *root = NULL, *items, *item;
    json_error_t jerr;
    size_t i;
    int rc = TEMPO_EUPSTREAM;

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    items = json_object_get(json_object_get(root, "tracks"), "items");
    if (!json_is_array(items)) {
        snprintf(err, errlen,
                 SP_NAME " search answered without "
                         "tracks.items");
        goto out;
    }
    json_array_foreach(items, i, item)
    {
        json_t *t;

        if (json_array_size(tracks) >= max)
            break;
        t = track_from_item(item);
        if (t == NULL)
            continue;
        if (has_uri(tracks, json_string_value(json_object_get(t, "uri"))))
            json_decref(t);
        else
            json_array_append_new(tracks, t);
    }
    *page_items = json_array_size(items);
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
    int rc;

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
    rc = http_client_request(hc, &req, &resp, why, sizeof(why));
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
        if (sp->valid_until > http_now_ms()) {
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
        sp->valid_until = http_now_ms() + life;
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

/* One search page, with one token renewal on 401. */
static int search_page(struct spotify *sp, struct http_client *hc, enum genre g,
                       size_t limit, size_t offset, int64_t deadline_ms,
                       json_t *tracks, size_t max, size_t *page_items,
                       char *err, size_t errlen)
{
    char token[SPOTIFY_TOKEN_MAX], auth[SPOTIFY_TOKEN_MAX + 32];
    char q[32], lim[16], off[16], why[160];
    const char *headers[] = {"Accept: application/json", auth, NULL};
    const char *params[9];
    struct http_request req = {0};
    struct http_response resp = {0};
    char *url = NULL;
    long stale_gen = -1;
    unsigned gen = 0;
    int rc = TEMPO_EINTERNAL, tries;

    snprintf(q, sizeof(q), "genre:%s", genre_name(g));
    snprintf(lim, sizeof(lim), "%zu", limit);
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
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        req.url = url;
        req.headers = headers;
        req.timeout_ms = sp->cfg->upstream_timeout_ms;
        req.retries = (int)sp->cfg->upstream_retries;
        req.deadline_ms = deadline_ms;
        req.breaker = sp->breaker;
        req.metrics_provider = WM_PROV_SPOTIFY;
        http_response_clear(&resp);
        rc = http_client_request(hc, &req, &resp, why, sizeof(why));
        if (rc != 0) {
            snprintf(err, errlen, SP_NAME ": %s", why);
            goto out;
        }
        if (resp.status != 401)
            break;
        stale_gen = (long)gen;
    }
    if (resp.status == 200) {
        rc = spotify_decode_tracks(resp.body, resp.len, tracks, max, page_items,
                                   err, errlen);
    } else {
        rc = TEMPO_EUPSTREAM;
        if (resp.status == 401)
            snprintf(err, errlen, SP_NAME " rejected a fresh token");
        else if (resp.status == 429)
            snprintf(err, errlen, SP_NAME " rate limit exceeded");
        else
            snprintf(err, errlen, SP_NAME " search answered HTTP %ld",
                     resp.status);
    }
out:
    http_response_clear(&resp);
    free(url);
    memset(token, 0, sizeof(token));
    memset(auth, 0, sizeof(auth));
    return rc;
}

int spotify_tracks(struct spotify *sp, struct http_client *hc, enum genre g,
                   size_t n, int64_t deadline_ms, json_t **tracks, char *err,
                   size_t errlen)
{
    json_t *out = json_array();
    size_t offset, items = 0, pages = 0;
    /* Pages of skipped (malformed or duplicate) items make no progress;
     * a few spare pages bound that. */
    size_t max_pages = (n + SPOTIFY_PAGE_MAX - 1) / SPOTIFY_PAGE_MAX + 3;
    int rc = 0, restarted;

    if (out == NULL || genre_name(g) == NULL) {
        snprintf(err, errlen, "out of memory");
        json_decref(out);
        return TEMPO_EINTERNAL;
    }
    offset = (size_t)(http_client_random(hc) % (SPOTIFY_OFFSET_MAX + 1));
    restarted = offset == 0;
    while (json_array_size(out) < n && pages++ < max_pages) {
        size_t want = n - json_array_size(out);

        if (want > SPOTIFY_PAGE_MAX)
            want = SPOTIFY_PAGE_MAX;
        rc = search_page(sp, hc, g, want, offset, deadline_ms, out, n, &items,
                         err, errlen);
        if (rc != 0)
            break;
        if (items == 0 && json_array_size(out) == 0 && !restarted) {
            /* The genre has fewer results than our random offset. */
            offset = 0;
            restarted = 1;
            continue;
        }
        if (items < want)
            break; /* the end of the results */
        offset += items;
    }
    if (json_array_size(out) == 0) {
        if (rc == 0) {
            rc = TEMPO_EUPSTREAM;
            snprintf(err, errlen, SP_NAME " found no tracks for genre %s",
                     genre_name(g));
        }
        json_decref(out);
        return rc;
    }
    *tracks = out;
    return 0;
}
