/*
 * echo_client.c - the client half of the broker-ceiling benchmark.
 *
 *   echo_client --url amqp://... [--inflight 64] [--seconds 10]
 *               [--warmup 1]
 *
 * Publishes calls the way the gateway does (gateway/rpc_client.c
 * publish()): to exchange nameko-rpc, routing key bench_echo.echo,
 * mandatory, transient, with correlation_id, reply_to = this client's
 * routing key, expiration and a nameko.call_id_stack header; a body the
 * size of a real call.  Replies come back through nameko-rpc to this
 * client's own queue, consumed with no-ack on the same connection.
 * --inflight calls are kept outstanding at all times: each reply sends
 * the next call of its slot at once.
 *
 * After --warmup seconds it measures for --seconds and prints one line:
 *   ECHO calls=N seconds=S rate=R p50_us=A p90_us=B p99_us=C max_us=D
 *        errors=E
 * (rate in calls/s; latency from publish to reply).  Exits 1 if a call
 * goes unanswered for 10 s, or on any broker error.
 */
#include "bench_amqp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define CALL_BODY "{\"args\": [], \"kwargs\": {\"city\": \"London\"}}"
#define STUCK_US 10000000

struct slot {
    int64_t sent_us;
    unsigned long seq;
};

struct client {
    amqp_connection_state_t conn;
    char reply_key[64];
    struct slot *slots;
    long nslots;
    uint32_t *samples;
    size_t nsamples, cap;
    int measuring;
    long errors;
};

static void usage(void)
{
    fputs("usage: echo_client --url URL [--inflight N] [--seconds N] "
          "[--warmup N]\n",
          stderr);
    exit(2);
}

static void send_call(struct client *c, long slot)
{
    amqp_basic_properties_t props;
    amqp_table_entry_t hdr[2];
    amqp_field_value_t stack_item;
    char corr[48];

    snprintf(corr, sizeof(corr), "%ld-%lu", slot, ++c->slots[slot].seq);
    stack_item.kind = AMQP_FIELD_KIND_UTF8;
    stack_item.value.bytes = amqp_cstring_bytes("gateway.bench");
    hdr[0].key = amqp_cstring_bytes("nameko.call_id_stack");
    hdr[0].value.kind = AMQP_FIELD_KIND_ARRAY;
    hdr[0].value.value.array.num_entries = 1;
    hdr[0].value.value.array.entries = &stack_item;
    hdr[1].key = amqp_cstring_bytes("nameko.request_id");
    hdr[1].value.kind = AMQP_FIELD_KIND_UTF8;
    hdr[1].value.value.bytes = amqp_cstring_bytes("bench");

    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_CONTENT_ENCODING_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG |
                   AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_REPLY_TO_FLAG |
                   AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_EXPIRATION_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.content_encoding = amqp_cstring_bytes("utf-8");
    props.delivery_mode = 1;
    props.correlation_id = amqp_cstring_bytes(corr);
    props.reply_to = amqp_cstring_bytes(c->reply_key);
    props.expiration = amqp_cstring_bytes("30000");
    props.headers.num_entries = 2;
    props.headers.entries = hdr;

    c->slots[slot].sent_us = bench_now_us();
    if (amqp_basic_publish(c->conn, 1, amqp_cstring_bytes(BENCH_EXCHANGE),
                           amqp_cstring_bytes("bench_echo.echo"), 1, 0, &props,
                           amqp_cstring_bytes(CALL_BODY)) != AMQP_STATUS_OK) {
        fputs("echo_client: publish failed\n", stderr);
        exit(1);
    }
}

static void record(struct client *c, int64_t us)
{
    if (!c->measuring)
        return;
    if (c->nsamples == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->samples = realloc(c->samples, c->cap * sizeof(*c->samples));
        if (c->samples == NULL) {
            fputs("echo_client: out of memory\n", stderr);
            exit(1);
        }
    }
    c->samples[c->nsamples++] = (uint32_t)(us > 0 ? us : 0);
}

/* A reply: match its slot and sequence, record, send the slot's next. */
static void on_reply(struct client *c, amqp_envelope_t *env)
{
    amqp_bytes_t id = env->message.properties.correlation_id;
    char buf[48];
    long slot;
    unsigned long seq;

    if (!(env->message.properties._flags & AMQP_BASIC_CORRELATION_ID_FLAG) ||
        id.len >= sizeof(buf)) {
        c->errors++;
        return;
    }
    memcpy(buf, id.bytes, id.len);
    buf[id.len] = '\0';
    if (sscanf(buf, "%ld-%lu", &slot, &seq) != 2 || slot < 0 ||
        slot >= c->nslots || seq != c->slots[slot].seq) {
        c->errors++; /* late or unknown: ignore */
        return;
    }
    record(c, bench_now_us() - c->slots[slot].sent_us);
    send_call(c, slot);
}

/* A non-delivery frame: a basic.return (no route) is a failed call. */
static void other_frame(struct client *c)
{
    amqp_frame_t frame;
    amqp_message_t msg;

    if (amqp_simple_wait_frame(c->conn, &frame) != AMQP_STATUS_OK) {
        fputs("echo_client: connection lost\n", stderr);
        exit(1);
    }
    if (frame.frame_type != AMQP_FRAME_METHOD)
        return;
    if (frame.payload.method.id == AMQP_BASIC_RETURN_METHOD) {
        if (amqp_read_message(c->conn, frame.channel, &msg, 0).reply_type ==
            AMQP_RESPONSE_NORMAL)
            amqp_destroy_message(&msg);
        fputs("echo_client: call returned unroutable (is echo_server "
              "running?)\n",
              stderr);
        exit(1);
    }
    if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
        frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        fputs("echo_client: closed by the broker\n", stderr);
        exit(1);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

static uint32_t pct(const struct client *c, double p)
{
    size_t i;

    if (c->nsamples == 0)
        return 0;
    i = (size_t)(p / 100.0 * (double)(c->nsamples - 1) + 0.5);
    return c->samples[i];
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    long seconds = 10, warmup = 1, i;
    struct client c;
    amqp_table_entry_t arg;
    amqp_table_t args;
    char queue[96];
    int64_t t0, t_measure, t_end, last_progress;
    int a;

    memset(&c, 0, sizeof(c));
    c.nslots = 64;
    for (a = 1; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--url") == 0)
            url = argv[a + 1];
        else if (strcmp(argv[a], "--inflight") == 0)
            c.nslots = bench_parse_long("--inflight", argv[a + 1], 1, 100000);
        else if (strcmp(argv[a], "--seconds") == 0)
            seconds = bench_parse_long("--seconds", argv[a + 1], 1, 3600);
        else if (strcmp(argv[a], "--warmup") == 0)
            warmup = bench_parse_long("--warmup", argv[a + 1], 0, 600);
        else
            usage();
    }
    if (url == NULL || a != argc)
        usage();
    c.slots = calloc((size_t)c.nslots, sizeof(*c.slots));
    if (c.slots == NULL)
        return 1;

    /* The gateway's reply-queue pattern: a queue of our own bound to the
     * Nameko exchange with our routing key, x-expires like Nameko's. */
    snprintf(c.reply_key, sizeof(c.reply_key), "bench-%ld", (long)getpid());
    snprintf(queue, sizeof(queue), "rpc.reply-%s", c.reply_key);
    c.conn = bench_connect(url);
    bench_declare_exchange(c.conn);
    arg.key = amqp_cstring_bytes("x-expires");
    arg.value.kind = AMQP_FIELD_KIND_I32;
    arg.value.value.i32 = 300000;
    args.num_entries = 1;
    args.entries = &arg;
    amqp_queue_declare(c.conn, 1, amqp_cstring_bytes(queue), 0, 0, 0, 0, args);
    bench_check(c.conn, "queue.declare");
    amqp_queue_bind(c.conn, 1, amqp_cstring_bytes(queue),
                    amqp_cstring_bytes(BENCH_EXCHANGE),
                    amqp_cstring_bytes(c.reply_key), amqp_empty_table);
    bench_check(c.conn, "queue.bind");
    amqp_basic_consume(c.conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes,
                       0, 1, 0, amqp_empty_table);
    bench_check(c.conn, "basic.consume");

    t0 = bench_now_us();
    t_measure = t0 + (int64_t)warmup * 1000000;
    t_end = t_measure + (int64_t)seconds * 1000000;
    last_progress = t0;
    for (i = 0; i < c.nslots; i++)
        send_call(&c, i);

    for (;;) {
        struct timeval tv = {0, 100000};
        amqp_envelope_t env;
        amqp_rpc_reply_t rr;
        int64_t now = bench_now_us();

        if (!c.measuring && now >= t_measure) {
            c.measuring = 1;
            c.nsamples = 0;
        }
        if (now >= t_end)
            break;
        if (now - last_progress > STUCK_US) {
            fputs("echo_client: no reply for 10 s\n", stderr);
            return 1;
        }
        amqp_maybe_release_buffers(c.conn);
        rr = amqp_consume_message(c.conn, &env, &tv, 0);
        if (rr.reply_type == AMQP_RESPONSE_NORMAL) {
            on_reply(&c, &env);
            amqp_destroy_envelope(&env);
            last_progress = bench_now_us();
            continue;
        }
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            other_frame(&c);
            continue;
        }
        fputs("echo_client: consume failed\n", stderr);
        return 1;
    }

    qsort(c.samples, c.nsamples, sizeof(*c.samples), cmp_u32);
    printf("ECHO calls=%zu seconds=%.3f rate=%.1f p50_us=%u p90_us=%u "
           "p99_us=%u max_us=%u errors=%ld\n",
           c.nsamples, (double)(t_end - t_measure) / 1e6,
           (double)c.nsamples * 1e6 / (double)(t_end - t_measure), pct(&c, 50),
           pct(&c, 90), pct(&c, 99), c.nsamples ? c.samples[c.nsamples - 1] : 0,
           c.errors);
    amqp_channel_close(c.conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c.conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c.conn);
    free(c.samples);
    free(c.slots);
    return 0;
}
