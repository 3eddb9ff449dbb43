/* platform_posix.c - clocks, timed waits and wake descriptors for POSIX. */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/eventfd.h>
#include <sys/prctl.h>
#endif

int aal_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
#if !defined(__APPLE__)
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

struct timespec aal_deadline_after_us(int64_t delta_us)
{
    struct timespec ts;
#if defined(__APPLE__)
    /* macOS condition variables time out on the wall clock. */
    clock_gettime(CLOCK_REALTIME, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    if (delta_us < 0)
        delta_us = 0;
    /* Cap far-away waits (a day) so the arithmetic cannot overflow. */
    if (delta_us > INT64_C(86400000000))
        delta_us = INT64_C(86400000000);
    int64_t nsec = (int64_t)ts.tv_nsec + (delta_us % 1000000) * 1000;
    ts.tv_sec += (time_t)(delta_us / 1000000 + nsec / 1000000000);
    ts.tv_nsec = (long)(nsec % 1000000000);
    return ts;
}

int64_t aal_link_clock_now_us(void)
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

void aal_wakefd_drain(int read_fd)
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
