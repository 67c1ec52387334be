/*
 * tbuf.h - a growable text buffer with a hard cap, for building output such
 * as a metrics exposition with printf-style appends, a Nameko JSON body or
 * an upstream response (curl's dynbuf, in small).
 *
 * The caller owns the struct (usually on the stack) and tbuf_init gives it
 * a heap buffer.  Appends never report errors one by one: the first one
 * that would pass the cap (or fails to format) marks the buffer failed and
 * every later append does nothing, so a renderer writes all its lines and
 * checks once, in tbuf_finish.  Out of memory aborts, like the other
 * allocations on these paths.  A tbuf belongs to one thread.
 */
#ifndef TEMPO_TBUF_H
#define TEMPO_TBUF_H

#include <stddef.h>

struct tbuf { /* all fields private */
    char *p;
    size_t len, cap, max;
    int failed;
};

/* Allocates initial bytes (at least 1) and sets the cap: the text plus its
 * NUL never takes more than max bytes; the buffer doubles up to it. */
void tbuf_init(struct tbuf *b, size_t initial, size_t max);

/* Appends formatted text; on failure the buffer keeps what it had and is
 * marked failed. */
void tbuf_printf(struct tbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends n bytes (which may hold NULs); 0, or -1 when the buffer is (or
 * now becomes) failed. */
int tbuf_add(struct tbuf *b, const void *data, size_t n);

/* Appends a NUL-terminated string. */
void tbuf_puts(struct tbuf *b, const char *s);

/* Marks the buffer failed (a renderer found its input unusable). */
static inline void tbuf_fail(struct tbuf *b)
{
    b->failed = 1;
}

static inline int tbuf_failed(const struct tbuf *b)
{
    return b->failed;
}

static inline size_t tbuf_len(const struct tbuf *b)
{
    return b->len;
}

/* The text so far (NUL-terminated), still owned by the buffer. */
static inline const char *tbuf_text(const struct tbuf *b)
{
    return b->p;
}

/* Empties the buffer and clears a failure, keeping its memory. */
void tbuf_reset(struct tbuf *b);

/* Frees the buffer without handing the text over (safe on a finished or
 * zeroed struct). */
void tbuf_free(struct tbuf *b);

/* Ends the buffer.  Returns the NUL-terminated text, a new string the
 * caller frees, and sets *len to its length; or, if an append failed,
 * frees the buffer, returns NULL and leaves *len alone.  Either way b must
 * be initialised again before reuse. */
char *tbuf_finish(struct tbuf *b, size_t *len);

#endif
