/* durable.c - the sink + spool writer of one worker (see durable.h for the promises).
 *
 * Spool record layout (spool_pack fields): [0] kind, one byte 'v' (valid -> events stream) or
 * 'i' (invalid stream); [1] event JSON; [2] violations JSON, empty = none; [3] message id, empty =
 * none. A record that does not unpack to that shape is counted, logged and skipped on replay. */
#include "durable.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_buf.h"
#include "sl_err.h"

#define NFIELDS 4
#define REPLAY_TICK_MS 50
#define LOG_EVERY_MS 1000

/* One durable_write in progress. For the sink path `ents` (and the bytes after it) is a private
 * copy of the request's entries, kept until Redis answered, so a failed group can be spooled. */
typedef struct {
    durable *d;
    durable_done_cb cb;
    void *ud;
    size_t n;
    bool fallback;    /* the sink failed first */
    sink_entry *ents; /* NULL on the direct spool path */
} op;

struct durable {
    uv_loop_t *loop;
    sink *sk;
    spool *sp;
    spool_reader *rd;
    durable_config cfg;
    uv_timer_t tick;
    /* the replay group: records copied out of the spool, then unpacked into rents */
    char *rbuf;
    size_t rlen, rcap;
    size_t *roff; /* record i = rbuf[roff[2i] .. +roff[2i+1]) */
    sink_entry *rents;
    size_t rn, rrecs, rslots;
    spool_pos rnext;
    bool rloaded, rinflight;
    /* spool_append_fields scratch */
    spool_buf *fields;
    size_t fcap;
    size_t ops; /* writes whose callback has not fired */
    bool closing, finishing;
    void (*done)(void *ud);
    void *done_ud;
    uint64_t last_log;
    durable_stats st;
};

static void dlog(durable *d, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dlog(durable *d, const char *level, const char *fmt, ...)
{
    if (!d->cfg.log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->cfg.log(d->cfg.log_ud, level, msg);
}

/* Rate-limited warning: at most one a second per worker. */
static bool log_due(durable *d)
{
    uint64_t now = uv_now(d->loop);
    if (d->last_log && now - d->last_log < LOG_EVERY_MS) return false;
    d->last_log = now;
    return true;
}

static void maybe_finish_close(durable *d);
static void replay_step(durable *d);

/* ---- writes ------------------------------------------------------------------------------ */

/* A copy of entries[0..n) in one allocation. NULL on out-of-memory. */
static op *op_new_copy(durable *d, const sink_entry *e, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += e[i].event_len + e[i].violations_len + e[i].message_id_len;
    op *o = malloc(sizeof *o + n * sizeof(sink_entry) + bytes);
    if (!o) return NULL;
    memset(o, 0, sizeof *o);
    o->d = d;
    o->n = n;
    o->ents = (sink_entry *)(void *)(o + 1);
    char *p = (char *)(o->ents + n);
    for (size_t i = 0; i < n; i++) {
        sink_entry *c = &o->ents[i];
        *c = e[i];
        memcpy(p, e[i].event_json, e[i].event_len);
        c->event_json = p, p += e[i].event_len;
        if (e[i].violations_json) {
            memcpy(p, e[i].violations_json, e[i].violations_len);
            c->violations_json = p, p += e[i].violations_len;
        }
        if (e[i].message_id) {
            memcpy(p, e[i].message_id, e[i].message_id_len);
            c->message_id = p, p += e[i].message_id_len;
        }
    }
    return o;
}

static void on_spooled(void *ud, int status)
{
    op *o = ud;
    durable *d = o->d;
    d->ops--;
    if (status == 0) {
        d->st.spooled_events += o->n;
        if (o->fallback) d->st.fallback_events += o->n;
    } else {
        d->st.refused_events += o->n;
        if (log_due(d))
            dlog(d, "error", "spool write failed: %s; answering 503", sl_strerror(status));
    }
    o->cb(o->ud, status);
    free(o);
    maybe_finish_close(d);
}

/* Appends e[0..n) to the spool; on_spooled(o) fires later. Returns 0 or the spool's error (then
 * nothing fires and o is still the caller's). */
static int spool_path(durable *d, const sink_entry *e, size_t n, op *o)
{
    if (n * NFIELDS > d->fcap) {
        spool_buf *nf = realloc(d->fields, n * NFIELDS * sizeof *nf);
        if (!nf) return SL_ENOMEM;
        d->fields = nf;
        d->fcap = n * NFIELDS;
    }
    static const char kinds[2] = {'v', 'i'};
    for (size_t i = 0; i < n; i++) {
        spool_buf *f = &d->fields[i * NFIELDS];
        f[0] = (spool_buf){&kinds[e[i].invalid ? 1 : 0], 1};
        f[1] = (spool_buf){e[i].event_json, e[i].event_len};
        f[2] = (spool_buf){e[i].violations_json ? e[i].violations_json : "",
                           e[i].violations_json ? e[i].violations_len : 0};
        f[3] = (spool_buf){e[i].message_id ? e[i].message_id : "",
                           e[i].message_id ? e[i].message_id_len : 0};
    }
    int rc = spool_append_fields(d->sp, d->fields, n, NFIELDS, on_spooled, o);
    if (rc) {
        d->st.refused_events += n;
        if (log_due(d))
            dlog(d, "warn", "spool refused %zu events: %s; answering 503", n,
                 rc == SPOOL_EFULL ? "spool full" : sl_strerror(rc));
        return rc == SL_EUSAGE ? SL_EIO : rc;
    }
    d->ops++;
    return 0;
}

static void on_sink(void *ud, int status)
{
    op *o = ud;
    durable *d = o->d;
    d->ops--;
    if (status == 0) {
        d->st.sink_events += o->n;
        o->cb(o->ud, 0);
        free(o);
        maybe_finish_close(d);
        return;
    }
    if (log_due(d))
        dlog(d, "warn", "Redis did not acknowledge %zu events (%s); spooling them", o->n,
             sl_strerror(status));
    o->fallback = true;
    int rc = spool_path(d, o->ents, o->n, o);
    if (rc) {
        o->cb(o->ud, rc);
        free(o);
        maybe_finish_close(d);
    }
}

/* New writes go to Redis only when nothing older is waiting in the spool. */
static bool use_sink(const durable *d)
{
    return sink_ready(d->sk) && !d->rloaded && !spool_has_backlog(d->sp);
}

int durable_write(durable *d, const sink_entry *entries, size_t n, durable_done_cb cb, void *ud)
{
    if (d->closing) return SL_EIO;
    if (!n) return SL_EUSAGE;
    op *o;
    if (use_sink(d)) {
        if (!(o = op_new_copy(d, entries, n))) return SL_ENOMEM;
        o->cb = cb, o->ud = ud;
        int rc = sink_write(d->sk, o->ents, n, on_sink, o);
        if (rc == 0) {
            d->ops++;
            return 0;
        }
        if (rc != SL_EIO && rc != SL_ELIMIT) {
            free(o);
            return rc;
        }
        o->fallback = true; /* not ready after all, or too much in flight: spool */
    } else {
        if (!(o = calloc(1, sizeof *o))) return SL_ENOMEM;
        o->d = d, o->n = n, o->cb = cb, o->ud = ud;
    }
    int rc = spool_path(d, entries, n, o);
    if (rc) free(o);
    return rc;
}

/* ---- replay ------------------------------------------------------------------------------ */

/* Reads the next group of records into rbuf/rents. Returns 0 (d->rloaded tells whether there is
 * a group) or an error. */
static int replay_load(durable *d)
{
    d->rlen = d->rrecs = d->rn = 0;
    size_t maxr = d->cfg.replay_records, maxb = d->cfg.replay_bytes;
    while (d->rrecs < maxr && d->rlen < maxb) {
        spool_rec rec;
        int r = spool_read(d->rd, &rec);
        if (r < 0) return r;
        if (r == 0) break;
        if (sl_grow(&d->rbuf, &d->rcap, d->rlen + rec.len, 1) ||
            sl_grow(&d->roff, &d->rslots, 2 * (d->rrecs + 1), sizeof *d->roff))
            return SL_ENOMEM;
        memcpy(d->rbuf + d->rlen, rec.data, rec.len);
        d->roff[2 * d->rrecs] = d->rlen;
        d->roff[2 * d->rrecs + 1] = rec.len;
        d->rlen += rec.len;
        d->rrecs++;
        d->rnext = rec.next;
    }
    if (!d->rrecs) return 0;
    d->rents = realloc(d->rents, d->rrecs * sizeof *d->rents);
    if (!d->rents) return SL_ENOMEM;
    for (size_t i = 0; i < d->rrecs; i++) {
        spool_buf f[NFIELDS];
        size_t k = 0;
        int rc = spool_unpack(d->rbuf + d->roff[2 * i], d->roff[2 * i + 1], f, NFIELDS, &k);
        if (rc || k != NFIELDS || f[0].len != 1 || !f[1].len) {
            d->st.corrupt_records++;
            dlog(d, "error", "spool record does not unpack (%zu bytes); skipped",
                 d->roff[2 * i + 1]);
            continue;
        }
        d->rents[d->rn++] = (sink_entry){
            .invalid = *(const char *)f[0].data == 'i',
            .event_json = f[1].data,
            .event_len = f[1].len,
            .violations_json = f[2].len ? f[2].data : NULL,
            .violations_len = f[2].len,
            .message_id = f[3].len ? f[3].data : NULL,
            .message_id_len = f[3].len,
        };
    }
    d->rloaded = true;
    return 0;
}

static void replay_done(durable *d)
{
    spool_commit(d->sp, d->rnext);
    d->st.replayed_events += d->rn;
    d->rloaded = false;
    d->rn = d->rrecs = d->rlen = 0;
    if (!spool_has_backlog(d->sp)) dlog(d, "info", "spool backlog replayed; writing to Redis");
}

static void on_replayed(void *ud, int status)
{
    durable *d = ud;
    d->rinflight = false;
    if (status == 0) {
        replay_done(d);
        if (d->closing)
            maybe_finish_close(d);
        else
            replay_step(d);
        return;
    }
    d->st.replay_failures++;
    if (log_due(d))
        dlog(d, "warn", "replay of %zu spooled events failed (%s); will retry", d->rn,
             sl_strerror(status));
    maybe_finish_close(d);
}

static void replay_step(durable *d)
{
    if (d->rinflight || d->closing || !sink_ready(d->sk)) return;
    if (!d->rloaded) {
        if (!spool_has_backlog(d->sp)) return;
        int rc = replay_load(d);
        if (rc) {
            if (log_due(d)) dlog(d, "error", "reading the spool: %s", sl_strerror(rc));
            d->rloaded = false;
            return;
        }
        if (!d->rloaded) return; /* only pending appends: not durable yet */
        if (!d->rn) {            /* only corrupt records: step over them */
            replay_done(d);
            return;
        }
    }
    int rc = sink_write(d->sk, d->rents, d->rn, on_replayed, d);
    if (rc == 0)
        d->rinflight = true;
    else if (rc != SL_EIO && rc != SL_ELIMIT && log_due(d))
        dlog(d, "error", "replay: sink refused a group: %s", sl_strerror(rc));
}

static void on_tick(uv_timer_t *t)
{
    replay_step(t->data);
}

/* ---- open / close / stats ----------------------------------------------------------------- */

int durable_open(uv_loop_t *loop, sink *sk, const durable_config *cfg, durable **out, char *err,
                 size_t errcap)
{
    durable *d = calloc(1, sizeof *d);
    if (!d) return SL_ENOMEM;
    d->loop = loop;
    d->sk = sk;
    d->cfg = *cfg;
    if (!d->cfg.replay_records) d->cfg.replay_records = 500;
    if (!d->cfg.replay_bytes) d->cfg.replay_bytes = 1u << 20;
    spool_config sc = {.dir = cfg->spool_dir, .max_bytes = cfg->spool_max_bytes};
    int rc = spool_open(loop, &sc, &d->sp, err, errcap);
    if (rc) {
        free(d);
        return rc;
    }
    if ((rc = spool_reader_new(d->sp, &d->rd))) {
        spool_close(d->sp, NULL, NULL);
        free(d);
        return rc;
    }
    spool_stats ss;
    spool_get_stats(d->sp, &ss);
    if (ss.torn_segments)
        dlog(d, "warn",
             "spool %s: cut a torn tail (%llu segment(s), %llu bytes; last at segment %llu "
             "offset %llu): unacknowledged records, not replayed",
             cfg->spool_dir, (unsigned long long)ss.torn_segments,
             (unsigned long long)ss.torn_bytes, (unsigned long long)ss.last_torn_seg,
             (unsigned long long)ss.last_torn_off);
    if (ss.recovered_records)
        dlog(d, "info", "spool %s: %llu events from an earlier run to replay", cfg->spool_dir,
             (unsigned long long)ss.recovered_records);
    uv_timer_init(loop, &d->tick);
    d->tick.data = d;
    uv_timer_start(&d->tick, on_tick, REPLAY_TICK_MS, REPLAY_TICK_MS);
    *out = d;
    return 0;
}

bool durable_can_accept(const durable *d)
{
    if (d->closing) return false;
    if (sink_ready(d->sk)) return true;
    spool_stats ss;
    spool_get_stats(d->sp, &ss);
    return ss.bytes < ss.max_bytes;
}

void durable_get_stats(const durable *d, durable_stats *out)
{
    *out = d->st;
    spool_get_stats(d->sp, &out->spool);
    uint64_t in = out->spool.recovered_records + out->spool.records_durable;
    uint64_t gone = d->st.replayed_events + d->st.corrupt_records;
    out->backlog_events = in > gone ? in - gone : 0;
}

static void on_spool_closed(void *ud)
{
    durable *d = ud;
    void (*done)(void *) = d->done;
    void *dud = d->done_ud;
    free(d->rbuf);
    free(d->roff);
    free(d->rents);
    free(d->fields);
    free(d);
    if (done) done(dud);
}

static void on_tick_closed(uv_handle_t *h)
{
    durable *d = h->data;
    spool_reader_free(d->rd);
    d->rd = NULL;
    spool_close(d->sp, on_spool_closed, d);
}

static void maybe_finish_close(durable *d)
{
    if (!d->closing || d->finishing || d->ops || d->rinflight) return;
    d->finishing = true;
    spool_stats ss;
    spool_get_stats(d->sp, &ss);
    if (spool_has_backlog(d->sp))
        dlog(d, "info", "spool keeps %llu bytes for the next start", (unsigned long long)ss.bytes);
    uv_close((uv_handle_t *)&d->tick, on_tick_closed);
}

void durable_close(durable *d, void (*done)(void *ud), void *ud)
{
    if (d->closing) return;
    d->closing = true;
    d->done = done;
    d->done_ud = ud;
    uv_timer_stop(&d->tick);
    maybe_finish_close(d);
}
