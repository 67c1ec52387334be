/*
 * rpc_client.c - see rpc_client.h.
 *
 * DESIGN
 * One thread ("amqp") owns everything AMQP.  Its loop:
 *
 *   connect (round-robin over AMQP_URL, jittered backoff) and declare:
 *     exchange nameko-rpc, reply queue rpc.reply-gateway-<uuid> bound with
 *     key <uuid> (x-expires 300000), consume it with no-ack on channel 1;
 *   then repeat:
 *     take submitted calls: fail them with 503 if the service queue has no
 *     consumer (passive declare on channel 2, cached for CONSUMER_TTL_MS),
 *     else publish with mandatory, expiration = time left, reply_to = <uuid>,
 *     and file them in the correlation table and the deadline list;
 *     fail calls whose deadline passed (504);
 *     poll the socket and the eventfd until the next deadline (at most 1 s,
 *     well inside the heartbeat interval);
 *     read every frame available: replies complete their call, a
 *     basic.return (no route) fails its call with 503, anything else
 *     fatal drops the connection.
 *   On a lost connection every call in flight fails at once with 503.
 *
 * All calls share one timeout, so the deadline list is FIFO: append at the
 * tail, expire from the head.  The correlation table is a chained hash.
 * Each call completes exactly once because it is in the table iff it is in
 * the list, and complete() removes it from both before calling done().
 */
#include "rpc_client.h"

#include "amqp_conn.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "nameko.h"
#include "validate.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define SERVICE_NAME "weather_service"
#define SERVICE_QUEUE "rpc-weather_service"
#define NBUCKETS 16384u
#define CONSUMER_TTL_MS 200
#define REPLY_QUEUE_EXPIRES_MS 300000
#define CH_MAIN 1
#define CH_CHECK 2

struct rpc_client {
    const struct config *cfg;
    rpc_done_fn done;
    void *ud;

    pthread_t thread;
    int started;
    int efd;
    atomic_int ready;
    atomic_int stopping;
    atomic_long inflight;
    atomic_long drain_deadline; /* ms, monotonic; 0 = not draining */

    pthread_mutex_t lock; /* guards the submit queue and closed */
    struct rpc_req *q_head, *q_tail;
    int closed; /* the thread has taken its last submissions */

    /* amqp thread only */
    amqp_connection_state_t conn;
    struct amqp_url_cursor url_cursor;
    char reply_key[37];
    char reply_queue[64];
    int check_channel_open;
    long consumers;          /* last consumer count, -1 = unknown */
    int64_t consumers_at_ms; /* when it was read */
    struct rpc_req *buckets[NBUCKETS];
    struct rpc_req *d_head, *d_tail;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h & (NBUCKETS - 1);
}

/* ---- in-flight table ---------------------------------------------------- */

static void table_add(struct rpc_client *c, struct rpc_req *r)
{
    unsigned b = hash_str(r->corr_id);

    r->h_next = c->buckets[b];
    c->buckets[b] = r;
    r->d_next = NULL;
    r->d_prev = c->d_tail;
    if (c->d_tail != NULL)
        c->d_tail->d_next = r;
    else
        c->d_head = r;
    c->d_tail = r;
}

static struct rpc_req *table_take(struct rpc_client *c, const char *corr)
{
    struct rpc_req **pp = &c->buckets[hash_str(corr)], *r;

    for (; (r = *pp) != NULL; pp = &r->h_next) {
        if (strcmp(r->corr_id, corr) != 0)
            continue;
        *pp = r->h_next;
        if (r->d_prev != NULL)
            r->d_prev->d_next = r->d_next;
        else
            c->d_head = r->d_next;
        if (r->d_next != NULL)
            r->d_next->d_prev = r->d_prev;
        else
            c->d_tail = r->d_prev;
        r->h_next = r->d_next = r->d_prev = NULL;
        return r;
    }
    return NULL;
}

/* Completes a call that is in no table or list any more. */
static void complete(struct rpc_client *c, struct rpc_req *r, int err,
                     const char *message)
{
    r->err = err;
    if (err != 0 && message != NULL) /* may come from any Nameko peer */
        validate_copy_text(r->message, sizeof(r->message), message);
    atomic_fetch_sub(&c->inflight, 1);
    c->done(r, c->ud);
}

static void fail_all_inflight(struct rpc_client *c, int err, const char *msg)
{
    while (c->d_head != NULL) {
        struct rpc_req *r = table_take(c, c->d_head->corr_id);
        complete(c, r, err, msg);
    }
}

static struct rpc_req *queue_take_all(struct rpc_client *c)
{
    struct rpc_req *head;

    pthread_mutex_lock(&c->lock);
    head = c->q_head;
    c->q_head = c->q_tail = NULL;
    pthread_mutex_unlock(&c->lock);
    return head;
}

static void fail_queue(struct rpc_client *c, int err, const char *msg)
{
    struct rpc_req *r = queue_take_all(c), *next;

    for (; r != NULL; r = next) {
        next = r->q_next;
        complete(c, r, err, msg);
    }
}

/* ---- connection -----------------------------------------------------------
 */

static void drop_connection(struct rpc_client *c, const char *why)
{
    if (c->conn == NULL)
        return;
    log_warn("broker connection lost: %s", why);
    atomic_store(&c->ready, 0);
    amqp_destroy_connection(c->conn);
    c->conn = NULL;
    fail_all_inflight(c, TEMPO_EUNAVAIL, "lost the connection to the broker");
}

static int declare_topology(struct rpc_client *c, char *err, size_t errlen)
{
    amqp_connection_state_t conn = c->conn;
    amqp_table_entry_t arg;
    amqp_table_t args;

    if (amqp_conn_declare_exchange(conn, CH_MAIN, err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    arg.key = amqp_cstring_bytes("x-expires");
    arg.value.kind = AMQP_FIELD_KIND_I32;
    arg.value.value.i32 = REPLY_QUEUE_EXPIRES_MS;
    args.num_entries = 1;
    args.entries = &arg;
    amqp_queue_declare(conn, CH_MAIN, amqp_cstring_bytes(c->reply_queue), 0, 0,
                       0, 0, args);
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
    amqp_channel_open(conn, CH_CHECK);
    if (amqp_conn_check(conn, "channel.open 2", err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    c->check_channel_open = 1;
    c->consumers = -1;
    return 0;
}

static void try_connect(struct rpc_client *c)
{
    struct amqp_conn_opts opts;
    char err[1024], host[300];

    amqp_conn_opts_init(&opts, c->cfg, "gateway");
    c->conn = amqp_conn_open(&opts, &c->url_cursor, host, sizeof(host), err,
                             sizeof(err));
    if (c->conn == NULL) {
        log_warn("broker: %s", err);
        return;
    }
    if (declare_topology(c, err, sizeof(err)) < 0) {
        log_warn("broker %s: %s", host, err);
        amqp_destroy_connection(c->conn);
        c->conn = NULL;
        return;
    }
    log_info("connected to broker %s, reply queue %s", host, c->reply_queue);
    atomic_store(&c->ready, 1);
}

/*
 * Number of consumers on the service queue, cached briefly.  0 when the
 * queue does not exist.  Returns -1 when the connection failed.
 */
static long service_consumers(struct rpc_client *c)
{
    amqp_queue_declare_ok_t *ok;
    amqp_rpc_reply_t r;
    int64_t now = now_ms();
    char err[256];

    if (c->consumers >= 0 && now - c->consumers_at_ms < CONSUMER_TTL_MS)
        return c->consumers;
    if (!c->check_channel_open) {
        amqp_channel_open(c->conn, CH_CHECK);
        if (amqp_conn_check(c->conn, "channel.open 2", err, sizeof(err)) < 0)
            goto lost;
        c->check_channel_open = 1;
    }
    ok =
        amqp_queue_declare(c->conn, CH_CHECK, amqp_cstring_bytes(SERVICE_QUEUE),
                           1, 0, 0, 0, amqp_empty_table);
    r = amqp_get_rpc_reply(c->conn);
    if (ok != NULL) {
        c->consumers = (long)ok->consumer_count;
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        /* 404: the queue does not exist.  Acknowledge the close. */
        amqp_channel_close_ok_t close_ok;
        memset(&close_ok, 0, sizeof(close_ok));
        amqp_send_method(c->conn, CH_CHECK, AMQP_CHANNEL_CLOSE_OK_METHOD,
                         &close_ok);
        c->check_channel_open = 0;
        c->consumers = 0;
    } else {
        amqp_conn_reply_error(r, "queue.declare passive", err, sizeof(err));
        goto lost;
    }
    c->consumers_at_ms = now;
    return c->consumers;
lost:
    drop_connection(c, err);
    return -1;
}

/* ---- publishing -----------------------------------------------------------
 */

static int publish(struct rpc_client *c, struct rpc_req *r, int64_t now)
{
    amqp_basic_properties_t props;
    amqp_table_entry_t hdr[2];
    amqp_field_value_t stack_item;
    char routing[96], expiration[24], caller[160];
    int64_t left = r->deadline_ms - now;
    int rc;

    snprintf(routing, sizeof(routing), "%s.%s", SERVICE_NAME, r->method);
    snprintf(expiration, sizeof(expiration), "%lld",
             (long long)(left > 1 ? left : 1));
    snprintf(caller, sizeof(caller), "gateway.%s", r->request_id);

    stack_item.kind = AMQP_FIELD_KIND_UTF8;
    stack_item.value.bytes = amqp_cstring_bytes(caller);
    hdr[0].key = amqp_cstring_bytes("nameko.call_id_stack");
    hdr[0].value.kind = AMQP_FIELD_KIND_ARRAY;
    hdr[0].value.value.array.num_entries = 1;
    hdr[0].value.value.array.entries = &stack_item;
    hdr[1].key = amqp_cstring_bytes("nameko.request_id");
    hdr[1].value.kind = AMQP_FIELD_KIND_UTF8;
    hdr[1].value.value.bytes = amqp_cstring_bytes(r->request_id);

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
    props.correlation_id = amqp_cstring_bytes(r->corr_id);
    props.reply_to = amqp_cstring_bytes(c->reply_key);
    props.expiration = amqp_cstring_bytes(expiration);
    props.headers.num_entries = 2;
    props.headers.entries = hdr;

    rc = amqp_basic_publish(c->conn, CH_MAIN,
                            amqp_cstring_bytes(NAMEKO_EXCHANGE),
                            amqp_cstring_bytes(routing), 1, 0, &props,
                            (amqp_bytes_t){r->body_len, r->body});
    if (rc != AMQP_STATUS_OK) {
        drop_connection(c, amqp_error_string2(rc));
        return TEMPO_EUNAVAIL;
    }
    return 0;
}

static void take_submissions(struct rpc_client *c)
{
    struct rpc_req *r = queue_take_all(c), *next;
    int64_t now = now_ms();

    for (; r != NULL; r = next) {
        long consumers;
        next = r->q_next;
        if (c->conn == NULL) {
            complete(c, r, TEMPO_EUNAVAIL, "not connected to the broker");
            continue;
        }
        if (r->deadline_ms <= now) {
            metrics_rpc_timeout();
            complete(c, r, TEMPO_ETIMEOUT, "no reply in time");
            continue;
        }
        consumers = service_consumers(c);
        if (consumers <= 0) {
            metrics_rpc_unroutable();
            complete(c, r, TEMPO_EUNAVAIL,
                     consumers == 0 ? "no weather-service worker is running"
                                    : "lost the connection to the broker");
            continue;
        }
        amqp_conn_uuid4(r->corr_id);
        if (publish(c, r, now) < 0) {
            complete(c, r, TEMPO_EUNAVAIL, "lost the connection to the broker");
            continue;
        }
        table_add(c, r);
    }
}

static void expire_deadlines(struct rpc_client *c)
{
    int64_t now = now_ms();

    while (c->d_head != NULL && c->d_head->deadline_ms <= now) {
        struct rpc_req *r = table_take(c, c->d_head->corr_id);
        metrics_rpc_timeout();
        log_info("rpc %s (request %s) timed out", r->corr_id, r->request_id);
        complete(c, r, TEMPO_ETIMEOUT,
                 "the weather service did not answer "
                 "in time");
    }
}

/* ---- receiving ------------------------------------------------------------
 */

static void handle_reply(struct rpc_client *c, amqp_envelope_t *env)
{
    amqp_basic_properties_t *p = &env->message.properties;
    struct nameko_reply reply;
    struct rpc_req *r;
    char corr[64], err[256];
    size_t off, span;
    int rc;

    if (!(p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) ||
        amqp_conn_bytes_str(p->correlation_id, corr, sizeof(corr)) < 0) {
        log_warn("dropped a reply without a usable correlation id");
        return;
    }
    r = table_take(c, corr);
    if (r == NULL) {
        log_debug("dropped a late or unknown reply %s", corr);
        return;
    }
    /* The usual success reply: copy the result's bytes, skipping a parse
     * and a re-encode (about a third of this thread's CPU). */
    if (nameko_reply_result_span(env->message.body.bytes, env->message.body.len,
                                 &off, &span) == 0) {
        r->reply = malloc(span + 1);
        if (r->reply == NULL) {
            complete(c, r, TEMPO_EINTERNAL, "out of memory");
            return;
        }
        memcpy(r->reply, (const char *)env->message.body.bytes + off, span);
        r->reply[span] = '\0';
        r->reply_len = span;
        complete(c, r, 0, NULL);
        return;
    }
    rc = nameko_reply_decode(env->message.body.bytes, env->message.body.len,
                             &reply, err, sizeof(err));
    if (rc < 0) {
        log_warn("request %s: malformed reply: %s", r->request_id, err);
        complete(c, r, TEMPO_EINTERNAL,
                 "the weather service sent a "
                 "malformed reply");
        return;
    }
    if (reply.result != NULL) {
        r->reply =
            json_dumps(reply.result, JSON_COMPACT | JSON_REAL_PRECISION(15));
        r->reply_len = r->reply ? strlen(r->reply) : 0;
        nameko_reply_clear(&reply);
        if (r->reply == NULL)
            complete(c, r, TEMPO_EINTERNAL, "out of memory");
        else
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

/* A non-delivery frame is waiting: returned message, or a close. */
static void handle_frame(struct rpc_client *c)
{
    amqp_frame_t frame;
    amqp_message_t msg;
    amqp_rpc_reply_t rr;
    char corr[64];
    int rc;

    rc = amqp_simple_wait_frame(c->conn, &frame);
    if (rc != AMQP_STATUS_OK) {
        drop_connection(c, amqp_error_string2(rc));
        return;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD)
        return;
    switch (frame.payload.method.id) {
    case AMQP_BASIC_RETURN_METHOD:
        rr = amqp_read_message(c->conn, frame.channel, &msg, 0);
        if (rr.reply_type != AMQP_RESPONSE_NORMAL) {
            drop_connection(c, "reading a returned message");
            return;
        }
        if ((msg.properties._flags & AMQP_BASIC_CORRELATION_ID_FLAG) &&
            amqp_conn_bytes_str(msg.properties.correlation_id, corr,
                                sizeof(corr)) == 0) {
            struct rpc_req *r = table_take(c, corr);
            if (r != NULL) {
                metrics_rpc_unroutable();
                c->consumers = -1;
                complete(c, r, TEMPO_EUNAVAIL,
                         "no weather-service queue is bound");
            }
        }
        amqp_destroy_message(&msg);
        return;
    case AMQP_CHANNEL_CLOSE_METHOD:
        drop_connection(c, "channel closed by the broker");
        return;
    case AMQP_CONNECTION_CLOSE_METHOD:
        drop_connection(c, "connection closed by the broker");
        return;
    default:
        return; /* basic.ack etc.: nothing to do */
    }
}

static void read_available(struct rpc_client *c)
{
    struct timeval zero = {0, 0};

    while (c->conn != NULL) {
        amqp_envelope_t env;
        amqp_rpc_reply_t rr;

        amqp_maybe_release_buffers(c->conn);
        rr = amqp_consume_message(c->conn, &env, &zero, 0);
        if (rr.reply_type == AMQP_RESPONSE_NORMAL) {
            handle_reply(c, &env);
            amqp_destroy_envelope(&env);
            continue;
        }
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_TIMEOUT)
            return;
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            handle_frame(c);
            continue;
        }
        {
            char err[256];
            amqp_conn_reply_error(rr, "consume", err, sizeof(err));
            drop_connection(c, err);
        }
    }
}

/* ---- the thread -----------------------------------------------------------
 */

static void wait_events(struct rpc_client *c, int timeout_ms)
{
    struct pollfd pfd[2];
    int n = 1;
    uint64_t v;

    pfd[0].fd = c->efd;
    pfd[0].events = POLLIN;
    if (c->conn != NULL) {
        if (amqp_frames_enqueued(c->conn) || amqp_data_in_buffer(c->conn))
            timeout_ms = 0;
        pfd[1].fd = amqp_get_sockfd(c->conn);
        pfd[1].events = POLLIN;
        n = 2;
    }
    if (poll(pfd, (nfds_t)n, timeout_ms) > 0 && (pfd[0].revents & POLLIN)) {
        if (read(c->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            log_warn("eventfd read: %s", strerror(errno));
    }
}

static void *client_thread(void *arg)
{
    struct rpc_client *c = arg;
    unsigned attempt = 0;
    int64_t retry_at = 0;

    log_set_request_id(NULL);
    for (;;) {
        int64_t now = now_ms(), drain = atomic_load(&c->drain_deadline);
        int timeout = 1000;

        if (atomic_load(&c->stopping) &&
            (c->d_head == NULL || (drain != 0 && now >= drain)))
            break;
        if (c->conn == NULL && now >= retry_at && !atomic_load(&c->stopping)) {
            try_connect(c);
            if (c->conn == NULL) {
                retry_at = now + amqp_conn_backoff_ms(attempt++);
            } else {
                if (attempt > 0)
                    metrics_broker_reconnect();
                attempt = 0;
            }
        }
        take_submissions(c);
        if (c->conn != NULL)
            read_available(c);
        expire_deadlines(c);

        now = now_ms();
        if (c->d_head != NULL && c->d_head->deadline_ms - now < timeout)
            timeout = (int)(c->d_head->deadline_ms - now);
        if (c->conn == NULL && retry_at - now < timeout)
            timeout = (int)(retry_at - now);
        if (timeout < 0)
            timeout = 0;
        wait_events(c, timeout);
    }
    pthread_mutex_lock(&c->lock);
    c->closed = 1;
    pthread_mutex_unlock(&c->lock);
    fail_queue(c, TEMPO_EUNAVAIL, "the gateway is shutting down");
    fail_all_inflight(c, TEMPO_EUNAVAIL, "the gateway is shutting down");
    atomic_store(&c->ready, 0);
    amqp_conn_close(c->conn);
    c->conn = NULL;
    return NULL;
}

/* ---- public ---------------------------------------------------------------
 */

struct rpc_client *rpc_client_create(const struct config *cfg, rpc_done_fn done,
                                     void *ud)
{
    struct rpc_client *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->cfg = cfg;
    c->done = done;
    c->ud = ud;
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->efd < 0) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    amqp_conn_uuid4(c->reply_key);
    snprintf(c->reply_queue, sizeof(c->reply_queue), "rpc.reply-gateway-%s",
             c->reply_key);
    c->consumers = -1;
    return c;
}

int rpc_client_start(struct rpc_client *c)
{
    if (pthread_create(&c->thread, NULL, client_thread, c) != 0)
        return TEMPO_EINTERNAL;
    c->started = 1;
    return 0;
}

static void wake(struct rpc_client *c)
{
    uint64_t one = 1;

    if (write(c->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("eventfd write: %s", strerror(errno));
}

int rpc_client_submit(struct rpc_client *c, struct rpc_req *req)
{
    int was_empty;

    if (atomic_load(&c->stopping)) {
        snprintf(req->message, sizeof(req->message),
                 "the gateway is shutting down");
        return TEMPO_EUNAVAIL;
    }
    if (!atomic_load(&c->ready)) {
        snprintf(req->message, sizeof(req->message),
                 "not connected to the broker");
        return TEMPO_EUNAVAIL;
    }
    req->err = 0;
    req->reply = NULL;
    req->reply_len = 0;
    req->message[0] = '\0';
    req->deadline_ms = now_ms() + c->cfg->rpc_timeout_ms;
    req->q_next = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->closed) {
        pthread_mutex_unlock(&c->lock);
        snprintf(req->message, sizeof(req->message),
                 "the gateway is shutting down");
        return TEMPO_EUNAVAIL;
    }
    atomic_fetch_add(&c->inflight, 1);
    /* The thread takes the whole queue at once: only the submit that
     * finds it empty needs to wake it. */
    was_empty = c->q_head == NULL;
    if (c->q_tail != NULL)
        c->q_tail->q_next = req;
    else
        c->q_head = req;
    c->q_tail = req;
    pthread_mutex_unlock(&c->lock);
    if (was_empty)
        wake(c);
    return 0;
}

int rpc_client_ready(const struct rpc_client *c)
{
    return atomic_load(&((struct rpc_client *)(uintptr_t)c)->ready);
}

long rpc_client_inflight(const struct rpc_client *c)
{
    return atomic_load(&((struct rpc_client *)(uintptr_t)c)->inflight);
}

void rpc_client_stop(struct rpc_client *c, long drain_ms)
{
    if (c == NULL || !c->started)
        return;
    atomic_store(&c->drain_deadline, now_ms() + (drain_ms > 0 ? drain_ms : 1));
    atomic_store(&c->stopping, 1);
    wake(c);
    pthread_join(c->thread, NULL);
    c->started = 0;
}

void rpc_client_destroy(struct rpc_client *c)
{
    if (c == NULL)
        return;
    rpc_client_stop(c, 0);
    close(c->efd);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
