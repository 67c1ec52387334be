/*
 * worker.c - see worker.h.
 *
 * DESIGN
 * The connection (connect, fail-over, frames, heartbeats, a consumer the
 * broker cancels, blocked/unblocked) is common/amqp_loop.c's; this file is
 * what the worker does with it.  On the loop's thread:
 *
 *   delivery -> job: the envelope (delivery tag, reply_to, correlation id,
 *               request id, deadline) and service_prepare(), which decodes
 *               and validates the call once.  A bad call, or one whose
 *               plan is ready (fresh cached weather, catalog music), is
 *               answered right there: the hand-off to a pool thread and
 *               back would cost more than the call.  The rest go to the
 *               pool's queue.
 *   pool thread: service_run(), encode the reply -> amqp_loop_post().
 *   mail     -> publish the reply to nameko-rpc with routing key reply_to,
 *               then ack the delivery (at-least-once: a worker that dies
 *               before the ack gets its call redelivered to another).
 *
 * basic.qos prefetch = WORKER_CONCURRENCY, so the broker never hands this
 * process more calls than it has threads.
 *
 * When the connection drops, the broker requeues every unacked call.  Jobs
 * not yet started are dropped; jobs running finish, and their replies are
 * still published on the next connection (a caller takes the first reply
 * and drops a duplicate) but not acked: their delivery tags died with the
 * old channel.  While the broker blocks the connection (resource alarm)
 * replies are held and published when it unblocks.
 *
 * Every call with a reply_to gets exactly one reply from this worker: a
 * result that cannot be encoded (over NAMEKO_MAX_BODY) is retried with
 * fewer tracks, then becomes an error reply.
 */
#include "worker.h"

#include "amqp_conn.h"
#include "amqp_loop.h"
#include "clock.h"
#include "config.h"
#include "container_of.h"
#include "envelope.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "nameko.h"
#include "service.h"
#include "trace.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CH AMQP_LOOP_CHANNEL

struct job {
    struct amqp_loop_msg msg; /* back to the loop's thread */
    struct job *next;         /* pool queue, held list */
    uint64_t tag;
    unsigned generation;
    struct call_envelope e;    /* reply_to, ids, method, trace, deadline */
    struct service_plan *plan; /* for the pool; NULL once run */
    char *reply;               /* the reply body */
    const char *outcome;       /* NULL = success, else the exc_type */
    double t0;
};

struct jobq {
    struct job *head, *tail;
};

struct worker {
    const struct config *cfg;
    struct service *svc;
    struct amqp_loop *loop;
    pthread_t *threads;
    long nthreads;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct jobq todo; /* guarded by lock */
    int quit;         /* guarded by lock */

    /* the loop's thread only */
    struct service_worker *inline_sw; /* answers calls needing no upstream */
    unsigned generation;
    long inflight; /* jobs taken and not yet answered or dropped */
    int consuming;
    char consumer_tag[256];
    struct jobq held; /* replies waiting for the broker to unblock us */
};

static void jobq_push(struct jobq *q, struct job *j)
{
    j->next = NULL;
    if (q->tail != NULL)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    service_plan_free(j->plan);
    free(j->reply);
    free(j);
}

/* ---- replies ------------------------------------------------------------- */

/* An error reply of one of the table's rows: exc_args [arg], value. */
static void set_error_reply(struct job *j, int err, const char *arg,
                            const char *value)
{
    json_t *args = json_pack("[s]", arg);

    free(j->reply);
    j->reply = nameko_reply_encode_error(tempo_err_exc_type(err),
                                         tempo_err_exc_path(err), args, value);
    json_decref(args);
    j->outcome = tempo_err_exc_type(err);
}

static void set_fault_reply(struct job *j, struct service_fault *f)
{
    free(j->reply);
    j->reply = nameko_reply_encode_error(f->exc_type, f->exc_path, f->exc_args,
                                         f->value);
    json_decref(f->exc_args);
    f->exc_args = NULL;
    j->outcome = f->exc_type;
    if (j->reply == NULL) /* unencodable value: say what happened */
        set_error_reply(j, TEMPO_EINTERNAL, "",
                        "the error could not be encoded");
}

/*
 * The reply for a result.  A result over NAMEKO_MAX_BODY is cut to fewer
 * tracks before it becomes an error: a shorter playlist is still an
 * answer.
 */
static void set_result_reply(struct job *j, const struct service_result *r)
{
    size_t kept;

    free(j->reply);
    j->reply = nameko_reply_encode_result_spliced(r->obj, "tracks", r->tracks,
                                                  r->ntracks, &kept);
    j->outcome = NULL;
    if (j->reply != NULL && kept < r->ntracks)
        log_warn("%s: reply too large; cut from %zu to %zu tracks", j->e.method,
                 r->ntracks, kept);
    if (j->reply == NULL) {
        log_warn("%s: the reply cannot be encoded", j->e.method);
        set_error_reply(j, TEMPO_EUPSTREAM, "",
                        "the answer is too large to send");
    }
}

/* Runs a prepared job on the calling thread, which owns sw. */
static void run_job(struct service_worker *sw, struct job *j)
{
    struct service_fault fault;
    struct service_result result;
    int rc;

    log_set_context(j->e.request_id[0] ? j->e.request_id : NULL,
                    j->e.trace.trace_id[0] ? j->e.trace.trace_id : NULL);
    service_worker_set_trace(sw, j->e.trace.trace_id[0] ? &j->e.trace : NULL);
    rc = service_run(sw, j->plan, &result, &fault);
    service_worker_set_trace(sw, NULL);
    service_plan_free(j->plan);
    j->plan = NULL;
    if (rc == 0) {
        set_result_reply(j, &result);
        log_debug("%s answered", j->e.method);
    } else {
        log_info("%s failed: %s: %s", j->e.method, fault.exc_type, fault.value);
        set_fault_reply(j, &fault);
    }
    service_result_clear(&result);
    log_set_request_id(NULL);
}

/* ---- pool threads -------------------------------------------------------- */

static void *pool_thread(void *arg)
{
    struct worker *w = arg;
    struct service_worker *sw = service_worker_create(w->svc);

    for (;;) {
        struct job *j;
        pthread_mutex_lock(&w->lock);
        while (w->todo.head == NULL && !w->quit)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->todo.head == NULL) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        j = w->todo.head;
        w->todo.head = j->next;
        if (w->todo.head == NULL)
            w->todo.tail = NULL;
        pthread_mutex_unlock(&w->lock);

        if (sw == NULL)
            set_error_reply(j, TEMPO_EINTERNAL, "", "worker out of memory");
        else
            run_job(sw, j);
        if (amqp_loop_post(w->loop, &j->msg) < 0)
            job_free(j); /* the loop has finished: the broker requeued it */
    }
    service_worker_destroy(sw);
    return NULL;
}

/* Drops the jobs no pool thread has started (the broker requeued them).
 * Returns how many. */
static long drop_todo(struct worker *w)
{
    struct job *j, *next;
    long n = 0;

    pthread_mutex_lock(&w->lock);
    j = w->todo.head;
    w->todo.head = w->todo.tail = NULL;
    pthread_mutex_unlock(&w->lock);
    for (; j != NULL; j = next) {
        next = j->next;
        wmetrics_call_abandon();
        job_free(j);
        n++;
    }
    return n;
}

/* ---- the loop's callbacks ------------------------------------------------ */

/*
 * Declares what the worker consumes.  The service queue is consumed as it
 * is when it exists (classic or quorum, declared by an operator, a Python
 * Nameko service or another tempo), else declared with RPC_QUEUE_TYPE.
 */
static int declare_service_queue(struct worker *w, amqp_connection_state_t c,
                                 char *err, size_t errlen)
{
    amqp_table_entry_t arg;
    amqp_table_t args = amqp_empty_table;
    amqp_rpc_reply_t r;

    amqp_queue_declare(c, CH, amqp_cstring_bytes(TEMPO_SERVICE_QUEUE), 1, 0, 0,
                       0, amqp_empty_table);
    r = amqp_get_rpc_reply(c);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION ||
        r.reply.id != AMQP_CHANNEL_CLOSE_METHOD ||
        ((amqp_channel_close_t *)r.reply.decoded)->reply_code != AMQP_NOT_FOUND)
        return amqp_conn_reply_error(r, "queue.declare passive", err, errlen);
    /* 404 closed channel 1: acknowledge, reopen, declare it ourselves. */
    {
        amqp_channel_close_ok_t ok;
        memset(&ok, 0, sizeof(ok));
        amqp_send_method(c, CH, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    }
    amqp_channel_open(c, CH);
    if (amqp_conn_check(c, "channel.open", err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    if (w->cfg->rpc_queue_quorum) {
        arg.key = amqp_cstring_bytes("x-queue-type");
        arg.value.kind = AMQP_FIELD_KIND_UTF8;
        arg.value.value.bytes = amqp_cstring_bytes("quorum");
        args.num_entries = 1;
        args.entries = &arg;
    }
    amqp_queue_declare(c, CH, amqp_cstring_bytes(TEMPO_SERVICE_QUEUE), 0, 1, 0,
                       0, args);
    return amqp_conn_check(c, "queue.declare " TEMPO_SERVICE_QUEUE, err,
                           errlen);
}

static int declare_and_consume(struct amqp_loop *l, void *ud, const char *host,
                               char *err, size_t errlen)
{
    struct worker *w = ud;
    amqp_connection_state_t c = amqp_loop_conn(l);
    amqp_basic_consume_ok_t *ok;

    if (amqp_conn_declare_exchange(c, CH, err, errlen) < 0 ||
        declare_service_queue(w, c, err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    amqp_queue_bind(c, CH, amqp_cstring_bytes(TEMPO_SERVICE_QUEUE),
                    amqp_cstring_bytes(NAMEKO_EXCHANGE),
                    amqp_cstring_bytes(TEMPO_SERVICE_NAME ".*"),
                    amqp_empty_table);
    if (amqp_conn_check(c, "queue.bind", err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    amqp_basic_qos(c, CH, 0, (uint16_t)w->cfg->worker_concurrency, 0);
    if (amqp_conn_check(c, "basic.qos", err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    ok = amqp_basic_consume(c, CH, amqp_cstring_bytes(TEMPO_SERVICE_QUEUE),
                            amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (amqp_conn_check(c, "basic.consume", err, errlen) < 0 || ok == NULL)
        return TEMPO_EUNAVAIL;
    amqp_conn_bytes_str(ok->consumer_tag, w->consumer_tag,
                        sizeof(w->consumer_tag));
    w->consuming = 1;
    wmetrics_broker_connected(1);
    log_info("connected to broker %s, consuming %s with %ld threads", host,
             TEMPO_SERVICE_QUEUE, w->nthreads);
    return 0;
}

static void drop_jobs(struct amqp_loop *l, void *ud, const char *why)
{
    struct worker *w = ud;

    (void)why;
    wmetrics_broker_connected(0);
    w->consuming = 0;
    w->generation++;
    w->inflight -= drop_todo(w);
    while (w->held.head != NULL) { /* requeued by the broker too */
        struct job *j = w->held.head;
        w->held.head = j->next;
        w->inflight--;
        wmetrics_call_abandon();
        job_free(j);
    }
    w->held.tail = NULL;
    if (amqp_loop_stopping(l))
        service_abort(w->svc); /* what still runs was handed back */
}

/* Fills a job from the envelope; returns 0, or -1 when the envelope cannot
 * carry a call (then the job holds a MalformedRequest reply). */
static int job_from_envelope(struct job *j, const amqp_envelope_t *env)
{
    if (envelope_read(env, clock_mono_ms(), clock_wall_ms(), &j->e) == 0)
        return 0;
    set_error_reply(j, TEMPO_EMALFORMED, "", "unusable message");
    log_warn("malformed call: bad envelope");
    return -1;
}

/* Decodes and validates the body; 0 with j->plan set, or -1 with the
 * error reply in j. */
static int job_prepare(struct worker *w, struct job *j,
                       const amqp_bytes_t *body)
{
    struct nameko_call call = {NULL, NULL};
    struct service_fault fault;
    char err[256];
    int rc;

    if (nameko_call_decode(body->bytes, body->len, &call, err, sizeof(err)) <
        0) {
        set_error_reply(j, TEMPO_EMALFORMED, err, err);
        log_warn("malformed call %s: %s", j->e.method, err);
        return -1;
    }
    rc = service_prepare(w->svc, j->e.method, call.args, call.kwargs,
                         j->e.deadline_ms, &j->plan, &fault);
    json_decref(call.args);
    json_decref(call.kwargs);
    if (rc < 0) {
        log_info("%s failed: %s: %s", j->e.method, fault.exc_type, fault.value);
        set_fault_reply(j, &fault);
        return -1;
    }
    return 0;
}

static void answer(struct worker *w, struct job *j);

static void take_call(struct amqp_loop *l, void *ud, amqp_envelope_t *env)
{
    struct worker *w = ud;
    struct job *j = calloc(1, sizeof(*j));

    (void)l;
    if (j == NULL)
        abort();
    j->tag = env->delivery_tag;
    j->generation = w->generation;
    j->t0 = clock_mono_s();
    w->inflight++;
    wmetrics_call_begin();
    if (job_from_envelope(j, env) < 0) {
        answer(w, j);
        return;
    }
    log_set_context(j->e.request_id[0] ? j->e.request_id : NULL,
                    j->e.trace.trace_id[0] ? j->e.trace.trace_id : NULL);
    if (job_prepare(w, j, &env->message.body) < 0) {
        answer(w, j);
    } else if (w->inline_sw != NULL && service_plan_ready(w->svc, j->plan)) {
        run_job(w->inline_sw, j);
        answer(w, j);
    } else {
        pthread_mutex_lock(&w->lock);
        jobq_push(&w->todo, j);
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
    }
    log_set_request_id(NULL);
}

static void publish_reply(struct worker *w, amqp_connection_state_t conn,
                          struct job *j)
{
    amqp_basic_properties_t props;
    int rc;

    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_CONTENT_ENCODING_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG |
                   AMQP_BASIC_HEADERS_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.content_encoding = amqp_cstring_bytes("utf-8");
    props.delivery_mode = 1;
    props.priority = 0;
    props.headers = amqp_empty_table;
    if (j->e.corr_id[0] != '\0') {
        props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        props.correlation_id = amqp_cstring_bytes(j->e.corr_id);
    }
    rc = amqp_basic_publish(conn, CH, amqp_cstring_bytes(NAMEKO_EXCHANGE),
                            amqp_cstring_bytes(j->e.reply_to), 0, 0, &props,
                            amqp_cstring_bytes(j->reply));
    if (rc != AMQP_STATUS_OK)
        amqp_loop_drop(w->loop, amqp_error_string2(rc));
}

/*
 * Publishes a finished job's reply, acks its call, frees the job.  Without
 * a connection the reply is dropped (the broker requeued the call); while
 * blocked it is held.
 */
static void answer(struct worker *w, struct job *j)
{
    amqp_connection_state_t conn = amqp_loop_conn(w->loop);
    int rc;

    if (conn != NULL && amqp_loop_blocked(w->loop)) {
        jobq_push(&w->held, j);
        return;
    }
    /* Counted before the reply leaves, so that a scrape made as soon as
     * the caller has its answer already sees the call. */
    w->inflight--;
    wmetrics_call_end(j->e.method, j->outcome, clock_mono_s() - j->t0);
    if (conn != NULL && j->e.has_reply_to)
        publish_reply(w, conn, j);
    else if (!j->e.has_reply_to)
        log_debug("call without reply_to: processed, not answered");
    conn = amqp_loop_conn(w->loop);
    if (conn != NULL && j->generation == w->generation) {
        rc = amqp_basic_ack(conn, CH, j->tag, 0);
        if (rc != AMQP_STATUS_OK)
            amqp_loop_drop(w->loop, amqp_error_string2(rc));
    }
    job_free(j);
}

static void answer_finished(struct amqp_loop *l, void *ud,
                            struct amqp_loop_msg *m)
{
    struct worker *w = ud;

    (void)l;
    while (m != NULL) {
        struct job *j = container_of(m, struct job, msg);
        m = m->next;
        answer(w, j);
    }
}

static void flush_held(struct amqp_loop *l, void *ud, int blocked)
{
    struct worker *w = ud;
    struct job *j, *next;

    (void)l;
    if (blocked)
        return;
    j = w->held.head;
    w->held.head = w->held.tail = NULL;
    for (; j != NULL; j = next) {
        next = j->next;
        answer(w, j);
    }
}

/* Stops new deliveries; calls already prefetched still get served. */
static void cancel_consumer(struct amqp_loop *l, void *ud)
{
    struct worker *w = ud;
    amqp_connection_state_t conn = amqp_loop_conn(l);
    amqp_basic_cancel_t cancel;

    log_info("draining: %ld call(s) in flight", w->inflight);
    if (conn == NULL || !w->consuming)
        return;
    memset(&cancel, 0, sizeof(cancel));
    cancel.consumer_tag = amqp_cstring_bytes(w->consumer_tag);
    if (amqp_send_method(conn, CH, AMQP_BASIC_CANCEL_METHOD, &cancel) !=
        AMQP_STATUS_OK)
        amqp_loop_drop(l, "sending basic.cancel");
    w->consuming = 0;
}

static int no_jobs_left(struct amqp_loop *l, void *ud)
{
    struct worker *w = ud;

    (void)l;
    return w->inflight == 0;
}

/* ---- public -------------------------------------------------------------- */

struct worker *worker_create(const struct config *cfg, struct service *svc)
{
    static const struct amqp_loop_ops ops = {
        .connected = declare_and_consume,
        .lost = drop_jobs,
        .delivery = take_call,
        .mail = answer_finished,
        .blocked = flush_held,
        .stopping = cancel_consumer,
        .drained = no_jobs_left,
    };
    struct worker *w = calloc(1, sizeof(*w));
    long i;

    if (w == NULL)
        return NULL;
    w->cfg = cfg;
    w->svc = svc;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->loop = amqp_loop_create(cfg, "weather-service", &ops, w);
    w->threads = calloc((size_t)cfg->worker_concurrency, sizeof(pthread_t));
    /* Used on the loop's thread for calls that need no upstream. */
    w->inline_sw = service_worker_create(svc);
    if (w->loop == NULL || w->threads == NULL || w->inline_sw == NULL)
        goto fail;
    for (i = 0; i < cfg->worker_concurrency; i++) {
        if (pthread_create(&w->threads[i], NULL, pool_thread, w) != 0)
            goto fail;
        w->nthreads++;
    }
    return w;
fail:
    worker_destroy(w);
    return NULL;
}

int worker_start(struct worker *w)
{
    return amqp_loop_start(w->loop);
}

void worker_stop(struct worker *w, long drain_ms)
{
    long i;

    if (w == NULL || w->loop == NULL)
        return;
    amqp_loop_stop(w->loop, drain_ms);
    if (w->inflight > 0)
        log_warn("drain timeout: %ld call(s) left to redelivery", w->inflight);
    /* Whatever still runs was handed back to the broker. */
    service_abort(w->svc);
    drop_todo(w);
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    w->nthreads = 0;
    while (w->held.head != NULL) {
        struct job *j = w->held.head;
        w->held.head = j->next;
        job_free(j);
    }
    w->held.tail = NULL;
}

void worker_destroy(struct worker *w)
{
    if (w == NULL)
        return;
    worker_stop(w, 0);
    amqp_loop_destroy(w->loop);
    service_worker_destroy(w->inline_sw);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
}
