/*
 * clientip.h - which client a request counts against.  Pure.
 *
 * By default the client is the TCP peer: X-Forwarded-For is anyone's to
 * write, so it is never believed from an untrusted peer.  When the peer
 * is one of TRUSTED_PROXIES, X-Forwarded-For is read from the right (the
 * entry the nearest proxy appended) skipping the trusted proxies
 * themselves; the first entry that is not a trusted proxy is the client.
 * An entry that is not an address ends the walk: the request then counts
 * against the last trusted hop, never against a name a client chose.  If
 * every entry is trusted, the left-most one is the client.
 */
#ifndef TEMPO_CLIENTIP_H
#define TEMPO_CLIENTIP_H

#include <stddef.h>

struct netaddr;
struct netaddr_list;

/* Entries of X-Forwarded-For examined at most (from the right). */
#define CLIENTIP_MAX_HOPS 64

/*
 * Writes the client of a request into *out.  peer is the TCP peer;
 * xff[0..n) are the values of the X-Forwarded-For header lines in the
 * order received (each a comma-separated list, xff_len[i] bytes, not
 * necessarily NUL-terminated; several lines count as one list).  trusted
 * may be NULL or empty (then *out = *peer).
 */
void clientip_resolve(const struct netaddr_list *trusted,
                      const struct netaddr *peer, const char *const *xff,
                      const size_t *xff_len, size_t n, struct netaddr *out);

#endif
