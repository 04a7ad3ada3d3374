/* format.c - JSON Schema "format" checkers (see format.h).
 *
 * Every checker is a pure function over the byte slice s[0..n): the slice is not NUL-terminated
 * and nothing at or past s[n] is ever read. No allocation, no locale (only the ASCII helpers
 * below classify bytes), no global mutable state; safe from any thread. Bytes >= 0x80 never
 * match any character class; only the idn-* and iri* formats (and the literal text of regex
 * and uri-template) accept non-ASCII, as strict UTF-8. Domain names are idna.c's.
 *
 * Deliberate choices where the RFCs leave room:
 *  - hostname: a trailing root dot ("example.com.") is rejected, as is the empty string; an
 *    "xn--" label must be a valid A-label (IDNA2008: decoded, checked, re-encoded). idn-hostname
 *    also takes U-labels and the IDN dots U+3002, U+FF0E, U+FF61 (see idna.c for the rules).
 *  - idn-email: RFC 6531 - the local part may hold UTF-8 (non-ASCII) characters, the domain is
 *    an idn-hostname.
 *  - duration: RFC 3339 appendix A read as ISO 8601 does (each of Y M D / H M S optional but in
 *    order, at least one; "T" needs a time element; weeks stand alone), ASCII digits only.
 *  - iri: RFC 3987 - non-ASCII characters (valid UTF-8, not controls) wherever URI allows
 *    unreserved characters; scheme, IP literals and ports stay ASCII.
 *  - regex: ECMA-262 syntax as checked without compiling: balanced groups and classes, known
 *    group kinds, quantifiers that follow an atom, {n,m} with n <= m, no dangling backslash.
 *    Annex B leniencies (a lone "{" or "]") are accepted.
 *  - email: RFC 5321 Mailbox; the domain is a hostname or an [IPv4] / [IPv6:...] literal (the
 *    "IPv6:" tag is case-insensitive); general address literals are rejected.
 *  - uri: RFC 3986 absolute URI (a fragment is allowed); IPvFuture literals are accepted,
 *    RFC 6874 zone ids are not.
 *  - ipv6: "::" stands for at least one zero group, so "1:2:3:4:5:6:7::" is valid but
 *    "1:2:3:4:5:6:7:8::" is not. */
#include "format.h"
#include "idna.h"

#include <stdint.h>
#include <string.h>

static const char *const format_names[FORMAT__COUNT] = {
#define FORMAT_NAME(id, name) name,
    FORMAT_MAP(FORMAT_NAME)
#undef FORMAT_NAME
};

int format_lookup(const char *name)
{
    if (!name) return -1;
    for (int f = 0; f < FORMAT__COUNT; f++)
        if (strcmp(format_names[f], name) == 0) return f;
    return -1;
}

const char *format_name(format_id f)
{
    return (unsigned)f < FORMAT__COUNT ? format_names[f] : "unknown";
}

/* ---- ASCII helpers ------------------------------------------------------------------------ */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}
static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_alnum(unsigned char c)
{
    return is_digit(c) || is_alpha(c);
}
static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* True when c is one of the bytes of the NUL-terminated set (c == 0 never matches). */
static bool in_set(unsigned char c, const char *set)
{
    for (; *set; set++)
        if ((unsigned char)*set == c) return true;
    return false;
}

/* Two ASCII digits at s[0..2) -> value, or -1. Caller guarantees 2 readable bytes. */
static int two_digits(const char *s)
{
    unsigned char a = (unsigned char)s[0], b = (unsigned char)s[1];
    if (!is_digit(a) || !is_digit(b)) return -1;
    return (a - '0') * 10 + (b - '0');
}

/* ---- RFC 3339 date, time, date-time ------------------------------------------------------- */

static bool is_leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* full-date = YYYY "-" MM "-" DD, exactly n == 10 bytes. */
static bool check_date(const char *s, size_t n)
{
    if (n != 10 || s[4] != '-' || s[7] != '-') return false;
    int hi = two_digits(s), lo = two_digits(s + 2);
    int m = two_digits(s + 5), d = two_digits(s + 8);
    if (hi < 0 || lo < 0 || m < 1 || m > 12 || d < 1) return false;
    return d <= days_in_month(hi * 100 + lo, m);
}

/* full-time = HH ":" MM ":" SS [ "." 1*DIGIT ] ( "Z" / "z" / ("+" / "-") HH ":" MM ).
 * A leap second (SS == 60) is valid only when the time, converted to UTC, is 23:59. */
static bool check_time(const char *s, size_t n)
{
    if (n < 9 || s[2] != ':' || s[5] != ':') return false;
    int h = two_digits(s), m = two_digits(s + 3), sec = two_digits(s + 6);
    if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60) return false;
    size_t i = 8;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && is_digit((unsigned char)s[i]))
            i++;
        if (i == start || i == n) return false;
    }
    int offset = 0; /* minutes east of UTC */
    if (s[i] == 'Z' || s[i] == 'z') {
        if (i + 1 != n) return false;
    } else if (s[i] == '+' || s[i] == '-') {
        if (n - i != 6 || s[i + 3] != ':') return false;
        int oh = two_digits(s + i + 1), om = two_digits(s + i + 4);
        if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
        offset = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    } else {
        return false;
    }
    if (sec == 60) {
        int utc = ((h * 60 + m - offset) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59) return false;
    }
    return true;
}

static bool check_date_time(const char *s, size_t n)
{
    if (n < 11 || (s[10] != 'T' && s[10] != 't')) return false;
    return check_date(s, 10) && check_time(s + 11, n - 11);
}

/* ---- IP addresses ------------------------------------------------------------------------- */

/* Dotted quad: exactly four decimal parts 0-255, no leading zeros, nothing else. */
static bool check_ipv4(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.') return false;
            i++;
        }
        size_t start = i;
        int v = 0;
        while (i < n && i - start < 3 && is_digit((unsigned char)s[i]))
            v = v * 10 + (s[i++] - '0');
        size_t len = i - start;
        if (len == 0 || v > 255 || (len > 1 && s[start] == '0')) return false;
    }
    return i == n;
}

/* RFC 4291 section 2.2 text forms: 8 groups of 1-4 hex digits, at most one "::" standing for
 * one or more zero groups, optionally ending in an embedded IPv4 address (two groups). */
static bool check_ipv6(const char *s, size_t n)
{
    size_t i = 0;
    int groups = 0;
    bool compressed = false;
    if (n < 2) return false;
    if (s[0] == ':') {
        if (s[1] != ':') return false;
        compressed = true;
        i = 2;
        if (i == n) return true;
    }
    for (;;) {
        size_t start = i;
        while (i < n && is_hex((unsigned char)s[i]))
            i++;
        if (i < n && s[i] == '.') { /* embedded IPv4 tail: must run to the end */
            if (!check_ipv4(s + start, n - start)) return false;
            groups += 2;
            break;
        }
        if (i == start || i - start > 4) return false;
        groups++;
        if (groups > 8) return false;
        if (i == n) break;
        if (s[i] != ':') return false;
        i++;
        if (i == n) return false; /* single trailing colon */
        if (s[i] == ':') {
            if (compressed) return false;
            compressed = true;
            i++;
            if (i == n) break;
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

/* ---- hostname ----------------------------------------------------------------------------- */

/* RFC 1123 host name (dot-separated LDH labels of 1-63 bytes, at most 253 bytes, no trailing
 * dot) whose "xn--" labels are valid IDNA2008 A-labels. */
static bool check_hostname(const char *s, size_t n)
{
    return idna_check_name(s, n, 0) == 0;
}

/* IDNA2008 internationalized host name: U-labels, A-labels and NR-LDH labels. */
static bool check_idn_hostname(const char *s, size_t n)
{
    return idna_check_name(s, n, IDNA_UNICODE) == 0;
}

/* Length of the valid UTF-8 sequence of a non-ASCII, non-control character at s[0..n), or 0. */
static size_t utf8_char(const char *s, size_t n)
{
    uint32_t cp;
    size_t k = idna_utf8_decode(s, n, &cp);
    return k > 1 && cp >= 0xA0 ? k : 0;
}

/* ---- email -------------------------------------------------------------------------------- */

/* RFC 5322 atext, as used by RFC 5321 Dot-string. */
static bool is_atext(unsigned char c)
{
    return is_alnum(c) || in_set(c, "!#$%&'*+-/=?^_`{|}~");
}

/* Parses the local part at s[0..n); returns its length (the index of the '@' that must follow),
 * or 0 when invalid. With utf8, non-ASCII characters count as atext / qtext (RFC 6531). */
static size_t email_local(const char *s, size_t n, bool utf8)
{
    size_t i = 0, k;
    if (n > 0 && s[0] == '"') {
        for (i = 1; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '"') return i + 1;
            if (utf8 && c >= 0x80 && (k = utf8_char(s + i, n - i)) > 0) {
                i += k - 1;
            } else if (c == '\\') {
                if (++i >= n || (unsigned char)s[i] < 32 || (unsigned char)s[i] > 126) return 0;
            } else if (c < 32 || c > 126) {
                return 0;
            }
        }
        return 0; /* unclosed quote */
    }
    for (; i < n && s[i] != '@'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (i == 0 || s[i - 1] == '.') return 0;
        } else if (utf8 && c >= 0x80 && (k = utf8_char(s + i, n - i)) > 0) {
            i += k - 1;
        } else if (!is_atext(c)) {
            return 0;
        }
    }
    if (i == 0 || s[i - 1] == '.') return 0;
    return i;
}

static bool check_email(const char *s, size_t n, bool idn)
{
    size_t local = email_local(s, n, idn);
    if (local == 0 || local > 64 || local >= n || s[local] != '@') return false;
    const char *d = s + local + 1;
    size_t dn = n - local - 1;
    if (dn >= 2 && d[0] == '[') {
        if (d[dn - 1] != ']') return false;
        d++, dn -= 2;
        if (dn >= 5 && lower((unsigned char)d[0]) == 'i' && lower((unsigned char)d[1]) == 'p' &&
            lower((unsigned char)d[2]) == 'v' && d[3] == '6' && d[4] == ':')
            return check_ipv6(d + 5, dn - 5);
        return check_ipv4(d, dn);
    }
    return idn ? check_idn_hostname(d, dn) : check_hostname(d, dn);
}

/* ---- uri ---------------------------------------------------------------------------------- */

static bool uri_unreserved(unsigned char c)
{
    return is_alnum(c) || in_set(c, "-._~");
}
static bool uri_sub_delim(unsigned char c)
{
    return in_set(c, "!$&'()*+,;=");
}

/* Byte classes of uri_scan as 128-bit sets (bit c of {lo, hi} for c < 64 / c >= 64): unreserved
 * (ALPHA DIGIT - . _ ~) and sub-delims (! $ & ' ( ) * + , ; =), plus the extra bytes named. */
typedef struct {
    uint64_t lo, hi;
} uri_set;
static const uri_set URI_BASE = {0x2bff7fd200000000ULL, 0x47fffffe87fffffeULL};  /* + nothing */
static const uri_set URI_USER = {0x2fff7fd200000000ULL, 0x47fffffe87fffffeULL};  /* + : */
static const uri_set URI_PCHAR = {0x2fffffd200000000ULL, 0x47fffffe87ffffffULL}; /* + : @ / */
static const uri_set URI_QUERY = {0xafffffd200000000ULL, 0x47fffffe87ffffffULL}; /* + : @ / ? */

static bool uri_in(uri_set set, unsigned char c)
{
    return c < 64 ? (set.lo >> c) & 1 : c < 128 && ((set.hi >> (c - 64)) & 1);
}

/* Scans s[i..n) over the bytes of set and %-escapes (and, with iri, non-ASCII characters);
 * returns the index of the first other byte, or (size_t)-1 on a malformed %-escape. */
static size_t uri_scan(const char *s, size_t n, size_t i, uri_set set, bool iri)
{
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k;
        if (uri_in(set, c)) {
            i++;
        } else if (c == '%') {
            if (n - i < 3 || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2]))
                return (size_t)-1;
            i += 3;
        } else if (iri && c >= 0x80 && (k = utf8_char(s + i, n - i)) > 0) {
            i += k;
        } else {
            break;
        }
    }
    return i;
}

/* IP-literal contents (between the brackets): IPv6address or IPvFuture. */
static bool uri_ip_literal(const char *s, size_t n)
{
    if (n > 0 && (s[0] == 'v' || s[0] == 'V')) {
        size_t i = 1;
        while (i < n && is_hex((unsigned char)s[i]))
            i++;
        if (i == 1 || i >= n || s[i] != '.') return false;
        size_t start = ++i;
        while (i < n && (uri_unreserved((unsigned char)s[i]) ||
                         uri_sub_delim((unsigned char)s[i]) || s[i] == ':'))
            i++;
        return i > start && i == n;
    }
    return check_ipv6(s, n);
}

/* authority = [ userinfo "@" ] host [ ":" port ], exactly s[0..n). */
static bool uri_authority(const char *s, size_t n, bool iri)
{
    const char *at = memchr(s, '@', n);
    if (at) {
        size_t ui = (size_t)(at - s);
        if (uri_scan(s, ui, 0, URI_USER, iri) != ui) return false;
        s = at + 1;
        n -= ui + 1;
    }
    size_t i;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || !uri_ip_literal(s + 1, (size_t)(close - s) - 1)) return false;
        i = (size_t)(close - s) + 1;
    } else {
        i = uri_scan(s, n, 0, URI_BASE, iri); /* reg-name (covers IPv4address too) */
        if (i == (size_t)-1) return false;
    }
    if (i == n) return true;
    if (s[i] != ':') return false;
    for (i++; i < n; i++)
        if (!is_digit((unsigned char)s[i])) return false;
    return true;
}

/* Modes of uri_parse. */
enum { URI_IRI = 1, URI_REF = 2 };

/* Length of the scheme ending at a ':' at the start of s[0..n), or 0 when there is none. */
static size_t uri_scheme(const char *s, size_t n)
{
    if (n == 0 || !is_alpha((unsigned char)s[0])) return 0;
    size_t i = 1;
    while (i < n && (is_alnum((unsigned char)s[i]) || in_set((unsigned char)s[i], "+-.")))
        i++;
    return i < n && s[i] == ':' ? i : 0;
}

/* URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ]; with URI_REF also relative-ref =
 * relative-part [ "?" query ] [ "#" fragment ], whose first path segment holds no ':'. With
 * URI_IRI the RFC 3987 forms of both. */
static bool uri_parse(const char *s, size_t n, unsigned mode)
{
    bool iri = mode & URI_IRI;
    size_t i = uri_scheme(s, n);
    if (i > 0) {
        i++;
    } else if (!(mode & URI_REF)) {
        return false;
    } else {
        /* path-noscheme: a ':' before the first '/', '?' or '#' would make it a scheme */
        for (size_t j = 0; j < n && s[j] != '/' && s[j] != '?' && s[j] != '#'; j++)
            if (s[j] == ':') return false;
    }
    if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        size_t a = i + 2, e = a;
        while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#')
            e++;
        if (!uri_authority(s + a, e - a, iri)) return false;
        i = e;
    }
    i = uri_scan(s, n, i, URI_PCHAR, iri); /* path: pchar and "/" */
    if (i == (size_t)-1) return false;
    if (i < n && s[i] == '?') {
        i = uri_scan(s, n, i + 1, URI_QUERY, iri);
        if (i == (size_t)-1) return false;
    }
    if (i < n && s[i] == '#') {
        i = uri_scan(s, n, i + 1, URI_QUERY, iri);
        if (i == (size_t)-1) return false;
    }
    return i == n;
}

/* ---- uri-template (RFC 6570) -------------------------------------------------------------- */

/* Level 4 templates: literals (RFC 6570 2.1, UTF-8 allowed) and expressions
 * "{" [operator] varspec *("," varspec) "}", varspec = varname [":" 1-9999 / "*"]. */
static bool check_uri_template(const char *s, size_t n)
{
    size_t i = 0, k;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '{') {
            i++;
            if (i < n && in_set((unsigned char)s[i], "+#./;?&=,!@|")) i++;
            for (;;) { /* varspec */
                size_t start = i;
                bool dot_ok = false;
                while (i < n) {
                    unsigned char v = (unsigned char)s[i];
                    if (is_alnum(v) || v == '_') {
                        i++, dot_ok = true;
                    } else if (v == '%') {
                        if (n - i < 3 || !is_hex((unsigned char)s[i + 1]) ||
                            !is_hex((unsigned char)s[i + 2]))
                            return false;
                        i += 3, dot_ok = true;
                    } else if (v == '.' && dot_ok) {
                        i++, dot_ok = false;
                    } else {
                        break;
                    }
                }
                if (i == start || !dot_ok) return false;
                if (i < n && s[i] == ':') {
                    size_t d = ++i;
                    while (i < n && is_digit((unsigned char)s[i]) && i - d < 4)
                        i++;
                    if (i == d || s[d] == '0') return false;
                } else if (i < n && s[i] == '*') {
                    i++;
                }
                if (i >= n) return false;
                if (s[i] == ',') {
                    i++;
                    continue;
                }
                if (s[i] != '}') return false;
                i++;
                break;
            }
        } else if (c == '%') {
            if (n - i < 3 || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2]))
                return false;
            i += 3;
        } else if (c >= 0x80) {
            if ((k = utf8_char(s + i, n - i)) == 0) return false;
            i += k;
        } else if (c <= 0x20 || c == 0x7F || in_set(c, "\"'<>\\^`{|}")) {
            return false;
        } else {
            i++;
        }
    }
    return true;
}

/* ---- JSON Pointer (RFC 6901) and Relative JSON Pointer ----------------------------------- */

/* "" or a sequence of "/" reference-token, '~' only as "~0" or "~1"; any other character. */
static bool check_json_pointer(const char *s, size_t n)
{
    if (n > 0 && s[0] != '/') return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '~' && (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))) return false;
    return true;
}

/* non-negative-integer [("+" / "-") positive-integer] (json-pointer / "#"), the index
 * manipulation of draft-bhutton-relative-json-pointer-00 included; integers without leading
 * zeros. */
static bool check_relative_json_pointer(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_digit((unsigned char)s[i]))
        i++;
    if (i == 0 || (i > 1 && s[0] == '0')) return false;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        size_t d = ++i;
        while (i < n && is_digit((unsigned char)s[i]))
            i++;
        if (i == d || s[d] == '0') return false;
    }
    if (i < n && s[i] == '#') return i + 1 == n;
    return check_json_pointer(s + i, n - i);
}

/* ---- duration (RFC 3339 appendix A, ISO 8601) --------------------------------------------- */

static bool check_duration(const char *s, size_t n)
{
    if (n < 3 || s[0] != 'P') return false;
    static const char date_units[] = "YMD", time_units[] = "HMS";
    const char *units = date_units;
    size_t i = 1, next = 0; /* next: index in units of the first unit still allowed */
    bool any = false, in_time = false, time_any = false;
    while (i < n) {
        if (s[i] == 'T') {
            if (in_time) return false;
            in_time = true, units = time_units, next = 0;
            i++;
            continue;
        }
        size_t d = i;
        while (i < n && is_digit((unsigned char)s[i]))
            i++;
        if (i == d || i == n) return false;
        if (!in_time && s[i] == 'W') { /* weeks: the only element */
            return d == 1 && i + 1 == n;
        }
        const char *u = memchr(units + next, s[i], 3 - next);
        if (!u) return false;
        next = (size_t)(u - units) + 1;
        any = true, time_any |= in_time;
        i++;
    }
    return any && (!in_time || time_any);
}

/* ---- regex (ECMA-262 syntax) -------------------------------------------------------------- */

/* Length of a {n}, {n,} or {n,m} quantifier at s[0..n) (n <= m), or 0 when s is not one. */
static size_t regex_braces(const char *s, size_t n)
{
    size_t i = 1;
    unsigned long lo = 0, hi;
    size_t d = i;
    while (i < n && is_digit((unsigned char)s[i]) && i - d < 9)
        lo = lo * 10 + (unsigned long)(s[i++] - '0');
    if (i == d || i >= n) return 0;
    if (s[i] == '}') return i + 1;
    if (s[i] != ',') return 0;
    d = ++i;
    hi = 0;
    while (i < n && is_digit((unsigned char)s[i]) && i - d < 9)
        hi = hi * 10 + (unsigned long)(s[i++] - '0');
    if (i >= n || s[i] != '}') return 0;
    if (i > d && hi < lo) return (size_t)-1; /* numbers out of order: a SyntaxError */
    return i + 1;
}

static bool check_regex(const char *s, size_t n)
{
    enum { MAX_DEPTH = 256 };
    bool lookbehind[MAX_DEPTH]; /* lookbehinds may not be quantified */
    size_t depth = 0;
    /* atom: the previous token - 0 nothing quantifiable, 1 an atom, 2 a quantifier (which a
     * '?' may still make lazy), 3 a lazy quantifier */
    int atom = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t q;
        if (c == '\\') {
            if (i + 1 >= n) return false;
            i += 2;
            atom = 1;
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < n && s[j] == '^') j++;
            for (; j < n && s[j] != ']'; j++)
                if (s[j] == '\\') j++;
            if (j >= n) return false;
            i = j + 1;
            atom = 1;
        } else if (c == '(') {
            if (depth >= MAX_DEPTH) return false;
            bool behind = false;
            i++;
            if (i < n && s[i] == '?') {
                i++;
                if (i < n && (s[i] == ':' || s[i] == '=' || s[i] == '!')) {
                    i++;
                } else if (i + 1 < n && s[i] == '<' && (s[i + 1] == '=' || s[i + 1] == '!')) {
                    i += 2, behind = true;
                } else if (i < n && s[i] == '<') { /* (?<name> */
                    size_t j = ++i;
                    while (i < n && (is_alnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '$' ||
                                     (unsigned char)s[i] >= 0x80))
                        i++;
                    if (i == j || i >= n || s[i] != '>' || is_digit((unsigned char)s[j]))
                        return false;
                    i++;
                } else {
                    return false;
                }
            }
            lookbehind[depth++] = behind;
            atom = 0;
        } else if (c == ')') {
            if (depth == 0) return false;
            atom = lookbehind[--depth] ? 0 : 1;
            i++;
        } else if (c == '|') {
            atom = 0;
            i++;
        } else if (c == '*' || c == '+' || c == '?') {
            if (atom == 2 && c == '?') {
                atom = 3;
            } else if (atom != 1) {
                return false;
            } else {
                atom = 2;
            }
            i++;
        } else if (c == '{' && (q = regex_braces(s + i, n - i)) != 0) {
            if (q == (size_t)-1 || atom != 1) return false;
            atom = 2;
            i += q;
        } else if (c == '^' || c == '$') {
            atom = 0;
            i++;
        } else {
            atom = 1;
            i++;
        }
    }
    return depth == 0;
}

/* ---- uuid --------------------------------------------------------------------------------- */

/* 8-4-4-4-12 hex digits, either case; any version and variant. */
static bool check_uuid(const char *s, size_t n)
{
    if (n != 36) return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i])) return false;
    }
    return true;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

bool format_check(format_id f, const char *s, size_t n)
{
    if (!s && n > 0) return false;
    if (!s) s = "";
    switch (f) {
    case FORMAT_DATE_TIME:
        return check_date_time(s, n);
    case FORMAT_DATE:
        return check_date(s, n);
    case FORMAT_TIME:
        return check_time(s, n);
    case FORMAT_EMAIL:
        return check_email(s, n, false);
    case FORMAT_IDN_EMAIL:
        return check_email(s, n, true);
    case FORMAT_URI:
        return uri_parse(s, n, 0);
    case FORMAT_URI_REFERENCE:
        return uri_parse(s, n, URI_REF);
    case FORMAT_IRI:
        return uri_parse(s, n, URI_IRI);
    case FORMAT_IRI_REFERENCE:
        return uri_parse(s, n, URI_IRI | URI_REF);
    case FORMAT_URI_TEMPLATE:
        return check_uri_template(s, n);
    case FORMAT_JSON_POINTER:
        return check_json_pointer(s, n);
    case FORMAT_RELATIVE_JSON_POINTER:
        return check_relative_json_pointer(s, n);
    case FORMAT_DURATION:
        return check_duration(s, n);
    case FORMAT_REGEX:
        return check_regex(s, n);
    case FORMAT_UUID:
        return check_uuid(s, n);
    case FORMAT_IPV4:
        return check_ipv4(s, n);
    case FORMAT_IPV6:
        return check_ipv6(s, n);
    case FORMAT_HOSTNAME:
        return check_hostname(s, n);
    case FORMAT_IDN_HOSTNAME:
        return check_idn_hostname(s, n);
    default:
        return false;
    }
}
