/* engine.h - the HTTP/1.1 load engine of sluice-load: one libuv loop, N keep-alive connections,
 * optional pipelining, open-loop (fixed rate) or closed-loop (max throughput) scheduling.
 *
 * Open loop: request i is due at t0 + i / rate whatever happens to earlier requests; a due request
 * waits in the generator until a connection has a free pipeline slot, and its latency is measured
 * from its *due* time, so queueing behind a slow server counts (no coordinated omission). The loop
 * polls (busy) while requests are due within 2 ms, so send times are accurate to microseconds.
 * Closed loop: every connection keeps `pipeline` requests in flight; latency is from the send.
 * Statistics cover requests due (open) or sent (closed) after the warm-up; the ack log covers
 * every 2xx of the run. engine_run blocks until the run is over; it owns nothing it is given. */
#ifndef LT_ENGINE_H
#define LT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "evgen.h"
#include "hist.h"

typedef struct {
    struct sockaddr_storage addr; /* resolved server address */
    const char *host_header;      /* Host: value */
    unsigned connections;         /* load connections (0 = none: idle-only run) */
    unsigned pipeline;            /* max requests in flight per connection, >= 1 */
    unsigned idle;                /* extra connections opened and held silent */
    double rate;                  /* requests/s; 0 = closed loop */
    double duration_s, warmup_s;
    double drain_s; /* after the end, how long in-flight requests may take */
    double connect_timeout_s;
    const char *method;        /* "POST" */
    const char *path;          /* forced request path, or NULL = the generator's endpoint */
    const char *extra_headers; /* "Authorization: ...\r\n" etc., or "" */
    const char *content_type;
    bool gzip;              /* add Content-Encoding: gzip */
    const char *fixed_body; /* --body-file contents (sent as is), or NULL */
    size_t fixed_len;
    evgen *gen;    /* event bodies when fixed_body is NULL (borrowed) */
    FILE *ack_log; /* messageIds of acknowledged events, or NULL (borrowed) */
} engine_config;

typedef struct {
    uint64_t scheduled; /* open loop: requests due in the measured window */
    uint64_t sent, completed, ok, non2xx;
    uint64_t failed;   /* lost with their connection (reset, parse error, write error) */
    uint64_t timeouts; /* still in flight when the drain time ran out */
    uint64_t unsent;   /* open loop: due but never sent (the generator's queue at the end) */
    uint64_t events_sent, events_acked, invalid_sent, invalid_acked;
    uint64_t bytes_sent, body_bytes, raw_body_bytes;
    uint64_t status[600]; /* per HTTP status code */
    uint64_t connects, connect_errors, conn_errors, parse_errors;
    uint64_t idle_open, idle_failed, idle_closed;
    double elapsed_s; /* the measured window: warm-up end to the last measured completion */
    hist latency;     /* ns; open loop: from the due time */
    hist service;     /* ns; from the actual send */
} engine_stats;

/* Runs the load. Returns 0 (stats filled) or LT_ENET / LT_ENOMEM with a reason in err. */
int engine_run(const engine_config *cfg, engine_stats *st, char *err, size_t errlen);

#endif
