// aal_audio.cpp - implements aal_audio.h over ableton::LinkAudio and its
// sinks and sources.  Against Link 3.x (no LinkAudio.hpp) every function
// fails.  Every body runs through the shim's one barrier
// (aal_link_impl.hpp): no C++ exception crosses into C.
#include "aal_audio.h"

#include "aal_link_impl.hpp"

#include <cstring>
#include <string>

using namespace aal_shim;

#if AAL_HAS_LINK_AUDIO

struct aal_sink {
    aal_sink(ableton::LinkAudio &link, const char *name, size_t max)
        : sink(link, std::string(name), max)
    {
    }
    ableton::LinkAudioSink sink;
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

void aal_sink_request_max_samples(aal_sink *sink, size_t samples)
{
    barrier([&] {
        if (sink) sink->sink.requestMaxNumSamples(samples);
    });
}

int aal_sink_write(aal_sink *sink, const aal_link *link, const int16_t *samples, size_t frames,
                   size_t channels, uint32_t rate, double beat, double quantum)
{
    if (!sink || !link || (!samples && frames) || (channels != 1 && channels != 2)) return -1;
    return barrier<int>(-1, [&] {
        const auto state = link->link.captureAppSessionState();
        if (std::isnan(beat)) beat = state.beatAtTime(link->link.clock().micros(), quantum);
        ableton::LinkAudioSink::BufferHandle handle(sink->sink);
        if (!handle || handle.maxNumSamples < frames * channels) return 0;
        std::memcpy(handle.samples, samples, frames * channels * sizeof(int16_t));
        return handle.commit(state, beat, quantum, frames, channels, rate) ? 1 : 0;
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
void aal_sink_request_max_samples(aal_sink *, size_t) {}
int aal_sink_write(aal_sink *, const aal_link *, const int16_t *, size_t, size_t, uint32_t,
                   double, double)
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
