"""Beat <-> time: time_at_beat(), beat_at_time() and clock_offset (Link time
to time.monotonic() and the loop's time)."""
import asyncio
import datetime
import time

import pytest


def test_time_at_beat_and_beat_at_time_are_inverses(make_link):
    link = make_link(133)
    link.quantum = 4
    for beat in (0.0, 1.5, 17.25, 1000.125, -3.0):
        t = link.time_at_beat(beat)
        assert isinstance(t, datetime.timedelta)
        assert link.beat_at_time(t) == pytest.approx(beat, abs=133 / 60 * 1e-6 + 1e-6)
    now = link.time
    assert link.time_at_beat(link.beat_at_time(now)) - now <= datetime.timedelta(microseconds=1)
    assert link.beat_at_time(now.total_seconds()) == pytest.approx(link.beat_at_time(now),
                                                                   abs=1e-5)


def test_time_at_beat_follows_the_tempo(make_link):
    link = make_link(120)
    t0 = link.time_at_beat(10)
    t1 = link.time_at_beat(12)
    assert (t1 - t0).total_seconds() == pytest.approx(1.0, abs=1e-5)


def test_clock_offset_maps_link_time_to_monotonic(make_link):
    link = make_link(120)
    offset = link.clock_offset
    for _ in range(5):
        m0 = time.monotonic()
        mapped = link.time.total_seconds() + offset
        m1 = time.monotonic()
        assert m0 - 0.001 <= mapped <= m1 + 0.001


async def test_clock_offset_gives_the_loop_time_of_a_beat(make_link):
    link = make_link(240)
    loop = asyncio.get_running_loop()
    target = link.beat + 2
    when = link.time_at_beat(target).total_seconds() + link.clock_offset
    fired = loop.create_future()
    loop.call_at(when, lambda: fired.set_result(link.beat))
    beat = await asyncio.wait_for(fired, 3)
    assert beat == pytest.approx(target, abs=0.05 * 4)  # within 50 ms
