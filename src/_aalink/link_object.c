/* link_object.c - the Link type: properties, Link session operations,
 * callbacks, and sync() futures handed to the native scheduler. */
#include "link_object.h"

#include <math.h>
#include <string.h>

#include <structmember.h>

#include "beatmath.h"
#include "convert.h"
#include "loop_waker.h"
#include "platform.h"

/* Ableton Link's tempo range; values outside are clamped by Link. */
#define AAL_MIN_BPM 20.0
#define AAL_MAX_BPM 999.0

/* Link(None): tempo when no session is found, and how long to look. */
#define AAL_FOLLOW_FALLBACK_BPM 120.0
#define AAL_FOLLOW_WINDOW_US 1000000

static const char *const callback_kind_names[AAL_N_CALLBACK_KINDS] = {
    "num_peers", "tempo", "start_stop"};

/* ------------------------------------------------------------------ */
/* Calls into Link: always with the GIL released and session_mu held. */

typedef int (*native_op)(aal_link *link, aal_session *session, double quantum, void *ctx);

static int link_check_usable(LinkObject *self)
{
    if (self->sched && aal_sched_forked(self->sched)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this Link was created before fork(); create a new Link in the "
                        "child process");
        return -1;
    }
    if (self->closed || !self->link) {
        PyErr_SetString(PyExc_RuntimeError, "this Link is closed");
        return -1;
    }
    return 0;
}

/* Runs op on the Link without the GIL.  0, or -1 with an exception set. */
static int run_native(LinkObject *self, native_op op, void *ctx)
{
    if (link_check_usable(self) < 0)
        return -1;
    double quantum = self->quantum;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&self->session_mu);
    rc = self->link ? op(self->link, self->session, quantum, ctx) : -2;
    aal_mutex_unlock(&self->session_mu);
    Py_END_ALLOW_THREADS
    if (rc == -2) {
        PyErr_SetString(PyExc_RuntimeError, "this Link is closed");
        return -1;
    }
    if (rc < 0) {
        PyErr_SetString(PyExc_RuntimeError, "Ableton Link call failed");
        return -1;
    }
    return 0;
}

static int op_snapshot(aal_link *link, aal_session *session, double quantum, void *ctx)
{
    return aal_link_snapshot(link, session, quantum, ctx);
}

static int link_snapshot(LinkObject *self, aal_snapshot *snap)
{
    return run_native(self, op_snapshot, snap);
}

/* One edit of the app session state, committed at the current time. */
enum edit_kind {
    EDIT_TEMPO,
    EDIT_PLAYING,
    EDIT_REQUEST_BEAT,
    EDIT_FORCE_BEAT,
    EDIT_REQUEST_BEAT_AT_START,
    EDIT_PLAY_AND_REQUEST_BEAT,
};

typedef struct {
    enum edit_kind kind;
    double value; /* bpm or beat */
    bool flag;    /* playing */
    int64_t time_us;
    double tempo_before; /* out: the tempo before this edit */
    bool playing_before; /* out: the start/stop state before this edit */
} edit;

static int op_edit(aal_link *link, aal_session *s, double quantum, void *ctx)
{
    edit *e = ctx;
    if (aal_link_capture_app_session(link, s) != 0)
        return -1;
    e->tempo_before = aal_session_tempo(s);
    e->playing_before = aal_session_is_playing(s);
    int64_t now = aal_link_clock_micros(link);
    int rc;
    switch (e->kind) {
    case EDIT_TEMPO:
        rc = aal_session_set_tempo(s, e->value, now);
        break;
    case EDIT_PLAYING:
        rc = aal_session_set_is_playing(s, e->flag, now);
        break;
    case EDIT_REQUEST_BEAT:
        rc = aal_session_request_beat_at_time(s, e->value, now, quantum);
        break;
    case EDIT_FORCE_BEAT:
        rc = aal_session_force_beat_at_time(s, e->value, now, quantum);
        break;
    case EDIT_REQUEST_BEAT_AT_START:
        rc = aal_session_request_beat_at_start_playing_time(s, e->value, quantum);
        break;
    case EDIT_PLAY_AND_REQUEST_BEAT:
        rc = aal_session_set_is_playing_and_request_beat_at_time(s, e->flag, e->time_us,
                                                                 e->value, quantum);
        break;
    default:
        rc = -1;
    }
    return rc == 0 ? aal_link_commit_app_session(link, s) : rc;
}

static int link_edit(LinkObject *self, edit *e)
{
    if (run_native(self, op_edit, e) < 0)
        return -1;
    /* Pending futures are targeted in beats: let the scheduler re-time
     * them against the new timeline. */
    aal_sched_timeline_changed(self->sched);
    /* Return once Link has applied a change it reports (tempo, start/stop),
     * so that a read, or a second commit right behind this one, sees it: a
     * commit issued while Link's thread still applies the one before can
     * read back the first (tempo) or be lost (start/stop). */
    bool sets_playing = e->kind == EDIT_PLAYING || e->kind == EDIT_PLAY_AND_REQUEST_BEAT;
    if (e->kind == EDIT_TEMPO && fabs(e->tempo_before - e->value) >= 1e-6) {
        Py_BEGIN_ALLOW_THREADS
        aal_sched_wait_tempo(self->sched, e->value, 50000);
        Py_END_ALLOW_THREADS
    }
    else if (sets_playing && e->flag != e->playing_before) {
        Py_BEGIN_ALLOW_THREADS
        aal_sched_wait_playing(self->sched, e->flag, 50000);
        Py_END_ALLOW_THREADS
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The event loop this Link delivers to. */

static void drop_future(void *ptr, void *ctx)
{
    (void)ctx;
    Py_DECREF((PyObject *)ptr);
}

/* Forgets the bound loop: unregisters its waker and drops its futures. */
static void link_detach_loop(LinkObject *self)
{
    if (self->sched && !self->closed)
        aal_sched_set_wake_fd(self->sched, -1);
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
            drop_future(batch.ready[i].ptr, NULL);
        aal_batch_release(&batch);
    }
    self->done_pending = 0;
    Py_CLEAR(self->on_future_done);
    Py_CLEAR(self->loop);
}

/* Binds to `loop` and registers the waker; the caller has checked that
 * this thread may touch the loop (it runs here, or not at all). */
static int link_attach_loop(LinkObject *self, PyObject *loop)
{
    PyObject *waker = loop_waker_attach(self->state, loop, (PyObject *)self);
    if (!waker)
        return -1;
    /* Without a waker no future was ever handed out: keep the events that
     * Link recorded before this first attach (detaching would drop them). */
    if (self->waker)
        link_detach_loop(self);
    PyObject *on_done = PyObject_GetAttrString(waker, "_future_done");
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

/* The loop for sync() and callbacks on this thread, bound if need be.
 * Returns a borrowed reference or NULL with an exception. */
static PyObject *link_loop_for_sync(LinkObject *self)
{
    PyObject *running = PyObject_CallNoArgs(self->state->get_running_loop);
    if (!running)
        return NULL;
    int rc = 0;
    if (self->loop == NULL) {
        if (running == Py_None) {
            PyErr_SetString(PyExc_RuntimeError,
                            "Link.sync() needs an event loop: call it from a coroutine, or "
                            "create the Link with Link(bpm, loop)");
            rc = -1;
        }
        else {
            rc = link_attach_loop(self, running);
        }
    }
    else if (running != Py_None && running != self->loop) {
        int closed = aal_call_bool_method(self->loop, self->state->str_is_closed);
        if (closed == 1) {
            /* The old loop is gone (a second asyncio.run): follow the
             * running one. */
            rc = link_attach_loop(self, running);
        }
        else {
            if (closed == 0)
                PyErr_SetString(PyExc_RuntimeError,
                                "this Link belongs to another event loop that is still open; "
                                "create one Link per event loop");
            rc = -1;
        }
    }
    else if (running == Py_None) {
        int is_running = aal_call_bool_method(self->loop, self->state->str_is_running);
        if (is_running == 1) {
            PyErr_SetString(PyExc_RuntimeError,
                            "Link.sync() was called from a thread that is not running the "
                            "Link's event loop; use asyncio.run_coroutine_threadsafe()");
            rc = -1;
        }
        else if (is_running < 0) {
            rc = -1;
        }
        else if (!self->waker) {
            rc = link_attach_loop(self, self->loop);
        }
    }
    else if (!self->waker) {
        rc = link_attach_loop(self, self->loop);
    }
    Py_DECREF(running);
    return rc < 0 ? NULL : self->loop;
}

/* Asks the loop's own thread to register the waker (the loop runs on
 * another thread, where add_reader must be called). */
static int link_schedule_attach(LinkObject *self)
{
    PyObject *attach = PyObject_GetAttrString((PyObject *)self, "_attach_loop");
    if (!attach)
        return -1;
    PyObject *r = PyObject_CallMethodOneArg(self->loop, self->state->str_call_soon_threadsafe,
                                            attach);
    Py_DECREF(attach);
    if (!r)
        PyErr_Clear(); /* the loop is closing: a later sync() binds a new one */
    Py_XDECREF(r);
    return 0;
}

/* Registers the waker if that is safe from this thread now (used when a
 * callback is added or at construction); when the Link's loop runs on
 * another thread, has that thread do it; otherwise sync() will. */
static int link_try_attach(LinkObject *self)
{
    if (self->waker || self->closed)
        return 0;
    PyObject *running = PyObject_CallNoArgs(self->state->get_running_loop);
    if (!running)
        return -1;
    int rc = 0;
    if (self->loop == NULL) {
        if (running != Py_None)
            rc = link_attach_loop(self, running);
    }
    else if (running == self->loop) {
        rc = link_attach_loop(self, self->loop);
    }
    else {
        int is_running = aal_call_bool_method(self->loop, self->state->str_is_running);
        int is_closed = is_running == 0 ? aal_call_bool_method(self->loop, self->state->str_is_closed)
                                        : 1;
        if (is_running < 0 || is_closed < 0)
            rc = -1;
        else if (is_running == 1)
            rc = link_schedule_attach(self); /* Link(bpm, loop) for another thread's loop */
        else if (is_closed == 0 && running == Py_None)
            rc = link_attach_loop(self, self->loop);
    }
    Py_DECREF(running);
    return rc;
}

static PyObject *Link_attach_loop(LinkObject *self, PyObject *Py_UNUSED(ignored))
{
    if (link_try_attach(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Draining: runs on the loop's thread. */

static void report_callback_error(LinkObject *self, int kind, PyObject *callback)
{
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (exc && tb)
        PyException_SetTraceback(exc, tb);
    PyObject *context = Py_BuildValue("{s:N,s:O,s:O}", "message",
                                      PyUnicode_FromFormat("Exception in aalink %s callback %R",
                                                           callback_kind_names[kind], callback),
                                      "exception", exc ? exc : Py_None, "callback", callback);
    PyObject *r = NULL;
    if (context && self->loop)
        r = PyObject_CallMethodOneArg(self->loop, self->state->str_call_exception_handler,
                                      context);
    if (!r) {
        if (!PyErr_Occurred())
            PyErr_Restore(Py_XNewRef(type), Py_XNewRef(exc), Py_XNewRef(tb));
        PyErr_WriteUnraisable(callback);
    }
    Py_XDECREF(r);
    Py_XDECREF(context);
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
}

static PyObject *event_value(const aal_event *ev)
{
    switch (ev->kind) {
    case AAL_EVENT_PEERS:
        return PyLong_FromLongLong((long long)ev->value);
    case AAL_EVENT_START_STOP:
        return PyBool_FromLong(ev->value != 0.0);
    default:
        return PyFloat_FromDouble(ev->value);
    }
}

/* Calls every callback of ev's kind; -1 when one raised SystemExit or
 * KeyboardInterrupt, which must reach the loop. */
static int deliver_event(LinkObject *self, const aal_event *ev)
{
    PyObject *list = self->callbacks[ev->kind];
    if (!list || PyList_GET_SIZE(list) == 0)
        return 0;
    PyObject *snapshot = PyList_AsTuple(list); /* callbacks may edit the list */
    PyObject *value = snapshot ? event_value(ev) : NULL;
    if (!value) {
        Py_XDECREF(snapshot);
        PyErr_WriteUnraisable((PyObject *)self);
        return 0;
    }
    int rc = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(snapshot) && rc == 0; i++) {
        PyObject *cb = PyTuple_GET_ITEM(snapshot, i);
        PyObject *r = PyObject_CallOneArg(cb, value);
        if (r) {
            Py_DECREF(r);
        }
        else if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
                 PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            rc = -1;
        }
        else {
            report_callback_error(self, ev->kind, cb);
        }
    }
    Py_DECREF(value);
    Py_DECREF(snapshot);
    return rc;
}

/* Resolves one due future; true when it was resolved here (not cancelled). */
static bool resolve_future(LinkObject *self, const aal_item *item)
{
    bool resolved = false;
    aalink_state *st = self->state;
    PyObject *fut = item->ptr;
    int done = aal_call_bool_method(fut, st->str_done);
    if (done == 0) {
        /* Our done-callback only watches for cancellation: take it off so
         * the loop does not schedule it for every resolved future. */
        PyObject *r = self->on_future_done
                          ? PyObject_CallMethodOneArg(fut, st->str_remove_done_callback,
                                                      self->on_future_done)
                          : NULL;
        Py_XDECREF(r);
        PyObject *value = PyFloat_FromDouble(item->target);
        r = value ? PyObject_CallMethodOneArg(fut, st->str_set_result, value) : NULL;
        Py_XDECREF(value);
        resolved = r != NULL;
        Py_XDECREF(r);
    }
    else if (done == 1 && self->done_pending > 0) {
        self->done_pending--;
    }
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(fut);
    Py_DECREF(fut);
    return resolved;
}

/* Holding a hand-off until its beat: the scheduler hands items over up to
 * aal_sched_handoff_us() early, so that the loop thread's wake-up is behind
 * us when the beat comes; here, without the GIL, we wait out the rest and
 * check each item against a fresh reading of the timeline. */
typedef struct {
    const aal_item *items;
    size_t n;
    int64_t window_us; /* the longest we wait for an item */
    int64_t *late_us;  /* out: now - (time of target - lead) */
    bool *due;         /* out: the item's beat has been reached */
} settle_op;

/* Items of a batch come in beat order and mostly share their target: the
 * timeline maths runs once per run of equal (target, lead). */
static bool same_due(const aal_item *a, const aal_item *b)
{
    return a->target == b->target && a->lead_us == b->lead_us;
}

static int op_settle(aal_link *link, aal_session *s, double quantum, void *ctx)
{
    settle_op *op = ctx;
    if (aal_link_capture_app_session(link, s) != 0)
        return -1;
    int64_t now = aal_link_clock_micros(link);
    int64_t until = now;
    for (size_t i = 0; i < op->n; i++) {
        const aal_item *it = &op->items[i];
        if (i > 0 && same_due(it, it - 1))
            continue;
        int64_t at = aal_session_time_at_beat(s, it->target, quantum) - it->lead_us;
        if (at > until && at <= now + op->window_us)
            until = at;
    }
    if (until > now) {
        /* Link rounds times to microseconds: one more, then re-check. */
        while (aal_link_clock_micros(link) <= until)
            ;
        if (aal_link_capture_app_session(link, s) != 0)
            return -1;
        now = aal_link_clock_micros(link);
    }
    for (size_t i = 0; i < op->n; i++) {
        const aal_item *it = &op->items[i];
        if (i > 0 && same_due(it, it - 1)) {
            op->due[i] = op->due[i - 1];
            op->late_us[i] = op->late_us[i - 1];
            continue;
        }
        op->due[i] = aal_session_beat_at_time(s, now + it->lead_us, quantum) >= it->target;
        op->late_us[i] = now - (aal_session_time_at_beat(s, it->target, quantum) - it->lead_us);
    }
    return 0;
}

int link_drain(LinkObject *self)
{
    if (!self->sched || self->closed)
        return 0;
    aal_batch batch;
    aal_sched_take(self->sched, &batch);
    size_t n = batch.n_ready;
    int64_t *late = n ? PyMem_Malloc(n * sizeof *late) : NULL;
    bool *due = n ? PyMem_Malloc(n * sizeof *due) : NULL;
    bool settled = false;
    if (late && due) {
        /* A timeline moved back by more than this gives the item back. */
        int64_t window = 2 * aal_sched_handoff_us(self->sched) + 1000;
        settle_op op = {batch.ready, n, window, late, due};
        settled = run_native(self, op_settle, &op) == 0;
        PyErr_Clear();
    }
    for (size_t i = 0; i < n; i++) {
        const aal_item *item = &batch.ready[i];
        if (!settled || !due[i]) {
            /* Not due (the timeline moved) or not checked: back to the
             * scheduler, which keeps our reference. */
            self->given_back++;
            if (aal_sched_push(self->sched, item->target, item->lead_us, item->ptr) != 0)
                drop_future(item->ptr, NULL);
            continue;
        }
        if (resolve_future(self, item))
            aal_lateness_record(&self->lateness, late[i]);
    }
    PyMem_Free(late);
    PyMem_Free(due);
    int rc = 0;
    for (size_t i = 0; i < batch.n_events && rc == 0; i++)
        rc = deliver_event(self, &batch.events[i]);
    aal_batch_release(&batch);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Cancelled futures: released promptly, not when their beat comes. */

static bool future_not_done(void *ptr, void *ctx)
{
    LinkObject *self = ctx;
    int done = aal_call_bool_method(ptr, self->state->str_done);
    if (done < 0)
        PyErr_Clear();
    return done != 1;
}

void link_future_done(LinkObject *self)
{
    if (self->closed || !self->sched)
        return;
    self->done_pending++;
    /* Compact when at least half the queue is dead: amortised O(1) per
     * cancellation, and a queue of only cancelled futures empties at once. */
    Py_ssize_t pending = (Py_ssize_t)aal_sched_pending(self->sched);
    if (self->done_pending * 2 >= pending) {
        aal_sched_filter(self->sched, future_not_done, drop_future, self);
        self->done_pending = 0;
    }
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

static int check_bpm(double bpm)
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

static PyObject *Link_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"bpm", "loop", NULL};
    PyObject *bpm_obj, *loop = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:Link", kwlist, &bpm_obj, &loop))
        return NULL;
    double bpm = AAL_FOLLOW_FALLBACK_BPM;
    bool follow = bpm_obj == Py_None;
    if (!follow && (aal_to_finite_double(bpm_obj, "bpm", &bpm) < 0 || check_bpm(bpm) < 0))
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
    self->session = aal_session_create();
    if (!self->session)
        goto nomem;
    Py_BEGIN_ALLOW_THREADS
    self->link = aal_link_create(bpm);
    self->sched = self->link ? aal_sched_create(self->link, self->quantum) : NULL;
    Py_END_ALLOW_THREADS
    if (!self->link || !self->sched)
        goto nomem;
    live_list_add(self);
    for (int i = 0; i < AAL_N_CALLBACK_KINDS; i++) {
        self->callbacks[i] = PyList_New(0);
        if (!self->callbacks[i])
            goto fail;
    }
    if (loop != Py_None)
        self->loop = Py_NewRef(loop);
    if (link_try_attach(self) < 0)
        goto fail;
    return (PyObject *)self;

nomem:
    PyErr_NoMemory();
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
    /* Pending futures are deliberately not visited: like a loop's timer
     * handles, a pending sync() keeps its waiter (and so this Link) alive
     * until its beat or its cancellation. */
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->loop);
    Py_VISIT(self->waker);
    Py_VISIT(self->on_future_done);
    for (int i = 0; i < AAL_N_CALLBACK_KINDS; i++)
        Py_VISIT(self->callbacks[i]);
    return 0;
}

static int Link_clear(LinkObject *self)
{
    if (self->waker || self->loop)
        link_detach_loop(self);
    for (int i = 0; i < AAL_N_CALLBACK_KINDS; i++)
        Py_CLEAR(self->callbacks[i]);
    return 0;
}

static void Link_dealloc(LinkObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    link_close_native(self);
    live_list_remove(self);
    Link_clear(self);
    if (self->sched) {
        aal_sched_destroy(self->sched, drop_future, NULL);
        self->sched = NULL;
    }
    if (self->session) {
        aal_session_destroy(self->session);
        aal_mutex_destroy(&self->session_mu);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp); /* the hidden reference of Link_new */
    Py_DECREF(tp);
}

/* ------------------------------------------------------------------ */
/* sync() */

/* A lead in seconds (None: the Link's default) to microseconds. */
static int parse_lead(LinkObject *self, PyObject *obj, int64_t *lead_us)
{
    double lead = self->lead;
    if (obj && obj != Py_None) {
        if (aal_to_finite_double(obj, "lead", &lead) < 0)
            return -1;
        if (lead < 0.0 || lead > 60.0) {
            PyErr_Format(PyExc_ValueError, "lead must be between 0 and 60 seconds, not %R",
                         obj);
            return -1;
        }
    }
    *lead_us = (int64_t)(lead * 1e6 + 0.5);
    return 0;
}

typedef struct {
    int64_t ahead_us;
    double beat;
} beat_ahead;

static int op_beat_ahead(aal_link *link, aal_session *s, double quantum, void *ctx)
{
    beat_ahead *b = ctx;
    if (aal_link_capture_app_session(link, s) != 0)
        return -1;
    int64_t now = aal_link_clock_micros(link);
    b->beat = aal_session_beat_at_time(s, now + b->ahead_us, quantum);
    return now < 0 || isnan(b->beat) ? -1 : 0;
}

/* Creates a future of `loop` and queues it for `target` beats. */
static PyObject *queue_future(LinkObject *self, PyObject *loop, double target, int64_t lead_us)
{
    PyObject *fut = PyObject_CallMethodNoArgs(loop, self->state->str_create_future);
    if (!fut)
        return NULL;
    /* link_loop_for_sync() attached a waker, and with it on_future_done.
     * That callback only watches for cancellation and reads no context
     * variable: an asyncio.Future is given one shared empty context rather
     * than a copy of the caller's each time (a copy per future is one more
     * object for the garbage collector to go through). */
    aalink_state *st = self->state;
    PyObject *r;
    if (Py_IS_TYPE(fut, (PyTypeObject *)st->future_type)) {
        PyObject *argv[3] = {fut, self->on_future_done, st->watch_context};
        r = PyObject_VectorcallMethod(st->str_add_done_callback, argv, 2, st->kw_context);
    }
    else {
        r = PyObject_CallMethodOneArg(fut, st->str_add_done_callback, self->on_future_done);
    }
    if (!r) {
        Py_DECREF(fut);
        return NULL;
    }
    Py_DECREF(r);
    /* The scheduler's reference: released when resolved or dropped. */
    Py_INCREF(fut);
    int rc = aal_sched_push(self->sched, target, lead_us, fut);
    if (rc != 0) {
        Py_DECREF(fut);
        Py_DECREF(fut);
        if (rc == -2)
            PyErr_Format(PyExc_ValueError,
                         "too many different leads pending at once (at most %d)",
                         AAL_MAX_LEAD_GROUPS);
        else
            PyErr_NoMemory();
        return NULL;
    }
    return fut;
}

static PyObject *Link_sync(LinkObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    /* The hot path of every coroutine: vectorcall, no argument tuple. */
    static const char *const names[] = {"beat", "offset", "origin", "lead"};
    PyObject *argv[4];
    if (aal_parse_args("sync", args, nargs, kwnames, names, 4, 3, 1, argv) < 0)
        return NULL;
    PyObject *beat_obj = argv[0], *offset_obj = argv[1], *origin_obj = argv[2],
             *lead_obj = argv[3];
    double beat, offset = 0.0, origin = 0.0;
    if (PyFloat_Check(beat_obj) && isnan(PyFloat_AS_DOUBLE(beat_obj))) {
        PyErr_SetString(PyExc_ValueError, "beat must be > 0, not nan");
        return NULL;
    }
    if (aal_to_finite_double(beat_obj, "beat", &beat) < 0)
        return NULL;
    if (!(beat > 0.0)) {
        PyErr_Format(PyExc_ValueError, "beat must be > 0, not %R", beat_obj);
        return NULL;
    }
    int64_t lead_us;
    if ((offset_obj && aal_to_finite_double(offset_obj, "offset", &offset) < 0) ||
        (origin_obj && aal_to_finite_double(origin_obj, "origin", &origin) < 0) ||
        parse_lead(self, lead_obj, &lead_us) < 0)
        return NULL;
    if (link_check_usable(self) < 0)
        return NULL;

    PyObject *loop = link_loop_for_sync(self);
    if (!loop)
        return NULL;
    /* "Now", for a lead, is the beat `lead` from now: a coroutine resumed
     * early for a beat then gets the next point, never the same one. */
    beat_ahead snap = {lead_us, 0.0};
    if (run_native(self, op_beat_ahead, &snap) < 0)
        return NULL;
    double target;
    if (aal_next_grid_point(snap.beat, beat, offset, origin, &target) < 0 ||
        fabs(target) > AAL_MAX_BEATS) {
        PyObject *now = PyFloat_FromDouble(snap.beat);
        if (now)
            PyErr_Format(PyExc_ValueError,
                         "no grid point after beat %R can be represented for beat=%R "
                         "(beat too small for the timeline's magnitude, or the point "
                         "beyond Link's range of +-1e11 beats)",
                         now, beat_obj);
        Py_XDECREF(now);
        return NULL;
    }

    return queue_future(self, loop, target, lead_us);
}

static PyObject *Link_sync_at(LinkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"beat", "lead", NULL};
    PyObject *beat_obj, *lead_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:_sync_at", kwlist, &beat_obj, &lead_obj))
        return NULL;
    double target;
    int64_t lead_us;
    if (aal_to_beat(beat_obj, "beat", &target) < 0 ||
        parse_lead(self, lead_obj, &lead_us) < 0 || link_check_usable(self) < 0)
        return NULL;
    PyObject *loop = link_loop_for_sync(self);
    return loop ? queue_future(self, loop, target, lead_us) : NULL;
}

/* ------------------------------------------------------------------ */
/* Session methods */

static PyObject *edit_with_beat(LinkObject *self, PyObject *arg, enum edit_kind kind)
{
    edit e = {kind, 0.0, false, 0};
    if (aal_to_beat(arg, "beat", &e.value) < 0 || link_edit(self, &e) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Link_request_beat(LinkObject *self, PyObject *beat)
{
    return edit_with_beat(self, beat, EDIT_REQUEST_BEAT);
}

static PyObject *Link_force_beat(LinkObject *self, PyObject *beat)
{
    return edit_with_beat(self, beat, EDIT_FORCE_BEAT);
}

static PyObject *Link_request_beat_at_start_playing_time(LinkObject *self, PyObject *beat)
{
    return edit_with_beat(self, beat, EDIT_REQUEST_BEAT_AT_START);
}

static PyObject *Link_set_is_playing_and_request_beat_at_time(LinkObject *self, PyObject *args,
                                                              PyObject *kwds)
{
    static char *kwlist[] = {"playing", "time", "beat", NULL};
    PyObject *playing, *time, *beat;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:set_is_playing_and_request_beat_at_time",
                                     kwlist, &playing, &time, &beat))
        return NULL;
    edit e = {EDIT_PLAY_AND_REQUEST_BEAT, 0.0, false, 0};
    if (aal_to_bool(playing, "playing", &e.flag) < 0 ||
        aal_to_micros(time, self->state->timedelta, "time", &e.time_us) < 0 ||
        aal_to_beat(beat, "beat", &e.value) < 0 || link_edit(self, &e) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Callbacks */

static int update_event_mask(LinkObject *self)
{
    unsigned mask = 0;
    for (int i = 0; i < AAL_N_CALLBACK_KINDS; i++)
        if (self->callbacks[i] && PyList_GET_SIZE(self->callbacks[i]) > 0)
            mask |= 1u << i;
    if (self->sched && !self->closed)
        aal_sched_set_event_mask(self->sched, mask);
    /* Events are delivered through the loop: bind one if we can. */
    return mask ? link_try_attach(self) : 0;
}

enum callback_op { CB_SET, CB_ADD, CB_REMOVE };

static PyObject *callback_op(LinkObject *self, int kind, enum callback_op op, PyObject *cb)
{
    PyObject *list = self->callbacks[kind];
    if (!list) {
        PyErr_SetString(PyExc_RuntimeError, "this Link is closed");
        return NULL;
    }
    if (op == CB_REMOVE) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
            int eq = PyObject_RichCompareBool(PyList_GET_ITEM(list, i), cb, Py_EQ);
            if (eq < 0)
                return NULL;
            if (eq) {
                if (PySequence_DelItem(list, i) < 0)
                    return NULL;
                break;
            }
        }
    }
    else {
        bool clear_only = op == CB_SET && cb == Py_None;
        if (!clear_only && !PyCallable_Check(cb)) {
            PyErr_Format(PyExc_TypeError, "%s callback must be callable, not %.100s",
                         callback_kind_names[kind], Py_TYPE(cb)->tp_name);
            return NULL;
        }
        if (op == CB_SET && PyList_SetSlice(list, 0, PyList_GET_SIZE(list), NULL) < 0)
            return NULL;
        if (!clear_only && PyList_Append(list, cb) < 0)
            return NULL;
    }
    if (update_event_mask(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

#define CALLBACK_METHODS(name, kind)                                                   \
    static PyObject *Link_set_##name##_callback(LinkObject *self, PyObject *cb)        \
    {                                                                                  \
        return callback_op(self, kind, CB_SET, cb);                                    \
    }                                                                                  \
    static PyObject *Link_add_##name##_callback(LinkObject *self, PyObject *cb)        \
    {                                                                                  \
        return callback_op(self, kind, CB_ADD, cb);                                    \
    }                                                                                  \
    static PyObject *Link_remove_##name##_callback(LinkObject *self, PyObject *cb)     \
    {                                                                                  \
        return callback_op(self, kind, CB_REMOVE, cb);                                 \
    }

CALLBACK_METHODS(num_peers, AAL_EVENT_PEERS)
CALLBACK_METHODS(tempo, AAL_EVENT_TEMPO)
CALLBACK_METHODS(start_stop, AAL_EVENT_START_STOP)

/* ------------------------------------------------------------------ */
/* Beat <-> time, clock offset, tempo ramps, every(), lateness stats */

typedef struct {
    double beat;
    int64_t time_us;
    bool to_time;
} convert_op;

static int op_convert(aal_link *link, aal_session *s, double quantum, void *ctx)
{
    convert_op *c = ctx;
    if (aal_link_capture_app_session(link, s) != 0)
        return -1;
    if (c->to_time) {
        c->time_us = aal_session_time_at_beat(s, c->beat, quantum);
        return c->time_us == INT64_MIN ? -1 : 0;
    }
    c->beat = aal_session_beat_at_time(s, c->time_us, quantum);
    return isnan(c->beat) ? -1 : 0;
}

static PyObject *Link_time_at_beat(LinkObject *self, PyObject *beat)
{
    convert_op c = {0.0, 0, true};
    if (aal_to_beat(beat, "beat", &c.beat) < 0 || run_native(self, op_convert, &c) < 0)
        return NULL;
    return PyObject_CallFunction(self->state->timedelta, "iiL", 0, 0, (long long)c.time_us);
}

static PyObject *Link_beat_at_time(LinkObject *self, PyObject *time)
{
    convert_op c = {0.0, 0, false};
    if (aal_to_micros(time, self->state->timedelta, "time", &c.time_us) < 0 ||
        run_native(self, op_convert, &c) < 0)
        return NULL;
    return PyFloat_FromDouble(c.beat);
}

static PyObject *Link_get_clock_offset(LinkObject *self, void *closure)
{
    (void)closure;
    if (link_check_usable(self) < 0)
        return NULL;
    /* Read the two clocks back to back, three times; keep the tightest. */
    double best = 0.0, best_span = 1e9;
    for (int i = 0; i < 3; i++) {
        int64_t a = aal_monotonic_now_us();
        int64_t link = aal_os_link_clock_us();
        int64_t b = aal_monotonic_now_us();
        if ((double)(b - a) < best_span) {
            best_span = (double)(b - a);
            best = ((double)a + (double)(b - a) / 2.0 - (double)link) / 1e6;
        }
    }
    return PyFloat_FromDouble(best);
}

static PyObject *Link_ramp_tempo(LinkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"bpm", "beats", NULL};
    PyObject *bpm_obj, *beats_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:ramp_tempo", kwlist, &bpm_obj, &beats_obj))
        return NULL;
    double bpm, beats;
    if (aal_to_finite_double(bpm_obj, "bpm", &bpm) < 0 || check_bpm(bpm) < 0 ||
        aal_to_finite_double(beats_obj, "beats", &beats) < 0)
        return NULL;
    if (beats < 0.0) {
        PyErr_Format(PyExc_ValueError, "beats must be >= 0, not %R", beats_obj);
        return NULL;
    }
    bpm = bpm < AAL_MIN_BPM ? AAL_MIN_BPM : bpm > AAL_MAX_BPM ? AAL_MAX_BPM : bpm;
    aal_snapshot snap;
    if (link_snapshot(self, &snap) < 0)
        return NULL;
    aal_sched_start_ramp(self->sched, snap.tempo, bpm, snap.beat, snap.beat + beats);
    Py_RETURN_NONE;
}

static PyObject *Link_get_ramping(LinkObject *self, void *closure)
{
    (void)closure;
    if (self->closed || !self->sched)
        Py_RETURN_FALSE;
    return PyBool_FromLong(aal_sched_ramping(self->sched));
}

static PyObject *Link_every(LinkObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    /* The iterator is an async generator in aalink/_every.py. */
    PyObject *mod = PyImport_ImportModule("aalink._every");
    if (!mod)
        return NULL;
    PyObject *fn = PyObject_GetAttrString(mod, "every");
    Py_DECREF(mod);
    if (!fn)
        return NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject **all = PyMem_Malloc((nargs + nkw + 1) * sizeof *all);
    if (!all) {
        Py_DECREF(fn);
        return PyErr_NoMemory();
    }
    all[0] = (PyObject *)self;
    for (Py_ssize_t i = 0; i < nargs + nkw; i++)
        all[i + 1] = args[i];
    PyObject *r = PyObject_Vectorcall(fn, all, (size_t)(nargs + 1), kwnames);
    PyMem_Free(all);
    Py_DECREF(fn);
    return r;
}

/* Setters get NULL for `del link.name`: properties cannot be deleted. */
static int refuse_delete(PyObject *value, const char *name)
{
    if (value)
        return 0;
    PyErr_Format(PyExc_AttributeError, "cannot delete %s", name);
    return -1;
}

static PyObject *Link_get_lead(LinkObject *self, void *closure)
{
    (void)closure;
    return PyFloat_FromDouble(self->lead);
}

static int Link_set_lead(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (refuse_delete(value, "lead") < 0)
        return -1;
    if (value == Py_None) {
        PyErr_SetString(PyExc_TypeError, "lead must be a real number of seconds, not None");
        return -1;
    }
    int64_t lead_us;
    if (parse_lead(self, value, &lead_us) < 0)
        return -1;
    self->lead = (double)lead_us / 1e6;
    return 0;
}

static PyObject *Link_get_stats(LinkObject *self, void *closure)
{
    (void)closure;
    const aal_lateness *h = &self->lateness;
    double mean = h->count ? h->sum_us / (double)h->count / 1e3 : 0.0;
    return Py_BuildValue("{s:K,s:d,s:d,s:d,s:d}", "count", (unsigned long long)h->count,
                         "mean_ms", mean, "p50_ms",
                         (double)aal_lateness_quantile(h, 0.50) / 1e3, "p99_ms",
                         (double)aal_lateness_quantile(h, 0.99) / 1e3, "max_ms",
                         (double)h->max_us / 1e3);
}

static PyObject *Link_reset_stats(LinkObject *self, PyObject *Py_UNUSED(ignored))
{
    aal_lateness_reset(&self->lateness);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* close, context manager, introspection */

static PyObject *Link_close(LinkObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->closed)
        Py_RETURN_NONE;
    link_close_native(self);
    link_detach_loop(self);
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

static PyObject *Link_scheduler_stats(LinkObject *self, PyObject *Py_UNUSED(ignored))
{
    uint64_t wakeups = 0, batches = 0;
    size_t pending = 0;
    if (self->sched && !self->closed) {
        aal_sched_counters(self->sched, &wakeups, &batches);
        pending = aal_sched_pending(self->sched);
    }
    return Py_BuildValue("{s:n,s:K,s:K,s:K}", "pending", (Py_ssize_t)pending, "wakeups",
                         (unsigned long long)wakeups, "batches", (unsigned long long)batches,
                         "given_back", (unsigned long long)self->given_back);
}

/* ------------------------------------------------------------------ */
/* Properties */

static int op_tempo(aal_link *link, aal_session *s, double quantum, void *ctx)
{
    (void)quantum;
    if (aal_link_capture_app_session(link, s) != 0)
        return -1;
    *(double *)ctx = aal_session_tempo(s);
    return 0;
}

static PyObject *Link_get_beat(LinkObject *self, void *closure)
{
    (void)closure;
    /* Read by coroutines on every beat: only the beat, not a whole snapshot. */
    beat_ahead now = {0, 0.0};
    return run_native(self, op_beat_ahead, &now) < 0 ? NULL : PyFloat_FromDouble(now.beat);
}

static PyObject *Link_get_phase(LinkObject *self, void *closure)
{
    (void)closure;
    aal_snapshot snap;
    return link_snapshot(self, &snap) < 0 ? NULL : PyFloat_FromDouble(snap.phase);
}

static PyObject *Link_get_tempo(LinkObject *self, void *closure)
{
    (void)closure;
    double bpm;
    return run_native(self, op_tempo, &bpm) < 0 ? NULL : PyFloat_FromDouble(bpm);
}

static PyObject *Link_get_playing(LinkObject *self, void *closure)
{
    (void)closure;
    aal_snapshot snap;
    return link_snapshot(self, &snap) < 0 ? NULL : PyBool_FromLong(snap.playing);
}

static int op_clock(aal_link *link, aal_session *s, double q, void *ctx)
{
    (void)s;
    (void)q;
    int64_t t = aal_link_clock_micros(link);
    *(int64_t *)ctx = t;
    return t < 0 ? -1 : 0;
}

static PyObject *Link_get_time(LinkObject *self, void *closure)
{
    (void)closure;
    int64_t us;
    if (run_native(self, op_clock, &us) < 0)
        return NULL;
    return PyObject_CallFunction(self->state->timedelta, "iiL", 0, 0, (long long)us);
}

static int op_num_peers(aal_link *link, aal_session *s, double q, void *ctx)
{
    (void)s;
    (void)q;
    int64_t n = aal_link_num_peers(link);
    *(int64_t *)ctx = n;
    return n < 0 ? -1 : 0;
}

static PyObject *Link_get_num_peers(LinkObject *self, void *closure)
{
    (void)closure;
    int64_t n;
    if (run_native(self, op_num_peers, &n) < 0)
        return NULL;
    return PyLong_FromLongLong((long long)n);
}

typedef struct {
    bool value;
    bool start_stop; /* which flag */
    bool set;        /* only start/stop: enabling goes through aal_sched_enable */
} flag_op;

static int op_flag(aal_link *link, aal_session *s, double q, void *ctx)
{
    (void)s;
    (void)q;
    flag_op *f = ctx;
    if (f->set)
        return aal_link_enable_start_stop_sync(link, f->value);
    f->value = f->start_stop ? aal_link_is_start_stop_sync_enabled(link)
                             : aal_link_is_enabled(link);
    return 0;
}

static PyObject *get_flag(LinkObject *self, bool start_stop)
{
    flag_op f = {false, start_stop, false};
    return run_native(self, op_flag, &f) < 0 ? NULL : PyBool_FromLong(f.value);
}

static int set_start_stop_flag(LinkObject *self, PyObject *value)
{
    if (refuse_delete(value, "start_stop_sync_enabled") < 0)
        return -1;
    flag_op f = {false, true, true};
    if (aal_to_bool(value, "start_stop_sync_enabled", &f.value) < 0 ||
        run_native(self, op_flag, &f) < 0)
        return -1;
    aal_sched_timeline_changed(self->sched);
    return 0;
}

static PyObject *Link_get_enabled(LinkObject *self, void *closure)
{
    (void)closure;
    return get_flag(self, false);
}

typedef struct {
    aal_sched *sched;
    bool enable;
    int64_t follow_window_us;
} enable_op;

static int op_enable(aal_link *link, aal_session *s, double q, void *ctx)
{
    (void)link;
    (void)s;
    (void)q;
    enable_op *e = ctx;
    return aal_sched_enable(e->sched, e->enable, e->follow_window_us);
}

static int Link_set_enabled(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (refuse_delete(value, "enabled") < 0)
        return -1;
    enable_op e = {self->sched, false, self->follow ? AAL_FOLLOW_WINDOW_US : 0};
    if (aal_to_bool(value, "enabled", &e.enable) < 0 || run_native(self, op_enable, &e) < 0)
        return -1;
    return 0;
}

static PyObject *Link_get_following(LinkObject *self, void *closure)
{
    (void)closure;
    if (self->closed || !self->sched || !aal_sched_following(self->sched))
        Py_RETURN_FALSE;
    int64_t peers; /* the thread notices a joined session only every 0.4 s */
    if (run_native(self, op_num_peers, &peers) < 0)
        return NULL;
    return PyBool_FromLong(peers == 0);
}

static PyObject *Link_get_start_stop_sync_enabled(LinkObject *self, void *closure)
{
    (void)closure;
    return get_flag(self, true);
}

static int Link_set_start_stop_sync_enabled(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    return set_start_stop_flag(self, value);
}

static int Link_set_tempo(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (refuse_delete(value, "tempo") < 0)
        return -1;
    edit e = {EDIT_TEMPO, 0.0, false, 0};
    if (aal_to_finite_double(value, "tempo", &e.value) < 0 || check_bpm(e.value) < 0)
        return -1;
    /* Link clamps to its range; do it here so that what we commit is what
     * the session gets. */
    e.value = e.value < AAL_MIN_BPM ? AAL_MIN_BPM : e.value > AAL_MAX_BPM ? AAL_MAX_BPM : e.value;
    if (link_check_usable(self) < 0)
        return -1;
    /* An explicit tempo ends a ramp; cancelling waits for a ramp step
     * under way (a commit into Link), so without the GIL. */
    Py_BEGIN_ALLOW_THREADS
    aal_sched_cancel_ramp(self->sched);
    Py_END_ALLOW_THREADS
    return link_edit(self, &e);
}

static int Link_set_playing(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (refuse_delete(value, "playing") < 0)
        return -1;
    edit e = {EDIT_PLAYING, 0.0, false, 0};
    if (aal_to_bool(value, "playing", &e.flag) < 0)
        return -1;
    return link_edit(self, &e);
}

static PyObject *Link_get_quantum(LinkObject *self, void *closure)
{
    (void)closure;
    return PyFloat_FromDouble(self->quantum);
}

static int Link_set_quantum(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (refuse_delete(value, "quantum") < 0)
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

static PyMethodDef Link_methods[] = {
    {"sync", (PyCFunction)(void (*)(void))Link_sync, METH_FASTCALL | METH_KEYWORDS,
     "sync($self, beat, offset=0, origin=0, *, lead=None)\n--\n\n"
     "Return an asyncio.Future of the Link's loop, done when the timeline reaches\n"
     "the next grid point origin + offset + k*beat (in beats, k an integer) after\n"
     "the current beat.  Its result is that grid point as a float.  beat must be\n"
     "a real number > 0 (ValueError otherwise, TypeError for non-numbers).\n"
     "lead (seconds, keyword only) resolves it that much before the beat;\n"
     "None uses Link.lead."},
    {"request_beat", (PyCFunction)Link_request_beat, METH_O,
     "request_beat($self, beat, /)\n--\n\n"
     "Ask to map beat (for the current quantum) to now; with peers connected Link\n"
     "only shifts it to the next quantum boundary.  Pending syncs follow."},
    {"force_beat", (PyCFunction)Link_force_beat, METH_O,
     "force_beat($self, beat, /)\n--\n\n"
     "Map beat to now, for every peer of the session (use with care).  Pending\n"
     "syncs follow the new timeline."},
    {"request_beat_at_start_playing_time", (PyCFunction)Link_request_beat_at_start_playing_time,
     METH_O,
     "request_beat_at_start_playing_time($self, beat, /)\n--\n\n"
     "Map beat to the time transport started playing (no-op when not playing)."},
    {"set_is_playing_and_request_beat_at_time",
     (PyCFunction)(void (*)(void))Link_set_is_playing_and_request_beat_at_time,
     METH_VARARGS | METH_KEYWORDS,
     "set_is_playing_and_request_beat_at_time($self, playing, time, beat)\n--\n\n"
     "Set the transport state at time (Link clock: a datetime.timedelta, or float\n"
     "seconds, as Link.time) and map beat to that time."},
    {"set_num_peers_callback", (PyCFunction)Link_set_num_peers_callback, METH_O,
     "set_num_peers_callback($self, callback, /)\n--\n\n"
     "Replace every num_peers callback with callback (None clears them).  It is\n"
     "called on the Link's event loop with the number of peers (int)."},
    {"add_num_peers_callback", (PyCFunction)Link_add_num_peers_callback, METH_O,
     "add_num_peers_callback($self, callback, /)\n--\n\n"
     "Add a callback called on the Link's event loop with the number of peers (int)."},
    {"remove_num_peers_callback", (PyCFunction)Link_remove_num_peers_callback, METH_O,
     "remove_num_peers_callback($self, callback, /)\n--\n\n"
     "Remove callback if it is registered (no error otherwise)."},
    {"set_tempo_callback", (PyCFunction)Link_set_tempo_callback, METH_O,
     "set_tempo_callback($self, callback, /)\n--\n\n"
     "Replace every tempo callback with callback (None clears them).  It is called\n"
     "on the Link's event loop with the new tempo in bpm (float)."},
    {"add_tempo_callback", (PyCFunction)Link_add_tempo_callback, METH_O,
     "add_tempo_callback($self, callback, /)\n--\n\n"
     "Add a callback called on the Link's event loop with the tempo in bpm (float)."},
    {"remove_tempo_callback", (PyCFunction)Link_remove_tempo_callback, METH_O,
     "remove_tempo_callback($self, callback, /)\n--\n\n"
     "Remove callback if it is registered (no error otherwise)."},
    {"set_start_stop_callback", (PyCFunction)Link_set_start_stop_callback, METH_O,
     "set_start_stop_callback($self, callback, /)\n--\n\n"
     "Replace every start/stop callback with callback (None clears them).  It is\n"
     "called on the Link's event loop with the playing state (bool)."},
    {"add_start_stop_callback", (PyCFunction)Link_add_start_stop_callback, METH_O,
     "add_start_stop_callback($self, callback, /)\n--\n\n"
     "Add a callback called on the Link's event loop with the playing state (bool)."},
    {"remove_start_stop_callback", (PyCFunction)Link_remove_start_stop_callback, METH_O,
     "remove_start_stop_callback($self, callback, /)\n--\n\n"
     "Remove callback if it is registered (no error otherwise)."},
    {"time_at_beat", (PyCFunction)Link_time_at_beat, METH_O,
     "time_at_beat($self, beat, /)\n--\n\n"
     "Link clock time (datetime.timedelta, the clock of Link.time) at which the\n"
     "timeline reaches beat, for the current quantum and tempo."},
    {"beat_at_time", (PyCFunction)Link_beat_at_time, METH_O,
     "beat_at_time($self, time, /)\n--\n\n"
     "Beat (float) on the timeline at Link clock time (timedelta or float\n"
     "seconds), for the current quantum; the inverse of time_at_beat."},
    {"ramp_tempo", (PyCFunction)(void (*)(void))Link_ramp_tempo, METH_VARARGS | METH_KEYWORDS,
     "ramp_tempo($self, bpm, beats)\n--\n\n"
     "Change the session tempo smoothly to bpm over the next beats beats (linear\n"
     "in beats, committed by the native scheduler every 1/16 beat, so\n"
     "peers follow).  Setting Link.tempo or a new ramp ends it, and so does a\n"
     "peer's tempo change once it reaches this Link (Link relays changes at most\n"
     "every 50 ms, so during a ramp a peer's change can be overridden)."},
    {"every", (PyCFunction)(void (*)(void))Link_every, METH_FASTCALL | METH_KEYWORDS,
     "every($self, beat, offset=0, origin=0, *, skip_late=False, lead=None)\n--\n\n"
     "Async iterator over the grid points origin + offset + k*beat (in beats,\n"
     "k an integer): each step targets the point after the previous one, so a\n"
     "coroutine that comes back late gets the missed points at once, in order;\n"
     "with skip_late=True it skips them and waits for the next point after the\n"
     "current beat."},
    {"reset_stats", (PyCFunction)Link_reset_stats, METH_NOARGS,
     "reset_stats($self, /)\n--\n\n"
     "Forget the lateness measurements reported by Link.stats."},
    {"_sync_at", (PyCFunction)(void (*)(void))Link_sync_at, METH_VARARGS | METH_KEYWORDS,
     "_sync_at($self, beat, lead=None)\n--\n\n"
     "Internal: a future resolved when the timeline reaches beat (at once if it\n"
     "has passed).  Used by every()."},
    {"close", (PyCFunction)Link_close, METH_NOARGS,
     "close($self, /)\n--\n\n"
     "Leave the session and stop the Link's threads now instead of when it is\n"
     "garbage-collected.  Pending syncs never resolve.  Idempotent."},
    {"__enter__", (PyCFunction)Link_enter, METH_NOARGS, "Return the Link."},
    {"__exit__", (PyCFunction)Link_exit, METH_VARARGS, "Close the Link."},
    {"_attach_loop", (PyCFunction)Link_attach_loop, METH_NOARGS,
     "Internal: register with the Link's loop (called on the loop's thread)."},
    {"_scheduler_stats", (PyCFunction)Link_scheduler_stats, METH_NOARGS,
     "Internal: scheduler counters for tests and benchmarks."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Link_getset[] = {
    {"num_peers", (getter)Link_get_num_peers, NULL,
     "Number of other peers in the Link session (int; 0 when alone or disabled).", NULL},
    {"beat", (getter)Link_get_beat, NULL,
     "Beat on the session timeline now, for the current quantum (float, beats).", NULL},
    {"phase", (getter)Link_get_phase, NULL,
     "Phase now, in [0, quantum) (float, beats).", NULL},
    {"time", (getter)Link_get_time, NULL,
     "Link's clock now (datetime.timedelta, microsecond resolution, monotonic).", NULL},
    {"quantum", (getter)Link_get_quantum, (setter)Link_set_quantum,
     "Quantum for beat and phase, in beats (float > 0, default 1).", NULL},
    {"enabled", (getter)Link_get_enabled, (setter)Link_set_enabled,
     "Whether Link networking is on (bool, default False).", NULL},
    {"start_stop_sync_enabled", (getter)Link_get_start_stop_sync_enabled,
     (setter)Link_set_start_stop_sync_enabled,
     "Whether play/stop state is shared with peers (bool, default False).", NULL},
    {"tempo", (getter)Link_get_tempo, (setter)Link_set_tempo,
     "Session tempo in bpm (float); setting commits it now.  Values must be > 0\n"
     "and finite, and are clamped to Link's range, 20 to 999 bpm.", NULL},
    {"lead", (getter)Link_get_lead, (setter)Link_set_lead,
     "Latency lead in seconds (float, 0 to 60, default 0): sync() futures resolve\n"
     "this much before their beat, so output that takes that long lands on it.\n"
     "sync(..., lead=) overrides it per call.", NULL},
    {"clock_offset", (getter)Link_get_clock_offset, NULL,
     "Seconds to add to a Link clock time (Link.time, time_at_beat) to get\n"
     "time.monotonic() / the default loop.time() (float; drifts slowly: re-read).",
     NULL},
    {"following", (getter)Link_get_following, NULL,
     "For Link(None): True while, just after enabling, it is still looking for a\n"
     "session to adopt (up to 1 s); then it has joined one or kept 120 bpm.", NULL},
    {"ramping", (getter)Link_get_ramping, NULL,
     "Whether a ramp_tempo() is under way (bool).", NULL},
    {"stats", (getter)Link_get_stats, NULL,
     "How late futures were resolved on the loop, after their beat (minus lead):\n"
     "dict with count, mean_ms, p50_ms, p99_ms, max_ms, kept in constant memory\n"
     "(log buckets, under 7 % error).  reset_stats() clears it.", NULL},
    {"playing", (getter)Link_get_playing, (setter)Link_set_playing,
     "Transport state (bool); setting commits it now.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Link_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(LinkObject, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Link_slots[] = {
    {Py_tp_new, Link_new},
    {Py_tp_dealloc, Link_dealloc},
    {Py_tp_traverse, Link_traverse},
    {Py_tp_clear, Link_clear},
    {Py_tp_repr, Link_repr},
    {Py_tp_methods, Link_methods},
    {Py_tp_getset, Link_getset},
    {Py_tp_members, Link_members},
    {Py_tp_doc,
     "Link(bpm, loop=None)\n--\n\n"
     "An Ableton Link session member whose sync() futures resume asyncio code on\n"
     "the beat.  bpm is the initial tempo (clamped to 20..999), or None to\n"
     "propose none: for 1 s after enabling the Link only looks for a session to\n"
     "adopt, and keeps 120 bpm if it finds none.  loop is the\n"
     "asyncio event loop to deliver to: by default the running loop, or, outside\n"
     "one, the loop of the first sync().  A new Link is disabled; set\n"
     "enabled = True to join the network session."},
    {0, NULL},
};

PyType_Spec Link_spec = {
    .name = "aalink.Link",
    .basicsize = sizeof(LinkObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Link_slots,
};
