/* spool.h - a per-worker durable disk spool for events Redis has not acknowledged yet.
 *
 * Promises:
 * - An append's callback fires with 0 only after every record of that append is written AND
 *   fsynced (file, plus the directory when the append created a segment file). Writes and fsyncs
 *   run on libuv's thread pool, never on the loop thread. Appends made while a write is in flight
 *   (or within delay_ms of an idle spool's first append) share one write + one fsync: group commit.
 * - Records are read back in append order, across restarts. Only fsynced bytes are ever handed
 *   to a reader. A record whose length or CRC-32 (zlib) does not check out is never returned, and
 *   nothing after it in the same segment is trusted.
 * - Crash recovery happens in spool_open: every segment is scanned; a torn or corrupt tail is cut
 *   off (the file is truncated at the last good record and fsynced, deterministically) and counted
 *   in spool_stats; empty segments are deleted.
 * - Segments are deleted only by spool_commit, i.e. after the caller saw Redis acknowledge every
 *   record in them. Delivery is at-least-once: records of a partly committed segment, or of a
 *   segment whose deletion a crash interrupted, are replayed again (see docs/RELIABILITY.md).
 * - The spool never holds more than max_bytes of records: spool_append fails with SPOOL_EFULL
 *   instead of dropping anything.
 *
 * Layout: one spool per directory, one directory per worker (e.g. DIR/worker-3); the directory is
 * locked with flock(LOCK) so a second opener (another worker or process) gets SL_EUSAGE. Files:
 * seg-<20-digit seq>.log = 16-byte header ("SLSPOOL1" + u64 seq, LE) then records, each
 * u32 length (LE) + u32 crc32(length bytes + payload) (LE) + payload.
 *
 * Threads: one spool per libuv loop; every function is called on that loop's thread; callbacks
 * fire on it. spool_open and spool_read do small blocking reads (recovery scan; buffered 64 KiB
 * preads of already-fsynced, normally page-cached data); nothing on the loop thread fsyncs.
 * Ownership: the spool copies record bytes before spool_append returns. */
#ifndef SL_SPOOL_H
#define SL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sl_err.h"

/* The "spool is full" code. spool_append returns SL_ELIMIT for nothing else, so the server can
 * map it to 503 + Retry-After. */
#define SPOOL_EFULL SL_ELIMIT

typedef struct spool spool;
typedef struct spool_reader spool_reader;

typedef struct {
    const char *dir;        /* required; created (mkdir -p, mode 0700) when missing */
    uint64_t max_bytes;     /* bound on record bytes held (8-byte frame + payload); 256 MiB */
    uint64_t segment_bytes; /* start a new segment file beyond this size; default 8 MiB */
    uint32_t max_record;    /* largest record payload accepted; default 4 MiB (<= max_bytes) */
    unsigned delay_ms;      /* longest an append to an idle spool waits before its group write
                             * starts; 0 (default) = the next loop iteration; e.g. 2-10 trades
                             * latency for fewer fsyncs at low rates */
    size_t batch_bytes;     /* start the group write at once when this much is pending; 1 MiB */
} spool_config;
/* Zero fields mean "default". */

typedef struct {
    const void *data;
    size_t len;
} spool_buf;

/* A position in the spool: segment sequence number + byte offset in that segment file. */
typedef struct {
    uint64_t seg, off;
} spool_pos;

typedef struct {
    const void *data; /* borrowed: valid until the next spool_read / spool_reader_free */
    size_t len;
    spool_pos pos;  /* where this record starts */
    spool_pos next; /* just after it: pass to spool_commit once Redis acked this record */
} spool_rec;

typedef struct {
    /* appends */
    uint64_t appends;         /* records accepted by spool_append* */
    uint64_t appends_full;    /* records refused with SPOOL_EFULL */
    uint64_t batches;         /* group writes run */
    uint64_t fsyncs;          /* fsync calls (segment files + the directory) */
    uint64_t records_durable; /* records whose callback got 0 */
    uint64_t records_failed;  /* records whose callback got SL_EIO */
    uint64_t io_errors;       /* group writes that failed (write/fsync/create error) */
    uint64_t pending;         /* records accepted, callback not fired yet */
    /* occupancy */
    uint64_t bytes;     /* record bytes held: on disk (not yet deleted) + pending */
    uint64_t max_bytes; /* the configured bound */
    uint64_t segments;  /* segment files on disk */
    uint64_t segments_deleted;
    /* reading */
    uint64_t records_read;  /* records returned by spool_read */
    uint64_t corrupt_reads; /* CRC failures met by a reader after open (rest of segment skipped) */
    /* recovery (spool_open) */
    uint64_t recovered_segments, recovered_records; /* found on disk at open */
    uint64_t torn_segments;                         /* segments with a torn/corrupt tail (cut) */
    uint64_t torn_bytes;                            /* bytes cut off */
    uint64_t last_torn_seg, last_torn_off;          /* where the last cut was made, for the log */
} spool_stats;

/* Called on the loop thread: status 0 = durable; SL_EIO = the write or fsync failed (disk full,
 * I/O error): the records may or may not survive; answer 503. */
typedef void (*spool_done_cb)(void *ud, int status);

/* Opens (creating, locking and recovering) the spool in cfg->dir; blocks while scanning old
 * segments. Returns 0 and *out, or SL_EUSAGE (bad config; directory locked by another opener),
 * SL_EIO, SL_ENOMEM - with a message in err[errcap] (may be NULL). */
int spool_open(uv_loop_t *loop, const spool_config *cfg, spool **out, char *err, size_t errcap);

/* Appends recs[0..n) as one unit; cb(ud, status) fires later (never from inside this call) once
 * for all of them. Returns 0, or right away (and cb never fires): SPOOL_EFULL when the records do
 * not fit under max_bytes, SL_EUSAGE for n == 0, a record over max_record, or a closing spool. */
int spool_append(spool *s, const spool_buf *recs, size_t n, spool_done_cb cb, void *ud);

/* Like spool_append, but record i is made of fields[i*nfields .. i*nfields+nfields), packed as
 * with spool_pack (no intermediate buffer). */
int spool_append_fields(spool *s, const spool_buf *fields, size_t nrecs, size_t nfields,
                        spool_done_cb cb, void *ud);

/* ---- Replay --------------------------------------------------------------------------------- */

/* A cursor starting at the first record not yet committed (the oldest record after a restart).
 * Several readers may exist; free them before spool_close. Returns 0 or SL_ENOMEM. */
int spool_reader_new(spool *s, spool_reader **out);
/* Reads the next durable record: returns 1 and fills *rec, 0 when there is none right now (more
 * may come with later appends: call again), or SL_EIO / SL_ENOMEM. */
int spool_read(spool_reader *r, spool_rec *rec);
void spool_reader_free(spool_reader *r);

/* Declares every record before `upto` acknowledged (pass the `next` of the last acked record;
 * positions only move forward). Segment files wholly before `upto` are deleted (asynchronously,
 * off the loop thread), which frees their bytes for appends. Returns 0. */
int spool_commit(spool *s, spool_pos upto);

/* True while records remain that are not committed (on disk or pending). The server keeps
 * spooling new events while this holds, so Redis receives them in order. */
bool spool_has_backlog(const spool *s);

void spool_get_stats(const spool *s, spool_stats *out);

/* Flushes pending appends (their callbacks fire as usual), waits for writes and deletions in
 * flight, closes files, releases the lock, frees s, then calls done(ud) (may be NULL). Appends
 * after this fail with SL_EUSAGE. Free readers first. Call once. */
void spool_close(spool *s, void (*done)(void *ud), void *ud);

/* ---- Record fields ------------------------------------------------------------------------- */

/* Bytes spool_pack writes for these fields: sum of (4 + len). */
size_t spool_pack_size(const spool_buf *fields, size_t nfields);
/* Writes each field as u32 length (LE) + bytes into out (spool_pack_size bytes); returns that
 * size. Fields must be shorter than 4 GiB. */
size_t spool_pack(const spool_buf *fields, size_t nfields, void *out);
/* Splits a packed record into at most max fields (slices borrowed from rec); *n = count. Returns
 * 0, or SL_ESYNTAX for a truncated field or more than max fields. */
int spool_unpack(const void *rec, size_t len, spool_buf *fields, size_t max, size_t *n);

#endif
