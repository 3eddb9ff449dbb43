/* aal_link.h - a plain C API over Ableton Link (ableton::Link).
 *
 * Everything here is C: an opaque handle, C types, int64_t microseconds on
 * Link's clock.  The implementation (aal_link.cpp) catches every C++
 * exception; functions report failure through their return value (NULL, -1,
 * NaN, INT64_MIN or false, as each says) and never throw.  What failed is
 * kept per thread: every function that fails records it, and
 * aal_last_error() reads it back (see "Errors" below).
 *
 * Contracts.  Each function says:
 *   Thread:  who may call it.  "Any" means any thread but Link's own (the one
 *            that runs our callbacks), and no realtime thread.
 *   Blocks:  what it may wait for.  Link's thread holds Link's callback lock
 *            while it runs one of our callbacks, and those take the
 *            scheduler's mutex: a function that takes that lock, or waits
 *            for Link's thread, must not be called while holding a lock a
 *            callback takes.
 *   GIL:     the shim knows nothing of Python.  The project calls into a
 *            live Link with the GIL released (link_object.c's rule); a
 *            function that waits for Link's thread must never be called with
 *            it.  The aal_session_* functions may be called with it.
 * No function here takes a lock of ours. */
#ifndef AAL_LINK_H
#define AAL_LINK_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aal_link aal_link;
typedef struct aal_session aal_session;

/* Called on Link's own thread, with Link's callback lock held.  A callback
 * must not register callbacks or destroy the Link (that lock is not
 * recursive), must not take the GIL, and may take only locks whose holders
 * never call into Link while holding them. */
typedef void (*aal_peers_fn)(uint64_t num_peers, void *context);
typedef void (*aal_tempo_fn)(double bpm, void *context);
typedef void (*aal_start_stop_fn)(bool playing, void *context);

/* A consistent reading of one captured session at one time. */
typedef struct aal_snapshot {
    int64_t time_us; /* Link clock */
    double tempo;    /* bpm */
    double beat;     /* for the quantum given */
    double phase;    /* in [0, quantum) */
    bool playing;
} aal_snapshot;

/* ---- Errors ---- */

/* What a failed call ran into. */
enum aal_error_kind {
    AAL_ERR_NONE = 0,  /* no failure recorded */
    AAL_ERR_SYSTEM,    /* std::system_error: errnum is an errno value when the
                        * error's category is the system's (or generic), else 0 */
    AAL_ERR_NOMEM,     /* std::bad_alloc */
    AAL_ERR_OTHER,     /* any other exception, or a bad argument (NULL handle) */
};

#define AAL_ERROR_MESSAGE_SIZE 256

typedef struct aal_error {
    int kind;    /* enum aal_error_kind */
    int errnum;  /* AAL_ERR_SYSTEM only: errno, or 0 */
    char message[AAL_ERROR_MESSAGE_SIZE]; /* Link's what(), truncated; "" if none */
} aal_error;

/* The failure recorded by the last function of this file that failed on
 * the calling thread (kind AAL_ERR_NONE if none did since the last
 * aal_clear_last_error).  Successful calls leave it alone: clear it before
 * a sequence of calls, read it once one failed.  Thread: any (the record is
 * the thread's own).  Blocks: no.  GIL: may be held. */
void aal_last_error(aal_error *out);
void aal_clear_last_error(void);

/* ---- Link: lifetime, flags, clock ---- */

/* A new, disabled Link at `bpm`, its threads started; NULL on failure.
 * Thread: any.  Blocks: no.  GIL: may be held. */
aal_link *aal_link_create(double bpm);
/* Disables Link, waits for its thread to finish what it runs (a callback,
 * say) and joins its threads; NULL is fine.  Thread: any.  Blocks: on
 * Link's thread.  GIL: must not be held.  Not in a forked child (Link's
 * threads are the parent's there: leak it). */
void aal_link_destroy(aal_link *link);
/* Enables or disables Link: 0, or -1 on failure.  Link applies it on its
 * own thread: this returns without waiting (Link 3), but callers treat it
 * as a call that may wait for Link's thread.  Thread: any.  Blocks: see
 * above.  GIL: must not be held. */
int aal_link_enable(aal_link *link, bool enable);
/* Reads and writes of Link's flags and counters: atomic, realtime-safe.
 * aal_link_num_peers is -1 on failure.  Thread: any.  Blocks: no.  GIL: may
 * be held. */
bool aal_link_is_enabled(const aal_link *link);
int aal_link_enable_start_stop_sync(aal_link *link, bool enable);
bool aal_link_is_start_stop_sync_enabled(const aal_link *link);
int64_t aal_link_num_peers(const aal_link *link);
/* Link's clock now, in microseconds, read through this Link instance (-1
 * on failure): the time that goes with a session captured from it.
 * platform.h's aal_os_link_clock_us reads the same clock straight from the
 * OS, without a Link (for spin loops, deadlines, a forked child).  Thread:
 * any.  Blocks: no.  GIL: may be held. */
int64_t aal_link_clock_micros(const aal_link *link);

/* ---- Callbacks: a function pointer plus context; NULL clears it ---- */

/* 0, or -1 on failure.  Once one returns, the old callback is no longer
 * running and will not be called again.  Thread: any, not from inside a
 * callback.  Blocks: takes Link's callback lock (waits for a callback under
 * way).  GIL: must not be held. */
int aal_link_set_num_peers_callback(aal_link *link, aal_peers_fn fn, void *context);
int aal_link_set_tempo_callback(aal_link *link, aal_tempo_fn fn, void *context);
int aal_link_set_start_stop_callback(aal_link *link, aal_start_stop_fn fn, void *context);

/* ---- App session state: capture into / commit from a caller-owned session ---- */

/* A session object for captures (NULL on failure), and its release.
 * Thread: any.  Blocks: no.  GIL: may be held. */
aal_session *aal_session_create(void);
void aal_session_destroy(aal_session *session);
/* Capture Link's app session state into `session`, or commit `session` as
 * Link's: 0, or -1 on failure.  A commit is applied on Link's thread later
 * (the tempo and start/stop callbacks report it).  Thread: any.  Blocks:
 * briefly, on Link's client-state lock (never held across a callback).
 * GIL: not held, by the project's rule. */
int aal_link_capture_app_session(const aal_link *link, aal_session *session);
int aal_link_commit_app_session(aal_link *link, const aal_session *session);
/* Capture, then read everything at the current Link time.  0, or -1.
 * Thread, blocks, GIL: as aal_link_capture_app_session. */
int aal_link_snapshot(const aal_link *link, aal_session *session, double quantum,
                      aal_snapshot *out);

/* ---- Session-state operations (Link's SessionState methods) ----
 *
 * They touch only the session passed (no lock, no I/O, realtime-safe), so
 * an aal_session must not be shared by threads without a lock of the
 * caller's.  Thread: the session's owner.  Blocks: no.  GIL: may be held.
 * Failure: NaN (doubles), INT64_MIN (times), -1 (status), false (flags). */
double aal_session_tempo(const aal_session *session);
int aal_session_set_tempo(aal_session *session, double bpm, int64_t at_us);
double aal_session_beat_at_time(const aal_session *session, int64_t time_us, double quantum);
double aal_session_phase_at_time(const aal_session *session, int64_t time_us, double quantum);
int64_t aal_session_time_at_beat(const aal_session *session, double beat, double quantum);
int aal_session_request_beat_at_time(aal_session *session, double beat, int64_t time_us,
                                     double quantum);
int aal_session_force_beat_at_time(aal_session *session, double beat, int64_t time_us,
                                   double quantum);
int aal_session_set_is_playing(aal_session *session, bool playing, int64_t time_us);
bool aal_session_is_playing(const aal_session *session);
int64_t aal_session_time_for_is_playing(const aal_session *session);
int aal_session_request_beat_at_start_playing_time(aal_session *session, double beat,
                                                   double quantum);
int aal_session_set_is_playing_and_request_beat_at_time(aal_session *session, bool playing,
                                                        int64_t time_us, double beat,
                                                        double quantum);

#ifdef __cplusplus
}
#endif

#endif /* AAL_LINK_H */
