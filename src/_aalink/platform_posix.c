/* platform_posix.c - threads, timed waits, clocks and wake descriptors for
 * POSIX systems (Linux; macOS written for, not built here). */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/eventfd.h>
#include <sys/prctl.h>
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
