/* snowplow.c - Snowplow's tracker protocol (see snowplow.h). Not on the Segment hot path: a
 * Snowplow request is parsed with cJSON, rewritten as a Segment-shaped batch and then read by
 * ingest like any other body. */
#include "snowplow.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "http.h"
#include "sl_buf.h"
#include "sl_err.h"

struct sp_decoder {
    sl_buf out;
    char *tmp; /* decoding scratch for percent- and base64-encoded values */
    size_t tmpcap;
    uint64_t rng; /* xorshift64 state for network user ids */
};

sp_decoder *sp_decoder_new(void)
{
    sp_decoder *d = calloc(1, sizeof(sp_decoder));
    if (!d) return NULL;
    if (getrandom(&d->rng, sizeof d->rng, 0) != sizeof d->rng) d->rng = (uint64_t)time(NULL);
    d->rng |= 1;
    return d;
}

/* A random UUIDv4 into dst[37]: the network user id Snowplow's collector gives a request that has
 * none (not cryptographic: an identifier, not a secret). */
static void new_uuid(sp_decoder *d, char dst[37])
{
    unsigned char b[16];
    for (int i = 0; i < 16; i += 8) {
        d->rng ^= d->rng << 13, d->rng ^= d->rng >> 7, d->rng ^= d->rng << 17;
        memcpy(b + i, &d->rng, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hx[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) dst[o++] = '-';
        dst[o++] = hx[b[i] >> 4];
        dst[o++] = hx[b[i] & 15];
    }
    dst[o] = 0;
}

void sp_decoder_free(sp_decoder *d)
{
    if (!d) return;
    sl_buf_free(&d->out);
    free(d->tmp);
    free(d);
}

static bool tmp_reserve(sp_decoder *d, size_t n)
{
    if (n <= d->tmpcap) return true;
    char *t = realloc(d->tmp, n);
    if (!t) return false;
    d->tmp = t;
    d->tmpcap = n;
    return true;
}

/* ---- decoding ----------------------------------------------------------------------------- */

static int b64v(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Base64 or base64url, padded or not, into dst (at least n bytes). Returns the length or -1. */
static long b64_decode(const char *s, size_t n, char *dst)
{
    while (n && s[n - 1] == '=')
        n--;
    if (n % 4 == 1) return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64v((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    return (long)o;
}

/* Decoded self-describing JSON of a ue_pr/co (plain) or ue_px/cx (base64) parameter; NULL with
 * why set when it is not JSON. Caller deletes. */
static cJSON *decode_sd(sp_decoder *d, const char *v, bool b64, const char **why)
{
    size_t n = strlen(v);
    const char *json = v;
    size_t jl = n;
    if (b64) {
        if (!tmp_reserve(d, n + 1)) {
            *why = "out of memory";
            return NULL;
        }
        long l = b64_decode(v, n, d->tmp);
        if (l < 0) {
            *why = "not base64url";
            return NULL;
        }
        json = d->tmp;
        jl = (size_t)l;
    }
    cJSON *x = cJSON_ParseWithLength(json, jl);
    if (!x) *why = b64 ? "base64url-decoded value is not JSON" : "value is not JSON";
    return x;
}

/* ---- building one event ------------------------------------------------------------------ */

static const char *pstr(const cJSON *params, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static bool parse_num(const char *s, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || v != v) return false;
    *out = v;
    return true;
}

static bool parse_int(const char *s, long long *out)
{
    if (!s || !*s) return false;
    const char *c = s + (*s == '-');
    if (!*c) return false;
    for (; *c; c++)
        if (!isdigit((unsigned char)*c)) return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE) return false;
    *out = v;
    return true;
}

/* Epoch milliseconds -> ISO-8601 UTC; false when not a plausible time. */
static bool iso_ms(const char *ms, char dst[48])
{
    long long v;
    if (!parse_int(ms, &v) || v < 0 || v > 253402300799999LL) return false;
    time_t sec = (time_t)(v / 1000);
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) return false;
    snprintf(dst, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(v % 1000));
    return true;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v) cJSON_AddStringToObject(o, k, v);
}

/* A property from a parameter: a number when the protocol says numeric and it parses. */
static void add_prop(cJSON *props, const char *k, const cJSON *params, const char *pk, bool num)
{
    const char *v = pstr(params, pk);
    double x;
    if (!v) return;
    if (num && parse_num(v, &x))
        cJSON_AddNumberToObject(props, k, x);
    else
        cJSON_AddStringToObject(props, k, v);
}

static void decode_error(cJSON *sn, const char *param, const char *why)
{
    cJSON *errs = cJSON_GetObjectItemCaseSensitive(sn, "decode_errors");
    if (!errs) errs = cJSON_AddArrayToObject(sn, "decode_errors");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "param", param);
    cJSON_AddStringToObject(e, "error", why);
    cJSON_AddItemToArray(errs, e);
}

/* The self-describing JSON of plain parameter `pk` or base64 parameter `bk` under sn[name]. */
static cJSON *attach_sd(sp_decoder *d, cJSON *sn, const cJSON *params, const char *pk,
                        const char *bk, const char *name)
{
    const char *v = pstr(params, pk);
    bool b64 = false;
    if (!v && (v = pstr(params, bk))) b64 = true;
    if (!v) return NULL;
    const char *why = NULL;
    cJSON *x = decode_sd(d, v, b64, &why);
    if (!x) {
        decode_error(sn, b64 ? bk : pk, why);
        return NULL;
    }
    cJSON_AddItemToObject(sn, name, x);
    return x;
}

/* One tracker event (params: an object of strings, taken) -> a Segment-shaped event. */
static cJSON *build_event(sp_decoder *d, cJSON *params, const sp_options *o)
{
    if (o->anonymous) {
        cJSON_DeleteItemFromObjectCaseSensitive(params, "ip");
        cJSON_DeleteItemFromObjectCaseSensitive(params, "nuid");
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON *props = cJSON_CreateObject();
    cJSON *ctx = cJSON_CreateObject();
    cJSON *sn = cJSON_CreateObject();
    const char *e = pstr(params, "e");
    const char *type = "track";
    char name[160];
    snprintf(name, sizeof name, "snowplow:%.64s", e ? e : "unknown");

    cJSON *ue = attach_sd(d, sn, params, "ue_pr", "ue_px", "unstruct_event");
    attach_sd(d, sn, params, "co", "cx", "contexts");
    if (e && !strcmp(e, "pv")) {
        type = "page";
        add_prop(props, "url", params, "url", false);
        add_prop(props, "title", params, "page", false);
        add_prop(props, "referrer", params, "refr", false);
    } else if (e && !strcmp(e, "se")) {
        const char *ac = pstr(params, "se_ac");
        snprintf(name, sizeof name, "%.150s", ac ? ac : "");
        add_prop(props, "category", params, "se_ca", false);
        add_prop(props, "action", params, "se_ac", false);
        add_prop(props, "label", params, "se_la", false);
        add_prop(props, "property", params, "se_pr", false);
        add_prop(props, "value", params, "se_va", true);
    } else if (e && !strcmp(e, "ue")) {
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(ue, "data");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(inner, "schema");
        if (cJSON_IsString(s)) snprintf(name, sizeof name, "%.150s", s->valuestring);
    } else if (e && !strcmp(e, "pp")) {
        snprintf(name, sizeof name, "page_ping");
        static const char *const k[] = {"pp_mix", "pp_max", "pp_miy", "pp_may"};
        for (int i = 0; i < 4; i++)
            add_prop(props, k[i], params, k[i], true);
    } else if (e && !strcmp(e, "tr")) {
        snprintf(name, sizeof name, "transaction");
        static const char *const m[][2] = {
            {"order_id", "tr_id"}, {"affiliation", "tr_af"}, {"total", "tr_tt"},
            {"tax", "tr_tx"},      {"shipping", "tr_sh"},    {"city", "tr_ci"},
            {"state", "tr_st"},    {"country", "tr_co"},     {"currency", "tr_cu"}};
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
            add_prop(props, m[i][0], params, m[i][1], i >= 2 && i <= 4);
    } else if (e && !strcmp(e, "ti")) {
        snprintf(name, sizeof name, "transaction_item");
        static const char *const m[][2] = {{"order_id", "ti_id"}, {"sku", "ti_sk"},
                                           {"name", "ti_nm"},     {"category", "ti_ca"},
                                           {"price", "ti_pr"},    {"quantity", "ti_qu"},
                                           {"currency", "ti_cu"}};
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
            add_prop(props, m[i][0], params, m[i][1], i == 4 || i == 5);
    }

    cJSON_AddStringToObject(ev, "type", type);
    if (strcmp(type, "page"))
        cJSON_AddStringToObject(ev, "event", name);
    else
        add_str(ev, "name", pstr(params, "page"));
    add_str(ev, "messageId", pstr(params, "eid"));
    /* Every Sluice event has an anonymousId: the domain user id, else the network user id, which
     * Snowplow's collector makes up when a request has none (all zeros under SP-Anonymous). */
    char nuid[37];
    const char *anon = pstr(params, "duid");
    if (!anon) anon = pstr(params, "nuid");
    if (!anon) {
        if (o->anonymous)
            snprintf(nuid, sizeof nuid, "00000000-0000-0000-0000-000000000000");
        else
            new_uuid(d, nuid);
        anon = nuid;
        cJSON_AddStringToObject(sn, "network_userid", nuid);
    }
    add_str(ev, "anonymousId", anon);
    add_str(ev, "userId", pstr(params, "uid"));
    char ts[48];
    const char *t = pstr(params, "ttm");
    if (!t) t = pstr(params, "dtm");
    if (iso_ms(t, ts)) cJSON_AddStringToObject(ev, "timestamp", ts);
    if (iso_ms(pstr(params, "stm"), ts)) cJSON_AddStringToObject(ev, "sentAt", ts);
    cJSON_AddItemToObject(ev, "properties", props);

    if (pstr(params, "url")) {
        cJSON *page = cJSON_AddObjectToObject(ctx, "page");
        add_str(page, "url", pstr(params, "url"));
        add_str(page, "title", pstr(params, "page"));
        add_str(page, "referrer", pstr(params, "refr"));
    }
    const char *ua = pstr(params, "ua");
    add_str(ctx, "userAgent", ua ? ua : o->user_agent);
    add_str(ctx, "locale", pstr(params, "lang"));
    add_str(ctx, "timezone", pstr(params, "tz"));
    if (!o->anonymous) add_str(ctx, "ip", pstr(params, "ip"));
    cJSON *lib = cJSON_AddObjectToObject(ctx, "library");
    cJSON_AddStringToObject(lib, "name", "snowplow");
    add_str(lib, "version", pstr(params, "tv"));
    if (pstr(params, "aid"))
        add_str(cJSON_AddObjectToObject(ctx, "app"), "name", pstr(params, "aid"));
    if (o->session) add_str(cJSON_AddObjectToObject(ctx, "sluice"), "session", o->session);
    cJSON_AddItemToObject(ev, "context", ctx);

    add_str(sn, "event", e);
    add_str(sn, "platform", pstr(params, "p"));
    add_str(sn, "app_id", pstr(params, "aid"));
    add_str(sn, "namespace", pstr(params, "tna"));
    add_str(sn, "tracker", pstr(params, "tv"));
    cJSON_AddItemToObject(sn, "params", params);
    cJSON_AddItemToObject(ev, "snowplow", sn);
    return ev;
}

/* Every value as a string (what the protocol says they are; numbers sent bare are kept as their
 * text). Takes nothing; returns a new object or NULL on out-of-memory. */
static cJSON *params_of(const cJSON *item)
{
    cJSON *p = cJSON_CreateObject();
    if (!p) return NULL;
    for (const cJSON *m = item->child; m; m = m->next) {
        if (cJSON_IsString(m)) {
            cJSON_AddStringToObject(p, m->string, m->valuestring);
        } else if (!cJSON_IsNull(m)) {
            char *txt = cJSON_PrintUnformatted(m);
            if (txt) cJSON_AddStringToObject(p, m->string, txt);
            cJSON_free(txt);
        }
    }
    return p;
}

static int finish(sp_decoder *d, cJSON *batch, const char **out, size_t *outlen)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        cJSON_Delete(batch);
        return SL_ENOMEM;
    }
    cJSON_AddItemToObject(root, "batch", batch);
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!txt) return SL_ENOMEM;
    d->out.n = 0;
    d->out.oom = false;
    sl_buf_puts(&d->out, txt);
    cJSON_free(txt);
    if (d->out.oom) return SL_ENOMEM;
    *out = d->out.p;
    *outlen = d->out.n;
    return 0;
}

/* line:column of byte `at` in s. */
static void where(const char *s, size_t at, size_t *line, size_t *col)
{
    *line = 1, *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (s[i] == '\n')
            ++*line, *col = 1;
        else
            ++*col;
    }
}

int sp_translate_post(sp_decoder *d, const char *body, size_t n, const sp_options *o,
                      const char **out, size_t *outlen, char *err, size_t errcap)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, n, &end, false);
    if (!root) {
        size_t at = end && end >= body && end <= body + n ? (size_t)(end - body) : 0, line, col;
        where(body, at, &line, &col);
        snprintf(err, errcap, "malformed JSON at line %zu, column %zu (byte %zu)", line, col, at);
        return SL_ESYNTAX;
    }
    int rc = SL_ESYNTAX;
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsObject(root) || !cJSON_IsString(schema) ||
        strncmp(schema->valuestring,
                "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-", 62)) {
        snprintf(err, errcap,
                 "a tp2 body must be payload_data: {\"schema\": "
                 "\"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4\", "
                 "\"data\": [...]} (at /schema)");
        goto out;
    }
    if (!cJSON_IsArray(data)) {
        snprintf(err, errcap, "payload_data's \"data\" must be an array of events (at /data)");
        goto out;
    }
    cJSON *batch = cJSON_CreateArray();
    if (!batch) {
        rc = SL_ENOMEM;
        goto out;
    }
    int i = 0;
    for (const cJSON *item = data->child; item; item = item->next, i++) {
        if (!cJSON_IsObject(item)) {
            snprintf(err, errcap,
                     "payload_data event must be an object of parameters (at /data/%d)", i);
            cJSON_Delete(batch);
            goto out;
        }
        cJSON *params = params_of(item);
        cJSON *ev = params ? build_event(d, params, o) : NULL;
        if (!ev) {
            cJSON_Delete(params);
            cJSON_Delete(batch);
            rc = SL_ENOMEM;
            goto out;
        }
        cJSON_AddItemToArray(batch, ev);
    }
    rc = finish(d, batch, out, outlen);
out:
    cJSON_Delete(root);
    return rc;
}

int sp_translate_get(sp_decoder *d, const char *q, size_t n, const sp_options *o, const char **out,
                     size_t *outlen, char *err, size_t errcap)
{
    cJSON *params = cJSON_CreateObject();
    if (!params || !tmp_reserve(d, n + 1)) {
        cJSON_Delete(params);
        return SL_ENOMEM;
    }
    char key[256];
    for (size_t i = 0; i < n;) {
        size_t e = i, eq;
        while (e < n && q[e] != '&')
            e++;
        for (eq = i; eq < e && q[eq] != '='; eq++)
            ;
        long kl = http_pct_decode(q + i, eq - i, key, sizeof key - 1);
        long vl = eq < e ? http_pct_decode(q + eq + 1, e - eq - 1, d->tmp, d->tmpcap - 1) : 0;
        if (kl < 0 || vl < 0 || memchr(d->tmp, 0, (size_t)vl)) {
            snprintf(err, errcap, "query parameter at byte %zu is not percent-encoded text", i);
            cJSON_Delete(params);
            return SL_ESYNTAX;
        }
        key[kl] = 0;
        d->tmp[vl] = 0;
        i = e + 1;
        if (!kl) continue;
        cJSON_DeleteItemFromObjectCaseSensitive(params, key); /* the last one wins */
        cJSON_AddStringToObject(params, key, d->tmp);
    }
    cJSON *batch = cJSON_CreateArray();
    cJSON *ev = batch ? build_event(d, params, o) : NULL;
    if (!ev) {
        cJSON_Delete(batch);
        cJSON_Delete(params);
        return SL_ENOMEM;
    }
    cJSON_AddItemToArray(batch, ev);
    return finish(d, batch, out, outlen);
}

/* ---- checking ---------------------------------------------------------------------------- */

static void vio_add(vio_list *out, const char *keyword, const char *path, const char *expected,
                    const char *actual, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void vio_add(vio_list *out, const char *keyword, const char *path, const char *expected,
                    const char *actual, const char *fmt, ...)
{
    vio *v = vio_list_push(out, SL_KIND_INVALID_ENVELOPE, keyword);
    if (!v) return;
    snprintf(v->path, sizeof v->path, "%s", path);
    snprintf(v->expected, sizeof v->expected, "%s", expected ? expected : "");
    snprintf(v->actual, sizeof v->actual, "%s", actual ? actual : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list)) return true;
    return false;
}

static bool is_dims(const char *s)
{
    const char *x = strchr(s, 'x');
    long long a, b;
    char buf[32];
    if (!x || (size_t)(x - s) >= sizeof buf) return false;
    memcpy(buf, s, (size_t)(x - s));
    buf[x - s] = 0;
    return parse_int(buf, &a) && parse_int(x + 1, &b) && a >= 0 && b >= 0;
}

/* The tracker protocol's own rules on the raw parameters. */
static void check_protocol(const cJSON *params, const cJSON *sn, vio_list *out)
{
    static const char *const events[] = {"pv", "pp", "ue", "se", "tr", "ti", NULL};
    static const char *const platforms[] = {"web", "mob",  "pc",  "srv", "app",
                                            "tv",  "cnsl", "iot", NULL};
    static const char *const required[][2] = {
        {"e", "event type"}, {"p", "platform"}, {"tv", "tracker version"}};
    char path[96];
    for (int i = 0; i < 3; i++) {
        if (pstr(params, required[i][0])) continue;
        snprintf(path, sizeof path, "/snowplow/params/%s", required[i][0]);
        vio_add(out, "required", path, "", "",
                "tracker protocol: required parameter \"%s\" (%s) is missing", required[i][0],
                required[i][1]);
    }
    const char *e = pstr(params, "e");
    if (e && !in_list(e, events))
        vio_add(out, "enum", "/snowplow/params/e", "[pv, pp, ue, se, tr, ti]", e,
                "tracker protocol: unknown event type \"%.40s\"", e);
    const char *p = pstr(params, "p");
    if (p && !in_list(p, platforms))
        vio_add(out, "enum", "/snowplow/params/p", "[web, mob, pc, srv, app, tv, cnsl, iot]", p,
                "tracker protocol: unknown platform \"%.40s\"", p);
    static const char *const ints[] = {"dtm",    "stm",    "ttm",    "rtm",    "vid",   "cd",
                                       "pp_mix", "pp_max", "pp_miy", "pp_may", "ti_qu", NULL};
    static const char *const nums[] = {"se_va", "tr_tt", "tr_tx", "tr_sh", "ti_pr", NULL};
    static const char *const dims[] = {"res", "vp", "ds", NULL};
    static const char *const bools[] = {"cookie", "f_pdf",  "f_qt",    "f_realp", "f_wma", "f_dir",
                                        "f_fla",  "f_java", "f_gears", "f_ag",    NULL};
    for (const cJSON *m = params->child; m; m = m->next) {
        const char *v = m->valuestring;
        if (!v || !*v) continue;
        long long iv;
        double dv;
        const char *want = NULL;
        if (in_list(m->string, ints) && !parse_int(v, &iv))
            want = "integer";
        else if (in_list(m->string, nums) && !parse_num(v, &dv))
            want = "number";
        else if (in_list(m->string, dims) && !is_dims(v))
            want = "WIDTHxHEIGHT";
        else if (in_list(m->string, bools) && strcmp(v, "0") && strcmp(v, "1"))
            want = "0 or 1";
        if (!want) continue;
        snprintf(path, sizeof path, "/snowplow/params/%.64s", m->string);
        vio_add(out, "type", path, want, v, "tracker protocol: \"%.40s\" must be %s, got \"%.40s\"",
                m->string, want, v);
    }
    if (e && !strcmp(e, "se"))
        for (int i = 0; i < 2; i++) {
            const char *k = i ? "se_ac" : "se_ca";
            if (pstr(params, k)) continue;
            snprintf(path, sizeof path, "/snowplow/params/%s", k);
            vio_add(out, "required", path, "", "",
                    "tracker protocol: a structured event needs \"%s\" (%s)", k,
                    i ? "action" : "category");
        }
    if (e && !strcmp(e, "ue") && !pstr(params, "ue_pr") && !pstr(params, "ue_px"))
        vio_add(out, "required", "/snowplow/params/ue_px", "", "",
                "tracker protocol: a self-describing event needs \"ue_pr\" or \"ue_px\"");
    const cJSON *errs = cJSON_GetObjectItemCaseSensitive(sn, "decode_errors");
    for (const cJSON *x = errs ? errs->child : NULL; x; x = x->next) {
        const char *pk = pstr(x, "param"), *why = pstr(x, "error");
        snprintf(path, sizeof path, "/snowplow/params/%.32s", pk ? pk : "");
        vio_add(out, "contentEncoding", path, "self-describing JSON", "",
                "tracker protocol: \"%.32s\": %.64s", pk ? pk : "", why ? why : "");
    }
}

/* "/a/0/b" (relative to the entity's data) -> "$.a[0].b". */
static void json_path(const char *ptr, char *dst, size_t cap)
{
    size_t o = 0;
    dst[o++] = '$';
    while (*ptr == '/' && o + 4 < cap) {
        ptr++;
        const char *e = strchr(ptr, '/');
        size_t l = e ? (size_t)(e - ptr) : strlen(ptr);
        bool idx = l > 0;
        for (size_t i = 0; i < l; i++)
            idx = idx && isdigit((unsigned char)ptr[i]);
        int w = snprintf(dst + o, cap - o, idx ? "[%.*s]" : ".%.*s", (int)l, ptr);
        if (w < 0 || (size_t)w >= cap - o) break;
        o += (size_t)w;
        ptr += l;
    }
    dst[o < cap ? o : cap - 1] = 0;
}

/* One self-describing entity at `path`: against the plan's Iglu schemas; the violations added
 * are worded as Snowplow's schema_violations are: the schemaKey, then the data path. */
static int check_entity(const plan *p, const cJSON *sd, plan_ctx *ctx, vio_list *out,
                        const char *path)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(sd, "schema");
    /* Iglu Central's own schemas (web_page, client_session, ...) that the plan does not define
     * are Snowplow's, not the team's: they pass unchecked. */
    if (cJSON_IsString(s) && !strncmp(s->valuestring, "iglu:com.snowplowanalytics.", 27)) {
        vio_list probe;
        vio_list_reset(&probe);
        int rc = plan_check_selfdesc(p, sd, ctx, &probe, path);
        if (rc < 0) return rc;
        if (probe.n && probe.items[0].kind == SL_KIND_UNKNOWN_SCHEMA) return 0;
    }
    size_t first = out->n;
    int rc = plan_check_selfdesc(p, sd, ctx, out, path);
    if (rc < 0) return rc;
    if (!cJSON_IsString(s)) return 0;
    size_t base = strlen(path) + 5; /* path + "/data" */
    for (size_t i = first; i < out->n; i++) {
        vio *v = &out->items[i];
        if (v->kind == SL_KIND_UNKNOWN_SCHEMA || strlen(v->path) < base) continue;
        char jp[128], msg[VIO_MSG_MAX];
        json_path(v->path + base, jp, sizeof jp);
        snprintf(msg, sizeof msg, "%.120s: %s: %s", s->valuestring, jp, v->message);
        memcpy(v->message, msg, sizeof msg);
    }
    return 0;
}

int sp_check(const plan *p, const cJSON *ev, plan_ctx *ctx, vio_list *out)
{
    const cJSON *sn = cJSON_GetObjectItemCaseSensitive(ev, "snowplow");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(sn, "params");
    if (!cJSON_IsObject(params)) return plan_check(p, ev, ctx, out);
    const char *e = pstr(params, "e");
    /* Page views and structured events are planned like page and track calls. */
    if (e && (!strcmp(e, "pv") || !strcmp(e, "se"))) {
        int rc = plan_check(p, ev, ctx, out);
        if (rc < 0) return rc;
    } else {
        vio_list_reset(out);
    }
    check_protocol(params, sn, out);

    static const char ue_wrap[] =
        "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-";
    static const char cx_wrap[] = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-";
    const cJSON *ue = cJSON_GetObjectItemCaseSensitive(sn, "unstruct_event");
    if (ue && e && !strcmp(e, "ue")) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(ue, "schema");
        if (!cJSON_IsString(s) || strncmp(s->valuestring, ue_wrap, sizeof ue_wrap - 1)) {
            vio_add(out, "const", "/snowplow/unstruct_event/schema", ue_wrap, "",
                    "tracker protocol: ue_pr/ue_px must be an unstruct_event self-describing JSON");
        } else {
            int rc = check_entity(p, cJSON_GetObjectItemCaseSensitive(ue, "data"), ctx, out,
                                  "/snowplow/unstruct_event/data");
            if (rc < 0) return rc;
        }
    }
    const cJSON *cx = cJSON_GetObjectItemCaseSensitive(sn, "contexts");
    if (cx) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(cx, "schema");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(cx, "data");
        if (!cJSON_IsString(s) || strncmp(s->valuestring, cx_wrap, sizeof cx_wrap - 1) ||
            !cJSON_IsArray(data)) {
            vio_add(out, "const", "/snowplow/contexts/schema", cx_wrap, "",
                    "tracker protocol: co/cx must be a contexts self-describing JSON whose data "
                    "is an array");
        } else {
            int i = 0;
            char path[64];
            for (const cJSON *x = data->child; x; x = x->next, i++) {
                snprintf(path, sizeof path, "/snowplow/contexts/data/%d", i);
                int rc = check_entity(p, x, ctx, out, path);
                if (rc < 0) return rc;
            }
        }
    }
    return (int)out->nerrors;
}
