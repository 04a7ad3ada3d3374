/* sl_err.c - error strings and the diagnostics list (see sl_err.h). */
#include "sl_err.h"

#include <stdlib.h>
#include <string.h>

const char *sl_strerror(int code)
{
    switch (code) {
#define SL_ERR_CASE(name, c, text)                                                                 \
    case c:                                                                                        \
        return text;
        SL_ERRNO_MAP(SL_ERR_CASE)
#undef SL_ERR_CASE
    }
    return "unknown error";
}

void sl_diags_init(sl_diags *d, const char *file)
{
    memset(d, 0, sizeof *d);
    if (file) d->file = strdup(file);
}

void sl_diags_cleanup(sl_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].msg);
    free(d->v);
    free(d->file);
    memset(d, 0, sizeof *d);
}

void sl_diags_vadd(sl_diags *d, sl_severity sev, int line, int col, const char *fmt, va_list ap)
{
    if (sev == SL_SEV_ERROR)
        d->nerrors++;
    else
        d->nwarnings++;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        sl_diag *v = realloc(d->v, cap * sizeof *v);
        if (!v) return;
        d->v = v;
        d->cap = cap;
    }
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    char *msg = strdup(buf);
    if (!msg) return;
    d->v[d->n++] = (sl_diag){.sev = sev, .line = line, .col = col, .msg = msg};
}

void sl_diags_add(sl_diags *d, sl_severity sev, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_diags_vadd(d, sev, line, col, fmt, ap);
    va_end(ap);
}

void sl_diags_print(const sl_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        const sl_diag *g = &d->v[i];
        const char *sev = g->sev == SL_SEV_ERROR ? "error" : "warning";
        if (g->line > 0)
            fprintf(out, "%s:%d:%d: %s: %s\n", d->file ? d->file : "<input>", g->line, g->col, sev,
                    g->msg);
        else
            fprintf(out, "%s: %s: %s\n", d->file ? d->file : "<input>", sev, g->msg);
    }
}

void sl_diags_sort(sl_diags *d)
{
    /* Insertion sort: stable, and diagnostic lists are short. */
    for (size_t i = 1; i < d->n; i++) {
        sl_diag t = d->v[i];
        size_t j = i;
        while (j > 0 && (d->v[j - 1].line > t.line ||
                         (d->v[j - 1].line == t.line && d->v[j - 1].col > t.col))) {
            d->v[j] = d->v[j - 1];
            j--;
        }
        d->v[j] = t;
    }
}
