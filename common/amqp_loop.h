/*
 * amqp_loop.h - one AMQP connection, owned by one thread, for both daemons.
 *
 * rabbitmq-c connections must not be shared between threads and have no
 * reconnect and no event loop of their own.  An amqp_loop is that loop: a
 * thread that connects (fail-over over AMQP_URL's list, jittered backoff),
 * lets the daemon declare its topology, then polls the socket and a
 * mailbox, reads every frame, and hands the daemon what concerns it
 * through the callbacks below.  On any connection error it drops the
 * connection and connects anew.  The daemons keep only their own logic:
 * the gateway its correlation table and deadlines, the worker its jobs.
 *
 * Handled here, the same way for both daemons:
 *   - basic.cancel from the broker (its queue was deleted, or the queue's
 *     node went down): the connection is dropped and made again, which
 *     declares everything from scratch;
 *   - connection.blocked / connection.unblocked (a memory or disk alarm):
 *     amqp_loop_blocked() reads 1 and the `blocked` callback runs; the
 *     connection is kept;
 *   - connection.close, channel.close on channel 1, heartbeat timeouts and
 *     socket errors: dropped;
 *   - publisher-confirm acks and our own consumers' cancel-ok: ignored.
 *
 * Threads: every callback runs on the loop's thread, and so must every use
 * of the connection.  amqp_loop_post, amqp_loop_stop and the atomic
 * getters may be called from any thread.
 */
#ifndef TEMPO_AMQP_LOOP_H
#define TEMPO_AMQP_LOOP_H

#include "amqp_conn.h"

#include <amqp.h>
#include <stddef.h>
#include <stdint.h>

/* The channel opened with every connection; the daemons publish and
 * consume on it. */
#define AMQP_LOOP_CHANNEL 1

/* The Nameko service tempo implements and calls (SPEC section 3). */
#define TEMPO_SERVICE_NAME "weather_service"
#define TEMPO_SERVICE_QUEUE "rpc-weather_service"

struct amqp_loop;

/* A message from another thread to the loop's thread; embed it (intrusive
 * list) in the daemon's own struct. */
struct amqp_loop_msg {
    struct amqp_loop_msg *next;
};

/*
 * What the daemon does with its connection.  `ud` is the pointer given to
 * amqp_loop_create.  Only connected, lost, delivery and mail are required.
 */
struct amqp_loop_ops {
    /* A new connection is logged in with channel 1 open: declare the
     * topology and start consuming.  Return 0, or a negative tempo_err
     * with a message in err (the connection is then closed and tried
     * again after a backoff). */
    int (*connected)(struct amqp_loop *l, void *ud, const char *host, char *err,
                     size_t errlen);
    /* The connection is gone (already destroyed): `why` is for the log.
     * Also called once at shutdown if connected then. */
    void (*lost)(struct amqp_loop *l, void *ud, const char *why);
    /* A message from one of our consumers.  env is borrowed. */
    void (*delivery)(struct amqp_loop *l, void *ud, amqp_envelope_t *env);
    /* Messages posted by other threads, oldest first; the list is the
     * callee's.  At shutdown it runs once more with what was left. */
    void (*mail)(struct amqp_loop *l, void *ud, struct amqp_loop_msg *list);

    /* Optional: a mandatory message came back (basic.return).  msg is
     * borrowed. */
    void (*returned)(struct amqp_loop *l, void *ud, amqp_message_t *msg);
    /* Optional: a method frame the loop does not handle itself, e.g. the
     * answer to an asynchronous request on another channel.  Return 0 if
     * it was yours, or -1 (the loop drops the connection on unexpected
     * closes and ignores the rest). */
    int (*method)(struct amqp_loop *l, void *ud, amqp_channel_t channel,
                  const amqp_method_t *m);
    /* Optional: the broker blocked (1) or unblocked (0) the connection. */
    void (*blocked)(struct amqp_loop *l, void *ud, int blocked);
    /* Optional: runs on every turn of the loop; returns the monotonic time
     * (ms) it wants to run again, or 0 for no particular time. */
    int64_t (*tick)(struct amqp_loop *l, void *ud, int64_t now_ms);
    /* Optional: a stop was requested; runs once on the loop thread. */
    void (*stopping)(struct amqp_loop *l, void *ud);
    /* Optional: during a stop, 1 when nothing is left to wait for (NULL:
     * stop at once). */
    int (*drained)(struct amqp_loop *l, void *ud);
};

struct config;

/*
 * Creates a loop (not started) for `daemon` ("gateway", "weather-service":
 * the connection_name the broker shows).  cfg gives AMQP_URL and the TLS
 * files (borrowed: it outlives the loop); ops is copied; ud is passed to
 * every callback.  Returns NULL on failure.
 */
struct amqp_loop *amqp_loop_create(const struct config *cfg, const char *daemon,
                                   const struct amqp_loop_ops *ops, void *ud);

/* Starts the loop's thread.  0 or TEMPO_EINTERNAL. */
int amqp_loop_start(struct amqp_loop *l);

/*
 * Hands m to the loop's thread (any thread): it reaches ops->mail soon.
 * Returns 0, or TEMPO_EUNAVAIL once the loop has finished (m was not
 * taken and stays the caller's).
 */
int amqp_loop_post(struct amqp_loop *l, struct amqp_loop_msg *m);

/*
 * Stops the loop (any thread but the loop's): ops->stopping runs, then the
 * loop keeps serving until ops->drained says so or drain_ms pass, runs
 * ops->mail with what is left, closes the connection (ops->lost) and
 * returns once the thread has exited.  Idempotent.
 */
void amqp_loop_stop(struct amqp_loop *l, long drain_ms);

/* Stops (drain 0) and frees.  NULL is a no-op. */
void amqp_loop_destroy(struct amqp_loop *l);

/* ---- any thread ---------------------------------------------------------- */

/* 1 while a connection is up and its topology declared. */
int amqp_loop_connected(const struct amqp_loop *l);

/* 1 while the broker has blocked the connection (resource alarm). */
int amqp_loop_blocked(const struct amqp_loop *l);

/* 1 once a stop was requested. */
int amqp_loop_stopping(const struct amqp_loop *l);

/* Successful connections after the first (broker reconnects). */
long amqp_loop_reconnects(const struct amqp_loop *l);

/* ---- the loop's thread only ---------------------------------------------- */

/* The connection, or NULL while disconnected.  Borrowed. */
amqp_connection_state_t amqp_loop_conn(struct amqp_loop *l);

/*
 * Drops the connection after an error the daemon met using it (e.g. a
 * failed publish): ops->lost runs before this returns, and the loop
 * connects again.  No-op while disconnected.
 */
void amqp_loop_drop(struct amqp_loop *l, const char *why);

#endif
