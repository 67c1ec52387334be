/*
 * ratelimit.h - per-client token buckets in a fixed-size table.  Pure: the
 * clock is passed in, no sockets, no allocation after create.
 *
 * Each client (an IPv4 address, or the /64 prefix of an IPv6 address: one
 * host usually holds a whole /64) has a bucket of `burst` tokens that
 * refills at `rps` tokens per second; a request takes one token or is
 * refused.  The table has a fixed number of entries, in sets of 8 chosen
 * by a keyed hash of the client (the key is random per process, so a
 * client cannot aim at one set).  A new client replaces, in its set, an
 * entry whose bucket has refilled completely (forgetting it loses
 * nothing: a new entry starts full), else the entry seen least recently;
 * only the latter is counted as an eviction.  So memory stays fixed
 * whatever the number of distinct addresses, and under a flood of them an
 * evicted client at worst starts over with a full bucket.
 *
 * Not thread-safe: the gateway calls it from its one HTTP thread.
 */
#ifndef TEMPO_RATELIMIT_H
#define TEMPO_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct netaddr;
struct ratelimit;

/* Entries of the gateway's table: 16,384 * 32 bytes = 512 KiB. */
#define RATELIMIT_SLOTS 16384

/*
 * A table for `slots` clients (rounded up to a multiple of 8, at least 8)
 * with rps >= 1 tokens per second and bursts of burst >= 1 requests;
 * seed keys the hash.  Returns NULL if out of memory or an argument is out
 * of range (rps or burst above 1,000,000).
 */
struct ratelimit *ratelimit_create(long rps, long burst, size_t slots,
                                   uint64_t seed);

void ratelimit_destroy(struct ratelimit *rl); /* NULL is a no-op */

/*
 * One request from client at now_ms (any monotonic clock in milliseconds;
 * a clock that goes backwards refills nothing).  Returns 1 if allowed (a
 * token was taken), or 0 if over the limit, with *retry_after_s set to the
 * whole seconds until a token is back (at least 1).
 */
int ratelimit_take(struct ratelimit *rl, const struct netaddr *client,
                   uint64_t now_ms, long *retry_after_s);

struct ratelimit_stats {
    size_t slots;            /* capacity */
    size_t used;             /* entries ever filled (never decreases) */
    unsigned long evictions; /* clients forgotten before their bucket was
                                full again */
};

void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out);

#endif
