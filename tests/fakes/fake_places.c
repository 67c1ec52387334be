/*
 * fake_places.c - the deterministic weather model of fake-upstream.
 *
 * Known cities come from a table.  "Temp<n>" has exactly n degrees; any
 * other name gets -5..35 degrees from a hash of its lower-cased text.
 * Coordinates map back to a known city (within 0.01 degree) or to
 * lat / 2 degrees.  Synthetic cities are placed at lat = 2 * t so that
 * geocoding + forecast (Open-Meteo) agrees with OWM by name.  Pure: no
 * state, no I/O.
 */
#include "fake.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const struct city known_cities[] = {
    {"London", "GB", 51.5085, -0.1257, 12.4, 2643743, 25, "PPLC",
     "Europe/London", 7556900, 2635167, "United Kingdom", "England", 0},
    {"Lisbon", "PT", 38.7167, -9.1333, 22.0, 2267057, 45, "PPLC",
     "Europe/Lisbon", 517802, 2264397, "Portugal", "Lisbon", 0},
    {"Cairo", "EG", 30.0626, 31.2497, 35.0, 360630, 23, "PPLC", "Africa/Cairo",
     7734614, 357994, "Egypt", "Cairo", 7200},
    {"Oslo", "NO", 59.9127, 10.7461, 3.0, 3143244, 26, "PPLC", "Europe/Oslo",
     580000, 3144096, "Norway", "Oslo", 3600},
    {"Paris", "FR", 48.8534, 2.3488, 15.0, 2988507, 42, "PPLC", "Europe/Paris",
     2138551, 3017382, "France", "\xc3\x8ele-de-France", 3600},
    {"Berlin", "DE", 52.5244, 13.4105, 10.0, 2950159, 74, "PPLC",
     "Europe/Berlin", 3426354, 2921044, "Germany", "Land Berlin", 3600},
    {"Springfield", "US", 39.80, -89.64, 20.0, 4250542, 182, "PPLA",
     "America/Chicago", 116250, 6252001, "United States", "Illinois", -21600},
    {"Springfield", "AU", -27.68, 152.90, 25.0, 7839562, 30, "PPL",
     "Australia/Brisbane", 20000, 2077456, "Australia", "Queensland", 36000},
};
#define N_CITIES (sizeof known_cities / sizeof known_cities[0])

enum magic places_magic(const char *name)
{
    static const struct {
        const char *name;
        enum magic m;
    } table[] = {
        {"atlantis", MAGIC_NOT_FOUND},  {"errorville", MAGIC_ERROR},
        {"garbage", MAGIC_GARBAGE},     {"wrongtype", MAGIC_WRONGTYPE},
        {"ratelimit", MAGIC_RATELIMIT},
    };

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcasecmp(name, table[i].name) == 0)
            return table[i].m;
    return MAGIC_NONE;
}

static void place_from_city(const struct city *c, struct place *p)
{
    memset(p, 0, sizeof *p);
    p->name = c->name;
    memcpy(p->cc, c->cc, 3);
    p->lat = c->lat;
    p->lon = c->lon;
    p->temp = c->temp;
    p->id = c->id;
    p->city = c;
}

void places_london(struct place *out)
{
    place_from_city(&known_cities[0], out);
}

/* "Temp<n>" with n = -?digits[.digits] and |n| <= 1000. */
static bool temp_name(const char *name, double *t)
{
    const char *s = name + 4;
    bool digits = false;

    if (strncasecmp(name, "temp", 4) != 0)
        return false;
    if (*s == '-')
        s++;
    for (; isdigit((unsigned char)*s); s++)
        digits = true;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return digits && *s == '\0' && fu_parse_double(name + 4, -1000, 1000, t);
}

/* A synthetic city at lat = 2t (0 when |t| > 45); lon from h unless
 * hash_lon is false (Temp cities sit on the prime meridian). */
static void place_synthetic(const char *name, const char *cc, double t,
                            bool hash_lon, struct place *p)
{
    uint64_t h = fu_hash_lower(name);

    memset(p, 0, sizeof *p);
    p->name = name;
    p->temp = t;
    p->lat = fu_abs(t) <= 45 ? fu_round2(2 * t) : 0;
    p->lon = hash_lon ? (double)((h >> 20) % 360000) / 1000.0 - 180.0 : 0;
    p->id = 1000000 + (long long)(h % 8000000);
    /* Never land on a known city: the coordinate lookup would win. */
    for (size_t i = 0; i < N_CITIES; i++)
        if (fu_abs(known_cities[i].lat - p->lat) <= 0.011 &&
            fu_abs(known_cities[i].lon - p->lon) <= 0.011)
            p->lon += p->lon > 0 ? -0.5 : 0.5;
    if (cc != NULL && strlen(cc) == 2 && isalpha((unsigned char)cc[0]) &&
        isalpha((unsigned char)cc[1])) {
        p->cc[0] = (char)toupper((unsigned char)cc[0]);
        p->cc[1] = (char)toupper((unsigned char)cc[1]);
    } else {
        memcpy(p->cc, "XX", 3);
    }
}

size_t places_by_name(const char *name, const char *cc, struct place *out,
                      size_t max)
{
    bool known = false;
    size_t n = 0;
    double t;

    if (cc != NULL && *cc == '\0')
        cc = NULL;
    if (*name == '\0' || max == 0 || !fu_utf8_ok(name))
        return 0;
    for (size_t i = 0; i < N_CITIES; i++) {
        if (strcasecmp(name, known_cities[i].name) != 0)
            continue;
        known = true;
        if (cc != NULL && strcasecmp(cc, known_cities[i].cc) != 0)
            continue;
        if (n < max)
            place_from_city(&known_cities[i], &out[n++]);
    }
    if (known) /* a known city in another country is not found */
        return n;
    if (strcasecmp(name, "slowville") == 0) {
        place_synthetic(name, cc, 18.0, true, out);
        out->slow = true;
    } else if (temp_name(name, &t)) {
        place_synthetic(name, cc, t, false, out);
    } else {
        uint64_t h = fu_hash_lower(name);
        place_synthetic(name, cc, -5.0 + (double)(h % 4001) / 100.0, true, out);
    }
    return 1;
}

void places_at(double lat, double lon, struct place *out)
{
    for (size_t i = 0; i < N_CITIES; i++) {
        if (fu_abs(known_cities[i].lat - lat) <= 0.01 + 1e-9 &&
            fu_abs(known_cities[i].lon - lon) <= 0.01 + 1e-9) {
            place_from_city(&known_cities[i], out);
            return;
        }
    }
    memset(out, 0, sizeof *out);
    out->name = "";
    out->lat = lat;
    out->lon = lon;
    out->temp = fu_round2(lat / 2);
}
