/* rlink.c - one reconnecting Redis connection (see rlink.h for the states and promises).
 *
 * hiredis calls on_connect (failure) and on_disconnect just before it frees the context itself;
 * rlink_drop frees it with redisAsyncFree. All three let go the same way (let_go): ac->data = NULL
 * first, so neither our callbacks nor the owner's (rlink_owner) touch the link through a context
 * it no longer holds, then went_down schedules the next connect and tells the owner. */
#include "rlink.h"

#include <stdarg.h>
#include <stdio.h>

#include "redisuv.h"

static void seterr(rlink *l, const char *fmt, va_list ap)
{
    vsnprintf(l->last_error, sizeof l->last_error, fmt, ap);
}

void rlink_error(rlink *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    seterr(l, fmt, ap);
    va_end(ap);
}

void rlink_fail(rlink *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    seterr(l, fmt, ap);
    va_end(ap);
    rlink_drop(l);
}

static void went_down(rlink *l)
{
    l->up = false;
    if (l->closed) return;
    l->next_connect_ms = uv_now(l->loop) + l->backoff_ms;
    l->backoff_ms =
        l->backoff_ms * 2 > l->cfg.backoff_max_ms ? l->cfg.backoff_max_ms : l->backoff_ms * 2;
    if (l->cfg.down) l->cfg.down(l->cfg.owner);
}

/* Cuts the link from its context: no callback reaches the link through ac from now on. */
static redisAsyncContext *let_go(rlink *l)
{
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    l->up = false;
    if (ac) ac->data = NULL;
    return ac;
}

void rlink_drop(rlink *l)
{
    redisAsyncContext *ac = let_go(l);
    if (!ac) return;
    redisAsyncFree(ac); /* deferred by hiredis when inside one of its callbacks */
    went_down(l);
}

void rlink_close(rlink *l)
{
    l->closed = true;
    redisAsyncContext *ac = let_go(l);
    if (ac) redisAsyncFree(ac);
}

void *rlink_owner(const redisAsyncContext *ac)
{
    const rlink *l = ac->data;
    return l ? l->cfg.owner : NULL;
}

void rlink_up(rlink *l)
{
    l->up = true;
    l->backoff_ms = l->cfg.backoff_min_ms;
    if (l->ever_up) l->reconnects++;
    l->ever_up = true;
    if (l->cfg.up) l->cfg.up(l->cfg.owner);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac; /* ours; hiredis hands it out as const */
    rlink *l = ac->data;
    if (!l) return;
    if (status == REDIS_OK) {
        if (l->cfg.up_on_connect) rlink_up(l);
        return;
    }
    rlink_error(l, "connect to %s: %s", l->where, ac->errstr);
    let_go(l); /* hiredis frees the context after this callback (queued replies get NULL) */
    went_down(l);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    (void)status;
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    rlink *l = ac->data;
    if (!l) return; /* we let go of it ourselves */
    rlink_error(l, "connection to %s lost: %s", l->where, ac->errstr[0] ? ac->errstr : "closed");
    let_go(l); /* hiredis frees the context after this; pending replies already got NULL */
    went_down(l);
}

/* The socket failed and hiredis kept the context (redisuv.h says why): drop it now. */
static void on_socket_error(redisAsyncContext *ac, int status)
{
    rlink *l = ac->data;
    if (l) rlink_fail(l, "connection to %s: %s", l->where, uv_strerror(status));
}

static void on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    rlink *l = ac->data;
    if (!l) return; /* a context we let go of */
    const redisReply *reply = r;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        /* deferred by hiredis until this callback returns */
        rlink_fail(l, "%s: %.150s", (const char *)privdata, reply ? reply->str : "no reply");
        return;
    }
    if (l->handshake_pending && --l->handshake_pending == 0) rlink_up(l);
}

bool rlink_handshake(rlink *l, redisAsyncContext *ac, bool ping)
{
    int n = redisuv_handshake(ac, on_handshake, l->cfg.username, l->cfg.password, l->cfg.db, ping);
    l->handshake_pending = n > 0 ? (unsigned)n : 0;
    return n >= 0;
}

void rlink_init(rlink *l, uv_loop_t *loop, const rlink_config *cfg)
{
    *l = (rlink){.loop = loop, .cfg = *cfg};
    if (l->cfg.username && !l->cfg.password) l->cfg.username = NULL; /* AUTH needs a password */
    if (!l->cfg.timeout_ms) l->cfg.timeout_ms = 2000;
    if (!l->cfg.backoff_min_ms) l->cfg.backoff_min_ms = 100;
    if (l->cfg.backoff_max_ms < l->cfg.backoff_min_ms)
        l->cfg.backoff_max_ms = l->cfg.backoff_min_ms;
    l->backoff_ms = l->cfg.backoff_min_ms;
    redisuv_where(l->cfg.host, l->cfg.port, l->where, sizeof l->where);
}

void rlink_connect(rlink *l)
{
    if (l->ac || l->closed) return;
    char err[256];
    redisAsyncContext *ac = redisuv_connect(l->loop, l->cfg.host, l->cfg.port, l, on_connect,
                                            on_disconnect, on_socket_error, err, sizeof err);
    if (!ac) {
        rlink_error(l, "%s", err);
        went_down(l);
        return;
    }
    l->ac = ac;
    l->up = false;
    l->handshake_pending = 0;
    l->deadline_ms = uv_now(l->loop) + l->cfg.timeout_ms;
    /* Queued now, sent first once connected. Only out of memory fails here. */
    if (!l->cfg.start(l->cfg.owner, ac) && l->ac == ac)
        rlink_fail(l, "connect to %s: cannot queue the handshake", l->where);
}

void rlink_tick(rlink *l, uint64_t now)
{
    if (l->closed) return;
    if (l->ac && !l->up && now >= l->deadline_ms)
        rlink_fail(l, "connect to %s: no answer within %u ms", l->where, l->cfg.timeout_ms);
    if (!l->ac && now >= l->next_connect_ms) rlink_connect(l);
}

uint64_t rlink_due(const rlink *l)
{
    if (l->closed) return UINT64_MAX;
    if (!l->ac) return l->next_connect_ms;
    return l->up ? UINT64_MAX : l->deadline_ms;
}
