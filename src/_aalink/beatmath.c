/* beatmath.c - the next grid point after (or at) a beat, in constant time. */
#include "beatmath.h"

#include <math.h>

int aal_next_grid_point(double now, double step, double offset, double origin,
                        double *out)
{
    if (!isfinite(now) || !isfinite(step) || !isfinite(offset) || !isfinite(origin) ||
        !(step > 0.0))
        return -1;

    /* Reduce origin and offset modulo step first: fmod is exact, so a huge
     * offset (-1e6, 1e300) costs nothing and loses nothing. */
    double base = fmod(fmod(origin, step) + fmod(offset, step), step);

    double k = floor((now - base) / step) + 1.0;
    double point = base + k * step;

    /* The division and product may round either way by an ulp: nudge by
     * whole steps, a bounded number of times. */
    for (int i = 0; i < 4 && !(point > now); i++) {
        k += 1.0;
        point = base + k * step;
    }
    for (int i = 0; i < 4; i++) {
        double previous = base + (k - 1.0) * step;
        if (!(previous > now))
            break;
        k -= 1.0;
        point = previous;
    }
    if (!(point > now) || !isfinite(point))
        return -1;
    *out = point;
    return 0;
}

int aal_grid_point_at_or_after(double beat, double step, double base, double *out)
{
    if (!isfinite(beat))
        return -1;
    /* At or after `beat` is strictly after the double just below it. */
    return aal_next_grid_point(nextafter(beat, -INFINITY), step, base, 0.0, out);
}
