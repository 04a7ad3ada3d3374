/* redisuv.h - attach a hiredis async context to a libuv loop, noticing socket errors.
 *
 * Debian's hiredis 0.14 libuv adapter ignores uv_poll errors: on a reset or refused connection
 * libuv stops the handle and reports status < 0, and the adapter silently drops it, so the
 * context hangs until some deadline. This watcher hands the error to hiredis (a read makes it
 * find the socket error and tear the context down) and, if hiredis keeps the context anyway,
 * calls on_error(ac, status) so the owner can drop it at once. Output is written once per loop
 * turn, before the loop polls (a prepare handle), not after an epoll round trip per command
 * batch, or held for a linger (redisuv_set_linger); POLLOUT is watched only for what the socket
 * did not take. Everything on the loop's thread;
 * the watcher frees itself when hiredis cleans the context up. */
#ifndef SL_REDISUV_H
#define SL_REDISUV_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

/* Called when the socket failed and hiredis did not free the context; status is a libuv code. */
typedef void (*redisuv_error_fn)(redisAsyncContext *ac, int status);

/* Returns 0, SL_ENOMEM or SL_EIO (uv_poll_init failed). on_error may be NULL. */
int redisuv_attach(redisAsyncContext *ac, uv_loop_t *loop, redisuv_error_fn on_error);

/* Linger, as in Kafka's linger.ms: commands queued on ac are written when linger_bytes of output
 * are waiting or linger_us after the first of them, whichever comes first, instead of at the end
 * of every loop turn; one write and one Redis wake-up then carry more commands (at moderate load
 * this halves Redis's CPU per command and the collector's Redis syscalls). linger_us = 0 turns it
 * off. Linux only (a timerfd: libuv timers count milliseconds); elsewhere SL_EUSAGE. Returns 0,
 * SL_EUSAGE (ac not attached with redisuv_attach) or SL_EIO (no timerfd). */
int redisuv_set_linger(redisAsyncContext *ac, unsigned linger_us, size_t linger_bytes);

/* A Redis address is host:port, or a Unix socket when host starts with '/' (port unused): a Redis
 * on the same machine answers over a Unix socket for about a fifth less CPU per command than over
 * loopback TCP, on both sides. redisuv_where writes "host:port" or the socket path into buf (at
 * least 64 bytes; longer paths are cut) and returns buf, for messages. */
const char *redisuv_where(const char *host, int port, char *buf, size_t cap);

/* A blocking connect to host:port or the socket at host, with tv as the connect timeout (not as
 * the command timeout: set that with redisSetTimeout). Returns what hiredis returns (check ->err).
 */
redisContext *redisuv_connect_blocking(const char *host, int port, struct timeval tv);

/* Starts a non-blocking connect to host:port (TCP, with keep-alive) or to the socket at host, on
 * loop, attached as above (on_error may be NULL), ac->data = data and the two callbacks set.
 * Returns the context (hiredis owns it as usual), or NULL with the reason in err ("connect to
 * WHERE: ..."). */
redisAsyncContext *redisuv_connect(uv_loop_t *loop, const char *host, int port, void *data,
                                   redisConnectCallback *on_connect,
                                   redisDisconnectCallback *on_disconnect,
                                   redisuv_error_fn on_error, char *err, size_t errlen);

/* Queues the connection's handshake, answered to cb with privdata = the command's name: AUTH
 * [username] password when password is set (argv form: any bytes pass), SELECT db when db != 0,
 * and, when ping is set and neither was queued, PING (so there is always a reply to wait for).
 * Returns the number of commands queued, or -1 when one could not be queued (out of memory). */
int redisuv_handshake(redisAsyncContext *ac, redisCallbackFn *cb, const char *username,
                      const char *password, int db, bool ping);

#endif
