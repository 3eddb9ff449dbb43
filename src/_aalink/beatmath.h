/* beatmath.h - pure beat-grid arithmetic, no Python, no Link.
 * Thread: any.  GIL: not needed.  Locks: none.  Realtime-safe. */
#ifndef AAL_BEATMATH_H
#define AAL_BEATMATH_H

/* The smallest grid point origin + offset + k*step (k any integer) that lies
 * strictly after `now`, in constant time for any finite inputs.
 * Returns 0 and stores it in *out, or -1 when the inputs are not finite,
 * step is not > 0, or step is too small for a grid point after `now` to be
 * told apart from `now` in double precision. */
int aal_next_grid_point(double now, double step, double offset, double origin,
                        double *out);

/* The smallest point of the grid base + k*step that is at or after `beat`
 * (the point itself when `beat` is on the grid).  0, or -1 as above. */
int aal_grid_point_at_or_after(double beat, double step, double base, double *out);

#endif
