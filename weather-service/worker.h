/*
 * worker.h - the weather-service process's AMQP side: consumes
 * rpc-weather_service, runs each call on a pool of WORKER_CONCURRENCY
 * threads through service_call(), publishes the reply and only then acks.
 */
#ifndef TEMPO_WORKER_H
#define TEMPO_WORKER_H

struct config;
struct service;
struct worker;

/* cfg and svc are borrowed and must outlive the worker.  NULL on failure. */
struct worker *worker_create(const struct config *cfg, struct service *svc);

/*
 * Runs until SIGTERM or SIGINT (which the caller has blocked in every
 * thread): connects and reconnects by itself, then drains: cancels its
 * consumer, finishes the calls in flight (up to DRAIN_TIMEOUT_MS), publishes
 * their replies and acks them.  Returns 0 on a clean stop.
 */
int worker_run(struct worker *w);

void worker_destroy(struct worker *w); /* NULL is a no-op */

#endif
