/* platform.h - the small OS layer the native threads run on.
 *
 * Threads, locks and timed waits, clocks, and wake descriptors: POSIX
 * threads in platform_posix.c (Linux, macOS), Win32 in platform_win32.c.
 * Nothing else in the extension names an OS primitive.
 *
 * Link's clock (Linux: CLOCK_MONOTONIC_RAW, microseconds) cannot be slept on
 * directly: waits are computed as a delta on Link's clock and slept on a
 * monotonic clock, then the caller re-checks against Link.  Wake descriptors
 * let a native thread wake an asyncio loop through loop.add_reader. */
#ifndef AAL_PLATFORM_H
#define AAL_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
typedef SRWLOCK aal_mutex;
typedef CONDITION_VARIABLE aal_cond;
typedef HANDLE aal_thread;
typedef INIT_ONCE aal_once_flag;
#define AAL_MUTEX_INIT SRWLOCK_INIT
#define AAL_ONCE_INIT INIT_ONCE_STATIC_INIT
#else
#include <pthread.h>
typedef pthread_mutex_t aal_mutex;
typedef pthread_cond_t aal_cond;
typedef pthread_t aal_thread;
typedef pthread_once_t aal_once_flag;
#define AAL_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define AAL_ONCE_INIT PTHREAD_ONCE_INIT
#endif

#ifdef _MSC_VER
#include <intrin.h>
#endif

/* A flag another thread polls while it spins (relaxed atomic access).
 * Thread: any.  GIL: may be held.  Locks: none. */
static inline bool aal_flag_load(const bool *flag)
{
#ifdef _MSC_VER
    return *(const volatile bool *)flag; /* byte access is atomic */
#else
    return __atomic_load_n(flag, __ATOMIC_RELAXED);
#endif
}

static inline void aal_flag_store(bool *flag, bool value)
{
#ifdef _MSC_VER
    *(volatile bool *)flag = value;
#else
    __atomic_store_n(flag, value, __ATOMIC_RELAXED);
#endif
}

/* Index of the highest set bit of v (v > 0).  Pure. */
static inline int aal_highest_bit(uint64_t v)
{
#ifdef _MSC_VER
    unsigned long index;
    _BitScanReverse64(&index, v);
    return (int)index;
#else
    return 63 - __builtin_clzll(v);
#endif
}

/* Contracts.  Every function below may be called from any thread, and
 * none takes a lock of its own but the one it is given.  Whether the GIL
 * may be held follows from whether it blocks: those that wait say so
 * ("GIL: must not be held"), unless the caller knows the wait is short
 * (aal_mutex_lock on a mutex whose holders never wait for the GIL, as
 * every mutex of the scheduler). */

/* Locks and condition variables.  The init functions return 0 or an errno
 * value; the rest cannot fail in a correct program.  Not recursive.
 * aal_mutex_lock blocks while another thread holds m; aal_cond_wait and
 * aal_cond_wait_us release m while they wait (GIL: must not be held). */
int aal_mutex_init(aal_mutex *m);
void aal_mutex_destroy(aal_mutex *m);
void aal_mutex_lock(aal_mutex *m);
void aal_mutex_unlock(aal_mutex *m);

int aal_cond_init(aal_cond *c);
void aal_cond_destroy(aal_cond *c);
void aal_cond_signal(aal_cond *c);
void aal_cond_broadcast(aal_cond *c);
void aal_cond_wait(aal_cond *c, aal_mutex *m);
/* Waits (m held) at most `delta_us` on a monotonic clock: false when the
 * time is up, true when woken (or spuriously: callers re-check). */
bool aal_cond_wait_us(aal_cond *c, aal_mutex *m, int64_t delta_us);

/* Runs fn once per process, however many threads call this (the others
 * wait for it to finish). */
void aal_once(aal_once_flag *flag, void (*fn)(void));

/* Sleeps the calling thread for about `us` microseconds.  GIL: must not be
 * held. */
void aal_sleep_us(int64_t us);

/* Threads: 0 or an errno value.  aal_thread_join blocks until t ends (GIL:
 * must not be held if t may need it); never join the calling thread. */
int aal_thread_start(aal_thread *t, void *(*main)(void *), void *arg);
void aal_thread_join(aal_thread t);

/* Ask the OS for the finest timer resolution/slack for the calling thread.
 * Thread: a native thread of ours, at its start. */
void aal_thread_tight_timers(void);

/* Give the calling thread a name visible in ps/top/gdb (best effort).
 * Thread: a native thread of ours, at its start. */
void aal_thread_set_name(const char *name);

/* Handlers around fork() (POSIX); nothing where there is no fork.  The
 * handlers run on the thread that forks, with whatever it holds (the GIL,
 * for a fork from Python): they must take only locks whose holders never
 * wait for the GIL. */
void aal_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* This process's id: a thread started by a parent process is not ours. */
long aal_process_id(void);

/* Two clocks.  Thread: any.  GIL: may be held.  Locks: none; they never
 * fail.
 *
 * aal_os_link_clock_us: Link's clock (Linux: CLOCK_MONOTONIC_RAW; macOS:
 * the uptime clock of mach_absolute_time; Windows: QueryPerformanceCounter),
 * in microseconds, read straight from the OS.  The same clock as the shim's
 * aal_link_clock_micros(link), which reads it through a Link instance.  Use
 * this one where no Link is at hand or wanted: spin loops, deadlines, a
 * forked child, clock offsets; use aal_link_clock_micros for the time that
 * goes with a captured session (it can fail, -1, like any call into Link).
 *
 * aal_monotonic_now_us: the clock of time.monotonic() (and asyncio's default
 * loop.time()), in microseconds. */
int64_t aal_os_link_clock_us(void);
int64_t aal_monotonic_now_us(void);

/* Wake descriptor: readable after aal_wakefd_signal until cleared.
 * Linux: one eventfd (read_fd == write_fd); other POSIX systems: a
 * non-blocking pipe; Windows: a connected pair of loopback sockets (what a
 * selector loop's add_reader can watch there).  open, signal, clear and
 * close never block (signal may be called with any lock held; a full pipe
 * already wakes the reader).  GIL: may be held. */
int aal_wakefd_open(int *read_fd, int *write_fd);
void aal_wakefd_signal(int write_fd);
void aal_wakefd_clear(int read_fd);
void aal_wakefd_close(int read_fd, int write_fd);
/* Blocks until `watch_fd` or `stop_fd` is readable: 1 for watch_fd, 0 for
 * stop_fd, -1 on error.  GIL: must not be held. */
int aal_wakefd_wait(int watch_fd, int stop_fd);

/* Real-time scheduling (opt-in: Link.realtime).
 *
 * Linux: SCHED_FIFO at `priority` (1..99), with SCHED_RESET_ON_FORK so that
 * threads and processes started from a raised thread (executor threads,
 * subprocesses) start at normal priority; it needs CAP_SYS_NICE or an
 * RLIMIT_RTPRIO of at least `priority`.  No RLIMIT_RTTIME is set.  macOS
 * (written for, not built here): the Mach time-constraint policy, which
 * needs no privilege; `priority` is not used.  Windows:
 * THREAD_PRIORITY_TIME_CRITICAL (within the process's class); `priority`
 * is not used.  A thread already under a real-time policy at least as high
 * is left as it is (and left so when put back).
 *
 * aal_rt_raise / aal_rt_restore: one of our own native threads, `t`, which
 * must not have been joined yet.  raise returns 0 or an errno value (EPERM:
 * not allowed) and fills `saved`; restore puts back what `saved` recorded
 * (nothing if raise left the thread alone).
 * Thread: any.  GIL: may be held (a system call).  Locks: none. */
typedef struct aal_rt_saved {
    bool changed; /* raise changed the thread: restore puts back the rest */
    int policy;
    int priority;
} aal_rt_saved;
int aal_rt_raise(aal_thread t, int priority, aal_rt_saved *saved);
void aal_rt_restore(aal_thread t, const aal_rt_saved *saved);

/* A hold on the calling thread's real-time policy, for a thread that is not
 * ours (the event loop's): reference-counted per thread, so that several
 * holders (Links on one loop thread) share one raise.  The first hold
 * raises the thread; the last release (from any thread) puts it back; a
 * thread that has ended is never touched again.  aal_rt_hold_current
 * returns 0 with *hold set, or an errno value (nothing held).  A hold taken
 * in a parent process is void in a forked child (the kernel has put the
 * child's thread back): never release it there.
 * Thread: hold: the thread to raise; release: any.  GIL: may be held.
 * Locks: the platform's real-time mutex, a leaf. */
typedef struct aal_rt_hold aal_rt_hold;
int aal_rt_hold_current(int priority, aal_rt_hold **hold);
void aal_rt_release(aal_rt_hold *hold);
/* Whether `hold` (NULL: false) is the calling thread's: a thread-local
 * read, cheap enough for every sync().  Thread: any.  Locks: none. */
bool aal_rt_is_current(const aal_rt_hold *hold);

/* One line saying how to allow real-time scheduling on this system (for
 * the warning when it is refused).  Thread: any.  Locks: none. */
const char *aal_rt_refusal_hint(void);

#endif
