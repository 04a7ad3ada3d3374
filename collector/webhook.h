/* webhook.h - a small HTTP/1.1 client on a libuv loop that POSTs JSON bodies to webhook URLs,
 * with per-attempt deadlines and bounded retries with exponential backoff.
 *
 * Promises:
 * - http:// only (no TLS): "http://host[:port][/path[?query]]"; host is a name, an IPv4 address or
 *   a bracketed IPv6 address. Names are resolved (uv_getaddrinfo) at every attempt.
 * - One webhook_post = one delivery per configured URL. A delivery makes at most max_attempts
 *   attempts; each attempt (resolve + connect + write + read the response) has one deadline of
 *   timeout_ms. A 2xx status is success; anything else (other status, refused connection, reset,
 *   timeout, malformed response) fails the attempt. Retries wait backoff_ms, doubling each time,
 *   capped at backoff_max_ms. After the last failed attempt the delivery is given up and counted.
 * - Requests carry "Connection: close"; no connection is reused.
 * - At most max_pending deliveries are queued or in flight; beyond that, webhook_post fails with
 *   SL_ELIMIT and the delivery is counted as dropped (never silently lost).
 * - Single-threaded: every call on the loop's thread. The body is copied before webhook_post
 *   returns. Callbacks never run synchronously from webhook_post.
 * - webhook_close abandons queued and in-flight deliveries (counted as abandoned) and calls done
 *   once every handle it opened is closed. */
#ifndef SL_WEBHOOK_H
#define SL_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct webhook webhook;

/* Called once per delivery when it ends: ok after a 2xx, otherwise after it was given up.
 * `status` is the last HTTP status seen (0 when none), `err` the libuv error code (uv_strerror) of
 * the last attempt when it failed before a complete response (UV_ETIMEDOUT, UV_ECONNREFUSED,
 * UV_EOF, UV_EPROTO for a malformed response...), 0 when the failure was an HTTP status. `url` is
 * borrowed for the call. */
typedef void (*webhook_result_fn)(void *ud, const char *url, bool ok, unsigned attempts, int status,
                                  int err);

typedef struct {
    unsigned timeout_ms;         /* per attempt, default 5000 */
    unsigned max_attempts;       /* default 5 (so up to 4 retries) */
    unsigned backoff_ms;         /* delay before the first retry, default 1000 */
    unsigned backoff_max_ms;     /* cap of the doubling delay, default 60000 */
    size_t max_pending;          /* deliveries queued or in flight, default 1000 */
    const char *user_agent;      /* default "sluice-alert/1"; copied */
    webhook_result_fn on_result; /* may be NULL */
    void *ud;
} webhook_config;

typedef struct {
    uint64_t posted;    /* deliveries accepted */
    uint64_t delivered; /* got a 2xx */
    uint64_t failed;    /* given up after max_attempts */
    uint64_t dropped;   /* refused: max_pending reached */
    uint64_t abandoned; /* cut short by webhook_close */
    uint64_t attempts;  /* attempts started */
    uint64_t retries;   /* attempts after the first */
    uint64_t pending;   /* deliveries queued or in flight now */
} webhook_stats;

/* Parsed URL; strings are owned by the struct (webhook_url_cleanup). */
typedef struct {
    char *host;     /* without brackets */
    char *hostport; /* for the Host header, as written in the URL */
    int port;       /* default 80 */
    char *path;     /* "/" when absent; query included */
} webhook_url;

/* Parses an http:// URL. Returns 0, SL_EUSAGE (not http://, bad port, userinfo, empty host) with a
 * reason in err (may be NULL), or SL_ENOMEM. */
int webhook_url_parse(const char *url, webhook_url *out, char *err, size_t errlen);
void webhook_url_cleanup(webhook_url *u);

/* Creates a client with no URLs. cfg may be NULL (all defaults). Returns NULL on out-of-memory. */
webhook *webhook_new(uv_loop_t *loop, const webhook_config *cfg);
/* Adds a target URL (validated with webhook_url_parse). Returns 0, SL_EUSAGE or SL_ENOMEM. */
int webhook_add_url(webhook *w, const char *url, char *err, size_t errlen);
size_t webhook_url_count(const webhook *w);
/* Queues body[0..len) (copied) as a POST with Content-Type: application/json to every URL.
 * Returns 0 when every delivery was queued (also with no URLs), or SL_ELIMIT / SL_ENOMEM when at
 * least one was dropped. */
int webhook_post(webhook *w, const char *body, size_t len);
void webhook_get_stats(const webhook *w, webhook_stats *out);
/* Abandons everything and frees w once all its handles are closed; then done(ud) (may be NULL).
 * Call once; do not use w afterwards. */
void webhook_close(webhook *w, void (*done)(void *ud), void *ud);

#endif
