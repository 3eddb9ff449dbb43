/* loop_relay.c - the call_soon_threadsafe relay thread. */
#include "loop_relay.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "platform.h"

struct aal_relay {
    aal_thread thread;
    int watch_fd;
    int stop_r, stop_w;
    PyObject *loop;     /* touched only with the GIL */
    PyObject *callback; /* touched only with the GIL */
    PyObject *method;   /* "call_soon_threadsafe" */
    long pid;           /* the process whose thread this is */
};

static int interpreter_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

static void *relay_main(void *arg)
{
    aal_relay *r = arg;
    aal_thread_set_name("aalink-relay");
    while (aal_wakefd_wait(r->watch_fd, r->stop_r) == 1) {
        aal_wakefd_drain(r->watch_fd);
        /* Never take the GIL once finalization has begun: it would hang or
         * kill this thread. */
        if (interpreter_finalizing())
            break;
        PyGILState_STATE g = PyGILState_Ensure();
        PyObject *res = PyObject_CallMethodOneArg(r->loop, r->method, r->callback);
        if (res)
            Py_DECREF(res);
        else
            PyErr_Clear(); /* a closed loop: nothing to deliver to */
        PyGILState_Release(g);
    }
    return NULL;
}

aal_relay *aal_relay_start(int watch_fd, PyObject *loop, PyObject *callback)
{
    aal_relay *r = calloc(1, sizeof *r);
    if (!r) {
        PyErr_NoMemory();
        return NULL;
    }
    r->watch_fd = watch_fd;
    r->pid = aal_process_id();
    if (aal_wakefd_open(&r->stop_r, &r->stop_w) != 0) {
        free(r);
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    r->method = PyUnicode_InternFromString("call_soon_threadsafe");
    if (!r->method) {
        aal_wakefd_close(r->stop_r, r->stop_w);
        free(r);
        return NULL;
    }
    r->loop = Py_NewRef(loop);
    r->callback = Py_NewRef(callback);
    int rc = aal_thread_start(&r->thread, relay_main, r);
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(r->loop);
        Py_DECREF(r->callback);
        Py_DECREF(r->method);
        aal_wakefd_close(r->stop_r, r->stop_w);
        free(r);
        return NULL;
    }
    return r;
}

void aal_relay_stop(aal_relay *r)
{
    if (!r)
        return;
    if (r->pid != aal_process_id()) {
        /* A forked child: the thread is the parent's.  Leak, don't join. */
        return;
    }
    aal_wakefd_signal(r->stop_w);
    /* The relay may be waiting for the GIL: let it have it while we join. */
    Py_BEGIN_ALLOW_THREADS
    aal_thread_join(r->thread);
    Py_END_ALLOW_THREADS
    aal_wakefd_close(r->stop_r, r->stop_w);
    Py_DECREF(r->loop);
    Py_DECREF(r->callback);
    Py_DECREF(r->method);
    free(r);
}
