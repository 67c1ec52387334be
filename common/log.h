/*
 * log.h - leveled logging to stderr, as text or one JSON object per line.
 *
 * The level is checked in the macro before any argument is evaluated.  Each
 * thread may set the request id it is working for (log_set_request_id); it
 * is printed on every line that thread writes until cleared.  Control
 * characters in messages are escaped, so request data cannot forge lines.
 * Thread-safe: every line is written with one write(2).
 */
#ifndef TEMPO_LOG_H
#define TEMPO_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Set once at start-up, before threads start.  daemon is borrowed. */
void log_init(const char *daemon, int level, int json);

/* Parses "debug".."error"; returns the level or -1. */
int log_level_parse(const char *s);

/* The current thread's request id (copied; NULL clears); clears the
 * trace id. */
void log_set_request_id(const char *id);

/*
 * The current thread's request id and W3C trace id (copied; NULL clears
 * either).  Lines then carry "req=<id> trace=<trace id>" (text) or
 * "request_id" and "trace_id" (JSON).  A trace id that is not 32
 * lower-case hex digits is ignored.
 */
void log_set_context(const char *request_id, const char *trace_id);

extern int log__level;

void log__write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...)                                                       \
    do {                                                                       \
        if ((lvl) >= log__level)                                               \
            log__write((lvl), __VA_ARGS__);                                    \
    } while (0)

#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
