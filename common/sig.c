/*
 * sig.c - see sig.h.
 */
#include "sig.h"

#include <pthread.h>
#include <signal.h>

void sig_block(void)
{
    sigset_t s;

    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int sig_wait(void)
{
    sigset_t s;
    int sig = 0;

    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    while (sigwait(&s, &sig) != 0)
        ;
    return sig;
}
