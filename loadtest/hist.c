/* hist.c - log-bucketed histogram (see hist.h for the precision promise).
 *
 * Bucket index of v: with e = index of v's top bit and shift = max(0, e - SUB_BITS), the index is
 * shift * SUB + (v >> shift). For v < 2*SUB this is v itself; above, (v >> shift) lies in
 * [SUB, 2*SUB), so consecutive powers of two map to consecutive runs of SUB buckets. */
#include "hist.h"

#include <string.h>

#define SUB (1u << HIST_SUB_BITS)

static unsigned bucket_of(uint64_t v)
{
    if (v < 2 * SUB) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - HIST_SUB_BITS;
    return shift * SUB + (unsigned)(v >> shift);
}

/* Lowest value of bucket i and its width. */
static void bucket_range(unsigned i, uint64_t *lo, uint64_t *width)
{
    if (i < 2 * SUB) {
        *lo = i;
        *width = 1;
        return;
    }
    unsigned shift = i / SUB - 1;
    uint64_t m = i - shift * SUB;
    *lo = m << shift;
    *width = (uint64_t)1 << shift;
}

void hist_init(hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void hist_record(hist *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

void hist_merge(hist *dst, const hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

uint64_t hist_quantile(const hist *h, double q)
{
    if (!h->count) return 0;
    if (q >= 1.0) return h->max;
    if (q <= 0.0) return h->min;
    /* The rank of the wanted value, 1-based: the smallest value with at least q*count below. */
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t lo, w;
            bucket_range(i, &lo, &w);
            uint64_t v = lo + w / 2;
            if (v < h->min) v = h->min;
            if (v > h->max) v = h->max;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
