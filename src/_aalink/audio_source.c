/* audio_source.c - AudioSource: a subscription to one channel.  Link's
 * thread copies each buffer into the native ring (audio_ring.c) without
 * the GIL and signals the source's wake descriptor once per batch; on the
 * loop's thread the waker calls source_batch_ready, which hands blocks to
 * the callback, or to the `async for` waiting in __anext__.
 * The Link's channels waker (audio_link.c) tells the source, on the loop,
 * when its channel vanished: it delivers what it holds, then its `async
 * for` raises LookupError.  Wherever the source would deliver (__anext__,
 * close, the Link following a new loop) it looks whether its loop closed:
 * then the iteration ends and a pending waiter is let go, never completed.
 * Threads: every function here runs with the GIL held, on any Python
 * thread (the wakers' on the loop's).  Locks: the ring's mu (a leaf);
 * session_mu with the GIL released around creating and destroying the
 * native source. */
#include "audio.h"

#include <math.h>
#include <stdlib.h>

#include "convert.h"
#include "link_object.h"
#include "loop_waker.h"

typedef struct {
    PyObject_HEAD
    aal_audio_member member;
    LinkObject *link; /* strong */
    aal_source *native; /* NULL once closed */
    aal_ring ring;
    aal_audio_id channel;
    PyObject *info;     /* its Channel, as last seen */
    PyObject *loop;     /* the Link's loop at subscription */
    PyObject *waker;    /* LoopWaker, or NULL once closed */
    PyObject *callback; /* or NULL: async iteration */
    PyObject *on_close; /* on_close(exc) once closed, or NULL (fired or none) */
    PyObject *waiter;   /* the future an __anext__ returned, or NULL */
    bool closed;
    bool gone;          /* the channel left the session */
    PyObject *weakreflist;
} AudioSourceObject;

/* Link's thread: record and wake (never the GIL). */
static void on_block(const aal_audio_block *block, void *context)
{
    aal_ring_push(&((AudioSourceObject *)context)->ring, block);
}

/* A Python AudioBlock from a popped ring entry (frees samples). */
static PyObject *make_block(aalink_state *st, const aal_audio_block *m, int16_t *samples)
{
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)samples,
                                                (Py_ssize_t)(m->frames * m->channels * 2));
    free(samples);
    PyObject *block = bytes ? PyStructSequence_New(st->AudioBlock_type) : NULL;
    if (!block) {
        Py_XDECREF(bytes);
        return NULL;
    }
    PyObject *f[8] = {
        bytes,
        PyLong_FromSize_t(m->frames),
        PyLong_FromSize_t(m->channels),
        PyLong_FromUnsignedLong(m->rate),
        PyLong_FromUnsignedLongLong(m->count),
        PyFloat_FromDouble(m->tempo),
        m->in_session ? PyFloat_FromDouble(m->begin_beat) : Py_NewRef(Py_None),
        m->in_session ? PyFloat_FromDouble(m->end_beat) : Py_NewRef(Py_None),
    };
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        if (!f[i])
            bad = 1;
        PyStructSequence_SET_ITEM(block, i, f[i] ? f[i] : Py_NewRef(Py_None));
    }
    if (bad)
        Py_CLEAR(block);
    return block;
}

/* The next block from the ring: a new reference, NULL and no exception
 * when empty, NULL with one on failure. */
static PyObject *next_block(AudioSourceObject *self)
{
    aal_audio_block meta;
    int16_t *samples;
    if (!aal_ring_pop(&self->ring, &meta, &samples))
        return NULL;
    return make_block(self->link->state, &meta, samples);
}

/* Completes the waiter: with result, or else with exc (NULL:
 * StopAsyncIteration). */
static int finish_waiter(AudioSourceObject *self, PyObject *result, PyObject *exc)
{
    PyObject *w = self->waiter;
    self->waiter = NULL;
    int done = aal_call_bool_method(w, self->link->state->str_done);
    PyObject *r = NULL;
    if (done == 0) {
        if (result)
            r = PyObject_CallMethodOneArg(w, self->link->state->str_set_result, result);
        else
            r = PyObject_CallMethod(w, "set_exception", "O",
                                    exc ? exc : PyExc_StopAsyncIteration);
    }
    Py_DECREF(w);
    Py_XDECREF(r);
    return done < 0 || (done == 0 && !r) ? -1 : 0;
}

/* The waker: the ring has a batch.  Loop's thread, GIL held. */
static int source_batch_ready(PyObject *owner)
{
    AudioSourceObject *self = (AudioSourceObject *)owner;
    aal_ring_rearm(&self->ring);
    if (self->closed)
        return 0;
    if (self->callback) {
        PyObject *cb = Py_NewRef(self->callback);
        PyObject *block;
        int rc = 0;
        while (!self->closed && (block = next_block(self))) {
            PyObject *r = PyObject_CallOneArg(cb, block);
            Py_DECREF(block);
            if (!r) {
                rc = -1;
                break;
            }
            Py_DECREF(r);
        }
        Py_DECREF(cb);
        if (rc == 0 && PyErr_Occurred())
            rc = -1;
        if (rc < 0) /* what is left is delivered on another wake */
            aal_ring_wake(&self->ring);
        return rc;
    }
    if (!self->waiter)
        return 0;
    int done = aal_call_bool_method(self->waiter, self->link->state->str_done);
    if (done != 0) { /* cancelled (a wait_for() timed out): the blocks stay queued */
        Py_CLEAR(self->waiter);
        return done < 0 ? -1 : 0;
    }
    PyObject *block = next_block(self);
    if (!block)
        return PyErr_Occurred() ? -1 : 0;
    int rc = finish_waiter(self, block, NULL);
    Py_DECREF(block);
    return rc;
}

/* 1 if the source's loop is closed (or cannot say), else 0.  Never fails. */
static int loop_is_closed(AudioSourceObject *self)
{
    aalink_state *st = self->link ? self->link->state : NULL;
    if (!self->loop || !st || !st->str_is_closed)
        return 1;
    int closed = aal_call_bool_method(self->loop, st->str_is_closed);
    if (closed < 0)
        PyErr_Clear();
    return closed != 0;
}

/* The LookupError a source whose channel is gone raises. */
static PyObject *gone_error(AudioSourceObject *self)
{
    PyObject *id = audio_id_str(&self->channel);
    PyObject *name = self->info ? PyStructSequence_GetItem(self->info, 1) : NULL;
    PyObject *peer = self->info ? PyStructSequence_GetItem(self->info, 3) : NULL;
    PyObject *exc = NULL;
    if (id && name && peer)
        exc = PyObject_CallFunction(PyExc_LookupError, "N",
                                    PyUnicode_FromFormat("channel %R of peer %R (id %U) "
                                                         "left the session",
                                                         name, peer, id));
    Py_XDECREF(id);
    return exc;
}

/* Schedules on_close(exc) on the source's loop, once: exc is the
 * LookupError of a vanished channel, else None (closed by this program:
 * close(), the Link's close()).  A closed loop runs nothing: then it is
 * dropped.  Any thread, GIL held; keeps the exception in flight. */
static void fire_on_close(AudioSourceObject *self)
{
    PyObject *cb = self->on_close;
    self->on_close = NULL;
    if (!cb)
        return;
    PyObject *exc = PyErr_GetRaisedException();
    if (!loop_is_closed(self)) {
        PyObject *reason = self->gone ? gone_error(self) : NULL;
        if (!reason && !PyErr_Occurred())
            reason = Py_NewRef(Py_None);
        PyObject *r = reason ? PyObject_CallMethod(self->loop, "call_soon_threadsafe", "OO",
                                                   cb, reason)
                             : NULL;
        if (!r)
            PyErr_WriteUnraisable((PyObject *)self);
        Py_XDECREF(r);
        Py_XDECREF(reason);
    }
    Py_DECREF(cb);
    PyErr_SetRaisedException(exc);
}

static void source_future_done(PyObject *owner) { (void)owner; }

static const aal_waker_client source_client = {source_batch_ready, source_future_done};

/* Unsubscribes, ends an `async for`, lets go of the descriptor.
 * Idempotent.  GIL held (released while destroying the native source). */
static void source_close(PyObject *obj)
{
    AudioSourceObject *self = (AudioSourceObject *)obj;
    audio_member_remove(&self->member); /* every step below is idempotent */
    self->closed = true;
    aal_source *native = self->native;
    self->native = NULL;
    LinkObject *link = self->link;
    if (native && link->link) { /* else a forked child: leak, never wait */
        Py_BEGIN_ALLOW_THREADS
        aal_mutex_lock(&link->session_mu);
        aal_source_destroy(native); /* waits out a callback under way */
        aal_mutex_unlock(&link->session_mu);
        Py_END_ALLOW_THREADS
    }
    aal_ring_set_wake_fd(&self->ring, -1);
    if (self->waiter) {
        PyObject *exc = PyErr_GetRaisedException();
        if (loop_is_closed(self)) {
            Py_CLEAR(self->waiter); /* a closed loop runs no callback: let go */
        }
        else {
            PyObject *err = self->gone && !self->ring.len ? gone_error(self) : NULL;
            if (finish_waiter(self, NULL, err) < 0)
                PyErr_WriteUnraisable((PyObject *)self);
            Py_XDECREF(err);
        }
        PyErr_SetRaisedException(exc);
    }
    PyObject *waker = self->waker;
    self->waker = NULL;
    if (waker) {
        loop_waker_detach(waker);
        Py_DECREF(waker);
    }
    fire_on_close(self);
}

PyObject *audio_source_new(LinkObject *link, const aal_audio_id *id, PyObject *channel,
                           PyObject *callback, PyObject *on_close, Py_ssize_t ring)
{
    PyObject *loop = link_loop_for_sync(link);
    if (!loop)
        return NULL;
    AudioSourceObject *self = PyObject_GC_New(AudioSourceObject, link->state->AudioSource_type);
    if (!self)
        return NULL;
    self->member =
        (aal_audio_member){.self = (PyObject *)self, .close = source_close, .is_source = true};
    self->link = NULL;
    self->native = NULL;
    self->channel = *id;
    self->info = Py_XNewRef(channel);
    self->gone = false;
    self->loop = Py_NewRef(loop);
    self->waker = NULL;
    self->callback = Py_XNewRef(callback);
    self->on_close = NULL; /* set once subscribed: a failed source() is no close */
    self->waiter = NULL;
    self->closed = true; /* until subscribed */
    self->weakreflist = NULL;
    if (aal_ring_init(&self->ring, (size_t)ring) < 0) {
        PyObject_GC_Track(self);
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->link = (LinkObject *)Py_NewRef(link);
    PyObject_GC_Track(self);
    self->waker = loop_waker_attach(link->state, loop, (PyObject *)self, &source_client);
    if (!self->waker) {
        Py_DECREF(self);
        return NULL;
    }
    aal_ring_set_wake_fd(&self->ring, loop_waker_write_fd(self->waker));
    aal_source *native;
    double quantum = link->quantum;
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&link->session_mu);
    native = link->link ? aal_source_create(link->link, *id, quantum, on_block, self) : NULL;
    aal_mutex_unlock(&link->session_mu);
    Py_END_ALLOW_THREADS
    if (!native) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_RuntimeError, "Ableton Link Audio call failed: source");
        return NULL;
    }
    self->native = native;
    self->closed = false;
    self->on_close = Py_XNewRef(on_close);
    audio_member_add(link, &self->member);
    return (PyObject *)self;
}

void audio_source_check_loop(PyObject *obj)
{
    AudioSourceObject *self = (AudioSourceObject *)obj;
    if (!self->closed && loop_is_closed(self))
        source_close(obj);
}

int audio_source_channels_changed(PyObject *obj, PyObject *channels)
{
    AudioSourceObject *self = (AudioSourceObject *)obj;
    if (self->closed)
        return 0;
    PyObject *id = audio_id_str(&self->channel);
    if (!id)
        return -1;
    PyObject *seen = NULL;
    for (Py_ssize_t i = 0; !seen && i < PyList_GET_SIZE(channels); i++) {
        PyObject *ch = PyList_GET_ITEM(channels, i);
        int eq = PyObject_RichCompareBool(PyStructSequence_GET_ITEM(ch, 0), id, Py_EQ);
        if (eq < 0) {
            Py_DECREF(id);
            return -1;
        }
        if (eq)
            seen = ch;
    }
    Py_DECREF(id);
    if (seen) { /* still here (perhaps renamed) */
        Py_XSETREF(self->info, Py_NewRef(seen));
        return 0;
    }
    self->gone = true;
    int rc = 0;
    if (self->callback) /* what it holds first */
        rc = source_batch_ready(obj);
    else if (self->waiter && self->ring.len)
        rc = source_batch_ready(obj);
    source_close(obj); /* a waiter left gets the LookupError */
    return rc;
}

static PyObject *source_aiter(PyObject *self) { return Py_NewRef(self); }

static PyObject *source_anext(AudioSourceObject *self)
{
    if (!self->closed && loop_is_closed(self))
        source_close((PyObject *)self); /* its loop closed: the iteration ends */
    if (self->closed && !(self->gone && !self->callback)) {
        PyErr_SetNone(PyExc_StopAsyncIteration);
        return NULL;
    }
    if (self->callback) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this AudioSource delivers to its callback: iterate one made without");
        return NULL;
    }
    if (self->waiter) {
        int done = aal_call_bool_method(self->waiter, self->link->state->str_done);
        if (done < 0)
            return NULL;
        if (!done) {
            PyErr_SetString(PyExc_RuntimeError, "another coroutine is already waiting on "
                                                "this AudioSource");
            return NULL;
        }
        Py_CLEAR(self->waiter); /* cancelled: this one takes its place */
    }
    PyObject *fut = PyObject_CallMethodNoArgs(self->loop, self->link->state->str_create_future);
    if (!fut)
        return NULL;
    PyObject *block = next_block(self);
    if (block) {
        PyObject *r = PyObject_CallMethodOneArg(fut, self->link->state->str_set_result, block);
        Py_DECREF(block);
        if (!r) {
            Py_DECREF(fut);
            return NULL;
        }
        Py_DECREF(r);
        return fut;
    }
    if (PyErr_Occurred() || self->gone) {
        Py_DECREF(fut);
        if (self->gone && !PyErr_Occurred()) { /* all delivered: now the error */
            PyObject *err = gone_error(self);
            if (err) {
                PyErr_SetObject(PyExc_LookupError, err);
                Py_DECREF(err);
            }
        }
        return NULL;
    }
    self->waiter = Py_NewRef(fut);
    return fut;
}

PyDoc_STRVAR(source_close_doc,
             "close($self)\n--\n\nUnsubscribe; an `async for` over the source ends.");

static PyObject *source_close_method(AudioSourceObject *self, PyObject *ignored)
{
    (void)ignored;
    source_close((PyObject *)self);
    Py_RETURN_NONE;
}

static PyObject *source_enter(PyObject *self, PyObject *ignored)
{
    (void)ignored;
    return Py_NewRef(self);
}

static PyObject *source_exit(AudioSourceObject *self, PyObject *args)
{
    (void)args;
    source_close((PyObject *)self);
    Py_RETURN_NONE;
}

static PyObject *source_get_channel(AudioSourceObject *self, void *c)
{
    (void)c;
    return audio_id_str(&self->channel);
}

static PyObject *source_get_closed(AudioSourceObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->closed);
}

static PyObject *source_get_stats(AudioSourceObject *self, void *c)
{
    (void)c;
    aal_mutex_lock(&self->ring.mu);
    unsigned long long received = self->ring.received, dropped = self->ring.dropped,
                       oos = self->ring.out_of_session, queued = self->ring.len,
                       size = self->ring.n;
    aal_mutex_unlock(&self->ring.mu);
    return Py_BuildValue("{sKsKsKsKsK}", "received", received, "dropped", dropped,
                         "out_of_session", oos, "queued", queued, "ring", size);
}

static int source_traverse(AudioSourceObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->link);
    Py_VISIT(self->loop);
    Py_VISIT(self->info);
    Py_VISIT(self->waker);
    Py_VISIT(self->callback);
    Py_VISIT(self->on_close);
    Py_VISIT(self->waiter);
    return 0;
}

static int source_clear(AudioSourceObject *self)
{
    Py_CLEAR(self->callback);
    Py_CLEAR(self->on_close);
    return 0;
}

static void source_dealloc(AudioSourceObject *self)
{
    PyObject *in_flight = PyErr_GetRaisedException();
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->link) {
        source_close((PyObject *)self);
        aal_ring_destroy(&self->ring);
    }
    Py_CLEAR(self->waiter);
    Py_CLEAR(self->waker);
    Py_CLEAR(self->callback);
    Py_CLEAR(self->on_close);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->info);
    Py_CLEAR(self->link);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
    PyErr_SetRaisedException(in_flight);
}

static PyObject *source_repr(AudioSourceObject *self)
{
    PyObject *id = audio_id_str(&self->channel);
    if (!id)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("<aalink.AudioSource %U%s>", id,
                                       self->closed ? " closed" : "");
    Py_DECREF(id);
    return r;
}

static PyMethodDef source_methods[] = {
    {"close", (PyCFunction)source_close_method, METH_NOARGS, source_close_doc},
    {"__enter__", (PyCFunction)source_enter, METH_NOARGS, "Return the source."},
    {"__exit__", (PyCFunction)source_exit, METH_VARARGS, "Close the source."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef source_getset[] = {
    {"channel", (getter)source_get_channel, NULL, "The channel's id.", NULL},
    {"closed", (getter)source_get_closed, NULL, "Whether close() (or the Link's) ran.", NULL},
    {"stats", (getter)source_get_stats, NULL,
     "{'received', 'dropped' (the oldest, when the ring was full), 'out_of_session',\n"
     "'queued', 'ring'}: counts of buffers.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef source_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(AudioSourceObject, weakreflist),
     Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot source_slots[] = {
    {Py_tp_dealloc, source_dealloc},
    {Py_tp_traverse, source_traverse},
    {Py_tp_clear, source_clear},
    {Py_tp_repr, source_repr},
    {Py_tp_methods, source_methods},
    {Py_tp_getset, source_getset},
    {Py_tp_members, source_members},
    {Py_am_aiter, source_aiter},
    {Py_am_anext, source_anext},
    {Py_tp_doc, (void *)"A subscription to a Link Audio channel: Link.source() makes one."},
    {0, NULL},
};

PyType_Spec AudioSource_spec = {
    .name = "aalink.AudioSource",
    .basicsize = sizeof(AudioSourceObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = source_slots,
};
