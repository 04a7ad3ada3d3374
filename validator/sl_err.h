/* sl_err.h - error codes and source diagnostics shared by every Sluice module.
 *
 * Functions return 0 (SL_OK) or a negative SL_E* code; human context goes into an sl_diags list
 * (file:line:col + message), never to stderr. sl_diags owns every string it holds.
 * Not thread-safe: one list per caller. */
#ifndef SL_ERR_H
#define SL_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define SL_ERRNO_MAP(X)                                                                            \
    X(OK, 0, "success")                                                                            \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(IO, -2, "I/O error")                                                                         \
    X(SYNTAX, -3, "syntax error")                                                                  \
    X(PLAN, -4, "invalid tracking plan")                                                           \
    X(SCHEMA, -5, "invalid schema")                                                                \
    X(LIMIT, -6, "limit exceeded")                                                                 \
    X(USAGE, -7, "usage error")                                                                    \
    X(NOTFOUND, -8, "not found")

enum {
#define SL_ERR_ENUM(name, code, text) SL_E##name = code,
    SL_ERRNO_MAP(SL_ERR_ENUM)
#undef SL_ERR_ENUM
};

/* Static description of an SL_E* code; "unknown error" for anything else. */
const char *sl_strerror(int code);

typedef enum { SL_SEV_ERROR, SL_SEV_WARNING } sl_severity;

typedef struct {
    sl_severity sev;
    int line, col; /* 1-based; 0 when unknown */
    char *msg;     /* owned */
} sl_diag;

typedef struct {
    char *file; /* owned copy; may be NULL */
    sl_diag *v;
    size_t n, cap;
    size_t nerrors, nwarnings;
} sl_diags;

void sl_diags_init(sl_diags *d, const char *file);
void sl_diags_cleanup(sl_diags *d);
/* Appends a diagnostic; silently drops it if memory runs out (nerrors still counts it). */
void sl_diags_add(sl_diags *d, sl_severity sev, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void sl_diags_vadd(sl_diags *d, sl_severity sev, int line, int col, const char *fmt, va_list ap);
/* Prints "file:line:col: error: msg" lines, in insertion order. */
void sl_diags_print(const sl_diags *d, FILE *out);
/* Sorts by line/col (stable), for lint output. */
void sl_diags_sort(sl_diags *d);

#endif
