/*
 * worker.h - the weather-service process's AMQP side: consumes
 * rpc-weather_service, runs each call on a pool of WORKER_CONCURRENCY
 * threads, publishes each reply and only then acks its call.
 */
#ifndef TEMPO_WORKER_H
#define TEMPO_WORKER_H

struct config;
struct service;
struct worker;

/* cfg and svc are borrowed and must outlive the worker.  NULL on failure. */
struct worker *worker_create(const struct config *cfg, struct service *svc);

/* Starts the AMQP thread, which connects and reconnects by itself.
 * 0 or a negative tempo_err. */
int worker_start(struct worker *w);

/*
 * Drains and stops (any thread but the worker's own): cancels the
 * consumer, lets the calls in flight finish (up to drain_ms), publishes
 * their replies and acks them, closes the connection and joins every
 * thread.  Calls left after drain_ms are redelivered by the broker.
 */
void worker_stop(struct worker *w, long drain_ms);

void worker_destroy(struct worker *w); /* NULL is a no-op */

#endif
