/*
 * worker.c - see worker.h.
 *
 * DESIGN
 * The main thread owns the AMQP connection (rabbitmq-c connections must not
 * be shared between threads).  It polls three descriptors: the broker
 * socket, an eventfd that pool threads signal when a reply is ready, and a
 * signalfd for SIGTERM/SIGINT.
 *
 *   delivery -> job (body copied, delivery tag, reply_to, correlation id,
 *               connection generation) -> job queue
 *   pool thread: decode the Nameko call, service_call(), encode the reply
 *               -> done queue, eventfd
 *   main thread: publish the reply to nameko-rpc with routing key reply_to,
 *               then ack the delivery (at-least-once: a worker that dies
 *               before the ack gets its call redelivered to another).
 *
 * basic.qos prefetch = WORKER_CONCURRENCY, so the broker never hands this
 * process more calls than it has threads.  If the connection drops, jobs
 * of the old generation still finish, but their replies and acks are
 * discarded: the broker has already requeued those calls.
 */
#include "worker.h"

#include "amqp_conn.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "nameko.h"
#include "service.h"
#include "validate.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define SERVICE_NAME "weather_service"
#define SERVICE_QUEUE "rpc-weather_service"
#define CH 1

struct job {
    struct job *next;
    uint64_t tag;
    unsigned generation;
    char method[64];
    char reply_to[256];
    char corr_id[256];
    char request_id[129];
    int64_t deadline_ms; /* from the call's expiration; 0 = none */
    int has_reply_to;
    int bad_envelope; /* routing key or properties unusable */
    size_t body_len;
    char *body;              /* the call (NULL if too big) */
    struct nameko_call call; /* decoded body, once decoded */
    char *reply;             /* the reply body, set by the pool thread */
};

struct jobq {
    struct job *head, *tail;
};

struct worker {
    const struct config *cfg;
    struct service *svc;
    pthread_t *threads;
    long nthreads;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct jobq todo; /* guarded by lock */
    struct jobq done; /* guarded by lock */
    int quit;         /* guarded by lock */
    int efd, sfd;

    /* main thread only */
    struct service_worker *inline_sw; /* serves calls needing no upstream */
    amqp_connection_state_t conn;
    unsigned generation;
    struct amqp_url_cursor url_cursor;
    long inflight; /* jobs handed out and not yet answered */
    int consuming;
    char consumer_tag[64];
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    free(j->body);
    free(j->reply);
    json_decref(j->call.args);
    json_decref(j->call.kwargs);
    free(j);
}

/* ---- pool threads ---------------------------------------------------------
 */

static char *fault_reply(struct service_fault *f)
{
    char *s = nameko_reply_encode_error(f->exc_type, f->exc_path, f->exc_args,
                                        f->value);
    json_decref(f->exc_args);
    f->exc_args = NULL;
    return s;
}

static char *nameko_fault(const char *type, const char *arg, const char *value)
{
    struct service_fault f;
    char path[96];

    snprintf(path, sizeof(path), "nameko.exceptions.%s", type);
    memset(&f, 0, sizeof(f));
    f.exc_type = type;
    f.exc_path = path;
    f.exc_args = json_pack("[s]", arg);
    snprintf(f.value, sizeof(f.value), "%s", value);
    return fault_reply(&f);
}

/*
 * Turns one call into its reply body (j->reply).  On a pool thread
 * (try_only 0) it always answers.  On the AMQP thread (try_only 1) it
 * answers only what needs no upstream call or wait (bad calls, cache hits
 * served from the catalog) and returns 0 for the rest, keeping the decoded
 * call in the job for the pool thread.  Returns 1 when answered.
 */
static int run_job(struct service_worker *sw, struct job *j, int try_only)
{
    struct service_fault fault;
    json_t *result = NULL;
    const char *outcome = NAMEKO_MALFORMED_REQUEST; /* for metrics */
    double t0 = wmetrics_now();
    char err[256];
    int rc, answered = 1;

    if (!try_only)
        wmetrics_call_begin();
    log_set_request_id(j->request_id[0] ? j->request_id : NULL);
    if (j->bad_envelope || j->body == NULL) {
        j->reply = nameko_fault(NAMEKO_MALFORMED_REQUEST, "",
                                j->body == NULL ? "message body too large"
                                                : "unusable message");
        log_warn("malformed call: %s",
                 j->body == NULL ? "body too large" : "bad envelope");
        goto out;
    }
    if (j->call.kwargs == NULL &&
        nameko_call_decode(j->body, j->body_len, &j->call, err, sizeof(err)) <
            0) {
        j->reply = nameko_fault(NAMEKO_MALFORMED_REQUEST, err, err);
        log_warn("malformed call %s: %s", j->method, err);
        goto out;
    }
    memset(&fault, 0, sizeof(fault));
    if (try_only) {
        rc = service_call_try(sw, j->method, j->call.args, j->call.kwargs,
                              j->request_id[0] ? j->request_id : NULL,
                              j->deadline_ms, &result, &fault);
        if (rc == SERVICE_WOULD_BLOCK) {
            answered = 0;
            goto done;
        }
    } else {
        rc = service_call(sw, j->method, j->call.args, j->call.kwargs,
                          j->request_id[0] ? j->request_id : NULL,
                          j->deadline_ms, &result, &fault);
    }
    outcome = rc == 0 ? NULL : fault.exc_type ? fault.exc_type : "other";
    if (rc == 0) {
        j->reply = nameko_reply_encode_result(result);
        log_debug("%s answered", j->method);
    } else {
        log_info("%s failed: %s: %s", j->method, fault.exc_type, fault.value);
        j->reply = fault_reply(&fault);
    }
out:
    if (try_only)
        wmetrics_call_begin();
    wmetrics_call_end(j->method, outcome, wmetrics_now() - t0);
done:
    json_decref(result);
    log_set_request_id(NULL);
    return answered;
}

static void *pool_thread(void *arg)
{
    struct worker *w = arg;
    struct service_worker *sw = service_worker_create(w->svc);
    uint64_t one = 1;

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
            j->reply = nameko_fault("InternalError", "",
                                    "worker out of "
                                    "memory");
        else
            run_job(sw, j, 0);

        pthread_mutex_lock(&w->lock);
        jobq_push(&w->done, j);
        pthread_mutex_unlock(&w->lock);
        if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_warn("eventfd write: %s", strerror(errno));
    }
    service_worker_destroy(sw);
    return NULL;
}

/* ---- AMQP side ------------------------------------------------------------
 */

static void drop_connection(struct worker *w, const char *why)
{
    if (w->conn == NULL)
        return;
    log_warn("broker connection lost: %s", why);
    wmetrics_broker_connected(0);
    amqp_destroy_connection(w->conn);
    w->conn = NULL;
    w->consuming = 0;
    w->generation++;
}

static int declare_and_consume(struct worker *w, char *err, size_t errlen)
{
    amqp_connection_state_t c = w->conn;
    amqp_basic_consume_ok_t *ok;

    if (amqp_conn_declare_exchange(c, CH, err, errlen) < 0)
        return -1;
    amqp_queue_declare(c, CH, amqp_cstring_bytes(SERVICE_QUEUE), 0, 1, 0, 0,
                       amqp_empty_table);
    if (amqp_conn_check(c, "queue.declare " SERVICE_QUEUE, err, errlen) < 0)
        return -1;
    amqp_queue_bind(c, CH, amqp_cstring_bytes(SERVICE_QUEUE),
                    amqp_cstring_bytes(NAMEKO_EXCHANGE),
                    amqp_cstring_bytes(SERVICE_NAME ".*"), amqp_empty_table);
    if (amqp_conn_check(c, "queue.bind", err, errlen) < 0)
        return -1;
    amqp_basic_qos(c, CH, 0, (uint16_t)w->cfg->worker_concurrency, 0);
    if (amqp_conn_check(c, "basic.qos", err, errlen) < 0)
        return -1;
    ok = amqp_basic_consume(c, CH, amqp_cstring_bytes(SERVICE_QUEUE),
                            amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (amqp_conn_check(c, "basic.consume", err, errlen) < 0 || ok == NULL)
        return -1;
    amqp_conn_bytes_str(ok->consumer_tag, w->consumer_tag,
                        sizeof(w->consumer_tag));
    w->consuming = 1;
    return 0;
}

static void try_connect(struct worker *w)
{
    struct amqp_conn_opts opts;
    char err[1024], host[300];

    amqp_conn_opts_init(&opts, w->cfg, "weather-service");
    w->conn = amqp_conn_open(&opts, &w->url_cursor, host, sizeof(host), err,
                             sizeof(err));
    if (w->conn == NULL) {
        log_warn("broker: %s", err);
        return;
    }
    if (declare_and_consume(w, err, sizeof(err)) < 0) {
        log_warn("broker %s: %s", host, err);
        amqp_destroy_connection(w->conn);
        w->conn = NULL;
        return;
    }
    wmetrics_broker_connected(1);
    log_info("connected to broker %s, consuming %s with %ld threads", host,
             SERVICE_QUEUE, w->nthreads);
}

/* Reads the request id from headers nameko.request_id. */
static void header_request_id(const amqp_basic_properties_t *p, char *out,
                              size_t cap)
{
    int i;

    out[0] = '\0';
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return;
    for (i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &p->headers.entries[i];
        if (e->key.len == 17 &&
            memcmp(e->key.bytes, "nameko.request_id", 17) == 0 &&
            (e->value.kind == AMQP_FIELD_KIND_UTF8 ||
             e->value.kind == AMQP_FIELD_KIND_BYTES)) {
            if (amqp_conn_bytes_str(e->value.value.bytes, out, cap) < 0 ||
                !validate_request_id(out))
                out[0] = '\0';
            return;
        }
    }
}

/*
 * The caller's deadline, from the call's `expiration` (milliseconds the
 * message may live: the gateway sets it to the time it will still wait).
 * Absent or unparsable (a Python Nameko client sends none): 0, no limit.
 */
static int64_t expiration_deadline(const amqp_basic_properties_t *p)
{
    char buf[24], *end = NULL;
    long long ms;

    if (!(p->_flags & AMQP_BASIC_EXPIRATION_FLAG) ||
        amqp_conn_bytes_str(p->expiration, buf, sizeof(buf)) < 0 ||
        buf[0] < '0' || buf[0] > '9')
        return 0;
    ms = strtoll(buf, &end, 10);
    if (*end != '\0' || ms <= 0 || ms > 86400000LL)
        return 0;
    return now_ms() + ms;
}

static void answer(struct worker *w, struct job *j);

static void dispatch(struct worker *w, amqp_envelope_t *env)
{
    amqp_basic_properties_t *p = &env->message.properties;
    struct job *j = calloc(1, sizeof(*j));
    char rk[256];
    const char *dot;

    if (j == NULL)
        abort();
    j->tag = env->delivery_tag;
    j->generation = w->generation;
    if (amqp_conn_bytes_str(env->routing_key, rk, sizeof(rk)) < 0 ||
        (dot = strrchr(rk, '.')) == NULL ||
        strlen(dot + 1) >= sizeof(j->method))
        j->bad_envelope = 1;
    else
        snprintf(j->method, sizeof(j->method), "%s", dot + 1);
    j->has_reply_to = (p->_flags & AMQP_BASIC_REPLY_TO_FLAG) &&
                      amqp_conn_bytes_str(p->reply_to, j->reply_to,
                                          sizeof(j->reply_to)) == 0 &&
                      j->reply_to[0] != '\0';
    if ((p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) &&
        amqp_conn_bytes_str(p->correlation_id, j->corr_id, sizeof(j->corr_id)) <
            0)
        j->bad_envelope = 1;
    header_request_id(p, j->request_id, sizeof(j->request_id));
    j->deadline_ms = expiration_deadline(p);
    if (env->message.body.len <= NAMEKO_MAX_BODY) {
        j->body = malloc(env->message.body.len + 1);
        if (j->body == NULL)
            abort();
        if (env->message.body.len > 0)
            memcpy(j->body, env->message.body.bytes, env->message.body.len);
        j->body[env->message.body.len] = '\0';
        j->body_len = env->message.body.len;
    }
    w->inflight++;
    /* A call that needs no upstream work is answered right here: the
     * hand-off to a pool thread and back would cost more than the call. */
    if (w->inline_sw != NULL && run_job(w->inline_sw, j, 1)) {
        answer(w, j);
        job_free(j);
        return;
    }
    pthread_mutex_lock(&w->lock);
    jobq_push(&w->todo, j);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Publishes the reply of a finished job, then acks its call. */
static void answer(struct worker *w, struct job *j)
{
    amqp_basic_properties_t props;
    int rc;

    w->inflight--;
    if (w->conn == NULL || j->generation != w->generation)
        return; /* the broker requeued this call when the link dropped */
    if (j->has_reply_to && j->reply != NULL) {
        memset(&props, 0, sizeof(props));
        props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                       AMQP_BASIC_CONTENT_ENCODING_FLAG |
                       AMQP_BASIC_DELIVERY_MODE_FLAG |
                       AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_HEADERS_FLAG;
        props.content_type = amqp_cstring_bytes("application/json");
        props.content_encoding = amqp_cstring_bytes("utf-8");
        props.delivery_mode = 1;
        props.priority = 0;
        props.headers = amqp_empty_table;
        if (j->corr_id[0] != '\0') {
            props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
            props.correlation_id = amqp_cstring_bytes(j->corr_id);
        }
        rc =
            amqp_basic_publish(w->conn, CH, amqp_cstring_bytes(NAMEKO_EXCHANGE),
                               amqp_cstring_bytes(j->reply_to), 0, 0, &props,
                               amqp_cstring_bytes(j->reply));
        if (rc != AMQP_STATUS_OK) {
            drop_connection(w, amqp_error_string2(rc));
            return;
        }
    } else if (!j->has_reply_to) {
        log_debug("call without reply_to: processed, not answered");
    }
    rc = amqp_basic_ack(w->conn, CH, j->tag, 0);
    if (rc != AMQP_STATUS_OK)
        drop_connection(w, amqp_error_string2(rc));
}

static void answer_done(struct worker *w)
{
    struct job *j, *next;
    uint64_t v;

    if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&w->lock);
    j = w->done.head;
    w->done.head = w->done.tail = NULL;
    pthread_mutex_unlock(&w->lock);
    for (; j != NULL; j = next) {
        next = j->next;
        answer(w, j);
        job_free(j);
    }
}

static void read_frames(struct worker *w)
{
    struct timeval zero = {0, 0};

    while (w->conn != NULL) {
        amqp_envelope_t env;
        amqp_rpc_reply_t rr;
        amqp_frame_t frame;
        int rc;

        amqp_maybe_release_buffers(w->conn);
        rr = amqp_consume_message(w->conn, &env, &zero, 0);
        if (rr.reply_type == AMQP_RESPONSE_NORMAL) {
            dispatch(w, &env);
            amqp_destroy_envelope(&env);
            continue;
        }
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_TIMEOUT)
            return;
        if (rr.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
            rr.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
            char err[256];
            amqp_conn_reply_error(rr, "consume", err, sizeof(err));
            drop_connection(w, err);
            return;
        }
        rc = amqp_simple_wait_frame(w->conn, &frame);
        if (rc != AMQP_STATUS_OK) {
            drop_connection(w, amqp_error_string2(rc));
            return;
        }
        if (frame.frame_type == AMQP_FRAME_METHOD &&
            (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
             frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
            drop_connection(w, "closed by the broker");
            return;
        }
        if (frame.frame_type == AMQP_FRAME_METHOD &&
            frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
            /* The queue was deleted: declare it again from scratch. */
            drop_connection(w, "consumer cancelled by the broker");
            return;
        }
    }
}

static int wait_events(struct worker *w, int timeout_ms)
{
    struct pollfd pfd[3];
    int n = 2;

    pfd[0].fd = w->efd;
    pfd[0].events = POLLIN;
    pfd[1].fd = w->sfd;
    pfd[1].events = POLLIN;
    if (w->conn != NULL) {
        if (amqp_frames_enqueued(w->conn) || amqp_data_in_buffer(w->conn))
            timeout_ms = 0;
        pfd[2].fd = amqp_get_sockfd(w->conn);
        pfd[2].events = POLLIN;
        n = 3;
    }
    if (poll(pfd, (nfds_t)n, timeout_ms) < 0)
        return 0;
    if (pfd[1].revents & POLLIN) {
        struct signalfd_siginfo si;
        if (read(w->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            log_info("signal %u: draining", si.ssi_signo);
            return 1;
        }
    }
    return 0;
}

/* Stops new deliveries; calls already prefetched still get served. */
static void stop_consuming(struct worker *w)
{
    if (w->conn == NULL || !w->consuming)
        return;
    amqp_basic_cancel(w->conn, CH, amqp_cstring_bytes(w->consumer_tag));
    w->consuming = 0;
    /* Deliveries that raced the cancel are dispatched by read_frames. */
}

int worker_run(struct worker *w)
{
    unsigned attempt = 0;
    int64_t retry_at = 0, drain_until = 0;
    int draining = 0;

    for (;;) {
        int64_t now = now_ms();
        int timeout = 1000;

        if (draining && (w->inflight == 0 || now >= drain_until))
            break;
        if (w->conn == NULL && !draining && now >= retry_at) {
            try_connect(w);
            if (w->conn == NULL)
                retry_at = now + amqp_conn_backoff_ms(attempt++);
            else
                attempt = 0;
        }
        if (w->conn != NULL)
            read_frames(w);
        answer_done(w);
        if (w->conn == NULL && !draining) {
            timeout = (int)(retry_at - now_ms());
            if (timeout < 0)
                timeout = 0;
        }
        if (wait_events(w, timeout) && !draining) {
            draining = 1;
            drain_until = now_ms() + w->cfg->drain_timeout_ms;
            stop_consuming(w);
        }
    }
    if (w->inflight > 0)
        log_warn("drain timeout: %ld calls left to redelivery", w->inflight);
    amqp_conn_close(w->conn);
    w->conn = NULL;
    log_info("stopped");
    return 0;
}

struct worker *worker_create(const struct config *cfg, struct service *svc)
{
    struct worker *w = calloc(1, sizeof(*w));
    sigset_t sigs;
    long i;

    if (w == NULL)
        return NULL;
    w->cfg = cfg;
    w->svc = svc;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    w->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->threads = calloc((size_t)cfg->worker_concurrency, sizeof(pthread_t));
    if (w->efd < 0 || w->sfd < 0 || w->threads == NULL)
        goto fail;
    for (i = 0; i < cfg->worker_concurrency; i++) {
        if (pthread_create(&w->threads[i], NULL, pool_thread, w) != 0)
            goto fail;
        w->nthreads++;
    }
    /* Used by worker_run on this (the main) thread. */
    w->inline_sw = service_worker_create(svc);
    return w;
fail:
    worker_destroy(w);
    return NULL;
}

void worker_destroy(struct worker *w)
{
    long i;
    struct job *j, *next;

    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    for (j = w->done.head; j != NULL; j = next) {
        next = j->next;
        job_free(j);
    }
    amqp_conn_close(w->conn);
    service_worker_destroy(w->inline_sw);
    if (w->efd >= 0)
        close(w->efd);
    if (w->sfd >= 0)
        close(w->sfd);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
}
