/*
 * tbuf.h - a growable text buffer with a hard cap, for building output such
 * as a metrics exposition with printf-style appends (curl's dynbuf, in
 * small).
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

/* Ends the buffer.  Returns the NUL-terminated text, a new string the
 * caller frees, and sets *len to its length; or, if an append failed,
 * frees the buffer, returns NULL and leaves *len alone.  Either way b must
 * be initialised again before reuse. */
char *tbuf_finish(struct tbuf *b, size_t *len);

#endif
