/* sched_commits.c - everything the scheduler commits into Link: tempo-ramp
 * steps and follow-on-join's re-founding (run by the scheduler thread), and
 * enable/disable and ramp control from Python threads, all serialised by
 * s->commit_mu (see sched_internal.h for the lock rules). */
#include "sched_commits.h"

#include <math.h>

/* Tempo ramps: a step every 1/AAL_RAMP_STEPS_PER_BEAT beat, committed this
 * far ahead of time (see ramp_step). */
#define AAL_RAMP_STEPS_PER_BEAT 16
#define AAL_RAMP_LOOKAHEAD_US 25000

/* Follow-on-join: re-found our session this often while alone, to keep it
 * younger than Link's 0.5 s "older session wins" margin. */
#define AAL_REFOUND_US 400000

int aal_commits_init(aal_sched *s)
{
    return aal_mutex_init(&s->commit_mu);
}

void aal_commits_destroy(aal_sched *s)
{
    aal_mutex_destroy(&s->commit_mu);
}

/* ---- the thread's steps ---- */

bool aal_commits_active_locked(const aal_sched *s)
{
    return s->ramp_active || s->follow_active;
}

void aal_commits_begin_locked(aal_sched *s, aal_commit_pass *pass)
{
    pass->ramp = s->ramp_active;
    pass->ramp_from = s->ramp_from;
    pass->ramp_to = s->ramp_to;
    pass->ramp_start = s->ramp_start_beat;
    pass->ramp_end = s->ramp_end_beat;
    pass->ramp_n_recent = s->ramp_n_recent;
    for (int i = 0; i < s->ramp_n_recent; i++)
        pass->ramp_recent[i] = s->ramp_recent[i];
    pass->follow = s->follow_active;
    pass->follow_next = s->follow_next;
    pass->follow_until = s->follow_until;
    pass->ramp_bpm = NAN;
    pass->follow_done = false;
}

/* Whether `bpm` is a tempo the ramp itself set: the one it started from or
 * one of its last commits.  Link applies our commits again, in order, on its
 * own thread; when that thread runs late (a loaded machine), a capture right
 * after a commit can read an earlier step's tempo for a moment.  That is
 * not somebody else's change, and the ramp must not yield to it. */
static bool ramp_own_tempo(const aal_commit_pass *pass, double bpm)
{
    if (fabs(bpm - pass->ramp_from) <= 0.01)
        return true;
    for (int i = 0; i < pass->ramp_n_recent; i++)
        if (fabs(bpm - pass->ramp_recent[i]) <= 0.01)
            return true;
    return false;
}

/* One step of a tempo ramp, with s->commit_mu held (it calls into Link).
 * Returns the tempo committed, or NAN when the ramp ended or was
 * overridden. */
static double ramp_step(aal_sched *s, const aal_commit_pass *pass, aal_session *session,
                        int64_t now, double quantum)
{
    double current = aal_session_tempo(session);
    if (pass->ramp_n_recent > 0 && !ramp_own_tempo(pass, current))
        return NAN; /* someone else changed the tempo: the ramp yields */
    /* Link sends a changed timeline to peers at most every 50 ms, and we
     * hold each step for 1/16 beat: commit the tempo the ramp will have 25 ms
     * plus half a step from now, so that we lead the ideal ramp by as much as
     * peers lag behind us, on average. */
    int64_t half_step = (int64_t)(60e6 / (current > 0 ? current : 120.0) /
                                  AAL_RAMP_STEPS_PER_BEAT / 2);
    double beat = aal_session_beat_at_time(session, now + AAL_RAMP_LOOKAHEAD_US + half_step,
                                           quantum);
    double start = pass->ramp_start, end = pass->ramp_end;
    double p = end > start ? (beat - start) / (end - start) : 1.0;
    p = p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
    double bpm = pass->ramp_from + (pass->ramp_to - pass->ramp_from) * p;
    if (aal_session_set_tempo(session, bpm, now) != 0 ||
        aal_link_commit_app_session(s->link, session) != 0)
        return NAN;
    return p >= 1.0 ? -bpm : bpm; /* negative: the ramp is complete */
}

/* Steps the ramp if it still runs: once aal_sched_cancel_ramp returns (a
 * tempo set from Python), no step already under way can overwrite that
 * tempo. */
static void run_ramp(aal_sched *s, aal_commit_pass *pass, aal_session *session, int64_t now,
                     double quantum)
{
    aal_mutex_lock(&s->commit_mu);
    aal_mutex_lock(&s->mu);
    bool still = s->ramp_active && s->ramp_start_beat == pass->ramp_start;
    aal_mutex_unlock(&s->mu);
    if (still)
        pass->ramp_bpm = ramp_step(s, pass, session, now, quantum);
    aal_mutex_unlock(&s->commit_mu);
}

/* Follow-on-join, when its time has come: ends at the first peer or the end
 * of the window; otherwise re-founds the session.  Re-founding resets our
 * session's ghost clock to 0: a session we meet is then never younger than
 * ours by Link's 0.5 s margin, so it keeps its tempo and we adopt it.  Only
 * if nobody disabled us (or started another window) since the pass began. */
static void run_follow(aal_sched *s, aal_commit_pass *pass, int64_t now)
{
    if (aal_link_num_peers(s->link) != 0 || now >= pass->follow_until) {
        pass->follow_done = true;
        return;
    }
    aal_mutex_lock(&s->commit_mu);
    aal_mutex_lock(&s->mu);
    bool still = s->follow_active && s->follow_until == pass->follow_until;
    aal_mutex_unlock(&s->mu);
    if (still) {
        aal_link_enable(s->link, false);
        aal_link_enable(s->link, true);
    }
    aal_mutex_unlock(&s->commit_mu);
}

void aal_commits_run(aal_sched *s, aal_commit_pass *pass, aal_session *session, int64_t now,
                     double quantum)
{
    if (pass->ramp)
        run_ramp(s, pass, session, now, quantum);
    if (pass->follow && now >= pass->follow_next)
        run_follow(s, pass, now);
}

void aal_commits_end_locked(aal_sched *s, const aal_commit_pass *pass, int64_t now)
{
    if (pass->follow && s->follow_active && s->follow_until == pass->follow_until &&
        now >= pass->follow_next) {
        if (pass->follow_done)
            s->follow_active = false;
        else
            s->follow_next = now + AAL_REFOUND_US < pass->follow_until ? now + AAL_REFOUND_US
                                                                       : pass->follow_until;
    }
    if (pass->ramp && s->ramp_active && s->ramp_start_beat == pass->ramp_start) {
        if (isnan(pass->ramp_bpm) || pass->ramp_bpm < 0)
            s->ramp_active = false;
        else {
            int n = s->ramp_n_recent < AAL_RAMP_RECENT ? s->ramp_n_recent + 1 : AAL_RAMP_RECENT;
            for (int i = n - 1; i > 0; i--)
                s->ramp_recent[i] = s->ramp_recent[i - 1];
            s->ramp_recent[0] = pass->ramp_bpm;
            s->ramp_n_recent = n;
        }
    }
}

int64_t aal_commits_next_due_locked(const aal_sched *s, const aal_session *session, int64_t now)
{
    int64_t due = INT64_MAX;
    if (s->ramp_active) {
        /* Next ramp step in 1/16 beat at the current tempo. */
        double bpm = aal_session_tempo(session);
        int64_t step = (int64_t)(60e6 / (bpm > 0 ? bpm : 120.0) / AAL_RAMP_STEPS_PER_BEAT);
        due = now + step;
    }
    if (s->follow_active && s->follow_next < due)
        due = s->follow_next;
    return due;
}

/* ---- the public API (scheduler.h): Python threads ---- */

void aal_sched_start_ramp(aal_sched *s, double from_bpm, double to_bpm, double start_beat,
                          double end_beat)
{
    aal_mutex_lock(&s->mu);
    s->ramp_active = true;
    s->ramp_from = from_bpm;
    s->ramp_to = to_bpm;
    s->ramp_start_beat = start_beat;
    s->ramp_end_beat = end_beat;
    s->ramp_n_recent = 0;
    s->dirty = true;
    aal_cond_signal(&s->cond);
    aal_mutex_unlock(&s->mu);
}

void aal_sched_cancel_ramp(aal_sched *s)
{
    aal_mutex_lock(&s->mu);
    s->ramp_active = false;
    aal_mutex_unlock(&s->mu);
    /* Wait for a ramp step under way (it holds commit_mu while it commits). */
    aal_mutex_lock(&s->commit_mu);
    aal_mutex_unlock(&s->commit_mu);
}

bool aal_sched_ramping(aal_sched *s)
{
    aal_mutex_lock(&s->mu);
    bool r = s->ramp_active;
    aal_mutex_unlock(&s->mu);
    return r;
}

int aal_sched_enable(aal_sched *s, bool enable, int64_t follow_window_us)
{
    aal_mutex_lock(&s->commit_mu);
    bool was = aal_link_is_enabled(s->link);
    int rc = aal_link_enable(s->link, enable);
    int64_t now = aal_link_clock_micros(s->link);
    aal_mutex_lock(&s->mu);
    if (!enable)
        s->follow_active = false;
    else if (rc == 0 && !was && follow_window_us > 0) {
        s->follow_active = true;
        s->follow_until = now + follow_window_us;
        s->follow_next = now + (AAL_REFOUND_US < follow_window_us ? AAL_REFOUND_US
                                                                  : follow_window_us);
    }
    s->dirty = true;
    aal_cond_signal(&s->cond);
    aal_mutex_unlock(&s->mu);
    aal_mutex_unlock(&s->commit_mu);
    return rc;
}

bool aal_sched_following(aal_sched *s)
{
    aal_mutex_lock(&s->mu);
    bool r = s->follow_active;
    aal_mutex_unlock(&s->mu);
    return r;
}
