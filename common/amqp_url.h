/*
 * amqp_url.h - AMQP_URL, the broker list: parsing, validation, masking and
 * the fail-over order.  Pure: no sockets, no clocks, no allocation, no
 * logging; every function is safe on hostile input of any length.
 *
 * Grammar (RabbitMQ's URI spec, which follows RFC 3986):
 *
 *   list      = url *( "," url )      white space around a url is ignored
 *   url       = scheme "://" [ userinfo "@" ] host [ ":" port ] [ "/" vhost ]
 *   scheme    = "amqp" / "amqps"      (any case)
 *   userinfo  = user [ ":" password ]
 *   host      = name / IPv4 / "[" IPv6 "]"
 *
 * - The list is split at every raw ','.  A ',' inside a user name, password
 *   or vhost must be percent-encoded as "%2C" (RFC 3986 allows a raw ','
 *   in the user-info, but here it would be ambiguous).  So a password
 *   "s3,cr@t" is written "s3%2Ccr%40t"; a raw comma in a password splits
 *   the URL in two, and the second half fails to parse (the error says to
 *   write %2C) - the daemons refuse to start rather than guess.
 * - user, password and vhost are percent-decoded; "%00" and malformed
 *   escapes are errors.  Raw characters allowed there are RFC 3986's
 *   unreserved and sub-delims (and ':' in a password); anything else
 *   (space, '@', '/', '?', '#', non-ASCII, control bytes) must be encoded.
 * - host is required: letters, digits, '-', '.', '_' (1..253 bytes), or an
 *   IPv6 literal in brackets.  port is 1..65535; the default is 5672 for
 *   amqp and 5671 for amqps.
 * - No userinfo means guest/guest (the spec's defaults), a user without a
 *   password means password "guest"; "u:@h" is an empty password.
 * - An empty path ("amqp://h" or "amqp://h/") means vhost "/", as kombu
 *   and pika read it; "/%2F" is "/" too, "/prod" is "prod".  A raw '/' in
 *   the vhost, a query ("?...") or a fragment is an error (rabbitmq-c
 *   supports no URI query parameters; ignoring them would hide settings).
 *
 * Errors are written to err as text that never quotes the input (it holds
 * passwords): "entry 2: port must be 1..65535".
 */
#ifndef TEMPO_AMQP_URL_H
#define TEMPO_AMQP_URL_H

#include <stddef.h>
#include <stdint.h>

#define AMQP_URL_MAX_ENTRIES 16
#define AMQP_URL_HOST_MAX 253
#define AMQP_URL_USER_MAX 255
#define AMQP_URL_PASSWORD_MAX 2048 /* OAuth 2 tokens go in the password */
#define AMQP_URL_VHOST_MAX 255     /* an AMQP short string */

struct amqp_url {
    int tls;                                  /* amqps:// */
    int port;                                 /* 1..65535 */
    char host[AMQP_URL_HOST_MAX + 1];         /* IPv6 without brackets */
    int host_is_ip;                           /* IPv4 or IPv6 literal */
    char user[AMQP_URL_USER_MAX + 1];         /* decoded */
    char password[AMQP_URL_PASSWORD_MAX + 1]; /* decoded */
    char vhost[AMQP_URL_VHOST_MAX + 1];       /* decoded */
};

/*
 * Parses one URL of len bytes at s (no NUL needed; a NUL inside is an
 * error).  Fills *out only on success.  Returns 0, or -1 with err set.
 */
int amqp_url_parse(const char *s, size_t len, struct amqp_url *out, char *err,
                   size_t errlen);

/* Number of entries of a list: raw commas + 1 (at least 1). */
unsigned amqp_url_list_count(const char *list);

/*
 * Parses entry idx (0-based) of a list into *out.  Returns 0, or -1 with
 * err set ("entry N: ...", N 1-based).
 */
int amqp_url_list_get(const char *list, unsigned idx, struct amqp_url *out,
                      char *err, size_t errlen);

/*
 * Validates a whole list (every entry, at most AMQP_URL_MAX_ENTRIES).
 * Returns 0, or -1 with err naming the first bad entry.  config.c calls
 * it for AMQP_URL, so a list that can never work stops the daemons at
 * start (exit 2).
 */
int amqp_url_list_check(const char *list, char *err, size_t errlen);

/* Does the list hold an amqps:// entry?  (Entries that fail to parse do
 * not count.) */
int amqp_url_list_has_tls(const char *list);

/*
 * Writes list into out (cap bytes) with every non-empty password replaced
 * by "*", keeping everything else as written.  A list that does not parse
 * is not shown at all: out gets "(invalid; not shown)" and the result is
 * -1.  Returns 0 on success, -1 also when out is too small (then out holds
 * the placeholder too).  Never writes a password byte into out.
 */
int amqp_url_list_mask(const char *list, char *out, size_t cap);

/*
 * Fail-over order.  A zeroed cursor starts at a random entry (rnd % n, so
 * daemons sharing a list spread over the cluster); every attempt, whether
 * it worked or not, moves on to the next entry round-robin.  So after the
 * node it was connected to dies, a daemon tries the following node first,
 * and it is never stuck on the last node that worked.  Returns the index
 * (0..n-1) to try now.  n == 0 returns 0.
 */
struct amqp_url_cursor {
    unsigned next;
    int started;
};

unsigned amqp_url_cursor_next(struct amqp_url_cursor *c, unsigned n,
                              uint32_t rnd);

#endif
