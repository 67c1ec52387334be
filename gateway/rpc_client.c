/*
 * rpc_client.c - see rpc_client.h.
 *
 * DESIGN
 * The connection itself (connect, fail-over, backoff, frames, heartbeats,
 * blocked/unblocked, cancelled consumers) is common/amqp_loop.c's.  This
 * file is what the gateway does with it, all on the loop's thread:
 *
 *   connected   declare nameko-rpc; declare a reply queue with a fresh
 *               name, rpc.reply-gateway-<uuid>, bound with key <uuid>, and
 *               consume it (no-ack).  Fresh (and exclusive) per
 *               connection, so after a fail-over it lives on the node we
 *               are connected to; the calls waiting on the old one were
 *               failed (503) when it was lost.  Then the consumer check
 *               (consumer_check.h) reads the service queue's consumers.
 *   mail        submitted calls: fail them at once (503) while the broker
 *               blocks us or the service queue has no consumer, else
 *               publish (mandatory, expiration = time left, the absolute
 *               deadline in a header) and file them in the call table;
 *   delivery    a reply completes its call (unknown ids are dropped);
 *   returned    basic.return (no queue bound): that call fails with 503;
 *   tick        fail calls whose deadline passed (504); the consumer
 *               check's next asynchronous reading;
 *   method      its answers;
 *   lost        every call in flight fails at once with 503.
 */
#include "rpc_client.h"

#include "amqp_conn.h"
#include "clock.h"
#include "config.h"
#include "consumer_check.h"
#include "container_of.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "nameko.h"
#include "validate.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_QUEUE_EXPIRES_MS 300000
#define CH_MAIN AMQP_LOOP_CHANNEL

struct rpc_client {
    const struct config *cfg;
    rpc_done_fn done;
    void *ud;
    struct amqp_loop *loop;
    atomic_long inflight;
    struct consumer_check check; /* does a worker consume? */

    /* the loop's thread only */
    char reply_key[37];
    char reply_queue[64];
    struct calltable calls;
    int connected_once;
};

static struct rpc_req *req_of(struct call_entry *e)
{
    return container_of(e, struct rpc_req, entry);
}

/* Completes a call that is in the table no more. */
static void complete(struct rpc_client *c, struct rpc_req *r, int err,
                     const char *message)
{
    r->err = err;
    if (err != 0 && message != NULL) /* may come from any Nameko peer */
        validate_copy_text(r->message, sizeof(r->message), message);
    atomic_fetch_sub(&c->inflight, 1);
    c->done(r, c->ud);
}

static void fail_all(struct rpc_client *c, int err, const char *msg)
{
    struct call_entry *e;

    while ((e = calltable_first(&c->calls)) != NULL) {
        calltable_take(&c->calls, e->corr_id);
        complete(c, req_of(e), err, msg);
    }
}

/* ---- connection ---------------------------------------------------------- */

static int declare_reply_queue(struct amqp_loop *l, void *ud, const char *host,
                               char *err, size_t errlen)
{
    struct rpc_client *c = ud;
    amqp_connection_state_t conn = amqp_loop_conn(l);
    amqp_table_entry_t arg;
    amqp_table_t args;

    amqp_conn_uuid4(c->reply_key);
    snprintf(c->reply_queue, sizeof(c->reply_queue), "rpc.reply-gateway-%s",
             c->reply_key);
    if (amqp_conn_declare_exchange(conn, CH_MAIN, err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    arg.key = amqp_cstring_bytes("x-expires");
    arg.value.kind = AMQP_FIELD_KIND_I32;
    arg.value.value.i32 = REPLY_QUEUE_EXPIRES_MS;
    args.num_entries = 1;
    args.entries = &arg;
    /* Exclusive: it lives on this connection's node and goes with it. */
    amqp_queue_declare(conn, CH_MAIN, amqp_cstring_bytes(c->reply_queue), 0, 0,
                       1, 1, args);
    if (amqp_conn_check(conn, "queue.declare reply", err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    amqp_queue_bind(conn, CH_MAIN, amqp_cstring_bytes(c->reply_queue),
                    amqp_cstring_bytes(NAMEKO_EXCHANGE),
                    amqp_cstring_bytes(c->reply_key), amqp_empty_table);
    if (amqp_conn_check(conn, "queue.bind reply", err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    amqp_basic_consume(conn, CH_MAIN, amqp_cstring_bytes(c->reply_queue),
                       amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    if (amqp_conn_check(conn, "basic.consume reply", err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    if (consumer_check_connected(&c->check, conn, err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    if (c->connected_once)
        metrics_broker_reconnect();
    c->connected_once = 1;
    log_info("connected to broker %s, reply queue %s, %ld consumer(s) on %s",
             host, c->reply_queue, consumer_check_count(&c->check),
             TEMPO_SERVICE_QUEUE);
    return 0;
}

static void fail_calls_in_flight(struct amqp_loop *l, void *ud, const char *why)
{
    struct rpc_client *c = ud;

    (void)why;
    consumer_check_lost(&c->check);
    fail_all(c, TEMPO_EUNAVAIL,
             amqp_loop_stopping(l) ? "the gateway is shutting down"
                                   : "lost the connection to the broker");
}

/* ---- publishing ---------------------------------------------------------- */

static int publish(struct rpc_client *c, amqp_connection_state_t conn,
                   struct rpc_req *r, int64_t now)
{
    amqp_basic_properties_t props;
    amqp_table_entry_t hdr[5];
    amqp_field_value_t stack_item;
    char routing[96], expiration[24], caller[160];
    int64_t left = r->entry.deadline_ms - now;
    int n = 0, rc;

    snprintf(routing, sizeof(routing), "%s.%s", TEMPO_SERVICE_NAME, r->method);
    snprintf(expiration, sizeof(expiration), "%lld",
             (long long)(left > 1 ? left : 1));
    snprintf(caller, sizeof(caller), "gateway.%s", r->request_id);

    stack_item.kind = AMQP_FIELD_KIND_UTF8;
    stack_item.value.bytes = amqp_cstring_bytes(caller);
    hdr[n].key = amqp_cstring_bytes(NAMEKO_HDR_CALL_ID_STACK);
    hdr[n].value.kind = AMQP_FIELD_KIND_ARRAY;
    hdr[n].value.value.array.num_entries = 1;
    hdr[n].value.value.array.entries = &stack_item;
    n++;
    hdr[n].key = amqp_cstring_bytes(NAMEKO_HDR_REQUEST_ID);
    hdr[n].value.kind = AMQP_FIELD_KIND_UTF8;
    hdr[n].value.value.bytes = amqp_cstring_bytes(r->request_id);
    n++;
    hdr[n].key = amqp_cstring_bytes(TEMPO_HDR_DEADLINE);
    hdr[n].value.kind = AMQP_FIELD_KIND_I64;
    hdr[n].value.value.i64 = r->wall_deadline_ms;
    n++;
    if (r->traceparent[0] != '\0') {
        hdr[n].key = amqp_cstring_bytes(TEMPO_HDR_TRACEPARENT);
        hdr[n].value.kind = AMQP_FIELD_KIND_UTF8;
        hdr[n].value.value.bytes = amqp_cstring_bytes(r->traceparent);
        n++;
    }
    if (r->tracestate[0] != '\0') {
        hdr[n].key = amqp_cstring_bytes(TEMPO_HDR_TRACESTATE);
        hdr[n].value.kind = AMQP_FIELD_KIND_UTF8;
        hdr[n].value.value.bytes = amqp_cstring_bytes(r->tracestate);
        n++;
    }

    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_CONTENT_ENCODING_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG |
                   AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_REPLY_TO_FLAG |
                   AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_EXPIRATION_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.content_encoding = amqp_cstring_bytes("utf-8");
    props.delivery_mode = 1; /* transient: see SPEC section 3 */
    props.priority = 0;
    props.correlation_id = amqp_cstring_bytes(r->entry.corr_id);
    props.reply_to = amqp_cstring_bytes(c->reply_key);
    props.expiration = amqp_cstring_bytes(expiration);
    props.headers.num_entries = n;
    props.headers.entries = hdr;

    rc = amqp_basic_publish(conn, CH_MAIN, amqp_cstring_bytes(NAMEKO_EXCHANGE),
                            amqp_cstring_bytes(routing), 1, 0, &props,
                            (amqp_bytes_t){r->body_len, r->body});
    if (rc != AMQP_STATUS_OK) {
        amqp_loop_drop(c->loop, amqp_error_string2(rc));
        return TEMPO_EUNAVAIL;
    }
    return 0;
}

static void publish_submissions(struct amqp_loop *l, void *ud,
                                struct amqp_loop_msg *m)
{
    struct rpc_client *c = ud;
    int64_t now = clock_mono_ms();

    while (m != NULL) {
        struct rpc_req *r = container_of(m, struct rpc_req, msg);
        amqp_connection_state_t conn = amqp_loop_conn(l);
        long consumers = consumer_check_count(&c->check);

        m = m->next;
        if (conn == NULL) {
            complete(c, r, TEMPO_EUNAVAIL,
                     amqp_loop_stopping(l) ? "the gateway is shutting down"
                                           : "not connected to the broker");
        } else if (amqp_loop_blocked(l)) {
            complete(c, r, TEMPO_EUNAVAIL,
                     "the broker is refusing messages (resource alarm)");
        } else if (r->entry.deadline_ms <= now) {
            metrics_rpc_timeout();
            complete(c, r, TEMPO_ETIMEOUT, "no reply in time");
        } else if (consumers == 0) {
            metrics_rpc_unroutable();
            complete(c, r, TEMPO_EUNAVAIL,
                     "no weather-service worker is running");
        } else {
            amqp_conn_uuid4(r->entry.corr_id);
            if (publish(c, conn, r, now) < 0)
                complete(c, r, TEMPO_EUNAVAIL,
                         "lost the connection to the broker");
            else
                calltable_add(&c->calls, &r->entry);
        }
    }
}

static int64_t expire_and_check(struct amqp_loop *l, void *ud, int64_t now)
{
    struct rpc_client *c = ud;
    amqp_connection_state_t conn = amqp_loop_conn(l);
    struct call_entry *e;
    int64_t next = 0;

    while ((e = calltable_take_expired(&c->calls, now)) != NULL) {
        struct rpc_req *r = req_of(e);
        metrics_rpc_timeout();
        log_info("rpc %s (request %s) timed out", e->corr_id, r->request_id);
        complete(c, r, TEMPO_ETIMEOUT,
                 "the weather service did not answer in time");
    }
    e = calltable_first(&c->calls);
    if (e != NULL)
        next = e->deadline_ms;
    if (conn != NULL && !amqp_loop_blocked(l)) {
        int64_t at;
        if (consumer_check_tick(&c->check, conn, now, &at) < 0)
            amqp_loop_drop(l, "sending the consumer check");
        else if (at != 0 && (next == 0 || at < next))
            next = at;
    }
    return next;
}

/* ---- receiving ----------------------------------------------------------- */

/* Takes the call a message's correlation id names, or NULL. */
static struct rpc_req *take_by_corr(struct rpc_client *c,
                                    const amqp_basic_properties_t *p)
{
    struct call_entry *e;
    char corr[64];

    if (!(p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) ||
        amqp_conn_bytes_str(p->correlation_id, corr, sizeof(corr)) < 0)
        return NULL;
    e = calltable_take(&c->calls, corr);
    return e != NULL ? req_of(e) : NULL;
}

/* A reply's result, passed through as the HTTP body. */
static void complete_result(struct rpc_client *c, struct rpc_req *r,
                            const char *json, size_t len)
{
    r->reply = malloc(len + 1);
    if (r->reply == NULL) {
        complete(c, r, TEMPO_EINTERNAL, "out of memory");
        return;
    }
    memcpy(r->reply, json, len);
    r->reply[len] = '\0';
    r->reply_len = len;
    complete(c, r, 0, NULL);
}

static void take_reply(struct amqp_loop *l, void *ud, amqp_envelope_t *env)
{
    struct rpc_client *c = ud;
    struct nameko_reply reply;
    struct rpc_req *r;
    const char *body = env->message.body.bytes;
    size_t len = env->message.body.len, off, span;
    char err[256];
    int rc;

    (void)l;
    consumer_check_alive(&c->check, clock_mono_ms()); /* a worker answers */
    r = take_by_corr(c, &env->message.properties);
    if (r == NULL) {
        log_debug("dropped a late, unknown or unlabelled reply");
        return;
    }
    /* The usual success reply: a validating scan finds the result's bytes
     * without building a tree or re-encoding it. */
    if (nameko_reply_result_span(body, len, &off, &span) == 0) {
        complete_result(c, r, body + off, span);
        return;
    }
    rc = nameko_reply_decode(body, len, &reply, err, sizeof(err));
    if (rc < 0) {
        log_warn("request %s: malformed reply: %s", r->request_id, err);
        complete(c, r, TEMPO_EINTERNAL,
                 "the weather service sent a malformed reply");
        return;
    }
    if (reply.result != NULL) {
        char *s =
            json_dumps(reply.result, JSON_COMPACT | JSON_REAL_PRECISION(15));
        nameko_reply_clear(&reply);
        if (s == NULL) {
            complete(c, r, TEMPO_EINTERNAL, "out of memory");
            return;
        }
        r->reply = s;
        r->reply_len = strlen(s);
        complete(c, r, 0, NULL);
        return;
    }
    rc = tempo_err_from_exc_type(reply.exc_type);
    if (rc == TEMPO_EINTERNAL) {
        log_warn("request %s: worker error %s: %s", r->request_id,
                 reply.exc_type, reply.value);
        complete(c, r, rc, "internal error in the weather service");
    } else {
        complete(c, r, rc, reply.value);
    }
    nameko_reply_clear(&reply);
}

static int read_check_answer(struct amqp_loop *l, void *ud, amqp_channel_t ch,
                             const amqp_method_t *m)
{
    struct rpc_client *c = ud;
    int rc = consumer_check_method(&c->check, amqp_loop_conn(l), ch, m);

    if (rc < 0)
        amqp_loop_drop(l, "answering the broker on the check channel");
    return rc <= 0 ? 0 : -1;
}

static void fail_returned(struct amqp_loop *l, void *ud, amqp_message_t *msg)
{
    struct rpc_client *c = ud;
    struct rpc_req *r = take_by_corr(c, &msg->properties);

    (void)l;
    if (r == NULL)
        return;
    metrics_rpc_unroutable();
    consumer_check_none(&c->check);
    complete(c, r, TEMPO_EUNAVAIL, "no weather-service queue is bound");
}

static void note_blocked(struct amqp_loop *l, void *ud, int blocked)
{
    (void)l;
    (void)ud;
    metrics_broker_blocked(blocked);
}

static int no_calls_left(struct amqp_loop *l, void *ud)
{
    struct rpc_client *c = ud;

    (void)l;
    return calltable_first(&c->calls) == NULL;
}

/* ---- public -------------------------------------------------------------- */

struct rpc_client *rpc_client_create(const struct config *cfg, rpc_done_fn done,
                                     void *ud)
{
    static const struct amqp_loop_ops ops = {
        .connected = declare_reply_queue,
        .lost = fail_calls_in_flight,
        .delivery = take_reply,
        .mail = publish_submissions,
        .returned = fail_returned,
        .method = read_check_answer,
        .blocked = note_blocked,
        .tick = expire_and_check,
        .drained = no_calls_left,
    };
    struct rpc_client *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->cfg = cfg;
    c->done = done;
    c->ud = ud;
    consumer_check_init(&c->check);
    calltable_init(&c->calls);
    c->loop = amqp_loop_create(cfg, "gateway", &ops, c);
    if (c->loop == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

int rpc_client_start(struct rpc_client *c)
{
    return amqp_loop_start(c->loop);
}

int rpc_client_submit(struct rpc_client *c, struct rpc_req *req)
{
    const char *why = rpc_client_unready_reason(c);

    if (amqp_loop_stopping(c->loop))
        why = "the gateway is shutting down";
    if (why != NULL) {
        if (consumer_check_count(&c->check) == 0)
            metrics_rpc_unroutable();
        snprintf(req->message, sizeof(req->message), "%s", why);
        return TEMPO_EUNAVAIL;
    }
    req->err = 0;
    req->reply = NULL;
    req->reply_len = 0;
    req->message[0] = '\0';
    req->entry.deadline_ms = clock_mono_ms() + c->cfg->rpc_timeout_ms;
    req->wall_deadline_ms = clock_wall_ms() + c->cfg->rpc_timeout_ms;
    atomic_fetch_add(&c->inflight, 1);
    if (amqp_loop_post(c->loop, &req->msg) < 0) {
        atomic_fetch_sub(&c->inflight, 1);
        snprintf(req->message, sizeof(req->message),
                 "the gateway is shutting down");
        return TEMPO_EUNAVAIL;
    }
    return 0;
}

const char *rpc_client_unready_reason(const struct rpc_client *c)
{
    long consumers = consumer_check_count(&c->check);

    if (!amqp_loop_connected(c->loop))
        return "not connected to the broker";
    if (amqp_loop_blocked(c->loop))
        return "the broker is refusing messages (resource alarm)";
    if (consumers == 0)
        return "no weather-service worker is running";
    if (consumers < 0)
        return "not connected to the broker";
    return NULL;
}

int rpc_client_ready(const struct rpc_client *c)
{
    return rpc_client_unready_reason(c) == NULL;
}

int rpc_client_connected(const struct rpc_client *c)
{
    return amqp_loop_connected(c->loop);
}

long rpc_client_reconnects(const struct rpc_client *c)
{
    return amqp_loop_reconnects(c->loop);
}

long rpc_client_inflight(const struct rpc_client *c)
{
    return atomic_load(&((struct rpc_client *)(uintptr_t)c)->inflight);
}

void rpc_client_stop(struct rpc_client *c, long drain_ms)
{
    if (c != NULL)
        amqp_loop_stop(c->loop, drain_ms);
}

void rpc_client_destroy(struct rpc_client *c)
{
    if (c == NULL)
        return;
    amqp_loop_destroy(c->loop);
    free(c);
}
