/* format.h - JSON Schema "format" checkers: date-time, date, time, email, uri, uuid, ipv4, ipv6,
 * hostname (RFC 3339, RFC 5321 subset, RFC 3986, RFC 4122, RFC 2673/4291, RFC 1123).
 * Pure functions over byte slices: no allocation, no locale, thread-safe. */
#ifndef SL_FORMAT_H
#define SL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#define FORMAT_MAP(X)                                                                              \
    X(DATE_TIME, "date-time")                                                                      \
    X(DATE, "date")                                                                                \
    X(TIME, "time")                                                                                \
    X(EMAIL, "email")                                                                              \
    X(URI, "uri")                                                                                  \
    X(UUID, "uuid")                                                                                \
    X(IPV4, "ipv4")                                                                                \
    X(IPV6, "ipv6")                                                                                \
    X(HOSTNAME, "hostname")

typedef enum {
#define FORMAT_ENUM(id, name) FORMAT_##id,
    FORMAT_MAP(FORMAT_ENUM)
#undef FORMAT_ENUM
        FORMAT__COUNT
} format_id;

/* Returns the format id for a name, or -1 when the format is not asserted by Sluice. */
int format_lookup(const char *name);
/* Static name of a format id. */
const char *format_name(format_id f);
/* True when s[0..n) is valid for the format. */
bool format_check(format_id f, const char *s, size_t n);

#endif
