/*
 * rng.h - tempo's one random source.
 *
 * rng_u64 is a fast per-thread xoshiro256** generator, seeded from
 * getrandom(2) on first use in each thread: for jitter, sampling and
 * shuffles, where speed matters and prediction harms nobody.  rng_secure
 * reads getrandom(2) directly: for identifiers a client could otherwise
 * predict (request ids, correlation ids, trace ids).
 */
#ifndef TEMPO_RNG_H
#define TEMPO_RNG_H

#include <stddef.h>
#include <stdint.h>

/* A uniformly distributed 64-bit value (this thread's generator). */
uint64_t rng_u64(void);

/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t rng_below(uint64_t n);

/* Fills buf with n bytes from the kernel's CSPRNG (getrandom; falls back
 * to rng_u64 only if the kernel refuses, which Linux >= 3.17 never does
 * once booted). */
void rng_secure(void *buf, size_t n);

#endif
