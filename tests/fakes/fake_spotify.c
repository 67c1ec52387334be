/*
 * fake_spotify.c - the Spotify endpoints of fake-upstream:
 *   POST /api/token   accounts service, client-credentials grant
 *   GET  /v1/search   track search (q=genre:<g>, type=track, limit 1..10)
 *
 * Tokens are stateless: "fake." followed by 64 hex digits holding the
 * epoch, the issue time (monotonic ms), a serial and a tag keyed with the
 * per-process random key, so forged or foreign tokens are "Invalid access
 * token" and tokens from an older epoch or past their TTL are "The access
 * token expired".  Tracks are deterministic: the id of track i of a genre
 * is always the same 22 base62 characters.
 */
#include "fake.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_LEN 69    /* "fake." + 4 * 16 hex digits */
#define OFFSET_MAX 1000 /* Spotify's cap on search offsets */

/* The markets Spotify lists in available_markets (2024). */
static const char *const markets[] = {
    "AR", "AU", "AT", "BE", "BO", "BR", "BG", "CA", "CL", "CO", "CR", "CY",
    "CZ", "DK", "DO", "DE", "EC", "EE", "SV", "FI", "FR", "GR", "GT", "HN",
    "HK", "HU", "IS", "IE", "IT", "LV", "LT", "LU", "MY", "MT", "MX", "NL",
    "NZ", "NI", "NO", "PA", "PY", "PE", "PH", "PL", "PT", "SG", "SK", "ES",
    "SE", "CH", "TW", "TR", "UY", "US", "GB", "AD", "LI", "MC", "ID", "JP",
    "TH", "VN", "RO", "IL", "ZA", "SA", "AE", "BH", "QA", "OM", "KW", "EG",
    "MA", "DZ", "TN", "LB", "JO", "PS", "IN", "BY", "KZ", "MD", "UA", "AL",
    "BA", "HR", "ME", "MK", "RS", "SI", "KR", "BD", "PK", "LK", "GH", "KE",
    "NG", "TZ", "UG", "AG", "AM", "BS", "BB", "BZ", "BT", "BW", "BF", "CV",
    "CW", "DM", "FJ", "GM", "GE", "GD", "GW", "GY", "HT", "JM", "KI", "LS",
    "LR", "MW", "MV", "ML", "MH", "FM", "NA", "NR", "NE", "PW", "PG", "WS",
    "SM", "ST", "SN", "SC", "SL", "SB", "KN", "LC", "VC", "SR", "TL", "TO",
    "TT", "TV", "VU", "AZ", "BN", "BI", "KH", "CM", "TD", "KM", "GQ", "SZ",
    "GA", "GN", "KG", "LA", "MO", "MR", "MN", "NP", "RW", "TG", "UZ", "ZW",
    "BJ", "MG", "MU", "MZ", "AO", "CI", "DJ", "ZM", "CD", "CG", "IQ", "LY",
    "TJ", "VE", "ET", "XK"};

/* New array of every market, or NULL. */
static json_t *markets_json(void)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < sizeof markets / sizeof markets[0]; i++)
        if (json_array_append_new(a, json_string(markets[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* New array of the three sizes of cover art Spotify lists, or NULL. */
static json_t *images_json(const char *album_id)
{
    static const int sizes[] = {640, 300, 64};
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < 3; i++) {
        char url[96];

        snprintf(url, sizeof url, "https://i.scdn.co/image/ab67616d%04x%s",
                 sizes[i], album_id);
        if (json_array_append_new(a, json_pack("{s:i,s:s,s:i}", "height",
                                               sizes[i], "url", url, "width",
                                               sizes[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *spotify_error(unsigned status, const char *msg)
{
    return json_pack("{s:{s:i,s:s}}", "error", "status", (int)status, "message",
                     msg);
}

json_t *accounts_error(const char *err, const char *desc)
{
    return json_pack("{s:s,s:s}", "error", err, "error_description", desc);
}

/* New formatted string, or NULL (unlike asprintf, never undefined). */
__attribute__((format(printf, 1, 2))) static char *fmt(const char *format, ...)
{
    va_list ap;
    char *out = NULL;
    int n;

    va_start(ap, format);
    n = vasprintf(&out, format, ap);
    va_end(ap);
    return n < 0 ? NULL : out;
}

/* ---- tokens -------------------------------------------------------- */

enum token_state { TOKEN_VALID, TOKEN_INVALID, TOKEN_EXPIRED };

static uint64_t token_tag(uint64_t key, uint64_t epoch, uint64_t issued,
                          uint64_t serial)
{
    return fu_mix64(key ^
                    fu_mix64(epoch ^ fu_mix64(issued ^ fu_mix64(serial))));
}

static void token_issue(struct server *srv, char out[TOKEN_LEN + 1])
{
    uint64_t issued = fu_now_ms(), key, epoch, serial;

    server_token_state(srv, &key, &epoch, &serial);
    snprintf(out, TOKEN_LEN + 1, "fake.%016llx%016llx%016llx%016llx",
             (unsigned long long)epoch, (unsigned long long)issued,
             (unsigned long long)serial,
             (unsigned long long)token_tag(key, epoch, issued, serial));
}

static enum token_state token_check(struct server *srv, const char *tok)
{
    uint64_t f[4], key, epoch;
    uint64_t ttl_ms = (uint64_t)server_config(srv)->token_ttl_s * 1000u;

    if (strlen(tok) != TOKEN_LEN || strncmp(tok, "fake.", 5) != 0)
        return TOKEN_INVALID;
    for (int i = 0; i < 4; i++) {
        f[i] = 0;
        for (int k = 0; k < 16; k++) {
            int h = fu_hexval((unsigned char)tok[5 + i * 16 + k]);
            if (h < 0)
                return TOKEN_INVALID;
            f[i] = (f[i] << 4) | (uint64_t)h;
        }
    }
    server_token_state(srv, &key, &epoch, NULL);
    if (token_tag(key, f[0], f[1], f[2]) != f[3])
        return TOKEN_INVALID;
    if (f[0] != epoch || fu_now_ms() >= f[1] + ttl_ms)
        return TOKEN_EXPIRED;
    return TOKEN_VALID;
}

/* HTTP Basic id:secret, or client_id/client_secret in the form. */
static bool token_client_ok(const struct call *c, const struct fu_args *form)
{
    const struct fake_config *cfg = server_config(c->srv);
    const char *auth = call_header(c, "Authorization");
    size_t id_len = strlen(cfg->spotify_id);
    size_t sec_len = strlen(cfg->spotify_secret);
    unsigned char *raw;
    size_t len = 0;
    bool ok;

    if (auth == NULL) {
        const char *id = fu_args_get(form, "client_id");
        const char *sec = fu_args_get(form, "client_secret");

        return id != NULL && sec != NULL && strcmp(id, cfg->spotify_id) == 0 &&
               strcmp(sec, cfg->spotify_secret) == 0;
    }
    if (strncasecmp(auth, "Basic ", 6) != 0)
        return false;
    auth += 6;
    while (*auth == ' ')
        auth++;
    raw = fu_b64_decode(auth, &len);
    if (raw == NULL)
        return false;
    ok = len == id_len + 1 + sec_len &&
         memcmp(raw, cfg->spotify_id, id_len) == 0 && raw[id_len] == ':' &&
         memcmp(raw + id_len + 1, cfg->spotify_secret, sec_len) == 0;
    free(raw);
    return ok;
}

json_t *spotify_token_wrongtype(void)
{
    return json_pack("{s:i,s:s,s:s}", "access_token", 12345, "token_type",
                     "Bearer", "expires_in", "3600");
}

void spotify_handle_token(const struct call *c, struct reply *r)
{
    const char *ctype = call_header(c, "Content-Type");
    struct fu_args form = {0};
    const char *grant, *body = "";
    char tok[TOKEN_LEN + 1];

    /* Like Spotify, only a form body is read; anything else is empty. */
    if (ctype != NULL && c->body != NULL &&
        strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0)
        body = c->body;
    if (fu_args_parse(&form, body, strlen(body)) != 0) {
        reply_json(r, 500, NULL);
        return;
    }
    grant = fu_args_get(&form, "grant_type");
    if (!token_client_ok(c, &form)) {
        reply_json(r, 400, accounts_error("invalid_client", "Invalid client"));
    } else if (grant == NULL) {
        reply_json(r, 400,
                   accounts_error("unsupported_grant_type",
                                  "grant_type parameter is missing"));
    } else if (strcmp(grant, "client_credentials") != 0) {
        reply_json(r, 400,
                   accounts_error("unsupported_grant_type",
                                  "grant_type must be client_credentials"
                                  ", authorization_code or refresh_token"));
    } else {
        token_issue(c->srv, tok);
        reply_json(r, 200,
                   json_pack("{s:s,s:s,s:I}", "access_token", tok, "token_type",
                             "Bearer", "expires_in",
                             (json_int_t)server_config(c->srv)->token_ttl_s));
    }
    fu_args_free(&form);
}

/* ---- search -------------------------------------------------------- */

static void base62_id(uint64_t seed, char out[23])
{
    static const char b62[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    for (unsigned i = 0; i < 22; i++)
        out[i] =
            b62[fu_mix64(seed + (uint64_t)i * UINT64_C(0x632be59bd9b4e019)) %
                62];
    out[22] = '\0';
}

/* New track object number idx of genre, with the fields a real search
 * item has; display is the capitalised genre used in names.  NULL when
 * out of memory. */
static json_t *track_json(const char *genre, const char *display, long idx)
{
    uint64_t g = fu_hash_lower(genre);
    long artist = idx % 50 + 1;
    char id[23], album_id[23], artist_id[23], isrc[16];
    char *s[12] = {NULL};
    json_t *j = NULL, *artists = NULL;
    bool ok = true;

    base62_id(g ^ fu_mix64((uint64_t)idx), id);
    base62_id(g ^ fu_mix64(0x10000u + (uint64_t)idx / 10), album_id);
    base62_id(fu_mix64(0x20000u + (uint64_t)artist), artist_id);
    snprintf(isrc, sizeof isrc, "QZFZ2%07ld", idx % 10000000);
    s[0] = fmt("%s Song %ld", display, idx);
    s[1] = fmt("%s Album %ld", display, idx / 10);
    s[2] = fmt("Artist %ld", artist);
    s[3] = fmt("https://open.spotify.com/track/%s", id);
    s[4] = fmt("https://open.spotify.com/artist/%s", artist_id);
    s[5] = fmt("spotify:track:%s", id);
    s[6] = fmt("spotify:artist:%s", artist_id);
    s[7] = fmt("spotify:album:%s", album_id);
    s[8] = fmt("https://api.spotify.com/v1/tracks/%s", id);
    s[9] = fmt("https://api.spotify.com/v1/artists/%s", artist_id);
    s[10] = fmt("https://api.spotify.com/v1/albums/%s", album_id);
    s[11] = fmt("https://open.spotify.com/album/%s", album_id);
    for (int i = 0; i < 12; i++)
        ok = ok && s[i] != NULL;
    /* The same artist object appears in the album and in the track. */
    if (ok)
        artists = json_pack("[{s:{s:s},s:s,s:s,s:s,s:s,s:s}]", "external_urls",
                            "spotify", s[4], "href", s[9], "id", artist_id,
                            "name", s[2], "type", "artist", "uri", s[6]);
    if (artists != NULL)
        j = json_pack(
            "{s:{s:s,s:O,s:o?,s:{s:s},s:s,s:s,s:o?,s:s,s:s,s:s,s:i,s:s,s:s},"
            "s:O,s:o?,s:i,s:i,s:b,s:{s:s},s:{s:s},s:s,s:s,s:b,s:s,s:i,s:n,"
            "s:i,s:s,s:s}",
            "album", "album_type", "album", "artists", artists,
            "available_markets", markets_json(), "external_urls", "spotify",
            s[11], "href", s[10], "id", album_id, "images",
            images_json(album_id), "name", s[1], "release_date", "2020-01-01",
            "release_date_precision", "day", "total_tracks", 10, "type",
            "album", "uri", s[7], "artists", artists, "available_markets",
            markets_json(), "disc_number", 1, "duration_ms", 200000, "explicit",
            0, "external_ids", "isrc", isrc, "external_urls", "spotify", s[3],
            "href", s[8], "id", id, "is_local", 0, "name", s[0], "popularity",
            50, "preview_url", "track_number", (int)(idx % 10 + 1), "type",
            "track", "uri", s[5]);
    json_decref(artists);
    for (int i = 0; i < 12; i++)
        free(s[i]);
    return j;
}

/* New string: the genre in "genre:<g>" or genre:"<g h>", else all of q. */
static char *genre_of(const char *q)
{
    const char *g = q, *end;

    for (const char *s = q; *s; s++) {
        if ((s == q || s[-1] == ' ') && strncasecmp(s, "genre:", 6) == 0) {
            g = s + 6;
            break;
        }
    }
    if (*g == '"') {
        g++;
        end = strchr(g, '"');
    } else {
        end = g == q ? NULL : strchr(g, ' ');
    }
    return end != NULL ? strndup(g, (size_t)(end - g)) : strdup(g);
}

/* New string: the URL of a page of this search, on the Host the client
 * used, so a client that follows "next" stays on the fake. */
static char *search_url(const struct call *c, const char *q, long offset,
                        long limit)
{
    const char *host = call_header(c, "Host");
    char *enc = fu_pct_encode(q), *url = NULL;

    if (host == NULL || *host == '\0' || strlen(host) > 255 ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-:[]") != strlen(host))
        host = "127.0.0.1";
    if (enc != NULL)
        url = fmt("http://%s/v1/search?q=%s&type=track&offset=%ld&limit=%ld",
                  host, enc, offset, limit);
    free(enc);
    return url;
}

json_t *spotify_search_wrongtype(void)
{
    return json_pack("{s:{s:[{s:i,s:b,s:s}],s:s}}", "tracks", "items", "name",
                     42, "uri", 0, "artists", "nobody", "total", "many");
}

/* Checks the bearer token; fills r and returns false when it is bad. */
static bool search_auth(const struct call *c, struct reply *r)
{
    const char *auth = call_header(c, "Authorization");
    enum token_state ts;

    if (auth == NULL) {
        reply_json(r, 401, spotify_error(401, "No token provided"));
        return false;
    }
    if (strncasecmp(auth, "Bearer ", 7) != 0) {
        reply_json(
            r, 401,
            spotify_error(401, "Only valid bearer authentication supported"));
        return false;
    }
    ts = token_check(c->srv, auth + 7);
    if (ts == TOKEN_VALID)
        return true;
    reply_json(r, 401,
               spotify_error(401, ts == TOKEN_EXPIRED
                                      ? "The access token expired"
                                      : "Invalid access token"));
    return false;
}

/* Validates the query; fills r and returns NULL on a 400. */
static const char *search_params(const struct call *c, long *limit,
                                 long *offset, struct reply *r)
{
    const char *q = fu_args_get(c->q, "q");
    const char *type = fu_args_get(c->q, "type");
    const char *slimit = fu_args_get(c->q, "limit");
    const char *soffset = fu_args_get(c->q, "offset");
    const char *err = NULL;

    if (q == NULL)
        q = fu_args_get(c->q, "query");
    if (q == NULL || *q == '\0' || !fu_utf8_ok(q))
        err = "No search query";
    else if (type == NULL)
        err = "Missing parameter type";
    else if (strcmp(type, "track") != 0)
        err = "Bad search type field";
    else if (slimit != NULL && !fu_parse_long(slimit, 1, 10, limit))
        err = "Invalid limit";
    else if (soffset != NULL && !fu_parse_long(soffset, 0, 1000, offset))
        err = "Invalid offset";
    if (err == NULL)
        return q;
    reply_json(r, 400, spotify_error(400, err));
    return NULL;
}

void spotify_handle_search(const struct call *c, struct reply *r)
{
    long limit = 10, offset = 0, total, reach;
    char *genre = NULL, *display = NULL, *href = NULL, *next = NULL;
    char *prev = NULL;
    const char *q;
    json_t *items = NULL;

    if (!search_auth(c, r))
        return;
    q = search_params(c, &limit, &offset, r);
    if (q == NULL)
        return;
    genre = genre_of(q);
    display = genre != NULL ? strdup(genre) : NULL;
    total = genre != NULL ? server_spotify_total(c->srv, genre) : 0;
    /* Like Spotify: results past the offset cap are out of reach. */
    reach = total < OFFSET_MAX ? total : OFFSET_MAX;
    href = search_url(c, q, offset, limit);
    if (offset + limit < reach)
        next = search_url(c, q, offset + limit, limit);
    if (offset > 0)
        prev = search_url(c, q, offset > limit ? offset - limit : 0, limit);
    if (display != NULL && href != NULL) {
        display[0] = (char)toupper((unsigned char)display[0]);
        items = json_array();
    }
    for (long i = 0; items != NULL && i < limit && offset + i < reach; i++)
        json_array_append_new(items, track_json(genre, display, offset + i));
    reply_json(r, 200,
               items == NULL
                   ? NULL
                   : json_pack("{s:{s:s,s:I,s:s?,s:I,s:s?,s:I,s:o}}", "tracks",
                               "href", href, "limit", (json_int_t)limit, "next",
                               next, "offset", (json_int_t)offset, "previous",
                               prev, "total", (json_int_t)total, "items",
                               items));
    free(genre);
    free(display);
    free(href);
    free(next);
    free(prev);
}
