/*
 * prom.h - the one Prometheus writer of both daemons (text exposition
 * format 0.0.4).  Debian has no C client library, and the format is small.
 *
 * A family is declared once, as a const struct: its name, help text, type
 * and labels, each label with a fixed table of values, and the cells that
 * hold its counts.  Recording is one relaxed atomic operation on a cell
 * (prom_inc, prom_set, prom_observe): no lock, no allocation, safe from
 * any thread.  Rendering writes every series of every family, zero or not
 * (so rate() works from the first scrape), except label values a family's
 * `applies` callback leaves out (e.g. a provider that is not configured).
 *
 * Label values come only from the tables, so nothing a client sends and
 * no secret can reach the exposition; they are escaped all the same.
 */
#ifndef TEMPO_PROM_H
#define TEMPO_PROM_H

#include <stdatomic.h>
#include <stddef.h>

struct tbuf;

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_MAX_BUCKETS 16

/* A label and its possible values. */
struct prom_label {
    const char *name;
    const char *const *values;
    size_t n;
};

/* Cells of a counter or gauge family: label1 x label2 of them. */
enum prom_type { PROM_COUNTER, PROM_GAUGE };

struct prom_family {
    const char *name;
    const char *help;
    enum prom_type type;
    const struct prom_label *l1, *l2; /* NULL = no such label */
    /* Which values of l1 to expose now (NULL: all). */
    int (*applies)(size_t i);
    atomic_long *cells; /* [i1 * l2->n + i2] */
};

/* One histogram series per value of l1 (or one series). */
struct prom_hcell {
    atomic_long bucket[PROM_MAX_BUCKETS + 1]; /* not cumulative; +Inf last */
    atomic_long sum_us;
};

struct prom_histogram {
    const char *name;
    const char *help;
    const double *bounds; /* increasing upper bounds, in seconds */
    size_t nbounds;       /* <= PROM_MAX_BUCKETS */
    const struct prom_label *l1;
    int (*applies)(size_t i);
    struct prom_hcell *cells; /* [i1] */
};

/* The cell of a family for label indexes i1, i2 (0 when unlabelled).
 * Out-of-range indexes give the last value's cell (a table's catch-all). */
atomic_long *prom_cell(const struct prom_family *f, size_t i1, size_t i2);

static inline void prom_inc(atomic_long *cell)
{
    atomic_fetch_add_explicit(cell, 1, memory_order_relaxed);
}

static inline void prom_add(atomic_long *cell, long n)
{
    atomic_fetch_add_explicit(cell, n, memory_order_relaxed);
}

static inline void prom_set(atomic_long *cell, long v)
{
    atomic_store_explicit(cell, v, memory_order_relaxed);
}

static inline long prom_get(atomic_long *cell)
{
    return atomic_load_explicit(cell, memory_order_relaxed);
}

/* Counts one observation of `seconds` in series i1. */
void prom_observe(const struct prom_histogram *h, size_t i1, double seconds);

/* Index of s in a label's values; the last value (a catch-all such as
 * "other") when absent or NULL. */
size_t prom_lookup(const struct prom_label *l, const char *s);

/* Write a whole family to b. */
void prom_write(struct tbuf *b, const struct prom_family *f);
void prom_write_histogram(struct tbuf *b, const struct prom_histogram *h);

/* An unlabelled sample computed at render time (in-flight, an age). */
void prom_write_value(struct tbuf *b, const char *name, const char *help,
                      enum prom_type type, double value);

/* For families whose samples the caller writes itself: the HELP and TYPE
 * lines, then samples with one label. */
void prom_write_header(struct tbuf *b, const char *name, const char *help,
                       const char *type);
void prom_write_sample(struct tbuf *b, const char *name, const char *label,
                       const char *value, double v);

#endif
