/*
 * fake_http.c - the scripted loopback upstream shared by the unit tests of
 * the HTTP client and the providers (see fake_http.h for the contract).
 *
 * libmicrohttpd runs one thread per connection, so keep-alive requests
 * arrive in order on one thread and fake_connections counts real TCP
 * connections.  The handler collects the upload, records the request under
 * fake_mu, picks the answer, and sleeps (for delay_ms) only after dropping
 * the lock so slow routes never block the test thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_http.h"

pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
struct fake_req fake_last;
int fake_connections;

static struct MHD_Daemon *fake_daemon;
static unsigned short fake_port;
static struct fake_route *fake_routes;

struct fake_upload {
    char data[256];
    size_t len;
};

static enum MHD_Result fake_arg(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value)
{
    (void)kind;
    (void)cls;
    if (json_object_get(fake_last.args, key) != NULL)
        fake_last.dup_args = 1;
    json_object_set_new(fake_last.args, key, json_string(value ? value : ""));
    return MHD_YES;
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn,
                                    const char *url, const char *method,
                                    const char *version,
                                    const char *upload_data,
                                    size_t *upload_data_size, void **con_cls)
{
    struct fake_upload *up = *con_cls;
    struct fake_route *r = NULL;
    struct MHD_Response *resp;
    const char *auth, *body = "not found";
    char *dyn = NULL;
    int status = 404, delay = 0, i;
    enum MHD_Result ret;
    char hname[64];
    const char *hval = NULL;

    (void)cls;
    (void)version;
    if (up == NULL) {
        up = calloc(1, sizeof(*up));
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (n > sizeof(up->data) - 1 - up->len)
            n = sizeof(up->data) - 1 - up->len;
        memcpy(up->data + up->len, upload_data, n);
        up->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }

    pthread_mutex_lock(&fake_mu);
    json_decref(fake_last.args);
    fake_last.args = json_object();
    fake_last.dup_args = 0;
    snprintf(fake_last.method, sizeof(fake_last.method), "%s", method);
    snprintf(fake_last.path, sizeof(fake_last.path), "%s", url);
    auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    snprintf(fake_last.auth, sizeof(fake_last.auth), "%s", auth ? auth : "");
    snprintf(fake_last.body, sizeof(fake_last.body), "%.*s", (int)up->len,
             up->data);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, fake_arg, NULL);
    for (i = 0; fake_routes != NULL && fake_routes[i].path != NULL; i++)
        if (strcmp(fake_routes[i].path, url) == 0)
            r = &fake_routes[i];
    if (r != NULL) {
        r->hits++;
        json_decref(r->args);
        r->args = json_deep_copy(fake_last.args);
        memcpy(r->req_auth, fake_last.auth, sizeof(r->req_auth));
        memcpy(r->req_body, fake_last.body, sizeof(r->req_body));
        status = r->status;
        body = r->body ? r->body : "";
        if (r->dynamic != NULL) {
            dyn = r->dynamic(fake_last.args, fake_last.auth);
            body = dyn ? dyn : "";
        }
        delay = r->delay_ms;
        if (r->hits <= r->fail_first) {
            status = r->fail_status;
            body = "{}";
        } else if (r->header != NULL) {
            const char *colon = strchr(r->header, ':');
            snprintf(hname, sizeof(hname), "%.*s", (int)(colon - r->header),
                     r->header);
            hval = colon + 2;
        }
    }
    pthread_mutex_unlock(&fake_mu);

    if (delay > 0)
        usleep((useconds_t)delay * 1000);
    resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                           MHD_RESPMEM_MUST_COPY);
    free(dyn);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (hval != NULL)
        MHD_add_response_header(resp, hname, hval);
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void fake_completed(void *cls, struct MHD_Connection *conn,
                           void **con_cls, enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)conn;
    (void)tc;
    free(*con_cls);
    *con_cls = NULL;
}

static void fake_notify(void *cls, struct MHD_Connection *conn,
                        void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)conn;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&fake_mu);
        fake_connections++;
        pthread_mutex_unlock(&fake_mu);
    }
}

void fake_start(struct fake_route *routes)
{
    const union MHD_DaemonInfo *info;
    int i;

    for (i = 0; routes[i].path != NULL; i++)
        routes[i].hits = 0;
    fake_routes = routes;
    fake_connections = 0;
    fake_daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, fake_handler, NULL, MHD_OPTION_SOCK_ADDR,
        &(struct sockaddr_in){.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
        MHD_OPTION_NOTIFY_COMPLETED, fake_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, fake_notify, NULL, MHD_OPTION_END);
    assert_non_null(fake_daemon);
    info = MHD_get_daemon_info(fake_daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    fake_port = info->port;
}

void fake_stop(void)
{
    int i;

    MHD_stop_daemon(fake_daemon);
    fake_daemon = NULL;
    for (i = 0; fake_routes != NULL && fake_routes[i].path != NULL; i++) {
        json_decref(fake_routes[i].args);
        fake_routes[i].args = NULL;
    }
    json_decref(fake_last.args);
    fake_last.args = NULL;
}

/* "http://127.0.0.1:<port>" of the running fake. */
const char *fake_base(void)
{
    static char base[64];

    snprintf(base, sizeof(base), "http://127.0.0.1:%u", fake_port);
    return base;
}

/* Hits of the route for path, read under the server's lock. */
int fake_hits(const char *path)
{
    int i, n = -1;

    pthread_mutex_lock(&fake_mu);
    for (i = 0; fake_routes[i].path != NULL; i++)
        if (strcmp(fake_routes[i].path, path) == 0)
            n = fake_routes[i].hits;
    pthread_mutex_unlock(&fake_mu);
    return n;
}

/* A query argument of the last request to path, or NULL. */
const char *fake_route_arg(const char *path, const char *key)
{
    int i;

    for (i = 0; fake_routes[i].path != NULL; i++)
        if (strcmp(fake_routes[i].path, path) == 0)
            return json_string_value(json_object_get(fake_routes[i].args, key));
    return NULL;
}

/* A query argument of the last request, or NULL. */
const char *fake_arg_value(const char *key)
{
    return json_string_value(json_object_get(fake_last.args, key));
}
