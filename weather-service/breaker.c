/*
 * breaker.c - the per-upstream circuit breaker and latency estimate
 * (see breaker.h).
 */
#include "breaker.h"

#include <pthread.h>
#include <stdlib.h>

#include "clock.h"
#include "metrics.h"

struct breaker {
    pthread_mutex_t mu;
    int threshold;
    long open_ms;
    int metric;
    int failures; /* consecutive */
    int64_t open_until;
    int probing;      /* a half-open probe is in flight */
    int64_t ewma_ms;  /* typical successful attempt; 0 = none yet */
    int64_t noted_at; /* last success or cut attempt: ewma_ms holds since */
};

struct breaker *breaker_create(int threshold, long open_ms, int metric)
{
    struct breaker *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    b->threshold = threshold > 0 ? threshold : 1;
    b->open_ms = open_ms;
    b->metric = metric;
    return b;
}

void breaker_destroy(struct breaker *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* The state gauge is set under the lock, so that concurrent updates
 * cannot leave it stale. */
int breaker_admit(struct breaker *b, int *probe)
{
    int rc = 0;

    *probe = 0;
    pthread_mutex_lock(&b->mu);
    if (b->failures >= b->threshold) {
        if (clock_mono_ms() < b->open_until || b->probing)
            rc = -1;
        else
            b->probing = *probe = 1;
    }
    if (*probe)
        wmetrics_breaker(b->metric, WM_BREAKER_HALF_OPEN);
    pthread_mutex_unlock(&b->mu);
    return rc;
}

void breaker_record(struct breaker *b, enum breaker_outcome o, int probe)
{
    pthread_mutex_lock(&b->mu);
    if (probe)
        b->probing = 0;
    if (o == BREAKER_OK) {
        b->failures = 0;
    } else if (o == BREAKER_FAIL && ++b->failures >= b->threshold) {
        b->failures = b->threshold;
        b->open_until = clock_mono_ms() + b->open_ms;
    }
    /* A neutral probe leaves the circuit open with its old deadline
     * passed: the next call is the probe. */
    wmetrics_breaker(b->metric, b->failures >= b->threshold
                                    ? WM_BREAKER_OPEN
                                    : WM_BREAKER_CLOSED);
    pthread_mutex_unlock(&b->mu);
}

/* Moves the estimate toward ms: up by half the gap (an upstream that
 * slows down must be seen within a few calls, or calls are started that
 * cannot finish), down by an eighth (one quick answer is not a trend). */
void breaker_note_latency(struct breaker *b, int64_t ms)
{
    if (ms < 1)
        ms = 1;
    pthread_mutex_lock(&b->mu);
    if (b->ewma_ms == 0)
        b->ewma_ms = ms;
    else if (ms > b->ewma_ms)
        b->ewma_ms += (ms - b->ewma_ms + 1) / 2;
    else
        b->ewma_ms -= (b->ewma_ms - ms) / 8;
    b->noted_at = clock_mono_ms();
    pthread_mutex_unlock(&b->mu);
}

void breaker_note_cut(struct breaker *b)
{
    pthread_mutex_lock(&b->mu);
    if (b->ewma_ms > 0)
        b->noted_at = clock_mono_ms();
    pthread_mutex_unlock(&b->mu);
}

int64_t breaker_typical_ms(struct breaker *b)
{
    int64_t v;

    pthread_mutex_lock(&b->mu);
    v = b->noted_at != 0 && clock_mono_ms() - b->noted_at < BREAKER_STALE_MS
            ? b->ewma_ms
            : 0;
    pthread_mutex_unlock(&b->mu);
    return v;
}
