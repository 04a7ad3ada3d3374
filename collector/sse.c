/* sse.c - the live violations stream (see sse.h for the promises).
 *
 * Shape: one hiredis async context held by an rlink (rlink.h: reconnects, backoff, the connect
 * deadline), one uv timer, and a doubly linked list of clients. On every new connection AUTH (if
 * any) and SUBSCRIBE are queued; the link is up (subscribed) once Redis confirms the SUBSCRIBE,
 * and messages then fan out to clients.
 * A subscribed connection sends nothing, so hiredis cannot time out on it; a dead peer is found by
 * TCP keepalive or a socket error, a restarted Redis by EOF.
 *
 * The timer is armed for the earliest of: the reconnect time, the handshake deadline, the next
 * keep-alive sweep (once a second while clients exist).
 *
 * Clients: a client is created by sse_attach and freed by its stream's on_close (the HTTP layer
 * calls it from a close callback, never during an http_stream_write), or by sse_close, which ends
 * the stream first so on_close does not fire. A write that fails (peer gone, queue over the bound)
 * marks the client `gone`; it stays on the list, skipped, until on_close. */
#include "sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "agg.h"
#include "arena.h"
#include "redisuv.h"
#include "rlink.h"
#include "sl_buf.h"
#include "sl_err.h"

#define SSE_BACKOFF_MIN_MS 50
#define SSE_BACKOFF_MAX_MS 2000
#define SSE_SWEEP_MS 1000
#define SSE_KEEPALIVE_MAX_S 300
#define SSE_CHANNEL_MAX 128

enum { F_EVENT, F_WRITE_KEY, F_SESSION, F__COUNT };
static const char *const filter_names[F__COUNT] = {"event", "write_key", "session"};

typedef struct sse_client {
    struct sse_client *prev, *next;
    sse *s;
    http_conn *c;
    char *filter[F__COUNT]; /* NUL-terminated, decoded; NULL = any; owned */
    uint64_t keepalive_ms;
    uint64_t last_write_ms;
    bool gone; /* a write failed: the connection is closing, on_close follows */
} sse_client;

struct sse {
    rlink link; /* link.up = subscribed */
    uv_loop_t *loop;
    sse_config cfg;
    char *strings; /* owned copies of cfg strings */
    bool closing;
    uint64_t next_sweep_ms;
    uv_timer_t timer;
    void (*close_done)(void *);
    void *close_ud;
    sse_client *clients;
    size_t nclients;
    size_t nfiltered; /* clients with at least one filter: messages are parsed only then */
    char *frame;      /* reused buffer for one "data: ...\n\n" frame */
    size_t frame_cap;
    sse_stats st;
};

/* ---- timer ----------------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void rearm(sse *s)
{
    if (s->closing) return;
    uint64_t due = rlink_due(&s->link);
    if (s->nclients && s->next_sweep_ms < due) due = s->next_sweep_ms;
    if (due == UINT64_MAX) {
        uv_timer_stop(&s->timer);
        return;
    }
    uint64_t now = uv_now(s->loop);
    uv_timer_start(&s->timer, on_timer, due > now ? due - now : 0, 0);
}

/* ---- clients --------------------------------------------------------------------------------- */

static void client_free(sse *s, sse_client *cl)
{
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        s->clients = cl->next;
    if (cl->next) cl->next->prev = cl->prev;
    s->nclients--;
    bool filtered = false;
    for (int i = 0; i < F__COUNT; i++) {
        filtered |= cl->filter[i] != NULL;
        free(cl->filter[i]);
    }
    if (filtered) s->nfiltered--;
    free(cl);
}

static void on_stream_closed(void *ud)
{
    sse_client *cl = ud;
    client_free(cl->s, cl);
}

static void client_write(sse *s, sse_client *cl, const char *p, size_t n, uint64_t now)
{
    if (cl->gone) return;
    if (http_stream_write(cl->c, p, n) < 0) {
        cl->gone = true;
        s->st.dropped++;
        return;
    }
    cl->last_write_ms = now;
}

static void sweep_keepalive(sse *s, uint64_t now)
{
    static const char ka[] = ": keep-alive\n\n";
    for (sse_client *cl = s->clients; cl; cl = cl->next)
        if (now - cl->last_write_ms >= cl->keepalive_ms)
            client_write(s, cl, ka, sizeof ka - 1, now);
}

/* The message's top-level string field, or NULL. */
static const char *msg_str(const cJSON *msg, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool client_match(const sse_client *cl, const cJSON *msg)
{
    for (int i = 0; i < F__COUNT; i++) {
        if (!cl->filter[i]) continue;
        const char *v = msg ? msg_str(msg, filter_names[i]) : NULL;
        if (!v || strcmp(v, cl->filter[i])) return false;
    }
    return true;
}

/* Builds "data: <payload>\n\n" in s->frame; a line break inside the payload (never in compact
 * JSON, but a publisher may differ) starts a new "data: " line, as SSE requires. */
static size_t build_frame(sse *s, const char *p, size_t n)
{
    size_t breaks = 0;
    for (size_t i = 0; i < n; i++)
        breaks += p[i] == '\n' || p[i] == '\r';
    size_t need = 6 + n + breaks * 6 + 2;
    if (need > s->frame_cap) {
        char *nb = realloc(s->frame, need);
        if (!nb) return 0;
        s->frame = nb;
        s->frame_cap = need;
    }
    char *o = s->frame;
    memcpy(o, "data: ", 6), o += 6;
    if (!breaks) {
        memcpy(o, p, n), o += n;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') continue; /* CRLF: one break */
            if (p[i] == '\n' || p[i] == '\r')
                memcpy(o, "\ndata: ", 7), o += 7;
            else
                *o++ = p[i];
        }
    }
    memcpy(o, "\n\n", 2), o += 2;
    return (size_t)(o - s->frame);
}

static void fanout(sse *s, const char *p, size_t n)
{
    s->st.messages++;
    if (!s->nclients) return;
    cJSON *msg = NULL;
    if (s->nfiltered) {
        arena *prev = arena_set_current(NULL); /* heap, whatever the worker's scope */
        msg = cJSON_ParseWithLength(p, n);
        arena_set_current(prev);
    }
    size_t len = build_frame(s, p, n);
    uint64_t now = uv_now(s->loop);
    for (sse_client *cl = s->clients; len && cl; cl = cl->next) {
        if (cl->gone || !client_match(cl, msg)) continue;
        client_write(s, cl, s->frame, len, now);
        if (!cl->gone) s->st.sent++;
    }
    cJSON_Delete(msg);
}

/* ---- connection ------------------------------------------------------------------------------ */

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)privdata;
    sse *s = rlink_owner(ac);
    const redisReply *reply = r;
    if (s && (!reply || reply->type == REDIS_REPLY_ERROR))
        rlink_fail(&s->link, "AUTH: %.150s", reply ? reply->str : "no reply");
}

/* Every reply on the subscription: the confirmation, then ["message", channel, payload]. */
static void on_sub(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)privdata;
    sse *s = rlink_owner(ac);
    redisReply *reply = r;
    if (!s || !reply) return; /* a dropped context */
    if (reply->type == REDIS_REPLY_ERROR) {
        rlink_fail(&s->link, "SUBSCRIBE: %.150s", reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element[0]->str;
    if (!strcmp(kind, "message") && reply->element[2]->type == REDIS_REPLY_STRING) {
        fanout(s, reply->element[2]->str, reply->element[2]->len);
    } else if (!strcmp(kind, "subscribe")) {
        s->link.last_error[0] = 0;
        rlink_up(&s->link);
        rearm(s);
    }
}

static bool on_link_start(void *owner, redisAsyncContext *ac)
{
    sse *s = owner;
    const char *argv[2] = {"SUBSCRIBE", s->cfg.channel};
    size_t argl[2] = {9, strlen(s->cfg.channel)};
    return redisuv_handshake(ac, on_auth, s->cfg.username, s->cfg.password, 0, false) >= 0 &&
           redisAsyncCommandArgv(ac, on_sub, NULL, 2, argv, argl) == REDIS_OK;
}

static void on_link_down(void *owner)
{
    rearm(owner);
}

static void on_timer(uv_timer_t *t)
{
    sse *s = t->data;
    uint64_t now = uv_now(s->loop);
    if (!s->closing) rlink_tick(&s->link, now);
    if (now >= s->next_sweep_ms) {
        sweep_keepalive(s, now);
        s->next_sweep_ms = now + SSE_SWEEP_MS;
    }
    rearm(s);
}

/* ---- query parsing --------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes (and '+' = space) p[0..n) into a new NUL-terminated string. Returns SL_EUSAGE
 * for a bad escape, a NUL byte or more than SSE_FILTER_MAX decoded bytes; SL_ENOMEM. */
static int query_decode(const char *p, size_t n, char **out)
{
    char *d = malloc(n + 1);
    if (!d) return SL_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            int hi = i + 2 < n ? hexval(p[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(p[i + 2]) : -1;
            if (lo < 0) {
                free(d);
                return SL_EUSAGE;
            }
            ch = (char)(hi << 4 | lo);
            i += 2;
        }
        if (!ch) {
            free(d);
            return SL_EUSAGE;
        }
        d[o++] = ch;
    }
    d[o] = 0;
    if (o > SSE_FILTER_MAX) {
        free(d);
        return SL_EUSAGE;
    }
    *out = d;
    return 0;
}

static int parse_query(sse_client *cl, http_slice q)
{
    size_t i = 0;
    while (i < q.n) {
        size_t e = i;
        while (e < q.n && q.p[e] != '&')
            e++;
        const char *eq = memchr(q.p + i, '=', e - i);
        size_t kl = eq ? (size_t)(eq - (q.p + i)) : e - i;
        const char *v = eq ? eq + 1 : q.p + e;
        size_t vl = (size_t)(q.p + e - v);
        for (int f = 0; f < F__COUNT; f++) {
            if (strlen(filter_names[f]) != kl || memcmp(filter_names[f], q.p + i, kl)) continue;
            free(cl->filter[f]);
            cl->filter[f] = NULL;
            int rc = query_decode(v, vl, &cl->filter[f]);
            if (rc) return rc;
        }
        if (kl == 9 && !memcmp(q.p + i, "keepalive", 9)) {
            char *end, buf[16];
            if (!vl || vl >= sizeof buf) return SL_EUSAGE;
            memcpy(buf, v, vl);
            buf[vl] = 0;
            long sec = strtol(buf, &end, 10);
            if (*end || sec < 1 || sec > SSE_KEEPALIVE_MAX_S) return SL_EUSAGE;
            cl->keepalive_ms = (uint64_t)sec * 1000;
        }
        i = e + 1;
    }
    return 0;
}

/* ---- public API ------------------------------------------------------------------------------ */

int sse_new(uv_loop_t *loop, const sse_config *cfg, sse **out)
{
    static const sse_config defaults = {0};
    if (!cfg) cfg = &defaults;
    const char *channel = cfg->channel ? cfg->channel : AGG_DEFAULT_CHANNEL;
    if (!*channel || strlen(channel) > SSE_CHANNEL_MAX) return SL_EUSAGE;
    sse *s = calloc(1, sizeof *s);
    if (!s) return SL_ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    const char *strs[] = {cfg->host ? cfg->host : "127.0.0.1", cfg->username, cfg->password,
                          channel};
    const char **dst[] = {&s->cfg.host, &s->cfg.username, &s->cfg.password, &s->cfg.channel};
    if (!(s->strings = sl_strs_copy(sizeof strs / sizeof strs[0], strs, dst))) {
        free(s);
        return SL_ENOMEM;
    }
    if (s->cfg.username && !s->cfg.password) s->cfg.username = NULL; /* AUTH needs a password */
    if (!s->cfg.port) s->cfg.port = 6379;
    if (!s->cfg.max_clients) s->cfg.max_clients = 256;
    if (!s->cfg.keepalive_ms) s->cfg.keepalive_ms = 15000;
    if (!s->cfg.retry_ms) s->cfg.retry_ms = 2000;
    if (!s->cfg.timeout_ms) s->cfg.timeout_ms = 2000;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    rlink_init(&s->link, loop,
               &(rlink_config){.host = s->cfg.host,
                               .port = s->cfg.port,
                               .timeout_ms = s->cfg.timeout_ms,
                               .backoff_min_ms = SSE_BACKOFF_MIN_MS,
                               .backoff_max_ms = SSE_BACKOFF_MAX_MS,
                               .owner = s,
                               .start = on_link_start,
                               .down = on_link_down});
    rlink_connect(&s->link);
    rearm(s);
    *out = s;
    return 0;
}

int sse_attach(sse *s, http_conn *c, const http_request *rq, const char *extra_headers)
{
    if (s->closing) return SL_EIO;
    if (s->nclients >= s->cfg.max_clients) {
        s->st.refused++;
        return SL_ELIMIT;
    }
    sse_client *cl = calloc(1, sizeof *cl);
    if (!cl) return SL_ENOMEM;
    cl->s = s;
    cl->c = c;
    cl->keepalive_ms = s->cfg.keepalive_ms;
    int rc = parse_query(cl, rq->query);
    if (rc) {
        for (int i = 0; i < F__COUNT; i++)
            free(cl->filter[i]);
        free(cl);
        return rc;
    }
    char hdrs[1600];
    int n = snprintf(hdrs, sizeof hdrs, "%sX-Accel-Buffering: no\r\n",
                     extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof hdrs) hdrs[0] = 0;
    rc = http_stream_start(c, hdrs, "text/event-stream; charset=utf-8", on_stream_closed, cl);
    if (rc) { /* answered (503 while draining) or already gone: nothing to keep */
        for (int i = 0; i < F__COUNT; i++)
            free(cl->filter[i]);
        free(cl);
        return 0;
    }
    cl->next = s->clients;
    if (s->clients) s->clients->prev = cl;
    s->clients = cl;
    s->nclients++;
    for (int i = 0; i < F__COUNT; i++)
        if (cl->filter[i]) {
            s->nfiltered++;
            break;
        }
    s->st.accepted++;
    char first[48];
    n = snprintf(first, sizeof first, "retry: %u\n\n", s->cfg.retry_ms);
    uint64_t now = uv_now(s->loop);
    client_write(s, cl, first, (size_t)n, now);
    if (s->nclients == 1) {
        s->next_sweep_ms = now + SSE_SWEEP_MS;
        rearm(s);
    }
    return 0;
}

void sse_get_stats(const sse *s, sse_stats *out)
{
    *out = s->st;
    out->clients = s->nclients;
    out->subscribed = s->link.up;
    out->reconnects = s->link.reconnects;
}

const char *sse_last_error(const sse *s)
{
    return s->link.last_error;
}

static void on_timer_closed(uv_handle_t *h)
{
    sse *s = h->data;
    void (*done)(void *) = s->close_done;
    void *ud = s->close_ud;
    free(s->frame);
    free(s->strings);
    free(s);
    if (done) done(ud);
}

void sse_close(sse *s, void (*done)(void *ud), void *ud)
{
    if (s->closing) return;
    s->closing = true;
    s->close_done = done;
    s->close_ud = ud;
    while (s->clients) {
        sse_client *cl = s->clients;
        http_stream_end(cl->c); /* on_close will not fire for it */
        client_free(s, cl);
    }
    rlink_close(&s->link);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
