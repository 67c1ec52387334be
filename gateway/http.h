/*
 * http.h - the gateway's HTTP server (libmicrohttpd) and its routes.
 *
 * One internal epoll thread serves every connection.  A /weather request
 * that needs the workers is suspended (it holds no thread) and handed to
 * the RPC client, whose thread resumes it when the call completes.
 */
#ifndef TEMPO_HTTP_H
#define TEMPO_HTTP_H

struct config;
struct http_server;

/* Creates the server and its RPC client; cfg is borrowed and must outlive
 * it.  Returns NULL (with a line logged) on failure. */
struct http_server *http_server_create(const struct config *cfg);

/* Starts the RPC client thread and listens.  0 or a negative tempo_err. */
int http_server_start(struct http_server *s);

/*
 * Graceful stop: stops accepting connections, lets calls in flight finish
 * for up to drain_ms (then fails them with 503), flushes their responses
 * and stops the daemon.
 */
void http_server_stop(struct http_server *s, long drain_ms);

void http_server_destroy(struct http_server *s); /* NULL is a no-op */

#endif
