"""Threads.

Other threads read properties and set the tempo while the loop syncs; sync()
from a thread that is not running the Link's loop is a clear RuntimeError
(the port's decision: one Link per event loop; use
asyncio.run_coroutine_threadsafe); callbacks that raise go to the loop's
exception handler and the scheduler keeps going.
"""
import asyncio
import math
import threading
import time

import pytest

from aalink import Link
from support import EPS


async def test_other_threads_read_and_set_tempo_while_the_loop_syncs(make_link):
    link = make_link(300)
    stop = threading.Event()
    errors = []
    reads = [0]

    def reader():
        try:
            while not stop.is_set():
                assert 20 <= link.tempo <= 999
                assert math.isfinite(link.beat)
                assert 0 <= link.phase < link.quantum + EPS
                _ = link.time, link.num_peers, link.playing, link.enabled
                link.time_at_beat(link.beat + 1)
                reads[0] += 1
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def tempo_setter():
        try:
            i = 0
            while not stop.is_set():
                link.tempo = (240, 300, 360)[i % 3]
                i += 1
                time.sleep(0.002)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    threads.append(threading.Thread(target=tempo_setter))
    for t in threads:
        t.start()
    try:
        async def voice(step):
            values = []
            for _ in range(12):
                v = await link.sync(step)
                # Never early, whatever the tempo changes.
                assert link.beat >= v - EPS, (v, link.beat)
                values.append(v)
            return step, values

        results = await asyncio.wait_for(
            asyncio.gather(*(voice(s) for s in (0.25, 0.5, 1 / 3) for _ in range(20))), 30)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not errors, errors
    assert reads[0] > 100
    for step, values in results:
        steps = [round((b - a) / step, 6) for a, b in zip(values, values[1:])]
        assert all(s >= 1 for s in steps), (step, values)  # strictly on, never twice


async def test_tempo_set_from_a_thread_ends_a_ramp_and_sticks(make_link):
    """A ramp step under way never overwrites a tempo set meanwhile."""
    link = make_link(999)
    for i in range(40):
        link.ramp_tempo(20 if i % 2 else 999, 64)  # a step every 1/16 beat
        await asyncio.sleep(0.003 + 0.001 * (i % 5))
        bpm = 100 + i
        await asyncio.to_thread(setattr, link, "tempo", bpm)
        assert not link.ramping
        await asyncio.sleep(0.02)  # several ramp periods
        assert link.tempo == pytest.approx(bpm), i


def test_sync_from_a_thread_not_running_the_loop_is_a_runtime_error():
    loop = asyncio.new_event_loop()
    link = Link(600, loop)
    started = threading.Event()
    results = {}

    async def on_the_loop():
        started.set()
        results["loop"] = await link.sync(0.25)
        await asyncio.sleep(0.3)

    thread = threading.Thread(target=loop.run_until_complete, args=(on_the_loop(),))
    thread.start()
    try:
        assert started.wait(5)
        # This thread is not running the loop: sync() refuses, clearly.
        with pytest.raises(RuntimeError, match="not running the Link's event loop"):
            link.sync(1)
        # The supported way works, from here.
        fut = asyncio.run_coroutine_threadsafe(_sync_once(link, 0.25), loop)
        value = fut.result(10)
        assert value > 0 and abs(value * 4 - round(value * 4)) < EPS
        # A loop of its own on this thread: another open loop is refused too.
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(_sync_once(link))
    finally:
        thread.join(10)
        link.close()
        loop.close()
    assert results["loop"] > 0


async def _sync_once(link, beat=1):
    return await asyncio.wait_for(link.sync(beat), 5)


def test_properties_from_many_threads_at_once(make_link):
    link = make_link(120)
    errors = []

    def worker(i):
        try:
            for j in range(300):
                link.quantum = 1 + (i + j) % 4
                assert 0 <= link.phase < 4 + EPS
                link.tempo = 100 + (i * 7 + j) % 50
                link.playing = bool(j % 2)
                link.force_beat(j) if i == 0 else link.request_beat(j)
                link.lead = 0.001 * (j % 5)
                if j % 50 == 0:
                    link.enabled = not link.enabled
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    link.enabled = False
    assert 100 <= link.tempo < 150


async def test_raising_callbacks_go_to_the_exception_handler_and_the_scheduler_goes_on(
        make_link):
    loop = asyncio.get_running_loop()
    caught = []
    loop.set_exception_handler(lambda _loop, context: caught.append(context))
    link = make_link(600)
    calls = []

    def bad(bpm):
        calls.append(bpm)
        raise ZeroDivisionError("callback bug")

    link.add_tempo_callback(bad)
    link.add_start_stop_callback(lambda playing: 1 / 0)
    try:
        for i in range(5):
            link.tempo = 590 - i
            link.playing = i % 2 == 0
            v = await asyncio.wait_for(link.sync(0.25), 5)  # syncs still resolve
            assert link.beat >= v - EPS
        for _ in range(100):
            if len(caught) >= 10:
                break
            await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(None)
    assert len(calls) >= 5
    assert len(caught) >= 10
    for context in caught:
        assert isinstance(context["exception"], ZeroDivisionError)
        assert "aalink" in context["message"] and "callback" in context["message"]
    # Still alive afterwards: many syncs at once resolve on their grid.
    values = await asyncio.wait_for(asyncio.gather(*(link.sync(0.5) for _ in range(100))), 5)
    assert len(set(values)) == 1


async def test_a_raising_exception_handler_does_not_kill_the_scheduler(make_link):
    """Even when the loop's exception handler itself raises."""
    loop = asyncio.get_running_loop()

    def broken_handler(_loop, context):
        raise RuntimeError("handler bug")

    loop.set_exception_handler(broken_handler)
    link = make_link(600)
    link.add_tempo_callback(lambda bpm: 1 / 0)
    try:
        for i in range(3):
            link.tempo = 500 + i
            await asyncio.wait_for(link.sync(0.25), 5)
        await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(None)
    assert await asyncio.wait_for(link.sync(0.25), 5) > 0
