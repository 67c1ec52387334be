/*
 * main.c - the gateway process: configuration, logging, the HTTP server
 * (which owns the RPC client), then wait for SIGTERM/SIGINT and drain.
 */
#include "config.h"
#include "http.h"
#include "log.h"
#include "sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* Lets one process hold as many connections as the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn("cannot raise the open-file limit");
    }
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct http_server *srv = NULL;
    int sig, status = EXIT_FAILURE;

    if (!cfg_load_main(&cfg, CFG_GATEWAY, "gateway", argc, argv, &status))
        return status;
    log_init("gateway", cfg.log_level, cfg.log_json);
    raise_fd_limit();

    sig_block(); /* before any thread starts: they all inherit it */

    srv = http_server_create(&cfg);
    if (srv == NULL || http_server_start(srv) < 0)
        goto out;
    sig = sig_wait();
    log_info("signal %d: draining (up to %ld ms)", sig, cfg.drain_timeout_ms);
    http_server_stop(srv, cfg.drain_timeout_ms);
    log_info("stopped");
    status = EXIT_SUCCESS;
out:
    http_server_destroy(srv);
    cfg_free(&cfg);
    return status;
}
