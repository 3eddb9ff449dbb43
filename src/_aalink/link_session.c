/* link_session.c - every call into Ableton Link, made with the GIL released
 * and session_mu held, with Link's failures mapped to exceptions in one
 * place (run_native).
 *
 * Lock order: session_mu may be held while an op calls into Link (which
 * takes Link's own locks) or into the scheduler (aal_sched_enable takes the
 * scheduler's lock).  The scheduler thread never takes session_mu, and
 * neither it nor Link's threads wait for the GIL, so waiting for session_mu
 * without the GIL cannot deadlock. */
#include "link_object.h"

#include <math.h>

/* Link(None): how long to look for a session to adopt on enabling. */
#define AAL_FOLLOW_WINDOW_US 1000000

typedef int (*native_op)(aal_link *link, aal_session *session, double quantum, void *ctx);

/* What run_native's op returns when the Link was closed under it. */
#define OP_CLOSED (-2)

int link_raise_closed(void)
{
    PyErr_SetString(PyExc_RuntimeError, "this Link is closed");
    return -1;
}

int link_check_usable(LinkObject *self)
{
    if (self->sched && aal_sched_forked(self->sched)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this Link was created before fork(); create a new Link in the "
                        "child process");
        return -1;
    }
    if (self->closed || !self->link)
        return link_raise_closed();
    return 0;
}

int link_raise_native_error(const char *fallback)
{
    aal_error err;
    aal_last_error(&err);
    const char *text = err.message[0] ? err.message : fallback;
    switch (err.kind) {
    case AAL_ERR_SYSTEM:
        if (err.errnum != 0) {
            /* OSError(errno, text) picks the subclass (FileNotFoundError...). */
            PyObject *args = Py_BuildValue("(is)", err.errnum, text);
            if (args) {
                PyErr_SetObject(PyExc_OSError, args);
                Py_DECREF(args);
            }
        }
        else {
            PyErr_SetString(PyExc_OSError, text);
        }
        break;
    case AAL_ERR_NOMEM:
        PyErr_NoMemory();
        break;
    default:
        PyErr_SetString(PyExc_RuntimeError, text);
        break;
    }
    return -1;
}

/* Runs op on the Link without the GIL.  0, or -1 with an exception set:
 * with link_raise_native_error, the one place where Link's failures become
 * Python exceptions. */
static int run_native(LinkObject *self, native_op op, void *ctx)
{
    if (link_check_usable(self) < 0)
        return -1;
    double quantum = self->quantum;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    aal_mutex_lock(&self->session_mu);
    aal_clear_last_error(); /* this thread's record: only op's calls count */
    rc = self->link ? op(self->link, self->session, quantum, ctx) : OP_CLOSED;
    aal_mutex_unlock(&self->session_mu);
    Py_END_ALLOW_THREADS
    if (rc == OP_CLOSED)
        return link_raise_closed();
    if (rc < 0)
        return link_raise_native_error("Ableton Link call failed");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reads */

static int op_snapshot(aal_link *link, aal_session *session, double quantum, void *ctx)
{
    return aal_link_snapshot(link, session, quantum, ctx);
}

int link_snapshot(LinkObject *self, aal_snapshot *snap)
{
    return run_native(self, op_snapshot, snap);
}

typedef struct {
    int64_t ahead_us;
    double beat;
} beat_ahead_op;

static int op_beat_ahead(aal_link *link, aal_session *s, double quantum, void *ctx)
{
    beat_ahead_op *b = ctx;
    if (aal_link_capture_app_session(link, s) != 0)
        return -1;
    int64_t now = aal_link_clock_micros(link);
    b->beat = aal_session_beat_at_time(s, now + b->ahead_us, quantum);
    return now < 0 || isnan(b->beat) ? -1 : 0;
}

int link_beat_ahead(LinkObject *self, int64_t ahead_us, double *beat)
{
    beat_ahead_op b = {ahead_us, 0.0};
    if (run_native(self, op_beat_ahead, &b) < 0)
        return -1;
    *beat = b.beat;
    return 0;
}

static int op_tempo(aal_link *link, aal_session *s, double quantum, void *ctx)
{
    (void)quantum;
    if (aal_link_capture_app_session(link, s) != 0)
        return -1;
    *(double *)ctx = aal_session_tempo(s);
    return 0;
}

int link_read_tempo(LinkObject *self, double *bpm)
{
    return run_native(self, op_tempo, bpm);
}

static int op_clock(aal_link *link, aal_session *s, double q, void *ctx)
{
    (void)s;
    (void)q;
    int64_t t = aal_link_clock_micros(link);
    *(int64_t *)ctx = t;
    return t < 0 ? -1 : 0;
}

int link_read_clock(LinkObject *self, int64_t *us)
{
    return run_native(self, op_clock, us);
}

static int op_num_peers(aal_link *link, aal_session *s, double q, void *ctx)
{
    (void)s;
    (void)q;
    int64_t n = aal_link_num_peers(link);
    *(int64_t *)ctx = n;
    return n < 0 ? -1 : 0;
}

int link_read_num_peers(LinkObject *self, int64_t *n)
{
    return run_native(self, op_num_peers, n);
}

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

int link_time_at_beat(LinkObject *self, double beat, int64_t *time_us)
{
    convert_op c = {beat, 0, true};
    if (run_native(self, op_convert, &c) < 0)
        return -1;
    *time_us = c.time_us;
    return 0;
}

int link_beat_at_time(LinkObject *self, int64_t time_us, double *beat)
{
    convert_op c = {0.0, time_us, false};
    if (run_native(self, op_convert, &c) < 0)
        return -1;
    *beat = c.beat;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Flags */

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

int link_read_flag(LinkObject *self, bool start_stop, bool *value)
{
    flag_op f = {false, start_stop, false};
    if (run_native(self, op_flag, &f) < 0)
        return -1;
    *value = f.value;
    return 0;
}

int link_write_start_stop_sync(LinkObject *self, bool enable)
{
    flag_op f = {enable, true, true};
    if (run_native(self, op_flag, &f) < 0)
        return -1;
    aal_sched_timeline_changed(self->sched);
    return 0;
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

int link_write_enabled(LinkObject *self, bool enable)
{
    enable_op e = {self->sched, enable, self->follow ? AAL_FOLLOW_WINDOW_US : 0};
    return run_native(self, op_enable, &e);
}

/* ------------------------------------------------------------------ */
/* Edits */

static int op_edit(aal_link *link, aal_session *s, double quantum, void *ctx)
{
    link_edit_op *e = ctx;
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

int link_edit(LinkObject *self, link_edit_op *e)
{
    /* An edit that names a beat re-targets every pending sync to its own
     * grid's first point at or after that beat (aalink 0.2.3's
     * reschedule_sync_events); the scheduler hands nothing over from
     * before the commit until that is done. */
    bool retarget = e->kind == EDIT_REQUEST_BEAT || e->kind == EDIT_FORCE_BEAT ||
                    e->kind == EDIT_REQUEST_BEAT_AT_START ||
                    e->kind == EDIT_PLAY_AND_REQUEST_BEAT;
    if (link_check_usable(self) < 0)
        return -1;
    if (retarget)
        aal_sched_edit_begin(self->sched);
    int rc = run_native(self, op_edit, e);
    if (retarget)
        aal_sched_edit_end(self->sched, rc == 0, e->value);
    if (rc < 0)
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
/* The hand-off hold: the scheduler hands items over up to
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

int link_settle(LinkObject *self, const aal_item *items, size_t n, int64_t window_us,
                int64_t *late_us, bool *due)
{
    settle_op op = {items, n, window_us, late_us, due};
    return run_native(self, op_settle, &op);
}
