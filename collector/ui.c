/* ui.c - maps the /ui URL paths onto the embedded dashboard assets (collector/ui_assets.c).
 *
 * No allocation, no state: a small fixed route table over the generated asset table. */
#include "ui.h"

#include <string.h>

#include "sl_err.h"

/* URL path -> file under collector/ui/. Keep in step with index.html's <link>/<script> URLs. */
static const struct {
    const char *path;
    const char *file;
} ui_routes[] = {
    {"/ui", "index.html"},    {"/ui/", "index.html"},         {"/ui/index.html", "index.html"},
    {"/ui/app.js", "app.js"}, {"/ui/style.css", "style.css"},
};

static const ui_asset *asset_find(const char *file)
{
    for (size_t i = 0; i < ui_asset_count; i++)
        if (!strcmp(ui_assets[i].file, file)) return &ui_assets[i];
    return NULL;
}

int ui_lookup_n(const char *path, size_t path_len, const char **body, size_t *len,
                const char **content_type)
{
    if (!path) return SL_ENOTFOUND;
    for (size_t i = 0; i < sizeof ui_routes / sizeof ui_routes[0]; i++) {
        const char *p = ui_routes[i].path;
        if (strlen(p) != path_len || memcmp(p, path, path_len) != 0) continue;
        const ui_asset *a = asset_find(ui_routes[i].file);
        if (!a) return SL_ENOTFOUND; /* table and routes out of step: a build problem */
        if (body) *body = a->body;
        if (len) *len = a->len;
        if (content_type) *content_type = a->content_type;
        return 0;
    }
    return SL_ENOTFOUND;
}

int ui_lookup(const char *path, const char **body, size_t *len, const char **content_type)
{
    return ui_lookup_n(path, path ? strlen(path) : 0, body, len, content_type);
}
