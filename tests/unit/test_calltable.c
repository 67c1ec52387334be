/*
 * test_calltable.c - the gateway's calls in flight (gateway/calltable.h):
 * lookup by correlation id, deadline order, each entry taken once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calltable.h"

static struct calltable table;

static void entry(struct call_entry *e, const char *id, int64_t deadline)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->corr_id, sizeof(e->corr_id), "%s", id);
    e->deadline_ms = deadline;
}

static void test_take_once(void **state)
{
    struct call_entry a, b, c;

    (void)state;
    calltable_init(&table);
    entry(&a, "a", 100);
    entry(&b, "b", 200);
    entry(&c, "c", 300);
    calltable_add(&table, &a);
    calltable_add(&table, &b);
    calltable_add(&table, &c);
    assert_int_equal(table.count, 3);
    assert_ptr_equal(calltable_take(&table, "b"), &b);
    assert_null(calltable_take(&table, "b")); /* a duplicate reply */
    assert_null(calltable_take(&table, "unknown"));
    assert_ptr_equal(calltable_first(&table), &a);
    assert_null(calltable_take_expired(&table, 99));
    assert_ptr_equal(calltable_take_expired(&table, 100), &a);
    assert_ptr_equal(calltable_take_expired(&table, 1000), &c);
    assert_null(calltable_take_expired(&table, 1000));
    assert_null(calltable_first(&table));
    assert_int_equal(table.count, 0);
}

/* Deadlines out of order still come out in order. */
static void test_deadline_order(void **state)
{
    static const int64_t d[] = {50, 10, 40, 40, 5, 60, 20};
    struct call_entry e[7], *x;
    int64_t last = -1;
    size_t i, n = 0;
    char id[8];

    (void)state;
    calltable_init(&table);
    for (i = 0; i < 7; i++) {
        snprintf(id, sizeof(id), "id%zu", i);
        entry(&e[i], id, d[i]);
        calltable_add(&table, &e[i]);
    }
    while ((x = calltable_take_expired(&table, 1000)) != NULL) {
        assert_true(x->deadline_ms >= last);
        last = x->deadline_ms;
        n++;
    }
    assert_int_equal(n, 7);
}

/* Many calls in one bucket chain and across buckets. */
static void test_many(void **state)
{
    enum { N = 50000 };
    struct call_entry *e = calloc(N, sizeof(*e));
    char id[37];
    size_t i;

    (void)state;
    assert_non_null(e);
    calltable_init(&table);
    for (i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "%08zx-0000-4000-8000-000000000000", i);
        entry(&e[i], id, (int64_t)i);
        calltable_add(&table, &e[i]);
    }
    for (i = 0; i < N; i += 2) {
        snprintf(id, sizeof(id), "%08zx-0000-4000-8000-000000000000", i);
        assert_ptr_equal(calltable_take(&table, id), &e[i]);
    }
    assert_int_equal(table.count, N / 2);
    for (i = 1; i < N; i += 2)
        assert_ptr_equal(calltable_take_expired(&table, (int64_t)N), &e[i]);
    assert_int_equal(table.count, 0);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_once),
        cmocka_unit_test(test_deadline_order),
        cmocka_unit_test(test_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
