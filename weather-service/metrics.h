/*
 * metrics.h - the worker's Prometheus metrics (names tempo_worker_*), over
 * common/prom.h; metrics_http.h serves them on METRICS_PORT.
 *
 * The counters are process-wide, lock-free (relaxed atomics in fixed
 * arrays) and safe from any thread: a hook on the hot path costs one to
 * three atomic adds and never allocates.  Every label value comes from a
 * fixed table (outcomes from the error table, errors.h); strings passed in
 * (a method name, an exc_type) are only compared against those tables,
 * never echoed, so neither client input nor a secret can reach the
 * exposition.
 *
 * Exported names are wmetrics_* because unit tests link the gateway's
 * metrics_* too.
 */
#ifndef TEMPO_WMETRICS_H
#define TEMPO_WMETRICS_H

#include <stddef.h>
#include <stdint.h>

/* Upstream providers, the `provider` label.  NONE is not counted. */
enum wmetrics_provider {
    WM_PROV_NONE = 0,
    WM_PROV_OWM,        /* "openweathermap" */
    WM_PROV_OPEN_METEO, /* "open-meteo" */
    WM_PROV_SPOTIFY,    /* "spotify" */
    WM_PROV__COUNT
};

/* Circuit-breaker states, the value of tempo_worker_circuit_breaker_state. */
enum wmetrics_breaker {
    WM_BREAKER_CLOSED = 0,
    WM_BREAKER_OPEN = 1,
    WM_BREAKER_HALF_OPEN = 2
};

/* Weather cache events. */
enum wmetrics_cache {
    WM_CACHE_HIT = 0,   /* a fresh entry answered */
    WM_CACHE_MISS,      /* this call ran the upstream fetch */
    WM_CACHE_STALE,     /* the fetch failed; an older answer was served */
    WM_CACHE_COALESCED, /* waited for another call's fetch of the key */
    WM_CACHE__COUNT
};

/* Seconds on CLOCK_MONOTONIC, for measuring durations to pass below. */
double wmetrics_now(void);

/* ---- RPC calls ----------------------------------------------------------- */

/* A call starts being served (raises the in-flight gauge). */
void wmetrics_call_begin(void);

/*
 * The call that wmetrics_call_begin announced is answered.  method: the
 * called method (any string; unknown ones count as "unknown");
 * exc_type: NULL for success, else the reply's Nameko exc_type (unknown
 * ones count as "other").  seconds: time spent serving it.
 */
void wmetrics_call_end(const char *method, const char *exc_type,
                       double seconds);

/* The call that wmetrics_call_begin announced was dropped unanswered
 * (the connection went and the broker requeued it). */
void wmetrics_call_abandon(void);

/* ---- upstreams ----------------------------------------------------------- */

/* Marks a provider as configured: only those appear in the exposition. */
void wmetrics_provider_enable(int provider);

/*
 * One upstream HTTP attempt finished after `seconds`.  http_status > 0:
 * the upstream answered (result ok, http_4xx or http_5xx); else timed_out
 * says whether it was a timeout or another transport error.
 */
void wmetrics_upstream(int provider, long http_status, int timed_out,
                       double seconds);

void wmetrics_upstream_retry(int provider);    /* an attempt after the first */
void wmetrics_upstream_rejected(int provider); /* refused by an open breaker */
/* An attempt left unstarted: too little time for a typical answer. */
void wmetrics_upstream_skipped(int provider);
void wmetrics_breaker(int provider, enum wmetrics_breaker state);

/* ---- answers ------------------------------------------------------------- */

void wmetrics_cache(enum wmetrics_cache event);
void wmetrics_degraded(void); /* answered from the catalog: music failed */
void wmetrics_broker_connected(int connected);

/* ---- Spotify and the music pool ------------------------------------------ */

enum wmetrics_spotify_call {
    WM_SP_TOKEN = 0, /* "token": POST /api/token */
    WM_SP_SEARCH,    /* "search": GET /v1/search */
    WM_SP__COUNT
};

/* n HTTP requests were sent to Spotify (retries included). */
void wmetrics_spotify_calls(enum wmetrics_spotify_call endpoint, int n);
/* A search not sent because a 429's Retry-After is still running. */
void wmetrics_spotify_gated(void);
/* The 429 gate is closed until at_ms (CLOCK_MONOTONIC ms); 0: open. */
void wmetrics_spotify_retry_at(int64_t at_ms);

/* Marks the music pool as in use: only then its series are rendered. */
void wmetrics_pool_enable(void);
/* Genre g's pool now holds `tracks`, fetched at fetched_ms (clock_mono_ms
 * clock; 0 = no pool). */
void wmetrics_pool_set(int genre, size_t tracks, int64_t fetched_ms);
/* A refresh of genre g's pool finished (ok: its tracks were taken). */
void wmetrics_pool_refresh(int genre, int ok);

/*
 * Renders the text exposition (format 0.0.4) into a new malloc'd string
 * and sets *len.  Returns NULL only if the text would exceed its cap.
 */
char *wmetrics_render(size_t *len);

#endif
