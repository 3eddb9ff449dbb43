/* link_extras.c - what Link offers beyond sync() and the session
 * properties: beat <-> time conversion, the clock offset, tempo ramps,
 * every(), the default lead, lateness statistics and scheduler counters. */
#include "link_object.h"

#include "convert.h"

AAL_DOC(Link_time_at_beat_doc,
        "time_at_beat($self, beat, /)\n--\n\n"
        "Link clock time (datetime.timedelta, the clock of Link.time) at which the\n"
        "timeline reaches beat, for the current quantum and tempo.");

PyObject *Link_time_at_beat(LinkObject *self, PyObject *beat)
{
    double b;
    int64_t us;
    if (aal_to_beat(beat, "beat", &b) < 0 || link_time_at_beat(self, b, &us) < 0)
        return NULL;
    return PyObject_CallFunction(self->state->timedelta, "iiL", 0, 0, (long long)us);
}

AAL_DOC(Link_beat_at_time_doc,
        "beat_at_time($self, time, /)\n--\n\n"
        "Beat (float) on the timeline at Link clock time (timedelta or float\n"
        "seconds), for the current quantum; the inverse of time_at_beat.");

PyObject *Link_beat_at_time(LinkObject *self, PyObject *time)
{
    int64_t us;
    double beat;
    if (aal_to_micros(time, self->state->timedelta, "time", &us) < 0 ||
        link_beat_at_time(self, us, &beat) < 0)
        return NULL;
    return PyFloat_FromDouble(beat);
}

AAL_DOC(Link_clock_offset_doc,
        "Seconds to add to a Link clock time (Link.time, time_at_beat) to get\n"
        "time.monotonic() / the default loop.time() (float; drifts slowly: re-read).");

PyObject *Link_get_clock_offset(LinkObject *self, void *closure)
{
    (void)closure;
    if (link_check_usable(self) < 0)
        return NULL;
    /* Read the two clocks back to back, three times; keep the tightest. */
    double best = 0.0, best_span = 1e9;
    for (int i = 0; i < 3; i++) {
        int64_t a = aal_monotonic_now_us();
        int64_t link = aal_os_link_clock_us();
        int64_t b = aal_monotonic_now_us();
        if ((double)(b - a) < best_span) {
            best_span = (double)(b - a);
            best = ((double)a + (double)(b - a) / 2.0 - (double)link) / 1e6;
        }
    }
    return PyFloat_FromDouble(best);
}

AAL_DOC(Link_ramp_tempo_doc,
        "ramp_tempo($self, bpm, beats)\n--\n\n"
        "Change the session tempo smoothly to bpm over the next beats beats (linear\n"
        "in beats, committed by the native scheduler every 1/16 beat, so\n"
        "peers follow).  Setting Link.tempo or a new ramp ends it, and so does a\n"
        "peer's tempo change once it reaches this Link (Link relays changes at most\n"
        "every 50 ms, so during a ramp a peer's change can be overridden).");

PyObject *Link_ramp_tempo(LinkObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"bpm", "beats", NULL};
    PyObject *bpm_obj, *beats_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:ramp_tempo", kwlist, &bpm_obj, &beats_obj))
        return NULL;
    double bpm, beats;
    if (aal_to_finite_double(bpm_obj, "bpm", &bpm) < 0 || link_check_bpm(bpm) < 0 ||
        aal_to_finite_double(beats_obj, "beats", &beats) < 0)
        return NULL;
    if (beats < 0.0) {
        PyErr_Format(PyExc_ValueError, "beats must be >= 0, not %R", beats_obj);
        return NULL;
    }
    bpm = link_clamp_bpm(bpm);
    aal_snapshot snap;
    if (link_snapshot(self, &snap) < 0)
        return NULL;
    aal_sched_start_ramp(self->sched, snap.tempo, bpm, snap.beat, snap.beat + beats);
    Py_RETURN_NONE;
}

AAL_DOC(Link_ramping_doc, "Whether a ramp_tempo() is under way (bool).");

PyObject *Link_get_ramping(LinkObject *self, void *closure)
{
    (void)closure;
    if (self->closed || !self->sched)
        Py_RETURN_FALSE;
    return PyBool_FromLong(aal_sched_ramping(self->sched));
}

AAL_DOC(Link_every_doc,
        "every($self, beat, offset=0, origin=0, *, skip_late=False, lead=None)\n--\n\n"
        "Async iterator over the grid points origin + offset + k*beat (in beats,\n"
        "k an integer): each step targets the point after the previous one, so a\n"
        "coroutine that comes back late gets the missed points at once, in order;\n"
        "with skip_late=True it skips them and waits for the next point after the\n"
        "current beat.");

PyObject *Link_every(LinkObject *self, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames)
{
    /* The iterator is an async generator in aalink/_every.py. */
    PyObject *mod = PyImport_ImportModule("aalink._every");
    if (!mod)
        return NULL;
    PyObject *fn = PyObject_GetAttrString(mod, "every");
    Py_DECREF(mod);
    if (!fn)
        return NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject **all = PyMem_Malloc((nargs + nkw + 1) * sizeof *all);
    if (!all) {
        Py_DECREF(fn);
        return PyErr_NoMemory();
    }
    all[0] = (PyObject *)self;
    for (Py_ssize_t i = 0; i < nargs + nkw; i++)
        all[i + 1] = args[i];
    PyObject *r = PyObject_Vectorcall(fn, all, (size_t)(nargs + 1), kwnames);
    PyMem_Free(all);
    Py_DECREF(fn);
    return r;
}

AAL_DOC(Link_lead_doc,
        "Latency lead in seconds (float, 0 to 60, default 0): sync() futures resolve\n"
        "this much before their beat, so output that takes that long lands on it.\n"
        "sync(..., lead=) overrides it per call.");

PyObject *Link_get_lead(LinkObject *self, void *closure)
{
    (void)closure;
    return PyFloat_FromDouble(self->lead);
}

int Link_set_lead(LinkObject *self, PyObject *value, void *closure)
{
    (void)closure;
    if (link_refuse_delete(value, "lead") < 0)
        return -1;
    if (value == Py_None) {
        PyErr_SetString(PyExc_TypeError, "lead must be a real number of seconds, not None");
        return -1;
    }
    int64_t lead_us;
    if (link_parse_lead(self, value, &lead_us) < 0)
        return -1;
    self->lead = (double)lead_us / 1e6;
    return 0;
}

AAL_DOC(Link_stats_doc,
        "How late futures were resolved on the loop, after their beat (minus lead):\n"
        "dict with count, mean_ms, p50_ms, p99_ms, max_ms, kept in constant memory\n"
        "(log buckets, under 7 % error).  reset_stats() clears it.");

PyObject *Link_get_stats(LinkObject *self, void *closure)
{
    (void)closure;
    const aal_lateness *h = &self->lateness;
    double mean = h->count ? h->sum_us / (double)h->count / 1e3 : 0.0;
    return Py_BuildValue("{s:K,s:d,s:d,s:d,s:d}", "count", (unsigned long long)h->count,
                         "mean_ms", mean, "p50_ms",
                         (double)aal_lateness_quantile(h, 0.50) / 1e3, "p99_ms",
                         (double)aal_lateness_quantile(h, 0.99) / 1e3, "max_ms",
                         (double)h->max_us / 1e3);
}

AAL_DOC(Link_reset_stats_doc,
        "reset_stats($self, /)\n--\n\n"
        "Forget the lateness measurements reported by Link.stats.");

PyObject *Link_reset_stats(LinkObject *self, PyObject *Py_UNUSED(ignored))
{
    aal_lateness_reset(&self->lateness);
    Py_RETURN_NONE;
}

AAL_DOC(Link_scheduler_stats_doc, "Internal: scheduler counters for tests and benchmarks.");

PyObject *Link_scheduler_stats(LinkObject *self, PyObject *Py_UNUSED(ignored))
{
    uint64_t wakeups = 0, batches = 0;
    size_t pending = 0;
    if (self->sched && !self->closed) {
        aal_sched_counters(self->sched, &wakeups, &batches);
        pending = aal_sched_pending(self->sched);
    }
    return Py_BuildValue("{s:n,s:K,s:K,s:K}", "pending", (Py_ssize_t)pending, "wakeups",
                         (unsigned long long)wakeups, "batches", (unsigned long long)batches,
                         "given_back", (unsigned long long)self->given_back);
}
