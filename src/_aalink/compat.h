/* compat.h - what newer CPython versions provide, for the oldest we support
 * (3.9).  Each shim is a small inline function or macro with the newer
 * API's name and meaning; nothing here takes a lock or needs a thread of
 * its own.  GIL: every function here must be called with it held. */
#ifndef AAL_COMPAT_H
#define AAL_COMPAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h> /* T_PYSSIZET, READONLY: Py_-prefixed in 3.12 */
#endif

/* ---- 3.10: Py_NewRef, Py_XNewRef, PyModule_AddObjectRef ---- */
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

/* ---- 3.10: type flags ----
 * On 3.9 these flags do not exist and mean nothing:
 *  - Py_TPFLAGS_IMMUTABLETYPE is 0: the attributes of our types can be set
 *    and deleted from Python (as for any heap type on 3.9); nothing of ours
 *    depends on them staying put.
 *  - Py_TPFLAGS_DISALLOW_INSTANTIATION is 0, and aal_disallow_instantiation
 *    does what the flag does on 3.10+: it clears the type's tp_new after
 *    PyType_FromModuleAndSpec, so calling the type raises TypeError instead
 *    of making an uninitialised instance. */
#ifndef Py_TPFLAGS_IMMUTABLETYPE
#define Py_TPFLAGS_IMMUTABLETYPE 0
#endif
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define Py_TPFLAGS_DISALLOW_INSTANTIATION 0
#define AAL_NEED_DISALLOW_INSTANTIATION 1
#endif

/* Call right after creating a type whose spec has
 * Py_TPFLAGS_DISALLOW_INSTANTIATION; a no-op where the flag exists. */
static inline void aal_disallow_instantiation(PyTypeObject *type)
{
#ifdef AAL_NEED_DISALLOW_INSTANTIATION
    type->tp_new = NULL;
    PyType_Modified(type);
#else
    (void)type;
#endif
}

/* ---- 3.12: Py_T_PYSSIZET, Py_READONLY; the raised-exception API ---- */
#if PY_VERSION_HEX < 0x030C0000
#define Py_T_PYSSIZET T_PYSSIZET
#define Py_READONLY READONLY

/* The exception being raised, normalized, with its traceback attached, or
 * NULL; the error indicator is cleared.  A new reference. */
static inline PyObject *aal_PyErr_GetRaisedException(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

/* Raises exc (a reference is stolen), or clears the error indicator when
 * exc is NULL. */
static inline void aal_PyErr_SetRaisedException(PyObject *exc)
{
    if (!exc) {
        PyErr_Clear();
        return;
    }
    PyObject *type = (PyObject *)Py_TYPE(exc);
    Py_INCREF(type);
    PyErr_Restore(type, exc, PyException_GetTraceback(exc));
}
#define PyErr_GetRaisedException aal_PyErr_GetRaisedException
#define PyErr_SetRaisedException aal_PyErr_SetRaisedException
#endif

/* ---- 3.13: PyWeakref_GetRef ---- */
#if PY_VERSION_HEX < 0x030D0000
/* *pobj = a new reference to the referent, or NULL if it is dead.
 * 1 (alive), 0 (dead), or -1 with TypeError if ref is not a weak reference. */
static inline int aal_PyWeakref_GetRef(PyObject *ref, PyObject **pobj)
{
    if (!PyWeakref_Check(ref)) {
        *pobj = NULL;
        PyErr_SetString(PyExc_TypeError, "expected a weakref");
        return -1;
    }
    PyObject *obj = PyWeakref_GetObject(ref);
    if (obj == Py_None) {
        *pobj = NULL;
        return 0;
    }
    *pobj = Py_NewRef(obj);
    return 1;
}
#define PyWeakref_GetRef aal_PyWeakref_GetRef
#endif

#endif
