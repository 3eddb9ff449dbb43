/* convert.h - conversions between Python objects and C values, with clear
 * errors.
 *
 * Every function here: Thread: any Python thread.  GIL: held (they may call
 * Python: __float__, __index__, a method).  Locks: none. */
#ifndef AAL_CONVERT_H
#define AAL_CONVERT_H

#include "compat.h"
#include <stdbool.h>
#include <stdint.h>

/* Any real number (int, float, Fraction, Decimal, objects with __float__ or
 * __index__) to a finite double.  Non-numbers: TypeError; NaN, infinities
 * and ints beyond float range: ValueError.  `what` names the argument. */
int aal_to_finite_double(PyObject *obj, const char *what, double *out);

/* Beat positions and lengths Link can represent exactly: it keeps beats in
 * int64 micro-beats and times in int64 microseconds, so beyond this (3e11 s
 * at 20 bpm) its arithmetic overflows. */
#define AAL_MAX_BEATS 1e11
/* Times (Link clock, seconds) Link can convert to beats at any tempo. */
#define AAL_MAX_SECONDS 1e10

/* aal_to_finite_double, then within +-AAL_MAX_BEATS (ValueError beyond). */
int aal_to_beat(PyObject *obj, const char *what, double *out);

/* True, False or an int; anything else: TypeError. */
int aal_to_bool(PyObject *obj, const char *what, bool *out);

/* A datetime.timedelta or a real number of seconds to whole microseconds. */
int aal_to_micros(PyObject *obj, PyObject *timedelta_type, const char *what, int64_t *out);

/* Vectorcall arguments (METH_FASTCALL | METH_KEYWORDS) into out[], by the
 * parameter names in names[0..n_names): the first n_positional may come by
 * position, the first n_required must come.  Missing ones are left NULL.
 * 0, or -1 with a TypeError worded like Python's. */
int aal_parse_args(const char *func, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                   const char *const *names, int n_names, int n_positional, int n_required,
                   PyObject **out);

/* obj.name() as a C truth value: 1, 0, or -1 with an exception set. */
int aal_call_bool_method(PyObject *obj, PyObject *name);

#endif
