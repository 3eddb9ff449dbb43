/* compat.h - what newer CPython versions provide, for 3.9 and 3.10. */
#ifndef AAL_COMPAT_H
#define AAL_COMPAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *aal_Py_NewRef(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
static inline PyObject *aal_Py_XNewRef(PyObject *o)
{
    Py_XINCREF(o);
    return o;
}
#define Py_NewRef(o) aal_Py_NewRef((PyObject *)(o))
#define Py_XNewRef(o) aal_Py_XNewRef((PyObject *)(o))

static inline int PyModule_AddObjectRef(PyObject *m, const char *name, PyObject *v)
{
    Py_INCREF(v);
    if (PyModule_AddObject(m, name, v) < 0) {
        Py_DECREF(v);
        return -1;
    }
    return 0;
}
#endif

#endif
