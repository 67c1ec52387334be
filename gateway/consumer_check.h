/*
 * consumer_check.h - does any worker consume rpc-weather_service?  The
 * gateway answers 503 at once when none does (SPEC section 3), and
 * /readyz says so.
 *
 * The count is read with a passive queue.declare on a channel of its own
 * (channel 2) every CONSUMER_CHECK_MS, sent without waiting for the answer,
 * so that a slow broker never stalls the reply path; the answer arrives as
 * a method frame (consumer_check_method).  A 404 (no such queue) closes
 * that channel: it is acknowledged and reopened at the next check.
 *
 * A reading of 0 is believed at once when it is definitive (the queue does
 * not exist; a message came back unroutable), else only after no worker
 * has shown signs of life (a positive count, a reply) for
 * CONSUMER_GRACE_MS: right after a quorum queue changes leader, declare-ok
 * can count 0 consumers that are still there (measured on the cluster
 * test: ~70 false 503s per leader loss).
 *
 * Threads: everything but consumer_check_count runs on the AMQP loop's
 * thread, with its connection.
 */
#ifndef TEMPO_CONSUMER_CHECK_H
#define TEMPO_CONSUMER_CHECK_H

#include <amqp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CONSUMER_CHECK_MS 200
#define CONSUMER_GRACE_MS 1000
#define CONSUMER_CHECK_CHANNEL 2

struct consumer_check {
    atomic_long consumers; /* -1 = unknown (not connected) */
    /* the loop's thread only */
    int state;
    int64_t check_at;   /* next check, monotonic ms */
    int64_t alive_at;   /* last sign of a consuming worker; 0 = never */
    long last_positive; /* the last count above 0 */
};

void consumer_check_init(struct consumer_check *cc);

/* A new connection: opens channel 2 and reads the count once, waiting for
 * it.  0, or a negative tempo_err with a message in err. */
int consumer_check_connected(struct consumer_check *cc,
                             amqp_connection_state_t conn, char *err,
                             size_t errlen);

/* The connection is gone: the count is unknown again. */
void consumer_check_lost(struct consumer_check *cc);

/* A method frame on the loop: 0 when it was the check's (answered), 1
 * when not, or a negative tempo_err when answering it failed (drop the
 * connection). */
int consumer_check_method(struct consumer_check *cc,
                          amqp_connection_state_t conn, amqp_channel_t ch,
                          const amqp_method_t *m);

/* Sends the next check when it is due (not while blocked: the caller does
 * not call this then).  Returns 0 and sets *next (the monotonic time it
 * wants to run again, 0 = none), or a negative tempo_err when sending
 * failed. */
int consumer_check_tick(struct consumer_check *cc, amqp_connection_state_t conn,
                        int64_t now, int64_t *next);

/* A worker just answered: it is alive whatever the count says. */
void consumer_check_alive(struct consumer_check *cc, int64_t now);

/* A call came back unroutable: no queue is bound; check again soon. */
void consumer_check_none(struct consumer_check *cc);

/* The count as last believed (any thread): -1 unknown, 0, or positive. */
long consumer_check_count(const struct consumer_check *cc);

#endif
