/* serve.h - `sluice serve`: the Segment-compatible HTTP collector (see specs/HTTP-API.md).
 *
 * N worker threads, each with its own libuv loop, SO_REUSEPORT listening socket, Redis sink and
 * validation scratch, share one immutable compiled plan; SIGHUP swaps in a recompiled plan,
 * SIGTERM/SIGINT drain and exit 0. */
#ifndef SL_SERVE_H
#define SL_SERVE_H

/* argv[0] is "serve". Returns the process exit code (0 ok, 1 runtime failure, 2 usage). */
int serve_main(int argc, char **argv);

#endif
