/* hist.h - a log-bucketed latency histogram (HdrHistogram-like, fixed precision).
 *
 * Values are unsigned 64-bit (the generator records nanoseconds). Values below 128 are exact;
 * above, every power of two is split into 64 linear sub-buckets, so a reported quantile is within
 * 1/64 (1.6%) of the true value. Exact min, max and sum are kept beside the buckets. A hist is a
 * plain embedded struct (about 30 KB): hist_init zeroes it, no cleanup needed. Not thread-safe. */
#ifndef LT_HIST_H
#define LT_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_BUCKETS ((64 - HIST_SUB_BITS) * (1 << HIST_SUB_BITS) + (2 << HIST_SUB_BITS))

typedef struct {
    uint64_t count, sum, min, max;
    uint64_t b[HIST_BUCKETS];
} hist;

void hist_init(hist *h);
void hist_record(hist *h, uint64_t v);
/* Adds every value of `src` to `dst`. */
void hist_merge(hist *dst, const hist *src);
/* The value at quantile q in [0,1] (the middle of its bucket, clamped to [min, max]); 0 when
 * empty. q = 1 gives the exact max. */
uint64_t hist_quantile(const hist *h, double q);
/* Mean of the recorded values; 0 when empty. */
double hist_mean(const hist *h);

#endif
