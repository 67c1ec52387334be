/*
 * harness.h - starts and stops the real processes for integration tests:
 * the private broker (started by CTest's fixture, scripts/broker.sh), the
 * fake upstream, weather-service workers and the gateway; plus a small HTTP
 * client (libcurl) and AMQP helpers (rabbitmq-c) for assertions.
 *
 * Every helper fails the running cmocka test on unexpected errors, so tests
 * read as straight-line scenarios.
 */
#ifndef TEMPO_HARNESS_H
#define TEMPO_HARNESS_H

#include <amqp.h>
#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#define H_MAX_WORKERS 8

struct h_resp {
    long status;
    char *body; /* NUL-terminated, malloc'd */
    size_t len;
    char request_id[160];
    char content_type[128];
    char allow[64];
    double seconds;
    char headers[4096]; /* every header line, "Name: value\n" each */
};

struct h_stack {
    pid_t fake;
    int fake_port;
    pid_t gateway;
    int gateway_port;
    pid_t workers[H_MAX_WORKERS];
    int nworkers;
    char base[128];    /* http://127.0.0.1:<gateway port> */
    char fake_url[64]; /* http://127.0.0.1:<fake port> */
    char logdir[256];
};

/* The private broker's AMQP URL, from $TEMPO_BROKER_DIR/env. */
const char *h_broker_url(void);
int h_broker_port(void);

/* The fixture's amqps listener (127.0.0.1, certificate for "localhost")
 * and the directory of scripts/tls-certs.sh's files (ca.pem, client.pem,
 * other-ca.pem, ...).  Fail the test when the broker has no TLS. */
int h_broker_tls_port(void);
const char *h_broker_tls_dir(void);

/* Runs scripts/broker.sh ctl <args> against the private broker. */
int h_broker_ctl(const char *args);

/* Sends sig (e.g. SIGSTOP/SIGCONT) to the private broker's processes. */
int h_broker_signal(int sig);

int h_free_port(void);

/*
 * Starts a process with exactly the environment `env` (NULL-terminated
 * "K=V" strings) plus PATH, stdout+stderr appended to logfile.
 */
pid_t h_spawn(const char *const argv[], const char *const env[],
              const char *logfile);

/*
 * Runs argv with env (as h_spawn) to completion (10 s at most), its stdout
 * and stderr captured into out (NUL-terminated, truncated to cap).
 * Returns its exit status as h_stop does.
 */
int h_run(const char *const argv[], const char *const env[], char *out,
          size_t cap);

/* Sends sig and waits up to timeout_ms: returns the exit status (0..255),
 * 128+signal if killed by one, or -1 on timeout (then it SIGKILLs). */
int h_stop(pid_t pid, int sig, int timeout_ms);

/* Starts fake-upstream on a free port with extra args (NULL-terminated). */
void h_fake_start(struct h_stack *s, const char *const extra[]);

/*
 * Starts workers and the gateway.  worker_env / gateway_env: extra "K=V"
 * entries (NULL-terminated, may be NULL) added after the defaults, which
 * point every upstream URL at the fake and AMQP_URL at the private broker.
 * Waits until the gateway is ready and `nworkers` consumers are attached.
 */
void h_stack_start(struct h_stack *s, const char *name, int nworkers,
                   const char *const worker_env[],
                   const char *const gateway_env[]);

pid_t h_worker_start(struct h_stack *s, int idx,
                     const char *const worker_env[]);

/* SIGKILLs every process the harness started and has not reaped. */
void h_kill_all(void);

/* h_kill_all as a cmocka teardown, for tests that start their own stack. */
int h_kill_all_teardown(void **state);

/* SIGTERMs everything, asserting that gateway and workers exit 0. */
void h_stack_stop(struct h_stack *s);

/* HTTP request to the gateway (path with query).  headers may be NULL. */
void h_http(const struct h_stack *s, const char *method, const char *path,
            const char *const headers[], struct h_resp *r);
void h_resp_free(struct h_resp *r);

/* The value of response header `name` (case-insensitive) into out; 1 if
 * present, else 0 (out empty). */
int h_header(const struct h_resp *r, const char *name, char *out, size_t cap);

/* GET and parse a JSON body (asserting it parses). New reference. */
json_t *h_get_json(const struct h_stack *s, const char *path, long *status);

/* GET against the fake's control API; returns the parsed body. */
json_t *h_fake_get(const struct h_stack *s, const char *path);
void h_fake_post(const struct h_stack *s, const char *path);

/* Number of consumers of rpc-weather_service (-1 if it does not exist). */
long h_queue_consumers(void);

/* Waits until the consumer count equals n (bounded).  0 on success. */
int h_wait_consumers(long n, int timeout_ms);

/* An AMQP connection to the private broker with channel 1 open. */
amqp_connection_state_t h_amqp_connect(void);

/* GET path and return the status. */
long h_status(const struct h_stack *s, const char *path);

/* Polls GET path until it answers want (at most timeout_ms); returns the
 * last status seen. */
long h_wait_status(const struct h_stack *s, const char *path, long want,
                   int timeout_ms);

/* The whole file (NUL-terminated, malloc'd), or NULL. */
char *h_read_file(const char *path);

/* Waits until the log `name` (e.g. "gateway.log", "worker0.log") in the
 * stack's log directory contains needle.  0, or -1 after timeout_ms. */
int h_wait_log(const struct h_stack *s, const char *name, const char *needle,
               int timeout_ms);

/*
 * A Nameko call sent the way a Python client would (its own reply queue,
 * delivery_mode 2, correlation id "corr-raw-1").  headers may be NULL.
 * Returns the reply body (malloc'd) or NULL if none came within wait_ms.
 */
char *h_raw_call(const char *method, const char *body,
                 const amqp_table_t *headers, const char *expiration,
                 int wait_ms);

/* Asserts error JSON {"error":{"status":st,"code":code,"message":...}}. */
void h_assert_error(const struct h_resp *r, long st, const char *code);

#endif
