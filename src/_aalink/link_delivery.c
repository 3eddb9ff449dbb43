/* link_delivery.c - sync() futures and Link events: queueing futures with
 * the scheduler, delivering a batch on the loop's thread (holding each
 * hand-off until its beat, resolving futures, calling callbacks), the
 * callback registry, and cancellation. */
#include "link_object.h"

#include <math.h>

#include "beatmath.h"
#include "convert.h"
#include "loop_waker.h"

static const char *const callback_kind_names[AAL_N_CALLBACK_KINDS] = {
    "num_peers", "tempo", "start_stop"};

void link_drop_future(void *future, void *ctx)
{
    if (ctx)
        link_release_future(ctx, future);
    else
        Py_DECREF((PyObject *)future); /* the Link is being freed */
}

/* ------------------------------------------------------------------ */
/* Delivering a batch: runs on the loop's thread. */

static void report_callback_error(LinkObject *self, int kind, PyObject *callback)
{
    PyObject *exc = PyErr_GetRaisedException();
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
            PyErr_SetRaisedException(Py_XNewRef(exc));
        PyErr_WriteUnraisable(callback);
    }
    Py_XDECREF(r);
    Py_XDECREF(context);
    Py_XDECREF(exc);
}

/* Whether the raised error is SystemExit or KeyboardInterrupt: errors that
 * must reach the loop, never be reported and dropped. */
static bool fatal_error_raised(void)
{
    return PyErr_ExceptionMatches(PyExc_SystemExit) ||
           PyErr_ExceptionMatches(PyExc_KeyboardInterrupt);
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
        else if (fatal_error_raised()) {
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

/* An error raised while a batch is delivered: SystemExit and
 * KeyboardInterrupt are kept in *fatal (the first of them) to reach the loop
 * once the batch is done; true then.  Any other stays raised (false).
 * Before Python 3.11, asyncio.run() lets Ctrl-C raise KeyboardInterrupt in
 * whatever Python code runs next on the main thread: that can be
 * loop.call_soon() inside a future's set_result() here. */
static bool keep_fatal(PyObject **fatal)
{
    if (!fatal_error_raised())
        return false;
    PyObject *exc = PyErr_GetRaisedException();
    if (*fatal)
        Py_DECREF(exc);
    else
        *fatal = exc;
    return true;
}

/* Resolves one due future; true when it was resolved here (not cancelled).
 * A SystemExit or KeyboardInterrupt goes to *fatal (keep_fatal). */
static bool resolve_future(LinkObject *self, const aal_item *item, PyObject **fatal)
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
    if (PyErr_Occurred() && !keep_fatal(fatal))
        PyErr_WriteUnraisable(fut);
    link_release_future(self, fut);
    return resolved;
}

/* A future of a batch that cannot be resolved now goes back to the
 * scheduler, which keeps our reference; on a closed Link it is cancelled
 * (here, on the loop's thread) instead, as close() cancelled the rest. */
static void give_back(LinkObject *self, const aal_batch *batch, const aal_item *item,
                      PyObject **fatal)
{
    PyObject *fut = item->ptr;
    if (!self->closed) {
        self->given_back++;
        if (aal_sched_give_back(self->sched, batch, item) == 0)
            return;
    }
    else {
        PyObject *r = PyObject_CallMethodNoArgs(fut, self->state->str_cancel);
        if (r)
            Py_DECREF(r);
        else if (!keep_fatal(fatal))
            PyErr_WriteUnraisable(fut);
    }
    link_release_future(self, fut);
}

/* The waker's "a batch is ready": takes what the scheduler handed over,
 * holds each future until its beat (link_settle), resolves it or gives it
 * back, then delivers recorded Link events.  A timeline edit of this
 * program since the batch was taken re-targets what is left of it: those
 * go back.  -1 only for SystemExit or KeyboardInterrupt, raised by a user
 * callback or while resolving (Ctrl-C), once the whole batch is delivered.
 * The waker holds a reference to self (the hold may go). */
static int link_deliver_batch(PyObject *owner)
{
    LinkObject *self = (LinkObject *)owner;
    if (!self->sched || self->closed)
        return 0;
    aal_batch batch;
    aal_sched_take(self->sched, &batch);
    size_t n = batch.n_ready;
    int64_t *late = n ? PyMem_Malloc(n * sizeof *late) : NULL;
    bool *due = n ? PyMem_Malloc(n * sizeof *due) : NULL;
    bool settled = false;
    PyObject *fatal = NULL;
    if (late && due) {
        /* A timeline moved back by more than this gives the item back. */
        int64_t window = 2 * aal_sched_handoff_us(self->sched) + 1000;
        settled = link_settle(self, batch.ready, n, window, late, due) == 0;
        if (PyErr_Occurred() && !keep_fatal(&fatal))
            PyErr_Clear();
    }
    bool edited = false;
    for (size_t i = 0; i < n; i++) {
        const aal_item *item = &batch.ready[i];
        /* Resolving runs Python, which may let another thread edit the
         * timeline: ask again before each. */
        if (!edited && !self->closed)
            edited = aal_sched_edited_since(self->sched, &batch);
        if (!settled || !due[i] || edited || self->closed) {
            /* Not due (the timeline moved), not checked, or re-targeted
             * meanwhile; or the Link closed under us (cancelled). */
            if (self->closed && settled && due[i] && !edited)
                resolve_future(self, item, &fatal);
            else
                give_back(self, &batch, item, &fatal);
            continue;
        }
        if (resolve_future(self, item, &fatal))
            aal_lateness_record(&self->lateness, late[i]);
    }
    PyMem_Free(late);
    PyMem_Free(due);
    /* The events still reach their callbacks after a fatal error while
     * resolving: a program that catches KeyboardInterrupt and goes on (the
     * asyncio REPL) is told of every change. */
    int rc = 0;
    for (size_t i = 0; i < batch.n_events && rc == 0; i++)
        rc = deliver_event(self, &batch.events[i]);
    aal_batch_release(&batch);
    link_update_hold(self);
    if (fatal) {
        if (rc < 0)
            PyErr_Clear(); /* a callback's: the first one raised wins */
        PyErr_SetRaisedException(fatal);
        rc = -1;
    }
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

/* The waker's "a future is done" (cancelled, or resolved by someone else). */
static void link_future_done(PyObject *owner)
{
    LinkObject *self = (LinkObject *)owner;
    if (self->closed || !self->sched)
        return;
    self->done_pending++;
    /* Compact when at least half the queue is dead: amortised O(1) per
     * cancellation, and a queue of only cancelled futures empties at once. */
    Py_ssize_t pending = (Py_ssize_t)aal_sched_pending(self->sched);
    if (self->done_pending * 2 >= pending) {
        aal_sched_filter(self->sched, future_not_done, link_drop_future, self);
        self->done_pending = 0;
        link_update_hold(self); /* the waker holds a reference to self */
    }
}

const aal_waker_client link_waker_client = {
    .batch_ready = link_deliver_batch,
    .future_done = link_future_done,
};

/* ------------------------------------------------------------------ */
/* sync() */

int link_parse_lead(LinkObject *self, PyObject *obj, int64_t *lead_us)
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

/* Where the grid origin + offset + k*step starts, reduced modulo step. */
static double grid_base(double step, double offset, double origin)
{
    return fmod(fmod(origin, step) + fmod(offset, step), step);
}

/* Creates a future of `loop` and queues it for `target` beats, a point of
 * the grid base + k*step. */
static PyObject *queue_future(LinkObject *self, PyObject *loop, double target, double step,
                              double base, int64_t lead_us)
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
    int rc = aal_sched_push(self->sched, target, step, base, lead_us, fut);
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
    self->n_futures++;
    link_update_hold(self); /* the first pending future holds the Link */
    return fut;
}

AAL_DOC(Link_sync_doc,
        "sync($self, beat, offset=0, origin=0, *, lead=None)\n--\n\n"
        "Return an asyncio.Future of the Link's loop, done when the timeline reaches\n"
        "the next grid point origin + offset + k*beat (in beats, k an integer) after\n"
        "the current beat.  Its result is that grid point as a float.  beat must be\n"
        "a real number > 0 (ValueError otherwise, TypeError for non-numbers).\n"
        "lead (seconds, keyword only) resolves it that much before the beat;\n"
        "None uses Link.lead.");

PyObject *Link_sync(LinkObject *self, PyObject *const *args, Py_ssize_t nargs,
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
        link_parse_lead(self, lead_obj, &lead_us) < 0)
        return NULL;
    if (link_check_usable(self) < 0)
        return NULL;

    PyObject *loop = link_loop_for_sync(self);
    if (!loop)
        return NULL;
    /* "Now", for a lead, is the beat `lead` from now: a coroutine resumed
     * early for a beat then gets the next point, never the same one. */
    double now;
    if (link_beat_ahead(self, lead_us, &now) < 0)
        return NULL;
    double target;
    if (aal_next_grid_point(now, beat, offset, origin, &target) < 0 ||
        fabs(target) > AAL_MAX_BEATS) {
        PyObject *now_obj = PyFloat_FromDouble(now);
        if (now_obj)
            PyErr_Format(PyExc_ValueError,
                         "no grid point after beat %R can be represented for beat=%R "
                         "(beat too small for the timeline's magnitude, or the point "
                         "beyond Link's range of +-1e11 beats)",
                         now_obj, beat_obj);
        Py_XDECREF(now_obj);
        return NULL;
    }

    return queue_future(self, loop, target, beat, grid_base(beat, offset, origin), lead_us);
}

AAL_DOC(Link_sync_at_doc,
        "_sync_at($self, beat, lead=None, step=None, offset=0, origin=0)\n--\n\n"
        "Internal: a future resolved when the timeline reaches beat (at once if it\n"
        "has passed), a point of the grid origin + offset + k*step (step None: beat\n"
        "alone), which a timeline edit re-targets it on.  Used by every().");

PyObject *Link_sync_at(LinkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"beat", "lead", "step", "offset", "origin", NULL};
    PyObject *beat_obj, *lead_obj = NULL, *step_obj = Py_None, *offset_obj = NULL,
                        *origin_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OOOO:_sync_at", kwlist, &beat_obj,
                                     &lead_obj, &step_obj, &offset_obj, &origin_obj))
        return NULL;
    double target, step = 0.0, offset = 0.0, origin = 0.0;
    int64_t lead_us;
    if (aal_to_beat(beat_obj, "beat", &target) < 0 ||
        (step_obj != Py_None && aal_to_finite_double(step_obj, "step", &step) < 0) ||
        (offset_obj && aal_to_finite_double(offset_obj, "offset", &offset) < 0) ||
        (origin_obj && aal_to_finite_double(origin_obj, "origin", &origin) < 0) ||
        link_parse_lead(self, lead_obj, &lead_us) < 0 || link_check_usable(self) < 0)
        return NULL;
    /* Without a grid (step 0) an edit leaves the target alone. */
    double base = step > 0.0 ? grid_base(step, offset, origin) : 0.0;
    PyObject *loop = link_loop_for_sync(self);
    return loop ? queue_future(self, loop, target, step > 0.0 ? step : 0.0, base, lead_us)
                : NULL;
}

/* ------------------------------------------------------------------ */
/* The callback registry */

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

PyObject *link_callback_op(LinkObject *self, int kind, enum link_callback_op op, PyObject *cb)
{
    PyObject *list = self->callbacks[kind];
    if (!list) {
        link_raise_closed();
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
