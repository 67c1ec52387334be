/*
 * test_service.c - the get_playlist RPC method end to end in-process:
 * service_call against libmicrohttpd fakes of OpenWeatherMap, Open-Meteo
 * and Spotify.  Covers the reply shape of SPEC section 2, Nameko faults
 * (MethodNotFound, IncorrectSignature), InvalidArgument rules,
 * CityNotFound, the cache ("cached"), the Spotify -> catalog fallback
 * ("degraded"), stale answers ("stale"), and upstream error/timeout faults.
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
#include "log.h"
#include "service.h"

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
                                const char *key, const char *value) {
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
                                    size_t *upload_data_size, void **con_cls) {
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
                           void **con_cls, enum MHD_RequestTerminationCode tc) {
  (void)cls;
  (void)conn;
  (void)tc;
  free(*con_cls);
  *con_cls = NULL;
}

static void fake_notify(void *cls, struct MHD_Connection *conn,
                        void **socket_context,
                        enum MHD_ConnectionNotificationCode code) {
  (void)cls;
  (void)conn;
  (void)socket_context;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    pthread_mutex_lock(&fake_mu);
    fake_connections++;
    pthread_mutex_unlock(&fake_mu);
  }
}

static void fake_start(struct fake_route *routes) {
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

static void fake_stop(void) {
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
static const char *fake_base(void) {
  static char base[64];

  snprintf(base, sizeof(base), "http://127.0.0.1:%u", fake_port);
  return base;
}

/* Hits of the route for path, read under the server's lock. */
__attribute__((unused)) static int fake_hits(const char *path) {
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
                                                          const char *key) {
  int i;

  for (i = 0; fake_routes[i].path != NULL; i++)
    if (strcmp(fake_routes[i].path, path) == 0)
      return json_string_value(json_object_get(fake_routes[i].args, key));
  return NULL;
}

/* A query argument of the last request, or NULL. */
__attribute__((unused)) static const char *fake_arg_value(const char *key) {
  return json_string_value(json_object_get(fake_last.args, key));
}

/* ---- end of the fake upstream ---- */

static const char owm_london[] =
    "{\"coord\":{\"lon\":-0.1257,\"lat\":51.5085},\"main\":{\"temp\":12.4},"
    "\"sys\":{\"country\":\"GB\"},\"name\":\"London\",\"cod\":200}";
static const char om_forecast[] =
    "{\"current\":{\"time\":\"2024-01-01T12:00\",\"temperature_2m\":31.5}}";
static const char sp_token[] =
    "{\"access_token\":\"tok\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
static const char sp_page[] =
    "{\"tracks\":{\"items\":[{\"name\":\"Song\",\"artists\":[{\"name\":"
    "\"Band\"}],\"uri\":\"spotify:track:1\",\"external_urls\":{\"spotify\":"
    "\"https://open.spotify.com/track/1\"}}]}}";

static struct fake_route routes[] = {
    {.path = "/owm/data/2.5/weather", .status = 200, .body = owm_london},
    {.path = "/om/v1/forecast", .status = 200, .body = om_forecast},
    {.path = "/acc/api/token", .status = 200, .body = sp_token},
    {.path = "/sp/v1/search", .status = 200, .body = sp_page},
    {.path = "/slow/data/2.5/weather",
     .status = 200,
     .body = owm_london,
     .delay_ms = 800},
    {.path = NULL},
};
#define OWM (&routes[0])
#define SEARCH (&routes[3])

static char key[] = "SECRETKEY", cid[] = "cid", secret[] = "csecret",
            wid[] = "host:42";
static char owm_url[128], om_url[128], acc_url[128], sp_url[128];
static struct config cfg;
static struct service *svc;
static struct service_worker *sw;

static void start(int weather, int music, long ttl, const char *owm_prefix) {
  char err[256];

  fake_start(routes);
  snprintf(owm_url, sizeof(owm_url), "%s%s", fake_base(), owm_prefix);
  snprintf(om_url, sizeof(om_url), "%s/om", fake_base());
  snprintf(acc_url, sizeof(acc_url), "%s/acc", fake_base());
  snprintf(sp_url, sizeof(sp_url), "%s/sp", fake_base());
  memset(&cfg, 0, sizeof(cfg));
  cfg.weather_provider = weather;
  cfg.music_provider = music;
  cfg.openweather_api_key = key;
  cfg.openweather_url = owm_url;
  cfg.open_meteo_url = om_url;
  cfg.open_meteo_geocoding_url = om_url;
  cfg.spotify_client_id = cid;
  cfg.spotify_client_secret = secret;
  cfg.spotify_accounts_url = acc_url;
  cfg.spotify_api_url = sp_url;
  cfg.playlist_size = 10;
  cfg.weather_cache_ttl_s = ttl;
  cfg.upstream_timeout_ms = 300;
  cfg.upstream_retries = 0;
  cfg.worker_id = wid;
  svc = service_create(&cfg, err, sizeof(err));
  if (svc == NULL)
    fail_msg("service_create: %s", err);
  sw = service_worker_create(svc);
  assert_non_null(sw);
}

static int teardown(void **state) {
  (void)state;
  service_worker_destroy(sw);
  service_destroy(svc);
  fake_stop();
  OWM->status = 200;
  SEARCH->status = 200;
  return 0;
}

/* Calls method with kwargs given as JSON text. */
static int call(const char *method, const char *args, const char *kwargs,
                json_t **res, struct service_fault *f) {
  json_t *a = args ? json_loads(args, 0, NULL) : json_array();
  json_t *k = kwargs ? json_loads(kwargs, 0, NULL) : NULL;
  int rc;

  *res = NULL;
  rc = service_call(sw, method, a, k, "req-1", 0, res, f);
  json_decref(a);
  json_decref(k);
  return rc;
}

static void expect_fault(const char *method, const char *args,
                         const char *kwargs, const char *type,
                         const char *path) {
  struct service_fault f;
  json_t *res;

  if (call(method, args, kwargs, &res, &f) == 0)
    fail_msg("%s succeeded", kwargs ? kwargs : "(null)");
  assert_null(res);
  if (strcmp(f.exc_type, type) != 0)
    fail_msg("%s: got %s (%s), want %s", kwargs ? kwargs : "(null)", f.exc_type,
             f.value, type);
  assert_string_equal(f.exc_path, path);
  assert_true(json_is_array(f.exc_args));
  assert_true(strlen(f.value) > 0);
  assert_null(strstr(f.value, "SECRETKEY"));
  json_decref(f.exc_args);
}

static void test_reply_shape_and_cache(void **state) {
  struct service_fault f;
  json_t *res, *loc, *tracks, *t;
  size_t i;

  (void)state;
  start(WEATHER_OWM, MUSIC_CATALOG, 600, "/owm");
  assert_int_equal(
      call("get_playlist", "[]", "{\"city\": \"London\"}", &res, &f), 0);
  loc = json_object_get(res, "location");
  assert_string_equal(json_string_value(json_object_get(loc, "name")),
                      "London");
  assert_string_equal(json_string_value(json_object_get(loc, "country")), "GB");
  assert_true(json_real_value(json_object_get(loc, "lat")) == 51.5085);
  assert_true(json_real_value(json_object_get(loc, "lon")) == -0.1257);
  assert_true(json_real_value(json_object_get(res, "temperature_c")) == 12.4);
  assert_string_equal(json_string_value(json_object_get(res, "genre")), "rock");
  tracks = json_object_get(res, "tracks");
  assert_int_equal(json_array_size(tracks), 10);
  json_array_foreach(tracks, i, t) {
    assert_true(json_is_string(json_object_get(t, "name")));
    assert_true(json_array_size(json_object_get(t, "artists")) >= 1);
  }
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(res, "sources"), "weather")),
                      "openweathermap");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(res, "sources"), "music")),
                      "catalog");
  assert_true(json_is_false(json_object_get(res, "cached")));
  assert_string_equal(json_string_value(json_object_get(res, "worker")),
                      "host:42");
  assert_null(json_object_get(res, "degraded"));
  assert_null(json_object_get(res, "stale"));
  json_decref(res);

  /* Same city, other spelling: from the cache. */
  assert_int_equal(call("get_playlist", "[]",
                        "{\"city\": \" LONDON \", \"country\": null}", &res,
                        &f),
                   0);
  assert_true(json_is_true(json_object_get(res, "cached")));
  assert_int_equal(OWM->hits, 1);
  json_decref(res);
  /* The city and key reached OWM properly. */
  assert_string_equal(fake_route_arg("/owm/data/2.5/weather", "q"), "London");
  assert_string_equal(fake_route_arg("/owm/data/2.5/weather", "appid"),
                      "SECRETKEY");
}

static void test_protocol_faults(void **state) {
  (void)state;
  start(WEATHER_OWM, MUSIC_CATALOG, 600, "/owm");
  expect_fault("get_weather", "[]", "{}", "MethodNotFound",
               "nameko.exceptions.MethodNotFound");
  expect_fault("get_playlist", "[\"London\"]", "{}", "IncorrectSignature",
               "nameko.exceptions.IncorrectSignature");
  expect_fault("get_playlist", "[]", "{\"city\":\"x\",\"town\":\"y\"}",
               "IncorrectSignature", "nameko.exceptions.IncorrectSignature");
  expect_fault("get_playlist", "[]", "[1]", "IncorrectSignature",
               "nameko.exceptions.IncorrectSignature");
}

static void test_invalid_arguments(void **state) {
  static const char *const bad[] = {
      NULL,
      "{}",
      "{\"city\": 5}",
      "{\"city\": \"\"}",
      "{\"city\": \"   \"}",
      "{\"city\": \"a\\u0001b\"}",
      "{\"city\": \"London\", \"lat\": 1, \"lon\": 2}",
      "{\"city\": \"London\", \"country\": \"GBR\"}",
      "{\"city\": \"London\", \"country\": 44}",
      "{\"lat\": 1}",
      "{\"lon\": 1}",
      "{\"lat\": \"51.5\", \"lon\": 0}",
      "{\"lat\": 91, \"lon\": 0}",
      "{\"lat\": 0, \"lon\": -180.5}",
      "{\"lat\": true, \"lon\": 0}",
      "{\"lat\": 1, \"lon\": 2, \"country\": \"GB\"}",
  };
  size_t i;

  (void)state;
  start(WEATHER_OWM, MUSIC_CATALOG, 600, "/owm");
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    expect_fault("get_playlist", "[]", bad[i], "InvalidArgument",
                 "tempo.InvalidArgument");
  assert_int_equal(OWM->hits, 0);
}

static void test_city_not_found(void **state) {
  struct service_fault f;
  json_t *res;

  (void)state;
  OWM->status = 404;
  start(WEATHER_OWM, MUSIC_CATALOG, 600, "/owm");
  assert_int_equal(
      call("get_playlist", "[]", "{\"city\": \"Atlantis\"}", &res, &f),
      TEMPO_ENOCITY);
  assert_string_equal(f.exc_type, "CityNotFound");
  assert_string_equal(f.exc_path, "tempo.CityNotFound");
  assert_string_equal(f.value, "city not found: Atlantis");
  assert_string_equal(json_string_value(json_array_get(f.exc_args, 0)),
                      "Atlantis");
  json_decref(f.exc_args);
}

static void test_spotify_and_degraded(void **state) {
  struct service_fault f;
  json_t *res, *t;

  (void)state;
  start(WEATHER_OPEN_METEO, MUSIC_SPOTIFY, 600, "/owm");
  assert_int_equal(
      call("get_playlist", "[]", "{\"lat\": 40.4, \"lon\": -3.7}", &res, &f),
      0);
  assert_string_equal(json_string_value(json_object_get(res, "genre")),
                      "party");
  assert_true(
      json_is_null(json_object_get(json_object_get(res, "location"), "name")));
  assert_true(json_real_value(json_object_get(json_object_get(res, "location"),
                                              "lat")) == 40.4);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(res, "sources"), "weather")),
                      "open-meteo");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(res, "sources"), "music")),
                      "spotify");
  t = json_array_get(json_object_get(res, "tracks"), 0);
  assert_string_equal(json_string_value(json_object_get(t, "uri")),
                      "spotify:track:1");
  assert_int_equal(json_array_size(json_object_get(res, "tracks")), 1);
  json_decref(res);

  SEARCH->status = 500;
  assert_int_equal(
      call("get_playlist", "[]", "{\"lat\": 40.4, \"lon\": -3.7}", &res, &f),
      0);
  assert_true(json_is_true(json_object_get(res, "degraded")));
  assert_true(json_is_true(json_object_get(res, "cached")));
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(res, "sources"), "music")),
                      "catalog");
  assert_int_equal(json_array_size(json_object_get(res, "tracks")), 10);
  json_decref(res);
}

static void test_upstream_errors_and_stale(void **state) {
  struct service_fault f;
  json_t *res;

  (void)state;
  start(WEATHER_OWM, MUSIC_CATALOG, 1, "/owm");
  OWM->status = 500;
  assert_int_equal(
      call("get_playlist", "[]", "{\"city\": \"Paris\"}", &res, &f),
      TEMPO_EUPSTREAM);
  assert_string_equal(f.exc_type, "UpstreamError");
  assert_null(strstr(f.value, "SECRETKEY"));
  assert_null(strstr(f.value, "http"));
  json_decref(f.exc_args);

  OWM->status = 200;
  assert_int_equal(
      call("get_playlist", "[]", "{\"city\": \"Paris\"}", &res, &f), 0);
  json_decref(res);
  usleep(1100 * 1000); /* past the 1 s TTL */
  OWM->status = 503;
  assert_int_equal(
      call("get_playlist", "[]", "{\"city\": \"Paris\"}", &res, &f), 0);
  assert_true(json_is_true(json_object_get(res, "stale")));
  assert_true(json_is_true(json_object_get(res, "cached")));
  json_decref(res);
}

static void test_upstream_timeout(void **state) {
  struct service_fault f;
  json_t *res;

  (void)state;
  start(WEATHER_OWM, MUSIC_CATALOG, 600, "/slow");
  assert_int_equal(
      call("get_playlist", "[]", "{\"city\": \"Paris\"}", &res, &f),
      TEMPO_ETIMEOUT);
  assert_string_equal(f.exc_type, "UpstreamTimeout");
  json_decref(f.exc_args);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_reply_shape_and_cache, teardown),
      cmocka_unit_test_teardown(test_protocol_faults, teardown),
      cmocka_unit_test_teardown(test_invalid_arguments, teardown),
      cmocka_unit_test_teardown(test_city_not_found, teardown),
      cmocka_unit_test_teardown(test_spotify_and_degraded, teardown),
      cmocka_unit_test_teardown(test_upstream_errors_and_stale, teardown),
      cmocka_unit_test_teardown(test_upstream_timeout, teardown),
  };

  log_init("test", LOG_ERROR, 0);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
