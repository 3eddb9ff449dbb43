/* loop_relay.h - delivery for event loops without add_reader().
 *
 * Windows' proactor loop cannot watch a descriptor.  For such loops a relay
 * thread waits on the wake descriptor and posts the waker's callback with
 * loop.call_soon_threadsafe, taking the GIL to do so.  The scheduler thread
 * itself still never waits for the GIL: only this relay does, and it checks
 * for interpreter finalization first (the exit hook stops relays before). */
#ifndef AAL_LOOP_RELAY_H
#define AAL_LOOP_RELAY_H

#include "compat.h"

typedef struct aal_relay aal_relay;

/* Starts relaying readiness of watch_fd to loop.call_soon_threadsafe(callback).
 * Thread: any Python thread.  GIL: held.  Starts two threads: the relay
 * thread (never takes the GIL) and the GIL thread (takes the GIL to post).
 * NULL with an exception on failure. */
aal_relay *aal_relay_start(int watch_fd, PyObject *loop, PyObject *callback);

/* Moves both relay threads to the real-time policy at `priority`
 * (platform.h: aal_rt_raise), or back with 0.  0, or an errno value (the
 * threads stay as they were).  NULL is fine (0).  Thread: any Python
 * thread, while the relay runs.  GIL: held (it serialises the callers).
 * Locks: none. */
int aal_relay_set_realtime(aal_relay *relay, int priority);

/* Stops and joins the relay (releasing the GIL meanwhile), then frees it.
 * Thread: any Python thread, or the exit hook.  GIL: held (released while
 * joining).  Locks: the relay's mutex, a leaf lock (held for a few
 * assignments, with or without the GIL, never while waiting for anything
 * else).  NULL is fine. */
void aal_relay_stop(aal_relay *relay);

/* Visits the references the relay holds (its loop and callback) for the
 * garbage collector of its owner (the waker): a relay of a closed loop
 * must not make its waker, and so a Link, look referenced from outside.
 * Thread: the GC's.  GIL: held.  Locks: none (the fields change only with
 * the GIL).  NULL is fine. */
int aal_relay_traverse(aal_relay *relay, visitproc visit, void *arg);

#endif
