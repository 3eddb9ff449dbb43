"""Timeline edits made by this program (request_beat, force_beat,
request_beat_at_start_playing_time, set_is_playing_and_request_beat_at_time)
re-target every pending sync once, at the edit, to the first point of its own
grid at or after the beat the edit names (aalink 0.2.3's
reschedule_sync_events); it then resolves when the timeline reaches it."""
import asyncio
import datetime

from support import EPS, TIMEOUT


async def test_force_beat_retargets_a_bar_line_to_the_next_bar(make_link):
    link = make_link(240)
    link.force_beat(1)
    fut = link.sync(4)  # 4.0
    link.force_beat(10.5)
    await asyncio.sleep(0.05)
    assert not fut.done()  # not the stale 4.0 at once
    assert await asyncio.wait_for(fut, TIMEOUT) == 12.0
    assert link.beat >= 12.0 - EPS


async def test_request_beat_retargets_with_offset_and_origin(make_link):
    link = make_link(480)
    link.request_beat(0)
    fut = link.sync(2, offset=0.5, origin=0.25)  # grid 0.75 + 2k
    link.request_beat(20)
    assert await asyncio.wait_for(fut, TIMEOUT) == 20.75
    assert link.beat >= 20.75 - EPS


async def test_an_edit_onto_the_grid_resolves_with_exactly_that_beat(make_link):
    link = make_link(120)
    link.force_beat(0)
    fut = link.sync(1)
    link.force_beat(7)
    assert await asyncio.wait_for(fut, 0.2) == 7.0  # at once


async def test_a_start_happening_now_mapped_to_beat_zero(make_link):
    """start_stop_sync.py from aalink: after ten minutes of session, sync(1)
    pending when request_beat_at_start_playing_time(0) maps a start that is
    happening now resolves with 0.0 at the start, not at beat 601."""
    link = make_link(120)
    link.force_beat(600.3)
    fut = link.sync(1)  # 601.0
    link.playing = True
    link.request_beat_at_start_playing_time(0)
    assert await asyncio.wait_for(fut, 0.3) == 0.0
    assert link.beat < 1.0


async def test_set_is_playing_and_request_beat_at_time_retargets_at_that_time(make_link):
    link = make_link(240)
    link.force_beat(0)
    fut = link.sync(2)  # 2.0
    at = link.time + datetime.timedelta(seconds=0.4)
    link.set_is_playing_and_request_beat_at_time(True, at, 7)
    assert await asyncio.wait_for(fut, TIMEOUT) == 8.0
    assert link.time >= at


async def test_every_retargets_its_pending_step(make_link):
    link = make_link(480)
    link.force_beat(0)
    values = []
    first_seen = asyncio.Event()

    async def consume():
        async for b in link.every(1):
            values.append(b)
            first_seen.set()
            if len(values) == 4:
                return

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(first_seen.wait(), TIMEOUT)
    await asyncio.sleep(0.005)  # its next step is pending
    link.force_beat(10.5)  # every()'s pending step targets 11.0
    await asyncio.wait_for(task, TIMEOUT)
    first = values[0]
    assert values[1:] == [11.0, 12.0, 13.0], (first, values)


async def test_tempo_change_keeps_targets_on_their_beats(make_link):
    link = make_link(600)
    link.force_beat(0)
    fut = link.sync(3)
    link.tempo = 300
    assert await asyncio.wait_for(fut, TIMEOUT) == 3.0
