/* loop_waker.c - LoopWaker: a wake descriptor registered with a loop, which
 * tells its client (the Link) when a batch is ready or a future is done. */
#include "loop_waker.h"

#include <stdbool.h>

#include "convert.h"
#include "loop_relay.h"
#include "platform.h"

typedef struct {
    PyObject_HEAD
    aalink_state *state;
    int read_fd, write_fd; /* -1 once closed */
    PyObject *loop;
    PyObject *owner_ref; /* weak reference to the client's owner */
    PyObject *owner_hold; /* the owner, while its futures hold it, else NULL */
    const aal_waker_client *client;
    aal_relay *relay;    /* for loops without add_reader, else NULL */
} LoopWakerObject;

static int LoopWaker_traverse(LoopWakerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->loop);
    Py_VISIT(self->owner_ref);
    Py_VISIT(self->owner_hold);
    return aal_relay_traverse(self->relay, visit, arg);
}

static int LoopWaker_clear(LoopWakerObject *self)
{
    Py_CLEAR(self->loop);
    Py_CLEAR(self->owner_ref);
    Py_CLEAR(self->owner_hold);
    return 0;
}

static void LoopWaker_dealloc(LoopWakerObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    /* Dropping the loop can run Python: keep the exception in flight. */
    PyObject *in_flight = PyErr_GetRaisedException();
    /* Only reached once no selector holds our _on_readable method, so
     * closing here cannot leave a stale registration behind. */
    aal_wakefd_close(self->read_fd, self->write_fd);
    self->read_fd = self->write_fd = -1;
    LoopWaker_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp); /* the hidden reference of loop_waker_attach */
    Py_DECREF(tp);
    PyErr_SetRaisedException(in_flight);
}

/* A strong reference to the owner: 1 (alive), 0 (gone), -1 (error). */
static int get_owner(LoopWakerObject *self, PyObject **owner)
{
    if (self->owner_hold) {
        *owner = Py_NewRef(self->owner_hold);
        return 1;
    }
    if (!self->owner_ref) {
        *owner = NULL;
        return 0;
    }
    return PyWeakref_GetRef(self->owner_ref, owner);
}

/* The add_reader callback: runs on the loop's thread.  Clears the
 * descriptor, then tells the client a batch is ready. */
static PyObject *LoopWaker_on_readable(LoopWakerObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->read_fd < 0)
        Py_RETURN_NONE;
    aal_wakefd_clear(self->read_fd); /* clears the descriptor */
    PyObject *owner;
    int alive = get_owner(self, &owner);
    if (alive < 0)
        return NULL;
    if (alive == 0)
        Py_RETURN_NONE;
    int rc = self->client->batch_ready(owner);
    Py_DECREF(owner);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Done-callback of the owner's pending futures: watches for cancellation. */
static PyObject *LoopWaker_future_done(LoopWakerObject *self, PyObject *fut)
{
    (void)fut;
    PyObject *owner;
    int alive = get_owner(self, &owner);
    if (alive < 0)
        return NULL;
    if (alive) {
        self->client->future_done(owner);
        Py_DECREF(owner);
    }
    Py_RETURN_NONE;
}

/* Takes the relay off the waker and stops it; true if there was one. */
static bool stop_relay(LoopWakerObject *self)
{
    if (!self->relay)
        return false;
    aal_relay *relay = self->relay;
    self->relay = NULL;
    aal_relay_stop(relay);
    return true;
}

static PyObject *LoopWaker_close(LoopWakerObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->read_fd < 0)
        Py_RETURN_NONE;
    /* With a relay the loop never watched the descriptor. */
    if (!stop_relay(self) && self->loop) {
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
    {"_on_readable", (PyCFunction)LoopWaker_on_readable, METH_NOARGS,
     "Clear the descriptor and deliver what is ready (loop thread)."},
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

PyObject *loop_waker_attach(aalink_state *state, PyObject *loop, PyObject *owner,
                            const aal_waker_client *client)
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
    self->owner_ref = NULL;
    self->owner_hold = NULL;
    self->client = client;
    self->relay = NULL;
    PyObject_GC_Track(self);

    self->owner_ref = PyWeakref_NewRef(owner, NULL);
    if (!self->owner_ref)
        goto fail;
    if (aal_wakefd_open(&self->read_fd, &self->write_fd) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto fail;
    }
    PyObject *on_readable = PyObject_GetAttrString((PyObject *)self, "_on_readable");
    if (!on_readable)
        goto fail;
    PyObject *fd = PyLong_FromLong(self->read_fd);
    PyObject *r = fd ? PyObject_CallMethodObjArgs(loop, state->str_add_reader, fd, on_readable,
                                                  NULL)
                     : NULL;
    Py_XDECREF(fd);
    if (!r && PyErr_ExceptionMatches(PyExc_NotImplementedError)) {
        /* No add_reader (Windows' proactor loop): relay through
         * call_soon_threadsafe from a thread of our own. */
        PyErr_Clear();
        self->relay = aal_relay_start(self->read_fd, loop, on_readable);
        Py_DECREF(on_readable);
        if (!self->relay)
            goto fail;
        return (PyObject *)self;
    }
    Py_DECREF(on_readable);
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

int loop_waker_set_realtime(PyObject *waker, int priority)
{
    return aal_relay_set_realtime(((LoopWakerObject *)waker)->relay, priority);
}

void loop_waker_hold(PyObject *waker, PyObject *owner)
{
    LoopWakerObject *self = (LoopWakerObject *)waker;
    Py_XSETREF(self->owner_hold, Py_XNewRef(owner));
}

void loop_waker_stop_relay(PyObject *waker)
{
    stop_relay((LoopWakerObject *)waker);
}

PyObject *loop_waker_future_done_callback(PyObject *waker)
{
    return PyObject_GetAttrString(waker, "_future_done");
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
