/*
 * http_client.c - see http_client.h.
 *
 * DESIGN
 *
 * Every request starts from curl_easy_reset(), which clears all options
 * but keeps the handle's connection pool, DNS and TLS session caches: no
 * option can leak from one request into the next (a Spotify Basic
 * password into an OpenWeatherMap call, say), and keep-alive still works.
 *
 * The body is collected into a buffer with a hard cap; libcurl hands the
 * write callback decompressed data, so the cap also bounds a "zip bomb".
 * Redirects are off and only http/https are allowed: the URLs come from
 * configuration and an upstream has no business sending us elsewhere.
 *
 * Retries are bounded twice: by the retry count and by the caller's
 * deadline.  Each attempt's timeout is the smaller of the per-call timeout
 * and the time left, and a backoff or Retry-After wait that would cross
 * the deadline is not started: the last answer (or error) is returned.
 */
#include "http_client.h"

#include "trace.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>

#include "breaker.h"
#include "errors.h"
#include "metrics.h"
#include "rng.h"
#include "tbuf.h"

#define BACKOFF_FIRST_MS 50
#define RETRY_AFTER_MAX_S 86400

struct http_client {
    CURL *curl;
    struct tbuf body; /* the current attempt's body; p NULL between calls */
    int too_big;
    long retry_after_ms;       /* -1: no usable Retry-After header */
    const struct trace *trace; /* borrowed; NULL = none */
    const atomic_int *abort;   /* borrowed; non-zero: stop at once */
};

/* What one attempt came to. */
enum attempt_kind { ATT_RESPONSE, ATT_TIMEOUT, ATT_CONNECT, ATT_FATAL };

static int aborted(const struct http_client *hc)
{
    return hc->abort != NULL && atomic_load(hc->abort);
}

/* Sleeps ms, in slices, so that an abort ends the wait too. */
static void sleep_ms(const struct http_client *hc, long ms)
{
    while (ms > 0 && !aborted(hc)) {
        long slice = ms < 50 ? ms : 50;
        struct timespec ts = {0, slice * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        ms -= slice;
    }
}

/* libcurl's progress callback: a non-zero return ends the transfer. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return aborted(ud);
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

struct http_client *http_client_create(void)
{
    struct http_client *hc = calloc(1, sizeof(*hc));

    if (hc == NULL)
        return NULL;
    hc->curl = curl_easy_init();
    if (hc->curl == NULL) {
        free(hc);
        return NULL;
    }
    return hc;
}

void http_client_destroy(struct http_client *hc)
{
    if (hc == NULL)
        return;
    curl_easy_cleanup(hc->curl);
    tbuf_free(&hc->body);
    free(hc);
}

void http_response_clear(struct http_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct http_client *hc = ud;
    size_t n = size * nmemb;

    if (tbuf_add(&hc->body, data, n) < 0) {
        hc->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/* The final response's Retry-After (delay-seconds or an HTTP date, RFC
 * 9110 10.2.3, as libcurl reads it), capped; -1 when there is none. */
static long retry_after_ms(CURL *c)
{
    struct curl_header *h;
    curl_off_t s = 0;

    if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &s) != CURLE_OK || s < 0)
        s = 0;
    if (s == 0 && curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) !=
                      CURLHE_OK)
        return -1; /* libcurl says 0 for "none" and for "now" alike */
    return (long)(s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s) * 1000L;
}

static enum attempt_kind classify(CURLcode code)
{
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return ATT_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return ATT_CONNECT;
    default:
        return ATT_FATAL;
    }
}

/* One transfer.  Fills *status on ATT_RESPONSE, err otherwise. */
static enum attempt_kind attempt(struct http_client *hc,
                                 const struct http_request *req,
                                 struct curl_slist *hdrs, long timeout_ms,
                                 long *status, char *err, size_t errlen)
{
    CURL *c = hc->curl;
    CURLcode code;
    enum attempt_kind kind;

    if (tbuf_text(&hc->body) == NULL)
        tbuf_init(&hc->body, 4096, HTTP_MAX_BODY + 1);
    tbuf_reset(&hc->body);
    hc->too_big = 0;
    hc->retry_after_ms = -1;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tempo/" TEMPO_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, hc);
    if (hc->abort != NULL) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, hc);
    }
    if (hdrs != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (req->form != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->form);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(req->form));
    }
    if (req->username != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, req->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD,
                         req->password ? req->password : "");
    }

    code = curl_easy_perform(c);
    if (code == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        hc->retry_after_ms = retry_after_ms(c);
        return ATT_RESPONSE;
    }
    if (code == CURLE_ABORTED_BY_CALLBACK) {
        set_err(err, errlen, "stopped: the worker is shutting down");
        return ATT_TIMEOUT;
    }
    if (code == CURLE_WRITE_ERROR && hc->too_big) {
        set_err(err, errlen, "response body too large");
        return ATT_FATAL;
    }
    kind = classify(code);
    if (kind == ATT_TIMEOUT)
        snprintf(err, errlen, "timed out after %ld ms", timeout_ms);
    else
        snprintf(err, errlen, "request failed: %s", curl_easy_strerror(code));
    return kind;
}

/* Appends traceparent (a child of t) and tracestate to *hdrs. */
static int trace_headers(const struct trace *t, struct curl_slist **hdrs)
{
    char line[TRACE_STATE_MAX + 32], tp[TRACE_HEADER_LEN + 1];
    struct curl_slist *h;

    trace_format_child(t, tp, sizeof(tp));
    snprintf(line, sizeof(line), "traceparent: %s", tp);
    if ((h = curl_slist_append(*hdrs, line)) == NULL)
        return -1;
    *hdrs = h;
    if (t->state[0] == '\0')
        return 0;
    snprintf(line, sizeof(line), "tracestate: %s", t->state);
    if ((h = curl_slist_append(*hdrs, line)) == NULL)
        return -1;
    *hdrs = h;
    return 0;
}

void http_client_set_abort(struct http_client *hc, const atomic_int *flag)
{
    hc->abort = flag;
}

void http_client_set_trace(struct http_client *hc, const struct trace *t)
{
    hc->trace = t;
}

/* Whether an attempt that ended as `kind` with `status` shows the upstream
 * at fault (for the breaker): a timeout only if it had its full timeout,
 * not one cut short by the caller's deadline or by a shutdown. */
static int upstream_fault(enum attempt_kind kind, long status, int cut,
                          int stopped)
{
    if (kind == ATT_RESPONSE)
        return status >= 500 || status == 429;
    if (kind == ATT_TIMEOUT)
        return !cut && !stopped;
    return 1;
}

/* Tells the breaker how long a healthy attempt took: an answer, or a
 * timeout the caller's deadline cut (the estimate still holds). */
static void note_time(struct breaker *b, enum attempt_kind kind, double took)
{
    if (kind == ATT_RESPONSE)
        breaker_note_latency(b, (int64_t)(took * 1000.0));
    else if (kind == ATT_TIMEOUT)
        breaker_note_cut(b);
}

int http_client_request(struct http_client *hc, const struct http_request *req,
                        struct http_response *resp, char *err, size_t errlen)
{
    struct curl_slist *hdrs = NULL;
    enum attempt_kind kind = ATT_FATAL;
    long status = 0, backoff = BACKOFF_FIRST_MS;
    int rc = TEMPO_EINTERNAL, probe = 0, n = 0, fault = 0;
    size_t i;

    if (req->breaker != NULL && breaker_admit(req->breaker, &probe) != 0) {
        wmetrics_upstream_rejected(req->metrics_provider);
        set_err(err, errlen, "circuit open after repeated failures");
        return TEMPO_EUPSTREAM;
    }
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        struct curl_slist *h = curl_slist_append(hdrs, req->headers[i]);
        if (h == NULL) {
            set_err(err, errlen, "out of memory");
            goto out;
        }
        hdrs = h;
    }
    if (hc->trace != NULL && trace_headers(hc->trace, &hdrs) < 0) {
        set_err(err, errlen, "out of memory");
        goto out;
    }

    for (;;) {
        int64_t left = req->deadline_ms - clock_mono_ms();
        int64_t typical =
            req->breaker != NULL ? breaker_typical_ms(req->breaker) : 0;
        int64_t needed = typical * (1 + req->follow_ups);
        long tmo = left < req->timeout_ms ? (long)left : req->timeout_ms;
        double t0, took;
        long wait;

        if (aborted(hc) && n > 0)
            break; /* keep what the last attempt gave */
        if (left <= 0 || aborted(hc)) {
            if (n == 0 || kind != ATT_RESPONSE) {
                kind = ATT_TIMEOUT;
                set_err(err, errlen, "deadline exceeded");
            }
            break;
        }
        /* Too little time for a typical answer: the attempt would most
         * likely be cut off, its work wasted and the reply late.  Give
         * back what we have (or a timeout) now instead. */
        if (needed > left && tmo < req->timeout_ms) {
            wmetrics_upstream_skipped(req->metrics_provider);
            if (n == 0 || kind != ATT_RESPONSE) {
                kind = ATT_TIMEOUT;
                snprintf(err, errlen,
                         "deadline too close: %lld ms left, a typical "
                         "answer takes %lld ms%s",
                         (long long)left, (long long)typical,
                         req->follow_ups > 0 ? " and more requests follow"
                                             : "");
            }
            break;
        }
        n++;
        if (n > 1)
            wmetrics_upstream_retry(req->metrics_provider);
        t0 = wmetrics_now();
        kind = attempt(hc, req, hdrs, tmo, &status, err, errlen);
        took = wmetrics_now() - t0;
        wmetrics_upstream(req->metrics_provider,
                          kind == ATT_RESPONSE ? status : 0,
                          kind == ATT_TIMEOUT, took);
        if (upstream_fault(kind, status, tmo < req->timeout_ms, aborted(hc)))
            fault = 1;
        else if (req->breaker != NULL && !aborted(hc))
            note_time(req->breaker, kind, took);
        if (n > req->retries || kind == ATT_FATAL)
            break;
        if (kind == ATT_RESPONSE && status == 429) {
            if (hc->retry_after_ms < 0 || req->no_retry_429)
                break; /* no hint: hammering it again will not help */
            wait = hc->retry_after_ms;
        } else if (kind == ATT_RESPONSE && status < 500) {
            break;
        } else {
            wait = backoff / 2 + (long)rng_below((uint64_t)(backoff / 2 + 1));
            backoff *= 2;
        }
        /* Waiting only to run out of time would turn an answer into a
         * timeout; give back what we have instead. */
        if (clock_mono_ms() + wait >= req->deadline_ms)
            break;
        sleep_ms(hc, wait);
    }

    switch (kind) {
    case ATT_RESPONSE:
        resp->status = status;
        resp->body = tbuf_finish(&hc->body, &resp->len);
        resp->attempts = n;
        resp->retry_after_ms = hc->retry_after_ms;
        rc = 0;
        break;
    case ATT_TIMEOUT:
        rc = TEMPO_ETIMEOUT;
        break;
    default:
        rc = TEMPO_EUPSTREAM;
        break;
    }

out:
    if (req->attempts != NULL)
        *req->attempts = n;
    if (req->breaker != NULL)
        breaker_record(req->breaker,
                       rc == 0 && !upstream_fault(kind, status, 0, 0)
                           ? BREAKER_OK
                       : fault ? BREAKER_FAIL
                               : BREAKER_NEUTRAL,
                       probe);
    curl_slist_free_all(hdrs);
    return rc;
}

char *http_url_build(const char *base, const char *path,
                     const char *const *params, char *err, size_t errlen)
{
    CURLU *u = NULL;
    char *joined = NULL, *part = NULL, *url = NULL, *res = NULL;
    size_t bl = strlen(base), pl = strlen(path), i;

    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    joined = malloc(bl + pl + 1);
    u = curl_url();
    if (joined == NULL || u == NULL) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    memcpy(joined, base, bl);
    memcpy(joined + bl, path, pl + 1);
    if (curl_url_set(u, CURLUPART_URL, joined, 0) != CURLUE_OK) {
        set_err(err, errlen, "malformed upstream base URL");
        goto out;
    }
    for (i = 0; params != NULL && params[i] != NULL && params[i + 1] != NULL;
         i += 2) {
        size_t kl = strlen(params[i]), vl = strlen(params[i + 1]);

        free(part);
        part = malloc(kl + vl + 2);
        if (part == NULL) {
            set_err(err, errlen, "out of memory");
            goto out;
        }
        memcpy(part, params[i], kl);
        part[kl] = '=';
        memcpy(part + kl + 1, params[i + 1], vl + 1);
        /* URLENCODE keeps only the first '=' as the separator. */
        if (curl_url_set(u, CURLUPART_QUERY, part,
                         CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK) {
            set_err(err, errlen, "cannot encode query parameter");
            goto out;
        }
    }
    if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        set_err(err, errlen, "cannot build upstream URL");
        goto out;
    }
    res = strdup(url);
    if (res == NULL)
        set_err(err, errlen, "out of memory");
out:
    curl_free(url);
    free(part);
    free(joined);
    curl_url_cleanup(u);
    return res;
}
