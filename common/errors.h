/*
 * errors.h - the one error table of tempo.
 *
 * Every error a client or an RPC peer can see is one row here: the internal
 * code, the HTTP status, the SPEC section 2 code word, and the Nameko
 * exc_type/exc_path a worker puts in its error envelope.  The gateway's own
 * HTTP-level answers (bad_request for faulty framing, uri_too_long,
 * header_too_large, rate_limited) are rows too, though no worker sends them.
 * The gateway maps a reply's exc_type back to a row; unknown types become
 * TEMPO_EINTERNAL.
 *
 * Functions across tempo return 0 or a negative tempo_err.
 */
#ifndef TEMPO_ERRORS_H
#define TEMPO_ERRORS_H

#include <stddef.h>

/*
 * X(name, HTTP status, code word, Nameko exc_type, exc_path, wire)
 *
 * wire says what a worker does with the row:
 *   ERR_WIRE_NO    never sent (the gateway's own HTTP-level answers);
 *   ERR_WIRE_MAPS  sent, and the gateway answers with the row's status;
 *   ERR_WIRE_500   sent, and the gateway answers 500 (Nameko's protocol
 *                  errors are the caller's bug; InternalError).
 * Nameko's own types carry exc_path "nameko.exceptions.<type>", so a
 * Python client re-raises them as its own classes.
 */
#define ERR_WIRE_NO 0
#define ERR_WIRE_MAPS 1
#define ERR_WIRE_500 2

#define TEMPO_ERRORS(X)                                                        \
    X(EINVAL, 400, "invalid_argument", "InvalidArgument",                      \
      "tempo.InvalidArgument", ERR_WIRE_MAPS)                                  \
    X(ENOCITY, 404, "city_not_found", "CityNotFound", "tempo.CityNotFound",    \
      ERR_WIRE_MAPS)                                                           \
    X(ENOTFOUND, 404, "not_found", "NotFound", "tempo.NotFound", ERR_WIRE_NO)  \
    X(EMETHOD, 405, "method_not_allowed", "MethodNotAllowed",                  \
      "tempo.MethodNotAllowed", ERR_WIRE_NO)                                   \
    X(EUPSTREAM, 502, "upstream_error", "UpstreamError",                       \
      "tempo.UpstreamError", ERR_WIRE_MAPS)                                    \
    X(EUNAVAIL, 503, "service_unavailable", "ServiceUnavailable",              \
      "tempo.ServiceUnavailable", ERR_WIRE_NO)                                 \
    X(ETIMEOUT, 504, "timeout", "UpstreamTimeout", "tempo.UpstreamTimeout",    \
      ERR_WIRE_MAPS)                                                           \
    X(EBADREQ, 400, "bad_request", "BadRequest", "tempo.BadRequest",           \
      ERR_WIRE_NO)                                                             \
    X(EURILONG, 414, "uri_too_long", "UriTooLong", "tempo.UriTooLong",         \
      ERR_WIRE_NO)                                                             \
    X(EHDRLARGE, 431, "header_too_large", "HeaderTooLarge",                    \
      "tempo.HeaderTooLarge", ERR_WIRE_NO)                                     \
    X(ERATELIMIT, 429, "rate_limited", "RateLimited", "tempo.RateLimited",     \
      ERR_WIRE_NO)                                                             \
    X(EMETHODNF, 500, "internal", "MethodNotFound",                            \
      "nameko.exceptions.MethodNotFound", ERR_WIRE_500)                        \
    X(EMALFORMED, 500, "internal", "MalformedRequest",                         \
      "nameko.exceptions.MalformedRequest", ERR_WIRE_500)                      \
    X(ESIGNATURE, 500, "internal", "IncorrectSignature",                       \
      "nameko.exceptions.IncorrectSignature", ERR_WIRE_500)                    \
    X(EINTERNAL, 500, "internal", "InternalError", "tempo.InternalError",      \
      ERR_WIRE_500)

enum tempo_err {
    TEMPO_OK = 0,
#define TEMPO_ERR_ENUM(name, status, code, exc, path, wire) TEMPO_##name,
    TEMPO__FIRST = -100,
    TEMPO_ERRORS(TEMPO_ERR_ENUM)
#undef TEMPO_ERR_ENUM
        TEMPO__END
};

#define TEMPO_ERR_COUNT ((int)(TEMPO__END - TEMPO__FIRST - 1))

/* All lookups take a negative tempo_err; unknown values map to EINTERNAL. */
int tempo_err_http_status(int err);
const char *tempo_err_code(int err);
const char *tempo_err_exc_type(int err);
const char *tempo_err_exc_path(int err);
int tempo_err_wire(int err); /* ERR_WIRE_* */

/* 0..TEMPO_ERR_COUNT-1 for counters indexed by error; the inverse is
 * tempo_err_at.  Unknown values give EINTERNAL's index. */
int tempo_err_index(int err);
int tempo_err_at(int index);

/*
 * The table's distinct code words, in table order (metric labels: several
 * rows share "internal").  Returns how many and sets *codes (static).
 * tempo_err_code_index gives an error's position in that list.
 */
int tempo_err_codes(const char *const **codes);
int tempo_err_code_index(int err);

/*
 * The one error body of both daemons' HTTP servers:
 * {"error": {"status": <status>, "code": "<code>", "message": "<message>"}}
 * as a new malloc'd compact JSON string (message NULL or not valid UTF-8:
 * the code word).  NULL only when out of memory.
 */
char *tempo_err_body(int err, const char *message);

/*
 * Maps a Nameko exc_type from a reply to the tempo_err whose status the
 * gateway answers with: the ERR_WIRE_MAPS rows map to themselves; Nameko's
 * own MethodNotFound, MalformedRequest and IncorrectSignature, every
 * other row and any unknown type give TEMPO_EINTERNAL (SPEC section 3).
 * NULL gives TEMPO_EINTERNAL.
 */
int tempo_err_from_exc_type(const char *exc_type);

#endif
