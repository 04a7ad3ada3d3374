/* serve.c - `sluice serve`: routes, auth, CORS, workers, plan reload and drain.
 *
 * Threads: the main thread owns the config, the current plan reference, the embedded Redis and a
 * loop that only handles signals. Each worker owns its loop, listener, connections, sink, ingest
 * scratch, metrics block and its own plan reference; the main thread talks to a worker only through
 * the worker's mailbox (mutex + uv_async): "here is a new plan" and "drain". The server struct is
 * immutable once the workers start (except the atomic global metrics).
 * A 2xx for an ingest request is sent only from the durable writer's callback (durable.h): every
 * entry of the request acknowledged by Redis or fsynced in the worker's disk spool; any failure
 * answers 503 with Retry-After. */
#include "serve.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <llhttp.h>
#include <uv.h>

#include "arena.h"
#include "config.h"
#include "durable.h"
#include "http.h"
#include "ingest.h"
#include "metrics.h"
#include "plan.h"
#include "observe.h"
#include "ratelimit.h"
#include "redisproc.h"
#include "redisuv.h"
#include "sink.h"
#include "snowplow.h"
#include "micro.h"
#include "sse.h"

/* ---- logging: one line per message on stderr; never write keys or passwords -------------- */

static void slog(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(const char *level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ sluice %s: ", ts.tv_nsec / 1000000,
                          level);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : (n + (size_t)m < sizeof line - 1 ? n + (size_t)m : sizeof line - 2);
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}

/* ---- shared, immutable server state -------------------------------------------------------- */

typedef struct {
    int family; /* AF_INET / AF_INET6 */
    unsigned char addr[16];
    int prefix;
} ipnet;

typedef struct worker worker;

typedef struct {
    serve_config cfg;
    ingest_limits ilim;
    http_limits hlim;
    sink_config scfg;
    char *scfg_store;
    ipnet *trusted;
    size_t ntrusted;
    bool cors_any;
    worker *workers;
    size_t nworkers;
    metrics_worker **mws;
    metrics_global mg;
    char retry_after_hdr[64];
    ratelimit *rl; /* per-write-key buckets, shared by the workers; NULL = no limit */
    observe *obs;  /* reports and alerts (main loop); NULL before start-up completes */
    micro *micro;  /* --micro: the last N events for /micro/..; NULL = off */
} server;

typedef struct pending {
    worker *w;
    http_conn *c;
    metrics_route route;
    int answer; /* ANSWER_*: what a 200 looks like on this route */
    struct pending *next;
} pending;

struct worker {
    server *srv;
    int id;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_mutex_t mbox_lock;
    plan *mbox_plan;
    bool mbox_drain;
    plan *plan;
    http_server *http;
    sink *sink;
    durable *dur;      /* sink + disk spool; NULL = no spool (Redis only) */
    durable **orphans; /* replay-only spools of workers a run with more workers left behind */
    size_t norphans;
    ingest *ig;
    sp_decoder *sp;        /* Snowplow requests -> batches */
    observe_worker *ow;    /* aggregation + dashboard endpoints */
    sse *sse;              /* GET /v1/violations/stream; NULL once draining */
    _Atomic bool finished; /* set when the worker's loop has returned */
    metrics_worker m;
    uv_timer_t stats_timer, drain_timer;
    int listen_fd;
    bool draining;
    pending *free_pending;
    uint64_t last_fail_log;
    time_t rat_sec;         /* the second rat_head formats (0 = none yet) */
    char rat_head[24];      /* "YYYY-MM-DDTHH:MM:SS" of rat_sec */
    char pixel_body[16384]; /* a pixel request's query, as the JSON event ingest reads */
};

/* ---- small helpers ----------------------------------------------------------------------------
 */

static int ipnet_parse(const char *s, ipnet *out)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *slash = strchr(buf, '/');
    if (slash) *slash = 0;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        out->family = AF_INET, out->prefix = 32;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        out->family = AF_INET6, out->prefix = 128;
    else
        return SL_EUSAGE;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (*end || p < 0 || p > out->prefix) return SL_EUSAGE;
        out->prefix = (int)p;
    }
    return 0;
}

static bool ipnet_contains(const ipnet *nets, size_t n, const char *ip, size_t iplen)
{
    char buf[64];
    if (!n || iplen >= sizeof buf) return false;
    memcpy(buf, ip, iplen);
    buf[iplen] = 0;
    unsigned char a[16];
    int fam;
    if (inet_pton(AF_INET, buf, a) == 1)
        fam = AF_INET;
    else if (inet_pton(AF_INET6, buf, a) == 1)
        fam = AF_INET6;
    else
        return false;
    for (size_t i = 0; i < n; i++) {
        if (nets[i].family != fam) continue;
        int bits = nets[i].prefix, k = 0;
        for (; bits >= 8; bits -= 8, k++)
            if (a[k] != nets[i].addr[k]) break;
        if (bits >= 8) continue;
        unsigned char mask = (unsigned char)(0xff << (8 - bits));
        if (bits == 0 || (a[k] & mask) == (nets[i].addr[k] & mask)) return true;
    }
    return false;
}

static bool is_ip(const char *s, size_t n)
{
    char buf[64];
    unsigned char a[16];
    if (!n || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1;
}

/* The client address: the TCP peer, or - when the peer is a trusted proxy - the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy. */
static void client_ip(const server *s, const http_request *rq, char *dst, size_t cap)
{
    size_t pn = strnlen(rq->peer_ip, cap - 1);
    memcpy(dst, rq->peer_ip, pn);
    dst[pn] = 0;
    http_slice x = rq->headers[HTTP_H_X_FORWARDED_FOR];
    if (!x.p || !ipnet_contains(s->trusted, s->ntrusted, rq->peer_ip, strlen(rq->peer_ip))) return;
    size_t end = x.n;
    const char *pick = NULL;
    size_t picklen = 0;
    while (end > 0) {
        size_t b = end;
        while (b > 0 && x.p[b - 1] != ',')
            b--;
        const char *e = x.p + b;
        size_t el = end - b;
        while (el && (*e == ' ' || *e == '\t'))
            e++, el--;
        while (el && (e[el - 1] == ' ' || e[el - 1] == '\t'))
            el--;
        if (!is_ip(e, el)) break;
        pick = e, picklen = el;
        if (!ipnet_contains(s->trusted, s->ntrusted, e, el)) break;
        end = b ? b - 1 : 0;
    }
    if (pick && picklen < cap) {
        memcpy(dst, pick, picklen);
        dst[picklen] = 0;
    }
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* "Basic base64(user:pass)" -> user. Returns its length, or -1 when not a Basic header. */
static long basic_user(http_slice h, char *dst, size_t cap)
{
    if (h.n < 6 || strncasecmp(h.p, "basic ", 6)) return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 6; i < h.n; i++) {
        if (h.p[i] == '=' || h.p[i] == ' ') continue;
        int v = b64val((unsigned char)h.p[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap) return -1;
            dst[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    dst[o] = 0;
    char *colon = memchr(dst, ':', o);
    return colon ? colon - dst : (long)o;
}

static bool key_known(const server *s, const char *k, size_t n)
{
    for (size_t i = 0; i < s->cfg.write_keys.n; i++) {
        const char *w = s->cfg.write_keys.v[i];
        if (strlen(w) == n && !memcmp(w, k, n)) return true;
    }
    return false;
}

static bool slice_eq(http_slice s, const char *lit)
{
    size_t l = strlen(lit);
    return s.n == l && !memcmp(s.p, lit, l);
}

/* CORS response headers for this request into dst; returns their length. */
static size_t cors_headers(const server *s, const http_request *rq, bool preflight, char *dst,
                           size_t cap)
{
    http_slice o = rq->headers[HTTP_H_ORIGIN];
    if (!o.p || !o.n || o.n > 512) return 0;
    /* Snowplow's routes answer any origin with credentials, as its collector does: the JS
     * tracker sends cookies (credentials: 'include'), where a "*" is refused by browsers. */
    bool snowplow = rq->path.n >= 2 && (slice_eq(rq->path, "/com.snowplowanalytics.snowplow/tp2") ||
                                        slice_eq(rq->path, "/i") || slice_eq(rq->path, "/ice.png"));
    bool ok = s->cors_any || snowplow;
    for (size_t i = 0; !ok && i < s->cfg.cors_origins.n; i++)
        ok = slice_eq(o, s->cfg.cors_origins.v[i]);
    if (!ok) return 0;
    int n = snprintf(dst, cap, "Access-Control-Allow-Origin: %.*s\r\nVary: Origin\r\n%s", (int)o.n,
                     o.p, snowplow ? "Access-Control-Allow-Credentials: true\r\n" : "");
    if (n < 0 || (size_t)n >= cap) return 0;
    if (preflight) {
        http_slice h = rq->headers[HTTP_H_ACR_HEADERS];
        int m = snprintf(dst + n, cap - (size_t)n,
                         "Access-Control-Allow-Methods: POST, GET, OPTIONS\r\n"
                         "Access-Control-Allow-Headers: %.*s\r\n"
                         "Access-Control-Max-Age: 86400\r\n",
                         h.p && h.n < 512 ? (int)h.n : 45,
                         h.p && h.n < 512 ? h.p : "Content-Type, Authorization, Content-Encoding");
        if (m > 0 && (size_t)(n + m) < cap) n += m;
    }
    return (size_t)n;
}

/* ---- routes -------------------------------------------------------------------------------- */

typedef enum {
    K_INGEST,
    K_VALIDATE,
    K_PIXEL,
    K_SP_POST, /* Snowplow tp2: payload_data JSON */
    K_SP_GET,  /* Snowplow /i, /ice.png: one event in the query string */
    K_HEALTH,
    K_SP_HEALTH,
    K_READY,
    K_METRICS
} route_kind;

typedef struct {
    const char *path;
    metrics_route route;
    route_kind kind;
    ingest_call call;
} route_def;

static const route_def routes[] = {
    {"/v1/track", METRICS_R_TRACK, K_INGEST, INGEST_TRACK},
    {"/v1/t", METRICS_R_TRACK, K_INGEST, INGEST_TRACK},
    {"/v1/identify", METRICS_R_IDENTIFY, K_INGEST, INGEST_IDENTIFY},
    {"/v1/i", METRICS_R_IDENTIFY, K_INGEST, INGEST_IDENTIFY},
    {"/v1/page", METRICS_R_PAGE, K_INGEST, INGEST_PAGE},
    {"/v1/p", METRICS_R_PAGE, K_INGEST, INGEST_PAGE},
    {"/v1/screen", METRICS_R_SCREEN, K_INGEST, INGEST_SCREEN},
    {"/v1/s", METRICS_R_SCREEN, K_INGEST, INGEST_SCREEN},
    {"/v1/group", METRICS_R_GROUP, K_INGEST, INGEST_GROUP},
    {"/v1/g", METRICS_R_GROUP, K_INGEST, INGEST_GROUP},
    {"/v1/alias", METRICS_R_ALIAS, K_INGEST, INGEST_ALIAS},
    {"/v1/a", METRICS_R_ALIAS, K_INGEST, INGEST_ALIAS},
    {"/v1/batch", METRICS_R_BATCH, K_INGEST, INGEST_BATCH},
    {"/v1/b", METRICS_R_BATCH, K_INGEST, INGEST_BATCH},
    {"/v1/import", METRICS_R_IMPORT, K_INGEST, INGEST_BATCH},
    /* RudderStack: sendBeacon batches (writeKey in the query) and the GET pixel API. */
    {"/beacon/v1/batch", METRICS_R_BATCH, K_INGEST, INGEST_BATCH},
    {"/pixel/v1/track", METRICS_R_TRACK, K_PIXEL, INGEST_TRACK},
    {"/pixel/v1/page", METRICS_R_PAGE, K_PIXEL, INGEST_PAGE},
    /* Snowplow's collector routes (tracker protocol 2). */
    {"/com.snowplowanalytics.snowplow/tp2", METRICS_R_SNOWPLOW, K_SP_POST, INGEST_BATCH},
    {"/i", METRICS_R_SNOWPLOW, K_SP_GET, INGEST_BATCH},
    {"/ice.png", METRICS_R_SNOWPLOW, K_SP_GET, INGEST_BATCH},
    {"/health", METRICS_R_HEALTHZ, K_SP_HEALTH, INGEST_ANY},
    {"/v1/validate", METRICS_R_VALIDATE, K_VALIDATE, INGEST_ANY},
    {"/healthz", METRICS_R_HEALTHZ, K_HEALTH, INGEST_ANY},
    {"/readyz", METRICS_R_READYZ, K_READY, INGEST_ANY},
    {"/metrics", METRICS_R_METRICS, K_METRICS, INGEST_ANY},
};

static const route_def *route_find(http_slice path)
{
    if (path.n > 1 && path.p[path.n - 1] == '/') path.n--;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (slice_eq(path, routes[i].path)) return &routes[i];
    return NULL;
}

static bool query_flag(http_slice q, const char *name)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < q.n) {
        size_t e = i;
        while (e < q.n && q.p[e] != '&')
            e++;
        if (e - i > nl && !memcmp(q.p + i, name, nl) && q.p[i + nl] == '=') {
            http_slice v = {q.p + i + nl + 1, e - i - nl - 1};
            return slice_eq(v, "1") || slice_eq(v, "true") || slice_eq(v, "yes");
        }
        if (e - i == nl && !memcmp(q.p + i, name, nl)) return true;
        i = e + 1;
    }
    return false;
}

static bool content_type_ok(http_slice ct)
{
    if (!ct.p) return false;
    size_t n = 0;
    while (n < ct.n && ct.p[n] != ';' && ct.p[n] != ' ')
        n++;
    return (n == 16 && !strncasecmp(ct.p, "application/json", 16)) ||
           (n == 10 && !strncasecmp(ct.p, "text/plain", 10));
}

/* What a body is, whatever its label says (real SDKs mislabel: rudder-sdk-node posts gzip JSON as
 * application/x-www-form-urlencoded). A zlib stream starts with CMF 0x78 and a header that is a
 * multiple of 31; gzip with 1f 8b; neither byte can start JSON. */
static bool looks_compressed(const char *b, size_t n)
{
    if (n < 2) return false;
    unsigned b0 = (unsigned char)b[0], b1 = (unsigned char)b[1];
    return (b0 == 0x1f && b1 == 0x8b) || (b0 == 0x78 && ((b0 << 8) | b1) % 31 == 0);
}

/* A JSON object or array after optional whitespace and a UTF-8 byte order mark. */
static bool looks_json(const char *b, size_t n)
{
    size_t i = 0;
    if (n >= 3 && !memcmp(b, "\xEF\xBB\xBF", 3)) i = 3;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    return i < n && (b[i] == '{' || b[i] == '[');
}

/* ---- answering --------------------------------------------------------------------------- */

#define REPLY_HDRS 1536

/* The extra response headers of an answer (CORS, then `extra`) into hdrs[REPLY_HDRS]; NULL when
 * there are none. Counts the answer in the metrics. */
static const char *reply_prepare(worker *w, const http_request *rq, metrics_route route, int status,
                                 const char *extra, char *hdrs)
{
    size_t hl = cors_headers(w->srv, rq, false, hdrs, REPLY_HDRS - 128);
    if (extra) {
        size_t el = strlen(extra);
        if (hl + el < REPLY_HDRS) memcpy(hdrs + hl, extra, el), hl += el;
    }
    hdrs[hl] = 0;
    metrics_count_request(&w->m, route, status);
    return hl ? hdrs : NULL;
}

static void reply(worker *w, http_conn *c, const http_request *rq, metrics_route route, int status,
                  const char *body, size_t len, const char *extra)
{
    char hdrs[REPLY_HDRS];
    http_respond(c, status, reply_prepare(w, rq, route, status, extra, hdrs), "application/json",
                 body, len);
}

static void reply_error(worker *w, http_conn *c, const http_request *rq, metrics_route route,
                        int status, const char *msg, const char *limit, const char *extra)
{
    char hdrs[REPLY_HDRS];
    http_respond_error(c, status, reply_prepare(w, rq, route, status, extra, hdrs), msg, limit);
}

static const char ok_body[] = "{\"success\":true}";

/* The transparent 1x1 GIF of pixel routes, answered uncached. */
static const char pixel_gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\x21\xf9"
                                "\x04\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00"
                                "\x00\x02\x02\x44\x01\x00\x3b";
#define PIXEL_HDRS                                                                                 \
    "Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\nExpires: 0\r\n"

enum { ANSWER_JSON, ANSWER_GIF, ANSWER_TEXT_OK };

static void reply_ok(worker *w, http_conn *c, const http_request *rq, metrics_route route,
                     int answer)
{
    char hdrs[REPLY_HDRS];
    if (answer == ANSWER_JSON) {
        reply(w, c, rq, route, 200, ok_body, sizeof ok_body - 1, NULL);
        return;
    }
    if (answer == ANSWER_TEXT_OK) { /* Snowplow's collector answers a POST with "ok" */
        http_respond(c, 200, reply_prepare(w, rq, route, 200, NULL, hdrs), "text/plain", "ok", 2);
        return;
    }
    http_respond(c, 200, reply_prepare(w, rq, route, 200, PIXEL_HDRS, hdrs), "image/gif", pixel_gif,
                 sizeof pixel_gif - 1);
}

static void on_sink_done(void *ud, int status)
{
    pending *pd = ud;
    worker *w = pd->w;
    const http_request *rq = http_conn_request(pd->c);
    if (rq) {
        if (status == 0) {
            reply_ok(w, pd->c, rq, pd->route, pd->answer);
        } else {
            uint64_t now = uv_now(&w->loop);
            if (now - w->last_fail_log >= 1000 || !w->last_fail_log) {
                slog("warn", "worker %d: Redis did not acknowledge a write: %s; answering 503",
                     w->id, sl_strerror(status));
                w->last_fail_log = now;
            }
            reply_error(w, pd->c, rq, pd->route, 503,
                        !w->dur ? "events not stored: Redis unavailable"
                        : status == SPOOL_EFULL
                            ? "events not stored: Redis unavailable and the spool is full"
                            : "events not stored: Redis unavailable and the spool failed",
                        NULL, w->srv->retry_after_hdr);
        }
    }
    pd->next = w->free_pending;
    w->free_pending = pd;
}

/* The receipt time, "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes + NUL); the date and time part is
 * formatted once a second per worker (gmtime + strftime cost 1.1 k instructions a request). */
static void received_at(worker *w, char dst[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != w->rat_sec || !w->rat_head[0]) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        if (!strftime(w->rat_head, sizeof w->rat_head, "%Y-%m-%dT%H:%M:%S", &tm))
            w->rat_head[0] = 0;
        w->rat_sec = ts.tv_sec;
    }
    size_t n = strlen(w->rat_head);
    long ms = ts.tv_nsec / 1000000;
    memcpy(dst, w->rat_head, n);
    dst[n] = '.';
    dst[n + 1] = (char)('0' + ms / 100);
    dst[n + 2] = (char)('0' + ms / 10 % 10);
    dst[n + 3] = (char)('0' + ms % 10);
    dst[n + 4] = 'Z';
    dst[n + 5] = 0;
}

/* Per-request context for observing each checked event (reports, alerts). */
typedef struct {
    worker *w;
    const ingest_result *res;
    const char *basic_key;
    size_t basic_len;
} observe_ctx;

static void on_event_checked(void *ud, const cJSON *ev, const vio_list *vl, const char *vjson,
                             const char *json, size_t len)
{
    observe_ctx *oc = ud;
    worker *w = oc->w;
    const server *s = w->srv;
    /* The key is known here: Basic auth, or the body's writeKey (read before the events). */
    const char *key = oc->basic_key ? oc->basic_key : oc->res->write_key;
    size_t klen = oc->basic_key ? oc->basic_len : oc->res->write_key_len;
    if (s->cfg.write_keys.n && !(key && key_known(s, key, klen))) return; /* will be a 401 */
    /* ingest parses into its arena; what observe builds must come from the heap. */
    arena *prev = arena_set_current(NULL);
    if (w->ow) observe_event(w->ow, w->plan, key, klen, ev, vl, vjson, json, len);
    if (s->micro) micro_note(s->micro, ev, vl, vjson, json, len);
    arena_set_current(prev);
}

/* RudderStack's pixel API: the query string
 * (`anonymousId=..&properties.sku=..&context.page.url=..`) as one event into w->pixel_body; dotted
 * keys nest, every value is a string, writeKey is left out (it is the write key). Returns the
 * length, or -1 when a parameter cannot be decoded or the event does not fit. */
static long pixel_event(worker *w, http_slice q)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return -1;
    char k[1024], v[4096];
    long rc = 0;
    for (size_t i = 0; i < q.n && rc == 0;) {
        size_t e = i, eq;
        while (e < q.n && q.p[e] != '&')
            e++;
        for (eq = i; eq < e && q.p[eq] != '='; eq++)
            ;
        long kl = http_pct_decode(q.p + i, eq - i, k, sizeof k - 1);
        long vl = eq < e ? http_pct_decode(q.p + eq + 1, e - eq - 1, v, sizeof v - 1) : 0;
        i = e + 1;
        if (kl < 0 || vl < 0) {
            rc = -1;
            break;
        }
        k[kl] = 0;
        v[vl] = 0;
        if (!kl || !strcmp(k, "writeKey")) continue;
        cJSON *obj = root;
        char *seg = k;
        for (char *dot; obj && (dot = strchr(seg, '.')); seg = dot + 1) {
            *dot = 0;
            cJSON *sub = cJSON_GetObjectItemCaseSensitive(obj, seg);
            if (!sub) sub = cJSON_AddObjectToObject(obj, seg);
            obj = cJSON_IsObject(sub) ? sub : NULL; /* `a=1&a.b=2`: the later one is dropped */
        }
        if (!obj || !*seg) continue;
        cJSON *val = cJSON_CreateString(v);
        if (!val)
            rc = -1;
        else if (cJSON_GetObjectItemCaseSensitive(obj, seg))
            cJSON_ReplaceItemInObjectCaseSensitive(obj, seg, val);
        else
            cJSON_AddItemToObject(obj, seg, val);
    }
    if (rc == 0 && !cJSON_PrintPreallocated(root, w->pixel_body, (int)sizeof w->pixel_body, 0))
        rc = -1;
    cJSON_Delete(root);
    return rc < 0 ? -1 : (long)strlen(w->pixel_body);
}

/* The options of a Snowplow request; ua[512] and sess[256] are the caller's buffers. */
static void sp_options_of(const http_request *rq, bool anonymous, const char *ip, char *ua,
                          char *sess, sp_options *o)
{
    http_slice u = rq->headers[HTTP_H_USER_AGENT], se = rq->headers[HTTP_H_SLUICE_SESSION];
    o->anonymous = anonymous;
    o->client_ip = anonymous ? NULL : ip;
    o->user_agent = u.p ? ua : NULL;
    if (u.p) snprintf(ua, 512, "%.*s", (int)(u.n < 511 ? u.n : 511), u.p);
    o->session = se.p && se.n && se.n < 256 ? sess : NULL;
    if (o->session) memcpy(sess, se.p, se.n), sess[se.n] = 0;
}

static void handle_ingest(worker *w, http_conn *c, const http_request *rq, const route_def *rd)
{
    server *s = w->srv;
    metrics_route route = rd->route;
    bool pixel = rd->kind == K_PIXEL || rd->kind == K_SP_GET;
    bool snowplow = rd->kind == K_SP_POST || rd->kind == K_SP_GET;
    int answer = pixel ? ANSWER_GIF : snowplow ? ANSWER_TEXT_OK : ANSWER_JSON;
    if (rq->method != (pixel ? HTTP_GET : HTTP_POST)) {
        reply_error(w, c, rq, route, 405,
                    pixel ? "method not allowed: use GET" : "method not allowed: use POST", NULL,
                    pixel ? "Allow: GET\r\n" : "Allow: POST, OPTIONS\r\n");
        return;
    }
    bool dry = rd->kind == K_VALIDATE || query_flag(rq->query, "dry_run");

    /* Write key from Basic auth, else from ?writeKey= (RudderStack's beacon and pixel routes): a
     * wrong one is refused before any parsing. */
    char userbuf[512];
    long ulen = -1;
    if (rq->headers[HTTP_H_AUTHORIZATION].p)
        ulen = basic_user(rq->headers[HTTP_H_AUTHORIZATION], userbuf, sizeof userbuf);
    else if (rq->query.n)
        ulen = http_query_get(rq->query, "writeKey", userbuf, sizeof userbuf);
    bool need_key = s->cfg.write_keys.n > 0;
    bool key_ok = !need_key;
    if (need_key && ulen > 0) {
        if (!key_known(s, userbuf, (size_t)ulen)) {
            reply_error(w, c, rq, route, 401, "unknown write key", NULL, NULL);
            return;
        }
        key_ok = true;
    }

    metrics_add(&w->m.body_bytes, rq->body_len);
    const char *body = rq->body ? rq->body : "";
    size_t blen = rq->body_len;
    char ip[64], rat[32];
    client_ip(s, rq, ip, sizeof ip);
    /* SP-Anonymous (Snowplow's server-side anonymisation): no IP address is kept. */
    bool anonymous = snowplow && rq->headers[HTTP_H_SP_ANONYMOUS].p;
    char ua[512], sess[256];
    sp_options so = {0};
    if (snowplow) sp_options_of(rq, anonymous, ip, ua, sess, &so);
    if (rd->kind == K_SP_GET) {
        char err[256];
        int rc =
            sp_translate_get(w->sp, rq->query.p, rq->query.n, &so, &body, &blen, err, sizeof err);
        if (rc) {
            reply_error(w, c, rq, route, rc == SL_ENOMEM ? 503 : 400,
                        rc == SL_ENOMEM ? "out of memory" : err, NULL, NULL);
            return;
        }
    } else if (pixel) {
        long pl = pixel_event(w, rq->query);
        if (pl < 0) {
            reply_error(
                w, c, rq, route, 400,
                "bad pixel query: parameters must be percent-encoded, the event at most 16 KiB",
                NULL, NULL);
            return;
        }
        body = w->pixel_body;
        blen = (size_t)pl;
    }
    /* The body decides, not its label: compressed when it says so or starts like gzip/zlib. */
    http_slice ce = rq->headers[HTTP_H_CONTENT_ENCODING];
    bool ce_given = ce.p && !slice_eq(ce, "identity");
    if (!pixel && (ce_given || looks_compressed(body, blen))) {
        if (ce_given && !(ce.n == 4 && !strncasecmp(ce.p, "gzip", 4)) &&
            !(ce.n == 7 && !strncasecmp(ce.p, "deflate", 7))) {
            reply_error(w, c, rq, route, 415, "Content-Encoding must be gzip, deflate or identity",
                        NULL, NULL);
            return;
        }
        int rc = ingest_inflate(w->ig, body, blen, s->cfg.max_batch_bytes, &body, &blen);
        if (rc == SL_ELIMIT) {
            char msg[160];
            snprintf(msg, sizeof msg, "inflated body is over max-batch-bytes (%zu)",
                     s->cfg.max_batch_bytes);
            reply_error(w, c, rq, route, 413, msg, "max_batch_bytes", NULL);
            return;
        }
        if (rc) {
            reply_error(w, c, rq, route, rc == SL_ENOMEM ? 503 : 400,
                        rc == SL_ENOMEM ? "out of memory" : "corrupt compressed body", NULL, NULL);
            return;
        }
    }
    if (!pixel && !content_type_ok(rq->headers[HTTP_H_CONTENT_TYPE]) && !looks_json(body, blen)) {
        reply_error(w, c, rq, route, 415,
                    "body is neither JSON nor gzip/deflate-compressed JSON (Content-Type "
                    "application/json or text/plain is read as JSON; other labels are sniffed)",
                    NULL, NULL);
        return;
    }
    if (rd->kind == K_SP_POST) {
        char err[256];
        int rc = sp_translate_post(w->sp, body, blen, &so, &body, &blen, err, sizeof err);
        if (rc) {
            reply_error(w, c, rq, route, rc == SL_ENOMEM ? 503 : 400,
                        rc == SL_ENOMEM ? "out of memory" : err, NULL, NULL);
            return;
        }
    }

    received_at(w, rat);
    ingest_request ir = {.call = rd->call,
                         .body = body,
                         .len = blen,
                         .client_ip = anonymous ? NULL : ip,
                         .received_at = rat,
                         .dry_run = dry,
                         .check = snowplow ? sp_check : NULL};
    ingest_result res;
    observe_ctx oc = {w, &res, ulen > 0 ? userbuf : NULL, ulen > 0 ? (size_t)ulen : 0};
    if (!dry && (w->ow || s->micro)) {
        res.write_key = NULL;
        res.write_key_len = 0;
        ir.on_event = on_event_checked;
        ir.on_event_ud = &oc;
    }
    int rc = ingest_run(w->ig, w->plan, &ir, &res);
    if (rc) {
        slog("error", "worker %d: ingest failed: %s", w->id, sl_strerror(rc));
        reply_error(w, c, rq, route, rc == SL_ENOMEM ? 503 : 500, sl_strerror(rc), NULL,
                    rc == SL_ENOMEM ? s->retry_after_hdr : NULL);
        return;
    }
    if (!key_ok && res.write_key && key_known(s, res.write_key, res.write_key_len)) key_ok = true;
    /* The key the events are charged to: the Basic user, else the body's writeKey. */
    const char *rkey = ulen > 0 ? userbuf : res.write_key;
    size_t rkeylen = ulen > 0 ? (size_t)ulen : res.write_key_len;
    if (!key_ok) {
        reply_error(w, c, rq, route, 401,
                    res.write_key ? "unknown write key"
                                  : "missing write key (Basic auth or writeKey)",
                    NULL, NULL);
        return;
    }
    if (res.status) {
        reply_error(w, c, rq, route, res.status, res.error, res.limit, NULL);
        return;
    }
    uint64_t retry_ms;
    if (s->rl && !ratelimit_take(s->rl, rkey, rkeylen, res.nevents, uv_hrtime(), &retry_ms)) {
        char hdr[48], msg[128];
        snprintf(hdr, sizeof hdr, "Retry-After: %llu\r\n",
                 (unsigned long long)((retry_ms + 999) / 1000));
        snprintf(msg, sizeof msg, "rate limit exceeded for this write key: retry in %llu ms",
                 (unsigned long long)retry_ms);
        metrics_add(&w->m.rate_limited_requests, 1);
        metrics_add(&w->m.rate_limited_events, res.nevents);
        reply_error(w, c, rq, route, 429, msg, "rate_limit", hdr);
        return;
    }
    if (dry) {
        reply(w, c, rq, route, 200, res.report, res.report_len, NULL);
        return;
    }
    metrics_add(&w->m.events_valid, res.nvalid);
    metrics_add(&w->m.events_invalid, res.ninvalid);
    for (int k = 0; k < SL_KIND__COUNT; k++)
        if (res.kinds[k]) metrics_add(&w->m.violations[k], res.kinds[k]);
    if (res.nentries == 0) {
        reply_ok(w, c, rq, route, answer);
        return;
    }
    pending *pd = w->free_pending;
    if (pd)
        w->free_pending = pd->next;
    else if (!(pd = malloc(sizeof *pd))) {
        reply_error(w, c, rq, route, 503, "out of memory", NULL, s->retry_after_hdr);
        return;
    }
    pd->w = w;
    pd->c = c;
    pd->route = route;
    pd->answer = answer;
    rc = w->dur ? durable_write(w->dur, res.entries, res.nentries, on_sink_done, pd)
                : sink_write(w->sink, res.entries, res.nentries, on_sink_done, pd);
    if (rc) {
        pd->next = w->free_pending;
        w->free_pending = pd;
        uint64_t now = uv_now(&w->loop);
        if (now - w->last_fail_log >= 1000 || !w->last_fail_log) {
            slog("warn", "worker %d: Redis write refused: %s; answering 503", w->id,
                 sl_strerror(rc));
            w->last_fail_log = now;
        }
        reply_error(w, c, rq, route, 503, "events not stored: Redis unavailable", NULL,
                    s->retry_after_hdr);
    }
}

/* GET /v1/violations/stream: the live feed of invalid events as Server-Sent Events (sse.h). */
static void handle_stream(worker *w, http_conn *c, const http_request *rq)
{
    if (rq->method != HTTP_GET) {
        reply_error(w, c, rq, METRICS_R_OTHER, 405, "method not allowed: use GET", NULL,
                    "Allow: GET\r\n");
        return;
    }
    char hdrs[1536];
    size_t hl = cors_headers(w->srv, rq, false, hdrs, sizeof hdrs);
    hdrs[hl] = 0;
    int rc = w->sse && !w->draining ? sse_attach(w->sse, c, rq, hdrs) : SL_EIO;
    if (rc == 0) {
        metrics_count_request(&w->m, METRICS_R_OTHER, 200);
    } else if (rc == SL_EUSAGE) {
        reply_error(w, c, rq, METRICS_R_OTHER, 400,
                    "bad query: event, write_key, session: percent-encoded, at most 512 bytes; "
                    "keepalive: 1..300 seconds",
                    NULL, NULL);
    } else {
        reply_error(w, c, rq, METRICS_R_OTHER, 503,
                    rc == SL_ELIMIT ? "too many stream clients on this worker"
                    : rc == SL_EIO  ? "shutting down"
                                    : "out of memory",
                    rc == SL_ELIMIT ? "max_stream_clients" : NULL, w->srv->retry_after_hdr);
    }
}

/* GET|POST /micro/{all,good,bad,reset}: the Snowplow-Micro-style QA API (micro.h). */
static void handle_micro(worker *w, http_conn *c, const http_request *rq)
{
    micro *m = w->srv->micro;
    if (!m) {
        reply_error(w, c, rq, METRICS_R_OTHER, 404,
                    "the Micro QA API is off: start sluice serve with --micro N", NULL, NULL);
        return;
    }
    if (rq->method != HTTP_GET && rq->method != HTTP_POST) {
        reply_error(w, c, rq, METRICS_R_OTHER, 405, "method not allowed: use GET or POST", NULL,
                    "Allow: GET, POST\r\n");
        return;
    }
    int status = 500;
    arena *prev = arena_set_current(NULL);
    char *b = micro_answer(m, rq->path.p + 7, rq->path.n - 7, rq->query.p, rq->query.n,
                           rq->method == HTTP_POST ? rq->body : NULL,
                           rq->method == HTTP_POST ? rq->body_len : 0, &status);
    arena_set_current(prev);
    if (!b)
        reply_error(w, c, rq, METRICS_R_OTHER, 503, "out of memory", NULL, NULL);
    else
        reply(w, c, rq, METRICS_R_OTHER, status, b, strlen(b), "Cache-Control: no-cache\r\n");
    free(b);
}

static void on_request(void *ud, http_conn *c, const http_request *rq)
{
    worker *w = ud;
    const route_def *rd = route_find(rq->path);
    metrics_route route = rd ? rd->route : METRICS_R_OTHER;
    if (rq->method == HTTP_OPTIONS) {
        char hdrs[1536];
        size_t hl = cors_headers(w->srv, rq, true, hdrs, sizeof hdrs);
        hdrs[hl] = 0;
        metrics_count_request(&w->m, METRICS_R_PREFLIGHT, 204);
        http_respond(c, 204, hl ? hdrs : "Allow: POST, GET, OPTIONS\r\n", NULL, NULL, 0);
        return;
    }
    if (!rd) {
        if (slice_eq(rq->path, "/v1/violations/stream")) {
            handle_stream(w, c, rq);
            return;
        }
        if (rq->path.n > 7 && !memcmp(rq->path.p, "/micro/", 7)) {
            handle_micro(w, c, rq);
            return;
        }
        if (rq->method == HTTP_GET && w->ow && observe_route(w->ow, w->plan, c, rq)) {
            metrics_count_request(&w->m, METRICS_R_OTHER, 200);
            return;
        }
        reply_error(w, c, rq, route, 404, "no such endpoint", NULL, NULL);
        return;
    }
    if (rd->kind == K_INGEST || rd->kind == K_VALIDATE || rd->kind == K_PIXEL ||
        rd->kind == K_SP_POST || rd->kind == K_SP_GET) {
        handle_ingest(w, c, rq, rd);
        return;
    }
    if (rq->method != HTTP_GET) {
        reply_error(w, c, rq, route, 405, "method not allowed: use GET", NULL, "Allow: GET\r\n");
        return;
    }
    if (rd->kind == K_SP_HEALTH) { /* Snowplow's collector: 200 "OK" */
        char hdrs[REPLY_HDRS];
        http_respond(c, 200, reply_prepare(w, rq, route, 200, NULL, hdrs), "text/plain", "OK", 2);
    } else if (rd->kind == K_HEALTH) {
        static const char b[] = "{\"status\":\"ok\"}";
        reply(w, c, rq, route, 200, b, sizeof b - 1, NULL);
    } else if (rd->kind == K_READY) {
        /* Ready = Redis reachable (and not draining). While Redis is down a spool with room
         * still takes events; the 503 says so, for whoever reads it. With ?spool=1, ready = events
         * are stored one way or the other (Redis, or the spool while it has room): for a load
         * balancer that should not take every node out when their shared Redis goes down. */
        bool spooling = !sink_ready(w->sink) && w->dur && durable_can_accept(w->dur);
        if (!w->draining && (sink_ready(w->sink) || (spooling && query_flag(rq->query, "spool")))) {
            static const char up[] = "{\"status\":\"ready\",\"redis\":\"up\"}";
            static const char sp[] = "{\"status\":\"ready\",\"redis\":\"down\",\"spool\":"
                                     "\"accepting\"}";
            reply(w, c, rq, route, 200, spooling ? sp : up,
                  spooling ? sizeof sp - 1 : sizeof up - 1, NULL);
        } else {
            reply_error(w, c, rq, route, 503,
                        w->draining                            ? "shutting down"
                        : w->dur && durable_can_accept(w->dur) ? "Redis is not reachable; "
                                                                 "events are spooled to disk"
                        : w->dur ? "Redis is not reachable and the spool is full"
                                 : "Redis is not reachable",
                        NULL, w->srv->retry_after_hdr);
        }
    } else {
        size_t len;
        char *text = metrics_render(w->srv->mws, w->srv->nworkers, &w->srv->mg, &len);
        if (!text) {
            reply_error(w, c, rq, route, 503, "out of memory", NULL, NULL);
            return;
        }
        metrics_count_request(&w->m, route, 200);
        http_respond(c, 200, NULL, "text/plain; version=0.0.4; charset=utf-8", text, len);
        free(text);
    }
}

static size_t on_reject(void *ud, const http_request *rq, int status, char *hdrs, size_t cap)
{
    worker *w = ud;
    const route_def *rd = rq->path.p ? route_find(rq->path) : NULL;
    metrics_count_request(&w->m, rd ? rd->route : METRICS_R_OTHER, status);
    return cors_headers(w->srv, rq, false, hdrs, cap);
}

/* ---- worker lifecycle ---------------------------------------------------------------------- */

static void on_stats(uv_timer_t *t)
{
    worker *w = t->data;
    sink_stats ss;
    sink_get_stats(w->sink, &ss);
    metrics_set(&w->m.redis_ok, ss.commands_ok);
    metrics_set(&w->m.redis_failed, ss.commands_failed);
    metrics_set(&w->m.redis_inflight, ss.inflight);
    metrics_set(&w->m.redis_latency_us_sum, ss.latency_us_sum);
    metrics_set(&w->m.redis_latency_count, ss.latency_count);
    metrics_set(&w->m.redis_reconnects, ss.reconnects);
    metrics_set(&w->m.redis_ready, sink_ready(w->sink) ? 1 : 0);
    if (w->dur) {
        durable_stats ds;
        durable_get_stats(w->dur, &ds);
        for (size_t i = 0; i < w->norphans; i++) { /* their backlog counts until replayed */
            durable_stats os;
            durable_get_stats(w->orphans[i], &os);
            ds.spool.bytes += os.spool.bytes;
            ds.backlog_events += os.backlog_events;
            ds.replayed_events += os.replayed_events;
        }
        metrics_set(&w->m.spool_enabled, 1);
        metrics_set(&w->m.spool_bytes, ds.spool.bytes);
        metrics_set(&w->m.spool_backlog, ds.backlog_events);
        metrics_set(&w->m.spool_appends, ds.spooled_events);
        metrics_set(&w->m.spool_fallback, ds.fallback_events);
        metrics_set(&w->m.spool_replayed, ds.replayed_events);
        metrics_set(&w->m.spool_refused, ds.refused_events);
        metrics_set(&w->m.spool_torn, ds.spool.torn_segments);
        metrics_set(&w->m.spool_fsyncs, ds.spool.fsyncs);
    }
    if (w->sse) {
        sse_stats es;
        sse_get_stats(w->sse, &es);
        metrics_set(&w->m.sse_clients, es.clients);
        metrics_set(&w->m.sse_accepted, es.accepted);
        metrics_set(&w->m.sse_refused, es.refused);
        metrics_set(&w->m.sse_sent, es.sent);
        metrics_set(&w->m.sse_dropped, es.dropped);
    }
    http_stats hs;
    http_server_get_stats(w->http, &hs);
    metrics_set(&w->m.bytes_in, hs.bytes_in);
    metrics_set(&w->m.bytes_out, hs.bytes_out);
    metrics_set(&w->m.conns_open, hs.open);
    metrics_set(&w->m.conns_accepted, hs.accepted);
}

static void on_sink_closed(void *ud)
{
    worker *w = ud;
    w->sink = NULL;
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->stats_timer, NULL);
    uv_close((uv_handle_t *)&w->drain_timer, NULL);
    http_server_free(w->http);
    w->http = NULL;
}

static void on_http_drained(void *ud)
{
    worker *w = ud;
    uv_timer_stop(&w->drain_timer);
    if (w->http && w->sink) on_stats(&w->stats_timer);
    if (w->ow) { /* flush the counts it holds; then come back */
        observe_worker *ow = w->ow;
        w->ow = NULL;
        observe_worker_close(ow, on_http_drained, w);
        return;
    }
    if (w->dur) { /* first let writes in progress reach Redis or the spool; then come back */
        durable *d = w->dur;
        w->dur = NULL;
        durable_close(d, on_http_drained, w);
        return;
    }
    if (w->norphans) { /* what they did not replay yet stays on disk for the next run */
        durable *d = w->orphans[--w->norphans];
        durable_close(d, on_http_drained, w);
        return;
    }
    if (w->sink)
        sink_close(w->sink, on_sink_closed, w);
    else
        on_sink_closed(w);
}

static void on_drain_deadline(uv_timer_t *t)
{
    worker *w = t->data;
    slog("warn", "worker %d: drain deadline reached; closing remaining connections", w->id);
    http_server_close_all(w->http);
}

static void on_wake(uv_async_t *a)
{
    worker *w = a->data;
    uv_mutex_lock(&w->mbox_lock);
    plan *np = w->mbox_plan;
    bool drain = w->mbox_drain;
    w->mbox_plan = NULL;
    uv_mutex_unlock(&w->mbox_lock);
    if (np) {
        plan_release(w->plan);
        w->plan = np;
    }
    if (drain && !w->draining) {
        w->draining = true;
        if (w->sse) { /* ends the streams, so the HTTP drain does not wait for them */
            sse_close(w->sse, NULL, NULL);
            w->sse = NULL;
        }
        uv_timer_start(&w->drain_timer, on_drain_deadline, (uint64_t)w->srv->cfg.drain_timeout_ms,
                       0);
        if (w->http)
            http_server_drain(w->http, on_http_drained, w);
        else
            on_http_drained(w);
    }
}

static void worker_main(void *arg)
{
    worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    atomic_store(&w->finished, true);
}

static void durable_log(void *ud, const char *level, const char *msg)
{
    worker *w = ud;
    slog(level, "worker %d: %s", w->id, msg);
}

/* A run with more workers may have left spools (DIR/worker-K, K >= the worker count) holding
 * acknowledged events Redis never got: worker K % nworkers opens each such spool too and only
 * replays it (nothing new is written there), so a smaller --workers loses nothing. */
static int worker_open_orphans(worker *w, const char *parent)
{
    size_t nw = w->srv->nworkers;
    DIR *d = opendir(parent);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "worker-", 7) || !isdigit((unsigned char)e->d_name[7])) continue;
        unsigned long k = strtoul(e->d_name + 7, &end, 10);
        if (*end || k < nw || k % nw != (size_t)w->id) continue;
        char dir[4096], err[512] = "";
        if (snprintf(dir, sizeof dir, "%s/%s", parent, e->d_name) >= (int)sizeof dir) continue;
        durable **na = realloc(w->orphans, (w->norphans + 1) * sizeof *na);
        if (!na) {
            rc = SL_ENOMEM;
            break;
        }
        w->orphans = na;
        durable_config dc = {.spool_dir = dir, .log = durable_log, .log_ud = w};
        int orc = durable_open(&w->loop, w->sink, &dc, &w->orphans[w->norphans], err, sizeof err);
        if (orc == SL_ENOMEM) {
            rc = orc;
        } else if (orc) {
            slog("error", "worker %d: cannot replay the spool %s (%s); its events wait there",
                 w->id, dir, err);
        } else {
            w->norphans++;
            slog("info", "worker %d: also replays %s, left by a run with more workers", w->id, dir);
        }
    }
    closedir(d);
    return rc;
}

/* Opens DIR/worker-N (DIR = --spool-dir or DATA-DIR/spool). A spool that cannot be opened (e.g.
 * locked by another collector) leaves the worker without one: it answers 503 while Redis is down,
 * so nothing is lost, and says so in the log. */
static int worker_open_spool(worker *w)
{
    const serve_config *c = &w->srv->cfg;
    char dir[4096], err[512] = "";
    int n = c->spool_dir && *c->spool_dir
                ? snprintf(dir, sizeof dir, "%s/worker-%d", c->spool_dir, w->id)
                : snprintf(dir, sizeof dir, "%s/spool/worker-%d", c->data_dir, w->id);
    if (n < 0 || (size_t)n >= sizeof dir) return SL_EUSAGE;
    durable_config dc = {
        .spool_dir = dir, .spool_max_bytes = c->spool_max_bytes, .log = durable_log, .log_ud = w};
    int rc = durable_open(&w->loop, w->sink, &dc, &w->dur, err, sizeof err);
    if (rc == SL_ENOMEM) return rc;
    if (rc) {
        slog("error", "worker %d: no disk spool (%s): 503 while Redis is down", w->id, err);
        return 0;
    }
    dir[n - (int)strlen(strrchr(dir, '/'))] = 0; /* the parent: DIR */
    return worker_open_orphans(w, dir);
}

static int worker_init(server *s, worker *w, int id, plan *p, int fd)
{
    w->srv = s;
    w->id = id;
    w->listen_fd = fd;
    int rc;
    uv_mutex_init(&w->mbox_lock);
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->stats_timer);
    w->stats_timer.data = w;
    uv_timer_init(&w->loop, &w->drain_timer);
    w->drain_timer.data = w;
    w->plan = plan_retain(p);
    w->ig = ingest_new(&s->ilim);
    w->sp = sp_decoder_new();
    w->sink = sink_new(&w->loop, &s->scfg);
    w->http = http_server_new(&w->loop, &s->hlim, on_request, on_reject, w);
    if (!w->ig || !w->sp || !w->sink || !w->http) return SL_ENOMEM;
    if (s->obs && !(w->ow = observe_worker_new(s->obs, &w->loop))) return SL_ENOMEM;
    sse_config sc = {.host = s->scfg.host,
                     .port = s->scfg.port,
                     .username = s->scfg.username,
                     .password = s->scfg.password,
                     .timeout_ms = s->scfg.timeout_ms};
    if ((rc = sse_new(&w->loop, &sc, &w->sse))) return rc;
    if (s->cfg.spool_max_bytes && (rc = worker_open_spool(w))) return rc;
    if ((rc = http_server_listen_fd(w->http, fd, (int)s->cfg.backlog))) {
        slog("error", "worker %d: listen: %s", id, uv_strerror(rc));
        return SL_EIO;
    }
    uv_timer_start(&w->stats_timer, on_stats, 1000, 1000);
    return 0;
}

static void worker_cleanup(worker *w)
{
    uv_loop_close(&w->loop);
    uv_mutex_destroy(&w->mbox_lock);
    plan_release(w->plan);
    plan_release(w->mbox_plan);
    ingest_free(w->ig);
    sp_decoder_free(w->sp);
    free(w->orphans);
    while (w->free_pending) {
        pending *n = w->free_pending->next;
        free(w->free_pending);
        w->free_pending = n;
    }
}

/* ---- the main thread: signals, reload, drain --------------------------------------------- */

typedef struct {
    server *srv;
    plan *plan;
    uv_signal_t hup, term, intr;
    uv_timer_t health_timer, stop_timer; /* alert health feed; waits for workers on stop */
    bool stopping;
} mainctx;

/* Main loop, every second: Redis and spool health for the alert engine. */
static void on_health(uv_timer_t *t)
{
    mainctx *mc = t->data;
    server *s = mc->srv;
    bool up = false;
    uint64_t spooled = 0;
    for (size_t i = 0; i < s->nworkers; i++) {
        up = up || atomic_load(&s->workers[i].m.redis_ready);
        spooled += atomic_load(&s->workers[i].m.spool_bytes);
    }
    double cap = (double)s->cfg.spool_max_bytes * (double)s->nworkers;
    observe_health(s->obs, up, cap > 0 ? (double)spooled / cap : 0);
    alert_stats as;
    observe_alert_stats(s->obs, &as);
    metrics_set(&s->mg.alerts_fired, as.fired);
    metrics_set(&s->mg.alerts_suppressed, as.suppressed);
    metrics_set(&s->mg.alerts_publish_failed, as.publish_failed);
    metrics_set(&s->mg.alert_webhooks_delivered, as.webhook_delivered);
    metrics_set(&s->mg.alert_webhooks_failed, as.webhook_failed);
    metrics_set(&s->mg.alert_webhooks_dropped, as.webhook_dropped);
    metrics_set(&s->mg.alert_webhooks_pending, as.webhook_pending);
}

/* Main loop while stopping: once every worker's loop has returned, close the alert engine, so
 * the main loop empties and serve_main can join the threads. */
static void on_stop_poll(uv_timer_t *t)
{
    mainctx *mc = t->data;
    for (size_t i = 0; i < mc->srv->nworkers; i++)
        if (!atomic_load(&mc->srv->workers[i].finished)) return;
    uv_close((uv_handle_t *)&mc->stop_timer, NULL);
    uv_close((uv_handle_t *)&mc->health_timer, NULL);
    if (mc->srv->obs) {
        observe_close(mc->srv->obs, NULL, NULL);
        mc->srv->obs = NULL;
    }
}

static void reload_plan(mainctx *mc)
{
    server *s = mc->srv;
    sl_diags d;
    sl_diags_init(&d, s->cfg.plan_path);
    plan *np = NULL;
    int rc = plan_load_file(s->cfg.plan_path, false, &np, &d);
    if (rc) {
        for (size_t i = 0; i < d.n; i++)
            if (d.v[i].sev == SL_SEV_ERROR)
                slog("error", "reload rejected: %s:%d:%d: %s", s->cfg.plan_path, d.v[i].line,
                     d.v[i].col, d.v[i].msg ? d.v[i].msg : "");
        slog("error", "reload rejected (%s); keeping plan %s version %s", sl_strerror(rc),
             plan_get_name(mc->plan), plan_get_version(mc->plan));
        metrics_add(&s->mg.reloads_failed, 1);
        sl_diags_cleanup(&d);
        return;
    }
    sl_diags_cleanup(&d);
    for (size_t i = 0; i < s->nworkers; i++) {
        worker *w = &s->workers[i];
        uv_mutex_lock(&w->mbox_lock);
        plan_release(w->mbox_plan);
        w->mbox_plan = plan_retain(np);
        uv_mutex_unlock(&w->mbox_lock);
        uv_async_send(&w->wake);
    }
    plan_release(mc->plan);
    mc->plan = np;
    metrics_add(&s->mg.reloads_ok, 1);
    slog("info", "plan reloaded: %s version %s", plan_get_name(np), plan_get_version(np));
}

static void on_signal(uv_signal_t *h, int signum)
{
    mainctx *mc = h->data;
    if (signum == SIGHUP) {
        reload_plan(mc);
        return;
    }
    if (mc->stopping) return;
    mc->stopping = true;
    slog("info", "%s: draining (stop accepting, finish in-flight requests, flush to Redis)",
         signum == SIGTERM ? "SIGTERM" : "SIGINT");
    for (size_t i = 0; i < mc->srv->nworkers; i++) {
        worker *w = &mc->srv->workers[i];
        uv_mutex_lock(&w->mbox_lock);
        w->mbox_drain = true;
        uv_mutex_unlock(&w->mbox_lock);
        uv_async_send(&w->wake);
    }
    uv_close((uv_handle_t *)&mc->hup, NULL);
    uv_close((uv_handle_t *)&mc->term, NULL);
    uv_close((uv_handle_t *)&mc->intr, NULL);
    uv_timer_start(&mc->stop_timer, on_stop_poll, 20, 20);
}

static int server_setup(server *s)
{
    const serve_config *c = &s->cfg;
    s->ilim = (ingest_limits){.max_event_bytes = c->max_event_bytes,
                              .max_batch_bytes = c->max_batch_bytes,
                              .max_batch_events = c->max_batch_events,
                              .max_depth = c->max_depth};
    s->hlim = (http_limits){.max_header_bytes = c->max_header_bytes,
                            .max_body_bytes = c->max_body_bytes,
                            .max_connections = c->max_connections,
                            .idle_timeout_ms = (uint64_t)c->idle_timeout_ms,
                            .request_timeout_ms = (uint64_t)c->request_timeout_ms,
                            .header_timeout_ms = (uint64_t)c->header_timeout_ms,
                            .body_timeout_ms = (uint64_t)c->body_timeout_ms,
                            .min_body_rate = c->min_body_rate};
    snprintf(s->retry_after_hdr, sizeof s->retry_after_hdr, "Retry-After: %ld\r\n",
             c->retry_after_s);
    s->trusted = calloc(c->trusted_proxies.n + 1, sizeof *s->trusted);
    if (!s->trusted) return SL_ENOMEM;
    for (size_t i = 0; i < c->trusted_proxies.n; i++) {
        if (ipnet_parse(c->trusted_proxies.v[i], &s->trusted[i])) {
            fprintf(stderr, "sluice serve: --trusted-proxy: not an IP or CIDR: '%s'\n",
                    c->trusted_proxies.v[i]);
            return SL_EUSAGE;
        }
    }
    s->ntrusted = c->trusted_proxies.n;
    for (size_t i = 0; i < c->cors_origins.n; i++)
        if (!strcmp(c->cors_origins.v[i], "*")) s->cors_any = true;
    if (c->micro_max_events < 0) {
        fprintf(stderr, "sluice serve: --micro: must be 0 (off) or a number of events\n");
        return SL_EUSAGE;
    }
    if (c->micro_max_events > 0 && !(s->micro = micro_new((size_t)c->micro_max_events)))
        return SL_ENOMEM;
    if (c->rate_limit > 0 || c->rate_limit_keys.n) {
        if (!(s->rl = ratelimit_new())) return SL_ENOMEM;
        /* Configured keys get a bucket each; without keys, all traffic shares the fallback. */
        for (size_t i = 0; i < c->write_keys.n && c->rate_limit > 0; i++)
            if (ratelimit_add(s->rl, c->write_keys.v[i], strlen(c->write_keys.v[i]), c->rate_limit,
                              c->rate_burst))
                return SL_ENOMEM;
        if (!c->write_keys.n && ratelimit_set_fallback(s->rl, c->rate_limit, c->rate_burst))
            return SL_EUSAGE;
        for (size_t i = 0; i < c->rate_limit_keys.n; i++) {
            const char *e = c->rate_limit_keys.v[i], *eq = strrchr(e, '=');
            double r = 0;
            config_parse_rate(eq + 1, &r); /* checked by config_load */
            if (r > 0 && ratelimit_add(s->rl, e, (size_t)(eq - e), r, c->rate_burst))
                return SL_ENOMEM;
        }
    }
    return 0;
}

int serve_main(int argc, char **argv)
{
    server srv;
    memset(&srv, 0, sizeof srv);
    server *s = &srv;
    char err[512] = "";
    int rc = config_load(&s->cfg, argc, argv, NULL, stdout, err, sizeof err);
    if (rc == 1) {
        config_cleanup(&s->cfg);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "sluice serve: %s\n", err);
        config_cleanup(&s->cfg);
        return 2;
    }
    int exit_code = 1;
    mainctx mc;
    memset(&mc, 0, sizeof mc);
    mc.srv = s;
    redisproc rp;
    memset(&rp, 0, sizeof rp);
    bool rp_started = false;
    uv_loop_t mloop;
    bool mloop_init = false;
    size_t started = 0, inited = 0;
    int *fds = NULL;

    if ((rc = server_setup(s))) {
        exit_code = rc == SL_EUSAGE ? 2 : 1;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    arena_cjson_install();

    sl_diags d;
    sl_diags_init(&d, s->cfg.plan_path);
    rc = plan_load_file(s->cfg.plan_path, false, &mc.plan, &d);
    sl_diags_print(&d, stderr);
    sl_diags_cleanup(&d);
    if (rc) {
        slog("error", "cannot load plan %s: %s", s->cfg.plan_path, sl_strerror(rc));
        goto out;
    }
    if (s->cfg.write_keys.n == 0)
        slog("warn", "no write keys configured: every write key is accepted (use --write-key)");

    if (s->cfg.redis_url) {
        if (sink_parse_url(s->cfg.redis_url, &s->scfg, &s->scfg_store)) {
            slog("error", "--redis: expected " SINK_URL_FORMS);
            exit_code = 2;
            goto out;
        }
    } else {
        char rerr[512] = "";
        if ((rc = redisproc_start(&rp, s->cfg.redis_bin, s->cfg.data_dir, 0, rerr, sizeof rerr))) {
            slog("error", "cannot start the embedded redis-server: %s", rerr);
            goto out;
        }
        rp_started = true;
        /* The collector talks to its own Redis over the Unix socket (cheaper per command than
         * loopback TCP); the TCP port is there for redis-cli and consumers. */
        s->scfg.host = rp.sock[0] ? rp.sock : "127.0.0.1";
        s->scfg.port = rp.port;
        slog("info", "embedded redis-server pid %d on 127.0.0.1:%d%s%s, data in %s", (int)rp.pid,
             rp.port, rp.sock[0] ? " and " : "", rp.sock, rp.data_dir);
    }
    s->scfg.events_key = s->cfg.events_key;
    s->scfg.invalid_key = s->cfg.invalid_key;
    s->scfg.timeout_ms = (unsigned)s->cfg.redis_timeout_ms;
    s->scfg.linger_us = (unsigned)s->cfg.redis_linger_us;
    s->scfg.max_inflight = s->cfg.redis_max_inflight;

    /* The main loop (signals, alerts) exists before the workers, which feed the alert engine. */
    if (uv_loop_init(&mloop)) goto out;
    mloop_init = true;
    if ((rc = observe_new(&mloop, &s->cfg, &s->scfg, &s->obs))) {
        exit_code = rc == SL_EUSAGE ? 2 : 1;
        goto out;
    }

    long n = s->cfg.workers;
    if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0) n = 1;
    if (n > 256) n = 256;
    s->nworkers = (size_t)n;
    metrics_set(&s->mg.workers, (uint64_t)n);
    s->workers = calloc(s->nworkers, sizeof *s->workers);
    s->mws = calloc(s->nworkers, sizeof *s->mws);
    fds = calloc(s->nworkers, sizeof *fds);
    if (!s->workers || !s->mws || !fds) goto out;
    int port = s->cfg.listen_port;
    for (size_t i = 0; i < s->nworkers; i++)
        fds[i] = -1;
    for (size_t i = 0; i < s->nworkers; i++) {
        char lerr[256];
        if (http_listen_socket(s->cfg.listen_host, &port, (int)s->cfg.backlog, &fds[i], lerr,
                               sizeof lerr)) {
            slog("error", "%s", lerr);
            goto out;
        }
    }
    for (size_t i = 0; i < s->nworkers; i++) {
        s->mws[i] = &s->workers[i].m;
        int fd = fds[i];
        fds[i] = -1; /* the worker's server owns it now */
        if (uv_loop_init(&s->workers[i].loop)) {
            close(fd);
            goto out;
        }
        inited++;
        if (worker_init(s, &s->workers[i], (int)i, mc.plan, fd)) goto out;
    }
    uv_timer_init(&mloop, &mc.health_timer);
    uv_timer_init(&mloop, &mc.stop_timer);
    mc.health_timer.data = mc.stop_timer.data = &mc;
    uv_timer_start(&mc.health_timer, on_health, 1000, 1000);
    uv_signal_init(&mloop, &mc.hup);
    uv_signal_init(&mloop, &mc.term);
    uv_signal_init(&mloop, &mc.intr);
    mc.hup.data = mc.term.data = mc.intr.data = &mc;
    uv_signal_start(&mc.hup, on_signal, SIGHUP);
    uv_signal_start(&mc.term, on_signal, SIGTERM);
    uv_signal_start(&mc.intr, on_signal, SIGINT);
    for (size_t i = 0; i < s->nworkers; i++) {
        if (uv_thread_create(&s->workers[i].thread, worker_main, &s->workers[i])) goto out;
        started++;
    }
    char where[160];
    slog("info", "listening on %s:%d with %zu workers; plan %s version %s; redis %s",
         s->cfg.listen_host, port, s->nworkers, plan_get_name(mc.plan), plan_get_version(mc.plan),
         redisuv_where(s->scfg.host ? s->scfg.host : "127.0.0.1",
                       s->scfg.port ? s->scfg.port : 6379, where, sizeof where));
    uv_run(&mloop, UV_RUN_DEFAULT);
    exit_code = 0;

out:
    if (started < s->nworkers && !mc.stopping) {
        /* Startup failed part-way: ask the running workers to drain so they can be joined. */
        mc.stopping = true;
        for (size_t i = 0; i < started; i++) {
            uv_mutex_lock(&s->workers[i].mbox_lock);
            s->workers[i].mbox_drain = true;
            uv_mutex_unlock(&s->workers[i].mbox_lock);
            uv_async_send(&s->workers[i].wake);
        }
    }
    for (size_t i = 0; i < started; i++)
        uv_thread_join(&s->workers[i].thread);
    for (size_t i = started; i < inited; i++) {
        /* Initialised but never run: close its handles on its own loop. */
        worker *w = &s->workers[i];
        w->mbox_drain = true;
        on_wake(&w->wake);
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    for (size_t i = 0; i < inited; i++)
        worker_cleanup(&s->workers[i]);
    if (mloop_init) {
        /* Start-up failed, or the loop was left with the engine still open: close it here. */
        if (s->obs) {
            observe_close(s->obs, NULL, NULL);
            s->obs = NULL;
        }
        if (!uv_is_closing((uv_handle_t *)&mc.health_timer) && mc.health_timer.loop)
            uv_close((uv_handle_t *)&mc.health_timer, NULL);
        if (!uv_is_closing((uv_handle_t *)&mc.stop_timer) && mc.stop_timer.loop)
            uv_close((uv_handle_t *)&mc.stop_timer, NULL);
        uv_signal_t *sigs[] = {&mc.hup, &mc.term, &mc.intr};
        for (int i = 0; i < 3; i++)
            if (sigs[i]->loop && !uv_is_closing((uv_handle_t *)sigs[i]))
                uv_close((uv_handle_t *)sigs[i], NULL);
        uv_run(&mloop, UV_RUN_DEFAULT);
        uv_loop_close(&mloop);
    }
    if (fds)
        for (size_t i = 0; i < s->nworkers; i++)
            if (fds[i] >= 0) close(fds[i]);
    free(fds);
    if (rp_started) {
        redisproc_stop(&rp);
        slog("info", "embedded redis-server stopped");
    }
    if (exit_code == 0) slog("info", "stopped");
    plan_release(mc.plan);
    free(s->workers);
    free(s->mws);
    free(s->trusted);
    ratelimit_free(s->rl);
    micro_free(s->micro);
    free(s->scfg_store);
    config_cleanup(&s->cfg);
    return exit_code;
}
