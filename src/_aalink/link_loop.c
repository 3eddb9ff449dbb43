/* link_loop.c - choosing and binding the event loop a Link delivers to.
 *
 * One function, decide(), classifies the situation (the bound loop, the
 * loop running on this thread, whether the bound one runs or is closed) and
 * says what to do; sync() and the opportunistic attach (construction, a
 * new callback, _attach_loop) both act on its answer. */
#include "link_object.h"

#include "audio.h"
#include "convert.h"
#include "loop_waker.h"

/* Forgets the bound loop: unregisters its waker and drops its futures. */
void link_detach_loop(LinkObject *self)
{
    if (self->sched && !self->closed)
        aal_sched_set_wake_fd(self->sched, -1);
    link_release_hold(self); /* the caller holds a reference to self */
    if (self->waker) {
        PyObject *waker = self->waker;
        self->waker = NULL;
        loop_waker_detach(waker);
        Py_DECREF(waker);
    }
    if (self->sched && !aal_sched_forked(self->sched)) {
        aal_batch batch;
        aal_sched_take_all(self->sched, &batch);
        for (size_t i = 0; i < batch.n_ready; i++)
            link_release_future(self, batch.ready[i].ptr);
        aal_batch_release(&batch);
    }
    self->done_pending = 0;
    Py_CLEAR(self->on_future_done);
    Py_CLEAR(self->loop);
}

/* Binds to `loop` and registers the waker; the caller has checked that
 * this thread may touch the loop (it runs here, or not at all). */
static int attach(LinkObject *self, PyObject *loop)
{
    PyObject *waker = loop_waker_attach(self->state, loop, (PyObject *)self,
                                        &link_waker_client);
    if (!waker)
        return -1;
    /* Without a waker no future was ever handed out: keep the events that
     * Link recorded before this first attach (detaching would drop them). */
    if (self->waker)
        link_detach_loop(self);
    PyObject *on_done = loop_waker_future_done_callback(waker);
    if (!on_done) {
        loop_waker_detach(waker);
        Py_DECREF(waker);
        return -1;
    }
    Py_XSETREF(self->on_future_done, on_done);
    Py_XSETREF(self->loop, Py_NewRef(loop));
    self->waker = waker;
    aal_sched_set_wake_fd(self->sched, loop_waker_write_fd(waker));
    return 0;
}

/* Asks the loop's own thread to register the waker (the loop runs on
 * another thread, where add_reader must be called). */
static int schedule_attach(LinkObject *self)
{
    PyObject *method = PyObject_GetAttrString((PyObject *)self, "_attach_loop");
    if (!method)
        return -1;
    PyObject *r = PyObject_CallMethodOneArg(self->loop, self->state->str_call_soon_threadsafe,
                                            method);
    Py_DECREF(method);
    if (!r)
        PyErr_Clear(); /* the loop is closing: a later sync() binds a new one */
    Py_XDECREF(r);
    return 0;
}

/* Whether the caller must come away with a usable loop (sync()) or only
 * registers when it can (construction, callbacks). */
enum loop_need { NEED_LOOP, IF_SAFE };

enum loop_action {
    KEEP,           /* nothing to do */
    ATTACH_RUNNING, /* bind to the loop running on this thread */
    ATTACH_BOUND,   /* register with the bound loop from this thread */
    SCHEDULE,       /* the bound loop runs elsewhere: register there */
    ERR_NO_LOOP,    /* sync() with no loop at all */
    ERR_OTHER_LOOP, /* sync() in another loop while the bound one is open */
    ERR_WRONG_THREAD, /* sync() off the thread running the bound loop */
    ERR_RAISED,     /* asking the loop raised: the exception is set */
    LET_GO,         /* the bound loop is closed: drop its futures (and their
                     * hold on the Link), keep no loop */
    LET_GO_NO_LOOP, /* the same, then sync() has no loop at all */
};

/* The one decision table.  `running` is asyncio's running loop on this
 * thread, or None; the bound loop is asked is_running()/is_closed() only
 * when the answer depends on it. */
static enum loop_action decide(LinkObject *self, PyObject *running, enum loop_need need)
{
    PyObject *bound = self->loop;
    aalink_state *st = self->state;
    if (!bound) {
        if (running != Py_None)
            return ATTACH_RUNNING;
        return need == NEED_LOOP ? ERR_NO_LOOP : KEEP;
    }
    if (running == bound)
        return self->waker ? KEEP : ATTACH_BOUND;
    if (need == NEED_LOOP && running != Py_None) {
        /* Another loop runs here.  A closed bound loop is gone (a second
         * asyncio.run): follow the running one. */
        int closed = aal_call_bool_method(bound, st->str_is_closed);
        return closed < 0 ? ERR_RAISED : closed ? ATTACH_RUNNING : ERR_OTHER_LOOP;
    }
    int is_running = aal_call_bool_method(bound, st->str_is_running);
    if (is_running < 0)
        return ERR_RAISED;
    if (is_running)
        return need == NEED_LOOP ? ERR_WRONG_THREAD : SCHEDULE; /* Link(bpm, loop) */
    /* Neither runs: is the bound loop closed?  Then it can take no
     * delivery, and its futures let go of the Link. */
    int closed = aal_call_bool_method(bound, st->str_is_closed);
    if (closed < 0)
        return ERR_RAISED;
    if (closed)
        return need == NEED_LOOP ? LET_GO_NO_LOOP : LET_GO;
    if (need == NEED_LOOP) /* no loop runs here, nor does the bound one */
        return self->waker ? KEEP : ATTACH_BOUND;
    return running == Py_None ? ATTACH_BOUND : KEEP;
}

/* Carries out decide()'s answer.  0, or -1 with an exception. */
static int bind_loop(LinkObject *self, enum loop_need need)
{
    PyObject *running = PyObject_CallNoArgs(self->state->get_running_loop);
    if (!running)
        return -1;
    int rc = -1;
    enum loop_action action = decide(self, running, need);
    if (self->loop && (action == ATTACH_RUNNING || action == LET_GO || action == LET_GO_NO_LOOP))
        audio_link_loop_closed(self); /* the bound loop closed: so do its sources */
    switch (action) {
    case KEEP:
        rc = 0;
        break;
    case ATTACH_RUNNING:
        rc = attach(self, running);
        break;
    case ATTACH_BOUND:
        rc = attach(self, self->loop);
        break;
    case SCHEDULE:
        rc = schedule_attach(self);
        break;
    case LET_GO:
        link_detach_loop(self);
        rc = 0;
        break;
    case LET_GO_NO_LOOP:
        link_detach_loop(self);
        /* fall through */
    case ERR_NO_LOOP:
        PyErr_SetString(PyExc_RuntimeError,
                        "Link.sync() needs an event loop: call it from a coroutine, or "
                        "create the Link with Link(bpm, loop)");
        break;
    case ERR_OTHER_LOOP:
        PyErr_SetString(PyExc_RuntimeError,
                        "this Link belongs to another event loop that is still open; "
                        "create one Link per event loop");
        break;
    case ERR_WRONG_THREAD:
        PyErr_SetString(PyExc_RuntimeError,
                        "Link.sync() was called from a thread that is not running the "
                        "Link's event loop; use asyncio.run_coroutine_threadsafe()");
        break;
    case ERR_RAISED:
        break;
    }
    /* Real-time mode: the thread that runs the loop is raised from itself. */
    if (rc == 0 && self->rt_priority && running == self->loop)
        rc = link_realtime_on_loop_thread(self);
    Py_DECREF(running);
    return rc;
}

PyObject *link_loop_for_sync(LinkObject *self)
{
    return bind_loop(self, NEED_LOOP) < 0 ? NULL : self->loop;
}

int link_try_attach(LinkObject *self)
{
    if (self->waker || self->closed)
        return 0;
    return bind_loop(self, IF_SAFE);
}

AAL_DOC(Link_attach_loop_doc,
        "Internal: register with the Link's loop (called on the loop's thread).");

PyObject *Link_attach_loop(LinkObject *self, PyObject *Py_UNUSED(ignored))
{
    if (link_try_attach(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}
