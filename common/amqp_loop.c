/*
 * amqp_loop.c - see amqp_loop.h.
 *
 * DESIGN
 * The thread's loop, one turn:
 *
 *   stop requested?  run ops->stopping once; leave when ops->drained says
 *                    so or the drain deadline has passed;
 *   disconnected?    connect when the backoff allows (the first attempt
 *                    after a drop is immediate), then ops->connected;
 *   mailbox          take the whole list under the lock -> ops->mail;
 *   frames           read every complete frame already available:
 *                    deliveries -> ops->delivery, everything else through
 *                    handle_method();
 *   ops->tick        the daemon's timers (deadlines, periodic checks);
 *   poll             the socket and the mailbox's eventfd, until the next
 *                    timer, at most POLL_MAX_MS (well inside the heartbeat
 *                    interval, since rabbitmq-c sends heartbeats only when
 *                    it is called).
 *
 * The mailbox is an intrusive singly linked list; a post wakes the thread
 * only when it finds the list empty, because the thread always takes the
 * whole list (one wake-up per batch, not per message).
 */
#include "amqp_loop.h"

#include "amqp_conn.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "rng.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define POLL_MAX_MS 1000
#define RECONNECT_DELAY_MS 1000 /* after a drop: 0.5 to 1.5 s */

struct amqp_loop {
    struct amqp_conn_opts conn_opts; /* AMQP_URL, TLS, connection name */
    struct amqp_loop_ops ops;
    void *ud;

    pthread_t thread;
    int started;
    int efd;
    atomic_int connected;
    atomic_int blocked;
    atomic_int stopping;
    atomic_long reconnects;
    atomic_llong drain_deadline; /* monotonic ms, set before stopping */

    pthread_mutex_t lock; /* guards the mailbox and closed */
    struct amqp_loop_msg *head, *tail;
    int closed; /* the thread has taken its last mail */

    /* the loop's thread only */
    amqp_connection_state_t conn;
    struct amqp_url_cursor url_cursor;
    unsigned attempt;
    int64_t retry_at;
    int ever_connected;
};

/* ---- mailbox ------------------------------------------------------------- */

static void wake(struct amqp_loop *l)
{
    uint64_t one = 1;

    if (write(l->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("eventfd write: %s", strerror(errno));
}

static struct amqp_loop_msg *take_mail(struct amqp_loop *l, int close)
{
    struct amqp_loop_msg *head;

    pthread_mutex_lock(&l->lock);
    head = l->head;
    l->head = l->tail = NULL;
    if (close)
        l->closed = 1;
    pthread_mutex_unlock(&l->lock);
    return head;
}

int amqp_loop_post(struct amqp_loop *l, struct amqp_loop_msg *m)
{
    int was_empty;

    m->next = NULL;
    pthread_mutex_lock(&l->lock);
    if (l->closed) {
        pthread_mutex_unlock(&l->lock);
        return TEMPO_EUNAVAIL;
    }
    was_empty = l->head == NULL;
    if (l->tail != NULL)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
    pthread_mutex_unlock(&l->lock);
    if (was_empty)
        wake(l);
    return 0;
}

/* ---- connection ---------------------------------------------------------- */

void amqp_loop_drop(struct amqp_loop *l, const char *why)
{
    if (l->conn == NULL)
        return;
    log_warn("broker connection lost: %s", why);
    atomic_store(&l->connected, 0);
    atomic_store(&l->blocked, 0);
    amqp_destroy_connection(l->conn);
    l->conn = NULL;
    /* Connect again soon, to the next node, but not at once: RabbitMQ
     * needs a moment to notice a dead node and elect new quorum queue
     * leaders, and a consumer or publisher that comes back within ~0.5 s
     * can attach to the dead leader and get nothing until that node
     * returns (measured on the cluster test: 13 s of 504s when
     * reconnecting at once, none with this delay).  The jitter spreads a
     * crowd of daemons that lost the same node. */
    l->attempt = 0;
    l->retry_at = clock_mono_ms() + RECONNECT_DELAY_MS / 2 +
                  (int64_t)rng_below(RECONNECT_DELAY_MS);
    l->ops.lost(l, l->ud, why);
}

static void try_connect(struct amqp_loop *l)
{
    char err[1024], host[300];

    l->conn = amqp_conn_open(&l->conn_opts, &l->url_cursor, host, sizeof(host),
                             err, sizeof(err));
    if (l->conn == NULL) {
        log_warn("broker: %s", err);
        return;
    }
    if (l->ops.connected(l, l->ud, host, err, sizeof(err)) < 0) {
        log_warn("broker %s: %s", host, err);
        amqp_destroy_connection(l->conn);
        l->conn = NULL;
        return;
    }
    atomic_store(&l->connected, 1);
    if (l->ever_connected)
        atomic_fetch_add(&l->reconnects, 1);
    l->ever_connected = 1;
}

static void maybe_connect(struct amqp_loop *l, int64_t now)
{
    if (l->conn != NULL || now < l->retry_at)
        return;
    try_connect(l);
    if (l->conn == NULL) {
        l->retry_at = now + amqp_conn_backoff_ms(l->attempt++);
    } else {
        l->attempt = 0;
        l->retry_at = 0;
    }
}

/* ---- frames -------------------------------------------------------------- */

/* A returned message: read its content, hand it over. */
static void handle_return(struct amqp_loop *l, amqp_channel_t channel)
{
    amqp_message_t msg;
    amqp_rpc_reply_t rr;

    rr = amqp_read_message(l->conn, channel, &msg, 0);
    if (rr.reply_type != AMQP_RESPONSE_NORMAL) {
        amqp_loop_drop(l, "reading a returned message");
        return;
    }
    if (l->ops.returned != NULL)
        l->ops.returned(l, l->ud, &msg);
    amqp_destroy_message(&msg);
}

static void set_blocked(struct amqp_loop *l, int blocked, const char *reason)
{
    if (atomic_exchange(&l->blocked, blocked) == blocked)
        return;
    if (blocked)
        log_warn("broker blocked this connection (%s): holding publishes",
                 reason);
    else
        log_info("broker unblocked this connection");
    if (l->ops.blocked != NULL)
        l->ops.blocked(l, l->ud, blocked);
}

/* Any frame but a delivery is waiting: read it and act on it. */
static void handle_frame(struct amqp_loop *l)
{
    amqp_frame_t frame;
    char reason[128];
    int rc;

    rc = amqp_simple_wait_frame(l->conn, &frame);
    if (rc != AMQP_STATUS_OK) {
        amqp_loop_drop(l, amqp_error_string2(rc));
        return;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD)
        return; /* stray content of a message we did not ask for */
    switch (frame.payload.method.id) {
    case AMQP_BASIC_RETURN_METHOD:
        handle_return(l, frame.channel);
        return;
    case AMQP_BASIC_CANCEL_METHOD:
        /* Sent because we advertise consumer_cancel_notify: our queue was
         * deleted or its node is down.  Declaring everything again on a
         * new connection is the one recovery that is always right. */
        amqp_loop_drop(l, "consumer cancelled by the broker (queue deleted "
                          "or its node is down)");
        return;
    case AMQP_CONNECTION_BLOCKED_METHOD: {
        amqp_connection_blocked_t *b = frame.payload.method.decoded;
        if (amqp_conn_bytes_str(b->reason, reason, sizeof(reason)) < 0)
            snprintf(reason, sizeof(reason), "resource alarm");
        set_blocked(l, 1, reason);
        return;
    }
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        set_blocked(l, 0, "");
        return;
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_connection_close_t *m = frame.payload.method.decoded;
        char why[300];
        snprintf(why, sizeof(why), "connection closed by the broker: %u %.*s",
                 m->reply_code, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
        amqp_loop_drop(l, why);
        return;
    }
    default:
        break;
    }
    if (l->ops.method != NULL &&
        l->ops.method(l, l->ud, frame.channel, &frame.payload.method) == 0)
        return;
    if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = frame.payload.method.decoded;
        char why[300];
        snprintf(why, sizeof(why), "channel %u closed by the broker: %u %.*s",
                 frame.channel, m->reply_code, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
        amqp_loop_drop(l, why);
    }
    /* basic.ack (confirms), basic.cancel-ok, ...: nothing to do */
}

static void read_available(struct amqp_loop *l)
{
    struct timeval zero = {0, 0};

    while (l->conn != NULL) {
        amqp_envelope_t env;
        amqp_rpc_reply_t rr;
        char err[256];

        amqp_maybe_release_buffers(l->conn);
        rr = amqp_consume_message(l->conn, &env, &zero, 0);
        if (rr.reply_type == AMQP_RESPONSE_NORMAL) {
            l->ops.delivery(l, l->ud, &env);
            amqp_destroy_envelope(&env);
            continue;
        }
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_TIMEOUT)
            return;
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            handle_frame(l);
            continue;
        }
        amqp_conn_reply_error(rr, "consume", err, sizeof(err));
        amqp_loop_drop(l, err);
    }
}

static void wait_events(struct amqp_loop *l, int timeout_ms)
{
    struct pollfd pfd[2];
    int n = 1;
    uint64_t v;

    pfd[0].fd = l->efd;
    pfd[0].events = POLLIN;
    if (l->conn != NULL) {
        if (amqp_frames_enqueued(l->conn) || amqp_data_in_buffer(l->conn))
            timeout_ms = 0;
        pfd[1].fd = amqp_get_sockfd(l->conn);
        pfd[1].events = POLLIN;
        n = 2;
    }
    if (poll(pfd, (nfds_t)n, timeout_ms) > 0 && (pfd[0].revents & POLLIN)) {
        if (read(l->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            log_warn("eventfd read: %s", strerror(errno));
    }
}

/* ---- the thread ---------------------------------------------------------- */

static int64_t earliest(int64_t a, int64_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

static void *loop_thread(void *arg)
{
    struct amqp_loop *l = arg;
    int stop_seen = 0;

    log_set_request_id(NULL);
    for (;;) {
        int64_t now = clock_mono_ms(), wake_at = now + POLL_MAX_MS, t;
        struct amqp_loop_msg *mail;

        if (atomic_load(&l->stopping)) {
            if (!stop_seen) {
                stop_seen = 1;
                if (l->ops.stopping != NULL)
                    l->ops.stopping(l, l->ud);
            }
            if (l->ops.drained == NULL || l->ops.drained(l, l->ud) ||
                now >= atomic_load(&l->drain_deadline))
                break;
            wake_at = earliest(wake_at, atomic_load(&l->drain_deadline));
        } else {
            maybe_connect(l, now);
            if (l->conn == NULL)
                wake_at = earliest(wake_at, l->retry_at);
        }
        mail = take_mail(l, 0);
        if (mail != NULL)
            l->ops.mail(l, l->ud, mail);
        if (l->conn != NULL)
            read_available(l);
        if (l->ops.tick != NULL) {
            now = clock_mono_ms();
            t = l->ops.tick(l, l->ud, now);
            wake_at = earliest(wake_at, t);
        }
        /* Dropped during this turn: do not sleep through the reconnect. */
        if (l->conn == NULL && !atomic_load(&l->stopping))
            wake_at = earliest(wake_at, l->retry_at);
        t = wake_at - clock_mono_ms();
        wait_events(l, t < 0 ? 0 : (int)t);
    }
    {
        struct amqp_loop_msg *rest = take_mail(l, 1);
        if (rest != NULL)
            l->ops.mail(l, l->ud, rest);
    }
    if (l->conn != NULL) {
        atomic_store(&l->connected, 0);
        amqp_conn_close(l->conn);
        l->conn = NULL;
        l->ops.lost(l, l->ud, "shutting down");
    }
    return NULL;
}

/* ---- public -------------------------------------------------------------- */

struct amqp_loop *amqp_loop_create(const struct config *cfg, const char *daemon,
                                   const struct amqp_loop_ops *ops, void *ud)
{
    struct amqp_loop *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return NULL;
    amqp_conn_opts_init(&l->conn_opts, cfg, daemon);
    l->ops = *ops;
    l->ud = ud;
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->efd < 0) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

int amqp_loop_start(struct amqp_loop *l)
{
    if (pthread_create(&l->thread, NULL, loop_thread, l) != 0)
        return TEMPO_EINTERNAL;
    l->started = 1;
    return 0;
}

void amqp_loop_stop(struct amqp_loop *l, long drain_ms)
{
    if (l == NULL || !l->started)
        return;
    if (!atomic_load(&l->stopping)) {
        atomic_store(&l->drain_deadline,
                     clock_mono_ms() + (drain_ms > 0 ? drain_ms : 0));
        atomic_store(&l->stopping, 1);
    }
    wake(l);
    pthread_join(l->thread, NULL);
    l->started = 0;
}

void amqp_loop_destroy(struct amqp_loop *l)
{
    if (l == NULL)
        return;
    amqp_loop_stop(l, 0);
    close(l->efd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int amqp_loop_connected(const struct amqp_loop *l)
{
    return atomic_load(&((struct amqp_loop *)(uintptr_t)l)->connected);
}

int amqp_loop_blocked(const struct amqp_loop *l)
{
    return atomic_load(&((struct amqp_loop *)(uintptr_t)l)->blocked);
}

int amqp_loop_stopping(const struct amqp_loop *l)
{
    return atomic_load(&((struct amqp_loop *)(uintptr_t)l)->stopping);
}

long amqp_loop_reconnects(const struct amqp_loop *l)
{
    return atomic_load(&((struct amqp_loop *)(uintptr_t)l)->reconnects);
}

amqp_connection_state_t amqp_loop_conn(struct amqp_loop *l)
{
    return l->conn;
}
