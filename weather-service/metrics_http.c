/*
 * metrics_http.c - see metrics_http.h.  A separate libmicrohttpd daemon
 * with its own polling thread: it only reads the atomics, so a scrape
 * never slows a call down.
 */
#include "metrics_http.h"

#include "errors.h"
#include "metrics.h"
#include "mhd_watch.h"
#include "prom.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRV_MAX_CONNECTIONS 8
#define SRV_IDLE_TIMEOUT_S 10

struct wmetrics_server {
    struct MHD_Daemon *daemon;
    struct mhd_watch *watch;
    int port;
};

static const char body_ok[] = "{\"status\":\"ok\"}";

/* Queues a response; `text` is static unless `owned`. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *ctype, char *text, size_t len,
                             int owned)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(
        len, text, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        if (owned)
            free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET, HEAD");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* An error answer, the same JSON as the gateway's (errors.h). */
static enum MHD_Result reply_error(struct MHD_Connection *c, int err,
                                   const char *message)
{
    char *body = tempo_err_body(err, message);

    if (body == NULL)
        return MHD_NO;
    return reply(c, (unsigned)tempo_err_http_status(err), "application/json",
                 body, strlen(body), 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct wmetrics_server *s = cls;
    int is_metrics = strcmp(url, "/metrics") == 0;
    char *text;
    size_t len = 0;

    (void)version;
    mhd_watch_headers_done(s->watch, c);
    (void)upload;
    (void)con_cls;
    *upload_size = 0; /* bodies are ignored */
    if (!is_metrics && strcmp(url, "/healthz") != 0)
        return reply_error(c, TEMPO_ENOTFOUND, "no such endpoint");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_error(c, TEMPO_EMETHOD, "only GET and HEAD are allowed");
    if (!is_metrics)
        return reply(c, MHD_HTTP_OK, "application/json",
                     (char *)(uintptr_t)body_ok, sizeof(body_ok) - 1, 0);
    text = wmetrics_render(&len);
    if (text == NULL)
        return reply_error(c, TEMPO_EINTERNAL, "metrics unavailable");
    return reply(c, MHD_HTTP_OK, PROM_CONTENT_TYPE, text, len, 1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct wmetrics_server *s = cls;

    (void)con_cls;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        mhd_watch_request_done(s->watch, c);
}

struct wmetrics_server *wmetrics_server_start(long port, long header_timeout_ms,
                                              char *err, size_t errlen)
{
    struct wmetrics_server *s;
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;

    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "metrics port %ld out of range", port);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->watch =
        mhd_watch_create(header_timeout_ms, SRV_IDLE_TIMEOUT_S, NULL, NULL);
    if (s->watch == NULL) {
        snprintf(err, errlen, "cannot start the metrics header deadline");
        free(s);
        return NULL;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons((uint16_t)port);
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, 0, NULL,
        NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)SRV_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SRV_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 16u, MHD_OPTION_NOTIFY_CONNECTION,
        mhd_watch_notify, s->watch, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        s, MHD_OPTION_END);
    if (s->daemon == NULL) {
        snprintf(err, errlen,
                 "cannot serve metrics on 0.0.0.0:%ld (port in use?)", port);
        mhd_watch_destroy(s->watch);
        free(s);
        return NULL;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL ? (int)info->port : (int)port;
    return s;
}

int wmetrics_server_port(const struct wmetrics_server *s)
{
    return s->port;
}

void wmetrics_server_stop(struct wmetrics_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon);
    mhd_watch_destroy(s->watch);
    free(s);
}
