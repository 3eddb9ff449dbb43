/* audio.h - Link Audio from Python: the Link's audio properties and
 * channels (audio_link.c), AudioSink (audio_sink.c), AudioSource
 * (audio_source.c) and the native ring a source fills (audio_ring.c).
 *
 * Threads.  Every function here runs on a Python thread with the GIL held,
 * unless it says otherwise; the ring's push runs on Link's thread and never
 * takes the GIL.  Calls into Link (the shim, aal_audio.h) are made with the
 * GIL released.
 *
 * Locks (docs/design.md has the whole order):
 *   GIL (released) -> a sink's write_mu -> Link's locks
 *   Link's source callback lock -> a source ring's mu (a leaf)
 *   Link's callback lock -> the Link audio state's mu (a leaf)
 * A ring's or the audio state's mu is never held while calling into Link
 * or Python; Python threads take it with the GIL held (its holders never
 * wait for anything). */
#ifndef AAL_AUDIO_H_PY
#define AAL_AUDIO_H_PY

#include <stdbool.h>
#include <stdint.h>

#include "aal_audio.h"
#include "module_state.h"
#include "platform.h"

/* ---- audio_ring.c: received buffers, written without the GIL ---- */

typedef struct aal_ring_slot {
    aal_audio_block meta; /* meta.samples unused */
    int16_t *buf;         /* malloc'd; taken over by aal_ring_pop */
    size_t cap;           /* samples buf holds */
} aal_ring_slot;

typedef struct aal_ring {
    aal_mutex mu; /* a leaf; guards everything below */
    aal_ring_slot *slots;
    size_t n, head, len;
    uint64_t received;       /* buffers Link handed us */
    uint64_t dropped;        /* the oldest, dropped when full (or no memory) */
    uint64_t out_of_session; /* from another Link session (beats NaN) */
    int wake_fd;             /* signalled once per batch; -1: none */
    bool signalled;          /* a wake is outstanding */
} aal_ring;

/* Default and largest ring sizes, in buffers. */
#define AAL_RING_DEFAULT 64
#define AAL_RING_MAX 65536

/* 0, or -1 (no memory).  Thread: any.  GIL: any. */
int aal_ring_init(aal_ring *r, size_t n_slots);
void aal_ring_destroy(aal_ring *r);
/* Copies a block in, dropping the oldest when full; signals wake_fd when
 * no wake is outstanding.  Thread: Link's (the source callback).  GIL:
 * never.  Locks: mu. */
void aal_ring_push(aal_ring *r, const aal_audio_block *block);
/* Takes the oldest block: its metadata and its samples (malloc'd, the
 * caller frees; NULL for an empty block).  false when empty.  Thread: the
 * loop's.  GIL: held.  Locks: mu. */
bool aal_ring_pop(aal_ring *r, aal_audio_block *meta, int16_t **samples);
/* Marks the batch taken: the next push signals again.  Locks: mu. */
void aal_ring_rearm(aal_ring *r);
/* Signals again if blocks are left and no wake is outstanding.  Locks: mu. */
void aal_ring_wake(aal_ring *r);
/* Sets the wake descriptor (-1: none).  Locks: mu. */
void aal_ring_set_wake_fd(aal_ring *r, int fd);

/* ---- audio objects a Link owns (closed with it) ---- */

typedef struct aal_audio_member {
    PyObject *self;
    void (*close)(PyObject *self); /* GIL held; may release it */
    bool is_source;                /* an AudioSource (else an AudioSink) */
    struct aal_audio_member *next, **prev;
} aal_audio_member;

/* A Link's audio state (LinkObject.audio, created on first use). */
typedef struct aal_link_audio {
    aal_mutex mu;      /* a leaf: wake_fd, signalled */
    int wake_fd;       /* the channels waker's descriptor, or -1 */
    bool signalled;
    bool native_cb;    /* our channels callback is set in Link */
    PyObject *callback; /* channels changed: callable, or NULL */
    PyObject *waker;   /* LoopWaker for channel changes, or NULL */
    PyObject *loop;    /* the waker's loop, or NULL */
    aal_audio_member *members;
} aal_link_audio;

/* ---- audio_link.c ---- */

/* RuntimeError unless this build has Link Audio, and the Link is usable:
 * 0 or -1. */
int audio_check(LinkObject *link);
/* The Link's audio state, created on first use: NULL with an exception. */
aal_link_audio *audio_state_of(LinkObject *link);
void audio_member_add(LinkObject *link, aal_audio_member *m);
/* Watches the session's channels on the Link's loop (its waker and Link's
 * native callback): for the channels callback and for sources, whose
 * channel may vanish.  Moves to the Link's current loop if the watched one
 * closed.  0, or -1 with an exception.  GIL: held (released inside).
 * Locks: session_mu and the audio state's mu, one at a time. */
int audio_watch_channels(LinkObject *link);
/* The Link let go of its closed loop (link_detach_loop): sources on a
 * closed loop end, letting go of their waiters.  GIL: held. */
void audio_link_loop_closed(LinkObject *link);
void audio_member_remove(aal_audio_member *m);
/* Closes every sink and source of the Link, and stops channel callbacks;
 * before its native Link is destroyed (link_close_native).  GIL: held
 * (released inside). */
void audio_link_close(LinkObject *link);
/* Frees the audio state (dealloc), after audio_link_close. */
void audio_link_free(LinkObject *link);
int audio_link_traverse(LinkObject *link, visitproc visit, void *arg);
void audio_link_clear(LinkObject *link);
/* Parses a channel id: a Channel, or 16 hex digits.  0 or -1. */
int audio_parse_id(PyObject *obj, aal_audio_id *out);
PyObject *audio_id_str(const aal_audio_id *id);
/* Adds the types (Channel, AudioBlock, AudioSink, AudioSource) and
 * HAS_LINK_AUDIO to the module.  0 or -1. */
int audio_module_exec(PyObject *module, aalink_state *st);

/* The Link's table entries (link_object.c). */
PyObject *Link_get_audio_enabled(LinkObject *self, void *closure);
int Link_set_audio_enabled(LinkObject *self, PyObject *value, void *closure);
extern const char Link_audio_enabled_doc[];
PyObject *Link_get_peer_name(LinkObject *self, void *closure);
int Link_set_peer_name(LinkObject *self, PyObject *value, void *closure);
extern const char Link_peer_name_doc[];
PyObject *Link_get_channels(LinkObject *self, void *closure);
extern const char Link_channels_doc[];
PyObject *Link_set_channels_callback(LinkObject *self, PyObject *cb);
extern const char Link_set_channels_callback_doc[];
PyObject *Link_sink(LinkObject *self, PyObject *args, PyObject *kwds);
extern const char Link_sink_doc[];
PyObject *Link_source(LinkObject *self, PyObject *args, PyObject *kwds);
extern const char Link_source_doc[];

/* ---- audio_sink.c, audio_source.c ---- */
extern PyType_Spec AudioSink_spec;
extern PyType_Spec AudioSource_spec;
/* New objects (the Link's methods call these). */
PyObject *audio_sink_new(LinkObject *link, PyObject *name, Py_ssize_t max_samples);
PyObject *audio_source_new(LinkObject *link, const aal_audio_id *id, PyObject *channel,
                           PyObject *callback, PyObject *on_close, Py_ssize_t ring);
/* The channels changed (a list of Channel): a source whose channel is gone
 * unsubscribes, delivers what it holds, then its `async for` raises
 * LookupError.  Loop's thread, GIL held.  0, or -1 with an exception. */
int audio_source_channels_changed(PyObject *source, PyObject *channels);
/* Ends the source if its loop is closed (letting go of its waiter: a
 * closed loop runs no callback).  GIL held. */
void audio_source_check_loop(PyObject *source);

#endif
