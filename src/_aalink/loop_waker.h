/* loop_waker.h - the wake descriptor a Link's loop watches with add_reader.
 *
 * The scheduler thread and Link's callbacks write to it without the GIL; the
 * loop's reader callback drains it and hands the batch to the Link.  The
 * waker holds only a weak reference to its Link, so a loop does not keep an
 * idle Link alive.  It owns the descriptor and closes it on the loop's
 * thread (or at once when the loop is closed), never while it may still be
 * registered with a selector. */
#ifndef AAL_LOOP_WAKER_H
#define AAL_LOOP_WAKER_H

#include "module_state.h"

extern PyType_Spec LoopWaker_spec;

/* Opens a descriptor and registers it with loop.add_reader (or, for a loop
 * without it, starts a call_soon_threadsafe relay: see loop_relay.h).
 * Call on the loop's thread or while the loop is not running. */
PyObject *loop_waker_attach(aalink_state *state, PyObject *loop, PyObject *link);
int loop_waker_write_fd(PyObject *waker);
/* Stops the relay thread of a loop without add_reader (exit hook). */
void loop_waker_stop_relay(PyObject *waker);
/* Unregisters and closes, now if that is safe from this thread, otherwise
 * through loop.call_soon_threadsafe.  Errors are reported as unraisable. */
void loop_waker_detach(PyObject *waker);

#endif
