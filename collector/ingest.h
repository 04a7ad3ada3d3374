/* ingest.h - one request body -> Segment events -> validation -> Redis stream entries.
 *
 * No I/O: the caller (serve.c) gets the body off the wire, inflates it here if gzip'd, runs
 * ingest_run, checks the write key, and hands the entries to the sink.
 * Promises: the body is checked once by a bounded validating scanner (depth, sizes, error position
 * as line/column/byte + JSON Pointer) which also refuses what parsers read differently: invalid
 * UTF-8, \u0000 and unpaired surrogates, duplicate keys (decoded names, any depth) and numbers
 * beyond a double; every event is parsed once (into a cJSON tree), for the plan check. Each stored
 * event keeps the original bytes of every member; only added or merged members are new text
 * (type from the path, messageId, receivedAt, batch-level context/integrations merged into the
 * item's as Segment does, context.ip; writeKey is dropped). Entries, strings and the report borrow
 * from the ingest object and stay valid until its next ingest_run / ingest_inflate.
 * An ingest object is single-threaded scratch (one per worker) and is reused across requests. */
#ifndef SL_INGEST_H
#define SL_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "plan.h"
#include "sink.h"
#include "vio.h"

typedef enum {
    INGEST_TRACK,
    INGEST_IDENTIFY,
    INGEST_PAGE,
    INGEST_SCREEN,
    INGEST_GROUP,
    INGEST_ALIAS,
    INGEST_BATCH,
    INGEST_ANY /* /v1/validate: a batch, or one event carrying its own type */
} ingest_call;

/* "track" ... "alias", "batch", "any". */
const char *ingest_call_name(ingest_call c);

typedef struct {
    size_t max_event_bytes;  /* per event */
    size_t max_batch_bytes;  /* per (decompressed) body */
    size_t max_batch_events; /* per batch */
    size_t max_depth;        /* JSON nesting */
} ingest_limits;

typedef struct {
    ingest_call call;
    const char *body; /* decompressed */
    size_t len;
    const char *client_ip;   /* NUL-terminated, or NULL: recorded as context.ip when absent */
    const char *received_at; /* NUL-terminated ISO-8601, added as receivedAt when absent */
    bool dry_run;            /* also build the report (violations per event) */
    /* Optional: called once per checked event, right after the plan check, with the parsed event
     * (borrowed, valid during the call), its violations, their JSON array (NUL-terminated; NULL
     * when there are none) and its stored bytes. For reports and alerts; it must not keep any
     * pointer. */
    void (*on_event)(void *ud, const cJSON *event, const vio_list *violations,
                     const char *violations_json, const char *json, size_t len);
    void *on_event_ud;
    /* Optional: the plan check to run instead of plan_check (same contract), e.g. sp_check for
     * events that came in over Snowplow's protocol. */
    int (*check)(const plan *p, const cJSON *event, plan_ctx *ctx, vio_list *out);
} ingest_request;

typedef struct {
    int status;        /* 0 = accepted; else the HTTP status to answer (400, 413) */
    char error[512];   /* when status != 0: what and where (line, column, byte, JSON Pointer) */
    const char *limit; /* when status == 413: the limit's config name */
    const sink_entry *entries;
    size_t nentries;
    size_t nevents, nvalid, ninvalid;
    size_t nfused; /* events checked on the tree pass 1 built (no second parse of their bytes) */
    uint32_t kinds[SL_KIND__COUNT]; /* violations by kind, warnings included */
    const char *write_key;          /* top-level "writeKey" string contents (raw), or NULL */
    size_t write_key_len;
    const char *report; /* dry_run: {"success":true,"dry_run":true,...,"results":[...]} */
    size_t report_len;
} ingest_result;

typedef struct ingest ingest;

/* Returns NULL on out-of-memory. */
ingest *ingest_new(const ingest_limits *lim);
void ingest_free(ingest *ig);

/* Parses, completes and validates the events of one request. Returns 0 (see out->status for a
 * client error) or a negative SL_E* code (out of memory, plan_check failure). */
int ingest_run(ingest *ig, const plan *p, const ingest_request *rq, ingest_result *out);

/* Inflates a gzip or zlib body ("Content-Encoding: gzip or deflate") into the ingest's buffer, at
 * most cap bytes. Returns 0 with *out and *outlen (valid until the next call), SL_ELIMIT when the
 * inflated size would exceed cap, SL_ESYNTAX for corrupt data. */
int ingest_inflate(ingest *ig, const char *src, size_t n, size_t cap, const char **out,
                   size_t *outlen);

/* Bytes held for inflated bodies; never more than the largest cap passed + 1. */
size_t ingest_inflate_capacity(const ingest *ig);

/* Writes a fresh random UUIDv4 (36 chars + NUL) into dst[37]. */
void ingest_uuid(ingest *ig, char dst[37]);

#endif
