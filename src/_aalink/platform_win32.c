/* platform_win32.c - threads, timed waits, clocks and wake descriptors for
 * Windows.  Cross-compiled by tests/test_platform.py (MinGW-w64) and run
 * under Wine by tests/test_windows_wine.py (tests/native/win_smoke.c, with
 * the scheduler and the shim over a real Link); no Windows wheel has been
 * built or run yet (docs/platforms.md). */
#include "platform.h"

#include <errno.h>
#include <math.h>
#include <process.h>
#include <stdlib.h>
#include <string.h>
#include <winsock2.h>

#include <mmsystem.h>

/* ---- locks, waits, threads ---- */

int aal_mutex_init(aal_mutex *m)
{
    InitializeSRWLock(m);
    return 0;
}

void aal_mutex_destroy(aal_mutex *m)
{
    (void)m; /* SRW locks hold no resources */
}

void aal_mutex_lock(aal_mutex *m)
{
    AcquireSRWLockExclusive(m);
}

void aal_mutex_unlock(aal_mutex *m)
{
    ReleaseSRWLockExclusive(m);
}

int aal_cond_init(aal_cond *c)
{
    InitializeConditionVariable(c);
    return 0;
}

void aal_cond_destroy(aal_cond *c)
{
    (void)c;
}

void aal_cond_signal(aal_cond *c)
{
    WakeConditionVariable(c);
}

void aal_cond_broadcast(aal_cond *c)
{
    WakeAllConditionVariable(c);
}

void aal_cond_wait(aal_cond *c, aal_mutex *m)
{
    SleepConditionVariableSRW(c, m, INFINITE, 0);
}

bool aal_cond_wait_us(aal_cond *c, aal_mutex *m, int64_t delta_us)
{
    /* Windows waits in whole milliseconds: round down, so that the caller's
     * last stretch (watching the clock) covers the rest, never overshoots. */
    int64_t ms = delta_us / 1000;
    if (ms <= 0)
        return false;
    if (ms > INT64_C(86400000))
        ms = INT64_C(86400000); /* a day */
    if (SleepConditionVariableSRW(c, m, (DWORD)ms, 0))
        return true;
    return GetLastError() != ERROR_TIMEOUT;
}

static BOOL CALLBACK run_once(PINIT_ONCE once, PVOID param, PVOID *context)
{
    (void)once;
    (void)context;
    void (**fn)(void) = param;
    (*fn)();
    return TRUE;
}

void aal_once(aal_once_flag *flag, void (*fn)(void))
{
    InitOnceExecuteOnce(flag, run_once, (PVOID)&fn, NULL);
}

void aal_sleep_us(int64_t us)
{
    Sleep(us <= 0 ? 0 : (DWORD)((us + 999) / 1000));
}

typedef struct {
    void *(*main)(void *);
    void *arg;
} thread_start;

static unsigned __stdcall thread_trampoline(void *p)
{
    thread_start start = *(thread_start *)p;
    free(p);
    start.main(start.arg);
    return 0;
}

int aal_thread_start(aal_thread *t, void *(*main)(void *), void *arg)
{
    thread_start *start = malloc(sizeof *start);
    if (!start)
        return ENOMEM;
    start->main = main;
    start->arg = arg;
    uintptr_t h = _beginthreadex(NULL, 0, thread_trampoline, start, 0, NULL);
    if (h == 0) {
        int err = errno ? errno : EAGAIN;
        free(start);
        return err;
    }
    *t = (HANDLE)h;
    return 0;
}

void aal_thread_join(aal_thread t)
{
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}

static void raise_timer_resolution(void)
{
    /* 1 ms system timer (the default tick is 15.6 ms).  Process-wide; Link
     * asks for the same. */
    timeBeginPeriod(1);
}

void aal_thread_tight_timers(void)
{
    static aal_once_flag once = AAL_ONCE_INIT;
    aal_once(&once, raise_timer_resolution);
}

typedef HRESULT(WINAPI *set_description_fn)(HANDLE, PCWSTR);

void aal_thread_set_name(const char *name)
{
    /* SetThreadDescription exists from Windows 10 1607: look it up. */
    HMODULE kernel = GetModuleHandleW(L"kernel32.dll");
    FARPROC proc = kernel ? GetProcAddress(kernel, "SetThreadDescription") : NULL;
    if (!proc)
        return;
    set_description_fn set_description;
    memcpy(&set_description, &proc, sizeof set_description);
    wchar_t wide[64];
    if (MultiByteToWideChar(CP_UTF8, 0, name, -1, wide, 64) > 0)
        set_description(GetCurrentThread(), wide);
}

void aal_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    (void)prepare; /* no fork() on Windows */
    (void)parent;
    (void)child;
}

long aal_process_id(void)
{
    return (long)GetCurrentProcessId();
}

/* ---- clocks ---- */

static double micros_per_tick(void)
{
    static double factor; /* the same value from every thread: no race harm */
    if (factor == 0.0) {
        LARGE_INTEGER frequency;
        QueryPerformanceFrequency(&frequency);
        factor = 1.0e6 / (double)frequency.QuadPart;
    }
    return factor;
}

int64_t aal_os_link_clock_us(void)
{
    /* Link's Windows clock: QueryPerformanceCounter, in microseconds,
     * rounded the way Link rounds it. */
    LARGE_INTEGER count;
    QueryPerformanceCounter(&count);
    return (int64_t)llround(micros_per_tick() * (double)count.QuadPart);
}

int64_t aal_monotonic_now_us(void)
{
    /* time.monotonic() reads QueryPerformanceCounter too (Python 3.13+). */
    return aal_os_link_clock_us();
}

/* ---- wake descriptors: a loopback socket pair ---- */

static void start_winsock(void)
{
    WSADATA data;
    WSAStartup(MAKEWORD(2, 2), &data);
}

static int set_nonblocking(SOCKET s)
{
    u_long on = 1;
    return ioctlsocket(s, FIONBIO, &on) == 0 ? 0 : -1;
}

int aal_wakefd_open(int *read_fd, int *write_fd)
{
    static aal_once_flag once = AAL_ONCE_INIT;
    aal_once(&once, start_winsock);
    SOCKET listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    SOCKET writer = INVALID_SOCKET, reader = INVALID_SOCKET;
    if (listener == INVALID_SOCKET)
        return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
        goto fail;
    writer = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (writer == INVALID_SOCKET ||
        connect(writer, (struct sockaddr *)&addr, sizeof addr) != 0)
        goto fail;
    reader = accept(listener, NULL, NULL);
    if (reader == INVALID_SOCKET || set_nonblocking(reader) != 0 || set_nonblocking(writer) != 0)
        goto fail;
    closesocket(listener);
    /* Socket handles fit in an int in practice (asyncio passes them as
     * such too). */
    *read_fd = (int)reader;
    *write_fd = (int)writer;
    return 0;
fail:
    if (reader != INVALID_SOCKET)
        closesocket(reader);
    if (writer != INVALID_SOCKET)
        closesocket(writer);
    closesocket(listener);
    return -1;
}

void aal_wakefd_signal(int write_fd)
{
    char byte = 1;
    /* WSAEWOULDBLOCK: the pair is full, so already readable. */
    (void)send((SOCKET)write_fd, &byte, 1, 0);
}

void aal_wakefd_clear(int read_fd)
{
    char buf[64];
    while (recv((SOCKET)read_fd, buf, sizeof buf, 0) > 0)
        ;
}

void aal_wakefd_close(int read_fd, int write_fd)
{
    if (read_fd >= 0)
        closesocket((SOCKET)read_fd);
    if (write_fd >= 0 && write_fd != read_fd)
        closesocket((SOCKET)write_fd);
}

int aal_wakefd_wait(int watch_fd, int stop_fd)
{
    for (;;) {
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET((SOCKET)watch_fd, &readable);
        FD_SET((SOCKET)stop_fd, &readable);
        if (select(0, &readable, NULL, NULL, NULL) == SOCKET_ERROR)
            return -1;
        if (FD_ISSET((SOCKET)stop_fd, &readable))
            return 0;
        if (FD_ISSET((SOCKET)watch_fd, &readable))
            return 1;
    }
}

/* ---- real-time scheduling: THREAD_PRIORITY_TIME_CRITICAL ----
 *
 * The highest priority within the process's class; `priority` is not used.
 * (MMCSS, AvSetMmThreadCharacteristics("Pro Audio"), would go higher, but
 * it can only be set and reverted by the thread itself.)  Never refused in
 * practice. */

int aal_rt_raise(aal_thread t, int priority, aal_rt_saved *saved)
{
    (void)priority;
    saved->changed = false;
    int before = GetThreadPriority(t);
    if (before == THREAD_PRIORITY_ERROR_RETURN)
        return EINVAL;
    if (before >= THREAD_PRIORITY_TIME_CRITICAL)
        return 0;
    if (!SetThreadPriority(t, THREAD_PRIORITY_TIME_CRITICAL))
        return EPERM;
    saved->priority = before;
    saved->changed = true;
    return 0;
}

void aal_rt_restore(aal_thread t, const aal_rt_saved *saved)
{
    if (saved->changed)
        (void)SetThreadPriority(t, saved->priority);
}

/* One record per thread, found through a thread-local pointer.  It holds
 * a real handle to its thread (duplicated from the pseudo-handle), which
 * keeps the thread object valid after the thread ends: a late release is
 * harmless there.  Records of ended threads are not freed (a few bytes). */
struct aal_rt_hold {
    HANDLE thread;
    int refs;
    aal_rt_saved saved;
};

static SRWLOCK rt_mu = SRWLOCK_INIT;
static _Thread_local aal_rt_hold *rt_current;

int aal_rt_hold_current(int priority, aal_rt_hold **hold)
{
    aal_rt_hold *h = rt_current;
    if (!h) {
        h = calloc(1, sizeof *h);
        if (!h)
            return ENOMEM;
        if (!DuplicateHandle(GetCurrentProcess(), GetCurrentThread(), GetCurrentProcess(),
                             &h->thread, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
            free(h);
            return EINVAL;
        }
        rt_current = h;
    }
    int rc = 0;
    AcquireSRWLockExclusive(&rt_mu);
    if (h->refs == 0)
        rc = aal_rt_raise(h->thread, priority, &h->saved);
    if (rc == 0) {
        h->refs++;
        *hold = h;
    }
    ReleaseSRWLockExclusive(&rt_mu);
    return rc;
}

bool aal_rt_is_current(const aal_rt_hold *hold)
{
    return hold && rt_current == hold;
}

void aal_rt_release(aal_rt_hold *h)
{
    if (!h)
        return;
    AcquireSRWLockExclusive(&rt_mu);
    if (h->refs > 0 && --h->refs == 0)
        aal_rt_restore(h->thread, &h->saved);
    ReleaseSRWLockExclusive(&rt_mu);
}

const char *aal_rt_refusal_hint(void)
{
    return "Windows refused THREAD_PRIORITY_TIME_CRITICAL";
}
