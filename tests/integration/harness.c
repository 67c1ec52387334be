/*
 * harness.c - see harness.h.  Paths to the binaries come from CMake as
 * TEMPO_GATEWAY_BIN, TEMPO_WORKER_BIN, TEMPO_FAKE_BIN, TEMPO_BROKER_SH and
 * the broker directory from the environment (TEMPO_BROKER_DIR).
 */
#include "harness.h"

#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char broker_url[600];
static char broker_tls_dir[600];
static int broker_tls_port;

/* Every process the harness started and has not reaped: killed at exit
 * or by h_kill_all, so a failed test never leaves daemons behind (they
 * would hold CTest's pipes open and confuse the next test's counts). */
static pid_t spawned[64];

static void registry_add(pid_t pid)
{
    size_t i;

    for (i = 0; i < sizeof(spawned) / sizeof(spawned[0]); i++)
        if (spawned[i] == 0) {
            spawned[i] = pid;
            return;
        }
}

static void registry_del(pid_t pid)
{
    size_t i;

    for (i = 0; i < sizeof(spawned) / sizeof(spawned[0]); i++)
        if (spawned[i] == pid)
            spawned[i] = 0;
}

void h_kill_all(void)
{
    size_t i;

    for (i = 0; i < sizeof(spawned) / sizeof(spawned[0]); i++)
        if (spawned[i] > 0) {
            kill(spawned[i], SIGKILL);
            waitpid(spawned[i], NULL, 0);
            spawned[i] = 0;
        }
}

int h_kill_all_teardown(void **state)
{
    (void)state;
    h_kill_all();
    return 0;
}

static void registry_init(void)
{
    static int done;

    if (!done) {
        done = 1;
        atexit(h_kill_all);
    }
}
static int broker_port;

static void load_broker(void)
{
    const char *dir = getenv("TEMPO_BROKER_DIR");
    char path[512], line[512];
    FILE *f;

    if (broker_port != 0)
        return;
    if (dir == NULL)
        fail_msg("TEMPO_BROKER_DIR is not set (run through ctest)");
    snprintf(path, sizeof(path), "%s/env", dir);
    f = fopen(path, "r");
    if (f == NULL)
        fail_msg("no broker env at %s: is the broker fixture running?", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "BROKER_PORT=", 12) == 0)
            broker_port = (int)strtol(line + 12, NULL, 10);
        else if (strncmp(line, "BROKER_URL=", 11) == 0)
            snprintf(broker_url, sizeof(broker_url), "%s", line + 11);
        else if (strncmp(line, "BROKER_TLS_PORT=", 16) == 0)
            broker_tls_port = (int)strtol(line + 16, NULL, 10);
        else if (strncmp(line, "BROKER_TLS_DIR=", 15) == 0)
            snprintf(broker_tls_dir, sizeof(broker_tls_dir), "%s", line + 15);
    }
    fclose(f);
    assert_true(broker_port > 0);
}

const char *h_broker_url(void)
{
    load_broker();
    return broker_url;
}

int h_broker_port(void)
{
    load_broker();
    return broker_port;
}

int h_broker_tls_port(void)
{
    load_broker();
    if (broker_tls_port <= 0)
        fail_msg("the broker fixture has no TLS listener (broker.sh --tls)");
    return broker_tls_port;
}

const char *h_broker_tls_dir(void)
{
    h_broker_tls_port();
    return broker_tls_dir;
}

int h_broker_ctl(const char *args)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "bash %s ctl %s %s >/dev/null 2>&1",
             TEMPO_BROKER_SH, getenv("TEMPO_BROKER_DIR"), args);
    return system(cmd);
}

int h_broker_signal(int sig)
{
    char path[600], buf[32];
    FILE *f;
    long pid = 0;

    snprintf(path, sizeof(path), "%s/server.pid", getenv("TEMPO_BROKER_DIR"));
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) != NULL)
        pid = strtol(buf, NULL, 10);
    fclose(f);
    if (pid <= 1)
        return -1;
    return kill(-(pid_t)pid, sig); /* the node's whole process group */
}

/* 1 if port can be bound on addr now. */
static int port_bindable(uint32_t addr, int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(addr);
    a.sin_port = htons((uint16_t)port);
    ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/*
 * A port below the kernel's ephemeral range (32768 and up), where no
 * outgoing connection can take it between this check and the daemon's
 * bind: a port the kernel hands out (bind to port 0) is exactly the kind
 * the next connect(2) may pick.
 */
int h_free_port(void)
{
    static unsigned seed;
    int i;

    if (seed == 0)
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    for (i = 0; i < 1000; i++) {
        int port;
        seed = seed * 1103515245u + 12345u;
        port = 10000 + (int)((seed >> 8) % 10000);
        if (port_bindable(INADDR_LOOPBACK, port) &&
            port_bindable(INADDR_ANY, port))
            return port;
    }
    fail_msg("no free port in 10000..19999");
    return -1;
}

/*
 * With TEMPO_VALGRIND=1 in the test's environment, daemons run under
 * valgrind memcheck: any error or definite leak makes the daemon exit 99,
 * which h_stack_stop reports as a failure.
 */
static const char *const *maybe_valgrind(const char *const argv[],
                                         const char **buf, size_t cap)
{
    static const char *const vg[] = {"/usr/bin/valgrind",
                                     "--quiet",
                                     "--error-exitcode=99",
                                     "--leak-check=full",
                                     "--errors-for-leak-kinds=definite",
                                     "--show-leak-kinds=definite",
                                     "--track-fds=no",
                                     NULL};
    const char *v = getenv("TEMPO_VALGRIND");
    size_t n = 0, i;

    if (v == NULL || strcmp(v, "1") != 0)
        return argv;
    for (i = 0; vg[i] != NULL && n < cap - 1; i++)
        buf[n++] = vg[i];
    for (i = 0; argv[i] != NULL && n < cap - 1; i++)
        buf[n++] = argv[i];
    buf[n] = NULL;
    return buf;
}

pid_t h_spawn(const char *const argv_in[], const char *const env[],
              const char *logfile)
{
    const char *vbuf[32];
    const char *const *argv = maybe_valgrind(argv_in, vbuf, 32);
    pid_t pid;

    registry_init();
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *envp[64];
        int n = 0, fd;
        envp[n++] = "PATH=/usr/local/bin:/usr/bin:/bin";
        for (; env != NULL && *env != NULL && n < 63; env++)
            envp[n++] = *env;
        envp[n] = NULL;
        fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setpgid(0, 0);
        execve(argv[0], (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    registry_add(pid);
    return pid;
}

int h_stop(pid_t pid, int sig, int timeout_ms)
{
    int status, waited;

    if (pid <= 0)
        return 0;
    kill(pid, sig);
    for (waited = 0; waited < timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            registry_del(pid);
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    registry_del(pid);
    return -1;
}

int h_run(const char *const argv[], const char *const env[], char *out,
          size_t cap)
{
    char dir[] = "/tmp/tempo-run-XXXXXX", log[600];
    FILE *f;
    size_t got;
    int rc;

    assert_non_null(mkdtemp(dir));
    snprintf(log, sizeof(log), "%s/out.log", dir);
    rc = h_stop(h_spawn(argv, env, log), 0, 10000); /* signal 0: wait */
    f = fopen(log, "r");
    assert_non_null(f);
    got = fread(out, 1, cap - 1, f);
    out[got] = '\0';
    fclose(f);
    unlink(log);
    rmdir(dir);
    return rc;
}

void h_fake_start(struct h_stack *s, const char *const extra[])
{
    int fds[2], n = 0;
    char portbuf[16], line[128];
    const char *argv[24];
    FILE *f;
    pid_t pid;

    registry_init();
    assert_int_equal(pipe(fds), 0);
    argv[n++] = TEMPO_FAKE_BIN;
    argv[n++] = "--port";
    argv[n++] = "0";
    for (; extra != NULL && *extra != NULL && n < 23; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(fds[1], 1);
        if (null >= 0)
            dup2(null, 2); /* never hold the test runner's pipe */
        close(fds[0]);
        close(fds[1]);
        setpgid(0, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    registry_add(pid);
    close(fds[1]);
    f = fdopen(fds[0], "r");
    assert_non_null(f);
    if (fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "READY %15s", portbuf) != 1)
        fail_msg("fake-upstream did not say READY");
    fclose(f);
    s->fake = pid;
    s->fake_port = (int)strtol(portbuf, NULL, 10);
    snprintf(s->fake_url, sizeof(s->fake_url), "http://127.0.0.1:%d",
             s->fake_port);
}

static void add_env(const char **env, int *n, int cap, char *storage,
                    size_t *used, size_t total, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void add_env(const char **env, int *n, int cap, char *storage,
                    size_t *used, size_t total, const char *fmt, ...)
{
    va_list ap;
    int len;

    assert_true(*n < cap - 1);
    va_start(ap, fmt);
    len = vsnprintf(storage + *used, total - *used, fmt, ap);
    va_end(ap);
    assert_true(len > 0 && (size_t)len < total - *used);
    /* A later "K=V" replaces an earlier one: getenv returns the first
     * match, so a test's AMQP_URL would otherwise lose to the default. */
    {
        const char *kv = storage + *used, *eq = strchr(kv, '=');
        size_t klen = eq != NULL ? (size_t)(eq - kv) + 1 : strlen(kv);
        int i;
        for (i = 0; i < *n; i++)
            if (strncmp(env[i], kv, klen) == 0) {
                env[i] = kv;
                *used += (size_t)len + 1;
                return;
            }
    }
    env[(*n)++] = storage + *used;
    *used += (size_t)len + 1;
}

pid_t h_worker_start(struct h_stack *s, int idx, const char *const worker_env[])
{
    static char storage[4096];
    const char *env[48];
    const char *argv[] = {TEMPO_WORKER_BIN, NULL};
    char log[512];
    size_t used = 0;
    int n = 0;

    add_env(env, &n, 48, storage, &used, sizeof(storage), "AMQP_URL=%s",
            h_broker_url());
    add_env(env, &n, 48, storage, &used, sizeof(storage), "OPENWEATHER_URL=%s",
            s->fake_url);
    add_env(env, &n, 48, storage, &used, sizeof(storage), "OPEN_METEO_URL=%s",
            s->fake_url);
    add_env(env, &n, 48, storage, &used, sizeof(storage),
            "OPEN_METEO_GEOCODING_URL=%s", s->fake_url);
    add_env(env, &n, 48, storage, &used, sizeof(storage), "SPOTIFY_API_URL=%s",
            s->fake_url);
    add_env(env, &n, 48, storage, &used, sizeof(storage),
            "SPOTIFY_ACCOUNTS_URL=%s", s->fake_url);
    add_env(env, &n, 48, storage, &used, sizeof(storage), "LOG_LEVEL=%s",
            "debug");
    for (; worker_env != NULL && *worker_env != NULL; worker_env++)
        add_env(env, &n, 48, storage, &used, sizeof(storage), "%s",
                *worker_env);
    env[n] = NULL;
    snprintf(log, sizeof(log), "%s/worker%d.log", s->logdir, idx);
    s->workers[idx] = h_spawn(argv, env, log);
    return s->workers[idx];
}

void h_stack_start(struct h_stack *s, const char *name, int nworkers,
                   const char *const worker_env[],
                   const char *const gateway_env[])
{
    static char storage[4096];
    const char *env[48];
    const char *gargv[] = {TEMPO_GATEWAY_BIN, NULL};
    char log[1100];
    size_t used = 0;
    int n = 0, i;
    long st = 0;

    assert_true(nworkers <= H_MAX_WORKERS);
    snprintf(s->logdir, sizeof(s->logdir), "%s/%s", TEMPO_TEST_LOGDIR, name);
    snprintf(log, sizeof(log), "mkdir -p '%s' && rm -f '%s'/*.log", s->logdir,
             s->logdir);
    assert_int_equal(system(log), 0);
    if (s->fake == 0)
        h_fake_start(s, NULL);
    for (i = 0; i < nworkers; i++)
        h_worker_start(s, i, worker_env);
    s->nworkers = nworkers;

    s->gateway_port = h_free_port();
    add_env(env, &n, 48, storage, &used, sizeof(storage), "AMQP_URL=%s",
            h_broker_url());
    add_env(env, &n, 48, storage, &used, sizeof(storage),
            "GATEWAY_ADDR=127.0.0.1");
    add_env(env, &n, 48, storage, &used, sizeof(storage), "GATEWAY_PORT=%d",
            s->gateway_port);
    add_env(env, &n, 48, storage, &used, sizeof(storage), "LOG_LEVEL=debug");
    for (; gateway_env != NULL && *gateway_env != NULL; gateway_env++)
        add_env(env, &n, 48, storage, &used, sizeof(storage), "%s",
                *gateway_env);
    env[n] = NULL;
    snprintf(log, sizeof(log), "%s/gateway.log", s->logdir);
    s->gateway = h_spawn(gargv, env, log);
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->gateway_port);

    /* Ready means "can serve", which needs a worker; with none, wait for
     * the gateway's broker connection ("broker": true). */
    for (i = 0; i < 300; i++) {
        struct h_resp r;
        int up;
        h_http(s, "GET", "/readyz", NULL, &r);
        st = r.status;
        up = r.body != NULL && strstr(r.body, "\"broker\":true") != NULL;
        h_resp_free(&r);
        if (st == 200 || (nworkers == 0 && up))
            break;
        usleep(50000);
    }
    if (i == 300)
        fail_msg("gateway not ready after 15 s (logs in %s)", s->logdir);
    if (nworkers > 0 && h_wait_consumers(nworkers, 15000) != 0)
        fail_msg("workers did not attach (logs in %s)", s->logdir);
}

void h_stack_stop(struct h_stack *s)
{
    int i, rc;

    rc = h_stop(s->gateway, SIGTERM, 15000);
    s->gateway = 0;
    assert_int_equal(rc, 0);
    for (i = 0; i < s->nworkers; i++) {
        if (s->workers[i] <= 0)
            continue;
        rc = h_stop(s->workers[i], SIGTERM, 15000);
        s->workers[i] = 0;
        assert_int_equal(rc, 0);
    }
    h_stop(s->fake, SIGTERM, 5000);
    s->fake = 0;
}

/* ---- HTTP ---------------------------------------------------------------- */

struct growbuf {
    char *p;
    size_t len;
};

static size_t on_body(char *data, size_t sz, size_t n, void *ud)
{
    struct growbuf *b = ud;
    size_t add = sz * n;

    b->p = realloc(b->p, b->len + add + 1);
    assert_non_null(b->p);
    memcpy(b->p + b->len, data, add);
    b->len += add;
    b->p[b->len] = '\0';
    return add;
}

static size_t on_header(char *data, size_t sz, size_t n, void *ud)
{
    struct h_resp *r = ud;
    size_t len = sz * n;
    char line[512];
    char *v;

    if (len >= sizeof(line))
        return len;
    memcpy(line, data, len);
    line[len] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) /* a new response: forget the last */
        r->headers[0] = '\0';
    else if (strchr(line, ':') != NULL) {
        size_t used = strlen(r->headers);
        snprintf(r->headers + used, sizeof(r->headers) - used, "%s\n", line);
    }
    v = strchr(line, ':');
    if (v == NULL)
        return len;
    *v++ = '\0';
    while (*v == ' ')
        v++;
    if (strcasecmp(line, "X-Request-Id") == 0)
        snprintf(r->request_id, sizeof(r->request_id), "%s", v);
    else if (strcasecmp(line, "Content-Type") == 0)
        snprintf(r->content_type, sizeof(r->content_type), "%s", v);
    else if (strcasecmp(line, "Allow") == 0)
        snprintf(r->allow, sizeof(r->allow), "%s", v);
    return len;
}

static void http_raw(const char *url, const char *method,
                     const char *const headers[], struct h_resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    struct growbuf b = {NULL, 0};
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    assert_non_null(c);
    for (; headers != NULL && *headers != NULL; headers++)
        hl = curl_slist_append(hl, *headers);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
    } else {
        r->status = 0;
    }
    r->body = b.p ? b.p : strdup("");
    r->len = b.len;
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

void h_http(const struct h_stack *s, const char *method, const char *path,
            const char *const headers[], struct h_resp *r)
{
    char url[4096];

    snprintf(url, sizeof(url), "%s%s", s->base, path);
    http_raw(url, method, headers, r);
}

void h_resp_free(struct h_resp *r)
{
    free(r->body);
    r->body = NULL;
}

int h_header(const struct h_resp *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = r->headers;

    out[0] = '\0';
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t llen = eol ? (size_t)(eol - p) : strlen(p);
        if (llen > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(llen - (size_t)(v - p)), v);
            return 1;
        }
        p += llen + (eol ? 1 : 0);
    }
    return 0;
}

json_t *h_get_json(const struct h_stack *s, const char *path, long *status)
{
    struct h_resp r;
    json_error_t e;
    json_t *j;

    h_http(s, "GET", path, NULL, &r);
    j = json_loads(r.body, 0, &e);
    if (j == NULL)
        fail_msg("GET %s: %ld, body is not JSON: %.200s", path, r.status,
                 r.body);
    if (status != NULL)
        *status = r.status;
    h_resp_free(&r);
    return j;
}

json_t *h_fake_get(const struct h_stack *s, const char *path)
{
    char url[1024];
    struct h_resp r;
    json_t *j;

    snprintf(url, sizeof(url), "%s%s", s->fake_url, path);
    http_raw(url, "GET", NULL, &r);
    assert_int_equal(r.status, 200);
    j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    h_resp_free(&r);
    return j;
}

void h_fake_post(const struct h_stack *s, const char *path)
{
    char url[1024];
    struct h_resp r;

    snprintf(url, sizeof(url), "%s%s", s->fake_url, path);
    http_raw(url, "POST", NULL, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
}

void h_assert_error(const struct h_resp *r, long st, const char *code)
{
    json_t *j = json_loads(r->body, 0, NULL);
    json_int_t jst = 0;
    const char *jcode = NULL, *msg = NULL;

    if (r->status != st)
        fail_msg("want %ld %s, got %ld: %.300s", st, code, r->status, r->body);
    assert_non_null(j);
    assert_int_equal(json_unpack(j, "{s:{s:I,s:s,s:s}}", "error", "status",
                                 &jst, "code", &jcode, "message", &msg),
                     0);
    assert_int_equal(jst, st);
    assert_string_equal(jcode, code);
    assert_true(strlen(msg) > 0);
    assert_string_equal(r->content_type, "application/json");
    assert_true(strlen(r->request_id) > 0);
    json_decref(j);
}

/* ---- AMQP ---------------------------------------------------------------- */

amqp_connection_state_t h_amqp_connect(void)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(c);
    amqp_rpc_reply_t r;
    struct timeval tv = {10, 0};

    /* Bounded, so a stuck broker fails the test instead of hanging it. */
    assert_non_null(sock);
    assert_int_equal(
        amqp_socket_open_noblock(sock, "127.0.0.1", h_broker_port(), &tv),
        AMQP_STATUS_OK);
    amqp_set_rpc_timeout(c, &tv);
    r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest",
                   "guest");
    assert_int_equal(r.reply_type, AMQP_RESPONSE_NORMAL);
    amqp_channel_open(c, 1);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    return c;
}

long h_queue_consumers(void)
{
    amqp_connection_state_t c = h_amqp_connect();
    amqp_queue_declare_ok_t *ok;
    long n = -1;

    ok = amqp_queue_declare(c, 1, amqp_cstring_bytes("rpc-weather_service"), 1,
                            0, 0, 0, amqp_empty_table);
    if (ok != NULL)
        n = (long)ok->consumer_count;
    amqp_destroy_connection(c);
    return n;
}

int h_wait_consumers(long n, int timeout_ms)
{
    int waited;

    for (waited = 0; waited < timeout_ms; waited += 50) {
        if (h_queue_consumers() == n)
            return 0;
        usleep(50000);
    }
    return -1;
}

/* ---- conditions ---------------------------------------------------------- */

long h_status(const struct h_stack *s, const char *path)
{
    struct h_resp r;
    long st;

    h_http(s, "GET", path, NULL, &r);
    st = r.status;
    h_resp_free(&r);
    return st;
}

long h_wait_status(const struct h_stack *s, const char *path, long want,
                   int timeout_ms)
{
    long st = 0;
    int waited;

    for (waited = 0; waited < timeout_ms; waited += 100) {
        st = h_status(s, path);
        if (st == want)
            break;
        usleep(100000);
    }
    return st;
}

char *h_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL) {
            size_t got = fread(buf, 1, (size_t)n, f);
            buf[got] = '\0';
        }
    }
    fclose(f);
    return buf;
}

int h_wait_log(const struct h_stack *s, const char *name, const char *needle,
               int timeout_ms)
{
    char path[512];
    int waited;

    snprintf(path, sizeof(path), "%s/%s", s->logdir, name);
    for (waited = 0; waited <= timeout_ms; waited += 100) {
        char *text = h_read_file(path);
        int found = text != NULL && strstr(text, needle) != NULL;
        free(text);
        if (found)
            return 0;
        usleep(100000);
    }
    return -1;
}

char *h_raw_call(const char *method, const char *body,
                 const amqp_table_t *headers, const char *expiration,
                 int wait_ms)
{
    amqp_connection_state_t c = h_amqp_connect();
    amqp_basic_properties_t props;
    amqp_queue_declare_ok_t *q;
    amqp_envelope_t env;
    amqp_bytes_t qname;
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    char rk[128], key[40];
    char *out = NULL;

    snprintf(key, sizeof(key), "raw-%d-%ld", (int)getpid(), random());
    /* Server-named: a fixed exclusive name would race the broker's
     * cleanup of the previous call's connection. */
    q = amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1,
                           amqp_empty_table);
    assert_non_null(q);
    qname = amqp_bytes_malloc_dup(q->queue);
    amqp_queue_bind(c, 1, qname, amqp_cstring_bytes("nameko-rpc"),
                    amqp_cstring_bytes(key), amqp_empty_table);
    amqp_basic_consume(c, 1, qname, amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    amqp_bytes_free(qname);
    assert_int_equal(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_CORRELATION_ID_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_REPLY_TO_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.correlation_id = amqp_cstring_bytes("corr-raw-1");
    props.delivery_mode = 2; /* as Python Nameko sends */
    props.reply_to = amqp_cstring_bytes(key);
    if (headers != NULL) {
        props._flags |= AMQP_BASIC_HEADERS_FLAG;
        props.headers = *headers;
    }
    if (expiration != NULL) {
        props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
        props.expiration = amqp_cstring_bytes(expiration);
    }
    snprintf(rk, sizeof(rk), "weather_service.%s", method);
    assert_int_equal(amqp_basic_publish(c, 1, amqp_cstring_bytes("nameko-rpc"),
                                        amqp_cstring_bytes(rk), 0, 0, &props,
                                        amqp_cstring_bytes(body)),
                     AMQP_STATUS_OK);
    amqp_maybe_release_buffers(c);
    if (amqp_consume_message(c, &env, &tv, 0).reply_type ==
        AMQP_RESPONSE_NORMAL) {
        out = malloc(env.message.body.len + 1);
        assert_non_null(out);
        memcpy(out, env.message.body.bytes, env.message.body.len);
        out[env.message.body.len] = '\0';
        amqp_destroy_envelope(&env);
    }
    amqp_destroy_connection(c);
    return out;
}
