/*
 * amqp_headers.h - reading values out of an AMQP field table (message
 * headers) written by any peer.  Pure, and written for hostile input: a
 * value of the wrong kind, with a NUL byte or too long for the caller's
 * buffer is treated as absent.
 */
#ifndef TEMPO_AMQP_HEADERS_H
#define TEMPO_AMQP_HEADERS_H

#include <amqp.h>
#include <stddef.h>
#include <stdint.h>

/* The value of key in t (first match), or NULL.  Borrowed from t. */
const amqp_field_value_t *amqp_headers_find(const amqp_table_t *t,
                                            const char *key);

/* A string value (UTF-8 or bytes) into out (NUL-terminated).  0, or -1 when
 * absent or unusable (then out is ""). */
int amqp_headers_string(const amqp_table_t *t, const char *key, char *out,
                        size_t cap);

/* The last string of an array value (e.g. nameko.call_id_stack).  0 or -1
 * as amqp_headers_string. */
int amqp_headers_last_string(const amqp_table_t *t, const char *key, char *out,
                             size_t cap);

/* An integer value of any AMQP integer kind, or a decimal string of up to
 * 18 digits.  0 with *out set, or -1 when absent or unusable. */
int amqp_headers_int64(const amqp_table_t *t, const char *key, int64_t *out);

#endif
