/* agg.c - violation aggregation into Redis and the report read back (see agg.h, docs/REPORTS.md).
 *
 * Shape of the writer: a fixed array of rows (max_groups) indexed by an open-addressing hash table
 * (power of two >= 2 * max_groups, linear probing, no deletions: the whole table is emptied after
 * each flush). A row is either a group (version, minute, event, kind, path: count, first, last,
 * examples) or a volume row (version, minute, event: valid, invalid; kind = ROW_VOLUME). Strings
 * are inline, truncated copies, so a row never borrows from a note.
 *
 * Connection: an rlink (rlink.h) driven by one repeating tick (flush_ms): reconnects back off from
 * one tick to AGG_BACKOFF_MAX_TICKS ticks; the link is up (ready) once AUTH / SELECT / PING were
 * answered, and only then are flushes and PUBLISHes sent.
 * Deadline: while replies are outstanding, if none arrived for timeout_ms the connection is
 * dropped with redisAsyncFree, which runs every outstanding callback with a NULL reply first.
 * Every command callback gets the agg as privdata and only counts, so dropped contexts are safe.
 * The agg is freed only from the timer's close callback, after every hiredis callback has run. */
#include "agg.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "rlink.h"
#include "sl_buf.h"

#define ROW_VOLUME (-1)
#define AGG_BACKOFF_MAX_TICKS 16
#define AGG_STR_MAX 128 /* prefix, channel */
#define AGG_KEY_MAX (AGG_STR_MAX + AGG_VERSION_MAX + 64)
#define AGG_CLEANUP_EVERY_S 60
#define AGG_CLEANUP_BATCH "500"

typedef struct {
    int kind; /* sl_kind, or ROW_VOLUME */
    int64_t minute;
    uint64_t hash;
    uint64_t count;   /* group: events; volume: valid events */
    uint64_t invalid; /* volume: invalid events */
    time_t first, last;
    unsigned nex;
    char *ex[AGG_EXAMPLES_MAX]; /* owned example records (JSON), oldest first */
    char version[AGG_VERSION_MAX];
    char event[AGG_NAME_MAX];
    char path[VIO_PATH_MAX];
} row;

struct agg {
    rlink link; /* link.up = ready */
    uv_loop_t *loop;
    agg_config cfg;
    char *strings; /* owned copies of cfg strings */
    row *rows;
    size_t nrows;
    uint32_t *index; /* row number + 1; 0 = empty */
    size_t index_mask;
    size_t ex_bytes; /* example bytes held by rows */

    bool closing, finished;
    uint64_t last_progress_ms; /* last reply, or when the first outstanding command was sent */
    size_t inflight;
    time_t last_cleanup;
    uv_timer_t timer;
    void (*close_done)(void *);
    void *close_ud;
    agg_stats st;
};

/* ---- small helpers --------------------------------------------------------------------------- */

/* Copies at most cap-1 bytes of src, never cutting a UTF-8 sequence in two. */
static void copy_trunc(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Length <= max of s[0..len) that does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

char *agg_group_id(char dst[17], const char *event, const char *kind, const char *path)
{
    uint64_t h = FNV_INIT;
    h = fnv(h, event, strlen(event) + 1);
    h = fnv(h, kind, strlen(kind) + 1);
    h = fnv(h, path, strlen(path));
    snprintf(dst, 17, "%016llx", (unsigned long long)h);
    return dst;
}

static void sb_jfield(sl_buf *b, const char *name, const char *val)
{
    sl_buf_printf(b, ",\"%s\":", name);
    if (val)
        sl_buf_json_str(b, val, strlen(val));
    else
        sl_buf_puts(b, "null");
}

/* "payload": the event itself when it fits in max bytes, else a truncated string plus
 * "truncated":true. */
static void sb_payload(sl_buf *b, const char *name, const char *json, size_t len, size_t max)
{
    sl_buf_printf(b, ",\"%s\":", name);
    if (!json) {
        sl_buf_puts(b, "null");
    } else if (len <= max) {
        sl_buf_put(b, json, len);
    } else {
        sl_buf_json_str(b, json, utf8_cut(json, len, max));
        sl_buf_puts(b, ",\"truncated\":true");
    }
}

/* ---- the table ------------------------------------------------------------------------------- */

static uint64_t row_hash(const char *version, int64_t minute, int kind, const char *event,
                         const char *path)
{
    uint64_t h = FNV_INIT;
    h = fnv(h, version, strlen(version) + 1);
    h = fnv(h, &minute, sizeof minute);
    h = fnv(h, &kind, sizeof kind);
    h = fnv(h, event, strlen(event) + 1);
    h = fnv(h, path, strlen(path));
    return h ? h : 1;
}

/* Finds or adds the row for the key (strings already truncated); NULL when the table is full. */
static row *row_get(agg *a, const char *version, int64_t minute, int kind, const char *event,
                    const char *path)
{
    uint64_t h = row_hash(version, minute, kind, event, path);
    size_t i = (size_t)h & a->index_mask;
    for (;; i = (i + 1) & a->index_mask) {
        uint32_t slot = a->index[i];
        if (!slot) break;
        row *r = &a->rows[slot - 1];
        if (r->hash == h && r->minute == minute && r->kind == kind && !strcmp(r->event, event) &&
            !strcmp(r->path, path) && !strcmp(r->version, version))
            return r;
    }
    if (a->nrows >= a->cfg.max_groups) return NULL;
    row *r = &a->rows[a->nrows++];
    memset(r, 0, offsetof(row, version));
    r->hash = h;
    r->minute = minute;
    r->kind = kind;
    strcpy(r->version, version);
    strcpy(r->event, event);
    strcpy(r->path, path);
    a->index[i] = (uint32_t)a->nrows;
    return r;
}

static void table_clear(agg *a)
{
    for (size_t i = 0; i < a->nrows; i++)
        for (unsigned k = 0; k < a->rows[i].nex; k++)
            free(a->rows[i].ex[k]);
    a->nrows = 0;
    a->ex_bytes = 0;
    memset(a->index, 0, (a->index_mask + 1) * sizeof *a->index);
}

/* ---- connection ------------------------------------------------------------------------------ */

static void finish(agg *a);

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    agg *a = privdata;
    redisReply *reply = r;
    a->inflight--;
    a->last_progress_ms = uv_now(a->loop);
    if (!reply) {
        a->st.commands_failed++;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        a->st.commands_failed++;
        rlink_error(&a->link, "redis: %.150s", reply->str);
    } else {
        a->st.commands_ok++;
    }
    if (a->closing && a->inflight == 0) finish(a);
}

static bool on_link_start(void *owner, redisAsyncContext *ac)
{
    agg *a = owner;
    return rlink_handshake(&a->link, ac, true);
}

/* Queues one command; false on out-of-memory (counted as failed). */
static bool send_cmd(agg *a, int argc, const char **argv, const size_t *argl)
{
    if (redisAsyncCommandArgv(a->link.ac, on_reply, a, argc, argv, argl) != REDIS_OK) {
        a->st.commands_failed++;
        return false;
    }
    if (a->inflight++ == 0) a->last_progress_ms = uv_now(a->loop);
    return true;
}

#define CMD(...)                                                                                   \
    do {                                                                                           \
        const char *argv_[] = {__VA_ARGS__};                                                       \
        size_t argl_[sizeof argv_ / sizeof argv_[0]];                                              \
        for (size_t i_ = 0; i_ < sizeof argv_ / sizeof argv_[0]; i_++)                             \
            argl_[i_] = strlen(argv_[i_]);                                                         \
        send_cmd(a, (int)(sizeof argv_ / sizeof argv_[0]), argv_, argl_);                          \
    } while (0)

/* ---- flush ----------------------------------------------------------------------------------- */

/* Lua: forget groups not seen since ARGV[1] (at most ARGV[3] per call): their id in groups,
 * first, last, and their examples list (key ARGV[2] .. id). */
static const char cleanup_lua[] =
    "local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])\n"
    "for _, g in ipairs(old) do\n"
    "  redis.call('ZREM', KEYS[1], g); redis.call('ZREM', KEYS[2], g)\n"
    "  redis.call('HDEL', KEYS[3], g); redis.call('DEL', ARGV[2] .. g)\n"
    "end\n"
    "return #old\n";

/* Per-version housekeeping, once per flush for each distinct version in the table. */
static void flush_version(agg *a, const char *version, time_t now, bool cleanup)
{
    const char *P = a->cfg.prefix;
    char k1[AGG_KEY_MAX], k2[AGG_KEY_MAX], k3[AGG_KEY_MAX], k4[AGG_KEY_MAX], win[24], ts[24],
        old[24];
    snprintf(win, sizeof win, "%u", a->cfg.window_s);
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    snprintf(old, sizeof old, "%lld", (long long)now - a->cfg.window_s);
    snprintf(k1, sizeof k1, "%s:versions", P);
    CMD("ZADD", k1, "GT", ts, version);
    CMD("EXPIRE", k1, win);
    snprintf(k1, sizeof k1, "%s:%s:groups", P, version);
    snprintf(k2, sizeof k2, "%s:%s:first", P, version);
    snprintf(k3, sizeof k3, "%s:%s:last", P, version);
    snprintf(k4, sizeof k4, "%s:%s:minutes", P, version);
    CMD("EXPIRE", k1, win);
    CMD("EXPIRE", k2, win);
    CMD("EXPIRE", k3, win);
    CMD("EXPIRE", k4, win);
    CMD("ZREMRANGEBYSCORE", k4, "-inf", old);
    if (cleanup) {
        char expfx[AGG_KEY_MAX];
        snprintf(expfx, sizeof expfx, "%s:%s:ex:", P, version);
        CMD("EVAL", cleanup_lua, "3", k3, k2, k1, old, expfx, AGG_CLEANUP_BATCH);
    }
}

static void flush_row(agg *a, row *r)
{
    const char *P = a->cfg.prefix, *V = r->version;
    char key[AGG_KEY_MAX], mkey[AGG_KEY_MAX], n1[24], n2[24], expire_at[24], minute[24];
    snprintf(minute, sizeof minute, "%lld", (long long)r->minute);
    snprintf(expire_at, sizeof expire_at, "%lld", (long long)r->minute + 60 + a->cfg.window_s);
    snprintf(mkey, sizeof mkey, "%s:%s:minutes", P, V);
    CMD("ZADD", mkey, minute, minute);
    if (r->kind == ROW_VOLUME) {
        snprintf(key, sizeof key, "%s:%s:vol:%s", P, V, minute);
        char field[AGG_NAME_MAX + 2];
        if (r->count) {
            snprintf(field, sizeof field, "v:%s", r->event);
            snprintf(n1, sizeof n1, "%llu", (unsigned long long)r->count);
            CMD("HINCRBY", key, field, n1);
        }
        if (r->invalid) {
            snprintf(field, sizeof field, "i:%s", r->event);
            snprintf(n1, sizeof n1, "%llu", (unsigned long long)r->invalid);
            CMD("HINCRBY", key, field, n1);
        }
        CMD("EXPIREAT", key, expire_at);
        return;
    }
    const char *kind = sl_kind_name((sl_kind)r->kind);
    char gid[17];
    agg_group_id(gid, r->event, kind, r->path);
    snprintf(key, sizeof key, "%s:%s:count:%s", P, V, minute);
    snprintf(n1, sizeof n1, "%llu", (unsigned long long)r->count);
    CMD("HINCRBY", key, gid, n1);
    CMD("EXPIREAT", key, expire_at);
    sl_buf meta = {0};
    sl_buf_puts(&meta, "{\"event\":");
    sl_buf_json_str(&meta, r->event, strlen(r->event));
    sb_jfield(&meta, "kind", kind);
    sb_jfield(&meta, "path", r->path);
    sl_buf_puts(&meta, "}");
    if (!meta.oom) {
        snprintf(key, sizeof key, "%s:%s:groups", P, V);
        CMD("HSET", key, gid, meta.p);
    }
    sl_buf_free(&meta);
    snprintf(n1, sizeof n1, "%lld", (long long)r->first);
    snprintf(n2, sizeof n2, "%lld", (long long)r->last);
    snprintf(key, sizeof key, "%s:%s:first", P, V);
    CMD("ZADD", key, "LT", n1, gid);
    snprintf(key, sizeof key, "%s:%s:last", P, V);
    CMD("ZADD", key, "GT", n2, gid);
    if (r->nex) {
        snprintf(key, sizeof key, "%s:%s:ex:%s", P, V, gid);
        const char *argv[2 + AGG_EXAMPLES_MAX];
        size_t argl[2 + AGG_EXAMPLES_MAX];
        argv[0] = "LPUSH";
        argl[0] = 5;
        argv[1] = key;
        argl[1] = strlen(key);
        for (unsigned k = 0; k < r->nex; k++) { /* oldest first, so the newest ends up at 0 */
            argv[2 + k] = r->ex[k];
            argl[2 + k] = strlen(r->ex[k]);
        }
        send_cmd(a, 2 + (int)r->nex, argv, argl);
        snprintf(n1, sizeof n1, "%u", a->cfg.examples_per_group - 1);
        CMD("LTRIM", key, "0", n1);
        snprintf(n2, sizeof n2, "%u", a->cfg.window_s);
        CMD("EXPIRE", key, n2);
    }
}

/* Sends the whole table as one pipeline and empties it; skipped (table kept) unless ready. */
static void flush(agg *a)
{
    if (!a->nrows) return;
    if (!a->link.up || a->inflight > a->cfg.max_inflight) {
        a->st.flushes_deferred++;
        return;
    }
    time_t now = time(NULL);
    bool cleanup = now - a->last_cleanup >= AGG_CLEANUP_EVERY_S;
    if (cleanup) a->last_cleanup = now;
    for (size_t i = 0; i < a->nrows; i++)
        flush_row(a, &a->rows[i]);
    /* Then, per distinct version (usually one; a quadratic scan over a handful is fine), the
     * expiries of the keys the rows just created. */
    enum { NV = 8 };
    const char *seen[NV];
    size_t nseen = 0;
    for (size_t i = 0; i < a->nrows; i++) {
        const char *v = a->rows[i].version;
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = !strcmp(seen[k], v);
        if (dup) continue;
        if (nseen < NV) seen[nseen++] = v;
        flush_version(a, v, now, cleanup);
    }
    a->st.flushes++;
    table_clear(a);
}

/* ---- timer ----------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    agg *a = t->data;
    uint64_t now = uv_now(a->loop);
    if (a->closing) { /* the close deadline */
        a->st.timeouts += a->inflight > 0;
        finish(a);
        return;
    }
    if (a->link.ac && a->inflight > 0 && now - a->last_progress_ms >= a->cfg.timeout_ms) {
        a->st.timeouts++;
        rlink_fail(&a->link, "no reply from %s within %u ms", a->link.where, a->cfg.timeout_ms);
    }
    rlink_tick(&a->link, now);
    flush(a);
}

/* ---- public API ------------------------------------------------------------------------------ */

int agg_new(uv_loop_t *loop, const agg_config *cfgp, agg **out)
{
    *out = NULL;
    agg_config cfg = cfgp ? *cfgp : (agg_config){0};
    if (!cfg.host) cfg.host = "127.0.0.1";
    if (!cfg.port) cfg.port = 6379;
    if (!cfg.prefix) cfg.prefix = AGG_DEFAULT_PREFIX;
    if (!cfg.channel) cfg.channel = AGG_DEFAULT_CHANNEL;
    if (!cfg.window_s) cfg.window_s = 86400;
    if (!cfg.examples_per_group) cfg.examples_per_group = 3;
    if (!cfg.example_max) cfg.example_max = 2048;
    if (!cfg.max_groups) cfg.max_groups = 2048;
    if (!cfg.example_budget) cfg.example_budget = 1u << 20;
    if (!cfg.max_inflight) cfg.max_inflight = 200000;
    if (!cfg.flush_ms) cfg.flush_ms = 1000;
    if (!cfg.timeout_ms) cfg.timeout_ms = 2000;
    if (cfg.username && !cfg.password) cfg.username = NULL;
    if (cfg.examples_per_group > AGG_EXAMPLES_MAX || strlen(cfg.prefix) > AGG_STR_MAX ||
        strlen(cfg.channel) > AGG_STR_MAX || !cfg.prefix[0] || cfg.max_groups > UINT32_MAX / 4)
        return SL_EUSAGE;
    agg *a = calloc(1, sizeof *a);
    if (!a) return SL_ENOMEM;
    a->loop = loop;
    a->cfg = cfg;
    const char *strs[] = {cfg.host, cfg.username, cfg.password, cfg.prefix, cfg.channel};
    const char **dst[] = {&a->cfg.host, &a->cfg.username, &a->cfg.password, &a->cfg.prefix,
                          &a->cfg.channel};
    size_t isize = 1;
    while (isize < cfg.max_groups * 2)
        isize *= 2;
    a->strings = sl_strs_copy(sizeof strs / sizeof strs[0], strs, dst);
    a->rows = malloc(cfg.max_groups * sizeof *a->rows);
    a->index = calloc(isize, sizeof *a->index);
    if (!a->strings || !a->rows || !a->index) {
        free(a->strings);
        free(a->rows);
        free(a->index);
        free(a);
        return SL_ENOMEM;
    }
    a->index_mask = isize - 1;
    a->last_cleanup = 0;
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    rlink_init(&a->link, loop,
               &(rlink_config){.host = a->cfg.host,
                               .port = a->cfg.port,
                               .username = a->cfg.username,
                               .password = a->cfg.password,
                               .db = a->cfg.db,
                               .timeout_ms = a->cfg.timeout_ms,
                               .backoff_min_ms = a->cfg.flush_ms,
                               .backoff_max_ms = (uint64_t)AGG_BACKOFF_MAX_TICKS * a->cfg.flush_ms,
                               .owner = a,
                               .start = on_link_start});
    rlink_connect(&a->link);
    uv_timer_start(&a->timer, on_tick, cfg.flush_ms, cfg.flush_ms);
    *out = a;
    return 0;
}

/* The live feed: one PUBLISH per invalid event, sent at once (hiredis buffers it). */
static void publish(agg *a, const char *version, const char *write_key, const char *event,
                    const char *session, const vio_list *vl, const char *vjson, const char *json,
                    size_t len, time_t now)
{
    if (!a->link.up || a->inflight >= a->cfg.max_inflight) {
        a->st.publish_dropped++;
        return;
    }
    sl_buf b = {0};
    sl_buf_printf(&b, "{\"ts\":%lld", (long long)now);
    sb_jfield(&b, "plan_version", version);
    sb_jfield(&b, "write_key", write_key);
    sb_jfield(&b, "event", event);
    sb_jfield(&b, "session", session);
    sl_buf_puts(&b, ",\"violations\":");
    char *vj = !vjson && vl ? vio_list_to_json(vl) : NULL; /* only when not rendered already */
    sl_buf_puts(&b, vjson ? vjson : vj ? vj : "[]");
    free(vj);
    sb_payload(&b, "example", json, len, a->cfg.example_max);
    sl_buf_puts(&b, "}");
    if (b.oom) {
        a->st.publish_dropped++;
    } else {
        const char *argv[3] = {"PUBLISH", a->cfg.channel, b.p};
        size_t argl[3] = {7, strlen(a->cfg.channel), b.n};
        if (send_cmd(a, 3, argv, argl))
            a->st.published++;
        else
            a->st.publish_dropped++;
    }
    sl_buf_free(&b);
}

/* Adds one example record to r, within the per-row count and the agg's byte budget. */
static void add_example(agg *a, row *r, const vio *v, const char *write_key, const char *session,
                        const char *json, size_t len, time_t now)
{
    if (r->nex >= a->cfg.examples_per_group) return; /* keep the first few of each flush */
    size_t need = (len < a->cfg.example_max ? len : a->cfg.example_max) + 2 * VIO_MSG_MAX + 256;
    if (a->ex_bytes + need > a->cfg.example_budget) {
        a->st.examples_dropped++;
        return;
    }
    sl_buf b = {0};
    sl_buf_printf(&b, "{\"ts\":%lld", (long long)now);
    sb_jfield(&b, "message", v->message);
    sb_jfield(&b, "actual", v->actual[0] ? v->actual : NULL);
    sb_jfield(&b, "write_key", write_key);
    sb_jfield(&b, "session", session);
    sb_payload(&b, "payload", json, len, a->cfg.example_max);
    sl_buf_puts(&b, "}");
    if (b.oom) {
        sl_buf_free(&b);
        a->st.examples_dropped++;
        return;
    }
    r->ex[r->nex++] = b.p;
    a->ex_bytes += b.n + 1;
}

void agg_note(agg *a, const char *plan_version, const char *write_key, const char *event_name,
              const char *session, bool valid, const vio_list *vl, const char *vjson,
              const char *event_json, size_t len, time_t now)
{
    if (a->closing) return;
    a->st.notes++;
    char version[AGG_VERSION_MAX], event[AGG_NAME_MAX];
    copy_trunc(version, sizeof version, plan_version && plan_version[0] ? plan_version : "_");
    copy_trunc(event, sizeof event, event_name ? event_name : "");
    int64_t minute = (int64_t)now - (((int64_t)now % 60) + 60) % 60;
    row *vr = row_get(a, version, minute, ROW_VOLUME, event, "");
    if (vr) {
        if (valid)
            vr->count++;
        else
            vr->invalid++;
    } else {
        a->st.overflow++;
    }
    size_t n = vl ? vl->n : 0;
    for (size_t i = 0; i < n; i++) {
        const vio *v = &vl->items[i];
        bool dup = false; /* count each (kind, path) once per event */
        for (size_t k = 0; k < i && !dup; k++)
            dup = vl->items[k].kind == v->kind && !strcmp(vl->items[k].path, v->path);
        if (dup) continue;
        row *r = row_get(a, version, minute, (int)v->kind, event, v->path);
        if (!r) {
            a->st.overflow++;
            continue;
        }
        if (!r->count++ || now < r->first) r->first = now;
        if (now > r->last) r->last = now;
        add_example(a, r, v, write_key, session, event_json, len, now);
    }
    if (!valid && a->cfg.channel[0])
        publish(a, version, write_key, event, session, vl, vjson, event_json, len, now);
}

void agg_get_stats(const agg *a, agg_stats *out)
{
    *out = a->st;
    out->rows = a->nrows;
    out->inflight = a->inflight;
    out->ready = a->link.up && !a->closing;
    out->reconnects = a->link.reconnects;
}

const char *agg_last_error(const agg *a)
{
    return a->link.last_error;
}

static void on_timer_closed(uv_handle_t *h)
{
    agg *a = h->data;
    void (*done)(void *) = a->close_done;
    void *ud = a->close_ud;
    table_clear(a);
    free(a->rows);
    free(a->index);
    free(a->strings);
    free(a);
    if (done) done(ud);
}

/* Ends the close: drops the connection (callbacks still pending run now with NULL replies) and
 * closes the timer, whose close callback frees the agg. Runs once. */
static void finish(agg *a)
{
    if (a->finished) return;
    a->finished = true;
    rlink_close(&a->link);
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, on_timer_closed);
}

void agg_close(agg *a, void (*done)(void *ud), void *ud)
{
    if (a->closing) return;
    a->close_done = done;
    a->close_ud = ud;
    flush(a);
    a->closing = true;
    if (a->link.up && a->inflight > 0) {
        uv_timer_stop(&a->timer);
        uv_timer_start(&a->timer, on_tick, a->cfg.timeout_ms, 0); /* the close deadline */
        return;
    }
    finish(a);
}

/* ---- report ---------------------------------------------------------------------------------- */

/* A string-keyed accumulator for the report (open addressing, grows at 1/2 load). */
typedef struct {
    char *key; /* owned; NULL = empty */
    long long count, valid, invalid;
    long long first, last;
    cJSON *meta;     /* group: parsed {"event","kind","path"}, owned */
    cJSON *examples; /* group: array, owned */
} acc_ent;

typedef struct {
    acc_ent *v;
    size_t cap, n;
} acc;

static void acc_free(acc *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->v[i].key);
        cJSON_Delete(m->v[i].meta);
        cJSON_Delete(m->v[i].examples);
    }
    free(m->v);
    m->v = NULL;
    m->cap = m->n = 0;
}

static acc_ent *acc_get(acc *m, const char *key, size_t klen)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        acc_ent *nv = calloc(ncap, sizeof *nv);
        if (!nv) return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].key) continue;
            size_t j = (size_t)fnv(FNV_INIT, m->v[i].key, strlen(m->v[i].key)) & (ncap - 1);
            while (nv[j].key)
                j = (j + 1) & (ncap - 1);
            nv[j] = m->v[i];
        }
        free(m->v);
        m->v = nv;
        m->cap = ncap;
    }
    size_t j = (size_t)fnv(FNV_INIT, key, klen) & (m->cap - 1);
    for (; m->v[j].key; j = (j + 1) & (m->cap - 1))
        if (strlen(m->v[j].key) == klen && !memcmp(m->v[j].key, key, klen)) return &m->v[j];
    acc_ent *e = &m->v[j];
    memset(e, 0, sizeof *e);
    e->key = strndup(key, klen);
    if (!e->key) return NULL;
    e->first = LLONG_MAX;
    m->n++;
    return e;
}

static long long reply_ll(const redisReply *r)
{
    if (!r) return 0;
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING) return strtoll(r->str, NULL, 10);
    return 0;
}

/* Appends a command to the pipeline. */
static int append(redisContext *c, int argc, const char **argv)
{
    size_t argl[8];
    for (int i = 0; i < argc; i++)
        argl[i] = strlen(argv[i]);
    return redisAppendCommandArgv(c, argc, argv, argl) == REDIS_OK ? 0 : SL_ENOMEM;
}

/* Reads one pipelined reply; NULL (SL_EIO) on a lost connection or an error reply. */
static redisReply *get_reply(redisContext *c)
{
    void *r = NULL;
    if (redisGetReply(c, &r) != REDIS_OK) return NULL;
    redisReply *rep = r;
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* Drains n pending replies after a failure, so the context stays usable when it still can be. */
static void drain(redisContext *c, size_t n)
{
    for (size_t i = 0; i < n && !c->err; i++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK) break;
        freeReplyObject(r);
    }
}

#define AGG_REPORT_EXAMPLES 10

/* Adds one version's data in [since, until] to groups and events. */
static int report_version(redisContext *c, const char *P, const char *V, time_t since, time_t until,
                          const char *event_filter, acc *groups, acc *events)
{
    char key[AGG_KEY_MAX + AGG_VERSION_MAX], lo[24], hi[24];
    int64_t m0 = (int64_t)since - (((int64_t)since % 60) + 60) % 60;
    snprintf(lo, sizeof lo, "%lld", (long long)m0);
    snprintf(hi, sizeof hi, "%lld", (long long)until);
    snprintf(key, sizeof key, "%s:%s:minutes", P, V);
    redisReply *mins = redisCommand(c, "ZRANGEBYSCORE %s %s %s", key, lo, hi);
    if (!mins || mins->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(mins);
        return SL_EIO;
    }
    int rc = 0;
    size_t sent = 0;
    for (size_t i = 0; i < mins->elements && !rc; i++) {
        const char *m = mins->element[i]->str;
        snprintf(key, sizeof key, "%s:%s:count:%s", P, V, m);
        const char *a1[] = {"HGETALL", key};
        rc = append(c, 2, a1);
        snprintf(key, sizeof key, "%s:%s:vol:%s", P, V, m);
        const char *a2[] = {"HGETALL", key};
        if (!rc) rc = append(c, 2, a2);
        sent += 2;
    }
    acc local = {0}; /* this version's group ids -> counts */
    for (size_t i = 0; i < sent && !rc; i++) {
        redisReply *r = get_reply(c);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            drain(c, sent - i - 1);
            rc = SL_EIO;
            break;
        }
        for (size_t k = 0; k + 1 < r->elements; k += 2) {
            redisReply *f = r->element[k], *v = r->element[k + 1];
            if (f->type != REDIS_REPLY_STRING) continue;
            if (i % 2 == 0) {
                acc_ent *e = acc_get(&local, f->str, f->len);
                if (!e) rc = SL_ENOMEM;
                if (e) e->count += reply_ll(v);
            } else if (f->len >= 2 && (f->str[0] == 'v' || f->str[0] == 'i') && f->str[1] == ':') {
                if (event_filter && strcmp(f->str + 2, event_filter) != 0) continue;
                acc_ent *e = acc_get(events, f->str + 2, f->len - 2);
                if (!e) {
                    rc = SL_ENOMEM;
                    continue;
                }
                if (f->str[0] == 'v')
                    e->valid += reply_ll(v);
                else
                    e->invalid += reply_ll(v);
            }
        }
        freeReplyObject(r);
    }
    freeReplyObject(mins);
    /* Group metadata, first/last and examples for every id counted here. */
    char kg[AGG_KEY_MAX], kf[AGG_KEY_MAX], kl[AGG_KEY_MAX];
    snprintf(kg, sizeof kg, "%s:%s:groups", P, V);
    snprintf(kf, sizeof kf, "%s:%s:first", P, V);
    snprintf(kl, sizeof kl, "%s:%s:last", P, V);
    sent = 0;
    for (size_t i = 0; i < local.cap && !rc; i++) {
        acc_ent *e = &local.v[i];
        if (!e->key || e->count <= 0) continue;
        snprintf(key, sizeof key, "%s:%s:ex:%s", P, V, e->key);
        const char *c1[] = {"HGET", kg, e->key}, *c2[] = {"ZSCORE", kf, e->key},
                   *c3[] = {"ZSCORE", kl, e->key}, *c4[] = {"LRANGE", key, "0", "-1"};
        if (append(c, 3, c1) || append(c, 3, c2) || append(c, 3, c3) || append(c, 4, c4))
            rc = SL_ENOMEM;
        sent += 4;
    }
    size_t got = 0;
    for (size_t i = 0; i < local.cap && !rc; i++) {
        acc_ent *e = &local.v[i];
        if (!e->key || e->count <= 0) continue;
        redisReply *r[4];
        for (int k = 0; k < 4; k++)
            r[k] = get_reply(c);
        got += 4;
        if (!r[0] || !r[1] || !r[2] || !r[3]) {
            rc = SL_EIO;
        } else if (r[0]->type == REDIS_REPLY_STRING) { /* else forgotten by the cleanup */
            cJSON *meta = cJSON_ParseWithLength(r[0]->str, r[0]->len);
            const cJSON *ev = cJSON_GetObjectItemCaseSensitive(meta, "event");
            bool keep =
                cJSON_IsString(ev) && (!event_filter || !strcmp(ev->valuestring, event_filter));
            acc_ent *g = keep ? acc_get(groups, e->key, strlen(e->key)) : NULL;
            if (keep && !g) rc = SL_ENOMEM;
            if (g) {
                g->count += e->count;
                long long f = r[1]->type == REDIS_REPLY_NIL ? LLONG_MAX : reply_ll(r[1]);
                long long l = reply_ll(r[2]);
                if (f < g->first) g->first = f;
                if (l > g->last) g->last = l;
                if (!g->meta) {
                    g->meta = meta;
                    meta = NULL;
                }
                if (!g->examples) g->examples = cJSON_CreateArray();
                for (size_t k = 0; g->examples && k < r[3]->elements; k++) {
                    if (cJSON_GetArraySize(g->examples) >= AGG_REPORT_EXAMPLES) break;
                    redisReply *x = r[3]->element[k];
                    cJSON *item = cJSON_ParseWithLength(x->str, x->len);
                    if (!item) item = cJSON_CreateString(x->str);
                    if (item) cJSON_AddItemToArray(g->examples, item);
                }
            }
            cJSON_Delete(meta);
        }
        for (int k = 0; k < 4; k++)
            freeReplyObject(r[k]);
    }
    if (got < sent) drain(c, sent - got);
    acc_free(&local);
    return rc;
}

static int cmp_examples(const void *pa, const void *pb)
{
    const cJSON *a = *(const cJSON *const *)pa, *b = *(const cJSON *const *)pb;
    const cJSON *ta = cJSON_GetObjectItemCaseSensitive(a, "ts");
    const cJSON *tb = cJSON_GetObjectItemCaseSensitive(b, "ts");
    double x = cJSON_IsNumber(ta) ? ta->valuedouble : 0,
           y = cJSON_IsNumber(tb) ? tb->valuedouble : 0;
    return x > y ? -1 : x < y ? 1 : 0;
}

/* Orders an examples array newest first (lists are newest first per flush and per version, not
 * across collectors or versions). */
static void sort_examples(cJSON *arr)
{
    cJSON *items[AGG_REPORT_EXAMPLES] = {0};
    size_t n = 0;
    while (arr->child && n < AGG_REPORT_EXAMPLES)
        items[n++] = cJSON_DetachItemViaPointer(arr, arr->child);
    qsort(items, n, sizeof *items, cmp_examples);
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, items[i]);
}

static int cmp_groups(const void *pa, const void *pb)
{
    const acc_ent *a = *(const acc_ent *const *)pa, *b = *(const acc_ent *const *)pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return strcmp(a->key, b->key);
}

static int cmp_events(const void *pa, const void *pb)
{
    const acc_ent *a = *(const acc_ent *const *)pa, *b = *(const acc_ent *const *)pb;
    if (a->invalid != b->invalid) return a->invalid > b->invalid ? -1 : 1;
    return strcmp(a->key, b->key);
}

/* Entries of m with a key, sorted; caller frees the array. */
static acc_ent **acc_sorted(acc *m, int (*cmp)(const void *, const void *))
{
    acc_ent **v = malloc((m->n ? m->n : 1) * sizeof *v);
    if (!v) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->v[i].key) v[n++] = &m->v[i];
    qsort(v, n, sizeof *v, cmp);
    return v;
}

int agg_report(redisContext *c, const char *prefix, const char *plan_version, time_t since,
               time_t until, const char *event_filter, cJSON **out)
{
    *out = NULL;
    if (until < since) return SL_EUSAGE;
    const char *P = prefix ? prefix : AGG_DEFAULT_PREFIX;
    if (strlen(P) > AGG_STR_MAX || (plan_version && strlen(plan_version) >= AGG_VERSION_MAX))
        return SL_EUSAGE;
    redisReply *versions = NULL;
    if (!plan_version) {
        char key[AGG_KEY_MAX];
        snprintf(key, sizeof key, "%s:versions", P);
        versions = redisCommand(c, "ZRANGE %s 0 -1", key);
        if (!versions || versions->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(versions);
            return SL_EIO;
        }
    }
    acc groups = {0}, events = {0};
    int rc = 0;
    if (plan_version)
        rc = report_version(c, P, plan_version, since, until, event_filter, &groups, &events);
    for (size_t i = 0; versions && i < versions->elements && !rc; i++)
        rc = report_version(c, P, versions->element[i]->str, since, until, event_filter, &groups,
                            &events);
    freeReplyObject(versions);
    cJSON *o = NULL;
    acc_ent **gs = NULL, **es = NULL;
    if (rc) goto out;
    rc = SL_ENOMEM;
    gs = acc_sorted(&groups, cmp_groups);
    es = acc_sorted(&events, cmp_events);
    o = cJSON_CreateObject();
    if (!gs || !es || !o) goto out;
    cJSON_AddNumberToObject(o, "since", (double)since);
    cJSON_AddNumberToObject(o, "until", (double)until);
    if (plan_version)
        cJSON_AddStringToObject(o, "plan_version", plan_version);
    else
        cJSON_AddNullToObject(o, "plan_version");
    cJSON *ga = cJSON_AddArrayToObject(o, "groups");
    if (!ga) goto out;
    for (size_t i = 0; i < groups.n && i < AGG_REPORT_MAX_GROUPS; i++) {
        acc_ent *g = gs[i];
        cJSON *item = cJSON_CreateObject();
        if (!item) goto out;
        cJSON_AddItemToArray(ga, item);
        const char *fields[] = {"event", "kind", "path"};
        for (int k = 0; k < 3; k++) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(g->meta, fields[k]);
            cJSON_AddStringToObject(item, fields[k], cJSON_IsString(f) ? f->valuestring : "");
        }
        cJSON_AddNumberToObject(item, "count", (double)g->count);
        cJSON_AddNumberToObject(item, "first_seen", (double)(g->first == LLONG_MAX ? 0 : g->first));
        cJSON_AddNumberToObject(item, "last_seen", (double)g->last);
        if (g->examples) sort_examples(g->examples);
        cJSON_AddItemToObject(item, "examples", g->examples ? g->examples : cJSON_CreateArray());
        g->examples = NULL;
    }
    if (groups.n > AGG_REPORT_MAX_GROUPS)
        cJSON_AddNumberToObject(o, "groups_truncated", (double)(groups.n - AGG_REPORT_MAX_GROUPS));
    cJSON *ea = cJSON_AddArrayToObject(o, "events");
    if (!ea) goto out;
    for (size_t i = 0; i < events.n; i++) {
        cJSON *item = cJSON_CreateObject();
        if (!item) goto out;
        cJSON_AddItemToArray(ea, item);
        cJSON_AddStringToObject(item, "event", es[i]->key);
        cJSON_AddNumberToObject(item, "valid", (double)es[i]->valid);
        cJSON_AddNumberToObject(item, "invalid", (double)es[i]->invalid);
    }
    rc = 0;
    *out = o;
    o = NULL;
out:
    cJSON_Delete(o);
    free(gs);
    free(es);
    acc_free(&groups);
    acc_free(&events);
    return rc;
}

/* ---- per-minute volumes (GET /v1/stats/series) ------------------------------------------- */

int agg_series(redisContext *c, const char *prefix, time_t since, time_t until, cJSON **out)
{
    *out = NULL;
    if (until < since || until - since > 7 * 86400) return SL_EUSAGE;
    const char *P = prefix ? prefix : AGG_DEFAULT_PREFIX;
    if (strlen(P) > AGG_STR_MAX) return SL_EUSAGE;
    time_t m0 = since - since % 60;
    size_t nmin = (size_t)((until - m0) / 60) + 1;
    long long *valid = calloc(nmin, sizeof *valid), *invalid = calloc(nmin, sizeof *invalid);
    char key[AGG_KEY_MAX], lo[32], hi[32];
    int rc = SL_ENOMEM;
    redisReply *versions = NULL;
    if (!valid || !invalid) goto done;
    rc = SL_EIO;
    snprintf(key, sizeof key, "%s:versions", P);
    versions = redisCommand(c, "ZRANGE %s 0 -1", key);
    if (!versions || versions->type != REDIS_REPLY_ARRAY) goto done;
    snprintf(lo, sizeof lo, "%lld", (long long)m0);
    snprintf(hi, sizeof hi, "%lld", (long long)until);
    for (size_t v = 0; v < versions->elements; v++) {
        const char *V = versions->element[v]->str;
        if (!V || strlen(V) >= AGG_VERSION_MAX) continue;
        snprintf(key, sizeof key, "%s:%s:minutes", P, V);
        redisReply *mins = redisCommand(c, "ZRANGEBYSCORE %s %s %s", key, lo, hi);
        if (!mins || mins->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(mins);
            goto done;
        }
        for (size_t i = 0; i < mins->elements; i++) {
            long long m = atoll(mins->element[i]->str);
            if (m < m0 || m > until) continue;
            size_t slot = (size_t)((m - m0) / 60);
            snprintf(key, sizeof key, "%s:%s:vol:%s", P, V, mins->element[i]->str);
            redisReply *r = redisCommand(c, "HGETALL %s", key);
            for (size_t k = 0; r && r->type == REDIS_REPLY_ARRAY && k + 1 < r->elements; k += 2) {
                redisReply *f = r->element[k];
                if (f->type != REDIS_REPLY_STRING || f->len < 2 || f->str[1] != ':') continue;
                long long n = reply_ll(r->element[k + 1]);
                if (f->str[0] == 'v') valid[slot] += n;
                if (f->str[0] == 'i') invalid[slot] += n;
            }
            freeReplyObject(r);
        }
        freeReplyObject(mins);
    }
    rc = SL_ENOMEM;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "minutes") : NULL;
    if (!arr) {
        cJSON_Delete(o);
        goto done;
    }
    for (size_t i = 0; i < nmin; i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e) {
            cJSON_Delete(o);
            goto done;
        }
        cJSON_AddItemToArray(arr, e);
        cJSON_AddNumberToObject(e, "t", (double)(m0 + (time_t)i * 60));
        cJSON_AddNumberToObject(e, "valid", (double)valid[i]);
        cJSON_AddNumberToObject(e, "invalid", (double)invalid[i]);
    }
    *out = o;
    rc = 0;
done:
    freeReplyObject(versions);
    free(valid);
    free(invalid);
    return rc;
}
