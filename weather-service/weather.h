/*
 * weather.h - the weather types: what a client asks for (a query) and what
 * a provider answers (a report).  The providers (owm, open_meteo) fill
 * reports, the cache stores them, the service turns them into replies.
 */
#ifndef TEMPO_WEATHER_H
#define TEMPO_WEATHER_H

#include <stddef.h>

/* What a client asked for: a city (optionally in a country) or a point. */
struct weather_query {
    const char *city;    /* NULL for a coordinate query */
    const char *country; /* NULL or 2 upper-case letters, with city only */
    double lat, lon;     /* used when city == NULL */
};

#define WEATHER_NAME_MAX 256

/* What a weather provider answered. */
struct weather_report {
    double temp_c;
    char name[WEATHER_NAME_MAX]; /* "" when the provider did not name it */
    char country[3];             /* ISO alpha-2, "" when unknown */
    int has_coords;
    double lat, lon;
};

/*
 * Copies len bytes of s into r->name, cut to fit at a UTF-8 character
 * boundary.  Providers use it for upstream names of any length.
 */
void weather_report_set_name(struct weather_report *r, const char *s,
                             size_t len);

#endif
