/*
 * test_owm.c - OpenWeatherMap: the pure decoder on real-format and hostile
 * bodies, and owm_fetch against a libmicrohttpd fake (how the city, the
 * country and the key reach the upstream; how statuses map to errors;
 * that messages never carry the key or the URL).
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
#include "owm.h"

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

/* A real answer, as api.openweathermap.org sends it. */
static const char london[] =
    "{\"coord\":{\"lon\":-0.1257,\"lat\":51.5085},\"weather\":[{\"id\":803,"
    "\"main\":\"Clouds\",\"description\":\"broken clouds\",\"icon\":\"04d\"}],"
    "\"base\":\"stations\",\"main\":{\"temp\":12.4,\"feels_like\":11.6,"
    "\"temp_min\":11.1,\"temp_max\":13.5,\"pressure\":1012,\"humidity\":76},"
    "\"visibility\":10000,\"wind\":{\"speed\":4.6,\"deg\":240},\"clouds\":"
    "{\"all\":75},\"dt\":1700000000,\"sys\":{\"type\":2,\"id\":2075535,"
    "\"country\":\"GB\",\"sunrise\":1699946000,\"sunset\":1699978000},"
    "\"timezone\":0,\"id\":2643743,\"name\":\"London\",\"cod\":200}";

static int decode(const char *body, struct weather_report *r, char *err,
                  size_t errlen)
{
    return owm_decode(body, strlen(body), r, err, errlen);
}

static void test_decode_real(void **state)
{
    struct weather_report r;
    char err[160];

    (void)state;
    assert_int_equal(decode(london, &r, err, sizeof(err)), 0);
    assert_true(r.temp_c == 12.4);
    assert_string_equal(r.name, "London");
    assert_string_equal(r.country, "GB");
    assert_true(r.has_coords);
    assert_true(r.lat == 51.5085 && r.lon == -0.1257);
}

static void test_decode_minimal_and_odd_extras(void **state)
{
    struct weather_report r;
    char err[160];

    (void)state;
    assert_int_equal(decode("{\"main\":{\"temp\":31}}", &r, err, sizeof(err)),
                     0);
    assert_true(r.temp_c == 31.0);
    assert_string_equal(r.name, "");
    assert_string_equal(r.country, "");
    assert_false(r.has_coords);

    /* Decoration of the wrong shape is dropped, not fatal. */
    assert_int_equal(decode("{\"main\":{\"temp\":-5.5},\"name\":42,"
                            "\"sys\":{\"country\":\"GBR\"},"
                            "\"coord\":{\"lat\":200,\"lon\":0}}",
                            &r, err, sizeof(err)),
                     0);
    assert_true(r.temp_c == -5.5);
    assert_string_equal(r.name, "");
    assert_string_equal(r.country, "");
    assert_false(r.has_coords);
    assert_int_equal(decode("{\"main\":{\"temp\":1},\"sys\":{\"country\":"
                            "\"g1\"},\"coord\":[1,2],\"name\":"
                            "\"S\\u00e3o Paulo\"}",
                            &r, err, sizeof(err)),
                     0);
    assert_string_equal(r.country, "");
    assert_string_equal(r.name, "S\xc3\xa3o Paulo");
    assert_int_equal(decode("{\"main\":{\"temp\":1},\"sys\":{\"country\":"
                            "\"br\"}}",
                            &r, err, sizeof(err)),
                     0);
    assert_string_equal(r.country, "BR");
}

static void test_decode_hostile(void **state)
{
    static const char nul[] = "{\"main\":{\"temp\":1}}\0";
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "null",
        "{\"main\":{\"temp\":12.4}",    /* truncated */
        "{}",                           /* no main */
        "{\"main\":12}",                /* main not an object */
        "{\"main\":{}}",                /* no temp */
        "{\"main\":{\"temp\":\"12\"}}", /* string */
        "{\"main\":{\"temp\":null}}",
        "{\"main\":{\"temp\":true}}",
        "{\"main\":{\"temp\":[12]}}",
        "{\"main\":{\"temp\":1e300}}", /* implausible */
        "{\"main\":{\"temp\":-273.15}}",
        "{\"main\":{\"temp\":1e999}}", /* overflows: not JSON */
        "{\"main\":{\"temp\":99999999999999999999999}}",
        "{\"main\":{\"temp\":NaN}}",
        "{\"main\":{\"temp\":Infinity}}",
        "{\"main\":{\"temp\":1},\"main\":{\"temp\":2}}", /* duplicate key */
    };
    struct weather_report r;
    char err[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0x5a, sizeof(r));
        err[0] = '\0';
        if (decode(bad[i], &r, err, sizeof(err)) != TEMPO_EUPSTREAM)
            fail_msg("accepted: %s", bad[i]);
        assert_true(strlen(err) > 0);
        assert_int_equal(((unsigned char *)&r)[0], 0x5a); /* untouched */
    }
    /* A NUL inside the declared length is not JSON either. */
    assert_int_equal(owm_decode(nul, sizeof(nul) - 1, &r, err, sizeof(err)),
                     TEMPO_EUPSTREAM);
    assert_int_equal(owm_decode(nul, sizeof(nul) - 2, &r, err, sizeof(err)), 0);
}

/* ---- owm_fetch against the fake ---- */

static struct fake_route routes[] = {
    {.path = "/ok/data/2.5/weather", .status = 200, .body = london},
    {.path = "/p404/data/2.5/weather",
     .status = 404,
     .body = "{\"cod\":\"404\",\"message\":\"city not found\"}"},
    {.path = "/p401/data/2.5/weather",
     .status = 401,
     .body = "{\"cod\":401,\"message\":\"Invalid API key SECRETKEY\"}"},
    {.path = "/p429/data/2.5/weather", .status = 429, .body = "{}"},
    {.path = "/p500/data/2.5/weather", .status = 500, .body = "{}"},
    {.path = "/junk/data/2.5/weather", .status = 200, .body = "<html>"},
    {.path = NULL},
};

static char key[] = "SECRETKEY";
static char base[128];
static struct config cfg;
static struct owm *owm;
static struct http_client *hc;

static int setup(void **state)
{
    (void)state;
    fake_start(routes);
    memset(&cfg, 0, sizeof(cfg));
    cfg.openweather_api_key = key;
    cfg.openweather_url = base;
    cfg.upstream_timeout_ms = 2000;
    cfg.upstream_retries = 1;
    owm = owm_create(&cfg);
    hc = http_client_create();
    assert_non_null(owm);
    assert_non_null(hc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    owm_destroy(owm);
    http_client_destroy(hc);
    fake_stop();
    return 0;
}

static int fetch(const char *prefix, const struct weather_query *q,
                 struct weather_report *r, char *err, size_t errlen)
{
    snprintf(base, sizeof(base), "%s%s", fake_base(), prefix);
    return owm_fetch(owm, hc, q, http_now_ms() + 5000, r, err, errlen);
}

static void test_fetch_city_encoding(void **state)
{
    struct weather_query q = {.city = "London&appid=x", .country = "GB"};
    struct weather_report r;
    char err[160];

    (void)state;
    assert_int_equal(fetch("/ok", &q, &r, err, sizeof(err)), 0);
    assert_true(r.temp_c == 12.4);
    assert_string_equal(r.name, "London");
    /* The hostile city is one value; the only appid is ours. */
    assert_string_equal(fake_arg_value("q"), "London&appid=x,GB");
    assert_string_equal(fake_arg_value("appid"), "SECRETKEY");
    assert_string_equal(fake_arg_value("units"), "metric");
    assert_int_equal(fake_last.dup_args, 0);
    assert_null(fake_arg_value("lat"));

    q.country = NULL;
    q.city = "S\xc3\xa3o Paulo";
    assert_int_equal(fetch("/ok", &q, &r, err, sizeof(err)), 0);
    assert_string_equal(fake_arg_value("q"), "S\xc3\xa3o Paulo");
}

static void test_fetch_coordinates(void **state)
{
    struct weather_query q = {.lat = 51.5, .lon = -0.12};
    struct weather_report r;
    char err[160];

    (void)state;
    assert_int_equal(fetch("/ok", &q, &r, err, sizeof(err)), 0);
    assert_string_equal(fake_arg_value("lat"), "51.500000");
    assert_string_equal(fake_arg_value("lon"), "-0.120000");
    assert_string_equal(fake_arg_value("appid"), "SECRETKEY");
    assert_null(fake_arg_value("q"));
}

static void expect_error(const char *prefix, int want, const char *word,
                         int hits)
{
    struct weather_query q = {.city = "Atlantis"};
    struct weather_report r;
    char err[160], path[64];
    size_t i;

    assert_int_equal(fetch(prefix, &q, &r, err, sizeof(err)), want);
    assert_non_null(strstr(err, word));
    assert_null(strstr(err, "SECRETKEY"));
    assert_null(strstr(err, "http"));
    snprintf(path, sizeof(path), "%s/data/2.5/weather", prefix);
    for (i = 0; routes[i].path != NULL; i++)
        if (strcmp(routes[i].path, path) == 0)
            assert_int_equal(routes[i].hits, hits);
}

static void test_fetch_statuses(void **state)
{
    (void)state;
    expect_error("/p404", TEMPO_ENOCITY, "not found", 1);
    expect_error("/p401", TEMPO_EUPSTREAM, "API key", 1);
    expect_error("/p429", TEMPO_EUPSTREAM, "rate limit", 1);
    expect_error("/p500", TEMPO_EUPSTREAM, "500", 2); /* retried once */
    expect_error("/junk", TEMPO_EUPSTREAM, "not JSON", 1);
}

static void test_fetch_bad_base_url(void **state)
{
    struct weather_query q = {.city = "London"};
    struct weather_report r;
    char err[160];

    (void)state;
    snprintf(base, sizeof(base), "::not a url");
    assert_int_not_equal(
        owm_fetch(owm, hc, &q, http_now_ms() + 1000, &r, err, sizeof(err)), 0);
    assert_null(strstr(err, "SECRETKEY"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_real),
        cmocka_unit_test(test_decode_minimal_and_odd_extras),
        cmocka_unit_test(test_decode_hostile),
        cmocka_unit_test_setup_teardown(test_fetch_city_encoding, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fetch_coordinates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fetch_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_bad_base_url, setup,
                                        teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
