/*
 * fake.h - internal interfaces of the fake-upstream test server, grouped by
 * the file that defines them.  Nothing here is used outside tests/fakes/.
 * The user-facing description (CLI, endpoints, magic names, control API)
 * is the comment at the top of fake_upstream.c.
 *
 * Ownership: "borrowed" results stay valid for the duration of the call
 * that produced them; "new" results belong to the caller (free() or
 * json_decref()).  Handlers run on libmicrohttpd's connection threads, so
 * everything reached from them is either per-request or locked inside
 * fake_server.c.
 */
#ifndef TEMPO_FAKE_H
#define TEMPO_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct MHD_Connection;
struct server;

/* ---- fake_util.c: pure helpers ------------------------------------ */

#define FU_ARGS_MAX 64 /* parameters kept per query or form body */

struct fu_args {
    char *buf; /* owned; decoded in place */
    size_t n;
    const char *key[FU_ARGS_MAX];
    const char *val[FU_ARGS_MAX];
};

uint64_t fu_now_ms(void); /* CLOCK_MONOTONIC */
/* Strict number parsers: the whole string, within [min, max]. */
bool fu_parse_long(const char *s, long min, long max, long *out);
bool fu_parse_double(const char *s, double min, double max, double *out);
double fu_round2(double x); /* half away from zero; |x| < 1e6 */
double fu_abs(double x);
uint64_t fu_mix64(uint64_t z);         /* splitmix64 finaliser */
uint64_t fu_hash_lower(const char *s); /* FNV-1a of the lower-cased text */
bool fu_utf8_ok(const char *s);        /* jansson accepts it as a string */
int fu_hexval(int c);                  /* -1 if not a hex digit */
char *fu_trim(char *s);                /* in place; returns first non-blank */
char *fu_pct_encode(const char *s);    /* new, or NULL */
char *fu_escape_raw(const char *s, size_t max); /* new: %XX non-printables */
unsigned char *fu_b64_decode(const char *s, size_t *len); /* new, or NULL */
/* Parses "a=1&b=%20" (len bytes).  0, or -1 on out of memory.  Free with
 * fu_args_free.  First occurrence of a key wins in fu_args_get. */
int fu_args_parse(struct fu_args *a, const char *s, size_t len);
const char *fu_args_get(const struct fu_args *a, const char *key);
void fu_args_free(struct fu_args *a);

/* ---- fake_places.c: the deterministic weather model ---------------- */

struct city {
    const char *name, *cc;
    double lat, lon, temp;
    long long id;
    double elevation;
    const char *feature, *tz;
    long long population, country_id;
    const char *country, *admin1;
    int utc_offset;
};

struct place {
    const char *name;      /* borrowed: table or the caller's text */
    char cc[3];            /* "" when unknown (coordinates at sea) */
    double lat, lon, temp; /* temp in Celsius */
    long long id;
    const struct city *city; /* NULL for synthetic places */
    bool slow;               /* Slowville: answer after --slow-ms */
};

enum magic {
    MAGIC_NONE,
    MAGIC_NOT_FOUND,
    MAGIC_ERROR,
    MAGIC_GARBAGE,
    MAGIC_WRONGTYPE,
    MAGIC_RATELIMIT
};

#define PLACES_MAX 8 /* most places one name can resolve to */

enum magic places_magic(const char *name);
/* Resolves a city name (cc NULL or "" = any country) into up to max
 * places; returns how many, 0 meaning not found.  out[i].name may borrow
 * name. */
size_t places_by_name(const char *name, const char *cc, struct place *out,
                      size_t max);
void places_at(double lat, double lon, struct place *out);
void places_london(struct place *out); /* sample place for fault bodies */

/* ---- fake_server.c: state, routing, faults, control ---------------- */

#define SPOTIFY_GENRES_MAX 16 /* genres with their own search total */

struct fake_config { /* frozen before the daemon starts */
    long port, latency_ms, slow_ms, token_ttl_s, spotify_total;
    const char *owm_key, *spotify_id, *spotify_secret;
};

struct reply {
    unsigned status;
    char *body;        /* owned, malloc'd; NULL or "" sends no body */
    long retry_after;  /* -1: no Retry-After header */
    const char *allow; /* Allow header (405), or NULL */
};

struct call { /* one request as a handler sees it; all borrowed */
    struct server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;      /* decoded path, without the query */
    const char *raw_query; /* as received, "" when absent */
    const struct fu_args *q;
    const char *body; /* NUL-terminated, or NULL */
};

/* New server; cfg is copied.  NULL on failure. */
struct server *server_create(const struct fake_config *cfg);
void server_stop(struct server *srv);    /* wakes every sleeping request */
void server_destroy(struct server *srv); /* NULL is a no-op */
void server_handle(const struct call *c, struct reply *r);
const struct fake_config *server_config(const struct server *srv);
void server_sleep(struct server *srv, long ms); /* cut short by stop */
/* Token material: the process key, the current epoch (bumped by
 * /_fake/expire-tokens) and, if serial is not NULL, a fresh serial. */
void server_token_state(struct server *srv, uint64_t *key, uint64_t *epoch,
                        uint64_t *serial);
/* Search results of a genre: --spotify-total unless /_fake/spotify set
 * one for it (case-insensitive). */
long server_spotify_total(struct server *srv, const char *genre);

void reply_json(struct reply *r, unsigned status, json_t *j); /* steals */
void reply_text(struct reply *r, unsigned status, const char *text);
const char *call_header(const struct call *c, const char *name);

/* ---- fake_weather.c: OpenWeatherMap and Open-Meteo ----------------- */

void owm_handle(const struct call *c, struct reply *r);
json_t *owm_error(unsigned status, const char *msg);
json_t *owm_wrongtype(void);
void meteo_handle_geocoding(const struct call *c, struct reply *r);
void meteo_handle_forecast(const struct call *c, struct reply *r);
json_t *meteo_error(const char *reason);
json_t *meteo_geocoding_wrongtype(void);
json_t *meteo_forecast_wrongtype(void);

/* ---- fake_spotify.c: accounts token and search --------------------- */

void spotify_handle_token(const struct call *c, struct reply *r);
void spotify_handle_search(const struct call *c, struct reply *r);
json_t *spotify_error(unsigned status, const char *msg);
json_t *accounts_error(const char *err, const char *desc);
json_t *spotify_token_wrongtype(void);
json_t *spotify_search_wrongtype(void);

/* Messages the real APIs send, shared by handlers and injected faults. */
#define OWM_MSG_401                                                            \
    "Invalid API key. Please see "                                             \
    "https://openweathermap.org/faq#error401 for more info."
#define OWM_MSG_429                                                            \
    "Your account is temporary blocked due to exceeding "                      \
    "of requests limitation"
#define METEO_MSG_429                                                          \
    "Minutely API request limit exceeded. Please try "                         \
    "again in one minute."

#endif
