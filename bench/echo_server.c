/*
 * echo_server.c - the server half of the broker-ceiling benchmark.
 *
 *   echo_server --url amqp://... [--prefetch 64] [--reply-bytes 800]
 *               [--ack-batch 0|1] [--seconds 600]
 *
 * It does what a weather-service worker does on the wire and nothing
 * else: consume queue rpc-bench_echo (bound to nameko-rpc with routing key
 * bench_echo.*) with basic.qos prefetch N and manual acks; for each call,
 * publish a reply of --reply-bytes bytes (about the size of a real
 * get_playlist reply) to nameko-rpc with routing key = reply_to and the
 * same correlation_id, then ack the call.  One thread, one connection, no
 * JSON, no HTTP: whatever rate this reaches with echo_client is the
 * broker's (plus rabbitmq-c's) ceiling on this machine for the
 * gateway -> broker -> worker -> broker -> gateway round trip.
 *
 * --ack-batch 1 measures what batched acks would buy: every delivery
 * already received is answered, then one basic.ack with multiple=true
 * covers them all (correct here because calls are answered in order; a
 * worker answering out of order may only ack up to its lowest unanswered
 * tag, SPEC section 3).
 *
 * Prints "READY" once consuming; exits after --seconds (a safety bound for
 * scripts) or on SIGTERM/SIGINT.
 */
#include "bench_amqp.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define QUEUE "rpc-bench_echo"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(void)
{
    fputs("usage: echo_server --url URL [--prefetch N] [--reply-bytes N] "
          "[--ack-batch 0|1] [--seconds N]\n",
          stderr);
    exit(2);
}

/* A non-delivery frame is waiting; anything but a close is ignored. */
static void other_frame(amqp_connection_state_t conn)
{
    amqp_frame_t frame;

    if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK) {
        fputs("echo_server: connection lost\n", stderr);
        exit(1);
    }
    if (frame.frame_type == AMQP_FRAME_METHOD &&
        (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
         frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
        fputs("echo_server: closed by the broker\n", stderr);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    long prefetch = 64, reply_bytes = 800, seconds = 600, ack_batch = 0;
    uint64_t unacked = 0; /* highest answered, not yet acked tag */
    amqp_connection_state_t conn;
    amqp_basic_properties_t props;
    struct sigaction sa;
    char *reply;
    long served = 0;
    int64_t end;
    int i;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--url") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--prefetch") == 0)
            prefetch = bench_parse_long("--prefetch", argv[i + 1], 1, 65535);
        else if (strcmp(argv[i], "--reply-bytes") == 0)
            reply_bytes =
                bench_parse_long("--reply-bytes", argv[i + 1], 2, 1 << 20);
        else if (strcmp(argv[i], "--ack-batch") == 0)
            ack_batch = bench_parse_long("--ack-batch", argv[i + 1], 0, 1);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = bench_parse_long("--seconds", argv[i + 1], 1, 86400);
        else
            usage();
    }
    if (url == NULL || i != argc)
        usage();

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* A JSON-looking reply of the requested size: {"result":"xxx..."} */
    reply = malloc((size_t)reply_bytes + 1);
    if (reply == NULL)
        return 1;
    memset(reply, 'x', (size_t)reply_bytes);
    if (reply_bytes >= 14) {
        memcpy(reply, "{\"result\":\"", 11);
        memcpy(reply + reply_bytes - 2, "\"}", 2);
    }
    reply[reply_bytes] = '\0';

    conn = bench_connect(url);
    bench_declare_exchange(conn);
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(QUEUE), 0, 0, 0, 1,
                       amqp_empty_table);
    bench_check(conn, "queue.declare");
    amqp_queue_bind(conn, 1, amqp_cstring_bytes(QUEUE),
                    amqp_cstring_bytes(BENCH_EXCHANGE),
                    amqp_cstring_bytes("bench_echo.*"), amqp_empty_table);
    bench_check(conn, "queue.bind");
    amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
    bench_check(conn, "basic.qos");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(QUEUE), amqp_empty_bytes, 0,
                       0, 0, amqp_empty_table);
    bench_check(conn, "basic.consume");
    printf("READY\n");
    fflush(stdout);

    /* The same reply properties as the worker's (worker.c answer()). */
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_CONTENT_ENCODING_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG |
                   AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.content_encoding = amqp_cstring_bytes("utf-8");
    props.delivery_mode = 1;
    props.headers = amqp_empty_table;

    end = bench_now_us() + (int64_t)seconds * 1000000;
    while (!stop && bench_now_us() < end) {
        struct timeval tv = {0, 200000}, zero = {0, 0};
        amqp_envelope_t env;
        amqp_rpc_reply_t rr;

        amqp_maybe_release_buffers(conn);
        /* With batched acks, look for more deliveries without waiting
         * while some are answered but not acked; ack them when none is
         * left. */
        rr = amqp_consume_message(conn, &env, unacked ? &zero : &tv, 0);
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_TIMEOUT) {
            if (unacked &&
                amqp_basic_ack(conn, 1, unacked, 1) != AMQP_STATUS_OK) {
                fputs("echo_server: ack failed\n", stderr);
                return 1;
            }
            unacked = 0;
            continue;
        }
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            other_frame(conn);
            continue;
        }
        if (rr.reply_type != AMQP_RESPONSE_NORMAL) {
            if (stop)
                break;
            fputs("echo_server: consume failed\n", stderr);
            return 1;
        }
        if (env.message.properties._flags & AMQP_BASIC_REPLY_TO_FLAG) {
            props.correlation_id = env.message.properties.correlation_id;
            if (amqp_basic_publish(conn, 1, amqp_cstring_bytes(BENCH_EXCHANGE),
                                   env.message.properties.reply_to, 0, 0,
                                   &props, amqp_cstring_bytes(reply)) !=
                AMQP_STATUS_OK) {
                fputs("echo_server: publish failed\n", stderr);
                return 1;
            }
        }
        if (ack_batch) {
            unacked = env.delivery_tag;
        } else if (amqp_basic_ack(conn, 1, env.delivery_tag, 0) !=
                   AMQP_STATUS_OK) {
            fputs("echo_server: ack failed\n", stderr);
            return 1;
        }
        served++;
        amqp_destroy_envelope(&env);
    }
    fprintf(stderr, "echo_server: served %ld calls\n", served);
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    free(reply);
    return 0;
}
