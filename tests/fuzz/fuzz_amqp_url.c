/*
 * fuzz_amqp_url.c - libFuzzer target for common/amqp_url.h: one URL
 * (amqp_url_parse on exactly the input bytes), the input as a list
 * (amqp_url_list_check, amqp_url_list_get, amqp_url_list_mask) and the
 * fail-over cursor.
 *
 * Checked beyond memory safety:
 *  - a failed parse leaves its output untouched and gives a printable,
 *    one-line error;
 *  - a parsed URL has a port in 1..65535, a host of 1..253 bytes, a vhost,
 *    NUL-terminated fields within their bounds;
 *  - the mask succeeds exactly when the list checks, is never longer than
 *    the list, and a list that does not check is shown as the placeholder
 *    only;
 *  - every entry of a list that checks also parses on its own;
 *  - the cursor never returns an index out of range.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_url.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(const char *err)
{
    size_t i, n = strlen(err);

    FUZZ_CHECK(n > 0);
    for (i = 0; i < n; i++)
        FUZZ_CHECK(err[i] >= 0x20 && err[i] < 0x7f);
}

static void check_url(const struct amqp_url *u)
{
    FUZZ_CHECK(u->port >= 1 && u->port <= 65535);
    FUZZ_CHECK(strlen(u->host) >= 1 && strlen(u->host) <= AMQP_URL_HOST_MAX);
    FUZZ_CHECK(strlen(u->vhost) >= 1 && strlen(u->vhost) <= AMQP_URL_VHOST_MAX);
    FUZZ_CHECK(strlen(u->user) <= AMQP_URL_USER_MAX);
    FUZZ_CHECK(strlen(u->password) <= AMQP_URL_PASSWORD_MAX);
    FUZZ_CHECK(u->tls == 0 || u->tls == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct amqp_url u, sentinel;
    char *exact = fuzz_dup_exact(data, size), *list, *out;
    char err[512];
    size_t cap = 2 * size + 64;
    unsigned n, i;
    int ok;

    /* One URL, exactly these bytes. */
    memset(&sentinel, 0x5a, sizeof(sentinel));
    u = sentinel;
    if (amqp_url_parse(exact, size, &u, err, sizeof(err)) == 0) {
        check_url(&u);
    } else {
        check_err(err);
        FUZZ_CHECK(memcmp(&u, &sentinel, sizeof(u)) == 0);
    }
    free(exact);

    /* The input up to its first NUL, as a list. */
    list = malloc(size + 1);
    out = malloc(cap);
    FUZZ_CHECK(list != NULL && out != NULL);
    memcpy(list, data, size);
    list[size] = '\0';
    ok = amqp_url_list_check(list, err, sizeof(err)) == 0;
    if (!ok)
        check_err(err);
    FUZZ_CHECK((amqp_url_list_mask(list, out, cap) == 0) == ok);
    if (ok) {
        FUZZ_CHECK(strlen(out) <= strlen(list));
        n = amqp_url_list_count(list);
        FUZZ_CHECK(n >= 1 && n <= AMQP_URL_MAX_ENTRIES);
        for (i = 0; i < n; i++) {
            FUZZ_CHECK(amqp_url_list_get(list, i, &u, err, sizeof(err)) == 0);
            check_url(&u);
        }
    } else {
        FUZZ_CHECK(strcmp(out, "(invalid; not shown)") == 0);
    }

    /* The cursor, with the input's first bytes as n and the random value. */
    if (size >= 5) {
        struct amqp_url_cursor c = {0, 0};
        uint32_t rnd;
        unsigned nn = data[0] % 20;
        memcpy(&rnd, data + 1, 4);
        for (i = 0; i < 40; i++) {
            unsigned idx = amqp_url_cursor_next(&c, nn, rnd);
            FUZZ_CHECK(nn == 0 ? idx == 0 : idx < nn);
        }
    }
    free(list);
    free(out);
    return 0;
}
