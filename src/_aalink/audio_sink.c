/* audio_sink.c - AudioSink: one announced channel of a Link.
 * write() checks the samples with the GIL, then copies them into Link's
 * retained buffer and commits it with the GIL released, holding write_mu:
 * Link allows one buffer handle per sink at a time and the handle is not
 * thread-safe, so writes to a sink are serialised.  Locks: write_mu (GIL
 * released) -> the Link's session_mu (closing only) -> Link's locks. */
#include "audio.h"

#include <math.h>
#include <string.h>

#include "convert.h"
#include "link_object.h"

typedef struct {
    PyObject_HEAD
    aal_audio_member member;
    LinkObject *link; /* strong */
    aal_sink *native; /* NULL once closed; guarded by write_mu and the GIL */
    aal_mutex write_mu;
    PyObject *name;
    uint64_t sent, unsent;
    PyObject *weakreflist;
} AudioSinkObject;

/* Closes the native sink (idempotent).  GIL held; released while waiting
 * for a write under way. */
static void sink_close(PyObject *obj)
{
    AudioSinkObject *self = (AudioSinkObject *)obj;
    audio_member_remove(&self->member);
    if (!self->native)
        return;
    aal_sink *native = self->native;
    LinkObject *link = self->link;
    bool leak = !link->link; /* a forked child: Link's threads are the parent's */
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&self->write_mu);
    self->native = NULL;
    if (!leak) {
        aal_mutex_lock(&link->session_mu);
        aal_sink_destroy(native);
        aal_mutex_unlock(&link->session_mu);
    }
    aal_mutex_unlock(&self->write_mu);
    Py_END_ALLOW_THREADS
}

PyObject *audio_sink_new(LinkObject *link, PyObject *name, Py_ssize_t max_samples)
{
    const char *cname = PyUnicode_AsUTF8(name);
    if (!cname)
        return NULL;
    AudioSinkObject *self = PyObject_GC_New(AudioSinkObject, link->state->AudioSink_type);
    if (!self)
        return NULL;
    self->member = (aal_audio_member){.self = (PyObject *)self, .close = sink_close};
    self->link = (LinkObject *)Py_NewRef(link);
    self->native = NULL;
    self->name = Py_NewRef(name);
    self->sent = self->unsent = 0;
    self->weakreflist = NULL;
    if (aal_mutex_init(&self->write_mu) != 0) {
        Py_CLEAR(self->link); /* dealloc: nothing native to close */
        PyObject_GC_Track(self);
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    aal_sink *native;
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&link->session_mu);
    native = link->link ? aal_sink_create(link->link, cname, (size_t)max_samples) : NULL;
    aal_mutex_unlock(&link->session_mu);
    Py_END_ALLOW_THREADS
    self->native = native;
    PyObject_GC_Track(self);
    if (!native) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_RuntimeError, "Ableton Link Audio call failed: sink");
        return NULL;
    }
    audio_member_add(link, &self->member);
    return (PyObject *)self;
}

static int refuse_closed(AudioSinkObject *self)
{
    if (self->native)
        return 0;
    PyErr_Format(PyExc_RuntimeError, "this AudioSink (%R) is closed", self->name);
    return -1;
}

/* Checks samples: int16 items (format 'h') or raw bytes of them. */
static int get_samples(PyObject *obj, Py_buffer *view, size_t *n_samples)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "samples must be a C-contiguous buffer of int16 (bytes, array('h'), "
                     "numpy int16), not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == (PY_LITTLE_ENDIAN ? '<' : '>'))
        f++;
    bool raw = view->itemsize == 1 && (!strcmp(f, "B") || !strcmp(f, "b") || !strcmp(f, "c"));
    bool int16 = view->itemsize == 2 && !strcmp(f, "h");
    if (!raw && !int16) {
        PyErr_Format(PyExc_TypeError,
                     "samples must be int16 (format 'h', itemsize 2) or bytes of them, not "
                     "format '%s' with itemsize %zd",
                     view->format ? view->format : "B", view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    if (view->len % 2) {
        PyErr_Format(PyExc_ValueError, "samples has %zd bytes: not whole int16 samples",
                     view->len);
        PyBuffer_Release(view);
        return -1;
    }
    *n_samples = (size_t)view->len / 2;
    return 0;
}

PyDoc_STRVAR(sink_write_doc,
             "write($self, samples, beat=None, *, rate, channels=1)\n--\n\n"
             "Send one buffer of interleaved int16 samples (bytes, array('h'), numpy\n"
             "int16...) starting at beat, at rate Hz, mono or stereo.  beat None: where\n"
             "the previous buffer ended, if that is within 0.1 s behind and 1 s ahead\n"
             "of the beat now, else the beat now.  Returns True if it was sent, False\n"
             "if nobody listens (Link sends only to subscribed sources), Link had no\n"
             "buffer free or there were no samples.  A buffer larger than max_samples\n"
             "goes in pieces.");

static PyObject *sink_write(AudioSinkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"samples", "beat", "rate", "channels", NULL};
    PyObject *samples, *beat_obj = Py_None;
    Py_ssize_t rate = -1, channels = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$nn:write", kwlist, &samples, &beat_obj,
                                     &rate, &channels))
        return NULL;
    if (rate == -1) {
        PyErr_SetString(PyExc_TypeError, "write() needs rate= (the sample rate, Hz)");
        return NULL;
    }
    if (rate < 1 || rate > 1000000) {
        PyErr_Format(PyExc_ValueError, "rate must be in 1..1000000 Hz, not %zd", rate);
        return NULL;
    }
    if (channels != 1 && channels != 2) {
        PyErr_Format(PyExc_ValueError, "channels must be 1 or 2, not %zd", channels);
        return NULL;
    }
    double beat = NAN;
    if (beat_obj != Py_None && aal_to_beat(beat_obj, "beat", &beat) < 0)
        return NULL;
    if (refuse_closed(self) < 0 || link_check_usable(self->link) < 0)
        return NULL;
    Py_buffer view;
    size_t n;
    if (get_samples(samples, &view, &n) < 0)
        return NULL;
    if (n % (size_t)channels) {
        PyErr_Format(PyExc_ValueError, "%zu samples is not a whole number of stereo frames", n);
        PyBuffer_Release(&view);
        return NULL;
    }
    double quantum = self->link->quantum;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&self->write_mu);
    if (!self->native)
        rc = -2;
    else
        rc = aal_sink_write(self->native, self->link->link, view.buf, n / (size_t)channels,
                            (size_t)channels, (uint32_t)rate, beat, quantum, NULL);
    aal_mutex_unlock(&self->write_mu);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (rc == -2)
        return refuse_closed(self), NULL;
    if (rc < 0) {
        PyErr_SetString(PyExc_RuntimeError, "Ableton Link Audio call failed: write");
        return NULL;
    }
    if (rc)
        self->sent++;
    else
        self->unsent++;
    return PyBool_FromLong(rc);
}

PyDoc_STRVAR(sink_close_doc, "close($self)\n--\n\nWithdraw the channel.  Later writes raise.");

static PyObject *sink_close_method(AudioSinkObject *self, PyObject *ignored)
{
    (void)ignored;
    sink_close((PyObject *)self);
    Py_RETURN_NONE;
}

static PyObject *sink_enter(PyObject *self, PyObject *ignored)
{
    (void)ignored;
    return Py_NewRef(self);
}

static PyObject *sink_exit(AudioSinkObject *self, PyObject *args)
{
    (void)args;
    sink_close((PyObject *)self);
    Py_RETURN_NONE;
}

static PyObject *sink_get_name(AudioSinkObject *self, void *c)
{
    (void)c;
    return Py_NewRef(self->name);
}

/* Renames the channel: serialised with writes (Link's setName is not
 * thread-safe), GIL released.  Peers see the new name in their channels
 * (and their channels callback fires). */
static int sink_set_name(AudioSinkObject *self, PyObject *value, void *c)
{
    (void)c;
    if (link_refuse_delete(value, "name") < 0)
        return -1;
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "name must be a str, not %.100s", Py_TYPE(value)->tp_name);
        return -1;
    }
    const char *name = PyUnicode_AsUTF8(value);
    if (!name)
        return -1;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&self->write_mu);
    rc = self->native ? aal_sink_set_name(self->native, name) : -2;
    aal_mutex_unlock(&self->write_mu);
    Py_END_ALLOW_THREADS
    if (rc == -2)
        return refuse_closed(self);
    if (rc < 0) {
        PyErr_SetString(PyExc_RuntimeError, "Ableton Link Audio call failed: sink name");
        return -1;
    }
    Py_SETREF(self->name, Py_NewRef(value));
    return 0;
}

static PyObject *sink_get_closed(AudioSinkObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->native == NULL);
}

static PyObject *sink_get_max_samples(AudioSinkObject *self, void *c)
{
    (void)c;
    if (refuse_closed(self) < 0)
        return NULL;
    return PyLong_FromSize_t(aal_sink_max_samples(self->native));
}

static PyObject *sink_get_stats(AudioSinkObject *self, void *c)
{
    (void)c;
    return Py_BuildValue("{sKsK}", "sent", (unsigned long long)self->sent, "unsent",
                         (unsigned long long)self->unsent);
}

static int sink_traverse(AudioSinkObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->link);
    return 0;
}

static int sink_clear(AudioSinkObject *self)
{
    (void)self; /* the Link is kept until dealloc: the native sink needs it */
    return 0;
}

static void sink_dealloc(AudioSinkObject *self)
{
    PyObject *in_flight = PyErr_GetRaisedException();
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->link) {
        sink_close((PyObject *)self);
        aal_mutex_destroy(&self->write_mu);
    }
    Py_CLEAR(self->link);
    Py_CLEAR(self->name);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
    PyErr_SetRaisedException(in_flight);
}

static PyObject *sink_repr(AudioSinkObject *self)
{
    return PyUnicode_FromFormat("<aalink.AudioSink %R%s>", self->name,
                                self->native ? "" : " closed");
}

static PyMethodDef sink_methods[] = {
    {"write", (PyCFunction)(void (*)(void))sink_write, METH_VARARGS | METH_KEYWORDS,
     sink_write_doc},
    {"close", (PyCFunction)sink_close_method, METH_NOARGS, sink_close_doc},
    {"__enter__", (PyCFunction)sink_enter, METH_NOARGS, "Return the sink."},
    {"__exit__", (PyCFunction)sink_exit, METH_VARARGS, "Close the sink."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sink_getset[] = {
    {"name", (getter)sink_get_name, (setter)sink_set_name,
     "The channel's name; setting it renames the channel for every peer.", NULL},
    {"closed", (getter)sink_get_closed, NULL, "Whether close() (or the Link's) ran.", NULL},
    {"max_samples", (getter)sink_get_max_samples, NULL,
     "Room per buffer, in samples (frames * channels); longer writes go in pieces.",
     NULL},
    {"stats", (getter)sink_get_stats, NULL,
     "{'sent': buffers sent, 'unsent': writes nobody received}.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef sink_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(AudioSinkObject, weakreflist), Py_READONLY,
     NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot sink_slots[] = {
    {Py_tp_dealloc, sink_dealloc},
    {Py_tp_traverse, sink_traverse},
    {Py_tp_clear, sink_clear},
    {Py_tp_repr, sink_repr},
    {Py_tp_methods, sink_methods},
    {Py_tp_getset, sink_getset},
    {Py_tp_members, sink_members},
    {Py_tp_doc, (void *)"An announced Link Audio channel: Link.sink(name) makes one."},
    {0, NULL},
};

PyType_Spec AudioSink_spec = {
    .name = "aalink.AudioSink",
    .basicsize = sizeof(AudioSinkObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = sink_slots,
};
