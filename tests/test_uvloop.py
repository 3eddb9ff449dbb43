"""Issue 7, item 5: aalink works unchanged on a uvloop event loop.

The same behaviours as the sync suite, on uvloop.Loop (which has add_reader,
so the Link wakes the loop through its file descriptor): grid values, never
early, callbacks on the loop's thread, cancellation, 1000 coroutines, every(),
the seed's Link(bpm, loop) form, two Links seeing each other.  Skipped, with
the reason shown, where uvloop is not installed (e.g. Windows: the test extra
installs it only where it exists).
"""
import asyncio
import threading
import time
from fractions import Fraction

import pytest

uvloop = pytest.importorskip(
    "uvloop", reason="uvloop is not installed (pip install -e .[test] installs it "
                     "where it exists; not on Windows)")

from aalink import Link  # noqa: E402

from conftest import wait_until  # noqa: E402

EPS = 1e-6   # Link keeps beats in micro-beats
LATE = 0.05  # seconds: generous bound on lateness on a loaded 2-core machine
TIMEOUT = 10.0


def run(coro_fn, *args):
    """Run coro_fn(*args) to completion on a fresh uvloop loop."""
    loop = uvloop.new_event_loop()
    try:
        async def main():
            assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
            return await asyncio.wait_for(coro_fn(*args), 60)
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def is_grid_point(value, step, offset=0.0, origin=0.0):
    k = (value - offset - origin) / step
    return abs(k - round(k)) < 1e-9


async def checked_sync(link, step, offset=0.0, origin=0.0):
    before = link.beat
    fut = link.sync(step, offset=offset, origin=origin)
    called = link.beat  # the call's own beat lies between the two reads
    assert isinstance(fut, asyncio.Future)
    assert fut.get_loop() is asyncio.get_running_loop()
    value = await asyncio.wait_for(fut, TIMEOUT)
    after = link.beat
    assert type(value) is float
    assert is_grid_point(value, float(step), float(offset), float(origin)), value
    assert before < value <= called + float(step) + EPS, (before, called, value)
    assert after >= value - EPS, ("early", value, after)
    assert (after - value) * 60.0 / link.tempo < LATE, ("late", value, after)
    return value


def test_grid_values_never_early():
    async def body():
        with Link(480) as link:
            link.force_beat(0)
            assert [await checked_sync(link, 1) for _ in range(3)] == [1.0, 2.0, 3.0]
            link.force_beat(11.5)
            assert await checked_sync(link, 2) == 12.0
            assert await checked_sync(link, 2) == 14.0
            halves = [await checked_sync(link, Fraction(1, 2)) for _ in range(3)]
            assert [b - a for a, b in zip(halves, halves[1:])] == [0.5, 0.5]
            v = await checked_sync(link, 3 / 2)
            assert (v / 1.5) == round(v / 1.5)
            v = await checked_sync(link, 0.5, offset=0.25)
            assert (v - 0.25) % 0.5 == 0
            v = await checked_sync(link, 1, origin=0.125)
            assert (v - 0.125) % 1 == 0
    run(body)


def test_first_sync_on_a_brand_new_link():
    async def body():
        with Link(240) as link:
            before = link.beat
            v = await checked_sync(link, 1)
            assert v > before
    run(body)


def test_seed_form_with_the_loop_argument():
    async def body():
        link = Link(480, asyncio.get_running_loop())
        try:
            link.enabled = True
            assert await checked_sync(link, 1) > 0
        finally:
            link.close()
    run(body)


def test_callbacks_run_on_the_loop_thread():
    async def body():
        with Link(120) as link:
            calls = []
            link.add_tempo_callback(lambda bpm: calls.append(("tempo", bpm, threading.get_ident())))
            link.add_start_stop_callback(
                lambda playing: calls.append(("play", playing, threading.get_ident())))
            link.tempo = 150
            link.playing = True
            assert await wait_until(lambda: {c[0] for c in calls} == {"tempo", "play"})
            me = threading.get_ident()
            assert all(c[2] == me for c in calls)
            assert ("tempo", 150.0, me) in calls and ("play", True, me) in calls
            assert type(next(c[1] for c in calls if c[0] == "tempo")) is float
    run(body)


def test_two_links_see_each_other_as_peers():
    async def body():
        with Link(120) as a, Link(120) as b:
            peers = []
            a.add_num_peers_callback(peers.append)
            a.enabled = b.enabled = True
            assert await wait_until(lambda: 1 in peers, timeout=10), peers
            assert all(type(p) is int for p in peers)
    run(body)


def test_cancellation_drops_the_future_and_others_stay_on_time():
    async def body():
        with Link(480) as link:
            link.force_beat(0)
            doomed = link.sync(4)
            kept = link.sync(1)
            doomed.cancel()
            await asyncio.sleep(0)
            value = await asyncio.wait_for(kept, TIMEOUT)
            assert value == 1.0 and link.beat >= 1.0 - EPS
            assert link._scheduler_stats()["pending"] == 0
            # Cancelled tasks waiting on sync leave nothing behind either,
            # and so do wait_for() time-outs.
            async def waiter():
                while True:
                    await link.sync(1000)

            tasks = [asyncio.ensure_future(waiter()) for _ in range(10)]
            await asyncio.sleep(0.02)
            assert link._scheduler_stats()["pending"] == 10
            for t in tasks:
                t.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            for _ in range(5):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(link.sync(1000), 0.005)
            await asyncio.sleep(0)
            assert link._scheduler_stats()["pending"] == 0
            assert await checked_sync(link, 1) > value
    run(body)


def test_a_thousand_coroutines_share_the_grid():
    async def body():
        # 120 bpm: 125 ms between points for 1,000 resumes and syncs
        with Link(120) as link:
            start = await link.sync(1)
            results = []

            async def voice():
                got = []
                for _ in range(3):
                    v = await link.sync(Fraction(1, 4))
                    got.append((v, link.beat))
                results.append(got)

            t0 = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*(voice() for _ in range(1000))), 30)
            assert time.monotonic() - t0 < 5
            assert len(results) == 1000
            expected = [start + 0.25, start + 0.5, start + 0.75]
            assert all([v for v, _ in got] == expected for got in results)
            assert all(beat >= v - EPS for got in results for v, beat in got)
            # The last voices of a batch resume a little later than the
            # first: still well within a generous bound.
            worst = max((beat - v) * 60.0 / link.tempo for got in results for v, beat in got)
            assert worst < 0.25, f"{worst * 1000:.0f} ms late"
            assert link._scheduler_stats()["pending"] == 0
    run(body)


def test_every_iterates_the_grid():
    async def body():
        with Link(480) as link:
            link.force_beat(0)
            got = []
            async for point in link.every(0.5):
                assert link.beat >= point - EPS
                got.append(point)
                if len(got) == 4:
                    break
            assert got == [0.5, 1.0, 1.5, 2.0]
    run(body)


def test_a_link_follows_the_next_uvloop_after_its_own_is_closed():
    link = Link(480)
    try:
        async def once():
            return await checked_sync(link, 1)
        first = run(once)
        second = run(once)
        assert second > first
    finally:
        link.close()


def test_the_readme_uvloop_example_runs():
    import re
    import subprocess
    import sys
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "guide.md").read_text()
    section = text[text.index("## Event loops and threads"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "uvloop.run(main())" in code
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    beats = [float(x) for x in r.stdout.split()]
    assert len(beats) == 4 and all(b2 - b1 == 1.0 for b1, b2 in zip(beats, beats[1:]))
