/* lateness.c - log-linear lateness histogram. */
#include "lateness.h"

#include <string.h>

#include "platform.h"

static int bucket_of(uint64_t v)
{
    if (v < 16)
        return (int)v;
    int e = aal_highest_bit(v); /* 2^e <= v, e >= 4 */
    int sub = (int)((v >> (e - 3)) & 7);
    int b = 16 + (e - 4) * 8 + sub;
    return b < AAL_LATENESS_BUCKETS ? b : AAL_LATENESS_BUCKETS - 1;
}

static int64_t upper_edge(int b)
{
    if (b < 16)
        return b;
    int e = (b - 16) / 8 + 4;
    int sub = (b - 16) % 8;
    /* values v with v >> (e-3) == 8 + sub */
    return (int64_t)(((uint64_t)(8 + sub + 1) << (e - 3)) - 1);
}

void aal_lateness_reset(aal_lateness *h)
{
    memset(h, 0, sizeof *h);
}

void aal_lateness_record(aal_lateness *h, int64_t late_us)
{
    if (late_us < 0)
        late_us = 0;
    h->buckets[bucket_of((uint64_t)late_us)]++;
    h->count++;
    h->sum_us += (double)late_us;
    if (late_us > h->max_us)
        h->max_us = late_us;
}

int64_t aal_lateness_quantile(const aal_lateness *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)(h->count - 1)) + 1;
    uint64_t seen = 0;
    for (int b = 0; b < AAL_LATENESS_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen >= rank) {
            int64_t edge = upper_edge(b);
            return edge < h->max_us ? edge : h->max_us;
        }
    }
    return h->max_us;
}
