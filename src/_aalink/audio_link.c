/* audio_link.c - the Link's side of Link Audio: audio_enabled, peer_name,
 * channels and their changed-callback, sink() and source(), the module's
 * audio types, and closing a Link's sinks and sources with it.
 * Threads, locks: see audio.h.  Calls into Link hold session_mu with the
 * GIL released, like link_session.c's, so close() never destroys the
 * native Link under them. */
#include "audio.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "link_object.h"
#include "loop_waker.h"

int audio_check(LinkObject *link)
{
    if (!aal_audio_available()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "Link Audio needs Ableton Link 4.0 or later; this aalink was built "
                        "against an older Link (see aalink.LINK_VERSION and "
                        "aalink.HAS_LINK_AUDIO)");
        return -1;
    }
    return link_check_usable(link);
}

aal_link_audio *audio_state_of(LinkObject *link)
{
    if (link->audio)
        return link->audio;
    aal_link_audio *a = calloc(1, sizeof *a);
    if (!a || aal_mutex_init(&a->mu) != 0) {
        free(a);
        PyErr_NoMemory();
        return NULL;
    }
    a->wake_fd = -1;
    link->audio = a;
    return a;
}

void audio_member_add(LinkObject *link, aal_audio_member *m)
{
    aal_link_audio *a = link->audio;
    m->next = a->members;
    m->prev = &a->members;
    if (a->members)
        a->members->prev = &m->next;
    a->members = m;
}

void audio_member_remove(aal_audio_member *m)
{
    if (!m->prev)
        return;
    *m->prev = m->next;
    if (m->next)
        m->next->prev = m->prev;
    m->next = NULL;
    m->prev = NULL;
}

/* Link's thread, Link's callback lock held: record and wake, nothing else. */
static void on_channels_changed(void *context)
{
    aal_link_audio *a = context;
    aal_mutex_lock(&a->mu);
    if (!a->signalled && a->wake_fd >= 0) {
        a->signalled = true;
        aal_wakefd_signal(a->wake_fd);
    }
    aal_mutex_unlock(&a->mu);
}

void audio_link_close(LinkObject *link)
{
    aal_link_audio *a = link->audio;
    if (!a)
        return;
    while (a->members) {
        aal_audio_member *m = a->members;
        audio_member_remove(m);
        m->close(m->self);
    }
    aal_mutex_lock(&a->mu);
    a->wake_fd = -1;
    aal_mutex_unlock(&a->mu);
    if (a->native_cb && link->link) {
        a->native_cb = false;
        Py_BEGIN_ALLOW_THREADS
        aal_mutex_lock(&link->session_mu);
        aal_audio_set_channels_callback(link->link, NULL, NULL);
        aal_mutex_unlock(&link->session_mu);
        Py_END_ALLOW_THREADS
    }
    PyObject *waker = a->waker;
    a->waker = NULL;
    Py_CLEAR(a->loop);
    if (waker) {
        loop_waker_detach(waker);
        Py_DECREF(waker);
    }
}

/* The sources among the members, as a list of strong references (closing
 * one edits the member list).  NULL with an exception. */
static PyObject *source_members(aal_link_audio *a)
{
    PyObject *list = PyList_New(0);
    for (aal_audio_member *m = a->members; list && m; m = m->next) {
        if (m->is_source && PyList_Append(list, m->self) < 0)
            Py_CLEAR(list);
    }
    return list;
}

void audio_link_loop_closed(LinkObject *link)
{
    aal_link_audio *a = link->audio;
    if (!a || !a->members)
        return;
    PyObject *in_flight = PyErr_GetRaisedException();
    PyObject *sources = source_members(a);
    for (Py_ssize_t i = 0; sources && i < PyList_GET_SIZE(sources); i++)
        audio_source_check_loop(PyList_GET_ITEM(sources, i));
    if (!sources)
        PyErr_WriteUnraisable((PyObject *)link);
    Py_XDECREF(sources);
    PyErr_SetRaisedException(in_flight);
}

void audio_link_free(LinkObject *link)
{
    aal_link_audio *a = link->audio;
    if (!a)
        return;
    link->audio = NULL;
    Py_CLEAR(a->callback);
    Py_CLEAR(a->waker);
    Py_CLEAR(a->loop);
    aal_mutex_destroy(&a->mu);
    free(a);
}

int audio_link_traverse(LinkObject *link, visitproc visit, void *arg)
{
    if (link->audio) {
        Py_VISIT(link->audio->callback);
        Py_VISIT(link->audio->waker);
        Py_VISIT(link->audio->loop);
    }
    return 0;
}

void audio_link_clear(LinkObject *link)
{
    if (link->audio)
        Py_CLEAR(link->audio->callback);
}

/* ---- channel ids ---- */

PyObject *audio_id_str(const aal_audio_id *id)
{
    char hex[17];
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", id->bytes[i]);
    return PyUnicode_FromStringAndSize(hex, 16);
}

int audio_parse_id(PyObject *obj, aal_audio_id *out)
{
    PyObject *str = NULL;
    if (PyTuple_Check(obj) && PyTuple_GET_SIZE(obj) > 0) /* a Channel */
        obj = PyTuple_GET_ITEM(obj, 0);
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "a channel is a Channel or its id (16 hex digits), not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    str = obj;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(str, &n);
    if (!s)
        return -1;
    for (int i = 0; n == 16 && i < 8; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)s[2 * i]) ||
            !isxdigit((unsigned char)s[2 * i + 1]))
            break;
        out->bytes[i] = (uint8_t)v;
        if (i == 7)
            return 0;
    }
    PyErr_Format(PyExc_ValueError, "a channel id is 16 hex digits, not %R", str);
    return -1;
}

/* ---- properties ---- */

AAL_DOC(Link_audio_enabled_doc,
        "Whether Link Audio is on (off by default): sinks announce their channels and\n"
        "sources receive only while it is on and the Link is enabled.  Always False\n"
        "without Link Audio (HAS_LINK_AUDIO); setting it raises RuntimeError there.");

PyObject *Link_get_audio_enabled(LinkObject *self, void *closure)
{
    (void)closure;
    if (!aal_audio_available())
        Py_RETURN_FALSE;
    if (link_check_usable(self) < 0)
        return NULL;
    bool on;
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&self->session_mu);
    on = self->link && aal_audio_is_enabled(self->link);
    aal_mutex_unlock(&self->session_mu);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(on);
}

/* Runs a status call on the native Link with session_mu held, GIL
 * released; RuntimeError on failure. */
#define AUDIO_CALL(self, expr, what)                                                  \
    do {                                                                              \
        int rc_;                                                                      \
        Py_BEGIN_ALLOW_THREADS                                                        \
        aal_mutex_lock(&(self)->session_mu);                                          \
        rc_ = (self)->link ? (expr) : -2;                                             \
        aal_mutex_unlock(&(self)->session_mu);                                        \
        Py_END_ALLOW_THREADS                                                          \
        if (rc_ == -2)                                                                \
            return link_raise_closed();                                               \
        if (rc_ < 0) {                                                                \
            PyErr_SetString(PyExc_RuntimeError, "Ableton Link Audio call failed: " what); \
            return -1;                                                                \
        }                                                                             \
    } while (0)

int Link_set_audio_enabled(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    bool on;
    if (link_refuse_delete(value, "audio_enabled") < 0 ||
        aal_to_bool(value, "audio_enabled", &on) < 0 || audio_check(self) < 0)
        return -1;
    AUDIO_CALL(self, aal_audio_enable(self->link, on), "enable");
    return 0;
}

AAL_DOC(Link_peer_name_doc,
        "This peer's name in the session's channel list (str; 'aalink' by default;\n"
        "Link truncates it to 256 bytes).");

PyObject *Link_get_peer_name(LinkObject *self, void *closure)
{
    (void)closure;
    if (audio_check(self) < 0)
        return NULL;
    char buf[AAL_AUDIO_NAME_MAX + 1];
    int n;
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&self->session_mu);
    n = self->link ? aal_audio_peer_name(self->link, buf, sizeof buf) : -2;
    aal_mutex_unlock(&self->session_mu);
    Py_END_ALLOW_THREADS
    if (n == -2) {
        link_raise_closed();
        return NULL;
    }
    if (n < 0) {
        PyErr_SetString(PyExc_RuntimeError, "Ableton Link Audio call failed: peer name");
        return NULL;
    }
    return PyUnicode_DecodeUTF8(buf, n, "replace");
}

int Link_set_peer_name(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (link_refuse_delete(value, "peer_name") < 0)
        return -1;
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "peer_name must be a str, not %.100s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    const char *name = PyUnicode_AsUTF8(value);
    if (!name || audio_check(self) < 0)
        return -1;
    AUDIO_CALL(self, aal_audio_set_peer_name(self->link, name), "peer name");
    return 0;
}

AAL_DOC(Link_channels_doc,
        "The audio channels in the session (this peer's own included), as a list of\n"
        "Channel(id, name, peer_id, peer_name); ids are 16 hex digits.");

PyObject *Link_get_channels(LinkObject *self, void *closure)
{
    (void)closure;
    if (audio_check(self) < 0)
        return NULL;
    size_t cap = 16;
    aal_channel *buf = NULL;
    int n = 0;
    for (;;) {
        aal_channel *grown = realloc(buf, cap * sizeof *buf);
        if (!grown) {
            free(buf);
            return PyErr_NoMemory();
        }
        buf = grown;
        Py_BEGIN_ALLOW_THREADS
        aal_mutex_lock(&self->session_mu);
        n = self->link ? aal_audio_channels(self->link, buf, cap) : -2;
        aal_mutex_unlock(&self->session_mu);
        Py_END_ALLOW_THREADS
        if (n < 0 || (size_t)n <= cap)
            break;
        cap = (size_t)n + 8;
    }
    if (n < 0) {
        free(buf);
        if (n == -2)
            link_raise_closed();
        else
            PyErr_SetString(PyExc_RuntimeError, "Ableton Link Audio call failed: channels");
        return NULL;
    }
    PyObject *list = PyList_New(n);
    for (int i = 0; list && i < n; i++) {
        PyObject *ch = PyStructSequence_New(self->state->Channel_type);
        PyObject *f[4] = {audio_id_str(&buf[i].id),
                          PyUnicode_DecodeUTF8(buf[i].name, strlen(buf[i].name), "replace"),
                          audio_id_str(&buf[i].peer_id),
                          PyUnicode_DecodeUTF8(buf[i].peer_name, strlen(buf[i].peer_name),
                                               "replace")};
        bool ok = ch && f[0] && f[1] && f[2] && f[3];
        for (int k = 0; k < 4; k++) {
            if (ok)
                PyStructSequence_SET_ITEM(ch, k, f[k]);
            else
                Py_XDECREF(f[k]);
        }
        if (!ok) {
            Py_XDECREF(ch);
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, ch);
    }
    free(buf);
    return list;
}

/* ---- channels-changed callback: delivered on the loop ---- */

static int channels_batch_ready(PyObject *owner)
{
    LinkObject *self = (LinkObject *)owner;
    aal_link_audio *a = self->audio;
    if (!a)
        return 0;
    aal_mutex_lock(&a->mu);
    a->signalled = false;
    aal_mutex_unlock(&a->mu);
    if (self->closed)
        return 0;
    int rc = 0;
    PyObject *sources = source_members(a);
    if (!sources)
        return -1;
    if (PyList_GET_SIZE(sources)) { /* has a source's channel gone? */
        PyObject *channels = Link_get_channels(self, NULL);
        for (Py_ssize_t i = 0; channels && i < PyList_GET_SIZE(sources); i++) {
            if (audio_source_channels_changed(PyList_GET_ITEM(sources, i), channels) < 0)
                rc = -1;
        }
        if (!channels)
            rc = -1;
        Py_XDECREF(channels);
    }
    Py_DECREF(sources);
    if (rc < 0 || !a->callback || self->closed)
        return rc;
    PyObject *cb = Py_NewRef(a->callback);
    PyObject *r = PyObject_CallNoArgs(cb);
    Py_DECREF(cb);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

static void channels_future_done(PyObject *owner) { (void)owner; }

static const aal_waker_client channels_client = {channels_batch_ready, channels_future_done};

int audio_watch_channels(LinkObject *self)
{
    aal_link_audio *a = audio_state_of(self);
    if (!a)
        return -1;
    PyObject *loop = link_loop_for_sync(self);
    if (!loop)
        return -1;
    if (a->waker && a->loop != loop) { /* the watched loop closed: move */
        PyObject *old = a->waker;
        a->waker = NULL;
        Py_CLEAR(a->loop);
        aal_mutex_lock(&a->mu);
        a->wake_fd = -1;
        a->signalled = false;
        aal_mutex_unlock(&a->mu);
        loop_waker_detach(old);
        Py_DECREF(old);
    }
    if (!a->waker) {
        a->waker = loop_waker_attach(self->state, loop, (PyObject *)self, &channels_client);
        if (!a->waker)
            return -1;
        a->loop = Py_NewRef(loop);
        aal_mutex_lock(&a->mu);
        a->wake_fd = loop_waker_write_fd(a->waker);
        aal_mutex_unlock(&a->mu);
    }
    if (!a->native_cb) {
        int rc;
        Py_BEGIN_ALLOW_THREADS
        aal_mutex_lock(&self->session_mu);
        rc = self->link ? aal_audio_set_channels_callback(self->link, on_channels_changed, a) : -1;
        aal_mutex_unlock(&self->session_mu);
        Py_END_ALLOW_THREADS
        if (rc < 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "Ableton Link Audio call failed: channels callback");
            return -1;
        }
        a->native_cb = true;
    }
    return 0;
}

AAL_DOC(Link_set_channels_callback_doc,
        "set_channels_callback($self, callback, /)\n--\n\n"
        "Call callback() on the Link's event loop whenever channels appear, vanish or\n"
        "are renamed (read Link.channels there).  None clears it.  Changes that come\n"
        "together give one call.");

PyObject *Link_set_channels_callback(LinkObject *self, PyObject *cb)
{
    if (cb != Py_None && !PyCallable_Check(cb)) {
        PyErr_Format(PyExc_TypeError, "callback must be callable or None, not %.100s",
                     Py_TYPE(cb)->tp_name);
        return NULL;
    }
    if (audio_check(self) < 0)
        return NULL;
    aal_link_audio *a = audio_state_of(self);
    if (!a)
        return NULL;
    if (cb != Py_None && audio_watch_channels(self) < 0)
        return NULL;
    Py_XSETREF(a->callback, cb == Py_None ? NULL : Py_NewRef(cb));
    Py_RETURN_NONE;
}

/* ---- sink() and source() ---- */

AAL_DOC(Link_sink_doc,
        "sink($self, name, max_samples=4096)\n--\n\n"
        "Announce an audio channel called name and return its AudioSink.  max_samples\n"
        "is the room per buffer (frames * channels); larger writes go in pieces.");

PyObject *Link_sink(LinkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "max_samples", NULL};
    PyObject *name;
    Py_ssize_t max_samples = 4096;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|n:sink", kwlist, &name, &max_samples))
        return NULL;
    if (max_samples < 2 || max_samples > (1 << 24)) { /* at least a stereo frame */
        PyErr_Format(PyExc_ValueError, "max_samples must be in 2..%d, not %zd", 1 << 24,
                     max_samples);
        return NULL;
    }
    if (audio_check(self) < 0 || !audio_state_of(self))
        return NULL;
    return audio_sink_new(self, name, max_samples);
}

AAL_DOC(Link_source_doc,
        "source($self, channel=None, *, peer=None, name=None, callback=None, ring=64,\n"
        "       on_close=None)\n--\n\n"
        "Subscribe to a channel (a Channel or its id; or the one named name of the peer\n"
        "named peer) and return its AudioSource.  Buffers arrive as AudioBlock: by\n"
        "`async for block in source`, or as callback(block) on the Link's loop.  Up to\n"
        "ring buffers wait for Python; beyond that the oldest is dropped and counted.\n"
        "on_close(exc) runs once on the Link's loop when the source closes: exc is the\n"
        "LookupError when its channel left the session, None when this program closed\n"
        "it (its close(), the Link's).  LookupError if the channel is not in the\n"
        "session.");

PyObject *Link_source(LinkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"channel", "peer", "name", "callback", "ring", "on_close", NULL};
    PyObject *channel = Py_None, *peer = Py_None, *name = Py_None, *callback = Py_None;
    PyObject *on_close = Py_None;
    Py_ssize_t ring = AAL_RING_DEFAULT;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$OOOnO:source", kwlist, &channel, &peer,
                                     &name, &callback, &ring, &on_close))
        return NULL;
    if (ring < 1 || ring > AAL_RING_MAX) {
        PyErr_Format(PyExc_ValueError, "ring must be in 1..%d, not %zd", AAL_RING_MAX, ring);
        return NULL;
    }
    if (callback != Py_None && !PyCallable_Check(callback)) {
        PyErr_Format(PyExc_TypeError, "callback must be callable or None, not %.100s",
                     Py_TYPE(callback)->tp_name);
        return NULL;
    }
    if (on_close != Py_None && !PyCallable_Check(on_close)) {
        PyErr_Format(PyExc_TypeError, "on_close must be callable or None, not %.100s",
                     Py_TYPE(on_close)->tp_name);
        return NULL;
    }
    if ((channel == Py_None) == (peer == Py_None && name == Py_None) ||
        (channel == Py_None && (peer == Py_None || name == Py_None))) {
        PyErr_SetString(PyExc_TypeError,
                        "source() takes a channel, or both peer= and name=");
        return NULL;
    }
    if (audio_check(self) < 0 || !audio_state_of(self))
        return NULL;
    aal_audio_id id;
    if (channel != Py_None && audio_parse_id(channel, &id) < 0)
        return NULL;
    /* The channel must be in the session now (by id, or by names). */
    PyObject *channels = Link_get_channels(self, NULL);
    if (!channels)
        return NULL;
    PyObject *want = channel != Py_None ? audio_id_str(&id) : NULL;
    bool found = false;
    PyObject *match = NULL;
    for (Py_ssize_t i = 0; !found && i < PyList_GET_SIZE(channels); i++) {
        PyObject *ch = PyList_GET_ITEM(channels, i);
        int eq;
        if (want) {
            eq = PyObject_RichCompareBool(PyStructSequence_GET_ITEM(ch, 0), want, Py_EQ);
        } else {
            eq = PyObject_RichCompareBool(PyStructSequence_GET_ITEM(ch, 3), peer, Py_EQ);
            if (eq > 0)
                eq = PyObject_RichCompareBool(PyStructSequence_GET_ITEM(ch, 1), name, Py_EQ);
            if (eq > 0 && audio_parse_id(PyStructSequence_GET_ITEM(ch, 0), &id) < 0)
                eq = -1;
        }
        if (eq < 0) {
            Py_XDECREF(want);
            Py_DECREF(channels);
            return NULL;
        }
        found = eq > 0;
        if (found)
            match = Py_NewRef(ch);
    }
    Py_DECREF(channels);
    if (!found) {
        if (want)
            PyErr_Format(PyExc_LookupError, "no channel %R in the session", want);
        else
            PyErr_Format(PyExc_LookupError, "no channel %R of peer %R in the session", name,
                         peer);
        Py_XDECREF(want);
        return NULL;
    }
    Py_XDECREF(want);
    if (audio_watch_channels(self) < 0) {
        Py_DECREF(match);
        return NULL;
    }
    PyObject *source = audio_source_new(self, &id, match, callback == Py_None ? NULL : callback,
                                        on_close == Py_None ? NULL : on_close, ring);
    Py_DECREF(match);
    return source;
}

/* ---- module types ---- */

static PyStructSequence_Field channel_fields[] = {
    {"id", "the channel's id (16 hex digits)"},
    {"name", "the channel's name"},
    {"peer_id", "the id of the peer that announces it"},
    {"peer_name", "that peer's name"},
    {NULL, NULL},
};

static PyStructSequence_Desc channel_desc = {
    "aalink.Channel", "An audio channel in the Link session.", channel_fields, 4};

static PyStructSequence_Field block_fields[] = {
    {"samples", "the interleaved int16 samples, native byte order (bytes)"},
    {"frames", "frames in the buffer"},
    {"channels", "1 (mono) or 2 (stereo)"},
    {"rate", "sample rate, Hz"},
    {"sequence", "the sender's sequence number (Link's count)"},
    {"tempo", "the session tempo when it was sent, bpm"},
    {"begin_beat", "local beat at its start (None: from another session)"},
    {"end_beat", "local beat at its end (None: from another session)"},
    {NULL, NULL},
};

static PyStructSequence_Desc block_desc = {
    "aalink.AudioBlock", "A buffer received by an AudioSource.", block_fields, 8};

int audio_module_exec(PyObject *module, aalink_state *st)
{
    st->Channel_type = PyStructSequence_NewType(&channel_desc);
    st->AudioBlock_type = st->Channel_type ? PyStructSequence_NewType(&block_desc) : NULL;
    if (!st->AudioBlock_type)
        return -1;
    st->AudioSink_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &AudioSink_spec, NULL);
    if (!st->AudioSink_type)
        return -1;
    aal_disallow_instantiation(st->AudioSink_type);
    st->AudioSource_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &AudioSource_spec, NULL);
    if (!st->AudioSource_type)
        return -1;
    aal_disallow_instantiation(st->AudioSource_type);
    if (PyModule_AddObjectRef(module, "Channel", (PyObject *)st->Channel_type) < 0 ||
        PyModule_AddObjectRef(module, "AudioBlock", (PyObject *)st->AudioBlock_type) < 0 ||
        PyModule_AddObjectRef(module, "AudioSink", (PyObject *)st->AudioSink_type) < 0 ||
        PyModule_AddObjectRef(module, "AudioSource", (PyObject *)st->AudioSource_type) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "HAS_LINK_AUDIO",
                                 aal_audio_available() ? Py_True : Py_False);
}
