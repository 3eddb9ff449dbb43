"""Time spent in Python's garbage collector, from gc.callbacks.

A pause of the collector stops the event loop like any other work: runs that
allocate differently (the port, aalink 0.2.3, the plain-asyncio floor) can
pay very different amounts of it, and the tail of their lateness shows it.
"""

import gc
import time


class GcClock:
    def __init__(self):
        self.seconds = 0.0
        self.collections = 0
        self._t0 = None
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._t0 = time.perf_counter()
        elif self._t0 is not None:
            self.seconds += time.perf_counter() - self._t0
            self.collections += 1
            self._t0 = None

    def read(self):
        return self.seconds, self.collections


def gc_share(start, end, wall):
    """The collector's share of a window, from two read()s `wall` seconds apart."""
    return {
        "gc_percent": 100.0 * (end[0] - start[0]) / wall,
        "gc_collections": end[1] - start[1],
    }
