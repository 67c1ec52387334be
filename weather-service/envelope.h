/*
 * envelope.h - what a Nameko call's AMQP envelope says, read once and for
 * hostile input: where to reply, the correlation id, the method (from the
 * routing key), the request id and trace context for logs, and the
 * caller's deadline.  Pure: the clocks are passed in.
 */
#ifndef TEMPO_ENVELOPE_H
#define TEMPO_ENVELOPE_H

#include "trace.h"

#include <amqp.h>
#include <stdint.h>

struct call_envelope {
    int has_reply_to;
    char reply_to[256];
    char corr_id[256]; /* "" = none */
    char method[64];
    char request_id[129]; /* "" = none usable */
    struct trace trace;   /* trace_id "" = none valid */
    int64_t deadline_ms;  /* on the mono clock given; 0 = none */
};

/*
 * Reads env (borrowed) into e.  mono_ms / wall_ms: this host's monotonic
 * and epoch clocks now.  The deadline is the earlier of the call's
 * `expiration` counted from now (RabbitMQ does not shorten it while the
 * message waits in the queue) and the absolute header tempo.deadline_ms
 * (which counts the wait; it assumes the hosts' clocks agree, as NTP keeps
 * them).  The request id is nameko.request_id, else the last entry of
 * nameko.call_id_stack (all a plain Nameko caller sends), when either is
 * a valid id.  Returns 0, or -1 when the envelope cannot carry a call (no
 * usable routing key or correlation id): e is filled as far as it could
 * be (reply_to, request id, deadline), so the caller can still answer.
 */
int envelope_read(const amqp_envelope_t *env, int64_t mono_ms, int64_t wall_ms,
                  struct call_envelope *e);

#endif
