// aal_link.cpp - implements aal_link.h over ableton::Link (ableton::LinkAudio
// on Link 4.0: see aal_link_impl.hpp, the only place that includes Link).
//
// Every extern "C" function runs its body through barrier()
// (aal_link_impl.hpp), whose two overloads hold the only catch blocks: no
// C++ exception crosses into C.  Functions that return a status give 0 on
// success and -1 on failure; every failure is recorded, per thread, for
// aal_last_error().
#include "aal_link.h"

#include "aal_link_impl.hpp"

using namespace aal_shim;

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
