"""Link's properties and session methods, from the API page.

Round trips of the settable properties (quantum, enabled,
start_stop_sync_enabled, tempo, playing), the read-only ones (num_peers, beat,
phase, time), the timeline methods (request_beat, force_beat,
request_beat_at_start_playing_time, set_is_playing_and_request_beat_at_time),
and the port's own decisions: tempo finite and > 0, clamped to 20..999;
quantum finite and > 0; bool properties take bool or int only; times are
timedelta or float seconds; close() and the context manager.  Also the
whole chain: import, construct, the native type, two Links finding each
other and sharing the tempo.
"""
import asyncio
import datetime
import sys
import time
from fractions import Fraction

import pytest

import aalink
from aalink import Link
from support import beats, since, wait_until

# ------------------------------------------------------- import, construct

def test_import_and_construct(make_link):
    link = make_link(120)
    assert isinstance(link, Link)
    assert type(link).__module__ == "aalink"
    assert link.enabled is False
    assert link.num_peers == 0
    assert aalink.Link is Link


def test_link_is_native():
    from aalink import _aalink

    assert _aalink.__file__.endswith((".so", ".pyd"))
    assert Link is _aalink.Link


# ------------------------------------------------------------------ quantum

def test_quantum_defaults_to_one(make_link):
    link = make_link(120)
    assert link.quantum == 1.0
    assert type(link.quantum) is float


@pytest.mark.parametrize("value, expected", [(4, 4.0), (3.5, 3.5), (Fraction(3, 2), 1.5),
                                             (0.25, 0.25), (1, 1.0)])
def test_quantum_round_trip(make_link, value, expected):
    link = make_link(120)
    link.quantum = value
    assert link.quantum == expected
    assert type(link.quantum) is float


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-4, ValueError),
                                        (float("nan"), ValueError), (float("inf"), ValueError),
                                        ("4", TypeError), (None, TypeError), ([4], TypeError)])
def test_bad_quantum_is_rejected_and_changes_nothing(make_link, bad, error):
    link = make_link(120)
    link.quantum = 4
    with pytest.raises(error):
        link.quantum = bad
    assert link.quantum == 4.0
    assert 0 <= link.phase < 4


def test_quantum_sets_the_range_of_phase(make_link):
    link = make_link(600)
    for q in (1, 2, 3.5, 4, 0.75):
        link.quantum = q
        for _ in range(50):
            p = link.phase
            assert 0 <= p < q
            time.sleep(0.001)


# --------------------------------------------------------- bool properties

@pytest.mark.parametrize("name", ["enabled", "start_stop_sync_enabled"])
def test_bool_property_round_trip(make_link, name):
    link = make_link(120)
    assert getattr(link, name) is False
    setattr(link, name, True)
    assert getattr(link, name) is True
    setattr(link, name, False)
    assert getattr(link, name) is False
    setattr(link, name, 1)  # ints are accepted
    assert getattr(link, name) is True
    setattr(link, name, 0)
    assert getattr(link, name) is False


@pytest.mark.parametrize("name", ["enabled", "start_stop_sync_enabled", "playing"])
@pytest.mark.parametrize("bad", ["yes", "", None, 1.0, [True], object()])
def test_bool_property_takes_only_bool_or_int(make_link, name, bad):
    link = make_link(120)
    before = getattr(link, name)
    with pytest.raises(TypeError):
        setattr(link, name, bad)
    assert getattr(link, name) is before


@pytest.mark.parametrize("name", ["enabled", "start_stop_sync_enabled", "playing", "tempo",
                                  "quantum"])
def test_settable_properties_cannot_be_deleted(make_link, name):
    link = make_link(120)
    with pytest.raises((AttributeError, TypeError)):
        delattr(link, name)


async def test_two_links_find_each_other_and_share_tempo(make_link):
    a = make_link(120)
    b = make_link(100)
    a.enabled = True
    b.enabled = True
    assert await wait_until(lambda: a.num_peers == 1 and b.num_peers == 1, timeout=10)
    a.tempo = 133
    assert await wait_until(lambda: abs(b.tempo - 133) < 0.01, timeout=5)
    b.tempo = 87
    assert await wait_until(lambda: abs(a.tempo - 87) < 0.01, timeout=5)


def test_enabling_alone_finds_no_peers(make_link):
    link = make_link(120)
    link.enabled = True
    time.sleep(0.1)
    assert link.num_peers == 0
    link.enabled = False
    assert link.num_peers == 0


# ---------------------------------------------------------------- tempo

@pytest.mark.parametrize("bpm", [20, 60, 97.5, 120, Fraction(241, 2), 600, 999])
def test_tempo_round_trip(make_link, bpm):
    link = make_link(120)
    link.tempo = bpm
    assert link.tempo == pytest.approx(float(bpm), abs=1e-6)
    assert type(link.tempo) is float


def read_back(get, expected, timeout=1.0):
    """Poll get() until it is expected: Link applies a commit on its own
    thread, and a second commit right behind the first can read back the
    first for a moment (see README, "Decisions of this port")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and get() != pytest.approx(expected):
        time.sleep(0.001)
    return get()


def test_successive_tempo_commits_read_back(make_link):
    link = make_link(120)
    assert link.tempo == pytest.approx(120)
    link.tempo = 97.5
    assert link.tempo == pytest.approx(97.5)  # a single commit reads back at once
    link.tempo = 140
    assert read_back(lambda: link.tempo, 140) == pytest.approx(140)
    link.tempo = 60
    assert read_back(lambda: link.tempo, 60) == pytest.approx(60)


@pytest.mark.parametrize("bad", ["120", b"120", [120], object(), 1j])
def test_bad_tempo_type_at_construction_raises_type_error(bad):
    with pytest.raises(TypeError):
        Link(bad)


def test_bad_tempo_value_at_construction_raises_value_error():
    for bad in (float("nan"), float("inf"), 0, -5):
        with pytest.raises(ValueError):
            Link(bad)


def test_tempo_is_clamped_to_links_range(make_link):
    link = make_link(120)
    link.tempo = 5
    assert link.tempo == pytest.approx(20)
    link.tempo = 5000
    assert link.tempo == pytest.approx(999)
    assert make_link(10).tempo == pytest.approx(20)
    assert make_link(1e6).tempo == pytest.approx(999)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-120, ValueError),
                                        (float("nan"), ValueError), (float("inf"), ValueError),
                                        (float("-inf"), ValueError), ("120", TypeError),
                                        (None, TypeError), (1j, TypeError)])
def test_bad_tempo_is_rejected_and_changes_nothing(make_link, bad, error):
    link = make_link(133)
    with pytest.raises(error):
        link.tempo = bad
    assert link.tempo == pytest.approx(133)


def assert_beat_rate(link, beats_per_second, seconds):
    m0 = time.monotonic()
    b0 = link.beat
    m1 = time.monotonic()
    time.sleep(seconds)
    m2 = time.monotonic()
    b1 = link.beat
    m3 = time.monotonic()
    # between the two reads lies at least m2 - m1 and at most m3 - m0
    assert (beats_per_second * (m2 - m1) * 0.999 - 1e-6 <= b1 - b0
            <= beats_per_second * (m3 - m0) * 1.001 + 1e-6)


def test_beat_advances_at_the_tempo(make_link):
    """At the tempo given to the constructor, then at the one set."""
    link = make_link(240)  # 4 beats a second
    assert_beat_rate(link, 4, 0.5)
    link.tempo = 300  # 5 beats a second
    assert_beat_rate(link, 5, 0.3)


def test_tempo_change_keeps_the_beat_continuous(make_link):
    link = make_link(120)
    link.force_beat(10)
    t0 = time.monotonic()
    before = link.beat
    link.tempo = 480
    after = link.beat
    assert before <= after < before + since(link, t0)  # at most 480 bpm throughout


# -------------------------------------------------------------- playing

def test_quick_start_stop_commits_keep_the_last(make_link):
    """Link applies a commit on its own thread; a start/stop commit issued
    while it still applied the one before used to be dropped (about one
    time in two here, without the setter waiting for Link)."""
    wrong = 0
    for _ in range(50):
        link = make_link(120)
        link.playing = True
        link.playing = False
        link.playing = True
        wrong += link.playing is not True
        link.close()
    assert wrong == 0


def test_playing_round_trip(make_link):
    link = make_link(120)
    assert link.playing is False
    link.playing = True
    assert link.playing is True
    link.playing = False
    assert link.playing is False
    link.playing = 1
    assert link.playing is True


def test_playing_does_not_move_the_beat(make_link):
    link = make_link(240)
    t0 = time.monotonic()
    link.force_beat(8)
    link.playing = True
    assert 8 - 1e-6 <= link.beat < 8 + since(link, t0)


# ------------------------------------------------------ read-only properties

@pytest.mark.parametrize("name, value", [("num_peers", 3), ("beat", 1.0), ("phase", 0.5),
                                         ("time", datetime.timedelta(seconds=1))])
def test_read_only_properties(make_link, name, value):
    link = make_link(120)
    with pytest.raises(AttributeError):
        setattr(link, name, value)


def test_num_peers_is_an_int_zero_when_alone(make_link):
    link = make_link(120)
    assert link.num_peers == 0 and type(link.num_peers) is int


def test_beat_is_a_float_that_advances(make_link):
    link = make_link(600)
    samples = []
    for _ in range(20):
        samples.append(link.beat)
        time.sleep(0.002)
    assert all(type(b) is float for b in samples)
    assert all(a <= b for a, b in zip(samples, samples[1:]))
    assert samples[-1] > samples[0]


@pytest.mark.parametrize("quantum", [1, 2, 4, 1.5])
def test_phase_is_the_beat_modulo_the_quantum(make_link, quantum):
    link = make_link(120)
    link.quantum = quantum
    t0 = time.monotonic()
    link.force_beat(quantum * 3 + 0.25)
    phase = link.phase
    assert type(phase) is float
    assert 0 <= phase < quantum
    assert 0.25 - 1e-6 <= phase < 0.25 + since(link, t0)
    b0 = link.beat
    phase = link.phase
    b1 = link.beat
    assert b0 - 3 * quantum - 1e-6 <= phase <= b1 - 3 * quantum + 1e-6


def test_phase_of_a_negative_beat_is_still_in_range(make_link):
    link = make_link(120)
    link.quantum = 4
    t0 = time.monotonic()
    link.force_beat(-1)
    assert 3 - 1e-6 <= link.phase < 3 + since(link, t0)


def test_time_is_a_monotonic_timedelta(make_link):
    link = make_link(120)
    samples = [link.time for _ in range(1000)]
    assert all(type(t) is datetime.timedelta for t in samples)
    assert all(a <= b for a, b in zip(samples, samples[1:]))
    m0 = time.monotonic()
    t0 = link.time
    time.sleep(0.05)
    elapsed = (link.time - t0).total_seconds()
    assert 0.05 * 0.999 - 1e-6 <= elapsed <= (time.monotonic() - m0) * 1.001 + 1e-6


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Link's clock on Linux")
def test_time_is_links_clock(make_link):
    """On Linux Link's clock is CLOCK_MONOTONIC_RAW, in microseconds."""
    link = make_link(120)
    raw0 = time.clock_gettime(time.CLOCK_MONOTONIC_RAW)
    t = link.time.total_seconds()
    raw1 = time.clock_gettime(time.CLOCK_MONOTONIC_RAW)
    assert raw0 - 1e-6 <= t <= raw1 + 1e-6  # whole microseconds


def test_two_links_share_a_clock(make_link):
    a = make_link(120)
    b = make_link(120)
    a0 = a.time
    b_time = b.time
    a1 = a.time
    assert a0 <= b_time <= a1


# --------------------------------------------------------- timeline methods

@pytest.mark.parametrize("method", ["request_beat", "force_beat"])
@pytest.mark.parametrize("beat", [0, 4, 11.5, -3.25, Fraction(7, 2), 1000])
def test_map_a_beat_to_now(make_link, method, beat):
    """Alone in a session, both map the beat to now exactly."""
    link = make_link(120)
    t0 = time.monotonic()
    getattr(link, method)(beat)
    now = link.beat
    assert float(beat) - 1e-6 <= now < float(beat) + since(link, t0)


@pytest.mark.parametrize("method", ["request_beat", "force_beat"])
def test_map_a_beat_with_a_quantum(make_link, method):
    link = make_link(120)
    link.quantum = 4
    t0 = time.monotonic()
    getattr(link, method)(6)
    assert 6 - 1e-6 <= link.beat < 6 + since(link, t0)
    assert 2 - 1e-6 <= link.phase < 2 + since(link, t0)


@pytest.mark.parametrize("method", ["request_beat", "force_beat",
                                    "request_beat_at_start_playing_time"])
@pytest.mark.parametrize("bad, error", [("1", TypeError), (None, TypeError),
                                        (float("nan"), ValueError), (float("inf"), ValueError)])
def test_timeline_methods_reject_bad_beats(make_link, method, bad, error):
    link = make_link(120)
    link.force_beat(2)
    with pytest.raises(error):
        getattr(link, method)(bad)
    assert 2 <= link.beat < 2 + beats(link, 0.5)  # untouched


def test_request_beat_at_start_playing_time_is_a_no_op_when_stopped(make_link):
    link = make_link(120)
    t0 = time.monotonic()
    link.force_beat(10)
    link.request_beat_at_start_playing_time(0)
    assert link.playing is False
    assert 10 - 1e-6 <= link.beat < 10 + since(link, t0)


def test_request_beat_at_start_playing_time_aligns_the_start(make_link):
    link = make_link(120)
    link.force_beat(10)
    t0 = time.monotonic()
    link.playing = True
    time.sleep(0.1)
    link.request_beat_at_start_playing_time(0)
    # beat 0 was at the start: now we are 0.1 s (0.2 beat) or a bit more past it
    beat = link.beat
    assert beats(link, 0.1 * 0.999) - 1e-6 <= beat < since(link, t0)
    assert link.playing is True


def test_set_is_playing_and_request_beat_at_time_with_a_timedelta(make_link):
    link = make_link(120)
    link.force_beat(10)
    t0 = time.monotonic()
    now = link.time
    link.set_is_playing_and_request_beat_at_time(True, now, 0)
    assert link.playing is True
    assert -1e-6 <= link.beat < since(link, t0)
    # Stopping: Link maps the beat only when playing (as requestBeatAtStartPlayingTime)
    t0 = time.monotonic()
    before = link.beat
    link.set_is_playing_and_request_beat_at_time(False, link.time, 3)
    assert link.playing is False
    assert before <= link.beat < before + since(link, t0)


def test_set_is_playing_and_request_beat_at_time_with_float_seconds(make_link):
    link = make_link(120)
    t0 = time.monotonic()
    seconds = link.time.total_seconds() + 0.5  # half a second ahead, one beat at 120
    link.set_is_playing_and_request_beat_at_time(True, seconds, 4)
    assert link.playing is True
    assert 3 - 1e-6 <= link.beat < 3 + since(link, t0)


def test_set_is_playing_and_request_beat_at_time_in_the_past(make_link):
    link = make_link(120)
    t0 = time.monotonic()
    past = link.time - datetime.timedelta(seconds=1)  # two beats ago at 120
    link.set_is_playing_and_request_beat_at_time(True, past, 0)
    assert 2 - 1e-6 <= link.beat < 2 + since(link, t0)


def test_set_is_playing_and_request_beat_at_time_float_and_timedelta_agree(make_link):
    a = make_link(120)
    b = make_link(120)
    t = a.time + datetime.timedelta(seconds=0.25)
    a.set_is_playing_and_request_beat_at_time(True, t, 8)
    b.set_is_playing_and_request_beat_at_time(True, t.total_seconds(), 8)
    t0 = time.monotonic()
    a_beat = a.beat
    b_beat = b.beat
    assert a_beat - 1e-6 <= b_beat < a_beat + since(a, t0)  # the same mapping


@pytest.mark.parametrize("args, error", [
    ((True, "now", 0), TypeError),
    ((True, None, 0), TypeError),
    ((True, float("nan"), 0), ValueError),
    (("yes", 0.0, 0), TypeError),
    ((True, 0.0, "0"), TypeError),
    ((True, 0.0, float("nan")), ValueError),
])
def test_set_is_playing_and_request_beat_at_time_rejects_bad_arguments(make_link, args, error):
    link = make_link(120)
    with pytest.raises(error):
        link.set_is_playing_and_request_beat_at_time(*args)
    assert link.playing is False


def test_set_is_playing_and_request_beat_at_time_needs_three_arguments(make_link):
    link = make_link(120)
    with pytest.raises(TypeError):
        link.set_is_playing_and_request_beat_at_time(True, link.time)


# ------------------------------------------------------ construction, close

def test_new_link_defaults(make_link):
    link = make_link(120)
    assert link.enabled is False
    assert link.start_stop_sync_enabled is False
    assert link.playing is False
    assert link.num_peers == 0
    assert link.quantum == 1.0
    assert link.tempo == pytest.approx(120)


def test_bpm_and_loop_by_keyword():
    loop = asyncio.new_event_loop()
    try:
        link = Link(bpm=90, loop=loop)
        assert link.tempo == pytest.approx(90)
        link.close()
    finally:
        loop.close()


def test_close_is_idempotent_and_makes_the_link_unusable():
    link = Link(120)
    link.close()
    link.close()
    with pytest.raises(RuntimeError):
        _ = link.beat
    with pytest.raises(RuntimeError):
        link.tempo = 100
    with pytest.raises(RuntimeError):
        link.force_beat(0)
    assert "closed" in repr(link)


def test_context_manager_closes():
    with Link(120) as link:
        assert isinstance(link, Link)
        link.tempo = 130
        assert link.tempo == pytest.approx(130)
    with pytest.raises(RuntimeError):
        _ = link.tempo


def test_context_manager_closes_on_error():
    with pytest.raises(KeyError):
        with Link(120) as link:
            raise KeyError("x")
    with pytest.raises(RuntimeError):
        _ = link.beat


def test_repr(make_link):
    link = make_link(120)
    assert "Link" in repr(link)
