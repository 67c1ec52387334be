/*
 * envelope.c - see envelope.h.
 */
#include "envelope.h"

#include "amqp_conn.h"
#include "amqp_headers.h"
#include "nameko.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

static int64_t deadline(const amqp_basic_properties_t *p, int64_t now,
                        int64_t wall_now)
{
    int64_t d = 0, wall;
    char buf[24], *end = NULL;
    long long ms;

    if ((p->_flags & AMQP_BASIC_EXPIRATION_FLAG) &&
        amqp_conn_bytes_str(p->expiration, buf, sizeof(buf)) == 0 &&
        buf[0] >= '0' && buf[0] <= '9') {
        ms = strtoll(buf, &end, 10);
        if (*end == '\0' && ms > 0 && ms <= DAY_MS)
            d = now + ms;
    }
    if ((p->_flags & AMQP_BASIC_HEADERS_FLAG) &&
        amqp_headers_int64(&p->headers, TEMPO_HDR_DEADLINE, &wall) == 0 &&
        wall > 0) {
        int64_t left = wall - wall_now;
        int64_t h = now + (left < 0 ? -1 : left);
        if (left < DAY_MS && (d == 0 || h < d))
            d = h;
    }
    return d;
}

static void request_id(const amqp_basic_properties_t *p, char *out, size_t cap)
{
    out[0] = '\0';
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return;
    if (amqp_headers_string(&p->headers, NAMEKO_HDR_REQUEST_ID, out, cap) ==
            0 &&
        validate_request_id(out))
        return;
    if (amqp_headers_last_string(&p->headers, NAMEKO_HDR_CALL_ID_STACK, out,
                                 cap) == 0 &&
        validate_request_id(out))
        return;
    out[0] = '\0';
}

/* The caller's trace context, if valid; the worker adds no span of its
 * own: its upstream calls are children of the caller's span. */
static void trace_of(const amqp_basic_properties_t *p, struct trace *t)
{
    char tp[64], ts[TRACE_STATE_MAX + 1];

    memset(t, 0, sizeof(*t));
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG) ||
        amqp_headers_string(&p->headers, TEMPO_HDR_TRACEPARENT, tp,
                            sizeof(tp)) < 0 ||
        trace_parse(tp, t) < 0)
        return;
    if (amqp_headers_string(&p->headers, TEMPO_HDR_TRACESTATE, ts,
                            sizeof(ts)) == 0 &&
        trace_state_valid(ts))
        snprintf(t->state, sizeof(t->state), "%s", ts);
}

int envelope_read(const amqp_envelope_t *env, int64_t mono_ms, int64_t wall_ms,
                  struct call_envelope *e)
{
    const amqp_basic_properties_t *p = &env->message.properties;
    char rk[256];
    const char *dot;

    memset(e, 0, sizeof(*e));
    e->has_reply_to = (p->_flags & AMQP_BASIC_REPLY_TO_FLAG) &&
                      amqp_conn_bytes_str(p->reply_to, e->reply_to,
                                          sizeof(e->reply_to)) == 0 &&
                      e->reply_to[0] != '\0';
    request_id(p, e->request_id, sizeof(e->request_id));
    trace_of(p, &e->trace);
    e->deadline_ms = deadline(p, mono_ms, wall_ms);
    if (amqp_conn_bytes_str(env->routing_key, rk, sizeof(rk)) < 0 ||
        (dot = strrchr(rk, '.')) == NULL ||
        strlen(dot + 1) >= sizeof(e->method) ||
        ((p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) &&
         amqp_conn_bytes_str(p->correlation_id, e->corr_id,
                             sizeof(e->corr_id)) < 0))
        return -1;
    snprintf(e->method, sizeof(e->method), "%s", dot + 1);
    return 0;
}
