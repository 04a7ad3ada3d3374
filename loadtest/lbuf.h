/* lbuf.h - a growable byte buffer for the load generator (request bodies, templates, output).
 *
 * An lbuf owns its bytes (malloc'd); lbuf_cleanup frees them. Appends that cannot allocate set the
 * sticky `oom` flag and become no-ops, so a builder checks once at the end. The bytes are not
 * NUL-terminated unless the caller appends a 0. */
#ifndef LT_LBUF_H
#define LT_LBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} lbuf;

void lbuf_init(lbuf *b);
void lbuf_cleanup(lbuf *b);
/* Makes room for `extra` more bytes. Returns false (and sets oom) when out of memory. */
bool lbuf_reserve(lbuf *b, size_t extra);
void lbuf_put(lbuf *b, const void *s, size_t n);
void lbuf_puts(lbuf *b, const char *s);
void lbuf_putc(lbuf *b, char c);
void lbuf_printf(lbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
