/* link_realtime.c - the opt-in real-time mode (Link.realtime).
 *
 * The threads on the timing path move to a real-time policy (platform.h
 * says which, per OS): the Link's scheduler thread, the relay's two threads
 * when the loop has no add_reader, and the thread running the Link's event
 * loop.  That last one is not ours and may serve several Links: each Link
 * takes a reference-counted hold on it (aal_rt_hold_current), from that
 * thread, at its first sync() there (or at once when the mode is turned on
 * there); the last hold released puts it back.  When the loop moves to
 * another thread (a new asyncio.run elsewhere), the next sync() there takes
 * a hold on the new thread and releases the old one.
 *
 * Refused (no CAP_SYS_NICE, RLIMIT_RTPRIO too low): everything goes back,
 * the mode reads False, and one RuntimeWarning says why and what to
 * configure.  The priority: AALINK_RT_PRIORITY (1..99), by default 10.
 *
 * Threads: Python threads with the GIL held (which serialises every change
 * to a Link's mode).  Locks: none of ours but the platform's real-time
 * mutex (a leaf). */
#include "link_object.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop_waker.h"

#define AAL_RT_DEFAULT_PRIORITY 10

/* The priority to ask for: AALINK_RT_PRIORITY, or 10.  -1 with
 * ValueError when it is not an integer in 1..99. */
static int wanted_priority(void)
{
    const char *text = getenv("AALINK_RT_PRIORITY");
    if (!text || !*text)
        return AAL_RT_DEFAULT_PRIORITY;
    char *end;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || value < 1 || value > 99) {
        PyErr_Format(PyExc_ValueError,
                     "AALINK_RT_PRIORITY must be an integer from 1 to 99, not %.40s", text);
        return -1;
    }
    return (int)value;
}

/* Puts every thread of this Link back; the mode reads False after. */
static void lower_all(LinkObject *self)
{
    if (self->sched)
        (void)aal_sched_set_realtime(self->sched, 0);
    if (self->waker)
        (void)loop_waker_set_realtime(self->waker, 0);
    aal_rt_release(self->rt_loop_hold);
    self->rt_loop_hold = NULL;
    self->rt_priority = 0;
}

/* Undoes everything and warns once: 0, or -1 if the warning was turned
 * into an exception. */
static int refused(LinkObject *self, const char *which, int err)
{
    lower_all(self);
    return PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                            "aalink: real-time scheduling was refused for %s (%s), so this "
                            "Link runs at normal priority and Link.realtime reads False; "
                            "to allow it: %s",
                            which, strerror(err), aal_rt_refusal_hint());
}

/* Raises the calling thread (the loop's) and the relay if need be.  An
 * errno value, and which thread it was about. */
static int raise_loop_side(LinkObject *self, const char **which)
{
    int rc = 0;
    if (self->waker) {
        rc = loop_waker_set_realtime(self->waker, self->rt_priority);
        if (rc != 0) {
            *which = "the relay threads (aalink-relay)";
            return rc;
        }
    }
    if (aal_rt_is_current(self->rt_loop_hold))
        return 0;
    aal_rt_hold *hold;
    rc = aal_rt_hold_current(self->rt_priority, &hold);
    if (rc != 0) {
        *which = "the event loop's thread";
        return rc;
    }
    /* The loop moved here: let go of the thread it ran on before. */
    aal_rt_release(self->rt_loop_hold);
    self->rt_loop_hold = hold;
    return 0;
}

/* Whether the calling thread runs this Link's bound loop: 1, 0, or -1
 * with an exception. */
static int on_loop_thread(LinkObject *self)
{
    if (!self->loop)
        return 0;
    PyObject *running = PyObject_CallNoArgs(self->state->get_running_loop);
    if (!running)
        return -1;
    int here = running == self->loop;
    Py_DECREF(running);
    return here;
}

int link_realtime_on_loop_thread(LinkObject *self)
{
    if (!self->rt_priority)
        return 0;
    const char *which = "";
    int rc = raise_loop_side(self, &which);
    return rc == 0 ? 0 : refused(self, which, rc);
}

void link_realtime_release(LinkObject *self)
{
    lower_all(self);
}

static int realtime_on(LinkObject *self)
{
    int priority = wanted_priority();
    if (priority < 0)
        return -1;
    if (self->rt_priority == priority) {
        /* Already on: just the loop's thread, if this is it (cheap). */
        int here = on_loop_thread(self);
        return here < 0 ? -1 : here ? link_realtime_on_loop_thread(self) : 0;
    }
    lower_all(self); /* a new priority: start over */
    int rc = aal_sched_set_realtime(self->sched, priority);
    if (rc != 0)
        return refused(self, "the scheduler thread (aalink-sched)", rc);
    self->rt_priority = priority;
    int here = on_loop_thread(self);
    if (here < 0) {
        lower_all(self);
        return -1;
    }
    /* Elsewhere the loop's thread is raised at the next sync() there; the
     * relay, if any, at once. */
    const char *which = "";
    rc = here ? raise_loop_side(self, &which) : 0;
    if (rc == 0 && !here && self->waker) {
        rc = loop_waker_set_realtime(self->waker, priority);
        which = "the relay threads (aalink-relay)";
    }
    return rc == 0 ? 0 : refused(self, which, rc);
}

int link_realtime_set(LinkObject *self, bool on)
{
    if (on)
        return realtime_on(self);
    lower_all(self);
    return 0;
}

AAL_DOC(Link_realtime_doc,
        "Whether this Link's timing threads run under a real-time policy\n"
        "(SCHED_FIFO on Linux): its scheduler thread, the thread running its\n"
        "event loop (from the next sync() there) and, for a loop without\n"
        "add_reader, the relay's threads.  Reads what was granted: set True and\n"
        "it reads False (with a RuntimeWarning) when the system refuses.  The\n"
        "priority is AALINK_RT_PRIORITY (1..99), by default 10.");

PyObject *Link_get_realtime(LinkObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->rt_priority != 0);
}

int Link_set_realtime(LinkObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (link_refuse_delete(value, "realtime") < 0 || link_check_usable(self) < 0)
        return -1;
    int on = PyObject_IsTrue(value);
    if (on < 0)
        return -1;
    return link_realtime_set(self, on);
}
