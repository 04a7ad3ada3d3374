/* sink.h - a per-worker Redis Streams writer on the worker's libuv loop (hiredis async).
 *
 * Promises: many XADDs in flight (pipelined; no round trip per request); a write group's callback
 * fires exactly once, with 0 only after Redis acknowledged EVERY entry of the group, or with a
 * negative SL_E* code (timeout, disconnect, Redis error) - so the server can answer 2xx or 503.
 * Every command has a deadline enforced by the sink itself (Debian's hiredis 0.14 libuv adapter has
 * no command timeouts). Reconnects with exponential backoff (capped); sink_ready() tells /readyz.
 * One sink per loop; all calls on that loop's thread. The sink copies entry bytes it needs before
 * sink_write returns (the caller may free them right after). */
#ifndef SL_SINK_H
#define SL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct sink sink;

typedef struct {
    const char *host;        /* default "127.0.0.1" */
    int port;                /* default 6379 */
    const char *username;    /* ACL user or NULL */
    const char *password;    /* or NULL */
    int db;                  /* SELECT db, default 0 */
    const char *events_key;  /* default "sluice:events" */
    const char *invalid_key; /* default "sluice:invalid" */
    unsigned timeout_ms;     /* per command group deadline, default 2000 */
    size_t max_inflight;     /* max XADDs in flight per sink before sink_write fails fast, default 100000 */
} sink_config;

/* One stream entry. `invalid` selects invalid_key; violations_json is added as field "violations"
 * when non-NULL. Fields written: event <json> [violations <json>] [message_id <id>]. */
typedef struct {
    bool invalid;
    const char *event_json;
    size_t event_len;
    const char *violations_json;
    size_t violations_len;
    const char *message_id;
    size_t message_id_len;
} sink_entry;

typedef void (*sink_done_cb)(void *ud, int status);

/* Parses redis://[user:pass@]host:port[/db] into cfg (strings point into a copy owned by *store,
 * free it with free()). Returns 0 or SL_EUSAGE. */
int sink_parse_url(const char *url, sink_config *cfg, char **store);

/* Creates a sink and starts connecting. Returns NULL on out-of-memory. cfg strings are copied. */
sink *sink_new(uv_loop_t *loop, const sink_config *cfg);
/* Queues entries[0..n) as one group. Returns 0 (cb will be called later, never synchronously) or a
 * negative SL_E* code right away (not connected, too much in flight): then cb is never called. */
int sink_write(sink *s, const sink_entry *entries, size_t n, sink_done_cb cb, void *ud);
bool sink_ready(const sink *s);

typedef struct {
    uint64_t commands_ok, commands_failed;
    uint64_t inflight;
    uint64_t latency_us_sum, latency_count; /* per acknowledged group */
    uint64_t reconnects;
} sink_stats;
void sink_get_stats(const sink *s, sink_stats *out);

/* Stops: pending groups fail with SL_EIO unless already acknowledged; when everything is closed,
 * done(ud) is called and the sink frees itself. Call once; do not use s afterwards. */
void sink_close(sink *s, void (*done)(void *ud), void *ud);

#endif
