/* durable.h - a per-worker "durable writer": the Redis sink, backed by the disk spool.
 *
 * Promise: durable_write's callback gets 0 only when every entry of the request was acknowledged
 * by Redis OR written and fsynced in the worker's spool (which replays it to Redis later). Any
 * other outcome is an error code (answer 503): nothing is reported stored that was not.
 *
 * Routing of one request (all on the worker's loop thread):
 * - while the spool holds a backlog (records not yet acknowledged by Redis), or Redis is not
 *   ready, the entries go to the spool, so replay keeps the worker's order;
 * - otherwise to the sink; when sink_write refuses at once (not ready, too much in flight) or the
 *   group later fails (timeout, disconnect, error reply), the same entries are appended to the
 *   spool and the callback fires after its fsync. A group that timed out may still have been
 *   written by Redis: the spooled copy is then a duplicate (at-least-once; consumers dedup on
 *   message_id).
 * - Replay: while the spool has a backlog and the sink is ready, records are read oldest first
 *   and sent as one bounded group at a time; spool_commit follows each acknowledged group. A
 *   failed group is kept in memory and retried (same records, same order).
 * Memory: one request copy per sink group in flight (bounded by the sink's max_inflight), one
 * replay group (at most replay_records records / replay_bytes bytes), the spool's pending bytes
 * (bounded by its max_bytes).
 * Threads: one durable per loop; every call on that loop's thread. The durable borrows the sink
 * (the caller closes the sink after durable_close finished) and owns the spool. */
#ifndef SL_DURABLE_H
#define SL_DURABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sink.h"
#include "spool.h"

typedef struct durable durable;

typedef struct {
    const char *spool_dir;    /* this worker's directory (DIR/worker-N); required */
    uint64_t spool_max_bytes; /* 0 = spool default (256 MiB) */
    size_t replay_records;    /* records per replay group; default 500 */
    size_t replay_bytes;      /* bytes per replay group; default 1 MiB */
    /* Log hook (may be NULL): level "info" / "warn" / "error", one line without a newline. */
    void (*log)(void *ud, const char *level, const char *msg);
    void *log_ud;
} durable_config;

typedef struct {
    uint64_t sink_events;     /* events acknowledged by Redis on the direct path */
    uint64_t spooled_events;  /* events fsynced in the spool (direct or after a sink failure) */
    uint64_t fallback_events; /* of those: events the sink had refused or failed first */
    uint64_t replayed_events; /* spooled events Redis acknowledged during replay */
    uint64_t replay_failures; /* replay groups that failed (retried) */
    uint64_t refused_events;  /* events answered with an error (spool full or failing) */
    uint64_t corrupt_records; /* spool records that did not unpack (skipped, logged) */
    uint64_t backlog_events;  /* spooled events not yet acknowledged by Redis (approximate) */
    spool_stats spool;
} durable_stats;

typedef void (*durable_done_cb)(void *ud, int status);

/* Opens the spool in cfg->spool_dir (recovering what a crash left; a torn tail is logged) and
 * starts replaying any backlog once the sink is ready. Returns 0 and *out, or the spool_open
 * error (SL_EUSAGE when the directory is locked by another process, SL_EIO, SL_ENOMEM) with a
 * message in err. */
int durable_open(uv_loop_t *loop, sink *sk, const durable_config *cfg, durable **out, char *err,
                 size_t errcap);

/* Stores entries[0..n) (borrowed for the call only). Returns 0 and cb(ud, status) fires later,
 * exactly once: 0 = stored (Redis or fsynced spool); SPOOL_EFULL = spool full; SL_EIO = spool
 * write failed. Or returns right away (cb never fires): SPOOL_EFULL, SL_EIO (closing or spool
 * failing), SL_EUSAGE, SL_ENOMEM. */
int durable_write(durable *d, const sink_entry *entries, size_t n, durable_done_cb cb, void *ud);

/* True when a write could be stored now (Redis ready, or spool not full). */
bool durable_can_accept(const durable *d);

void durable_get_stats(const durable *d, durable_stats *out);

/* Drain: stops replaying, waits for every write in progress to reach Redis or the spool (their
 * callbacks fire), closes the spool (it persists for the next start), frees d, then done(ud).
 * The sink must stay open until done runs. Call once. */
void durable_close(durable *d, void (*done)(void *ud), void *ud);

#endif
