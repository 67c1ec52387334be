/*
 * it_ops.c - what an operator sees: the request id traced through both
 * daemons' logs, JSON log lines, and the command line (--help, --version,
 * --check-config, invalid configuration -> exit 2), with secrets never
 * printed anywhere.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* Reads a whole file (malloc'd, NUL-terminated). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Counts the JSON log lines of a file carrying request_id == id, checking
 * that every line is one JSON object with the documented keys. */
static int json_lines_with_id(const char *path, const char *daemon,
                              const char *id)
{
    char *text = slurp(path), *line, *save = NULL;
    int hits = 0;

    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        const char *t = NULL, *lvl = NULL, *d = NULL, *msg = NULL;
        json_t *rid;
        if (j == NULL)
            fail_msg("%s: not a JSON line: %s", path, line);
        assert_int_equal(json_unpack(j, "{s:s,s:s,s:s,s:s}", "time", &t,
                                     "level", &lvl, "daemon", &d, "message",
                                     &msg),
                         0);
        assert_string_equal(d, daemon);
        rid = json_object_get(j, "request_id");
        if (rid != NULL && strcmp(json_string_value(rid), id) == 0)
            hits++;
        json_decref(j);
    }
    free(text);
    return hits;
}

static void test_request_id_in_both_json_logs(void **state)
{
    static const char *const env[] = {"LOG_FORMAT=json", NULL};
    static const char *const hdr[] = {"X-Request-Id: trace-42.ops", NULL};
    struct h_stack s = {0};
    struct h_resp r;
    char path[600];

    (void)state;
    h_stack_start(&s, "ops-json", 1, env, env);
    h_http(&s, "GET", "/weather?city=Oslo", hdr, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.request_id, "trace-42.ops");
    h_resp_free(&r);
    h_http(&s, "GET", "/weather?city=Atlantis", hdr, &r);
    assert_int_equal(r.status, 404);
    h_resp_free(&r);
    h_stack_stop(&s);

    snprintf(path, sizeof(path), "%s/gateway.log", s.logdir);
    assert_true(json_lines_with_id(path, "gateway", "trace-42.ops") >= 1);
    snprintf(path, sizeof(path), "%s/worker0.log", s.logdir);
    assert_true(json_lines_with_id(path, "weather-service", "trace-42.ops") >=
                1);
}

static void test_request_id_in_text_logs(void **state)
{
    static const char *const hdr[] = {"X-Request-Id: trace-text-7", NULL};
    struct h_stack s = {0};
    struct h_resp r;
    char path[600], *text;

    (void)state;
    h_stack_start(&s, "ops-text", 1, NULL, NULL);
    h_http(&s, "GET", "/weather?city=Errorville", hdr, &r);
    assert_int_equal(r.status, 502);
    h_resp_free(&r);
    h_stack_stop(&s);
    snprintf(path, sizeof(path), "%s/gateway.log", s.logdir);
    text = slurp(path);
    assert_non_null(strstr(text, "req=trace-text-7"));
    free(text);
    snprintf(path, sizeof(path), "%s/worker0.log", s.logdir);
    text = slurp(path);
    assert_non_null(strstr(text, "req=trace-text-7"));
    free(text);
}

/* Runs a binary with env and args; captures stdout+stderr; returns exit. */
static int run(const char *bin, const char *const env[],
               const char *const args[], char *out, size_t cap)
{
    const char *argv[16];
    int n = 0;

    argv[n++] = bin;
    for (; args != NULL && *args != NULL && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return h_run(argv, env, out, cap);
}

static void test_cli(void **state)
{
    static const char *const secrets[] = {
        "AMQP_URL=amqp://admin:hunter2pw@broker:5672/",
        "OPENWEATHER_API_KEY=owm-secret-key-123", "SPOTIFY_CLIENT_ID=sp-id-456",
        "SPOTIFY_CLIENT_SECRET=sp-secret-789", NULL};
    static const char *const help[] = {"--help", NULL};
    static const char *const version[] = {"--version", NULL};
    static const char *const check[] = {"--check-config", NULL};
    static const char *const bad_flag[] = {"--rpc-timeout-ms", "5s", NULL};
    static const char *const bad_env[] = {"GATEWAY_PORT=70000", NULL};
    static const char *const bad_secret[] = {"--openweather-api-key", NULL};
    char out[16384];

    (void)state;
    assert_int_equal(run(TEMPO_GATEWAY_BIN, secrets, help, out, sizeof(out)),
                     0);
    assert_non_null(strstr(out, "RPC_TIMEOUT_MS"));
    assert_non_null(strstr(out, "--gateway-port"));
    assert_int_equal(run(TEMPO_WORKER_BIN, secrets, help, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "WORKER_CONCURRENCY"));
    assert_non_null(strstr(out, "SPOTIFY_CLIENT_SECRET"));
    assert_null(strstr(out, "sp-secret-789"));

    assert_int_equal(run(TEMPO_GATEWAY_BIN, NULL, version, out, sizeof(out)),
                     0);
    assert_true(strncmp(out, "gateway ", 8) == 0);

    assert_int_equal(run(TEMPO_WORKER_BIN, secrets, check, out, sizeof(out)),
                     0);
    assert_non_null(strstr(out, "WEATHER_PROVIDER=openweathermap"));
    assert_non_null(strstr(out, "MUSIC_PROVIDER=spotify"));
    assert_non_null(strstr(out, "AMQP_URL=amqp://admin:*@broker:5672/"));
    assert_null(strstr(out, "hunter2pw"));
    assert_null(strstr(out, "owm-secret-key-123"));
    assert_null(strstr(out, "sp-id-456"));
    assert_null(strstr(out, "sp-secret-789"));
    assert_int_equal(run(TEMPO_GATEWAY_BIN, secrets, check, out, sizeof(out)),
                     0);
    assert_non_null(strstr(out, "GATEWAY_PORT=5000"));
    assert_null(strstr(out, "hunter2pw"));

    /* Invalid values: one line on stderr, exit 2, before doing anything. */
    assert_int_equal(run(TEMPO_GATEWAY_BIN, NULL, bad_flag, out, sizeof(out)),
                     2);
    assert_non_null(strstr(out, "RPC_TIMEOUT_MS"));
    assert_non_null(strchr(out, '\n'));
    assert_null(strchr(strchr(out, '\n') + 1, '\n'));
    assert_int_equal(run(TEMPO_GATEWAY_BIN, bad_env, NULL, out, sizeof(out)),
                     2);
    assert_non_null(strstr(out, "GATEWAY_PORT"));
    assert_int_equal(
        run(TEMPO_WORKER_BIN, secrets, bad_secret, out, sizeof(out)), 2);
    assert_null(strstr(out, "owm-secret-key-123"));
}

/* Issue 12 items 7 and 8 on the real binaries: values that can never work
 * exit 2 with one line naming the setting; secrets can come from files. */
static void test_cli_validation_and_secret_files(void **state)
{
    static const char *const check[] = {"--check-config", NULL};
    static const struct {
        const char *bin, *env, *name;
    } bad[] = {
        {TEMPO_WORKER_BIN, "OPENWEATHER_URL=file:///etc/passwd",
         "OPENWEATHER_URL"},
        {TEMPO_WORKER_BIN, "OPEN_METEO_URL=gopher://127.0.0.1:70/",
         "OPEN_METEO_URL"},
        {TEMPO_WORKER_BIN, "SPOTIFY_API_URL=ftp://example.com/",
         "SPOTIFY_API_URL"},
        {TEMPO_WORKER_BIN, "OPEN_METEO_GEOCODING_URL=geocoding.example.com",
         "OPEN_METEO_GEOCODING_URL"},
        {TEMPO_WORKER_BIN, "WORKER_ID=w\xff", "WORKER_ID"},
        {TEMPO_GATEWAY_BIN, "GATEWAY_ADDR=not-an-address", "GATEWAY_ADDR"},
        {TEMPO_GATEWAY_BIN, "TRUSTED_PROXIES=10.0.0.0/40", "TRUSTED_PROXIES"},
    };
    char out[16384], path[300], envs[3][400];
    const char *env[4];
    size_t i;
    FILE *f;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        env[0] = bad[i].env;
        env[1] = NULL;
        if (run(bad[i].bin, env, check, out, sizeof(out)) != 2)
            fail_msg("%s: want exit 2, got: %s", bad[i].env, out);
        assert_non_null(strstr(out, bad[i].name));
        assert_null(strchr(strchr(out, '\n') + 1, '\n')); /* one line */
    }
    /* The gateway used to exit 1 on a bad address, and only at listen. */
    env[0] = "GATEWAY_ADDR=999.1.1.1";
    env[1] = NULL;
    assert_int_equal(run(TEMPO_GATEWAY_BIN, env, NULL, out, sizeof(out)), 2);

    /* Secrets from files (Docker secrets), never printed. */
    snprintf(path, sizeof(path), "%s/it_ops-owm-key", TEMPO_TEST_LOGDIR);
    assert_int_equal(system("mkdir -p '" TEMPO_TEST_LOGDIR "'"), 0);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("file-owm-key-321\n", f);
    fclose(f);
    snprintf(envs[0], sizeof(envs[0]), "OPENWEATHER_API_KEY_FILE=%s", path);
    env[0] = envs[0];
    env[1] = "OPENWEATHER_URL=https://proxy:url-pw-654@owm.example/";
    env[2] = NULL;
    assert_int_equal(run(TEMPO_WORKER_BIN, env, check, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "WEATHER_PROVIDER=openweathermap"));
    assert_non_null(strstr(out, "OPENWEATHER_API_KEY=(set)"));
    assert_non_null(
        strstr(out, "OPENWEATHER_URL=https://proxy:*@owm.example/"));
    assert_null(strstr(out, "file-owm-key-321"));
    assert_null(strstr(out, "url-pw-654"));
    /* Both the variable and its file: refused. */
    env[1] = "OPENWEATHER_API_KEY=k";
    assert_int_equal(run(TEMPO_WORKER_BIN, env, check, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "OPENWEATHER_API_KEY_FILE"));
    unlink(path);
    env[1] = NULL;
    assert_int_equal(run(TEMPO_WORKER_BIN, env, check, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "OPENWEATHER_API_KEY_FILE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_request_id_in_both_json_logs,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_request_id_in_text_logs,
                                  h_kill_all_teardown),
        cmocka_unit_test_teardown(test_cli, h_kill_all_teardown),
        cmocka_unit_test_teardown(test_cli_validation_and_secret_files,
                                  h_kill_all_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
