/*
 * test_prom.c - the Prometheus writer (common/prom.h) on its own: label
 * escaping, the applies filter, catch-all lookups, bucket boundaries, and
 * strict validity of what it writes (tests/promcheck.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../promcheck.h"
#include "prom.h"
#include "tbuf.h"

static const char *const kinds[] = {"a\"b", "c\\d", "e\nf", "other"};
static const struct prom_label kind = {"kind", kinds, 4};
static const char *const sides[] = {"left", "right"};
static const struct prom_label side = {"side", sides, 2};

static int not_second(size_t i)
{
    return i != 1;
}

static atomic_long cells[4 * 2];
static const struct prom_family fam = {
    "t_things_total", "Things.", PROM_COUNTER, &kind, &side, not_second, cells};

static const double bounds[] = {0.1, 1};
static struct prom_hcell hcells[1];
static const struct prom_histogram hist = {"t_seconds", "Durations.", bounds, 2,
                                           NULL,        NULL,         hcells};

static char *write_all(void)
{
    struct tbuf b;
    size_t len;
    char *s, err[256];

    tbuf_init(&b, 256, 1 << 16);
    prom_write(&b, &fam);
    prom_write_histogram(&b, &hist);
    prom_write_value(&b, "t_value", "A value.", PROM_GAUGE, 0.25);
    s = tbuf_finish(&b, &len);
    assert_non_null(s);
    if (promcheck(s, 1, err, sizeof(err)) != 0)
        fail_msg("%s\n%s", err, s);
    return s;
}

static void test_families(void **state)
{
    char *s;
    double v;

    (void)state;
    assert_int_equal(prom_lookup(&kind, "c\\d"), 1);
    assert_int_equal(prom_lookup(&kind, "nope"), 3);
    assert_int_equal(prom_lookup(&kind, NULL), 3);
    prom_inc(prom_cell(&fam, 0, 1));
    prom_add(prom_cell(&fam, 9, 9), 5); /* out of range: the catch-all */
    prom_inc(prom_cell(&fam, 1, 0));    /* counted, but not exposed */
    s = write_all();
    assert_non_null(
        strstr(s, "t_things_total{kind=\"a\\\"b\",side=\"right\"} 1\n"));
    assert_non_null(
        strstr(s, "t_things_total{kind=\"e\\nf\",side=\"left\"} 0\n"));
    assert_non_null(
        strstr(s, "t_things_total{kind=\"other\",side=\"right\"} 5\n"));
    assert_null(strstr(s, "c\\\\d")); /* left out by applies */
    assert_int_equal(promcheck_sum(s, "t_things_total", "", &v), 6);
    assert_true(v == 6);
    assert_non_null(strstr(s, "t_value 0.25\n"));
    free(s);
}

static void test_histogram_bounds(void **state)
{
    char *s;
    double v;

    (void)state;
    prom_observe(&hist, 0, 0.1); /* on the bound: in le="0.1" */
    prom_observe(&hist, 0, 0.5);
    prom_observe(&hist, 0, 30);   /* +Inf */
    prom_observe(&hist, 7, 0.05); /* out-of-range series: the only one */
    s = write_all();
    promcheck_sum(s, "t_seconds_bucket", "le=\"0.1\"", &v);
    assert_true(v == 2);
    promcheck_sum(s, "t_seconds_bucket", "le=\"1\"", &v);
    assert_true(v == 3);
    promcheck_sum(s, "t_seconds_bucket", "le=\"+Inf\"", &v);
    assert_true(v == 4);
    promcheck_sum(s, "t_seconds_count", "", &v);
    assert_true(v == 4);
    promcheck_sum(s, "t_seconds_sum", "", &v);
    assert_true(v > 30.64 && v < 30.66);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_histogram_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
