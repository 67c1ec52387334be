/*
 * test_watchdog.c - socket deadlines (common/watchdog.h) on real socket
 * pairs: an armed socket is shut down once its deadline passes, a
 * disarmed or re-armed one is not, and both classes keep their order.
 * Waits are generous; only the order of events is asserted tightly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "watchdog.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

struct pair {
    int ours, peer;
};

static struct pair make_pair(void)
{
    int sv[2];
    struct pair p;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    p.ours = sv[0];
    p.peer = sv[1];
    return p;
}

/* Did the peer see the end of the stream within ms? */
static int peer_closed_within(const struct pair *p, int ms)
{
    struct pollfd pfd = {p->peer, POLLIN, 0};
    char c;

    if (poll(&pfd, 1, ms) != 1)
        return 0;
    return read(p->peer, &c, 1) == 0;
}

static void close_pair(struct pair *p)
{
    close(p->ours);
    close(p->peer);
}

static int expiries;

static void count(void *ud)
{
    (void)ud;
    expiries++;
}

static void test_deadline_shuts_down(void **state)
{
    struct watchdog *w = watchdog_create(100, 60000, count, NULL);
    struct watchdog_entry a = {0}, b = {0};
    struct pair pa = make_pair(), pb = make_pair();

    (void)state;
    assert_non_null(w);
    expiries = 0;
    watchdog_arm(w, &a, pa.ours, WATCHDOG_FIRST);
    watchdog_arm(w, &b, pb.ours, WATCHDOG_NEXT); /* 60 s */
    assert_true(peer_closed_within(&pa, 5000));
    assert_false(peer_closed_within(&pb, 200));
    assert_int_equal(watchdog_expired(w), 1);
    assert_int_equal(expiries, 1);
    watchdog_disarm(w, &b);
    watchdog_destroy(w);
    close_pair(&pa);
    close_pair(&pb);
}

static void test_disarm_and_rearm(void **state)
{
    struct watchdog *w = watchdog_create(300, 100, NULL, NULL);
    struct watchdog_entry a = {0}, b = {0}, c = {0};
    struct pair pa = make_pair(), pb = make_pair(), pc = make_pair();

    (void)state;
    assert_non_null(w);
    watchdog_arm(w, &a, pa.ours, WATCHDOG_FIRST);
    watchdog_arm(w, &b, pb.ours, WATCHDOG_FIRST);
    watchdog_arm(w, &c, pc.ours, WATCHDOG_FIRST);
    /* a: disarmed (its headers arrived); b: re-armed into the 100 ms
     * class; c: left to expire. */
    watchdog_disarm(w, &a);
    watchdog_disarm(w, &a); /* twice is harmless */
    watchdog_arm(w, &b, pb.ours, WATCHDOG_NEXT);
    assert_true(peer_closed_within(&pb, 5000));
    assert_true(peer_closed_within(&pc, 5000));
    assert_false(peer_closed_within(&pa, 500));
    assert_int_equal(watchdog_expired(w), 2);
    watchdog_destroy(w);
    close_pair(&pa);
    close_pair(&pb);
    close_pair(&pc);
}

static void test_many_in_order(void **state)
{
    enum { N = 50 };
    struct watchdog *w = watchdog_create(50, 50, NULL, NULL);
    struct watchdog_entry e[N] = {{0}};
    struct pair p[N];
    int i;

    (void)state;
    assert_non_null(w);
    for (i = 0; i < N; i++) {
        p[i] = make_pair();
        watchdog_arm(w, &e[i], p[i].ours,
                     i % 2 ? WATCHDOG_NEXT : WATCHDOG_FIRST);
    }
    for (i = 0; i < N; i++)
        assert_true(peer_closed_within(&p[i], 5000));
    assert_int_equal(watchdog_expired(w), N);
    watchdog_destroy(w);
    for (i = 0; i < N; i++)
        close_pair(&p[i]);
}

static void test_create_and_destroy(void **state)
{
    (void)state;
    assert_null(watchdog_create(0, 10, NULL, NULL));
    assert_null(watchdog_create(10, -1, NULL, NULL));
    watchdog_destroy(NULL);
    /* Nothing armed: the thread waits without a deadline and stops. */
    watchdog_destroy(watchdog_create(10, 10, NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_shuts_down),
        cmocka_unit_test(test_disarm_and_rearm),
        cmocka_unit_test(test_many_in_order),
        cmocka_unit_test(test_create_and_destroy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
