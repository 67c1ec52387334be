/*
 * service.c - see service.h.  The weather_service RPC methods: argument
 * checking against the Nameko signature, then weather (cache, provider),
 * genre, tracks (Spotify or the built-in catalog), and the SPEC section 2
 * reply object.
 *
 * DESIGN
 *
 * Methods sit in a const table, so an unknown name fails in the lookup.
 * A method either returns a new reply object or fills a fault whose
 * exc_type/exc_path come from errors.h (tempo's types) or are Nameko's own
 * (MethodNotFound, IncorrectSignature), so a Python client re-raises them.
 *
 * Each provider phase (weather, then music) may take up to
 * UPSTREAM_TIMEOUT_MS for each of its 1 + UPSTREAM_RETRIES attempts.  A
 * music failure degrades to the catalog; a weather failure can only fall
 * back to a stale cached answer.  Both fallbacks are logged here, once,
 * because no error reaches the dispatcher for them; real failures are
 * returned as faults and logged by the dispatcher.
 */
#include "service.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "catalog.h"
#include "config.h"
#include "errors.h"
#include "genre.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "music_pool.h"
#include "nameko.h"
#include "open_meteo.h"
#include "owm.h"
#include "rng.h"
#include "spotify.h"
#include "validate.h"

#define CACHE_MAX_ENTRIES 10000
#define CACHE_STALE_EXTRA_S 3600 /* stale answers: up to TTL + 1 h old */

struct service {
    const struct config *cfg;
    struct cache *cache;
    struct owm *owm;
    struct open_meteo *om;
    struct spotify *spotify;
    struct music_pool *pool; /* with spotify: its tracks per genre */
    struct catalog *catalog;
    atomic_int aborted; /* service_abort: no more upstream work */
};

struct service_worker {
    struct service *svc;
    struct http_client *hc;
};

struct method;

/* A prepared call (see service.h). */
struct service_plan {
    const struct method *m;
    json_t *kwargs;      /* the bound arguments: a new reference */
    int64_t deadline_ms; /* the caller's, 0 = none */
    /* get_playlist */
    struct weather_query q; /* q.city points into kwargs */
    char country[3];
    char key[CACHE_KEY_MAX];
    int have_weather; /* weather came from the cache in plan_ready */
    struct weather_report weather;
    int have_tracks;    /* music settled in plan_ready (pool or degraded) */
    struct mp_set *set; /* the genre's pool, or NULL for the catalog */
    char music_err[256];
};

static int playlist_prepare(struct service *svc, struct service_plan *p,
                            char *err, size_t errlen);
static int playlist_ready(struct service *svc, struct service_plan *p);
static int playlist_run(struct service_worker *w, struct service_plan *p,
                        struct service_result *result,
                        struct service_fault *fault);

static const struct method {
    const char *name;
    const char *const *params; /* in positional order */
    int (*prepare)(struct service *svc, struct service_plan *p, char *err,
                   size_t errlen);
    int (*ready)(struct service *svc, struct service_plan *p);
    int (*run)(struct service_worker *w, struct service_plan *p,
               struct service_result *result, struct service_fault *fault);
} methods[] = {
    {"get_playlist",
     (const char *const[]){"city", "lat", "lon", "country", NULL},
     playlist_prepare, playlist_ready, playlist_run},
};

/* Randomness for samples: tempo's one source (common/rng). */
static uint64_t pool_random(void *unused)
{
    (void)unused;
    return rng_u64();
}

struct pool_fill {
    struct mp_builder *b;
};

static int pool_add(void *ctx, const struct spotify_track *t)
{
    struct pool_fill *pf = ctx;
    struct mp_track mt = {t->name, t->uri, t->url, t->artists, t->nartists};

    return mp_builder_add(pf->b, &mt) < 0 ? TEMPO_EINTERNAL : 0;
}

/* The pool's fetch: Spotify search pages for genre g. */
static int pool_fetch(void *ctx, enum genre g, size_t want, int64_t deadline_ms,
                      struct mp_builder *b, struct music_pool_fetch_result *res,
                      char *err, size_t errlen)
{
    struct service *svc = ctx;
    struct spotify_fetch_stats st;
    struct pool_fill pf = {b};
    int rc;

    rc = spotify_fetch(svc->spotify, g, want, deadline_ms, pool_add, &pf, &st,
                       err, errlen);
    res->wanted = st.wanted;
    res->pages_failed = st.pages_failed;
    res->retry_at_ms = spotify_retry_at(svc->spotify);
    if (rc != 0 || st.pages_failed > 0)
        log_warn("spotify pool refresh for %s: %zu tracks from %zu of %zu "
                 "pages%s%s",
                 genre_name(g), mp_builder_count(b), st.pages - st.pages_failed,
                 st.pages, rc != 0 ? ": " : "", rc != 0 ? err : "");
    else
        log_info("spotify pool refresh for %s: %zu tracks from %zu pages "
                 "(%ld results)",
                 genre_name(g), mp_builder_count(b), st.pages, st.total);
    return rc;
}

static const char *weather_source(const struct config *cfg)
{
    return cfg->weather_provider == WEATHER_OWM ? "openweathermap"
                                                : "open-meteo";
}

static const char *weather_url(const struct config *cfg)
{
    return cfg->weather_provider == WEATHER_OWM ? cfg->openweather_url
                                                : cfg->open_meteo_url;
}

struct service *service_create(const struct config *cfg, char *err,
                               size_t errlen)
{
    struct service *svc = calloc(1, sizeof(*svc));
    struct cache_opts co = {0};
    char wurl[512], murl[512];

    if (svc == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    svc->cfg = cfg;
    co.ttl_s = cfg->weather_cache_ttl_s;
    co.stale_s = cfg->weather_cache_ttl_s + CACHE_STALE_EXTRA_S;
    co.max_entries = CACHE_MAX_ENTRIES;
    svc->cache = cache_create(&co);
    if (svc->cache == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    svc->catalog = catalog_create(err, errlen);
    if (svc->catalog == NULL)
        goto fail;
    if (cfg->weather_provider == WEATHER_OWM)
        svc->owm = owm_create(cfg);
    else
        svc->om = open_meteo_create(cfg);
    if (cfg->music_provider == MUSIC_SPOTIFY)
        svc->spotify = spotify_create(cfg);
    if (svc->spotify != NULL) {
        spotify_set_abort(svc->spotify, &svc->aborted);
        struct music_pool_opts po = {0};
        int64_t attempt =
            (int64_t)cfg->upstream_timeout_ms * (1 + cfg->upstream_retries);

        po.ttl_ms = (int64_t)cfg->music_pool_ttl_s * 1000;
        po.target = MUSIC_POOL_TRACKS;
        /* A refresh is two rounds: its first page, then the others. */
        po.fetch_budget_ms = 2 * attempt + 1000;
        po.fetch = pool_fetch;
        po.fetch_ctx = svc;
        svc->pool = music_pool_create(&po);
    }
    if ((svc->owm == NULL && svc->om == NULL) ||
        (cfg->music_provider == MUSIC_SPOTIFY &&
         (svc->spotify == NULL || svc->pool == NULL))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    /* Base URLs carry no keys, but mask any user:password in them. */
    snprintf(wurl, sizeof(wurl), "%s", weather_url(cfg));
    cfg_mask_url(wurl);
    snprintf(murl, sizeof(murl), "%s", cfg->spotify_api_url);
    cfg_mask_url(murl);
    log_info("weather provider %s (%s), music provider %s%s%s%s, "
             "weather cache %ld s, playlist size %ld%s",
             weather_source(cfg), wurl, svc->spotify ? "spotify" : "catalog",
             svc->spotify ? " (" : "", svc->spotify ? murl : "",
             svc->spotify ? ", catalog fallback)" : "",
             cfg->weather_cache_ttl_s, cfg->playlist_size,
             svc->spotify ? ", spotify track pool per genre" : "");
    return svc;
fail:
    service_destroy(svc);
    return NULL;
}

void service_destroy(struct service *svc)
{
    if (svc == NULL)
        return;
    music_pool_destroy(svc->pool); /* its refreshers use spotify */
    spotify_destroy(svc->spotify);
    owm_destroy(svc->owm);
    open_meteo_destroy(svc->om);
    catalog_destroy(svc->catalog);
    cache_destroy(svc->cache);
    free(svc);
}

struct service_worker *service_worker_create(struct service *svc)
{
    struct service_worker *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->svc = svc;
    w->hc = http_client_create();
    if (w->hc == NULL) {
        free(w);
        return NULL;
    }
    http_client_set_abort(w->hc, &svc->aborted);
    return w;
}

void service_worker_set_trace(struct service_worker *w, const struct trace *t)
{
    http_client_set_trace(w->hc, t);
}

void service_worker_destroy(struct service_worker *w)
{
    if (w == NULL)
        return;
    http_client_destroy(w->hc);
    free(w);
}

/* Fills a fault from a tempo_err; `city` names a city not found. */
static int fault(struct service_fault *f, int rc, const char *msg,
                 const char *city)
{
    f->exc_type = tempo_err_exc_type(rc);
    f->exc_path = tempo_err_exc_path(rc);
    if (rc == TEMPO_ENOCITY && city != NULL) {
        snprintf(f->value, sizeof(f->value), "city not found: %s", city);
        f->exc_args = json_pack("[s]", city);
    } else {
        snprintf(f->value, sizeof(f->value), "%s",
                 msg && msg[0] ? msg : tempo_err_code(rc));
        f->exc_args = json_pack("[s]", f->value);
    }
    return rc;
}

/* Identifier-like keys are named in messages; anything else is not
 * echoed, since it is arbitrary client input. */
static int printable_key(const char *k)
{
    size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    return n > 0 && n <= 64 && k[n] == '\0';
}

/* Margin kept before the caller's deadline to publish the reply. */
#define REPLY_MARGIN_MS 100

static const struct method *method_find(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}

/*
 * Binds Nameko args and kwargs to m's parameters as Python would: each
 * positional argument to the parameter in its place, keywords by name, no
 * unknown keyword, none given twice.  Returns 0 with *out a new object, or
 * TEMPO_EINTERNAL with an IncorrectSignature fault.
 */
static int bind_args(const struct method *m, const json_t *args,
                     const json_t *kwargs, json_t **out,
                     struct service_fault *f)
{
    size_t nparams = 0, i, j;
    const char *key;
    json_t *bound = NULL, *v;
    char msg[200];

    while (m->params[nparams] != NULL)
        nparams++;
    if (args != NULL && !json_is_array(args))
        return fault(f, TEMPO_ESIGNATURE, "args must be an array", NULL);
    if (kwargs != NULL && !json_is_object(kwargs))
        return fault(f, TEMPO_ESIGNATURE, "kwargs must be an object", NULL);
    if (json_array_size(args) > nparams) {
        snprintf(msg, sizeof(msg),
                 "%s() takes at most %zu positional arguments (%zu given)",
                 m->name, nparams, json_array_size(args));
        return fault(f, TEMPO_ESIGNATURE, msg, NULL);
    }
    json_object_foreach((json_t *)kwargs, key, v)
    {
        for (j = 0; j < nparams; j++)
            if (strcmp(m->params[j], key) == 0)
                break;
        if (j < nparams)
            continue;
        if (printable_key(key))
            snprintf(msg, sizeof(msg),
                     "%s() got an unexpected keyword argument '%s'", m->name,
                     key);
        else
            snprintf(msg, sizeof(msg),
                     "%s() got an unexpected keyword argument", m->name);
        return fault(f, TEMPO_ESIGNATURE, msg, NULL);
    }
    bound = kwargs != NULL ? json_copy((json_t *)kwargs) : json_object();
    if (bound == NULL)
        return fault(f, TEMPO_EINTERNAL, "out of memory", NULL);
    for (i = 0; i < json_array_size(args); i++) {
        if (json_object_get(bound, m->params[i]) != NULL) {
            snprintf(msg, sizeof(msg),
                     "%s() got multiple values for argument '%s'", m->name,
                     m->params[i]);
            json_decref(bound);
            return fault(f, TEMPO_ESIGNATURE, msg, NULL);
        }
        json_object_set(bound, m->params[i], json_array_get(args, i));
    }
    *out = bound;
    return 0;
}

int service_prepare(struct service *svc, const char *method, const json_t *args,
                    const json_t *kwargs, int64_t deadline_ms,
                    struct service_plan **plan, struct service_fault *f)
{
    const struct method *m = method_find(method);
    struct service_plan *p = NULL;
    char err[256] = "";
    int rc;

    memset(f, 0, sizeof(*f));
    if (m == NULL)
        return fault(f, TEMPO_EMETHODNF, method ? method : "", NULL);
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return fault(f, TEMPO_EINTERNAL, "out of memory", NULL);
    p->m = m;
    p->deadline_ms = deadline_ms;
    rc = bind_args(m, args, kwargs, &p->kwargs, f);
    if (rc < 0)
        goto fail;
    rc = m->prepare(svc, p, err, sizeof(err));
    if (rc < 0) {
        rc = fault(f, rc, err, NULL);
        goto fail;
    }
    if (deadline_ms > 0 && deadline_ms - REPLY_MARGIN_MS <= clock_mono_ms()) {
        rc = fault(f, TEMPO_ETIMEOUT, "the call expired before it started",
                   NULL);
        goto fail;
    }
    *plan = p;
    return 0;
fail:
    service_plan_free(p);
    return rc;
}

int service_plan_ready(struct service *svc, struct service_plan *p)
{
    return p->m->ready(svc, p);
}

int service_run(struct service_worker *w, struct service_plan *p,
                struct service_result *result, struct service_fault *f)
{
    int rc;

    memset(f, 0, sizeof(*f));
    memset(result, 0, sizeof(*result));
    rc = p->m->run(w, p, result, f);
    if (rc != 0)
        service_result_clear(result);
    return rc;
}

void service_result_clear(struct service_result *r)
{
    json_decref(r->obj);
    mp_set_unref(r->hold);
    memset(r, 0, sizeof(*r));
}

json_t *service_result_json(const struct service_result *r)
{
    char *body = nameko_reply_encode_result_spliced(r->obj, "tracks", r->tracks,
                                                    r->ntracks, NULL);
    struct nameko_reply reply;
    json_t *out = NULL;
    char err[128];

    if (body != NULL && nameko_reply_decode(body, strlen(body), &reply, err,
                                            sizeof(err)) == 0) {
        out = json_incref(reply.result);
        nameko_reply_clear(&reply);
    }
    free(body);
    return out;
}

void service_plan_free(struct service_plan *p)
{
    if (p == NULL)
        return;
    json_decref(p->kwargs);
    mp_set_unref(p->set);
    free(p);
}

int service_call(struct service_worker *w, const char *method,
                 const json_t *args, const json_t *kwargs, int64_t deadline_ms,
                 json_t **result, struct service_fault *f)
{
    struct service_plan *p = NULL;
    struct service_result res;
    int rc = service_prepare(w->svc, method, args, kwargs, deadline_ms, &p, f);

    *result = NULL;
    if (rc == 0)
        rc = service_run(w, p, &res, f);
    service_plan_free(p);
    if (rc == 0) {
        *result = service_result_json(&res);
        service_result_clear(&res);
        if (*result == NULL)
            rc = fault(f, TEMPO_EINTERNAL, "the reply cannot be encoded", NULL);
    }
    return rc;
}

void service_abort(struct service *svc)
{
    atomic_store(&svc->aborted, 1);
}

/* JSON null counts as absent, as Python's None would for a kwarg. */
static const json_t *kwarg(const json_t *kwargs, const char *name)
{
    const json_t *v = json_object_get(kwargs, name);

    return json_is_null(v) ? NULL : v;
}

/* Turns kwargs into a query; 0 or TEMPO_EINVAL with a message in err. */
static int parse_query(const json_t *kwargs, struct weather_query *q,
                       char country[3], char *err, size_t errlen)
{
    const json_t *city = kwarg(kwargs, "city");
    const json_t *cc = kwarg(kwargs, "country");
    const json_t *lat = kwarg(kwargs, "lat");
    const json_t *lon = kwarg(kwargs, "lon");

    memset(q, 0, sizeof(*q));
    if (city != NULL && (lat != NULL || lon != NULL)) {
        snprintf(err, errlen, "give either city or lat/lon, not both");
        return TEMPO_EINVAL;
    }
    if (city != NULL) {
        if (!json_is_string(city)) {
            snprintf(err, errlen, "city must be a string");
            return TEMPO_EINVAL;
        }
        if (validate_city(json_string_value(city), json_string_length(city),
                          err, errlen) != 0)
            return TEMPO_EINVAL;
        q->city = json_string_value(city);
        if (cc != NULL) {
            if (!json_is_string(cc)) {
                snprintf(err, errlen, "country must be a string");
                return TEMPO_EINVAL;
            }
            if (validate_country(json_string_value(cc), json_string_length(cc),
                                 country, err, errlen) != 0)
                return TEMPO_EINVAL;
            q->country = country;
        }
        return 0;
    }
    if (lat == NULL && lon == NULL) {
        snprintf(err, errlen, "city or lat and lon are required");
        return TEMPO_EINVAL;
    }
    if (lat == NULL || lon == NULL) {
        snprintf(err, errlen, "lat and lon go together");
        return TEMPO_EINVAL;
    }
    if (cc != NULL) {
        snprintf(err, errlen, "country goes with city, not lat/lon");
        return TEMPO_EINVAL;
    }
    if (!json_is_number(lat) || !json_is_number(lon)) {
        snprintf(err, errlen, "lat and lon must be numbers");
        return TEMPO_EINVAL;
    }
    q->lat = json_number_value(lat);
    q->lon = json_number_value(lon);
    if (validate_coord_value(q->lat, -90.0, 90.0, "lat", err, errlen) != 0 ||
        validate_coord_value(q->lon, -180.0, 180.0, "lon", err, errlen) != 0)
        return TEMPO_EINVAL;
    return 0;
}

struct weather_ctx {
    struct service_worker *w;
    const struct weather_query *q;
    int64_t deadline_ms;
};

static int fetch_weather(void *ctx, struct weather_report *out, char *err,
                         size_t errlen)
{
    struct weather_ctx *c = ctx;
    struct service *svc = c->w->svc;

    if (svc->owm != NULL)
        return owm_fetch(svc->owm, c->w->hc, c->q, c->deadline_ms, out, err,
                         errlen);
    return open_meteo_fetch(svc->om, c->w->hc, c->q, c->deadline_ms, out, err,
                            errlen);
}

/*
 * The deadline of one upstream phase (weather, then music): its own
 * retry budget, cut to the caller's deadline when the call carries one, so
 * no thread keeps working for a client that has already been answered.
 * Once the service is aborted, now.
 */
static int64_t phase_deadline(const struct service_worker *w,
                              const struct service_plan *p)
{
    const struct config *cfg = w->svc->cfg;
    int64_t now = clock_mono_ms();
    int64_t d =
        now + (int64_t)cfg->upstream_timeout_ms * (1 + cfg->upstream_retries);

    if (atomic_load(&w->svc->aborted))
        return now;
    if (p->deadline_ms > 0 && p->deadline_ms - REPLY_MARGIN_MS < d)
        d = p->deadline_ms - REPLY_MARGIN_MS;
    return d;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *location_json(const struct weather_query *q,
                             const struct weather_report *r)
{
    json_t *lat, *lon;

    if (q->city == NULL) { /* report what was asked, not a grid point */
        lat = json_real(q->lat);
        lon = json_real(q->lon);
    } else if (r->has_coords) {
        lat = json_real(r->lat);
        lon = json_real(r->lon);
    } else {
        lat = json_null();
        lon = json_null();
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "name", str_or_null(r->name),
                     "country", str_or_null(r->country), "lat", lat, "lon",
                     lon);
}

static int playlist_prepare(struct service *svc, struct service_plan *p,
                            char *err, size_t errlen)
{
    int rc;

    (void)svc;
    rc = parse_query(p->kwargs, &p->q, p->country, err, errlen);
    if (rc == 0)
        rc = cache_key(&p->q, p->key);
    if (rc != 0 && err[0] == '\0')
        snprintf(err, errlen, "city is too long");
    return rc != 0 ? TEMPO_EINVAL : 0;
}

/* Music without waiting: the genre's pool when it has one, the catalog
 * (degraded) while its failed first fetch backs off.  Returns
 * MUSIC_POOL_WOULD_BLOCK when a first fetch must be waited for. */
static int pool_tracks(struct service *svc, struct service_plan *p,
                       enum genre g, int wait, int64_t deadline_ms)
{
    int rc;

    rc = music_pool_get(svc->pool, g, wait, deadline_ms, &p->set, p->music_err,
                        sizeof(p->music_err));
    if (rc == MUSIC_POOL_WOULD_BLOCK)
        return rc;
    if (rc == MUSIC_POOL_UNAVAILABLE) /* logged once by the refresher */
        log_debug("music provider unavailable (%s); serving the built-in "
                  "catalog",
                  p->music_err);
    else if (rc != 0)
        log_warn("music provider failed (%s); serving the built-in catalog",
                 p->music_err);
    p->have_tracks = 1;
    return 0;
}

/* Weather from a fresh cache entry, music from the built-in catalog or a
 * warm track pool: no upstream call, no wait. */
static int playlist_ready(struct service *svc, struct service_plan *p)
{
    enum genre g;

    if (cache_peek(svc->cache, p->key, &p->weather) != 0)
        return 0;
    p->have_weather = 1;
    if (svc->pool == NULL)
        return 1;
    if (genre_from_celsius(p->weather.temp_c, &g) != 0)
        return 1; /* playlist_run reports the garbage */
    return pool_tracks(svc, p, g, 0, 0) == 0;
}

static int playlist_run(struct service_worker *w, struct service_plan *p,
                        struct service_result *result, struct service_fault *f)
{
    struct service *svc = w->svc;
    const struct config *cfg = svc->cfg;
    struct weather_report rep;
    struct weather_ctx ctx;
    enum cache_how how = CACHE_HIT;
    enum genre g;
    char err[256];
    json_t *res;
    const char *music = "catalog";
    size_t k = (size_t)cfg->playlist_size;
    int rc = 0, degraded = 0;

    err[0] = '\0';
    if (p->have_weather) {
        rep = p->weather;
    } else {
        ctx.w = w;
        ctx.q = &p->q;
        ctx.deadline_ms = phase_deadline(w, p);
        rc = cache_get(svc->cache, p->key, fetch_weather, &ctx, ctx.deadline_ms,
                       &rep, &how, err, sizeof(err));
    }
    if (rc != 0)
        return fault(f, rc, err, p->q.city);
    if (how == CACHE_STALE)
        log_warn("weather provider failed (%s); serving a stale cached "
                 "answer",
                 err);
    if (genre_from_celsius(rep.temp_c, &g) != 0)
        return fault(f, TEMPO_EUPSTREAM, "weather provider answered garbage",
                     NULL);

    if (svc->pool != NULL) {
        if (!p->have_tracks)
            pool_tracks(svc, p, g, 1, phase_deadline(w, p));
        result->hold = p->set;
        p->set = NULL;
        if (result->hold != NULL)
            music = "spotify";
        else
            degraded = 1;
    }
    if (result->hold != NULL)
        result->ntracks =
            mp_set_pick(result->hold, k, pool_random, NULL, result->tracks);
    else
        result->ntracks = catalog_pick(svc->catalog, g, k, result->tracks);
    if (result->ntracks == 0)
        return fault(f, TEMPO_EINTERNAL, "no tracks available", NULL);

    /* "tracks" holds its place in the object; the worker splices the
     * picked tracks' bytes there (nameko_reply_encode_result_spliced). */
    res = json_pack("{s:o, s:f, s:s, s:n, s:{s:s, s:s}, s:b, s:s}", "location",
                    location_json(&p->q, &rep), "temperature_c", rep.temp_c,
                    "genre", genre_name(g), "tracks", "sources", "weather",
                    weather_source(cfg), "music", music, "cached",
                    how != CACHE_FETCHED, "worker", cfg->worker_id);
    if (res != NULL && degraded) {
        json_object_set_new(res, "degraded", json_true());
        wmetrics_degraded();
    }
    if (res != NULL && how == CACHE_STALE)
        json_object_set_new(res, "stale", json_true());
    if (res == NULL)
        return fault(f, TEMPO_EINTERNAL, "out of memory", NULL);
    result->obj = res;
    return 0;
}
