/*
 * mhd_watch.h - a total deadline for each request's headers on a
 * libmicrohttpd daemon (issue 12: slowloris), built on watchdog.h.
 *
 * libmicrohttpd 0.9.75's MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout:
 * it restarts on every byte, so a client sending one byte every few
 * seconds keeps its connection (and a slot of MHD_OPTION_CONNECTION_LIMIT)
 * for as long as it likes.  There is no per-read hook, so this module arms
 * a watchdog deadline
 *  - when a connection is accepted (MHD_OPTION_NOTIFY_CONNECTION):
 *    header_timeout_ms for its first request's line and headers;
 *  - when a response has been sent on a kept-alive connection
 *    (mhd_watch_request_done, from MHD_OPTION_NOTIFY_COMPLETED):
 *    idle_timeout_s + header_timeout_ms for the next request to be in
 *    (an idle connection is closed by the idle timeout before that; a
 *    connection that trickles a request line after a long pause cannot
 *    hold on longer);
 * and disarms it when the headers are complete (mhd_watch_headers_done,
 * from the first access-handler call).  A connection past its deadline
 * is shut down; libmicrohttpd then closes it.  No answer is sent (408
 * cannot be queued from outside libmicrohttpd's thread).
 *
 * It also records each request's raw target length (the URI log
 * callback), which the access handler cannot get otherwise.
 *
 * Threads: the callbacks run on the daemon's thread(s); the watchdog has
 * its own.
 */
#ifndef TEMPO_MHD_WATCH_H
#define TEMPO_MHD_WATCH_H

#include <microhttpd.h>
#include <stddef.h>

struct mhd_watch;

/* header_timeout_ms >= 1; idle_timeout_s >= 0.  on_expire (may be NULL)
 * runs on the watchdog thread for each connection cut.  NULL on failure
 * (no thread). */
struct mhd_watch *mhd_watch_create(long header_timeout_ms, long idle_timeout_s,
                                   void (*on_expire)(void *ud), void *ud);

/* Call after MHD_stop_daemon.  NULL is a no-op. */
void mhd_watch_destroy(struct mhd_watch *w);

/* Give both to MHD_start_daemon with the watch as their cls:
 *   MHD_OPTION_NOTIFY_CONNECTION, mhd_watch_notify, w,
 *   MHD_OPTION_URI_LOG_CALLBACK, mhd_watch_uri_log, w
 * (the URI callback returns NULL, so *con_cls starts NULL as usual). */
void mhd_watch_notify(void *cls, struct MHD_Connection *c,
                      void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);
void *mhd_watch_uri_log(void *cls, const char *uri, struct MHD_Connection *c);

/* The request's headers are in: stop its clock. */
void mhd_watch_headers_done(struct mhd_watch *w, struct MHD_Connection *c);

/* Its response is done: start the clock for the next request. */
void mhd_watch_request_done(struct mhd_watch *w, struct MHD_Connection *c);

/* The current request's target length as sent (path and query, before
 * percent-decoding); 0 if unknown. */
size_t mhd_watch_uri_len(struct MHD_Connection *c);

/* Connections cut so far. */
unsigned long mhd_watch_expired(struct mhd_watch *w);

#endif
