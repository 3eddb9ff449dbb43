/* link_object.h - the Python-facing Link type. */
#ifndef AAL_LINK_OBJECT_H
#define AAL_LINK_OBJECT_H

#include <stdbool.h>

#include "aal_link.h"
#include "lateness.h"
#include "platform.h"
#include "module_state.h"
#include "scheduler.h"

#define AAL_N_CALLBACK_KINDS 3

struct LinkObject {
    PyObject_HEAD
    aalink_state *state;
    aal_link *link;
    aal_sched *sched;
    /* Capture buffer for calls from Python threads; session_mu is taken
     * with the GIL released and never held while waiting for it. */
    aal_session *session;
    aal_mutex session_mu;
    double quantum;
    double lead;     /* seconds: default for sync(lead=None) */
    aal_lateness lateness;
    PyObject *loop;  /* the bound event loop, or NULL */
    PyObject *waker; /* LoopWaker registered with loop, or NULL */
    PyObject *callbacks[AAL_N_CALLBACK_KINDS]; /* lists */
    /* The waker's bound _future_done, added to each pending future.  It
     * reaches this Link through the waker's weak reference: no cycle. */
    PyObject *on_future_done;
    PyObject *weakreflist;
    Py_ssize_t done_pending; /* futures done elsewhere but still queued */
    uint64_t given_back;     /* hand-offs whose beat moved away (for tests) */
    bool closed;
    bool follow; /* Link(None): adopt the session found on enabling */
    LinkObject *next_live; /* the state's list of live Links */
    LinkObject **prev_live;
};

extern PyType_Spec Link_spec;

/* Called by the LoopWaker on the loop's thread: resolves due futures and
 * delivers recorded Link events.  -1 only for SystemExit/KeyboardInterrupt
 * raised by a user callback. */
int link_drain(LinkObject *self);

/* A pending future was cancelled (or resolved by someone else): called on
 * the loop's thread by the waker's _future_done. */
void link_future_done(LinkObject *self);

/* Stops the native side (scheduler thread, Link's threads and sockets).
 * Idempotent; used by close(), dealloc and the interpreter-exit hook. */
void link_close_native(LinkObject *self);

#endif
