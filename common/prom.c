/*
 * prom.c - see prom.h.
 *
 * A histogram's buckets are kept per bucket, not cumulative, and summed
 * while rendering: each bucket is read once, so the buckets, +Inf and
 * _count of one scrape always agree even while other threads keep
 * counting.  Sums are integer microseconds, so they stay atomic.
 */
#include "prom.h"

#include "tbuf.h"

#include <stdio.h>
#include <string.h>

atomic_long *prom_cell(const struct prom_family *f, size_t i1, size_t i2)
{
    size_t n1 = f->l1 != NULL ? f->l1->n : 1;
    size_t n2 = f->l2 != NULL ? f->l2->n : 1;

    if (i1 >= n1)
        i1 = n1 - 1;
    if (i2 >= n2)
        i2 = n2 - 1;
    return &f->cells[i1 * n2 + i2];
}

size_t prom_lookup(const struct prom_label *l, const char *s)
{
    size_t i;

    for (i = 0; s != NULL && i + 1 < l->n; i++)
        if (strcmp(l->values[i], s) == 0)
            return i;
    return l->n - 1;
}

void prom_observe(const struct prom_histogram *h, size_t i1, double seconds)
{
    struct prom_hcell *c;
    size_t b, n1 = h->l1 != NULL ? h->l1->n : 1;

    if (i1 >= n1)
        i1 = n1 - 1;
    c = &h->cells[i1];
    for (b = 0; b < h->nbounds && !(seconds <= h->bounds[b]); b++)
        ;
    prom_inc(&c->bucket[b]);
    if (seconds > 0 && seconds < 1e6)
        prom_add(&c->sum_us, (long)(seconds * 1e6));
}

/* A label value, escaped as the format wants (\\, \", \n). */
static void put_value(struct tbuf *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            tbuf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            tbuf_printf(b, "\\n");
        else
            tbuf_printf(b, "%c", *v);
    }
}

static void put_labels(struct tbuf *b, const struct prom_label *l1, size_t i1,
                       const struct prom_label *l2, size_t i2, const char *le)
{
    const char *sep = "";

    if (l1 == NULL && l2 == NULL && le == NULL)
        return;
    tbuf_printf(b, "{");
    if (l1 != NULL) {
        tbuf_printf(b, "%s=\"", l1->name);
        put_value(b, l1->values[i1]);
        tbuf_printf(b, "\"");
        sep = ",";
    }
    if (l2 != NULL) {
        tbuf_printf(b, "%s%s=\"", sep, l2->name);
        put_value(b, l2->values[i2]);
        tbuf_printf(b, "\"");
        sep = ",";
    }
    if (le != NULL)
        tbuf_printf(b, "%sle=\"%s\"", sep, le);
    tbuf_printf(b, "}");
}

void prom_write_header(struct tbuf *b, const char *name, const char *help,
                       const char *type)
{
    tbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_write(struct tbuf *b, const struct prom_family *f)
{
    size_t n1 = f->l1 != NULL ? f->l1->n : 1;
    size_t n2 = f->l2 != NULL ? f->l2->n : 1;
    size_t i1, i2;

    prom_write_header(b, f->name, f->help,
                      f->type == PROM_COUNTER ? "counter" : "gauge");
    for (i1 = 0; i1 < n1; i1++) {
        if (f->l1 != NULL && f->applies != NULL && !f->applies(i1))
            continue;
        for (i2 = 0; i2 < n2; i2++) {
            tbuf_printf(b, "%s", f->name);
            put_labels(b, f->l1, i1, f->l2, i2, NULL);
            tbuf_printf(b, " %ld\n", prom_get(&f->cells[i1 * n2 + i2]));
        }
    }
}

void prom_write_histogram(struct tbuf *b, const struct prom_histogram *h)
{
    size_t n1 = h->l1 != NULL ? h->l1->n : 1, i1, k;
    char le[32];

    prom_write_header(b, h->name, h->help, "histogram");
    for (i1 = 0; i1 < n1; i1++) {
        struct prom_hcell *c = &h->cells[i1];
        long cum = 0;

        if (h->l1 != NULL && h->applies != NULL && !h->applies(i1))
            continue;
        for (k = 0; k <= h->nbounds; k++) {
            cum += prom_get(&c->bucket[k]);
            if (k < h->nbounds)
                snprintf(le, sizeof(le), "%g", h->bounds[k]);
            else
                snprintf(le, sizeof(le), "+Inf");
            tbuf_printf(b, "%s_bucket", h->name);
            put_labels(b, h->l1, i1, NULL, 0, le);
            tbuf_printf(b, " %ld\n", cum);
        }
        tbuf_printf(b, "%s_sum", h->name);
        put_labels(b, h->l1, i1, NULL, 0, NULL);
        tbuf_printf(b, " %.6f\n%s_count", (double)prom_get(&c->sum_us) / 1e6,
                    h->name);
        put_labels(b, h->l1, i1, NULL, 0, NULL);
        tbuf_printf(b, " %ld\n", cum);
    }
}

void prom_write_value(struct tbuf *b, const char *name, const char *help,
                      enum prom_type type, double value)
{
    prom_write_header(b, name, help,
                      type == PROM_COUNTER ? "counter" : "gauge");
    tbuf_printf(b, "%s %.15g\n", name, value);
}

void prom_write_sample(struct tbuf *b, const char *name, const char *label,
                       const char *value, double v)
{
    tbuf_printf(b, "%s{%s=\"", name, label);
    put_value(b, value);
    tbuf_printf(b, "\"} %.15g\n", v);
}
