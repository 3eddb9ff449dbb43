"""Our Link against LinkHut, Ableton's own command-line Link peer.

LinkHut (ableton-link-utils) runs on a pseudo-terminal against a headless
JACK server (see linkhut.py); the tests skip, with the reason, where the
two are not installed (set AALINK_REQUIRE_LINKHUT=1 to make that a failure).
"""
import asyncio
import statistics

import pytest

from support import wait_until
from support.linkhut import now_us, our_beat_at, wait_joined, wrap


async def sleep_then_now(seconds):
    await asyncio.sleep(seconds)
    return now_us()


async def test_linkhut_and_our_link_see_each_other(make_link, linkhut_on):
    link = make_link(120)
    link.enabled = True
    await wait_joined(link, linkhut_on)


async def test_tempo_change_in_linkhut_reaches_us(make_link, linkhut_on):
    link = make_link(120)
    link.enabled = True
    await wait_joined(link, linkhut_on)
    heard = []
    link.set_tempo_callback(heard.append)
    assert await asyncio.to_thread(linkhut_on.set_tempo, 131)
    assert await wait_until(lambda: abs(link.tempo - 131) < 0.01, timeout=5)
    assert await wait_until(lambda: heard and abs(heard[-1] - 131) < 0.01, timeout=5)


async def test_tempo_change_from_us_reaches_linkhut(make_link, linkhut_on):
    link = make_link(120)
    link.enabled = True
    await wait_joined(link, linkhut_on)
    link.tempo = 87.5
    assert await asyncio.to_thread(linkhut_on.wait_for, lambda s: s.tempo == 87.5, 5)
    assert link.tempo == pytest.approx(87.5)


async def test_start_stop_from_linkhut_reaches_us_and_beats_line_up_with_its_bar(
        make_link, linkhut_on):
    hut = linkhut_on
    link = make_link(120)
    link.quantum = 4
    link.start_stop_sync_enabled = True
    link.enabled = True
    await wait_joined(link, hut)
    assert await asyncio.to_thread(hut.set_start_stop_sync, True)
    heard = []
    link.set_start_stop_callback(heard.append)
    assert link.playing is False

    assert await asyncio.to_thread(hut.set_playing, True)
    assert await wait_until(lambda: link.playing, timeout=5)
    assert await wait_until(lambda: heard == [True], timeout=5)
    # LinkHut puts beat 0 of its bar at the start time; so do we.
    link.request_beat_at_start_playing_time(0)
    t = await sleep_then_now(0.3)
    ours, theirs = our_beat_at(link, t), hut.beat_at(t)
    # Not only the phase: the same beat number (LinkHut counts in from -4
    # when the start falls before its bar line), 20 ms at 120 bpm.
    assert ours == pytest.approx(theirs, abs=0.04), (ours, theirs)
    assert -4 <= ours < 4

    assert await asyncio.to_thread(hut.set_playing, False)
    assert await wait_until(lambda: not link.playing, timeout=5)
    assert await wait_until(lambda: heard == [True, False], timeout=5)


async def test_our_sync_beats_agree_with_linkhut_beat_column(make_link, linkhut_on):
    hut = linkhut_on
    link = make_link(120)
    link.quantum = 4
    link.enabled = True
    await wait_joined(link, hut)
    link.tempo = 240  # 4 beats a second: more beats in less time
    assert await asyncio.to_thread(hut.wait_for, lambda s: s.tempo == 240, 5)
    resumes = []
    for _ in range(8):
        grid = await link.sync(1)
        resumes.append((grid, now_us()))
    await asyncio.sleep(0.2)  # LinkHut's lines after the last beat
    errors_ms = []
    for grid, t in resumes:
        theirs = hut.beat_at(t)
        # The same phase of the bar (beat magnitudes may differ by whole bars).
        errors_ms.append(wrap(theirs - grid) / 4 * 1000)  # 240 bpm: 4 beats/s
    print("sync(1) vs LinkHut beat column, ms:", [round(e, 2) for e in errors_ms])
    assert max(abs(e) for e in errors_ms) < 15, errors_ms
    assert abs(statistics.median(errors_ms)) < 8, errors_ms


async def test_linkhut_quitting_leaves_us_alone_with_a_running_timeline(make_link, linkhut_on):
    link = make_link(100)
    link.enabled = True
    await wait_joined(link, linkhut_on)
    assert await asyncio.to_thread(linkhut_on.quit)
    assert await wait_until(lambda: link.num_peers == 0, timeout=10)
    assert link.enabled
    assert link.tempo == pytest.approx(120)  # LinkHut's session tempo, kept
    b0, t0 = link.beat, now_us()
    grid = await asyncio.wait_for(link.sync(1), timeout=2)
    assert grid > b0
    b1, t1 = link.beat, now_us()
    assert b1 >= grid
    assert (b1 - b0) == pytest.approx((t1 - t0) / 60e6 * 120, abs=0.01)
