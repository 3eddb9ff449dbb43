"""Reference and memory leaks.

Each core operation runs thousands of times after a warm-up; then the number
of GC-tracked objects, the Python memory traced by tracemalloc, the bytes
the C allocator has handed out (glibc mallinfo2: the native side's own
allocations, which tracemalloc does not see) and RSS must all be where they
were.  A leak of one small object or 24 bytes per operation shows up as
tens of thousands of objects or hundreds of kilobytes.
"""
import asyncio
import ctypes
import gc
import os
import time
import tracemalloc
from decimal import Decimal

import pytest

from aalink import Link

N = 5_000


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


try:
    _libc = ctypes.CDLL(None)
    _libc.mallinfo2.restype = _MallInfo2
except (OSError, AttributeError):
    _libc = None


def native_bytes():
    """Bytes in use from malloc (0 when unknown, e.g. under ASan)."""
    if _libc is None:
        return 0
    info = _libc.mallinfo2()
    return info.uordblks + info.hblkhd


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Usage:
    def __init__(self):
        gc.collect()
        self.objects = len(gc.get_objects())
        self.traced = tracemalloc.get_traced_memory()[0]
        self.native = native_bytes()
        self.rss = rss_bytes()

    def growth(self, before):
        return {"objects": self.objects - before.objects,
                "traced": self.traced - before.traced,
                "native": self.native - before.native,
                "rss": self.rss - before.rss}


def assert_flat(before, after, n, what, settle=3.0):
    """after: a Usage, or a function measuring one.  Link frees some memory
    on its own thread a little later (after enable/disable): a function is
    re-measured for up to `settle` seconds before the check fails."""
    measure_again = after if callable(after) else None
    deadline = time.monotonic() + settle
    # Slack for caches that settle (free lists, the loop's deques...): well
    # under one object / 24 bytes per operation.
    limits = {"objects": max(200, n // 50), "traced": max(128 * 1024, n * 8),
              "native": max(512 * 1024, n * 16), "rss": 8 * 1024 * 1024}
    while True:
        usage = measure_again() if measure_again else after
        g = usage.growth(before)
        bad = {k: v for k, v in g.items() if v > limits[k]}
        if not bad or not measure_again or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not bad, f"{what}: grew {bad} over {n} runs (limits {limits})"


@pytest.fixture(autouse=True)
def traced():
    tracemalloc.start()
    yield
    tracemalloc.stop()


def measure(op, n=N, warm=None, what=""):
    for _ in range(warm if warm is not None else max(n // 10, 50)):
        op()
    before = Usage()
    for _ in range(n):
        op()
    assert_flat(before, Usage, n, what or op.__name__)


async def ameasure(op, n=N, warm=None, what=""):
    for _ in range(warm if warm is not None else max(n // 10, 50)):
        await op()
    before = Usage()
    for _ in range(n):
        await op()
    assert_flat(before, Usage(), n, what or op.__name__)


# ------------------------------------------------------------------ lifetime

def test_create_and_close():
    def op():
        Link(120).close()

    measure(op, n=1_000)


def test_create_and_drop_without_close():
    def op():
        link = Link(120)
        link.quantum = 4
        del link  # no cycle: freed at once, threads joined

    measure(op, n=1_000)


async def test_create_sync_and_drop():
    """A Link bound to the loop (waker registered) and dropped."""
    async def op():
        link = Link(999)
        await link.sync(1 / 64)
        del link

    await ameasure(op, n=300)


# ------------------------------------------------------------------ sync

async def test_sync_and_resolve(make_link):
    link = make_link(999)

    async def op():
        # 50 futures resolved in one batch, on a fine grid.
        await asyncio.gather(*(link.sync(1 / 256) for _ in range(50)))

    await ameasure(op, n=N // 50, what="sync and resolve (x50)")
    assert link._scheduler_stats()["pending"] == 0


async def test_sync_with_offsets_origins_and_leads(make_link):
    link = make_link(999)

    async def op():
        await asyncio.gather(link.sync(1 / 128, offset=0.001), link.sync(1 / 64, origin=-3),
                             link.sync(1 / 128, lead=0.001))

    await ameasure(op, n=N // 10)


async def test_every_iterators(make_link):
    link = make_link(999)

    async def op():
        it = link.every(1 / 256)
        async for _ in it:
            break
        await it.aclose()

    await ameasure(op, n=N // 10)


async def test_sync_and_cancel(make_link):
    link = make_link(120)

    async def op():
        fut = link.sync(1000)
        fut.cancel()
        await asyncio.sleep(0)  # the done-callback runs

    await ameasure(op, n=N)
    assert link._scheduler_stats()["pending"] == 0


async def test_cancelled_task_waiting_on_sync(make_link):
    link = make_link(120)

    async def waiter():
        await link.sync(1000)

    async def op():
        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    await ameasure(op, n=N // 5)
    assert link._scheduler_stats()["pending"] == 0


async def test_a_hundred_thousand_far_syncs_all_cancelled_give_the_memory_back(make_link):
    link = make_link(120)

    async def round_trip():
        futures = [link.sync(10_000 + i % 97) for i in range(100_000)]
        assert link._scheduler_stats()["pending"] == 100_000
        peak = Usage()
        for f in futures:
            f.cancel()
        del futures, f
        await asyncio.sleep(0.05)  # done-callbacks: the queue is compacted
        assert link._scheduler_stats()["pending"] == 0
        return peak

    await round_trip()  # warms up the loop's buffers
    before = Usage()
    peak = await round_trip()
    after = Usage()
    # They did take memory while pending (so the check is meaningful)...
    held = peak.growth(before)
    assert held["traced"] > 5_000_000, held
    # ...and all of it came back to Python's and the C allocator's pools.
    after.rss = before.rss  # RSS: see below
    assert_flat(before, after, 100_000, "100,000 cancelled syncs")
    # Freed memory is reused, not necessarily returned to the system (Python
    # keeps partly used arenas): RSS must not climb from round to round.
    # (Without tracemalloc, whose own tables grow with the peak.)
    tracemalloc.stop()
    peaks = [(await round_trip()).rss for _ in range(3)]
    assert max(peaks[1:]) - peaks[0] < 8 * 1024 * 1024, peaks
    assert rss_bytes() <= peaks[0] + 8 * 1024 * 1024


# ------------------------------------------------------------------ callbacks, properties

async def test_callbacks_add_remove_set(make_link):
    link = make_link(120)

    def op():
        cb = lambda x: None  # noqa: E731 - a new object every time
        link.add_tempo_callback(cb)
        link.add_num_peers_callback(cb)
        link.add_start_stop_callback(cb)
        link.remove_tempo_callback(cb)
        link.remove_num_peers_callback(cb)
        link.set_start_stop_callback(cb)
        link.set_start_stop_callback(None)

    measure(op)


async def test_callbacks_delivered(make_link):
    link = make_link(120)
    seen = []
    link.add_tempo_callback(seen.append)

    async def op():
        link.tempo = 100 if link.tempo != 100 else 110
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.001)
        seen.clear()

    await ameasure(op, n=500, warm=50)


def test_properties_get_and_set(make_link):
    link = make_link(120)

    def op():
        link.tempo = 121.5
        link.quantum = 4
        link.playing = True
        link.playing = False
        link.start_stop_sync_enabled = True
        link.start_stop_sync_enabled = False
        link.lead = 0.01
        link.lead = 0
        (link.tempo, link.quantum, link.playing, link.beat, link.phase, link.time,
         link.num_peers, link.enabled, link.start_stop_sync_enabled, link.lead,
         link.clock_offset, link.ramping, link.following, link.stats, repr(link))
        link.time_at_beat(4)
        link.beat_at_time(link.time)
        link.request_beat(0)
        link.force_beat(0)
        link.request_beat_at_start_playing_time(0)
        link.set_is_playing_and_request_beat_at_time(False, link.time, 0)

    measure(op, n=N // 2)


def test_enable_and_disable(make_link):
    link = make_link(120)

    def op():
        link.enabled = True
        link.enabled = False

    measure(op, n=300)


class Broken:
    def __float__(self):
        raise RuntimeError("no float")


def test_errors(make_link):
    link = make_link(120)
    bad_calls = [
        (lambda: link.sync(0), ValueError),
        (lambda: link.sync("1"), TypeError),
        (lambda: link.sync(1, offset=float("nan")), ValueError),
        (lambda: link.sync(Broken()), TypeError),
        (lambda: link.sync(1, lead=-1), ValueError),
        (lambda: setattr(link, "tempo", float("inf")), ValueError),
        (lambda: setattr(link, "tempo", Decimal("sNaN")), ValueError),
        (lambda: setattr(link, "quantum", 0), ValueError),
        (lambda: setattr(link, "playing", "yes"), TypeError),
        (lambda: link.force_beat(10 ** 400), ValueError),
        (lambda: link.force_beat(1e300), ValueError),
        (lambda: link.beat_at_time("now"), TypeError),
        (lambda: link.set_is_playing_and_request_beat_at_time(True, None, 0), TypeError),
        (lambda: link.add_tempo_callback(3), TypeError),
        (lambda: Link("fast"), TypeError),
        (lambda: link.ramp_tempo(-1, 4), ValueError),
    ]

    def op():
        for call, error in bad_calls:
            try:
                call()
            except error:
                pass
            else:
                raise AssertionError("did not raise")

    measure(op, n=N // 5)


def test_closed_link_errors():
    link = Link(120)
    link.close()

    def op():
        for call in (lambda: link.beat, lambda: link.sync(1), lambda: link.force_beat(0)):
            try:
                call()
            except RuntimeError:
                pass

    measure(op, n=N)
