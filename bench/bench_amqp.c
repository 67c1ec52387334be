/*
 * bench_amqp.c - see bench_amqp.h.
 */
#include "bench_amqp.h"

#include <amqp_tcp_socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what, const char *why)
{
    fprintf(stderr, "echo: %s: %s\n", what, why);
    exit(1);
}

void bench_check(amqp_connection_state_t conn, const char *what)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    char buf[256];

    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        die(what, amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(buf, sizeof(buf), "channel closed: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
            die(what, buf);
        }
        die(what, "broker error");
        break;
    default:
        die(what, "no reply");
    }
}

amqp_connection_state_t bench_connect(const char *url)
{
    struct amqp_connection_info info;
    amqp_connection_state_t conn;
    amqp_socket_t *sock;
    amqp_rpc_reply_t r;
    char *copy = strdup(url);

    if (copy == NULL)
        die("connect", "out of memory");
    amqp_default_connection_info(&info);
    if (amqp_parse_url(copy, &info) != AMQP_STATUS_OK)
        die("connect", "not an amqp:// URL");
    if (info.vhost == NULL || info.vhost[0] == '\0')
        info.vhost = (char *)"/";
    conn = amqp_new_connection();
    sock = amqp_tcp_socket_new(conn);
    if (sock == NULL)
        die("connect", "out of memory");
    if (amqp_socket_open(sock, info.host, info.port) != AMQP_STATUS_OK)
        die("connect", "cannot open the socket");
    r = amqp_login(conn, info.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
                   AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        die("login", "refused");
    amqp_channel_open(conn, 1);
    bench_check(conn, "channel.open");
    free(copy);
    return conn;
}

void bench_declare_exchange(amqp_connection_state_t conn)
{
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes(BENCH_EXCHANGE),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                          amqp_empty_table);
    bench_check(conn, "exchange.declare");
}

int64_t bench_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long bench_parse_long(const char *name, const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "echo: %s must be a number in %ld..%ld\n", name, min,
                max);
        exit(2);
    }
    return v;
}
