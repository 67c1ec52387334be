/*
 * amqp_conn.c - see amqp_conn.h.
 */
#include "amqp_conn.h"

#include "errors.h"

#include <amqp_tcp_socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* A small thread-local xorshift generator for ids and jitter; seeded from
 * getrandom so ids are unpredictable across processes. */
static _Thread_local uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;

    if (x == 0) {
        if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x))
            x = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&x;
        x |= 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void amqp_conn_uuid4(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = rng_next(), b = rng_next();
    unsigned char raw[16];
    int i, o = 0;

    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    raw[6] = (unsigned char)((raw[6] & 0x0f) | 0x40);
    raw[8] = (unsigned char)((raw[8] & 0x3f) | 0x80);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[raw[i] >> 4];
        out[o++] = hex[raw[i] & 15];
    }
    out[o] = '\0';
}

int amqp_conn_backoff_ms(unsigned attempt)
{
    unsigned d = 100;

    while (attempt-- > 0 && d < 5000)
        d *= 2;
    if (d > 5000)
        d = 5000;
    return (int)(d / 2 + rng_next() % (d / 2 + 1));
}

int amqp_conn_bytes_str(amqp_bytes_t b, char *out, size_t cap)
{
    if (b.len >= cap || (b.len > 0 && memchr(b.bytes, '\0', b.len))) {
        out[0] = '\0';
        return -1;
    }
    if (b.len > 0)
        memcpy(out, b.bytes, b.len);
    out[b.len] = '\0';
    return 0;
}

int amqp_conn_reply_error(amqp_rpc_reply_t r, const char *what, char *err,
                          size_t errlen)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        snprintf(err, errlen, "%s: ok", what);
        break;
    case AMQP_RESPONSE_NONE:
        snprintf(err, errlen, "%s: missing reply", what);
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(err, errlen, "%s: %s", what,
                 amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(err, errlen, "%s: connection closed by broker: %u %.*s",
                     what, m->reply_code, (int)m->reply_text.len,
                     (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(err, errlen, "%s: channel closed by broker: %u %.*s",
                     what, m->reply_code, (int)m->reply_text.len,
                     (const char *)m->reply_text.bytes);
        } else {
            snprintf(err, errlen, "%s: broker error, method 0x%08x", what,
                     r.reply.id);
        }
        break;
    }
    return TEMPO_EUNAVAIL;
}

int amqp_conn_check(amqp_connection_state_t conn, const char *what, char *err,
                    size_t errlen)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);

    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    return amqp_conn_reply_error(r, what, err, errlen);
}

/* Extracts the n-th (0-based) URL of a comma-separated list, trimmed. */
static int url_at(const char *list, unsigned n, char *out, size_t cap)
{
    const char *p = list;
    unsigned i;

    for (i = 0; i < n; i++) {
        p = strchr(p, ',');
        if (p == NULL)
            return -1;
        p++;
    }
    while (*p == ' ')
        p++;
    {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0 || len >= cap)
            return -1;
        memcpy(out, p, len);
        out[len] = '\0';
    }
    return 0;
}

static unsigned url_count(const char *list)
{
    unsigned n = 1;

    for (; *list; list++)
        if (*list == ',')
            n++;
    return n;
}

static amqp_connection_state_t open_one(const char *url, int timeout_ms,
                                        char *host_out, size_t host_len,
                                        char *err, size_t errlen)
{
    struct amqp_connection_info info;
    amqp_connection_state_t conn = NULL;
    amqp_socket_t *sock;
    struct timeval tv;
    amqp_rpc_reply_t r;
    char *copy = strdup(url);
    int rc;

    if (copy == NULL)
        abort();
    amqp_default_connection_info(&info);
    if (amqp_parse_url(copy, &info) != AMQP_STATUS_OK) {
        snprintf(err, errlen, "AMQP_URL: not an amqp:// URL");
        goto fail;
    }
    /* Like kombu and pika, read an empty path ("amqp://h:5672/") as the
     * default vhost "/", not as a vhost named "". */
    if (info.vhost == NULL || info.vhost[0] == '\0')
        info.vhost = (char *)(uintptr_t) "/";
    if (info.ssl) {
        snprintf(err, errlen, "AMQP_URL: amqps:// is not supported");
        goto fail;
    }
    if (host_out != NULL)
        snprintf(host_out, host_len, "%s:%d", info.host, info.port);
    conn = amqp_new_connection();
    sock = amqp_tcp_socket_new(conn);
    if (sock == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    rc = amqp_socket_open_noblock(sock, info.host, info.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        snprintf(err, errlen, "connect %s:%d: %s", info.host, info.port,
                 amqp_error_string2(rc));
        goto fail;
    }
    /* Bounds the login handshake, and later every blocking RPC. */
    amqp_set_handshake_timeout(conn, &tv);
    amqp_set_rpc_timeout(conn, &tv);
    r = amqp_login(conn, info.vhost, 0, 131072, AMQP_CONN_HEARTBEAT_S,
                   AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        amqp_conn_reply_error(r, "login", err, errlen);
        goto fail;
    }
    amqp_channel_open(conn, 1);
    if (amqp_conn_check(conn, "channel.open", err, errlen) < 0)
        goto fail;
    free(copy);
    return conn;
fail:
    if (conn != NULL)
        amqp_destroy_connection(conn);
    free(copy);
    return NULL;
}

amqp_connection_state_t amqp_conn_open(const char *url_list, unsigned *cursor,
                                       int connect_timeout_ms, char *host_out,
                                       size_t host_len, char *err,
                                       size_t errlen)
{
    unsigned n = url_count(url_list), i;
    char url[4200];

    for (i = 0; i < n; i++) {
        unsigned idx = (*cursor + i) % n;
        amqp_connection_state_t conn;
        if (url_at(url_list, idx, url, sizeof(url)) < 0) {
            snprintf(err, errlen, "AMQP_URL: empty entry %u", idx + 1);
            continue;
        }
        conn = open_one(url, connect_timeout_ms, host_out, host_len, err,
                        errlen);
        if (conn != NULL) {
            *cursor = idx;
            return conn;
        }
    }
    /* Start the next round with the node after the first one tried. */
    *cursor = (*cursor + 1) % n;
    return NULL;
}

void amqp_conn_close(amqp_connection_state_t conn)
{
    struct timeval tv = {1, 0};

    if (conn == NULL)
        return;
    amqp_set_rpc_timeout(conn, &tv);
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

int amqp_conn_declare_exchange(amqp_connection_state_t conn,
                               amqp_channel_t ch, char *err, size_t errlen)
{
    amqp_exchange_declare(conn, ch, amqp_cstring_bytes(NAMEKO_EXCHANGE),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                          amqp_empty_table);
    return amqp_conn_check(conn, "exchange.declare nameko-rpc", err, errlen);
}
