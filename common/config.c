/*
 * config.c - the configuration table and its interpreter.
 *
 * Design: every option is one row of cfg_table[] (env name, flag, type,
 * bounds, default, help, secret, daemon).  Parsing, --help and
 * --check-config walk the same table, so an option cannot be documented in
 * one place and forgotten in another.  Numbers are parsed whole with bounds
 * (no atoi: "5s" is an error, not 5).  Strings are checked by their type
 * too (URLs, addresses, CIDR lists, text), so that a value which can never
 * work stops the daemon at start.  Values of secret rows are never printed,
 * not even in error messages; the user-info of every URL is masked
 * wherever a URL is printed.  Secret rows may also come from a file
 * (<NAME>_FILE, --<flag>-file), read whole and bounded.
 */
#include "config.h"

#include "amqp_conn.h"
#include "log.h"
#include "netaddr.h"
#include "validate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * T_STR is any string; T_QTYPE the RPC queue type (an int); T_URL an
 * http(s) base URL with a host; T_TEXT
 * printable UTF-8 (it ends up in JSON replies and log lines); T_IPV4 a
 * dotted quad; T_CIDRS a netaddr.h list.  All are char * in the struct.
 */
enum cfg_type {
    T_STR,
    T_LONG,
    T_LEVEL,
    T_FORMAT,
    T_WEATHER,
    T_MUSIC,
    T_QTYPE,
    T_URL,
    T_TEXT,
    T_IPV4,
    T_CIDRS
};

#define CFG_STR_MAX 4096 /* bytes of any string value, files included */
#define CFG_TEXT_MAX 255 /* bytes of a T_TEXT value */

struct cfg_row {
    const char *env;
    const char *flag;
    enum cfg_type type;
    size_t off;
    long min, max;
    const char *def;
    int who;
    int secret;
    const char *help;
};

#define OFF(field) offsetof(struct config, field)

static const struct cfg_row cfg_table[] = {
    {"AMQP_URL", "amqp-url", T_STR, OFF(amqp_url), 0, 0,
     "amqp://guest:guest@localhost:5672/", CFG_BOTH, 1,
     "broker URL, amqp:// or amqps:// (TLS); a comma-separated list "
     "fails over between nodes (write a comma inside a password as %2C)"},
    {"AMQP_CA_FILE", "amqp-ca-file", T_STR, OFF(amqp_ca_file), 0, 0, "",
     CFG_BOTH, 0,
     "amqps://: PEM file of the CA certificates that sign the broker's "
     "certificate (default: the system store)"},
    {"AMQP_CERT_FILE", "amqp-cert-file", T_STR, OFF(amqp_cert_file), 0, 0, "",
     CFG_BOTH, 0,
     "amqps://: PEM client certificate (chain) for mutual TLS, with "
     "AMQP_KEY_FILE"},
    {"AMQP_KEY_FILE", "amqp-key-file", T_STR, OFF(amqp_key_file), 0, 0, "",
     CFG_BOTH, 0, "amqps://: PEM private key (unencrypted) of AMQP_CERT_FILE"},
    {"LOG_LEVEL", "log-level", T_LEVEL, OFF(log_level), 0, 0, "info", CFG_BOTH,
     0, "debug, info, warn or error"},
    {"LOG_FORMAT", "log-format", T_FORMAT, OFF(log_json), 0, 0, "text",
     CFG_BOTH, 0, "text, or json for one JSON object per line"},
    {"GATEWAY_ADDR", "gateway-addr", T_IPV4, OFF(gateway_addr), 0, 0, "0.0.0.0",
     CFG_GATEWAY, 0, "HTTP listen address (IPv4)"},
    {"GATEWAY_PORT", "gateway-port", T_LONG, OFF(gateway_port), 1, 65535,
     "5000", CFG_GATEWAY, 0, "HTTP listen port"},
    {"RPC_TIMEOUT_MS", "rpc-timeout-ms", T_LONG, OFF(rpc_timeout_ms), 10,
     600000, "5000", CFG_GATEWAY, 0, "answer 504 after this long"},
    {"HTTP_MAX_CONNECTIONS", "http-max-connections", T_LONG,
     OFF(http_max_connections), 16, 1000000, "10000", CFG_GATEWAY, 0,
     "concurrent HTTP connections accepted"},
    {"HTTP_MAX_PER_IP", "http-max-per-ip", T_LONG, OFF(http_max_per_ip), 0,
     1000000, "256", CFG_GATEWAY, 0,
     "concurrent connections per client address (0 = no limit)"},
    {"HTTP_IDLE_TIMEOUT_S", "http-idle-timeout-s", T_LONG,
     OFF(http_idle_timeout_s), 1, 3600, "30", CFG_GATEWAY, 0,
     "close an idle HTTP connection after this many seconds"},
    {"HTTP_HEADER_TIMEOUT_MS", "http-header-timeout-ms", T_LONG,
     OFF(http_header_timeout_ms), 100, 600000, "5000", CFG_BOTH, 0,
     "close a connection whose request line and headers are not all in "
     "after this long"},
    {"HTTP_MAX_HEADER_BYTES", "http-max-header-bytes", T_LONG,
     OFF(http_max_header_bytes), 1024, 1048576, "6144", CFG_GATEWAY, 0,
     "request line plus headers above this get 431 (memory per connection: "
     "4/3 of it, at least 8 KiB)"},
    {"RATE_LIMIT_RPS", "rate-limit-rps", T_LONG, OFF(rate_limit_rps), 0,
     1000000, "0", CFG_GATEWAY, 0,
     "requests per second per client address, token bucket (0 = off)"},
    {"RATE_LIMIT_BURST", "rate-limit-burst", T_LONG, OFF(rate_limit_burst), 0,
     1000000, "0", CFG_GATEWAY, 0,
     "requests a client may make at once (0 = RATE_LIMIT_RPS)"},
    {"TRUSTED_PROXIES", "trusted-proxies", T_CIDRS, OFF(trusted_proxies), 0, 0,
     "", CFG_GATEWAY, 0,
     "proxies (addresses, CIDR blocks) whose X-Forwarded-For names the "
     "client; empty = none"},
    {"DRAIN_TIMEOUT_MS", "drain-timeout-ms", T_LONG, OFF(drain_timeout_ms), 0,
     600000, "10000", CFG_BOTH, 0,
     "on SIGTERM, wait this long for calls in flight"},
    {"RPC_QUEUE_TYPE", "rpc-queue-type", T_QTYPE, OFF(rpc_queue_quorum), 0, 0,
     "classic", CFG_WORKER, 0,
     "classic or quorum: the type rpc-weather_service is declared with when "
     "it does not exist yet (an existing queue is used as it is)"},
    {"WORKER_CONCURRENCY", "worker-concurrency", T_LONG,
     OFF(worker_concurrency), 1, 1024, "16", CFG_WORKER, 0,
     "RPC calls one worker process serves at once"},
    {"METRICS_PORT", "metrics-port", T_LONG, OFF(metrics_port), 0, 65535, "0",
     CFG_WORKER, 0,
     "worker /metrics port on 0.0.0.0, all addresses, so Prometheus in "
     "another container can scrape it (0 = off)"},
    {"WEATHER_PROVIDER", "weather-provider", T_WEATHER, OFF(weather_provider),
     0, 0, "auto", CFG_WORKER, 0, "openweathermap, open-meteo or auto"},
    {"OPENWEATHER_API_KEY", "openweather-api-key", T_STR,
     OFF(openweather_api_key), 0, 0, "", CFG_WORKER, 1,
     "OpenWeatherMap API key"},
    {"OPENWEATHER_URL", "openweather-url", T_URL, OFF(openweather_url), 0, 0,
     "https://api.openweathermap.org", CFG_WORKER, 0,
     "OpenWeatherMap base URL"},
    {"OPEN_METEO_URL", "open-meteo-url", T_URL, OFF(open_meteo_url), 0, 0,
     "https://api.open-meteo.com", CFG_WORKER, 0, "Open-Meteo forecast URL"},
    {"OPEN_METEO_GEOCODING_URL", "open-meteo-geocoding-url", T_URL,
     OFF(open_meteo_geocoding_url), 0, 0,
     "https://geocoding-api.open-meteo.com", CFG_WORKER, 0,
     "Open-Meteo geocoding URL"},
    {"MUSIC_PROVIDER", "music-provider", T_MUSIC, OFF(music_provider), 0, 0,
     "auto", CFG_WORKER, 0, "spotify, catalog or auto"},
    {"SPOTIFY_CLIENT_ID", "spotify-client-id", T_STR, OFF(spotify_client_id), 0,
     0, "", CFG_WORKER, 1, "Spotify client id"},
    {"SPOTIFY_CLIENT_SECRET", "spotify-client-secret", T_STR,
     OFF(spotify_client_secret), 0, 0, "", CFG_WORKER, 1,
     "Spotify client secret"},
    {"SPOTIFY_API_URL", "spotify-api-url", T_URL, OFF(spotify_api_url), 0, 0,
     "https://api.spotify.com", CFG_WORKER, 0, "Spotify Web API URL"},
    {"SPOTIFY_ACCOUNTS_URL", "spotify-accounts-url", T_URL,
     OFF(spotify_accounts_url), 0, 0, "https://accounts.spotify.com",
     CFG_WORKER, 0, "Spotify accounts (token) URL"},
    {"PLAYLIST_SIZE", "playlist-size", T_LONG, OFF(playlist_size), 1,
     CONFIG_PLAYLIST_MAX, "10", CFG_WORKER, 0, "tracks per answer"},
    {"WEATHER_CACHE_TTL_S", "weather-cache-ttl-s", T_LONG,
     OFF(weather_cache_ttl_s), 0, 86400, "600", CFG_WORKER, 0,
     "weather cache lifetime (0 disables)"},
    {"MUSIC_POOL_TTL_S", "music-pool-ttl-s", T_LONG, OFF(music_pool_ttl_s), 10,
     86400, "3600", CFG_WORKER, 0,
     "lifetime of the Spotify track pool per genre (refreshed after 3/4 of "
     "it)"},
    {"UPSTREAM_TIMEOUT_MS", "upstream-timeout-ms", T_LONG,
     OFF(upstream_timeout_ms), 10, 600000, "3000", CFG_WORKER, 0,
     "timeout of one upstream HTTP call"},
    {"UPSTREAM_RETRIES", "upstream-retries", T_LONG, OFF(upstream_retries), 0,
     10, "2", CFG_WORKER, 0, "retries of an upstream call on timeout or 5xx"},
    {"BREAKER_FAILURES", "breaker-failures", T_LONG, OFF(breaker_failures), 1,
     1000, "5", CFG_WORKER, 0,
     "consecutive upstream failures (errors, 5xx, 429, full timeouts) that "
     "open a provider's circuit"},
    {"BREAKER_OPEN_MS", "breaker-open-ms", T_LONG, OFF(breaker_open_ms), 10,
     3600000, "5000", CFG_WORKER, 0,
     "how long an open circuit fails calls at once before one probe"},
    {"WORKER_ID", "worker-id", T_TEXT, OFF(worker_id), 0, 0, "", CFG_WORKER, 0,
     "name in replies' \"worker\" field (default host:pid)"},
};

#define CFG_NROWS (sizeof(cfg_table) / sizeof(cfg_table[0]))

static const char *const weather_names[] = {"auto", "openweathermap",
                                            "open-meteo"};
static const char *const music_names[] = {"auto", "spotify", "catalog"};
static const char *const qtype_names[] = {"classic", "quorum"};

static int name_index(const char *const *names, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

/* Copies at most 100 bytes of s into buf, control and non-ASCII bytes as
 * \xNN, so a bad value (which may not be UTF-8) cannot break the "one line
 * on stderr" promise. */
static void escape_value(char *buf, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;

    for (i = 0; s[i] != '\0' && i < 100 && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o] = '\0';
}

/* Reports a bad value; secrets are named but never echoed, and a URL is
 * shown with its user-info masked. */
static void cfg_bad(const struct cfg_row *r, const char *val, const char *why)
{
    char shown[420], masked[101];

    if (r->secret) {
        fprintf(stderr, "config: %s: %s\n", r->env, why);
        return;
    }
    /* Mask first, on the whole value: a prefix cut before the '@' would
     * not be recognised as user-info. */
    if (r->type == T_URL && strlen(val) <= CFG_STR_MAX) {
        char *copy = strdup(val);
        if (copy == NULL)
            abort();
        cfg_mask_url(copy);
        snprintf(masked, sizeof(masked), "%s", copy);
        free(copy);
        val = masked;
    }
    escape_value(shown, sizeof(shown), val);
    fprintf(stderr, "config: %s=\"%s\": %s\n", r->env, shown, why);
}

/* A host name of RFC 3986 unreserved characters (no IDN: use punycode). */
static int is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
           c == '~';
}

/*
 * An upstream base URL: "http://" or "https://" (any case), an optional
 * user-info, a host name, IPv4 address or [IPv6] address, an optional
 * port 1..65535, and an optional path; printable ASCII only, no query or
 * fragment (paths are appended to it).  curl would accept file://,
 * gopher:// and more: refusing them here keeps a typo or an injected
 * setting from reading local files or talking to other protocols.
 */
static const char *check_http_url(const char *s)
{
    static const char *const why =
        "want an http:// or https:// URL with a host (no query)";
    const char *p, *end, *host, *after, *q;
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return "want printable ASCII without spaces";
    if (strncasecmp(s, "http://", 7) == 0)
        p = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        p = s + 8;
    else
        return why;
    if (strpbrk(p, "?#") != NULL)
        return why;
    end = p + strcspn(p, "/");
    host = p;
    for (q = p; q < end; q++)
        if (*q == '@')
            host = q + 1;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        struct netaddr a;
        if (close == NULL ||
            netaddr_parse(host + 1, (size_t)(close - host - 1), &a) < 0 ||
            memchr(host, ':', (size_t)(close - host)) == NULL)
            return "want a bracketed IPv6 address like [::1]";
        after = close + 1;
    } else {
        for (after = host; after < end && is_host_char(*after); after++)
            ;
        if (after == host)
            return why;
    }
    if (after < end) {
        long port = 0;
        if (*after != ':' || after + 1 == end || end - after > 6)
            return "want host[:port] before the path";
        for (q = after + 1; q < end; q++) {
            if (*q < '0' || *q > '9')
                return "want host[:port] before the path";
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535)
            return "port out of range 1..65535";
    }
    return NULL;
}

/* Printable UTF-8: no C0, DEL or C1 controls, no invalid sequences. */
static const char *check_text(const char *s)
{
    size_t len = strlen(s), i = 0;

    if (len > CFG_TEXT_MAX)
        return "longer than 255 bytes";
    while (i < len) {
        uint32_t cp = 0;
        size_t n =
            validate_utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (n == 0)
            return "want valid UTF-8";
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return "want no control characters";
        i += n;
    }
    return NULL;
}

/* An optional '-' then digits, nothing else: strtol alone would skip
 * leading white space (" 5", "\t5") and accept "+5". */
static int parse_long(const char *s, long min, long max, long *out)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    char *end = NULL;
    long v;

    if (*d < '0' || *d > '9')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int cfg_set(struct config *cfg, const struct cfg_row *r, const char *val)
{
    char *base = (char *)cfg;
    char **sp = (char **)(void *)(base + r->off);
    long *lp = (long *)(void *)(base + r->off);
    int *ip = (int *)(void *)(base + r->off);
    char why[96];
    int i;

    const char *bad = NULL;
    struct netaddr a;
    struct netaddr_list list;
    char lerr[96];

    switch (r->type) {
    case T_STR:
    case T_URL:
    case T_TEXT:
    case T_IPV4:
    case T_CIDRS:
        if (strlen(val) > CFG_STR_MAX) {
            cfg_bad(r, val, "longer than 4096 bytes");
            return -1;
        }
        if (r->type == T_URL)
            bad = check_http_url(val);
        else if (r->type == T_TEXT)
            bad = check_text(val);
        else if (r->type == T_IPV4 &&
                 (netaddr_parse(val, strlen(val), &a) < 0 || a.family != 4 ||
                  strchr(val, ':') != NULL))
            bad = "want an IPv4 address like 0.0.0.0 or 127.0.0.1";
        else if (r->type == T_CIDRS &&
                 netaddr_list_parse(val, &list, lerr, sizeof(lerr)) < 0)
            bad = lerr;
        if (bad != NULL) {
            cfg_bad(r, val, bad);
            return -1;
        }
        free(*sp);
        *sp = strdup(val);
        if (*sp == NULL)
            abort();
        return 0;
    case T_LONG:
        if (parse_long(val, r->min, r->max, lp) < 0) {
            snprintf(why, sizeof(why), "want an integer in %ld..%ld", r->min,
                     r->max);
            cfg_bad(r, val, why);
            return -1;
        }
        return 0;
    case T_LEVEL:
        if ((i = log_level_parse(val)) < 0) {
            cfg_bad(r, val, "want debug, info, warn or error");
            return -1;
        }
        *ip = i;
        return 0;
    case T_FORMAT:
        if (strcmp(val, "text") != 0 && strcmp(val, "json") != 0) {
            cfg_bad(r, val, "want text or json");
            return -1;
        }
        *ip = strcmp(val, "json") == 0;
        return 0;
    case T_WEATHER:
        if ((i = name_index(weather_names, 3, val)) < 0) {
            cfg_bad(r, val, "want auto, openweathermap or open-meteo");
            return -1;
        }
        *ip = i;
        return 0;
    case T_MUSIC:
        if ((i = name_index(music_names, 3, val)) < 0) {
            cfg_bad(r, val, "want auto, spotify or catalog");
            return -1;
        }
        *ip = i;
        return 0;
    case T_QTYPE:
        if ((i = name_index(qtype_names, 2, val)) < 0) {
            cfg_bad(r, val, "want classic or quorum");
            return -1;
        }
        *ip = i;
        return 0;
    }
    return -1;
}

static void cfg_help(int who, const char *prog)
{
    size_t i;

    printf("usage: %s [--option value | --option=value]... [--help] "
           "[--version] [--check-config]\n\n"
           "Every option can also be set by its environment variable;\n"
           "the command line wins.\n\n",
           prog);
    for (i = 0; i < CFG_NROWS; i++) {
        const struct cfg_row *r = &cfg_table[i];
        if (!(r->who & who))
            continue;
        printf("  --%-26s %s\n      %s", r->flag, r->env, r->help);
        if (r->secret)
            printf(" (secret; never printed;\n      or --%s-file / %s_FILE: "
                   "read it from a file)\n",
                   r->flag, r->env);
        else if (r->def[0] != '\0')
            printf(" (default: %s)\n", r->def);
        else
            printf("\n");
    }
}

static void cfg_value(const struct config *cfg, const struct cfg_row *r,
                      char *buf, size_t cap)
{
    const char *base = (const char *)cfg;
    char *const *sp = (char *const *)(const void *)(base + r->off);
    const long *lp = (const long *)(const void *)(base + r->off);
    const int *ip = (const int *)(const void *)(base + r->off);
    static const char *const levels[] = {"debug", "info", "warn", "error"};

    switch (r->type) {
    case T_STR:
    case T_URL:
    case T_TEXT:
    case T_IPV4:
    case T_CIDRS:
        if (r->secret && strcmp(r->env, "AMQP_URL") != 0)
            snprintf(buf, cap, "%s", (*sp)[0] ? "(set)" : "(unset)");
        else
            snprintf(buf, cap, "%s", *sp);
        break;
    case T_LONG:
        snprintf(buf, cap, "%ld", *lp);
        break;
    case T_LEVEL:
        snprintf(buf, cap, "%s", levels[*ip & 3]);
        break;
    case T_FORMAT:
        snprintf(buf, cap, "%s", *ip ? "json" : "text");
        break;
    case T_WEATHER:
        snprintf(buf, cap, "%s", weather_names[*ip % 3]);
        break;
    case T_MUSIC:
        snprintf(buf, cap, "%s", music_names[*ip % 3]);
        break;
    case T_QTYPE:
        snprintf(buf, cap, "%s", qtype_names[*ip % 2]);
        break;
    }
}

void cfg_mask_url(char *buf)
{
    char *a = buf;

    /* Segment i runs from just after the i-th "://" (or the start) to the
     * next "://"; its user-info ends at its last '@'. */
    while (a != NULL && *a != '\0') {
        char *next = strstr(a, "://");
        char *end = next != NULL ? next : a + strlen(a);
        char *at = NULL, *from, *q;

        for (q = a; q < end; q++)
            if (*q == '@')
                at = q;
        if (at != NULL) {
            char *colon = memchr(a, ':', (size_t)(at - a));
            from = colon != NULL ? colon + 1 : a;
            if (at > from) {
                memmove(from + 1, at, strlen(at) + 1);
                *from = '*';
            }
        }
        next = strstr(a, "://"); /* moved left if something was masked */
        a = next != NULL ? next + 3 : NULL;
    }
}

/* Writes s with control bytes as \xNN: one setting, one line. */
static void print_escaped(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

void cfg_print(const struct config *cfg, int who, FILE *out)
{
    char buf[8192];
    size_t i;

    for (i = 0; i < CFG_NROWS; i++) {
        const struct cfg_row *r = &cfg_table[i];
        if (!(r->who & who))
            continue;
        cfg_value(cfg, r, buf, sizeof(buf));
        if (strcmp(r->env, "AMQP_URL") == 0)
            amqp_url_list_mask(cfg->amqp_url, buf, sizeof(buf));
        else if (r->type == T_URL)
            cfg_mask_url(buf);
        fprintf(out, "%s=", r->env);
        print_escaped(out, buf);
        fputc('\n', out);
    }
}

/* The row of "--<flag>", or of "--<flag>-file" for a secret row (then
 * *is_file is set). */
static const struct cfg_row *find_flag(const char *flag, size_t len,
                                       int *is_file)
{
    size_t i;

    *is_file = 0;
    for (i = 0; i < CFG_NROWS; i++)
        if (strlen(cfg_table[i].flag) == len &&
            strncmp(cfg_table[i].flag, flag, len) == 0)
            return &cfg_table[i];
    if (len > 5 && strncmp(flag + len - 5, "-file", 5) == 0)
        for (i = 0; i < CFG_NROWS; i++)
            if (cfg_table[i].secret && strlen(cfg_table[i].flag) == len - 5 &&
                strncmp(cfg_table[i].flag, flag, len - 5) == 0) {
                *is_file = 1;
                return &cfg_table[i];
            }
    return NULL;
}

/*
 * Reads a secret from the file at path into *out (new, NUL-terminated):
 * a regular file (not a FIFO or device, which could block or never end)
 * of 1..4096 bytes after one trailing "\n" or "\r\n" is dropped, with no
 * NUL byte.  `name` ("X_FILE" or "--x-file") and the path are shown in
 * the one error line; the contents never are.  0 or -1.
 */
static int read_secret_file(const char *name, const char *path, char **out)
{
    char *buf = NULL, shown[420];
    const char *why = NULL;
    size_t len = 0;
    struct stat st;
    int fd, err = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        err = errno;
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        why = "not a regular file";
        goto out;
    }
    buf = malloc(CFG_STR_MAX + 3);
    if (buf == NULL)
        abort();
    while (len < CFG_STR_MAX + 2) {
        ssize_t n = read(fd, buf + len, CFG_STR_MAX + 2 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
    }
    if (len > CFG_STR_MAX)
        why = "longer than 4096 bytes";
    else if (len == 0)
        why = "is empty";
    else if (memchr(buf, '\0', len) != NULL)
        why = "holds a NUL byte";
    if (why != NULL)
        goto out;
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
out:
    if (fd >= 0)
        close(fd);
    if (buf != NULL) {
        explicit_bzero(buf, CFG_STR_MAX + 3);
        free(buf);
    }
    if (err != 0 || why != NULL) {
        escape_value(shown, sizeof(shown), path);
        fprintf(stderr, "config: %s=\"%s\": %s%s\n", name, shown,
                err != 0 ? "cannot read: " : "",
                err != 0 ? strerror(err) : why);
        return -1;
    }
    return 0;
}

/* Sets row r from the file at path (a secret row's _FILE twin). */
static int cfg_set_from_file(struct config *cfg, const struct cfg_row *r,
                             const char *name, const char *path)
{
    char *val = NULL;
    int rc;

    if (read_secret_file(name, path, &val) < 0)
        return -1;
    rc = cfg_set(cfg, r, val);
    explicit_bzero(val, strlen(val));
    free(val);
    return rc;
}

/* The row's environment: NAME, or for a secret row NAME_FILE (not both).
 * Empty values count as unset. */
static int cfg_env(struct config *cfg, const struct cfg_row *r)
{
    const char *v = getenv(r->env), *fv = NULL;
    char fname[64];

    if (r->secret) {
        snprintf(fname, sizeof(fname), "%s_FILE", r->env);
        fv = getenv(fname);
    }
    if (v != NULL && v[0] == '\0')
        v = NULL;
    if (fv != NULL && fv[0] == '\0')
        fv = NULL;
    if (v != NULL && fv != NULL) {
        fprintf(stderr, "config: set either %s or %s, not both\n", r->env,
                fname);
        return -1;
    }
    if (fv != NULL)
        return cfg_set_from_file(cfg, r, fname, fv);
    return v != NULL ? cfg_set(cfg, r, v) : 0;
}

/* Is the name part of "--name[=value]" short and made of [a-z0-9-], so
 * that it can be shown in an error without showing anything else? */
static int flag_name_is_plain(const char *name, const char *eq)
{
    size_t n = eq ? (size_t)(eq - name) : strlen(name), i;

    if (n == 0 || n > 40)
        return 0;
    for (i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
            return 0;
    return 1;
}

/* Resolves "auto" providers and checks credentials (SPEC section 4). */
static int cfg_resolve(struct config *cfg)
{
    int owm_key = cfg->openweather_api_key[0] != '\0';
    int sp_keys = cfg->spotify_client_id[0] != '\0' &&
                  cfg->spotify_client_secret[0] != '\0';

    if (cfg->weather_provider == WEATHER_AUTO)
        cfg->weather_provider = owm_key ? WEATHER_OWM : WEATHER_OPEN_METEO;
    else if (cfg->weather_provider == WEATHER_OWM && !owm_key) {
        fprintf(stderr, "config: WEATHER_PROVIDER=openweathermap needs "
                        "OPENWEATHER_API_KEY\n");
        return -1;
    }
    if (cfg->music_provider == MUSIC_AUTO)
        cfg->music_provider = sp_keys ? MUSIC_SPOTIFY : MUSIC_CATALOG;
    else if (cfg->music_provider == MUSIC_SPOTIFY && !sp_keys) {
        fprintf(stderr, "config: MUSIC_PROVIDER=spotify needs "
                        "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET\n");
        return -1;
    }
    if (cfg->rate_limit_burst == 0)
        cfg->rate_limit_burst = cfg->rate_limit_rps;
    if (cfg->worker_id[0] == '\0') {
        char host[256], id[300];
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "unknown");
        host[sizeof(host) - 1] = '\0';
        snprintf(id, sizeof(id), "%s:%d", host, (int)getpid());
        free(cfg->worker_id);
        cfg->worker_id = strdup(id);
        if (cfg->worker_id == NULL)
            abort();
    }
    return 0;
}

/* AMQP_URL and the TLS files: what can never connect stops at start. */
static int cfg_check_amqp(const struct config *cfg)
{
    char err[512];

    if (amqp_url_list_check(cfg->amqp_url, err, sizeof(err)) < 0) {
        fprintf(stderr, "config: AMQP_URL: %s\n", err);
        return -1;
    }
    if (amqp_conn_tls_check(cfg->amqp_ca_file, cfg->amqp_cert_file,
                            cfg->amqp_key_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    return 0;
}

enum cfg_result cfg_load(struct config *cfg, int who, const char *prog,
                         const char *version, int argc, char **argv)
{
    unsigned char seen[CFG_NROWS]; /* per row: 1 = --flag, 2 = --flag-file */
    int check = 0, is_file = 0;
    size_t i;
    int a;

    memset(cfg, 0, sizeof(*cfg));
    memset(seen, 0, sizeof(seen));
    for (i = 0; i < CFG_NROWS; i++)
        if (cfg_set(cfg, &cfg_table[i], cfg_table[i].def) < 0)
            abort(); /* a bad default is a bug in the table */

    /* Empty counts as unset: compose files and .env templates pass "VAR="
     * for settings the operator left alone. */
    for (i = 0; i < CFG_NROWS; i++)
        if ((cfg_table[i].who & who) && cfg_env(cfg, &cfg_table[i]) < 0)
            return CFG_ERROR;

    for (a = 1; a < argc; a++) {
        const char *arg = argv[a], *val, *eq;
        const struct cfg_row *r;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cfg_help(who, prog);
            return CFG_EXIT;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("%s %s\n", prog, version);
            return CFG_EXIT;
        }
        if (strcmp(arg, "--check-config") == 0) {
            check = 1;
            continue;
        }
        /* Neither message quotes the argument: it may be a secret (a
         * worker-only --spotify-client-secret=... given to the gateway, or
         * the value after a mistyped flag). */
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr,
                    "config: unexpected argument #%d, not an "
                    "--option (see --help)\n",
                    a);
            return CFG_ERROR;
        }
        eq = strchr(arg + 2, '=');
        r = find_flag(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2),
                      &is_file);
        if (r == NULL || !(r->who & who)) {
            if (r != NULL)
                fprintf(stderr,
                        "config: option --%s does not apply to %s "
                        "(see --help)\n",
                        r->flag, prog);
            else if (flag_name_is_plain(arg + 2, eq))
                fprintf(stderr, "config: unknown option --%.*s (see --help)\n",
                        (int)(eq ? eq - arg - 2 : (long)strlen(arg + 2)),
                        arg + 2);
            else
                fprintf(stderr, "config: unknown option #%d (see --help)\n", a);
            return CFG_ERROR;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (a + 1 < argc && strncmp(argv[a + 1], "--", 2) != 0) {
            /* "--a --b=secret" must not read "--b=secret" as a's value:
             * it would be echoed if invalid. */
            val = argv[++a];
        } else {
            fprintf(stderr, "config: --%s%s needs a value\n", r->flag,
                    is_file ? "-file" : "");
            return CFG_ERROR;
        }
        seen[r - cfg_table] |= is_file ? 2 : 1;
        if (seen[r - cfg_table] == 3) {
            fprintf(stderr, "config: give either --%s or --%s-file, not both\n",
                    r->flag, r->flag);
            return CFG_ERROR;
        }
        if (is_file) {
            char name[64];
            snprintf(name, sizeof(name), "--%s-file", r->flag);
            if (cfg_set_from_file(cfg, r, name, val) < 0)
                return CFG_ERROR;
        } else if (cfg_set(cfg, r, val) < 0) {
            return CFG_ERROR;
        }
    }

    if (cfg_resolve(cfg) < 0 || cfg_check_amqp(cfg) < 0)
        return CFG_ERROR;
    if (check) {
        cfg_print(cfg, who, stdout);
        return CFG_EXIT;
    }
    return CFG_OK;
}

void cfg_free(struct config *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    for (i = 0; i < CFG_NROWS; i++) {
        if (cfg_table[i].type == T_STR || cfg_table[i].type >= T_URL) {
            char **sp = (char **)(void *)((char *)cfg + cfg_table[i].off);
            free(*sp);
            *sp = NULL;
        }
    }
}

int cfg_load_main(struct config *cfg, int who, const char *prog, int argc,
                  char **argv, int *exit_code)
{
    switch (cfg_load(cfg, who, prog, TEMPO_VERSION, argc, argv)) {
    case CFG_OK:
        return 1;
    case CFG_EXIT:
        *exit_code = 0;
        break;
    case CFG_ERROR:
    default:
        *exit_code = 2;
        break;
    }
    cfg_free(cfg);
    return 0;
}
