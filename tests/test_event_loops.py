"""aalink works unchanged on every kind of event loop.

Each test runs on asyncio's own loop, on uvloop.Loop (which has add_reader,
so the Link wakes the loop through its file descriptor) and on a loop
without add_reader() (Windows' proactor loop: futures and callbacks come
through a relay thread and call_soon_threadsafe): grid values, never early,
callbacks on the loop's thread, cancellation, 1000 coroutines, every(), the
seed's Link(bpm, loop) form, two Links seeing each other, a Link following
the next loop.  The `loop_kind` fixture (conftest.py) gives the kinds; uvloop
is skipped, with the reason, where it is not installed (e.g. Windows: the
test extra installs it only where it exists).  The detailed rules of sync()
are tests/test_sync.py (on asyncio); what only one kind of loop has is in
tests/test_uvloop.py and tests/test_loop_without_add_reader.py.
"""
import asyncio
import threading
import time
from fractions import Fraction

import pytest

from aalink import Link
from support import EPS, checked_sync, wait_until

TIMEOUT = 10.0  # seconds: one await, on any loop


def test_grid_values_never_early(run_on):
    async def body():
        with Link(480) as link:
            link.force_beat(0)
            assert [await checked_sync(link, 1, timeout=TIMEOUT) for _ in range(3)] == [
                1.0, 2.0, 3.0]
            link.force_beat(11.5)
            assert await checked_sync(link, 2, timeout=TIMEOUT) == 12.0
            assert await checked_sync(link, 2, timeout=TIMEOUT) == 14.0
            halves = [await checked_sync(link, Fraction(1, 2), timeout=TIMEOUT)
                      for _ in range(3)]
            assert [b - a for a, b in zip(halves, halves[1:])] == [0.5, 0.5]
            v = await checked_sync(link, 3 / 2, timeout=TIMEOUT)
            assert (v / 1.5) == round(v / 1.5)
            v = await checked_sync(link, 0.5, offset=0.25, timeout=TIMEOUT)
            assert (v - 0.25) % 0.5 == 0
            v = await checked_sync(link, 1, origin=0.125, timeout=TIMEOUT)
            assert (v - 0.125) % 1 == 0
    run_on(body)


def test_first_sync_on_a_brand_new_link(run_on):
    async def body():
        with Link(240) as link:
            before = link.beat
            v = await checked_sync(link, 1, timeout=TIMEOUT)
            assert v > before
    run_on(body)


def test_seed_form_with_the_loop_argument(run_on):
    async def body():
        link = Link(480, asyncio.get_running_loop())
        try:
            link.enabled = True
            assert await checked_sync(link, 1, timeout=TIMEOUT) > 0
        finally:
            link.close()
    run_on(body)


def test_successive_syncs_with_the_loop_argument(run_on):
    async def main(loop):
        link = Link(240, loop)  # 125 ms a step, to resume and sync again
        values = [await asyncio.wait_for(link.sync(0.5), 2) for _ in range(4)]
        beat_after = link.beat
        link.close()
        return values, beat_after

    async def body():
        return await main(asyncio.get_running_loop())

    values, beat_after = run_on(body)
    assert all(b - a == 0.5 for a, b in zip(values, values[1:]))
    assert beat_after >= values[-1] - 1e-6


def test_callbacks_run_on_the_loop_thread(run_on):
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
    run_on(body)


def test_a_peers_tempo_arrives_on_the_loop_thread(run_on):
    async def main(loop):
        a = Link(120, loop)
        b = Link(120, loop)
        seen = []
        a.add_tempo_callback(lambda bpm: seen.append((bpm, threading.get_ident())))
        a.enabled = b.enabled = True
        for _ in range(200):
            if a.num_peers:
                break
            await asyncio.sleep(0.05)
        b.tempo = 150
        for _ in range(100):
            if any(abs(bpm - 150) < 0.01 for bpm, _ in seen):
                break
            await asyncio.sleep(0.05)
        a.close()
        b.close()
        return seen

    async def body():
        return await main(asyncio.get_running_loop())

    seen = run_on(body)
    assert any(abs(bpm - 150) < 0.01 for bpm, _ in seen)
    assert {tid for _, tid in seen} == {threading.get_ident()}


def test_two_links_see_each_other_as_peers(run_on):
    async def body():
        with Link(120) as a, Link(120) as b:
            peers = []
            a.add_num_peers_callback(peers.append)
            a.enabled = b.enabled = True
            assert await wait_until(lambda: 1 in peers, timeout=10), peers
            assert all(type(p) is int for p in peers)
    run_on(body)


def test_cancellation_drops_the_future_and_others_stay_on_time(run_on):
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
            assert await checked_sync(link, 1, timeout=TIMEOUT) > value
    run_on(body)


def test_a_thousand_coroutines_share_the_grid(run_on):
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
    run_on(body)


def test_every_iterates_the_grid(run_on):
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
    run_on(body)


def test_a_link_follows_the_next_loop_after_its_own_is_closed(run_on):
    link = Link(480)
    try:
        async def once():
            return await checked_sync(link, 1, timeout=TIMEOUT)
        first = run_on(once)
        second = run_on(once)
        assert second > first
    finally:
        link.close()
