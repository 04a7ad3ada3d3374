/* ratelimit.c - GCRA token buckets on atomic 64-bit counters (see ratelimit.h). */
#include "ratelimit.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sl_err.h"

typedef struct {
    char *key; /* NULL for the fallback bucket */
    size_t keylen;
    uint64_t interval_ns; /* 1 / rate */
    uint64_t burst;
    _Atomic uint64_t tat; /* theoretical arrival time, ns; <= now means a full bucket */
} bucket;

struct ratelimit {
    bucket *v;
    size_t n;
    bucket fallback;
    bool has_fallback;
};

ratelimit *ratelimit_new(void)
{
    return calloc(1, sizeof(ratelimit));
}

void ratelimit_free(ratelimit *rl)
{
    if (!rl) return;
    for (size_t i = 0; i < rl->n; i++)
        free(rl->v[i].key);
    free(rl->v);
    free(rl);
}

static int rule_init(bucket *b, double rate, uint64_t burst)
{
    if (!(rate > 0) || rate > 1e9) return SL_EUSAGE;
    double iv = 1e9 / rate;
    b->interval_ns = iv < 1 ? 1 : (uint64_t)iv;
    if (burst == 0) burst = rate < 1 ? 1 : (uint64_t)rate;
    b->burst = burst;
    atomic_store(&b->tat, 0);
    return 0;
}

int ratelimit_add(ratelimit *rl, const char *key, size_t n, double rate, uint64_t burst)
{
    bucket tmp = {0};
    int rc = rule_init(&tmp, rate, burst);
    if (rc) return rc;
    for (size_t i = 0; i < rl->n; i++) {
        bucket *b = &rl->v[i];
        if (b->keylen == n && !memcmp(b->key, key, n)) {
            b->interval_ns = tmp.interval_ns;
            b->burst = tmp.burst;
            return 0;
        }
    }
    bucket *nv = realloc(rl->v, (rl->n + 1) * sizeof *nv);
    if (!nv) return SL_ENOMEM;
    rl->v = nv;
    bucket *b = &rl->v[rl->n];
    memset(b, 0, sizeof *b);
    if (!(b->key = malloc(n ? n : 1))) return SL_ENOMEM;
    memcpy(b->key, key, n);
    b->keylen = n;
    b->interval_ns = tmp.interval_ns;
    b->burst = tmp.burst;
    atomic_store(&b->tat, 0);
    rl->n++;
    return 0;
}

int ratelimit_set_fallback(ratelimit *rl, double rate, uint64_t burst)
{
    if (rate == 0) {
        rl->has_fallback = false;
        return 0;
    }
    int rc = rule_init(&rl->fallback, rate, burst);
    if (rc == 0) rl->has_fallback = true;
    return rc;
}

bool ratelimit_enabled(const ratelimit *rl)
{
    return rl && (rl->n || rl->has_fallback);
}

static bucket *find(ratelimit *rl, const char *key, size_t n)
{
    if (key)
        for (size_t i = 0; i < rl->n; i++)
            if (rl->v[i].keylen == n && !memcmp(rl->v[i].key, key, n)) return &rl->v[i];
    return rl->has_fallback ? &rl->fallback : NULL;
}

bool ratelimit_take(ratelimit *rl, const char *key, size_t n, uint64_t events, uint64_t now_ns,
                    uint64_t *retry_ms)
{
    bucket *b = rl ? find(rl, key, n) : NULL;
    if (!b || events == 0) return true;
    uint64_t T = b->interval_ns;
    uint64_t tau = b->burst * T; /* a full bucket's worth of time */
    uint64_t need = (events < b->burst ? events : b->burst) * T;
    uint64_t tat = atomic_load_explicit(&b->tat, memory_order_relaxed);
    for (;;) {
        uint64_t base = tat > now_ns ? tat : now_ns;
        if (base + need > now_ns + tau) {
            uint64_t wait = base + need - now_ns - tau;
            *retry_ms = (wait + 999999) / 1000000;
            return false;
        }
        uint64_t next = base + events * T;
        if (atomic_compare_exchange_weak_explicit(&b->tat, &tat, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
}
