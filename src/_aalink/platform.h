/* platform.h - the small OS layer the scheduler waits with.
 *
 * Link's clock (Linux: CLOCK_MONOTONIC_RAW, microseconds) cannot be slept on
 * directly; waits are computed as a delta on Link's clock and slept on
 * CLOCK_MONOTONIC, then the caller re-checks against Link.  Wake descriptors
 * let a native thread wake an asyncio loop through loop.add_reader. */
#ifndef AAL_PLATFORM_H
#define AAL_PLATFORM_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* A condition variable whose timed waits use the monotonic clock. */
int aal_cond_init_monotonic(pthread_cond_t *cond);

/* Absolute monotonic deadline `delta_us` microseconds from now. */
struct timespec aal_deadline_after_us(int64_t delta_us);

/* Link's clock now, in microseconds, read without Link (same clock). */
int64_t aal_link_clock_now_us(void);

/* The clock of time.monotonic() (and asyncio's default loop.time()), in
 * microseconds. */
int64_t aal_monotonic_now_us(void);

/* Ask the OS for the finest timer slack for the calling thread. */
void aal_thread_tight_timers(void);

/* Give the calling thread a name visible in ps/top/gdb (best effort). */
void aal_thread_set_name(const char *name);

/* Wake descriptor: readable after aal_wakefd_signal until drained.
 * Linux: one eventfd (read_fd == write_fd); elsewhere a non-blocking pipe. */
int aal_wakefd_open(int *read_fd, int *write_fd);
void aal_wakefd_signal(int write_fd);
void aal_wakefd_drain(int read_fd);
void aal_wakefd_close(int read_fd, int write_fd);

#endif
