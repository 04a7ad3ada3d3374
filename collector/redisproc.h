/* redisproc.h - the embedded Redis: start a `redis-server` child on loopback for `sluice serve`
 * when no --redis address is given, and stop it on exit.
 *
 * The child gets: bind 127.0.0.1, a free port (or the one asked for), a Unix socket
 * data_dir/redis.sock (mode 700; when the absolute path fits a sockaddr_un, else sock is ""),
 * dir = data_dir (created),
 * appendonly yes (appendfsync everysec), no RDB snapshots other than the default, logfile in
 * data_dir. redisproc_start returns only when the server answers PING (or fails with a clear
 * message). */
#ifndef SL_REDISPROC_H
#define SL_REDISPROC_H

#include <sys/types.h>

#include "sl_err.h"

typedef struct {
    pid_t pid;
    int port;
    char sock[104]; /* absolute path of the Unix socket, or "" (sun_path holds 108 bytes) */
    char data_dir[512];
} redisproc;

/* Starts redis-server (found on PATH, or redis_bin if non-NULL). port 0 = pick a free port.
 * Returns 0 or a negative SL_E* code with a message in errbuf. */
int redisproc_start(redisproc *rp, const char *redis_bin, const char *data_dir, int port,
                    char *errbuf, size_t errlen);
/* SIGTERM, wait (bounded), SIGKILL if needed. Safe to call twice. */
void redisproc_stop(redisproc *rp);

#endif
