/*
 * watchdog.h - absolute deadlines for sockets, enforced by a thread of its
 * own: when an armed entry's deadline passes, its socket is shut down
 * (shutdown(2), both directions).  The owner of the socket then sees it
 * end and closes it the normal way.
 *
 * Used by both daemons' libmicrohttpd servers to give a request's headers
 * a total deadline: libmicrohttpd's own connection timeout restarts on
 * every byte received, so a client dribbling one byte at a time would
 * hold its connection forever (slowloris).
 *
 * Two deadline classes, each a constant set at create: FIRST (e.g. a new
 * connection's first request) and NEXT (e.g. a later request on a kept-
 * alive connection).  Because each class adds a constant to the arming
 * time, each is a FIFO list, and arming, disarming and expiry are O(1).
 *
 * Thread safety: arm and disarm may be called from any thread; the lists
 * are under one mutex, which the watchdog thread also holds while it shuts
 * sockets down.  Disarm an entry before its socket is closed (for
 * libmicrohttpd: in the MHD_CONNECTION_NOTIFY_CLOSED callback, which runs
 * before the close), so that a deadline can never hit a reused descriptor.
 */
#ifndef TEMPO_WATCHDOG_H
#define TEMPO_WATCHDOG_H

#include <stdint.h>

struct watchdog;

enum watchdog_class { WATCHDOG_FIRST = 0, WATCHDOG_NEXT = 1 };

/* Owned by the caller (e.g. inside a per-connection struct), zeroed before
 * first use; its fields are the watchdog's. */
struct watchdog_entry {
    struct watchdog_entry *prev, *next;
    uint64_t deadline_ms;
    int fd;
    int armed; /* 0, or 1 + the class */
};

/*
 * Starts the watchdog thread.  first_ms and next_ms (>= 1) are the
 * deadlines of the two classes; on_expire, if not NULL, is called on the
 * watchdog thread (with the lock held: keep it short, e.g. a counter)
 * once per socket shut down.  Returns NULL if the thread cannot start.
 */
struct watchdog *watchdog_create(long first_ms, long next_ms,
                                 void (*on_expire)(void *ud), void *ud);

/* Arms e for socket fd with the deadline of class c from now, replacing
 * any deadline it had. */
void watchdog_arm(struct watchdog *w, struct watchdog_entry *e, int fd,
                  enum watchdog_class c);

/* Disarms e (no-op if not armed). */
void watchdog_disarm(struct watchdog *w, struct watchdog_entry *e);

/* Sockets shut down so far. */
unsigned long watchdog_expired(struct watchdog *w);

/* Stops the thread (no deadline fires after it returns) and frees w.
 * Armed entries are left alone.  NULL is a no-op. */
void watchdog_destroy(struct watchdog *w);

#endif
