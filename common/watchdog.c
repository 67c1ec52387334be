/*
 * watchdog.c - see watchdog.h.
 *
 * Two doubly-linked FIFO lists, one per class, ordered by deadline because
 * entries are appended with now + a constant.  The thread sleeps on a
 * condition variable (CLOCK_MONOTONIC) until the earlier of the two heads
 * is due; arming into an empty list wakes it so it can recompute.
 * Disarming a head makes it wake up early at worst.
 */
#include "watchdog.h"

#include "clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct wlist {
    struct watchdog_entry *head, *tail;
    uint64_t ms;
};

struct watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    struct wlist list[2];
    int stop;
    unsigned long expired;
    void (*on_expire)(void *ud);
    void *ud;
};

static uint64_t now_ms(void)
{
    return (uint64_t)clock_mono_ms();
}

static void unlink_entry(struct watchdog *w, struct watchdog_entry *e)
{
    struct wlist *l = &w->list[e->armed - 1];

    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
    e->armed = 0;
}

static void *run(void *arg)
{
    struct watchdog *w = arg;

    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct watchdog_entry *first = NULL;
        uint64_t t;
        int i;

        for (i = 0; i < 2; i++)
            if (w->list[i].head != NULL &&
                (first == NULL ||
                 w->list[i].head->deadline_ms < first->deadline_ms))
                first = w->list[i].head;
        if (first == NULL) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        t = now_ms();
        if (first->deadline_ms <= t) {
            int fd = first->fd;
            unlink_entry(w, first);
            /* The descriptor is still open: its owner disarms before it
             * closes, under this lock. */
            shutdown(fd, SHUT_RDWR);
            w->expired++;
            if (w->on_expire != NULL)
                w->on_expire(w->ud);
            continue;
        } else {
            struct timespec ts;
            uint64_t at = first->deadline_ms;
            ts.tv_sec = (time_t)(at / 1000u);
            ts.tv_nsec = (long)(at % 1000u) * 1000000L;
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct watchdog *watchdog_create(long first_ms, long next_ms,
                                 void (*on_expire)(void *ud), void *ud)
{
    struct watchdog *w = NULL;
    pthread_condattr_t ca;
    int have_ca = 0, have_mu = 0, have_cv = 0;

    if (first_ms < 1 || next_ms < 1)
        return NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        goto fail;
    w->list[WATCHDOG_FIRST].ms = (uint64_t)first_ms;
    w->list[WATCHDOG_NEXT].ms = (uint64_t)next_ms;
    w->on_expire = on_expire;
    w->ud = ud;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    have_ca = 1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&w->cv, &ca) != 0)
        goto fail;
    have_cv = 1;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        goto fail;
    have_mu = 1;
    if (pthread_create(&w->thread, NULL, run, w) != 0)
        goto fail;
    pthread_condattr_destroy(&ca);
    return w;
fail:
    if (have_mu)
        pthread_mutex_destroy(&w->mu);
    if (have_cv)
        pthread_cond_destroy(&w->cv);
    if (have_ca)
        pthread_condattr_destroy(&ca);
    free(w);
    return NULL;
}

void watchdog_arm(struct watchdog *w, struct watchdog_entry *e, int fd,
                  enum watchdog_class c)
{
    struct wlist *l = &w->list[c == WATCHDOG_NEXT ? 1 : 0];
    int was_empty;

    pthread_mutex_lock(&w->mu);
    if (e->armed)
        unlink_entry(w, e);
    e->fd = fd;
    e->deadline_ms = now_ms() + l->ms;
    e->armed = (c == WATCHDOG_NEXT ? 1 : 0) + 1;
    e->next = NULL;
    e->prev = l->tail;
    was_empty = l->head == NULL;
    if (l->tail != NULL)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    if (was_empty)
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void watchdog_disarm(struct watchdog *w, struct watchdog_entry *e)
{
    pthread_mutex_lock(&w->mu);
    if (e->armed)
        unlink_entry(w, e);
    pthread_mutex_unlock(&w->mu);
}

unsigned long watchdog_expired(struct watchdog *w)
{
    unsigned long n;

    pthread_mutex_lock(&w->mu);
    n = w->expired;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void watchdog_destroy(struct watchdog *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
