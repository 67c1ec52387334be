/*
 * sig.h - how both daemons stop: SIGTERM and SIGINT are blocked in every
 * thread and taken by the main thread with sigwait, which then drains the
 * daemon; SIGPIPE is blocked so a peer closing a socket is an error code,
 * not a death.
 */
#ifndef TEMPO_SIG_H
#define TEMPO_SIG_H

/* Blocks SIGTERM, SIGINT and SIGPIPE.  Call before any thread starts, so
 * that every thread inherits the mask. */
void sig_block(void);

/* Waits for SIGTERM or SIGINT (blocked by sig_block); returns it. */
int sig_wait(void);

#endif
