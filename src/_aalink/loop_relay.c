/* loop_relay.c - the call_soon_threadsafe relay, for loops without
 * add_reader.
 *
 * Posting loop.call_soon_threadsafe(callback) needs the GIL, and a thread
 * that waits for the GIL starves while the loop runs Python callbacks back
 * to back (each voluntary release between them is taken back at once, which
 * resets the waiter's 5 ms switch request).  So two threads share the work.
 * The relay thread waits on the wake descriptor and never waits for the GIL:
 * for a loop on the main thread of the main interpreter it asks the main
 * thread to post the callback with Py_AddPendingCall (no GIL needed; run
 * between two bytecodes, within microseconds while that thread runs Python,
 * which is exactly when the GIL is contended).  Each wake-up also goes to a
 * second thread that takes the GIL and posts the callback itself, which is
 * what delivers when the main thread runs no Python (an idle loop waits in
 * its selector with the GIL released, so that thread gets it at once).
 * Whichever posts second posts a callback with nothing to deliver: harmless. */
#include "loop_relay.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "platform.h"

struct aal_relay {
    aal_thread thread;     /* waits on watch_fd */
    aal_thread gil_thread; /* takes the GIL to post */
    int watch_fd;
    int stop_r, stop_w;
    PyObject *loop;     /* touched only with the GIL, until stopped */
    PyObject *callback; /* touched only with the GIL, until stopped */
    PyObject *method;   /* "call_soon_threadsafe" */
    long pid;           /* the process whose threads these are */
    bool use_pending;   /* the loop runs on the main thread of the main
                         * interpreter, where Py_AddPendingCall runs */
    int rt_priority;    /* aal_relay_set_realtime (GIL held): 0, normal */
    aal_rt_saved rt_saved[2]; /* thread, gil_thread */

    aal_mutex mu; /* guards the fields below */
    aal_cond gil_cond;
    bool gil_wanted;  /* the GIL thread should post once more */
    int pending_refs; /* pending calls queued and not run yet */
    bool stopped;     /* stop the GIL thread; queued pending calls do nothing */
    bool abandoned;   /* aal_relay_stop is done: the last pending call frees */
};

static int interpreter_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

static void relay_free(aal_relay *r)
{
    aal_cond_destroy(&r->gil_cond);
    aal_mutex_destroy(&r->mu);
    free(r);
}

/* Posts the callback to the loop; GIL held.  Errors (a closed loop) are
 * dropped: there is nothing to deliver to. */
static void post_callback(aal_relay *r)
{
    PyObject *in_flight = PyErr_GetRaisedException();
    PyObject *res = PyObject_CallMethodOneArg(r->loop, r->method, r->callback);
    if (res)
        Py_DECREF(res);
    else
        PyErr_Clear();
    PyErr_SetRaisedException(in_flight);
}

/* Runs on the main thread, with the GIL, between two bytecodes. */
static int pending_post(void *arg)
{
    aal_relay *r = arg;
    aal_mutex_lock(&r->mu);
    r->pending_refs--;
    bool stopped = r->stopped;
    bool last = r->abandoned && r->pending_refs == 0;
    aal_mutex_unlock(&r->mu);
    if (last)
        relay_free(r); /* aal_relay_stop left the struct to us */
    else if (!stopped)
        post_callback(r);
    return 0;
}

static void post_through_main_thread(aal_relay *r)
{
    aal_mutex_lock(&r->mu);
    r->pending_refs++;
    aal_mutex_unlock(&r->mu);
    if (Py_AddPendingCall(pending_post, r) != 0) {
        aal_mutex_lock(&r->mu);
        r->pending_refs--; /* the queue is full: the GIL thread delivers */
        aal_mutex_unlock(&r->mu);
    }
}

static void *relay_main(void *arg)
{
    aal_relay *r = arg;
    aal_thread_set_name("aalink-relay");
    while (aal_wakefd_wait(r->watch_fd, r->stop_r) == 1) {
        aal_wakefd_clear(r->watch_fd);
        /* Queue no Python work once finalization has begun. */
        if (interpreter_finalizing())
            break;
        if (r->use_pending)
            post_through_main_thread(r);
        aal_mutex_lock(&r->mu);
        r->gil_wanted = true;
        aal_cond_signal(&r->gil_cond);
        aal_mutex_unlock(&r->mu);
    }
    return NULL;
}

static void *gil_main(void *arg)
{
    aal_relay *r = arg;
    aal_thread_set_name("aalink-relay");
    for (;;) {
        aal_mutex_lock(&r->mu);
        while (!r->gil_wanted && !r->stopped)
            aal_cond_wait(&r->gil_cond, &r->mu);
        bool stop = r->stopped;
        r->gil_wanted = false;
        aal_mutex_unlock(&r->mu);
        /* Never take the GIL once finalization has begun: it would hang or
         * kill this thread. */
        if (stop || interpreter_finalizing())
            break;
        PyGILState_STATE g = PyGILState_Ensure();
        post_callback(r);
        PyGILState_Release(g);
    }
    return NULL;
}

/* 1 on the main thread, 0 elsewhere, -1 when it cannot tell. */
static int on_main_thread(void)
{
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *main = threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
    PyObject *ident = main ? PyObject_GetAttrString(main, "ident") : NULL;
    int rc = -1;
    if (ident && PyLong_Check(ident))
        rc = PyLong_AsUnsignedLong(ident) == PyThread_get_thread_ident();
    Py_XDECREF(ident);
    Py_XDECREF(main);
    Py_XDECREF(threading);
    PyErr_Clear();
    return rc;
}

aal_relay *aal_relay_start(int watch_fd, PyObject *loop, PyObject *callback)
{
    aal_relay *r = calloc(1, sizeof *r);
    if (!r) {
        PyErr_NoMemory();
        return NULL;
    }
    if (aal_mutex_init(&r->mu) != 0) {
        free(r);
        PyErr_NoMemory();
        return NULL;
    }
    if (aal_cond_init(&r->gil_cond) != 0) {
        aal_mutex_destroy(&r->mu);
        free(r);
        PyErr_NoMemory();
        return NULL;
    }
    r->watch_fd = watch_fd;
    r->pid = aal_process_id();
    /* Pending calls run on the main thread of the main interpreter; the
     * relay is started on the loop's thread (or before it runs). */
    r->use_pending = PyInterpreterState_Get() == PyInterpreterState_Main() &&
                     on_main_thread() == 1;
    if (aal_wakefd_open(&r->stop_r, &r->stop_w) != 0) {
        relay_free(r);
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    r->method = PyUnicode_InternFromString("call_soon_threadsafe");
    if (!r->method) {
        aal_wakefd_close(r->stop_r, r->stop_w);
        relay_free(r);
        return NULL;
    }
    r->loop = Py_NewRef(loop);
    r->callback = Py_NewRef(callback);
    int rc = aal_thread_start(&r->gil_thread, gil_main, r);
    if (rc == 0) {
        rc = aal_thread_start(&r->thread, relay_main, r);
        if (rc != 0) {
            aal_mutex_lock(&r->mu);
            r->stopped = true;
            aal_cond_signal(&r->gil_cond);
            aal_mutex_unlock(&r->mu);
            Py_BEGIN_ALLOW_THREADS
            aal_thread_join(r->gil_thread);
            Py_END_ALLOW_THREADS
        }
    }
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(r->loop);
        Py_DECREF(r->callback);
        Py_DECREF(r->method);
        aal_wakefd_close(r->stop_r, r->stop_w);
        relay_free(r);
        return NULL;
    }
    return r;
}

int aal_relay_set_realtime(aal_relay *r, int priority)
{
    if (!r || priority == r->rt_priority || r->pid != aal_process_id())
        return 0; /* (first the cheap test: every sync() asks) */
    if (r->rt_priority) {
        aal_rt_restore(r->thread, &r->rt_saved[0]);
        aal_rt_restore(r->gil_thread, &r->rt_saved[1]);
    }
    r->rt_priority = 0;
    if (priority == 0)
        return 0;
    int rc = aal_rt_raise(r->thread, priority, &r->rt_saved[0]);
    if (rc == 0) {
        rc = aal_rt_raise(r->gil_thread, priority, &r->rt_saved[1]);
        if (rc != 0)
            aal_rt_restore(r->thread, &r->rt_saved[0]);
    }
    if (rc == 0)
        r->rt_priority = priority;
    return rc;
}

int aal_relay_traverse(aal_relay *r, visitproc visit, void *arg)
{
    if (r) {
        Py_VISIT(r->loop);
        Py_VISIT(r->callback);
    }
    return 0;
}

void aal_relay_stop(aal_relay *r)
{
    if (!r)
        return;
    if (r->pid != aal_process_id()) {
        /* A forked child: the thread is the parent's.  Leak, don't join. */
        return;
    }
    aal_mutex_lock(&r->mu);
    r->stopped = true;
    aal_cond_signal(&r->gil_cond);
    aal_mutex_unlock(&r->mu);
    aal_wakefd_signal(r->stop_w);
    /* The GIL thread may be waiting for the GIL: let it have it while we
     * join. */
    Py_BEGIN_ALLOW_THREADS
    aal_thread_join(r->thread);
    aal_thread_join(r->gil_thread);
    Py_END_ALLOW_THREADS
    aal_wakefd_close(r->stop_r, r->stop_w);
    Py_CLEAR(r->loop);
    Py_CLEAR(r->callback);
    Py_CLEAR(r->method);
    /* A pending call still queued frees the struct when it runs (a call
     * that never runs leaves it behind: a few bytes, at exit). */
    aal_mutex_lock(&r->mu);
    bool queued = r->pending_refs > 0;
    r->abandoned = queued;
    aal_mutex_unlock(&r->mu);
    if (!queued)
        relay_free(r);
}
