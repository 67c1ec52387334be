/*
 * amqp_conn.h - connecting to RabbitMQ and declaring Nameko's topology with
 * rabbitmq-c, shared by the gateway (RPC client) and the worker (server).
 *
 * rabbitmq-c has no reconnect and no background thread: the caller owns the
 * connection on one thread, calls into it often enough to service
 * heartbeats, and on any error destroys it and connects anew (with
 * amqp_conn_backoff_ms between attempts).  These functions never log; they
 * return 0 or a negative tempo_err and describe failures in err.
 *
 * TLS (amqps:// entries of AMQP_URL): rabbitmq-c's OpenSSL socket, TLS 1.2
 * or later, with the broker's certificate chain verified against
 * AMQP_CA_FILE (else the system store: OpenSSL's default paths, which on
 * Debian are /etc/ssl/certs and honour SSL_CERT_FILE / SSL_CERT_DIR) and
 * its name checked against the URL's host by OpenSSL during the handshake
 * (DNS names and IP addresses in subjectAltName, no partial wildcards).
 * Verification cannot be turned off.  An optional client certificate
 * (AMQP_CERT_FILE + AMQP_KEY_FILE, PEM, unencrypted key) is offered for
 * mutual TLS.  Files are read at every connection attempt, so renewed
 * certificates are picked up on the next reconnect.
 */
#ifndef TEMPO_AMQP_CONN_H
#define TEMPO_AMQP_CONN_H

#include "amqp_url.h"

#include <amqp.h>
#include <stddef.h>

struct config;

#define NAMEKO_EXCHANGE "nameko-rpc"
#define AMQP_CONN_HEARTBEAT_S 10

/*
 * What amqp_conn_open needs.  Strings are borrowed (the config outlives
 * every connection).  NULL and "" mean unset.
 */
struct amqp_conn_opts {
    const char *url_list;  /* AMQP_URL (amqp_url.h grammar) */
    const char *ca_file;   /* AMQP_CA_FILE; unset = system store */
    const char *cert_file; /* AMQP_CERT_FILE; unset = no client cert */
    const char *key_file;  /* AMQP_KEY_FILE; with cert_file */
    /* Bounds one node's TCP connect + TLS handshake + login + channel.open,
     * together; also the rpc timeout set on the new connection. */
    int timeout_ms;
    /* The connection_name client property the broker's management UI and
     * `rabbitmqctl list_connections client_properties` show. */
    char name[160];
};

/*
 * Fills o from cfg (AMQP_URL and the AMQP_*_FILE settings), timeout 2 s,
 * name "<daemon> <host>:<pid>" (daemon: "gateway", "weather-service").
 * o borrows cfg's strings.
 */
void amqp_conn_opts_init(struct amqp_conn_opts *o, const struct config *cfg,
                         const char *daemon);

/*
 * Connects to one node of o->url_list, logs in and opens channel 1.  The
 * node tried first comes from *cursor (amqp_url_cursor_next: a random node
 * the first time, then round-robin, one step per attempt, so the node after
 * the one that was lost is tried first); on failure it tries each other
 * node once, in order, within this call.  A zeroed cursor is a fresh one.
 *
 * Login advertises the capabilities consumer_cancel_notify,
 * connection.blocked, publisher_confirms, basic.nack and
 * authentication_failure_close, so the broker sends basic.cancel when it
 * removes a consumer and connection.blocked / unblocked around resource
 * alarms: the caller's frame loop must expect those frames.
 *
 * Returns a new connection (free with amqp_conn_close or
 * amqp_destroy_connection) or NULL with err holding one "host:port: why"
 * per node tried, separated by "; ".  host_out (may be NULL) receives
 * "host:port" of the node that answered, followed by " (TLS)" for amqps.
 * Nothing written to err or host_out holds a user name or password.
 */
amqp_connection_state_t amqp_conn_open(const struct amqp_conn_opts *o,
                                       struct amqp_url_cursor *cursor,
                                       char *host_out, size_t host_len,
                                       char *err, size_t errlen);

/*
 * Checks the TLS files at start: each set file must be readable and hold
 * what it should (CA certificates; a certificate chain; an unencrypted
 * private key that matches the certificate), and AMQP_CERT_FILE and
 * AMQP_KEY_FILE go together.  NULL/"" = unset.  Returns 0, or -1 with err
 * naming the setting ("AMQP_CA_FILE: cannot read /x: No such file...").
 */
int amqp_conn_tls_check(const char *ca_file, const char *cert_file,
                        const char *key_file, char *err, size_t errlen);

/* Closes politely (bounded) and destroys.  NULL is a no-op. */
void amqp_conn_close(amqp_connection_state_t conn);

/* Declares the Nameko RPC exchange (topic, durable, not auto-delete). */
int amqp_conn_declare_exchange(amqp_connection_state_t conn, amqp_channel_t ch,
                               char *err, size_t errlen);

/*
 * Turns a failed rpc reply (from amqp_get_rpc_reply or a synchronous call)
 * into text in err.  Returns TEMPO_EUNAVAIL.
 */
int amqp_conn_reply_error(amqp_rpc_reply_t r, const char *what, char *err,
                          size_t errlen);

/* Checks the last synchronous call on conn: 0 or TEMPO_EUNAVAIL + err. */
int amqp_conn_check(amqp_connection_state_t conn, const char *what, char *err,
                    size_t errlen);

/*
 * Capped, jittered exponential backoff: attempt 0 -> ~100 ms, doubling to a
 * cap of 5 s, each value drawn from [d/2, d] (rng_u64: jitter needs no
 * secrecy).
 */
int amqp_conn_backoff_ms(unsigned attempt);

/*
 * Writes a random (version 4) UUID string, 36 characters and a NUL, into
 * out.  The 122 random bits come from the kernel's CSPRNG (rng_secure), so
 * one id tells nothing about the next (they are request ids and
 * correlation ids).  Thread-safe; fork-safe.
 */
void amqp_conn_uuid4(char out[37]);

/* Copies an amqp_bytes_t into a NUL-terminated buffer (truncating).  Returns
 * 0, or -1 when it did not fit or held a NUL byte. */
int amqp_conn_bytes_str(amqp_bytes_t b, char *out, size_t cap);

#endif
