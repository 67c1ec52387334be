/*
 * bench_amqp.h - the little the broker-ceiling benchmark programs
 * (echo_server.c, echo_client.c) share: connecting, checking replies,
 * clocks.  Benchmark code only: errors are fatal (one line on stderr and
 * exit 1), since a half-working benchmark would print wrong numbers.
 */
#ifndef BENCH_AMQP_H
#define BENCH_AMQP_H

#include <amqp.h>
#include <stdint.h>

#define BENCH_EXCHANGE "nameko-rpc"

/* Opens amqp:// URL (login guest-style, channel 1 open) or exits. */
amqp_connection_state_t bench_connect(const char *url);

/* Exits with "echo: <what>: <reason>" unless the last RPC succeeded. */
void bench_check(amqp_connection_state_t conn, const char *what);

/* Declares the Nameko exchange (topic, durable) on channel 1 or exits. */
void bench_declare_exchange(amqp_connection_state_t conn);

/* Monotonic clock in microseconds. */
int64_t bench_now_us(void);

/* Parses a whole decimal number in [min, max] or exits with usage. */
long bench_parse_long(const char *name, const char *s, long min, long max);

#endif
