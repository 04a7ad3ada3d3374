/* sink.c - Redis Streams writer on a libuv loop (see sink.h for the promises).
 *
 * Shape: one hiredis async context per sink, attached with hiredis' libuv adapter. A write group
 * is a set of XADDs queued back to back (pipelined); each reply decrements the group's `pending`
 * count. The group's callback fires once: on the last reply (0, or the first error), or earlier
 * when its deadline passes. hiredis 0.14 has no command timeouts, so a uv timer checks deadlines;
 * on expiry the context is freed with redisAsyncFree, which runs every outstanding reply callback
 * with a NULL reply *before* returning - so no late reply can ever reach a group that was already
 * answered and freed. Groups stay allocated until their last reply (or NULL reply) arrives.
 * Reconnects use exponential backoff (50 ms doubling to 2 s); AUTH and SELECT are queued first
 * on every new connection, so commands behind them fail cleanly if they fail. */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "sl_err.h"

#define SINK_TICK_MS 20
#define SINK_BACKOFF_MIN_MS 50
#define SINK_BACKOFF_MAX_MS 2000

typedef struct group {
    struct group *prev, *next; /* the sink's list of unanswered groups, oldest first */
    sink *s;
    sink_done_cb cb;
    void *ud;
    size_t pending; /* replies still to come */
    int status;     /* first error seen */
    bool answered;  /* cb has fired */
    uint64_t deadline_ms;
    uint64_t start_ns;
} group;

struct sink {
    uv_loop_t *loop;
    sink_config cfg;
    char *strings; /* owned copies of cfg strings */
    redisAsyncContext *ac;
    bool connected;
    uint64_t connect_started_ms;
    uint64_t next_connect_ms;
    uint64_t backoff_ms;
    bool closing;
    void (*close_done)(void *);
    void *close_ud;
    uv_timer_t timer;
    group *head, *tail; /* unanswered groups */
    size_t inflight;    /* XADDs sent and not yet replied to */
    sink_stats st;
};

/* ---- URL ---------------------------------------------------------------------------------- */

int sink_parse_url(const char *url, sink_config *cfg, char **store)
{
    *store = NULL;
    const char *pfx = "redis://";
    if (!url || strncmp(url, pfx, strlen(pfx)) != 0) return SL_EUSAGE;
    char *buf = strdup(url + strlen(pfx));
    if (!buf) return SL_ENOMEM;
    char *hostpart = buf;
    char *at = strrchr(buf, '@');
    if (at) {
        *at = '\0';
        hostpart = at + 1;
        char *colon = strchr(buf, ':');
        if (colon) {
            *colon = '\0';
            cfg->username = buf[0] ? buf : NULL;
            cfg->password = colon + 1;
        } else {
            cfg->password = buf; /* redis://secret@host */
        }
    }
    char *slash = strchr(hostpart, '/');
    if (slash) {
        *slash = '\0';
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end || db < 0 || db > 1000) goto bad;
        cfg->db = (int)db;
    }
    char *colon = strrchr(hostpart, ':');
    if (colon && !strchr(hostpart, ']')) {
        *colon = '\0';
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end || port <= 0 || port > 65535) goto bad;
        cfg->port = (int)port;
    }
    if (hostpart[0] == '\0') goto bad;
    cfg->host = hostpart;
    *store = buf;
    return 0;
bad:
    free(buf);
    return SL_EUSAGE;
}

/* ---- groups ------------------------------------------------------------------------------- */

static void group_unlink(sink *s, group *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else if (s->head == g)
        s->head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else if (s->tail == g)
        s->tail = g->prev;
    g->prev = g->next = NULL;
}

/* Fires the callback once and takes the group off the unanswered list. */
static void group_answer(group *g, int status)
{
    if (g->answered) return;
    g->answered = true;
    sink *s = g->s;
    group_unlink(s, g);
    if (status == 0) {
        s->st.latency_us_sum += (uv_hrtime() - g->start_ns) / 1000;
        s->st.latency_count++;
    }
    g->cb(g->ud, status);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    group *g = privdata;
    sink *s = g->s;
    redisReply *reply = r;
    s->inflight--;
    s->st.inflight = s->inflight;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        s->st.commands_failed++;
        if (!g->status) g->status = SL_EIO;
    } else {
        s->st.commands_ok++;
    }
    if (--g->pending == 0) {
        group_answer(g, g->status);
        free(g);
    }
}

/* ---- connection --------------------------------------------------------------------------- */

static void schedule_reconnect(sink *s)
{
    uint64_t now = uv_now(s->loop);
    s->next_connect_ms = now + s->backoff_ms;
    s->backoff_ms =
        s->backoff_ms * 2 > SINK_BACKOFF_MAX_MS ? SINK_BACKOFF_MAX_MS : s->backoff_ms * 2;
}

/* Drops the connection now: every outstanding reply callback runs (with NULL) before return. */
static void drop_connection(sink *s)
{
    redisAsyncContext *ac = s->ac;
    if (!ac) return;
    s->ac = NULL;
    s->connected = false;
    ac->data = NULL;
    redisAsyncFree(ac);
    if (!s->closing) schedule_reconnect(s);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    sink *s = ac->data;
    if (!s) return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        s->ac = NULL;
        s->connected = false;
        if (!s->closing) schedule_reconnect(s);
        return;
    }
    s->connected = true;
    s->backoff_ms = SINK_BACKOFF_MIN_MS;
    if (s->st.commands_ok || s->st.commands_failed) s->st.reconnects++;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    sink *s = ac->data;
    if (!s) return; /* we freed it ourselves */
    /* hiredis frees the context after this callback; pending replies already got NULL. */
    s->ac = NULL;
    s->connected = false;
    if (!s->closing) schedule_reconnect(s);
}

static void on_auth_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    sink *s = ac->data;
    if (s && reply && reply->type == REDIS_REPLY_ERROR) {
        /* Wrong password or db: the commands queued behind fail on their own; count it. */
        s->st.commands_failed++;
    }
}

static void start_connect(sink *s)
{
    redisAsyncContext *ac = redisAsyncConnect(s->cfg.host, s->cfg.port);
    if (!ac) {
        schedule_reconnect(s);
        return;
    }
    if (ac->err || redisLibuvAttach(ac, s->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_reconnect(s);
        return;
    }
    ac->data = s;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    s->ac = ac;
    s->connect_started_ms = uv_now(s->loop);
    /* Queued now, sent first once connected. */
    if (s->cfg.password) {
        if (s->cfg.username)
            redisAsyncCommand(ac, on_auth_reply, NULL, "AUTH %s %s", s->cfg.username,
                              s->cfg.password);
        else
            redisAsyncCommand(ac, on_auth_reply, NULL, "AUTH %s", s->cfg.password);
    }
    if (s->cfg.db) redisAsyncCommand(ac, on_auth_reply, NULL, "SELECT %d", s->cfg.db);
}

static void on_tick(uv_timer_t *t)
{
    sink *s = t->data;
    uint64_t now = uv_now(s->loop);
    /* Deadlines: the oldest unanswered group expires first. A stuck Redis makes every later
     * reply suspect too, so the connection is dropped (failing the rest) and re-made. */
    if (s->head && now >= s->head->deadline_ms) {
        while (s->head && now >= s->head->deadline_ms)
            group_answer(s->head, SL_ELIMIT);
        drop_connection(s);
    }
    if (s->ac && !s->connected && now - s->connect_started_ms > s->cfg.timeout_ms)
        drop_connection(s); /* connect timeout */
    if (!s->ac && !s->closing && now >= s->next_connect_ms) start_connect(s);
}

sink *sink_new(uv_loop_t *loop, const sink_config *cfg)
{
    sink *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->loop = loop;
    s->cfg = *cfg;
    const char *strs[] = {cfg->host ? cfg->host : "127.0.0.1", cfg->username, cfg->password,
                          cfg->events_key ? cfg->events_key : "sluice:events",
                          cfg->invalid_key ? cfg->invalid_key : "sluice:invalid"};
    size_t total = 0;
    for (int i = 0; i < 5; i++)
        total += strs[i] ? strlen(strs[i]) + 1 : 0;
    s->strings = malloc(total ? total : 1);
    if (!s->strings) {
        free(s);
        return NULL;
    }
    char *p = s->strings;
    const char **dst[] = {&s->cfg.host, &s->cfg.username, &s->cfg.password, &s->cfg.events_key,
                          &s->cfg.invalid_key};
    for (int i = 0; i < 5; i++) {
        if (!strs[i]) {
            *dst[i] = NULL;
            continue;
        }
        size_t n = strlen(strs[i]) + 1;
        memcpy(p, strs[i], n);
        *dst[i] = p;
        p += n;
    }
    if (!s->cfg.port) s->cfg.port = 6379;
    if (!s->cfg.timeout_ms) s->cfg.timeout_ms = 2000;
    if (!s->cfg.max_inflight) s->cfg.max_inflight = 100000;
    s->backoff_ms = SINK_BACKOFF_MIN_MS;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_tick, SINK_TICK_MS, SINK_TICK_MS);
    start_connect(s);
    return s;
}

bool sink_ready(const sink *s)
{
    return s->connected && !s->closing;
}

void sink_get_stats(const sink *s, sink_stats *out)
{
    *out = s->st;
    out->inflight = s->inflight;
}

int sink_write(sink *s, const sink_entry *entries, size_t n, sink_done_cb cb, void *ud)
{
    if (s->closing || !s->connected || !s->ac) return SL_EIO;
    if (n == 0) return SL_EUSAGE;
    if (s->inflight + n > s->cfg.max_inflight) return SL_ELIMIT;
    group *g = calloc(1, sizeof *g);
    if (!g) return SL_ENOMEM;
    g->s = s;
    g->cb = cb;
    g->ud = ud;
    g->start_ns = uv_hrtime();
    g->deadline_ms = uv_now(s->loop) + s->cfg.timeout_ms;
    /* Counted up front so a synchronous failure cannot complete the group early. */
    g->pending = 1;
    for (size_t i = 0; i < n; i++) {
        const sink_entry *e = &entries[i];
        const char *argv[9];
        size_t argl[9];
        int argc = 0;
        const char *key = e->invalid ? s->cfg.invalid_key : s->cfg.events_key;
#define ARG(p, l) (argv[argc] = (p), argl[argc] = (l), argc++)
        ARG("XADD", 4);
        ARG(key, strlen(key));
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
        g->pending++;
        if (redisAsyncCommandArgv(s->ac, on_reply, g, argc, argv, argl) != REDIS_OK) {
            g->pending--;
            g->status = SL_EIO;
            break;
        }
        s->inflight++;
    }
    if (g->pending == 1 && g->status) { /* nothing was queued */
        free(g);
        return SL_EIO;
    }
    /* Link, then drop the guard count; replies only arrive on later loop turns. */
    g->prev = s->tail;
    if (s->tail)
        s->tail->next = g;
    else
        s->head = g;
    s->tail = g;
    g->pending--;
    s->st.inflight = s->inflight;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    sink *s = h->data;
    void (*done)(void *) = s->close_done;
    void *ud = s->close_ud;
    free(s->strings);
    free(s);
    if (done) done(ud);
}

void sink_close(sink *s, void (*done)(void *ud), void *ud)
{
    s->closing = true;
    s->close_done = done;
    s->close_ud = ud;
    while (s->head)
        group_answer(s->head, SL_EIO);
    drop_connection(s); /* outstanding replies run now (NULL) and free their groups */
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
