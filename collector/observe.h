/* observe.h - what `sluice serve` tells people about broken tags: per-event aggregation into Redis
 * (agg), alerts (alert), and the read-side endpoints the dashboard uses:
 *   GET /ui, /ui/app.js, /ui/style.css        the page (embedded, ui.h)
 *   GET /v1/violations?since=S&event=E        grouped report (agg_report)
 *   GET /v1/stats/series?minutes=N            valid/invalid per minute (agg_series)
 *   GET /v1/coverage?since=S                  planned events seen / never seen
 *   GET /v1/alerts                            alerts fired by this process
 * The Redis-backed endpoints run on libuv's thread pool with a short-lived blocking connection,
 * so a slow Redis never blocks a worker's loop; they answer 503 when Redis cannot be read.
 *
 * Threads: one `observe` per process (its alert engine lives on the main loop); one
 * `observe_worker` per worker loop (its agg). observe_event is called on the worker's thread.
 * Close order: every observe_worker first (observe_worker_close), then observe_close. */
#ifndef SL_OBSERVE_H
#define SL_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "alert.h"
#include "config.h"
#include "http.h"
#include "plan.h"
#include "sink.h"
#include "vio.h"

typedef struct observe observe;
typedef struct observe_worker observe_worker;

/* Loads the alert rules (--alerts, or the defaults) and webhooks, and starts the alert engine on
 * main_loop. redis: where reports live (the sink's address). Returns 0, or SL_EUSAGE with the
 * reason(s) printed to stderr (bad rules file: file:line:col; bad webhook URL). */
int observe_new(uv_loop_t *main_loop, const serve_config *cfg, const sink_config *redis,
                observe **out);
/* Health for the alert engine (main loop, about once a second). */
void observe_health(observe *o, bool redis_up, double spool_fill);
/* Main loop thread. The alert engine's counters (zeros when alerts are off). */
void observe_alert_stats(observe *o, alert_stats *out);
/* Stops alerts and frees o once its handles are closed; then done(ud) (may be NULL). */
void observe_close(observe *o, void (*done)(void *ud), void *ud);

/* Per worker; NULL on out-of-memory. Reports are off when cfg.report_window is 0. */
observe_worker *observe_worker_new(observe *o, uv_loop_t *loop);
void observe_worker_close(observe_worker *ow, void (*done)(void *ud), void *ud);

/* One checked (and accepted) event: feeds the aggregation and the alert counters. */
void observe_event(observe_worker *ow, const plan *p, const char *write_key, size_t wklen,
                   const cJSON *event, const vio_list *violations, const char *violations_json,
                   const char *json, size_t len);

/* Answers the request if it is one of the read-side endpoints above (returns true; the
 * response may come later from the thread pool), else returns false and leaves it alone. */
bool observe_route(observe_worker *ow, const plan *p, http_conn *c, const http_request *rq);

#endif
