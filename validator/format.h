/* format.h - JSON Schema "format" checkers: date-time, date, time, duration (RFC 3339 and its
 * appendix A), email and idn-email (RFC 5321 subset, RFC 6531), hostname and idn-hostname
 * (RFC 1123, IDNA2008 RFC 5890-5893), ipv4, ipv6 (RFC 2673/4291), uri, uri-reference (RFC 3986),
 * iri, iri-reference (RFC 3987), uri-template (RFC 6570), uuid (RFC 4122), json-pointer
 * (RFC 6901), relative-json-pointer, regex (ECMA-262 syntax).
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
    X(HOSTNAME, "hostname")                                                                        \
    X(IDN_HOSTNAME, "idn-hostname")                                                                \
    X(IDN_EMAIL, "idn-email")                                                                      \
    X(DURATION, "duration")                                                                        \
    X(URI_REFERENCE, "uri-reference")                                                              \
    X(IRI, "iri")                                                                                  \
    X(IRI_REFERENCE, "iri-reference")                                                              \
    X(URI_TEMPLATE, "uri-template")                                                                \
    X(JSON_POINTER, "json-pointer")                                                                \
    X(RELATIVE_JSON_POINTER, "relative-json-pointer")                                              \
    X(REGEX, "regex")

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
