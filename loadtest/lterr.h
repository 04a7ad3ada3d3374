/* lterr.h - error codes of the load generator: 0 is success, failures are negative LT_E* values
 * from one X-macro list, which also gives lt_strerror. */
#ifndef LT_LTERR_H
#define LT_LTERR_H

#define LT_ERRORS(X)                                                                               \
    X(LT_ENOMEM, -1, "out of memory")                                                              \
    X(LT_EUSAGE, -2, "bad usage")                                                                  \
    X(LT_EIO, -3, "I/O error")                                                                     \
    X(LT_EZLIB, -4, "compression failed")                                                          \
    X(LT_ENET, -5, "network error")

enum {
#define LT_ERR_ENUM(name, code, text) name = code,
    LT_ERRORS(LT_ERR_ENUM)
#undef LT_ERR_ENUM
};

/* A static description of an LT_E* code (or "unknown error"). */
const char *lt_strerror(int code);

#endif
