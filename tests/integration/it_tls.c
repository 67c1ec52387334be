/*
 * it_tls.c - amqps:// against the private broker's TLS listener
 * (scripts/broker.sh --tls: a CA and certificates made by
 * scripts/tls-certs.sh at run time, the server's valid for "localhost"
 * only): the whole stack answers over TLS; what the broker sees of the
 * daemons (client properties, capabilities, connection names) and a
 * capability at work (basic.cancel when the queue is deleted); a wrong
 * host name, an untrusted CA and the system store; mutual TLS; and the
 * start-up checks of AMQP_URL and the TLS files.
 */
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char tls_url[200], ip_url[200], ca[700], other_ca[700];
static char client_cert[700], client_key[700];
static char other_cert[700], other_key[700];
static char env_url[300], env_ip_url[300], env_ca[800], env_other_ca[800];
static char env_cert[800], env_key[800], env_other_cert[800],
    env_other_key[800], env_ssl_cert_file[800];

static int setup(void **state)
{
    const char *d = h_broker_tls_dir();
    int port = h_broker_tls_port();

    (void)state;
    snprintf(tls_url, sizeof(tls_url), "amqps://guest:guest@localhost:%d/",
             port);
    snprintf(ip_url, sizeof(ip_url), "amqps://guest:guest@127.0.0.1:%d/", port);
    snprintf(ca, sizeof(ca), "%s/ca.pem", d);
    snprintf(other_ca, sizeof(other_ca), "%s/other-ca.pem", d);
    snprintf(client_cert, sizeof(client_cert), "%s/client.pem", d);
    snprintf(client_key, sizeof(client_key), "%s/client.key", d);
    snprintf(other_cert, sizeof(other_cert), "%s/other-client.pem", d);
    snprintf(other_key, sizeof(other_key), "%s/other-client.key", d);
    snprintf(env_url, sizeof(env_url), "AMQP_URL=%s", tls_url);
    snprintf(env_ip_url, sizeof(env_ip_url), "AMQP_URL=%s", ip_url);
    snprintf(env_ca, sizeof(env_ca), "AMQP_CA_FILE=%s", ca);
    snprintf(env_other_ca, sizeof(env_other_ca), "AMQP_CA_FILE=%s", other_ca);
    snprintf(env_cert, sizeof(env_cert), "AMQP_CERT_FILE=%s", client_cert);
    snprintf(env_key, sizeof(env_key), "AMQP_KEY_FILE=%s", client_key);
    snprintf(env_other_cert, sizeof(env_other_cert), "AMQP_CERT_FILE=%s",
             other_cert);
    snprintf(env_other_key, sizeof(env_other_key), "AMQP_KEY_FILE=%s",
             other_key);
    snprintf(env_ssl_cert_file, sizeof(env_ssl_cert_file), "SSL_CERT_FILE=%s",
             ca);
    return 0;
}

/* The broker's connections, from rabbitmqctl as JSON. New reference. */
static json_t *list_connections(void)
{
    char cmd[1200], buf[65536];
    size_t got = 0, n;
    json_error_t e;
    json_t *j;
    FILE *p;

    snprintf(cmd, sizeof(cmd),
             "bash %s ctl %s list_connections ssl peer_cert_subject "
             "client_properties --formatter json 2>/dev/null",
             TEMPO_BROKER_SH, getenv("TEMPO_BROKER_DIR"));
    p = popen(cmd, "r");
    assert_non_null(p);
    while ((n = fread(buf + got, 1, sizeof(buf) - 1 - got, p)) > 0)
        got += n;
    buf[got] = '\0';
    pclose(p);
    j = json_loads(buf, 0, &e);
    if (!json_is_array(j))
        fail_msg("list_connections: not a JSON array: %.300s", buf);
    return j;
}

/* client_properties come as [[key, type, value], ...]. Borrowed. */
static json_t *prop(json_t *props, const char *key)
{
    size_t i;
    json_t *kv;

    json_array_foreach(props, i, kv)
    {
        if (strcmp(json_string_value(json_array_get(kv, 0)), key) == 0)
            return json_array_get(kv, 2);
    }
    return NULL;
}

/* The connection whose connection_name starts with prefix. Borrowed. */
static json_t *conn_named(json_t *conns, const char *prefix)
{
    size_t i;
    json_t *c;

    json_array_foreach(conns, i, c)
    {
        json_t *name =
            prop(json_object_get(c, "client_properties"), "connection_name");
        if (json_is_string(name) &&
            strncmp(json_string_value(name), prefix, strlen(prefix)) == 0)
            return c;
    }
    return NULL;
}

/* What the daemons tell the broker at login (issue 13 part 2). */
static void assert_tempo_login(json_t *conn, int want_ssl)
{
    json_t *props = json_object_get(conn, "client_properties");
    json_t *caps = prop(props, "capabilities");
    static const char *const want[] = {
        "consumer_cancel_notify", "connection.blocked", "publisher_confirms",
        "basic.nack", "authentication_failure_close"};
    size_t i;

    assert_int_equal(json_is_true(json_object_get(conn, "ssl")), want_ssl);
    assert_string_equal(json_string_value(prop(props, "product")), "tempo");
    assert_non_null(caps);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!json_is_true(prop(caps, want[i])))
            fail_msg("capability %s not advertised", want[i]);
}

static int wait_log(const char *path, const char *needle, int timeout_ms)
{
    int waited;

    for (waited = 0; waited < timeout_ms; waited += 100) {
        FILE *f = fopen(path, "r");
        char line[2048];
        int found = 0;
        if (f != NULL) {
            while (!found && fgets(line, sizeof(line), f) != NULL)
                found = strstr(line, needle) != NULL;
            fclose(f);
        }
        if (found)
            return 0;
        usleep(100000);
    }
    return -1;
}

static void logdir(struct h_stack *s, const char *name)
{
    char cmd[700];

    snprintf(s->logdir, sizeof(s->logdir), "%s/%s", TEMPO_TEST_LOGDIR, name);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && rm -f '%s'/*.log", s->logdir,
             s->logdir);
    assert_int_equal(system(cmd), 0);
}

/* A worker that must fail to connect, saying `why` in its log. */
static void worker_refused(const char *name, const char *const env[],
                           const char *why)
{
    struct h_stack s = {0};
    char log[600];

    logdir(&s, name);
    h_worker_start(&s, 0, env);
    snprintf(log, sizeof(log), "%s/worker0.log", s.logdir);
    if (wait_log(log, why, 15000) != 0)
        fail_msg("%s: no \"%s\" in %s", name, why, log);
    /* It never got as far as consuming. */
    assert_true(h_queue_consumers() <= 0);
    assert_int_equal(h_stop(s.workers[0], SIGTERM, 10000), 0);
}

static void test_stack_over_tls(void **state)
{
    const char *const env[] = {env_url, env_ca, NULL};
    struct h_stack s = {0};
    json_t *conns;
    int i;

    (void)state;
    h_stack_start(&s, "tls-e2e", 1, env, env);
    for (i = 0; i < 5; i++) {
        struct h_resp r;
        h_http(&s, "GET", "/weather?city=London", NULL, &r);
        if (r.status != 200)
            fail_msg("over TLS: %ld %s", r.status, r.body);
        h_resp_free(&r);
    }
    conns = list_connections();
    if (conn_named(conns, "gateway ") == NULL ||
        conn_named(conns, "weather-service ") == NULL)
        fail_msg("connections: %s", json_dumps(conns, 0));
    assert_tempo_login(conn_named(conns, "gateway "), 1);
    assert_tempo_login(conn_named(conns, "weather-service "), 1);
    json_decref(conns);
    h_stack_stop(&s);
}

/* Over plain AMQP the login is the same. */
static void test_client_properties_plain(void **state)
{
    struct h_stack s = {0};
    json_t *conns, *c;
    char name[64];

    (void)state;
    logdir(&s, "tls-props");
    h_worker_start(&s, 0, NULL);
    assert_int_equal(h_wait_consumers(1, 15000), 0);
    conns = list_connections();
    c = conn_named(conns, "weather-service ");
    assert_non_null(c);
    assert_tempo_login(c, 0);
    /* The name carries the host and pid, so an operator can find it. */
    snprintf(name, sizeof(name), ":%d", (int)s.workers[0]);
    assert_non_null(
        strstr(json_string_value(prop(json_object_get(c, "client_properties"),
                                      "connection_name")),
               name));
    json_decref(conns);
    assert_int_equal(h_stop(s.workers[0], SIGTERM, 10000), 0);
}

/* consumer_cancel_notify at work: the broker tells the worker that its
 * queue was deleted (basic.cancel), and the worker declares it again and
 * consumes, by itself.  Without the capability the broker says nothing and
 * the worker idles for good. */
static void test_consumer_cancel_notify(void **state)
{
    struct h_stack s = {0};

    (void)state;
    h_stack_start(&s, "tls-cancel", 1, NULL, NULL);
    assert_int_equal(h_broker_ctl("delete_queue rpc-weather_service"), 0);
    if (h_wait_consumers(1, 20000) != 0)
        fail_msg("the worker did not consume again (logs in %s)", s.logdir);
    h_stack_stop(&s);
}

/* The certificate names "localhost"; 127.0.0.1 is not it. */
static void test_wrong_host_name(void **state)
{
    const char *const env[] = {env_ip_url, env_ca, NULL};
    const char *gargv[] = {TEMPO_GATEWAY_BIN, NULL};
    char genv_port[64], log[600];
    const char *genv[] = {
        env_ip_url,        env_ca, "GATEWAY_ADDR=127.0.0.1", genv_port,
        "LOG_LEVEL=debug", NULL};
    struct h_stack s = {0};
    struct h_resp r;

    (void)state;
    worker_refused("tls-wrong-host", env,
                   "certificate is not valid for 127.0.0.1");

    /* The gateway too: not ready, and it says why. */
    logdir(&s, "tls-wrong-host-gw");
    s.gateway_port = h_free_port();
    snprintf(genv_port, sizeof(genv_port), "GATEWAY_PORT=%d", s.gateway_port);
    snprintf(s.base, sizeof(s.base), "http://127.0.0.1:%d", s.gateway_port);
    snprintf(log, sizeof(log), "%s/gateway.log", s.logdir);
    s.gateway = h_spawn(gargv, genv, log);
    if (wait_log(log, "certificate is not valid for 127.0.0.1", 15000) != 0)
        fail_msg("no host-name error in %s", log);
    h_http(&s, "GET", "/readyz", NULL, &r);
    assert_int_equal(r.status, 503);
    h_resp_free(&r);
    assert_int_equal(h_stop(s.gateway, SIGTERM, 10000), 0);
}

static void test_untrusted_ca(void **state)
{
    const char *const env[] = {env_url, env_other_ca, NULL};

    (void)state;
    worker_refused("tls-untrusted-ca", env,
                   "TLS: certificate verify failed: self-signed certificate "
                   "in certificate chain");
}

/* Without AMQP_CA_FILE the system store decides: the test CA is not in
 * it (refused), unless OpenSSL is pointed at it (SSL_CERT_FILE). */
static void test_system_store(void **state)
{
    const char *const bare[] = {env_url, NULL};
    const char *const via_env[] = {env_url, env_ssl_cert_file, NULL};
    struct h_stack s = {0};

    (void)state;
    worker_refused("tls-system-store", bare, "the system CA store");
    logdir(&s, "tls-system-store-ok");
    h_worker_start(&s, 0, via_env);
    assert_int_equal(h_wait_consumers(1, 15000), 0);
    assert_int_equal(h_stop(s.workers[0], SIGTERM, 10000), 0);
}

static void test_mutual_tls(void **state)
{
    const char *const good[] = {env_url, env_ca, env_cert, env_key, NULL};
    const char *const bad[] = {env_url, env_ca, env_other_cert, env_other_key,
                               NULL};
    struct h_stack s = {0};
    json_t *conns, *c;

    (void)state;
    logdir(&s, "tls-mutual");
    h_worker_start(&s, 0, good);
    assert_int_equal(h_wait_consumers(1, 15000), 0);
    conns = list_connections();
    c = conn_named(conns, "weather-service ");
    assert_non_null(c);
    assert_non_null(
        strstr(json_string_value(json_object_get(c, "peer_cert_subject")),
               "CN=tempo-test-client"));
    json_decref(conns);
    assert_int_equal(h_stop(s.workers[0], SIGTERM, 10000), 0);

    /* A client certificate from another CA: the broker refuses it. */
    worker_refused("tls-mutual-bad", bad, "login: a SSL error occurred (TLS: ");
}

static int run_check(const char *const env[], char *out, size_t cap)
{
    const char *argv[] = {TEMPO_WORKER_BIN, "--check-config", NULL};

    return h_run(argv, env, out, cap);
}

/* One line on stderr naming the setting, exit 2, nothing secret. */
static void check_refused(const char *const env[], const char *setting)
{
    char out[4096];

    if (run_check(env, out, sizeof(out)) != 2)
        fail_msg("want exit 2 for %s, got: %s", setting, out);
    assert_non_null(strstr(out, setting));
    assert_null(strchr(strchr(out, '\n') + 1, '\n'));
    assert_null(strstr(out, "s3kr1t"));
}

static void test_start_up_checks(void **state)
{
    static const char *const bad_urls[] = {
        "AMQP_URL=http://u:s3kr1t@h/",
        "AMQP_URL=amqp://u:s3kr1t@h:99999/",
        "AMQP_URL=amqp://u:s3kr1t@:5672/",
        "AMQP_URL=amqp://u:pa,s3kr1t@h/",
        "AMQP_URL=amqp://u:s3kr1t@h/?heartbeat=5",
    };
    const char *env[4] = {NULL, NULL, NULL, NULL};
    char out[4096], cert_only[800], unreadable[] = "AMQP_CA_FILE=/nonexistent";
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        env[0] = bad_urls[i];
        env[1] = NULL;
        check_refused(env, "AMQP_URL");
    }
    env[0] = "AMQP_URL=amqp://u:pa,s3kr1t@h/";
    run_check(env, out, sizeof(out));
    assert_non_null(strstr(out, "%2C"));

    env[0] = unreadable;
    check_refused(env, "AMQP_CA_FILE");
    snprintf(cert_only, sizeof(cert_only), "AMQP_CERT_FILE=%s", client_cert);
    env[0] = cert_only;
    check_refused(env, "AMQP_KEY_FILE");
    /* A key that is not the certificate's. */
    env[0] = env_cert;
    env[1] = env_other_key;
    check_refused(env, "AMQP_KEY_FILE");

    /* Good settings: exit 0, the password masked even with a %2C. */
    env[0] = "AMQP_URL=amqps://u:s3kr1t%2Cx@localhost/, amqp://v:s3kr1t@h2";
    env[1] = env_ca;
    env[2] = NULL;
    assert_int_equal(run_check(env, out, sizeof(out)), 0);
    assert_non_null(
        strstr(out, "AMQP_URL=amqps://u:*@localhost/, amqp://v:*@h2\n"));
    assert_non_null(strstr(out, env_ca));
    assert_null(strstr(out, "s3kr1t"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stack_over_tls, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_client_properties_plain,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_consumer_cancel_notify,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_wrong_host_name, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_untrusted_ca, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_system_store, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_mutual_tls, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_start_up_checks, h_kill_all_teardown),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
