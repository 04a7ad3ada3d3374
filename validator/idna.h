/* idna.h - IDNA2008 domain names (RFC 5890-5893): Punycode (RFC 3492), A-labels and U-labels,
 * the derived property of RFC 5892 (PVALID / CONTEXTJ / CONTEXTO / DISALLOWED), the contextual
 * rules of RFC 5892 appendix A and the Bidi Rule of RFC 5893.
 *
 * Pure functions over byte slices and caller-owned buffers: no allocation, no locale, no global
 * mutable state; thread-safe. The Unicode tables are generated (validator/idna_tables.inc, by
 * scripts/gen_idna_tables.py from the Debian unicode-data package) and compiled in. */
#ifndef SL_IDNA_H
#define SL_IDNA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a name or label is rejected: 0 or one of these negative codes. */
#define IDNA_ERR_MAP(X)                                                                            \
    X(IDNA_EEMPTY, -1, "empty name or label")                                                      \
    X(IDNA_ETOOLONG, -2, "label over 63 octets or name over 253 octets (in A-label form)")         \
    X(IDNA_EUTF8, -3, "invalid UTF-8")                                                             \
    X(IDNA_EASCII, -4, "non-ASCII character where only ASCII is allowed")                          \
    X(IDNA_ELDH, -5, "ASCII label with a character other than a letter, digit or hyphen")          \
    X(IDNA_EHYPHEN, -6, "label begins or ends with a hyphen")                                      \
    X(IDNA_EHYPHEN34, -7, "U-label with \"--\" in the third and fourth positions")                 \
    X(IDNA_EPUNYCODE, -8, "invalid Punycode")                                                      \
    X(IDNA_EALABEL, -9, "A-label that does not round-trip or decodes to ASCII only")               \
    X(IDNA_EDISALLOWED, -10, "code point DISALLOWED or UNASSIGNED in IDNA2008")                    \
    X(IDNA_EMARK, -11, "label begins with a combining mark")                                       \
    X(IDNA_ECONTEXTJ, -12, "ZERO WIDTH JOINER / NON-JOINER out of context")                        \
    X(IDNA_ECONTEXTO, -13, "contextual code point out of context (RFC 5892 appendix A)")           \
    X(IDNA_EBIDI, -14, "the Bidi Rule (RFC 5893) fails")                                           \
    X(IDNA_ENFC, -15, "U-label not in Normalization Form C")

enum {
#define IDNA_ERR_ENUM(name, val, msg) name = val,
    IDNA_ERR_MAP(IDNA_ERR_ENUM)
#undef IDNA_ERR_ENUM
};

/* Static message for an IDNA_E* code (or "ok" for 0). */
const char *idna_strerror(int err);

/* Flags of idna_check_name. */
enum {
    /* Accept U-labels and the IDN label separators U+3002, U+FF0E, U+FF61 (RFC 3490 3.1);
     * without it the name must be ASCII (NR-LDH labels and A-labels, "." only). */
    IDNA_UNICODE = 1,
};

/* Checks the domain name s[0..n) (no trailing root dot): every label an NR-LDH label (RFC 1123
 * letters, digits, hyphens), a valid A-label ("xn--" any case; decoded, checked as a U-label
 * and re-encoded to the same string) or, with IDNA_UNICODE, a valid U-label; label and name
 * lengths counted in A-label form; and the Bidi Rule across the name when any label is
 * right-to-left. Returns 0 when valid, else the first IDNA_E* reason found. */
int idna_check_name(const char *s, size_t n, unsigned flags);

/* RFC 3492 decoding of in[0..n) (the part after "xn--"; digits in either case) into out[0..cap).
 * Sets *outlen. Returns 0, IDNA_EPUNYCODE (bad digit, overflow, code point past U+10FFFF,
 * non-basic code point before the delimiter) or IDNA_ETOOLONG (more than cap code points). */
int idna_punycode_decode(const char *in, size_t n, uint32_t *out, size_t cap, size_t *outlen);

/* RFC 3492 encoding of in[0..n) into out[0..cap) (lowercase digits, not NUL-terminated, no
 * "xn--"). Sets *outlen. Returns 0, IDNA_ETOOLONG (more than cap bytes) or IDNA_EPUNYCODE
 * (overflow, or a code point past U+10FFFF). */
int idna_punycode_encode(const uint32_t *in, size_t n, char *out, size_t cap, size_t *outlen);

/* Decodes one UTF-8 sequence at s[0..n) (strict: no overlongs, surrogates or values past
 * U+10FFFF) into *cp; returns its length (1-4), or 0 when invalid or n == 0. */
size_t idna_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* IDNA2008 derived property of one code point (RFC 5892), without its context. */
typedef enum { IDNA_DISALLOWED, IDNA_PVALID, IDNA_CONTEXTJ, IDNA_CONTEXTO } idna_prop;
idna_prop idna_property(uint32_t cp);

#endif
