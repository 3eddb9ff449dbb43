"""Link.every(): an async iterator over the points of a grid, late points
delivered in order or skipped (skip_late=True)."""
import time

import pytest

from support import EPS


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
            time.sleep(0.35)  # noqa: ASYNC251  block the loop for ~3.5 beats = 14 points
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
            time.sleep(0.85)  # noqa: ASYNC251  block the loop: 14 points go by
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
