/* sl_buf.h - growable arrays and a growable text buffer, for every module that builds output.
 *
 * sl_grow grows any malloc'd array by doubling. sl_buf is a byte buffer that is always
 * NUL-terminated once anything was written, and whose out-of-memory state sticks (`oom`): callers
 * append freely and check once at the end. A zeroed sl_buf is empty and ready; sl_buf_free
 * releases it. sl_strs_copy keeps a config's strings in one allocation; sl_json_escape is the
 * one JSON string escaper. Not thread-safe; one owner. */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Makes room for `need` elements of `elem` bytes in the array *pp (a T **), capacity *cap.
 * Returns 0, or -1 when out of memory (the array is unchanged). */
int sl_grow(void *pp, size_t *cap, size_t need, size_t elem);

typedef struct {
    char *p;  /* NULL until the first append; NUL-terminated at p[n] after it */
    size_t n; /* bytes written */
    size_t cap;
    bool oom; /* an append failed; later appends do nothing */
} sl_buf;

/* The slow path of sl_buf_reserve: grows the buffer. */
bool sl_buf_grow(sl_buf *b, size_t extra);

/* Room for `extra` more bytes (and the terminator) at p + n, for writing in place; false (and
 * oom set) when out of memory. Inline, with the appends below: they run for every event. */
static inline bool sl_buf_reserve(sl_buf *b, size_t extra)
{
    if (b->oom) return false;
    return b->n + extra + 1 <= b->cap || sl_buf_grow(b, extra);
}

static inline void sl_buf_put(sl_buf *b, const char *s, size_t n)
{
    if (!sl_buf_reserve(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static inline void sl_buf_putc(sl_buf *b, char c)
{
    if (!sl_buf_reserve(b, 1)) return;
    b->p[b->n++] = c;
    b->p[b->n] = '\0';
}

static inline void sl_buf_puts(sl_buf *b, const char *s)
{
    sl_buf_put(b, s, strlen(s));
}

void sl_buf_printf(sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* JSON strings, in the one form everything Sluice writes uses (cJSON's and JSON.stringify's):
 * \" \\ \b \f \n \r \t, \u00xx for the other control characters, every other byte as it is.
 * sl_json_escape writes the escaped s[0, n) at w, which has room for 6 * n bytes, and returns the
 * new end (no quotes, no terminator); sl_buf_json_str appends s[0, n) to b as a quoted JSON
 * string. */
char *sl_json_escape(char *w, const char *s, size_t n);
void sl_buf_json_str(sl_buf *b, const char *s, size_t n);

/* JSON Pointer reference tokens (RFC 6901): '~' as "~0", '/' as "~1", every other byte as it is.
 * sl_ptr_escape writes the escaped s[0, n) at w, which has room for 2 * n bytes, and returns the
 * new end (no terminator); sl_buf_ptr_seg appends "/" and the escaped NUL-terminated s to b. */
char *sl_ptr_escape(char *w, const char *s, size_t n);
void sl_buf_ptr_seg(sl_buf *b, const char *s);
void sl_buf_free(sl_buf *b);

/* Copies the n strings src[i] (NULL ones stay NULL) into one malloc'd block and points *dst[i]
 * at each copy. Returns the block (the caller frees it, and with it every copy), or NULL when out
 * of memory (dst untouched). */
char *sl_strs_copy(size_t n, const char *const src[], const char **const dst[]);

#endif
