/*
 * log.c - see log.h.  A line is formatted into a bounded stack buffer, its
 * control characters escaped, and written with one write(2) so lines from
 * several threads never interleave.  Over-long messages are truncated with
 * "..." rather than split.
 */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log__level = LOG_INFO;

static const char *log_daemon = "tempo";
static int log_json;
static _Thread_local char log_reqid[129];
static _Thread_local char log_trace[33];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *daemon, int level, int json)
{
    log_daemon = daemon;
    log__level = level;
    log_json = json;
}

int log_level_parse(const char *s)
{
    int i;

    for (i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

/* Copies src into dst, escaping control characters and backslashes. */
static void escape_into(char *dst, size_t cap, const char *src, int ascii)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (; *src != '\0' && o + 5 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '\\') {
            dst[o++] = '\\';
            dst[o++] = '\\';
        } else if (c < 0x20 || c == 0x7f || (ascii && c >= 0x80)) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
}

void log_set_request_id(const char *id)
{
    log_set_context(id, NULL);
}

void log_set_context(const char *request_id, const char *trace_id)
{
    size_t i;

    /* The ids may come from a peer (an AMQP header): escape them like a
     * message, so they cannot forge or split lines either. */
    if (request_id == NULL)
        log_reqid[0] = '\0';
    else
        escape_into(log_reqid, sizeof(log_reqid), request_id, 1);
    log_trace[0] = '\0';
    if (trace_id == NULL)
        return;
    for (i = 0; i < 32; i++) /* only ever 32 lower-case hex digits */
        if (!((trace_id[i] >= '0' && trace_id[i] <= '9') ||
              (trace_id[i] >= 'a' && trace_id[i] <= 'f')))
            return;
    if (trace_id[32] != '\0')
        return;
    memcpy(log_trace, trace_id, 33);
}

void log__write(int level, const char *fmt, ...)
{
    char raw[2048], msg[4096], line[8192], ts[40];
    struct timespec now;
    struct tm tm;
    va_list ap;
    size_t len;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(raw, sizeof(raw), "(unformattable log message)");
    else if (n >= (int)sizeof(raw))
        memcpy(raw + sizeof(raw) - 4, "...", 4);
    escape_into(msg, sizeof(msg), raw, 0);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000L);
    if (level < LOG_DEBUG || level > LOG_ERROR)
        level = LOG_ERROR;

    if (log_json) {
        json_t *o = json_object();
        char *s;
        json_object_set_new(o, "time", json_string(ts));
        json_object_set_new(o, "level", json_string(level_names[level]));
        json_object_set_new(o, "daemon", json_string(log_daemon));
        if (log_reqid[0] != '\0')
            json_object_set_new(o, "request_id", json_string(log_reqid));
        if (log_trace[0] != '\0')
            json_object_set_new(o, "trace_id", json_string(log_trace));
        /* jansson escapes control characters itself: use the raw text,
         * unless it is not valid UTF-8. */
        json_t *m = json_string(raw);
        if (m == NULL) {
            escape_into(msg, sizeof(msg), raw, 1);
            m = json_string(msg);
        }
        json_object_set_new(o, "message", m);
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (s == NULL)
            return;
        /* Written whole: cutting it to fit `line` would break the JSON
         * (2 KB of control characters escape to 12 KB). */
        len = strlen(s);
        s[len] = '\n'; /* replaces the NUL; s is not a C string below */
        if (write(STDERR_FILENO, s, len + 1) < 0) {
            /* Nowhere left to report it. */
        }
        free(s);
        return;
    } else if (log_reqid[0] != '\0' && log_trace[0] != '\0') {
        n = snprintf(line, sizeof(line), "%s %s %s[%d] req=%s trace=%s %s\n",
                     ts, level_names[level], log_daemon, (int)getpid(),
                     log_reqid, log_trace, msg);
    } else if (log_reqid[0] != '\0') {
        n = snprintf(line, sizeof(line), "%s %s %s[%d] req=%s %s\n", ts,
                     level_names[level], log_daemon, (int)getpid(), log_reqid,
                     msg);
    } else {
        n = snprintf(line, sizeof(line), "%s %s %s[%d] %s\n", ts,
                     level_names[level], log_daemon, (int)getpid(), msg);
    }
    if (n < 0)
        return;
    if (n >= (int)sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* Nowhere left to report it. */
    }
}
