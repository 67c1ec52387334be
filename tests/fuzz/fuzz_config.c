/*
 * fuzz_config.c - libFuzzer target for cfg_load (common/config.h): the
 * environment and the command line, plus cfg_print and cfg_mask_url.
 *
 * Input format.  Byte 0 picks the daemon (who = 1 + byte % 3: gateway,
 * worker, both).  The rest is records separated by NUL bytes:
 *   01 <i> <value>  environment variable env_names[i % N] = value
 *   02 <i>          secret environment variable secret_envs[i % 3] = S
 *   03 <bytes>      S = bytes (the secret; the last 03 record wins)
 *   04 <i> <m>      secret flag on the command line: "--<flag>=S" when m
 *                   is even, else "--<flag>" "S" (two arguments)
 *   05 <i> <m>      S written to a file F (in a private temporary
 *                   directory), given as secret_envs[i % 3]_FILE=F when m
 *                   is even, else as "--<flag>-file=F"
 *   anything else   one argv element, verbatim
 * Environment variables are put with putenv() into buffers this file owns
 * and removed with unsetenv() after each run: setenv() would copy every
 * value into glibc's never-freed store and grow without bound.  Every
 * variable of the table is unset at start-up, so the caller's environment
 * (an AMQP_URL in the shell) cannot leak into the runs.
 *
 * Output.  cfg_load writes to stdout and stderr through stdio.  At start-up
 * both FILE pointers are pointed at /dev/null, once; for each run they are
 * swapped for memory streams so the output can be checked, then pointed
 * back.  Only the FILE pointers change, never file descriptors 1 and 2, so
 * libFuzzer's statistics and sanitizer reports still reach the terminal.
 * (glibc documents stdout and stderr as assignable variables.)
 *
 * Checked beyond memory safety and leaks (cfg_free after every run):
 *  - CFG_ERROR writes exactly one line to stderr and nothing to stdout;
 *    CFG_EXIT writes to stdout only; CFG_OK writes nothing;
 *  - CFG_OK leaves providers resolved, a worker_id, and every number
 *    within its bounds;
 *  - secrets are never shown: the run is repeated with S replaced by a
 *    different string of the same length, and the result and all output
 *    must be byte-identical.  A leak of a secret in any message, --help or
 *    --check-config output, makes the two runs differ.  (A secret flag
 *    right after a "--name" argument without '=' used to be taken as that
 *    option's value and quoted in its error; cfg_load now refuses to take
 *    a separate value that starts with "--", so S never starts with '-':
 *    such an S would itself be read as an option in one run only.)
 *  - cfg_mask_url on the raw input never lengthens the string, and
 *    masking twice changes nothing more.
 * The other secret keeps S's '\n' and '\r' bytes where they are, since a
 * secret file loses one trailing newline.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_util.h"

#define MAX_ITEMS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The environment variables of common/config.c's table. */
static const char *const env_names[] = {
    "AMQP_URL",
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
};
#define N_ENV (sizeof(env_names) / sizeof(env_names[0]))

/* The credential rows: never printed, not even in error messages. */
static const char *const secret_envs[] = {
    "OPENWEATHER_API_KEY", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"};
static const char *const secret_flags[] = {
    "openweather-api-key", "spotify-client-id", "spotify-client-secret"};

static const char *const secret_file_envs[] = {"OPENWEATHER_API_KEY_FILE",
                                               "SPOTIFY_CLIENT_ID_FILE",
                                               "SPOTIFY_CLIENT_SECRET_FILE"};

static FILE *devnull;
static char secret_dir[64], secret_path[96];

static void remove_secret_dir(void)
{
    unlink(secret_path);
    rmdir(secret_dir);
}

struct run {
    char *argv[2 * MAX_ITEMS + 2];
    int argc;
    char *env[MAX_ITEMS]; /* "NAME=value" buffers given to putenv */
    size_t nenv;
    int last_is_secret; /* argv[argc - 1] is S after "--<secret flag>" */
};

struct outcome {
    enum cfg_result rc;
    char *out, *err; /* captured stdout / stderr */
    size_t out_len, err_len;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t i;

    (void)argc;
    (void)argv;
    for (i = 0; i < N_ENV; i++)
        unsetenv(env_names[i]);
    snprintf(secret_dir, sizeof(secret_dir), "/tmp/fuzz-config-XXXXXX");
    FUZZ_CHECK(mkdtemp(secret_dir) != NULL);
    snprintf(secret_path, sizeof(secret_path), "%s/secret", secret_dir);
    atexit(remove_secret_dir);
    devnull = fopen("/dev/null", "w");
    FUZZ_CHECK(devnull != NULL);
    stdout = devnull;
    stderr = devnull;
    return 0;
}

static char *cat3(const char *a, const char *b, const uint8_t *c, size_t clen)
{
    size_t al = strlen(a), bl = strlen(b);
    char *p = malloc(al + bl + clen + 1);

    FUZZ_CHECK(p != NULL);
    memcpy(p, a, al);
    memcpy(p + al, b, bl);
    if (clen != 0)
        memcpy(p + al + bl, c, clen);
    p[al + bl + clen] = '\0';
    return p;
}

static void add_env(struct run *r, const char *name, const uint8_t *v,
                    size_t vlen)
{
    if (r->nenv < MAX_ITEMS)
        r->env[r->nenv++] = cat3(name, "=", v, vlen);
}

static void add_arg(struct run *r, char *arg, int is_secret)
{
    if (r->argc < (int)(sizeof(r->argv) / sizeof(r->argv[0])) - 1) {
        r->argv[r->argc++] = arg;
        r->last_is_secret = is_secret;
    } else {
        free(arg);
    }
}

/* Builds argv and the environment from the records, with secret S. */
static void build(struct run *r, const uint8_t *p, size_t size,
                  const uint8_t *s, size_t slen)
{
    size_t pos = 0, items = 0;

    memset(r, 0, sizeof(*r));
    r->argv[r->argc++] = cat3("fuzz-tempo", "", NULL, 0);
    while (pos < size && items++ < MAX_ITEMS) {
        const uint8_t *rec = p + pos;
        const uint8_t *nul = memchr(rec, '\0', size - pos);
        size_t len = nul != NULL ? (size_t)(nul - rec) : size - pos;

        pos += len + 1;
        if (len >= 2 && rec[0] == 0x01) {
            add_env(r, env_names[rec[1] % N_ENV], rec + 2, len - 2);
        } else if (len >= 2 && rec[0] == 0x02) {
            add_env(r, secret_envs[rec[1] % 3], s, slen);
        } else if (len >= 1 && rec[0] == 0x03) {
            continue; /* the secret itself: taken by the caller */
        } else if (len >= 3 && rec[0] == 0x04) {
            const char *flag = secret_flags[rec[1] % 3];
            if (rec[2] % 2 == 0) {
                char *f = cat3("--", flag, NULL, 0);
                add_arg(r, cat3(f, "=", s, slen), 0);
                free(f);
            } else {
                add_arg(r, cat3("--", flag, NULL, 0), 0);
                add_arg(r, cat3("", "", s, slen), 1);
            }
        } else if (len >= 3 && rec[0] == 0x05) {
            FILE *f = fopen(secret_path, "wb");
            FUZZ_CHECK(f != NULL);
            FUZZ_CHECK(fwrite(s, 1, slen, f) == slen || slen == 0);
            FUZZ_CHECK(fclose(f) == 0);
            if (rec[2] % 2 == 0) {
                add_env(r, secret_file_envs[rec[1] % 3],
                        (const uint8_t *)secret_path, strlen(secret_path));
            } else {
                char *f1 = cat3("--", secret_flags[rec[1] % 3], NULL, 0);
                char *f2 = cat3(f1, "-file=", (const uint8_t *)secret_path,
                                strlen(secret_path));
                add_arg(r, f2, 0);
                free(f1);
            }
        } else {
            add_arg(r, cat3("", "", rec, len), 0);
        }
    }
    r->argv[r->argc] = NULL;
}

static void release(struct run *r)
{
    size_t i;
    int a;

    for (i = 0; i < N_ENV; i++)
        unsetenv(env_names[i]);
    for (i = 0; i < r->nenv; i++)
        free(r->env[i]);
    for (a = 0; a < r->argc; a++)
        free(r->argv[a]);
}

static void check_config(const struct config *c, int who)
{
    FUZZ_CHECK(c->weather_provider == WEATHER_OWM ||
               c->weather_provider == WEATHER_OPEN_METEO);
    FUZZ_CHECK(c->music_provider == MUSIC_SPOTIFY ||
               c->music_provider == MUSIC_CATALOG);
    FUZZ_CHECK(c->worker_id != NULL && c->worker_id[0] != '\0');
    FUZZ_CHECK(c->amqp_url != NULL && c->gateway_addr != NULL);
    FUZZ_CHECK(c->log_level >= 0 && c->log_level <= 3);
    FUZZ_CHECK(c->log_json == 0 || c->log_json == 1);
    FUZZ_CHECK(c->gateway_port >= 1 && c->gateway_port <= 65535);
    FUZZ_CHECK(c->rpc_timeout_ms >= 10 && c->rpc_timeout_ms <= 600000);
    FUZZ_CHECK(c->worker_concurrency >= 1 && c->worker_concurrency <= 1024);
    FUZZ_CHECK(c->metrics_port >= 0 && c->metrics_port <= 65535);
    FUZZ_CHECK(c->playlist_size >= 1 && c->playlist_size <= 50);
    FUZZ_CHECK(c->upstream_retries >= 0 && c->upstream_retries <= 10);
    FUZZ_CHECK(c->http_header_timeout_ms >= 100 &&
               c->http_header_timeout_ms <= 600000);
    FUZZ_CHECK(c->rate_limit_rps >= 0 && c->rate_limit_burst >= 0);
    FUZZ_CHECK(c->rate_limit_rps == 0 || c->rate_limit_burst >= 1);
    FUZZ_CHECK(c->trusted_proxies != NULL);
    /* Validated strings: a dotted quad; http(s) URLs; printable text. */
    FUZZ_CHECK(strspn(c->gateway_addr, "0123456789.") ==
               strlen(c->gateway_addr));
    FUZZ_CHECK(strncasecmp(c->openweather_url, "http", 4) == 0 &&
               strncasecmp(c->open_meteo_url, "http", 4) == 0 &&
               strncasecmp(c->open_meteo_geocoding_url, "http", 4) == 0 &&
               strncasecmp(c->spotify_api_url, "http", 4) == 0 &&
               strncasecmp(c->spotify_accounts_url, "http", 4) == 0);
    FUZZ_CHECK(strpbrk(c->worker_id, "\n\r\x7f") == NULL);
    if (c->weather_provider == WEATHER_OWM)
        FUZZ_CHECK(c->openweather_api_key[0] != '\0');
    if (c->music_provider == MUSIC_SPOTIFY)
        FUZZ_CHECK(c->spotify_client_id[0] != '\0' &&
                   c->spotify_client_secret[0] != '\0');
    cfg_print(c, who, devnull);
}

static void run_once(const uint8_t *p, size_t size, int who, const uint8_t *s,
                     size_t slen, struct outcome *o)
{
    struct config cfg;
    struct run r;
    FILE *out, *err;
    size_t i;

    build(&r, p, size, s, slen);
    for (i = 0; i < r.nenv; i++)
        FUZZ_CHECK(putenv(r.env[i]) == 0);

    o->out = o->err = NULL;
    out = open_memstream(&o->out, &o->out_len);
    err = open_memstream(&o->err, &o->err_len);
    FUZZ_CHECK(out != NULL && err != NULL);
    stdout = out;
    stderr = err;
    o->rc = cfg_load(&cfg, who, "fuzz-tempo", "0.0-fuzz", r.argc, r.argv);
    stdout = devnull;
    stderr = devnull;
    FUZZ_CHECK(fclose(out) == 0 && fclose(err) == 0);

    FUZZ_CHECK(o->rc == CFG_OK || o->rc == CFG_EXIT || o->rc == CFG_ERROR);
    if (o->rc == CFG_ERROR) {
        FUZZ_CHECK(o->out_len == 0);
        FUZZ_CHECK(o->err_len > 0 && o->err[o->err_len - 1] == '\n');
        FUZZ_CHECK(memchr(o->err, '\n', o->err_len) == o->err + o->err_len - 1);
    } else if (o->rc == CFG_EXIT) {
        FUZZ_CHECK(o->err_len == 0 && o->out_len > 0);
    } else {
        FUZZ_CHECK(o->err_len == 0 && o->out_len == 0);
        check_config(&cfg, who);
    }
    cfg_free(&cfg);
    release(&r);
}

/* The secret of the input: the last 03 record, or a default. */
static void find_secret(const uint8_t *p, size_t size, const uint8_t **s,
                        size_t *slen)
{
    static const char def[] = "hunter2-fuzz-secret";
    size_t pos = 0;

    *s = (const uint8_t *)def;
    *slen = sizeof(def) - 1;
    while (pos < size) {
        const uint8_t *rec = p + pos;
        const uint8_t *nul = memchr(rec, '\0', size - pos);
        size_t len = nul != NULL ? (size_t)(nul - rec) : size - pos;

        if (len >= 1 && rec[0] == 0x03 && (len == 1 || rec[1] != '-')) {
            *s = rec + 1;
            *slen = len - 1;
        }
        pos += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome a, b;
    const uint8_t *s;
    uint8_t *other;
    size_t slen, i, before;
    char *url;
    int who;

    if (size < 1)
        return 0;
    who = 1 + data[0] % 3;
    find_secret(data + 1, size - 1, &s, &slen);

    /* A different secret of the same length: each byte changed, never to
     * NUL (argv and environment strings cannot hold one). */
    other = malloc(slen + 1);
    FUZZ_CHECK(other != NULL);
    for (i = 0; i < slen; i++)
        other[i] = (uint8_t)(s[i] == '\n' || s[i] == '\r' ? s[i]
                             : s[i] == 'Q'                ? 'Z'
                                                          : 'Q');

    run_once(data + 1, size - 1, who, s, slen, &a);
    run_once(data + 1, size - 1, who, other, slen, &b);
    FUZZ_CHECK(a.rc == b.rc);
    FUZZ_CHECK(a.out_len == b.out_len && memcmp(a.out, b.out, a.out_len) == 0);
    FUZZ_CHECK(a.err_len == b.err_len && memcmp(a.err, b.err, a.err_len) == 0);
    free(a.out);
    free(a.err);
    free(b.out);
    free(b.err);
    free(other);

    /* The URL masker on the raw input. */
    url = fuzz_dup_cstr(data + 1, size - 1);
    before = strlen(url);
    cfg_mask_url(url);
    FUZZ_CHECK(strlen(url) <= before);
    {
        char *again = strdup(url);
        FUZZ_CHECK(again != NULL);
        cfg_mask_url(again);
        FUZZ_CHECK(strcmp(again, url) == 0);
        free(again);
    }
    free(url);
    return 0;
}
