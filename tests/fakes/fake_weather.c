/*
 * fake_weather.c - the OpenWeatherMap and Open-Meteo endpoints of
 * fake-upstream, in the real APIs' formats and status codes:
 *   GET /data/2.5/weather   OWM current weather (q= or lat=&lon=)
 *   GET /v1/search?name=    Open-Meteo geocoding
 *   GET /v1/forecast        Open-Meteo forecast (current=...)
 * Temperatures come from fake_places.c; magic city names turn into the
 * API's own failure responses.
 */
#include "fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- OpenWeatherMap ------------------------------------------------ */

json_t *owm_error(unsigned status, const char *msg)
{
    char cod[16];

    if (status == 400 || status == 404) { /* OWM sends these as strings */
        snprintf(cod, sizeof cod, "%u", status);
        return json_pack("{s:s,s:s}", "cod", cod, "message", msg);
    }
    return json_pack("{s:i,s:s}", "cod", (int)status, "message", msg);
}

/* Like the real API: metric, imperial, anything else is Kelvin. */
static double owm_convert(double celsius, const char *units)
{
    if (units != NULL && strcmp(units, "metric") == 0)
        return fu_round2(celsius);
    if (units != NULL && strcmp(units, "imperial") == 0)
        return fu_round2(celsius * 9.0 / 5.0 + 32.0);
    return fu_round2(celsius + 273.15);
}

static json_t *owm_weather_json(const struct place *p, const char *units)
{
    double t = p->temp;
    long long dt = (long long)time(NULL);
    int band = t >= 25 ? 0 : t >= 10 ? 1 : t >= 0 ? 2 : 3;
    static const struct {
        int id;
        const char *main, *desc, *icon;
    } sky[] = {
        {800, "Clear", "clear sky", "01d"},
        {803, "Clouds", "broken clouds", "04d"},
        {500, "Rain", "light rain", "10d"},
        {600, "Snow", "light snow", "13d"},
    };
    json_t *sys = json_pack("{s:i,s:i}", "type", 2, "id", 2075535);

    if (sys != NULL) {
        if (p->cc[0] != '\0') /* OWM omits it for points at sea */
            json_object_set_new(sys, "country", json_string(p->cc));
        json_object_set_new(sys, "sunrise", json_integer(dt - 20000));
        json_object_set_new(sys, "sunset", json_integer(dt + 15000));
    }
    return json_pack(
        "{s:{s:f,s:f},s:[{s:i,s:s,s:s,s:s}],s:s,"
        "s:{s:f,s:f,s:f,s:f,s:i,s:i},s:i,s:{s:f,s:i},s:{s:i},s:I,s:o,"
        "s:i,s:I,s:s,s:i}",
        "coord", "lon", p->lon, "lat", p->lat, "weather", "id", sky[band].id,
        "main", sky[band].main, "description", sky[band].desc, "icon",
        sky[band].icon, "base", "stations", "main", "temp",
        owm_convert(t, units), "feels_like", owm_convert(t - 0.8, units),
        "temp_min", owm_convert(t - 1.3, units), "temp_max",
        owm_convert(t + 1.1, units), "pressure", 1012, "humidity", 81,
        "visibility", 10000, "wind", "speed", 4.1, "deg", 240, "clouds", "all",
        75, "dt", dt, "sys", sys, "timezone",
        p->city != NULL ? p->city->utc_offset : 0, "id", p->id, "name", p->name,
        "cod", 200);
}

static json_t *owm_wrongtype_place(const struct place *p)
{
    json_t *j = owm_weather_json(p, "metric");

    if (j != NULL)
        json_object_set_new(json_object_get(j, "main"), "temp",
                            json_string("hot"));
    return j;
}

json_t *owm_wrongtype(void)
{
    struct place p;

    places_london(&p);
    return owm_wrongtype_place(&p);
}

/* q=City[,State][,CC]: name is q up to the first comma, the country code
 * follows the last one.  name and cc point into copy. */
static void owm_split_q(char *copy, char **name, char **cc)
{
    char *comma = strchr(copy, ',');

    *cc = NULL;
    if (comma != NULL) {
        *comma = '\0';
        *cc = strrchr(comma + 1, ',');
        *cc = fu_trim(*cc != NULL ? *cc + 1 : comma + 1);
    }
    *name = fu_trim(copy);
}

static void owm_by_name(const struct call *c, const char *q, const char *units,
                        struct reply *r)
{
    char *copy = strdup(q), *name, *cc;
    struct place p;

    if (copy == NULL) {
        reply_json(r, 500, NULL);
        return;
    }
    owm_split_q(copy, &name, &cc);
    switch (*name == '\0' ? MAGIC_NONE : places_magic(name)) {
    case MAGIC_NOT_FOUND:
        reply_json(r, 404, owm_error(404, "city not found"));
        break;
    case MAGIC_ERROR:
        reply_json(r, 500, owm_error(500, "Internal error"));
        break;
    case MAGIC_GARBAGE:
        reply_text(r, 200, "{\"main\": {\"temp\": ");
        break;
    case MAGIC_RATELIMIT:
        reply_json(r, 429, owm_error(429, OWM_MSG_429));
        r->retry_after = 1;
        break;
    case MAGIC_WRONGTYPE:
        places_by_name(name, cc, &p, 1);
        reply_json(r, 200, owm_wrongtype_place(&p));
        break;
    case MAGIC_NONE:
        if (*name == '\0') {
            reply_json(r, 400, owm_error(400, "Nothing to geocode"));
        } else if (places_by_name(name, cc, &p, 1) == 0) {
            reply_json(r, 404, owm_error(404, "city not found"));
        } else {
            if (p.slow)
                server_sleep(c->srv, server_config(c->srv)->slow_ms);
            reply_json(r, 200, owm_weather_json(&p, units));
        }
        break;
    }
    free(copy);
}

void owm_handle(const struct call *c, struct reply *r)
{
    const char *appid = fu_args_get(c->q, "appid");
    const char *units = fu_args_get(c->q, "units");
    const char *q = fu_args_get(c->q, "q");
    const char *slat = fu_args_get(c->q, "lat");
    const char *slon = fu_args_get(c->q, "lon");
    double lat, lon;
    struct place p;

    if (appid == NULL || strcmp(appid, server_config(c->srv)->owm_key) != 0)
        reply_json(r, 401, owm_error(401, OWM_MSG_401));
    else if (q != NULL)
        owm_by_name(c, q, units, r);
    else if (slat == NULL && slon == NULL)
        reply_json(r, 400, owm_error(400, "Nothing to geocode"));
    else if (!fu_parse_double(slat, -90, 90, &lat))
        reply_json(r, 400, owm_error(400, "wrong latitude"));
    else if (!fu_parse_double(slon, -180, 180, &lon))
        reply_json(r, 400, owm_error(400, "wrong longitude"));
    else {
        places_at(lat, lon, &p);
        reply_json(r, 200, owm_weather_json(&p, units));
    }
}

/* ---- Open-Meteo geocoding ------------------------------------------ */

json_t *meteo_error(const char *reason)
{
    return json_pack("{s:b,s:s}", "error", 1, "reason", reason);
}

static json_t *geo_result_json(const struct place *p)
{
    const struct city *c = p->city;
    json_t *j =
        json_pack("{s:I,s:s,s:f,s:f,s:f,s:s,s:s,s:s}", "id", (json_int_t)p->id,
                  "name", p->name, "latitude", p->lat, "longitude", p->lon,
                  "elevation", c != NULL ? c->elevation : 0.0, "feature_code",
                  c != NULL ? c->feature : "PPL", "country_code", p->cc,
                  "timezone", c != NULL ? c->tz : "GMT");

    if (j != NULL && c != NULL) { /* absent fields are omitted, as live */
        json_object_set_new(j, "population", json_integer(c->population));
        json_object_set_new(j, "country_id", json_integer(c->country_id));
        json_object_set_new(j, "country", json_string(c->country));
        json_object_set_new(j, "admin1", json_string(c->admin1));
    }
    return j;
}

json_t *meteo_geocoding_wrongtype(void)
{
    return json_pack("{s:[{s:i,s:s,s:s,s:s,s:s}],s:f}", "results", "id", 1,
                     "name", "Wrongtype", "latitude", "51.5085", "longitude",
                     "-0.1257", "country_code", "XX", "generationtime_ms", 0.2);
}

/* Answers for a resolved or magic name; false if nothing to list. */
static bool geo_magic(enum magic m, struct reply *r)
{
    switch (m) {
    case MAGIC_ERROR:
        reply_json(r, 500, meteo_error("Internal error"));
        return true;
    case MAGIC_GARBAGE:
        reply_text(r, 200, "{\"results\": [{\"id\": 1, \"latitude\": ");
        return true;
    case MAGIC_WRONGTYPE:
        reply_json(r, 200, meteo_geocoding_wrongtype());
        return true;
    case MAGIC_RATELIMIT:
        reply_json(r, 429, meteo_error(METEO_MSG_429));
        r->retry_after = 1;
        return true;
    case MAGIC_NOT_FOUND:
    case MAGIC_NONE:
        break;
    }
    return false;
}

void meteo_handle_geocoding(const struct call *c, struct reply *r)
{
    const char *sname = fu_args_get(c->q, "name");
    const char *scount = fu_args_get(c->q, "count");
    struct place places[PLACES_MAX];
    long count = 10;
    size_t n = 0;
    char *copy, *name;
    enum magic m;
    json_t *results;

    if (sname == NULL) {
        reply_json(r, 400, meteo_error("Parameter 'name' is required"));
        return;
    }
    if (scount != NULL && !fu_parse_long(scount, 1, 100, &count)) {
        reply_json(r, 400,
                   meteo_error("Parameter 'count' must be between "
                               "1 and 100"));
        return;
    }
    copy = strdup(sname);
    if (copy == NULL) {
        reply_json(r, 500, NULL);
        return;
    }
    name = fu_trim(copy);
    m = places_magic(name);
    if (geo_magic(m, r))
        goto out;
    if (m == MAGIC_NONE)
        n = places_by_name(name, fu_args_get(c->q, "countryCode"), places,
                           count < PLACES_MAX ? (size_t)count : PLACES_MAX);
    if (n == 0) { /* not found: no "results" key at all */
        reply_json(r, 200, json_pack("{s:f}", "generationtime_ms", 0.2));
        goto out;
    }
    if (places[0].slow)
        server_sleep(c->srv, server_config(c->srv)->slow_ms);
    results = json_array();
    for (size_t i = 0; i < n && results != NULL; i++)
        json_array_append_new(results, geo_result_json(&places[i]));
    reply_json(
        r, 200,
        json_pack("{s:o,s:f}", "results", results, "generationtime_ms", 0.5));
out:
    free(copy);
}

/* ---- Open-Meteo forecast ------------------------------------------- */

struct meteo_var {
    const char *name, *unit; /* unit of non-temperature variables */
    double value;            /* offset for temperatures, else value */
    bool is_temp, integer;
};

static const struct meteo_var meteo_vars[] = {
    {"temperature_2m", NULL, 0, true, false},
    {"apparent_temperature", NULL, -0.8, true, false},
    {"relative_humidity_2m", "%", 81, false, true},
    {"weather_code", "wmo code", 3, false, true},
    {"wind_speed_10m", "km/h", 14.8, false, false},
    {"is_day", "", 1, false, true},
};

static const struct meteo_var *meteo_var_find(const char *name)
{
    for (size_t i = 0; i < sizeof meteo_vars / sizeof meteo_vars[0]; i++)
        if (strcmp(name, meteo_vars[i].name) == 0)
            return &meteo_vars[i];
    return NULL;
}

/* Adds each variable of the comma list to units and cur.  false if one
 * is unknown. */
static bool meteo_add_vars(const struct place *p, char *list, bool fahr,
                           json_t *units, json_t *cur)
{
    for (char *v = list, *next; v != NULL; v = next) {
        const struct meteo_var *mv;
        double val;

        next = strchr(v, ',');
        if (next != NULL)
            *next++ = '\0';
        v = fu_trim(v);
        if (*v == '\0')
            continue;
        mv = meteo_var_find(v);
        if (mv == NULL)
            return false;
        val = mv->value;
        if (mv->is_temp) {
            val += p->temp;
            val = fu_round2(fahr ? val * 9.0 / 5.0 + 32.0 : val);
        }
        json_object_set_new(units, mv->name,
                            json_string(mv->unit != NULL ? mv->unit
                                        : fahr           ? "\xc2\xb0"
                                                           "F"
                                                         : "\xc2\xb0"
                                                           "C"));
        json_object_set_new(cur, mv->name,
                            mv->integer ? json_integer((json_int_t)val)
                                        : json_real(val));
    }
    return true;
}

/* New body; NULL with *bad_var set when current= names an unknown
 * variable, NULL alone when out of memory. */
static json_t *forecast_json(const struct place *p, const char *current,
                             bool fahr, bool *bad_var)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    char *list = strdup(current != NULL ? current : "");
    json_t *units, *cur, *j;

    t -= t % 900; /* Open-Meteo's current values are 15-minutely */
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M", &tm);
    units = json_pack("{s:s,s:s}", "time", "iso8601", "interval", "seconds");
    cur = json_pack("{s:s,s:i}", "time", now, "interval", 900);
    j = json_pack("{s:f,s:f,s:f,s:i,s:s,s:s,s:f}", "latitude",
                  fu_round2(p->lat), "longitude", fu_round2(p->lon),
                  "generationtime_ms", 0.03, "utc_offset_seconds", 0,
                  "timezone", "GMT", "timezone_abbreviation", "GMT",
                  "elevation", p->city != NULL ? p->city->elevation : 0.0);
    if (list == NULL || units == NULL || cur == NULL || j == NULL)
        goto fail;
    if (!meteo_add_vars(p, list, fahr, units, cur)) {
        *bad_var = true;
        goto fail;
    }
    free(list);
    if (current == NULL) { /* no current= means no "current" block */
        json_decref(units);
        json_decref(cur);
        return j;
    }
    json_object_set_new(j, "current_units", units);
    json_object_set_new(j, "current", cur);
    return j;
fail:
    free(list);
    json_decref(units);
    json_decref(cur);
    json_decref(j);
    return NULL;
}

json_t *meteo_forecast_wrongtype(void)
{
    struct place p;
    bool bad = false;
    json_t *j;

    places_london(&p);
    j = forecast_json(&p, "temperature_2m", false, &bad);
    if (j != NULL)
        json_object_set_new(json_object_get(j, "current"), "temperature_2m",
                            json_string("warm"));
    return j;
}

/* Parses one coordinate; on failure fills r with Open-Meteo's error. */
static bool meteo_coord(const struct call *c, const char *key,
                        const char *label, double limit, double *out,
                        struct reply *r)
{
    const char *s = fu_args_get(c->q, key);
    char msg[512];
    double v;

    if (s == NULL) {
        snprintf(msg, sizeof msg, "Parameter '%s' is required", key);
    } else if (!fu_parse_double(s, -1e300, 1e300, &v)) {
        snprintf(msg, sizeof msg,
                 "Cannot initialize Float from invalid "
                 "String value for key %s",
                 key);
    } else if (v < -limit || v > limit) {
        snprintf(msg, sizeof msg,
                 "%s must be in range of -%.0f to %.0f\xc2\xb0. Given: %.1f.",
                 label, limit, limit, v);
    } else {
        *out = v;
        return true;
    }
    reply_json(r, 400, meteo_error(msg));
    return false;
}

void meteo_handle_forecast(const struct call *c, struct reply *r)
{
    const char *unit = fu_args_get(c->q, "temperature_unit");
    bool bad = false, fahr;
    double lat, lon;
    struct place p;
    json_t *j;

    if (!meteo_coord(c, "latitude", "Latitude", 90, &lat, r) ||
        !meteo_coord(c, "longitude", "Longitude", 180, &lon, r))
        return;
    if (unit != NULL && strcmp(unit, "celsius") != 0 &&
        strcmp(unit, "fahrenheit") != 0) {
        reply_json(r, 400,
                   meteo_error("Cannot initialize TemperatureUnit "
                               "from invalid String value"));
        return;
    }
    fahr = unit != NULL && strcmp(unit, "fahrenheit") == 0;
    places_at(lat, lon, &p);
    p.lat = lat; /* echo the request's point, not the city's */
    p.lon = lon;
    j = forecast_json(&p, fu_args_get(c->q, "current"), fahr, &bad);
    if (bad)
        reply_json(r, 400,
                   meteo_error("Cannot initialize "
                               "SurfaceVariableOrDerived from "
                               "invalid String value"));
    else
        reply_json(r, 200, j);
}
