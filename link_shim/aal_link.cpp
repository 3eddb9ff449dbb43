// aal_link.cpp - implements aal_link.h over ableton::Link: the only file
// that includes Link.
//
// Every extern "C" function runs its body through barrier() (below), whose
// two overloads hold the only catch blocks: no C++ exception crosses into C.
// Functions that return a status give 0 on success and -1 on failure; every
// failure is recorded, per thread, for aal_last_error().
#include "aal_link.h"

#include <ableton/platforms/Config.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <new>
#include <system_error>

// Joining must never change the tempo of an existing session (Link's
// TEST-PLAN TEMPO-2).  Why it could:
//
// Enabling a Link (and losing its last peer) founds a new session: a new
// random node id becomes the session id, and the session's ghost clock is
// reset to read 0 at that moment (Controller::resetState).  When two
// sessions meet, each side measures the other and Sessions::
// handleSuccessfulMeasurement keeps the older one (larger ghost time); when
// the two ghost times are less than 0.5 s apart it falls back to comparing
// session ids and the smaller id wins.  A peer that just lost its last
// peer has just founded a session too: LinkHut at 100 bpm, whose previous
// peer (a process that exited) is gone, founds a new session at that
// instant, and a fresh process that runs `Link(140, loop); link.enabled =
// True` within 0.5 s meets it as an equally old session.  The random ids
// then decide, and about half of those joins pulled LinkHut to 140 bpm (8 of
// 30 back-to-back joins; see tests/test_test_plan.py).  How long after
// construction the Link is enabled does not matter by itself: enable()
// resets the session again; it only matters when the other session is
// younger than 0.5 s.
//
// The fix: our node ids start with the largest bytes Link's generator can
// produce, so our sessions lose every id tie and a session that is not
// clearly younger than the existing one (by 0.5 s of ghost time) joins it
// instead of taking it over.  Sessions that are older still win, as Link
// intends.  Between two aalink peers the remaining random bytes decide, as
// before.  This specializes the id generator Link's Controller uses
// (NodeId::random with the platform Random, printable ASCII 33..126); it is
// declared before <ableton/Link.hpp> so that it is the one instantiated, and
// this file is the only one that includes Link.
namespace ableton {
namespace link {

template <>
NodeId NodeId::random<platform::Random>()
{
    constexpr std::size_t yield_prefix = 3; // P(a foreign id ties these) = 94^-3
    constexpr std::uint8_t largest = 126;   // '~', the top of Link's range
    platform::Random random;
    NodeId id;
    std::generate(id.begin(), id.end(), [&] { return random(); });
    std::fill_n(id.begin(), yield_prefix, largest);
    return id;
}

} // namespace link
} // namespace ableton

#include <ableton/Link.hpp>

struct aal_link {
    explicit aal_link(double bpm) : link(bpm) {}
    ableton::Link link;
};

struct aal_session {
    aal_session() : state(ableton::link::ApiState{}, false) {}
    ableton::Link::SessionState state;
};

namespace {

using micros = std::chrono::microseconds;

// The calling thread's last failure (aal_last_error).
thread_local aal_error last_error;

void record(int kind, int errnum, const char *message) noexcept
{
    last_error.kind = kind;
    last_error.errnum = errnum;
    std::strncpy(last_error.message, message ? message : "", sizeof last_error.message - 1);
    last_error.message[sizeof last_error.message - 1] = '\0';
}

// Records the exception being handled; called only from a catch block.
void record_current() noexcept
{
    try {
        throw;
    }
    catch (const std::system_error &e) {
        // asio (standalone) has its own category for the OS's errno values.
        const std::error_category &cat = e.code().category();
        bool os = cat == std::system_category() || cat == std::generic_category() ||
                  std::strcmp(cat.name(), "asio.system") == 0;
        record(AAL_ERR_SYSTEM, os ? e.code().value() : 0, e.what());
    }
    catch (const std::bad_alloc &e) {
        record(AAL_ERR_NOMEM, 0, e.what());
    }
    catch (const std::exception &e) {
        record(AAL_ERR_OTHER, 0, e.what());
    }
    catch (...) {
        record(AAL_ERR_OTHER, 0, "unknown C++ exception in Ableton Link");
    }
}

// A call that fails without an exception: a NULL handle, or a result Link
// could not represent.
template <typename R>
R invalid(R failure, const char *what) noexcept
{
    record(AAL_ERR_OTHER, 0, what);
    return failure;
}

// The one exception barrier: every extern "C" function below runs its body
// through it, so that no C++ exception crosses into C.  Returns what `body`
// returns, or `failure` when it throws.  The failure type is spelled at each
// call (barrier<double>(NAN, ...)) so that it is the C function's own.
template <typename R, typename F>
R barrier(R failure, F &&body) noexcept
{
    try {
        return body();
    }
    catch (...) {
        record_current();
        return failure;
    }
}

// For functions with nothing to report.
template <typename F>
void barrier(F &&body) noexcept
{
    try {
        body();
    }
    catch (...) {
        record_current();
    }
}

// For functions that return a status: 0, or -1 when `body` throws.
template <typename F>
int status(F &&body) noexcept
{
    return barrier<int>(-1, [&] {
        body();
        return 0;
    });
}

} // namespace

extern "C" {

void aal_last_error(aal_error *out)
{
    *out = last_error;
}

void aal_clear_last_error(void)
{
    last_error.kind = AAL_ERR_NONE;
    last_error.errnum = 0;
    last_error.message[0] = '\0';
}

aal_link *aal_link_create(double bpm)
{
    return barrier<aal_link *>(nullptr, [&] { return new aal_link(bpm); });
}

void aal_link_destroy(aal_link *link)
{
    barrier([&] { delete link; });
}

int aal_link_enable(aal_link *link, bool enable)
{
    if (!link) return invalid(-1, "no Link (NULL handle)");
    return status([&] { link->link.enable(enable); });
}

bool aal_link_is_enabled(const aal_link *link)
{
    return barrier<bool>(false, [&] { return link && link->link.isEnabled(); });
}

int aal_link_enable_start_stop_sync(aal_link *link, bool enable)
{
    if (!link) return invalid(-1, "no Link (NULL handle)");
    return status([&] { link->link.enableStartStopSync(enable); });
}

bool aal_link_is_start_stop_sync_enabled(const aal_link *link)
{
    return barrier<bool>(false, [&] { return link && link->link.isStartStopSyncEnabled(); });
}

int64_t aal_link_num_peers(const aal_link *link)
{
    return barrier<int64_t>(-1, [&] {
        return link ? static_cast<int64_t>(link->link.numPeers())
                    : invalid<int64_t>(-1, "no Link (NULL handle)");
    });
}

int64_t aal_link_clock_micros(const aal_link *link)
{
    return barrier<int64_t>(-1, [&] {
        return link ? static_cast<int64_t>(link->link.clock().micros().count())
                    : invalid<int64_t>(-1, "no Link (NULL handle)");
    });
}

int aal_link_set_num_peers_callback(aal_link *link, aal_peers_fn fn, void *context)
{
    if (!link) return invalid(-1, "no Link (NULL handle)");
    return status([&] {
        link->link.setNumPeersCallback([fn, context](std::size_t peers) {
            if (fn) fn(static_cast<uint64_t>(peers), context);
        });
    });
}

int aal_link_set_tempo_callback(aal_link *link, aal_tempo_fn fn, void *context)
{
    if (!link) return invalid(-1, "no Link (NULL handle)");
    return status([&] {
        link->link.setTempoCallback([fn, context](double bpm) {
            if (fn) fn(bpm, context);
        });
    });
}

int aal_link_set_start_stop_callback(aal_link *link, aal_start_stop_fn fn, void *context)
{
    if (!link) return invalid(-1, "no Link (NULL handle)");
    return status([&] {
        link->link.setStartStopCallback([fn, context](bool playing) {
            if (fn) fn(playing, context);
        });
    });
}

aal_session *aal_session_create(void)
{
    return barrier<aal_session *>(nullptr, [] { return new aal_session(); });
}

void aal_session_destroy(aal_session *session)
{
    barrier([&] { delete session; });
}

int aal_link_capture_app_session(const aal_link *link, aal_session *session)
{
    if (!link || !session) return invalid(-1, "no Link or session (NULL handle)");
    return status([&] { session->state = link->link.captureAppSessionState(); });
}

int aal_link_commit_app_session(aal_link *link, const aal_session *session)
{
    if (!link || !session) return invalid(-1, "no Link or session (NULL handle)");
    return status([&] { link->link.commitAppSessionState(session->state); });
}

int aal_link_snapshot(const aal_link *link, aal_session *session, double quantum,
                      aal_snapshot *out)
{
    if (!link || !session || !out) return invalid(-1, "no Link, session or result (NULL)");
    return status([&] {
        session->state = link->link.captureAppSessionState();
        const micros now = link->link.clock().micros();
        const auto &s = session->state;
        out->time_us = now.count();
        out->tempo = s.tempo();
        out->beat = s.beatAtTime(now, quantum);
        out->phase = s.phaseAtTime(now, quantum);
        out->playing = s.isPlaying();
    });
}

double aal_session_tempo(const aal_session *session)
{
    return barrier<double>(NAN, [&] { return session ? session->state.tempo() : invalid<double>(NAN, "no session (NULL handle)"); });
}

int aal_session_set_tempo(aal_session *session, double bpm, int64_t at_us)
{
    if (!session) return invalid(-1, "no session (NULL handle)");
    return status([&] { session->state.setTempo(bpm, micros(at_us)); });
}

double aal_session_beat_at_time(const aal_session *session, int64_t time_us, double quantum)
{
    return barrier<double>(NAN, [&] {
        return session ? session->state.beatAtTime(micros(time_us), quantum)
                       : invalid<double>(NAN, "no session (NULL handle)");
    });
}

double aal_session_phase_at_time(const aal_session *session, int64_t time_us, double quantum)
{
    return barrier<double>(NAN, [&] {
        return session ? session->state.phaseAtTime(micros(time_us), quantum)
                       : invalid<double>(NAN, "no session (NULL handle)");
    });
}

int64_t aal_session_time_at_beat(const aal_session *session, double beat, double quantum)
{
    return barrier<int64_t>(INT64_MIN, [&] {
        return session ? static_cast<int64_t>(session->state.timeAtBeat(beat, quantum).count())
                       : invalid<int64_t>(INT64_MIN, "no session (NULL handle)");
    });
}

int aal_session_request_beat_at_time(aal_session *session, double beat, int64_t time_us,
                                     double quantum)
{
    if (!session) return invalid(-1, "no session (NULL handle)");
    return status([&] { session->state.requestBeatAtTime(beat, micros(time_us), quantum); });
}

int aal_session_force_beat_at_time(aal_session *session, double beat, int64_t time_us,
                                   double quantum)
{
    if (!session) return invalid(-1, "no session (NULL handle)");
    return status([&] { session->state.forceBeatAtTime(beat, micros(time_us), quantum); });
}

int aal_session_set_is_playing(aal_session *session, bool playing, int64_t time_us)
{
    if (!session) return invalid(-1, "no session (NULL handle)");
    return status([&] { session->state.setIsPlaying(playing, micros(time_us)); });
}

bool aal_session_is_playing(const aal_session *session)
{
    return barrier<bool>(false, [&] { return session && session->state.isPlaying(); });
}

int64_t aal_session_time_for_is_playing(const aal_session *session)
{
    return barrier<int64_t>(INT64_MIN, [&] {
        return session ? static_cast<int64_t>(session->state.timeForIsPlaying().count())
                       : invalid<int64_t>(INT64_MIN, "no session (NULL handle)");
    });
}

int aal_session_request_beat_at_start_playing_time(aal_session *session, double beat,
                                                   double quantum)
{
    if (!session) return invalid(-1, "no session (NULL handle)");
    return status([&] { session->state.requestBeatAtStartPlayingTime(beat, quantum); });
}

int aal_session_set_is_playing_and_request_beat_at_time(aal_session *session, bool playing,
                                                        int64_t time_us, double beat,
                                                        double quantum)
{
    if (!session) return invalid(-1, "no session (NULL handle)");
    return status([&] {
        session->state.setIsPlayingAndRequestBeatAtTime(playing, micros(time_us), beat, quantum);
    });
}

} // extern "C"
