/*
 * consumer_check.c - see consumer_check.h.
 */
#include "consumer_check.h"

#include "amqp_conn.h"
#include "amqp_loop.h"
#include "clock.h"
#include "errors.h"
#include "log.h"

#include <string.h>

#define CH CONSUMER_CHECK_CHANNEL

enum {
    CHECK_CLOSED = 0, /* channel 2 not open */
    CHECK_OPENING,    /* channel.open sent */
    CHECK_IDLE,       /* open, nothing asked */
    CHECK_PENDING,    /* passive queue.declare sent */
};

void consumer_check_init(struct consumer_check *cc)
{
    memset(cc, 0, sizeof(*cc));
    atomic_store(&cc->consumers, -1);
}

static void note(struct consumer_check *cc, long n, int definitive)
{
    int64_t now = clock_mono_ms();

    if (n > 0) {
        cc->alive_at = now;
        cc->last_positive = n;
        atomic_store(&cc->consumers, n);
    } else if (definitive || cc->alive_at == 0 ||
               now - cc->alive_at >= CONSUMER_GRACE_MS) {
        atomic_store(&cc->consumers, 0);
    } else {
        atomic_store(&cc->consumers, cc->last_positive);
    }
}

static int send_next(struct consumer_check *cc, amqp_connection_state_t conn)
{
    int rc;

    if (cc->state == CHECK_CLOSED) {
        amqp_channel_open_t open;
        memset(&open, 0, sizeof(open));
        rc = amqp_send_method(conn, CH, AMQP_CHANNEL_OPEN_METHOD, &open);
        cc->state = CHECK_OPENING;
    } else {
        amqp_queue_declare_t d;
        memset(&d, 0, sizeof(d));
        d.queue = amqp_cstring_bytes(TEMPO_SERVICE_QUEUE);
        d.passive = 1;
        rc = amqp_send_method(conn, CH, AMQP_QUEUE_DECLARE_METHOD, &d);
        cc->state = CHECK_PENDING;
    }
    return rc == AMQP_STATUS_OK ? 0 : TEMPO_EUNAVAIL;
}

int consumer_check_method(struct consumer_check *cc,
                          amqp_connection_state_t conn, amqp_channel_t ch,
                          const amqp_method_t *m)
{
    if (ch != CH)
        return 1;
    switch (m->id) {
    case AMQP_CHANNEL_OPEN_OK_METHOD:
        cc->state = CHECK_IDLE;
        return send_next(cc, conn);
    case AMQP_QUEUE_DECLARE_OK_METHOD: {
        amqp_queue_declare_ok_t *ok = m->decoded;
        note(cc, (long)ok->consumer_count, 0);
        cc->state = CHECK_IDLE;
        cc->check_at = clock_mono_ms() + CONSUMER_CHECK_MS;
        return 0;
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
        /* 404: the queue does not exist (no worker ever declared it, or
         * it was deleted).  Acknowledge; reopen at the next check. */
        amqp_channel_close_t *cl = m->decoded;
        amqp_channel_close_ok_t close_ok;
        if (cl->reply_code != AMQP_NOT_FOUND)
            log_warn("consumer check: channel closed: %u %.*s", cl->reply_code,
                     (int)cl->reply_text.len,
                     (const char *)cl->reply_text.bytes);
        memset(&close_ok, 0, sizeof(close_ok));
        if (amqp_send_method(conn, CH, AMQP_CHANNEL_CLOSE_OK_METHOD,
                             &close_ok) != AMQP_STATUS_OK)
            return TEMPO_EUNAVAIL;
        note(cc, 0, cl->reply_code == AMQP_NOT_FOUND);
        cc->state = CHECK_CLOSED;
        cc->check_at = clock_mono_ms() + CONSUMER_CHECK_MS;
        return 0;
    }
    default:
        return 1;
    }
}

int consumer_check_connected(struct consumer_check *cc,
                             amqp_connection_state_t conn, char *err,
                             size_t errlen)
{
    amqp_queue_declare_ok_t *ok;
    amqp_rpc_reply_t r;

    amqp_channel_open(conn, CH);
    if (amqp_conn_check(conn, "channel.open 2", err, errlen) < 0)
        return TEMPO_EUNAVAIL;
    ok = amqp_queue_declare(conn, CH, amqp_cstring_bytes(TEMPO_SERVICE_QUEUE),
                            1, 0, 0, 0, amqp_empty_table);
    r = amqp_get_rpc_reply(conn);
    cc->check_at = clock_mono_ms() + CONSUMER_CHECK_MS;
    if (ok != NULL) {
        note(cc, (long)ok->consumer_count, 0);
        cc->state = CHECK_IDLE;
        return 0;
    }
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_ok_t close_ok;
        memset(&close_ok, 0, sizeof(close_ok));
        amqp_send_method(conn, CH, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
        note(cc, 0, 1);
        cc->state = CHECK_CLOSED;
        return 0;
    }
    return amqp_conn_reply_error(r, "queue.declare passive", err, errlen);
}

void consumer_check_lost(struct consumer_check *cc)
{
    atomic_store(&cc->consumers, -1);
    cc->state = CHECK_CLOSED;
}

int consumer_check_tick(struct consumer_check *cc, amqp_connection_state_t conn,
                        int64_t now, int64_t *next)
{
    *next = 0;
    if (cc->state != CHECK_IDLE && cc->state != CHECK_CLOSED)
        return 0; /* an answer is on its way */
    if (now >= cc->check_at)
        return send_next(cc, conn);
    *next = cc->check_at;
    return 0;
}

void consumer_check_alive(struct consumer_check *cc, int64_t now)
{
    cc->alive_at = now;
}

void consumer_check_none(struct consumer_check *cc)
{
    note(cc, 0, 1);
    cc->check_at = 0; /* look again at the next tick */
}

long consumer_check_count(const struct consumer_check *cc)
{
    return atomic_load(&((struct consumer_check *)(uintptr_t)cc)->consumers);
}
