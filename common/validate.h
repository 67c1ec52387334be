/*
 * validate.h - the argument rules of SPEC section 2, shared by the gateway
 * (HTTP query) and the worker (RPC kwargs, which may come from any Nameko
 * client).  Pure.  Each returns 0 or TEMPO_EINVAL with a client-safe message
 * in err (never echoing more than a short, escaped prefix of the input),
 * except validate_request_id, a predicate, and the two text helpers at the
 * end.  err may be NULL.
 */
#ifndef TEMPO_VALIDATE_H
#define TEMPO_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#define VALIDATE_CITY_MAX 200

/* 1..200 bytes of valid UTF-8 (no overlongs, no surrogates), no control
 * characters (C0, DEL, C1), no NUL, not only whitespace. */
int validate_city(const char *s, size_t len, char *err, size_t errlen);

/* Exactly two ASCII letters (ISO 3166-1 alpha-2 form); out gets them
 * upper-cased and NUL-terminated (3 bytes). */
int validate_country(const char *s, size_t len, char out[3], char *err,
                     size_t errlen);

/* Parses a plain decimal ("-12.5", "51", "0.1275"; no exponent, hex, inf,
 * nan, spaces or leading '+'; at most 32 bytes) within [min, max]. `what`
 * names the argument in the message ("lat"). */
int validate_coord(const char *s, size_t len, double min, double max,
                   const char *what, double *out, char *err, size_t errlen);

/* Range check for a coordinate that arrived as a JSON number. */
int validate_coord_value(double v, double min, double max, const char *what,
                         char *err, size_t errlen);

/* 1..128 characters of [A-Za-z0-9._:-] (SPEC section 2 X-Request-Id)?
 * Returns 1 if so, 0 if not (NULL included). */
int validate_request_id(const char *s);

/*
 * Copies at most cap-1 bytes of src into dst without splitting a UTF-8
 * character, replacing control characters (C0, DEL) with '?', so text from
 * a peer can go into a message or JSON string safely.  src need not be
 * valid UTF-8 (invalid bytes are copied; jansson then rejects them, so use
 * validate_city-style checks where validity matters).  cap >= 1.
 */
void validate_copy_text(char *dst, size_t cap, const char *src);

/*
 * Decodes the one UTF-8 sequence that starts at s[0] (len >= 1 bytes are
 * readable).  Returns its length in bytes (1..4) with the code point in
 * *cp, or 0, leaving *cp alone, when the sequence is invalid: a stray
 * continuation byte, a truncated sequence, an overlong form, a surrogate
 * (U+D800..U+DFFF) or a value above U+10FFFF.  validate_city accepts
 * exactly what this decodes, and nameko.c's JSON serialiser escapes text
 * with it (writing U+FFFD for each byte it rejects).
 */
size_t validate_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

#endif
