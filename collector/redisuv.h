/* redisuv.h - attach a hiredis async context to a libuv loop, noticing socket errors.
 *
 * Debian's hiredis 0.14 libuv adapter ignores uv_poll errors: on a reset or refused connection
 * libuv stops the handle and reports status < 0, and the adapter silently drops it, so the
 * context hangs until some deadline. This watcher hands the error to hiredis (a read makes it
 * find the socket error and tear the context down) and, if hiredis keeps the context anyway,
 * calls on_error(ac, status) so the owner can drop it at once. Output is written once per loop
 * turn, before the loop polls (a prepare handle), not after an epoll round trip per command
 * batch; POLLOUT is watched only for what the socket did not take. Everything on the loop's thread;
 * the watcher frees itself when hiredis cleans the context up. */
#ifndef SL_REDISUV_H
#define SL_REDISUV_H

#include <hiredis/async.h>
#include <uv.h>

/* Called when the socket failed and hiredis did not free the context; status is a libuv code. */
typedef void (*redisuv_error_fn)(redisAsyncContext *ac, int status);

/* Returns 0, SL_ENOMEM or SL_EIO (uv_poll_init failed). on_error may be NULL. */
int redisuv_attach(redisAsyncContext *ac, uv_loop_t *loop, redisuv_error_fn on_error);

#endif
