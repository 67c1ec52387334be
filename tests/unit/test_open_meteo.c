/*
 * test_open_meteo.c - Open-Meteo: the pure decoders (geocoding, forecast,
 * error bodies) on real-format and hostile input, and open_meteo_fetch
 * against a libmicrohttpd fake: geocode-then-forecast, countryCode, the
 * coordinate shortcut, not-found and error mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "http_client.h"
#include "open_meteo.h"

/* ---- a tiny scripted upstream on 127.0.0.1 (libmicrohttpd) ---- */

struct fake_route {
    const char *path;
    int status;
    const char *body;
    const char *header; /* "Name: value" or NULL */
    int delay_ms;
    int fail_first; /* answer fail_status to this many hits first */
    int fail_status;
    /* Builds the body from the request instead (malloc'd; may be NULL). */
    char *(*dynamic)(const json_t *args, const char *auth);
    int hits;
    json_t *args;       /* query arguments of this route's last request */
    char req_auth[256]; /* its Authorization header */
    char req_body[256]; /* its request body */
};

struct fake_req { /* the last request the server saw */
    char method[8];
    char path[128];
    char auth[256];
    char body[256];
    json_t *args; /* decoded query arguments */
    int dup_args; /* a query key that appeared twice */
};

static struct MHD_Daemon *fake_daemon;
static unsigned short fake_port;
static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fake_route *fake_routes;
static struct fake_req fake_last;
static int fake_connections;

struct fake_upload {
    char data[256];
    size_t len;
};

static enum MHD_Result fake_arg(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value)
{
    (void)kind;
    (void)cls;
    if (json_object_get(fake_last.args, key) != NULL)
        fake_last.dup_args = 1;
    json_object_set_new(fake_last.args, key, json_string(value ? value : ""));
    return MHD_YES;
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn,
                                    const char *url, const char *method,
                                    const char *version,
                                    const char *upload_data,
                                    size_t *upload_data_size, void **con_cls)
{
    struct fake_upload *up = *con_cls;
    struct fake_route *r = NULL;
    struct MHD_Response *resp;
    const char *auth, *body = "not found";
    char *dyn = NULL;
    int status = 404, delay = 0, i;
    enum MHD_Result ret;
    char hname[64];
    const char *hval = NULL;

    (void)cls;
    (void)version;
    if (up == NULL) {
        up = calloc(1, sizeof(*up));
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (n > sizeof(up->data) - 1 - up->len)
            n = sizeof(up->data) - 1 - up->len;
        memcpy(up->data + up->len, upload_data, n);
        up->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }

    pthread_mutex_lock(&fake_mu);
    json_decref(fake_last.args);
    fake_last.args = json_object();
    fake_last.dup_args = 0;
    snprintf(fake_last.method, sizeof(fake_last.method), "%s", method);
    snprintf(fake_last.path, sizeof(fake_last.path), "%s", url);
    auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    snprintf(fake_last.auth, sizeof(fake_last.auth), "%s", auth ? auth : "");
    snprintf(fake_last.body, sizeof(fake_last.body), "%.*s", (int)up->len,
             up->data);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, fake_arg, NULL);
    for (i = 0; fake_routes != NULL && fake_routes[i].path != NULL; i++)
        if (strcmp(fake_routes[i].path, url) == 0)
            r = &fake_routes[i];
    if (r != NULL) {
        r->hits++;
        json_decref(r->args);
        r->args = json_deep_copy(fake_last.args);
        memcpy(r->req_auth, fake_last.auth, sizeof(r->req_auth));
        memcpy(r->req_body, fake_last.body, sizeof(r->req_body));
        status = r->status;
        body = r->body ? r->body : "";
        if (r->dynamic != NULL) {
            dyn = r->dynamic(fake_last.args, fake_last.auth);
            body = dyn ? dyn : "";
        }
        delay = r->delay_ms;
        if (r->hits <= r->fail_first) {
            status = r->fail_status;
            body = "{}";
        } else if (r->header != NULL) {
            const char *colon = strchr(r->header, ':');
            snprintf(hname, sizeof(hname), "%.*s", (int)(colon - r->header),
                     r->header);
            hval = colon + 2;
        }
    }
    pthread_mutex_unlock(&fake_mu);

    if (delay > 0)
        usleep((useconds_t)delay * 1000);
    resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                           MHD_RESPMEM_MUST_COPY);
    free(dyn);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (hval != NULL)
        MHD_add_response_header(resp, hname, hval);
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void fake_completed(void *cls, struct MHD_Connection *conn,
                           void **con_cls, enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)conn;
    (void)tc;
    free(*con_cls);
    *con_cls = NULL;
}

static void fake_notify(void *cls, struct MHD_Connection *conn,
                        void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)conn;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&fake_mu);
        fake_connections++;
        pthread_mutex_unlock(&fake_mu);
    }
}

static void fake_start(struct fake_route *routes)
{
    const union MHD_DaemonInfo *info;
    int i;

    for (i = 0; routes[i].path != NULL; i++)
        routes[i].hits = 0;
    fake_routes = routes;
    fake_connections = 0;
    fake_daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, fake_handler, NULL, MHD_OPTION_SOCK_ADDR,
        &(struct sockaddr_in){.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
        MHD_OPTION_NOTIFY_COMPLETED, fake_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, fake_notify, NULL, MHD_OPTION_END);
    assert_non_null(fake_daemon);
    info = MHD_get_daemon_info(fake_daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    fake_port = info->port;
}

static void fake_stop(void)
{
    int i;

    MHD_stop_daemon(fake_daemon);
    fake_daemon = NULL;
    for (i = 0; fake_routes != NULL && fake_routes[i].path != NULL; i++) {
        json_decref(fake_routes[i].args);
        fake_routes[i].args = NULL;
    }
    json_decref(fake_last.args);
    fake_last.args = NULL;
}

/* "http://127.0.0.1:<port>" of the running fake. */
static const char *fake_base(void)
{
    static char base[64];

    snprintf(base, sizeof(base), "http://127.0.0.1:%u", fake_port);
    return base;
}

/* Hits of the route for path, read under the server's lock. */
__attribute__((unused)) static int fake_hits(const char *path)
{
    int i, n = -1;

    pthread_mutex_lock(&fake_mu);
    for (i = 0; fake_routes[i].path != NULL; i++)
        if (strcmp(fake_routes[i].path, path) == 0)
            n = fake_routes[i].hits;
    pthread_mutex_unlock(&fake_mu);
    return n;
}

/* A query argument of the last request to path, or NULL. */
__attribute__((unused)) static const char *fake_route_arg(const char *path,
                                                          const char *key)
{
    int i;

    for (i = 0; fake_routes[i].path != NULL; i++)
        if (strcmp(fake_routes[i].path, path) == 0)
            return json_string_value(json_object_get(fake_routes[i].args, key));
    return NULL;
}

/* A query argument of the last request, or NULL. */
__attribute__((unused)) static const char *fake_arg_value(const char *key)
{
    return json_string_value(json_object_get(fake_last.args, key));
}

/* ---- end of the fake upstream ---- */

/* Real answers, as the Open-Meteo APIs send them. */
static const char geo_london[] =
    "{\"results\":[{\"id\":2643743,\"name\":\"London\",\"latitude\":51.50853,"
    "\"longitude\":-0.12574,\"elevation\":25.0,\"feature_code\":\"PPLC\","
    "\"country_code\":\"GB\",\"admin1_id\":6269131,\"timezone\":"
    "\"Europe/London\",\"population\":7556900,\"country_id\":2635167,"
    "\"country\":\"United Kingdom\",\"admin1\":\"England\"}],"
    "\"generationtime_ms\":0.6}";
static const char geo_none[] = "{\"generationtime_ms\":0.3}";
static const char forecast[] =
    "{\"latitude\":51.5,\"longitude\":-0.12,\"generationtime_ms\":0.02,"
    "\"utc_offset_seconds\":0,\"timezone\":\"GMT\",\"timezone_abbreviation\":"
    "\"GMT\",\"elevation\":23.0,\"current_units\":{\"time\":\"iso8601\","
    "\"interval\":\"seconds\",\"temperature_2m\":\"\\u00b0C\"},\"current\":"
    "{\"time\":\"2024-01-01T12:00\",\"interval\":900,\"temperature_2m\":12.4}}";
static const char range_error[] =
    "{\"error\":true,\"reason\":\"Latitude must be in range of -90 to 90\\u00b0"
    ". Given: 91.0.\"}";

static void test_decode_geocoding(void **state)
{
    static const char odd_cc[] = "{\"results\":[{\"name\":\"X\",\"latitude\":1,"
                                 "\"longitude\":2,\"country_code\":\"g1\"}]}";
    struct weather_report r;
    char err[200];

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(open_meteo_decode_geocoding(geo_london, strlen(geo_london),
                                                 &r, err, sizeof(err)),
                     0);
    assert_string_equal(r.name, "London");
    assert_string_equal(r.country, "GB");
    assert_true(r.has_coords && r.lat == 51.50853 && r.lon == -0.12574);

    assert_int_equal(open_meteo_decode_geocoding(odd_cc, strlen(odd_cc), &r,
                                                 err, sizeof(err)),
                     0);
    assert_string_equal(r.country, "");
}

static void test_decode_geocoding_not_found(void **state)
{
    static const char *const none[] = {geo_none, "{\"results\":[]}",
                                       "{\"results\":null}"};
    struct weather_report r;
    char err[200];
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++)
        assert_int_equal(open_meteo_decode_geocoding(none[i], strlen(none[i]),
                                                     &r, err, sizeof(err)),
                         TEMPO_ENOCITY);
}

static void test_decode_geocoding_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        "nope",
        "[]",
        "{\"results\":{}}",
        "{\"results\":[null]}",
        "{\"results\":[{\"name\":\"X\",\"latitude\":\"1\",\"longitude\":2}]}",
        "{\"results\":[{\"name\":\"X\",\"latitude\":91,\"longitude\":2}]}",
        "{\"results\":[{\"name\":\"X\",\"latitude\":1,\"longitude\":-181}]}",
        "{\"results\":[{\"latitude\":1,\"longitude\":2}]}",
        "{\"results\":[{\"name\":\"\",\"latitude\":1,\"longitude\":2}]}",
        "{\"results\":[{\"name\":7,\"latitude\":1,\"longitude\":2}]}",
        "{\"results\":[{\"name\":\"X\",\"latitude\":1e999,\"longitude\":2}]}",
    };
    struct weather_report r;
    char err[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (open_meteo_decode_geocoding(bad[i], strlen(bad[i]), &r, err,
                                        sizeof(err)) != TEMPO_EUPSTREAM)
            fail_msg("accepted: %s", bad[i]);
}

static void test_decode_forecast(void **state)
{
    static const char *const bad[] = {
        "",
        "{}",
        "{\"current\":{}}",
        "{\"current\":{\"temperature_2m\":null}}",
        "{\"current\":{\"temperature_2m\":\"12\"}}",
        "{\"current\":{\"temperature_2m\":150}}",
        "{\"current\":{\"temperature_2m\":1e300}}",
        "{\"current\":[12]}",
        "{\"current\":{\"temperature_2m\":NaN}}",
    };
    static const char cold[] = "{\"current\":{\"temperature_2m\":-3}}";
    double t = 0;
    char err[200];
    size_t i;

    (void)state;
    assert_int_equal(open_meteo_decode_forecast(forecast, strlen(forecast), &t,
                                                err, sizeof(err)),
                     0);
    assert_true(t == 12.4);
    assert_int_equal(
        open_meteo_decode_forecast(cold, strlen(cold), &t, err, sizeof(err)),
        0);
    assert_true(t == -3.0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 42.0;
        if (open_meteo_decode_forecast(bad[i], strlen(bad[i]), &t, err,
                                       sizeof(err)) != TEMPO_EUPSTREAM)
            fail_msg("accepted: %s", bad[i]);
        assert_true(t == 42.0);
    }
}

static void test_decode_error(void **state)
{
    static const char other[] =
        "{\"error\":true,\"reason\":\"Cannot initialize WeatherVariable\"}";
    char err[200];

    (void)state;
    assert_int_equal(open_meteo_decode_error(range_error, strlen(range_error),
                                             err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_non_null(strstr(err, "Latitude must be in range"));
    assert_int_equal(
        open_meteo_decode_error(other, strlen(other), err, sizeof(err)),
        TEMPO_EUPSTREAM);
    assert_non_null(strstr(err, "WeatherVariable"));
    assert_int_equal(open_meteo_decode_error("<html>", 6, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_int_equal(
        open_meteo_decode_error("{\"reason\":5}", 12, err, sizeof(err)),
        TEMPO_EUPSTREAM);
}

/* ---- open_meteo_fetch against the fake ---- */

static struct fake_route routes[] = {
    {.path = "/geo/v1/search", .status = 200, .body = geo_london},
    {.path = "/fc/v1/forecast", .status = 200, .body = forecast},
    {.path = "/nogeo/v1/search", .status = 200, .body = geo_none},
    {.path = "/fc400/v1/forecast", .status = 400, .body = range_error},
    {.path = "/fc502/v1/forecast", .status = 502, .body = "bad gateway"},
    {.path = NULL},
};

static char geo_base[128], fc_base[128];
static struct config cfg;
static struct open_meteo *om;
static struct http_client *hc;

static int setup(void **state)
{
    (void)state;
    fake_start(routes);
    memset(&cfg, 0, sizeof(cfg));
    cfg.open_meteo_geocoding_url = geo_base;
    cfg.open_meteo_url = fc_base;
    cfg.upstream_timeout_ms = 2000;
    cfg.upstream_retries = 1;
    om = open_meteo_create(&cfg);
    hc = http_client_create();
    assert_non_null(om);
    assert_non_null(hc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    open_meteo_destroy(om);
    http_client_destroy(hc);
    fake_stop();
    return 0;
}

static int fetch(const char *geo, const char *fc, const struct weather_query *q,
                 struct weather_report *r, char *err, size_t errlen)
{
    snprintf(geo_base, sizeof(geo_base), "%s%s", fake_base(), geo);
    snprintf(fc_base, sizeof(fc_base), "%s%s", fake_base(), fc);
    return open_meteo_fetch(om, hc, q, http_now_ms() + 5000, r, err, errlen);
}

static void test_fetch_city(void **state)
{
    struct weather_query q = {.city = "London&appid=x", .country = "GB"};
    struct weather_report r;
    char err[200];

    (void)state;
    assert_int_equal(fetch("/geo", "/fc", &q, &r, err, sizeof(err)), 0);
    assert_true(r.temp_c == 12.4);
    assert_string_equal(r.name, "London");
    assert_string_equal(r.country, "GB");
    assert_true(r.has_coords && r.lat == 51.50853);
    assert_string_equal(fake_route_arg("/geo/v1/search", "name"),
                        "London&appid=x");
    assert_string_equal(fake_route_arg("/geo/v1/search", "count"), "1");
    assert_string_equal(fake_route_arg("/geo/v1/search", "countryCode"), "GB");
    assert_null(fake_route_arg("/geo/v1/search", "appid"));
    /* The forecast asks for the geocoded point. */
    assert_string_equal(fake_route_arg("/fc/v1/forecast", "latitude"),
                        "51.508530");
    assert_string_equal(fake_route_arg("/fc/v1/forecast", "longitude"),
                        "-0.125740");
    assert_string_equal(fake_route_arg("/fc/v1/forecast", "current"),
                        "temperature_2m");

    q.country = NULL;
    assert_int_equal(fetch("/geo", "/fc", &q, &r, err, sizeof(err)), 0);
    assert_null(fake_route_arg("/geo/v1/search", "countryCode"));
}

static void test_fetch_coordinates_skip_geocoding(void **state)
{
    struct weather_query q = {.lat = -33.87, .lon = 151.21};
    struct weather_report r;
    char err[200];

    (void)state;
    assert_int_equal(fetch("/geo", "/fc", &q, &r, err, sizeof(err)), 0);
    assert_int_equal(routes[0].hits, 0);
    assert_int_equal(routes[1].hits, 1);
    assert_string_equal(r.name, "");
    assert_string_equal(r.country, "");
    assert_true(r.has_coords && r.lat == -33.87 && r.lon == 151.21);
    assert_string_equal(fake_route_arg("/fc/v1/forecast", "latitude"),
                        "-33.870000");
}

static void test_fetch_errors(void **state)
{
    struct weather_query q = {.city = "Atlantis"};
    struct weather_report r;
    char err[200];

    (void)state;
    assert_int_equal(fetch("/nogeo", "/fc", &q, &r, err, sizeof(err)),
                     TEMPO_ENOCITY);
    assert_int_equal(routes[1].hits, 0); /* no forecast for no place */

    q.city = "London";
    assert_int_equal(fetch("/geo", "/fc400", &q, &r, err, sizeof(err)),
                     TEMPO_EINVAL);
    assert_int_equal(fetch("/geo", "/fc502", &q, &r, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_non_null(strstr(err, "502"));
    assert_int_equal(routes[4].hits, 2); /* retried once */
    assert_null(strstr(err, "http"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_geocoding),
        cmocka_unit_test(test_decode_geocoding_not_found),
        cmocka_unit_test(test_decode_geocoding_hostile),
        cmocka_unit_test(test_decode_forecast),
        cmocka_unit_test(test_decode_error),
        cmocka_unit_test_setup_teardown(test_fetch_city, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_coordinates_skip_geocoding,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_errors, setup, teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
