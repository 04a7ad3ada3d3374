/* ingest.c - request body -> events -> plan check -> sink entries (see ingest.h).
 *
 * Two passes over the body: (1) a validating scanner with a depth bound, which reports the first
 * syntax error as line/column/byte; (2) non-validating member iteration over the now known-good
 * bytes, which splices each event into the output buffer member by member. Each finished event is
 * parsed once by cJSON (allocating from a per-worker arena) for plan_check. */
#include "ingest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "arena.h"

/* ---- growable byte buffer ------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} dbuf;

static bool db_reserve(dbuf *b, size_t extra)
{
    if (b->n + extra <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = true;
        return false;
    }
    b->p = np;
    b->cap = cap;
    return true;
}

static void db_put(dbuf *b, const char *s, size_t n)
{
    if (!db_reserve(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void db_puts(dbuf *b, const char *s)
{
    db_put(b, s, strlen(s));
}
static void db_putc(dbuf *b, char c)
{
    db_put(b, &c, 1);
}

static void db_printf(dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void db_printf(dbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !db_reserve(b, (size_t)n + 1)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

/* JSON string contents (no quotes). */
static void db_escape(dbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            db_putc(b, '\\');
            db_putc(b, (char)c);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            db_put(b, e, 6);
        } else {
            db_putc(b, (char)c);
        }
    }
}

/* ---- the ingest object ---------------------------------------------------------------- */

typedef struct {
    size_t ev_off, ev_len; /* into out */
    size_t vio_off, vio_len;
    size_t mid_off, mid_len;
    bool invalid, has_vio;
} entry_ref;

struct ingest {
    ingest_limits lim;
    plan_ctx *pctx;
    arena *ar;
    vio_list vl;
    dbuf out;    /* event bytes, violation arrays, message ids */
    dbuf report; /* dry-run report */
    dbuf inflated;
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
    if (!ig->pctx || !ig->ar) {
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
    free(ig->out.p);
    free(ig->report.p);
    free(ig->inflated.p);
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
    dbuf *b = &ig->inflated;
    b->n = 0;
    ig->zs.next_in = (unsigned char *)src;
    ig->zs.avail_in = (uInt)n;
    for (;;) {
        size_t room = b->cap - b->n;
        if (room == 0) {
            if (b->n > cap) return SL_ELIMIT;
            if (!db_reserve(b, b->cap ? b->cap : 16384)) return SL_ENOMEM;
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

/* ---- pass 1: validating scanner --------------------------------------------------------- */

typedef struct {
    const char *s;
    size_t n, i;
    size_t max_depth;
    const char *err;
} jscan;

static void js_ws(jscan *j)
{
    while (j->i < j->n) {
        char c = j->s[j->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        j->i++;
    }
}

static int js_fail(jscan *j, const char *msg)
{
    if (!j->err) j->err = msg;
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int js_string(jscan *j)
{
    j->i++; /* opening quote */
    while (j->i < j->n) {
        unsigned char c = (unsigned char)j->s[j->i];
        if (c == '"') {
            j->i++;
            return 0;
        }
        if (c < 0x20) return js_fail(j, "control character in string");
        if (c == '\\') {
            if (++j->i >= j->n) break;
            char e = j->s[j->i];
            if (e == 'u') {
                if (j->i + 4 >= j->n) break;
                for (int k = 1; k <= 4; k++)
                    if (hexval(j->s[j->i + (size_t)k]) < 0) return js_fail(j, "bad \\u escape");
                j->i += 4;
            } else if (!strchr("\"\\/bfnrt", e) || !e) {
                return js_fail(j, "bad escape in string");
            }
        }
        j->i++;
    }
    return js_fail(j, "unterminated string");
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
    if (i < j->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < j->n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= j->n || s[i] < '0' || s[i] > '9') {
            j->i = i;
            return js_fail(j, "bad number: digit expected in exponent");
        }
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
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

static int js_value(jscan *j, size_t depth)
{
    js_ws(j);
    if (j->i >= j->n) return js_fail(j, "unexpected end of input");
    char c = j->s[j->i];
    switch (c) {
    case '{':
    case '[': {
        if (depth >= j->max_depth) return js_fail(j, "nesting deeper than max-depth");
        char close = c == '{' ? '}' : ']';
        j->i++;
        js_ws(j);
        if (j->i < j->n && j->s[j->i] == close) {
            j->i++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                js_ws(j);
                if (j->i >= j->n) return js_fail(j, "unexpected end of input");
                if (j->s[j->i] != '"') return js_fail(j, "expected a string key");
                if (js_string(j)) return -1;
                js_ws(j);
                if (j->i >= j->n || j->s[j->i] != ':') return js_fail(j, "expected ':'");
                j->i++;
            }
            if (js_value(j, depth + 1)) return -1;
            js_ws(j);
            if (j->i >= j->n) return js_fail(j, "unexpected end of input");
            if (j->s[j->i] == ',') {
                j->i++;
                continue;
            }
            if (j->s[j->i] == close) {
                j->i++;
                return 0;
            }
            return js_fail(j, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    case '"':
        return js_string(j);
    case 't':
        return js_lit(j, "true");
    case 'f':
        return js_lit(j, "false");
    case 'n':
        return js_lit(j, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return js_number(j);
        return js_fail(j, "unexpected character");
    }
}

/* ---- pass 2: iteration over validated JSON ---------------------------------------------- */

static size_t sk_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* i at a value's first byte; returns the index after it. Input is known valid. */
static size_t sk_value(const char *s, size_t n, size_t i)
{
    if (s[i] == '"') {
        for (i++; i < n; i++) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                return i + 1;
        }
        return n;
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
} iter;

typedef struct {
    slice raw; /* "key" : value, from the key's quote to the value's end */
    slice key; /* between the quotes, raw (escapes not decoded) */
    slice val;
} member;

/* v: an object or array value slice. */
static void it_init(iter *it, slice v)
{
    it->s = v.p;
    it->n = v.n;
    it->i = 1;
}

static bool it_next_member(iter *it, member *m)
{
    size_t i = sk_ws(it->s, it->n, it->i);
    if (i < it->n && it->s[i] == ',') i = sk_ws(it->s, it->n, i + 1);
    if (i >= it->n || it->s[i] != '"') return false;
    size_t ks = i;
    size_t ke = sk_value(it->s, it->n, i);
    i = sk_ws(it->s, it->n, ke);
    i = sk_ws(it->s, it->n, i + 1); /* ':' */
    size_t ve = sk_value(it->s, it->n, i);
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
    size_t i = sk_ws(it->s, it->n, it->i);
    if (i < it->n && it->s[i] == ',') i = sk_ws(it->s, it->n, i + 1);
    if (i >= it->n || it->s[i] == ']') return false;
    size_t e = sk_value(it->s, it->n, i);
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

static bool is_object(slice v)
{
    return v.n && v.p[0] == '{';
}

static bool obj_has_key(slice obj, slice key)
{
    if (!is_object(obj)) return false;
    iter it;
    member m;
    it_init(&it, obj);
    while (it_next_member(&it, &m))
        if (m.key.n == key.n && !memcmp(m.key.p, key.p, key.n)) return true;
    return false;
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

static void put_sep(dbuf *b, size_t *count)
{
    if ((*count)++) db_putc(b, ',');
}

/* Emits item's object merged with the batch's (item members win) and, when add_ip, "ip". */
static void emit_merged(ingest *ig, slice item, slice shared, const char *ip, built *bt,
                        bool is_ctx)
{
    dbuf *o = &ig->out;
    size_t count = 0;
    bool ip_seen = false;
    iter it;
    member m;
    db_putc(o, '{');
    if (is_object(item)) {
        it_init(&it, item);
        while (it_next_member(&it, &m)) {
            put_sep(o, &count);
            db_put(o, m.raw.p, m.raw.n);
            if (key_is(m.key, "ip")) ip_seen = true;
        }
    }
    if (is_object(shared)) {
        it_init(&it, shared);
        while (it_next_member(&it, &m)) {
            if (obj_has_key(item, m.key)) continue;
            put_sep(o, &count);
            db_put(o, m.raw.p, m.raw.n);
            if (key_is(m.key, "ip")) ip_seen = true;
        }
    }
    if (is_ctx && ip && !ip_seen) {
        put_sep(o, &count);
        db_puts(o, "\"ip\":\"");
        db_escape(o, ip, strlen(ip));
        db_putc(o, '"');
    }
    if (is_ctx) {
        bt->ctx_close = o->n;
        bt->ctx_nonempty = count > 0;
    }
    db_putc(o, '}');
}

static void build_event(ingest *ig, const ingest_request *rq, slice item, const batch_shared *bs,
                        const char *type, built *bt)
{
    dbuf *o = &ig->out;
    size_t count = 0;
    bool has_mid = false, has_rat = false, has_ctx = false, has_integ = false;
    iter it;
    member m;
    memset(bt, 0, sizeof *bt);
    db_putc(o, '{');
    it_init(&it, item);
    while (it_next_member(&it, &m)) {
        if (key_is(m.key, "writeKey")) continue;
        if (type && key_is(m.key, "type")) continue;
        if (key_is(m.key, "context") && is_object(m.val)) {
            has_ctx = true;
            put_sep(o, &count);
            db_puts(o, "\"context\":");
            emit_merged(ig, m.val, bs ? bs->ctx : (slice){0}, rq->client_ip, bt, true);
            continue;
        }
        if (key_is(m.key, "integrations") && bs && is_object(bs->integ) && is_object(m.val)) {
            has_integ = true;
            put_sep(o, &count);
            db_puts(o, "\"integrations\":");
            emit_merged(ig, m.val, bs->integ, NULL, bt, false);
            continue;
        }
        if (key_is(m.key, "context")) has_ctx = true;
        if (key_is(m.key, "integrations")) has_integ = true;
        put_sep(o, &count);
        if (key_is(m.key, "messageId")) {
            has_mid = true;
            size_t vstart = o->n + (size_t)(m.val.p - m.raw.p);
            db_put(o, m.raw.p, m.raw.n);
            if (m.val.p[0] == '"')
                bt->mid_off = vstart + 1, bt->mid_len = m.val.n - 2;
            else
                bt->mid_off = vstart, bt->mid_len = m.val.n;
            continue;
        }
        if (key_is(m.key, "receivedAt")) has_rat = true;
        db_put(o, m.raw.p, m.raw.n);
    }
    if (type) {
        put_sep(o, &count);
        db_printf(o, "\"type\":\"%s\"", type);
    }
    if (!has_mid) {
        char id[37];
        ingest_uuid(ig, id);
        put_sep(o, &count);
        db_puts(o, "\"messageId\":\"");
        bt->mid_off = o->n;
        bt->mid_len = 36;
        db_put(o, id, 36);
        db_putc(o, '"');
    }
    if (!has_rat && rq->received_at) {
        put_sep(o, &count);
        db_printf(o, "\"receivedAt\":\"%s\"", rq->received_at);
    }
    if (!has_ctx) {
        put_sep(o, &count);
        db_puts(o, "\"context\":");
        emit_merged(ig, (slice){0}, bs ? bs->ctx : (slice){0}, rq->client_ip, bt, true);
    }
    if (!has_integ && bs && bs->integ.n) {
        put_sep(o, &count);
        db_puts(o, "\"integrations\":");
        db_put(o, bs->integ.p, bs->integ.n);
    }
    db_putc(o, '}');
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

/* Builds, checks and records one event. index < 0 for single calls. */
static int do_event(ingest *ig, const plan *p, const ingest_request *rq, slice item,
                    const batch_shared *bs, const char *type, long index, ingest_result *res)
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

    arena_reset(ig->ar);
    arena *prev = arena_set_current(ig->ar);
    int rc = 0;
    cJSON *ev = cJSON_ParseWithLength(ig->out.p + start, len);
    if (!ev) {
        rc = SL_ENOMEM;
        goto out;
    }
    int nerr = plan_check(p, ev, ig->pctx, &ig->vl);
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
        db_puts(&ig->out, vj);
        vio_len = ig->out.n - vio_off;
        cJSON_free(vj);
    }
    if (rq->dry_run) {
        dbuf *r = &ig->report;
        if (res->nevents > 1) db_putc(r, ',');
        db_printf(r, "{\"index\":%ld", index < 0 ? 0 : index);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
        if (cJSON_IsString(t)) {
            db_puts(r, ",\"type\":\"");
            db_escape(r, t->valuestring, strlen(t->valuestring));
            db_putc(r, '"');
        }
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "event");
        if (cJSON_IsString(e)) {
            db_puts(r, ",\"event\":\"");
            db_escape(r, e->valuestring, strlen(e->valuestring));
            db_putc(r, '"');
        }
        db_printf(r, ",\"valid\":%s,\"violations\":", nerr ? "false" : "true");
        db_put(r, ig->out.p + vio_off, vio_len);
        db_putc(r, '}');
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
        if (!db_reserve(&ig->out, need)) {
            rc = SL_ENOMEM;
            goto out;
        }
        size_t fstart = ig->out.n;
        size_t head = bt.ctx_close - start;
        char *o = ig->out.p;
        memcpy(o + fstart, o + start, head);
        ig->out.n += head;
        db_puts(&ig->out, bt.ctx_nonempty ? ",\"violations\":" : "\"violations\":");
        db_put(&ig->out, ig->out.p + vio_off, vio_len);
        db_put(&ig->out, ig->out.p + bt.ctx_close, len - head);
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
    cJSON_Delete(ev);
    arena_set_current(prev);
    arena_reset(ig->ar);
    return rc;
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
    set_error(res, 400, NULL, "malformed JSON at line %zu, column %zu (byte %zu): %s", line, col,
              at, j->err ? j->err : "syntax error");
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
    jscan j = {.s = rq->body, .n = rq->len, .max_depth = ig->lim.max_depth};
    if (js_value(&j, 0) == 0) {
        js_ws(&j);
        if (j.i != j.n) js_fail(&j, "unexpected data after the JSON value");
    }
    if (j.err) {
        if (!strcmp(j.err, "nesting deeper than max-depth")) {
            set_error(res, 413, "max_depth", "JSON nesting deeper than max-depth (%zu) at byte %zu",
                      ig->lim.max_depth, j.i);
            return 0;
        }
        syntax_error(rq->body, rq->len, &j, res);
        return 0;
    }
    slice body = {rq->body + sk_ws(rq->body, rq->len, 0), 0};
    body.n = (size_t)(rq->body + rq->len - body.p);
    while (body.n && strchr(" \t\r\n", body.p[body.n - 1]))
        body.n--;
    if (!is_object(body)) {
        set_error(res, 400, NULL, "the body must be a JSON object");
        return 0;
    }

    /* Top-level members: writeKey, and for batches batch/context/integrations. */
    slice batch = {0};
    batch_shared bs = {{0}, {0}};
    iter it;
    member m;
    it_init(&it, body);
    while (it_next_member(&it, &m)) {
        if (key_is(m.key, "writeKey") && m.val.p[0] == '"') {
            res->write_key = m.val.p + 1;
            res->write_key_len = m.val.n - 2;
        } else if (key_is(m.key, "batch")) {
            batch = m.val;
        } else if (key_is(m.key, "context")) {
            bs.ctx = m.val;
        } else if (key_is(m.key, "integrations")) {
            bs.integ = m.val;
        }
    }
    bool is_batch = rq->call == INGEST_BATCH || (rq->call == INGEST_ANY && batch.p);
    if (rq->dry_run) db_puts(&ig->report, "\"results\":[");
    int rc = 0;
    if (!is_batch) {
        const char *type = rq->call == INGEST_ANY ? NULL : ingest_call_name(rq->call);
        rc = do_event(ig, p, rq, body, NULL, type, -1, res);
    } else {
        if (!batch.p || batch.p[0] != '[') {
            set_error(res, 400, NULL, "\"batch\" must be an array of events");
            return 0;
        }
        if (!is_object(bs.ctx)) bs.ctx = (slice){0};
        if (!is_object(bs.integ)) bs.integ = (slice){0};
        iter bi;
        slice item;
        size_t count = 0;
        it_init(&bi, batch);
        while (it_next_item(&bi, &item))
            count++;
        if (count > ig->lim.max_batch_events) {
            set_error(res, 413, "max_batch_events",
                      "batch has %zu events, over max-batch-events (%zu)", count,
                      ig->lim.max_batch_events);
            return 0;
        }
        it_init(&bi, batch);
        long idx = 0;
        while (!rc && !res->status && it_next_item(&bi, &item)) {
            if (!is_object(item)) {
                set_error(res, 400, NULL, "batch[%ld] is not a JSON object", idx);
                break;
            }
            rc = do_event(ig, p, rq, item, &bs, NULL, idx, res);
            idx++;
        }
    }
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
        db_putc(&ig->report, ']');
        /* Prefix the summary: build the final report in front of the results. */
        char head[160];
        int hn = snprintf(head, sizeof head,
                          "{\"success\":true,\"dry_run\":true,\"events\":%zu,\"valid\":%zu,"
                          "\"invalid\":%zu,",
                          res->nevents, res->nvalid, res->ninvalid);
        if (!db_reserve(&ig->report, (size_t)hn + 1)) return SL_ENOMEM;
        memmove(ig->report.p + hn, ig->report.p, ig->report.n);
        memcpy(ig->report.p, head, (size_t)hn);
        ig->report.n += (size_t)hn;
        db_putc(&ig->report, '}');
        if (ig->report.oom) return SL_ENOMEM;
        res->report = ig->report.p;
        res->report_len = ig->report.n;
    }
    return 0;
}
