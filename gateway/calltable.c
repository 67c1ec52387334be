/*
 * calltable.c - see calltable.h.  FNV-1a over the correlation id picks the
 * bucket; the ids are random UUIDs, so chains stay short.
 */
#include "calltable.h"

#include <string.h>

static unsigned bucket_of(const char *s)
{
    unsigned h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h & (CALLTABLE_BUCKETS - 1);
}

void calltable_init(struct calltable *t)
{
    memset(t, 0, sizeof(*t));
}

void calltable_add(struct calltable *t, struct call_entry *e)
{
    unsigned b = bucket_of(e->corr_id);
    struct call_entry *after = t->d_tail;

    e->h_next = t->buckets[b];
    t->buckets[b] = e;
    while (after != NULL && after->deadline_ms > e->deadline_ms)
        after = after->d_prev;
    e->d_prev = after;
    e->d_next = after != NULL ? after->d_next : t->d_head;
    if (e->d_next != NULL)
        e->d_next->d_prev = e;
    else
        t->d_tail = e;
    if (after != NULL)
        after->d_next = e;
    else
        t->d_head = e;
    t->count++;
}

struct call_entry *calltable_take(struct calltable *t, const char *corr_id)
{
    struct call_entry **pp = &t->buckets[bucket_of(corr_id)], *e;

    for (; (e = *pp) != NULL; pp = &e->h_next) {
        if (strcmp(e->corr_id, corr_id) != 0)
            continue;
        *pp = e->h_next;
        if (e->d_prev != NULL)
            e->d_prev->d_next = e->d_next;
        else
            t->d_head = e->d_next;
        if (e->d_next != NULL)
            e->d_next->d_prev = e->d_prev;
        else
            t->d_tail = e->d_prev;
        e->h_next = e->d_next = e->d_prev = NULL;
        t->count--;
        return e;
    }
    return NULL;
}

struct call_entry *calltable_first(const struct calltable *t)
{
    return t->d_head;
}

struct call_entry *calltable_take_expired(struct calltable *t, int64_t now)
{
    if (t->d_head == NULL || t->d_head->deadline_ms > now)
        return NULL;
    return calltable_take(t, t->d_head->corr_id);
}
