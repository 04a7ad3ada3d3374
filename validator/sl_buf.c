/* sl_buf.c - growable arrays and text buffer (see sl_buf.h). */
#include "sl_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*(void **)pp, nc * elem);
    if (!np) return -1;
    *(void **)pp = np;
    *cap = nc;
    return 0;
}

bool sl_buf_grow(sl_buf *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = true;
        return false;
    }
    b->p = np;
    b->cap = cap;
    return true;
}

void sl_buf_printf(sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !sl_buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

char *sl_strs_copy(size_t n, const char *const src[], const char **const dst[])
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += src[i] ? strlen(src[i]) + 1 : 0;
    char *block = malloc(total), *p = block;
    if (!block) return NULL;
    for (size_t i = 0; i < n; i++) {
        *dst[i] = NULL;
        if (!src[i]) continue;
        size_t len = strlen(src[i]) + 1;
        memcpy(p, src[i], len);
        *dst[i] = p;
        p += len;
    }
    return block;
}

char *sl_json_escape(char *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    static const char short_form[32] = {
        ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *w++ = (char)c;
            continue;
        }
        *w++ = '\\';
        if (c == '"' || c == '\\') {
            *w++ = (char)c;
        } else if (short_form[c]) {
            *w++ = short_form[c];
        } else {
            memcpy(w, "u00", 3);
            w[3] = hex[c >> 4];
            w[4] = hex[c & 15];
            w += 5;
        }
    }
    return w;
}

void sl_buf_json_str(sl_buf *b, const char *s, size_t n)
{
    if (n > (SIZE_MAX - 3) / 6 || !sl_buf_reserve(b, 6 * n + 2)) {
        b->oom = true;
        return;
    }
    char *w = b->p + b->n;
    *w++ = '"';
    w = sl_json_escape(w, s, n);
    *w++ = '"';
    b->n = (size_t)(w - b->p);
    b->p[b->n] = 0;
}

char *sl_ptr_escape(char *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '~' || s[i] == '/') {
            *w++ = '~';
            *w++ = s[i] == '~' ? '0' : '1';
        } else {
            *w++ = s[i];
        }
    }
    return w;
}

void sl_buf_ptr_seg(sl_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 2) / 2 || !sl_buf_reserve(b, 2 * n + 1)) {
        b->oom = true;
        return;
    }
    char *w = b->p + b->n;
    *w++ = '/';
    b->n = (size_t)(sl_ptr_escape(w, s, n) - b->p);
    b->p[b->n] = 0;
}

void sl_buf_free(sl_buf *b)
{
    free(b->p);
    *b = (sl_buf){0};
}
