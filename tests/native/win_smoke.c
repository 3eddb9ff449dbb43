/* win_smoke.c - a native smoke test of the Windows build, run under Wine.
 *
 * Cross-compiled with MinGW-w64 together with platform_win32.c, the
 * scheduler (scheduler.c, sched_commits.c, item_heap.c, beatmath.c) and the
 * Link shim (link_shim/aal_link.cpp over Ableton Link's Windows platform)
 * by tests/support/winsmoke.py; run by tests/test_windows_wine.py.  Written
 * from the contracts of platform.h, scheduler.h and aal_link.h only.
 *
 * Each check prints one line, "ok - NAME: what was measured" or "not ok -
 * NAME: what failed", and the exit status is the number of failed checks.
 *
 *   win_smoke.exe            threads, locks, timed waits, the clock, the wake
 *                            socket pair, the scheduler over a disabled Link
 *   win_smoke.exe --network  also enables two Links on loopback: refused
 *                            unless AALINK_PRIVATE_NETNS=1 (set by
 *                            scripts/in-private-netns, and passed through
 *                            by Wine), so it never reaches a real network. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winsock2.h>

#include <iphlpapi.h>

#include "aal_link.h"
#include "platform.h"
#include "scheduler.h"

static int failures;

static void report(bool ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(bool ok, const char *name, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    printf("%s - %s: %s\n", ok ? "ok" : "not ok", name, text);
    fflush(stdout);
    if (!ok)
        failures++;
}

static double ms_since(int64_t start_us)
{
    return (double)(aal_os_link_clock_us() - start_us) / 1000.0;
}

/* ---- the clock ---- */

static void check_clock(void)
{
    int64_t a = aal_os_link_clock_us(), m0 = aal_monotonic_now_us();
    int64_t prev = a, backwards = 0;
    for (int i = 0; i < 100000; i++) {
        int64_t t = aal_os_link_clock_us();
        if (t < prev)
            backwards++;
        prev = t;
    }
    aal_sleep_us(50000);
    double slept_ms = ms_since(a);
    double mono_ms = (double)(aal_monotonic_now_us() - m0) / 1000.0;
    report(backwards == 0 && slept_ms >= 49.0 && slept_ms < 500.0 && fabs(mono_ms - slept_ms) < 5.0,
           "clock",
           "100000 reads never went back (%lld did); aal_sleep_us(50 ms) took %.2f ms on "
           "Link's clock, %.2f ms on the monotonic clock",
           (long long)backwards, slept_ms, mono_ms);
}

/* ---- threads and locks ---- */

#define N_THREADS 8
#define N_INCREMENTS 20000

static aal_mutex count_mu = AAL_MUTEX_INIT;
static long count;
static long once_runs;
static aal_once_flag once_flag = AAL_ONCE_INIT;

static void once_body(void)
{
    aal_sleep_us(2000); /* others must wait for it to finish */
    once_runs++;
}

static void *counter_main(void *arg)
{
    (void)arg;
    aal_thread_set_name("smoke-counter");
    aal_thread_tight_timers();
    aal_once(&once_flag, once_body);
    long runs_seen = once_runs;
    for (int i = 0; i < N_INCREMENTS; i++) {
        aal_mutex_lock(&count_mu);
        count++;
        aal_mutex_unlock(&count_mu);
    }
    return runs_seen == 1 ? arg : (void *)1;
}

static void check_threads(void)
{
    aal_thread threads[N_THREADS];
    int started = 0, err = 0;
    for (; started < N_THREADS; started++) {
        err = aal_thread_start(&threads[started], counter_main, NULL);
        if (err)
            break;
    }
    for (int i = 0; i < started; i++)
        aal_thread_join(threads[i]);
    report(err == 0 && count == (long)N_THREADS * N_INCREMENTS && once_runs == 1, "threads",
           "%d threads started (error %d), %ld of %ld increments under one mutex, "
           "aal_once ran %ld time(s)",
           started, err, count, (long)N_THREADS * N_INCREMENTS, once_runs);
}

/* ---- condition variables and timed waits ---- */

typedef struct {
    aal_mutex mu;
    aal_cond cond;
    bool flag;
    int64_t signalled_at;
} handshake;

static void *signaller_main(void *arg)
{
    handshake *h = arg;
    aal_sleep_us(30000);
    aal_mutex_lock(&h->mu);
    h->flag = true;
    h->signalled_at = aal_os_link_clock_us();
    aal_cond_signal(&h->cond);
    aal_mutex_unlock(&h->mu);
    return NULL;
}

static void check_timed_waits(void)
{
    handshake h;
    memset(&h, 0, sizeof h);
    int init = aal_mutex_init(&h.mu) | aal_cond_init(&h.cond);

    /* Nobody signals: a wait of 50 ms times out (Windows waits whole
     * milliseconds, rounded down: never longer than asked, by design). */
    aal_mutex_lock(&h.mu);
    int64_t t0 = aal_os_link_clock_us();
    bool woken = aal_cond_wait_us(&h.cond, &h.mu, 50000);
    while (woken && ms_since(t0) < 50.0) /* a spurious wake-up: wait the rest */
        woken = aal_cond_wait_us(&h.cond, &h.mu, 50000 - (aal_os_link_clock_us() - t0));
    double timeout_ms = ms_since(t0);
    bool sub_ms = aal_cond_wait_us(&h.cond, &h.mu, 500); /* under 1 ms: no wait */
    aal_mutex_unlock(&h.mu);
    report(!woken && !sub_ms && timeout_ms >= 45.0 && timeout_ms < 250.0, "timed wait",
           "aal_cond_wait_us(50 ms) timed out after %.2f ms; a 0.5 ms wait returns at once",
           timeout_ms);

    /* Another thread signals after 30 ms: the waiter wakes long before its
     * 2 s time-out. */
    aal_thread t;
    int err = aal_thread_start(&t, signaller_main, &h);
    aal_mutex_lock(&h.mu);
    t0 = aal_os_link_clock_us();
    while (!h.flag && ms_since(t0) < 2000.0)
        aal_cond_wait_us(&h.cond, &h.mu, 2000000);
    int64_t woke_at = aal_os_link_clock_us();
    bool flag = h.flag;
    aal_mutex_unlock(&h.mu);
    if (!err)
        aal_thread_join(t);
    double wake_ms = flag ? (double)(woke_at - h.signalled_at) / 1000.0 : -1.0;
    report(init == 0 && err == 0 && flag && wake_ms < 20.0, "signalled wait",
           "woken by another thread's signal %.3f ms after it", wake_ms);
    aal_cond_destroy(&h.cond);
    aal_mutex_destroy(&h.mu);
}

/* ---- the wake socket pair ---- */

typedef struct {
    int write_fd;
    int64_t delay_us;
} delayed_signal;

static void *delayed_signal_main(void *arg)
{
    delayed_signal *d = arg;
    aal_sleep_us(d->delay_us);
    aal_wakefd_signal(d->write_fd);
    return NULL;
}

#define N_SIGNALS 1000

static void check_wake_pair(void)
{
    int r = -1, w = -1, stop_r = -1, stop_w = -1;
    int opened = aal_wakefd_open(&r, &w);
    int opened_stop = aal_wakefd_open(&stop_r, &stop_w);
    if (opened != 0 || opened_stop != 0) {
        report(false, "wake pair", "aal_wakefd_open failed (%d, %d)", opened, opened_stop);
        return;
    }
    /* Signalled from another thread: the waiter sees watch_fd. */
    delayed_signal d = {w, 20000};
    aal_thread t;
    int64_t t0 = aal_os_link_clock_us();
    int err = aal_thread_start(&t, delayed_signal_main, &d);
    int which = aal_wakefd_wait(r, stop_r);
    double waited_ms = ms_since(t0);
    if (!err)
        aal_thread_join(t);
    aal_wakefd_clear(r);

    /* Cleared, the pair is not readable: with only the stop descriptor
     * signalled, the wait says so. */
    aal_wakefd_signal(stop_w);
    int stopped = aal_wakefd_wait(r, stop_r);
    aal_wakefd_clear(stop_r);

    /* A full pair: filled with large sends until Winsock refuses, then
     * signals still return at once, the pair is readable, and clearing
     * empties it. */
    static char chunk[65536];
    long long filled = 0;
    int full = 0;
    for (int i = 0; i < 4096 && !full; i++) {
        int sent = send((SOCKET)w, chunk, (int)sizeof chunk, 0);
        if (sent > 0)
            filled += sent;
        else
            full = WSAGetLastError() == WSAEWOULDBLOCK;
    }
    t0 = aal_os_link_clock_us();
    for (int i = 0; i < N_SIGNALS; i++)
        aal_wakefd_signal(w);
    double burst_ms = ms_since(t0);
    int after_burst = aal_wakefd_wait(r, stop_r);
    /* Read most of it back in large pieces: aal_wakefd_clear reads 64 bytes
     * at a time (a pair holds a byte or two in use), which for megabytes
     * takes seconds under Wine. */
    long long left = filled;
    while (left > 4096) {
        int got = recv((SOCKET)r, chunk, left - 4096 > (long long)sizeof chunk ? (int)sizeof chunk
                                                                               : (int)(left - 4096),
                       0);
        if (got <= 0)
            break;
        left -= got;
    }
    t0 = aal_os_link_clock_us();
    aal_wakefd_clear(r);
    double clear_ms = ms_since(t0);
    aal_wakefd_signal(stop_w);
    int cleared = aal_wakefd_wait(r, stop_r) == 0;

    aal_wakefd_close(r, w);
    aal_wakefd_close(stop_r, stop_w);
    report(err == 0 && which == 1 && waited_ms >= 15.0 && stopped == 0 && full &&
               after_burst == 1 && cleared,
           "wake pair",
           "a signal from another thread 20 ms later woke aal_wakefd_wait after %.2f ms; "
           "cleared, only the stop descriptor wakes it (%d); full after %lld bytes (%s), %d "
           "more signals took %.1f ms, it was readable (%d), and clearing the last 4 KB and "
           "the signals took %.1f ms and emptied it (%s)",
           waited_ms, stopped, filled, full ? "yes" : "no", N_SIGNALS, burst_ms, after_burst,
           clear_ms, cleared ? "yes" : "no");
}

/* ---- the scheduler over a real Link (disabled: no network) ---- */

#define N_ITEMS 16
#define STEP 0.125 /* beats: 31 ms at 240 bpm */

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double target;
    int position; /* in push order */
    int id;
} pushed_item;

static int compare_pushed(const void *a, const void *b)
{
    const pushed_item *x = a, *y = b;
    if (x->target != y->target)
        return (x->target > y->target) - (x->target < y->target);
    return x->position - y->position;
}

/* One round: N_ITEMS pushed out of order, taken as they come, through the
 * wake pair (as a selector loop's add_reader does) or, with poll, by
 * calling aal_sched_take in a loop (the scheduler's own punctuality, without
 * the wake-up's).  Each is held until its beat, as the loop thread does. */
static void scheduler_round(aal_link *link, aal_sched *s, aal_session *session, int r, int w,
                            int stop_r, bool poll)
{
    aal_sched_set_wake_fd(s, poll ? -1 : w);
    aal_snapshot snap;
    aal_link_snapshot(link, session, 1.0, &snap);
    double base = floor(snap.beat) + 1.0;
    /* Item i is due at base + i * STEP, but the last two share a beat
     * (first pushed, first out). */
    pushed_item pushes[N_ITEMS];
    int pushed = 0;
    for (int k = 0; k < N_ITEMS; k++) {
        int i = (k * 7) % N_ITEMS; /* 7 is prime to N_ITEMS: a permutation */
        pushes[k].target = base + (i == N_ITEMS - 1 ? N_ITEMS - 2 : i) * STEP;
        pushes[k].position = k;
        pushes[k].id = i + 1;
        /* On the grid base + k * STEP (a timeline edit would re-target on it). */
        if (aal_sched_push(s, pushes[k].target, STEP, base, 0,
                           (void *)(intptr_t)pushes[k].id) == 0)
            pushed++;
    }
    size_t pending = aal_sched_pending(s);

    int got[N_ITEMS];
    double late_ms[N_ITEMS];
    int n_got = 0, batches = 0;
    int64_t deadline = aal_os_link_clock_us() + 20000000;
    while (n_got < N_ITEMS && aal_os_link_clock_us() < deadline) {
        if (!poll) {
            if (aal_wakefd_wait(r, stop_r) != 1)
                break;
            aal_wakefd_clear(r);
        }
        aal_batch batch;
        aal_sched_take(s, &batch);
        if (batch.n_ready)
            batches++;
        else if (poll)
            aal_sleep_us(0); /* yield */
        for (size_t j = 0; j < batch.n_ready && n_got < N_ITEMS; j++) {
            aal_item item = batch.ready[j];
            int64_t handed = aal_link_clock_micros(link);
            aal_link_capture_app_session(link, session);
            int64_t due = aal_session_time_at_beat(session, item.target, 1.0) - item.lead_us;
            while (aal_link_clock_micros(link) < due)
                ; /* hold it until its beat */
            got[n_got] = (int)(intptr_t)item.ptr;
            late_ms[n_got] = (double)(handed - due) / 1000.0;
            n_got++;
        }
        aal_batch_release(&batch);
    }

    pushed_item expected[N_ITEMS];
    memcpy(expected, pushes, sizeof pushes);
    qsort(expected, N_ITEMS, sizeof *expected, compare_pushed);
    bool in_order = n_got == N_ITEMS;
    for (int k = 0; in_order && k < N_ITEMS; k++)
        in_order = got[k] == expected[k].id;
    double lates[N_ITEMS];
    memcpy(lates, late_ms, sizeof late_ms);
    qsort(lates, (size_t)n_got, sizeof *lates, compare_double);
    double handoff_ms = (double)aal_sched_handoff_us(s) / 1000.0;
    double earliest = n_got ? lates[0] : NAN, latest = n_got ? lates[n_got - 1] : NAN;
    /* Never handed over before the hand-off margin (0.1 ms of slack for the
     * clock reads).  Late: the scheduler alone within 20 ms (a few ms at
     * most when the machine is not loaded); through the wake pair within
     * 100 ms, since under Wine a socket's readiness goes through the
     * wineserver process (tens of ms on a loaded machine; Windows' kernel
     * does it in microseconds). */
    double late_bound = poll ? 20.0 : 100.0;
    bool on_time = n_got == N_ITEMS && earliest >= -(handoff_ms + 0.1) && latest <= late_bound;
    report(pushed == N_ITEMS && pending == N_ITEMS && in_order && on_time,
           poll ? "scheduler, polled" : "scheduler, wake pair",
           "%d items at %g-beat steps pushed out of order (%d pending), %d handed over in %d "
           "batches, %s; hand-over minus due time: min %.3f ms (margin %.3f ms), median %.3f ms, "
           "max %.3f ms (bound %.0f ms)",
           pushed, STEP, (int)pending, n_got, batches,
           in_order ? "in beat order" : "OUT OF ORDER", earliest, handoff_ms,
           n_got ? lates[n_got / 2] : NAN, latest, late_bound);
}

static void check_scheduler(void)
{
    aal_link *link = aal_link_create(240.0);
    aal_sched *s = link ? aal_sched_create(link, 1.0) : NULL;
    aal_session *session = aal_session_create();
    int r = -1, w = -1, stop_r = -1, stop_w = -1;
    if (!link || !s || !session || aal_wakefd_open(&r, &w) != 0 ||
        aal_wakefd_open(&stop_r, &stop_w) != 0) {
        report(false, "scheduler", "could not create a Link (%p), a scheduler (%p) or the pairs",
               (void *)link, (void *)s);
        goto out;
    }
    aal_sched_set_event_mask(s, 1u << AAL_EVENT_TEMPO);
    scheduler_round(link, s, session, r, w, stop_r, true);
    scheduler_round(link, s, session, r, w, stop_r, false);
    double handoff_ms = (double)aal_sched_handoff_us(s) / 1000.0;
    int64_t deadline;

    /* A tempo change moves a pending item: pushed 2 beats ahead at 240 bpm,
     * then 120 bpm committed, it is handed over at its beat's new time,
     * twice as far; Link's tempo callback reaches the consumer as an event. */
    aal_sched_set_wake_fd(s, w);
    aal_link_capture_app_session(link, session);
    int64_t now = aal_link_clock_micros(link);
    double target = floor(aal_session_beat_at_time(session, now, 1.0)) + 2.0;
    int64_t old_time = aal_session_time_at_beat(session, target, 1.0);
    aal_sched_push(s, target, target, 0.0, 0, (void *)(intptr_t)99);
    aal_session_set_tempo(session, 120.0, now);
    aal_link_commit_app_session(link, session);
    aal_sched_timeline_changed(s);
    bool tempo_seen = aal_sched_wait_tempo(s, 120.0, 2000000);
    aal_link_capture_app_session(link, session);
    int64_t expected = aal_session_time_at_beat(session, target, 1.0);
    bool event = false, item = false;
    double late = NAN;
    deadline = aal_os_link_clock_us() + 5000000;
    while (!item && aal_os_link_clock_us() < deadline) {
        if (aal_wakefd_wait(r, stop_r) != 1)
            break;
        aal_wakefd_clear(r);
        aal_batch batch;
        aal_sched_take(s, &batch);
        for (size_t j = 0; j < batch.n_events; j++)
            if (batch.events[j].kind == AAL_EVENT_TEMPO && batch.events[j].value == 120.0)
                event = true;
        if (batch.n_ready) {
            item = batch.ready[0].ptr == (void *)(intptr_t)99;
            late = (double)(aal_link_clock_micros(link) - expected) / 1000.0;
        }
        aal_batch_release(&batch);
    }
    report(tempo_seen && event && item && late <= 100.0 && late >= -(handoff_ms + 0.1),
           "scheduler, tempo change",
           "Link's tempo callback reported 120 bpm (%s), the event reached the consumer (%s); a "
           "pending item's time moved by %.0f ms, and it was handed over %.3f ms from its new "
           "time",
           tempo_seen ? "yes" : "no", event ? "yes" : "no",
           (double)(expected - old_time) / 1000.0, late);

out:
    if (s)
        aal_sched_destroy(s, NULL, NULL);
    if (session)
        aal_session_destroy(session);
    aal_link_destroy(link);
    if (r >= 0)
        aal_wakefd_close(r, w);
    if (stop_r >= 0)
        aal_wakefd_close(stop_r, stop_w);
}

/* ---- two Links enabled on loopback (private network namespace only) ---- */

static void check_network(void)
{
    const char *private_netns = getenv("AALINK_PRIVATE_NETNS");
    if (!private_netns || strcmp(private_netns, "1") != 0) {
        report(false, "network",
               "refused: AALINK_PRIVATE_NETNS=1 is not set (run under scripts/in-private-netns)");
        return;
    }
    /* Under Wine, sockets are made by the wineserver process: it must run in
     * the private namespace too.  What Link will scan (the same call as its
     * ScanIpIfAddrs) must show loopback only. */
    ULONG size = 64 * 1024;
    IP_ADAPTER_ADDRESSES *adapters = malloc(size);
    int others = 0, loopbacks = 0;
    ULONG status = adapters ? GetAdaptersAddresses(AF_INET, GAA_FLAG_SKIP_ANYCAST |
                                                              GAA_FLAG_SKIP_MULTICAST |
                                                              GAA_FLAG_SKIP_DNS_SERVER,
                                                   NULL, adapters, &size)
                            : ERROR_NOT_ENOUGH_MEMORY;
    for (IP_ADAPTER_ADDRESSES *ad = status == NO_ERROR ? adapters : NULL; ad; ad = ad->Next) {
        for (IP_ADAPTER_UNICAST_ADDRESS *u = ad->FirstUnicastAddress; u; u = u->Next) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)u->Address.lpSockaddr;
            if ((ntohl(in->sin_addr.s_addr) >> 24) == 127)
                loopbacks++;
            else
                others++;
        }
    }
    free(adapters);
    if (status != NO_ERROR || others != 0) {
        report(false, "network",
               "refused: GetAdaptersAddresses gave %lu and %d non-loopback IPv4 address(es)",
               (unsigned long)status, others);
        return;
    }
    aal_link *a = aal_link_create(120.0), *b = aal_link_create(130.0);
    aal_sched *s = a ? aal_sched_create(a, 1.0) : NULL;
    aal_session *session = aal_session_create();
    int r = -1, w = -1;
    if (!a || !b || !s || !session || aal_wakefd_open(&r, &w) != 0) {
        report(false, "network", "could not create two Links and a scheduler");
        goto out;
    }
    aal_sched_set_wake_fd(s, w);
    aal_sched_set_event_mask(s, (1u << AAL_EVENT_PEERS) | (1u << AAL_EVENT_TEMPO));

    int64_t t0 = aal_os_link_clock_us();
    int enabled = aal_sched_enable(s, true, 0) | aal_link_enable(b, true);
    int64_t peers_a = 0, peers_b = 0;
    while (ms_since(t0) < 10000.0 && (peers_a != 1 || peers_b != 1)) {
        aal_sleep_us(10000);
        peers_a = aal_link_num_peers(a);
        peers_b = aal_link_num_peers(b);
    }
    double found_ms = ms_since(t0);
    bool peers_event = false;
    aal_batch batch;
    aal_sched_take(s, &batch);
    for (size_t j = 0; j < batch.n_events; j++)
        if (batch.events[j].kind == AAL_EVENT_PEERS && batch.events[j].value == 1.0)
            peers_event = true;
    aal_batch_release(&batch);
    report(enabled == 0 && peers_a == 1 && peers_b == 1 && peers_event, "network discovery",
           "Windows sees %d loopback address(es) and no other; two Links enabled on it see "
           "%lld and %lld peer(s) after %.0f ms; the scheduler recorded the peers event: %s",
           loopbacks, (long long)peers_a, (long long)peers_b, found_ms, peers_event ? "yes" : "no");
    if (peers_a != 1)
        goto out;

    /* A tempo committed on b reaches a, as an event of a's scheduler. */
    aal_link_capture_app_session(b, session);
    aal_session_set_tempo(session, 150.0, aal_link_clock_micros(b));
    aal_link_commit_app_session(b, session);
    t0 = aal_os_link_clock_us();
    bool arrived = aal_sched_wait_tempo(s, 150.0, 5000000);
    double tempo_ms = ms_since(t0);
    /* Both timelines agree on the beat (same session). */
    aal_snapshot sa;
    aal_session *other = aal_session_create();
    aal_link_snapshot(a, session, 4.0, &sa);
    double beat_b = NAN;
    if (other && aal_link_capture_app_session(b, other) == 0)
        beat_b = aal_session_beat_at_time(other, sa.time_us, 4.0);
    double beat_diff_ms = fabs(sa.beat - beat_b) * 60000.0 / 150.0;
    if (other)
        aal_session_destroy(other);
    report(arrived && beat_diff_ms < 3.0, "network tempo",
           "150 bpm committed on one Link reached the other in %.0f ms (%s); their beats at one "
           "time differ by %.3f ms",
           tempo_ms, arrived ? "yes" : "no", beat_diff_ms);
    aal_sched_enable(s, false, 0);
    aal_link_enable(b, false);

out:
    if (s)
        aal_sched_destroy(s, NULL, NULL);
    if (session)
        aal_session_destroy(session);
    aal_link_destroy(a);
    aal_link_destroy(b);
    if (r >= 0)
        aal_wakefd_close(r, w);
}

int main(int argc, char **argv)
{
    bool network = argc > 1 && strcmp(argv[1], "--network") == 0;
    int64_t t0 = aal_os_link_clock_us();
    check_clock();
    check_threads();
    check_timed_waits();
    check_wake_pair();
    check_scheduler();
    if (network)
        check_network();
    printf("# %d failed, %.0f ms\n", failures, ms_since(t0));
    return failures;
}
