/* link_object.c - the Link type itself: construction, garbage collection,
 * dealloc and close, the session properties and methods, and the method,
 * getset and slot tables (each docstring sits beside its function). */
#include "link_object.h"

#include "audio.h"
#include "convert.h"
#include "loop_waker.h"

/* Ableton Link's tempo range; values outside are clamped by Link. */
#define AAL_MIN_BPM 20.0
#define AAL_MAX_BPM 999.0

/* Link(None): tempo when no session is found. */
#define AAL_FOLLOW_FALLBACK_BPM 120.0

double link_clamp_bpm(double bpm)
{
    return bpm < AAL_MIN_BPM ? AAL_MIN_BPM : bpm > AAL_MAX_BPM ? AAL_MAX_BPM : bpm;
}

int link_check_bpm(double bpm)
{
    if (!(bpm > 0.0)) {
        PyObject *v = PyFloat_FromDouble(bpm);
        if (v)
            PyErr_Format(PyExc_ValueError, "tempo must be > 0 bpm, not %R", v);
        Py_XDECREF(v);
        return -1;
    }
    return 0;
}

int link_refuse_delete(PyObject *value, const char *name)
{
    if (value)
        return 0;
    PyErr_Format(PyExc_AttributeError, "cannot delete %s", name);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Construction and lifetime. */

static void live_list_add(LinkObject *self)
{
    aalink_state *st = self->state;
    self->next_live = st->live_links;
    if (st->live_links)
        st->live_links->prev_live = &self->next_live;
    st->live_links = self;
    self->prev_live = &st->live_links;
}

static void live_list_remove(LinkObject *self)
{
    if (!self->prev_live)
        return;
    *self->prev_live = self->next_live;
    if (self->next_live)
        self->next_live->prev_live = self->prev_live;
    self->prev_live = NULL;
    self->next_live = NULL;
}

static PyObject *Link_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"bpm", "loop", "realtime", NULL};
    PyObject *bpm_obj, *loop = Py_None;
    int realtime = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$p:Link", kwlist, &bpm_obj, &loop,
                                     &realtime))
        return NULL;
    double bpm = AAL_FOLLOW_FALLBACK_BPM;
    bool follow = bpm_obj == Py_None;
    if (!follow && (aal_to_finite_double(bpm_obj, "bpm", &bpm) < 0 || link_check_bpm(bpm) < 0))
        return NULL;

    aalink_state *st = aalink_state_of_type(type);
    if (!st)
        return NULL;
    LinkObject *self = (LinkObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    /* A second reference to the type, hidden from the GC (traverse visits
     * one): the type stays reachable, so it keeps its module, and so
     * self->state, alive until this dealloc, even when interpreter exit
     * collects the module in the same cycle as this Link (tp_clear runs in
     * any order; Link_clear and dealloc use the state). */
    Py_INCREF(type);
    self->state = st;
    self->quantum = 1.0;
    self->follow = follow;
    if (aal_mutex_init(&self->session_mu) != 0) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    aal_clear_last_error();
    self->session = aal_session_create();
    if (!self->session)
        goto native_error;
    Py_BEGIN_ALLOW_THREADS
    self->link = aal_link_create(bpm);
    self->sched = self->link ? aal_sched_create(self->link, self->quantum) : NULL;
    Py_END_ALLOW_THREADS
    if (!self->link || !self->sched)
        goto native_error;
    live_list_add(self);
    for (int i = 0; i < AAL_N_CALLBACK_KINDS; i++) {
        self->callbacks[i] = PyList_New(0);
        if (!self->callbacks[i])
            goto fail;
    }
    if (loop != Py_None)
        self->loop = Py_NewRef(loop);
    if (link_try_attach(self) < 0 || (realtime && link_realtime_set(self, true) < 0))
        goto fail;
    return (PyObject *)self;

native_error:
    /* The shim's record says why (out of descriptors: OSError EMFILE);
     * the scheduler's own failures (memory, a thread) leave none. */
    link_raise_native_error("could not create the Link's scheduler (out of memory "
                            "or threads)");
fail:
    Py_DECREF(self);
    return NULL;
}

void link_close_native(LinkObject *self)
{
    if (self->closed)
        return;
    self->closed = true;
    aal_sched *sched = self->sched;
    if (sched && aal_sched_forked(sched)) {
        /* Forked child: Link's threads and locks are the parent's.  Leak
         * the native Link rather than hang in its destructor. */
        self->link = NULL;
        return;
    }
    audio_link_close(self); /* its sinks and sources first: they use the Link */
    link_realtime_release(self); /* while the threads still run */
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&self->session_mu);
    if (sched) {
        aal_sched_set_wake_fd(sched, -1);
        aal_sched_stop(sched);
    }
    aal_link_destroy(self->link);
    self->link = NULL;
    aal_mutex_unlock(&self->session_mu);
    Py_END_ALLOW_THREADS
    if (self->waker)
        loop_waker_stop_relay(self->waker);
}

static int Link_traverse(LinkObject *self, visitproc visit, void *arg)
{
    /* Pending futures hold this Link through its waker (link_lifetime.c),
     * which the loop's reader and the futures reach: visiting them lets the
     * collector free a Link that only futures of a closed loop reach. */
    Py_VISIT(Py_TYPE(self));
    int rc = link_traverse_futures(self, visit, arg);
    if (rc)
        return rc;
    Py_VISIT(self->loop);
    Py_VISIT(self->waker);
    Py_VISIT(self->on_future_done);
    for (int i = 0; i < AAL_N_CALLBACK_KINDS; i++)
        Py_VISIT(self->callbacks[i]);
    return audio_link_traverse(self, visit, arg);
}

static int Link_clear(LinkObject *self)
{
    if (self->waker || self->loop)
        link_detach_loop(self);
    for (int i = 0; i < AAL_N_CALLBACK_KINDS; i++)
        Py_CLEAR(self->callbacks[i]);
    audio_link_clear(self);
    return 0;
}

static void Link_dealloc(LinkObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    /* Detaching calls the loop, and dropping futures can run Python: keep
     * the exception in flight (a coroutine's StopIteration, say) intact. */
    PyObject *in_flight = PyErr_GetRaisedException();
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    link_close_native(self);
    live_list_remove(self);
    Link_clear(self);
    audio_link_free(self);
    if (self->sched) {
        aal_sched_destroy(self->sched, link_drop_future, NULL);
        self->sched = NULL;
    }
    if (self->session) {
        aal_session_destroy(self->session);
        aal_mutex_destroy(&self->session_mu);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp); /* the hidden reference of Link_new */
    Py_DECREF(tp);
    PyErr_SetRaisedException(in_flight);
}


/* ------------------------------------------------------------------ */
/* Session methods */

static PyObject *edit_with_beat(LinkObject *self, PyObject *arg, enum link_edit_kind kind)
{
    link_edit_op e = {kind, 0.0, false, 0};
    if (aal_to_beat(arg, "beat", &e.value) < 0 || link_edit(self, &e) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Link_request_beat_doc,
             "request_beat($self, beat, /)\n--\n\n"
             "Ask to map beat (for the current quantum) to now; with peers connected Link\n"
             "only shifts it to the next quantum boundary.  Pending syncs follow.");

static PyObject *Link_request_beat(LinkObject *self, PyObject *beat)
{
    return edit_with_beat(self, beat, EDIT_REQUEST_BEAT);
}

PyDoc_STRVAR(Link_force_beat_doc,
             "force_beat($self, beat, /)\n--\n\n"
             "Map beat to now, for every peer of the session (use with care).  Pending\n"
             "syncs follow the new timeline.");

static PyObject *Link_force_beat(LinkObject *self, PyObject *beat)
{
    return edit_with_beat(self, beat, EDIT_FORCE_BEAT);
}

PyDoc_STRVAR(Link_request_beat_at_start_playing_time_doc,
             "request_beat_at_start_playing_time($self, beat, /)\n--\n\n"
             "Map beat to the time transport started playing (no-op when not playing).");

static PyObject *Link_request_beat_at_start_playing_time(LinkObject *self, PyObject *beat)
{
    return edit_with_beat(self, beat, EDIT_REQUEST_BEAT_AT_START);
}

PyDoc_STRVAR(Link_set_is_playing_and_request_beat_at_time_doc,
             "set_is_playing_and_request_beat_at_time($self, playing, time, beat)\n--\n\n"
             "Set the transport state at time (Link clock: a datetime.timedelta, or float\n"
             "seconds, as Link.time) and map beat to that time.");

static PyObject *Link_set_is_playing_and_request_beat_at_time(LinkObject *self, PyObject *args,
                                                              PyObject *kwds)
{
    static char *kwlist[] = {"playing", "time", "beat", NULL};
    PyObject *playing, *time, *beat;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:set_is_playing_and_request_beat_at_time",
                                     kwlist, &playing, &time, &beat))
        return NULL;
    link_edit_op e = {EDIT_PLAY_AND_REQUEST_BEAT, 0.0, false, 0};
    if (aal_to_bool(playing, "playing", &e.flag) < 0 ||
        aal_to_micros(time, self->state->timedelta, "time", &e.time_us) < 0 ||
        aal_to_beat(beat, "beat", &e.value) < 0 || link_edit(self, &e) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Callback methods: the registry is in link_delivery.c. */

#define CALLBACK_METHODS(name, kind)                                                   \
    static PyObject *Link_set_##name##_callback(LinkObject *self, PyObject *cb)        \
    {                                                                                  \
        return link_callback_op(self, kind, CB_SET, cb);                               \
    }                                                                                  \
    static PyObject *Link_add_##name##_callback(LinkObject *self, PyObject *cb)        \
    {                                                                                  \
        return link_callback_op(self, kind, CB_ADD, cb);                               \
    }                                                                                  \
    static PyObject *Link_remove_##name##_callback(LinkObject *self, PyObject *cb)     \
    {                                                                                  \
        return link_callback_op(self, kind, CB_REMOVE, cb);                            \
    }

PyDoc_STRVAR(Link_set_num_peers_callback_doc,
             "set_num_peers_callback($self, callback, /)\n--\n\n"
             "Replace every num_peers callback with callback (None clears them).  It is\n"
             "called on the Link's event loop with the number of peers (int).");
PyDoc_STRVAR(Link_add_num_peers_callback_doc,
             "add_num_peers_callback($self, callback, /)\n--\n\n"
             "Add a callback called on the Link's event loop with the number of peers (int).");
PyDoc_STRVAR(Link_remove_num_peers_callback_doc,
             "remove_num_peers_callback($self, callback, /)\n--\n\n"
             "Remove callback if it is registered (no error otherwise).");
CALLBACK_METHODS(num_peers, AAL_EVENT_PEERS)

PyDoc_STRVAR(Link_set_tempo_callback_doc,
             "set_tempo_callback($self, callback, /)\n--\n\n"
             "Replace every tempo callback with callback (None clears them).  It is called\n"
             "on the Link's event loop with the new tempo in bpm (float).");
PyDoc_STRVAR(Link_add_tempo_callback_doc,
             "add_tempo_callback($self, callback, /)\n--\n\n"
             "Add a callback called on the Link's event loop with the tempo in bpm (float).");
PyDoc_STRVAR(Link_remove_tempo_callback_doc,
             "remove_tempo_callback($self, callback, /)\n--\n\n"
             "Remove callback if it is registered (no error otherwise).");
CALLBACK_METHODS(tempo, AAL_EVENT_TEMPO)

PyDoc_STRVAR(Link_set_start_stop_callback_doc,
             "set_start_stop_callback($self, callback, /)\n--\n\n"
             "Replace every start/stop callback with callback (None clears them).  It is\n"
             "called on the Link's event loop with the playing state (bool).");
PyDoc_STRVAR(Link_add_start_stop_callback_doc,
             "add_start_stop_callback($self, callback, /)\n--\n\n"
             "Add a callback called on the Link's event loop with the playing state (bool).");
PyDoc_STRVAR(Link_remove_start_stop_callback_doc,
             "remove_start_stop_callback($self, callback, /)\n--\n\n"
             "Remove callback if it is registered (no error otherwise).");
CALLBACK_METHODS(start_stop, AAL_EVENT_START_STOP)

/* ------------------------------------------------------------------ */
/* close, context manager, repr */

void link_close(LinkObject *self)
{
    if (self->closed)
        return;
    link_close_native(self);
    link_cancel_pending(self);
    link_detach_loop(self);
}

PyDoc_STRVAR(Link_close_doc,
             "close($self, /)\n--\n\n"
             "Leave the session and stop the Link's threads now instead of when it is\n"
             "garbage-collected.  Every pending sync() future is cancelled (a task\n"
             "awaiting one, or iterating every(), ends as cancelled).  May be called\n"
             "from any thread.  Idempotent.");

static PyObject *Link_close(LinkObject *self, PyObject *Py_UNUSED(ignored))
{
    link_close(self);
    Py_RETURN_NONE;
}

static PyObject *Link_enter(LinkObject *self, PyObject *Py_UNUSED(ignored))
{
    if (link_check_usable(self) < 0)
        return NULL;
    return Py_NewRef(self);
}

static PyObject *Link_exit(LinkObject *self, PyObject *Py_UNUSED(args))
{
    return Link_close(self, NULL);
}

static PyObject *Link_repr(LinkObject *self)
{
    if (self->closed)
        return PyUnicode_FromFormat("<aalink.Link closed>");
    aal_snapshot snap;
    if (link_snapshot(self, &snap) < 0)
        return NULL;
    PyObject *tempo = PyFloat_FromDouble(snap.tempo);
    PyObject *beat = PyFloat_FromDouble(snap.beat);
    PyObject *r = (tempo && beat) ? PyUnicode_FromFormat("<aalink.Link tempo=%R beat=%R>", tempo,
                                                         beat)
                                  : NULL;
    Py_XDECREF(tempo);
    Py_XDECREF(beat);
    return r;
}

/* ------------------------------------------------------------------ */
/* Properties */

PyDoc_STRVAR(Link_beat_doc,
             "Beat on the session timeline now, for the current quantum (float, beats).");

static PyObject *Link_get_beat(LinkObject *self, void *closure)
{
    (void)closure;
    /* Read by coroutines on every beat: only the beat, not a whole snapshot. */
    double beat;
    return link_beat_ahead(self, 0, &beat) < 0 ? NULL : PyFloat_FromDouble(beat);
}

PyDoc_STRVAR(Link_phase_doc, "Phase now, in [0, quantum) (float, beats).");

static PyObject *Link_get_phase(LinkObject *self, void *closure)
{
    (void)closure;
    aal_snapshot snap;
    return link_snapshot(self, &snap) < 0 ? NULL : PyFloat_FromDouble(snap.phase);
}

PyDoc_STRVAR(Link_tempo_doc,
             "Session tempo in bpm (float); setting commits it now.  Values must be > 0\n"
             "and finite, and are clamped to Link's range, 20 to 999 bpm.");

static PyObject *Link_get_tempo(LinkObject *self, void *closure)
{
    (void)closure;
    double bpm;
    return link_read_tempo(self, &bpm) < 0 ? NULL : PyFloat_FromDouble(bpm);
}

static int Link_set_tempo(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (link_refuse_delete(value, "tempo") < 0)
        return -1;
    link_edit_op e = {EDIT_TEMPO, 0.0, false, 0};
    if (aal_to_finite_double(value, "tempo", &e.value) < 0 || link_check_bpm(e.value) < 0)
        return -1;
    /* Link clamps to its range; do it here so that what we commit is what
     * the session gets. */
    e.value = link_clamp_bpm(e.value);
    if (link_check_usable(self) < 0)
        return -1;
    /* An explicit tempo ends a ramp; cancelling waits for a ramp step
     * under way (a commit into Link), so without the GIL. */
    Py_BEGIN_ALLOW_THREADS
    aal_sched_cancel_ramp(self->sched);
    Py_END_ALLOW_THREADS
    return link_edit(self, &e);
}

PyDoc_STRVAR(Link_playing_doc, "Transport state (bool); setting commits it now.");

static PyObject *Link_get_playing(LinkObject *self, void *closure)
{
    (void)closure;
    aal_snapshot snap;
    return link_snapshot(self, &snap) < 0 ? NULL : PyBool_FromLong(snap.playing);
}

static int Link_set_playing(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (link_refuse_delete(value, "playing") < 0)
        return -1;
    link_edit_op e = {EDIT_PLAYING, 0.0, false, 0};
    if (aal_to_bool(value, "playing", &e.flag) < 0)
        return -1;
    return link_edit(self, &e);
}

PyDoc_STRVAR(Link_time_doc,
             "Link's clock now (datetime.timedelta, microsecond resolution, monotonic).");

static PyObject *Link_get_time(LinkObject *self, void *closure)
{
    (void)closure;
    int64_t us;
    if (link_read_clock(self, &us) < 0)
        return NULL;
    return PyObject_CallFunction(self->state->timedelta, "iiL", 0, 0, (long long)us);
}

PyDoc_STRVAR(Link_num_peers_doc,
             "Number of other peers in the Link session (int; 0 when alone or disabled).");

static PyObject *Link_get_num_peers(LinkObject *self, void *closure)
{
    (void)closure;
    int64_t n;
    if (link_read_num_peers(self, &n) < 0)
        return NULL;
    return PyLong_FromLongLong((long long)n);
}

PyDoc_STRVAR(Link_enabled_doc, "Whether Link networking is on (bool, default False).");

static PyObject *Link_get_enabled(LinkObject *self, void *closure)
{
    (void)closure;
    bool on;
    return link_read_flag(self, false, &on) < 0 ? NULL : PyBool_FromLong(on);
}

static int Link_set_enabled(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (link_refuse_delete(value, "enabled") < 0)
        return -1;
    bool enable;
    if (aal_to_bool(value, "enabled", &enable) < 0 || link_write_enabled(self, enable) < 0)
        return -1;
    return 0;
}

PyDoc_STRVAR(Link_start_stop_sync_enabled_doc,
             "Whether play/stop state is shared with peers (bool, default False).");

static PyObject *Link_get_start_stop_sync_enabled(LinkObject *self, void *closure)
{
    (void)closure;
    bool on;
    return link_read_flag(self, true, &on) < 0 ? NULL : PyBool_FromLong(on);
}

static int Link_set_start_stop_sync_enabled(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (link_refuse_delete(value, "start_stop_sync_enabled") < 0)
        return -1;
    bool enable;
    if (aal_to_bool(value, "start_stop_sync_enabled", &enable) < 0 ||
        link_write_start_stop_sync(self, enable) < 0)
        return -1;
    return 0;
}

PyDoc_STRVAR(Link_following_doc,
             "For Link(None): True while, just after enabling, it is still looking for a\n"
             "session to adopt (up to 1 s); then it has joined one or kept 120 bpm.");

static PyObject *Link_get_following(LinkObject *self, void *closure)
{
    (void)closure;
    if (self->closed || !self->sched || !aal_sched_following(self->sched))
        Py_RETURN_FALSE;
    int64_t peers; /* the thread notices a joined session only every 0.4 s */
    if (link_read_num_peers(self, &peers) < 0)
        return NULL;
    return PyBool_FromLong(peers == 0);
}

PyDoc_STRVAR(Link_quantum_doc, "Quantum for beat and phase, in beats (float > 0, default 1).");

static PyObject *Link_get_quantum(LinkObject *self, void *closure)
{
    (void)closure;
    return PyFloat_FromDouble(self->quantum);
}

static int Link_set_quantum(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (link_refuse_delete(value, "quantum") < 0)
        return -1;
    double q;
    if (aal_to_beat(value, "quantum", &q) < 0)
        return -1;
    if (!(q > 0.0)) {
        PyErr_Format(PyExc_ValueError, "quantum must be > 0, not %R", value);
        return -1;
    }
    if (link_check_usable(self) < 0)
        return -1;
    self->quantum = q;
    aal_sched_set_quantum(self->sched, q);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tables */

#define METHOD(name, fn, flags) {name, (PyCFunction)(void (*)(void))fn, flags, fn##_doc}

static PyMethodDef Link_methods[] = {
    METHOD("sync", Link_sync, METH_FASTCALL | METH_KEYWORDS),
    METHOD("request_beat", Link_request_beat, METH_O),
    METHOD("force_beat", Link_force_beat, METH_O),
    METHOD("request_beat_at_start_playing_time", Link_request_beat_at_start_playing_time,
           METH_O),
    METHOD("set_is_playing_and_request_beat_at_time",
           Link_set_is_playing_and_request_beat_at_time, METH_VARARGS | METH_KEYWORDS),
    METHOD("set_num_peers_callback", Link_set_num_peers_callback, METH_O),
    METHOD("add_num_peers_callback", Link_add_num_peers_callback, METH_O),
    METHOD("remove_num_peers_callback", Link_remove_num_peers_callback, METH_O),
    METHOD("set_tempo_callback", Link_set_tempo_callback, METH_O),
    METHOD("add_tempo_callback", Link_add_tempo_callback, METH_O),
    METHOD("remove_tempo_callback", Link_remove_tempo_callback, METH_O),
    METHOD("set_start_stop_callback", Link_set_start_stop_callback, METH_O),
    METHOD("add_start_stop_callback", Link_add_start_stop_callback, METH_O),
    METHOD("remove_start_stop_callback", Link_remove_start_stop_callback, METH_O),
    METHOD("time_at_beat", Link_time_at_beat, METH_O),
    METHOD("beat_at_time", Link_beat_at_time, METH_O),
    METHOD("ramp_tempo", Link_ramp_tempo, METH_VARARGS | METH_KEYWORDS),
    METHOD("every", Link_every, METH_FASTCALL | METH_KEYWORDS),
    METHOD("reset_stats", Link_reset_stats, METH_NOARGS),
    METHOD("_sync_at", Link_sync_at, METH_VARARGS | METH_KEYWORDS),
    METHOD("set_channels_callback", Link_set_channels_callback, METH_O),
    METHOD("sink", Link_sink, METH_VARARGS | METH_KEYWORDS),
    METHOD("source", Link_source, METH_VARARGS | METH_KEYWORDS),
    METHOD("close", Link_close, METH_NOARGS),
    {"__enter__", (PyCFunction)Link_enter, METH_NOARGS, "Return the Link."},
    {"__exit__", (PyCFunction)Link_exit, METH_VARARGS, "Close the Link."},
    METHOD("_attach_loop", Link_attach_loop, METH_NOARGS),
    METHOD("_scheduler_stats", Link_scheduler_stats, METH_NOARGS),
    {NULL, NULL, 0, NULL},
};

#define GETSET(name, get, set, doc) {name, (getter)get, (setter)set, doc, NULL}

static PyGetSetDef Link_getset[] = {
    GETSET("num_peers", Link_get_num_peers, NULL, Link_num_peers_doc),
    GETSET("beat", Link_get_beat, NULL, Link_beat_doc),
    GETSET("phase", Link_get_phase, NULL, Link_phase_doc),
    GETSET("time", Link_get_time, NULL, Link_time_doc),
    GETSET("quantum", Link_get_quantum, Link_set_quantum, Link_quantum_doc),
    GETSET("enabled", Link_get_enabled, Link_set_enabled, Link_enabled_doc),
    GETSET("start_stop_sync_enabled", Link_get_start_stop_sync_enabled,
           Link_set_start_stop_sync_enabled, Link_start_stop_sync_enabled_doc),
    GETSET("tempo", Link_get_tempo, Link_set_tempo, Link_tempo_doc),
    GETSET("lead", Link_get_lead, Link_set_lead, Link_lead_doc),
    GETSET("clock_offset", Link_get_clock_offset, NULL, Link_clock_offset_doc),
    GETSET("following", Link_get_following, NULL, Link_following_doc),
    GETSET("ramping", Link_get_ramping, NULL, Link_ramping_doc),
    GETSET("stats", Link_get_stats, NULL, Link_stats_doc),
    GETSET("playing", Link_get_playing, Link_set_playing, Link_playing_doc),
    GETSET("realtime", Link_get_realtime, Link_set_realtime, Link_realtime_doc),
    GETSET("audio_enabled", Link_get_audio_enabled, Link_set_audio_enabled,
           Link_audio_enabled_doc),
    GETSET("peer_name", Link_get_peer_name, Link_set_peer_name, Link_peer_name_doc),
    GETSET("channels", Link_get_channels, NULL, Link_channels_doc),
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Link_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(LinkObject, weakreflist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

PyDoc_STRVAR(Link_doc,
             "Link(bpm, loop=None, *, realtime=False)\n--\n\n"
             "An Ableton Link session member whose sync() futures resume asyncio code on\n"
             "the beat.  bpm is the initial tempo (clamped to 20..999), or None to\n"
             "propose none: for 1 s after enabling the Link only looks for a session to\n"
             "adopt, and keeps 120 bpm if it finds none.  loop is the\n"
             "asyncio event loop to deliver to: by default the running loop, or, outside\n"
             "one, the loop of the first sync().  A new Link is disabled; set\n"
             "enabled = True to join the network session.  realtime=True moves its\n"
             "timing threads to a real-time policy (see Link.realtime).");

static PyType_Slot Link_slots[] = {
    {Py_tp_new, Link_new},
    {Py_tp_dealloc, Link_dealloc},
    {Py_tp_traverse, Link_traverse},
    {Py_tp_clear, Link_clear},
    {Py_tp_repr, Link_repr},
    {Py_tp_methods, Link_methods},
    {Py_tp_getset, Link_getset},
    {Py_tp_members, Link_members},
    {Py_tp_doc, (void *)Link_doc},
    {0, NULL},
};

PyType_Spec Link_spec = {
    .name = "aalink.Link",
    .basicsize = sizeof(LinkObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Link_slots,
};
