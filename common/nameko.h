/*
 * nameko.h - Nameko RPC envelopes to and from JSON (SPEC section 3).  Pure:
 * no sockets, no clocks, no logging.  Hostile input gets a negative
 * tempo_err and a message in the caller's buffer, never a crash.
 *
 * Bodies are produced the way Python's json.dumps does by default
 * (separators ", " and ": ", non-ASCII escaped as \uXXXX), so they are
 * byte-identical to what a Python Nameko peer sends.  Encoders return NULL
 * rather than a body over NAMEKO_MAX_BODY bytes.  Decoders reject duplicate
 * object keys and \u0000 in strings (no Python peer sends either).
 */
#ifndef TEMPO_NAMEKO_H
#define TEMPO_NAMEKO_H

#include <jansson.h>
#include <stddef.h>

/* Largest call or reply body either side accepts. */
#define NAMEKO_MAX_BODY (1024 * 1024)

/* AMQP header names of a call (SPEC section 3). */
#define NAMEKO_HDR_CALL_ID_STACK "nameko.call_id_stack"
#define NAMEKO_HDR_REQUEST_ID "nameko.request_id"
/* The caller's absolute deadline: epoch milliseconds, an AMQP long-long
 * integer (a decimal string is accepted too). */
#define TEMPO_HDR_DEADLINE "tempo.deadline_ms"
/* W3C Trace Context, as the AMQP binding of the spec names them. */
#define TEMPO_HDR_TRACEPARENT "traceparent"
#define TEMPO_HDR_TRACESTATE "tracestate"

/* A decoded call.  args and kwargs are new references (json_decref both). */
struct nameko_call {
    json_t *args;   /* array */
    json_t *kwargs; /* object */
};

/*
 * Decodes a call body `{"args": [...], "kwargs": {...}}`.  Returns 0 and
 * fills *call, or a negative tempo_err (body not JSON, not an object, args
 * not an array or kwargs not an object, over NAMEKO_MAX_BODY): TEMPO_EINVAL
 * with a message in err.  Such a call is answered with
 * MalformedRequest (TEMPO_EMALFORMED in errors.h).
 */
int nameko_call_decode(const void *body, size_t len, struct nameko_call *call,
                       char *err, size_t errlen);

/*
 * Encodes a call body from kwargs (borrowed) and empty args.  Returns a new
 * malloc'd NUL-terminated string (free with free()), or NULL on failure.
 */
char *nameko_call_encode(const json_t *kwargs);

/*
 * Encodes a success reply `{"result": <result>, "error": null}`.  result is
 * borrowed.  Returns a new malloc'd string or NULL.
 */
char *nameko_reply_encode_result(const json_t *result);

/* A JSON value already serialised as nameko_dumps writes it. */
struct nameko_raw {
    const char *json; /* len bytes, not necessarily NUL-terminated */
    size_t len;
};

/*
 * A success reply whose result holds an array given as elements already
 * serialised (by nameko_dumps, so the body is byte for byte what
 * nameko_reply_encode_result would write for the whole tree): the member
 * result[array_key], of any value, marks the array's place, and
 * items[0..n-1] are written there.  When the body would exceed
 * NAMEKO_MAX_BODY, items are dropped from the end (n halved) until it
 * fits or one is left.  *kept (may be NULL) receives the number sent.
 * Returns a new malloc'd string, or NULL if even that does not fit.
 */
char *nameko_reply_encode_result_spliced(const json_t *result,
                                         const char *array_key,
                                         const struct nameko_raw *items,
                                         size_t n, size_t *kept);

/*
 * Encodes an error reply `{"result": null, "error": {"exc_type": ...,
 * "exc_path": ..., "exc_args": [...], "value": ...}}`.  exc_args is
 * borrowed and may be NULL (then []).  Returns a new malloc'd string or NULL.
 */
char *nameko_reply_encode_error(const char *exc_type, const char *exc_path,
                                const json_t *exc_args, const char *value);

/* A decoded reply.  Exactly one of result / exc_type is set. */
struct nameko_reply {
    json_t *result;    /* new reference, or NULL on error replies */
    char exc_type[64]; /* "" on success */
    char value[512];   /* error's "value" (truncated), "" on success */
};

/*
 * Decodes a reply body.  Returns 0 (check reply->result) or
 * TEMPO_EINTERNAL when the body is not a Nameko reply at all (the worker's
 * fault, not the client's).  A successful reply with a null result, or a
 * result that is not an object, is malformed; so is an error without a
 * non-empty string exc_type.  reply is written only on success.
 */
int nameko_reply_decode(const void *body, size_t len,
                        struct nameko_reply *reply, char *err, size_t errlen);

/* Releases what nameko_reply_decode allocated.  NULL is a no-op. */
void nameko_reply_clear(struct nameko_reply *reply);

/*
 * Fast path for the common success reply: when body is a Nameko reply
 * whose "error" is null and whose "result" is an object, sets *off and
 * *span to the bytes of the result object and returns 0, without building
 * a tree.  The envelope is fully validated (json_scan.h): whatever this
 * accepts, nameko_reply_decode accepts with the same result, so a reply
 * that is not JSON never goes out as a 200.  Otherwise returns -1 and the
 * caller decodes with nameko_reply_decode (which also covers what the
 * scanner declines: escaped keys, deep nesting).
 */
int nameko_reply_result_span(const void *body, size_t len, size_t *off,
                             size_t *span);

/*
 * Serialises a JSON value as Python's json.dumps would (", " and ": ",
 * ensure_ascii).  Returns a new malloc'd string or NULL.
 */
char *nameko_dumps(const json_t *value);

#endif
