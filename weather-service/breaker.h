/*
 * breaker.h - what the worker knows about one upstream's health: a circuit
 * breaker and the time a successful attempt usually takes.
 *
 * Shared by every thread that calls the upstream (one mutex).  After
 * BREAKER_FAILURES consecutive failures (transport errors, 5xx, 429,
 * timeouts the upstream caused) calls fail at once for BREAKER_OPEN_MS;
 * then one probe call goes through and its outcome closes or re-opens
 * the circuit.  An attempt cut short by the caller's own deadline, or
 * never started, says nothing about the upstream: it is recorded as
 * BREAKER_NEUTRAL (it releases a probe without counting either way).
 *
 * The typical latency is a moving mean of recent successful attempts
 * (quick to rise, slow to fall); http_client uses it to leave an attempt
 * unstarted when the caller's time left could not cover it (the work would be
 * wasted and the reply late).  An estimate that neither a success nor a cut
 * attempt has refreshed for BREAKER_STALE_MS is not trusted, so it cannot
 * lock an upstream out for good (a call with UPSTREAM_TIMEOUT_MS or more
 * left is always attempted anyway).
 */
#ifndef TEMPO_BREAKER_H
#define TEMPO_BREAKER_H

#include <stdint.h>

/* How old a latency estimate may be before breaker_typical_ms ignores it. */
#define BREAKER_STALE_MS 5000

enum breaker_outcome {
    BREAKER_OK,      /* the upstream answered (below 500, not 429) */
    BREAKER_FAIL,    /* the upstream failed: counts toward opening */
    BREAKER_NEUTRAL, /* says nothing about the upstream */
};

struct breaker;

/* threshold >= 1 failures open it for open_ms; `metric` is the provider
 * whose tempo_worker_circuit_breaker_state gauge it keeps.  NULL: ENOMEM. */
struct breaker *breaker_create(int threshold, long open_ms, int metric);
void breaker_destroy(struct breaker *b); /* NULL is a no-op */

/* 0: go ahead (*probe is 1 if this call is the half-open probe, and must
 * then be followed by breaker_record); -1: open, fail at once. */
int breaker_admit(struct breaker *b, int *probe);

/* Records a call's outcome (probe: what breaker_admit gave it). */
void breaker_record(struct breaker *b, enum breaker_outcome o, int probe);

/* Adds a successful attempt's duration to the latency estimate. */
void breaker_note_latency(struct breaker *b, int64_t ms);

/* An attempt cut off by the caller's deadline without an answer: the
 * estimate stays as it is but counts as fresh (nothing says the upstream
 * got faster).  It does not raise the estimate: one slow request (a
 * city the provider is slow on) must not stop the quick ones. */
void breaker_note_cut(struct breaker *b);

/* The typical successful attempt, in ms; 0 when unknown or stale. */
int64_t breaker_typical_ms(struct breaker *b);

#endif
