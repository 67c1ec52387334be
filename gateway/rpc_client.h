/*
 * rpc_client.h - the gateway's Nameko RPC client.
 *
 * An amqp_loop thread owns the AMQP connection, a reply queue made fresh
 * for each connection, and the table of calls in flight keyed by
 * correlation id.  Other threads submit calls through the loop's mailbox;
 * each submitted call completes exactly once (reply, deadline,
 * unroutable/no consumer, blocked broker, lost connection, or shutdown) by
 * the `done` callback, run on the loop's thread.  A call that
 * rpc_client_submit refuses is never completed by the callback.
 */
#ifndef TEMPO_RPC_CLIENT_H
#define TEMPO_RPC_CLIENT_H

#include "amqp_loop.h"
#include "calltable.h"

#include <stddef.h>
#include <stdint.h>

struct config;
struct rpc_client;

/* One call.  The caller allocates it (usually inside its own request
 * object), fills the "in" fields, and must keep it alive until done(). */
struct rpc_req {
    /* in */
    char *body; /* call body (owned by the caller) */
    size_t body_len;
    const char *method; /* e.g. "get_playlist" (static) */
    char request_id[129];
    char traceparent[56]; /* W3C traceparent to send, or "" */
    char tracestate[513]; /* W3C tracestate to send, or "" */
    void *data;           /* caller's context */
    /* out, valid in done() and after */
    int err;     /* 0, or a negative tempo_err */
    char *reply; /* on success: the result JSON (malloc'd; caller frees) */
    size_t reply_len;
    char message[256]; /* on error: client-safe text */
    /* private to rpc_client */
    struct amqp_loop_msg msg; /* submit mailbox */
    struct call_entry entry;  /* calls in flight (corr id, deadline) */
    int64_t wall_deadline_ms; /* the same deadline, epoch ms, for workers */
};

typedef void (*rpc_done_fn)(struct rpc_req *req, void *ud);

/* Creates the client (not yet connected).  cfg is borrowed and must outlive
 * the client.  Returns NULL on failure. */
struct rpc_client *rpc_client_create(const struct config *cfg, rpc_done_fn done,
                                     void *ud);

/* Starts the AMQP thread, which connects and reconnects by itself. */
int rpc_client_start(struct rpc_client *c);

/*
 * Hands a call to the AMQP thread (any thread).  Returns 0 (done() will run
 * exactly once), or TEMPO_EUNAVAIL when the client is not connected or is
 * stopping (done() will not run; req->message says why).
 */
int rpc_client_submit(struct rpc_client *c, struct rpc_req *req);

/*
 * 1 when a call can be served: connected with the reply consumer alive,
 * the connection not blocked by a resource alarm, and the service queue
 * has a consumer (as last checked, at most ~CONSUMER_CHECK_MS ago).
 */
int rpc_client_ready(const struct rpc_client *c);

/* Why rpc_client_ready is 0 (static text), or NULL when ready. */
const char *rpc_client_unready_reason(const struct rpc_client *c);

/* 1 while connected to a broker (the reply consumer may still be
 * starting). */
int rpc_client_connected(const struct rpc_client *c);

/* Broker reconnects so far. */
long rpc_client_reconnects(const struct rpc_client *c);

/* Calls currently submitted and not completed. */
long rpc_client_inflight(const struct rpc_client *c);

/*
 * Stops taking calls, waits up to drain_ms for those in flight, fails the
 * rest with 503, closes the connection and joins the thread.
 */
void rpc_client_stop(struct rpc_client *c, long drain_ms);

void rpc_client_destroy(struct rpc_client *c); /* NULL is a no-op */

#endif
