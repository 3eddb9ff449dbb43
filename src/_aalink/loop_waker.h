/* loop_waker.h - the wake descriptor an owner's event loop watches with
 * add_reader.
 *
 * The scheduler thread and Link's callbacks write to it without the GIL; the
 * loop's reader callback clears (reads out) the descriptor and tells its
 * client that a batch is ready.  The waker holds only a weak reference to
 * its owner, so a loop does not keep an idle owner alive (a strong one only
 * while the owner has pending futures: loop_waker_hold), and knows the
 * owner only through the client interface it was given.  It owns the
 * descriptor and closes it on the loop's thread (or at once when the loop
 * is closed), never while it may still be registered with a selector.
 *
 * Threads: every function here runs on a Python thread with the GIL held,
 * except loop_waker_write_fd's result, which the scheduler writes to from
 * its own thread.  Locks: none of its own (a relay's, see loop_relay.h). */
#ifndef AAL_LOOP_WAKER_H
#define AAL_LOOP_WAKER_H

#include "module_state.h"

/* What the waker calls back, on the loop's thread with the GIL held, with
 * a strong reference to the owner for the duration of the call. */
typedef struct aal_waker_client {
    /* The descriptor was signalled: deliver what is ready.  0, or -1 with
     * an exception for the loop's reader callback to raise. */
    int (*batch_ready)(PyObject *owner);
    /* A future handed out with loop_waker_future_done_callback is done. */
    void (*future_done)(PyObject *owner);
} aal_waker_client;

extern PyType_Spec LoopWaker_spec;

/* Opens a descriptor and registers it with loop.add_reader (or, for a loop
 * without it, starts a call_soon_threadsafe relay: see loop_relay.h).
 * `client` must outlive the waker (a static table); `owner` is held weakly.
 * Thread: the loop's thread, or any thread while the loop is not running.
 * GIL: held.  A new reference, or NULL with an exception. */
PyObject *loop_waker_attach(aalink_state *state, PyObject *loop, PyObject *owner,
                            const aal_waker_client *client);
/* The callable to add to futures with add_done_callback: it calls the
 * client's future_done.  A new reference, or NULL with an exception.
 * Thread: any.  GIL: held. */
PyObject *loop_waker_future_done_callback(PyObject *waker);
/* The descriptor the scheduler writes to (-1 once closed).
 * Thread: any.  GIL: held. */
int loop_waker_write_fd(PyObject *waker);
/* The hold of pending futures on their owner (link_lifetime.c): with an
 * owner, the waker holds it strongly (and shows that reference to the
 * garbage collector), as the loop's reader and the futures' done-callbacks
 * reach the waker; with NULL it lets go (which may free the owner: the
 * caller holds its own reference).  Thread: any.  GIL: held. */
void loop_waker_hold(PyObject *waker, PyObject *owner);
/* Stops the relay thread of a loop without add_reader (close, exit hook).
 * Thread: any Python thread.  GIL: held (released while joining).
 * Locks: the relay's, with the GIL released. */
void loop_waker_stop_relay(PyObject *waker);
/* Real-time policy for the relay's threads, if this waker has a relay (a
 * loop without add_reader): see aal_relay_set_realtime.  0 (also without
 * a relay), or an errno value.  Thread: any Python thread.  GIL: held. */
int loop_waker_set_realtime(PyObject *waker, int priority);
/* Unregisters and closes, now if that is safe from this thread, otherwise
 * through loop.call_soon_threadsafe.  Errors are reported as unraisable.
 * Thread: any Python thread.  GIL: held.  Locks: as loop_waker_stop_relay. */
void loop_waker_detach(PyObject *waker);

#endif
