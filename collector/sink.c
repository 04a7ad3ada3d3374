/* sink.c - Redis Streams writer on a libuv loop (see sink.h for the promises).
 *
 * Shape: one hiredis async context per sink, held by an rlink (rlink.h: down / connecting / up,
 * backoff, connect deadline; redisuv.h for the socket watcher). The sink is ready when its link is
 * up: the link's handshake (AUTH / SELECT / PING) is queued before anything else on every new
 * connection and the link comes up only when all of it succeeded, so /readyz never says yes to a
 * wrong password.
 *
 * A write group is a set of XADDs queued back to back (pipelined). Each reply decrements the
 * group's `pending` count; the callback fires once (`answered`): on the first error, or after the
 * last reply. The group struct lives on until every one of its replies came back (possibly as a
 * NULL reply), so hiredis never calls back into freed memory; freed groups go to a small free list.
 *
 * Deadlines: hiredis 0.14 has no command timeouts, so one uv timer is armed for the earliest of:
 * the oldest group's deadline (groups are FIFO, deadlines grow), the handshake deadline, the
 * reconnect time. When a group's deadline passes, the expired groups fail with SL_ELIMIT and the
 * context is freed with redisAsyncFree, which runs every outstanding reply callback with a NULL
 * reply before returning: the other groups fail with SL_EIO and no late reply can ever arrive.
 * An idle ready sink sends a PING every SINK_HEARTBEAT_MS (a group of its own, under the same
 * deadline), so a hung Redis or a dead peer turns sink_ready() false without waiting for traffic;
 * TCP keepalive is on as well.
 *
 * Re-entrancy: user callbacks may call sink_write (fails fast unless ready) or sink_close. Inside a
 * hiredis reply callback redisAsyncFree is deferred by hiredis until the callback returns; the sink
 * itself is freed only from the timer's close callback, after all hiredis callbacks are done.
 * The password is never copied into an error message. */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/sds.h>
#include <hiredis/hiredis.h>

#include "redisuv.h"
#include "rlink.h"
#include "sl_buf.h"
#include "sl_err.h"

#define SINK_BACKOFF_MIN_MS 50
#define SINK_BACKOFF_MAX_MS 2000
#define SINK_FREE_GROUPS_MAX 256
#define SINK_HEARTBEAT_MS 1000 /* an idle ready sink PINGs this often, so readiness stays true */

typedef struct group {
    struct group *prev, *next; /* the sink's list of unanswered groups, oldest first */
    sink *s;
    sink_done_cb cb;
    void *ud;
    size_t pending; /* replies still to come from hiredis */
    int status;     /* first error seen */
    bool answered;  /* cb has fired (it is then off the list) */
    bool heartbeat; /* our own PING: no cb, not in stats or inflight */
    uint64_t deadline_ms;
    uint64_t start_ns;
} group;

struct sink {
    rlink link; /* the connection: link.ac, link.up (= ready), link.where, link.last_error */
    uv_loop_t *loop;
    sink_config cfg;
    char *strings; /* owned copies of cfg strings */
    bool closing;
    uint64_t last_reply_ms; /* for the idle heartbeat */
    uv_timer_t timer;
    bool timer_armed;
    uint64_t timer_due_ms;
    void (*close_done)(void *);
    void *close_ud;
    group *head, *tail; /* unanswered groups */
    group *free_groups; /* recycled structs, singly linked through next */
    size_t nfree;
    size_t inflight; /* XADDs sent and not yet replied to */
    sink_stats st;
    char *cmd; /* RESP text of the XADD being queued (reused; hiredis copies it) */
    size_t cmd_cap;
};

/* ---- URL ------------------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes %XX in place; false on a bad escape or an encoded NUL. */
static bool pct_decode(char *p)
{
    char *w = p;
    for (; *p; p++) {
        if (*p != '%') {
            *w++ = *p;
            continue;
        }
        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false;
        *w++ = (char)(hi * 16 + lo);
        p += 2;
    }
    *w = '\0';
    return true;
}

/* Parses a decimal in [lo, hi] spanning all of p. */
static bool parse_num(const char *p, long lo, long hi, long *out)
{
    if (!*p) return false;
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
        if (v > hi) return false;
    }
    if (v < lo) return false;
    *out = v;
    return true;
}

/* The userinfo of a URL, in place: "user:pass", ":pass" or "pass" (a password alone, as
 * redis-cli reads it), %XX-decoded. Returns false when malformed or the password is empty. */
static bool parse_userinfo(char *ui, const char **user, const char **pass)
{
    char *colon = strchr(ui, ':');
    if (colon) {
        *colon = '\0';
        *user = ui[0] ? ui : NULL;
        *pass = colon + 1;
    } else {
        *pass = ui;
    }
    return (!*user || pct_decode(ui)) && pct_decode((char *)*pass) && (*pass)[0];
}

/* unix://[[user]:pass@]/path/to/redis.sock[?db=N]: buf is the copy after "unix://". */
static int parse_unix_url(char *buf, sink_config *cfg)
{
    const char *user = NULL, *pass = NULL;
    long db = -1;
    char *path = buf;
    if (buf[0] != '/') { /* credentials first: everything up to the '@' before the path */
        char *at = strstr(buf, "@/");
        if (!at) return SL_EUSAGE;
        *at = '\0';
        path = at + 1;
        if (!parse_userinfo(buf, &user, &pass)) return SL_EUSAGE;
    }
    char *q = strchr(path, '?');
    if (q) {
        *q = '\0';
        if (strncmp(q + 1, "db=", 3) != 0 || !parse_num(q + 4, 0, 100000, &db)) return SL_EUSAGE;
    }
    if (strchr(path, '#') || path[1] == '\0') return SL_EUSAGE;
    cfg->host = path;
    if (db >= 0) cfg->db = (int)db;
    if (pass) {
        cfg->username = user;
        cfg->password = pass;
    }
    return 0;
}

/* redis://[[user]:pass@]host[:port][/db]: buf is the copy after "redis://". */
static int parse_tcp_url(char *buf, sink_config *cfg)
{
    const char *user = NULL, *pass = NULL;
    long port = -1, db = -1;
    char *host = buf;
    if (strpbrk(buf, "?#")) return SL_EUSAGE; /* no options supported: say so, not ignore them */
    char *at = strrchr(buf, '@');
    if (at) {
        *at = '\0';
        host = at + 1;
        if (!parse_userinfo(buf, &user, &pass)) return SL_EUSAGE;
    }
    char *slash = strchr(host, '/');
    if (slash) {
        *slash = '\0';
        if (slash[1] && !parse_num(slash + 1, 0, 100000, &db)) return SL_EUSAGE; /* "/": keep db */
    }
    char *portp = NULL;
    bool bracketed = host[0] == '[';
    if (bracketed) { /* [v6addr][:port] */
        char *close = strchr(host, ']');
        if (!close || close == host + 1) return SL_EUSAGE;
        *close = '\0';
        host++;
        if (close[1] == ':')
            portp = close + 2;
        else if (close[1])
            return SL_EUSAGE;
    } else {
        char *colon = strchr(host, ':');
        if (colon) {
            *colon = '\0';
            portp = colon + 1;
        }
    }
    if (portp && !parse_num(portp, 1, 65535, &port)) return SL_EUSAGE;
    if (!host[0] || strpbrk(host, "@/[]")) return SL_EUSAGE;
    if (bracketed && strspn(host, "0123456789abcdefABCDEF:.") != strlen(host)) return SL_EUSAGE;
    cfg->host = host;
    if (port > 0) cfg->port = (int)port;
    if (db >= 0) cfg->db = (int)db;
    if (pass) {
        cfg->username = user;
        cfg->password = pass;
    }
    return 0;
}

int sink_parse_url(const char *url, sink_config *cfg, char **store)
{
    static const char pfx[] = "redis://", upfx[] = "unix://";
    *store = NULL;
    bool unix_url = url && strncmp(url, upfx, sizeof upfx - 1) == 0;
    if (!url || (!unix_url && strncmp(url, pfx, sizeof pfx - 1) != 0)) return SL_EUSAGE;
    char *buf = strdup(url + (unix_url ? sizeof upfx : sizeof pfx) - 1);
    if (!buf) return SL_ENOMEM;
    sink_config tmp = *cfg; /* cfg changes only when the whole URL parsed */
    if ((unix_url ? parse_unix_url : parse_tcp_url)(buf, &tmp)) {
        free(buf);
        return SL_EUSAGE;
    }
    *cfg = tmp;
    *store = buf;
    return 0;
}

/* ---- timer ----------------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

/* Arms the timer for the earliest thing the sink waits for (or stops it when nothing). */
static void rearm(sink *s)
{
    if (s->closing) return;
    uint64_t due = UINT64_MAX;
    if (s->head) due = s->head->deadline_ms;
    uint64_t link_due = rlink_due(&s->link);
    if (link_due < due) due = link_due;
    if (s->link.up && !s->head && s->last_reply_ms + SINK_HEARTBEAT_MS < due)
        due = s->last_reply_ms + SINK_HEARTBEAT_MS;
    if (due == UINT64_MAX) {
        if (s->timer_armed) uv_timer_stop(&s->timer);
        s->timer_armed = false;
        return;
    }
    if (s->timer_armed && s->timer_due_ms <= due) return; /* fires early enough; re-checks then */
    uint64_t now = uv_now(s->loop);
    uv_timer_start(&s->timer, on_timer, due > now ? due - now : 0, 0);
    s->timer_armed = true;
    s->timer_due_ms = due;
}

/* ---- groups ---------------------------------------------------------------------------------- */

static group *group_alloc(sink *s)
{
    group *g = s->free_groups;
    if (g) {
        s->free_groups = g->next;
        s->nfree--;
        memset(g, 0, sizeof *g);
        return g;
    }
    return calloc(1, sizeof *g);
}

static void group_release(sink *s, group *g)
{
    if (s->nfree < SINK_FREE_GROUPS_MAX && !s->closing) {
        g->next = s->free_groups;
        s->free_groups = g;
        s->nfree++;
    } else {
        free(g);
    }
}

static void group_unlink(sink *s, group *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        s->head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else
        s->tail = g->prev;
    g->prev = g->next = NULL;
}

/* Fires the callback once and takes the group off the unanswered list. */
static void group_answer(sink *s, group *g, int status)
{
    if (g->answered) return;
    g->answered = true;
    group_unlink(s, g);
    if (g->heartbeat) return;
    if (status == 0) {
        s->st.latency_us_sum += (uv_hrtime() - g->start_ns) / 1000;
        s->st.latency_count++;
        s->st.groups_ok++;
    } else {
        s->st.groups_failed++;
    }
    g->cb(g->ud, status);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    group *g = privdata;
    sink *s = g->s;
    redisReply *reply = r;
    if (!g->heartbeat) s->inflight--;
    if (!reply) { /* the context is going away: nothing more can be written on it */
        s->link.up = false;
        if (!g->heartbeat) s->st.commands_failed++;
        if (!g->status) g->status = SL_EIO;
    } else {
        s->last_reply_ms = uv_now(s->loop);
        if (reply->type == REDIS_REPLY_ERROR) {
            if (!g->heartbeat) s->st.commands_failed++;
            rlink_error(&s->link, "%s: %.150s", g->heartbeat ? "PING" : "XADD", reply->str);
            if (!g->status) g->status = SL_EIO;
        } else if (!g->heartbeat) {
            s->st.commands_ok++;
        }
    }
    g->pending--;
    if (g->status || g->pending == 0) group_answer(s, g, g->status);
    if (g->pending == 0) group_release(s, g);
}

/* Appends a queued group to the unanswered list (its deadline is the latest). */
static void group_link(sink *s, group *g)
{
    g->prev = s->tail;
    if (s->tail)
        s->tail->next = g;
    else
        s->head = g;
    s->tail = g;
}

static void send_heartbeat(sink *s)
{
    group *g = group_alloc(s);
    if (!g) return; /* retried on the next tick */
    g->s = s;
    g->heartbeat = true;
    g->deadline_ms = uv_now(s->loop) + s->cfg.timeout_ms;
    if (redisAsyncCommand(s->link.ac, on_reply, g, "PING") != REDIS_OK) {
        group_release(s, g);
        return;
    }
    g->pending = 1;
    group_link(s, g);
}

/* ---- connection ------------------------------------------------------------------------------ */

static bool on_link_start(void *owner, redisAsyncContext *ac)
{
    sink *s = owner;
    /* Best effort: without a timerfd the sink writes every loop turn, as with linger 0. */
    if (s->cfg.linger_us) (void)redisuv_set_linger(ac, s->cfg.linger_us, SINK_LINGER_BYTES);
    return rlink_handshake(&s->link, ac, true);
}

static void on_link_up(void *owner)
{
    sink *s = owner;
    s->last_reply_ms = uv_now(s->loop);
    rearm(s);
}

static void on_link_down(void *owner)
{
    rearm(owner);
}

static void on_timer(uv_timer_t *t)
{
    sink *s = t->data;
    s->timer_armed = false;
    uint64_t now = uv_now(s->loop);
    /* The oldest group expired: a stuck Redis makes every later reply suspect too, so the
     * connection is dropped (failing the rest with SL_EIO) and re-made. */
    if (s->head && now >= s->head->deadline_ms) {
        s->st.timeouts++;
        s->link.up = false; /* callbacks below cannot queue onto the doomed context */
        rlink_error(&s->link, "no reply from %s within %u ms", s->link.where, s->cfg.timeout_ms);
        while (s->head && now >= s->head->deadline_ms && !s->closing)
            group_answer(s, s->head, SL_ELIMIT);
        rlink_drop(&s->link);
    }
    if (!s->closing) rlink_tick(&s->link, now);
    if (s->link.up && !s->head && now >= s->last_reply_ms + SINK_HEARTBEAT_MS) {
        send_heartbeat(s);
        s->last_reply_ms = now; /* one PING per period, even if it cannot be queued */
    }
    rearm(s);
}

/* ---- public API ------------------------------------------------------------------------------ */

sink *sink_new(uv_loop_t *loop, const sink_config *cfg)
{
    sink *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->loop = loop;
    s->cfg = *cfg;
    const char *strs[] = {cfg->host ? cfg->host : "127.0.0.1", cfg->username, cfg->password,
                          cfg->events_key ? cfg->events_key : "sluice:events",
                          cfg->invalid_key ? cfg->invalid_key : "sluice:invalid"};
    const char **dst[] = {&s->cfg.host, &s->cfg.username, &s->cfg.password, &s->cfg.events_key,
                          &s->cfg.invalid_key};
    if (!(s->strings = sl_strs_copy(sizeof strs / sizeof strs[0], strs, dst))) {
        free(s);
        return NULL;
    }
    if (s->cfg.username && !s->cfg.password) s->cfg.username = NULL; /* AUTH needs a password */
    if (!s->cfg.port) s->cfg.port = 6379;
    if (!s->cfg.timeout_ms) s->cfg.timeout_ms = 2000;
    if (!s->cfg.max_inflight) s->cfg.max_inflight = 100000;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    rlink_init(&s->link, loop,
               &(rlink_config){.host = s->cfg.host,
                               .port = s->cfg.port,
                               .username = s->cfg.username,
                               .password = s->cfg.password,
                               .db = s->cfg.db,
                               .timeout_ms = s->cfg.timeout_ms,
                               .backoff_min_ms = SINK_BACKOFF_MIN_MS,
                               .backoff_max_ms = SINK_BACKOFF_MAX_MS,
                               .owner = s,
                               .start = on_link_start,
                               .up = on_link_up,
                               .down = on_link_down});
    rlink_connect(&s->link);
    return s;
}

bool sink_ready(const sink *s)
{
    return s->link.up && !s->closing;
}

const char *sink_last_error(const sink *s)
{
    return s->link.last_error;
}

void sink_get_stats(const sink *s, sink_stats *out)
{
    *out = s->st;
    out->inflight = s->inflight;
    out->reconnects = s->link.reconnects;
}

/* Formats argv as one RESP command (*N, then $len + bytes per argument) into s->cmd; returns its
 * length, or 0 when the buffer could not grow. */
static size_t resp_format(sink *s, int argc, const char *const *argv, const size_t *argl)
{
    size_t need = 16;
    for (int i = 0; i < argc; i++)
        need += argl[i] + 24; /* '$', up to 20 digits, two CRLFs */
    if (need > s->cmd_cap) {
        size_t cap = s->cmd_cap ? s->cmd_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *np = realloc(s->cmd, cap);
        if (!np) return 0;
        s->cmd = np;
        s->cmd_cap = cap;
    }
    char *w = s->cmd;
    *w++ = '*';
    *w++ = (char)('0' + argc); /* argc <= 9 (sink_write's argv) */
    *w++ = '\r';
    *w++ = '\n';
    for (int i = 0; i < argc; i++) {
        char digits[24];
        size_t nd = 0, v = argl[i];
        do
            digits[nd++] = (char)('0' + v % 10);
        while (v /= 10);
        *w++ = '$';
        while (nd)
            *w++ = digits[--nd];
        *w++ = '\r';
        *w++ = '\n';
        memcpy(w, argv[i], argl[i]);
        w += argl[i];
        *w++ = '\r';
        *w++ = '\n';
    }
    return (size_t)(w - s->cmd);
}

int sink_write(sink *s, const sink_entry *entries, size_t n, sink_done_cb cb, void *ud)
{
    if (n == 0 || !cb) return SL_EUSAGE;
    for (size_t i = 0; i < n; i++)
        if (!entries[i].event_json) return SL_EUSAGE;
    if (!sink_ready(s) || !s->link.ac) return SL_EIO;
    if (n > s->cfg.max_inflight || s->inflight > s->cfg.max_inflight - n) return SL_ELIMIT;
    group *g = group_alloc(s);
    if (!g) return SL_ENOMEM;
    g->s = s;
    g->cb = cb;
    g->ud = ud;
    g->start_ns = uv_hrtime();
    g->deadline_ms = uv_now(s->loop) + s->cfg.timeout_ms;
    size_t evlen = strlen(s->cfg.events_key), invlen = strlen(s->cfg.invalid_key);
    /* hiredis appends each command to its output buffer and frees that buffer once written, so
     * a group of commands would regrow it (a copy per doubling): make room for all at once. The
     * RESP framing of one XADD is under 160 bytes plus its arguments. Best effort. */
    size_t room = 0;
    for (size_t i = 0; i < n; i++)
        room += 160 + (evlen > invlen ? evlen : invlen) + entries[i].event_len +
                entries[i].violations_len + entries[i].message_id_len;
    sds ob = sdsMakeRoomFor(s->link.ac->c.obuf, room);
    if (ob) s->link.ac->c.obuf = ob;
    for (size_t i = 0; i < n; i++) {
        const sink_entry *e = &entries[i];
        const char *argv[9];
        size_t argl[9];
        int argc = 0;
#define ARG(p, l) (argv[argc] = (p), argl[argc] = (l), argc++)
        ARG("XADD", 4);
        if (e->invalid)
            ARG(s->cfg.invalid_key, invlen);
        else
            ARG(s->cfg.events_key, evlen);
        ARG("*", 1);
        ARG("event", 5);
        ARG(e->event_json, e->event_len);
        if (e->violations_json) {
            ARG("violations", 10);
            ARG(e->violations_json, e->violations_len);
        }
        if (e->message_id) {
            ARG("message_id", 10);
            ARG(e->message_id, e->message_id_len);
        }
#undef ARG
        /* The command as RESP, formatted here (hiredis's argv path formats through sdscatfmt);
         * hiredis copies it into its output buffer before returning. */
        size_t len = resp_format(s, argc, argv, argl);
        if (!len || redisAsyncFormattedCommand(s->link.ac, on_reply, g, s->cmd, len) != REDIS_OK) {
            g->status = SL_ENOMEM; /* the context is healthy (ready), so only memory is left */
            break;
        }
        g->pending++;
        s->inflight++;
    }
    if (g->pending == 0) {
        group_release(s, g);
        return SL_ENOMEM;
    }
    /* Partly queued: fails with the first reply (replies arrive on later loop turns only). */
    group_link(s, g);
    rearm(s);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    sink *s = h->data;
    void (*done)(void *) = s->close_done;
    void *ud = s->close_ud;
    while (s->free_groups) {
        group *g = s->free_groups;
        s->free_groups = g->next;
        free(g);
    }
    free(s->strings);
    free(s->cmd);
    free(s);
    if (done) done(ud);
}

void sink_close(sink *s, void (*done)(void *ud), void *ud)
{
    if (s->closing) return; /* a second call is a caller bug; do not free twice */
    s->closing = true;
    s->link.up = false;
    s->close_done = done;
    s->close_ud = ud;
    while (s->head)
        group_answer(s, s->head, SL_EIO);
    rlink_close(&s->link); /* outstanding replies come back NULL and release their groups */
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
