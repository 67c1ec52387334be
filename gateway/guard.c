/*
 * guard.c - see guard.h.  Collects libmicrohttpd's header list into a
 * fixed array for framing_check, and names the client for the rate table
 * (the peer, or X-Forwarded-For behind TRUSTED_PROXIES).
 */
#include "guard.h"

#include "clientip.h"
#include "clock.h"
#include "config.h"
#include "errors.h"
#include "framing.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Header lines a request may have (Apache allows 100; 64 stay well
 * within the 8 KiB libmicrohttpd needs to store them). */
#define GUARD_MAX_FIELDS 64
/* X-Forwarded-For lines read. */
#define GUARD_MAX_XFF 8

struct guard {
    size_t max_header;
    struct ratelimit *rl;
    struct netaddr_list trusted;
};

struct fields {
    struct framing_header h[GUARD_MAX_FIELDS];
    size_t n;
    int overflow;
};

struct xff {
    const char *v[GUARD_MAX_XFF];
    size_t len[GUARD_MAX_XFF];
    size_t n;
};

size_t guard_connection_memory(const struct config *cfg)
{
    size_t m = (size_t)cfg->http_max_header_bytes;

    m += m / 3;
    m = (m + 1023) / 1024 * 1024;
    return m < 8192 ? 8192 : m;
}

struct guard *guard_create(const struct config *cfg, char *err, size_t errlen)
{
    struct guard *g = calloc(1, sizeof(*g));
    uint64_t seed = 0;

    if (g == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->max_header = (size_t)cfg->http_max_header_bytes;
    if (netaddr_list_parse(cfg->trusted_proxies, &g->trusted, err, errlen) <
        0) {
        free(g);
        return NULL;
    }
    if (cfg->rate_limit_rps > 0) {
        /* The hash key: a client must not be able to aim at one set. */
        rng_secure(&seed, sizeof(seed));
        g->rl = ratelimit_create(cfg->rate_limit_rps, cfg->rate_limit_burst,
                                 RATELIMIT_SLOTS, seed);
        if (g->rl == NULL) {
            snprintf(err, errlen, "cannot create the rate limit table");
            free(g);
            return NULL;
        }
    }
    return g;
}

void guard_destroy(struct guard *g)
{
    if (g == NULL)
        return;
    ratelimit_destroy(g->rl);
    free(g);
}

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind,
                                     const char *key, size_t key_size,
                                     const char *value, size_t value_size)
{
    struct fields *f = cls;

    (void)kind;
    if (f->n == GUARD_MAX_FIELDS) {
        f->overflow = 1;
        return MHD_NO;
    }
    f->h[f->n].name = key;
    f->h[f->n].name_len = key_size;
    f->h[f->n].value = value != NULL ? value : "";
    f->h[f->n].value_len = value != NULL ? value_size : 0;
    f->n++;
    return MHD_YES;
}

int guard_check(struct guard *g, struct MHD_Connection *c, const char *method,
                const char *version, size_t uri_len, const char **why,
                int *must_close)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    struct fields f;
    int rc;

    rc = framing_size_check(uri_len, ci != NULL ? ci->header_size : 0,
                            g->max_header);
    if (rc < 0) {
        *why = rc == TEMPO_EURILONG ? "request target too long"
                                    : "request header fields too large";
        *must_close = 0;
        return rc;
    }
    f.n = 0;
    f.overflow = 0;
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, collect_field, &f);
    if (f.overflow) {
        *why = "too many request header fields";
        *must_close = 0;
        return TEMPO_EHDRLARGE;
    }
    return framing_check(method, version, f.h, f.n, why, must_close);
}

int guard_rate_limited(const struct guard *g)
{
    return g->rl != NULL;
}

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind,
                                   const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
    struct xff *x = cls;

    (void)kind;
    if (value == NULL || key_size != 15 ||
        strncasecmp(key, "X-Forwarded-For", 15) != 0)
        return MHD_YES;
    if (x->n == GUARD_MAX_XFF)
        return MHD_NO;
    x->v[x->n] = value;
    x->len[x->n++] = value_size;
    return MHD_YES;
}

int guard_rate(struct guard *g, struct MHD_Connection *c, long *retry_after_s)
{
    const union MHD_ConnectionInfo *ci;
    struct netaddr peer, client;
    struct xff x;

    if (g->rl == NULL)
        return 0;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || netaddr_from_sockaddr(ci->client_addr, &peer) < 0)
        return 0; /* not an IP peer: nothing to count against */
    client = peer;
    if (g->trusted.n > 0 && netaddr_list_contains(&g->trusted, &peer)) {
        x.n = 0;
        MHD_get_connection_values_n(c, MHD_HEADER_KIND, collect_xff, &x);
        clientip_resolve(&g->trusted, &peer, x.v, x.len, x.n, &client);
    }
    if (ratelimit_take(g->rl, &client, (uint64_t)clock_coarse_ms(),
                       retry_after_s))
        return 0;
    return TEMPO_ERATELIMIT;
}
