/* lateness.h - constant-memory histogram of how late futures were resolved.
 *
 * Log-linear buckets over microseconds (exact below 16 us, then 8 buckets
 * per power of two: under 7 % relative error), up to about 12 days.
 *
 * Not thread-safe: a Link's histogram is only touched with the GIL held
 * (recorded on the loop's thread, read or reset from any Python thread).
 * No allocation, no locks. */
#ifndef AAL_LATENESS_H
#define AAL_LATENESS_H

#include <stdint.h>

#define AAL_LATENESS_BUCKETS (16 + 8 * 36)

typedef struct aal_lateness {
    uint64_t count;
    uint64_t buckets[AAL_LATENESS_BUCKETS];
    int64_t max_us;
    double sum_us;
} aal_lateness;

void aal_lateness_reset(aal_lateness *h);
void aal_lateness_record(aal_lateness *h, int64_t late_us); /* negative counts as 0 */
/* Upper edge of the bucket holding quantile q (0..1), in microseconds. */
int64_t aal_lateness_quantile(const aal_lateness *h, double q);

#endif
