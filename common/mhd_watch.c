/*
 * mhd_watch.c - see mhd_watch.h.  Each connection gets a small struct as
 * its libmicrohttpd socket context (allocated when it starts, freed when
 * it closes): the watchdog entry and the last request's target length.
 * libmicrohttpd calls NOTIFY_CLOSED before it closes the socket, so the
 * entry is disarmed while the descriptor is still ours.
 */
#include "mhd_watch.h"

#include "watchdog.h"

#include <stdlib.h>
#include <string.h>

struct mhd_watch {
    struct watchdog *wd;
};

struct conn_ctx {
    struct watchdog_entry e;
    size_t uri_len;
    int fd;
};

static struct conn_ctx *ctx_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci != NULL ? ci->socket_context : NULL;
}

struct mhd_watch *mhd_watch_create(long header_timeout_ms, long idle_timeout_s,
                                   void (*on_expire)(void *ud), void *ud)
{
    struct mhd_watch *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->wd = watchdog_create(header_timeout_ms,
                            idle_timeout_s * 1000L + header_timeout_ms,
                            on_expire, ud);
    if (w->wd == NULL) {
        free(w);
        return NULL;
    }
    return w;
}

void mhd_watch_destroy(struct mhd_watch *w)
{
    if (w == NULL)
        return;
    watchdog_destroy(w->wd);
    free(w);
}

void mhd_watch_notify(void *cls, struct MHD_Connection *c,
                      void **socket_context,
                      enum MHD_ConnectionNotificationCode toe)
{
    struct mhd_watch *w = cls;
    struct conn_ctx *x = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        x = calloc(1, sizeof(*x));
        if (x == NULL || ci == NULL) {
            /* Without a context the connection still works, unwatched
             * (the idle timeout still applies). */
            free(x);
            *socket_context = NULL;
            return;
        }
        x->fd = ci->connect_fd;
        watchdog_arm(w->wd, &x->e, x->fd, WATCHDOG_FIRST);
        *socket_context = x;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && x != NULL) {
        watchdog_disarm(w->wd, &x->e);
        free(x);
        *socket_context = NULL;
    }
}

void *mhd_watch_uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct conn_ctx *x = ctx_of(c);

    (void)cls;
    if (x != NULL)
        x->uri_len = uri != NULL ? strlen(uri) : 0;
    return NULL;
}

void mhd_watch_headers_done(struct mhd_watch *w, struct MHD_Connection *c)
{
    struct conn_ctx *x = ctx_of(c);

    if (x != NULL)
        watchdog_disarm(w->wd, &x->e);
}

void mhd_watch_request_done(struct mhd_watch *w, struct MHD_Connection *c)
{
    struct conn_ctx *x = ctx_of(c);

    if (x != NULL)
        watchdog_arm(w->wd, &x->e, x->fd, WATCHDOG_NEXT);
}

size_t mhd_watch_uri_len(struct MHD_Connection *c)
{
    struct conn_ctx *x = ctx_of(c);

    return x != NULL ? x->uri_len : 0;
}

unsigned long mhd_watch_expired(struct mhd_watch *w)
{
    return watchdog_expired(w->wd);
}
