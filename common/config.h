/*
 * config.h - tempo's configuration: one declarative table (config.c) of
 * environment variables, each with a --flag twin, a type, bounds, a default,
 * a help line and a "secret" mark.  The table drives parsing, --help and
 * --check-config; secrets are never printed.
 *
 * Precedence: default < environment < command line.  A secret row can also
 * be read from a file: environment <NAME>_FILE or flag --<flag>-file (the
 * Docker secrets convention; one trailing newline is dropped).  Giving a
 * secret and its file in the same place (both variables, or both flags)
 * is an error.
 */
#ifndef TEMPO_CONFIG_H
#define TEMPO_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* Which daemon an option applies to (table column "who"). */
enum { CFG_GATEWAY = 1, CFG_WORKER = 2, CFG_BOTH = 3 };

enum cfg_provider_weather { WEATHER_AUTO = 0, WEATHER_OWM, WEATHER_OPEN_METEO };
enum cfg_provider_music { MUSIC_AUTO = 0, MUSIC_SPOTIFY, MUSIC_CATALOG };

/* PLAYLIST_SIZE's largest value. */
#define CONFIG_PLAYLIST_MAX 50

/*
 * The effective configuration.  Strings are owned by the struct (freed by
 * cfg_free).  After cfg_load it is frozen: threads may read it freely.
 */
struct config {
    char *amqp_url;
    char *amqp_ca_file;   /* "" = the system CA store */
    char *amqp_cert_file; /* "" = no client certificate */
    char *amqp_key_file;
    int log_level; /* enum log_level */
    int log_json;
    char *gateway_addr;
    long gateway_port;
    long rpc_timeout_ms;
    long http_max_connections;
    long http_max_per_ip;
    long http_idle_timeout_s;
    long http_header_timeout_ms; /* both daemons (the worker's /metrics) */
    long http_max_header_bytes;
    long rate_limit_rps;   /* 0 = off */
    long rate_limit_burst; /* resolved: RATE_LIMIT_RPS when given as 0 */
    char *trusted_proxies; /* validated CIDR list (netaddr.h), may be "" */
    long drain_timeout_ms;
    int rpc_queue_quorum; /* RPC_QUEUE_TYPE: 0 classic, 1 quorum */
    long worker_concurrency;
    long metrics_port;    /* 0 = off */
    int weather_provider; /* resolved: never WEATHER_AUTO after cfg_load */
    char *openweather_api_key;
    char *openweather_url;
    char *open_meteo_url;
    char *open_meteo_geocoding_url;
    int music_provider; /* resolved: never MUSIC_AUTO after cfg_load */
    char *spotify_client_id;
    char *spotify_client_secret;
    char *spotify_api_url;
    char *spotify_accounts_url;
    long playlist_size; /* 1..CONFIG_PLAYLIST_MAX */
    long weather_cache_ttl_s;
    long music_pool_ttl_s;
    long upstream_timeout_ms;
    long upstream_retries;
    long breaker_failures; /* consecutive, before a provider's circuit opens */
    long breaker_open_ms;
    char *worker_id; /* "<host>:<pid>" unless WORKER_ID is set */
};

enum cfg_result {
    CFG_OK = 0,    /* run the daemon */
    CFG_EXIT = 1,  /* --help, --version or --check-config printed: exit 0 */
    CFG_ERROR = 2, /* one line already on stderr: exit 2 */
};

/*
 * Fills cfg from defaults, then the environment (envp-style lookup through
 * getenv), then argv.  `who` selects the options of one daemon; others are
 * ignored in the environment and rejected on the command line.  `prog` and
 * `version` are used by --help and --version.  On CFG_ERROR, exactly one line
 * naming the option was written to stderr.  cfg must be freed with cfg_free
 * whatever the result.
 */
enum cfg_result cfg_load(struct config *cfg, int who, const char *prog,
                         const char *version, int argc, char **argv);

void cfg_free(struct config *cfg);

/*
 * cfg_load for a daemon's main(): returns 1 when the daemon should run,
 * else 0 with cfg freed and *exit_code set (0 after --help, --version or
 * --check-config; 2 after an invalid setting, already reported).
 */
int cfg_load_main(struct config *cfg, int who, const char *prog, int argc,
                  char **argv, int *exit_code);

/* Writes the effective configuration, secrets masked, one per line. */
void cfg_print(const struct config *cfg, int who, FILE *out);

/*
 * Masks the user-info of every URL in buf, in place: "scheme://user:pw@"
 * becomes "scheme://user:*@", and a user-info without a password (which
 * may be a token: "https://TOKEN@host") becomes "*".  Works on lists
 * ("a,b") and whatever the separators are: the user-info of a URL ends at
 * the last '@' before the next "://", so a password holding ',', '/' or
 * '@' is masked whole (masking too much is better than too little).  Never
 * lengthens buf.
 */
void cfg_mask_url(char *buf);

#endif
