"""Tempo ramps: ramp_tempo() moves the tempo smoothly, peers follow, a tempo
change cancels it."""
import asyncio

import pytest

from support import EPS, wait_until


async def test_ramp_reaches_peers_and_syncs_land_on_beats(make_link):
    """120 -> 180 bpm over 8 beats: the peer follows the ramp at every beat.

    Link relays a changed timeline at most every 50 ms; at the top of this
    ramp the tempo moves 1.1 bpm in 50 ms.  The peer is held to one relay
    interval of lag typically (median 1.0 bpm) and two at worst (2.2 bpm):
    generous for a loaded machine, where the peer's own thread runs late
    (an idle one measures about 0.1-0.5 bpm), and still far below what a
    peer that does not follow the ramp shows (up to 60 bpm).
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
    assert sorted(errors)[len(errors) // 2] <= 1.0, errors
    assert max(errors) <= 2.2, errors
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
