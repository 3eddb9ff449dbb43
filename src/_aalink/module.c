/* module.c - aalink._aalink: multi-phase init, module state, exit hook.
 * Thread: exec and clear run on the importing thread; the exit hook runs
 * on the thread that runs atexit handlers.  GIL: held throughout. */
#include "module_state.h"

#include "link_object.h"
#include "loop_waker.h"

#ifndef AAL_LINK_VERSION
#define AAL_LINK_VERSION unknown /* built without setup.py */
#endif
#define AAL_STRINGIFY_(x) #x
#define AAL_STRINGIFY(x) AAL_STRINGIFY_(x)

static struct PyModuleDef aalink_module;

static aalink_state *get_state(PyObject *module)
{
    return (aalink_state *)PyModule_GetState(module);
}

aalink_state *aalink_state_of_type(PyTypeObject *type)
{
    /* Link cannot be subclassed, so its module is the defining one. */
    PyObject *module = PyType_GetModule(type);
    return module ? get_state(module) : NULL;
}

/* atexit hook: stop every scheduler thread and Link's own threads while the
 * interpreter is still whole, so nothing native runs during finalization. */
static PyObject *aalink_shutdown(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    aalink_state *st = get_state(module);
    for (LinkObject *link = st->live_links; link; link = link->next_live)
        link_close_native(link);
    Py_RETURN_NONE;
}

static PyMethodDef aalink_methods[] = {
    {"_shutdown", aalink_shutdown, METH_NOARGS,
     "Stop every Link of this interpreter (run at interpreter exit)."},
    {NULL, NULL, 0, NULL},
};

static int intern(PyObject **slot, const char *name)
{
    *slot = PyUnicode_InternFromString(name);
    return *slot ? 0 : -1;
}

/* *slot = module_name.attr (a new reference). */
static int import_attr(PyObject **slot, const char *module_name, const char *attr)
{
    PyObject *mod = PyImport_ImportModule(module_name);
    if (!mod)
        return -1;
    *slot = PyObject_GetAttrString(mod, attr);
    Py_DECREF(mod);
    return *slot ? 0 : -1;
}

static int aalink_exec(PyObject *module)
{
    aalink_state *st = get_state(module);

    st->LoopWaker_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &LoopWaker_spec, NULL);
    if (!st->LoopWaker_type)
        return -1;
    aal_disallow_instantiation(st->LoopWaker_type); /* 3.9: see compat.h */
    st->Link_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Link_spec, NULL);
    if (!st->Link_type)
        return -1;
    if (PyModule_AddObjectRef(module, "Link", (PyObject *)st->Link_type) < 0)
        return -1;
    /* Which Ableton Link the shim was built against: setup.py passes
     * AAL_LINK_VERSION as a bare pp-number (4.0, 3.0.6), made a string here. */
    if (PyModule_AddStringConstant(module, "LINK_VERSION", AAL_STRINGIFY(AAL_LINK_VERSION)) < 0)
        return -1;

    if (import_attr(&st->timedelta, "datetime", "timedelta") < 0 ||
        import_attr(&st->get_running_loop, "asyncio.events", "_get_running_loop") < 0 ||
        import_attr(&st->future_type, "asyncio.futures", "Future") < 0)
        return -1;
    st->watch_context = PyContext_New();
    if (!st->watch_context)
        return -1;

    if (intern(&st->str_create_future, "create_future") < 0 ||
        intern(&st->str_add_done_callback, "add_done_callback") < 0 ||
        intern(&st->str_remove_done_callback, "remove_done_callback") < 0 ||
        intern(&st->str_set_result, "set_result") < 0 || intern(&st->str_done, "done") < 0 ||
        intern(&st->str_add_reader, "add_reader") < 0 ||
        intern(&st->str_remove_reader, "remove_reader") < 0 ||
        intern(&st->str_is_closed, "is_closed") < 0 ||
        intern(&st->str_is_running, "is_running") < 0 ||
        intern(&st->str_call_soon_threadsafe, "call_soon_threadsafe") < 0 ||
        intern(&st->str_call_exception_handler, "call_exception_handler") < 0)
        return -1;
    /* Interned, so that argument parsing matches it by identity. */
    PyObject *context_name = PyUnicode_InternFromString("context");
    st->kw_context = context_name ? PyTuple_Pack(1, context_name) : NULL;
    Py_XDECREF(context_name);
    if (!st->kw_context)
        return -1;

    /* atexit runs handlers last-registered first: those a program registers
     * after importing aalink still find their Links working. */
    PyObject *atexit = PyImport_ImportModule("atexit");
    if (!atexit)
        return -1;
    PyObject *hook = PyObject_GetAttrString(module, "_shutdown");
    PyObject *r = hook ? PyObject_CallMethod(atexit, "register", "O", hook) : NULL;
    Py_XDECREF(hook);
    Py_DECREF(atexit);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int aalink_traverse(PyObject *module, visitproc visit, void *arg)
{
    aalink_state *st = get_state(module);
    Py_VISIT(st->Link_type);
    Py_VISIT(st->LoopWaker_type);
    Py_VISIT(st->timedelta);
    Py_VISIT(st->get_running_loop);
    Py_VISIT(st->future_type);
    Py_VISIT(st->watch_context);
    return 0;
}

static int aalink_clear(PyObject *module)
{
    aalink_state *st = get_state(module);
    Py_CLEAR(st->Link_type);
    Py_CLEAR(st->LoopWaker_type);
    Py_CLEAR(st->timedelta);
    Py_CLEAR(st->get_running_loop);
    Py_CLEAR(st->future_type);
    Py_CLEAR(st->watch_context);
    Py_CLEAR(st->kw_context);
    Py_CLEAR(st->str_create_future);
    Py_CLEAR(st->str_add_done_callback);
    Py_CLEAR(st->str_remove_done_callback);
    Py_CLEAR(st->str_set_result);
    Py_CLEAR(st->str_done);
    Py_CLEAR(st->str_add_reader);
    Py_CLEAR(st->str_remove_reader);
    Py_CLEAR(st->str_is_closed);
    Py_CLEAR(st->str_is_running);
    Py_CLEAR(st->str_call_soon_threadsafe);
    Py_CLEAR(st->str_call_exception_handler);
    return 0;
}

static void aalink_free(void *module)
{
    aalink_clear((PyObject *)module);
}

static PyModuleDef_Slot aalink_slots[] = {
    {Py_mod_exec, aalink_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* State is per module; the only process-wide state (the fork
     * registry) has its own lock. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    /* Link objects rely on the GIL to guard their Python-side fields. */
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef aalink_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "aalink._aalink",
    .m_doc = "Native core of aalink: the Link type over Ableton Link.",
    .m_size = sizeof(aalink_state),
    .m_methods = aalink_methods,
    .m_slots = aalink_slots,
    .m_traverse = aalink_traverse,
    .m_clear = aalink_clear,
    .m_free = aalink_free,
};

PyMODINIT_FUNC PyInit__aalink(void)
{
    return PyModuleDef_Init(&aalink_module);
}
