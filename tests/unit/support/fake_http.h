/*
 * fake_http.h - a tiny scripted HTTP upstream on 127.0.0.1 for unit tests
 * (libmicrohttpd, one thread per connection).
 *
 * A test describes the upstream as a table of routes ended by
 * {.path = NULL}, starts it with fake_start(), points the code under test
 * at fake_base() and stops it with fake_stop().  A request is matched
 * against the route paths exactly (the query string is not part of the
 * path); with no match the answer is 404 "not found".  Every answer has
 * Content-Type: application/json.
 *
 * There is one server per process at a time: its state is file-global, so
 * tests can read what the last request looked like without plumbing.  The
 * server thread writes that state, and the route's hits, args, req_auth and
 * req_body, under fake_mu.  A test may read them without the lock once the
 * request that wrote them has been answered; to change a route while the
 * server runs, hold fake_mu.
 *
 * fake_start fails the running cmocka test (assert_*) if the server cannot
 * start, so call it from a cmocka test or fixture.
 */
#ifndef TEMPO_TESTS_FAKE_HTTP_H
#define TEMPO_TESTS_FAKE_HTTP_H

#include <jansson.h>
#include <pthread.h>

/* One scripted path.  The first block is configuration, the second is what
 * the server recorded. */
struct fake_route {
    const char *path;
    int status;
    const char *body;   /* borrowed; NULL means "" */
    const char *header; /* "Name: value" or NULL */
    int delay_ms;       /* sleep this long before answering */
    int fail_first;     /* answer fail_status to this many hits first */
    int fail_status;
    /* Builds the body from the request instead (malloc'd; may be NULL).
     * Runs on the server thread with fake_mu held; args and auth are
     * borrowed for the call. */
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

extern pthread_mutex_t fake_mu;
extern struct fake_req fake_last;
extern int fake_connections; /* TCP connections accepted since fake_start */

/* Starts the server on an ephemeral loopback port with routes (borrowed
 * until fake_stop; hits are reset to 0).  Fails the test on error. */
void fake_start(struct fake_route *routes);

/* Stops the server and releases the recorded args of the routes and of
 * fake_last. */
void fake_stop(void);

/* "http://127.0.0.1:<port>" of the running fake; a static buffer. */
const char *fake_base(void);

/* Hits of the route for path (-1 if none), read under fake_mu. */
int fake_hits(const char *path);

/* A query argument of the last request to path, or NULL (borrowed). */
const char *fake_route_arg(const char *path, const char *key);

/* A query argument of the last request, or NULL (borrowed). */
const char *fake_arg_value(const char *key);

#endif
