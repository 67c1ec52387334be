/*
 * main.c - the weather-service process: configuration, logging, the
 * service (providers, caches), the optional /metrics endpoint, the AMQP
 * worker; runs until SIGTERM/SIGINT.
 */
#include "config.h"
#include "log.h"
#include "metrics_http.h"
#include "service.h"
#include "sig.h"
#include "worker.h"

#include <curl/curl.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    struct config cfg;
    struct service *svc = NULL;
    struct worker *w = NULL;
    struct wmetrics_server *ms = NULL;
    char err[256];
    int sig;
    int status = EXIT_FAILURE;

    if (!cfg_load_main(&cfg, CFG_WORKER, "weather-service", argc, argv,
                       &status))
        return status;
    log_init("weather-service", cfg.log_level, cfg.log_json);

    sig_block(); /* before any thread starts: they all inherit it */

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        goto out;
    }
    svc = service_create(&cfg, err, sizeof(err));
    if (svc == NULL) {
        log_error("%s", err);
        status = 2;
        goto out;
    }
    if (cfg.metrics_port > 0) {
        ms = wmetrics_server_start(cfg.metrics_port, cfg.http_header_timeout_ms,
                                   err, sizeof(err));
        if (ms == NULL) {
            log_error("%s", err);
            goto out;
        }
        log_info("metrics on 0.0.0.0:%ld/metrics", cfg.metrics_port);
    }
    w = worker_create(&cfg, svc);
    if (w == NULL) {
        log_error("cannot start %ld worker threads", cfg.worker_concurrency);
        goto out;
    }
    if (worker_start(w) < 0) {
        log_error("cannot start the AMQP thread");
        goto out;
    }
    sig = sig_wait();
    log_info("signal %d: draining (up to %ld ms)", sig, cfg.drain_timeout_ms);
    worker_stop(w, cfg.drain_timeout_ms);
    log_info("stopped");
    status = EXIT_SUCCESS;
out:
    wmetrics_server_stop(ms);
    worker_destroy(w);
    service_destroy(svc);
    curl_global_cleanup();
    cfg_free(&cfg);
    return status;
}
