/*
 * clientip.c - see clientip.h.  The walk goes right to left over the
 * header lines and, inside each, over its comma-separated entries, with
 * explicit lengths throughout.
 */
#include "clientip.h"

#include "netaddr.h"

void clientip_resolve(const struct netaddr_list *trusted,
                      const struct netaddr *peer, const char *const *xff,
                      const size_t *xff_len, size_t n, struct netaddr *out)
{
    struct netaddr cur = *peer;
    size_t hops = 0, h;

    if (trusted == NULL || !netaddr_list_contains(trusted, peer))
        goto out;
    for (h = n; h-- > 0;) {
        const char *v = xff[h];
        size_t end = xff_len[h];

        for (;;) {
            size_t start = end;
            struct netaddr a;

            while (start > 0 && v[start - 1] != ',')
                start--;
            if (++hops > CLIENTIP_MAX_HOPS ||
                netaddr_parse_forwarded(v + start, end - start, &a) < 0)
                goto out;
            cur = a;
            if (!netaddr_list_contains(trusted, &a))
                goto out;
            if (start == 0)
                break;
            end = start - 1; /* before the ',' */
        }
    }
out:
    *out = cur;
}
