/* aal_audio.h - a plain C API over Link Audio (ableton::LinkAudio, its
 * sinks and sources; Link 4.0 on).  Built against Link 3.x every function
 * here fails (aal_audio_available() is false).  Same conventions as
 * aal_link.h: no function throws, failures come back as NULL, -1 or false,
 * and no function takes a lock of ours.
 *
 * Threads.  "Any" means any thread but Link's own (the one that runs our
 * callbacks).  Functions that call into Link's controller (enable, names,
 * channels, creating and destroying sinks and sources) are not realtime-safe
 * and may wait for Link's thread: the project calls them with the GIL
 * released. */
#ifndef AAL_AUDIO_H
#define AAL_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aal_link.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Names longer than this are truncated by Link. */
#define AAL_AUDIO_NAME_MAX 256

typedef struct aal_sink aal_sink;
typedef struct aal_source aal_source;

/* An id of a channel or peer: 8 bytes. */
typedef struct aal_audio_id {
    uint8_t bytes[8];
} aal_audio_id;

typedef struct aal_channel {
    aal_audio_id id;
    aal_audio_id peer_id;
    char name[AAL_AUDIO_NAME_MAX + 1];      /* NUL-terminated UTF-8 */
    char peer_name[AAL_AUDIO_NAME_MAX + 1]; /* NUL-terminated UTF-8 */
} aal_channel;

/* One received buffer, valid only during the callback. */
typedef struct aal_audio_block {
    const int16_t *samples; /* frames * channels, interleaved */
    size_t frames;
    size_t channels;
    uint32_t rate;
    uint64_t count;      /* the sender's sequence number */
    double tempo;        /* bpm */
    double session_beat; /* the sender's beat at the start (session beat time) */
    bool in_session;     /* false: another Link session; begin/end are NaN */
    double begin_beat;   /* on the receiver's timeline, for its quantum */
    double end_beat;
} aal_audio_block;

/* Called on Link's thread, with the source's callback lock held (the
 * source's destruction waits for it).  It must not call into Link or take
 * the GIL; it may take leaf locks. */
typedef void (*aal_audio_block_fn)(const aal_audio_block *block, void *context);
/* Called on Link's thread with Link's callback lock held: as aal_peers_fn. */
typedef void (*aal_channels_fn)(void *context);

/* True when built with Link Audio.  Thread: any.  Blocks: no. */
bool aal_audio_available(void);

/* Enable or disable Link Audio, read the flag: 0/-1, and the flag (false on
 * failure).  Thread: any.  Blocks: enable may.  GIL: not held (enable). */
int aal_audio_enable(aal_link *link, bool enable);
bool aal_audio_is_enabled(const aal_link *link);
/* The local peer name into buf (NUL-terminated, truncated to cap - 1): its
 * length, or -1.  Setting: 0/-1.  Thread: any.  GIL: not held. */
int aal_audio_peer_name(const aal_link *link, char *buf, size_t cap);
int aal_audio_set_peer_name(aal_link *link, const char *name);
/* The session's channels: writes up to cap into out and returns how many
 * there are (may exceed cap: call again with more room), or -1.
 * Thread: any.  GIL: not held. */
int aal_audio_channels(const aal_link *link, aal_channel *out, size_t cap);
/* Sets (fn NULL: clears) the channels-changed callback; once this returns
 * the old one is not running and will not run again.  Thread: any, not
 * from a callback.  Blocks: takes Link's callback lock.  GIL: not held. */
int aal_audio_set_channels_callback(aal_link *link, aal_channels_fn fn, void *context);

/* ---- Sinks: one announced channel each ---- */

/* A sink announcing `name`, with room for max_samples per buffer; NULL on
 * failure.  destroy withdraws the channel; NULL is fine.  The sink must be
 * destroyed before its Link.  Thread: any.  GIL: not held. */
aal_sink *aal_sink_create(aal_link *link, const char *name, size_t max_samples);
void aal_sink_destroy(aal_sink *sink);
/* Renames the sink's channel (Link truncates to 256 bytes): 0/-1.  Not
 * thread-safe for one sink (Link's words): the caller serialises it with
 * writes.  Thread: any.  GIL: not held. */
int aal_sink_set_name(aal_sink *sink, const char *name);
/* Room per buffer, in samples: a longer write goes in pieces of this size
 * (the sink never grows: Link 4.0 re-sends stale audio when it does).
 * Thread-safe and realtime-safe (Link's words).  Thread: any. */
size_t aal_sink_max_samples(const aal_sink *sink);

/* How far the previous buffer's end may lie behind or ahead of the beat now,
 * in seconds, for a write without a beat to follow on from it. */
#define AAL_SINK_BEHIND_S 0.1
#define AAL_SINK_AHEAD_S 1.0

/* Writes one buffer of frames * channels samples starting at `beat` for
 * `quantum`, with the Link's current session state, into Link's retained
 * buffers (in pieces of aal_sink_max_samples; a later piece waits up to
 * 20 ms for a free buffer).  beat NaN: where the sink's previous buffer
 * ended (its beat plus its frames at its rate and tempo), if that lies
 * within AAL_SINK_BEHIND_S before and AAL_SINK_AHEAD_S after the beat now,
 * for the same quantum and session; else the beat now.  Every write with
 * frames moves that end, sent or not.  A write that does not follow on
 * from the previous one sent is stamped at its own beat all the same (see
 * the workaround in aal_audio.cpp).  *begin_out (may be NULL) gets the beat
 * used.  1: sent; 0: not sent (nobody listens, no buffer free, no frames;
 * or only in part); -1: failure.  Not thread-safe for one sink (one buffer
 * handle at a time): the caller serialises writes to a sink and destroys it
 * only when no write runs.  Thread: any.  Blocks: briefly (captures the
 * session; waits for a buffer for a later piece).  GIL: not held. */
int aal_sink_write(aal_sink *sink, const aal_link *link, const int16_t *samples, size_t frames,
                   size_t channels, uint32_t rate, double beat, double quantum,
                   double *begin_out);

/* ---- Sources: a subscription to one channel ---- */

/* Subscribes to channel `id`; fn gets every buffer on Link's thread, its
 * beats mapped for `quantum`.  NULL on failure.  destroy unsubscribes and
 * waits out a callback under way (after it returns fn is never called
 * again); it must run before the Link's destruction.  Thread: any.
 * Blocks: destroy, on a callback under way.  GIL: not held. */
aal_source *aal_source_create(aal_link *link, aal_audio_id id, double quantum,
                              aal_audio_block_fn fn, void *context);
void aal_source_destroy(aal_source *source);

#ifdef __cplusplus
}
#endif

#endif /* AAL_AUDIO_H */
