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

/* X(name, http status, code word, Nameko exc_type, exc_path) */
#define TEMPO_ERRORS(X)                                                        \
    X(EINVAL, 400, "invalid_argument", "InvalidArgument",                      \
      "tempo.InvalidArgument")                                                 \
    X(ENOCITY, 404, "city_not_found", "CityNotFound", "tempo.CityNotFound")    \
    X(ENOTFOUND, 404, "not_found", "NotFound", "tempo.NotFound")               \
    X(EMETHOD, 405, "method_not_allowed", "MethodNotAllowed",                  \
      "tempo.MethodNotAllowed")                                                \
    X(EUPSTREAM, 502, "upstream_error", "UpstreamError",                       \
      "tempo.UpstreamError")                                                   \
    X(EUNAVAIL, 503, "service_unavailable", "ServiceUnavailable",              \
      "tempo.ServiceUnavailable")                                              \
    X(ETIMEOUT, 504, "timeout", "UpstreamTimeout", "tempo.UpstreamTimeout")    \
    X(EBADREQ, 400, "bad_request", "BadRequest", "tempo.BadRequest")           \
    X(EURILONG, 414, "uri_too_long", "UriTooLong", "tempo.UriTooLong")         \
    X(EHDRLARGE, 431, "header_too_large", "HeaderTooLarge",                    \
      "tempo.HeaderTooLarge")                                                  \
    X(ERATELIMIT, 429, "rate_limited", "RateLimited", "tempo.RateLimited")     \
    X(EINTERNAL, 500, "internal", "InternalError", "tempo.InternalError")

enum tempo_err {
    TEMPO_OK = 0,
#define TEMPO_ERR_ENUM(name, status, code, exc, path) TEMPO_##name,
    TEMPO__FIRST = -100,
    TEMPO_ERRORS(TEMPO_ERR_ENUM)
#undef TEMPO_ERR_ENUM
        TEMPO__END
};

/* All lookups take a negative tempo_err; unknown values map to EINTERNAL. */
int tempo_err_http_status(int err);
const char *tempo_err_code(int err);
const char *tempo_err_exc_type(int err);
const char *tempo_err_exc_path(int err);

/*
 * Maps a Nameko exc_type from a reply to a tempo_err.  Nameko's own
 * MethodNotFound, MalformedRequest and IncorrectSignature, and any unknown
 * type, give TEMPO_EINTERNAL (SPEC section 3).  NULL gives TEMPO_EINTERNAL.
 */
int tempo_err_from_exc_type(const char *exc_type);

#endif
