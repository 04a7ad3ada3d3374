/* ratelimit.h - per-write-key token buckets, shared by every worker thread.
 *
 * Each bucket is one atomic 64-bit "theoretical arrival time" (GCRA, the generic cell rate
 * algorithm): a bucket of `burst` events refilled at `rate` events/s is full when tat <= now, and
 * taking n events moves tat forward by n/rate seconds. A take is one compare-and-swap, so all
 * workers share one exact limit per key without a lock, whichever worker a client reaches.
 * The key set is fixed before the workers start (ratelimit_add / ratelimit_set_fallback on one
 * thread); ratelimit_take may then be called from any thread. Keys are copied and never logged.
 * Clocks are injected: now_ns is any monotonic nanosecond clock (uv_hrtime in the server). */
#ifndef SL_RATELIMIT_H
#define SL_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit;

/* Returns NULL on out-of-memory. */
ratelimit *ratelimit_new(void);
void ratelimit_free(ratelimit *rl);

/* Gives key (n bytes) its own bucket: rate events/s (> 0), burst events (0 = max(rate, 1)).
 * Adding a key twice replaces its rule. Returns 0, SL_EUSAGE for a rate <= 0, or SL_ENOMEM. */
int ratelimit_add(ratelimit *rl, const char *key, size_t n, double rate, uint64_t burst);
/* One bucket shared by every key that was not added (rate 0 = such keys are not limited). */
int ratelimit_set_fallback(ratelimit *rl, double rate, uint64_t burst);
/* True when some bucket exists at all. */
bool ratelimit_enabled(const ratelimit *rl);

/* Takes `events` tokens from key's bucket at now_ns. A request is allowed when the bucket holds
 * min(events, burst) tokens; it is then charged all of them (a batch larger than the bucket waits
 * for a full bucket and leaves it in debt, so the long-run rate still holds). Returns true when
 * allowed; false with *retry_ms = milliseconds until the same request would be allowed.
 * key may be NULL (no key: the fallback bucket). */
bool ratelimit_take(ratelimit *rl, const char *key, size_t n, uint64_t events, uint64_t now_ns,
                    uint64_t *retry_ms);

#endif
