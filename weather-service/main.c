/*
 * main.c - the weather-service process: configuration, logging, the
 * service (providers, caches), the optional /metrics endpoint, the AMQP
 * worker; runs until SIGTERM/SIGINT.
 */
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "service.h"
#include "worker.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    struct config cfg;
    struct service *svc = NULL;
    struct worker *w = NULL;
    struct wmetrics_server *ms = NULL;
    sigset_t sigs;
    char err[256];
    int status = EXIT_FAILURE;

    switch (cfg_load(&cfg, CFG_WORKER, "weather-service", TEMPO_VERSION, argc,
                     argv)) {
    case CFG_OK:
        break;
    case CFG_EXIT:
        cfg_free(&cfg);
        return EXIT_SUCCESS;
    case CFG_ERROR:
        cfg_free(&cfg);
        return 2;
    }
    log_init("weather-service", cfg.log_level, cfg.log_json);

    /* Block before any thread starts; the worker reads them by signalfd. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

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
        ms = wmetrics_server_start(cfg.metrics_port, err, sizeof(err));
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
    if (worker_run(w) == 0)
        status = EXIT_SUCCESS;
out:
    wmetrics_server_stop(ms);
    worker_destroy(w);
    service_destroy(svc);
    curl_global_cleanup();
    cfg_free(&cfg);
    return status;
}
