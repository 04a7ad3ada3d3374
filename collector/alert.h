/* alert.h - alerts when a tag breaks: rules, an in-memory counter table and their evaluation,
 * delivered to webhooks, a Redis pub/sub channel and a log callback.
 *
 * Rules (alert_rules) come from a YAML file (docs/ALERTS.md) or from the defaults. Four kinds:
 * violation_rate (share of invalid events over a window, with a minimum volume), unplanned_event
 * (an event name not in the plan, the first time it is seen within the collector's memory),
 * silence (a planned event whose volume over a window falls below a share of its trailing
 * baseline) and health (Redis down longer than N seconds, spool fill above a share).
 *
 * Threads: alert_note and alert_health may be called from any thread at any time between
 * alert_new and alert_close (they only touch mutex-protected, sharded counters, never allocate
 * past the table bound and never block on I/O). Everything else runs on the loop's thread.
 * Evaluation runs every eval_interval on a uv timer, or only when alert_tick is called (manual
 * mode, for tests with a fake clock). Memory is bounded: at most max_events distinct event names
 * are tracked (about: the table is sharded); notes for names beyond that are counted, not kept.
 * Names are truncated to ALERT_NAME_MAX bytes. */
#ifndef SL_ALERT_H
#define SL_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "sl_err.h"

#define ALERT_NAME_MAX 200

#define ALERT_KIND_MAP(X)                                                                          \
    X(VIOLATION_RATE, "violation_rate")                                                            \
    X(UNPLANNED_EVENT, "unplanned_event")                                                          \
    X(SILENCE, "silence")                                                                          \
    X(HEALTH, "health")

typedef enum {
#define ALERT_KIND_ENUM(id, name) ALERT_##id,
    ALERT_KIND_MAP(ALERT_KIND_ENUM)
#undef ALERT_KIND_ENUM
        ALERT__COUNT
} alert_kind;

/* "violation_rate" etc.; static. */
const char *alert_kind_name(alert_kind k);

/* One rule. Fields that do not apply to the kind are ignored. */
typedef struct {
    alert_kind kind;
    char *event;           /* owned; "*" = every event on its own (violation_rate, silence) */
    bool total;            /* violation_rate: one rate over all matched events, event "*" */
    double threshold_pct;  /* violation_rate: fire above; silence: fire below (% of baseline) */
    unsigned window_s;     /* violation_rate, silence */
    unsigned baseline_s;   /* silence: trailing baseline before the window */
    unsigned min_events;   /* violation_rate: events in the window; silence: baseline average
                              per window */
    unsigned redis_down_s; /* health: 0 = off */
    double spool_pct;      /* health: fire when the spool is fuller than this; 0 = off */
    int line, col;         /* position in the rules file; 0 for defaults */
} alert_rule;

/* Rules plus delivery settings. Owns every string and array it holds (alert_rules_cleanup). */
typedef struct {
    alert_rule *rules;
    size_t nrules;
    unsigned cooldown_s;       /* per (alert, event); default 600 */
    unsigned eval_interval_ms; /* default 5000 */
    char *channel;             /* Redis pub/sub channel; default "sluice:alerts"; "" = off */
    char **webhooks;           /* http:// URLs */
    size_t nwebhooks;
    unsigned webhook_timeout_ms;     /* per attempt; default 5000 */
    unsigned webhook_attempts;       /* default 5 */
    unsigned webhook_backoff_ms;     /* first retry delay, doubling; default 1000 */
    unsigned webhook_backoff_max_ms; /* default 60000 */
    size_t max_events;               /* distinct event names tracked; default 10000 */
    unsigned max_alerts_per_tick;    /* further alerts wait for the next tick; default 20 */
} alert_rules;

/* Fills r with the defaults (documented in docs/ALERTS.md): violation_rate "*" above 20% over
 * 5m with >= 20 events; unplanned_event; silence "*" below 10% of the last hour's per-5m average
 * (baseline average >= 20); health: Redis down > 30 s, spool > 80%. Returns 0 or SL_ENOMEM. */
int alert_rules_defaults(alert_rules *r);
/* Loads a rules file (YAML) over the defaults: a `rules:` list replaces the default rules, other
 * keys replace the default settings. Every unknown key, wrong type or out-of-range value is an
 * error diagnostic with line:col in d (whose file name the caller set). Returns 0 or a negative
 * SL_E* code; on error r is left cleaned up (empty). */
int alert_rules_load(alert_rules *r, const char *path, sl_diags *d);
/* Same from a buffer (tests). */
int alert_rules_parse(alert_rules *r, const char *buf, size_t len, sl_diags *d);
/* Appends a webhook URL (--alert-webhook); validated. Returns 0, SL_EUSAGE (reason in err) or
 * SL_ENOMEM. */
int alert_rules_add_webhook(alert_rules *r, const char *url, char *err, size_t errlen);
void alert_rules_cleanup(alert_rules *r);

typedef struct alert alert;

/* One line, no newline; called on the loop thread. */
typedef void (*alert_log_fn)(void *ud, const char *line);

typedef struct {
    /* Redis for PUBLISH; redis_host NULL = no pub/sub. Strings are copied. */
    const char *redis_host;
    int redis_port; /* default 6379 */
    const char *redis_username, *redis_password;
    unsigned redis_timeout_ms; /* connect and per-command deadline; default 2000 */
    bool manual_tick;          /* no evaluation timer: the caller calls alert_tick */
    time_t (*clock)(void *ud); /* for the evaluation timer; NULL = time(NULL) */
    void *clock_ud;
    alert_log_fn log; /* NULL = one line to stderr */
    void *log_ud;
} alert_config;

typedef struct {
    uint64_t fired;          /* alerts emitted */
    uint64_t suppressed;     /* conditions held back by the cooldown */
    uint64_t deferred;       /* held back by max_alerts_per_tick (re-evaluated next tick) */
    uint64_t notes_dropped;  /* notes for names past max_events */
    uint64_t events_tracked; /* distinct names in the table now */
    uint64_t published, publish_failed;
    uint64_t webhook_delivered, webhook_failed, webhook_dropped, webhook_retries, webhook_pending;
} alert_stats;

/* Creates the engine on `loop` (copies rules and cfg; cfg may be NULL) and starts its timer and
 * Redis connection. Returns 0 and *out, or SL_ENOMEM / SL_EUSAGE (a bad webhook URL). */
int alert_new(uv_loop_t *loop, const alert_rules *rules, const alert_config *cfg, alert **out);

/* Thread-safe. Counts one event: `event` is its name (NULL is ignored), planned = the name is in
 * the plan, valid = no error-level violation. `now` is the event's arrival time. */
void alert_note(alert *a, const char *event, bool planned, bool valid, time_t now);
/* Thread-safe. Reports the collector's health: Redis reachable, spool fill in [0, 1]. */
void alert_health(alert *a, bool redis_up, double spool_fill, time_t now);

/* Loop thread. Evaluates every rule at `now` and emits what fires (the timer calls this with the
 * configured clock). Returns the number of alerts emitted. */
int alert_tick(alert *a, time_t now);

void alert_get_stats(alert *a, alert_stats *out);

/* Stops the timer, abandons undelivered webhooks, closes Redis; frees a once every handle is
 * closed, then done(ud) (may be NULL). Call once, after the last alert_note/alert_health. */
void alert_close(alert *a, void (*done)(void *ud), void *ud);

#define ALERT_RECENT_MAX 100
/* {"alerts":[...]}: the JSON payloads of the last ALERT_RECENT_MAX alerts fired by this process,
 * newest first (GET /v1/alerts). Any thread. malloc'd; NULL on out-of-memory. */
char *alert_recent_json(alert *a);

#endif
