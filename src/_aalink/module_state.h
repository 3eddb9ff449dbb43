/* module_state.h - per-module state of aalink._aalink (PEP 489/630).
 * The state is guarded by the GIL: read and written only with it held. */
#ifndef AAL_MODULE_STATE_H
#define AAL_MODULE_STATE_H

#include "compat.h"

typedef struct LinkObject LinkObject;

typedef struct aalink_state {
    PyTypeObject *Link_type;
    PyTypeObject *LoopWaker_type;
    /* Link Audio (audio.h): two struct sequences and two types. */
    PyTypeObject *Channel_type;
    PyTypeObject *AudioBlock_type;
    PyTypeObject *AudioSink_type;
    PyTypeObject *AudioSource_type;
    PyObject *timedelta;        /* datetime.timedelta */
    PyObject *get_running_loop; /* asyncio._get_running_loop: loop or None */
    PyObject *future_type;      /* asyncio.Future */
    /* The context our cancellation watch runs in (see queue_future), and
     * the kwnames tuple ("context",) that passes it. */
    PyObject *watch_context;
    PyObject *kw_context;
    /* Interned method names used on hot paths. */
    PyObject *str_create_future;
    PyObject *str_add_done_callback;
    PyObject *str_remove_done_callback;
    PyObject *str_set_result;
    PyObject *str_done;
    PyObject *str_add_reader;
    PyObject *str_remove_reader;
    PyObject *str_is_closed;
    PyObject *str_is_running;
    PyObject *str_call_soon_threadsafe;
    PyObject *str_call_exception_handler;
    PyObject *str_cancel;
    /* Live Links of this interpreter, for the exit hook (GIL-protected). */
    LinkObject *live_links;
} aalink_state;

/* The state of the module that defined `type` (Link), or NULL with an
 * exception.  Thread: any Python thread.  GIL: held.  Locks: none. */
aalink_state *aalink_state_of_type(PyTypeObject *type);

#endif
