/*
 * fake_upstream.c - one loopback HTTP server that impersonates every upstream
 * the weather-service calls: OpenWeatherMap, Open-Meteo (geocoding and
 * forecast) and Spotify (accounts token and search), in their real formats
 * and status codes, with latency and fault injection for tests.
 *
 * CLI
 *   fake-upstream --port N [--latency-ms N] [--slow-ms N] [--owm-key K]
 *                 [--spotify-id I] [--spotify-secret S] [--token-ttl-s N]
 *                 [--spotify-total N]
 *   Defaults: latency 0, slow 3000, key "test-key", id "test-id", secret
 *   "test-secret", token TTL 3600, 1000 search results per genre. "--opt=value"
 * works too.  --port 0 picks a free port.  Binds 127.0.0.1 only.  Once
 * listening it prints exactly one line "READY <port>" to stdout; SIGTERM/SIGINT
 * stop it (sleeping requests are woken, exit status 0).  Bad usage: exit 2.
 *
 * Endpoints (point every *_URL of the worker at http://127.0.0.1:<port>)
 *   GET  /data/2.5/weather  OWM: q=<city>[,<state>][,<cc>] or lat=&lon=,
 *                           appid (401 if wrong), units=metric|imperial,
 *                           anything else = Kelvin like the real API.
 *   GET  /v1/search         Open-Meteo geocoding when the query has name=,
 *                           else Spotify search (q= or query=; with neither,
 *                           a request carrying Authorization is Spotify).
 *   GET  /v1/forecast       Open-Meteo: latitude, longitude, current=...,
 *                           temperature_unit=celsius|fahrenheit.
 *   POST /api/token         Spotify accounts: client_credentials with HTTP
 *                           Basic (or client_id/client_secret in the form).
 *   GET  /v1/search         Spotify: q=genre:<g>, type=track, limit 1..10
 *                           (default 10), offset 0..1000, Bearer token.
 *                           tracks.total is the genre's result count;
 *                           items past it are absent.  Items carry the
 *                           real fields (album with images and
 *                           available_markets, external_ids, ...), so a
 *                           page of 10 is ~27 KB like Spotify's.
 *   Query parameters: first occurrence wins, '+' and %XX are decoded.
 *
 * Temperature model (deterministic)
 *   Known cities (case-insensitive): London 12.4 GB, Lisbon 22.0 PT,
 *   Cairo 35.0 EG, Oslo 3.0 NO, Paris 15.0 FR, Berlin 10.0 DE, Springfield
 *   US 20.0 and AU 25.0 (US first).  A known city with a non-matching
 *   country code is not found.
 *   "Temp<n>" (Temp30.01, Temp-5): exactly n degrees, country XX.
 *   Any other name: -5..35 degrees from a hash of the lower-cased name.
 *   Synthetic cities take the requested country code (else XX).
 *   Coordinates: a known city within 0.01 degree gives its temperature,
 *   anything else gives lat / 2 rounded to 2 decimals (OWM then answers
 *   with name "" and no sys.country, like for a point at sea).
 *   Synthetic cities are placed at lat = 2 * temperature (0 when |t| > 45),
 *   so geocoding + forecast gives the same temperature as OWM by name.
 *
 * Magic city names (case-insensitive; OWM q= and geocoding name=)
 *   Atlantis    not found (OWM 404; geocoding 200 without "results")
 *   Errorville  500 with the API's error body
 *   Garbage     200 with a truncated JSON body
 *   Wrongtype   200 with wrong JSON types (OWM main.temp "hot", geocoding
 *               latitude as a string)
 *   Ratelimit   429 with Retry-After: 1
 *   Slowville   normal answer (18.0 degrees) after --slow-ms (by name
 *               only; a forecast for its coordinates is not slow)
 *   Every request except /_fake/ ones first sleeps the global latency.
 *
 * Control API (not counted, no latency; answers are JSON)
 *   POST /_fake/fault?path=P[&status=S][&count=N][&retry_after=R]
 *                     [&body=garbage|wrongtype|empty][&delay_ms=D]
 *       The next N (default 1) requests to P answer status S with that
 *       API's real error body (429 gets Retry-After: 1 unless retry_after
 *       is given).  body= replaces the body (status then defaults to 200):
 *       garbage = truncated JSON, wrongtype = valid JSON with wrong types,
 *       empty = no body.  delay_ms sleeps first; with neither status nor
 *       body (or status=200) the request is then answered normally.
 *       With duration_ms=D instead of count, every matching request for
 *       the next D ms takes the fault (an outage or a 429 storm); such
 *       windows are reported as "fault_windows", not in faults_pending.
 *       P is an exact path or one of the labels "/v1/search(geocoding)" /
 *       "/v1/search(spotify)"; a label matches only that API, "/v1/search"
 *       matches both.  Faults queue FIFO: each request takes the oldest
 *       matching fault.  Answer: {"ok":true,"faults_pending":<requests
 *       that queued faults will still hit>}.
 *   POST /_fake/latency?ms=N      set the global latency
 *   POST /_fake/expire-tokens     every token issued so far now answers
 *                                 401 "The access token expired"
 *   POST /_fake/spotify?genre=G&total=N  the search total of genre G
 *                                 (0..100000; items stop there)
 *   GET  /_fake/requests          {"total":N,"paths":{label:count},
 *       "last":{label:"raw query"},"traceparent":{label:"header"},
 *       "times":{label:[ms,...]},"faults_pending":F,"fault_windows":W,
 *       "latency_ms":L}
 *       "times" holds the arrival times (ms since the fake started) of the
 *       last 256 requests per label, oldest first.
 *       Labels are the paths, except "/v1/search(geocoding)" and
 *       "/v1/search(spotify)", and "(unknown)" for every other path.
 *       Raw queries are kept as sent (first 4 KiB, bytes outside
 *       printable ASCII as %XX).  Only the last query per label is kept.
 *   POST /_fake/reset             zero counters, drop faults, latency back
 *                                 to --latency-ms, genre totals back to
 *                                 --spotify-total (tokens stay valid)
 *
 * DESIGN
 *   libmicrohttpd runs one thread per connection (internal polling
 *   thread, poll()), so a sleeping request never delays another one and
 *   keep-alive works.  The raw request target comes from the URI-log
 *   callback; it is kept in a per-connection context that the connection
 *   notifier allocates and frees.  The main thread blocks SIGTERM/SIGINT before
 *   any thread starts and sigwaits; stopping wakes sleeping requests,
 *   then MHD_stop_daemon joins every connection thread.
 *   Files: fake_upstream.c (this: CLI, MHD glue), fake_server.c (state,
 *   routing, faults, control), fake_weather.c (OWM, Open-Meteo),
 *   fake_spotify.c (token, search), fake_places.c (the temperature
 *   model), fake_util.c (parsing and coding helpers), fake.h.  Every JSON
 *   body is built with jansson, except the deliberately broken ones.
 */
#include "fake.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define BODY_MAX (16 * 1024) /* request body cap (the token form) */

/* ---- libmicrohttpd glue -------------------------------------------- */

/* Per-connection state, created and freed by the connection notifier
 * (which libmicrohttpd calls for every connection, even one whose request
 * it rejects before the access handler runs).  Requests on one connection
 * are sequential, so it holds the current request: the URI-log callback
 * resets it and stores the raw request target, the completion callback
 * clears it. */
struct request {
    char *raw_uri; /* request target exactly as received, or NULL */
    char *body;    /* NUL-terminated upload, or NULL */
    size_t body_len;
    bool body_too_big;
    bool started;
};

static void request_clear(struct request *req)
{
    free(req->raw_uri);
    free(req->body);
    memset(req, 0, sizeof *req);
}

static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)conn;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = calloc(1, sizeof(struct request));
    } else if (*socket_context != NULL) {
        request_clear(*socket_context);
        free(*socket_context);
        *socket_context = NULL;
    }
}

static struct request *request_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info != NULL ? info->socket_context : NULL;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct request *req = request_of(conn);

    (void)cls;
    if (req != NULL) {
        request_clear(req);
        req->raw_uri = uri != NULL ? strdup(uri) : NULL;
    }
    return req;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    if (*req_cls != NULL)
        request_clear(*req_cls);
    *req_cls = NULL;
}

static void body_append(struct request *req, const char *data, size_t len)
{
    char *grown;

    if (req->body_too_big || len > BODY_MAX - req->body_len) {
        req->body_too_big = true;
        return;
    }
    grown = realloc(req->body, req->body_len + len + 1);
    if (grown == NULL) {
        req->body_too_big = true;
        return;
    }
    memcpy(grown + req->body_len, data, len);
    req->body_len += len;
    grown[req->body_len] = '\0';
    req->body = grown;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char retry[32];

    if (r->body == NULL || r->body[0] == '\0') {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        free(r->body);
    } else {
        resp = MHD_create_response_from_buffer(strlen(r->body), r->body,
                                               MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            free(r->body);
    }
    r->body = NULL;
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json; charset=utf-8");
    if (r->retry_after >= 0) {
        snprintf(retry, sizeof retry, "%ld", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    if (r->allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    ret = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The path of an origin-form ("/p") or absolute-form ("http://h/p")
 * request target. */
static const char *path_of(const char *url)
{
    const char *p = url[0] == '/' ? NULL : strstr(url, "://");

    if (p == NULL)
        return url;
    p = strchr(p + 3, '/');
    return p != NULL ? p : "/";
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct request *req = *req_cls;
    struct reply r = {200, NULL, -1, NULL};
    struct fu_args q = {0};
    const char *query = "";

    (void)version;
    if (req == NULL) /* out of memory when the connection started */
        return MHD_NO;
    if (!req->started) { /* headers only; the body (if any) follows */
        req->started = true;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        body_append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (req->raw_uri != NULL && strchr(req->raw_uri, '?') != NULL)
        query = strchr(req->raw_uri, '?') + 1;
    if (fu_args_parse(&q, query, strcspn(query, "#")) != 0) {
        reply_json(&r, 500, NULL);
    } else if (req->body_too_big) {
        reply_json(&r, 413, json_pack("{s:s}", "error", "body too large"));
    } else {
        const struct call c = {cls,   conn, method,   path_of(url),
                               query, &q,   req->body};
        server_handle(&c, &r);
    }
    fu_args_free(&q);
    return send_reply(conn, &r);
}

/* ---- command line and main ----------------------------------------- */

static void usage(FILE *out) /* --help */
{
    fputs("usage: fake-upstream --port N [--latency-ms N] [--slow-ms N]\n"
          "         [--owm-key K] [--spotify-id I] [--spotify-secret S]\n"
          "         [--token-ttl-s N] [--spotify-total N]\n"
          "Prints \"READY <port>\" once listening on 127.0.0.1 (--port 0\n"
          "picks a free port); SIGTERM/SIGINT stop it.  The endpoints,\n"
          "magic city names and /_fake/ control API are described at the\n"
          "top of tests/fakes/fake_upstream.c.\n",
          out);
}

/* Returns 0, 1 for --help, or -1 after printing one error line (then
 * main exits 2). */
static int parse_cli(int argc, char **argv, struct fake_config *cfg)
{
    const struct {
        const char *name;
        long *num;
        const char **str;
        long min, max;
    } opts[] = {
        {"--port", &cfg->port, NULL, 0, 65535},
        {"--latency-ms", &cfg->latency_ms, NULL, 0, 600000},
        {"--slow-ms", &cfg->slow_ms, NULL, 0, 600000},
        {"--token-ttl-s", &cfg->token_ttl_s, NULL, 0, 31536000},
        {"--spotify-total", &cfg->spotify_total, NULL, 0, 100000},
        {"--owm-key", NULL, &cfg->owm_key, 0, 0},
        {"--spotify-id", NULL, &cfg->spotify_id, 0, 0},
        {"--spotify-secret", NULL, &cfg->spotify_secret, 0, 0},
    };
    const size_t n_opts = sizeof opts / sizeof opts[0];

    *cfg = (struct fake_config){-1,   0,          3000,      3600,
                                1000, "test-key", "test-id", "test-secret"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '='), *val;
        size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        size_t k = 0;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        while (k < n_opts && (strlen(opts[k].name) != len ||
                              strncmp(arg, opts[k].name, len) != 0))
            k++;
        if (k == n_opts) {
            fprintf(stderr, "fake-upstream: unknown option '%s'\n", arg);
            return -1;
        }
        val = eq != NULL ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (val == NULL) {
            fprintf(stderr, "fake-upstream: %s needs a value\n", opts[k].name);
            return -1;
        }
        if (opts[k].str != NULL) {
            *opts[k].str = val;
        } else if (!fu_parse_long(val, opts[k].min, opts[k].max, opts[k].num)) {
            fprintf(stderr,
                    "fake-upstream: %s must be an integer in "
                    "%ld..%ld, got '%s'\n",
                    opts[k].name, opts[k].min, opts[k].max, val);
            return -1;
        }
    }
    if (cfg->port < 0) {
        fputs("fake-upstream: --port is required\n", stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct fake_config cfg;
    struct server *srv;
    struct sockaddr_in addr;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    sigset_t sigs;
    int sig = 0, rc;

    rc = parse_cli(argc, argv, &cfg);
    if (rc > 0)
        usage(stdout);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    srv = server_create(&cfg);
    if (srv == NULL) {
        fputs("fake-upstream: out of memory\n", stderr);
        return 1;
    }
    /* Block the stop signals before any thread exists, so they are only
     * ever delivered to sigwait below. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG,
        (uint16_t)cfg.port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)2048,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024), MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "fake-upstream: cannot listen on 127.0.0.1:%ld\n",
                cfg.port);
        server_destroy(srv);
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("READY %u\n",
           info != NULL ? (unsigned)info->port : (unsigned)cfg.port);
    fflush(stdout);

    while (sigwait(&sigs, &sig) != 0)
        ;
    server_stop(srv);
    MHD_stop_daemon(d);
    server_destroy(srv);
    return 0;
}
