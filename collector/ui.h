/* ui.h - the dashboard page (/ui), embedded into the binary.
 *
 * The page is collector/ui/{index.html,app.js,style.css}; scripts/embed_ui.py turns those files
 * into C string literals in the generated collector/ui_assets.c, so `sluice serve` needs no file
 * at run time. Everything here is immutable static data: any thread may call ui_lookup.
 * The JSON endpoints the page reads are listed at the top of collector/ui/app.js. */
#ifndef SL_UI_H
#define SL_UI_H

#include <stddef.h>

/* Headers to send with every asset ("Name: value\r\n" lines, for http_respond's extra_headers).
 * The policy matches the page's own <meta> CSP: nothing is loaded from another origin, the page
 * calls only its own server, and it may not be framed. */
#define UI_RESPONSE_HEADERS                                                                        \
    "Cache-Control: no-cache\r\n"                                                                  \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Referrer-Policy: no-referrer\r\n"                                                             \
    "X-Frame-Options: DENY\r\n"                                                                    \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "           \
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "              \
    "frame-ancestors 'none'\r\n"

/* Finds the asset served at path (a NUL-terminated request path without its query string):
 * "/ui", "/ui/" and "/ui/index.html" give the page, "/ui/app.js" and "/ui/style.css" the rest.
 * Returns 0 and sets *body (static, NUL-terminated), *len (bytes, without the NUL) and
 * *content_type (static, with charset); returns SL_ENOTFOUND for any other path and leaves the
 * out-parameters alone. */
int ui_lookup(const char *path, const char **body, size_t *len, const char **content_type);

/* The same for a path given as pointer + length (e.g. an http_slice); path need not be
 * NUL-terminated. */
int ui_lookup_n(const char *path, size_t path_len, const char **body, size_t *len,
                const char **content_type);

/* ---- private: the generated table (collector/ui_assets.c), read only by ui.c -------------- */
typedef struct {
    const char *file; /* name under collector/ui/ */
    const char *content_type;
    const char *body;
    size_t len;
} ui_asset;

extern const ui_asset ui_assets[];
extern const size_t ui_asset_count;

#endif
