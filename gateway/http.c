/*
 * http.c - see http.h.
 *
 * Request life cycle: libmicrohttpd calls access_handler with *con_cls NULL
 * for a new request; we allocate a struct http_req, route it through the
 * const route table and either answer at once, or (GET /weather with valid
 * arguments) suspend the connection and submit an RPC.  The RPC client's
 * thread calls rpc_done(), which resumes the connection; libmicrohttpd then
 * calls access_handler again, and we queue the stored answer.  The request
 * is freed in request_completed(), which also records its metrics.
 *
 * Every error answer goes through reply_error(), which builds the SPEC
 * section 2 JSON and counts the code.
 *
 * Before routing, guard.c checks each request's framing and size (on the
 * first call, before any body is read) and, for routes other than the
 * operations endpoints, its client's rate; mhd_watch.c gives its headers
 * a total deadline.
 */
#include "http.h"

#include "amqp_conn.h"
#include "clock.h"
#include "config.h"
#include "errors.h"
#include "guard.h"
#include "log.h"
#include "metrics.h"
#include "mhd_watch.h"
#include "nameko.h"
#include "prom.h"
#include "query.h"
#include "rpc_client.h"
#include "static.h"
#include "trace.h"
#include "validate.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct http_server {
    const struct config *cfg;
    struct MHD_Daemon *daemon;
    struct rpc_client *rpc;
    struct guard *guard;
    struct mhd_watch *watch;
    atomic_long active; /* requests between first call and completion */
};

/* NEW -> (WAITING -> DONE ->) ANSWERED */
enum req_state { REQ_NEW = 0, REQ_WAITING, REQ_DONE, REQ_ANSWERED };

struct http_req {
    struct rpc_req rpc; /* first member: rpc_done casts back */
    struct http_server *srv;
    struct MHD_Connection *conn;
    enum req_state state;
    enum metrics_route route;
    const char *path; /* the route's, once dispatched */
    int status;
    struct timespec start;
    struct trace trace;       /* W3C trace context of this request */
    const char *method, *url; /* libmicrohttpd's, valid until completed */
    int early_err;            /* found by guard_check, answered when final */
    const char *early_msg;
    int must_close; /* answer with Connection: close */
    long retry_after_s;
};

struct route {
    const char *path;
    enum metrics_route metric;
    enum MHD_Result (*handler)(struct http_req *r);
};

/* Adds the headers every answer carries, queues resp and drops our ref. */
static enum MHD_Result queue_response(struct http_req *r, int status,
                                      struct MHD_Response *resp)
{
    enum MHD_Result ret;

    MHD_add_response_header(resp, "X-Request-Id", r->rpc.request_id);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    if (status == MHD_HTTP_TOO_MANY_REQUESTS) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%ld", r->retry_after_s);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (r->must_close) /* libmicrohttpd closes after sending it */
        MHD_add_response_header(resp, "Connection", "close");
    r->status = status;
    ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Queues body (taken over: freed by libmicrohttpd) with our headers. */
static enum MHD_Result send_body(struct http_req *r, int status, char *body,
                                 size_t len, const char *ctype)
{
    struct MHD_Response *resp;

    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    return queue_response(r, status, resp);
}

static enum MHD_Result send_json(struct http_req *r, int status, json_t *value)
{
    char *body = value ? json_dumps(value, JSON_COMPACT) : NULL;

    json_decref(value);
    if (body == NULL)
        return MHD_NO;
    return send_body(r, status, body, strlen(body), "application/json");
}

/* The one error answer: {"error": {"status", "code", "message"}}. */
static enum MHD_Result reply_error(struct http_req *r, int err,
                                   const char *message)
{
    int status = tempo_err_http_status(err);
    char *body;

    metrics_error(err);
    if (status >= 500)
        log_info("%s %s -> %d %s: %s", r->method ? r->method : "?",
                 r->url ? r->url : "?", status, tempo_err_code(err), message);
    body = tempo_err_body(err, message);
    if (body == NULL)
        return MHD_NO;
    return send_body(r, status, body, strlen(body), "application/json");
}

/* ---- routes -------------------------------------------------------------- */

struct arg_collect {
    struct query_acc acc;
    int rc;
    char err[256];
};

/* Feeds every argument to the query accumulator (which keeps only the
 * known ones); stops at its first error. */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind,
                                   const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
    struct arg_collect *ac = cls;

    (void)kind;
    ac->rc = query_acc_add(&ac->acc, key, key_size, value, value_size, ac->err,
                           sizeof(ac->err));
    return ac->rc < 0 ? MHD_NO : MHD_YES;
}

static enum MHD_Result route_weather(struct http_req *r)
{
    struct arg_collect ac;
    json_t *kwargs = NULL;
    int rc;

    query_acc_init(&ac.acc);
    ac.rc = 0;
    ac.err[0] = '\0';
    MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg,
                                &ac);
    rc = ac.rc < 0 ? ac.rc
                   : query_acc_finish(&ac.acc, &kwargs, ac.err, sizeof(ac.err));
    if (rc < 0)
        return reply_error(r, rc, ac.err);
    r->rpc.body = nameko_call_encode(kwargs);
    json_decref(kwargs);
    if (r->rpc.body == NULL)
        return reply_error(r, TEMPO_EINTERNAL, "out of memory");
    r->rpc.body_len = strlen(r->rpc.body);
    r->rpc.method = "get_playlist";
    r->rpc.data = r;

    /* Suspend first: the RPC thread may resume us before submit returns. */
    r->state = REQ_WAITING;
    MHD_suspend_connection(r->conn);
    rc = rpc_client_submit(r->srv->rpc, &r->rpc);
    if (rc < 0) {
        r->state = REQ_DONE;
        r->rpc.err = rc;
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

static enum MHD_Result route_healthz(struct http_req *r)
{
    return send_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static enum MHD_Result route_readyz(struct http_req *r)
{
    const char *why = rpc_client_unready_reason(r->srv->rpc);
    json_t *body =
        json_pack("{s:s,s:b}", "status", why == NULL ? "ready" : "unavailable",
                  "broker", rpc_client_connected(r->srv->rpc));

    if (body != NULL && why != NULL)
        json_object_set_new(body, "reason", json_string(why));
    return send_json(r, why == NULL ? 200 : 503, body);
}

static enum MHD_Result route_metrics(struct http_req *r)
{
    size_t len = 0;
    char *text = metrics_render(rpc_client_inflight(r->srv->rpc),
                                rpc_client_connected(r->srv->rpc), &len);

    if (text == NULL)
        return reply_error(r, TEMPO_EINTERNAL, "metrics unavailable");
    return send_body(r, 200, text, len, PROM_CONTENT_TYPE);
}

/* The page, its assets and the OpenAPI document (static.c). */
static enum MHD_Result route_static(struct http_req *r)
{
    const struct static_asset *a = static_asset_find(r->path);
    struct MHD_Response *resp;
    int status = 0;

    if (a == NULL)
        return reply_error(r, TEMPO_ENOTFOUND, "no such endpoint");
    resp = static_asset_response(
        a,
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                    MHD_HTTP_HEADER_IF_NONE_MATCH),
        &status);
    if (resp == NULL)
        return reply_error(r, TEMPO_EINTERNAL, "out of memory");
    return queue_response(r, status, resp);
}

static const struct route routes[] = {
    {"/weather", ROUTE_WEATHER, route_weather},
    {"/healthz", ROUTE_HEALTHZ, route_healthz},
    {"/readyz", ROUTE_READYZ, route_readyz},
    {"/metrics", ROUTE_METRICS, route_metrics},
    {"/", ROUTE_PAGE, route_static},
    {"/app.js", ROUTE_APP_JS, route_static},
    {"/app.css", ROUTE_APP_CSS, route_static},
    {"/favicon.svg", ROUTE_FAVICON, route_static},
    {"/openapi.json", ROUTE_OPENAPI, route_static},
};

/* ---- libmicrohttpd callbacks --------------------------------------------- */

static enum MHD_Result finish_rpc(struct http_req *r)
{
    if (r->rpc.err == 0) {
        char *body = r->rpc.reply;
        r->rpc.reply = NULL;
        return send_body(r, 200, body, r->rpc.reply_len, "application/json");
    }
    return reply_error(r, r->rpc.err, r->rpc.message);
}

/* The request id and trace context: the client's when valid, else new
 * ones (an invalid header is replaced, never reflected). */
static void set_request_context(struct http_req *r, struct MHD_Connection *conn)
{
    const char *id =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");

    if (id != NULL && validate_request_id(id))
        snprintf(r->rpc.request_id, sizeof(r->rpc.request_id), "%s", id);
    else
        amqp_conn_uuid4(r->rpc.request_id);
    trace_begin(
        &r->trace,
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"),
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "tracestate"));
    trace_format(&r->trace, r->rpc.traceparent, sizeof(r->rpc.traceparent));
    snprintf(r->rpc.tracestate, sizeof(r->rpc.tracestate), "%s",
             r->trace.state);
}

/* Routes a complete request: answers at once or suspends it for an RPC. */
static enum MHD_Result dispatch(struct http_req *r, const char *url,
                                const char *method)
{
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(url, routes[i].path) == 0)
            break;
    if (i < sizeof(routes) / sizeof(routes[0])) {
        r->route = routes[i].metric;
        r->path = routes[i].path;
    }
    if (r->early_err < 0)
        return reply_error(r, r->early_err, r->early_msg);
    /* Probes and scrapes are never rate limited; everything else is,
     * before it can cost anything (the broker above all). */
    if (r->route != ROUTE_HEALTHZ && r->route != ROUTE_READYZ &&
        r->route != ROUTE_METRICS &&
        guard_rate(r->srv->guard, r->conn, &r->retry_after_s) < 0)
        return reply_error(r, TEMPO_ERATELIMIT,
                           "too many requests from this client");
    if (i == sizeof(routes) / sizeof(routes[0]))
        return reply_error(r, TEMPO_ENOTFOUND, "no such endpoint");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_error(r, TEMPO_EMETHOD, "only GET and HEAD are allowed");
    return routes[i].handler(r);
}

/*
 * libmicrohttpd calls this first with the headers only (*con_cls NULL), then
 * with each piece of body, then once more with *upload_data_size 0 when the
 * request is complete.  Answering before that last call makes it close the
 * connection, so GET and HEAD are answered (or suspended) only then; other
 * methods, whose body we would only discard, are refused at once.
 */
static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_req *r = *con_cls;
    enum MHD_Result ret = MHD_YES;

    (void)upload_data;
    if (r == NULL) {
        mhd_watch_headers_done(srv->watch, conn);
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        r->srv = srv;
        r->conn = conn;
        r->route = ROUTE_OTHER;
        r->method = method;
        r->url = url;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        set_request_context(r, conn);
        *con_cls = r;
        atomic_fetch_add(&srv->active, 1);
        r->early_err =
            guard_check(srv->guard, conn, method, version,
                        mhd_watch_uri_len(conn), &r->early_msg, &r->must_close);
        /* Framing that cannot be trusted is answered now: libmicrohttpd
         * then reads no body and closes the connection. */
        if ((r->early_err == 0 || !r->must_close) &&
            (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0))
            return MHD_YES;
        r->state = REQ_ANSWERED;
        log_set_context(r->rpc.request_id, r->trace.trace_id);
        ret = dispatch(r, url, method);
        log_set_request_id(NULL);
        return ret;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a body: ignored */
        return MHD_YES;
    }
    log_set_context(r->rpc.request_id, r->trace.trace_id);
    switch (r->state) {
    case REQ_NEW:
        r->state = REQ_ANSWERED;
        ret = dispatch(r, url, method);
        break;
    case REQ_DONE:
        r->state = REQ_ANSWERED;
        ret = finish_rpc(r);
        break;
    case REQ_WAITING:
    case REQ_ANSWERED:
        break;
    }
    log_set_request_id(NULL);
    return ret;
}

static void request_completed(void *cls, struct MHD_Connection *conn,
                              void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_req *r = *con_cls;

    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        mhd_watch_request_done(srv->watch, conn); /* the next request's */
    if (r == NULL)
        return;
    if (r->status == 0 && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        r->status = 499; /* client went away before the answer */
    metrics_request(r->route, r->status, clock_since_s(&r->start));
    if (r->route == ROUTE_WEATHER) {
        log_set_context(r->rpc.request_id, r->trace.trace_id);
        log_debug("/weather answered %d in %.1f ms", r->status,
                  clock_since_s(&r->start) * 1e3);
        log_set_request_id(NULL);
    }
    free(r->rpc.body);
    free(r->rpc.reply);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->active, 1);
}

/* Runs on the RPC client's thread. */
static void rpc_done(struct rpc_req *req, void *ud)
{
    struct http_req *r = (struct http_req *)req;

    (void)ud;
    r->state = REQ_DONE;
    MHD_resume_connection(r->conn);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_debug("http: %s", buf);
}

/* ---- public -------------------------------------------------------------- */

static void on_header_timeout(void *ud)
{
    (void)ud;
    metrics_header_timeout();
}

struct http_server *http_server_create(const struct config *cfg)
{
    struct http_server *s = calloc(1, sizeof(*s));
    char err[128];

    if (s == NULL)
        return NULL;
    s->cfg = cfg;
    s->guard = guard_create(cfg, err, sizeof(err));
    if (s->guard == NULL) {
        log_error("cannot set up request checks: %s", err);
        free(s);
        return NULL;
    }
    s->rpc = rpc_client_create(cfg, rpc_done, s);
    if (s->rpc == NULL) {
        log_error("cannot create the RPC client");
        guard_destroy(s->guard);
        free(s);
        return NULL;
    }
    return s;
}

int http_server_start(struct http_server *s)
{
    const struct config *cfg = s->cfg;
    struct sockaddr_in addr;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->gateway_port);
    if (inet_pton(AF_INET, cfg->gateway_addr, &addr.sin_addr) != 1) {
        log_error("GATEWAY_ADDR \"%s\" is not an IPv4 address",
                  cfg->gateway_addr);
        return TEMPO_EINVAL;
    }
    s->watch =
        mhd_watch_create(cfg->http_header_timeout_ms, cfg->http_idle_timeout_s,
                         on_header_timeout, NULL);
    if (s->watch == NULL) {
        log_error("cannot start the header deadline thread");
        return TEMPO_EINTERNAL;
    }
    if (rpc_client_start(s->rpc) < 0) {
        log_error("cannot start the RPC thread");
        return TEMPO_EINTERNAL;
    }
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
            MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG,
        0, NULL, NULL, access_handler, s, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->http_max_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_idle_timeout_s,
        /* Per connection, and cleared before each request: 8 KiB (for the
         * default HTTP_MAX_HEADER_BYTES) keeps 5,000 idle keep-alive
         * connections near 50 MiB (32 KiB: 167 MiB).  Requests above
         * HTTP_MAX_HEADER_BYTES get our JSON 431; only those that do not
         * fit at all get libmicrohttpd's HTML one. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, guard_connection_memory(cfg),
        MHD_OPTION_NOTIFY_CONNECTION, mhd_watch_notify, s->watch,
        MHD_OPTION_URI_LOG_CALLBACK, mhd_watch_uri_log, s->watch,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED,
        request_completed, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_END);
    if (s->daemon == NULL) {
        log_error("cannot listen on %s:%ld", cfg->gateway_addr,
                  cfg->gateway_port);
        rpc_client_stop(s->rpc, 0);
        return TEMPO_EUNAVAIL;
    }
    log_info("listening on %s:%ld (header deadline %ld ms, %ld connections "
             "per address, rate limit %s)",
             cfg->gateway_addr, cfg->gateway_port, cfg->http_header_timeout_ms,
             cfg->http_max_per_ip, guard_rate_limited(s->guard) ? "on" : "off");
    return 0;
}

void http_server_stop(struct http_server *s, long drain_ms)
{
    int i;

    if (s == NULL || s->daemon == NULL)
        return;
    MHD_quiesce_daemon(s->daemon);
    /* Completes every call (by reply, or 503 after drain_ms). */
    rpc_client_stop(s->rpc, drain_ms);
    /* Give the resumed connections a moment to send their answers. */
    for (i = 0; i < 200 && atomic_load(&s->active) > 0; i++)
        usleep(5000);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    mhd_watch_destroy(s->watch); /* after the daemon: nothing is armed */
    s->watch = NULL;
}

void http_server_destroy(struct http_server *s)
{
    if (s == NULL)
        return;
    http_server_stop(s, 0);
    mhd_watch_destroy(s->watch); /* if it started without listening */
    rpc_client_destroy(s->rpc);
    guard_destroy(s->guard);
    free(s);
}
