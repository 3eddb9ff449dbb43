/* platform_posix.c - threads, timed waits, clocks and wake descriptors for
 * POSIX systems (Linux; macOS written for, not built here). */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/eventfd.h>
#include <sys/prctl.h>
#endif
#ifdef __APPLE__
#include <mach/mach.h>
#include <mach/mach_time.h>
#include <mach/thread_policy.h>
#endif

/* ---- locks, waits, threads ---- */

int aal_mutex_init(aal_mutex *m)
{
    return pthread_mutex_init(m, NULL);
}

void aal_mutex_destroy(aal_mutex *m)
{
    pthread_mutex_destroy(m);
}

void aal_mutex_lock(aal_mutex *m)
{
    pthread_mutex_lock(m);
}

void aal_mutex_unlock(aal_mutex *m)
{
    pthread_mutex_unlock(m);
}

int aal_cond_init(aal_cond *c)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
#if !defined(__APPLE__)
    /* Timed waits on the monotonic clock, not the settable wall clock. */
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
    if (rc == 0)
        rc = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

void aal_cond_destroy(aal_cond *c)
{
    pthread_cond_destroy(c);
}

void aal_cond_signal(aal_cond *c)
{
    pthread_cond_signal(c);
}

void aal_cond_broadcast(aal_cond *c)
{
    pthread_cond_broadcast(c);
}

void aal_cond_wait(aal_cond *c, aal_mutex *m)
{
    pthread_cond_wait(c, m);
}

bool aal_cond_wait_us(aal_cond *c, aal_mutex *m, int64_t delta_us)
{
    if (delta_us < 0)
        delta_us = 0;
    /* Cap far-away waits (a day) so the arithmetic cannot overflow. */
    if (delta_us > INT64_C(86400000000))
        delta_us = INT64_C(86400000000);
#if defined(__APPLE__)
    /* macOS waits with a relative time-out, which is monotonic. */
    struct timespec rel = {(time_t)(delta_us / 1000000), (long)(delta_us % 1000000) * 1000};
    return pthread_cond_timedwait_relative_np(c, m, &rel) != ETIMEDOUT;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t nsec = (int64_t)ts.tv_nsec + (delta_us % 1000000) * 1000;
    ts.tv_sec += (time_t)(delta_us / 1000000 + nsec / 1000000000);
    ts.tv_nsec = (long)(nsec % 1000000000);
    return pthread_cond_timedwait(c, m, &ts) != ETIMEDOUT;
#endif
}

void aal_once(aal_once_flag *flag, void (*fn)(void))
{
    pthread_once(flag, fn);
}

void aal_sleep_us(int64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int aal_thread_start(aal_thread *t, void *(*main)(void *), void *arg)
{
    return pthread_create(t, NULL, main, arg);
}

void aal_thread_join(aal_thread t)
{
    pthread_join(t, NULL);
}

void aal_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    pthread_atfork(prepare, parent, child);
}

long aal_process_id(void)
{
    return (long)getpid();
}

/* ---- clocks ---- */

int64_t aal_os_link_clock_us(void)
{
    struct timespec ts;
#if defined(__linux__)
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
#elif defined(__APPLE__)
    clock_gettime(CLOCK_UPTIME_RAW, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t aal_monotonic_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void aal_thread_tight_timers(void)
{
#ifdef __linux__
    /* 1 ns: the kernel may not batch our wake-up with others. */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
}

void aal_thread_set_name(const char *name)
{
#if defined(__linux__)
    (void)pthread_setname_np(pthread_self(), name);
#elif defined(__APPLE__)
    (void)pthread_setname_np(name);
#else
    (void)name;
#endif
}

int aal_wakefd_open(int *read_fd, int *write_fd)
{
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    *read_fd = *write_fd = fd;
    return 0;
#else
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    *read_fd = fds[0];
    *write_fd = fds[1];
    return 0;
#endif
}

void aal_wakefd_signal(int write_fd)
{
#ifdef __linux__
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(write_fd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
#else
    char byte = 1;
    ssize_t n;
    do {
        n = write(write_fd, &byte, 1);
    } while (n < 0 && errno == EINTR);
#endif
    /* EAGAIN means it is already readable: the loop will wake anyway. */
}

void aal_wakefd_clear(int read_fd)
{
    char buf[64];
    ssize_t n;
    do {
        n = read(read_fd, buf, sizeof buf);
    } while (n > 0 || (n < 0 && errno == EINTR));
}

void aal_wakefd_close(int read_fd, int write_fd)
{
    if (read_fd >= 0)
        close(read_fd);
    if (write_fd >= 0 && write_fd != read_fd)
        close(write_fd);
}

int aal_wakefd_wait(int watch_fd, int stop_fd)
{
    for (;;) {
        struct pollfd fds[2] = {{watch_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        int n = poll(fds, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (fds[1].revents)
            return 0;
        if (fds[0].revents & POLLIN)
            return 1;
        if (fds[0].revents) /* POLLERR, POLLHUP, POLLNVAL: it will stay so */
            return -1;
    }
}

/* ---- real-time scheduling ---- */

#if defined(__APPLE__)
/* The Mach time-constraint policy (what Core Audio's threads use): up to
 * 0.5 ms of work in every 1 ms, preemptible.  Needs no privilege.  Not
 * compiled here (no macOS toolchain): kept to the documented calls. */
static int rt_apply(pthread_t t, int priority, aal_rt_saved *saved)
{
    (void)priority;
    mach_timebase_info_data_t tb;
    mach_timebase_info(&tb);
    double per_ms = 1.0e6 * (double)tb.denom / (double)tb.numer;
    thread_time_constraint_policy_data_t policy;
    policy.period = 0;
    policy.computation = (uint32_t)(0.5 * per_ms);
    policy.constraint = (uint32_t)(1.0 * per_ms);
    policy.preemptible = 1;
    kern_return_t kr = thread_policy_set(pthread_mach_thread_np(t), THREAD_TIME_CONSTRAINT_POLICY,
                                         (thread_policy_t)&policy,
                                         THREAD_TIME_CONSTRAINT_POLICY_COUNT);
    if (kr != KERN_SUCCESS)
        return EPERM;
    saved->changed = true;
    return 0;
}

static void rt_unapply(pthread_t t, const aal_rt_saved *saved)
{
    if (!saved->changed)
        return;
    thread_standard_policy_data_t standard = {0};
    (void)thread_policy_set(pthread_mach_thread_np(t), THREAD_STANDARD_POLICY,
                            (thread_policy_t)&standard, THREAD_STANDARD_POLICY_COUNT);
}
#else
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0
#endif

static int rt_apply(pthread_t t, int priority, aal_rt_saved *saved)
{
    saved->changed = false;
    int policy;
    struct sched_param param;
    int rc = pthread_getschedparam(t, &policy, &param);
    if (rc != 0)
        return rc;
    policy &= ~SCHED_RESET_ON_FORK;
    if ((policy == SCHED_FIFO || policy == SCHED_RR) && param.sched_priority >= priority)
        return 0; /* already at least this: leave it */
    saved->policy = policy;
    saved->priority = param.sched_priority;
    struct sched_param rt = {.sched_priority = priority};
    rc = pthread_setschedparam(t, SCHED_FIFO | SCHED_RESET_ON_FORK, &rt);
    if (rc != 0)
        return rc;
    saved->changed = true;
    return 0;
}

static void rt_unapply(pthread_t t, const aal_rt_saved *saved)
{
    if (!saved->changed)
        return;
    struct sched_param param = {.sched_priority = saved->priority};
    /* Without CAP_SYS_NICE the reset-on-fork flag cannot be cleared again:
     * keep it then (harmless: a fork starts at normal priority anyway). */
    if (pthread_setschedparam(t, saved->policy, &param) == EPERM)
        (void)pthread_setschedparam(t, saved->policy | SCHED_RESET_ON_FORK, &param);
}
#endif

int aal_rt_raise(aal_thread t, int priority, aal_rt_saved *saved)
{
    return rt_apply(t, priority, saved);
}

void aal_rt_restore(aal_thread t, const aal_rt_saved *saved)
{
    rt_unapply(t, saved);
}

/* The holds: one record per thread, found through a thread-specific key
 * whose destructor marks the record dead when its thread ends (a release
 * from another thread then leaves the thread alone: its pthread_t is not
 * valid any more).  rt_mu guards every record; the destructor takes it too,
 * so a thread cannot finish ending while another restores it. */
struct aal_rt_hold {
    pthread_t thread;
    int refs;
    bool alive;      /* its thread has not ended */
    bool raised;     /* refs > 0 and rt_apply succeeded */
    aal_rt_saved saved;
};

static pthread_mutex_t rt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t rt_key;
static pthread_once_t rt_once = PTHREAD_ONCE_INIT;
static bool rt_key_ok;

static void rt_thread_ended(void *p)
{
    aal_rt_hold *h = p;
    pthread_mutex_lock(&rt_mu);
    h->alive = false;
    bool unused = h->refs == 0;
    pthread_mutex_unlock(&rt_mu);
    if (unused)
        free(h);
}

static void rt_before_fork(void)
{
    pthread_mutex_lock(&rt_mu);
}

static void rt_after_fork_parent(void)
{
    pthread_mutex_unlock(&rt_mu);
}

static void rt_after_fork_child(void)
{
    pthread_mutex_unlock(&rt_mu);
    /* The kernel put this thread back (SCHED_RESET_ON_FORK): its record
     * starts over; the parent's holders never release in the child. */
    aal_rt_hold *h = rt_key_ok ? pthread_getspecific(rt_key) : NULL;
    if (h) {
        h->refs = 0;
        h->raised = false;
    }
}

static void rt_init(void)
{
    rt_key_ok = pthread_key_create(&rt_key, rt_thread_ended) == 0;
    pthread_atfork(rt_before_fork, rt_after_fork_parent, rt_after_fork_child);
}

int aal_rt_hold_current(int priority, aal_rt_hold **hold)
{
    pthread_once(&rt_once, rt_init);
    if (!rt_key_ok)
        return EAGAIN;
    aal_rt_hold *h = pthread_getspecific(rt_key);
    if (!h) {
        h = calloc(1, sizeof *h);
        if (!h)
            return ENOMEM;
        h->thread = pthread_self();
        h->alive = true;
        if (pthread_setspecific(rt_key, h) != 0) {
            free(h);
            return ENOMEM;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&rt_mu);
    if (h->refs == 0)
        rc = rt_apply(h->thread, priority, &h->saved);
    if (rc == 0) {
        h->refs++;
        h->raised = true;
        *hold = h;
    }
    pthread_mutex_unlock(&rt_mu);
    return rc;
}

bool aal_rt_is_current(const aal_rt_hold *hold)
{
    return hold && rt_key_ok && pthread_getspecific(rt_key) == hold;
}

void aal_rt_release(aal_rt_hold *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&rt_mu);
    bool unused = false;
    if (h->refs > 0 && --h->refs == 0) {
        if (h->alive && h->raised)
            rt_unapply(h->thread, &h->saved);
        h->raised = false;
        unused = !h->alive; /* its thread ended: nobody else knows it */
    }
    pthread_mutex_unlock(&rt_mu);
    if (unused)
        free(h);
}

const char *aal_rt_refusal_hint(void)
{
#if defined(__linux__)
    return "raise the limit with `ulimit -r 95` in the shell that starts Python (RLIMIT_RTPRIO), "
           "or for good with a line `@audio - rtprio 95` in /etc/security/limits.conf "
           "and your user in the audio group (log in again), or give the process "
           "CAP_SYS_NICE";
#else
    return "this system refused a real-time thread policy";
#endif
}
