/* link_object.h - the Python-facing Link type and the internal helpers its
 * files share.  One type, several files, each with one job:
 *
 *   link_object.c    the type: construction, GC, dealloc, properties, tables
 *   link_session.c   every call into Link (GIL released, session_mu held)
 *   link_loop.c      choosing and binding the event loop
 *   link_delivery.c  sync(), resolving futures, callbacks, cancellation
 *   link_lifetime.c  the hold pending futures keep on their Link; close()
 *                    cancelling them; letting go of a closed loop's
 *   link_extras.c    conversions, clock offset, ramps, every(), lead, stats
 *   link_realtime.c  the opt-in real-time mode of the timing threads
 *
 * Threads: unless said otherwise, every function here runs on a Python
 * thread with the GIL held (the loop's thread or any other: a Link is used
 * from whatever thread calls its methods; the GIL guards its fields).  The
 * only lock these files take is session_mu, always with the GIL released,
 * never while waiting for the GIL, and never around a call that takes the
 * scheduler's lock and then waits for session_mu (see link_session.c). */
#ifndef AAL_LINK_OBJECT_H
#define AAL_LINK_OBJECT_H

#include <stdbool.h>
#include <stdint.h>

#include "aal_link.h"     /* aal_link, aal_session, aal_snapshot */
#include "lateness.h"     /* aal_lateness, embedded below */
#include "module_state.h" /* aalink_state, LinkObject, Python.h */
#include "platform.h"     /* aal_mutex, embedded below */
#include "scheduler.h"    /* aal_sched, aal_item */

#define AAL_N_CALLBACK_KINDS 3

struct LinkObject {
    PyObject_HEAD
    aalink_state *state;
    aal_link *link;
    aal_sched *sched;
    /* Capture buffer for calls from Python threads; session_mu is taken
     * with the GIL released and never held while waiting for it. */
    aal_session *session;
    aal_mutex session_mu;
    double quantum;
    double lead;     /* seconds: default for sync(lead=None) */
    aal_lateness lateness;
    PyObject *loop;  /* the bound event loop, or NULL */
    PyObject *waker; /* LoopWaker registered with loop, or NULL */
    PyObject *callbacks[AAL_N_CALLBACK_KINDS]; /* lists */
    /* The waker's bound _future_done, added to each pending future.  It
     * reaches this Link through the waker's weak reference: no cycle. */
    PyObject *on_future_done;
    PyObject *weakreflist;
    struct aal_link_audio *audio; /* Link Audio state (audio.h), or NULL */
    Py_ssize_t done_pending; /* futures done elsewhere but still queued */
    /* Futures the scheduler (or a batch on the loop) holds a reference to,
     * and whether they hold this Link through its waker (link_lifetime.c). */
    Py_ssize_t n_futures;
    bool held;
    uint64_t given_back;     /* hand-offs whose beat moved away (for tests) */
    /* Real-time mode (link_realtime.c): the priority granted, 0 when off;
     * the hold on the loop thread's policy, or NULL. */
    int rt_priority;
    aal_rt_hold *rt_loop_hold;
    bool closed;
    bool follow; /* Link(None): adopt the session found on enabling */
    LinkObject *next_live; /* the state's list of live Links */
    LinkObject **prev_live;
};

extern PyType_Spec Link_spec;

/* A docstring defined beside its function in any link_*.c file, named by
 * the method and getset tables of link_object.c. */
#define AAL_DOC(name, text) const char name[] = PyDoc_STR(text)

/* ------------------------------------------------------------------ */
/* link_object.c */

/* Stops the native side (scheduler thread, Link's threads and sockets).
 * Idempotent; used by close(), dealloc and the interpreter-exit hook.
 * Thread: any Python thread, or the exit hook.  GIL: held (released inside
 * while it takes session_mu and joins the native threads).
 * Locks: session_mu, then the scheduler's (aal_sched_stop) and Link's. */
void link_close_native(LinkObject *self);
/* close(): link_close_native, then cancels every pending future
 * (link_cancel_pending) and forgets the loop.  Idempotent.  Thread: any
 * Python thread, or the exit hook.  GIL: held (released as in
 * link_close_native).  The caller holds a reference to self (letting go of
 * the hold may otherwise free it). */
void link_close(LinkObject *self);

/* Ableton Link's tempo range, 20 to 999 bpm: bpm clamped into it.
 * Thread: any.  GIL: not needed.  Locks: none. */
double link_clamp_bpm(double bpm);
/* 0 if bpm > 0, else -1 with ValueError.  GIL: held.  Locks: none. */
int link_check_bpm(double bpm);
/* Setters get NULL for `del link.name`: -1 with AttributeError then, else 0.
 * GIL: held.  Locks: none. */
int link_refuse_delete(PyObject *value, const char *name);

/* ------------------------------------------------------------------ */
/* link_session.c: calls into Link.  Each takes session_mu with the GIL
 * released (Py_BEGIN_ALLOW_THREADS around it) and maps every failure to an
 * exception in one place: 0, or -1 with an exception set (see
 * link_raise_native_error).
 * Thread: any Python thread.  GIL: held on entry and exit. */

/* Raises what the shim recorded for this thread's last failed call
 * (aal_last_error): std::system_error -> OSError (with its errno when the
 * error is the system's), std::bad_alloc -> MemoryError, anything else ->
 * RuntimeError with its text; `fallback` is the text when the shim gave
 * none.  The caller cleared the record (aal_clear_last_error) before the
 * calls that failed, on this same thread.  Always returns -1.
 * Locks: none. */
int link_raise_native_error(const char *fallback);

/* Sets RuntimeError("this Link is closed"); always returns -1. */
int link_raise_closed(void);
/* 0 if the Link may be used (open, not inherited across fork()), else -1
 * with RuntimeError.  Locks: none. */
int link_check_usable(LinkObject *self);

int link_snapshot(LinkObject *self, aal_snapshot *snap);
/* The beat `ahead_us` from now, for the current quantum. */
int link_beat_ahead(LinkObject *self, int64_t ahead_us, double *beat);
int link_read_tempo(LinkObject *self, double *bpm);
int link_read_clock(LinkObject *self, int64_t *us);
int link_read_num_peers(LinkObject *self, int64_t *n);
/* enabled (start_stop false) or start_stop_sync_enabled (true). */
int link_read_flag(LinkObject *self, bool start_stop, bool *value);
int link_write_start_stop_sync(LinkObject *self, bool enable);
/* Locks: session_mu, then the scheduler's (aal_sched_enable). */
int link_write_enabled(LinkObject *self, bool enable);
int link_time_at_beat(LinkObject *self, double beat, int64_t *time_us);
int link_beat_at_time(LinkObject *self, int64_t time_us, double *beat);

/* One edit of the app session state, committed at the current time. */
enum link_edit_kind {
    EDIT_TEMPO,
    EDIT_PLAYING,
    EDIT_REQUEST_BEAT,
    EDIT_FORCE_BEAT,
    EDIT_REQUEST_BEAT_AT_START,
    EDIT_PLAY_AND_REQUEST_BEAT,
};

typedef struct link_edit_op {
    enum link_edit_kind kind;
    double value; /* bpm or beat */
    bool flag;    /* playing */
    int64_t time_us;
    double tempo_before; /* out: the tempo before this edit */
    bool playing_before; /* out: the start/stop state before this edit */
} link_edit_op;

/* Commits e, tells the scheduler the timeline changed, and waits (GIL
 * released, at most 50 ms) until Link reports a tempo or start/stop change.
 * An edit that names a beat (request/force beat, the two start-playing
 * ones) re-targets every pending sync to the first point of its own grid at
 * or after that beat, bracketing the commit with aal_sched_edit_begin/end.
 * Locks: the scheduler's, alone (begin); session_mu (the commit); then the
 * scheduler's, alone (end, the re-targeting pass, and the wait). */
int link_edit(LinkObject *self, link_edit_op *e);

/* Holds a batch of hand-offs until their beat (busy-waiting at most
 * window_us) and checks each against a fresh reading of the timeline:
 * due[i] says whether item i's beat has been reached, late_us[i] how late
 * it is (now - (time of target - lead)).  Thread: the loop's thread. */
int link_settle(LinkObject *self, const aal_item *items, size_t n, int64_t window_us,
                int64_t *late_us, bool *due);

/* ------------------------------------------------------------------ */
/* link_loop.c: the event loop this Link delivers to.
 * Thread: any Python thread (the decisions say which thread may register
 * with the loop).  GIL: held.  Locks: none of ours; the scheduler's, alone,
 * to set the wake descriptor. */

/* The loop for sync() on this thread, bound and registered if need be.
 * A borrowed reference, or NULL with RuntimeError when this thread cannot
 * use the Link's loop. */
PyObject *link_loop_for_sync(LinkObject *self);
/* Registers with the loop if that is safe now from this thread, has the
 * loop's own thread do it if the loop runs elsewhere, or leaves it to
 * sync().  0, or -1 with an exception. */
int link_try_attach(LinkObject *self);
/* Forgets the bound loop: unregisters its waker, drops pending futures. */
void link_detach_loop(LinkObject *self);
/* _attach_loop(): link_try_attach, called on the loop's thread. */
PyObject *Link_attach_loop(LinkObject *self, PyObject *ignored);
extern const char Link_attach_loop_doc[];

/* ------------------------------------------------------------------ */
/* link_delivery.c: sync() futures and Link events, delivered on the
 * loop's thread. */

/* What the LoopWaker calls back (see loop_waker.h): deliver a batch, a
 * future is done.  Thread: the loop's thread.  GIL: held. */
struct aal_waker_client;
extern const struct aal_waker_client link_waker_client;

/* Releases the scheduler's reference to a pending future (the `drop`
 * callback of aal_sched_destroy/filter).  GIL: held (the scheduler calls
 * it from the Python thread that destroys or filters). */
void link_drop_future(void *future, void *ctx);
/* A lead in seconds (None or NULL: the Link's default) to microseconds;
 * ValueError outside 0..60 s. */
int link_parse_lead(LinkObject *self, PyObject *obj, int64_t *lead_us);
/* Set, add or remove a callback of one kind (set with None clears). */
enum link_callback_op { CB_SET, CB_ADD, CB_REMOVE };
PyObject *link_callback_op(LinkObject *self, int kind, enum link_callback_op op, PyObject *cb);

PyObject *Link_sync(LinkObject *self, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames);
extern const char Link_sync_doc[];
PyObject *Link_sync_at(LinkObject *self, PyObject *args, PyObject *kwds);
extern const char Link_sync_at_doc[];

/* ------------------------------------------------------------------ */
/* link_lifetime.c: pending futures and their Link's lifetime.  A pending
 * future keeps its Link alive (as a pending asyncio.sleep keeps its task):
 * while any is pending the Link's waker holds the Link strongly, and the
 * Link shows its futures to the garbage collector, so that a Link reachable
 * only from futures of a closed (and dropped) loop is collected.
 * Thread: any Python thread (the loop's for delivery).  GIL: held.
 * Functions that may let go of the hold need the caller to hold its own
 * reference to self. */

/* Releases the scheduler's reference to one future (the count of the hold;
 * link_update_hold afterwards). */
void link_release_future(LinkObject *self, PyObject *fut);
/* Takes or lets go of the hold to match the futures pending now. */
void link_update_hold(LinkObject *self);
/* Lets go of the hold at once (the waker is about to be dropped). */
void link_release_hold(LinkObject *self);
/* Cancels every future the scheduler holds: on this thread when the loop
 * runs here or not at all, through loop.call_soon_threadsafe when it runs
 * on another thread (futures are not thread-safe), and not at all when the
 * loop is closed (they are let go).  Locks: the scheduler's, briefly. */
void link_cancel_pending(LinkObject *self);
/* Link_traverse's part: the futures the scheduler holds. */
int link_traverse_futures(LinkObject *self, visitproc visit, void *arg);

/* ------------------------------------------------------------------ */
/* link_extras.c: beat <-> time, clock offset, tempo ramps, every(), lead,
 * lateness stats, scheduler counters. */

PyObject *Link_time_at_beat(LinkObject *self, PyObject *beat);
extern const char Link_time_at_beat_doc[];
PyObject *Link_beat_at_time(LinkObject *self, PyObject *time);
extern const char Link_beat_at_time_doc[];
PyObject *Link_ramp_tempo(LinkObject *self, PyObject *args, PyObject *kwds);
extern const char Link_ramp_tempo_doc[];
PyObject *Link_every(LinkObject *self, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames);
extern const char Link_every_doc[];
PyObject *Link_reset_stats(LinkObject *self, PyObject *ignored);
extern const char Link_reset_stats_doc[];
PyObject *Link_scheduler_stats(LinkObject *self, PyObject *ignored);
extern const char Link_scheduler_stats_doc[];
PyObject *Link_get_clock_offset(LinkObject *self, void *closure);
extern const char Link_clock_offset_doc[];
PyObject *Link_get_ramping(LinkObject *self, void *closure);
extern const char Link_ramping_doc[];
PyObject *Link_get_lead(LinkObject *self, void *closure);
int Link_set_lead(LinkObject *self, PyObject *value, void *closure);
extern const char Link_lead_doc[];
PyObject *Link_get_stats(LinkObject *self, void *closure);
extern const char Link_stats_doc[];

/* ------------------------------------------------------------------ */
/* link_realtime.c: the opt-in real-time mode.  Thread: any Python
 * thread.  GIL: held.  Locks: the platform's real-time mutex (a leaf). */

/* Turns the mode on (the scheduler thread, the relay's, and the calling
 * thread if it runs the Link's loop) or off.  Refused: everything back,
 * one RuntimeWarning, 0.  -1 with an exception (a bad AALINK_RT_PRIORITY,
 * or the warning raised). */
int link_realtime_set(LinkObject *self, bool on);
/* The calling thread runs the Link's bound loop: raise it (and a new
 * relay) if the mode is on and it is not raised yet for this Link,
 * releasing the thread the loop ran on before.  Cheap when nothing
 * changed (every sync() calls it).  0, or -1 as link_realtime_set. */
int link_realtime_on_loop_thread(LinkObject *self);
/* Puts every thread back (close, before the threads are stopped). */
void link_realtime_release(LinkObject *self);
PyObject *Link_get_realtime(LinkObject *self, void *closure);
int Link_set_realtime(LinkObject *self, PyObject *value, void *closure);
extern const char Link_realtime_doc[];

#endif
