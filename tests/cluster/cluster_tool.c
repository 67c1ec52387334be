/*
 * cluster_tool.c - the two helpers tests/cluster/cluster-test.sh needs that
 * a shell cannot do well:
 *
 *   cluster-tool load URL RATE TIMEOUT_MS OUT
 *       GETs URL at RATE requests per second (open loop: a slow answer does
 *       not delay the next request), each with a client-side limit of
 *       TIMEOUT_MS, until SIGTERM or SIGINT; then waits for the requests
 *       in flight and exits 0.  Every request becomes one line of OUT,
 *       flushed as it completes:
 *           <start, ms since the epoch> <HTTP status> <latency ms>
 *       status 0 = no HTTP answer within TIMEOUT_MS or a connection error
 *       (a lost or hung request, in the cluster test's terms).
 *
 *   cluster-tool declare URL TYPE
 *       declares the durable queue rpc-weather_service with
 *       x-queue-type TYPE (quorum or classic) on the broker at URL (one
 *       amqp:// URL), as an operator would before starting tempo.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct req {
    int64_t start_wall_ms, start_us;
};

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static int load(const char *url, double rate, long timeout_ms, const char *out)
{
    CURLM *m = curl_multi_init();
    FILE *f = fopen(out, "w");
    int64_t interval_us = (int64_t)(1e6 / rate), next_us;
    int running = 0;
    long sent = 0, done = 0;

    if (m == NULL || f == NULL || rate <= 0) {
        fprintf(stderr, "cluster-tool: cannot start (%s)\n", out);
        return 1;
    }
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 512L);
    next_us = mono_us();
    while (!stopping || running > 0) {
        int64_t now = mono_us();
        CURLMsg *msg;
        int left, wait_ms;

        while (!stopping && now >= next_us) {
            CURL *e = curl_easy_init();
            struct req *r = calloc(1, sizeof(*r));
            if (e == NULL || r == NULL)
                abort();
            r->start_wall_ms = wall_ms();
            r->start_us = now;
            curl_easy_setopt(e, CURLOPT_URL, url);
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
            curl_easy_setopt(e, CURLOPT_PRIVATE, r);
            curl_multi_add_handle(m, e);
            sent++;
            next_us += interval_us;
        }
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            CURL *e = msg->easy_handle;
            struct req *r = NULL;
            long status = 0;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
            fprintf(f, "%lld %ld %lld\n", (long long)r->start_wall_ms, status,
                    (long long)((mono_us() - r->start_us) / 1000));
            fflush(f);
            done++;
            free(r);
            curl_multi_remove_handle(m, e);
            curl_easy_cleanup(e);
        }
        wait_ms = (int)((next_us - mono_us()) / 1000);
        if (wait_ms < 0 || stopping)
            wait_ms = stopping ? 50 : 0;
        if (wait_ms > 50)
            wait_ms = 50;
        curl_multi_poll(m, NULL, 0, wait_ms, NULL);
    }
    fclose(f);
    curl_multi_cleanup(m);
    fprintf(stderr, "cluster-tool: %ld sent, %ld answered\n", sent, done);
    return 0;
}

static int declare(const char *url, const char *type)
{
    struct amqp_connection_info info;
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    struct timeval tv = {10, 0};
    amqp_table_entry_t arg;
    amqp_table_t args;
    amqp_rpc_reply_t r;
    char *copy = strdup(url);

    if (copy == NULL || s == NULL ||
        amqp_parse_url(copy, &info) != AMQP_STATUS_OK) {
        fprintf(stderr, "cluster-tool: bad URL\n");
        return 1;
    }
    if (amqp_socket_open_noblock(s, info.host, info.port, &tv) !=
        AMQP_STATUS_OK) {
        fprintf(stderr, "cluster-tool: cannot connect\n");
        return 1;
    }
    amqp_set_rpc_timeout(c, &tv);
    r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user,
                   info.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "cluster-tool: login failed\n");
        return 1;
    }
    amqp_channel_open(c, 1);
    amqp_exchange_declare(c, 1, amqp_cstring_bytes("nameko-rpc"),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                          amqp_empty_table);
    if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "cluster-tool: exchange.declare failed\n");
        return 1;
    }
    arg.key = amqp_cstring_bytes("x-queue-type");
    arg.value.kind = AMQP_FIELD_KIND_UTF8;
    arg.value.value.bytes = amqp_cstring_bytes(type);
    args.num_entries = 1;
    args.entries = &arg;
    amqp_queue_declare(c, 1, amqp_cstring_bytes("rpc-weather_service"), 0, 1, 0,
                       0, args);
    r = amqp_get_rpc_reply(c);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "cluster-tool: queue.declare failed\n");
        return 1;
    }
    amqp_queue_bind(c, 1, amqp_cstring_bytes("rpc-weather_service"),
                    amqp_cstring_bytes("nameko-rpc"),
                    amqp_cstring_bytes("weather_service.*"), amqp_empty_table);
    if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "cluster-tool: queue.bind failed\n");
        return 1;
    }
    amqp_destroy_connection(c);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "load") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        return load(argv[2], strtod(argv[3], NULL), strtol(argv[4], NULL, 10),
                    argv[5]);
    }
    if (argc == 4 && strcmp(argv[1], "declare") == 0)
        return declare(argv[2], argv[3]);
    fprintf(stderr, "usage: cluster-tool load URL RATE TIMEOUT_MS OUT\n"
                    "       cluster-tool declare URL quorum|classic\n");
    return 2;
}
