/*
 * amqp_conn.c - see amqp_conn.h.
 *
 * Design: amqp_conn_open walks AMQP_URL's nodes in the order an
 * amqp_url_cursor gives and calls open_one for each.  open_one spends one
 * time budget (deadline = start + timeout_ms) on the TCP connect and the
 * TLS handshake (rabbitmq-c bounds both with the timeout it is given),
 * then on login and channel.open (handshake and rpc timeouts set to what
 * is left), so a node that accepts TCP and then stalls cannot hold the
 * caller for longer than timeout_ms.
 *
 * TLS goes through rabbitmq-c's OpenSSL socket, with the SSL_CTX it
 * exposes configured here: rabbitmq-c 0.11 loads no CA store unless told
 * (without AMQP_CA_FILE every handshake would fail "unable to get local
 * issuer certificate"), and its own host-name check knows only DNS names
 * (an IP address in subjectAltName never matches).  So OpenSSL checks the
 * name during the handshake (X509_VERIFY_PARAM_set1_host / set1_ip_asc),
 * and a verify callback records the first error, which becomes the log
 * line: "certificate verify failed: hostname mismatch".
 */
#include "amqp_conn.h"

#include "clock.h"
#include "config.h"
#include "errors.h"
#include "rng.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- randomness ---------------------------------------------------------- */

/*
 * UUIDs take 16 bytes from a per-thread pool of kernel random bytes,
 * refilled 256 bytes at a time (one getrandom call per 16 ids instead of
 * one per id: ~40 ns instead of ~650 ns here).  A forked child empties the
 * pool of the thread that forked (the only one it has), so parent and
 * child never hand out the same ids.
 */
#define POOL_SIZE 256

static _Thread_local unsigned char pool[POOL_SIZE];
static _Thread_local size_t pool_left;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
    pool_left = 0;
}

static void pool_register(void)
{
    pthread_atfork(NULL, NULL, pool_forget);
}

static void pool_take(unsigned char out[16])
{
    pthread_once(&pool_once, pool_register);
    if (pool_left < 16) {
        rng_secure(pool, sizeof(pool));
        pool_left = sizeof(pool);
    }
    memcpy(out, pool + (sizeof(pool) - pool_left), 16);
    memset(pool + (sizeof(pool) - pool_left), 0, 16);
    pool_left -= 16;
}

void amqp_conn_uuid4(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];
    int i, o = 0;

    pool_take(raw);
    raw[6] = (unsigned char)((raw[6] & 0x0f) | 0x40);
    raw[8] = (unsigned char)((raw[8] & 0x3f) | 0x80);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[raw[i] >> 4];
        out[o++] = hex[raw[i] & 15];
    }
    out[o] = '\0';
}

int amqp_conn_backoff_ms(unsigned attempt)
{
    unsigned d = 100;

    while (attempt-- > 0 && d < 5000)
        d *= 2;
    if (d > 5000)
        d = 5000;
    return (int)(d / 2 + rng_below(d / 2 + 1));
}

/* ---- small helpers ------------------------------------------------------- */

int amqp_conn_bytes_str(amqp_bytes_t b, char *out, size_t cap)
{
    if (b.len >= cap || (b.len > 0 && memchr(b.bytes, '\0', b.len))) {
        out[0] = '\0';
        return -1;
    }
    if (b.len > 0)
        memcpy(out, b.bytes, b.len);
    out[b.len] = '\0';
    return 0;
}

int amqp_conn_reply_error(amqp_rpc_reply_t r, const char *what, char *err,
                          size_t errlen)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        snprintf(err, errlen, "%s: ok", what);
        break;
    case AMQP_RESPONSE_NONE:
        snprintf(err, errlen, "%s: missing reply", what);
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(err, errlen, "%s: %s", what,
                 amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(err, errlen, "%s: connection closed by broker: %u %.*s",
                     what, m->reply_code, (int)m->reply_text.len,
                     (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(err, errlen, "%s: channel closed by broker: %u %.*s", what,
                     m->reply_code, (int)m->reply_text.len,
                     (const char *)m->reply_text.bytes);
        } else {
            snprintf(err, errlen, "%s: broker error, method 0x%08x", what,
                     r.reply.id);
        }
        break;
    }
    return TEMPO_EUNAVAIL;
}

int amqp_conn_check(amqp_connection_state_t conn, const char *what, char *err,
                    size_t errlen)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);

    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    return amqp_conn_reply_error(r, what, err, errlen);
}

static struct timeval tv_of_ms(int64_t ms)
{
    struct timeval tv;

    if (ms < 1)
        ms = 1;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}

static int is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* A path for an error line: at most 200 bytes, control bytes as '?'. */
static void shown_path(const char *path, char *out, size_t cap)
{
    size_t i;

    for (i = 0; path[i] != '\0' && i < 200 && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)path[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[i] = '\0';
}

void amqp_conn_opts_init(struct amqp_conn_opts *o, const struct config *cfg,
                         const char *daemon)
{
    char host[256];

    memset(o, 0, sizeof(*o));
    o->url_list = cfg->amqp_url;
    o->ca_file = cfg->amqp_ca_file;
    o->cert_file = cfg->amqp_cert_file;
    o->key_file = cfg->amqp_key_file;
    o->timeout_ms = 2000;
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    snprintf(o->name, sizeof(o->name), "%s %.100s:%d", daemon, host,
             (int)getpid());
}

/* ---- TLS ----------------------------------------------------------------- */

/* Never prompt on a terminal for a key's pass phrase: fail instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *ud)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)ud;
    return -1;
}

/* What the verify callback saw, reached through the SSL_CTX's app data
 * while open_one runs (cleared before it returns). */
struct tls_diag {
    long verify_err; /* first X509_V_ERR_*, 0 = none */
    int depth;
};

static int verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl =
        X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_diag *d =
        ssl != NULL ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;

    if (!ok && d != NULL && d->verify_err == 0) {
        d->verify_err = X509_STORE_CTX_get_error(x);
        d->depth = X509_STORE_CTX_get_error_depth(x);
    }
    return ok;
}

/* The reason of the newest OpenSSL error of this thread, or NULL. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    return r;
}

static int tls_setup(amqp_socket_t *sock, const struct amqp_url *u,
                     const struct amqp_conn_opts *o, struct tls_diag *diag,
                     char *err, size_t errlen)
{
    SSL_CTX *ctx = amqp_ssl_socket_get_context(sock);
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    char path[220];

    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (amqp_ssl_socket_set_ssl_versions(sock, AMQP_TLSv1_2, AMQP_TLSvLATEST) !=
        AMQP_STATUS_OK) {
        snprintf(err, errlen, "TLS: cannot require TLS 1.2 or later");
        return -1;
    }
    if (is_set(o->ca_file)) {
        if (amqp_ssl_socket_set_cacert(sock, o->ca_file) != AMQP_STATUS_OK) {
            shown_path(o->ca_file, path, sizeof(path));
            snprintf(err, errlen, "AMQP_CA_FILE: cannot load %s", path);
            return -1;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errlen, "TLS: no system CA store; set AMQP_CA_FILE");
        return -1;
    }
    if (is_set(o->cert_file) &&
        amqp_ssl_socket_set_key(sock, o->cert_file,
                                is_set(o->key_file)
                                    ? o->key_file
                                    : o->cert_file) != AMQP_STATUS_OK) {
        snprintf(err, errlen,
                 "AMQP_CERT_FILE/AMQP_KEY_FILE: cannot load the client "
                 "certificate and key");
        return -1;
    }
    /* rabbitmq-c checks the chain result after the handshake; OpenSSL
     * checks the chain and the name during it, and aborts it. */
    amqp_ssl_socket_set_verify_peer(sock, 1);
    amqp_ssl_socket_set_verify_hostname(sock, 0);
    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if ((u->host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, u->host)
                       : X509_VERIFY_PARAM_set1_host(param, u->host, 0)) != 1) {
        snprintf(err, errlen, "TLS: cannot set the expected host name");
        return -1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    SSL_CTX_set_app_data(ctx, diag);
    return 0;
}

/* Describes a failed TLS open (status from amqp_socket_open_noblock). */
static void tls_open_error(int status, const struct tls_diag *d,
                           const struct amqp_url *u,
                           const struct amqp_conn_opts *o, char *err,
                           size_t errlen)
{
    const char *reason = ssl_reason();

    if (d->verify_err == X509_V_ERR_HOSTNAME_MISMATCH ||
        d->verify_err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        snprintf(err, errlen,
                 "TLS: certificate verify failed: the broker's certificate "
                 "is not valid for %s (%s)",
                 u->host, X509_verify_cert_error_string(d->verify_err));
    } else if (d->verify_err != 0) {
        snprintf(err, errlen,
                 "TLS: certificate verify failed: %s (depth %d); %s",
                 X509_verify_cert_error_string(d->verify_err), d->depth,
                 is_set(o->ca_file)
                     ? "does AMQP_CA_FILE hold the CA that signed the "
                       "broker's certificate?"
                     : "checked against the system CA store (set "
                       "AMQP_CA_FILE for a private CA)");
    } else if (status == AMQP_STATUS_SSL_CONNECTION_FAILED ||
               status == AMQP_STATUS_SSL_ERROR) {
        snprintf(err, errlen, "TLS handshake failed: %s",
                 reason != NULL ? reason
                                : "the broker closed the connection (is "
                                  "this a TLS port?)");
    } else {
        snprintf(err, errlen, "connect: %s", amqp_error_string2(status));
    }
}

int amqp_conn_tls_check(const char *ca_file, const char *cert_file,
                        const char *key_file, char *err, size_t errlen)
{
    const char *files[3] = {ca_file, cert_file, key_file};
    const char *names[3] = {"AMQP_CA_FILE", "AMQP_CERT_FILE", "AMQP_KEY_FILE"};
    SSL_CTX *ctx = NULL;
    char path[220];
    int rc = -1, i;

    if (is_set(cert_file) != is_set(key_file)) {
        snprintf(err, errlen,
                 "%s: needs %s too (a client certificate and its key)",
                 is_set(cert_file) ? "AMQP_CERT_FILE" : "AMQP_KEY_FILE",
                 is_set(cert_file) ? "AMQP_KEY_FILE" : "AMQP_CERT_FILE");
        goto out;
    }
    for (i = 0; i < 3; i++) {
        FILE *f;
        if (!is_set(files[i]))
            continue;
        shown_path(files[i], path, sizeof(path));
        f = fopen(files[i], "r");
        if (f == NULL) {
            snprintf(err, errlen, "%s: cannot read %s: %s", names[i], path,
                     strerror(errno));
            goto out;
        }
        fclose(f);
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "TLS: out of memory");
        goto out;
    }
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (is_set(ca_file) &&
        SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        shown_path(ca_file, path, sizeof(path));
        snprintf(err, errlen, "AMQP_CA_FILE: %s holds no PEM certificate",
                 path);
        goto out;
    }
    if (is_set(cert_file)) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
            shown_path(cert_file, path, sizeof(path));
            snprintf(err, errlen, "AMQP_CERT_FILE: %s holds no PEM certificate",
                     path);
            goto out;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
            shown_path(key_file, path, sizeof(path));
            snprintf(err, errlen,
                     "AMQP_KEY_FILE: %s holds no unencrypted PEM private key",
                     path);
            goto out;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(err, errlen,
                     "AMQP_KEY_FILE: the key does not match AMQP_CERT_FILE");
            goto out;
        }
    }
    rc = 0;
out:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

/* ---- connecting ---------------------------------------------------------- */

/* Login with capabilities and a name the broker shows (amqp_conn.h). */
static amqp_rpc_reply_t login(amqp_connection_state_t conn,
                              const struct amqp_url *u,
                              const struct amqp_conn_opts *o)
{
    static const char *const caps[] = {
        "consumer_cancel_notify", "connection.blocked", "publisher_confirms",
        "basic.nack", "authentication_failure_close"};
    amqp_table_entry_t cap[5], prop[5];
    amqp_table_t cap_table, props;
    char info[96];
    int i;

    for (i = 0; i < 5; i++) {
        cap[i].key = amqp_cstring_bytes(caps[i]);
        cap[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        cap[i].value.value.boolean = 1;
    }
    cap_table.num_entries = 5;
    cap_table.entries = cap;
    snprintf(info, sizeof(info), "tempo on rabbitmq-c %s", amqp_version());
    prop[0].key = amqp_cstring_bytes("product");
    prop[0].value.kind = AMQP_FIELD_KIND_UTF8;
    prop[0].value.value.bytes = amqp_cstring_bytes("tempo");
    prop[1].key = amqp_cstring_bytes("version");
    prop[1].value.kind = AMQP_FIELD_KIND_UTF8;
    prop[1].value.value.bytes = amqp_cstring_bytes(TEMPO_VERSION);
    prop[2].key = amqp_cstring_bytes("information");
    prop[2].value.kind = AMQP_FIELD_KIND_UTF8;
    prop[2].value.value.bytes = amqp_cstring_bytes(info);
    prop[3].key = amqp_cstring_bytes("connection_name");
    prop[3].value.kind = AMQP_FIELD_KIND_UTF8;
    prop[3].value.value.bytes =
        amqp_cstring_bytes(o->name[0] != '\0' ? o->name : "tempo");
    prop[4].key = amqp_cstring_bytes("capabilities");
    prop[4].value.kind = AMQP_FIELD_KIND_TABLE;
    prop[4].value.value.table = cap_table;
    props.num_entries = 5;
    props.entries = prop;
    return amqp_login_with_properties(
        conn, u->vhost, 0, 131072, AMQP_CONN_HEARTBEAT_S, &props,
        AMQP_SASL_METHOD_PLAIN, u->user, u->password);
}

static amqp_connection_state_t open_one(const struct amqp_url *u,
                                        const struct amqp_conn_opts *o,
                                        char *err, size_t errlen)
{
    int timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    struct tls_diag diag = {0, 0};
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock;
    struct timeval tv;
    amqp_rpc_reply_t r;
    int rc;

    if (conn == NULL)
        abort();
    ERR_clear_error();
    sock = u->tls ? amqp_ssl_socket_new(conn) : amqp_tcp_socket_new(conn);
    if (sock == NULL) {
        snprintf(err, errlen, "%s",
                 u->tls ? "TLS: cannot set up OpenSSL" : "out of memory");
        goto fail;
    }
    if (u->tls && tls_setup(sock, u, o, &diag, err, errlen) < 0)
        goto fail;
    tv = tv_of_ms(timeout_ms);
    rc = amqp_socket_open_noblock(sock, u->host, u->port, &tv);
    if (u->tls)
        SSL_CTX_set_app_data(amqp_ssl_socket_get_context(sock), NULL);
    if (rc != AMQP_STATUS_OK) {
        if (u->tls)
            tls_open_error(rc, &diag, u, o, err, errlen);
        else
            snprintf(err, errlen, "connect: %s", amqp_error_string2(rc));
        goto fail;
    }
    if (clock_mono_ms() >= deadline) {
        snprintf(err, errlen, "login: timed out");
        goto fail;
    }
    tv = tv_of_ms(deadline - clock_mono_ms());
    amqp_set_handshake_timeout(conn, &tv);
    amqp_set_rpc_timeout(conn, &tv);
    r = login(conn, u, o);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        const char *reason = u->tls ? ssl_reason() : NULL;
        size_t n;

        amqp_conn_reply_error(r, "login", err, errlen);
        n = strlen(err);
        if (reason != NULL)
            snprintf(err + n, errlen - n, " (TLS: %s)", reason);
        else if (u->tls && r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
            snprintf(err + n, errlen - n,
                     " (TLS: the broker closed the connection; %s)",
                     is_set(o->cert_file)
                         ? "does it trust AMQP_CERT_FILE's CA?"
                         : "does it require a client certificate?");
        goto fail;
    }
    tv = tv_of_ms(deadline - clock_mono_ms());
    amqp_set_rpc_timeout(conn, &tv);
    amqp_channel_open(conn, 1);
    if (amqp_conn_check(conn, "channel.open", err, errlen) < 0)
        goto fail;
    /* Later blocking RPCs (declares, passive checks) get the full budget
     * each, as before. */
    tv = tv_of_ms(timeout_ms);
    amqp_set_rpc_timeout(conn, &tv);
    ERR_clear_error();
    return conn;
fail:
    amqp_destroy_connection(conn);
    ERR_clear_error();
    return NULL;
}

static void host_port(const struct amqp_url *u, char *out, size_t cap)
{
    snprintf(out, cap, strchr(u->host, ':') ? "[%s]:%d%s" : "%s:%d%s", u->host,
             u->port, u->tls ? " (TLS)" : "");
}

amqp_connection_state_t amqp_conn_open(const struct amqp_conn_opts *o,
                                       struct amqp_url_cursor *cursor,
                                       char *host_out, size_t host_len,
                                       char *err, size_t errlen)
{
    unsigned n = amqp_url_list_count(o->url_list), i;
    uint32_t rnd = (uint32_t)(rng_u64() >> 32);
    size_t used = 0;

    if (errlen > 0)
        err[0] = '\0';
    if (n > AMQP_URL_MAX_ENTRIES)
        n = AMQP_URL_MAX_ENTRIES;
    for (i = 0; i < n; i++) {
        unsigned idx = amqp_url_cursor_next(cursor, n, rnd);
        struct amqp_url u;
        amqp_connection_state_t conn;
        char where[300], why[512];

        memset(&u, 0, sizeof(u));
        if (amqp_url_list_get(o->url_list, idx, &u, why, sizeof(why)) < 0) {
            snprintf(where, sizeof(where), "AMQP_URL");
        } else {
            host_port(&u, where, sizeof(where));
            conn = open_one(&u, o, why, sizeof(why));
            if (conn != NULL) {
                if (host_out != NULL)
                    snprintf(host_out, host_len, "%s", where);
                memset(u.password, 0, sizeof(u.password));
                return conn;
            }
        }
        memset(u.password, 0, sizeof(u.password));
        if (used < errlen) {
            int w = snprintf(err + used, errlen - used, "%s%s: %s",
                             used > 0 ? "; " : "", where, why);
            if (w > 0)
                used += (size_t)w;
        }
    }
    return NULL;
}

void amqp_conn_close(amqp_connection_state_t conn)
{
    struct timeval tv = {1, 0};

    if (conn == NULL)
        return;
    amqp_set_rpc_timeout(conn, &tv);
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

int amqp_conn_declare_exchange(amqp_connection_state_t conn, amqp_channel_t ch,
                               char *err, size_t errlen)
{
    amqp_exchange_declare(conn, ch, amqp_cstring_bytes(NAMEKO_EXCHANGE),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                          amqp_empty_table);
    return amqp_conn_check(conn, "exchange.declare nameko-rpc", err, errlen);
}
