"""Issue 8: latency lead, beat <-> time, every(), tempo ramps, lateness stats."""
import asyncio
import datetime
import time

import pytest

from conftest import wait_until

EPS = 1e-6


def beats_per_second(link):
    return link.tempo / 60.0


# ---- latency lead ----

async def test_lead_defaults_to_zero_and_keeps_never_early(make_link):
    link = make_link(480)
    assert link.lead == 0.0
    for _ in range(6):
        b = await link.sync(0.25)
        assert link.beat >= b - EPS


@pytest.mark.parametrize("lead", [0.02, 0.1])
async def test_lead_resolves_early_but_never_before_beat_minus_lead(make_link, lead):
    link = make_link(240)  # 4 beats/s: lead 0.1 s = 0.4 beat > the 0.25 grid
    values = []
    early = []
    for _ in range(8):
        b = await link.sync(0.25, lead=lead)
        now = link.beat
        lead_beats = lead * beats_per_second(link)
        assert now >= b - lead_beats - EPS  # never earlier than beat - lead
        early.append(b - now)
        values.append(b)
    # the value is the grid point and no point comes twice
    assert all(abs(v * 4 - round(v * 4)) < 1e-9 for v in values)
    assert all(b > a for a, b in zip(values, values[1:]))
    # resolved ahead of the beat: typically about lead (generous: half)
    assert sorted(early)[len(early) // 2] > lead * 4 * 0.5


async def test_link_lead_is_the_default_for_sync(make_link):
    link = make_link(240)
    link.lead = 0.05
    assert link.lead == pytest.approx(0.05)
    b = await link.sync(1)
    assert b - link.beat > 0.05 * 4 * 0.5
    b = await link.sync(1, lead=0)
    assert link.beat >= b - EPS


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), 61])
def test_bad_lead_raises_value_error(make_link, bad):
    link = make_link(120)
    with pytest.raises(ValueError):
        link.lead = bad
    assert link.lead == 0.0


def test_lead_type_errors(make_link):
    link = make_link(120)
    with pytest.raises(TypeError):
        link.lead = "fast"
    with pytest.raises(TypeError):
        link.lead = None


# ---- beat <-> time ----

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


# ---- every() ----

async def test_every_yields_successive_grid_points(make_link):
    link = make_link(480)
    got = []
    async for b in link.every(0.5, offset=0.25):
        assert link.beat >= b - EPS
        got.append(b)
        if len(got) == 5:
            break
    assert all(b - a == 0.5 for a, b in zip(got, got[1:]))
    assert (got[0] - 0.25) % 0.5 == pytest.approx(0)


async def test_every_delivers_missed_points_in_order_when_late(make_link):
    link = make_link(600)  # 10 beats/s
    got = []
    async for b in link.every(0.25):
        got.append((b, link.beat))
        if len(got) == 1:
            time.sleep(0.35)  # block the loop for ~3.5 beats = 14 points
        if len(got) == 8:
            break
    values = [b for b, _ in got]
    assert all(b - a == 0.25 for a, b in zip(values, values[1:]))
    # the missed ones came at once, after their beats
    assert all(beat >= b - EPS for b, beat in got)
    assert got[3][1] - got[3][0] > 0.5


async def test_every_skip_late_skips_missed_points(make_link):
    link = make_link(240)  # 62 ms a point: room to resume and ask for the next
    got = []
    async for b in link.every(0.25, skip_late=True):
        got.append(b)
        if len(got) == 1:
            time.sleep(0.85)
        if len(got) == 3:
            break
    assert got[1] - got[0] >= 3.0  # the 14 missed points were skipped
    assert got[2] - got[1] == 0.25


async def test_every_rejects_bad_grids(make_link):
    link = make_link(120)
    with pytest.raises(ValueError):
        async for _ in link.every(0):
            pass
    with pytest.raises(TypeError):
        async for _ in link.every("1"):
            pass


# ---- tempo ramps ----

async def test_ramp_reaches_peers_and_syncs_land_on_beats(make_link):
    """120 -> 180 bpm over 8 beats: the peer follows the ramp at every beat.

    Link relays a changed timeline at most every 50 ms; at the top of this
    ramp the tempo moves 1.1 bpm in 50 ms, so the peer is held to 0.5 bpm
    typically (median) and 1.2 bpm at worst.
    """
    a = make_link(120)
    b = make_link(120)
    a.enabled = b.enabled = True
    assert await wait_until(lambda: a.num_peers == 1 and b.num_peers == 1, timeout=10)
    start = await a.sync(1)
    a.ramp_tempo(180, 8)
    assert a.ramping
    early, errors = [], []
    for _ in range(8):
        v = await a.sync(1)
        # the beat first: a stall between the two reads then works against
        # the peer's relay lag instead of adding to it
        beat = a.beat
        peer_tempo = b.tempo
        if beat < v - EPS:
            early.append((v, beat))
        expected = 120 + 60 * min(max((beat - start) / 8, 0), 1)
        errors.append(abs(peer_tempo - expected))
    assert not early
    assert sorted(errors)[len(errors) // 2] <= 0.5, errors
    assert max(errors) <= 1.2, errors
    assert await wait_until(lambda: not a.ramping, timeout=2)
    assert a.tempo == pytest.approx(180, abs=0.01)
    assert await wait_until(lambda: abs(b.tempo - 180) < 0.01, timeout=2)


async def test_a_tempo_change_cancels_the_ramp(make_link):
    link = make_link(120)
    link.ramp_tempo(200, 16)
    await asyncio.sleep(0.2)
    link.tempo = 90
    await asyncio.sleep(0.2)
    assert not link.ramping
    assert link.tempo == pytest.approx(90)


def test_ramp_argument_errors(make_link):
    link = make_link(120)
    with pytest.raises(ValueError):
        link.ramp_tempo(float("nan"), 4)
    with pytest.raises(ValueError):
        link.ramp_tempo(140, -1)
    with pytest.raises(TypeError):
        link.ramp_tempo("fast", 4)
    assert not link.ramping


# ---- lateness stats ----

async def test_stats_count_and_reset(make_link):
    link = make_link(480)
    assert link.stats["count"] == 0
    for _ in range(10):
        await link.sync(0.25)
    s = link.stats
    assert s["count"] == 10
    assert 0 <= s["p50_ms"] <= s["p99_ms"] <= s["max_ms"] < 100
    assert s["mean_ms"] <= s["max_ms"]
    link.reset_stats()
    assert link.stats["count"] == 0


async def test_stats_see_a_busy_loop(make_link):
    link = make_link(480)
    fut = link.sync(0.25)
    time.sleep(0.15)  # the loop cannot resolve it on time
    await fut
    assert link.stats["max_ms"] > 50


async def test_cancelled_futures_are_not_counted(make_link):
    link = make_link(600)
    futures = [link.sync(0.25) for _ in range(5)]
    futures[0].cancel()
    await asyncio.gather(*futures[1:])
    assert link.stats["count"] == 4


# ---- follow on join: Link(None) ----

async def test_follow_alone_falls_back_to_120_after_the_window(make_link):
    link = make_link(None)
    assert link.tempo == pytest.approx(120)
    assert not link.following
    link.enabled = True
    assert link.following
    assert await wait_until(lambda: not link.following, timeout=3)
    assert link.tempo == pytest.approx(120)
    assert link.enabled


async def test_follow_adopts_an_existing_session_without_changing_it(make_link):
    band = make_link(97)
    band.enabled = True
    await asyncio.sleep(0.6)
    me = make_link(None)
    me.enabled = True
    assert await wait_until(lambda: me.num_peers == 1, timeout=10)
    assert me.tempo == pytest.approx(97, abs=0.01)
    assert not me.following
    await asyncio.sleep(0.5)
    assert band.tempo == pytest.approx(97, abs=0.01)


async def test_follow_keeps_the_timeline_running_while_looking(make_link):
    link = make_link(None)
    link.enabled = True
    values = [await link.sync(0.5) for _ in range(4)]  # spans re-foundings
    assert all(b - a == 0.5 for a, b in zip(values, values[1:]))


def test_disabling_ends_following(make_link):
    link = make_link(None)
    link.enabled = True
    link.enabled = False
    assert not link.following
