"""Issue 2: the whole chain works: import, construct, tempo, beat, time, peers."""
import asyncio
import datetime
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aalink
from aalink import Link
from conftest import wait_until

TESTS = Path(__file__).parent


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


def read_back(get, expected, timeout=1.0):
    """Poll get() until it is expected: Link applies a commit on its own
    thread, and a second commit right behind the first can read back the
    first for a moment (see README, "Decisions of this port")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and get() != pytest.approx(expected):
        time.sleep(0.001)
    return get()


def test_tempo_round_trip(make_link):
    link = make_link(120)
    assert link.tempo == pytest.approx(120)
    link.tempo = 97.5
    assert link.tempo == pytest.approx(97.5)  # a single commit reads back at once
    link.tempo = 140
    assert read_back(lambda: link.tempo, 140) == pytest.approx(140)
    link.tempo = 60
    assert read_back(lambda: link.tempo, 60) == pytest.approx(60)


def test_beat_advances_at_the_tempo(make_link):
    link = make_link(240)  # 4 beats a second
    m0 = time.monotonic()
    b0 = link.beat
    m1 = time.monotonic()
    time.sleep(0.5)
    m2 = time.monotonic()
    b1 = link.beat
    m3 = time.monotonic()
    # the two reads lie at least m2 - m1 and at most m3 - m0 apart
    assert (m2 - m1) * 4 * 0.999 - 1e-6 <= b1 - b0 <= (m3 - m0) * 4 * 1.001 + 1e-6


def test_time_is_a_monotonic_timedelta(make_link):
    link = make_link(120)
    samples = [link.time for _ in range(1000)]
    assert all(isinstance(t, datetime.timedelta) for t in samples)
    assert all(a <= b for a, b in zip(samples, samples[1:]))
    m0 = time.monotonic()
    before = link.time
    time.sleep(0.05)
    elapsed = (link.time - before).total_seconds()
    assert 0.05 * 0.999 - 1e-6 <= elapsed <= (time.monotonic() - m0) * 1.001 + 1e-6


@pytest.mark.parametrize("bad", ["120", b"120", [120], object(), 1j])
def test_bad_tempo_type_raises_type_error(bad):
    with pytest.raises(TypeError):
        Link(bad)


def test_bad_tempo_value_raises_value_error():
    for bad in (float("nan"), float("inf"), 0, -5):
        with pytest.raises(ValueError):
            Link(bad)


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


def test_guard_accepts_this_namespace():
    from netns_guard import isolation_problem

    assert isolation_problem() is None


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                    reason="needs root to build a nested namespace with a dummy interface")
def test_guard_rejects_a_namespace_with_another_interface():
    """In a namespace that has a non-loopback interface, the guard objects."""
    script = (
        "ip link add aalinktest0 type veth peer name aalinktest1 && ip link set aalinktest0 up && "
        f"exec {sys.executable} {TESTS / 'netns_guard.py'}"
    )
    env = {k: v for k, v in os.environ.items() if k != "AALINK_TESTS_ALLOW_HOST_NETWORK"}
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "not inside a private network namespace" in r.stdout
    assert "aalinktest0" in r.stdout


def test_guard_opt_in_is_explicit(monkeypatch):
    import netns_guard

    monkeypatch.setattr(netns_guard, "foreign_interfaces", lambda: ["eth0"])
    assert netns_guard.isolation_problem() is not None
    monkeypatch.setenv(netns_guard.OPT_IN, "1")
    assert netns_guard.isolation_problem() is None
