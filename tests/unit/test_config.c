/*
 * test_config.c - configuration as an operator meets it (config.h, SPEC
 * section 4): defaults, environment, flags, bounds, providers, and secrets
 * that never show up in --check-config, --help or error lines.
 *
 * cfg_load writes to stdout/stderr; each call here runs with fds 1 and 2
 * redirected to temporary files, which are then read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const all_env[] = {
    "AMQP_URL",
    "AMQP_CA_FILE",
    "AMQP_CERT_FILE",
    "AMQP_KEY_FILE",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "GATEWAY_ADDR",
    "GATEWAY_PORT",
    "RPC_TIMEOUT_MS",
    "HTTP_MAX_CONNECTIONS",
    "HTTP_MAX_PER_IP",
    "HTTP_IDLE_TIMEOUT_S",
    "DRAIN_TIMEOUT_MS",
    "WORKER_CONCURRENCY",
    "METRICS_PORT",
    "WEATHER_PROVIDER",
    "OPENWEATHER_API_KEY",
    "OPENWEATHER_URL",
    "OPEN_METEO_URL",
    "OPEN_METEO_GEOCODING_URL",
    "MUSIC_PROVIDER",
    "SPOTIFY_CLIENT_ID",
    "SPOTIFY_CLIENT_SECRET",
    "SPOTIFY_API_URL",
    "SPOTIFY_ACCOUNTS_URL",
    "PLAYLIST_SIZE",
    "WEATHER_CACHE_TTL_S",
    "MUSIC_POOL_TTL_S",
    "UPSTREAM_TIMEOUT_MS",
    "UPSTREAM_RETRIES",
    "WORKER_ID",
    "HTTP_HEADER_TIMEOUT_MS",
    "HTTP_MAX_HEADER_BYTES",
    "RATE_LIMIT_RPS",
    "RATE_LIMIT_BURST",
    "TRUSTED_PROXIES",
    "AMQP_URL_FILE",
    "OPENWEATHER_API_KEY_FILE",
    "SPOTIFY_CLIENT_ID_FILE",
    "SPOTIFY_CLIENT_SECRET_FILE",
    "GATEWAY_PORT_FILE",
};

static int clean_env(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(all_env) / sizeof(all_env[0]); i++)
        unsetenv(all_env[i]);
    return 0;
}

/* What one cfg_load printed. */
struct run {
    enum cfg_result rc;
    char out[32768];
    char err[8192];
};

static void slurp(FILE *f, char *buf, size_t cap)
{
    size_t n;

    rewind(f);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs cfg_load(prog, argv...) with stdout and stderr captured.  argv
 * excludes the program name and ends with NULL. */
static void load(struct config *cfg, int who, const char *const *args,
                 struct run *r)
{
    static const char *const none[] = {NULL};
    char *argv[32];
    FILE *out = tmpfile(), *err = tmpfile();
    int argc = 0, saved_out, saved_err, i;

    assert_non_null(out);
    assert_non_null(err);
    if (args == NULL)
        args = none;
    argv[argc++] = strdup(who == CFG_GATEWAY ? "gateway" : "weather-service");
    for (i = 0; args[i] != NULL && argc < 31; i++)
        argv[argc++] = strdup(args[i]);
    argv[argc] = NULL;

    fflush(stdout);
    fflush(stderr);
    saved_out = dup(STDOUT_FILENO);
    saved_err = dup(STDERR_FILENO);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(err), STDERR_FILENO);
    r->rc = cfg_load(cfg, who, argv[0], "1.2.3", argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);

    slurp(out, r->out, sizeof(r->out));
    slurp(err, r->err, sizeof(r->err));
    for (i = 0; i < argc; i++)
        free(argv[i]);
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* CFG_ERROR with exactly one stderr line that contains `what`. */
static void expect_error(int who, const char *const *args, const char *what)
{
    struct config cfg;
    struct run r;

    load(&cfg, who, args, &r);
    cfg_free(&cfg);
    if (r.rc != CFG_ERROR)
        fail_msg("accepted (rc %d), expected an error about %s", r.rc, what);
    assert_int_equal(count_lines(r.err), 1);
    assert_true(r.err[strlen(r.err) - 1] == '\n');
    if (strstr(r.err, what) == NULL)
        fail_msg("error line \"%s\" does not name %s", r.err, what);
    assert_string_equal(r.out, "");
}

static void test_defaults_gateway(void **state)
{
    struct config cfg;
    struct run r;

    (void)state;
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_string_equal(r.err, "");
    assert_string_equal(r.out, "");
    assert_string_equal(cfg.amqp_url, "amqp://guest:guest@localhost:5672/");
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.log_json, 0);
    assert_string_equal(cfg.gateway_addr, "0.0.0.0");
    assert_int_equal(cfg.gateway_port, 5000);
    assert_int_equal(cfg.rpc_timeout_ms, 5000);
    cfg_free(&cfg);
    cfg_free(&cfg); /* pointers were reset: twice is harmless */
}

static void test_defaults_worker(void **state)
{
    struct config cfg;
    struct run r;
    char pid[32];

    (void)state;
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.worker_concurrency, 16);
    assert_int_equal(cfg.playlist_size, 10);
    assert_int_equal(cfg.weather_cache_ttl_s, 600);
    assert_int_equal(cfg.music_pool_ttl_s, 3600);
    assert_int_equal(cfg.upstream_timeout_ms, 3000);
    assert_int_equal(cfg.weather_provider, WEATHER_OPEN_METEO);
    assert_int_equal(cfg.music_provider, MUSIC_CATALOG);
    assert_string_equal(cfg.openweather_url, "https://api.openweathermap.org");
    assert_string_equal(cfg.open_meteo_url, "https://api.open-meteo.com");
    assert_string_equal(cfg.open_meteo_geocoding_url,
                        "https://geocoding-api.open-meteo.com");
    assert_string_equal(cfg.spotify_api_url, "https://api.spotify.com");
    assert_string_equal(cfg.spotify_accounts_url,
                        "https://accounts.spotify.com");
    assert_string_equal(cfg.openweather_api_key, "");
    /* worker = "<host>:<pid>" */
    snprintf(pid, sizeof(pid), ":%d", (int)getpid());
    assert_non_null(strstr(cfg.worker_id, pid));
    cfg_free(&cfg);
}

static void test_env_overrides(void **state)
{
    struct config cfg;
    struct run r;

    (void)state;
    setenv("GATEWAY_PORT", "8080", 1);
    setenv("RPC_TIMEOUT_MS", "250", 1);
    setenv("LOG_LEVEL", "debug", 1);
    setenv("LOG_FORMAT", "json", 1);
    setenv("GATEWAY_ADDR", "127.0.0.1", 1);
    setenv("AMQP_URL", "amqp://a:b@rabbit:5673/", 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.gateway_port, 8080);
    assert_int_equal(cfg.rpc_timeout_ms, 250);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(cfg.log_json, 1);
    assert_string_equal(cfg.gateway_addr, "127.0.0.1");
    assert_string_equal(cfg.amqp_url, "amqp://a:b@rabbit:5673/");
    cfg_free(&cfg);

    setenv("WORKER_CONCURRENCY", "4", 1);
    setenv("PLAYLIST_SIZE", "50", 1);
    setenv("WEATHER_CACHE_TTL_S", "0", 1);
    setenv("WORKER_ID", "w1", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.worker_concurrency, 4);
    assert_int_equal(cfg.playlist_size, 50);
    assert_int_equal(cfg.weather_cache_ttl_s, 0);
    assert_string_equal(cfg.worker_id, "w1");
    cfg_free(&cfg);
}

static void test_other_daemons_env_ignored(void **state)
{
    struct config cfg;
    struct run r;

    (void)state;
    /* The gateway does not read the worker's variables (and vice versa),
     * so one .env file can serve both. */
    setenv("PLAYLIST_SIZE", "lots", 1);
    setenv("WEATHER_PROVIDER", "nope", 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    cfg_free(&cfg);
    unsetenv("PLAYLIST_SIZE");
    unsetenv("WEATHER_PROVIDER");
    setenv("GATEWAY_PORT", "none", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    cfg_free(&cfg);
}

static void test_flag_wins_over_env(void **state)
{
    static const char *const eq[] = {"--gateway-port=9090", NULL};
    static const char *const sp[] = {"--gateway-port", "9091", "--log-level",
                                     "warn", NULL};
    static const char *const twice[] = {"--gateway-port=1", "--gateway-port=2",
                                        NULL};
    static const char *const emptyv[] = {"--gateway-addr=", NULL};
    struct config cfg;
    struct run r;

    (void)state;
    setenv("GATEWAY_PORT", "8080", 1);
    setenv("LOG_LEVEL", "debug", 1);
    load(&cfg, CFG_GATEWAY, eq, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.gateway_port, 9090);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    cfg_free(&cfg);

    load(&cfg, CFG_GATEWAY, sp, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.gateway_port, 9091);
    assert_int_equal(cfg.log_level, LOG_WARN);
    cfg_free(&cfg);

    load(&cfg, CFG_GATEWAY, twice, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.gateway_port, 2);
    cfg_free(&cfg);

    /* An empty flag value is a value (only empty variables are unset),
     * and no address. */
    expect_error(CFG_GATEWAY, emptyv, "GATEWAY_ADDR");
}

static void test_number_bounds(void **state)
{
    static const char *const bad[] = {
        "0",   "70000", "65536", "5s",  "",    " 5",
        "+5",  "-1",    "\t5",   "5 ",  "\n5", "0x10",
        "1e3", "5.0",   "-",     "--5", "-0",  "99999999999999999999999999",
    };
    static const char *const good[] = {"1", "65535", "080"};
    struct config cfg;
    struct run r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char flag[64];
        const char *args[] = {flag, NULL};

        if (bad[i][0] != '\0') { /* an empty variable counts as unset */
            setenv("GATEWAY_PORT", bad[i], 1);
            expect_error(CFG_GATEWAY, NULL, "GATEWAY_PORT");
            unsetenv("GATEWAY_PORT");
        }
        snprintf(flag, sizeof(flag), "--gateway-port=%s", bad[i]);
        expect_error(CFG_GATEWAY, args, "GATEWAY_PORT");
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        setenv("GATEWAY_PORT", good[i], 1);
        load(&cfg, CFG_GATEWAY, NULL, &r);
        if (r.rc != CFG_OK)
            fail_msg("GATEWAY_PORT=%s rejected: %s", good[i], r.err);
        cfg_free(&cfg);
    }
    unsetenv("GATEWAY_PORT");
    /* Empty environment values are unset: defaults apply. */
    setenv("GATEWAY_PORT", "", 1);
    setenv("LOG_LEVEL", "", 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.gateway_port, 5000);
    cfg_free(&cfg);
    unsetenv("GATEWAY_PORT");
    unsetenv("LOG_LEVEL");
    setenv("PLAYLIST_SIZE", "51", 1);
    expect_error(CFG_WORKER, NULL, "PLAYLIST_SIZE");
    setenv("PLAYLIST_SIZE", "0", 1);
    expect_error(CFG_WORKER, NULL, "PLAYLIST_SIZE");
    setenv("PLAYLIST_SIZE", "1", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.playlist_size, 1);
    cfg_free(&cfg);
    unsetenv("PLAYLIST_SIZE");
    /* The pool's TTL: 10 s .. 1 day (a shorter one would hammer Spotify). */
    setenv("MUSIC_POOL_TTL_S", "9", 1);
    expect_error(CFG_WORKER, NULL, "MUSIC_POOL_TTL_S");
    setenv("MUSIC_POOL_TTL_S", "86401", 1);
    expect_error(CFG_WORKER, NULL, "MUSIC_POOL_TTL_S");
    setenv("MUSIC_POOL_TTL_S", "10", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.music_pool_ttl_s, 10);
    cfg_free(&cfg);
    unsetenv("MUSIC_POOL_TTL_S");
    setenv("RPC_TIMEOUT_MS", "5000ms", 1);
    expect_error(CFG_GATEWAY, NULL, "RPC_TIMEOUT_MS");
}

static void test_error_line_cannot_be_forged(void **state)
{
    (void)state;
    /* A newline in a bad value stays on the one error line. */
    setenv("LOG_LEVEL", "info\nFAKE: everything is fine", 1);
    expect_error(CFG_GATEWAY, NULL, "LOG_LEVEL");
    setenv("LOG_LEVEL", "loud", 1);
    expect_error(CFG_GATEWAY, NULL, "LOG_LEVEL");
    unsetenv("LOG_LEVEL");
    setenv("LOG_FORMAT", "xml", 1);
    expect_error(CFG_GATEWAY, NULL, "LOG_FORMAT");
}

static void test_unknown_provider(void **state)
{
    (void)state;
    setenv("WEATHER_PROVIDER", "accuweather", 1);
    expect_error(CFG_WORKER, NULL, "WEATHER_PROVIDER");
    unsetenv("WEATHER_PROVIDER");
    setenv("MUSIC_PROVIDER", "deezer", 1);
    expect_error(CFG_WORKER, NULL, "MUSIC_PROVIDER");
    unsetenv("MUSIC_PROVIDER");
    {
        static const char *const args[] = {"--weather-provider", "", NULL};
        expect_error(CFG_WORKER, args, "WEATHER_PROVIDER");
    }
}

static void test_provider_needs_credentials(void **state)
{
    struct config cfg;
    struct run r;

    (void)state;
    setenv("WEATHER_PROVIDER", "openweathermap", 1);
    expect_error(CFG_WORKER, NULL, "OPENWEATHER_API_KEY");
    setenv("OPENWEATHER_API_KEY", "k", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.weather_provider, WEATHER_OWM);
    cfg_free(&cfg);
    clean_env(NULL);

    setenv("MUSIC_PROVIDER", "spotify", 1);
    expect_error(CFG_WORKER, NULL, "SPOTIFY_CLIENT_SECRET");
    setenv("SPOTIFY_CLIENT_ID", "id", 1);
    expect_error(CFG_WORKER, NULL, "SPOTIFY_CLIENT_SECRET");
    setenv("SPOTIFY_CLIENT_SECRET", "s", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.music_provider, MUSIC_SPOTIFY);
    cfg_free(&cfg);
}

static void test_auto_resolution(void **state)
{
    struct config cfg;
    struct run r;

    (void)state;
    /* Keys present: the keyed providers. */
    setenv("OPENWEATHER_API_KEY", "k", 1);
    setenv("SPOTIFY_CLIENT_ID", "i", 1);
    setenv("SPOTIFY_CLIENT_SECRET", "s", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.weather_provider, WEATHER_OWM);
    assert_int_equal(cfg.music_provider, MUSIC_SPOTIFY);
    cfg_free(&cfg);

    /* An explicit choice beats auto even with keys set. */
    setenv("WEATHER_PROVIDER", "open-meteo", 1);
    setenv("MUSIC_PROVIDER", "catalog", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(cfg.weather_provider, WEATHER_OPEN_METEO);
    assert_int_equal(cfg.music_provider, MUSIC_CATALOG);
    cfg_free(&cfg);

    /* Half of Spotify's credentials is none: the catalog. */
    clean_env(NULL);
    setenv("SPOTIFY_CLIENT_SECRET", "s", 1);
    setenv("WEATHER_PROVIDER", "auto", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.weather_provider, WEATHER_OPEN_METEO);
    assert_int_equal(cfg.music_provider, MUSIC_CATALOG);
    cfg_free(&cfg);
}

#define SECRET_OWM "owm-s3kr1t-1a2b3c"
#define SECRET_SP_ID "spid-s3kr1t-4d5e"
#define SECRET_SP "sp-s3kr1t-6f7a8b"
#define SECRET_AMQP "amqp-s3kr1t-9c0d"

static void set_secrets(void)
{
    setenv("OPENWEATHER_API_KEY", SECRET_OWM, 1);
    setenv("SPOTIFY_CLIENT_ID", SECRET_SP_ID, 1);
    setenv("SPOTIFY_CLIENT_SECRET", SECRET_SP, 1);
    setenv("AMQP_URL",
           "amqp://tempo:" SECRET_AMQP
           "@rabbit-1:5672/,amqp://tempo:" SECRET_AMQP "@rabbit-2:5672/",
           1);
}

static void assert_no_secret(const char *s)
{
    assert_null(strstr(s, "s3kr1t"));
}

static void test_check_config_masks_secrets(void **state)
{
    static const char *const check[] = {"--check-config", NULL};
    struct config cfg;
    struct run r;

    (void)state;
    set_secrets();
    load(&cfg, CFG_WORKER, check, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_EXIT);
    assert_no_secret(r.out);
    assert_no_secret(r.err);
    assert_non_null(strstr(r.out, "OPENWEATHER_API_KEY=(set)\n"));
    assert_non_null(strstr(r.out, "SPOTIFY_CLIENT_SECRET=(set)\n"));
    assert_non_null(strstr(r.out, "AMQP_URL=amqp://tempo:*@rabbit-1:5672/,"
                                  "amqp://tempo:*@rabbit-2:5672/\n"));
    assert_non_null(strstr(r.out, "WEATHER_PROVIDER=openweathermap\n"));
    assert_non_null(strstr(r.out, "PLAYLIST_SIZE=10\n"));
    assert_null(strstr(r.out, "GATEWAY_PORT")); /* not the worker's */

    load(&cfg, CFG_GATEWAY, check, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_EXIT);
    assert_no_secret(r.out);
    assert_non_null(strstr(r.out, "GATEWAY_PORT=5000\n"));
    assert_null(strstr(r.out, "OPENWEATHER"));

    /* Unset secrets say so. */
    clean_env(NULL);
    load(&cfg, CFG_WORKER, check, &r);
    cfg_free(&cfg);
    assert_non_null(strstr(r.out, "OPENWEATHER_API_KEY=(unset)\n"));
    assert_non_null(strstr(r.out, "AMQP_URL=amqp://guest:*@localhost:5672/\n"));
}

static void test_help_and_version(void **state)
{
    static const char *const help[] = {"--help", NULL};
    static const char *const h[] = {"-h", NULL};
    static const char *const version[] = {"--version", NULL};
    struct config cfg;
    struct run r;

    (void)state;
    set_secrets();
    load(&cfg, CFG_WORKER, help, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_EXIT);
    assert_no_secret(r.out);
    assert_non_null(strstr(r.out, "--playlist-size"));
    assert_non_null(strstr(r.out, "SPOTIFY_CLIENT_SECRET"));
    assert_null(strstr(r.out, "guest:guest")); /* the default URL's pw */

    load(&cfg, CFG_GATEWAY, h, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_EXIT);
    assert_non_null(strstr(r.out, "--gateway-port"));
    assert_non_null(strstr(r.out, "GATEWAY_PORT"));
    assert_null(strstr(r.out, "--playlist-size"));

    load(&cfg, CFG_GATEWAY, version, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_EXIT);
    assert_string_equal(r.out, "gateway 1.2.3\n");
}

static void test_secrets_not_in_errors(void **state)
{
    static const char *const wrong_daemon[] = {
        "--spotify-client-secret=flag-s3kr1t-1", NULL};
    static const char *const typo[] = {"--spotify-client-secrt=flag-s3kr1t-2",
                                       NULL};
    static const char *const typo_sp[] = {"--spotify-secret", "flag-s3kr1t-3",
                                          NULL};
    static const char *const stray[] = {"flag-s3kr1t-4", NULL};
    static const char *const weird[] = {"--s3kr1t-5\n=x", NULL};
    struct config cfg;
    struct run r;
    char *big;

    (void)state;
    expect_error(CFG_GATEWAY, wrong_daemon, "--spotify-client-secret");
    load(&cfg, CFG_GATEWAY, wrong_daemon, &r);
    cfg_free(&cfg);
    assert_no_secret(r.err);

    expect_error(CFG_WORKER, typo, "--spotify-client-secrt");
    load(&cfg, CFG_WORKER, typo, &r);
    cfg_free(&cfg);
    assert_no_secret(r.err);

    load(&cfg, CFG_WORKER, typo_sp, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_ERROR);
    assert_no_secret(r.err);

    load(&cfg, CFG_WORKER, stray, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_ERROR);
    assert_no_secret(r.err);

    load(&cfg, CFG_WORKER, weird, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_ERROR);
    assert_no_secret(r.err);
    assert_int_equal(count_lines(r.err), 1);

    /* Over-long secret values are refused without being quoted. */
    big = malloc(5000);
    assert_non_null(big);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    memcpy(big, "env-s3kr1t-6", 12);
    setenv("OPENWEATHER_API_KEY", big, 1);
    expect_error(CFG_WORKER, NULL, "OPENWEATHER_API_KEY");
    load(&cfg, CFG_WORKER, NULL, &r);
    cfg_free(&cfg);
    assert_no_secret(r.err);
    clean_env(NULL);
    memcpy(big, "amqp://u:p-s3kr1t-7@h/", 22);
    setenv("AMQP_URL", big, 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_ERROR);
    assert_no_secret(r.err);
    free(big);
}

/* AMQP_URL and the TLS files are checked at start (amqp_url.h, amqp_conn.h
 * have the details and their own tests): one line naming the setting. */
static void test_amqp_settings_checked(void **state)
{
    static const char *const bad_port[] = {"--amqp-url=amqp://h:99999/", NULL};
    static const char *const bad_ca[] = {"--amqp-ca-file=/nonexistent/ca.pem",
                                         NULL};
    static const char *const half[] = {"--amqp-key-file=/etc/hostname", NULL};
    struct config cfg;
    struct run r;

    (void)state;
    expect_error(CFG_GATEWAY, bad_port, "AMQP_URL");
    setenv("AMQP_URL", "http://u:p-s3kr1t-8@h/", 1);
    expect_error(CFG_WORKER, NULL, "AMQP_URL");
    load(&cfg, CFG_WORKER, NULL, &r);
    cfg_free(&cfg);
    assert_no_secret(r.err);
    unsetenv("AMQP_URL");
    expect_error(CFG_WORKER, bad_ca, "AMQP_CA_FILE");
    expect_error(CFG_GATEWAY, half, "AMQP_KEY_FILE");

    setenv("AMQP_URL", "amqps://u:p-s3kr1t-9%2Cx@rabbit/", 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_string_equal(cfg.amqp_url, "amqps://u:p-s3kr1t-9%2Cx@rabbit/");
    assert_string_equal(cfg.amqp_ca_file, "");
    cfg_free(&cfg);
}

static void test_cli_errors(void **state)
{
    static const char *const missing[] = {"--gateway-port", NULL};
    static const char *const unknown[] = {"--gateway-prot=5000", NULL};
    static const char *const positional[] = {"5000", NULL};
    static const char *const worker_flag[] = {"--playlist-size=5", NULL};
    static const char *const gateway_flag[] = {"--gateway-port=5000", NULL};
    static const char *const dashes[] = {"--", NULL};

    (void)state;
    expect_error(CFG_GATEWAY, missing, "--gateway-port needs a value");
    expect_error(CFG_GATEWAY, unknown, "--gateway-prot");
    expect_error(CFG_GATEWAY, positional, "unexpected argument");
    expect_error(CFG_GATEWAY, worker_flag, "--playlist-size");
    expect_error(CFG_WORKER, gateway_flag, "--gateway-port");
    expect_error(CFG_WORKER, dashes, "unknown option");
}

static void mask(const char *in, const char *want)
{
    char buf[256];

    snprintf(buf, sizeof(buf), "%s", in);
    cfg_mask_url(buf);
    assert_string_equal(buf, want);
}

/* Found by fuzz_config: a flag without '=' must not swallow the next flag,
 * or "--log-level --spotify-client-secret=X" echoes X as a bad level. */
static void test_flag_does_not_swallow_secret_flag(void **state)
{
    static const char *const a1[] = {"--log-level",
                                     "--spotify-client-secret=s3kr1t-sp", NULL};
    static const char *const a2[] = {"--rpc-timeout-ms",
                                     "--openweather-api-key=s3kr1t-owm", NULL};
    struct config cfg;
    struct run r;

    (void)state;
    load(&cfg, CFG_WORKER, a1, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_ERROR);
    assert_no_secret(r.err);
    assert_non_null(strstr(r.err, "--log-level needs a value"));
    load(&cfg, CFG_GATEWAY, a2, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_ERROR);
    assert_no_secret(r.err);
}

/* --check-config prints one line per setting, whatever the values hold. */
static void test_check_config_one_line_each(void **state)
{
    struct config cfg;
    struct run r;
    FILE *f = tmpfile();
    char out[32768];
    size_t n;

    (void)state;
    /* Every string is validated now, so a newline cannot get in through
     * cfg_load; cfg_print escapes it anyway (defence in depth). */
    setenv("GATEWAY_ADDR", "1.2.3.4\nAMQP_URL=amqp://evil", 1);
    expect_error(CFG_GATEWAY, NULL, "GATEWAY_ADDR");
    unsetenv("GATEWAY_ADDR");
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    free(cfg.gateway_addr);
    cfg.gateway_addr = strdup("1.2.3.4\nAMQP_URL=amqp://evil");
    assert_non_null(f);
    cfg_print(&cfg, CFG_GATEWAY, f);
    cfg_free(&cfg);
    rewind(f);
    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
    assert_non_null(strstr(out, "GATEWAY_ADDR=1.2.3.4\\x0aAMQP_URL"));
    assert_null(strstr(out, "\nAMQP_URL=amqp://evil"));
}

static void test_mask_url(void **state)
{
    (void)state;
    mask("amqp://u:pw@h:5672/,amqp://a:b@c/",
         "amqp://u:*@h:5672/,amqp://a:*@c/");
    mask("amqp://guest:guest@localhost:5672/",
         "amqp://guest:*@localhost:5672/");
    mask("amqps://u:longer-password@h:5671/vhost", "amqps://u:*@h:5671/vhost");
    mask("amqp://u:pw@h1/,amqp://h2:5672/,amqp://x:y@h3/",
         "amqp://u:*@h1/,amqp://h2:5672/,amqp://x:*@h3/");
    /* Nothing to hide. */
    mask("amqp://h:5672/", "amqp://h:5672/");
    mask("amqp://user:@h/", "amqp://user:@h/");
    mask("", "");
    mask(",", ",");
    mask("https://api.example.com/v1", "https://api.example.com/v1");
    mask("http://[::1]:8080/", "http://[::1]:8080/");
    /* A user-info without a password may be a token: all of it goes. */
    mask("amqp://user@h/", "amqp://*@h/");
    mask("https://ghp_T0KEN@api.example.com/", "https://*@api.example.com/");
    /* An unescaped '@' in the password does not leak its tail. */
    mask("amqp://u:p@ss@h/", "amqp://u:*@h/");
    /* Nor does a ',' (issue 12: it was split as a list separator). */
    mask("amqp://u:pa,ss@h/", "amqp://u:*@h/");
    mask("amqp://u:a,b@h1/,amqp://v:c,d@h2/", "amqp://u:*@h1/,amqp://v:*@h2/");
    /* Nor a '/' or ':'. */
    mask("https://u:p/a:s@h/x", "https://u:*@h/x");
    /* No scheme: still masked, first or later in a list. */
    mask("u:pw@h:5672", "u:*@h:5672");
    mask("u:pw@h1,amqp://v:q@h2", "u:*@h1,amqp://v:*@h2");
    /* A later entry without a scheme is masked with the one before it
     * (too much rather than too little). */
    mask("amqp://u:p@h1/,v:q@h2/", "amqp://u:*@h2/");
    mask("HTTPS://U:P@H", "HTTPS://U:*@H");
}

/* ---- issue 12 item 7: values that can never work stop the daemon --------- */

static const char *const url_envs[] = {
    "OPENWEATHER_URL", "OPEN_METEO_URL", "OPEN_METEO_GEOCODING_URL",
    "SPOTIFY_API_URL", "SPOTIFY_ACCOUNTS_URL"};

static void test_upstream_urls(void **state)
{
    static const char *const bad[] = {
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_x",
        "ftp://example.com/",
        "api.open-meteo.com",
        "//api.open-meteo.com",
        "localhost:8080",
        "http://",
        "https:///v1",
        "http://:80/",
        "http://@/",
        "https://api.example.com?appid=x",
        "https://api.example.com/#frag",
        "https://api.exa mple.com",
        "https://api.example.com/\x01",
        "https://\xc3\xa9xample.com",
        "http://host:0/",
        "http://host:65536/",
        "http://host:12ab/",
        "http://host:/",
        "http://host:1234567/",
        "http://[zz::1]/",
        "http://[127.0.0.1]/",
        "http://[::1/",
        "javascript:alert(1)",
        "httpx://host",
        "dict://host:11211/",
    };
    static const char *const good[] = {
        "http://127.0.0.1:9999",
        "https://api.openweathermap.org",
        "HTTPS://Example.COM:8443/base/path",
        "http://[::1]:8080/v1",
        "http://fake_upstream:8080",
        "https://user:pw@proxy.example.com/",
    };
    struct config cfg;
    struct run r;
    size_t i, j;

    (void)state;
    for (j = 0; j < sizeof(url_envs) / sizeof(url_envs[0]); j++) {
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            setenv(url_envs[j], bad[i], 1);
            expect_error(CFG_WORKER, NULL, url_envs[j]);
        }
        for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            setenv(url_envs[j], good[i], 1);
            load(&cfg, CFG_WORKER, NULL, &r);
            if (r.rc != CFG_OK)
                fail_msg("%s=%s refused: %s", url_envs[j], good[i], r.err);
            cfg_free(&cfg);
        }
        unsetenv(url_envs[j]);
    }
    /* The flag twin is checked the same way. */
    {
        static const char *const args[] = {"--open-meteo-url=file:///x", NULL};
        expect_error(CFG_WORKER, args, "OPEN_METEO_URL");
    }
}

/* Credentials in an upstream URL are masked in --check-config and in the
 * error line for a bad one (issue 12 item 8). */
static void test_url_credentials_masked(void **state)
{
    static const char *const check[] = {"--check-config", NULL};
    struct config cfg;
    struct run r;

    (void)state;
    setenv("OPENWEATHER_URL", "https://proxyuser:url-s3kr1t-1@proxy.example/",
           1);
    setenv("SPOTIFY_API_URL", "https://tok-s3kr1t-2@api.example/", 1);
    load(&cfg, CFG_WORKER, check, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_EXIT);
    assert_no_secret(r.out);
    assert_non_null(
        strstr(r.out, "OPENWEATHER_URL=https://proxyuser:*@proxy.example/\n"));
    assert_non_null(strstr(r.out, "SPOTIFY_API_URL=https://*@api.example/\n"));

    setenv("OPEN_METEO_URL", "ftp://u:url-s3kr1t-3@host/", 1);
    expect_error(CFG_WORKER, NULL, "OPEN_METEO_URL");
    load(&cfg, CFG_WORKER, NULL, &r);
    cfg_free(&cfg);
    assert_no_secret(r.err);
    assert_non_null(strstr(r.err, "ftp://u:*@host/"));
    /* Long enough that the shown prefix would end before the '@'. */
    setenv("OPEN_METEO_URL",
           "ftp://u:url-s3kr1t-4-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@host/",
           1);
    load(&cfg, CFG_WORKER, NULL, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_ERROR);
    assert_no_secret(r.err);
}

static void test_worker_id(void **state)
{
    static const char *const bad[] = {
        "w\xff",   "w\xc3", "w\xc0\xaf", "w\xed\xa0\x80", "w\x01",
        "w\nfake", "w\x7f", "w\xc2\x85", "w\xc2\x9b[31m",
    };
    struct config cfg;
    struct run r;
    char big[300];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("WORKER_ID", bad[i], 1);
        expect_error(CFG_WORKER, NULL, "WORKER_ID");
    }
    memset(big, 'w', 256);
    big[256] = '\0';
    setenv("WORKER_ID", big, 1);
    expect_error(CFG_WORKER, NULL, "WORKER_ID");
    big[255] = '\0';
    setenv("WORKER_ID", big, 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    cfg_free(&cfg);
    setenv("WORKER_ID", "w\xc3\xb6rker-\xe6\x9d\xb1:1", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_string_equal(cfg.worker_id, "w\xc3\xb6rker-\xe6\x9d\xb1:1");
    cfg_free(&cfg);
}

static void test_gateway_addr(void **state)
{
    static const char *const bad[] = {
        "localhost", "1.2.3",        "1.2.3.4.5", "256.0.0.1",
        "::1",       "0.0.0.0:5000", " 1.2.3.4",  "::ffff:127.0.0.1"};
    struct config cfg;
    struct run r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("GATEWAY_ADDR", bad[i], 1);
        expect_error(CFG_GATEWAY, NULL, "GATEWAY_ADDR");
    }
    setenv("GATEWAY_ADDR", "127.0.0.2", 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    cfg_free(&cfg);
}

static void test_http_and_rate_settings(void **state)
{
    struct config cfg;
    struct run r;

    (void)state;
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.http_max_per_ip, 256);
    assert_int_equal(cfg.http_header_timeout_ms, 5000);
    assert_int_equal(cfg.http_max_header_bytes, 6144);
    assert_int_equal(cfg.rate_limit_rps, 0); /* off */
    assert_int_equal(cfg.rate_limit_burst, 0);
    assert_string_equal(cfg.trusted_proxies, "");
    cfg_free(&cfg);
    /* The worker's /metrics has the same header deadline. */
    setenv("HTTP_HEADER_TIMEOUT_MS", "750", 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_int_equal(cfg.http_header_timeout_ms, 750);
    cfg_free(&cfg);
    setenv("HTTP_HEADER_TIMEOUT_MS", "50", 1);
    expect_error(CFG_WORKER, NULL, "HTTP_HEADER_TIMEOUT_MS");
    unsetenv("HTTP_HEADER_TIMEOUT_MS");

    /* A burst of 0 is one second's worth. */
    setenv("RATE_LIMIT_RPS", "20", 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(cfg.rate_limit_rps, 20);
    assert_int_equal(cfg.rate_limit_burst, 20);
    cfg_free(&cfg);
    setenv("RATE_LIMIT_BURST", "50", 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(cfg.rate_limit_burst, 50);
    cfg_free(&cfg);
    setenv("RATE_LIMIT_BURST", "-1", 1);
    expect_error(CFG_GATEWAY, NULL, "RATE_LIMIT_BURST");
    unsetenv("RATE_LIMIT_BURST");

    setenv("TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8 ,192.0.2.1", 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_string_equal(cfg.trusted_proxies, "10.0.0.0/8, fd00::/8 ,192.0.2.1");
    cfg_free(&cfg);
    setenv("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal", 1);
    expect_error(CFG_GATEWAY, NULL, "TRUSTED_PROXIES");
    setenv("TRUSTED_PROXIES", "10.0.0.0/33", 1);
    expect_error(CFG_GATEWAY, NULL, "TRUSTED_PROXIES");
}

/* ---- issue 12 item 8: secrets from files (<NAME>_FILE, --<flag>-file) ---- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tempo-test-config-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return clean_env(state);
}

static int remove_tmpdir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes len bytes to tmpdir/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *data, size_t len)
{
    static char path[2][128];
    static int which;
    char *p = path[which++ % 2];
    FILE *f;

    snprintf(p, 128, "%s/%s", tmpdir, name);
    f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

static void test_secret_files(void **state)
{
    static const char *const check[] = {"--check-config", NULL};
    struct config cfg;
    struct run r;

    (void)state;
    /* One trailing newline is dropped, and only one. */
    setenv("OPENWEATHER_API_KEY_FILE",
           write_file("owm", "file-s3kr1t-owm\n", 16), 1);
    setenv("SPOTIFY_CLIENT_ID_FILE", write_file("id", "file-s3kr1t-id", 14), 1);
    setenv("SPOTIFY_CLIENT_SECRET_FILE",
           write_file("sp", "file-s3kr1t-sp\r\n", 16), 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_string_equal(cfg.openweather_api_key, "file-s3kr1t-owm");
    assert_string_equal(cfg.spotify_client_id, "file-s3kr1t-id");
    assert_string_equal(cfg.spotify_client_secret, "file-s3kr1t-sp");
    assert_int_equal(cfg.weather_provider, WEATHER_OWM);
    assert_int_equal(cfg.music_provider, MUSIC_SPOTIFY);
    cfg_free(&cfg);
    load(&cfg, CFG_WORKER, check, &r);
    cfg_free(&cfg);
    assert_no_secret(r.out);
    assert_non_null(strstr(r.out, "OPENWEATHER_API_KEY=(set)\n"));
    clean_env(NULL);

    setenv("OPENWEATHER_API_KEY_FILE", write_file("owm2", "k\n\n", 3), 1);
    load(&cfg, CFG_WORKER, NULL, &r);
    assert_int_equal(r.rc, CFG_OK);
    assert_string_equal(cfg.openweather_api_key, "k\n");
    cfg_free(&cfg);
    clean_env(NULL);

    /* AMQP_URL too, shown masked. */
    setenv("AMQP_URL_FILE",
           write_file("amqp", "amqp://tempo:file-s3kr1t-amqp@rabbit/\n", 38),
           1);
    load(&cfg, CFG_GATEWAY, check, &r);
    cfg_free(&cfg);
    assert_int_equal(r.rc, CFG_EXIT);
    assert_no_secret(r.out);
    assert_non_null(strstr(r.out, "AMQP_URL=amqp://tempo:*@rabbit/\n"));
    clean_env(NULL);

    /* The flag twin; it wins over the environment as flags do. */
    setenv("OPENWEATHER_API_KEY", "env-key", 1);
    {
        char flag[200];
        const char *args[] = {flag, NULL};
        snprintf(flag, sizeof(flag), "--openweather-api-key-file=%s",
                 write_file("owm3", "flag-file-key", 13));
        load(&cfg, CFG_WORKER, args, &r);
        assert_int_equal(r.rc, CFG_OK);
        assert_string_equal(cfg.openweather_api_key, "flag-file-key");
        cfg_free(&cfg);
    }
    {
        const char *args[] = {"--openweather-api-key-file",
                              write_file("owm4", "k2", 2), NULL};
        load(&cfg, CFG_WORKER, args, &r);
        assert_int_equal(r.rc, CFG_OK);
        assert_string_equal(cfg.openweather_api_key, "k2");
        cfg_free(&cfg);
    }
    /* Only secret rows have a file twin. */
    {
        static const char *const args[] = {"--gateway-port-file=/x", NULL};
        expect_error(CFG_GATEWAY, args, "--gateway-port-file");
    }
    setenv("GATEWAY_PORT_FILE", "/nonexistent", 1);
    load(&cfg, CFG_GATEWAY, NULL, &r);
    assert_int_equal(r.rc, CFG_OK); /* not a setting: ignored */
    cfg_free(&cfg);
}

static void test_secret_file_errors(void **state)
{
    char big[5000], path[160];
    const char *p;

    (void)state;
    /* Both forms at once. */
    setenv("SPOTIFY_CLIENT_SECRET", "s", 1);
    setenv("SPOTIFY_CLIENT_SECRET_FILE", write_file("s", "s", 1), 1);
    expect_error(CFG_WORKER, NULL, "SPOTIFY_CLIENT_SECRET_FILE");
    clean_env(NULL);
    {
        const char *args[] = {"--spotify-client-secret=x",
                              "--spotify-client-secret-file",
                              write_file("s2", "s", 1), NULL};
        expect_error(CFG_WORKER, args, "--spotify-client-secret-file");
    }
    /* Unreadable, not a regular file, empty, too long, NUL inside: one
     * line naming the variable, never the contents. */
    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    setenv("OPENWEATHER_API_KEY_FILE", path, 1);
    expect_error(CFG_WORKER, NULL, "OPENWEATHER_API_KEY_FILE");
    expect_error(CFG_WORKER, NULL, "No such file");
    setenv("OPENWEATHER_API_KEY_FILE", tmpdir, 1);
    expect_error(CFG_WORKER, NULL, "not a regular file");
    setenv("OPENWEATHER_API_KEY_FILE", "/dev/null", 1);
    expect_error(CFG_WORKER, NULL, "not a regular file");
    snprintf(path, sizeof(path), "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(path, 0600), 0);
    setenv("OPENWEATHER_API_KEY_FILE", path, 1);
    expect_error(CFG_WORKER, NULL, "not a regular file"); /* no blocking */
    setenv("OPENWEATHER_API_KEY_FILE", write_file("empty", "", 0), 1);
    expect_error(CFG_WORKER, NULL, "empty");
    setenv("OPENWEATHER_API_KEY_FILE", write_file("nl", "\n", 1), 1);
    expect_error(CFG_WORKER, NULL, "empty");
    memset(big, 'x', sizeof(big));
    memcpy(big, "big-s3kr1t", 10);
    setenv("OPENWEATHER_API_KEY_FILE", write_file("big", big, 4097), 1);
    expect_error(CFG_WORKER, NULL, "longer than 4096");
    big[4096] = '\n';
    p = write_file("big2", big, 4097); /* 4096 + newline: fits */
    setenv("OPENWEATHER_API_KEY_FILE", p, 1);
    {
        struct config cfg;
        struct run r;
        load(&cfg, CFG_WORKER, NULL, &r);
        assert_int_equal(r.rc, CFG_OK);
        assert_int_equal(strlen(cfg.openweather_api_key), 4096);
        cfg_free(&cfg);
    }
    setenv("OPENWEATHER_API_KEY_FILE", write_file("nul", "nul-s3kr1t\0x", 12),
           1);
    expect_error(CFG_WORKER, NULL, "NUL");
    {
        struct config cfg;
        struct run r;
        load(&cfg, CFG_WORKER, NULL, &r);
        cfg_free(&cfg);
        assert_no_secret(r.err);
    }
    /* A path with a newline stays on one line. */
    setenv("OPENWEATHER_API_KEY_FILE", "/x\nFAKE", 1);
    expect_error(CFG_WORKER, NULL, "OPENWEATHER_API_KEY_FILE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_gateway, clean_env),
        cmocka_unit_test_setup(test_defaults_worker, clean_env),
        cmocka_unit_test_setup(test_env_overrides, clean_env),
        cmocka_unit_test_setup(test_other_daemons_env_ignored, clean_env),
        cmocka_unit_test_setup(test_flag_wins_over_env, clean_env),
        cmocka_unit_test_setup(test_number_bounds, clean_env),
        cmocka_unit_test_setup(test_error_line_cannot_be_forged, clean_env),
        cmocka_unit_test_setup(test_unknown_provider, clean_env),
        cmocka_unit_test_setup(test_provider_needs_credentials, clean_env),
        cmocka_unit_test_setup(test_auto_resolution, clean_env),
        cmocka_unit_test_setup(test_check_config_masks_secrets, clean_env),
        cmocka_unit_test_setup(test_help_and_version, clean_env),
        cmocka_unit_test_setup(test_secrets_not_in_errors, clean_env),
        cmocka_unit_test_setup(test_cli_errors, clean_env),
        cmocka_unit_test_setup(test_amqp_settings_checked, clean_env),
        cmocka_unit_test_setup(test_mask_url, clean_env),
        cmocka_unit_test_setup(test_flag_does_not_swallow_secret_flag,
                               clean_env),
        cmocka_unit_test_setup(test_check_config_one_line_each, clean_env),
        cmocka_unit_test_setup(test_upstream_urls, clean_env),
        cmocka_unit_test_setup(test_url_credentials_masked, clean_env),
        cmocka_unit_test_setup(test_worker_id, clean_env),
        cmocka_unit_test_setup(test_gateway_addr, clean_env),
        cmocka_unit_test_setup(test_http_and_rate_settings, clean_env),
        cmocka_unit_test_setup_teardown(test_secret_files, make_tmpdir,
                                        remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_secret_file_errors, make_tmpdir,
                                        remove_tmpdir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
