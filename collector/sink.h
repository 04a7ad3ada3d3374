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
    const char *host;        /* default "127.0.0.1"; "/path": a Unix socket (redisuv_connect) */
    int port;                /* default 6379 */
    const char *username;    /* ACL user or NULL */
    const char *password;    /* or NULL */
    int db;                  /* SELECT db, default 0 */
    const char *events_key;  /* default "sluice:events" */
    const char *invalid_key; /* default "sluice:invalid" */
    unsigned timeout_ms;     /* per command group deadline, default 2000 */
    size_t max_inflight;     /* max XADDs in flight per sink before sink_write fails fast, default
                                100000 */
    unsigned linger_us;      /* hold writes until SINK_LINGER_BYTES are queued or this long (Linux;
                                0 = write every loop turn, the default); see redisuv_set_linger */
} sink_config;

#define SINK_LINGER_BYTES 4096 /* about 6 XADDs of 600-byte events */

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

/* The URL forms sink_parse_url takes, for messages that say what was expected. */
#define SINK_URL_FORMS                                                                             \
    "redis://[[user]:pass@]host[:port][/db] or unix://[[user]:pass@]/path/to/redis.sock[?db=N]"

/* Parses redis://[[user]:pass@]host[:port][/db], or unix://[[user]:pass@]/path/to/redis.sock[?db=N]
 * (host = the path), into cfg (strings point into a copy owned by
 * *store, free it with free()). user and pass may be %XX-encoded; "redis://secret@host" means a
 * password (as redis-cli reads it); IPv6 hosts go in brackets: redis://[::1]:6380. Fields absent
 * from the URL are left as they were. Returns 0, SL_EUSAGE (cfg and *store untouched, *store =
 * NULL) or SL_ENOMEM. */
int sink_parse_url(const char *url, sink_config *cfg, char **store);

/* Creates a sink and starts connecting. Returns NULL on out-of-memory. cfg strings are copied. */
sink *sink_new(uv_loop_t *loop, const sink_config *cfg);
/* Queues entries[0..n) as one group. Returns 0 (cb will be called later, never synchronously) or a
 * negative SL_E* code right away, and then cb is never called: SL_EIO = not ready (disconnected,
 * handshake not done, closing); SL_ELIMIT = max_inflight XADDs already outstanding; SL_EUSAGE = n
 * is 0 or an entry has no event; SL_ENOMEM.
 * cb(ud, status) fires exactly once, from a later loop callback: 0 when Redis acknowledged every
 * entry; SL_EIO on the first Redis error reply, on a lost connection, or from sink_close;
 * SL_ELIMIT when the group's deadline (timeout_ms) passed - the connection is then dropped
 * (failing every other pending group with SL_EIO) and re-made, so late replies are never seen.
 * cb may call sink_write or sink_close. */
int sink_write(sink *s, const sink_entry *entries, size_t n, sink_done_cb cb, void *ud);
/* True once connected and AUTH/SELECT (or a PING) succeeded, until the connection is lost or
 * a reply is late (an idle sink PINGs every second, so a hung Redis shows within ~1 s +
 * timeout_ms). sink_write fails fast while false. */
bool sink_ready(const sink *s);

typedef struct {
    uint64_t commands_ok, commands_failed;
    uint64_t inflight;
    uint64_t latency_us_sum, latency_count; /* per acknowledged group */
    uint64_t reconnects;                    /* successful handshakes after the first one */
    uint64_t timeouts;                      /* deadlines that expired (each drops the connection) */
    uint64_t groups_ok, groups_failed;      /* callbacks fired with 0 / with an error */
} sink_stats;
void sink_get_stats(const sink *s, sink_stats *out);

/* Why the sink is not ready, or why the last group failed: e.g. "connect to 127.0.0.1:6379:
 * Connection refused", "AUTH: WRONGPASS ...", "no reply within 2000 ms". "" when nothing failed
 * yet. Never contains the password. Borrowed: valid until the sink's next loop callback. */
const char *sink_last_error(const sink *s);

/* Stops: pending groups fail with SL_EIO unless already acknowledged (their callbacks run inside
 * sink_close); when everything is closed, done(ud) is called from the loop and the sink frees
 * itself. Call once (a second call is ignored); do not use s afterwards. */
void sink_close(sink *s, void (*done)(void *ud), void *ud);

#endif
