/*
 * static.c - see static.h.
 *
 * The page uses no inline script or style at all: its JavaScript and CSS
 * are files of their own (/app.js, /app.css), so the policy can stay
 * "default-src 'self'" with no hashes or nonces to keep in step with the
 * content.  Documents that are data (the OpenAPI JSON, the SVG icon) get
 * "default-src 'none'": opened on their own, they may load and run nothing.
 */
#include "static.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

/* web/embed.cmake generates these three symbols per file. */
#define WEB_FILE(id)                                                           \
    extern const unsigned char web__##id[];                                    \
    extern const size_t web__##id##_len;                                       \
    extern const char web__##id##_etag[];

WEB_FILE(index_html)
WEB_FILE(app_js)
WEB_FILE(app_css)
WEB_FILE(favicon_svg)
WEB_FILE(openapi_json)

#define CSP_PAGE                                                               \
    "default-src 'self'; object-src 'none'; base-uri 'none'; "                 \
    "form-action 'self'; frame-ancestors 'none'"
#define CSP_DATA "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"

struct static_asset {
    const char *path;
    const char *type;
    const char *csp;
    const unsigned char *data;
    const size_t *len;
    const char *etag;
};

#define ASSET(path, type, csp, id)                                             \
    {                                                                          \
        path, type, csp, web__##id, &web__##id##_len, web__##id##_etag         \
    }

static const struct static_asset assets[] = {
    ASSET("/", "text/html; charset=utf-8", CSP_PAGE, index_html),
    ASSET("/app.js", "text/javascript; charset=utf-8", CSP_PAGE, app_js),
    ASSET("/app.css", "text/css; charset=utf-8", CSP_PAGE, app_css),
    ASSET("/favicon.svg", "image/svg+xml", CSP_DATA, favicon_svg),
    ASSET("/openapi.json", "application/json", CSP_DATA, openapi_json),
};

const struct static_asset *static_asset_find(const char *path)
{
    size_t i;

    if (path == NULL)
        return NULL;
    for (i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
        if (strcmp(path, assets[i].path) == 0)
            return &assets[i];
    return NULL;
}

const char *static_asset_type(const struct static_asset *a)
{
    return a->type;
}

const char *static_asset_etag(const struct static_asset *a)
{
    return a->etag;
}

const unsigned char *static_asset_data(const struct static_asset *a)
{
    return a->data;
}

size_t static_asset_len(const struct static_asset *a)
{
    return *a->len;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int static_etag_match(const char *header, const char *etag)
{
    const char *p = header;
    size_t elen;

    if (header == NULL || etag == NULL)
        return 0;
    elen = strlen(etag);
    for (;;) {
        const char *end;

        while (is_ows(*p) || *p == ',')
            p++;
        if (*p == '\0')
            return 0;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return 0;
        end = strchr(p + 1, '"');
        if (end == NULL)
            return 0;
        if ((size_t)(end + 1 - p) == elen && memcmp(p, etag, elen) == 0)
            return 1;
        p = end + 1;
        while (is_ows(*p))
            p++;
        if (*p != ',' && *p != '\0')
            return 0;
    }
}

struct MHD_Response *static_asset_response(const struct static_asset *a,
                                           const char *if_none_match,
                                           int *status)
{
    int st = static_etag_match(if_none_match, a->etag) ? 304 : 200;
    struct MHD_Response *resp;

    /* Persistent: libmicrohttpd neither copies nor frees the bytes.  A 304
     * gets the content too, only for its Content-Length (RFC 9110 8.6: the
     * 200's length, or none; libmicrohttpd never sends a 304's body). */
    resp = MHD_create_response_from_buffer(*a->len, (void *)a->data,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return NULL;
    /* A 304 repeats the validators and caching headers only (RFC 9110
     * 15.4.5); the security headers are cheap and harmless there. */
    if ((st == 200 &&
         MHD_add_response_header(resp, "Content-Type", a->type) != MHD_YES) ||
        MHD_add_response_header(resp, "ETag", a->etag) != MHD_YES ||
        MHD_add_response_header(resp, "Cache-Control", "no-cache") != MHD_YES ||
        MHD_add_response_header(resp, "Content-Security-Policy", a->csp) !=
            MHD_YES ||
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") !=
            MHD_YES ||
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") !=
            MHD_YES) {
        MHD_destroy_response(resp);
        return NULL;
    }
    *status = st;
    return resp;
}
