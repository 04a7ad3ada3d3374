/* redisuv.c - the error-aware hiredis <-> libuv watcher (see redisuv.h). */
#include "redisuv.h"

#include <stdbool.h>
#include <stdlib.h>

#include "sl_err.h"

typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis cleaned up; the struct is freed on close */
    uv_poll_t poll;
    int events;
    redisuv_error_fn on_error;
} watch;

static void on_poll(uv_poll_t *h, int status, int events)
{
    watch *w = h->data;
    if (status < 0) { /* POLLERR: libuv stopped the handle; let hiredis find the error */
        if (w->ac) redisAsyncHandleRead(w->ac);
        if (w->ac && w->on_error) w->on_error(w->ac, status);
        return;
    }
    if (w->ac && (events & UV_READABLE)) redisAsyncHandleRead(w->ac);
    if (w->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(w->ac);
}

static void watch_set(void *pd, int flag, bool on)
{
    watch *w = pd;
    w->events = on ? w->events | flag : w->events & ~flag;
    if (w->events)
        uv_poll_start(&w->poll, w->events, on_poll);
    else
        uv_poll_stop(&w->poll);
}

static void add_read(void *pd)
{
    watch_set(pd, UV_READABLE, true);
}
static void del_read(void *pd)
{
    watch_set(pd, UV_READABLE, false);
}
static void add_write(void *pd)
{
    watch_set(pd, UV_WRITABLE, true);
}
static void del_write(void *pd)
{
    watch_set(pd, UV_WRITABLE, false);
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

/* hiredis is about to close the fd and free the context. */
static void cleanup(void *pd)
{
    watch *w = pd;
    w->ac = NULL;
    uv_close((uv_handle_t *)&w->poll, on_closed);
}

int redisuv_attach(redisAsyncContext *ac, uv_loop_t *loop, redisuv_error_fn on_error)
{
    watch *w = calloc(1, sizeof *w);
    if (!w) return SL_ENOMEM;
    if (uv_poll_init(loop, &w->poll, ac->c.fd) != 0) {
        free(w);
        return SL_EIO;
    }
    w->poll.data = w;
    w->ac = ac;
    w->on_error = on_error;
    ac->ev.data = w;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
