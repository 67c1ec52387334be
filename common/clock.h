/*
 * clock.h - the one place tempo reads clocks.
 *
 * Deadlines, timeouts and latencies use CLOCK_MONOTONIC (it never jumps);
 * only values that cross a process boundary (the absolute deadline a call
 * carries to the worker) use the wall clock, and are converted to
 * monotonic time on arrival.
 */
#ifndef TEMPO_CLOCK_H
#define TEMPO_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
static inline int64_t clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds on CLOCK_MONOTONIC, for measuring durations. */
static inline double clock_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds on CLOCK_MONOTONIC_COARSE: the same clock read from the
 * vDSO without a hardware counter (a few ms of resolution), for hot paths
 * that only need the tick, such as the rate limiter. */
static inline int64_t clock_coarse_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds from t0 (a CLOCK_MONOTONIC reading) to now. */
static inline double clock_since_s(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) +
           (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
static inline int64_t clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
