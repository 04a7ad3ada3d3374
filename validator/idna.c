/* idna.c - IDNA2008 domain names (see idna.h).
 *
 * A name is checked label by label, each label decoded into a small stack buffer of code
 * points (a label that fits 63 octets in A-label form has at most 63 code points, so longer
 * ones are rejected before they are stored). Per label we keep two facts for the Bidi Rule,
 * which spans the whole name: whether the label is right-to-left, and whether it satisfies the
 * six conditions of RFC 5893 section 2; the rule is applied only when some label is RTL.
 *
 * Choices where the RFCs leave room:
 *  - ASCII-only labels without "xn--" are NR-LDH labels judged by RFC 1123 (letters, digits,
 *    hyphens, no leading or trailing hyphen); "--" in positions 3-4 is refused only in U-labels
 *    and in what A-labels decode to (RFC 5891 4.2.3.1).
 *  - U-labels are taken as IDNA2008 defines them, without UTS #46 mapping: upper-case letters
 *    are DISALLOWED there (the "München" of a user must be written "münchen").
 *  - NFC: a U-label must not hold a code point whose NFC_Quick_Check is No; those are all
 *    DISALLOWED by RFC 5892 (they change under NFKC), so the derived property already refuses
 *    them. Sequences of PVALID code points that a full NFC would recompose (e + U+0301) are
 *    not detected.
 *  - The Unicode tables are those of the Unicode version in idna_tables.inc (15.0.0). */
#include "idna.h"

#include <string.h>

/* ---- generated tables --------------------------------------------------------------------- */

typedef struct {
    uint32_t lo;
    uint32_t hi : 24;
    uint32_t v : 8;
} idna_range;

enum { IDNA_JT_U, IDNA_JT_D, IDNA_JT_L, IDNA_JT_R, IDNA_JT_T, IDNA_JT_C };
enum {
    IDNA_SC_OTHER,
    IDNA_SC_GREEK,
    IDNA_SC_HEBREW,
    IDNA_SC_HIRAGANA,
    IDNA_SC_KATAKANA,
    IDNA_SC_HAN
};
enum { IDNA_NONE, IDNA_VIRAMA, IDNA_MARK };
enum {
    IDNA_BIDI_L,
    IDNA_BIDI_R,
    IDNA_BIDI_AL,
    IDNA_BIDI_EN,
    IDNA_BIDI_ES,
    IDNA_BIDI_ET,
    IDNA_BIDI_AN,
    IDNA_BIDI_CS,
    IDNA_BIDI_NSM,
    IDNA_BIDI_BN,
    IDNA_BIDI_B,
    IDNA_BIDI_S,
    IDNA_BIDI_WS,
    IDNA_BIDI_ON,
    IDNA_BIDI_LRE,
    IDNA_BIDI_LRO,
    IDNA_BIDI_RLE,
    IDNA_BIDI_RLO,
    IDNA_BIDI_PDF,
    IDNA_BIDI_LRI,
    IDNA_BIDI_RLI,
    IDNA_BIDI_FSI,
    IDNA_BIDI_PDI,
};

#include "idna_tables.inc"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Value of the range holding cp in the sorted table t[0..n), or def. Binary search. */
static unsigned range_lookup(const idna_range *t, size_t n, uint32_t cp, unsigned def)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < t[mid].lo)
            hi = mid;
        else if (cp > t[mid].hi)
            lo = mid + 1;
        else
            return t[mid].v;
    }
    return def;
}

idna_prop idna_property(uint32_t cp)
{
    return (idna_prop)range_lookup(idna_prop_ranges, NELEM(idna_prop_ranges), cp, IDNA_DISALLOWED);
}
static unsigned joining_type(uint32_t cp)
{
    return range_lookup(idna_joining_ranges, NELEM(idna_joining_ranges), cp, IDNA_JT_U);
}
static unsigned script(uint32_t cp)
{
    return range_lookup(idna_script_ranges, NELEM(idna_script_ranges), cp, IDNA_SC_OTHER);
}
static bool is_virama(uint32_t cp)
{
    return range_lookup(idna_virama_ranges, NELEM(idna_virama_ranges), cp, IDNA_NONE) ==
           IDNA_VIRAMA;
}
static bool is_mark(uint32_t cp)
{
    return range_lookup(idna_mark_ranges, NELEM(idna_mark_ranges), cp, IDNA_NONE) == IDNA_MARK;
}
static unsigned bidi_class(uint32_t cp)
{
    return range_lookup(idna_bidi_ranges, NELEM(idna_bidi_ranges), cp, IDNA_BIDI_L);
}

const char *idna_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
#define IDNA_ERR_STR(name, val, msg)                                                               \
    case name:                                                                                     \
        return msg;
        IDNA_ERR_MAP(IDNA_ERR_STR)
#undef IDNA_ERR_STR
    default:
        return "unknown IDNA error";
    }
}

/* ---- UTF-8 -------------------------------------------------------------------------------- */

size_t idna_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c = u[0], min;
    size_t len;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, c &= 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, c &= 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* ---- Punycode (RFC 3492 section 6) -------------------------------------------------------- */

enum { PC_BASE = 36, PC_TMIN = 1, PC_TMAX = 26, PC_SKEW = 38, PC_DAMP = 700 };
enum { PC_INITIAL_BIAS = 72, PC_INITIAL_N = 128 };

static uint32_t pc_adapt(uint32_t delta, uint32_t numpoints, bool first)
{
    delta = first ? delta / PC_DAMP : delta / 2;
    delta += delta / numpoints;
    uint32_t k = 0;
    while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
        delta /= PC_BASE - PC_TMIN;
        k += PC_BASE;
    }
    return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

/* Digit value of c (a-z / A-Z = 0-25, 0-9 = 26-35), or -1. */
static int pc_digit(unsigned char c)
{
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= '0' && c <= '9') return c - '0' + 26;
    return -1;
}

static uint32_t pc_threshold(uint32_t k, uint32_t bias)
{
    return k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;
}

int idna_punycode_decode(const char *in, size_t n, uint32_t *out, size_t cap, size_t *outlen)
{
    size_t b = 0, len = 0; /* b: index of the last delimiter, 0 when there is none */
    for (size_t j = 0; j < n; j++)
        if (in[j] == '-') b = j;
    for (size_t j = 0; j < b; j++) {
        if ((unsigned char)in[j] >= 0x80) return IDNA_EPUNYCODE;
        if (len >= cap) return IDNA_ETOOLONG;
        out[len++] = (unsigned char)in[j];
    }
    uint32_t nn = PC_INITIAL_N, bias = PC_INITIAL_BIAS, i = 0;
    size_t pos = b > 0 ? b + 1 : 0;
    while (pos < n) {
        uint32_t oldi = i, w = 1;
        for (uint32_t k = PC_BASE;; k += PC_BASE) {
            if (pos >= n) return IDNA_EPUNYCODE;
            int digit = pc_digit((unsigned char)in[pos++]);
            if (digit < 0) return IDNA_EPUNYCODE;
            if ((uint32_t)digit > (UINT32_MAX - i) / w) return IDNA_EPUNYCODE;
            i += (uint32_t)digit * w;
            uint32_t t = pc_threshold(k, bias);
            if ((uint32_t)digit < t) break;
            if (w > UINT32_MAX / (PC_BASE - t)) return IDNA_EPUNYCODE;
            w *= PC_BASE - t;
        }
        bias = pc_adapt(i - oldi, (uint32_t)len + 1, oldi == 0);
        if (i / (len + 1) > UINT32_MAX - nn) return IDNA_EPUNYCODE;
        nn += i / (uint32_t)(len + 1);
        i %= (uint32_t)(len + 1);
        if (nn > 0x10FFFF || nn < 0x80) return IDNA_EPUNYCODE;
        if (len >= cap) return IDNA_ETOOLONG;
        memmove(out + i + 1, out + i, (len - i) * sizeof out[0]);
        out[i++] = nn;
        len++;
    }
    *outlen = len;
    return 0;
}

int idna_punycode_encode(const uint32_t *in, size_t n, char *out, size_t cap, size_t *outlen)
{
    size_t len = 0, h, b = 0;
    for (size_t j = 0; j < n; j++) {
        if (in[j] > 0x10FFFF) return IDNA_EPUNYCODE;
        if (in[j] < 0x80) {
            if (len >= cap) return IDNA_ETOOLONG;
            out[len++] = (char)in[j];
            b++;
        }
    }
    h = b;
    if (b > 0) {
        if (len >= cap) return IDNA_ETOOLONG;
        out[len++] = '-';
    }
    uint32_t nn = PC_INITIAL_N, delta = 0, bias = PC_INITIAL_BIAS;
    while (h < n) {
        uint32_t m = UINT32_MAX;
        for (size_t j = 0; j < n; j++)
            if (in[j] >= nn && in[j] < m) m = in[j];
        if ((m - nn) > (UINT32_MAX - delta) / (h + 1)) return IDNA_EPUNYCODE;
        delta += (m - nn) * (uint32_t)(h + 1);
        nn = m;
        for (size_t j = 0; j < n; j++) {
            if (in[j] < nn && ++delta == 0) return IDNA_EPUNYCODE;
            if (in[j] != nn) continue;
            uint32_t q = delta;
            for (uint32_t k = PC_BASE;; k += PC_BASE) {
                uint32_t t = pc_threshold(k, bias);
                if (q < t) break;
                uint32_t d = t + (q - t) % (PC_BASE - t);
                if (len >= cap) return IDNA_ETOOLONG;
                out[len++] = (char)(d < 26 ? 'a' + d : '0' + d - 26);
                q = (q - t) / (PC_BASE - t);
            }
            if (len >= cap) return IDNA_ETOOLONG;
            out[len++] = (char)(q < 26 ? 'a' + q : '0' + q - 26);
            bias = pc_adapt(delta, (uint32_t)h + 1, h == b);
            delta = 0;
            h++;
        }
        delta++, nn++;
    }
    *outlen = len;
    return 0;
}

/* ---- labels ------------------------------------------------------------------------------- */

enum { LABEL_MAX = 63, NAME_MAX_OCTETS = 253 };

typedef struct {
    bool rtl;     /* holds an R, AL or AN code point (RFC 5893 "RTL label") */
    bool bidi_ok; /* satisfies the six conditions of RFC 5893 section 2 */
} label_info;

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* RFC 5892 appendix A.1 (ZWNJ) and A.2 (ZWJ) for the code point at cp[i]. */
static bool context_j(const uint32_t *cp, size_t n, size_t i)
{
    if (i > 0 && is_virama(cp[i - 1])) return true;
    if (cp[i] != 0x200C) return false; /* ZWJ: only after a virama */
    /* (Joining_Type:{L,D})(Joining_Type:T)* \u200C (Joining_Type:T)*(Joining_Type:{R,D}) */
    size_t j = i;
    unsigned jt = IDNA_JT_U;
    while (j > 0 && (jt = joining_type(cp[--j])) == IDNA_JT_T)
        ;
    if (j == i || (jt != IDNA_JT_L && jt != IDNA_JT_D)) return false;
    jt = IDNA_JT_U;
    for (j = i + 1; j < n && (jt = joining_type(cp[j])) == IDNA_JT_T; j++)
        ;
    return j < n && (jt == IDNA_JT_R || jt == IDNA_JT_D);
}

/* RFC 5892 appendix A.3-A.9 for the code point at cp[i]. */
static bool context_o(const uint32_t *cp, size_t n, size_t i)
{
    uint32_t c = cp[i];
    if (c == 0x00B7) /* MIDDLE DOT: between two 'l' */
        return i > 0 && i + 1 < n && cp[i - 1] == 0x6C && cp[i + 1] == 0x6C;
    if (c == 0x0375) /* GREEK LOWER NUMERAL SIGN (KERAIA): Greek follows */
        return i + 1 < n && script(cp[i + 1]) == IDNA_SC_GREEK;
    if (c == 0x05F3 || c == 0x05F4) /* HEBREW PUNCTUATION GERESH / GERSHAYIM: Hebrew before */
        return i > 0 && script(cp[i - 1]) == IDNA_SC_HEBREW;
    if (c == 0x30FB) { /* KATAKANA MIDDLE DOT: some Hiragana, Katakana or Han in the label */
        for (size_t j = 0; j < n; j++) {
            unsigned sc = script(cp[j]);
            if (sc == IDNA_SC_HIRAGANA || sc == IDNA_SC_KATAKANA || sc == IDNA_SC_HAN) return true;
        }
        return false;
    }
    if ((c >= 0x0660 && c <= 0x0669) || (c >= 0x06F0 && c <= 0x06F9)) {
        /* ARABIC-INDIC DIGITS and EXTENDED ARABIC-INDIC DIGITS are not mixed */
        uint32_t other = c <= 0x0669 ? 0x06F0 : 0x0660;
        for (size_t j = 0; j < n; j++)
            if (cp[j] >= other && cp[j] <= other + 9) return false;
        return true;
    }
    return false;
}

/* RFC 5893 section 2 over one label; sets info. */
static void bidi_label(const uint32_t *cp, size_t n, label_info *info)
{
    info->rtl = false;
    bool has_en = false, has_an = false, ok = true;
    for (size_t i = 0; i < n; i++) {
        unsigned bc = bidi_class(cp[i]);
        if (bc == IDNA_BIDI_R || bc == IDNA_BIDI_AL || bc == IDNA_BIDI_AN) info->rtl = true;
        has_en |= bc == IDNA_BIDI_EN;
        has_an |= bc == IDNA_BIDI_AN;
    }
    unsigned first = bidi_class(cp[0]);
    size_t last = n;
    while (last > 0 && bidi_class(cp[last - 1]) == IDNA_BIDI_NSM)
        last--;
    unsigned end = last > 0 ? bidi_class(cp[last - 1]) : IDNA_BIDI_NSM;
    if (first == IDNA_BIDI_R || first == IDNA_BIDI_AL) { /* conditions 2-4 */
        for (size_t i = 0; i < n && ok; i++) {
            unsigned bc = bidi_class(cp[i]);
            ok = bc == IDNA_BIDI_R || bc == IDNA_BIDI_AL || bc == IDNA_BIDI_AN ||
                 bc == IDNA_BIDI_EN || bc == IDNA_BIDI_ES || bc == IDNA_BIDI_CS ||
                 bc == IDNA_BIDI_ET || bc == IDNA_BIDI_ON || bc == IDNA_BIDI_BN ||
                 bc == IDNA_BIDI_NSM;
        }
        ok = ok && (end == IDNA_BIDI_R || end == IDNA_BIDI_AL || end == IDNA_BIDI_EN ||
                    end == IDNA_BIDI_AN);
        ok = ok && !(has_en && has_an);
    } else if (first == IDNA_BIDI_L) { /* conditions 5-6 */
        for (size_t i = 0; i < n && ok; i++) {
            unsigned bc = bidi_class(cp[i]);
            ok = bc == IDNA_BIDI_L || bc == IDNA_BIDI_EN || bc == IDNA_BIDI_ES ||
                 bc == IDNA_BIDI_CS || bc == IDNA_BIDI_ET || bc == IDNA_BIDI_ON ||
                 bc == IDNA_BIDI_BN || bc == IDNA_BIDI_NSM;
        }
        ok = ok && (end == IDNA_BIDI_L || end == IDNA_BIDI_EN);
    } else {
        ok = false; /* condition 1 */
    }
    info->bidi_ok = ok;
}

/* RFC 5891 sections 4.2.2-4.2.3 (and 5.4) for the U-label cp[0..n), n > 0. */
static int check_ulabel(const uint32_t *cp, size_t n, label_info *info)
{
    if (cp[0] == '-' || cp[n - 1] == '-') return IDNA_EHYPHEN;
    if (n >= 4 && cp[2] == '-' && cp[3] == '-') return IDNA_EHYPHEN34;
    for (size_t i = 0; i < n; i++) {
        switch (idna_property(cp[i])) {
        case IDNA_PVALID:
            break;
        case IDNA_CONTEXTJ:
            if (!context_j(cp, n, i)) return IDNA_ECONTEXTJ;
            break;
        case IDNA_CONTEXTO:
            if (!context_o(cp, n, i)) return IDNA_ECONTEXTO;
            break;
        default:
            return IDNA_EDISALLOWED;
        }
    }
    if (is_mark(cp[0])) return IDNA_EMARK; /* only now: the mark table is exact on valid ones */
    bidi_label(cp, n, info);
    return 0;
}

/* An ASCII label s[0..n): NR-LDH or, with an "xn--" prefix, an A-label. Sets info. */
static int check_ascii_label(const char *s, size_t n, label_info *info)
{
    if (n > LABEL_MAX) return IDNA_ETOOLONG;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ldh =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ldh) return IDNA_ELDH;
    }
    if (s[0] == '-' || s[n - 1] == '-') return IDNA_EHYPHEN;
    bool alabel = n >= 4 && ascii_lower((unsigned char)s[0]) == 'x' &&
                  ascii_lower((unsigned char)s[1]) == 'n' && s[2] == '-' && s[3] == '-';
    uint32_t cp[LABEL_MAX];
    size_t ncp;
    if (!alabel) {
        /* NR-LDH (or R-LDH): letters are Bidi L, digits EN, '-' ES (never last), so it is LTR
         * and passes RFC 5893 exactly when it begins with a letter - no table lookups. */
        info->rtl = false;
        info->bidi_ok =
            ascii_lower((unsigned char)s[0]) >= 'a' && ascii_lower((unsigned char)s[0]) <= 'z';
        return 0;
    }
    /* A-labels are case-insensitive (DNS matching): decode the lowercase form */
    char low[LABEL_MAX];
    for (size_t i = 4; i < n; i++)
        low[i - 4] = (char)ascii_lower((unsigned char)s[i]);
    int rc = idna_punycode_decode(low, n - 4, cp, LABEL_MAX, &ncp);
    if (rc < 0) return rc == IDNA_ETOOLONG ? IDNA_EPUNYCODE : rc;
    bool ascii = true;
    for (size_t i = 0; i < ncp; i++)
        ascii &= cp[i] < 0x80;
    if (ncp == 0 || ascii) return IDNA_EALABEL;
    rc = check_ulabel(cp, ncp, info);
    if (rc < 0) return rc;
    char enc[LABEL_MAX];
    size_t nenc;
    if (idna_punycode_encode(cp, ncp, enc, sizeof enc, &nenc) < 0 || nenc != n - 4)
        return IDNA_EALABEL;
    for (size_t i = 0; i < nenc; i++)
        if (enc[i] != low[i]) return IDNA_EALABEL;
    return 0;
}

/* A non-ASCII label s[0..n) (a U-label candidate); sets info and *alen, its A-label length. */
static int check_unicode_label(const char *s, size_t n, label_info *info, size_t *alen)
{
    uint32_t cp[LABEL_MAX];
    size_t ncp = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = idna_utf8_decode(s + i, n - i, &c);
        if (k == 0) return IDNA_EUTF8;
        if (ncp >= LABEL_MAX) return IDNA_ETOOLONG;
        cp[ncp++] = c;
        i += k;
    }
    int rc = check_ulabel(cp, ncp, info);
    if (rc < 0) return rc;
    char enc[LABEL_MAX - 4];
    size_t nenc;
    rc = idna_punycode_encode(cp, ncp, enc, sizeof enc, &nenc);
    if (rc < 0) return IDNA_ETOOLONG;
    *alen = 4 + nenc;
    return 0;
}

/* Length of the label separator at s[0..n) (".", or with unicode U+3002, U+FF0E, U+FF61), or 0. */
static size_t separator(const char *s, size_t n, bool unicode)
{
    if (s[0] == '.') return 1;
    if (!unicode || n < 3) return 0;
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) return 3; /* U+3002 */
    if (u[0] == 0xEF && u[1] == 0xBC && u[2] == 0x8E) return 3; /* U+FF0E */
    if (u[0] == 0xEF && u[1] == 0xBD && u[2] == 0xA1) return 3; /* U+FF61 */
    return 0;
}

int idna_check_name(const char *s, size_t n, unsigned flags)
{
    bool unicode = flags & IDNA_UNICODE;
    if (n == 0) return IDNA_EEMPTY;
    size_t total = 0, start = 0;
    bool any_rtl = false, all_bidi_ok = true;
    for (size_t i = 0;; i++) {
        size_t sep = i < n ? separator(s + i, n - i, unicode) : 0;
        if (i < n && sep == 0) continue;
        size_t len = i - start;
        if (len == 0) return IDNA_EEMPTY; /* leading, trailing or doubled separator */
        bool ascii = true;
        for (size_t j = start; j < i; j++)
            ascii &= (unsigned char)s[j] < 0x80;
        label_info info;
        size_t alen = len;
        int rc;
        if (ascii)
            rc = check_ascii_label(s + start, len, &info);
        else if (!unicode)
            rc = IDNA_EASCII;
        else
            rc = check_unicode_label(s + start, len, &info, &alen);
        if (rc < 0) return rc;
        any_rtl |= info.rtl;
        all_bidi_ok &= info.bidi_ok;
        total += alen + (total > 0);
        if (total > NAME_MAX_OCTETS) return IDNA_ETOOLONG;
        if (i >= n) break;
        i += sep - 1;
        start = i + 1;
    }
    if (any_rtl && !all_bidi_ok) return IDNA_EBIDI;
    return 0;
}
