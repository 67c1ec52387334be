/*
 * genre.h - the one rule that turns a temperature into a music genre
 * (SPEC section 2).  Pure: no I/O, no state, safe from any thread.
 */
#ifndef TEMPO_GENRE_H
#define TEMPO_GENRE_H

#include <stddef.h>

enum genre {
    GENRE_PARTY = 0, /* t > 30 */
    GENRE_POP,       /* 15 <= t <= 30 */
    GENRE_ROCK,      /* 10 <= t < 15 */
    GENRE_CLASSICAL, /* t < 10 */
    GENRE__COUNT
};

/*
 * Picks the genre for t degrees Celsius.  Returns 0 and sets *out, or
 * TEMPO_EINVAL for NaN and infinities (a provider that produced one
 * answered garbage; no genre is a sensible guess for it).
 */
int genre_from_celsius(double t, enum genre *out);

/* "party", "pop", "rock", "classical"; NULL for values out of range. */
const char *genre_name(enum genre g);

/* Inverse of genre_name over len bytes of s (no NUL needed); -1 if unknown. */
int genre_parse(const char *s, size_t len);

#endif
