/*
 * static.h - the files the gateway serves itself: the browser page at /,
 * its script, style sheet and icon, and the OpenAPI document.  They live in
 * gateway/web/ and are compiled into the binary (web/embed.cmake), so the
 * gateway reads nothing from the file system to serve them.
 *
 * Each answer carries a Content-Type with its charset, a strong ETag (a
 * hash of the content, fixed at build time), Cache-Control: no-cache (a
 * browser keeps its copy and revalidates it with If-None-Match, getting 304
 * until the gateway is upgraded), a strict Content-Security-Policy,
 * X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer.
 */
#ifndef TEMPO_STATIC_H
#define TEMPO_STATIC_H

#include <stddef.h>

struct MHD_Response;
struct static_asset;

/* The asset served at path (exact match), or NULL.  Borrowed, static. */
const struct static_asset *static_asset_find(const char *path);

/* Its Content-Type, ETag (with the quotes), content and length.  Borrowed,
 * static. */
const char *static_asset_type(const struct static_asset *a);
const char *static_asset_etag(const struct static_asset *a);
const unsigned char *static_asset_data(const struct static_asset *a);
size_t static_asset_len(const struct static_asset *a);

/*
 * A new response for a: 304 without a body when if_none_match (the
 * request's If-None-Match header, NULL when absent) matches a's ETag, else
 * 200 with the content (not copied: it is static).  *status is set to 200
 * or 304.  It carries every header listed above; the caller adds its
 * per-request ones (X-Request-Id), queues it and destroys it.  NULL when
 * out of memory (then *status is untouched).
 */
struct MHD_Response *static_asset_response(const struct static_asset *a,
                                           const char *if_none_match,
                                           int *status);

/*
 * Pure: 1 when the If-None-Match value `header` matches `etag` (a quoted
 * strong tag such as "\"abc\""), by the weak comparison of RFC 9110 13.1.2
 * (so W/"abc" matches too): `*`, or a comma-separated list holding it.
 * Any malformed member ends the list, so hostile input only ever means "no
 * match" (a full 200).  0 otherwise, also for NULL arguments.
 */
int static_etag_match(const char *header, const char *etag);

#endif
