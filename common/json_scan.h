/*
 * json_scan.h - a validating JSON scanner that builds no tree.
 *
 * It accepts a subset of what jansson's json_loadb(JSON_REJECT_DUPLICATES)
 * accepts: whatever it accepts, jansson parses too, to the same value.  It
 * declines (returns -1), rather than guessing, where matching jansson
 * exactly would cost more than the fast path saves: object keys with
 * escapes, objects with more than JSON_SCAN_MAX_KEYS keys, nesting deeper
 * than JSON_SCAN_MAX_DEPTH.  Callers fall back to jansson then.
 *
 * Checked like jansson: the RFC 8259 grammar; UTF-8 (no overlong forms,
 * surrogates or code points above U+10FFFF); escapes, with \u surrogate
 * pairs well-formed and no \u0000; integers within int64; reals finite;
 * no duplicate keys; nothing but white space after the value.  Pure.
 */
#ifndef TEMPO_JSON_SCAN_H
#define TEMPO_JSON_SCAN_H

#include <stddef.h>

#define JSON_SCAN_MAX_DEPTH 64
#define JSON_SCAN_MAX_KEYS 64

/*
 * Scans one JSON value starting at s[*pos] (after white space) and sets
 * *pos past it.  0 on success, -1 if invalid or declined.
 */
int json_scan_value(const char *s, size_t len, size_t *pos);

/*
 * Scans a whole document that is a JSON object and reports the spans of
 * the values of two of its top-level keys: offset a_off and length a_len
 * for key_a, b_off and b_len for key_b (offset (size_t)-1 when absent).  Keys
 * are plain ASCII without escapes.  0 on success, -1 if invalid or declined.
 */
int json_scan_object2(const char *s, size_t len, const char *key_a,
                      size_t *a_off, size_t *a_len, const char *key_b,
                      size_t *b_off, size_t *b_len);

#endif
