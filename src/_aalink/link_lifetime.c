/* link_lifetime.c - what pending sync() futures do to their Link's lifetime:
 * the hold they keep on it (as a pending asyncio.sleep keeps its task),
 * cancelling them when the Link closes, and letting go of them (and of the
 * hold) when their loop is closed. */
#include "link_object.h"

#include "convert.h"
#include "loop_waker.h"

void link_release_future(LinkObject *self, PyObject *fut)
{
    self->n_futures--;
    Py_DECREF(fut);
}

void link_release_hold(LinkObject *self)
{
    if (!self->held)
        return;
    self->held = false;
    if (self->waker)
        loop_waker_hold(self->waker, NULL);
}

void link_update_hold(LinkObject *self)
{
    bool want = self->n_futures > 0 && self->waker != NULL;
    if (want == self->held)
        return;
    if (!want) {
        link_release_hold(self);
        return;
    }
    self->held = true;
    loop_waker_hold(self->waker, (PyObject *)self);
}

/* How link_cancel_pending reaches the futures of the Link's loop. */
enum cancel_how { CANCEL_HERE, CANCEL_THERE, LET_GO };

static enum cancel_how cancel_how(LinkObject *self)
{
    aalink_state *st = self->state;
    if (!self->loop || !st->str_is_closed)
        return LET_GO; /* finalization cleared the module: nothing to call */
    int closed = aal_call_bool_method(self->loop, st->str_is_closed);
    if (closed != 0) {
        PyErr_Clear();
        return LET_GO; /* a closed loop runs no callback: let go */
    }
    int running = aal_call_bool_method(self->loop, st->str_is_running);
    if (running < 0) {
        PyErr_Clear();
        return LET_GO;
    }
    if (!running)
        return CANCEL_HERE;
    PyObject *here = PyObject_CallNoArgs(st->get_running_loop);
    if (!here) {
        PyErr_Clear();
        return LET_GO;
    }
    enum cancel_how how = here == self->loop ? CANCEL_HERE : CANCEL_THERE;
    Py_DECREF(here);
    return how;
}

/* Cancels one future as `how` says; falls back to letting go. */
static void cancel_one(LinkObject *self, PyObject *fut, enum cancel_how *how)
{
    aalink_state *st = self->state;
    PyObject *r = NULL;
    if (*how == CANCEL_HERE) {
        r = PyObject_CallMethodNoArgs(fut, st->str_cancel);
    }
    else if (*how == CANCEL_THERE) {
        PyObject *cancel = PyObject_GetAttr(fut, st->str_cancel);
        r = cancel ? PyObject_CallMethodOneArg(self->loop, st->str_call_soon_threadsafe, cancel)
                   : NULL;
        Py_XDECREF(cancel);
        if (!r)
            *how = LET_GO; /* the loop closed meanwhile: let the rest go */
    }
    else {
        return;
    }
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable(fut);
}

void link_cancel_pending(LinkObject *self)
{
    if (!self->sched || aal_sched_forked(self->sched))
        return;
    aal_batch batch;
    aal_sched_take_all(self->sched, &batch);
    if (batch.n_ready) {
        /* Cancelling can run Python (done-callbacks of other futures):
         * keep the exception in flight, if any. */
        PyObject *in_flight = PyErr_GetRaisedException();
        enum cancel_how how = cancel_how(self);
        for (size_t i = 0; i < batch.n_ready; i++) {
            PyObject *fut = batch.ready[i].ptr;
            cancel_one(self, fut, &how);
            link_release_future(self, fut);
        }
        self->done_pending = 0;
        PyErr_SetRaisedException(in_flight);
    }
    aal_batch_release(&batch);
    link_update_hold(self);
}

typedef struct {
    visitproc visit;
    void *arg;
} visit_ctx;

static int visit_future(void *ptr, void *ctx)
{
    visit_ctx *c = ctx;
    return c->visit((PyObject *)ptr, c->arg);
}

int link_traverse_futures(LinkObject *self, visitproc visit, void *arg)
{
    if (!self->sched || self->n_futures == 0)
        return 0;
    visit_ctx c = {visit, arg};
    return aal_sched_visit(self->sched, visit_future, &c);
}
