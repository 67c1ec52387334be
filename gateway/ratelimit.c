/*
 * ratelimit.c - see ratelimit.h.
 *
 * Tokens are counted in thousandths ("milli-tokens"), so that a refill of
 * elapsed_ms * rps milli-tokens is exact integer arithmetic: one request
 * costs 1000, a bucket holds burst * 1000.  Elapsed time is capped before
 * the multiplication (a bucket is full after burst * 1000 / rps ms), so
 * nothing overflows however long a client stays away.
 *
 * A lookup hashes the client key (SplitMix64's finaliser over key ^ seed)
 * to one set of WAYS entries and scans it: a few cache lines, no pointer
 * chasing, no allocation.  Recency is a per-table counter of lookups, not
 * the clock: a thousand new clients within one millisecond still have an
 * order.
 */
#include "ratelimit.h"

#include "netaddr.h"

#include <stdlib.h>
#include <string.h>

#define WAYS 8
#define MILLI 1000u
#define RATELIMIT_MAX 1000000L

struct entry {
    uint64_t key;
    uint64_t last_ms; /* when tokens was last brought up to date */
    uint32_t tokens;  /* milli-tokens, <= cap (at most 10^9) */
    uint32_t seen;    /* the table's tick at the last lookup */
    uint8_t family;   /* 0 = unused, 4 or 6 */
};

struct ratelimit {
    uint64_t rps;
    uint64_t cap; /* burst * MILLI */
    uint64_t full_after_ms;
    uint64_t seed;
    size_t nsets;
    size_t used;
    unsigned long evictions;
    uint32_t tick; /* lookups so far (wraps): recency, finer than ms */
    struct entry *e;
};

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* IPv4: the address; IPv6: its /64 prefix. */
static uint64_t client_key(const struct netaddr *a)
{
    uint64_t k = 0;
    size_t i, n = a->family == 4 ? 4 : 8;

    for (i = 0; i < n; i++)
        k = (k << 8) | a->bytes[i];
    return k;
}

struct ratelimit *ratelimit_create(long rps, long burst, size_t slots,
                                   uint64_t seed)
{
    struct ratelimit *rl;

    if (rps < 1 || rps > RATELIMIT_MAX || burst < 1 || burst > RATELIMIT_MAX)
        return NULL;
    if (slots < WAYS)
        slots = WAYS;
    if (slots > ((size_t)1 << 24))
        return NULL;
    rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        return NULL;
    rl->nsets = (slots + WAYS - 1) / WAYS;
    rl->e = calloc(rl->nsets * WAYS, sizeof(*rl->e));
    if (rl->e == NULL) {
        free(rl);
        return NULL;
    }
    rl->rps = (uint64_t)rps;
    rl->cap = (uint64_t)burst * MILLI;
    rl->full_after_ms = rl->cap / rl->rps + 1;
    rl->seed = seed;
    return rl;
}

void ratelimit_destroy(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    free(rl->e);
    free(rl);
}

/* Brings e's bucket up to now_ms. */
static void refill(const struct ratelimit *rl, struct entry *e, uint64_t now_ms)
{
    uint64_t elapsed = now_ms > e->last_ms ? now_ms - e->last_ms : 0;

    if (elapsed >= rl->full_after_ms) {
        e->tokens = (uint32_t)rl->cap;
    } else if (elapsed > 0) {
        uint64_t t = e->tokens + elapsed * rl->rps;
        e->tokens = (uint32_t)(t > rl->cap ? rl->cap : t);
    }
    if (now_ms > e->last_ms)
        e->last_ms = now_ms;
}

/* Would e's bucket be full at now_ms? */
static int is_full(const struct ratelimit *rl, const struct entry *e,
                   uint64_t now_ms)
{
    uint64_t elapsed = now_ms > e->last_ms ? now_ms - e->last_ms : 0;

    return elapsed >= rl->full_after_ms ||
           e->tokens + elapsed * rl->rps >= rl->cap;
}

/* The entry for (family, key) in its set: found, or a replaced one. */
static struct entry *lookup(struct ratelimit *rl, uint8_t family, uint64_t key,
                            uint64_t now_ms)
{
    uint64_t h = mix(key ^ rl->seed ^ ((uint64_t)family << 56));
    struct entry *set = &rl->e[(size_t)(h % rl->nsets) * WAYS];
    struct entry *victim = NULL, *lru = &set[0];
    uint32_t now = ++rl->tick;
    size_t i;

    for (i = 0; i < WAYS; i++) {
        struct entry *e = &set[i];
        if (e->family == family && e->key == key) {
            e->seen = now;
            return e;
        }
        if (victim != NULL)
            continue;
        if (e->family == 0 || is_full(rl, e, now_ms))
            victim = e;
        else if ((uint32_t)(now - e->seen) > (uint32_t)(now - lru->seen))
            lru = e;
    }
    if (victim == NULL) {
        victim = lru;
        rl->evictions++;
    } else if (victim->family == 0) {
        rl->used++;
    }
    victim->family = family;
    victim->key = key;
    victim->tokens = (uint32_t)rl->cap;
    victim->last_ms = now_ms;
    victim->seen = now;
    return victim;
}

int ratelimit_take(struct ratelimit *rl, const struct netaddr *client,
                   uint64_t now_ms, long *retry_after_s)
{
    struct entry *e;
    uint64_t wait_ms;

    e = lookup(rl, client->family == 4 ? 4 : 6, client_key(client), now_ms);
    refill(rl, e, now_ms);
    if (e->tokens >= MILLI) {
        e->tokens -= MILLI;
        return 1;
    }
    wait_ms = (MILLI - e->tokens + rl->rps - 1) / rl->rps;
    *retry_after_s = (long)((wait_ms + 999) / 1000);
    if (*retry_after_s < 1)
        *retry_after_s = 1;
    return 0;
}

void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out)
{
    out->slots = rl->nsets * WAYS;
    out->used = rl->used;
    out->evictions = rl->evictions;
}
