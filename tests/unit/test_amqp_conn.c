/*
 * test_amqp_conn.c - the connection layer without a broker
 * (common/amqp_conn.h): UUIDs (format, uniqueness across threads and
 * fork), backoff bounds, the start-up checks of the TLS files, and
 * amqp_conn_open against nodes that refuse or that accept and then say
 * nothing (plain and TLS): bounded, every node tried, no password in the
 * error.  Connections to a real broker, over TLS too, are in
 * tests/integration/it_tls.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "amqp_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int uuid_well_formed(const char *u)
{
    int i;

    if (strlen(u) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (u[i] != '-')
                return 0;
        } else if (!((u[i] >= '0' && u[i] <= '9') ||
                     (u[i] >= 'a' && u[i] <= 'f'))) {
            return 0;
        }
    }
    return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_uuid_format_and_unique(void **state)
{
    enum { N = 5000 };
    char(*ids)[37] = calloc(N, 37);
    unsigned seen[36][16];
    int i, j;

    (void)state;
    assert_non_null(ids);
    memset(seen, 0, sizeof(seen));
    for (i = 0; i < N; i++) {
        amqp_conn_uuid4(ids[i]);
        if (!uuid_well_formed(ids[i]))
            fail_msg("not a UUID4: %s", ids[i]);
        for (j = 0; j < 36; j++) {
            char c = ids[i][j];
            if (c != '-')
                seen[j][c <= '9' ? c - '0' : c - 'a' + 10]++;
        }
    }
    qsort(ids, N, 37, cmp_str);
    for (i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    /* Every random hex position takes every value: no stuck bytes (a pool
     * handed out zeroed or reused would show here). */
    for (j = 0; j < 36; j++) {
        int v, want = 16;
        if (j == 8 || j == 13 || j == 18 || j == 23 || j == 14)
            continue;
        if (j == 19)
            want = 4;
        for (v = 0; v < 16; v++)
            if (seen[j][v] > 0)
                want--;
        assert_int_equal(want, 0);
    }
    free(ids);
}

static void *uuid_thread(void *arg)
{
    amqp_conn_uuid4(arg);
    return NULL;
}

static void test_uuid_threads_and_fork(void **state)
{
    char a[37], b[37], parent[37], child[37] = "";
    pthread_t t1, t2;
    int fds[2], status;
    pid_t pid;

    (void)state;
    assert_int_equal(pthread_create(&t1, NULL, uuid_thread, a), 0);
    assert_int_equal(pthread_create(&t2, NULL, uuid_thread, b), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_string_not_equal(a, b);

    /* The pool is filled; a forked child must not replay it. */
    amqp_conn_uuid4(a);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[37];
        amqp_conn_uuid4(id);
        if (write(fds[1], id, 37) != 37)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], child, 37), 37);
    close(fds[0]);
    waitpid(pid, &status, 0);
    amqp_conn_uuid4(parent);
    assert_true(uuid_well_formed(child));
    assert_string_not_equal(parent, child);
}

static void test_backoff_bounds(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < 200; i++) {
        int d0 = amqp_conn_backoff_ms(0), d3 = amqp_conn_backoff_ms(3),
            d20 = amqp_conn_backoff_ms(20);
        assert_true(d0 >= 50 && d0 <= 100);
        assert_true(d3 >= 400 && d3 <= 800);
        assert_true(d20 >= 2500 && d20 <= 5000);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_tls_check(void **state)
{
    char dir[] = "/tmp/tempo-tls-XXXXXX", junk[64], err[512];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(junk, sizeof(junk), "%s/junk.pem", dir);
    write_file(junk, "not a certificate\n");

    assert_int_equal(amqp_conn_tls_check(NULL, "", NULL, err, sizeof(err)), 0);
    assert_int_equal(
        amqp_conn_tls_check("/nonexistent/ca.pem", NULL, NULL, err, 512), -1);
    assert_non_null(strstr(err, "AMQP_CA_FILE: cannot read /nonexistent"));
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(amqp_conn_tls_check(junk, NULL, NULL, err, 512), -1);
    assert_non_null(strstr(err, "AMQP_CA_FILE"));
    assert_non_null(strstr(err, "no PEM certificate"));
    assert_int_equal(amqp_conn_tls_check(dir, NULL, NULL, err, 512), -1);
    assert_non_null(strstr(err, "AMQP_CA_FILE"));

    assert_int_equal(amqp_conn_tls_check(NULL, junk, NULL, err, 512), -1);
    assert_non_null(strstr(err, "AMQP_CERT_FILE: needs AMQP_KEY_FILE"));
    assert_int_equal(amqp_conn_tls_check(NULL, NULL, junk, err, 512), -1);
    assert_non_null(strstr(err, "AMQP_KEY_FILE: needs AMQP_CERT_FILE"));
    assert_int_equal(
        amqp_conn_tls_check(NULL, junk, "/nonexistent/k", err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "AMQP_KEY_FILE: cannot read"));
    assert_int_equal(amqp_conn_tls_check(NULL, junk, junk, err, 512), -1);
    assert_non_null(strstr(err, "AMQP_CERT_FILE"));
    /* Control bytes in a path do not reach the one-line error. */
    assert_int_equal(
        amqp_conn_tls_check("/nonexistent/a\nb", NULL, NULL, err, 512), -1);
    assert_null(strchr(err, '\n'));

    unlink(junk);
    rmdir(dir);
}

/* A listening socket on 127.0.0.1 that never accepts (the kernel
 * completes the TCP handshake; nothing is ever said). */
static int silent_listener(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port on 127.0.0.1 where nothing listens (connect is refused). */
static int closed_port(void)
{
    int port, fd = silent_listener(&port);

    close(fd);
    return port;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_open_walks_every_node(void **state)
{
    struct amqp_conn_opts o;
    struct amqp_url_cursor cur;
    char list[256], err[1024], a[16], b[16];
    int pa = closed_port(), pb = closed_port();

    (void)state;
    memset(&o, 0, sizeof(o));
    memset(&cur, 0, sizeof(cur));
    snprintf(list, sizeof(list),
             "amqp://u:s3kr1t-a@127.0.0.1:%d/,amqp://v:s3kr1t-b@127.0.0.1:%d/",
             pa, pb);
    o.url_list = list;
    o.timeout_ms = 1000;
    assert_null(amqp_conn_open(&o, &cur, NULL, 0, err, sizeof(err)));
    snprintf(a, sizeof(a), ":%d: connect", pa);
    snprintf(b, sizeof(b), ":%d: connect", pb);
    assert_non_null(strstr(err, a));
    assert_non_null(strstr(err, b));
    assert_non_null(strstr(err, "; "));
    assert_null(strstr(err, "s3kr1t"));
    assert_null(strstr(err, "u:"));
}

/* A node that accepts TCP and then never answers holds the caller for
 * about timeout_ms, not for ever: plain (login) and TLS (handshake). */
static void test_open_is_bounded(void **state)
{
    static const char *const schemes[] = {"amqp", "amqps"};
    struct amqp_conn_opts o;
    struct amqp_url_cursor cur;
    struct timespec t0;
    char list[256], err[1024];
    int port, fd = silent_listener(&port), i;

    (void)state;
    for (i = 0; i < 2; i++) {
        memset(&o, 0, sizeof(o));
        memset(&cur, 0, sizeof(cur));
        snprintf(list, sizeof(list), "%s://127.0.0.1:%d/", schemes[i], port);
        o.url_list = list;
        o.timeout_ms = 300;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_null(amqp_conn_open(&o, &cur, NULL, 0, err, sizeof(err)));
        /* Generous: the point is "returns", not how fast. */
        if (seconds_since(&t0) > 5.0)
            fail_msg("%s: took %.1f s: %s", schemes[i], seconds_since(&t0),
                     err);
        assert_true(strlen(err) > 0);
    }
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_format_and_unique),
        cmocka_unit_test(test_uuid_threads_and_fork),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_tls_check),
        cmocka_unit_test(test_open_walks_every_node),
        cmocka_unit_test(test_open_is_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
