/* scheduler.c - the native beat scheduler thread: keeps the pending items,
 * hands due ones to the loop, sleeps until the next is due, and records
 * Link's events (see scheduler.h; its commits into Link are in
 * sched_commits.c, the lock rules in sched_internal.h). */
#include "scheduler.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "item_heap.h"
#include "platform.h"
#include "sched_commits.h"
#include "sched_internal.h"

/* Wake this long before a target and watch the clock for the rest: timed
 * waits on a virtual machine overshoot by tens of microseconds.  The
 * environment variable AALINK_SPIN_US (0..2000) overrides it, for
 * measuring. */
#define AAL_SPIN_US 150

/* Items go to the loop this long before they are due: the loop thread's
 * wake-up (epoll, then Python) takes about that long on a virtual machine,
 * and link_deliver_batch holds each item until its beat (see scheduler.h).
 * AALINK_HANDOFF_US (0..2000) overrides it, for measuring. */
#define AAL_HANDOFF_US 150

/* ---- registry, so that fork() can lock and mark every scheduler ---- */

static aal_mutex registry_mu = AAL_MUTEX_INIT;
static aal_sched *registry_head;
static aal_once_flag atfork_once = AAL_ONCE_INIT;

static void atfork_prepare(void)
{
    aal_mutex_lock(&registry_mu);
    for (aal_sched *s = registry_head; s; s = s->next_live)
        aal_mutex_lock(&s->mu);
}

static void atfork_parent(void)
{
    for (aal_sched *s = registry_head; s; s = s->next_live)
        aal_mutex_unlock(&s->mu);
    aal_mutex_unlock(&registry_mu);
}

static void atfork_child(void)
{
    for (aal_sched *s = registry_head; s; s = s->next_live) {
        s->forked = true;
        s->thread_started = false; /* there is no thread to join here */
        s->wake_fd = -1;           /* the loop of the parent is not ours */
        aal_mutex_unlock(&s->mu);
    }
    aal_mutex_unlock(&registry_mu);
}

static void install_atfork(void)
{
    aal_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void registry_add(aal_sched *s)
{
    aal_mutex_lock(&registry_mu);
    s->next_live = registry_head;
    registry_head = s;
    aal_mutex_unlock(&registry_mu);
}

static void registry_remove(aal_sched *s)
{
    aal_mutex_lock(&registry_mu);
    for (aal_sched **p = &registry_head; *p; p = &(*p)->next_live) {
        if (*p == s) {
            *p = s->next_live;
            break;
        }
    }
    aal_mutex_unlock(&registry_mu);
}

/* ---- helpers that run with s->mu held ---- */

static void signal_loop_locked(aal_sched *s)
{
    if (!s->wake_signalled && s->wake_fd >= 0) {
        s->wake_signalled = true;
        s->batches++;
        aal_wakefd_signal(s->wake_fd);
    }
}

static int ready_append_locked(aal_sched *s, aal_item item)
{
    return aal_heap_append(&s->ready, item);
}

static void event_append_locked(aal_sched *s, int kind, double value)
{
    if (s->n_events == AAL_MAX_EVENTS) {
        /* The loop has taken no batch for a long time: forget the oldest. */
        memmove(s->events, s->events + 1, (s->n_events - 1) * sizeof *s->events);
        s->n_events--;
    }
    if (s->n_events == s->cap_events) {
        size_t cap = s->cap_events ? s->cap_events * 2 : 8;
        aal_event *grown = realloc(s->events, cap * sizeof *grown);
        if (!grown)
            return;
        s->events = grown;
        s->cap_events = cap;
    }
    s->events[s->n_events].kind = kind;
    s->events[s->n_events].value = value;
    s->n_events++;
}

/* ---- Link's callbacks: Link's thread, Link's callback lock held ---- */

static void on_link_event(aal_sched *s, int kind, double value)
{
    aal_mutex_lock(&s->mu);
    s->dirty = true; /* the timeline may have moved */
    aal_cond_signal(&s->cond);
    if (kind == AAL_EVENT_TEMPO)
        s->last_tempo = value;
    if (kind == AAL_EVENT_START_STOP)
        s->last_playing = value != 0.0;
    if (s->event_mask & (1u << kind)) {
        event_append_locked(s, kind, value);
        signal_loop_locked(s);
    }
    aal_mutex_unlock(&s->mu);
}

static void on_peers(uint64_t peers, void *ctx)
{
    on_link_event(ctx, AAL_EVENT_PEERS, (double)peers);
}

static void on_tempo(double bpm, void *ctx)
{
    on_link_event(ctx, AAL_EVENT_TEMPO, bpm);
}

static void on_start_stop(bool playing, void *ctx)
{
    on_link_event(ctx, AAL_EVENT_START_STOP, playing ? 1.0 : 0.0);
}

/* ---- the thread ---- */

/* Waits, with s->mu held, until Link time `due_us` or a signal.  Returns
 * when it is time to re-check. */
static void wait_until_locked(aal_sched *s, int64_t due_us)
{
    int64_t now = aal_os_link_clock_us();
    int64_t sleep_us = due_us - now - s->spin_us;
    if (sleep_us > 0) {
        if (aal_cond_wait_us(&s->cond, &s->mu, sleep_us))
            return; /* signalled (or spurious): re-check */
        if (s->stop || s->dirty)
            return;
    }
    /* The last stretch: watch the clock without the lock, so that pushes
     * and Link's callbacks are never held up. */
    aal_mutex_unlock(&s->mu);
    while (aal_os_link_clock_us() < due_us) {
        if (aal_flag_load(&s->stop))
            break;
    }
    aal_mutex_lock(&s->mu);
}

static int compare_items(const void *a, const void *b)
{
    const aal_item *x = a, *y = b;
    if (x->target != y->target)
        return x->target < y->target ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Drops empty groups (with s->mu held). */
static void compact_groups_locked(aal_sched *s)
{
    int n = 0;
    for (int g = 0; g < s->n_groups; g++) {
        if (s->groups[g].heap.len > 0)
            s->groups[n++] = s->groups[g];
        else
            aal_heap_free(&s->groups[g].heap);
    }
    for (int g = n; g < s->n_groups; g++)
        memset(&s->groups[g], 0, sizeof s->groups[g]);
    s->n_groups = n;
}

/* Moves every due item to the ready list; returns the Link time at which
 * the earliest remaining one is due (INT64_MAX when none).  s->mu held;
 * `session` was captured at `now`. */
static int64_t collect_due_locked(aal_sched *s, const aal_session *session, int64_t now,
                                  double quantum)
{
    int64_t next_due = INT64_MAX;
    size_t first_new = s->ready.len;
    int groups_moved = 0;
    for (int g = 0; g < s->n_groups; g++) {
        struct lead_group *grp = &s->groups[g];
        double beat =
            aal_session_beat_at_time(session, now + grp->lead_us + s->handoff_us, quantum);
        bool moved = false;
        while (grp->heap.len > 0 && grp->heap.items[0].target <= beat) {
            if (ready_append_locked(s, grp->heap.items[0]) != 0)
                break; /* out of memory: leave it pending, retry next pass */
            aal_heap_pop(&grp->heap);
            s->n_pending--;
            moved = true;
        }
        groups_moved += moved;
        if (grp->heap.len > 0) {
            int64_t t = aal_session_time_at_beat(session, grp->heap.items[0].target, quantum);
            t = t == INT64_MIN ? now + 1000 : t - grp->lead_us - s->handoff_us;
            if (t < next_due)
                next_due = t;
        }
    }
    if (groups_moved > 1) /* keep a batch in beat order across leads */
        qsort(s->ready.items + first_new, s->ready.len - first_new, sizeof *s->ready.items,
              compare_items);
    return next_due;
}

/* One pass of the thread, step by step. */

/* Nothing pending, no ramp, no follow-on-join: sleep until signalled. */
static bool idle_locked(const aal_sched *s)
{
    return s->n_pending == 0 && !aal_commits_active_locked(s);
}

/* Reads Link's clock and captures its session into the thread's buffer,
 * without s->mu: Link may block briefly.  False when Link failed (`now` is
 * then what the clock read, or -1). */
static bool read_session(aal_sched *s, int64_t *now)
{
    *now = aal_link_clock_micros(s->link);
    return *now >= 0 && aal_link_capture_app_session(s->link, s->session) == 0;
}

/* Hands every item due by `now` to the loop (one signal for the batch) and
 * drops emptied lead groups.  Returns when the next item is due
 * (INT64_MAX: none).  s->mu held. */
static int64_t hand_over_due_locked(aal_sched *s, int64_t now, double quantum)
{
    size_t before = s->ready.len;
    int64_t due = collect_due_locked(s, s->session, now, quantum);
    if (s->ready.len > before)
        signal_loop_locked(s);
    if (s->n_groups > 1 || (s->n_groups == 1 && s->groups[0].heap.len == 0))
        compact_groups_locked(s);
    return due;
}

/* Sleeps until the earlier of `items_due` and the next commit due, or a
 * signal.  s->mu held (released while it waits). */
static void sleep_until_due_locked(aal_sched *s, int64_t now, int64_t items_due)
{
    int64_t due = aal_commits_next_due_locked(s, s->session, now);
    if (items_due < due)
        due = items_due;
    if (due == INT64_MAX)
        return; /* nothing left: the next pass waits without a time-out */
    /* Link rounds times to microseconds: aim one past, then re-check. */
    if (due <= now)
        due = now + 1;
    wait_until_locked(s, due + 1);
}

static void *sched_main(void *arg)
{
    aal_sched *s = arg;
    aal_thread_tight_timers();
    aal_thread_set_name("aalink-sched");

    aal_mutex_lock(&s->mu);
    while (!s->stop) {
        if (idle_locked(s) || s->editing > 0) {
            /* Idle, or a timeline edit is under way (its end signals). */
            s->dirty = false;
            aal_cond_wait(&s->cond, &s->mu);
            continue;
        }
        s->dirty = false;
        s->wakeups++;
        double quantum = s->quantum;
        aal_commit_pass commits;
        aal_commits_begin_locked(s, &commits);
        aal_mutex_unlock(&s->mu);

        /* Read the session, and run the commits due, without s->mu. */
        int64_t now;
        bool ok = read_session(s, &now);
        if (ok)
            aal_commits_run(s, &commits, s->session, now, quantum);

        aal_mutex_lock(&s->mu);
        aal_commits_end_locked(s, &commits, now);
        if (s->editing > 0)
            continue; /* the session read may predate the edit's re-targeting */
        if (!ok) {
            /* Link failed (out of memory?): try again shortly. */
            wait_until_locked(s, aal_os_link_clock_us() + 1000);
            continue;
        }
        int64_t items_due = hand_over_due_locked(s, now, quantum);
        if (s->stop || s->dirty || quantum != s->quantum)
            continue; /* something changed meanwhile: look again at once */
        sleep_until_due_locked(s, now, items_due);
    }
    aal_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- public API ---- */

/* A tuning knob from the environment, 0..2000 microseconds. */
static int64_t env_micros(const char *name, int64_t fallback)
{
    const char *text = getenv(name);
    if (!text || !*text)
        return fallback;
    long v = strtol(text, NULL, 10);
    return v < 0 ? 0 : v > 2000 ? 2000 : v;
}

int64_t aal_sched_handoff_us(const aal_sched *s)
{
    return s->handoff_us;
}

aal_sched *aal_sched_create(aal_link *link, double quantum)
{
    aal_once(&atfork_once, install_atfork);
    aal_sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->link = link;
    s->quantum = quantum;
    s->wake_fd = -1;
    s->last_tempo = NAN;
    s->last_playing = -1;
    s->spin_us = env_micros("AALINK_SPIN_US", AAL_SPIN_US);
    s->handoff_us = env_micros("AALINK_HANDOFF_US", AAL_HANDOFF_US);
    s->session = aal_session_create();
    if (!s->session)
        goto fail_session;
    if (aal_commits_init(s) != 0)
        goto fail_commit_mutex;
    if (aal_mutex_init(&s->mu) != 0)
        goto fail_mutex;
    if (aal_cond_init(&s->cond) != 0)
        goto fail_cond;
    registry_add(s);
    if (aal_thread_start(&s->thread, sched_main, s) != 0)
        goto fail_thread;
    s->thread_started = true;
    if (aal_link_set_num_peers_callback(link, on_peers, s) != 0 ||
        aal_link_set_tempo_callback(link, on_tempo, s) != 0 ||
        aal_link_set_start_stop_callback(link, on_start_stop, s) != 0) {
        aal_sched_destroy(s, NULL, NULL);
        return NULL;
    }
    return s;

fail_thread:
    registry_remove(s);
    aal_cond_destroy(&s->cond);
fail_cond:
    aal_mutex_destroy(&s->mu);
fail_mutex:
    aal_commits_destroy(s);
fail_commit_mutex:
    aal_session_destroy(s->session);
fail_session:
    free(s);
    return NULL;
}

int aal_sched_set_realtime(aal_sched *s, int priority)
{
    if (!s->thread_started || s->forked)
        return ESRCH;
    if (priority == s->rt_priority)
        return 0;
    if (s->rt_priority)
        aal_rt_restore(s->thread, &s->rt_saved);
    s->rt_priority = 0;
    if (priority == 0)
        return 0;
    int rc = aal_rt_raise(s->thread, priority, &s->rt_saved);
    if (rc == 0)
        s->rt_priority = priority;
    return rc;
}

bool aal_sched_forked(const aal_sched *s)
{
    return s->forked;
}

void aal_sched_stop(aal_sched *s)
{
    if (!s->thread_started)
        return;
    if (!s->forked) {
        /* No more callbacks into us: Link's lock makes this wait for a
         * callback under way. */
        aal_link_set_num_peers_callback(s->link, NULL, NULL);
        aal_link_set_tempo_callback(s->link, NULL, NULL);
        aal_link_set_start_stop_callback(s->link, NULL, NULL);
    }
    aal_mutex_lock(&s->mu);
    aal_flag_store(&s->stop, true);
    aal_cond_signal(&s->cond);
    aal_mutex_unlock(&s->mu);
    aal_thread_join(s->thread);
    s->thread_started = false;
}

static void drop_items(aal_item *items, size_t n, void (*drop)(void *, void *), void *ctx)
{
    for (size_t i = 0; drop && i < n; i++)
        drop(items[i].ptr, ctx);
}

void aal_sched_destroy(aal_sched *s, void (*drop)(void *ptr, void *ctx), void *ctx)
{
    if (!s)
        return;
    aal_sched_stop(s);
    registry_remove(s);
    for (int g = 0; g < s->n_groups; g++) {
        drop_items(s->groups[g].heap.items, s->groups[g].heap.len, drop, ctx);
        aal_heap_free(&s->groups[g].heap);
    }
    drop_items(s->ready.items, s->ready.len, drop, ctx);
    aal_heap_free(&s->ready);
    free(s->events);
    if (!s->forked) {
        /* In a forked child these may be in any state: leak them. */
        aal_cond_destroy(&s->cond);
        aal_mutex_destroy(&s->mu);
        aal_commits_destroy(s);
        aal_session_destroy(s->session);
    }
    free(s);
}

void aal_sched_set_wake_fd(aal_sched *s, int write_fd)
{
    aal_mutex_lock(&s->mu);
    s->wake_fd = write_fd;
    s->wake_signalled = false;
    if (s->ready.len || s->n_events)
        signal_loop_locked(s);
    aal_mutex_unlock(&s->mu);
}

void aal_sched_set_event_mask(aal_sched *s, unsigned mask)
{
    aal_mutex_lock(&s->mu);
    s->event_mask = mask;
    aal_mutex_unlock(&s->mu);
}

void aal_sched_set_quantum(aal_sched *s, double quantum)
{
    aal_mutex_lock(&s->mu);
    s->quantum = quantum;
    s->dirty = true;
    aal_cond_signal(&s->cond);
    aal_mutex_unlock(&s->mu);
}

int aal_sched_insert_locked(aal_sched *s, aal_item item)
{
    int g = 0;
    while (g < s->n_groups && s->groups[g].lead_us != item.lead_us)
        g++;
    if (g == s->n_groups) {
        if (g == AAL_MAX_LEAD_GROUPS)
            compact_groups_locked(s);
        g = s->n_groups;
        if (g == AAL_MAX_LEAD_GROUPS)
            return -2;
        s->groups[g].lead_us = item.lead_us;
        s->n_groups++;
    }
    aal_heap *heap = &s->groups[g].heap;
    int rc = aal_heap_push(heap, item);
    if (rc == 0) {
        s->n_pending++;
        if (heap->items[0].seq == item.seq) {
            s->dirty = true;
            aal_cond_signal(&s->cond);
        }
    }
    return rc;
}

int aal_sched_push(aal_sched *s, double target, double step, double base, int64_t lead_us,
                   void *ptr)
{
    aal_mutex_lock(&s->mu);
    aal_item item = {target, s->next_seq++, lead_us, ptr, step, base};
    int rc = aal_sched_insert_locked(s, item);
    aal_mutex_unlock(&s->mu);
    return rc;
}

/* Polls (50 us apart) until seen(s, value) holds under s->mu, or time-out. */
static bool wait_reported(aal_sched *s, bool (*seen)(const aal_sched *, double), double value,
                          int64_t timeout_us)
{
    int64_t deadline = aal_os_link_clock_us() + timeout_us;
    for (;;) {
        aal_mutex_lock(&s->mu);
        bool ok = seen(s, value);
        aal_mutex_unlock(&s->mu);
        if (ok)
            return true;
        if (aal_os_link_clock_us() >= deadline)
            return false;
        aal_sleep_us(50);
    }
}

static bool tempo_seen(const aal_sched *s, double bpm)
{
    return fabs(s->last_tempo - bpm) < 1e-6;
}

static bool playing_seen(const aal_sched *s, double playing)
{
    return s->last_playing == (playing != 0.0);
}

bool aal_sched_wait_tempo(aal_sched *s, double bpm, int64_t timeout_us)
{
    return wait_reported(s, tempo_seen, bpm, timeout_us);
}

bool aal_sched_wait_playing(aal_sched *s, bool playing, int64_t timeout_us)
{
    return wait_reported(s, playing_seen, playing ? 1.0 : 0.0, timeout_us);
}

void aal_sched_timeline_changed(aal_sched *s)
{
    aal_mutex_lock(&s->mu);
    s->dirty = true;
    aal_cond_signal(&s->cond);
    aal_mutex_unlock(&s->mu);
}

size_t aal_sched_pending(aal_sched *s)
{
    aal_mutex_lock(&s->mu);
    size_t n = s->n_pending;
    aal_mutex_unlock(&s->mu);
    return n;
}

void aal_sched_take(aal_sched *s, aal_batch *batch)
{
    aal_mutex_lock(&s->mu);
    batch->ready = s->ready.items;
    batch->n_ready = s->ready.len;
    batch->events = s->events;
    batch->n_events = s->n_events;
    batch->edit_gen = s->edit_gen;
    memset(&s->ready, 0, sizeof s->ready);
    s->events = NULL;
    s->n_events = s->cap_events = 0;
    s->wake_signalled = false;
    aal_mutex_unlock(&s->mu);
}

void aal_batch_release(aal_batch *batch)
{
    free(batch->ready);
    free(batch->events);
    memset(batch, 0, sizeof *batch);
}

/* Moves every pending item out of the groups (s->mu held). */
static aal_heap steal_pending_locked(aal_sched *s)
{
    aal_heap all = {NULL, 0, 0};
    for (int g = 0; g < s->n_groups; g++) {
        aal_heap *h = &s->groups[g].heap;
        if (all.len == 0 && all.items == NULL) {
            all = *h;
        }
        else {
            for (size_t i = 0; i < h->len; i++)
                if (aal_heap_append(&all, h->items[i]) != 0)
                    break; /* out of memory: the rest are lost */
            aal_heap_free(h);
        }
        memset(h, 0, sizeof *h);
    }
    s->n_groups = 0;
    s->n_pending = 0;
    return all;
}

/* Puts items back into their lead groups (s->mu held). */
static void restore_pending_locked(aal_sched *s, aal_heap *items)
{
    for (size_t i = 0; i < items->len; i++) {
        aal_item it = items->items[i];
        int g = 0;
        while (g < s->n_groups && s->groups[g].lead_us != it.lead_us)
            g++;
        if (g == s->n_groups) {
            if (g == AAL_MAX_LEAD_GROUPS)
                g = 0; /* cannot happen: at most as many groups as before */
            else {
                s->groups[g].lead_us = it.lead_us;
                s->n_groups++;
            }
        }
        if (aal_heap_append(&s->groups[g].heap, it) == 0)
            s->n_pending++;
    }
    for (int g = 0; g < s->n_groups; g++) {
        aal_heap_heapify(&s->groups[g].heap);
        aal_heap_shrink(&s->groups[g].heap);
    }
}

void aal_sched_take_all(aal_sched *s, aal_batch *batch)
{
    aal_sched_take(s, batch);
    aal_mutex_lock(&s->mu);
    aal_heap stolen = steal_pending_locked(s);
    aal_mutex_unlock(&s->mu);
    if (stolen.len) {
        aal_item *all = realloc(batch->ready, (batch->n_ready + stolen.len) * sizeof *all);
        if (all) {
            memcpy(all + batch->n_ready, stolen.items, stolen.len * sizeof *all);
            batch->ready = all;
            batch->n_ready += stolen.len;
        }
        else {
            /* Cannot grow: hand them back rather than lose them. */
            aal_mutex_lock(&s->mu);
            restore_pending_locked(s, &stolen);
            aal_mutex_unlock(&s->mu);
        }
    }
    aal_heap_free(&stolen);
}

void aal_sched_filter(aal_sched *s, bool (*keep)(void *ptr, void *ctx),
                      void (*drop)(void *ptr, void *ctx), void *ctx)
{
    aal_mutex_lock(&s->mu);
    aal_heap stolen = steal_pending_locked(s);
    aal_mutex_unlock(&s->mu);

    size_t kept = 0;
    for (size_t i = 0; i < stolen.len; i++) {
        if (keep(stolen.items[i].ptr, ctx))
            stolen.items[kept++] = stolen.items[i];
        else
            drop(stolen.items[i].ptr, ctx);
    }
    stolen.len = kept;

    aal_mutex_lock(&s->mu);
    /* Items pushed meanwhile are in the groups already: add the kept ones. */
    restore_pending_locked(s, &stolen);
    s->dirty = true;
    aal_cond_signal(&s->cond);
    aal_mutex_unlock(&s->mu);
    aal_heap_free(&stolen);
}

void aal_sched_counters(aal_sched *s, uint64_t *wakeups, uint64_t *batches)
{
    aal_mutex_lock(&s->mu);
    *wakeups = s->wakeups;
    *batches = s->batches;
    aal_mutex_unlock(&s->mu);
}
