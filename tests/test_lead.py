"""The latency lead: sync(..., lead=) and Link.lead resolve a future up to
lead seconds before its beat, never earlier."""

import pytest

from support import EPS


def beats_per_second(link):
    return link.tempo / 60.0


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
