/* aal_link.h - a plain C API over Ableton Link (ableton::Link).
 *
 * Everything here is C: an opaque handle, C types, int64_t microseconds on
 * Link's clock.  The implementation (aal_link.cpp) catches every C++
 * exception; functions report failure through their return value (NULL, -1
 * or NaN) and never throw.
 *
 * Threads: every function may be called from any non-realtime thread.  The
 * aal_session_* functions only touch the session object passed to them (no
 * locks, no I/O); an aal_session must not be shared by threads without
 * external locking.  aal_link_enable, aal_link_destroy and callback
 * registration take Link's callback lock, which Link holds while it runs the
 * callbacks on its own thread: never call them while holding a lock that a
 * callback takes.
 */
#ifndef AAL_LINK_H
#define AAL_LINK_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aal_link aal_link;
typedef struct aal_session aal_session;

/* Called on Link's own thread, with Link's callback lock held. */
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

/* Link: lifetime, flags, clock. */
aal_link *aal_link_create(double bpm); /* NULL on failure */
void aal_link_destroy(aal_link *link); /* joins Link's threads; NULL is fine */
int aal_link_enable(aal_link *link, bool enable);
bool aal_link_is_enabled(const aal_link *link);
int aal_link_enable_start_stop_sync(aal_link *link, bool enable);
bool aal_link_is_start_stop_sync_enabled(const aal_link *link);
int64_t aal_link_num_peers(const aal_link *link); /* -1 on failure */
int64_t aal_link_clock_micros(const aal_link *link);

/* Callbacks: a function pointer plus context; NULL function clears it. */
int aal_link_set_num_peers_callback(aal_link *link, aal_peers_fn fn, void *context);
int aal_link_set_tempo_callback(aal_link *link, aal_tempo_fn fn, void *context);
int aal_link_set_start_stop_callback(aal_link *link, aal_start_stop_fn fn, void *context);

/* App session state: capture into / commit from a caller-owned session. */
aal_session *aal_session_create(void); /* NULL on failure */
void aal_session_destroy(aal_session *session);
int aal_link_capture_app_session(const aal_link *link, aal_session *session);
int aal_link_commit_app_session(aal_link *link, const aal_session *session);
/* Capture, then read everything at the current Link time. */
int aal_link_snapshot(const aal_link *link, aal_session *session, double quantum,
                      aal_snapshot *out);

/* Session-state operations (Link's SessionState methods). */
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
