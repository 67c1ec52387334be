/*
 * fake_server.c - shared state, routing, fault injection and the /_fake/
 * control endpoints of fake-upstream.
 *
 * DESIGN
 *   All mutable state (counters, last queries, the fault queue, latency,
 *   token epoch and serial) lives in struct server behind one mutex; the
 *   config is copied in at creation and never changes.  The lock is never
 *   held while a request sleeps or builds JSON for an upstream answer.
 *   Sleeps wait on a condition variable (CLOCK_MONOTONIC) that
 *   server_stop broadcasts, so shutdown never waits for --slow-ms.
 *
 *   Routing is a const table: path, label, method, which API's error
 *   format applies, the handler, and the broken bodies used by faults.
 *   /v1/search is shared by Open-Meteo geocoding (name=) and Spotify
 *   (q= or query=, or an Authorization header when neither is there).
 *
 *   Faults form one FIFO list; a request takes the oldest entry whose path
 *   equals its label or its raw path, and the entry goes when its count
 *   reaches zero.
 */
#include "fake.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define LAST_MAX 4096 /* bytes of raw query kept per label */
#define FAULTS_MAX 1024
#define FAULT_PATH_MAX 256
#define TIMES_MAX 256 /* arrival times kept per label */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

enum api { API_OWM, API_METEO, API_ACCOUNTS, API_SPOTIFY, API_NONE };
enum route_id {
    R_OWM,
    R_GEOCODING,
    R_FORECAST,
    R_TOKEN,
    R_SEARCH,
    R_UNKNOWN,
    R_COUNT
};
enum body_kind {
    BODY_NORMAL,
    BODY_ERROR,
    BODY_GARBAGE,
    BODY_WRONGTYPE,
    BODY_EMPTY
};

typedef void handler_fn(const struct call *c, struct reply *r);

struct fault {
    struct fault *next;
    char path[FAULT_PATH_MAX + 1];
    unsigned status; /* 0: keep the normal status */
    enum body_kind body;
    long retry_after; /* -1: none (a 429 still gets 1) */
    long delay_ms;
    long remaining;    /* count-based faults */
    uint64_t until_ms; /* window faults: every request until then */
};

struct server {
    struct fake_config cfg;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* broadcast by server_stop */
    bool stopping;
    long latency_ms;
    long long total;
    long long count[R_COUNT];
    char *last[R_COUNT];
    char *last_trace[R_COUNT];          /* traceparent of the last request */
    uint64_t start_ms;                  /* for arrival times */
    uint64_t times[R_COUNT][TIMES_MAX]; /* ring of arrival times */
    long long ntimes[R_COUNT];
    long spotify_total[SPOTIFY_GENRES_MAX]; /* -1: the default */
    char spotify_genre[SPOTIFY_GENRES_MAX][32];
    size_t n_genres;
    struct fault *faults, *faults_tail;
    size_t n_faults;
    uint64_t token_key, token_epoch, token_serial;
};

/* ---- replies ------------------------------------------------------- */

void reply_json(struct reply *r, unsigned status, json_t *j)
{
    char *text = j != NULL ? json_dumps(j, DUMP_FLAGS) : NULL;

    json_decref(j);
    free(r->body);
    r->status = text != NULL ? status : 500;
    r->body = text != NULL ? text
                           : strdup("{\"error\":\"fake-upstream: no memory\"}");
}

void reply_text(struct reply *r, unsigned status, const char *text)
{
    free(r->body);
    r->status = status;
    r->body = strdup(text);
}

const char *call_header(const struct call *c, const char *name)
{
    return MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, name);
}

/* The error body each API really sends for an HTTP status. */
static json_t *api_error_json(enum api api, unsigned s)
{
    const char *phrase = MHD_get_reason_phrase_for(s);

    switch (api) {
    case API_OWM:
        return owm_error(s, s == 401   ? OWM_MSG_401
                            : s == 404 ? "city not found"
                            : s == 429 ? OWM_MSG_429
                            : s == 400 ? "Nothing to geocode"
                            : s >= 500 ? "Internal error"
                                       : phrase);
    case API_METEO:
        return meteo_error(s == 429   ? METEO_MSG_429
                           : s >= 500 ? "Internal error"
                                      : phrase);
    case API_ACCOUNTS:
        if (s == 400 || s == 401)
            return accounts_error("invalid_client", "Invalid client");
        if (s >= 500)
            return accounts_error("server_error", "Internal server error");
        return accounts_error("invalid_request", phrase);
    case API_SPOTIFY:
        return spotify_error(s, s == 401   ? "The access token expired"
                                : s == 429 ? "API rate limit exceeded"
                                : s == 503 ? "Service unavailable"
                                : s >= 500 ? "Server error"
                                           : phrase);
    case API_NONE:
        break;
    }
    return spotify_error(s, phrase);
}

/* ---- state --------------------------------------------------------- */

struct server *server_create(const struct fake_config *cfg)
{
    struct server *srv = calloc(1, sizeof *srv);
    pthread_condattr_t ca;
    uint64_t key = 0;

    if (srv == NULL)
        return NULL;
    srv->cfg = *cfg;
    srv->latency_ms = cfg->latency_ms;
    srv->start_ms = fu_now_ms();
    if (getrandom(&key, sizeof key, 0) != (ssize_t)sizeof key)
        key = fu_now_ms() ^ ((uint64_t)getpid() << 32);
    srv->token_key = fu_mix64(key);
    if (pthread_mutex_init(&srv->lock, NULL) != 0)
        goto fail_mutex;
    if (pthread_condattr_init(&ca) != 0)
        goto fail_attr;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&srv->wake, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail_attr;
    }
    pthread_condattr_destroy(&ca);
    return srv;
fail_attr:
    pthread_mutex_destroy(&srv->lock);
fail_mutex:
    free(srv);
    return NULL;
}

/* Caller holds the lock. */
static void faults_clear(struct server *srv)
{
    while (srv->faults != NULL) {
        struct fault *f = srv->faults;

        srv->faults = f->next;
        free(f);
    }
    srv->faults_tail = NULL;
    srv->n_faults = 0;
}

void server_destroy(struct server *srv)
{
    if (srv == NULL)
        return;
    faults_clear(srv);
    for (int i = 0; i < R_COUNT; i++) {
        free(srv->last[i]);
        free(srv->last_trace[i]);
    }
    pthread_cond_destroy(&srv->wake);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

void server_stop(struct server *srv)
{
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->wake);
    pthread_mutex_unlock(&srv->lock);
}

const struct fake_config *server_config(const struct server *srv)
{
    return &srv->cfg;
}

void server_sleep(struct server *srv, long ms)
{
    struct timespec dl;

    if (ms <= 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->lock);
    while (!srv->stopping &&
           pthread_cond_timedwait(&srv->wake, &srv->lock, &dl) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&srv->lock);
}

void server_token_state(struct server *srv, uint64_t *key, uint64_t *epoch,
                        uint64_t *serial)
{
    pthread_mutex_lock(&srv->lock);
    *key = srv->token_key;
    *epoch = srv->token_epoch;
    if (serial != NULL)
        *serial = ++srv->token_serial;
    pthread_mutex_unlock(&srv->lock);
}

/* Caller holds the lock.  Copies out and consumes the oldest fault for
 * this label or raw path; false if there is none. */
static bool faults_take(struct server *srv, const char *label, const char *path,
                        struct fault *out)
{
    struct fault *prev = NULL, *next;
    uint64_t now = fu_now_ms();

    for (struct fault *f = srv->faults; f != NULL; f = next) {
        next = f->next;
        if (f->until_ms != 0 && now >= f->until_ms) { /* window over */
            if (prev != NULL)
                prev->next = next;
            else
                srv->faults = next;
            if (srv->faults_tail == f)
                srv->faults_tail = prev;
            srv->n_faults--;
            free(f);
            continue;
        }
        if (strcmp(f->path, label) != 0 && strcmp(f->path, path) != 0) {
            prev = f;
            continue;
        }
        *out = *f;
        if (f->until_ms != 0 || --f->remaining > 0)
            return true;
        if (prev != NULL)
            prev->next = f->next;
        else
            srv->faults = f->next;
        if (srv->faults_tail == f)
            srv->faults_tail = prev;
        srv->n_faults--;
        free(f);
        return true;
    }
    return false;
}

/* Caller holds the lock.  Requests that queued faults will still hit. */
static long long faults_pending(const struct server *srv)
{
    long long n = 0;

    for (const struct fault *f = srv->faults; f != NULL; f = f->next)
        if (f->until_ms == 0)
            n += f->remaining;
    return n;
}

/* Caller holds the lock.  Window faults not yet over. */
static long long fault_windows(const struct server *srv)
{
    uint64_t now = fu_now_ms();
    long long n = 0;

    for (const struct fault *f = srv->faults; f != NULL; f = f->next)
        n += f->until_ms != 0 && now < f->until_ms;
    return n;
}

/* ---- upstream routes ----------------------------------------------- */

struct route {
    const char *path;   /* exact request path; NULL for R_UNKNOWN */
    const char *label;  /* key in /_fake/requests and for faults */
    const char *method; /* accepted method (GET also takes HEAD) */
    enum api api;       /* error format for injected statuses */
    handler_fn *handle;
    const char *garbage; /* truncated JSON for body=garbage */
    json_t *(*wrongtype)(void);
};

static const struct route routes[R_COUNT] = {
    [R_OWM] = {"/data/2.5/weather", "/data/2.5/weather", "GET", API_OWM,
               owm_handle,
               "{\"coord\": {\"lon\": -0.1257}, \"main\": "
               "{\"temp\": ",
               owm_wrongtype},
    [R_GEOCODING] = {"/v1/search", "/v1/search(geocoding)", "GET", API_METEO,
                     meteo_handle_geocoding,
                     "{\"results\": [{\"id\": 1, \"latitude\": ",
                     meteo_geocoding_wrongtype},
    [R_FORECAST] = {"/v1/forecast", "/v1/forecast", "GET", API_METEO,
                    meteo_handle_forecast,
                    "{\"latitude\": 51.5, "
                    "\"current\": {\"temperature_2m\": ",
                    meteo_forecast_wrongtype},
    [R_TOKEN] = {"/api/token", "/api/token", "POST", API_ACCOUNTS,
                 spotify_handle_token, "{\"access_token\": \"BQ",
                 spotify_token_wrongtype},
    [R_SEARCH] = {"/v1/search", "/v1/search(spotify)", "GET", API_SPOTIFY,
                  spotify_handle_search,
                  "{\"tracks\": {\"items\": "
                  "[{\"name\": ",
                  spotify_search_wrongtype},
    [R_UNKNOWN] = {NULL, "(unknown)", NULL, API_NONE, NULL,
                   "{\"error\": ", NULL},
};

static enum route_id route_find(const struct call *c)
{
    if (strcmp(c->path, "/v1/search") == 0) {
        if (fu_args_get(c->q, "name") != NULL)
            return R_GEOCODING;
        if (fu_args_get(c->q, "q") != NULL ||
            fu_args_get(c->q, "query") != NULL ||
            call_header(c, "Authorization") != NULL)
            return R_SEARCH;
        return R_GEOCODING;
    }
    for (int i = 0; i < R_UNKNOWN; i++)
        if (strcmp(c->path, routes[i].path) == 0)
            return (enum route_id)i;
    return R_UNKNOWN;
}

static void reply_fault(const struct fault *f, const struct route *rt,
                        struct reply *r)
{
    unsigned status = f->status != 0 ? f->status : 200;

    switch (f->body) {
    case BODY_GARBAGE:
        reply_text(r, status, rt->garbage);
        break;
    case BODY_WRONGTYPE:
        reply_json(r, status,
                   rt->wrongtype != NULL ? rt->wrongtype()
                                         : json_pack("{s:i}", "error", 42));
        break;
    case BODY_EMPTY:
        reply_text(r, status, "");
        break;
    case BODY_ERROR:
    case BODY_NORMAL:
        reply_json(r, status, api_error_json(rt->api, status));
        break;
    }
    r->retry_after = f->retry_after >= 0 ? f->retry_after
                     : status == 429     ? 1
                                         : -1;
}

static bool method_ok(const char *method, const char *want)
{
    return strcmp(method, want) == 0 ||
           (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* An upstream request: count it, take a fault, sleep, then answer. */
static void serve_api(const struct call *c, struct reply *r)
{
    struct server *srv = c->srv;
    enum route_id id = route_find(c);
    const struct route *rt = &routes[id];
    char *last = fu_escape_raw(c->raw_query, LAST_MAX);
    const char *tp = call_header(c, "traceparent");
    char *trace = tp != NULL ? fu_escape_raw(tp, 128) : NULL;
    struct fault f;
    bool faulted;
    long latency;

    pthread_mutex_lock(&srv->lock);
    srv->total++;
    srv->count[id]++;
    srv->times[id][srv->ntimes[id]++ % TIMES_MAX] = fu_now_ms();
    if (last != NULL) {
        free(srv->last[id]);
        srv->last[id] = last;
    }
    free(srv->last_trace[id]);
    srv->last_trace[id] = trace;
    faulted = faults_take(srv, rt->label, c->path, &f);
    latency = srv->latency_ms;
    pthread_mutex_unlock(&srv->lock);

    server_sleep(srv, latency + (faulted ? f.delay_ms : 0));
    if (faulted && f.body != BODY_NORMAL) {
        reply_fault(&f, rt, r);
    } else if (rt->handle == NULL) {
        reply_json(r, 404, spotify_error(404, "Service not found"));
    } else if (!method_ok(c->method, rt->method)) {
        reply_json(r, 405, api_error_json(rt->api, 405));
        r->allow = strcmp(rt->method, "GET") == 0 ? "GET, HEAD" : rt->method;
    } else {
        rt->handle(c, r);
    }
}

/* ---- control endpoints --------------------------------------------- */

static json_t *ctl_error(const char *msg)
{
    return json_pack("{s:s}", "error", msg);
}

/* Fills f from the query; returns an error message or NULL. */
static const char *fault_parse(const struct call *c, struct fault *f)
{
    const char *path = fu_args_get(c->q, "path");
    const char *status = fu_args_get(c->q, "status");
    const char *count = fu_args_get(c->q, "count");
    const char *retry = fu_args_get(c->q, "retry_after");
    const char *body = fu_args_get(c->q, "body");
    const char *delay = fu_args_get(c->q, "delay_ms");
    const char *window = fu_args_get(c->q, "duration_ms");
    long v;

    f->remaining = 1;
    f->retry_after = -1;
    if (path == NULL || path[0] != '/' || strlen(path) > FAULT_PATH_MAX ||
        strncmp(path, "/_fake/", 7) == 0)
        return "path must be an upstream path like /v1/search";
    memcpy(f->path, path, strlen(path) + 1);
    if (status != NULL) {
        if (!fu_parse_long(status, 100, 599, &v))
            return "status must be 100..599";
        f->status = (unsigned)v;
        f->body = v == 200 ? BODY_NORMAL : BODY_ERROR;
    }
    if (body != NULL) {
        f->body = strcmp(body, "garbage") == 0     ? BODY_GARBAGE
                  : strcmp(body, "wrongtype") == 0 ? BODY_WRONGTYPE
                  : strcmp(body, "empty") == 0     ? BODY_EMPTY
                                                   : BODY_NORMAL;
        if (f->body == BODY_NORMAL)
            return "body must be garbage, wrongtype or empty";
    }
    if (count != NULL && !fu_parse_long(count, 1, 1000000, &f->remaining))
        return "count must be 1..1000000";
    if (retry != NULL && !fu_parse_long(retry, 0, 86400, &f->retry_after))
        return "retry_after must be 0..86400";
    if (delay != NULL && !fu_parse_long(delay, 0, 600000, &f->delay_ms))
        return "delay_ms must be 0..600000";
    if (window != NULL) {
        if (count != NULL)
            return "give count or duration_ms, not both";
        if (!fu_parse_long(window, 1, 3600000, &v))
            return "duration_ms must be 1..3600000";
        f->until_ms = fu_now_ms() + (uint64_t)v;
    }
    if (status == NULL && body == NULL && delay == NULL)
        return "give status, body or delay_ms";
    return NULL;
}

static void ctl_fault(const struct call *c, struct reply *r)
{
    struct server *srv = c->srv;
    struct fault *f = calloc(1, sizeof *f);
    const char *err = f != NULL ? fault_parse(c, f) : "out of memory";
    long long pending = 0;

    if (err != NULL) {
        reply_json(r, 400, ctl_error(err));
        free(f);
        return;
    }
    pthread_mutex_lock(&srv->lock);
    if (srv->n_faults < FAULTS_MAX) {
        if (srv->faults_tail != NULL)
            srv->faults_tail->next = f;
        else
            srv->faults = f;
        srv->faults_tail = f;
        srv->n_faults++;
        f = NULL;
    }
    pending = faults_pending(srv);
    pthread_mutex_unlock(&srv->lock);
    if (f != NULL) {
        free(f);
        reply_json(r, 400, ctl_error("too many queued faults"));
        return;
    }
    reply_json(
        r, 200,
        json_pack("{s:b,s:I}", "ok", 1, "faults_pending", (json_int_t)pending));
}

static void ctl_latency(const struct call *c, struct reply *r)
{
    long ms;

    if (!fu_parse_long(fu_args_get(c->q, "ms"), 0, 600000, &ms)) {
        reply_json(r, 400, ctl_error("ms must be 0..600000"));
        return;
    }
    pthread_mutex_lock(&c->srv->lock);
    c->srv->latency_ms = ms;
    pthread_mutex_unlock(&c->srv->lock);
    reply_json(r, 200,
               json_pack("{s:b,s:I}", "ok", 1, "latency_ms", (json_int_t)ms));
}

static void ctl_expire(const struct call *c, struct reply *r)
{
    pthread_mutex_lock(&c->srv->lock);
    c->srv->token_epoch++;
    pthread_mutex_unlock(&c->srv->lock);
    reply_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static void ctl_requests(const struct call *c, struct reply *r)
{
    struct server *srv = c->srv;
    json_t *paths = json_object(), *last = json_object(), *j;
    json_t *traces = json_object();
    json_t *times = json_object();

    pthread_mutex_lock(&srv->lock);
    for (int i = 0; i < R_COUNT && paths != NULL && last != NULL; i++) {
        if (srv->last_trace[i] != NULL && traces != NULL)
            json_object_set_new(traces, routes[i].label,
                                json_string(srv->last_trace[i]));
        if (srv->count[i] == 0)
            continue;
        json_object_set_new(paths, routes[i].label,
                            json_integer(srv->count[i]));
        if (srv->last[i] != NULL)
            json_object_set_new(last, routes[i].label,
                                json_string(srv->last[i]));
    }
    for (int i = 0; i < R_COUNT && times != NULL; i++) {
        long long n = srv->ntimes[i], first = n > TIMES_MAX ? n - TIMES_MAX : 0;
        json_t *arr = json_array();

        if (n == 0 || arr == NULL) {
            json_decref(arr);
            continue;
        }
        for (long long k = first; k < n; k++)
            json_array_append_new(
                arr, json_integer((json_int_t)(srv->times[i][k % TIMES_MAX] -
                                               srv->start_ms)));
        json_object_set_new(times, routes[i].label, arr);
    }
    j = json_pack("{s:I,s:o,s:o,s:o,s:o,s:I,s:I,s:I}", "total",
                  (json_int_t)srv->total, "paths", paths, "last", last,
                  "traceparent", traces, "times", times, "faults_pending",
                  (json_int_t)faults_pending(srv), "fault_windows",
                  (json_int_t)fault_windows(srv), "latency_ms",
                  (json_int_t)srv->latency_ms);
    pthread_mutex_unlock(&srv->lock);
    reply_json(r, 200, j);
}

long server_spotify_total(struct server *srv, const char *genre)
{
    long total = srv->cfg.spotify_total;

    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->n_genres; i++)
        if (strcasecmp(srv->spotify_genre[i], genre) == 0)
            total = srv->spotify_total[i];
    pthread_mutex_unlock(&srv->lock);
    return total;
}

static void ctl_spotify(const struct call *c, struct reply *r)
{
    struct server *srv = c->srv;
    const char *genre = fu_args_get(c->q, "genre");
    long total;
    size_t i;

    if (genre == NULL || genre[0] == '\0' || strlen(genre) >= 32) {
        reply_json(r, 400, ctl_error("genre must be 1..31 bytes"));
        return;
    }
    if (!fu_parse_long(fu_args_get(c->q, "total"), 0, 100000, &total)) {
        reply_json(r, 400, ctl_error("total must be 0..100000"));
        return;
    }
    pthread_mutex_lock(&srv->lock);
    for (i = 0; i < srv->n_genres; i++)
        if (strcasecmp(srv->spotify_genre[i], genre) == 0)
            break;
    if (i == srv->n_genres && i < SPOTIFY_GENRES_MAX) {
        snprintf(srv->spotify_genre[i], sizeof(srv->spotify_genre[i]), "%s",
                 genre);
        srv->n_genres++;
    }
    if (i < srv->n_genres)
        srv->spotify_total[i] = total;
    pthread_mutex_unlock(&srv->lock);
    if (i >= SPOTIFY_GENRES_MAX) {
        reply_json(r, 400, ctl_error("too many genres"));
        return;
    }
    reply_json(r, 200,
               json_pack("{s:b,s:s,s:I}", "ok", 1, "genre", genre, "total",
                         (json_int_t)total));
}

static void ctl_reset(const struct call *c, struct reply *r)
{
    struct server *srv = c->srv;

    pthread_mutex_lock(&srv->lock);
    srv->total = 0;
    for (int i = 0; i < R_COUNT; i++) {
        srv->count[i] = 0;
        srv->ntimes[i] = 0;
        free(srv->last[i]);
        srv->last[i] = NULL;
        free(srv->last_trace[i]);
        srv->last_trace[i] = NULL;
    }
    srv->n_genres = 0;
    faults_clear(srv);
    srv->latency_ms = srv->cfg.latency_ms;
    pthread_mutex_unlock(&srv->lock);
    reply_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static const struct {
    const char *path, *method;
    handler_fn *handle;
} controls[] = {
    {"/_fake/fault", "POST", ctl_fault},
    {"/_fake/latency", "POST", ctl_latency},
    {"/_fake/expire-tokens", "POST", ctl_expire},
    {"/_fake/requests", "GET", ctl_requests},
    {"/_fake/reset", "POST", ctl_reset},
    {"/_fake/spotify", "POST", ctl_spotify},
};

static void serve_control(const struct call *c, struct reply *r)
{
    for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) {
        if (strcmp(c->path, controls[i].path) != 0)
            continue;
        if (method_ok(c->method, controls[i].method)) {
            controls[i].handle(c, r);
        } else {
            reply_json(r, 405, ctl_error("method not allowed"));
            r->allow = controls[i].method;
        }
        return;
    }
    reply_json(r, 404, ctl_error("unknown control endpoint"));
}

void server_handle(const struct call *c, struct reply *r)
{
    if (strncmp(c->path, "/_fake/", 7) == 0)
        serve_control(c, r);
    else
        serve_api(c, r);
}
