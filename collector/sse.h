/* sse.h - the live violations stream, GET /v1/violations/stream (Server-Sent Events).
 *
 * One sse per worker loop. It holds one hiredis async connection SUBSCRIBEd to the channel the
 * aggregator PUBLISHes invalid events on (agg.h, docs/REPORTS.md), and fans every message out to
 * the worker's stream clients whose filters match. A client gets, in this order:
 *   "retry: <retry_ms>\n\n"            once, at the start;
 *   "data: <message json>\n\n"         per matching message, the JSON exactly as published;
 *   ": keep-alive\n\n"                 when nothing was sent to it for its keep-alive interval.
 *
 * Promises:
 * - All calls on the loop's thread. Nothing blocks; the Redis connection is re-made with
 *   exponential backoff (capped) and a connect/handshake deadline; messages published while it is
 *   down are not seen (a live feed, not a log: `sluice report` has the aggregate).
 * - Memory is bounded: at most max_clients clients, each with at most HTTP_STREAM_MAX_QUEUE bytes
 *   queued; a client that falls further behind is disconnected (its EventSource reconnects).
 * - Filters (query parameters, percent-decoded, at most SSE_FILTER_MAX bytes each): event=,
 *   write_key=, session= compare exactly with the message's top-level "event", "write_key" and
 *   "session" strings; all given filters must match. keepalive=<1..300> sets the client's
 *   keep-alive interval in seconds. Other parameters are ignored. */
#ifndef SL_SSE_H
#define SL_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http.h"

#define SSE_FILTER_MAX 512

typedef struct sse sse;

typedef struct {
    const char *host;      /* default "127.0.0.1" */
    int port;              /* default 6379 */
    const char *username;  /* ACL user or NULL */
    const char *password;  /* or NULL */
    const char *channel;   /* default AGG_DEFAULT_CHANNEL ("sluice:violations") */
    size_t max_clients;    /* default 256 */
    unsigned keepalive_ms; /* default keep-alive interval, default 15000 */
    unsigned retry_ms;     /* the reconnect advice sent first, default 2000 */
    unsigned timeout_ms;   /* connect + AUTH/SUBSCRIBE deadline, default 2000 */
} sse_config;

typedef struct {
    uint64_t clients;    /* connected now */
    uint64_t accepted;   /* streams started */
    uint64_t refused;    /* sse_attach calls refused: max_clients reached */
    uint64_t messages;   /* messages received from Redis */
    uint64_t sent;       /* data frames queued to clients */
    uint64_t dropped;    /* clients disconnected because they fell behind or a write failed */
    uint64_t reconnects; /* successful subscriptions after the first one */
    bool subscribed;
} sse_stats;

/* Creates an sse on loop and starts connecting. cfg strings are copied. Returns 0 and *out,
 * SL_EUSAGE (channel empty or over 128 bytes) or SL_ENOMEM. */
int sse_new(uv_loop_t *loop, const sse_config *cfg, sse **out);

/* Starts a stream answering rq on c (rq must be c's current request). extra_headers: NULL or
 * "Name: value\r\n" lines added to the response (CORS). Returns 0 when the request was answered
 * (the stream runs until the peer goes or sse_close), or, with the request left unanswered for the
 * caller: SL_EUSAGE (a filter is badly encoded or too long), SL_ELIMIT (max_clients reached),
 * SL_EIO (the sse is closing), SL_ENOMEM. */
int sse_attach(sse *s, http_conn *c, const http_request *rq, const char *extra_headers);

void sse_get_stats(const sse *s, sse_stats *out);

/* Why the subscription is down, or "" when nothing failed. Never contains the password.
 * Borrowed: valid until the sse's next loop callback. */
const char *sse_last_error(const sse *s);

/* Ends every stream (queued bytes are still sent), drops the Redis connection, and frees s; then
 * done(ud) (may be NULL) is called from a loop callback. Call once; keep running the loop. */
void sse_close(sse *s, void (*done)(void *ud), void *ud);

#endif
