"""Link.sync() and its rules (see the API page of aalink 0.2.3).

sync(beat, offset=0, origin=0) returns a Future of the Link's loop, done when
the timeline reaches the next point of the grid origin + offset + k*beat
after the current beat; its value is that grid point.  The tests place the
timeline with force_beat() and run at fast tempos so that the file runs in
a few seconds.  Timing bounds are generous: never early (allowing 1e-6 beat
for Link's micro-beat rounding), never more than LATE seconds late.
"""
import asyncio
import math
import threading
import time
from fractions import Fraction

import pytest

from aalink import Link
from support import EPS, LATE, TIMEOUT, checked_sync, is_grid_point

# ---------------------------------------------------------------- grids

async def test_integral_beats_resume_on_successive_beats(make_link):
    link = make_link(480)
    link.force_beat(0)
    values = [await checked_sync(link, 1) for _ in range(4)]
    assert values == [1.0, 2.0, 3.0, 4.0]


async def test_sync_2_at_beat_11_5_resumes_at_12(make_link):
    link = make_link(480)
    link.force_beat(11.5)
    assert await checked_sync(link, 2) == 12.0
    # ... and from there the next point of the 2-grid is 14, not 12 again.
    assert await checked_sync(link, 2) == 14.0


async def test_sync_is_not_a_sleep(make_link):
    """sync(4) just before beat 4 resumes at beat 4, not 4 beats later."""
    link = make_link(120)  # 2 beats a second
    link.force_beat(3.9)
    t0 = time.monotonic()
    assert await checked_sync(link, 4) == 4.0
    assert time.monotonic() - t0 < 0.05 + LATE  # 0.1 beat is 50 ms


async def test_half_beats(make_link):
    link = make_link(240)
    link.force_beat(0)
    values = [await checked_sync(link, 1 / 2) for _ in range(4)]
    assert values == [0.5, 1.0, 1.5, 2.0]


async def test_three_halves(make_link):
    link = make_link(480)
    link.force_beat(0)
    values = [await checked_sync(link, 3 / 2) for _ in range(3)]
    assert values == [1.5, 3.0, 4.5]


async def test_fraction_is_a_beat(make_link):
    link = make_link(240)
    link.force_beat(0)
    values = [await checked_sync(link, Fraction(1, 2)) for _ in range(3)]
    assert values == [0.5, 1.0, 1.5]
    link.force_beat(0)
    assert await checked_sync(link, Fraction(3, 4), offset=Fraction(1, 8)) == 0.125


async def test_thirds(make_link):
    link = make_link(240)
    link.force_beat(0)
    values = [await checked_sync(link, 1 / 3) for _ in range(3)]
    assert values == pytest.approx([1 / 3, 2 / 3, 1.0], abs=1e-12)


async def test_offset_shifts_the_grid(make_link):
    link = make_link(240)
    link.force_beat(0)
    values = [await checked_sync(link, 1 / 2, offset=0.25) for _ in range(3)]
    assert values == [0.25, 0.75, 1.25]


async def test_negative_offset(make_link):
    link = make_link(480)
    link.force_beat(0)
    values = [await checked_sync(link, 1, offset=-0.25) for _ in range(2)]
    assert values == [0.75, 1.75]


async def test_origin_shifts_the_grid(make_link):
    link = make_link(480)
    link.force_beat(0)
    values = [await checked_sync(link, 1, origin=0.5) for _ in range(2)]
    assert values == [0.5, 1.5]


async def test_origin_and_offset_add_up(make_link):
    link = make_link(480)
    link.force_beat(0)
    values = [await checked_sync(link, 2, offset=0.5, origin=1) for _ in range(2)]
    assert values == [1.5, 3.5]


async def test_offset_larger_than_the_step(make_link):
    link = make_link(480)
    link.force_beat(10)
    assert await checked_sync(link, 1, offset=7.25) == 10.25


async def test_negative_timeline(make_link):
    link = make_link(480)
    link.force_beat(-2.2)
    values = [await checked_sync(link, 1) for _ in range(3)]
    assert values == [-2.0, -1.0, 0.0]


async def test_arpeggiate_with_swing(make_link):
    """The seed's arpeggiate(): offset by keyword, alternating swing."""
    link = make_link(240)  # the shortest step (1.0 -> 1.25) is 62 ms
    link.force_beat(0)
    seen = []
    for i in range(4):
        swing = 0.25 if i % 2 == 1 else 0
        seen.append(await checked_sync(link, 1 / 2, offset=swing))
        seen.append(await checked_sync(link, 1 / 2, offset=0))
    assert seen == [0.5, 1.0, 1.25, 1.5, 2.0, 2.5, 2.75, 3.0]


async def test_future_value_is_the_grid_point_not_the_resume_beat(make_link):
    link = make_link(480)
    link.force_beat(1.6)
    fut = link.sync(1)
    value = await asyncio.wait_for(fut, TIMEOUT)
    beat = link.beat
    assert value == 2.0 and fut.result() == 2.0
    assert beat >= 2.0 - EPS


# ------------------------------------------------------- first sync (fix)

async def test_first_sync_on_a_brand_new_link_lands_on_its_grid():
    """aalink 0.2.3 returns 0.0 at once here; the port waits for the grid."""
    link = Link(480)
    try:
        b0 = link.beat
        fut = link.sync(1)
        b1 = link.beat  # the call's own beat lies between the two reads
        assert not fut.done()
        value = await asyncio.wait_for(fut, TIMEOUT)
        assert value > b0 and value in (math.floor(b0) + 1, math.floor(b1) + 1)
        assert link.beat >= value - EPS
    finally:
        link.close()


async def test_first_sync_on_a_brand_new_link_honours_offset_and_origin():
    link = Link(480)
    try:
        b0 = link.beat
        fut = link.sync(1, offset=0.25, origin=0.5)
        b1 = link.beat  # the call's own beat lies between the two reads
        assert not fut.done()
        value = await asyncio.wait_for(fut, TIMEOUT)
        assert is_grid_point(value, 1, 0.75)
        assert b0 < value <= b1 + 1 + EPS
        assert link.beat >= value - EPS
    finally:
        link.close()


def test_first_sync_in_a_fresh_asyncio_run():
    async def main():
        link = Link(600)
        try:
            return link.beat, await asyncio.wait_for(link.sync(0.5, offset=0.125), TIMEOUT)
        finally:
            link.close()

    b0, value = asyncio.run(main())
    assert value > b0 and is_grid_point(value, 0.5, 0.125)
    assert value != 0.0


# ------------------------------------------------ never the same point twice

async def test_never_the_same_grid_point_twice_in_a_row(make_link):
    link = make_link(300)  # 50 ms a step: keeping up must not need luck
    values = [await checked_sync(link, 0.25) for _ in range(8)]
    assert all(b > a for a, b in zip(values, values[1:])), values
    # a coroutine that keeps up gets every point of the grid
    assert all(b - a == pytest.approx(0.25) for a, b in zip(values, values[1:])), values


async def test_resuming_at_a_point_then_syncing_on_a_coarser_grid(make_link):
    """After resuming at 2.0, sync(1) is 3.0, sync(2) is 4.0, sync(1/2) is 2.5."""
    link = make_link(480)
    link.force_beat(1.8)
    assert await checked_sync(link, 1) == 2.0
    assert await checked_sync(link, 1) == 3.0
    assert await checked_sync(link, 2) == 4.0
    assert await checked_sync(link, 1 / 2) == 4.5


async def test_resync_from_a_done_callback_gets_the_next_point(make_link):
    """The earliest possible re-sync (from the future's own done-callback)."""
    link = make_link(480)
    link.force_beat(0.5)
    chained = []

    def again(fut):
        chained.append(link.sync(1))

    first = link.sync(1)
    first.add_done_callback(again)
    assert await asyncio.wait_for(first, TIMEOUT) == 1.0
    await asyncio.sleep(0)
    assert await asyncio.wait_for(chained[0], TIMEOUT) == 2.0


async def test_many_coroutines_on_one_grid(make_link):
    link = make_link(600)
    errors = []

    async def voice(step, n):
        values = []
        for _ in range(n):
            v = await link.sync(step)
            if link.beat < v - EPS:
                errors.append(("early", v, link.beat))
            if not is_grid_point(v, step):
                errors.append(("off grid", step, v))
            values.append(v)
        if any(b <= a for a, b in zip(values, values[1:])):
            errors.append(("repeat", values))
        return values

    results = await asyncio.wait_for(
        asyncio.gather(*(voice(0.25 if i % 2 else 0.5, 4) for i in range(200))), 10)
    assert not errors[:5]
    assert all(len(r) == 4 for r in results)


async def test_a_late_coroutine_misses_points_and_targets_the_next_one(make_link):
    link = make_link(600)  # 10 beats a second
    link.force_beat(0)
    assert await checked_sync(link, 0.25) == 0.25
    time.sleep(0.1)  # noqa: ASYNC251  block the loop for a whole beat: points 0.5..1.25 are gone
    b0 = link.beat
    value = await checked_sync(link, 0.25)
    assert value > b0 >= 1.0


# -------------------------------------------------------------- arguments

async def test_keyword_arguments(make_link):
    link = make_link(120)  # the 0.5 -> 0.625 step is 62 ms
    link.force_beat(0)
    swing = 0.25
    assert await checked_sync(link, 1 / 2, offset=swing) == 0.25
    v = await asyncio.wait_for(link.sync(beat=1, offset=0, origin=0.5), TIMEOUT)
    assert v == 0.5
    v = await asyncio.wait_for(link.sync(1, 0.125, 0.5), TIMEOUT)  # positional
    assert v == 0.625
    v = await asyncio.wait_for(link.sync(origin=3, beat=2), TIMEOUT)  # 1, 3, 5...
    assert v == 1.0


async def test_ints_floats_and_fractions_are_all_beats(make_link):
    link = make_link(600)
    link.force_beat(0)
    for step in (1, 1.0, Fraction(1, 1)):
        v = await asyncio.wait_for(link.sync(step), TIMEOUT)
        assert type(v) is float and v == int(v)


class Beats:
    """A number-like object that is only convertible with __float__."""

    def __init__(self, value):
        self.value = value

    def __float__(self):
        return float(self.value)


async def test_objects_with___float___are_accepted(make_link):
    link = make_link(600)
    link.force_beat(0)
    assert await asyncio.wait_for(link.sync(Beats(0.5), offset=Beats(0.25)), TIMEOUT) == 0.25


async def assert_still_usable(link, pending_before):
    assert link._scheduler_stats()["pending"] == pending_before
    value = await asyncio.wait_for(link.sync(0.25), TIMEOUT)
    assert is_grid_point(value, 0.25)


@pytest.mark.parametrize("bad", [0, 0.0, -0.0, -1, -0.5, Fraction(-1, 2), float("nan"),
                                 float("-inf")])
async def test_beat_not_greater_than_zero_is_a_value_error(make_link, bad):
    link = make_link(600)
    before = link._scheduler_stats()["pending"]
    with pytest.raises(ValueError):
        link.sync(bad)
    await assert_still_usable(link, before)


async def test_infinite_beat_is_a_value_error(make_link):
    link = make_link(600)
    with pytest.raises(ValueError):
        link.sync(float("inf"))
    await assert_still_usable(link, 0)


@pytest.mark.parametrize("bad", ["1", b"1", None, [1], (1,), {}, object(), 1j])
async def test_non_numbers_are_a_type_error(make_link, bad):
    link = make_link(600)
    with pytest.raises(TypeError):
        link.sync(bad)
    with pytest.raises(TypeError):
        link.sync(1, offset=bad)
    with pytest.raises(TypeError):
        link.sync(1, origin=bad)
    await assert_still_usable(link, 0)


async def test_bad_offset_and_origin_values(make_link):
    link = make_link(600)
    for kwargs in ({"offset": float("nan")}, {"origin": float("inf")},
                   {"offset": float("-inf")}):
        with pytest.raises(ValueError):
            link.sync(1, **kwargs)
    await assert_still_usable(link, 0)


async def test_bad_call_signatures(make_link):
    link = make_link(600)
    with pytest.raises(TypeError):
        link.sync()
    with pytest.raises(TypeError):
        link.sync(1, swing=0.25)
    with pytest.raises(TypeError):
        link.sync(1, 0, 0, 0)
    with pytest.raises(TypeError):
        link.sync(1, offset=0, beat=1)
    await assert_still_usable(link, 0)


async def test_errors_in_a_row_then_a_good_sync(make_link):
    link = make_link(600)
    link.force_beat(0)
    for bad in (0, "x", -3, None, float("nan"), [], 1j):
        with pytest.raises((ValueError, TypeError)):
            link.sync(bad)
    assert await checked_sync(link, 0.5) == 0.5


# ----------------------------------------------------- re-mapped timelines

async def test_force_beat_forward_resolves_a_pending_future_at_once(make_link):
    link = make_link(120)
    link.force_beat(0)
    fut = link.sync(4)  # two seconds away
    await asyncio.sleep(0.02)
    assert not fut.done()
    t0 = time.monotonic()
    link.force_beat(3.95)  # now 25 ms away
    assert await asyncio.wait_for(fut, TIMEOUT) == 4.0
    assert link.beat >= 4.0 - EPS
    assert time.monotonic() - t0 < 0.025 + LATE


async def test_force_beat_past_the_target_retargets_it_to_its_grid_after_the_edit(make_link):
    """An edit re-targets a pending sync to its own grid's first point at or
    after the beat the edit names (aalink 0.2.3): not the stale 0.5."""
    link = make_link(120)
    link.force_beat(0)
    fut = link.sync(2, offset=0.5)  # 0.5
    link.force_beat(10)
    assert await asyncio.wait_for(fut, 1) == 10.5
    assert link.beat >= 10.5 - EPS


async def test_force_beat_backward_retargets_a_pending_future(make_link):
    """Back to beat 0, a sync(4) pending for 4.0 now targets 0.0, the first
    point of its grid at or after 0: the timeline is there at once."""
    link = make_link(600)  # 10 beats a second
    link.force_beat(3.5)
    fut = link.sync(4)  # 50 ms away
    link.force_beat(0)
    assert await asyncio.wait_for(fut, TIMEOUT) == 0.0
    assert link.beat < 1.0


async def test_request_beat_retargets_pending_futures(make_link):
    """Alone in the session, request_beat maps the beat exactly."""
    link = make_link(120)
    link.request_beat(0)
    fut = link.sync(4)
    link.request_beat(3.95)
    assert await asyncio.wait_for(fut, 1) == 4.0
    assert link.beat >= 4.0 - EPS


async def test_set_is_playing_and_request_beat_at_time_retargets_pending_futures(make_link):
    link = make_link(120)
    link.force_beat(0)
    fut = link.sync(8)
    link.set_is_playing_and_request_beat_at_time(True, link.time, 7.95)
    assert await asyncio.wait_for(fut, 1) == 8.0
    assert link.playing is True
    assert link.beat >= 8.0 - EPS


async def test_request_beat_at_start_playing_time_retargets_pending_futures(make_link):
    link = make_link(120)
    link.force_beat(0)
    link.playing = True
    await asyncio.sleep(0.1)  # 0.2 beat since the start
    fut = link.sync(8)
    link.request_beat_at_start_playing_time(7.9)  # start is now beat 7.9: beat 8 is passed
    assert await asyncio.wait_for(fut, 1) == 8.0
    assert link.beat >= 8.0 - EPS


async def test_tempo_change_retargets_pending_futures(make_link):
    link = make_link(60)  # a beat a second
    link.force_beat(0)
    fut = link.sync(2)  # two seconds away
    link.tempo = 600  # now 0.2 s away
    t0 = time.monotonic()
    assert await asyncio.wait_for(fut, TIMEOUT) == 2.0
    assert link.beat >= 2.0 - EPS
    assert time.monotonic() - t0 < 0.2 + LATE


async def test_quantum_change_keeps_pending_futures_on_their_beats(make_link):
    link = make_link(600)
    link.force_beat(0)
    futures = [link.sync(s) for s in (0.5, 1, 1.5)]
    link.quantum = 4
    values = await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT)
    beat = link.beat
    assert all(is_grid_point(v, s) for v, s in zip(values, (0.5, 1, 1.5)))
    assert beat >= max(values) - EPS


# ----------------------------------------------- cancellation and timeouts

async def test_cancelled_future_is_dropped(make_link):
    link = make_link(480)
    fut = link.sync(1000)
    assert link._scheduler_stats()["pending"] == 1
    fut.cancel()
    await asyncio.sleep(0)
    assert link._scheduler_stats()["pending"] == 0
    await assert_still_usable(link, 0)


async def test_wait_for_timeouts_leave_nothing_behind(make_link):
    link = make_link(120)
    for _ in range(20):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(link.sync(1000), 0.005)
    await asyncio.sleep(0)
    assert link._scheduler_stats()["pending"] == 0
    await assert_still_usable(link, 0)


async def test_cancelling_some_keeps_the_others_on_time(make_link):
    link = make_link(600)
    link.force_beat(0)
    keep = [link.sync(0.5) for _ in range(5)]
    drop = [link.sync(0.5) for _ in range(5)]
    for f in drop:
        f.cancel()
    assert await asyncio.wait_for(asyncio.gather(*keep), TIMEOUT) == [0.5] * 5
    assert all(f.cancelled() for f in drop)
    assert link._scheduler_stats()["pending"] == 0


async def test_resolved_futures_leave_nothing_pending(make_link):
    link = make_link(600)
    await asyncio.wait_for(asyncio.gather(*(link.sync(0.25) for _ in range(50))), TIMEOUT)
    assert link._scheduler_stats()["pending"] == 0


# ------------------------------------------------------------- event loops

async def test_link_with_the_loop_as_in_the_seed():
    loop = asyncio.get_running_loop()
    link = Link(480, loop)
    try:
        link.enabled = True
        fut = link.sync(1)
        assert fut.get_loop() is loop
        assert await asyncio.wait_for(fut, TIMEOUT) > 0
    finally:
        link.close()


async def test_link_created_inside_a_running_loop_uses_it():
    link = Link(480)
    try:
        fut = link.sync(0.5)
        assert fut.get_loop() is asyncio.get_running_loop()
        await asyncio.wait_for(fut, TIMEOUT)
    finally:
        link.close()


def test_link_created_outside_a_loop_binds_to_the_loop_of_the_first_sync():
    link = Link(480)  # no running loop here: must not raise
    try:
        async def main():
            fut = link.sync(0.5)
            assert fut.get_loop() is asyncio.get_running_loop()
            return await asyncio.wait_for(fut, TIMEOUT)

        assert asyncio.run(main()) > 0
    finally:
        link.close()


def test_sync_outside_any_loop_is_a_runtime_error():
    link = Link(480)
    try:
        with pytest.raises(RuntimeError):
            link.sync(1)
        assert link._scheduler_stats()["pending"] == 0
    finally:
        link.close()


def test_sync_from_another_running_loop_is_a_runtime_error():
    bound = asyncio.new_event_loop()
    link = Link(480, bound)
    try:
        async def other():
            with pytest.raises(RuntimeError):
                link.sync(1)
            return "raised"

        assert asyncio.run(other()) == "raised"
        assert link._scheduler_stats()["pending"] == 0

        async def own():
            return await asyncio.wait_for(link.sync(0.5), TIMEOUT)

        assert bound.run_until_complete(own()) > 0  # its own loop still works
    finally:
        link.close()
        bound.close()


async def test_sync_from_a_loop_in_another_thread_is_a_runtime_error(make_link):
    link = make_link(480)
    await asyncio.wait_for(link.sync(0.25), TIMEOUT)  # bound to this loop
    errors = []

    def in_thread():
        async def other():
            try:
                link.sync(1)
            except RuntimeError as e:
                errors.append(e)

        asyncio.run(other())

    await asyncio.to_thread(in_thread)
    assert len(errors) == 1
    assert link._scheduler_stats()["pending"] == 0


async def test_sync_from_a_plain_thread_points_at_run_coroutine_threadsafe(make_link):
    link = make_link(480)
    loop = asyncio.get_running_loop()

    def in_thread():
        with pytest.raises(RuntimeError, match="run_coroutine_threadsafe"):
            link.sync(1)

        async def on_the_loop():
            assert threading.current_thread() is threading.main_thread()
            return await link.sync(0.5)

        return asyncio.run_coroutine_threadsafe(on_the_loop(), loop).result(TIMEOUT)

    value = await asyncio.to_thread(in_thread)
    assert is_grid_point(value, 0.5)
    assert link._scheduler_stats()["pending"] == 0


def test_after_its_loop_is_closed_a_link_follows_the_next_asyncio_run():
    link = Link(600)
    try:
        async def main():
            fut = link.sync(0.25)
            assert fut.get_loop() is asyncio.get_running_loop()
            return await asyncio.wait_for(fut, TIMEOUT)

        first = asyncio.run(main())
        second = asyncio.run(main())
        third = asyncio.run(main())
        assert 0 < first < second < third
    finally:
        link.close()


def test_seed_form_link_follows_the_next_loop_after_its_own_is_closed():
    async def seed():
        link = Link(600, asyncio.get_running_loop())
        await asyncio.wait_for(link.sync(0.25), TIMEOUT)
        return link

    link = asyncio.run(seed())
    try:
        async def later():
            return await asyncio.wait_for(link.sync(0.25), TIMEOUT)

        assert asyncio.run(later()) > 0
    finally:
        link.close()


async def test_sync_on_a_closed_link_is_a_runtime_error():
    link = Link(600)
    link.close()
    with pytest.raises(RuntimeError):
        link.sync(1)
