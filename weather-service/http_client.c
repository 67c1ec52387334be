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
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

#include "errors.h"
#include "metrics.h"

#define BACKOFF_FIRST_MS 50
#define RETRY_AFTER_MAX_S 86400

struct http_client {
    CURL *curl;
    uint64_t rng;
    char *body;
    size_t len;
    size_t cap;
    int too_big;
    long retry_after_ms; /* -1: no usable Retry-After header */
    const struct trace *trace; /* borrowed; NULL = none */
    const atomic_int *abort;   /* borrowed; non-zero: stop at once */
};

struct http_breaker {
    pthread_mutex_t mu;
    int threshold;
    long open_ms;
    int failures; /* consecutive */
    int64_t open_until;
    int probing; /* a half-open probe is in flight */
};

/* What one attempt came to. */
enum attempt_kind { ATT_RESPONSE, ATT_TIMEOUT, ATT_CONNECT, ATT_FATAL };

int64_t http_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

uint64_t http_client_random(struct http_client *hc)
{
    /* xorshift64*: plenty for jitter and offsets, and per-thread. */
    hc->rng ^= hc->rng >> 12;
    hc->rng ^= hc->rng << 25;
    hc->rng ^= hc->rng >> 27;
    return hc->rng * 0x2545F4914F6CDD1DULL;
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
    if (getrandom(&hc->rng, sizeof(hc->rng), 0) != (ssize_t)sizeof(hc->rng))
        hc->rng = (uint64_t)http_now_ms() ^ (uint64_t)(uintptr_t)hc;
    if (hc->rng == 0)
        hc->rng = 0x9E3779B97F4A7C15ULL;
    return hc;
}

void http_client_destroy(struct http_client *hc)
{
    if (hc == NULL)
        return;
    curl_easy_cleanup(hc->curl);
    free(hc->body);
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
    size_t need;

    if (n > HTTP_MAX_BODY || hc->len + n > HTTP_MAX_BODY) {
        hc->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    need = hc->len + n + 1;
    if (need > hc->cap) {
        size_t cap = hc->cap ? hc->cap : 4096;
        char *p;

        while (cap < need)
            cap *= 2;
        p = realloc(hc->body, cap);
        if (p == NULL)
            return 0;
        hc->body = p;
        hc->cap = cap;
    }
    memcpy(hc->body + hc->len, data, n);
    hc->len += n;
    hc->body[hc->len] = '\0';
    return n;
}

/* Reads Retry-After as delay-seconds or an HTTP date (RFC 9110 10.2.3). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct http_client *hc = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    char val[64];
    size_t i, vl;

    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        hc->retry_after_ms = -1; /* a new response (e.g. after 100) */
        return n;
    }
    if (n <= sizeof(name) - 1 || strncasecmp(data, name, sizeof(name) - 1))
        return n;
    i = sizeof(name) - 1;
    while (i < n && (data[i] == ' ' || data[i] == '\t'))
        i++;
    vl = 0;
    while (i < n && data[i] != '\r' && data[i] != '\n' && vl < sizeof(val) - 1)
        val[vl++] = data[i++];
    val[vl] = '\0';
    if (vl > 0 && strspn(val, "0123456789") == vl) {
        long s = vl > 6 ? RETRY_AFTER_MAX_S : strtol(val, NULL, 10);
        hc->retry_after_ms =
            (s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s) * 1000L;
    } else if (vl > 0) {
        time_t when = curl_getdate(val, NULL);
        time_t now = time(NULL);

        if (when != (time_t)-1)
            hc->retry_after_ms = when <= now ? 0
                                 : when - now > RETRY_AFTER_MAX_S
                                     ? RETRY_AFTER_MAX_S * 1000L
                                     : (long)(when - now) * 1000L;
    }
    return n;
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

    hc->len = 0;
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
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hc);
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

/* 0: go ahead (*probe says whether as the half-open probe); -1: open.
 * The state gauge of `metric` (a provider) is set under the lock, so
 * concurrent updates cannot leave it stale. */
static int breaker_admit(struct http_breaker *b, int *probe, int metric)
{
    int rc = 0;

    *probe = 0;
    pthread_mutex_lock(&b->mu);
    if (b->failures >= b->threshold) {
        if (http_now_ms() < b->open_until || b->probing)
            rc = -1;
        else
            b->probing = *probe = 1;
    }
    if (*probe)
        wmetrics_breaker(metric, WM_BREAKER_HALF_OPEN);
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static void breaker_record(struct http_breaker *b, int ok, int probe,
                           int metric)
{
    pthread_mutex_lock(&b->mu);
    if (probe)
        b->probing = 0;
    if (ok) {
        b->failures = 0;
    } else if (++b->failures >= b->threshold) {
        b->failures = b->threshold;
        b->open_until = http_now_ms() + b->open_ms;
    }
    wmetrics_breaker(metric, b->failures >= b->threshold ? WM_BREAKER_OPEN
                                                         : WM_BREAKER_CLOSED);
    pthread_mutex_unlock(&b->mu);
}

struct http_breaker *http_breaker_create(int threshold, long open_ms)
{
    struct http_breaker *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    b->threshold = threshold > 0 ? threshold : 1;
    b->open_ms = open_ms;
    return b;
}

void http_breaker_destroy(struct http_breaker *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
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

int http_client_request(struct http_client *hc, const struct http_request *req,
                        struct http_response *resp, char *err, size_t errlen)
{
    struct curl_slist *hdrs = NULL;
    enum attempt_kind kind = ATT_FATAL;
    long status = 0, backoff = BACKOFF_FIRST_MS;
    int rc = TEMPO_EINTERNAL, probe = 0, n = 0, ok;
    size_t i;

    if (req->breaker != NULL &&
        breaker_admit(req->breaker, &probe, req->metrics_provider) != 0) {
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
        int64_t left = req->deadline_ms - http_now_ms();
        double t0;
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
        n++;
        if (n > 1)
            wmetrics_upstream_retry(req->metrics_provider);
        t0 = wmetrics_now();
        kind = attempt(hc, req, hdrs,
                       left < req->timeout_ms ? (long)left : req->timeout_ms,
                       &status, err, errlen);
        wmetrics_upstream(req->metrics_provider,
                          kind == ATT_RESPONSE ? status : 0,
                          kind == ATT_TIMEOUT, wmetrics_now() - t0);
        if (n > req->retries || kind == ATT_FATAL)
            break;
        if (kind == ATT_RESPONSE && status == 429) {
            if (hc->retry_after_ms < 0 || req->no_retry_429)
                break; /* no hint: hammering it again will not help */
            wait = hc->retry_after_ms;
        } else if (kind == ATT_RESPONSE && status < 500) {
            break;
        } else {
            wait = backoff / 2 +
                   (long)(http_client_random(hc) % (uint64_t)(backoff / 2 + 1));
            backoff *= 2;
        }
        /* Waiting only to run out of time would turn an answer into a
         * timeout; give back what we have instead. */
        if (http_now_ms() + wait >= req->deadline_ms)
            break;
        sleep_ms(hc, wait);
    }

    switch (kind) {
    case ATT_RESPONSE:
        resp->status = status;
        resp->body = hc->body ? hc->body : strdup("");
        resp->len = hc->len;
        resp->attempts = n;
        resp->retry_after_ms = hc->retry_after_ms;
        if (resp->body == NULL) {
            set_err(err, errlen, "out of memory");
            break;
        }
        hc->body = NULL;
        hc->len = hc->cap = 0;
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
    if (req->breaker != NULL) {
        ok = rc == 0 && status < 500 && status != 429;
        breaker_record(req->breaker, ok, probe, req->metrics_provider);
    }
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
