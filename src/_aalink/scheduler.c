/* scheduler.c - the native beat scheduler thread (see scheduler.h). */
#include "scheduler.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "item_heap.h"
#include "platform.h"

/* Wake this long before a target and watch the clock for the rest: timed
 * waits on a virtual machine overshoot by tens of microseconds.  The
 * environment variable AALINK_SPIN_US (0..2000) overrides it, for
 * measuring. */
#define AAL_SPIN_US 150

/* Recorded Link events kept for the loop before the oldest are dropped. */
#define AAL_MAX_EVENTS 1024

struct aal_sched {
    aal_link *link;
    aal_session *session; /* the thread's own capture buffer */
    pthread_t thread;
    bool thread_started;
    bool forked;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cond;
    bool stop;
    bool dirty; /* re-check the timeline before sleeping */
    double quantum;
    uint64_t next_seq;
    aal_heap pending;
    aal_item *ready;
    size_t n_ready, cap_ready;
    aal_event *events;
    size_t n_events, cap_events;
    unsigned event_mask;
    int wake_fd;
    bool wake_signalled; /* a wake is outstanding: don't write again */
    uint64_t wakeups, batches;
    int64_t spin_us;

    aal_sched *next_live; /* registry of live schedulers, for fork */
};

/* ---- registry, so that fork() can lock and mark every scheduler ---- */

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static aal_sched *registry_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
    pthread_mutex_lock(&registry_mu);
    for (aal_sched *s = registry_head; s; s = s->next_live)
        pthread_mutex_lock(&s->mu);
}

static void atfork_parent(void)
{
    for (aal_sched *s = registry_head; s; s = s->next_live)
        pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&registry_mu);
}

static void atfork_child(void)
{
    for (aal_sched *s = registry_head; s; s = s->next_live) {
        s->forked = true;
        s->thread_started = false; /* there is no thread to join here */
        s->wake_fd = -1;           /* the loop of the parent is not ours */
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&registry_mu);
}

static void install_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void registry_add(aal_sched *s)
{
    pthread_mutex_lock(&registry_mu);
    s->next_live = registry_head;
    registry_head = s;
    pthread_mutex_unlock(&registry_mu);
}

static void registry_remove(aal_sched *s)
{
    pthread_mutex_lock(&registry_mu);
    for (aal_sched **p = &registry_head; *p; p = &(*p)->next_live) {
        if (*p == s) {
            *p = s->next_live;
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
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
    if (s->n_ready == s->cap_ready) {
        size_t cap = s->cap_ready ? s->cap_ready * 2 : 64;
        aal_item *grown = realloc(s->ready, cap * sizeof *grown);
        if (!grown)
            return -1;
        s->ready = grown;
        s->cap_ready = cap;
    }
    s->ready[s->n_ready++] = item;
    return 0;
}

static void event_append_locked(aal_sched *s, int kind, double value)
{
    if (s->n_events == AAL_MAX_EVENTS) {
        /* Nobody has drained for a long time: forget the oldest. */
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
    pthread_mutex_lock(&s->mu);
    s->dirty = true; /* the timeline may have moved */
    pthread_cond_signal(&s->cond);
    if (s->event_mask & (1u << kind)) {
        event_append_locked(s, kind, value);
        signal_loop_locked(s);
    }
    pthread_mutex_unlock(&s->mu);
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
    int64_t now = aal_link_clock_now_us();
    int64_t sleep_us = due_us - now - s->spin_us;
    if (sleep_us > 0) {
        struct timespec deadline = aal_deadline_after_us(sleep_us);
        int rc = pthread_cond_timedwait(&s->cond, &s->mu, &deadline);
        if (rc != ETIMEDOUT)
            return; /* signalled (or spurious): re-check */
        if (s->stop || s->dirty)
            return;
    }
    /* The last stretch: watch the clock without the lock, so that pushes
     * and Link's callbacks are never held up. */
    pthread_mutex_unlock(&s->mu);
    while (aal_link_clock_now_us() < due_us) {
        if (__atomic_load_n(&s->stop, __ATOMIC_RELAXED))
            break;
    }
    pthread_mutex_lock(&s->mu);
}

static void *sched_main(void *arg)
{
    aal_sched *s = arg;
    aal_thread_tight_timers();
    aal_thread_set_name("aalink-sched");

    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        if (s->pending.len == 0) {
            s->dirty = false;
            pthread_cond_wait(&s->cond, &s->mu);
            continue;
        }
        s->dirty = false;
        s->wakeups++;
        double quantum = s->quantum;
        pthread_mutex_unlock(&s->mu);

        /* Read the timeline without our lock: Link may block briefly. */
        int64_t now = aal_link_clock_micros(s->link);
        int ok = aal_link_capture_app_session(s->link, s->session) == 0 && now >= 0;
        double beat = ok ? aal_session_beat_at_time(s->session, now, quantum) : NAN;

        pthread_mutex_lock(&s->mu);
        if (!ok || isnan(beat)) {
            /* Link failed (out of memory?): try again shortly. */
            wait_until_locked(s, aal_link_clock_now_us() + 1000);
            continue;
        }
        bool moved = false;
        while (s->pending.len > 0 && s->pending.items[0].target <= beat) {
            if (ready_append_locked(s, s->pending.items[0]) != 0)
                break; /* out of memory: leave it pending, retry next pass */
            aal_heap_pop(&s->pending);
            moved = true;
        }
        if (moved)
            signal_loop_locked(s);
        if (s->stop || s->dirty || s->pending.len == 0 || quantum != s->quantum)
            continue;

        /* Sleep until the earliest target's time on Link's clock.  Link
         * rounds times to microseconds: aim one past, then re-check. */
        int64_t due = aal_session_time_at_beat(s->session, s->pending.items[0].target, quantum);
        if (due == INT64_MIN)
            due = now + 1000;
        if (due <= now)
            due = now + 1;
        wait_until_locked(s, due + 1);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- public API ---- */

aal_sched *aal_sched_create(aal_link *link, double quantum)
{
    pthread_once(&atfork_once, install_atfork);
    aal_sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->link = link;
    s->quantum = quantum;
    s->wake_fd = -1;
    s->spin_us = AAL_SPIN_US;
    const char *spin = getenv("AALINK_SPIN_US");
    if (spin && *spin) {
        long v = strtol(spin, NULL, 10);
        s->spin_us = v < 0 ? 0 : v > 2000 ? 2000 : v;
    }
    s->session = aal_session_create();
    if (!s->session)
        goto fail_session;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto fail_mutex;
    if (aal_cond_init_monotonic(&s->cond) != 0)
        goto fail_cond;
    registry_add(s);
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0)
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
    pthread_cond_destroy(&s->cond);
fail_cond:
    pthread_mutex_destroy(&s->mu);
fail_mutex:
    aal_session_destroy(s->session);
fail_session:
    free(s);
    return NULL;
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
    pthread_mutex_lock(&s->mu);
    __atomic_store_n(&s->stop, true, __ATOMIC_RELAXED);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
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
    drop_items(s->pending.items, s->pending.len, drop, ctx);
    drop_items(s->ready, s->n_ready, drop, ctx);
    aal_heap_free(&s->pending);
    free(s->ready);
    free(s->events);
    if (!s->forked) {
        /* In a forked child these may be in any state: leak them. */
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->mu);
        aal_session_destroy(s->session);
    }
    free(s);
}

void aal_sched_set_wake_fd(aal_sched *s, int write_fd)
{
    pthread_mutex_lock(&s->mu);
    s->wake_fd = write_fd;
    s->wake_signalled = false;
    if (s->n_ready || s->n_events)
        signal_loop_locked(s);
    pthread_mutex_unlock(&s->mu);
}

void aal_sched_set_event_mask(aal_sched *s, unsigned mask)
{
    pthread_mutex_lock(&s->mu);
    s->event_mask = mask;
    pthread_mutex_unlock(&s->mu);
}

void aal_sched_set_quantum(aal_sched *s, double quantum)
{
    pthread_mutex_lock(&s->mu);
    s->quantum = quantum;
    s->dirty = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

int aal_sched_push(aal_sched *s, double target, void *ptr)
{
    pthread_mutex_lock(&s->mu);
    aal_item item = {target, s->next_seq++, ptr};
    int rc = aal_heap_push(&s->pending, item);
    if (rc == 0 && s->pending.items[0].seq == item.seq) {
        s->dirty = true;
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void aal_sched_timeline_changed(aal_sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->dirty = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

size_t aal_sched_pending(aal_sched *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->pending.len;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void aal_sched_take(aal_sched *s, aal_batch *batch)
{
    pthread_mutex_lock(&s->mu);
    batch->ready = s->ready;
    batch->n_ready = s->n_ready;
    batch->events = s->events;
    batch->n_events = s->n_events;
    s->ready = NULL;
    s->n_ready = s->cap_ready = 0;
    s->events = NULL;
    s->n_events = s->cap_events = 0;
    s->wake_signalled = false;
    pthread_mutex_unlock(&s->mu);
}

void aal_batch_release(aal_batch *batch)
{
    free(batch->ready);
    free(batch->events);
    memset(batch, 0, sizeof *batch);
}

void aal_sched_take_all(aal_sched *s, aal_batch *batch)
{
    aal_sched_take(s, batch);
    pthread_mutex_lock(&s->mu);
    aal_heap stolen = s->pending;
    memset(&s->pending, 0, sizeof s->pending);
    pthread_mutex_unlock(&s->mu);
    if (stolen.len) {
        aal_item *all = realloc(batch->ready, (batch->n_ready + stolen.len) * sizeof *all);
        if (all) {
            memcpy(all + batch->n_ready, stolen.items, stolen.len * sizeof *all);
            batch->ready = all;
            batch->n_ready += stolen.len;
        }
        else {
            /* Cannot grow: hand them back rather than lose them. */
            pthread_mutex_lock(&s->mu);
            for (size_t i = 0; i < stolen.len; i++)
                aal_heap_push(&s->pending, stolen.items[i]);
            pthread_mutex_unlock(&s->mu);
        }
    }
    aal_heap_free(&stolen);
}

void aal_sched_filter(aal_sched *s, bool (*keep)(void *ptr, void *ctx),
                      void (*drop)(void *ptr, void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->mu);
    aal_heap stolen = s->pending;
    memset(&s->pending, 0, sizeof s->pending);
    pthread_mutex_unlock(&s->mu);

    size_t kept = 0;
    for (size_t i = 0; i < stolen.len; i++) {
        if (keep(stolen.items[i].ptr, ctx))
            stolen.items[kept++] = stolen.items[i];
        else
            drop(stolen.items[i].ptr, ctx);
    }
    stolen.len = kept;

    pthread_mutex_lock(&s->mu);
    /* Merge whatever was pushed meanwhile into the kept ones. */
    for (size_t i = 0; i < s->pending.len; i++)
        aal_heap_append(&stolen, s->pending.items[i]);
    aal_heap_free(&s->pending);
    aal_heap_heapify(&stolen);
    aal_heap_shrink(&stolen);
    s->pending = stolen;
    s->dirty = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

void aal_sched_counters(aal_sched *s, uint64_t *wakeups, uint64_t *batches)
{
    pthread_mutex_lock(&s->mu);
    *wakeups = s->wakeups;
    *batches = s->batches;
    pthread_mutex_unlock(&s->mu);
}
