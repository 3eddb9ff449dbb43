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

#endif
