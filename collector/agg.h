/* agg.h - violation aggregation: per-minute counts per (plan version, event, kind, path), first
 * and last seen, a few recent example payloads per group, per-event valid/invalid volumes, all
 * kept in Redis so several collectors share one view; plus a live pub/sub feed of invalid events
 * and the report that reads it all back. The Redis key layout and the report JSON are in
 * docs/REPORTS.md.
 *
 * Promises (the writer, agg_new .. agg_close):
 * - One agg per worker loop; every agg_* call except agg_report runs on that loop's thread.
 * - agg_note never blocks and never does I/O for the counts: it adds to a bounded in-memory table
 *   (at most max_groups rows; a note that would need a new row when the table is full is counted
 *   in `overflow` and otherwise dropped). A uv timer sends the table to Redis every flush_ms as one
 *   pipeline on the agg's own hiredis async connection, then empties it.
 * - Aggregation is best-effort: while Redis is down or slow the table keeps accumulating (bounded)
 *   and the flush waits; the connection is re-made with backoff; replies overdue by timeout_ms drop
 *   the connection (hiredis 0.14 has no command timeouts, so the agg enforces its own). Events
 *   themselves are never handled here.
 * - Memory is bounded: max_groups rows, example bytes held between flushes <= example_budget,
 *   commands in flight <= max_inflight (beyond it a flush or a PUBLISH is skipped, and counted).
 * - The agg copies everything it keeps from agg_note's arguments before returning.
 *
 * agg_report reads the aggregate back with a blocking hiredis context the caller owns; it keeps no
 * state, so any thread may call it (one context per thread). */
#ifndef SL_AGG_H
#define SL_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "sl_err.h"
#include "vio.h"

#define AGG_DEFAULT_PREFIX "sluice:agg"
#define AGG_DEFAULT_CHANNEL "sluice:violations"
#define AGG_NAME_MAX 200    /* event names are truncated to this many bytes (UTF-8 safe) */
#define AGG_VERSION_MAX 64  /* plan versions likewise */
#define AGG_EXAMPLES_MAX 16 /* hard cap on examples_per_group */

typedef struct {
    const char *host;     /* default "127.0.0.1" */
    int port;             /* default 6379 */
    const char *username; /* ACL user or NULL */
    const char *password; /* or NULL */
    int db;               /* SELECT db, default 0 */
    const char *prefix;   /* key prefix, default AGG_DEFAULT_PREFIX */
    const char *channel;  /* PUBLISH channel, default AGG_DEFAULT_CHANNEL; "" = no publishing */
    unsigned window_s;    /* how long minute buckets and groups are kept, default 86400 */
    unsigned examples_per_group; /* default 3, at most AGG_EXAMPLES_MAX; kept newest first */
    size_t example_max;          /* payload bytes kept per example / publish, default 2048 */
    size_t max_groups;           /* in-memory rows between flushes, default 2048 */
    size_t example_budget;       /* example bytes held between flushes, default 1 MiB */
    size_t max_inflight;         /* Redis commands awaiting replies, default 200000 */
    unsigned flush_ms;           /* default 1000 */
    unsigned timeout_ms;         /* connect/handshake and reply deadline, default 2000 */
} agg_config;

typedef struct agg agg;

typedef struct {
    uint64_t notes;            /* agg_note calls */
    uint64_t overflow;         /* notes (or parts of notes) dropped: table full */
    uint64_t examples_dropped; /* examples not kept: example_budget reached */
    uint64_t rows;             /* rows in the table now (<= max_groups) */
    uint64_t flushes;          /* pipelines sent */
    uint64_t flushes_deferred; /* flush ticks skipped: Redis not ready or too much in flight */
    uint64_t commands_ok, commands_failed; /* replies (failed: error reply or connection lost) */
    uint64_t published, publish_dropped;   /* PUBLISH sent / not sent (not ready, in flight) */
    uint64_t reconnects;                   /* successful handshakes after the first one */
    uint64_t timeouts; /* reply deadlines that expired (each drops the connection) */
    uint64_t inflight; /* commands awaiting replies now */
    bool ready;        /* connected and handshake done */
} agg_stats;

/* Creates an agg on `loop` and starts connecting. cfg strings are copied; cfg may be NULL (all
 * defaults). Returns 0 and *out, SL_EUSAGE (examples_per_group > AGG_EXAMPLES_MAX, prefix or
 * channel longer than 128 bytes) or SL_ENOMEM. */
int agg_new(uv_loop_t *loop, const agg_config *cfg, agg **out);

/* Counts one validated event arriving at `now` (unix seconds). Loop thread only; O(violations).
 * plan_version, write_key, session: NUL-terminated or NULL (version NULL or "" is stored as "_").
 * event_name: NULL for a call without a name (stored as ""; pass "page"/"identify"... if you want
 * something better). valid: no error-level violation (warnings may still be listed).
 * violations: may be NULL or empty; each distinct (kind, path) of the event counts once.
 * violations_json: their JSON array as the caller already rendered it (vio_list_to_json), or NULL
 * (the live feed then renders it).
 * event_json/len: the stored event (valid JSON), used for examples and the live feed, truncated
 * to example_max bytes; may be NULL. session: context.sluice.session, for `sluice tail`.
 * When !valid and a channel is set, the event is PUBLISHed right away (if Redis is ready). */
void agg_note(agg *a, const char *plan_version, const char *write_key, const char *event_name,
              const char *session, bool valid, const vio_list *violations,
              const char *violations_json, const char *event_json, size_t len, time_t now);

/* Snapshot of the counters, for /metrics. */
void agg_get_stats(const agg *a, agg_stats *out);

/* Why Redis is not ready or what failed last ("" if nothing). Never contains the password.
 * Borrowed: valid until the agg's next loop callback. */
const char *agg_last_error(const agg *a);

/* Sends what is in the table if Redis is ready, waits for the replies (at most timeout_ms), closes
 * the connection and the timer, frees a, then calls done(ud) (may be NULL) from a loop callback.
 * Call once, after the last agg_note; keep running the loop until done is called. */
void agg_close(agg *a, void (*done)(void *ud), void *ud);

/* Builds the grouped report from Redis. Any thread; c is a blocking context owned by the caller
 * (set a timeout on it with redisSetTimeout). prefix NULL = AGG_DEFAULT_PREFIX; plan_version NULL
 * = every version seen (groups with the same event/kind/path merged); event_filter NULL = every
 * event. Minute buckets whose minute overlaps [since, until] are counted.
 * *out (caller frees with cJSON_Delete) = {"since","until","plan_version","groups":[{"event",
 * "kind","path","count","first_seen","last_seen","examples":[...]}...] (count desc, at most
 * AGG_REPORT_MAX_GROUPS; "groups_truncated" says how many more), "events":[{"event","valid",
 * "invalid"}...] (invalid desc, then name)}. Times are unix seconds.
 * Returns 0, SL_EIO (Redis error or lost connection; *out NULL), SL_EUSAGE (until < since) or
 * SL_ENOMEM. */
#define AGG_REPORT_MAX_GROUPS 1000
int agg_report(redisContext *c, const char *prefix, const char *plan_version, time_t since,
               time_t until, const char *event_filter, cJSON **out);

/* The group id used in Redis keys: 16 lowercase hex digits of FNV-1a-64 over
 * event NUL kind-name NUL path. dst must hold 17 bytes. Returns dst. */
/* {"minutes":[{"t":<minute start>,"valid":N,"invalid":N}...]}: every minute of [since, until]
 * (zeros included), summed over plan versions, from the per-minute volume hashes. Blocking; any
 * thread. Returns 0, SL_EUSAGE (range over 7 days or reversed), SL_EIO, SL_ENOMEM. */
int agg_series(redisContext *c, const char *prefix, time_t since, time_t until, cJSON **out);

char *agg_group_id(char dst[17], const char *event, const char *kind, const char *path);

#endif
