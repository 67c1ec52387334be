/*
 * tbuf.c - see tbuf.h.  vsnprintf straight into the free tail; when the
 * text does not fit, double the buffer (never past max) and format again.
 */
#include "tbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows the buffer to hold need bytes (doubling, never past max). */
static int grow(struct tbuf *b, size_t need)
{
    size_t cap = b->cap;

    if (need > b->max)
        return -1;
    if (cap == 0)
        cap = 1; /* after tbuf_free */
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    if (cap != b->cap) {
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            abort();
        b->cap = cap;
    }
    return 0;
}

void tbuf_init(struct tbuf *b, size_t initial, size_t max)
{
    if (initial == 0)
        initial = 1;
    if (max < initial)
        max = initial;
    b->p = malloc(initial);
    if (b->p == NULL)
        abort();
    b->p[0] = '\0';
    b->len = 0;
    b->cap = initial;
    b->max = max;
    b->failed = 0;
}

void tbuf_printf(struct tbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        if (grow(b, b->cap + 1) < 0) { /* double, up to max */
            b->failed = 1;
            return;
        }
    }
}

int tbuf_add(struct tbuf *b, const void *data, size_t n)
{
    if (b->failed)
        return -1;
    if (n >= b->max - b->len || grow(b, b->len + n + 1) < 0) {
        b->failed = 1;
        return -1;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void tbuf_puts(struct tbuf *b, const char *s)
{
    (void)tbuf_add(b, s, strlen(s));
}

void tbuf_reset(struct tbuf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

void tbuf_free(struct tbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *tbuf_finish(struct tbuf *b, size_t *len)
{
    char *text = b->p;

    b->p = NULL;
    if (b->failed) {
        free(text);
        return NULL;
    }
    *len = b->len;
    return text;
}
