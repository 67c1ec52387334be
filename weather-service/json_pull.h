/*
 * json_pull.h - a strict, allocation-free JSON pull scanner (RFC 8259) for
 * decoders that need a few fields of a large document.
 *
 * A Spotify search page is ~35 KB of which tempo uses a few hundred bytes
 * (names, uris, links).  Building a jansson tree of all of it and freeing
 * it again costs ~9 M instructions a page (docs/PERFORMANCE.md); this
 * scanner walks the text once, decodes only the strings the caller asks
 * for, and validates everything it skips just as strictly: a document it
 * accepts is valid JSON (UTF-8 checked, escapes and surrogate pairs
 * checked, no control characters in strings, the number grammar, nesting
 * up to JPULL_MAX_DEPTH).  It does not check for duplicate keys: a caller
 * reading a key twice sees both values.
 *
 * Pure: no I/O, no allocation, no global state.  Every function returns a
 * negative value on malformed input and leaves the scanner failed: later
 * calls fail too, so a caller may check only at the end if it likes.
 *
 * Usage, for {"a": {"b": "x"}, ...}:
 *
 *     jpull_init(&s, body, len);
 *     if (jpull_object(&s) < 0) fail;
 *     while ((r = jpull_member(&s, key, sizeof(key), &klen)) > 0)
 *         if (strcmp(key, "a") == 0) ... read the value ...
 *         else jpull_skip(&s);
 *     if (r < 0 || jpull_end(&s) < 0) fail;
 */
#ifndef TEMPO_JSON_PULL_H
#define TEMPO_JSON_PULL_H

#include <stddef.h>

#define JPULL_MAX_DEPTH 512

struct jpull {
    const unsigned char *p, *end;
    int failed;
    unsigned depth;
    unsigned char first[JPULL_MAX_DEPTH + 1]; /* no member/element yet */
};

/* What the next value is (after white space), without consuming it. */
enum jpull_kind {
    JPULL_BAD = -1, /* nothing that can start a value, or failed */
    JPULL_OBJECT,
    JPULL_ARRAY,
    JPULL_STRING,
    JPULL_NUMBER,
    JPULL_LITERAL /* true, false or null */
};

void jpull_init(struct jpull *s, const char *buf, size_t len);

enum jpull_kind jpull_peek(struct jpull *s);

/* Consumes '{' (or '[').  0, or -1 if the next value is not one. */
int jpull_object(struct jpull *s);
int jpull_array(struct jpull *s);

/*
 * The next member of the innermost object: returns 1 with its key decoded
 * into key (NUL-terminated; a key of cap bytes or more, or holding \u0000,
 * comes back as "" so it matches nothing) and the scanner at its value,
 * which the caller must consume (read or jpull_skip); 0 when the object
 * ends ('}' consumed); -1 on malformed input.
 */
int jpull_member(struct jpull *s, char *key, size_t cap, size_t *klen);

/* The next element of the innermost array: 1 (at the element), 0 at the
 * end (']' consumed), -1 on malformed input. */
int jpull_element(struct jpull *s);

/*
 * Consumes a string value, decoded to UTF-8 into buf (NUL-terminated,
 * *len bytes).  Returns 0; 1 when the value is valid but not usable here
 * (not a string, cap bytes or more, or holding \u0000): it is consumed
 * all the same; -1 on malformed input.
 */
int jpull_string(struct jpull *s, char *buf, size_t cap, size_t *len);

/*
 * Consumes a number.  Returns 0 with *out set when it is an integer in
 * 0..LONG_MAX written without fraction or exponent (or -0); 1 when it is some
 * other valid value (consumed); -1 on malformed input.
 */
int jpull_count(struct jpull *s, long *out);

/* Consumes and validates any value. */
int jpull_skip(struct jpull *s);

/* 0 if only white space is left (the document is complete), else -1. */
int jpull_end(struct jpull *s);

#endif
