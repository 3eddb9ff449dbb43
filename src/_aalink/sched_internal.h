/* sched_internal.h - the scheduler's state, shared by scheduler.c (the thread,
 * the items, Link's callbacks) and sched_commits.c (what the scheduler
 * commits into Link).  Nothing outside those two files includes it.
 *
 * Locks, in the order they may be taken (never the other way round):
 *
 *   commit_mu  ->  Link's locks (callback, client state)  ->  mu
 *   registry_mu  ->  mu                  (scheduler.c; the fork handlers)
 *
 * (link_object.c holds its session_mu around aal_sched_enable and
 * aal_sched_stop: session_mu comes before all of these.)
 *
 *   commit_mu  serialises every commit this scheduler makes into Link:
 *              enable/disable (aal_sched_enable), re-founding the session
 *              (follow-on-join) and tempo-ramp steps; it also lets
 *              aal_sched_cancel_ramp wait out a ramp step under way.  It is
 *              held while calling into Link (that is its purpose), and only
 *              by Python threads (in aal_sched_enable/cancel_ramp) and the
 *              scheduler thread; Link's callbacks never take it.
 *   mu         guards every field below it in struct aal_sched.  It is
 *              never held while calling an aal_link_* function (the
 *              aal_session_* maths on a captured session is fine: it takes
 *              no lock), nor while spinning, and its holders block on
 *              nothing but cond.  Link's callbacks take it (on Link's
 *              thread, under Link's callback lock), which is why no call
 *              that takes Link's callback lock may be made with mu held.
 *
 * The fork handlers take registry_mu and then every scheduler's mu, so a
 * child starts with those consistent and unlocked; they do not take
 * commit_mu, which a child must therefore never take (scheduler.h says
 * which functions are off limits there). */
#ifndef AAL_SCHED_INTERNAL_H
#define AAL_SCHED_INTERNAL_H

#include "item_heap.h"
#include "platform.h"
#include "scheduler.h"

/* How many of its own last tempi a ramp recognises when it reads one back
 * (16 steps: half a second at 120 bpm; see sched_commits.c). */
#define AAL_RAMP_RECENT 16

/* Recorded Link events kept for the loop before the oldest are dropped. */
#define AAL_MAX_EVENTS 1024

struct aal_sched {
    /* Set at creation.  After that only thread_started changes, on the
     * owner's thread (aal_sched_stop), and the fork handler sets forked and
     * clears thread_started in the child, where no other thread runs. */
    aal_link *link;
    aal_session *session; /* the thread's own capture buffer: only it touches it */
    aal_thread thread;
    bool thread_started;
    bool forked;
    int64_t spin_us;
    int64_t handoff_us;
    /* Real-time policy of the thread (aal_sched_set_realtime): changed only
     * by Python threads, which the GIL serialises, while thread_started. */
    int rt_priority; /* 0: normal */
    aal_rt_saved rt_saved;

    aal_mutex commit_mu; /* see the top of this file */

    aal_mutex mu; /* guards everything below */
    aal_cond cond; /* wakes the thread: signalled with mu held */
    bool stop;  /* also read without mu (aal_flag_load) while the thread spins */
    bool dirty; /* re-check the timeline before sleeping */
    double quantum;
    uint64_t next_seq;
    /* Pending items, one heap per distinct lead: within a group, beat order
     * is due order. */
    struct lead_group {
        int64_t lead_us;
        aal_heap heap;
    } groups[AAL_MAX_LEAD_GROUPS];
    int n_groups;
    size_t n_pending;
    /* Tempo ramp, stepped by the thread (sched_commits.c).  ramp_recent: the
     * tempi the ramp committed last (ramp_recent[0] the newest), which a
     * capture may still read back (see ramp_step). */
    bool ramp_active;
    double ramp_from, ramp_to, ramp_start_beat, ramp_end_beat;
    double ramp_recent[AAL_RAMP_RECENT];
    int ramp_n_recent;
    /* Follow-on-join window (Link(None)), run by the thread
     * (sched_commits.c). */
    bool follow_active;
    int64_t follow_until, follow_next;
    aal_heap ready; /* due items for the loop, in due order (not a heap) */
    /* Timeline edits of this program (sched_items.c): edit_gen counts
     * begins and ends; while `editing` > 0 nothing is handed over. */
    int editing;
    uint64_t edit_gen;
    uint64_t retarget_gen; /* edit_gen at the end of the last re-targeting */
    double retarget_beat;  /* the beat that edit named */
    aal_event *events;
    size_t n_events, cap_events;
    unsigned event_mask;
    double last_tempo; /* the latest tempo Link reported through its callback */
    int last_playing;  /* the latest start/stop state it reported, -1: none yet */
    int wake_fd;
    bool wake_signalled; /* a wake is outstanding: don't write again */
    uint64_t wakeups, batches;

    aal_sched *next_live; /* registry of live schedulers, for fork (registry_mu) */
};

/* Adds `item` (its seq already set) to the group of its lead, creating the
 * group if need be; wakes the thread when it becomes the earliest.  0, -1
 * (out of memory) or -2 (too many leads).  s->mu held (scheduler.c). */
int aal_sched_insert_locked(aal_sched *s, aal_item item);

#endif
