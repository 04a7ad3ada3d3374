/* ingest.c - request body -> events -> plan check -> sink entries (see ingest.h).
 *
 * Two passes over the body: (1) a validating scanner with a depth bound, which reports the first
 * syntax error as line/column/byte, and records where every object and array ends (the span
 * table); (2) non-validating member iteration over the now known-good bytes, which splices each
 * event into the output buffer member by member and jumps over nested values through the span
 * table and walks each object's members through the member table pass 1 also records (key,
 * value and end offsets, linked per object), so no byte of the body is scanned twice by pass 2
 * (array items and tables given up on allocation failure excepted: they are scanned).
 * Each finished event becomes a cJSON tree once, in a per-worker arena, for plan_check: pass 1
 * builds the body's tree as it scans (bodies up to INGEST_FUSED_MAX, with a node budget), and
 * do_event edits each event's part of it as build_event edits the bytes (tree_event: writeKey and
 * a typed path's type dropped, the batch's context and integrations merged in, type, messageId,
 * receivedAt and context.ip added); test_ingest checks that the checked tree always prints as the
 * stored event does. Events pass 1's tree does not cover (escaped keys, numbers past cJSON's 63
 * characters, nesting past 1000, the budget spent) are built from their stored bytes
 * (tree_build; cJSON_Parse as the last fallback). */
#include "ingest.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h> /* 16-byte string scans (x86-64 always has SSE2; elsewhere 8-byte SWAR) */
#endif

#include "arena.h"
#include "sl_buf.h"

/* ---- the ingest object ---------------------------------------------------------------- */

typedef struct {
    size_t ev_off, ev_len; /* into out */
    size_t vio_off, vio_len;
    size_t mid_off, mid_len;
    bool invalid, has_vio;
} entry_ref;

/* One open container on the scanner's path: the member key or the array index being scanned. */
typedef struct {
    const char *k; /* raw key bytes (validated UTF-8, escapes not decoded); NULL = not known yet */
    size_t kn, idx;
    bool arr;
} jpath;

/* One object member key seen in this body, for the duplicate-key check: (object serial, decoded
 * key bytes). Valid when gen == the ingest's current generation, so a reset is one increment. */
typedef struct {
    size_t off, len; /* into the body, or into keydec when dec */
    uint32_t obj, hash, gen;
    bool dec;
} keyent;

/* The extent of one object or array of the body, recorded by pass 1 in order of its opening byte,
 * so pass 2 jumps over any container in O(log n) instead of re-scanning its bytes (O(1) when it
 * looks up a container's first nested container or its next sibling, the usual case). */
typedef struct {
    size_t start, end; /* body offsets: the opening byte, one past the closing byte */
    uint32_t m0;       /* an object's first member in the member table (0: none, or an array) */
    uint32_t after;    /* one past the last span nested in this one: a next sibling's slot */
} span;

/* One object member of the body, recorded by pass 1, so pass 2 walks an object's members
 * through the table (mrec.next) instead of scanning their bytes. Offsets into the body. */
typedef struct {
    uint32_t ks, ke; /* the key's quotes: the opening one, one past the closing one */
    uint32_t vs, ve; /* the value: its first byte, one past its end */
    uint32_t next;   /* the object's next member (0: none; slot 0 is never used) */
} mrec;

struct ingest {
    ingest_limits lim;
    jpath *path; /* max_depth entries */
    keyent *kt;  /* open addressing, power-of-two capacity, at most half full */
    size_t kt_cap, kt_n;
    uint32_t kt_gen;
    keyent *ks; /* the keys of the objects open on the scanner's path, innermost last */
    size_t ks_n, ks_cap;
    sl_buf keydec; /* decoded keys that had escapes */
    span *spans;   /* this body's containers, sorted by start (pass 1 pushes them in that order) */
    size_t nspans, capspans, span_hint;
    bool spans_ok; /* false after an allocation failure: pass 2 then scans instead */
    mrec *mems;    /* this body's object members (slot 0 unused) */
    size_t nmems, capmems;
    bool mems_ok;      /* false after an allocation failure or for a body past 4 GB: pass 2 scans */
    const char *sbody; /* the body the spans describe */
    size_t sbody_n;
    plan_ctx *pctx;
    arena *ar;
    vio_list vl;
    sl_buf out;    /* event bytes, violation arrays, message ids */
    sl_buf report; /* dry-run report */
    sl_buf inflated;
    entry_ref *refs;
    sink_entry *entries;
    size_t nrefs, capref;
    z_stream zs;
    bool zs_init;
    uint64_t rng[2];
};

const char *ingest_call_name(ingest_call c)
{
    static const char *const n[] = {"track", "identify", "page",  "screen",
                                    "group", "alias",    "batch", "any"};
    return (unsigned)c < sizeof n / sizeof n[0] ? n[c] : "?";
}

ingest *ingest_new(const ingest_limits *lim)
{
    ingest *ig = calloc(1, sizeof *ig);
    if (!ig) return NULL;
    ig->lim = *lim;
    ig->pctx = plan_ctx_new();
    ig->ar = arena_new(64 * 1024);
    ig->path = calloc(lim->max_depth + 1, sizeof *ig->path);
    if (!ig->pctx || !ig->ar || !ig->path) {
        ingest_free(ig);
        return NULL;
    }
    if (getrandom(ig->rng, sizeof ig->rng, 0) != (ssize_t)sizeof ig->rng) {
        ig->rng[0] = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)ig;
        ig->rng[1] = (uint64_t)clock() * 0x9E3779B97F4A7C15ULL + 1;
    }
    if (!ig->rng[0] && !ig->rng[1]) ig->rng[1] = 1;
    return ig;
}

void ingest_free(ingest *ig)
{
    if (!ig) return;
    plan_ctx_free(ig->pctx);
    arena_free(ig->ar);
    sl_buf_free(&ig->out);
    sl_buf_free(&ig->report);
    sl_buf_free(&ig->inflated);
    free(ig->path);
    free(ig->kt);
    free(ig->ks);
    sl_buf_free(&ig->keydec);
    free(ig->spans);
    free(ig->mems);
    free(ig->refs);
    free(ig->entries);
    if (ig->zs_init) inflateEnd(&ig->zs);
    free(ig);
}

static uint64_t rng_next(ingest *ig)
{
    /* xorshift128+ */
    uint64_t s1 = ig->rng[0];
    const uint64_t s0 = ig->rng[1];
    ig->rng[0] = s0;
    s1 ^= s1 << 23;
    ig->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return ig->rng[1] + s0;
}

void ingest_uuid(ingest *ig, char dst[37])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = rng_next(ig), b = rng_next(ig);
    unsigned char r[16];
    memcpy(r, &a, 8);
    memcpy(r + 8, &b, 8);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) dst[o++] = '-';
        dst[o++] = hex[r[i] >> 4];
        dst[o++] = hex[r[i] & 15];
    }
    dst[o] = 0;
}

int ingest_inflate(ingest *ig, const char *src, size_t n, size_t cap, const char **out,
                   size_t *outlen)
{
    if (!ig->zs_init) {
        memset(&ig->zs, 0, sizeof ig->zs);
        if (inflateInit2(&ig->zs, 32 + MAX_WBITS) != Z_OK) return SL_ENOMEM; /* gzip or zlib */
        ig->zs_init = true;
    } else {
        inflateReset(&ig->zs);
    }
    sl_buf *b = &ig->inflated;
    b->n = 0;
    ig->zs.next_in = (unsigned char *)src;
    ig->zs.avail_in = (uInt)n;
    /* The buffer grows by doubling but never past cap + 1 bytes (the one more byte tells "too
     * big"), so a bomb costs at most cap + 1 bytes of memory. */
    size_t most = cap < SIZE_MAX ? cap + 1 : cap;
    for (;;) {
        size_t room = b->cap - b->n;
        if (room == 0) {
            if (b->n > cap) return SL_ELIMIT;
            size_t want = b->cap ? b->cap * 2 : 16384;
            if (want > most) want = most;
            char *np = realloc(b->p, want);
            if (!np) return SL_ENOMEM;
            b->p = np;
            b->cap = want;
            room = b->cap - b->n;
        }
        if (b->n + room > cap + 1) room = cap + 1 - b->n; /* one byte more tells "too big" */
        ig->zs.next_out = (unsigned char *)b->p + b->n;
        ig->zs.avail_out = (uInt)room;
        int rc = inflate(&ig->zs, Z_NO_FLUSH);
        b->n += room - ig->zs.avail_out;
        if (b->n > cap) return SL_ELIMIT;
        if (rc == Z_STREAM_END) break;
        if (rc == Z_BUF_ERROR && ig->zs.avail_in == 0) return SL_ESYNTAX; /* truncated */
        if (rc != Z_OK && rc != Z_BUF_ERROR) return rc == Z_MEM_ERROR ? SL_ENOMEM : SL_ESYNTAX;
    }
    *out = b->p;
    *outlen = b->n;
    return 0;
}

size_t ingest_inflate_capacity(const ingest *ig)
{
    return ig->inflated.cap;
}

/* ---- cJSON trees in the arena ------------------------------------------------------------- */

/* A cJSON tree under construction, in the per-worker arena. */
typedef struct tree_in {
    char *s; /* the arena's copy of the text: strings are decoded and terminated in place */
    size_t n, i;
    arena *ar;
    int depth;
    cJSON *pool; /* nodes are carved from arena blocks of TREE_POOL */
    size_t pool_n;
    size_t budget; /* nodes that may still be carved (0 = no limit) */
} tree_in;

#define TREE_POOL 32
#define TREE_MAX_DEPTH 1000         /* cJSON's CJSON_NESTING_LIMIT */
#define INGEST_FUSED_MAX (1u << 20) /* bodies up to this size get their tree from pass 1 */

static cJSON *tree_node(tree_in *t)
{
    if (!t->pool_n) {
        if (t->budget) {
            if (t->budget <= TREE_POOL) return NULL;
            t->budget -= TREE_POOL;
        }
        t->pool = arena_alloc(t->ar, TREE_POOL * sizeof *t->pool);
        if (!t->pool) return NULL;
        t->pool_n = TREE_POOL;
    }
    cJSON *x = t->pool++;
    t->pool_n--;
    memset(x, 0, sizeof *x);
    return x;
}

/* The common number shapes (-?digits(.digits)?, at most 15 digits in all) without strtod: the
 * digits as an integer are exact in a double (< 2^53), so is 10^f for f <= 22, and one IEEE
 * division of two exact values is correctly rounded: the same double strtod returns. Anything
 * else (exponents, longer mantissas) returns false. */
static bool exact_decimal(const char *s, size_t n, double *out)
{
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    size_t i = 0, digits = 0, frac = 0;
    bool neg = s[0] == '-', dot = false;
    uint64_t m = 0;
    if (neg) i++;
    for (; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (++digits > 15) return false;
            m = m * 10 + (uint64_t)(c - '0');
            frac += dot;
        } else if (c == '.' && !dot)
            dot = true;
        else
            return false;
    }
    if (!digits) return false;
    double d = (double)m / pow10[frac];
    *out = neg ? -d : d;
    return true;
}

/* x = the number s[0, k) as cJSON_Parse reads it; false when cJSON would read it differently
 * (longer than its 63-character buffer) or it is no number. */
static bool num_node(cJSON *x, const char *s, size_t k)
{
    if (k == 0 || k >= 64) return false;
    double d;
    if (!exact_decimal(s, k, &d)) {
        char buf[64], *end;
        memcpy(buf, s, k);
        buf[k] = 0;
        d = strtod(buf, &end);
        if (end != buf + k) return false;
    }
    x->valuedouble = d;
    x->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
    x->type = cJSON_Number;
    return true;
}

/* Links m (a new or detached node) after *last in obj's children. */
static void tree_link(cJSON *obj, cJSON **last, cJSON *m)
{
    m->next = NULL;
    m->prev = *last;
    if (*last)
        (*last)->next = m;
    else
        obj->child = m;
    *last = m;
    obj->child->prev = m;
}

/* ---- pass 1: validating scanner --------------------------------------------------------- */

typedef struct {
    const char *s;
    size_t n, i;
    size_t max_depth;
    const char *err;
    ingest *ig;
    size_t depth;     /* containers open */
    size_t err_depth; /* depth when err was set: ig->path[0..err_depth) locates it */
    bool semantic;    /* well-formed JSON we refuse (duplicate key, range, NUL, surrogate) */
    uint32_t objs;    /* object serial numbers, for the duplicate-key table */
    const char *dup_key;
    size_t dup_len;
    bool esc; /* the last string scanned had an escape */
    /* Optional: the body's cJSON tree, built while it is scanned (see ingest_run). NULL = not
     * building, or given up. */
    struct tree_in *t;
    bool tree_failed; /* the tree is incomplete: tree_build on the stored bytes instead */
    bool key_esc;     /* some key had an escape, so decoded keys differ from the raw bytes */
} jscan;

/* Index of the first non-whitespace byte at or after i, or n. Every byte above ' ' settles it in
 * one comparison: between tokens there is usually no whitespace at all. */
static inline size_t ws_skip(const char *s, size_t n, size_t i)
{
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r')) break;
        i++;
    }
    return i;
}

static void js_ws(jscan *j)
{
    j->i = ws_skip(j->s, j->n, j->i);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int js_fail(jscan *j, const char *msg)
{
    if (!j->err) {
        j->err = msg;
        j->err_depth = j->depth;
    }
    return -1;
}

static int js_refuse(jscan *j, size_t at, const char *msg)
{
    if (!j->err) {
        j->i = at;
        j->semantic = true;
    }
    return js_fail(j, msg);
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, <= U+10FFFF),
 * or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    return len;
}

static long hex4(const char *p)
{
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A string: escapes checked, \\u0000 and unpaired surrogates refused, raw bytes valid UTF-8. */
/* Non-zero when one of the 8 bytes of w is '"', '\\', a control character or >= 0x80: a byte the
 * string scanner must look at (the usual SWAR "has zero byte / has less than" tests). */
static inline uint64_t swar_special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
}

/* Index of the first byte at or after i that is not plain printable ASCII (see swar_special), or
 * n. */
static size_t plain_run(const char *s, size_t i, size_t n)
{
#ifdef __SSE2__
    const __m128i vq = _mm_set1_epi8('"'), vb = _mm_set1_epi8('\\'), vctl = _mm_set1_epi8(0x1f);
    while (n - i >= 16) {
        __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(w, vq), _mm_cmpeq_epi8(w, vb)),
                                 _mm_cmpeq_epi8(_mm_min_epu8(w, vctl), w)); /* w <= 0x1f */
        unsigned bits =
            (unsigned)_mm_movemask_epi8(m) | (unsigned)_mm_movemask_epi8(w); /* >= 0x80 */
        if (bits) return i + (size_t)__builtin_ctz(bits);
        i += 16;
    }
#endif
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t m = swar_special(w);
        if (m) return i + (size_t)(__builtin_ctzll(m) >> 3); /* little-endian: lowest byte first */
        i += 8;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
    }
    return i;
}

static int js_string(jscan *j)
{
    j->i++; /* opening quote */
    j->esc = false;
    while (j->i < j->n) {
        j->i = plain_run(j->s, j->i, j->n);
        if (j->i >= j->n) break;
        unsigned char c = (unsigned char)j->s[j->i];
        if (c == '"') {
            j->i++;
            return 0;
        }
        if (c >= 0x80) {
            size_t l = utf8_len((const unsigned char *)j->s + j->i, j->n - j->i);
            if (!l) return js_fail(j, "invalid UTF-8 in string");
            j->i += l;
            continue;
        }
        if (c == 0) return js_fail(j, "NUL byte in string");
        if (c < 0x20) return js_fail(j, "control character in string");
        if (c == '\\') {
            size_t esc = j->i;
            j->esc = true;
            if (++j->i >= j->n) break;
            char e = j->s[j->i];
            if (e == 'u') {
                if (j->i + 4 >= j->n) break;
                long cp = hex4(j->s + j->i + 1);
                if (cp < 0) return js_fail(j, "bad \\u escape");
                if (cp == 0) return js_refuse(j, esc, "NUL character (\\u0000) in string");
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return js_refuse(j, esc, "unpaired UTF-16 surrogate in \\u escape");
                j->i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    size_t q = j->i + 1; /* the low half must follow */
                    long lo = q + 6 <= j->n && j->s[q] == '\\' && j->s[q + 1] == 'u'
                                  ? hex4(j->s + q + 2)
                                  : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return js_refuse(j, esc, "unpaired UTF-16 surrogate in \\u escape");
                    j->i = q + 5;
                }
            } else if (!strchr("\"\\/bfnrt", e) || !e) {
                return js_fail(j, "bad escape in string");
            }
        }
        j->i++;
    }
    return js_fail(j, "unterminated string");
}

/* Writes the decoded bytes of a validated string's contents (p, n: between the quotes) to dst
 * (room for n bytes: decoding never lengthens); returns their count. */
static size_t str_decode(char *dst, const char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\') {
            dst[o++] = p[i];
            continue;
        }
        char e = p[++i];
        if (e != 'u') {
            static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
            const char *f = strchr(from, e);
            dst[o++] = f && e ? to[f - from] : e;
            continue;
        }
        unsigned long cp = (unsigned long)hex4(p + i + 1);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)hex4(p + i + 3) - 0xDC00);
            i += 6;
        }
        if (cp < 0x80) {
            dst[o++] = (char)cp;
        } else if (cp < 0x800) {
            dst[o++] = (char)(0xC0 | cp >> 6);
            dst[o++] = (char)(0x80 | (cp & 63));
        } else if (cp < 0x10000) {
            dst[o++] = (char)(0xE0 | cp >> 12);
            dst[o++] = (char)(0x80 | ((cp >> 6) & 63));
            dst[o++] = (char)(0x80 | (cp & 63));
        } else {
            dst[o++] = (char)(0xF0 | cp >> 18);
            dst[o++] = (char)(0x80 | ((cp >> 12) & 63));
            dst[o++] = (char)(0x80 | ((cp >> 6) & 63));
            dst[o++] = (char)(0x80 | (cp & 63));
        }
    }
    return o;
}

/* Appends the decoded bytes of a validated string's contents (p, n: between the quotes). */
static void key_decode(sl_buf *b, const char *p, size_t n)
{
    if (!sl_buf_reserve(b, n)) return;
    b->n += str_decode(b->p + b->n, p, n);
}

static const char *kt_bytes(const ingest *ig, const jscan *j, const keyent *e)
{
    return e->dec ? ig->keydec.p + e->off : j->s + e->off;
}

static bool kt_grow(ingest *ig, const jscan *j)
{
    size_t cap = ig->kt_cap ? ig->kt_cap * 2 : 256;
    keyent *nt = calloc(cap, sizeof *nt);
    if (!nt) return false;
    for (size_t k = 0; k < ig->kt_cap; k++) {
        keyent *e = &ig->kt[k];
        if (e->gen != ig->kt_gen) continue;
        size_t h = e->hash & (cap - 1);
        while (nt[h].gen == ig->kt_gen)
            h = (h + 1) & (cap - 1);
        nt[h] = *e;
    }
    free(ig->kt);
    ig->kt = nt;
    ig->kt_cap = cap;
    (void)j;
    return true;
}

/* Enters ne into the hash table; refuses it when the table holds the same key of the same object.
 * raw/rn/ks: the key as written, for the error. */
static int kt_insert(jscan *j, keyent ne, const char *raw, size_t rn, size_t ks)
{
    ingest *ig = j->ig;
    const char *kb = kt_bytes(ig, j, &ne);
    uint32_t h = 2166136261u ^ ne.obj * 0x9E3779B1u;
    for (size_t k = 0; k < ne.len; k++)
        h = (h ^ (unsigned char)kb[k]) * 16777619u;
    ne.hash = h;
    if ((ig->kt_n + 1) * 2 > ig->kt_cap && !kt_grow(ig, j)) return js_fail(j, "out of memory");
    size_t mask = ig->kt_cap - 1;
    for (size_t x = h & mask;; x = (x + 1) & mask) {
        keyent *e = &ig->kt[x];
        if (e->gen != ig->kt_gen) {
            *e = ne;
            ig->kt_n++;
            return 0;
        }
        if (e->hash == h && e->obj == ne.obj && e->len == ne.len &&
            !memcmp(kt_bytes(ig, j, e), kb, ne.len)) {
            j->dup_key = raw;
            j->dup_len = rn;
            return js_refuse(j, ks, "duplicate key");
        }
    }
}

/* Records key [ks, ke) (quotes included; just scanned by js_string, so j->esc says whether it has
 * escapes) of object obj, whose keys so far are
 * ig->ks[kbase, ig->ks_n); refuses a key the object already has, comparing decoded text, so "a"
 * and "\\u0061" are the same key. Small objects compare against their own few keys (cache-local),
 * and only when *seen (the object's bits of key_bit) says an earlier key may be equal: usually
 * none is; an object that grows past KEYS_LINEAR keys moves them into the hash table. */
#define KEYS_LINEAR 24
/* One of 64 bits for a decoded key: equal keys, equal bits. */
static inline uint64_t key_bit(const char *k, size_t n)
{
    unsigned h = n ? (unsigned)n * 7u + (unsigned char)k[0] * 3u + (unsigned char)k[n - 1] : 0;
    return 1ULL << (h & 63);
}

static int js_key_unique(jscan *j, size_t ks, size_t ke, uint32_t obj, size_t kbase, uint64_t *seen)
{
    ingest *ig = j->ig;
    const char *raw = j->s + ks + 1;
    size_t rn = ke - ks - 2;
    keyent ne = {.off = ks + 1, .len = rn, .obj = obj, .gen = ig->kt_gen};
    if (j->esc) { /* set by js_string for this key */
        ne.dec = true;
        ne.off = ig->keydec.n;
        key_decode(&ig->keydec, raw, rn);
        if (ig->keydec.oom) return js_fail(j, "out of memory");
        ne.len = ig->keydec.n - ne.off;
    }
    size_t have = ig->ks_n - kbase;
    if (have < KEYS_LINEAR) {
        const char *kb = kt_bytes(ig, j, &ne);
        uint64_t bit = key_bit(kb, ne.len);
        bool maybe = *seen & bit;
        *seen |= bit;
        for (size_t k = maybe ? kbase : ig->ks_n; k < ig->ks_n; k++) {
            const keyent *e = &ig->ks[k];
            if (e->len == ne.len && !memcmp(kt_bytes(ig, j, e), kb, ne.len)) {
                j->dup_key = raw;
                j->dup_len = rn;
                return js_refuse(j, ks, "duplicate key");
            }
        }
    } else {
        if (have == KEYS_LINEAR) /* the object just outgrew the linear check */
            for (size_t k = kbase; k < ig->ks_n; k++)
                if (kt_insert(j, ig->ks[k], raw, rn, ks)) return -1;
        if (kt_insert(j, ne, raw, rn, ks)) return -1;
    }
    if (ig->ks_n == ig->ks_cap) {
        size_t cap = ig->ks_cap ? ig->ks_cap * 2 : 64;
        keyent *nk = realloc(ig->ks, cap * sizeof *nk);
        if (!nk) return js_fail(j, "out of memory");
        ig->ks = nk;
        ig->ks_cap = cap;
    }
    ig->ks[ig->ks_n++] = ne;
    return 0;
}

static int js_number(jscan *j)
{
    const char *s = j->s;
    size_t i = j->i;
    if (i < j->n && s[i] == '-') i++;
    if (i >= j->n) return js_fail(j, "bad number");
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return js_fail(j, "bad number");
    if (i < j->n && s[i] == '.') {
        i++;
        if (i >= j->n || s[i] < '0' || s[i] > '9') {
            j->i = i;
            return js_fail(j, "bad number: digit expected after '.'");
        }
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    bool big = i - j->i > 15;
    if (i < j->n && (s[i] == 'e' || s[i] == 'E')) {
        big = true;
        i++;
        if (i < j->n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= j->n || s[i] < '0' || s[i] > '9') {
            j->i = i;
            return js_fail(j, "bad number: digit expected in exponent");
        }
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (big) { /* might not fit a double */
        char buf[401];
        size_t len = i - j->i;
        if (len >= sizeof buf) return js_refuse(j, j->i, "number longer than 400 characters");
        memcpy(buf, s + j->i, len);
        buf[len] = 0;
        if (isinf(strtod(buf, NULL)))
            return js_refuse(j, j->i, "number out of range (beyond a 64-bit double)");
    }
    j->i = i;
    return 0;
}

static int js_lit(jscan *j, const char *lit)
{
    size_t l = strlen(lit);
    if (j->n - j->i < l || memcmp(j->s + j->i, lit, l)) return js_fail(j, "unexpected character");
    j->i += l;
    return 0;
}

/* Records a container opening at body offset at; returns its slot (SIZE_MAX when not recorded). */
static size_t span_open(ingest *ig, size_t at)
{
    if (!ig->spans_ok) return SIZE_MAX;
    if (ig->nspans == ig->capspans) {
        size_t cap = ig->capspans ? ig->capspans * 2 : 256;
        span *ns = realloc(ig->spans, cap * sizeof *ns);
        if (!ns) {
            ig->spans_ok = false; /* pass 2 falls back to scanning */
            return SIZE_MAX;
        }
        ig->spans = ns;
        ig->capspans = cap;
    }
    ig->spans[ig->nspans] = (span){at, 0, 0, 0};
    return ig->nspans++;
}

static void span_close(ingest *ig, size_t slot, size_t end)
{
    if (slot != SIZE_MAX && ig->spans_ok) {
        ig->spans[slot].end = end;
        ig->spans[slot].after = (uint32_t)ig->nspans;
    }
}

/* Records a member of the object in span slot sp whose previous member is prev (0: the first);
 * returns its table slot, or 0 when not recorded (then the table is given up for this body). */
static uint32_t mem_open(ingest *ig, size_t sp, uint32_t prev, size_t ks, size_t ke, size_t vs)
{
    if (!ig->mems_ok || sp == SIZE_MAX || !ig->spans_ok) return 0;
    if (ig->nmems >= ig->capmems) {
        size_t cap = ig->capmems ? ig->capmems * 2 : 256;
        mrec *nm = cap < UINT32_MAX ? realloc(ig->mems, cap * sizeof *nm) : NULL;
        if (!nm) {
            ig->mems_ok = false;
            return 0;
        }
        ig->mems = nm;
        ig->capmems = cap;
    }
    uint32_t k = (uint32_t)ig->nmems++;
    ig->mems[k] = (mrec){(uint32_t)ks, (uint32_t)ke, (uint32_t)vs, 0, 0};
    if (prev)
        ig->mems[prev].next = k;
    else
        ig->spans[sp].m0 = k;
    return k;
}

/* Gives up building the tree (an allocation failed, or cJSON would read the text differently):
 * the caller then builds it from the stored bytes. Returns NULL, the node to build no more. */
static cJSON *tree_quit(jscan *j)
{
    j->t = NULL;
    j->tree_failed = true;
    return NULL;
}

/* The string just scanned, [st, j->i) with its quotes, decoded and terminated in the tree's copy
 * of the text (same offsets; decoding never lengthens, the terminator takes the closing quote). */
static char *tree_str(const jscan *j, size_t st)
{
    char *d = j->t->s + st + 1;
    size_t rn = j->i - st - 2;
    d[j->esc ? str_decode(d, d, rn) : rn] = 0;
    return d;
}

static int js_container(jscan *j, size_t depth, cJSON *x, char c);

/* Scans one value, starting at j->i (whitespace already skipped); when x is given (and the tree
 * is still being built), x becomes its node. Inline, so a container's members that are strings,
 * numbers or literals are scanned in its own loop; only nested containers recurse
 * (js_container). */
static inline __attribute__((always_inline)) int js_value(jscan *j, size_t depth, cJSON *x)
{
    if (j->i >= j->n) return js_fail(j, "unexpected end of input");
    char c = j->s[j->i];
    size_t st = j->i;
    if (x && !j->t) x = NULL;
    switch (c) {
    case '{':
    case '[':
        return js_container(j, depth, x, c);
    case '"':
        if (js_string(j)) return -1;
        if (x) {
            x->type = cJSON_String;
            x->valuestring = tree_str(j, st);
        }
        return 0;
    case 't':
        if (x) x->type = cJSON_True, x->valueint = 1;
        return js_lit(j, "true");
    case 'f':
        if (x) x->type = cJSON_False;
        return js_lit(j, "false");
    case 'n':
        if (x) x->type = cJSON_NULL;
        return js_lit(j, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            if (js_number(j)) return -1;
            if (x && !num_node(x, j->s + st, j->i - st)) tree_quit(j);
            return 0;
        }
        return js_fail(j, c ? "unexpected character" : "unexpected NUL byte");
    }
}

/* The object or array (c is its opening character) at j->i; x as for js_value. */
static int js_container(jscan *j, size_t depth, cJSON *x, char c)
{
    if (depth >= j->max_depth) return js_fail(j, "nesting deeper than max-depth");
    char close = c == '{' ? '}' : ']';
    jpath *pe = &j->ig->path[depth];
    *pe = (jpath){.arr = c == '['};
    uint32_t obj = c == '{' ? ++j->objs : 0;
    size_t kbase = j->ig->ks_n; /* this object's keys start here */
    size_t sp = span_open(j->ig, j->i);
    cJSON *last = NULL;
    uint32_t mslot = 0; /* this object's last member in the member table */
    uint64_t seen = 0;  /* key_bit of the keys so far (js_key_unique) */
    if (x) {
        x->type = c == '{' ? cJSON_Object : cJSON_Array;
        if (depth >= TREE_MAX_DEPTH) x = tree_quit(j);
    }
    j->depth = depth + 1;
    j->i++;
    js_ws(j);
    if (j->i < j->n && j->s[j->i] == close) {
        j->i++;
        j->depth = depth;
        j->ig->ks_n = kbase;
        span_close(j->ig, sp, j->i);
        return 0;
    }
    for (;;) {
        cJSON *m = x && j->t ? tree_node(j->t) : NULL;
        if (x && !m) x = tree_quit(j);
        if (c == '{') { /* at the key: whitespace was skipped after '{' or ',' */
            pe->k = NULL;
            if (j->i >= j->n) return js_fail(j, "unexpected end of input");
            if (j->s[j->i] != '"') return js_fail(j, "expected a string key");
            size_t ks = j->i;
            if (js_string(j) || js_key_unique(j, ks, j->i, obj, kbase, &seen)) return -1;
            j->key_esc |= j->esc;
            if (m) m->string = tree_str(j, ks);
            size_t ke = j->i;
            pe->k = j->s + ks + 1;
            pe->kn = ke - ks - 2;
            js_ws(j);
            if (j->i >= j->n || j->s[j->i] != ':') return js_fail(j, "expected ':'");
            j->i++;
            js_ws(j);
            mslot = mem_open(j->ig, sp, mslot, ks, ke, j->i);
        }
        if (js_value(j, depth + 1, m)) return -1;
        if (mslot) j->ig->mems[mslot].ve = (uint32_t)j->i;
        if (m && j->t) tree_link(x, &last, m);
        js_ws(j);
        if (j->i >= j->n) return js_fail(j, "unexpected end of input");
        if (j->s[j->i] == ',') {
            j->i++;
            pe->idx++;
            js_ws(j);
            continue;
        }
        if (j->s[j->i] == close) {
            j->i++;
            j->depth = depth;
            j->ig->ks_n = kbase;
            span_close(j->ig, sp, j->i);
            return 0;
        }
        return js_fail(j, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

/* ---- pass 2: iteration over validated JSON ---------------------------------------------- */

/* i at a value's first byte; returns the index after it. Input is known valid. */
static size_t sk_value(const char *s, size_t n, size_t i)
{
    if (s[i] == '"') {
        /* Jump from quote to quote (memchr is vectorised); a quote preceded by an odd run of
         * backslashes is escaped. */
        size_t from = ++i;
        for (;;) {
            const char *q = memchr(s + i, '"', n - i);
            if (!q) return n;
            size_t j = (size_t)(q - s), k = j;
            while (k > from && s[k - 1] == '\\')
                k--;
            if (((j - k) & 1) == 0) return j + 1;
            i = j + 1;
        }
    }
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (; i < n; i++) {
            char c = s[i];
            if (c == '"') {
                i = sk_value(s, n, i) - 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
           s[i] != '\t' && s[i] != '\r')
        i++;
    return i;
}

typedef struct {
    const char *p; /* value bytes */
    size_t n;
} slice;

typedef struct {
    const char *s;
    size_t n, i;
    ingest *ig;  /* its span table skips containers */
    uint32_t m;  /* with_m: the next member in the member table (0: no more) */
    bool with_m; /* an object pass 1 recorded: members come from the table */
} iter;

typedef struct {
    slice raw; /* "key" : value, from the key's quote to the value's end */
    slice key; /* between the quotes, raw (escapes not decoded) */
    slice val;
} member;

/* The span table slot of the container opening at p (with its end recorded), or SIZE_MAX when
 * p is not one pass 1 recorded. Lookups mostly walk forward: try the slot after the last hit
 * first, then binary search. */
static size_t span_find(ingest *ig, const char *p)
{
    if (!ig->spans_ok || p < ig->sbody || p >= ig->sbody + ig->sbody_n) return SIZE_MAX;
    size_t off = (size_t)(p - ig->sbody), k = ig->span_hint + 1;
    if (k < ig->nspans && ig->spans[k].start != off) k = ig->spans[ig->span_hint].after;
    if (k >= ig->nspans || ig->spans[k].start != off) {
        size_t lo = 0, hi = ig->nspans;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (ig->spans[mid].start < off)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo >= ig->nspans || ig->spans[lo].start != off) return SIZE_MAX;
        k = lo;
    }
    ig->span_hint = k;
    return ig->spans[k].end ? k : SIZE_MAX;
}

/* The end (one past the closing byte) of the container opening at p, or NULL (see span_find). */
static const char *span_end(ingest *ig, const char *p)
{
    size_t k = span_find(ig, p);
    return k == SIZE_MAX ? NULL : ig->sbody + ig->spans[k].end;
}

/* v: an object or array value slice of the body pass 1 scanned. */
static void it_init(iter *it, ingest *ig, slice v)
{
    it->s = v.p;
    it->n = v.n;
    it->i = 1;
    it->ig = ig;
    it->with_m = false;
    if (ig->mems_ok && v.n && v.p[0] == '{') {
        size_t k = span_find(ig, v.p);
        if (k != SIZE_MAX && ig->sbody + ig->spans[k].end == v.p + v.n) {
            it->with_m = true;
            it->m = ig->spans[k].m0;
        }
    }
}

/* Like sk_value, for a value inside the iterated slice. */
static size_t it_skip(const iter *it, size_t i)
{
    char c = it->s[i];
    if (c == '{' || c == '[') {
        const char *e = span_end(it->ig, it->s + i);
        if (e && e <= it->s + it->n) return (size_t)(e - it->s);
    }
    return sk_value(it->s, it->n, i);
}

static bool it_next_member(iter *it, member *m)
{
    if (it->with_m) {
        if (!it->m) return false;
        const mrec *r = &it->ig->mems[it->m];
        const char *b = it->ig->sbody;
        m->key.p = b + r->ks + 1;
        m->key.n = r->ke - r->ks - 2;
        m->val.p = b + r->vs;
        m->val.n = r->ve - r->vs;
        m->raw.p = b + r->ks;
        m->raw.n = r->ve - r->ks;
        it->m = r->next;
        return true;
    }
    size_t i = ws_skip(it->s, it->n, it->i);
    if (i < it->n && it->s[i] == ',') i = ws_skip(it->s, it->n, i + 1);
    if (i >= it->n || it->s[i] != '"') return false;
    size_t ks = i;
    size_t ke = sk_value(it->s, it->n, i);
    i = ws_skip(it->s, it->n, ke);
    i = ws_skip(it->s, it->n, i + 1); /* ':' */
    size_t ve = it_skip(it, i);
    m->key.p = it->s + ks + 1;
    m->key.n = ke - ks - 2;
    m->val.p = it->s + i;
    m->val.n = ve - i;
    m->raw.p = it->s + ks;
    m->raw.n = ve - ks;
    it->i = ve;
    return true;
}

static bool it_next_item(iter *it, slice *v)
{
    size_t i = ws_skip(it->s, it->n, it->i);
    if (i < it->n && it->s[i] == ',') i = ws_skip(it->s, it->n, i + 1);
    if (i >= it->n || it->s[i] == ']') return false;
    size_t e = it_skip(it, i);
    v->p = it->s + i;
    v->n = e - i;
    it->i = e;
    return true;
}

static bool key_is(slice k, const char *name)
{
    size_t l = strlen(name);
    return k.n == l && !memcmp(k.p, name, l);
}

/* The top-level members ingest treats specially: one list for the batch envelope, the stored
 * bytes (build_event) and the checked tree (tree_event), which must agree. No two start with the
 * same byte, so the first byte picks the one name to compare. */
#define SPECIAL_KEYS(X)                                                                            \
    X('w', "writeKey", MK_WRITE_KEY)                                                               \
    X('t', "type", MK_TYPE)                                                                        \
    X('c', "context", MK_CONTEXT)                                                                  \
    X('i', "integrations", MK_INTEGRATIONS)                                                        \
    X('m', "messageId", MK_MESSAGE_ID)                                                             \
    X('r', "receivedAt", MK_RECEIVED_AT)                                                           \
    X('b', "batch", MK_BATCH)

enum {
    MK_OTHER,
#define X(c, name, kind) kind,
    SPECIAL_KEYS(X)
#undef X
};

/* A key's kind, as raw bytes of the body. */
static int member_kind(slice k)
{
    switch (k.n ? k.p[0] : 0) {
#define X(c, name, kind)                                                                           \
    case c:                                                                                        \
        return key_is(k, name) ? kind : MK_OTHER;
        SPECIAL_KEYS(X)
#undef X
    default:
        return MK_OTHER;
    }
}

/* The same, for a tree's NUL-terminated key. */
static int member_kind_str(const char *k)
{
    switch (k[0]) {
#define X(c, name, kind)                                                                           \
    case c:                                                                                        \
        return strcmp(k, name) ? MK_OTHER : kind;
        SPECIAL_KEYS(X)
#undef X
    default:
        return MK_OTHER;
    }
}

static bool is_object(slice v)
{
    return v.n && v.p[0] == '{';
}

static bool obj_has_key(ingest *ig, slice obj, slice key)
{
    if (!is_object(obj)) return false;
    iter it;
    member m;
    it_init(&it, ig, obj);
    while (it_next_member(&it, &m))
        if (m.key.n == key.n && !memcmp(m.key.p, key.p, key.n)) return true;
    return false;
}

/* ---- the event's cJSON tree ------------------------------------------------------------- */

/* A built event is valid JSON (members copied from the checked body plus our own text), so its
 * tree is built here directly, from the arena, instead of by cJSON_Parse: one pass, no literal
 * probing before every value, no per-node hook calls. The tree is exactly what cJSON 1.7 builds
 * (node types, valueint saturation, strtod numbers, child->prev = last child). Anything outside
 * that fast path (a number longer than cJSON's 63-character buffer, nesting past cJSON's limit,
 * an unexpected byte) returns NULL and the caller falls back to cJSON_ParseWithLength, so the
 * result never differs. */

static void tree_ws(tree_in *t)
{
    t->i = ws_skip(t->s, t->n, t->i);
}

/* Index of the first '"' or '\\' at or after i, or n. */
static size_t quote_run(const char *s, size_t i, size_t n)
{
#ifdef __SSE2__
    const __m128i vq = _mm_set1_epi8('"'), vb = _mm_set1_epi8('\\');
    while (n - i >= 16) {
        __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        unsigned bits =
            (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(w, vq), _mm_cmpeq_epi8(w, vb)));
        if (bits) return i + (size_t)__builtin_ctz(bits);
        i += 16;
    }
#endif
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t m = (((q - ones) & ~q) | ((b - ones) & ~b)) & high;
        if (m) return i + (size_t)(__builtin_ctzll(m) >> 3);
        i += 8;
    }
    while (i < n && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

/* t->i at the opening quote; returns the decoded, NUL-terminated contents or NULL. In place:
 * decoding never lengthens, and the terminator takes the closing quote's byte, which nothing
 * reads again. */
static char *tree_string(tree_in *t)
{
    size_t a = ++t->i, i = a;
    bool esc = false;
    for (;;) {
        i = quote_run(t->s, i, t->n);
        if (i >= t->n) return NULL;
        if (t->s[i] == '"') break;
        esc = true;
        if (i + 2 >= t->n) return NULL;
        i += 2; /* the escaped character (a \\u's hex digits are neither '"' nor '\\') */
    }
    size_t rn = i - a;
    char *d = t->s + a;
    size_t dn = esc ? str_decode(d, d, rn) : rn;
    d[dn] = 0;
    t->i = i + 1;
    return d;
}

static bool tree_value(tree_in *t, cJSON *x);

static bool tree_container(tree_in *t, cJSON *x, bool obj)
{
    if (++t->depth > TREE_MAX_DEPTH) return false;
    char close = obj ? '}' : ']';
    cJSON *last = NULL;
    x->type = obj ? cJSON_Object : cJSON_Array;
    t->i++;
    tree_ws(t);
    if (t->i < t->n && t->s[t->i] == close) {
        t->i++;
    } else {
        for (;;) {
            cJSON *m = tree_node(t);
            if (!m) return false;
            if (obj) {
                tree_ws(t);
                if (t->i >= t->n || t->s[t->i] != '"') return false;
                if (!(m->string = tree_string(t))) return false;
                tree_ws(t);
                if (t->i >= t->n || t->s[t->i] != ':') return false;
                t->i++;
            }
            if (!tree_value(t, m)) return false;
            tree_link(x, &last, m);
            tree_ws(t);
            if (t->i >= t->n) return false;
            if (t->s[t->i] == ',') {
                t->i++;
                continue;
            }
            if (t->s[t->i] != close) return false;
            t->i++;
            break;
        }
    }
    t->depth--;
    return true;
}

static bool tree_number(tree_in *t, cJSON *x)
{
    size_t k = 0;
    while (t->i + k < t->n && k < 64) {
        char c = t->s[t->i + k];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'))
            break;
        k++;
    }
    if (!num_node(x, t->s + t->i, k)) return false;
    t->i += k;
    return true;
}

static bool tree_lit(tree_in *t, const char *lit, size_t l)
{
    if (t->n - t->i < l || memcmp(t->s + t->i, lit, l)) return false;
    t->i += l;
    return true;
}

static bool tree_value(tree_in *t, cJSON *x)
{
    tree_ws(t);
    if (t->i >= t->n) return false;
    switch (t->s[t->i]) {
    case '{':
        return tree_container(t, x, true);
    case '[':
        return tree_container(t, x, false);
    case '"':
        x->type = cJSON_String;
        return (x->valuestring = tree_string(t)) != NULL;
    case 't':
        x->type = cJSON_True;
        x->valueint = 1;
        return tree_lit(t, "true", 4);
    case 'f':
        x->type = cJSON_False;
        return tree_lit(t, "false", 5);
    case 'n':
        x->type = cJSON_NULL;
        return tree_lit(t, "null", 4);
    default:
        return tree_number(t, x);
    }
}

/* The tree of the event text s[0, n), allocated from ar; NULL when the fast path does not apply. */
static cJSON *tree_build(arena *ar, const char *s, size_t n)
{
    char *copy = arena_alloc(ar, n + 1);
    if (!copy) return NULL;
    memcpy(copy, s, n);
    copy[n] = 0;
    tree_in t = {.s = copy, .n = n, .ar = ar};
    cJSON *x = tree_node(&t);
    if (!x || !tree_value(&t, x)) return NULL;
    tree_ws(&t);
    return t.i == n ? x : NULL;
}

/* ---- building one event ----------------------------------------------------------------- */

typedef struct {
    slice ctx;   /* batch-level context, or {NULL,0} */
    slice integ; /* batch-level integrations */
} batch_shared;

typedef struct {
    size_t ctx_close; /* offset in out of the context's '}' (0 = none) */
    bool ctx_nonempty;
    size_t mid_off, mid_len;
} built;

static void put_sep(sl_buf *b, size_t *count)
{
    if ((*count)++) sl_buf_putc(b, ',');
}

/* Emits item's object merged with the batch's (item members win) and, when add_ip, "ip". */
static void emit_merged(ingest *ig, slice item, slice shared, const char *ip, built *bt,
                        bool is_ctx)
{
    sl_buf *o = &ig->out;
    size_t count = 0;
    bool ip_seen = false;
    iter it;
    member m;
    sl_buf_putc(o, '{');
    if (is_object(item)) {
        it_init(&it, ig, item);
        while (it_next_member(&it, &m)) {
            put_sep(o, &count);
            sl_buf_put(o, m.raw.p, m.raw.n);
            if (key_is(m.key, "ip")) ip_seen = true;
        }
    }
    if (is_object(shared)) {
        it_init(&it, ig, shared);
        while (it_next_member(&it, &m)) {
            if (obj_has_key(ig, item, m.key)) continue;
            put_sep(o, &count);
            sl_buf_put(o, m.raw.p, m.raw.n);
            if (key_is(m.key, "ip")) ip_seen = true;
        }
    }
    if (is_ctx && ip && !ip_seen) {
        put_sep(o, &count);
        sl_buf_puts(o, "\"ip\":");
        sl_buf_json_str(o, ip, strlen(ip));
    }
    if (is_ctx) {
        bt->ctx_close = o->n;
        bt->ctx_nonempty = count > 0;
    }
    sl_buf_putc(o, '}');
}

static void build_event(ingest *ig, const ingest_request *rq, slice item, const batch_shared *bs,
                        const char *type, built *bt)
{
    sl_buf *o = &ig->out;
    size_t count = 0;
    bool has_mid = false, has_rat = false, has_ctx = false, has_integ = false;
    iter it;
    member m;
    memset(bt, 0, sizeof *bt);
    sl_buf_putc(o, '{');
    it_init(&it, ig, item);
    while (it_next_member(&it, &m)) {
        int kind = member_kind(m.key);
        if (kind == MK_WRITE_KEY || (type && kind == MK_TYPE)) continue;
        if (kind == MK_CONTEXT && is_object(m.val)) {
            has_ctx = true;
            put_sep(o, &count);
            sl_buf_puts(o, "\"context\":");
            emit_merged(ig, m.val, bs ? bs->ctx : (slice){0}, rq->client_ip, bt, true);
            continue;
        }
        if (kind == MK_INTEGRATIONS && bs && is_object(bs->integ) && is_object(m.val)) {
            has_integ = true;
            put_sep(o, &count);
            sl_buf_puts(o, "\"integrations\":");
            emit_merged(ig, m.val, bs->integ, NULL, bt, false);
            continue;
        }
        has_ctx |= kind == MK_CONTEXT;
        has_integ |= kind == MK_INTEGRATIONS;
        put_sep(o, &count);
        if (kind == MK_MESSAGE_ID) {
            has_mid = true;
            size_t vstart = o->n + (size_t)(m.val.p - m.raw.p);
            sl_buf_put(o, m.raw.p, m.raw.n);
            if (m.val.p[0] == '"')
                bt->mid_off = vstart + 1, bt->mid_len = m.val.n - 2;
            else
                bt->mid_off = vstart, bt->mid_len = m.val.n;
            continue;
        }
        has_rat |= kind == MK_RECEIVED_AT;
        sl_buf_put(o, m.raw.p, m.raw.n);
    }
    if (type) {
        put_sep(o, &count);
        sl_buf_puts(o, "\"type\":\"");
        sl_buf_puts(o, type);
        sl_buf_putc(o, '"');
    }
    if (!has_mid) {
        char id[37];
        ingest_uuid(ig, id);
        put_sep(o, &count);
        sl_buf_puts(o, "\"messageId\":\"");
        bt->mid_off = o->n;
        bt->mid_len = 36;
        sl_buf_put(o, id, 36);
        sl_buf_putc(o, '"');
    }
    if (!has_rat && rq->received_at) {
        put_sep(o, &count);
        sl_buf_puts(o, "\"receivedAt\":\"");
        sl_buf_puts(o, rq->received_at);
        sl_buf_putc(o, '"');
    }
    if (!has_ctx) {
        put_sep(o, &count);
        sl_buf_puts(o, "\"context\":");
        emit_merged(ig, (slice){0}, bs ? bs->ctx : (slice){0}, rq->client_ip, bt, true);
    }
    if (!has_integ && bs && bs->integ.n) {
        put_sep(o, &count);
        sl_buf_puts(o, "\"integrations\":");
        sl_buf_put(o, bs->integ.p, bs->integ.n);
    }
    sl_buf_putc(o, '}');
}

/* ---- running a request ------------------------------------------------------------------ */

static void set_error(ingest_result *r, int status, const char *limit, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_error(ingest_result *r, int status, const char *limit, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    r->status = status;
    r->limit = limit;
}

static entry_ref *push_ref(ingest *ig)
{
    if (ig->nrefs == ig->capref) {
        size_t cap = ig->capref ? ig->capref * 2 : 64;
        entry_ref *nr = realloc(ig->refs, cap * sizeof *nr);
        if (!nr) return NULL;
        ig->refs = nr;
        sink_entry *ne = realloc(ig->entries, cap * sizeof *ne);
        if (!ne) return NULL;
        ig->entries = ne;
        ig->capref = cap;
    }
    entry_ref *r = &ig->refs[ig->nrefs++];
    memset(r, 0, sizeof *r);
    return r;
}

/* Appends a string member k: v (both kept as they are: in the arena or static) to obj. */
static bool tree_add_str(tree_in *t, cJSON *obj, cJSON **last, const char *k, char *v)
{
    cJSON *m = tree_node(t);
    if (!m) return false;
    m->type = cJSON_String;
    m->string = (char *)k;
    m->valuestring = v;
    tree_link(obj, last, m);
    return true;
}

static cJSON *tree_last(cJSON *obj)
{
    return obj->child ? obj->child->prev : NULL;
}

static bool is_ip_key(const char *k)
{
    return k[0] == 'i' && k[1] == 'p' && !k[2];
}

static bool has_ip(const cJSON *obj)
{
    for (const cJSON *m = obj->child; m; m = m->next)
        if (is_ip_key(m->string)) return true;
    return false;
}

/* Trees pass 1 built of a body: the batch-level context and integrations (objects, or NULL),
 * and whether the arena holds them (then it is not reset per event). */
typedef struct {
    cJSON *ctx, *integ;
    bool active;
} fused;

/* emit_merged on trees: obj's members, then a copy of each member of shared (an object or NULL)
 * obj lacks (the copy shares the member's value: trees are only read from here on), then, when
 * ip is given and neither had one, "ip". */
static bool tree_merge(tree_in *t, cJSON *obj, const cJSON *shared, const char *ip)
{
    cJSON *last = tree_last(obj);
    bool ip_seen = ip && has_ip(obj);
    if (shared) {
        const cJSON *own_end = last; /* obj's own members end here (NULL: none); copies follow */
        for (const cJSON *m = shared->child; m; m = m->next) {
            bool dup = false;
            for (const cJSON *o = own_end ? obj->child : NULL; o; o = o == own_end ? NULL : o->next)
                if (o->string[0] == m->string[0] && !strcmp(o->string, m->string)) {
                    dup = true;
                    break;
                }
            if (dup) continue;
            cJSON *c = tree_node(t);
            if (!c) return false;
            *c = *m;
            tree_link(obj, &last, c);
            ip_seen |= ip && is_ip_key(m->string);
        }
    }
    if (ip && !ip_seen && !tree_add_str(t, obj, &last, "ip", (char *)ip)) return false;
    return true;
}

/* The tree of a stored event, from the tree pass 1 built of its body (ev): build_event's edits of
 * the bytes made to the tree (writeKey and, for a typed path, type dropped; the batch's context
 * and integrations merged in; type, messageId, receivedAt and context.ip added, in the same
 * order), so plan_check sees what is stored. Requires keys without escapes (build_event matches
 * raw bytes). fu: the batch's trees (none for a single call). NULL when out of memory. */
static cJSON *tree_event(ingest *ig, const ingest_request *rq, cJSON *ev, const char *type,
                         const fused *fu, const built *bt)
{
    tree_in t = {.ar = ig->ar};
    const cJSON *sctx = fu->ctx, *sinteg = fu->integ;
    cJSON *last = NULL;
    bool has_mid = false, has_rat = false, has_ctx = false, has_integ = false;
    cJSON *m = ev->child;
    ev->child = NULL;
    for (cJSON *next; m; m = next) {
        next = m->next;
        switch (member_kind_str(m->string)) {
        case MK_WRITE_KEY:
            continue;
        case MK_TYPE:
            if (type) continue;
            break;
        case MK_CONTEXT:
            has_ctx = true;
            if (cJSON_IsObject(m) && !tree_merge(&t, m, sctx, rq->client_ip)) return NULL;
            break;
        case MK_INTEGRATIONS:
            has_integ = true;
            if (sinteg && cJSON_IsObject(m) && !tree_merge(&t, m, sinteg, NULL)) return NULL;
            break;
        case MK_MESSAGE_ID:
            has_mid = true;
            break;
        case MK_RECEIVED_AT:
            has_rat = true;
            break;
        default:
            break;
        }
        tree_link(ev, &last, m);
    }
    if (type && !tree_add_str(&t, ev, &last, "type", (char *)type)) return NULL;
    if (!has_mid) {
        char *id = arena_alloc(ig->ar, bt->mid_len + 1);
        if (!id) return NULL;
        memcpy(id, ig->out.p + bt->mid_off, bt->mid_len);
        id[bt->mid_len] = 0;
        if (!tree_add_str(&t, ev, &last, "messageId", id)) return NULL;
    }
    if (!has_rat && rq->received_at &&
        !tree_add_str(&t, ev, &last, "receivedAt", (char *)rq->received_at))
        return NULL;
    if (!has_ctx) {
        cJSON *c = tree_node(&t);
        if (!c) return NULL;
        c->type = cJSON_Object;
        c->string = (char *)"context";
        if (!tree_merge(&t, c, sctx, rq->client_ip)) return NULL;
        tree_link(ev, &last, c);
    }
    if (!has_integ && sinteg) {
        cJSON *c = tree_node(&t);
        if (!c) return NULL;
        *c = *sinteg;
        c->string = (char *)"integrations";
        tree_link(ev, &last, c);
    }
    return ev;
}

/* Builds, checks and records one event. index < 0 for single calls. item_tree: the tree pass 1
 * built of item (in the arena), or NULL; fu: the body's other trees (fu->active: the arena holds
 * them, so it is not reset here). */
static int do_event(ingest *ig, const plan *p, const ingest_request *rq, slice item,
                    const batch_shared *bs, const char *type, long index, cJSON *item_tree,
                    const fused *fu, ingest_result *res)
{
    if (item.n > ig->lim.max_event_bytes) {
        if (index >= 0)
            set_error(res, 413, "max_event_bytes",
                      "batch[%ld] is %zu bytes, over max-event-bytes (%zu)", index, item.n,
                      ig->lim.max_event_bytes);
        else
            set_error(res, 413, "max_event_bytes", "event is %zu bytes, over max-event-bytes (%zu)",
                      item.n, ig->lim.max_event_bytes);
        return 0;
    }
    built bt;
    size_t start = ig->out.n;
    build_event(ig, rq, item, bs, type, &bt);
    if (ig->out.oom) return SL_ENOMEM;
    size_t len = ig->out.n - start;

    arena *prev = arena_set_current(ig->ar);
    int rc = 0;
    cJSON *ev = item_tree ? tree_event(ig, rq, item_tree, type, fu, &bt) : NULL;
    if (ev) {
        res->nfused++;
    } else {
        if (!fu->active) arena_reset(ig->ar);
        ev = tree_build(ig->ar, ig->out.p + start, len);
    }
    if (!ev) {
        if (!fu->active) arena_reset(ig->ar);
        ev = cJSON_ParseWithLength(ig->out.p + start, len);
    }
    if (!ev) {
        rc = SL_ENOMEM;
        goto out;
    }
    int nerr =
        rq->check ? rq->check(p, ev, ig->pctx, &ig->vl) : plan_check(p, ev, ig->pctx, &ig->vl);
    if (nerr < 0) {
        rc = nerr;
        goto out;
    }
    res->nevents++;
    for (size_t k = 0; k < ig->vl.n; k++)
        res->kinds[ig->vl.items[k].kind]++;
    size_t vio_off = 0, vio_len = 0;
    if (ig->vl.n || rq->dry_run) {
        char *vj = vio_list_to_json(&ig->vl);
        if (!vj) {
            rc = SL_ENOMEM;
            goto out;
        }
        vio_off = ig->out.n;
        sl_buf_puts(&ig->out, vj);
        vio_len = ig->out.n - vio_off;
        cJSON_free(vj);
    }
    /* The violations JSON is the last thing appended, so still NUL-terminated here. */
    if (rq->on_event)
        rq->on_event(rq->on_event_ud, ev, &ig->vl,
                     ig->vl.n && !ig->out.oom ? ig->out.p + vio_off : NULL, ig->out.p + start, len);
    if (rq->dry_run) {
        sl_buf *r = &ig->report;
        if (res->nevents > 1) sl_buf_putc(r, ',');
        sl_buf_printf(r, "{\"index\":%ld", index < 0 ? 0 : index);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
        if (cJSON_IsString(t)) {
            sl_buf_puts(r, ",\"type\":");
            sl_buf_json_str(r, t->valuestring, strlen(t->valuestring));
        }
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "event");
        if (cJSON_IsString(e)) {
            sl_buf_puts(r, ",\"event\":");
            sl_buf_json_str(r, e->valuestring, strlen(e->valuestring));
        }
        sl_buf_printf(r, ",\"valid\":%s,\"violations\":", nerr ? "false" : "true");
        sl_buf_put(r, ig->out.p + vio_off, vio_len);
        sl_buf_putc(r, '}');
    }
    if (nerr)
        res->ninvalid++;
    else
        res->nvalid++;

    entry_ref *er = push_ref(ig);
    if (!er) {
        rc = SL_ENOMEM;
        goto out;
    }
    er->ev_off = start, er->ev_len = len;
    er->mid_off = bt.mid_off, er->mid_len = bt.mid_len;
    er->invalid = nerr > 0;
    if (nerr) er->has_vio = true, er->vio_off = vio_off, er->vio_len = vio_len;

    if (nerr && plan_get_policy(p)->on_violation == PLAN_FORWARD && bt.ctx_close) {
        /* Also to the events stream, with the violations under context.violations. */
        size_t need = len + vio_len + 16;
        if (!sl_buf_reserve(&ig->out, need)) {
            rc = SL_ENOMEM;
            goto out;
        }
        size_t fstart = ig->out.n;
        size_t head = bt.ctx_close - start;
        char *o = ig->out.p;
        memcpy(o + fstart, o + start, head);
        ig->out.n += head;
        sl_buf_puts(&ig->out, bt.ctx_nonempty ? ",\"violations\":" : "\"violations\":");
        sl_buf_put(&ig->out, ig->out.p + vio_off, vio_len);
        sl_buf_put(&ig->out, ig->out.p + bt.ctx_close, len - head);
        entry_ref *fr = push_ref(ig);
        if (!fr) {
            rc = SL_ENOMEM;
            goto out;
        }
        fr->ev_off = fstart, fr->ev_len = ig->out.n - fstart;
        fr->mid_off = bt.mid_off, fr->mid_len = bt.mid_len;
    }
    if (ig->out.oom || ig->report.oom) rc = SL_ENOMEM;
out:
    /* ev lives in the arena: the reset frees it whole (no per-node cJSON_Delete walk). */
    arena_set_current(prev);
    if (!fu->active) arena_reset(ig->ar);
    return rc;
}

/* Copies at most max bytes of s, cut at a UTF-8 character boundary, "..." when cut. */
static void copy_cut(char *dst, const char *s, size_t n, size_t max)
{
    size_t cut = n;
    if (n > max) {
        cut = max;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    memcpy(dst, s, cut);
    strcpy(dst + cut, n > cut ? "..." : "");
}

/* The JSON Pointer of the scanner's error (", in /batch/3/properties"), or "" at the top. */
static void error_pointer(const jscan *j, char *dst, size_t cap)
{
    size_t o = 0;
    dst[0] = 0;
    for (size_t d = 0; d < j->err_depth; d++) {
        const jpath *pe = &j->ig->path[d];
        char seg[160];
        size_t sl = 0;
        if (pe->arr) {
            sl = (size_t)snprintf(seg, sizeof seg, "/%zu", pe->idx);
        } else if (pe->k) {
            char key[72];
            copy_cut(key, pe->k, pe->kn, 64);
            seg[0] = '/'; /* key: at most 64 bytes and "...", so 2 * 67 + 1 < sizeof seg */
            sl = (size_t)(sl_ptr_escape(seg + 1, key, strlen(key)) - seg);
        } else {
            break;
        }
        if (o + sl + 8 >= cap) {
            if (o + 5 < cap) memcpy(dst + o, "/...", 4), o += 4;
            break;
        }
        if (o == 0) memcpy(dst, ", in ", 5), o = 5;
        memcpy(dst + o, seg, sl);
        o += sl;
    }
    dst[o] = 0;
}

static void syntax_error(const char *body, size_t len, const jscan *j, ingest_result *res)
{
    size_t line = 1, col = 1, at = j->i < len ? j->i : len;
    for (size_t k = 0; k < at; k++) {
        if (body[k] == '\n')
            line++, col = 1;
        else
            col++;
    }
    char ptr[200], key[72];
    error_pointer(j, ptr, sizeof ptr);
    if (j->dup_key) {
        copy_cut(key, j->dup_key, j->dup_len, 64);
        set_error(res, 400, NULL,
                  "invalid JSON at line %zu, column %zu (byte %zu)%s: duplicate key \"%s\" "
                  "(keys must be unique)",
                  line, col, at, ptr, key);
        return;
    }
    const char *what = j->err ? j->err : "syntax error";
    if (at < len && body[at] == 0 && !j->semantic) what = "unexpected NUL byte";
    set_error(res, 400, NULL, "%s at line %zu, column %zu (byte %zu)%s: %s",
              j->semantic ? "invalid JSON" : "malformed JSON", line, col, at, ptr, what);
}

int ingest_run(ingest *ig, const plan *p, const ingest_request *rq, ingest_result *res)
{
    memset(res, 0, sizeof *res);
    ig->out.n = 0;
    ig->out.oom = false;
    ig->report.n = 0;
    ig->report.oom = false;
    ig->nrefs = 0;
    if (rq->len > ig->lim.max_batch_bytes) {
        set_error(res, 413, "max_batch_bytes", "body is %zu bytes, over max-batch-bytes (%zu)",
                  rq->len, ig->lim.max_batch_bytes);
        return 0;
    }
    jscan j = {.s = rq->body, .n = rq->len, .max_depth = ig->lim.max_depth, .ig = ig};
    /* The body becomes its cJSON tree during pass 1: a copy of the body in the arena, at the same
     * offsets, holds the decoded strings. do_event then edits each event's tree as build_event
     * edits its bytes, instead of parsing the stored event a second time. Bounded: bodies up to
     * INGEST_FUSED_MAX, one node per 6 bytes (JSON averages one per 8 to 10; a body denser than
     * that falls back to parsing each stored event). */
    tree_in bt_in = {0};
    cJSON *body_tree = NULL; /* the arena is empty: every ingest_run resets it on its way out */
    if (rq->len <= INGEST_FUSED_MAX) {
        bt_in = (tree_in){.s = arena_alloc(ig->ar, rq->len + 1),
                          .n = rq->len,
                          .ar = ig->ar,
                          .budget = rq->len / 6 + 2 * TREE_POOL};
        if (bt_in.s) {
            memcpy(bt_in.s, rq->body, rq->len);
            bt_in.s[rq->len] = 0;
            body_tree = tree_node(&bt_in);
            if (body_tree) j.t = &bt_in;
        }
    }
    if (++ig->kt_gen == 0) { /* generations wrapped: clear the table for real */
        if (ig->kt) memset(ig->kt, 0, ig->kt_cap * sizeof *ig->kt);
        ig->kt_gen = 1;
    }
    ig->kt_n = 0;
    ig->ks_n = 0;
    ig->keydec.n = 0;
    ig->keydec.oom = false;
    ig->nspans = 0;
    ig->span_hint = 0;
    ig->spans_ok = true;
    ig->nmems = 1; /* slot 0 means "none" */
    ig->mems_ok = rq->len < UINT32_MAX;
    ig->sbody = rq->body;
    ig->sbody_n = rq->len;
    js_ws(&j);
    if (js_value(&j, 0, body_tree) == 0) {
        js_ws(&j);
        if (j.i != j.n) js_fail(&j, "unexpected data after the JSON value");
    }
    int rc = 0; /* from here on every way out passes `done`, which resets the arena */
    if (j.err) {
        if (!strcmp(j.err, "out of memory")) {
            rc = SL_ENOMEM;
        } else if (!strcmp(j.err, "nesting deeper than max-depth")) {
            char ptr[200];
            error_pointer(&j, ptr, sizeof ptr);
            set_error(res, 413, "max_depth",
                      "JSON nesting deeper than max-depth (%zu) at byte %zu%s", ig->lim.max_depth,
                      j.i, ptr);
        } else {
            syntax_error(rq->body, rq->len, &j, res);
        }
        goto done;
    }
    slice body = {rq->body + ws_skip(rq->body, rq->len, 0), 0};
    body.n = (size_t)(rq->body + rq->len - body.p);
    while (body.n && strchr(" \t\r\n", body.p[body.n - 1]))
        body.n--;
    if (!is_object(body)) {
        set_error(res, 400, NULL, "the body must be a JSON object");
        goto done;
    }

    /* Keys with escapes: build_event compares raw key bytes, so the edits could differ. */
    if (j.tree_failed || j.key_esc) body_tree = NULL;

    /* Top-level members: writeKey, and for batches batch/context/integrations (with their trees:
     * body_tree's children come in the same order). */
    slice batch = {0};
    batch_shared bs = {{0}, {0}};
    cJSON *tx = body_tree ? body_tree->child : NULL, *tbatch = NULL, *tctx = NULL, *tinteg = NULL;
    iter it;
    member m;
    it_init(&it, ig, body);
    for (; it_next_member(&it, &m); tx = tx ? tx->next : NULL) {
        int kind = member_kind(m.key);
        if (kind == MK_WRITE_KEY && m.val.p[0] == '"') {
            res->write_key = m.val.p + 1;
            res->write_key_len = m.val.n - 2;
        } else if (kind == MK_BATCH) {
            batch = m.val, tbatch = tx;
        } else if (kind == MK_CONTEXT) {
            bs.ctx = m.val, tctx = tx;
        } else if (kind == MK_INTEGRATIONS) {
            bs.integ = m.val, tinteg = tx;
        }
    }
    bool is_batch = rq->call == INGEST_BATCH || (rq->call == INGEST_ANY && batch.p);
    if (rq->dry_run) sl_buf_puts(&ig->report, "\"results\":[");
    fused fu = {NULL, NULL, body_tree && is_batch};
    if (!is_batch) {
        const char *type = rq->call == INGEST_ANY ? NULL : ingest_call_name(rq->call);
        rc = do_event(ig, p, rq, body, NULL, type, -1, body_tree, &fu, res);
    } else {
        if (!batch.p || batch.p[0] != '[') {
            set_error(res, 400, NULL, "\"batch\" must be an array of events");
            goto done;
        }
        if (!is_object(bs.ctx)) bs.ctx = (slice){0};
        if (!is_object(bs.integ)) bs.integ = (slice){0};
        cJSON *items = fu.active && tbatch ? tbatch->child : NULL;
        if (fu.active) {
            fu.ctx = bs.ctx.n ? tctx : NULL;
            fu.integ = bs.integ.n ? tinteg : NULL;
        }
        iter bi;
        slice item;
        size_t count = 0;
        it_init(&bi, ig, batch);
        while (it_next_item(&bi, &item))
            count++;
        if (count > ig->lim.max_batch_events) {
            set_error(res, 413, "max_batch_events",
                      "batch has %zu events, over max-batch-events (%zu)", count,
                      ig->lim.max_batch_events);
            goto done;
        }
        it_init(&bi, ig, batch);
        long idx = 0;
        while (!rc && !res->status && it_next_item(&bi, &item)) {
            if (!is_object(item)) {
                set_error(res, 400, NULL, "batch[%ld] is not a JSON object", idx);
                break;
            }
            rc = do_event(ig, p, rq, item, &bs, NULL, idx, items, &fu, res);
            if (items) items = items->next;
            idx++;
        }
    }
done:
    arena_reset(ig->ar); /* pass 1's trees, whatever the outcome */
    if (rc || res->status) {
        res->nentries = 0;
        return rc;
    }
    /* Offsets -> pointers, now that the output buffer no longer moves. */
    for (size_t k = 0; k < ig->nrefs; k++) {
        entry_ref *r = &ig->refs[k];
        sink_entry *e = &ig->entries[k];
        e->invalid = r->invalid;
        e->event_json = ig->out.p + r->ev_off;
        e->event_len = r->ev_len;
        e->violations_json = r->has_vio ? ig->out.p + r->vio_off : NULL;
        e->violations_len = r->has_vio ? r->vio_len : 0;
        e->message_id = r->mid_len ? ig->out.p + r->mid_off : NULL;
        e->message_id_len = r->mid_len;
    }
    res->entries = ig->entries;
    res->nentries = ig->nrefs;
    if (rq->dry_run) {
        sl_buf_putc(&ig->report, ']');
        /* Prefix the summary: build the final report in front of the results. */
        char head[160];
        int hn = snprintf(head, sizeof head,
                          "{\"success\":true,\"dry_run\":true,\"events\":%zu,\"valid\":%zu,"
                          "\"invalid\":%zu,",
                          res->nevents, res->nvalid, res->ninvalid);
        if (!sl_buf_reserve(&ig->report, (size_t)hn + 1)) return SL_ENOMEM;
        memmove(ig->report.p + hn, ig->report.p, ig->report.n);
        memcpy(ig->report.p, head, (size_t)hn);
        ig->report.n += (size_t)hn;
        sl_buf_putc(&ig->report, '}');
        if (ig->report.oom) return SL_ENOMEM;
        res->report = ig->report.p;
        res->report_len = ig->report.n;
    }
    return 0;
}
