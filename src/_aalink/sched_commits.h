/* sched_commits.h - the commits the scheduler makes into Link: tempo-ramp
 * steps and follow-on-join's re-founding, which its thread runs once per
 * pass, and enable/disable from Python (aal_sched_enable, in scheduler.h).
 * Internal to scheduler.c and sched_commits.c.
 *
 * A pass of the thread runs three steps, with s->mu released in between:
 *
 *   aal_commits_begin_locked   s->mu held: copy what may be due
 *   aal_commits_run            no s->mu: commit it into Link (takes
 *                              s->commit_mu, briefly s->mu inside it)
 *   aal_commits_end_locked     s->mu held: record what happened
 *
 * The functions below, but for init/destroy, run on the scheduler thread
 * only, which has no Python state (so never with the GIL).  The public functions this file implements
 * (aal_sched_enable, aal_sched_cancel_ramp, ...) have their contracts in
 * scheduler.h. */
#ifndef AAL_SCHED_COMMITS_H
#define AAL_SCHED_COMMITS_H

#include "sched_internal.h"

/* What one pass of the thread may commit, copied under s->mu at its start,
 * and what it did. */
typedef struct aal_commit_pass {
    bool ramp;
    double ramp_from, ramp_to, ramp_start, ramp_end;
    double ramp_recent[AAL_RAMP_RECENT]; /* the ramp's last tempi, newest first */
    int ramp_n_recent;
    bool follow;
    int64_t follow_next, follow_until;
    /* Outcomes.  ramp_bpm: the tempo committed, negative for the ramp's last
     * step, NAN when the ramp ended, yielded or did not step. */
    double ramp_bpm;
    bool follow_done; /* joined a session, or the window is over */
} aal_commit_pass;

/* Creates and destroys s->commit_mu (0 or an errno value).  Thread: the
 * one creating or destroying the scheduler, while no other uses it.  GIL:
 * may be held.  Locks: none. */
int aal_commits_init(aal_sched *s);
void aal_commits_destroy(aal_sched *s);

/* True while a ramp or a follow-on-join window gives the thread work even
 * with no items pending.  Thread: the scheduler's.  Locks: s->mu held by
 * the caller. */
bool aal_commits_active_locked(const aal_sched *s);

/* Starts a pass: copies the ramp and follow state.  Thread: the
 * scheduler's.  Locks: s->mu held by the caller. */
void aal_commits_begin_locked(aal_sched *s, aal_commit_pass *pass);

/* Runs the commits due at Link time `now` on `session`, captured at `now`:
 * a ramp step commits a tempo (and leaves it set in `session`), a due
 * follow-on-join re-founds the session.  Each commit holds s->commit_mu and
 * runs only if the state it was planned from still holds.  Called without
 * s->mu, and only after a successful capture.  Thread: the scheduler's.
 * Locks: s->commit_mu for each commit, s->mu briefly inside it; blocks
 * while Link takes the commit (and while a Python thread holds
 * s->commit_mu). */
void aal_commits_run(aal_sched *s, aal_commit_pass *pass, aal_session *session, int64_t now,
                     double quantum);

/* Ends a pass: records its outcome unless the ramp or the window was
 * replaced meanwhile.  Thread: the scheduler's.  Locks: s->mu held by the
 * caller. */
void aal_commits_end_locked(aal_sched *s, const aal_commit_pass *pass, int64_t now);

/* The Link time of the next commit due (INT64_MAX: none), reading the tempo
 * from `session`, captured at `now` (no lock taken: the session is the
 * thread's own).  Thread: the scheduler's.  Locks: s->mu held by the
 * caller. */
int64_t aal_commits_next_due_locked(const aal_sched *s, const aal_session *session, int64_t now);

#endif
