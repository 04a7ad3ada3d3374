/* rlink.h - one reconnecting Redis connection (hiredis async on a libuv loop), shared by the
 * collector's Redis clients: the stream sink, the aggregation writer, the live stream's subscriber
 * and the alert publisher.
 *
 * States:
 *   down        (ac == NULL)        a new connection is started at next_connect_ms (exponential
 *                                   backoff between backoff_min_ms and backoff_max_ms);
 *   connecting  (ac != NULL, !up)   TCP connect, then the owner's handshake, until the deadline
 *                                   (timeout_ms after the connect started);
 *   up          (ac != NULL, up)    rlink_up was called: by the link itself when the owner asked
 * for rlink_handshake's replies or for up_on_connect, or by the owner (the live stream: when its
 * SUBSCRIBE is confirmed). Every way down (refused, lost, socket error, handshake error, deadline,
 * rlink_drop) goes through one place: the context is cut loose (ac->data = NULL, so rlink_owner()
 * is NULL in every reply callback still to come), the reconnect is scheduled, the backoff doubles,
 * and the down hook runs. Coming up resets the backoff and, after the first time, counts a
 * reconnect.
 *
 * The link has no timer of its own: the owner calls rlink_tick from its timer and arms that timer
 * for rlink_due() at the latest. Everything on the loop's thread. The link is embedded in its owner
 * (rlink_init / rlink_close); host and credentials are borrowed and must outlive it. Fields are
 * read-only for the owner, except that it may clear `up` early (e.g. before failing its requests,
 * so their callbacks cannot queue onto a context about to be dropped). */
#ifndef SL_RLINK_H
#define SL_RLINK_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/async.h>
#include <uv.h>

typedef struct {
    const char *host; /* "/path" = a Unix socket (see redisuv.h); borrowed */
    int port;
    const char *username, *password; /* for rlink_handshake; borrowed, may be NULL */
    int db;                          /* for rlink_handshake: SELECT db when not 0 */
    unsigned timeout_ms;             /* deadline for connect + handshake */
    uint64_t backoff_min_ms, backoff_max_ms;
    bool up_on_connect; /* up as soon as the TCP connect succeeds */
    void *owner;        /* what rlink_owner() returns and the hooks get */
    /* Queues the owner's first commands on a new context (rlink_handshake, SUBSCRIBE...); false
     * when they could not be queued (the link then drops the context). Required. */
    bool (*start)(void *owner, redisAsyncContext *ac);
    void (*up)(void *owner);   /* the link came up; may be NULL */
    void (*down)(void *owner); /* the link went down (reconnect scheduled); may be NULL */
} rlink_config;

typedef struct {
    redisAsyncContext *ac; /* NULL = down */
    bool up;
    char where[160];      /* "host:port" or the socket path, for messages */
    char last_error[200]; /* the last failure, with where it happened; "" = none yet */
    uint64_t reconnects;  /* times the link came up again after the first */
    /* private */
    uv_loop_t *loop;
    rlink_config cfg;
    uint64_t backoff_ms, next_connect_ms, deadline_ms;
    unsigned handshake_pending;
    bool ever_up, closed;
} rlink;

/* Sets the link up, down, with its first connect due at once (rlink_tick, or rlink_connect now). */
void rlink_init(rlink *l, uv_loop_t *loop, const rlink_config *cfg);

/* Starts a connection now (a no-op while one exists or after rlink_close). */
void rlink_connect(rlink *l);

/* Drops a connection that missed its deadline; starts one when due. Call from the owner's timer. */
void rlink_tick(rlink *l, uint64_t now);

/* When rlink_tick next has something to do: the deadline while connecting, the reconnect time
 * while down; UINT64_MAX while up or closed. */
uint64_t rlink_due(const rlink *l);

/* Queues AUTH [user] password (when a password is set), SELECT db (when db != 0) and, when ping is
 * set and neither was queued, PING; the link comes up when all were answered, and fails with the
 * command's error otherwise. For the start hook: returns false when nothing could be queued. */
bool rlink_handshake(rlink *l, redisAsyncContext *ac, bool ping);

/* Marks the link up (see the top of the file); runs the up hook. */
void rlink_up(rlink *l);

/* Records a failure message (printf format) without dropping the connection. */
void rlink_error(rlink *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records a failure message, then drops the connection (rlink_drop). */
void rlink_fail(rlink *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops the connection and schedules the next one. Outside hiredis callbacks every outstanding
 * reply callback runs (with a NULL reply) before this returns; inside one, hiredis does that right
 * after the callback. */
void rlink_drop(rlink *l);

/* Drops the connection for good (outstanding callbacks as with rlink_drop; no hook runs). */
void rlink_close(rlink *l);

/* The owner of the link ac belongs to, or NULL once the link let go of ac: the first thing every
 * reply callback that needs the owner should check. */
void *rlink_owner(const redisAsyncContext *ac);

#endif
