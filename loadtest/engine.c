/* engine.c - connections, scheduling and measurement of sluice-load (see engine.h).
 *
 * Each load connection owns a ring of `pipeline` request slots; a slot holds the request bytes
 * until both its write completed and its response arrived (responses come back in order, so the
 * oldest slot answers the next response). Connections with a free slot wait in a FIFO "ready"
 * queue; the dispatcher takes from it. A failed connection loses its in-flight requests (counted
 * as failed) and is reopened after 20 ms while the run lasts. Idle connections only read (to see
 * the server close them) and are never reopened. One read buffer serves every connection: reads
 * are processed synchronously on the loop thread. */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>
#include <uv.h>

#include "sl_buf.h"
#include "lterr.h"

/* ---- types --------------------------------------------------------------------------------- */

typedef struct conn conn;
typedef struct engine engine;

typedef struct {
    uint64_t t_due, t_sent; /* ns (uv_hrtime) */
    uint64_t first_seq;
    unsigned nevents, ninvalid;
    bool measured;
    bool writing; /* uv_write pending: the bytes must stay */
    uv_write_t wr;
    char hdr[768];
    size_t hdr_len;
    sl_buf body;
} slot;

enum { C_DOWN, C_CONNECTING, C_OPEN, C_CLOSING };

struct conn {
    engine *e;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_timer_t retry; /* load connections only */
    llhttp_t parser;
    slot *slots;
    unsigned head, count; /* ring of in-flight requests */
    int state;
    bool idle;
    bool in_ready;
    bool close_after;  /* server said Connection: close, or the parser failed */
    bool resolved;     /* first connect attempt finished (success or not) */
    unsigned retry_ms; /* delay before reopening: 0 after a graceful close */
    conn *next_ready;
};

enum { P_CONNECTING, P_RUNNING, P_DRAINING, P_DONE };

struct engine {
    const engine_config *cfg;
    engine_stats *st;
    uv_loop_t loop;
    llhttp_settings_t settings;
    conn *conns; /* cfg->connections load connections, then cfg->idle idle ones */
    unsigned nload, nidle;
    unsigned resolved; /* connections whose first connect finished */
    unsigned idle_next, idle_connecting;
    conn *ready_head, *ready_tail;
    uv_idle_t spin;
    uv_timer_t clock;
    bool spinning;
    int phase;
    uint64_t t_connect_deadline, t0, t_measure, t_end, t_drain_end, t_last_done;
    uint64_t next_idx, total; /* open loop: next request index to send, requests planned */
    double interval_ns;
    uint64_t inflight;
    uint64_t now; /* time of the current read, for the responses it completes */
    int fatal;
    char *err;
    size_t errlen;
    char rbuf[64 * 1024];
};

#define IDLE_CONNECT_WINDOW 256
#define RETRY_MS 20

static void conn_connect(conn *c);
static void conn_fail(conn *c, bool count_conn_error);
static void pump(engine *e);
static void start_drain(engine *e, uint64_t now);

static bool open_loop(const engine *e)
{
    return e->cfg->rate > 0;
}

/* ---- ready queue ----------------------------------------------------------------------------- */

static bool can_send(const conn *c)
{
    if (c->state != C_OPEN || c->close_after || c->idle) return false;
    unsigned depth = c->e->cfg->pipeline;
    if (c->count >= depth) return false;
    return !c->slots[(c->head + c->count) % depth].writing;
}

static void ready_push(conn *c)
{
    engine *e = c->e;
    if (c->in_ready || !can_send(c)) return;
    c->in_ready = true;
    c->next_ready = NULL;
    if (e->ready_tail)
        e->ready_tail->next_ready = c;
    else
        e->ready_head = c;
    e->ready_tail = c;
}

/* Next connection that can send now, or NULL. */
static conn *ready_pop(engine *e)
{
    while (e->ready_head) {
        conn *c = e->ready_head;
        e->ready_head = c->next_ready;
        if (!e->ready_head) e->ready_tail = NULL;
        c->in_ready = false;
        if (can_send(c)) return c;
    }
    return NULL;
}

/* ---- requests -------------------------------------------------------------------------------- */

static void on_write(uv_write_t *wr, int status)
{
    slot *s = wr->data;
    conn *c = wr->handle->data;
    s->writing = false;
    if (status < 0) {
        if (status != UV_ECANCELED && c->state == C_OPEN) conn_fail(c, true);
        return;
    }
    ready_push(c);
    pump(c->e);
}

/* Sends one request on c (can_send(c) holds) due at t_due (0 = now). */
static void send_request(conn *c, uint64_t t_due)
{
    engine *e = c->e;
    const engine_config *cfg = e->cfg;
    unsigned depth = cfg->pipeline;
    slot *s = &c->slots[(c->head + c->count) % depth];
    const char *path = cfg->path;
    const char *body;
    size_t blen;
    evgen_req info = {0};
    if (cfg->fixed_body) {
        body = cfg->fixed_body;
        blen = cfg->fixed_len;
        info.raw_len = blen;
    } else {
        int rc = evgen_next(cfg->gen, &s->body, &info);
        if (rc) {
            snprintf(e->err, e->errlen, "generating a body: %s", lt_strerror(rc));
            e->fatal = rc;
            start_drain(e, uv_hrtime());
            return;
        }
        body = s->body.p;
        blen = s->body.n;
        if (!path) path = info.path;
    }
    if (!path) path = "/";
    int n = snprintf(s->hdr, sizeof s->hdr,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-load\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     cfg->method, path, cfg->host_header, cfg->content_type, blen,
                     cfg->gzip && !cfg->fixed_body ? "Content-Encoding: gzip\r\n" : "",
                     cfg->extra_headers);
    s->hdr_len = n < 0 ? 0 : (size_t)n >= sizeof s->hdr ? sizeof s->hdr - 1 : (size_t)n;
    uint64_t now = uv_hrtime();
    s->t_sent = now;
    s->t_due = t_due ? t_due : now;
    s->first_seq = info.first_seq;
    s->nevents = info.nevents;
    s->ninvalid = info.ninvalid;
    s->measured = s->t_due >= e->t_measure;
    uv_buf_t bufs[2] = {uv_buf_init(s->hdr, (unsigned)s->hdr_len),
                        uv_buf_init((char *)body, (unsigned)blen)};
    s->wr.data = s;
    int rc = uv_write(&s->wr, (uv_stream_t *)&c->tcp, bufs, blen ? 2 : 1, on_write);
    if (rc) {
        if (s->measured) e->st->failed++;
        conn_fail(c, true);
        return;
    }
    s->writing = true;
    c->count++;
    e->inflight++;
    if (s->measured) {
        engine_stats *st = e->st;
        st->sent++;
        st->events_sent += s->nevents;
        st->invalid_sent += s->ninvalid;
        st->bytes_sent += s->hdr_len + blen;
        st->body_bytes += blen;
        st->raw_body_bytes += info.raw_len;
    }
}

static void log_acks(engine *e, const slot *s)
{
    FILE *f = e->cfg->ack_log;
    if (!f || !e->cfg->gen) return;
    char id[37];
    for (unsigned i = 0; i < s->nevents; i++) {
        evgen_message_id(e->cfg->gen, s->first_seq + i, id);
        id[36] = '\n';
        fwrite(id, 1, 37, f);
    }
}

/* The response to the oldest in-flight request of c is complete. */
static int on_message_complete(llhttp_t *p)
{
    conn *c = p->data;
    engine *e = c->e;
    if (c->idle) return 0;
    if (!c->count) {
        c->close_after = true; /* a response nobody asked for */
        e->st->parse_errors++;
        return -1;
    }
    slot *s = &c->slots[c->head];
    c->head = (c->head + 1) % e->cfg->pipeline;
    c->count--;
    e->inflight--;
    int code = llhttp_get_status_code(p);
    bool ok = code >= 200 && code < 300;
    if (ok) log_acks(e, s);
    if (s->measured) {
        engine_stats *st = e->st;
        st->completed++;
        if (code >= 0 && code < 600) st->status[code]++;
        if (ok) {
            st->ok++;
            st->events_acked += s->nevents;
            st->invalid_acked += s->ninvalid;
        } else {
            st->non2xx++;
        }
        hist_record(&st->latency, e->now > s->t_due ? e->now - s->t_due : 0);
        hist_record(&st->service, e->now > s->t_sent ? e->now - s->t_sent : 0);
        if (e->now > e->t_last_done) e->t_last_done = e->now;
    }
    if (!llhttp_should_keep_alive(p)) c->close_after = true;
    return 0;
}

/* ---- connections ----------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    conn *c = h->data;
    *buf = uv_buf_init(c->e->rbuf, sizeof c->e->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = st->data;
    engine *e = c->e;
    if (nread == 0) return;
    e->now = uv_hrtime();
    if (nread < 0) {
        if (c->idle) {
            e->st->idle_closed++;
            e->st->idle_open--;
            conn_fail(c, false);
            return;
        }
        if (nread == UV_EOF && c->count) llhttp_finish(&c->parser);
        conn_fail(c, nread != UV_EOF || c->count > 0);
        pump(e);
        return;
    }
    if (c->idle) return;
    llhttp_errno_t perr = llhttp_execute(&c->parser, buf->base, (size_t)nread);
    if (perr != HPE_OK) {
        if (perr != HPE_CB_MESSAGE_COMPLETE) e->st->parse_errors++;
        conn_fail(c, true);
    } else if (c->close_after) {
        conn_fail(c, false);
    } else {
        ready_push(c);
    }
    pump(e);
}

static void on_retry(uv_timer_t *t);

static void on_close(uv_handle_t *h)
{
    conn *c = h->data;
    engine *e = c->e;
    c->state = C_DOWN;
    if (!c->idle && e->phase == P_RUNNING) uv_timer_start(&c->retry, on_retry, c->retry_ms, 0);
}

static void on_retry(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->e->phase == P_RUNNING && c->state == C_DOWN) conn_connect(c);
}

/* Closes c; its in-flight requests are lost (counted as failed when measured). */
static void conn_fail(conn *c, bool count_conn_error)
{
    engine *e = c->e;
    if (c->state == C_CLOSING || c->state == C_DOWN) return;
    if (count_conn_error && !c->idle) e->st->conn_errors++;
    c->retry_ms = count_conn_error ? RETRY_MS : 0;
    unsigned depth = e->cfg->pipeline;
    for (unsigned i = 0; i < c->count; i++) {
        slot *s = &c->slots[(c->head + i) % depth];
        if (s->measured) e->st->failed++;
    }
    e->inflight -= c->count;
    c->head = c->count = 0;
    c->state = C_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void idle_connect_more(engine *e);

static void on_connect(uv_connect_t *req, int status)
{
    conn *c = req->data;
    engine *e = c->e;
    bool first = !c->resolved;
    if (!c->resolved) {
        c->resolved = true;
        e->resolved++;
    }
    if (c->idle) e->idle_connecting--;
    if (status < 0) {
        if (c->idle)
            e->st->idle_failed++;
        else
            e->st->connect_errors++;
        if (first && !c->idle && e->fatal == 0 && e->st->connect_errors == 1)
            snprintf(e->err, e->errlen, "connect: %s", uv_strerror(status));
        c->state = C_CLOSING;
        c->retry_ms = RETRY_MS;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        if (c->idle) idle_connect_more(e);
        return;
    }
    c->state = C_OPEN;
    c->close_after = false;
    if (c->idle) {
        e->st->idle_open++;
        idle_connect_more(e);
    } else {
        e->st->connects++;
        uv_tcp_nodelay(&c->tcp, 1);
        llhttp_init(&c->parser, HTTP_RESPONSE, &e->settings);
        c->parser.data = c;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
        conn_fail(c, true);
        return;
    }
    ready_push(c);
    pump(e);
}

static void conn_connect(conn *c)
{
    engine *e = c->e;
    uv_tcp_init(&e->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    c->state = C_CONNECTING;
    if (c->idle) e->idle_connecting++;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&e->cfg->addr, on_connect);
    if (rc) {
        /* Report it like an asynchronous failure (fd limit, bad address, ...). */
        c->state = C_CLOSING;
        if (c->idle) e->idle_connecting--;
        if (!c->resolved) {
            c->resolved = true;
            e->resolved++;
        }
        if (c->idle)
            e->st->idle_failed++;
        else
            e->st->connect_errors++;
        if (!e->err[0]) snprintf(e->err, e->errlen, "connect: %s", uv_strerror(rc));
        c->retry_ms = RETRY_MS;
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

/* Opens idle connections a window at a time, so the server's accept backlog is not flooded. */
static void idle_connect_more(engine *e)
{
    while (e->idle_next < e->nidle && e->idle_connecting < IDLE_CONNECT_WINDOW)
        conn_connect(&e->conns[e->nload + e->idle_next++]);
    if (e->idle_next == e->nidle && e->idle_connecting == 0 && e->nidle) {
        fprintf(stderr, "sluice-load: %llu idle connections open (%llu failed)\n",
                (unsigned long long)e->st->idle_open, (unsigned long long)e->st->idle_failed);
        e->idle_next++; /* print once */
    }
}

/* ---- scheduling ------------------------------------------------------------------------------ */

static void start_spin(engine *e);
static void stop_spin(engine *e);

static void pump(engine *e)
{
    if (e->phase != P_RUNNING) return;
    conn *c;
    if (!open_loop(e)) {
        while ((c = ready_pop(e))) {
            while (can_send(c) && e->phase == P_RUNNING)
                send_request(c, 0);
        }
        return;
    }
    uint64_t now = uv_hrtime();
    if (now < e->t0) return;
    uint64_t due = (uint64_t)((double)(now - e->t0) / e->interval_ns) + 1;
    if (due > e->total) due = e->total;
    while (e->next_idx < due && e->phase == P_RUNNING && (c = ready_pop(e))) {
        send_request(c, e->t0 + (uint64_t)((double)e->next_idx * e->interval_ns));
        e->next_idx++;
        ready_push(c);
    }
    /* Nothing queued and the next request is more than 2 ms away: sleep on the clock. */
    if (e->next_idx >= due) {
        double next_at = (double)e->t0 + (double)e->next_idx * e->interval_ns;
        if (e->next_idx >= e->total || next_at - (double)now > 2e6) stop_spin(e);
    }
}

static void on_spin(uv_idle_t *h)
{
    pump(h->data);
}

static void start_spin(engine *e)
{
    if (e->spinning) return;
    e->spinning = true;
    uv_idle_start(&e->spin, on_spin);
}

static void stop_spin(engine *e)
{
    if (!e->spinning) return;
    e->spinning = false;
    uv_idle_stop(&e->spin);
}

static void start_running(engine *e)
{
    const engine_config *cfg = e->cfg;
    e->phase = P_RUNNING;
    e->t0 = uv_hrtime();
    e->t_measure = e->t0 + (uint64_t)(cfg->warmup_s * 1e9);
    e->t_end = e->t_measure + (uint64_t)(cfg->duration_s * 1e9);
    e->t_last_done = e->t_measure;
    if (open_loop(e)) {
        e->interval_ns = 1e9 / cfg->rate;
        e->total = (uint64_t)ceil(cfg->rate * (cfg->warmup_s + cfg->duration_s) - 1e-9);
        start_spin(e);
    }
    pump(e);
}

static void finish(engine *e)
{
    e->phase = P_DONE;
    stop_spin(e);
    uv_close((uv_handle_t *)&e->spin, NULL);
    uv_timer_stop(&e->clock);
    uv_close((uv_handle_t *)&e->clock, NULL);
    for (unsigned i = 0; i < e->nload + e->nidle; i++) {
        conn *c = &e->conns[i];
        if (c->state == C_OPEN || c->state == C_CONNECTING) {
            c->state = C_CLOSING;
            uv_close((uv_handle_t *)&c->tcp, NULL);
        }
        if (!c->idle) {
            uv_timer_stop(&c->retry);
            uv_close((uv_handle_t *)&c->retry, NULL);
        }
    }
}

static void start_drain(engine *e, uint64_t now)
{
    e->phase = P_DRAINING;
    stop_spin(e);
    if (open_loop(e)) {
        /* Requests due in the window but never sent: the queue the generator could not empty. */
        for (uint64_t i = e->next_idx; i < e->total; i++) {
            uint64_t due = e->t0 + (uint64_t)((double)i * e->interval_ns);
            if (due >= e->t_measure && due < e->t_end) e->st->unsent++;
        }
    }
    e->t_drain_end = now + (uint64_t)(e->cfg->drain_s * 1e9);
}

static void on_clock(uv_timer_t *t)
{
    engine *e = t->data;
    uint64_t now = uv_hrtime();
    switch (e->phase) {
    case P_CONNECTING: {
        bool all = e->resolved >= e->nload + e->nidle;
        if (all || now >= e->t_connect_deadline) {
            if (e->nload && e->st->connects == 0) {
                if (!e->err[0]) snprintf(e->err, e->errlen, "no connection could be opened");
                e->fatal = LT_ENET;
                finish(e);
                return;
            }
            start_running(e);
        }
        break;
    }
    case P_RUNNING:
        if (now >= e->t_end) {
            start_drain(e, now);
        } else if (open_loop(e) && !e->spinning && e->next_idx < e->total) {
            double next_at = (double)e->t0 + (double)e->next_idx * e->interval_ns;
            if (next_at - (double)now <= 2.5e6) start_spin(e);
        }
        break;
    case P_DRAINING:
        if (e->inflight == 0 || now >= e->t_drain_end) {
            /* Whatever is still in flight timed out. */
            unsigned depth = e->cfg->pipeline;
            for (unsigned i = 0; i < e->nload; i++) {
                conn *c = &e->conns[i];
                for (unsigned k = 0; k < c->count; k++)
                    if (c->slots[(c->head + k) % depth].measured) e->st->timeouts++;
                c->count = 0;
            }
            finish(e);
        }
        break;
    default:
        break;
    }
}

/* ---- entry point ----------------------------------------------------------------------------- */

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

int engine_run(const engine_config *cfg, engine_stats *st, char *err, size_t errlen)
{
    int rc = LT_ENOMEM;
    engine *e = calloc(1, sizeof *e);
    if (!e) return LT_ENOMEM;
    memset(st, 0, sizeof *st);
    hist_init(&st->latency);
    hist_init(&st->service);
    err[0] = 0;
    e->cfg = cfg;
    e->st = st;
    e->err = err;
    e->errlen = errlen;
    e->nload = cfg->connections;
    e->nidle = cfg->idle;
    llhttp_settings_init(&e->settings);
    e->settings.on_message_complete = on_message_complete;
    if (uv_loop_init(&e->loop)) {
        free(e);
        return LT_ENOMEM;
    }
    size_t nconn = (size_t)e->nload + e->nidle;
    e->conns = calloc(nconn ? nconn : 1, sizeof *e->conns);
    if (!e->conns) goto out;
    for (unsigned i = 0; i < e->nload; i++) {
        conn *c = &e->conns[i];
        c->e = e;
        c->slots = calloc(cfg->pipeline, sizeof *c->slots);
        if (!c->slots) goto out;
        for (unsigned k = 0; k < cfg->pipeline; k++)
            c->slots[k].body = (sl_buf){0};
        uv_timer_init(&e->loop, &c->retry);
        c->retry.data = c;
    }
    for (unsigned i = 0; i < e->nidle; i++) {
        e->conns[e->nload + i].e = e;
        e->conns[e->nload + i].idle = true;
    }
    uv_idle_init(&e->loop, &e->spin);
    e->spin.data = e;
    uv_timer_init(&e->loop, &e->clock);
    e->clock.data = e;
    e->t_measure = UINT64_MAX;
    e->t_connect_deadline = uv_hrtime() + (uint64_t)(cfg->connect_timeout_s * 1e9);
    for (unsigned i = 0; i < e->nload; i++)
        conn_connect(&e->conns[i]);
    idle_connect_more(e);
    uv_timer_start(&e->clock, on_clock, 1, 1);
    uv_run(&e->loop, UV_RUN_DEFAULT);

    if (e->phase == P_DONE && e->t_last_done > e->t_measure && !e->fatal) {
        double win = (double)(e->t_last_done - e->t_measure) / 1e9;
        st->elapsed_s = win > cfg->duration_s ? win : cfg->duration_s;
    } else {
        st->elapsed_s = cfg->duration_s;
    }
    if (open_loop(e) && e->total) {
        uint64_t n = 0;
        for (uint64_t i = 0; i < e->total; i++) {
            uint64_t due = e->t0 + (uint64_t)((double)i * e->interval_ns);
            if (due >= e->t_measure && due < e->t_end) n++;
        }
        st->scheduled = n;
    }
    rc = e->fatal ? e->fatal : 0;
out:
    if (e->conns) {
        for (unsigned i = 0; i < e->nload; i++) {
            conn *c = &e->conns[i];
            if (!c->slots) continue;
            for (unsigned k = 0; k < cfg->pipeline; k++)
                sl_buf_free(&c->slots[k].body);
            free(c->slots);
        }
    }
    if (rc == LT_ENOMEM) {
        /* Set-up failed before the loop ran: close what was initialised. */
        uv_walk(&e->loop, close_walk, NULL);
        uv_run(&e->loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&e->loop);
    free(e->conns);
    free(e);
    return rc;
}
