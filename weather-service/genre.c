/*
 * genre.c - see genre.h.  The thresholds are the iFood challenge's, with
 * the 14-15 gap it leaves closed as SPEC section 2 says: 15 itself is pop,
 * everything from 10 up to (not including) 15 is rock.
 */
#include "genre.h"

#include <math.h>
#include <string.h>

#include "errors.h"

static const char *const genre_names[GENRE__COUNT] = {
    [GENRE_PARTY] = "party",
    [GENRE_POP] = "pop",
    [GENRE_ROCK] = "rock",
    [GENRE_CLASSICAL] = "classical",
};

int genre_from_celsius(double t, enum genre *out)
{
    if (!isfinite(t))
        return TEMPO_EINVAL;
    if (t > 30.0)
        *out = GENRE_PARTY;
    else if (t >= 15.0)
        *out = GENRE_POP;
    else if (t >= 10.0)
        *out = GENRE_ROCK;
    else
        *out = GENRE_CLASSICAL;
    return 0;
}

const char *genre_name(enum genre g)
{
    if ((int)g < 0 || g >= GENRE__COUNT)
        return NULL;
    return genre_names[g];
}

int genre_parse(const char *s, size_t len)
{
    int g;

    for (g = 0; g < GENRE__COUNT; g++)
        if (strlen(genre_names[g]) == len &&
            memcmp(genre_names[g], s, len) == 0)
            return g;
    return -1;
}
