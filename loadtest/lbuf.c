/* lbuf.c - growable byte buffer (see lbuf.h). */
#include "lbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lbuf_init(lbuf *b)
{
    memset(b, 0, sizeof *b);
}

void lbuf_cleanup(lbuf *b)
{
    free(b->p);
    lbuf_init(b);
}

bool lbuf_reserve(lbuf *b, size_t extra)
{
    if (b->oom) return false;
    if (b->n + extra <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + extra)
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

void lbuf_put(lbuf *b, const void *s, size_t n)
{
    if (!n || !lbuf_reserve(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void lbuf_puts(lbuf *b, const char *s)
{
    lbuf_put(b, s, strlen(s));
}

void lbuf_putc(lbuf *b, char c)
{
    lbuf_put(b, &c, 1);
}

void lbuf_printf(lbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !lbuf_reserve(b, (size_t)n + 1)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}
