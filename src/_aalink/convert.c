/* convert.c - conversions between Python objects and C values. */
#include "convert.h"

#include <math.h>

int aal_to_finite_double(PyObject *obj, const char *what, double *out)
{
    if (PyUnicode_Check(obj) || PyBytes_Check(obj) || PyByteArray_Check(obj) ||
        PyComplex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a real number, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    double value = PyFloat_AsDouble(obj);
    if (value == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s is too large for a float", what);
        }
        else {
            /* TypeError from PyFloat_AsDouble, or whatever a broken
             * __float__ raised: say which argument, keep the cause.  A
             * ValueError (Decimal('sNaN')) stays a ValueError. */
            bool value_error = PyErr_ExceptionMatches(PyExc_ValueError);
            PyObject *cause = PyErr_GetRaisedException();
            if (value_error)
                PyErr_Format(PyExc_ValueError, "%s must be a finite real number (%S)", what,
                             cause);
            else
                PyErr_Format(PyExc_TypeError, "%s must be a real number, not %.100s", what,
                             Py_TYPE(obj)->tp_name);
            PyObject *exc = PyErr_GetRaisedException();
            if (cause)
                PyException_SetCause(exc, cause); /* steals cause */
            PyErr_SetRaisedException(exc);
        }
        return -1;
    }
    if (!isfinite(value)) {
        PyErr_Format(PyExc_ValueError, "%s must be finite, not %R", what, obj);
        return -1;
    }
    *out = value;
    return 0;
}

int aal_to_beat(PyObject *obj, const char *what, double *out)
{
    double value;
    if (aal_to_finite_double(obj, what, &value) < 0)
        return -1;
    if (fabs(value) > AAL_MAX_BEATS) {
        PyErr_Format(PyExc_ValueError, "%s must be within +-1e11 beats (Link's range), not %R",
                     what, obj);
        return -1;
    }
    *out = value;
    return 0;
}

int aal_to_bool(PyObject *obj, const char *what, bool *out)
{
    if (!PyLong_Check(obj)) { /* bool is an int */
        PyErr_Format(PyExc_TypeError, "%s must be a bool, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    int truth = PyObject_IsTrue(obj);
    if (truth < 0)
        return -1;
    *out = truth != 0;
    return 0;
}

int aal_to_micros(PyObject *obj, PyObject *timedelta_type, const char *what, int64_t *out)
{
    double seconds;
    int is_delta = PyObject_IsInstance(obj, timedelta_type);
    if (is_delta < 0)
        return -1;
    if (is_delta) {
        /* days, seconds, microseconds: exact, no float rounding. */
        PyObject *parts[3] = {NULL, NULL, NULL};
        static const char *names[3] = {"days", "seconds", "microseconds"};
        long long v[3];
        for (int i = 0; i < 3; i++) {
            parts[i] = PyObject_GetAttrString(obj, names[i]);
            if (!parts[i])
                goto fail;
            v[i] = PyLong_AsLongLong(parts[i]);
            Py_CLEAR(parts[i]);
            if (v[i] == -1 && PyErr_Occurred())
                goto fail;
        }
        /* Days first: beyond 1e8 the product below would overflow. */
        int64_t us = v[0] > 100000000LL || v[0] < -100000000LL
                         ? INT64_MAX
                         : (int64_t)((v[0] * 86400LL + v[1]) * 1000000LL + v[2]);
        if (us > (int64_t)(AAL_MAX_SECONDS * 1e6) || us < -(int64_t)(AAL_MAX_SECONDS * 1e6)) {
            PyErr_Format(PyExc_ValueError, "%s is out of range (at most 1e10 seconds)", what);
            return -1;
        }
        *out = us;
        return 0;
    fail:
        return -1;
    }
    if (aal_to_finite_double(obj, what, &seconds) < 0) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "%s must be a datetime.timedelta or a number of seconds, not %.100s",
                         what, Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    if (fabs(seconds) > AAL_MAX_SECONDS) {
        PyErr_Format(PyExc_ValueError, "%s is out of range (at most 1e10 seconds)", what);
        return -1;
    }
    *out = (int64_t)llround(seconds * 1e6);
    return 0;
}

int aal_call_bool_method(PyObject *obj, PyObject *name)
{
    PyObject *r = PyObject_CallMethodNoArgs(obj, name);
    if (!r)
        return -1;
    int truth = PyObject_IsTrue(r);
    Py_DECREF(r);
    return truth;
}

int aal_parse_args(const char *func, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                   const char *const *names, int n_names, int n_positional, int n_required,
                   PyObject **out)
{
    if (nargs > n_positional) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional arguments (%zd given)",
                     func, n_positional, nargs);
        return -1;
    }
    for (int i = 0; i < n_names; i++)
        out[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int i = 0;
        while (i < n_names && PyUnicode_CompareWithASCIIString(key, names[i]) != 0)
            i++;
        if (i == n_names) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", func,
                         key);
            return -1;
        }
        if (out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", func,
                         names[i]);
            return -1;
        }
        out[i] = args[nargs + k];
    }
    for (int i = 0; i < n_required; i++) {
        if (!out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", func,
                         names[i]);
            return -1;
        }
    }
    return 0;
}
