"""The native scheduler: ordering, re-timing, batching, idling,
cancellation, scale, and the edges (closed loops, exit with futures pending)."""
import asyncio
import gc
import random
import subprocess
import sys
import textwrap
import time

from aalink import Link
from support import EPS
from support import is_grid_point as _is_grid_point


def is_grid_point(value, step, offset=0.0, origin=0.0):
    return _is_grid_point(value, step, offset, origin, tol=1e-6)


async def test_many_pending_resolve_in_beat_order_on_their_grids(make_link):
    link = make_link(480)
    rng = random.Random(4)
    resolved = []
    futures = []
    for _ in range(400):
        step = rng.choice([0.25, 0.5, 1 / 3, 0.75, 1, 1.5])
        offset = rng.choice([0, 0.125, -0.3, 0.5])
        before = link.beat
        fut = link.sync(step, offset=offset)
        after = link.beat  # the call's own beat lies between the two reads
        fut.add_done_callback(lambda f: resolved.append((f.result(), link.beat)))
        futures.append((fut, step, offset, before, after))
    await asyncio.wait_for(asyncio.gather(*(f for f, *_ in futures)), 10)
    values = [v for v, _ in resolved]
    assert values == sorted(values)
    for fut, step, offset, before, after in futures:
        v = fut.result()
        assert is_grid_point(v, step, offset)
        assert before < v <= after + step + EPS, (before, after, v)
    assert all(beat >= v - EPS for v, beat in resolved)


async def test_tempo_change_moves_pending_targets(make_link):
    link = make_link(60)  # one beat a second
    fut = link.sync(2)
    link.tempo = 600  # ten times faster: due ten times sooner
    t0 = time.monotonic()
    value = await asyncio.wait_for(fut, 5)
    elapsed = time.monotonic() - t0
    target_beat = link.beat
    assert target_beat >= value - EPS
    # At 60 bpm the wait could be up to 2 s; at 600 bpm at most 0.2 s.
    assert elapsed < 0.6


async def test_force_beat_forward_retargets_to_the_grid_after_the_edit(make_link):
    link = make_link(600)
    link.force_beat(0)
    fut = link.sync(8)
    assert not fut.done()
    link.force_beat(100)  # the first point of sync(8)'s grid at or after 100: 104
    await asyncio.sleep(0.05)
    assert not fut.done()
    value = await asyncio.wait_for(fut, 2)
    assert value == 104.0
    assert link.beat >= 104 - EPS


async def test_force_beat_backward_retargets_pending_targets(make_link):
    link = make_link(600)  # 10 beats a second
    link.force_beat(3.5)
    fut = link.sync(4)  # due at beat 4, 50 ms away
    link.force_beat(-2)  # sync(4)'s grid from -2: beat 0, 0.2 s away
    t0 = time.monotonic()
    value = await asyncio.wait_for(fut, 5)
    assert value == 0.0
    assert link.beat >= 0 - EPS
    assert time.monotonic() - t0 > 0.15


async def test_a_handed_off_future_is_retargeted_by_an_edit_before_the_loop_takes_it(make_link):
    """The scheduler hands a future to the loop shortly before its beat, so
    that the loop's wake-up is over when the beat comes.  If this program
    edits the timeline before the loop takes it, the hand-off is re-targeted
    like every pending sync (never resolved with its stale beat) and
    resolves when the timeline reaches its new target."""
    link = make_link(300)  # 5 beats a second
    link.force_beat(0)
    fut = link.sync(2, offset=1)  # due at beat 1, 0.2 s away
    before = link._scheduler_stats()
    assert before["pending"] == 1
    # Keep the loop busy until the scheduler has handed the future over and
    # signalled the loop, which cannot take it yet.
    deadline = time.monotonic() + 5
    while link._scheduler_stats()["pending"] and time.monotonic() < deadline:
        time.sleep(0.001)  # noqa: ASYNC251  the loop must not take the hand-off yet
    handed = link._scheduler_stats()
    assert handed["pending"] == 0 and handed["batches"] > before["batches"]
    link.force_beat(-2)  # sync(2, offset=1)'s grid from -2: beat -1, 0.2 s away
    t0 = time.monotonic()
    await asyncio.sleep(0.05)  # the loop takes what is ready: nothing
    assert not fut.done()
    assert link._scheduler_stats()["pending"] == 1
    value = await asyncio.wait_for(fut, 2)
    assert value == -1.0
    assert link.beat >= -1 - EPS
    assert time.monotonic() - t0 > 0.1


async def test_due_futures_are_delivered_in_one_batch(make_link):
    link = make_link(300)
    await link.sync(1)
    before = link._scheduler_stats()["batches"]
    await asyncio.gather(*(link.sync(1) for _ in range(200)))
    batches = link._scheduler_stats()["batches"] - before
    assert batches <= 2  # one wake of the loop for all 200 (allow one stray)


async def test_idle_scheduler_does_not_poll(make_link):
    link = make_link(120)
    link.enabled = True
    fut = link.sync(100_000)  # far away
    await asyncio.sleep(0.05)
    before = link._scheduler_stats()["wakeups"]
    await asyncio.sleep(1.0)
    after = link._scheduler_stats()["wakeups"]
    assert after - before <= 3  # a 1 kHz poll would be ~1000
    fut.cancel()


async def test_thousands_of_cancellations_leave_nothing_pending(make_link):
    link = make_link(120)
    futures = [link.sync(10_000 + i % 7) for i in range(5000)]
    assert link._scheduler_stats()["pending"] == 5000
    for f in futures:
        f.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert link._scheduler_stats()["pending"] == 0
    # and the Link still works
    assert await asyncio.wait_for(link.sync(0.25), 2) > 0


async def test_partial_cancellation_keeps_the_rest(make_link):
    link = make_link(600)
    futures = [link.sync(1) for _ in range(100)]
    for f in futures[::2]:
        f.cancel()
    await asyncio.sleep(0)
    done, pending = await asyncio.wait(futures[1::2], timeout=3)
    assert not pending and all(not f.cancelled() for f in done)


async def test_huge_negative_offset_is_constant_time(make_link):
    link = make_link(120)
    t0 = time.perf_counter()
    # 2e11 grid steps away from the timeline: a loop that steps by `beat`
    # would not return for minutes (at -1e6 it would still pass in ms), so a
    # bound that survives a stalled machine still catches one.
    fut = link.sync(0.5, offset=-1e11)
    assert time.perf_counter() - t0 < 1.0
    value = await asyncio.wait_for(fut, 2)
    assert is_grid_point(value, 0.5)


async def test_ten_thousand_coroutines(make_link):
    link = make_link(240)
    errors = []
    counts = []

    async def voice(step):
        values = []
        for _ in range(4):
            v = await link.sync(step)
            if link.beat < v - EPS:
                errors.append(("early", v, link.beat))
            values.append(v)
        if any(b <= a for a, b in zip(values, values[1:])):
            errors.append(("repeat", values))
        counts.append(len(values))

    await asyncio.wait_for(
        asyncio.gather(*(voice(0.25 if i % 2 else 0.5) for i in range(10_000))), 60)
    assert not errors[:5]
    assert len(counts) == 10_000


def test_futures_of_a_closed_loop_are_dropped_and_the_link_follows_the_next_loop():
    loop = asyncio.new_event_loop()
    link = Link(600, loop)
    try:
        async def start():
            return [link.sync(4) for _ in range(10)]

        futures = loop.run_until_complete(start())
        loop.close()  # with the futures still pending
        assert all(not f.done() for f in futures)

        async def again():
            return await asyncio.wait_for(link.sync(0.5), 2)

        assert asyncio.run(again()) > 0
        assert link._scheduler_stats()["pending"] == 0
    finally:
        link.close()


def test_link_without_pending_futures_is_collected():
    import weakref

    async def main():
        link = Link(120)
        link.enabled = True
        await link.sync(0.01)
        return weakref.ref(link)

    ref = asyncio.run(main())
    gc.collect()
    assert ref() is None


def run_python(code, timeout=30):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout)


def test_exit_with_pending_futures_is_clean():
    r = run_python("""
        import asyncio
        from aalink import Link
        link = None
        async def main():
            global link
            link = Link(120)
            link.enabled = True
            global futures
            futures = [link.sync(1000 + i) for i in range(5000)]
            await asyncio.sleep(0.1)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())
        print("done", flush=True)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done"
    assert "Fatal" not in r.stderr and "Segmentation" not in r.stderr
