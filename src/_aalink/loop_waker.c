/* loop_waker.c - LoopWaker: a wake descriptor registered with a loop. */
#include "loop_waker.h"

#include "convert.h"
#include "link_object.h"
#include "loop_relay.h"
#include "platform.h"

typedef struct {
    PyObject_HEAD
    aalink_state *state;
    int read_fd, write_fd; /* -1 once closed */
    PyObject *loop;
    PyObject *link_ref; /* weak reference to the Link */
    aal_relay *relay;   /* for loops without add_reader, else NULL */
} LoopWakerObject;

static int LoopWaker_traverse(LoopWakerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->loop);
    Py_VISIT(self->link_ref);
    return 0;
}

static int LoopWaker_clear(LoopWakerObject *self)
{
    Py_CLEAR(self->loop);
    Py_CLEAR(self->link_ref);
    return 0;
}

static void LoopWaker_dealloc(LoopWakerObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    /* Only reached once no selector holds our drain method, so closing
     * here cannot leave a stale registration behind. */
    aal_wakefd_close(self->read_fd, self->write_fd);
    self->read_fd = self->write_fd = -1;
    LoopWaker_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp); /* the hidden reference of loop_waker_attach */
    Py_DECREF(tp);
}

/* The add_reader callback: runs on the loop's thread. */
static PyObject *LoopWaker_drain(LoopWakerObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->read_fd < 0)
        Py_RETURN_NONE;
    aal_wakefd_drain(self->read_fd);
    PyObject *link = self->link_ref ? PyWeakref_GetObject(self->link_ref) : Py_None;
    if (link == NULL)
        return NULL;
    if (link == Py_None)
        Py_RETURN_NONE;
    Py_INCREF(link);
    int rc = link_drain((LinkObject *)link);
    Py_DECREF(link);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Done-callback of the Link's pending futures: watches for cancellation. */
static PyObject *LoopWaker_future_done(LoopWakerObject *self, PyObject *fut)
{
    (void)fut;
    PyObject *link = self->link_ref ? PyWeakref_GetObject(self->link_ref) : Py_None;
    if (link == NULL)
        return NULL;
    if (link != Py_None) {
        Py_INCREF(link);
        link_future_done((LinkObject *)link);
        Py_DECREF(link);
    }
    Py_RETURN_NONE;
}

static PyObject *LoopWaker_close(LoopWakerObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->read_fd < 0)
        Py_RETURN_NONE;
    if (self->relay) {
        aal_relay *relay = self->relay;
        self->relay = NULL;
        aal_relay_stop(relay);
    }
    else if (self->loop) {
        PyObject *closed = PyObject_CallMethodNoArgs(self->loop, self->state->str_is_closed);
        int is_closed = closed ? PyObject_IsTrue(closed) : -1;
        Py_XDECREF(closed);
        if (is_closed == 0) {
            PyObject *fd = PyLong_FromLong(self->read_fd);
            PyObject *r = fd ? PyObject_CallMethodOneArg(self->loop, self->state->str_remove_reader, fd)
                             : NULL;
            Py_XDECREF(fd);
            Py_XDECREF(r);
        }
        /* A loop that fails these checks cannot hold our descriptor any
         * more: close it regardless. */
        PyErr_Clear();
    }
    aal_wakefd_close(self->read_fd, self->write_fd);
    self->read_fd = self->write_fd = -1;
    Py_RETURN_NONE;
}

static PyMethodDef LoopWaker_methods[] = {
    {"_drain", (PyCFunction)LoopWaker_drain, METH_NOARGS, "Resolve what is due (loop thread)."},
    {"close", (PyCFunction)LoopWaker_close, METH_NOARGS, "Unregister and close the descriptor."},
    {"_future_done", (PyCFunction)LoopWaker_future_done, METH_O,
     "Done-callback of pending futures (cancellation)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot LoopWaker_slots[] = {
    {Py_tp_dealloc, LoopWaker_dealloc},
    {Py_tp_traverse, LoopWaker_traverse},
    {Py_tp_clear, LoopWaker_clear},
    {Py_tp_methods, LoopWaker_methods},
    {Py_tp_doc, "Internal: wakes an asyncio loop for a Link."},
    {0, NULL},
};

PyType_Spec LoopWaker_spec = {
    .name = "aalink._aalink._LoopWaker",
    .basicsize = sizeof(LoopWakerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = LoopWaker_slots,
};

PyObject *loop_waker_attach(aalink_state *state, PyObject *loop, PyObject *link)
{
    LoopWakerObject *self = PyObject_GC_New(LoopWakerObject, state->LoopWaker_type);
    if (!self)
        return NULL;
    /* Hidden from the GC, as in Link_new: the module, and so self->state,
     * outlives this waker even when exit collects them in one cycle. */
    Py_INCREF(state->LoopWaker_type);
    self->state = state;
    self->read_fd = self->write_fd = -1;
    self->loop = Py_NewRef(loop);
    self->link_ref = NULL;
    self->relay = NULL;
    PyObject_GC_Track(self);

    self->link_ref = PyWeakref_NewRef(link, NULL);
    if (!self->link_ref)
        goto fail;
    if (aal_wakefd_open(&self->read_fd, &self->write_fd) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto fail;
    }
    PyObject *drain = PyObject_GetAttrString((PyObject *)self, "_drain");
    if (!drain)
        goto fail;
    PyObject *fd = PyLong_FromLong(self->read_fd);
    PyObject *r = fd ? PyObject_CallMethodObjArgs(loop, state->str_add_reader, fd, drain, NULL)
                     : NULL;
    Py_XDECREF(fd);
    if (!r && PyErr_ExceptionMatches(PyExc_NotImplementedError)) {
        /* No add_reader (Windows' proactor loop): relay through
         * call_soon_threadsafe from a thread of our own. */
        PyErr_Clear();
        self->relay = aal_relay_start(self->read_fd, loop, drain);
        Py_DECREF(drain);
        if (!self->relay)
            goto fail;
        return (PyObject *)self;
    }
    Py_DECREF(drain);
    if (!r)
        goto fail;
    Py_DECREF(r);
    return (PyObject *)self;

fail:
    aal_wakefd_close(self->read_fd, self->write_fd);
    self->read_fd = self->write_fd = -1;
    Py_DECREF(self);
    return NULL;
}

void loop_waker_stop_relay(PyObject *waker)
{
    LoopWakerObject *self = (LoopWakerObject *)waker;
    if (self->relay) {
        aal_relay *relay = self->relay;
        self->relay = NULL;
        aal_relay_stop(relay);
    }
}

int loop_waker_write_fd(PyObject *waker)
{
    return ((LoopWakerObject *)waker)->write_fd;
}

void loop_waker_detach(PyObject *waker_obj)
{
    LoopWakerObject *self = (LoopWakerObject *)waker_obj;
    if (self->read_fd < 0 || !self->loop)
        return;
    aalink_state *st = self->state;
    if (!st->str_is_closed) {
        /* Interpreter finalization cleared the module before this Link (they
         * are in one garbage cycle): the loop is going away too, and the
         * names to call it by are gone.  Just close the descriptor. */
        aal_wakefd_close(self->read_fd, self->write_fd);
        self->read_fd = self->write_fd = -1;
        return;
    }
    int closed = aal_call_bool_method(self->loop, st->str_is_closed);
    int running = closed == 0 ? aal_call_bool_method(self->loop, st->str_is_running) : 0;
    PyObject *here = (closed == 0 && running == 1) ? PyObject_CallNoArgs(st->get_running_loop)
                                                   : NULL;
    PyObject *r = NULL;
    if (closed < 0 || running < 0) {
        PyErr_Clear();
        r = LoopWaker_close(self, NULL);
    }
    else if (running == 1 && here != self->loop) {
        /* The loop runs on another thread: unregister there. */
        Py_XDECREF(here);
        here = NULL;
        PyErr_Clear();
        PyObject *close = PyObject_GetAttrString(waker_obj, "close");
        if (close) {
            r = PyObject_CallMethodOneArg(self->loop, st->str_call_soon_threadsafe, close);
            Py_DECREF(close);
        }
        if (!r) {
            /* The loop is closing under us: it will drop its selector. */
            PyErr_Clear();
            r = LoopWaker_close(self, NULL);
        }
    }
    else {
        r = LoopWaker_close(self, NULL);
    }
    Py_XDECREF(here);
    if (!r)
        PyErr_WriteUnraisable(waker_obj);
    Py_XDECREF(r);
}
