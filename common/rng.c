/*
 * rng.c - see rng.h.  xoshiro256** (Blackman and Vigna, public domain),
 * one state per thread.
 */
#include "rng.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static _Thread_local uint64_t state[4];
static _Thread_local int seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* splitmix64: spreads a weak fallback seed over the whole state. */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int kernel_random(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static void seed(void)
{
    if (kernel_random(state, sizeof(state)) < 0 ||
        (state[0] | state[1] | state[2] | state[3]) == 0) {
        struct timespec ts;
        uint64_t x;
        int i;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
            (uint64_t)(uintptr_t)&ts;
        for (i = 0; i < 4; i++)
            state[i] = splitmix(&x);
    }
    seeded = 1;
}

uint64_t rng_u64(void)
{
    uint64_t result, t;

    if (!seeded)
        seed();
    result = rotl(state[1] * 5, 7) * 9;
    t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

uint64_t rng_below(uint64_t n)
{
    uint64_t limit, v;

    if (n <= 1)
        return 0;
    limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    do
        v = rng_u64();
    while (v >= limit);
    return v % n;
}

void rng_secure(void *buf, size_t n)
{
    unsigned char *p = buf;

    if (kernel_random(buf, n) == 0)
        return;
    while (n > 0) {
        uint64_t v = rng_u64();
        size_t k = n < sizeof(v) ? n : sizeof(v);
        memcpy(p, &v, k);
        p += k;
        n -= k;
    }
}
