/*
 * amqp_conn.h - connecting to RabbitMQ and declaring Nameko's topology with
 * rabbitmq-c, shared by the gateway (RPC client) and the worker (server).
 *
 * rabbitmq-c has no reconnect and no background thread: the caller owns the
 * connection on one thread, calls into it often enough to service
 * heartbeats, and on any error destroys it and connects anew (with
 * amqp_conn_backoff_ms between attempts).  These functions never log; they
 * return 0 or a negative tempo_err and describe failures in err.
 */
#ifndef TEMPO_AMQP_CONN_H
#define TEMPO_AMQP_CONN_H

#include <amqp.h>
#include <stddef.h>

#define NAMEKO_EXCHANGE "nameko-rpc"
#define AMQP_CONN_HEARTBEAT_S 10

/*
 * Connects to one of the comma-separated AMQP URLs in url_list, starting with
 * the one after *cursor (updated to the one that worked, so a fail-over list
 * is walked round-robin), logs in and opens channel 1.  connect_timeout_ms
 * bounds each TCP connect and login.  Returns a new connection or NULL.
 * host_out (may be NULL) receives "host:port" of the node that answered.
 */
amqp_connection_state_t amqp_conn_open(const char *url_list, unsigned *cursor,
                                       int connect_timeout_ms, char *host_out,
                                       size_t host_len, char *err,
                                       size_t errlen);

/* Closes politely (bounded) and destroys.  NULL is a no-op. */
void amqp_conn_close(amqp_connection_state_t conn);

/* Declares the Nameko RPC exchange (topic, durable, not auto-delete). */
int amqp_conn_declare_exchange(amqp_connection_state_t conn,
                               amqp_channel_t ch, char *err, size_t errlen);

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
 * cap of 5 s, each value drawn from [d/2, d].
 */
int amqp_conn_backoff_ms(unsigned attempt);

/* Writes a random UUID4 string (37 bytes with NUL) into out. */
void amqp_conn_uuid4(char out[37]);

/* Copies an amqp_bytes_t into a NUL-terminated buffer (truncating).  Returns
 * 0, or -1 when it did not fit or held a NUL byte. */
int amqp_conn_bytes_str(amqp_bytes_t b, char *out, size_t cap);

#endif
