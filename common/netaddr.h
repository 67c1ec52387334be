/*
 * netaddr.h - IP addresses and CIDR lists, independent of the address
 * family.  Pure (no sockets, no allocation): used by the configuration
 * (GATEWAY_ADDR, TRUSTED_PROXIES) and by the gateway to name a client
 * (X-Forwarded-For, rate limiting).
 *
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1, what a dual-stack socket
 * reports for an IPv4 peer) is stored as the IPv4 address, so one client
 * has one name whichever socket it came through.
 */
#ifndef TEMPO_NETADDR_H
#define TEMPO_NETADDR_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* family is 4 or 6; an IPv4 address is in bytes[0..3], the rest zero. */
struct netaddr {
    uint8_t family;
    uint8_t bytes[16];
};

/* One CIDR block: the address with its host bits cleared, and the prefix
 * length (0..32 for IPv4, 0..128 for IPv6). */
struct netaddr_cidr {
    struct netaddr net;
    unsigned prefix;
};

#define NETADDR_LIST_MAX 32

struct netaddr_list {
    size_t n;
    struct netaddr_cidr cidr[NETADDR_LIST_MAX];
};

/* Longest text netaddr_format writes, NUL included (INET6_ADDRSTRLEN). */
#define NETADDR_STRLEN 46

/*
 * Parses exactly one IPv4 dotted quad or IPv6 address (no brackets, port,
 * zone or white space) of len bytes (s need not be NUL-terminated).
 * Returns 0, or TEMPO_EINVAL leaving *out alone.
 */
int netaddr_parse(const char *s, size_t len, struct netaddr *out);

/*
 * Parses one entry of an X-Forwarded-For list: optional white space
 * around an address that may carry a port ("192.0.2.1:4711") or brackets
 * ("[2001:db8::1]", "[2001:db8::1]:443"), as some proxies write them.
 * Returns 0, or TEMPO_EINVAL (anything else, "unknown" and obfuscated
 * identifiers included) leaving *out alone.
 */
int netaddr_parse_forwarded(const char *s, size_t len, struct netaddr *out);

/* The address of an AF_INET or AF_INET6 socket address.  0, or
 * TEMPO_EINVAL for another family (or NULL). */
int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out);

/* Writes the usual text form ("192.0.2.1", "2001:db8::1") into buf
 * (cap >= NETADDR_STRLEN is always enough); "?" if it cannot. */
void netaddr_format(const struct netaddr *a, char *buf, size_t cap);

/* Are a and b the same address? */
int netaddr_equal(const struct netaddr *a, const struct netaddr *b);

/*
 * Parses a comma-separated list of addresses and CIDR blocks
 * ("10.0.0.0/8, 192.0.2.7, fd00::/8"); white space around entries is
 * ignored, an empty string is the empty list, empty entries are errors.
 * Host bits below the prefix are cleared ("10.1.2.3/8" is 10.0.0.0/8).
 * At most NETADDR_LIST_MAX entries.  Returns 0, or TEMPO_EINVAL with a
 * one-line reason in err (which quotes no more than the bad entry's
 * position); *out is written only on success.  err may be NULL.
 */
int netaddr_list_parse(const char *s, struct netaddr_list *out, char *err,
                       size_t errlen);

/* Is a inside one of the blocks of l?  An IPv4 address never matches an
 * IPv6 block (mapped addresses were stored as IPv4 already). */
int netaddr_list_contains(const struct netaddr_list *l,
                          const struct netaddr *a);

#endif
