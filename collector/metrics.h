/* metrics.h - Prometheus counters of `sluice serve`.
 *
 * Each worker owns one metrics_worker and is its only writer (relaxed atomic adds, so any thread
 * may read them while it runs); /metrics sums every worker's block and renders the Prometheus text
 * format. Routes and statuses are fixed X-macro lists, so counting is an array index, never a
 * lookup or an allocation. */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "vio.h"

#define METRICS_ROUTE_MAP(X)                                                                       \
    X(TRACK, "track")                                                                              \
    X(IDENTIFY, "identify")                                                                        \
    X(PAGE, "page")                                                                                \
    X(SCREEN, "screen")                                                                            \
    X(GROUP, "group")                                                                              \
    X(ALIAS, "alias")                                                                              \
    X(BATCH, "batch")                                                                              \
    X(IMPORT, "import")                                                                            \
    X(SNOWPLOW, "snowplow")                                                                        \
    X(VALIDATE, "validate")                                                                        \
    X(HEALTHZ, "healthz")                                                                          \
    X(READYZ, "readyz")                                                                            \
    X(METRICS, "metrics")                                                                          \
    X(PREFLIGHT, "preflight")                                                                      \
    X(OTHER, "other")

typedef enum {
#define METRICS_ROUTE_ENUM(id, name) METRICS_R_##id,
    METRICS_ROUTE_MAP(METRICS_ROUTE_ENUM)
#undef METRICS_ROUTE_ENUM
        METRICS_R__COUNT
} metrics_route;

/* Statuses counted individually; anything else is counted as "other". */
#define METRICS_STATUS_LIST 200, 204, 400, 401, 404, 405, 408, 413, 415, 429, 431, 500, 503
#define METRICS_NSTATUS 14

typedef struct {
    _Atomic uint64_t requests[METRICS_R__COUNT][METRICS_NSTATUS];
    _Atomic uint64_t events_valid, events_invalid;
    _Atomic uint64_t violations[SL_KIND__COUNT];
    _Atomic uint64_t body_bytes;
    _Atomic uint64_t rate_limited_requests, rate_limited_events; /* answered 429 */
    /* Snapshots taken by the worker once a second (sink and HTTP layer stats). */
    _Atomic uint64_t bytes_in, bytes_out, conns_open, conns_accepted;
    _Atomic uint64_t redis_ok, redis_failed, redis_inflight, redis_latency_us_sum,
        redis_latency_count, redis_reconnects, redis_ready;
    /* Durable writer / disk spool snapshots (durable.h). */
    _Atomic uint64_t spool_enabled, spool_bytes, spool_backlog, spool_appends, spool_fallback,
        spool_replayed, spool_refused, spool_torn, spool_fsyncs;
    /* Live violation stream snapshots (sse.h). */
    _Atomic uint64_t sse_clients, sse_accepted, sse_refused, sse_sent, sse_dropped;
} metrics_worker;

/* Process-wide values written by the main thread. */
typedef struct {
    _Atomic uint64_t reloads_ok, reloads_failed;
    _Atomic uint64_t workers;
    /* Alert engine snapshots (alert.h), taken by the main loop once a second. */
    _Atomic uint64_t alerts_fired, alerts_suppressed, alerts_publish_failed,
        alert_webhooks_delivered, alert_webhooks_failed, alert_webhooks_dropped,
        alert_webhooks_pending;
} metrics_global;

static inline void metrics_add(_Atomic uint64_t *c, uint64_t by)
{
    atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}
static inline void metrics_set(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

void metrics_count_request(metrics_worker *m, metrics_route r, int status);
const char *metrics_route_name(metrics_route r);

/* Renders every worker's counters, summed, as Prometheus text. Returns a malloc'd string (caller
 * frees) and its length in *len, or NULL on out-of-memory. */
char *metrics_render(metrics_worker *const *ws, size_t n, const metrics_global *g, size_t *len);

#endif
