/*
 * trace.h - W3C Trace Context (traceparent / tracestate, Level 1).
 *
 * The gateway accepts a valid traceparent or starts a new trace, and
 * passes it to the worker in the AMQP headers; the worker sends a child
 * traceparent on every upstream HTTP call.  Invalid headers are replaced,
 * never reflected.  Pure, apart from trace_new's random ids.
 */
#ifndef TEMPO_TRACE_H
#define TEMPO_TRACE_H

#include <stddef.h>

#define TRACE_ID_LEN 32     /* hex digits */
#define TRACE_SPAN_LEN 16   /* hex digits */
#define TRACE_HEADER_LEN 55 /* "00-" trace "-" span "-" flags */
#define TRACE_STATE_MAX 512

/* One hop's trace context. */
struct trace {
    char trace_id[TRACE_ID_LEN + 1];  /* "" = none */
    char span_id[TRACE_SPAN_LEN + 1]; /* the parent of what this hop calls */
    unsigned flags;                   /* only the sampled bit is kept */
    char state[TRACE_STATE_MAX + 1];  /* valid tracestate, or "" */
};

/*
 * Parses a traceparent value (NULL = absent) per the spec: version 00 is
 * exactly 55 characters of lower-case hex fields, trace and parent ids
 * not all zeros; a later version (not ff) may be longer after a '-'.
 * 0 with t->trace_id, t->span_id (the caller's span) and t->flags set, or
 * -1 (t untouched).
 */
int trace_parse(const char *traceparent, struct trace *t);

/* 1 when s is a valid tracestate (at most 32 members, 512 bytes). */
int trace_state_valid(const char *s);

/*
 * The context this hop works in, from the incoming headers (either may be
 * NULL): the caller's trace with a new span id of ours, or a new trace
 * (flags 00: nothing was recorded) when traceparent is absent or invalid.
 * A tracestate is kept only with a valid traceparent, and only if valid.
 */
void trace_begin(struct trace *t, const char *traceparent,
                 const char *tracestate);

/* The traceparent this hop sends to the next one: "00-<trace>-<span>-<fl>",
 * with span = t->span_id.  out needs TRACE_HEADER_LEN + 1 bytes. */
void trace_format(const struct trace *t, char *out, size_t cap);

/* Like trace_format, with a fresh span id (one per outgoing request). */
void trace_format_child(const struct trace *t, char *out, size_t cap);

#endif
