// aal_audio.cpp - implements aal_audio.h over ableton::LinkAudio and its
// sinks and sources.  Against Link 3.x (no LinkAudio.hpp) every function
// fails.  Every body runs through the shim's one barrier
// (aal_link_impl.hpp): no C++ exception crosses into C.
#include "aal_audio.h"

#include "aal_link_impl.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

using namespace aal_shim;

#if AAL_HAS_LINK_AUDIO

struct aal_sink {
    aal_sink(ableton::LinkAudio &link, const char *name, size_t max)
        : sink(link, std::string(name), max)
    {
    }
    ableton::LinkAudioSink sink;
    // The stream so far, for the default beat and for jumps (aal_sink_write;
    // guarded by the caller's serialisation of writes).
    bool has_end = false;           // a write set the three below
    double end_beat = 0;            // where it ended: local beats ...
    double end_quantum = 0;         // ... for this quantum
    ableton::link::SessionId end_session{};
    bool committed = false;         // the last write reached Link whole
    double committed_end = 0;       // and ended at this session beat
    unsigned nudge = 0;             // the last tempo nudge (1..kNudges)
    size_t since_nudge = SIZE_MAX / 2; // frames committed since then
};

struct aal_source {
    ableton::LinkAudioSource *source = nullptr;
};

namespace {

aal_audio_id to_c(const ableton::ChannelId &id)
{
    aal_audio_id out;
    std::memcpy(out.bytes, id.data(), sizeof out.bytes);
    return out;
}

ableton::ChannelId from_c(const aal_audio_id &id)
{
    ableton::link::NodeIdArray bytes;
    std::memcpy(bytes.data(), id.bytes, sizeof id.bytes);
    return ableton::ChannelId(bytes);
}

void copy_name(char *dst, const std::string &src)
{
    const size_t n = std::min(src.size(), static_cast<size_t>(AAL_AUDIO_NAME_MAX));
    std::memcpy(dst, src.data(), n);
    dst[n] = '\0';
}

} // namespace

extern "C" {

bool aal_audio_available(void) { return true; }

int aal_audio_enable(aal_link *link, bool enable)
{
    if (!link) return -1;
    return status([&] { link->link.enableLinkAudio(enable); });
}

bool aal_audio_is_enabled(const aal_link *link)
{
    return barrier<bool>(false, [&] { return link && link->link.isLinkAudioEnabled(); });
}

int aal_audio_peer_name(const aal_link *link, char *buf, size_t cap)
{
    if (!link || !buf || cap == 0) return -1;
    return barrier<int>(-1, [&] {
        const std::string name = link->link.peerName();
        const size_t n = std::min(name.size(), cap - 1);
        std::memcpy(buf, name.data(), n);
        buf[n] = '\0';
        return static_cast<int>(n);
    });
}

int aal_audio_set_peer_name(aal_link *link, const char *name)
{
    if (!link || !name) return -1;
    return status([&] { link->link.setPeerName(std::string(name)); });
}

int aal_audio_channels(const aal_link *link, aal_channel *out, size_t cap)
{
    if (!link || (!out && cap)) return -1;
    return barrier<int>(-1, [&] {
        const auto channels = link->link.channels();
        for (size_t i = 0; i < channels.size() && i < cap; i++) {
            out[i].id = to_c(channels[i].id);
            out[i].peer_id = to_c(channels[i].peerId);
            copy_name(out[i].name, channels[i].name);
            copy_name(out[i].peer_name, channels[i].peerName);
        }
        return static_cast<int>(channels.size());
    });
}

int aal_audio_set_channels_callback(aal_link *link, aal_channels_fn fn, void *context)
{
    if (!link) return -1;
    return status([&] {
        link->link.setChannelsChangedCallback([fn, context]() {
            if (fn) fn(context);
        });
    });
}

aal_sink *aal_sink_create(aal_link *link, const char *name, size_t max_samples)
{
    if (!link || !name) return nullptr;
    return barrier<aal_sink *>(nullptr,
                               [&] { return new aal_sink(link->link, name, max_samples); });
}

void aal_sink_destroy(aal_sink *sink)
{
    barrier([&] { delete sink; });
}

int aal_sink_set_name(aal_sink *sink, const char *name)
{
    if (!sink || !name) return -1;
    return status([&] { sink->sink.setName(std::string(name)); });
}

size_t aal_sink_max_samples(const aal_sink *sink)
{
    return barrier<size_t>(0, [&] { return sink ? sink->sink.maxNumSamples() : 0; });
}

// Link 4.0's sink packs buffers into packets (link_audio/Resizer.hpp) and
// starts a new beat-stamped chunk inside a packet only when a buffer's tempo
// differs from the open chunk's AND its beat does not follow on from it: a
// buffer whose beat jumps at the same tempo is appended to the open chunk,
// i.e. stamped where the stream was.  And a chunk that goes on into the
// next packet is stamped there at its begin plus its length rounded to
// micro-beats, a rounding that adds up (-0.33 micro-beats a packet at 120
// bpm, 48 kHz, stereo: 64 us a second).  A write that does not provably
// follow on from the previous one sent, and every kRestampFrames frames
// of a stream, is therefore committed with the session's tempo nudged by a
// few ulps: that forces a new chunk stamped at its own beat whenever the
// beat differs from the open chunk's end.  The nudge goes round kNudges
// values, more than a packet's writes, so it always differs from the open
// chunk's; the tempo goes out as microseconds per beat, where the nudge
// vanishes, and the beat mapping does not use the tempo
// (BeatTimeMapping.hpp).  At most one nudge per kMinNudgeFrames frames
// keeps a packet's chunks (at most 251 frames) within Link's message size
// (1200 bytes: about 23 chunks; beyond, Link throws on its own thread).
namespace {
constexpr unsigned kNudges = 1024;
constexpr size_t kRestampFrames = 1024;
constexpr size_t kMinNudgeFrames = 16;

double nudged_tempo(double bpm, unsigned n)
{
    const double toward = bpm < 500 ? INFINITY : -INFINITY; // Link clamps to 20..999
    for (unsigned i = 0; i < n; i++) bpm = std::nextafter(bpm, toward);
    return bpm;
}
} // namespace

int aal_sink_write(aal_sink *sink, const aal_link *link, const int16_t *samples, size_t frames,
                   size_t channels, uint32_t rate, double beat, double quantum,
                   double *begin_out)
{
    if (!sink || !link || (!samples && frames) || (channels != 1 && channels != 2) || !rate)
        return -1;
    if (frames == 0) return 0; // nothing to send; the stream does not move
    return barrier<int>(-1, [&] {
        const auto state = link->link.captureAppSessionState();
        const auto &api = ableton::detail::linkApiState(state);
        const double bpm = state.tempo();
        const double beats_per_frame = bpm / 60.0 / rate;
        if (std::isnan(beat)) {
            const double now = state.beatAtTime(link->link.clock().micros(), quantum);
            beat = now;
            if (sink->has_end && sink->end_quantum == quantum &&
                sink->end_session == api.timelineSessionId) {
                const double lead = (sink->end_beat - now) * 60.0 / bpm; // seconds
                if (lead >= -AAL_SINK_BEHIND_S && lead <= AAL_SINK_AHEAD_S)
                    beat = sink->end_beat;
            }
        }
        if (begin_out) *begin_out = beat;
        // Whatever Link does with it, the stream's next buffer follows this one.
        sink->has_end = true;
        sink->end_beat = beat + frames * beats_per_frame;
        sink->end_quantum = quantum;
        sink->end_session = api.timelineSessionId;
        const double session_beat =
            ableton::link_audio::globalBeatAtBeat(api.timeline, ableton::link::Beats{beat},
                                                  ableton::link::Beats{quantum})
                .floating();
        const bool follows = sink->committed &&
                             std::fabs(session_beat - sink->committed_end) <=
                                 0.5 * beats_per_frame;
        sink->committed = false;
        const auto now = link->link.clock().micros();
        // In pieces of at most the sink's buffer size (Link's maxNumSamples):
        // growing a sink (requestMaxNumSamples) makes Link 4.0 send its
        // too-small queued buffers again, stale audio (Sink::retainBuffer
        // releases them without clearing their tempo), so it never grows.
        size_t done = 0;
        int waits = 0;
        do {
            ableton::LinkAudioSink::BufferHandle handle(sink->sink);
            if (!handle) {
                // Nobody listens, or no buffer free: the first piece is
                // simply not sent; a later one waits for Link's thread,
                // which frees buffers every millisecond (up to 20 ms).
                if (done == 0 || ++waits > 80) return 0;
                std::this_thread::sleep_for(std::chrono::microseconds(250));
                continue;
            }
            if (handle.maxNumSamples < channels) return 0;
            const size_t n = std::min(frames - done, handle.maxNumSamples / channels);
            std::memcpy(handle.samples, samples + done * channels,
                        n * channels * sizeof(int16_t));
            auto piece_state = state;
            if (sink->since_nudge >= kMinNudgeFrames &&
                ((done == 0 && !follows) || sink->since_nudge >= kRestampFrames)) {
                sink->nudge = sink->nudge % kNudges + 1;
                piece_state.setTempo(nudged_tempo(bpm, sink->nudge), now);
                sink->since_nudge = 0;
            }
            if (!handle.commit(piece_state, beat + done * beats_per_frame, quantum, n,
                               channels, rate))
                return 0;
            sink->since_nudge += n;
            done += n;
        } while (done < frames);
        sink->committed = true;
        sink->committed_end = session_beat + frames * beats_per_frame;
        return 1;
    });
}

aal_source *aal_source_create(aal_link *link, aal_audio_id id, double quantum,
                              aal_audio_block_fn fn, void *context)
{
    if (!link || !fn) return nullptr;
    return barrier<aal_source *>(nullptr, [&] {
        auto source = std::make_unique<aal_source>();
        source->source = new ableton::LinkAudioSource(
            link->link, from_c(id),
            [link, quantum, fn, context](ableton::LinkAudioSource::BufferHandle handle) {
                // Link's thread: no exception may leave (the source's
                // callback is called from Link's io loop).
                barrier([&] {
                    const auto &info = handle.info;
                    aal_audio_block block;
                    block.samples = handle.samples;
                    block.frames = info.numFrames;
                    block.channels = info.numChannels;
                    block.rate = info.sampleRate;
                    block.count = info.count;
                    block.tempo = info.tempo;
                    block.session_beat = info.sessionBeatTime;
                    const auto state = link->link.captureAppSessionState();
                    const auto begin = info.beginBeats(state, quantum);
                    const auto end = info.endBeats(state, quantum);
                    block.in_session = begin.has_value() && end.has_value();
                    block.begin_beat = begin ? *begin : NAN;
                    block.end_beat = end ? *end : NAN;
                    fn(&block, context);
                });
            });
        return source.release();
    });
}

void aal_source_destroy(aal_source *source)
{
    barrier([&] {
        if (source) delete source->source;
        delete source;
    });
}

} // extern "C"

#else // no Link Audio in this engine: every call fails

extern "C" {

bool aal_audio_available(void) { return false; }
int aal_audio_enable(aal_link *, bool) { return -1; }
bool aal_audio_is_enabled(const aal_link *) { return false; }
int aal_audio_peer_name(const aal_link *, char *, size_t) { return -1; }
int aal_audio_set_peer_name(aal_link *, const char *) { return -1; }
int aal_audio_channels(const aal_link *, aal_channel *, size_t) { return -1; }
int aal_audio_set_channels_callback(aal_link *, aal_channels_fn, void *) { return -1; }
aal_sink *aal_sink_create(aal_link *, const char *, size_t) { return nullptr; }
void aal_sink_destroy(aal_sink *) {}
int aal_sink_set_name(aal_sink *, const char *) { return -1; }
size_t aal_sink_max_samples(const aal_sink *) { return 0; }
int aal_sink_write(aal_sink *, const aal_link *, const int16_t *, size_t, size_t, uint32_t,
                   double, double, double *)
{
    return -1;
}
aal_source *aal_source_create(aal_link *, aal_audio_id, double, aal_audio_block_fn, void *)
{
    return nullptr;
}
void aal_source_destroy(aal_source *) {}

} // extern "C"

#endif
