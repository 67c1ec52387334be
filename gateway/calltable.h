/*
 * calltable.h - the gateway's calls in flight: a hash table by correlation
 * id and a list ordered by deadline.  Pure (no clock, no locks; the RPC
 * client's thread owns it), so it is unit-tested on its own.
 *
 * An entry is in the table iff it is in the deadline list: calltable_take
 * removes it from both, which is what lets every call complete exactly
 * once (by reply, deadline, return or lost connection).
 */
#ifndef TEMPO_CALLTABLE_H
#define TEMPO_CALLTABLE_H

#include <stddef.h>
#include <stdint.h>

#define CALLTABLE_BUCKETS 16384u /* a power of two */

/* Embedded in the caller's struct (see container_of.h).  The caller sets
 * corr_id and deadline_ms before calltable_add; the rest is private. */
struct call_entry {
    char corr_id[37];
    int64_t deadline_ms;
    struct call_entry *h_next;          /* bucket chain */
    struct call_entry *d_prev, *d_next; /* deadline order */
};

struct calltable {
    struct call_entry *buckets[CALLTABLE_BUCKETS];
    struct call_entry *d_head, *d_tail;
    size_t count;
};

/* Empties t (it holds no memory of its own). */
void calltable_init(struct calltable *t);

/*
 * Adds e (borrowed until taken).  Deadlines normally arrive in order (one
 * timeout for every call), so this is O(1); an earlier deadline is walked
 * into place from the tail.  corr_id must not be in the table already.
 */
void calltable_add(struct calltable *t, struct call_entry *e);

/* Removes and returns the entry with this correlation id, or NULL. */
struct call_entry *calltable_take(struct calltable *t, const char *corr_id);

/* The entry with the earliest deadline (still in the table), or NULL. */
struct call_entry *calltable_first(const struct calltable *t);

/* Removes and returns the earliest entry if its deadline is <= now. */
struct call_entry *calltable_take_expired(struct calltable *t, int64_t now);

#endif
