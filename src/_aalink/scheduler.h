/* scheduler.h - the native beat scheduler: what is due, and when to wake.
 *
 * Knows nothing of Python.  Items are opaque pointers ordered by target beat
 * in a min-heap.  A native thread reads Link's session state, moves every
 * item whose beat is reached within the next aal_sched_handoff_us() to a
 * ready list, signals the wake descriptor once per batch, and sleeps until
 * that time before the earliest remaining target (or without a time-out
 * when nothing is pending).  The hand-off is early by the time the loop
 * thread takes to wake up: the consumer must hold each item until its beat
 * (and give back any whose beat moved away, with aal_sched_push).  The
 * thread never takes the GIL and never holds the mutex while calling into
 * Link.  The consumer (the asyncio loop thread) takes the ready list and the
 * recorded Link events with aal_sched_take().
 *
 * Contracts.  Every function below says which thread may call it ("any"
 * means any thread of the process that created the scheduler), whether the
 * GIL may be held meanwhile, and which of the scheduler's locks it takes
 * (sched_internal.h has the rules):
 *   s->mu         held only briefly: taking it with the GIL held is fine,
 *                 since no holder of s->mu ever waits for the GIL, a Python
 *                 call, Link, or another lock;
 *   s->commit_mu  held while committing into Link: whoever takes it may
 *                 wait for a commit under way, so never with the GIL.
 * The scheduler thread has no Python state and Link's callbacks run on
 * Link's thread; neither calls any of these functions.  In a child forked
 * while the scheduler existed (aal_sched_forked), aal_sched_enable and
 * aal_sched_cancel_ramp must not be called: they call into Link or take
 * s->commit_mu, which a thread that is gone there may have held.  The rest
 * work there (the fork handler leaves s->mu unlocked; stop has no thread to
 * join). */
#ifndef AAL_SCHEDULER_H
#define AAL_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aal_link.h"
#include "sched_item.h"

typedef struct aal_sched aal_sched;

/* Distinct leads pending at once (each has its own heap). */
#define AAL_MAX_LEAD_GROUPS 16

enum aal_event_kind { AAL_EVENT_PEERS = 0, AAL_EVENT_TEMPO = 1, AAL_EVENT_START_STOP = 2 };

typedef struct aal_event {
    int kind;
    double value; /* peers, bpm or 0/1 */
} aal_event;

/* A batch handed to the loop thread: arrays owned by the batch. */
typedef struct aal_batch {
    aal_item *ready;
    size_t n_ready;
    aal_event *events;
    size_t n_events;
    uint64_t edit_gen; /* the edit generation when taken (aal_sched_edited_since) */
} aal_batch;

/* Creates the scheduler, starts its thread and registers Link's callbacks
 * (NULL on failure).  Thread: any.  GIL: must not be held (registering
 * waits for a Link callback under way).  Locks: the registry's, Link's
 * callback lock. */
aal_sched *aal_sched_create(aal_link *link, double quantum);
/* Clears Link's callbacks (not in a forked child), stops and joins the
 * thread; idempotent.  Thread: any but the scheduler's.  GIL: must not be
 * held (waits for a callback under way and for the thread's pass, which may
 * wait for commit_mu).  Locks: Link's callback lock (not held after the
 * shim call returns), then s->mu. */
void aal_sched_stop(aal_sched *s);
/* Stops the scheduler if it still runs (see aal_sched_stop), then frees it;
 * leftover items are given to `drop`.  Thread: any but the scheduler's.
 * GIL: as `drop` needs it, but only once aal_sched_stop has returned (else
 * must not be held).  Locks: the registry's. */
void aal_sched_destroy(aal_sched *s, void (*drop)(void *ptr, void *ctx), void *ctx);

/* Moves the scheduler thread to the real-time policy at `priority`
 * (platform.h: aal_rt_raise), or back to what it was with 0.  0, or an
 * errno value (EPERM: refused; ESRCH: the thread has stopped), and the
 * thread stays as it was.  Thread: any Python thread, never concurrently
 * with itself or aal_sched_stop (the GIL serialises the callers).  GIL: may
 * be held.  Locks: none. */
int aal_sched_set_realtime(aal_sched *s, int priority);

/* True in a child process forked while the scheduler existed: its thread and
 * Link's threads are gone there, so nothing may call into Link.  Thread:
 * any.  GIL: may be held.  Locks: none (set by the fork handler while no
 * other thread runs). */
bool aal_sched_forked(const aal_sched *s);

/* How long before its beat an item may be handed to the consumer (fixed at
 * creation).  Thread: any.  GIL: may be held.  Locks: none. */
int64_t aal_sched_handoff_us(const aal_sched *s);

/* Where to signal when a batch is ready (-1: nowhere yet); signals at once
 * if one is waiting.  Thread: any.  GIL: may be held.  Locks: s->mu. */
void aal_sched_set_wake_fd(aal_sched *s, int write_fd);
/* Which kinds of Link event the consumer wants recorded (bit per kind).
 * Thread: any.  GIL: may be held.  Locks: s->mu. */
void aal_sched_set_event_mask(aal_sched *s, unsigned mask);
/* The quantum beats are read with; re-checks the timeline.  Thread: any.
 * GIL: may be held.  Locks: s->mu. */
void aal_sched_set_quantum(aal_sched *s, double quantum);

/* Adds an item due when the timeline reaches `target` beats, `lead_us`
 * microseconds early; `target` lies on the grid base + k*step (step > 0),
 * which a timeline edit re-targets it on (aal_sched_edit_end).  0, -1 (out
 * of memory) or -2 (more than AAL_MAX_LEAD_GROUPS distinct leads pending).
 * Wakes the thread when it becomes the earliest.  Thread: any.  GIL: may be
 * held.  Locks: s->mu. */
int aal_sched_push(aal_sched *s, double target, double step, double base, int64_t lead_us,
                   void *ptr);

/* ---- sched_items.c: the consumer's side of pending items ---- */

/* A timeline edit of this program (a beat mapped to a time) is bracketed
 * by these two, around its commit into Link.  Between them the thread
 * hands nothing over (a target is not due by a timeline it has not been
 * re-targeted on yet).  aal_sched_edit_end with retarget true moves every
 * pending item, and every item handed over but not yet taken, to the first
 * point of its own grid at or after `beat` (aalink 0.2.3's
 * reschedule_sync_events), in one O(n) pass; with false (the commit
 * failed) it only ends the bracket.  Every begin needs its end.  Thread:
 * any.  GIL: may be held.  Locks: s->mu (never calls into Link). */
void aal_sched_edit_begin(aal_sched *s);
void aal_sched_edit_end(aal_sched *s, bool retarget, double beat);
/* Whether an edit began since `batch->edit_gen` was taken (or is under
 * way): the batch's targets may be stale, so give the rest back.  Thread:
 * the consumer's.  GIL: may be held.  Locks: s->mu. */
bool aal_sched_edited_since(aal_sched *s, const aal_batch *batch);
/* Puts back an item of `batch` that is not due (or whose batch was
 * overtaken by an edit): re-targeted against the last edit if one ended
 * since the batch was taken, left for the edit under way to re-target
 * otherwise.  0, or as aal_sched_push.  Thread: the consumer's.  GIL: may
 * be held.  Locks: s->mu. */
int aal_sched_give_back(aal_sched *s, const aal_batch *batch, const aal_item *item);
/* Calls visit(ptr, ctx) for every pending and ready item, stopping at the
 * first non-zero return (which it returns): the garbage collector's view of
 * the references the scheduler holds.  visit must not call into Python or
 * take a lock (a GC visit function).  Thread: any.  GIL: held (GC).
 * Locks: s->mu, throughout. */
int aal_sched_visit(aal_sched *s, int (*visit)(void *ptr, void *ctx), void *ctx);

/* Tempo ramp: the thread commits tempi from `from_bpm` to `to_bpm`, linear
 * in beats from `start_beat` to `end_beat`, every 1/16 beat.  Any
 * other tempo change (a peer's, or aal_sched_cancel_ramp) ends it.
 * Thread: any.  GIL: may be held.  Locks: s->mu. */
void aal_sched_start_ramp(aal_sched *s, double from_bpm, double to_bpm, double start_beat,
                          double end_beat);
/* Ends the ramp, and returns only once no step of it can commit any more
 * (a step under way is waited for).  Thread: any but the scheduler's.  GIL:
 * must not be held (waits for a commit into Link).  Locks: s->mu, then
 * s->commit_mu. */
void aal_sched_cancel_ramp(aal_sched *s);
/* Whether a ramp runs.  Thread: any.  GIL: may be held.  Locks: s->mu. */
bool aal_sched_ramping(aal_sched *s);

/* Enables or disables Link.  With follow_window_us > 0, enabling a disabled
 * Link starts follow-on-join: for that long, while it has no peers, the
 * thread re-founds its session (disable + enable) every 0.4 s so that any
 * session it meets is the older one and keeps its tempo.  Following ends at
 * the first peer, at the end of the window, or when disabled.  0, or -1
 * when Link failed.  Thread: any but the scheduler's.  GIL: must not be
 * held (waits for a commit under way).  Locks: s->commit_mu, and s->mu
 * inside it. */
int aal_sched_enable(aal_sched *s, bool enable, int64_t follow_window_us);
/* Whether a follow-on-join window is open.  Thread: any.  GIL: may be held.
 * Locks: s->mu. */
bool aal_sched_following(aal_sched *s);

/* Waits (up to timeout_us) until Link's tempo callback has reported `bpm`:
 * Link applies a commit on its own thread, and until it has, a second
 * commit queued behind it could read back the first for a moment.  False
 * on time-out (a peer changed the tempo meanwhile, say).  Thread: any but
 * the scheduler's or Link's.  GIL: must not be held (polls every 50 us
 * until then).  Locks: s->mu, briefly, each poll. */
bool aal_sched_wait_tempo(aal_sched *s, double bpm, int64_t timeout_us);
/* The same for a start/stop commit, through Link's start/stop callback: a
 * commit issued while Link still applies the one before it can be lost.
 * Thread, GIL, locks: as aal_sched_wait_tempo. */
bool aal_sched_wait_playing(aal_sched *s, bool playing, int64_t timeout_us);
/* The timeline changed (tempo, re-mapping, quantum): re-check now.
 * Thread: any.  GIL: may be held.  Locks: s->mu. */
void aal_sched_timeline_changed(aal_sched *s);
/* Items pending (not yet handed over).  Thread: any.  GIL: may be held.
 * Locks: s->mu. */
size_t aal_sched_pending(aal_sched *s);

/* Takes everything ready and every recorded event; free with
 * aal_batch_release.  Thread: the consumer's (one at a time).  GIL: may be
 * held.  Locks: s->mu. */
void aal_sched_take(aal_sched *s, aal_batch *batch);
/* Frees a batch's arrays (not the items' pointers).  Thread: the batch's
 * owner.  GIL: may be held.  Locks: none. */
void aal_batch_release(aal_batch *batch);

/* Removes every pending item for which keep() returns false.  keep() runs
 * without the scheduler's lock (it may call into Python); items pushed
 * meanwhile are kept.  Removed items are given to drop().  Thread: the
 * consumer's.  GIL: as keep() and drop() need it.  Locks: s->mu, twice,
 * never while calling keep() or drop(). */
void aal_sched_filter(aal_sched *s, bool (*keep)(void *ptr, void *ctx),
                      void (*drop)(void *ptr, void *ctx), void *ctx);

/* Takes every pending and ready item (for a loop being dropped).  Thread:
 * the consumer's.  GIL: may be held.  Locks: s->mu. */
void aal_sched_take_all(aal_sched *s, aal_batch *batch);

/* Counters for tests and benchmarks: wake-ups of the thread, batches
 * signalled.  Thread: any.  GIL: may be held.  Locks: s->mu. */
void aal_sched_counters(aal_sched *s, uint64_t *wakeups, uint64_t *batches);

#endif
