/* redisuv.c - the error-aware hiredis <-> libuv watcher (see redisuv.h). */
#include "redisuv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/sds.h>
#ifdef __linux__
#include <sys/timerfd.h>
#include <unistd.h>
#endif

#include "sl_err.h"

typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis cleaned up; the struct is freed on close */
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_prepare_t flush; /* writes hiredis's output buffer once per loop turn, before polling */
    int events;         /* what `poll` watches now */
    bool want_write;    /* hiredis has output queued */
    int open_handles;
    redisuv_error_fn on_error;
    /* Linger (redisuv_set_linger): output below linger_bytes waits up to linger_us, measured by
     * a timerfd (libuv timers count milliseconds), for more commands to join it. */
    unsigned linger_us;
    size_t linger_bytes;
    int tfd; /* -1 = no linger */
    uv_poll_t tpoll;
    bool armed;
} watch;

static void on_poll(uv_poll_t *h, int status, int events)
{
    watch *w = h->data;
    if (status < 0) { /* POLLERR: libuv stopped the handle; let hiredis find the error */
        w->events = 0;
        if (w->ac) redisAsyncHandleRead(w->ac);
        if (w->ac && w->on_error) w->on_error(w->ac, status);
        return;
    }
    if (w->ac && (events & UV_READABLE)) redisAsyncHandleRead(w->ac);
    if (w->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(w->ac);
}

/* Changes the poll mask only when it differs: each uv_poll_start costs an epoll_ctl. */
static void poll_set(watch *w, int events)
{
    if (events == w->events) return;
    w->events = events;
    if (events)
        uv_poll_start(&w->poll, events, on_poll);
    else
        uv_poll_stop(&w->poll);
}

static void set_timer(watch *w, unsigned us)
{
#ifdef __linux__
    struct itimerspec t = {{0, 0}, {(time_t)(us / 1000000), (long)(us % 1000000) * 1000}};
    timerfd_settime(w->tfd, 0, &t, NULL); /* us = 0 disarms */
#else
    (void)us;
#endif
    w->armed = us > 0;
}

static void write_now(watch *w)
{
    if (w->armed) set_timer(w, 0);
    if (!w->ac || !w->want_write) return;
    if (w->ac->c.flags & REDIS_CONNECTED) redisAsyncHandleWrite(w->ac);
    if (w->ac && w->want_write) poll_set(w, w->events | UV_WRITABLE);
}

/* Before the loop blocks: write what the callbacks of this turn queued, straight away (one
 * write for every command of the turn, no epoll round trip), unless a linger holds it (fewer
 * than linger_bytes queued: the timer or a fuller turn writes it). Only what the socket does
 * not take waits for POLLOUT. A context still connecting waits for POLLOUT too: hiredis
 * finishes the connect in its write handler. */
static void on_flush(uv_prepare_t *h)
{
    watch *w = h->data;
    uv_prepare_stop(h);
    if (!w->ac || !w->want_write) return;
    if (w->tfd >= 0 && (w->ac->c.flags & REDIS_CONNECTED) &&
        sdslen(w->ac->c.obuf) < w->linger_bytes) {
        if (!w->armed) set_timer(w, w->linger_us);
        return; /* on_linger writes it, or a later turn that fills linger_bytes */
    }
    write_now(w);
}

static void on_linger(uv_poll_t *h, int status, int events)
{
    watch *w = h->data;
    (void)events;
#ifdef __linux__
    uint64_t expirations;
    if (status == 0 && read(w->tfd, &expirations, sizeof expirations) < 0) return; /* spurious */
#endif
    w->armed = false;
    write_now(w);
}

static void add_read(void *pd)
{
    watch *w = pd;
    poll_set(w, w->events | UV_READABLE);
}
static void del_read(void *pd)
{
    watch *w = pd;
    poll_set(w, w->events & ~UV_READABLE);
}
static void add_write(void *pd)
{
    watch *w = pd;
    w->want_write = true;
    if (!(w->events & UV_WRITABLE)) uv_prepare_start(&w->flush, on_flush);
}
static void del_write(void *pd)
{
    watch *w = pd;
    w->want_write = false;
    poll_set(w, w->events & ~UV_WRITABLE);
}

static void on_closed(uv_handle_t *h)
{
    watch *w = h->data;
    if (--w->open_handles) return;
#ifdef __linux__
    if (w->tfd >= 0) close(w->tfd); /* after its poll handle is closed, as libuv requires */
#endif
    free(w);
}

/* hiredis is about to close the fd and free the context. */
static void cleanup(void *pd)
{
    watch *w = pd;
    w->ac = NULL;
    uv_close((uv_handle_t *)&w->poll, on_closed);
    uv_close((uv_handle_t *)&w->flush, on_closed);
    if (w->tfd >= 0) uv_close((uv_handle_t *)&w->tpoll, on_closed);
}

int redisuv_attach(redisAsyncContext *ac, uv_loop_t *loop, redisuv_error_fn on_error)
{
    watch *w = calloc(1, sizeof *w);
    if (!w) return SL_ENOMEM;
    if (uv_poll_init(loop, &w->poll, ac->c.fd) != 0) {
        free(w);
        return SL_EIO;
    }
    uv_prepare_init(loop, &w->flush); /* cannot fail */
    w->open_handles = 2;
    w->loop = loop;
    w->tfd = -1;
    w->poll.data = w;
    w->flush.data = w;
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

int redisuv_set_linger(redisAsyncContext *ac, unsigned linger_us, size_t linger_bytes)
{
    watch *w = ac->ev.data;
    if (!w || ac->ev.cleanup != cleanup) return SL_EUSAGE; /* not attached by redisuv_attach */
    if (linger_us == 0) {
        w->linger_bytes = 0; /* the timer (if any) stays, unused: on_flush writes at once */
        return 0;
    }
#ifdef __linux__
    if (w->tfd < 0) {
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0) return SL_EIO;
        if (uv_poll_init(w->loop, &w->tpoll, fd) != 0) {
            close(fd);
            return SL_EIO;
        }
        w->tfd = fd;
        w->tpoll.data = w;
        w->open_handles++;
        uv_poll_start(&w->tpoll, UV_READABLE, on_linger);
    }
    w->linger_us = linger_us;
    w->linger_bytes = linger_bytes;
    return 0;
#else
    return SL_EUSAGE;
#endif
}

const char *redisuv_where(const char *host, int port, char *buf, size_t cap)
{
    if (host[0] == '/')
        snprintf(buf, cap, "%s", host);
    else
        snprintf(buf, cap, "%s:%d", host, port);
    return buf;
}

redisContext *redisuv_connect_blocking(const char *host, int port, struct timeval tv)
{
    return host[0] == '/' ? redisConnectUnixWithTimeout(host, tv)
                          : redisConnectWithTimeout(host, port, tv);
}

redisAsyncContext *redisuv_connect(uv_loop_t *loop, const char *host, int port, void *data,
                                   redisConnectCallback *on_connect,
                                   redisDisconnectCallback *on_disconnect,
                                   redisuv_error_fn on_error, char *err, size_t errlen)
{
    bool unix_sock = host[0] == '/';
    redisAsyncContext *ac = unix_sock ? redisAsyncConnectUnix(host) : redisAsyncConnect(host, port);
    char where[160];
    redisuv_where(host, port, where, sizeof where);
    if (!ac || ac->err) {
        snprintf(err, errlen, "connect to %s: %s", where, ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        return NULL;
    }
    if (redisuv_attach(ac, loop, on_error) != 0) {
        snprintf(err, errlen, "connect to %s: cannot watch the socket", where);
        redisAsyncFree(ac);
        return NULL;
    }
    if (!unix_sock) redisEnableKeepAlive(&ac->c); /* best effort: a dead peer is found when idle */
    ac->data = data;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

int redisuv_handshake(redisAsyncContext *ac, redisCallbackFn *cb, const char *username,
                      const char *password, int db, bool ping)
{
    int n = 0;
    if (password) { /* argv keeps odd passwords intact */
        const char *argv[3] = {"AUTH"};
        size_t argl[3] = {4};
        int argc = 1;
        if (username) {
            argv[argc] = username;
            argl[argc++] = strlen(username);
        }
        argv[argc] = password;
        argl[argc++] = strlen(password);
        if (redisAsyncCommandArgv(ac, cb, "AUTH", argc, argv, argl) != REDIS_OK) return -1;
        n++;
    }
    if (db) {
        char num[16];
        int len = snprintf(num, sizeof num, "%d", db);
        const char *argv[2] = {"SELECT", num};
        size_t argl[2] = {6, (size_t)len};
        if (redisAsyncCommandArgv(ac, cb, "SELECT", 2, argv, argl) != REDIS_OK) return -1;
        n++;
    }
    if (ping && !n) {
        if (redisAsyncCommand(ac, cb, "PING", "PING") != REDIS_OK) return -1;
        n++;
    }
    return n;
}
