"""Our Link on two "hosts": two network namespaces joined by a veth pair
(10.201.0.1 and 10.201.0.2), one Python process with a Link on each, so that
Link's discovery and clock measurement cross a real (virtual) network hop.
Created from inside the test runner's private namespace; deleted always."""
import statistics
import time

import pytest

from support.peer import Peer, beat_at, wait_all

A_FEW_MS = 3.0


@pytest.fixture
def pair(hosts):
    """One enabled Link process on each host, connected (quantum 4)."""
    peers = []
    try:
        peers.append(Peer(120, prefix=hosts.prefix(0)))
        peers.append(Peer(100, prefix=hosts.prefix(1)))
        for p in peers:
            p.request("quantum", value=4)
            p.request("enable", value=True)
        states = wait_all(lambda ss: all(s["peers"] == 1 for s in ss), peers, timeout=15)
        assert all(s["peers"] == 1 for s in states), f"no discovery across the veth: {states}"
        yield peers
    finally:
        for p in peers:
            p.close()


def offset_ms(a, b, samples=9, quantum=None):
    """Median of (beat of a - beat of b) at the same instant, in ms; with a
    quantum, of the phases (beat numbers may then differ by whole bars)."""
    out = []
    for _ in range(samples):
        sa, sb = a.state(), b.state()
        d = beat_at(sa, sb["time_us"]) - sb["beat"]
        if quantum:
            d = (d + quantum / 2) % quantum - quantum / 2
        out.append(d * 60e3 / sb["tempo"])
        time.sleep(0.02)
    return statistics.median(out)


def test_peers_on_two_hosts_discover_each_other(pair):
    a, b = pair
    sa, sb = a.state(), b.state()
    assert sa["peers"] == sb["peers"] == 1
    assert sa["tempo"] == pytest.approx(sb["tempo"], abs=0.01)


def test_tempo_crosses_the_hop_both_ways(pair):
    a, b = pair
    a.request("tempo", value=133)
    ss = wait_all(lambda ss: abs(ss[1]["tempo"] - 133) < 0.01, pair, timeout=5)
    assert ss[1]["tempo"] == pytest.approx(133, abs=0.01)
    b.request("tempo", value=87)
    ss = wait_all(lambda ss: abs(ss[0]["tempo"] - 87) < 0.01, pair, timeout=5)
    assert ss[0]["tempo"] == pytest.approx(87, abs=0.01)


def test_beats_on_both_hosts_agree_within_a_few_ms(pair):
    a, b = pair
    off = offset_ms(a, b)
    print(f"beat offset between the hosts: {off:.3f} ms")
    assert abs(off) < A_FEW_MS
    # And sync(1) resumes on both hosts at the same instants.
    for p in pair:
        p.send("sync", beat=1, count=4)
    ra, rb = (p.receive(timeout=15)["resumes"] for p in pair)
    gaps = [min(abs(ta - tb) for _, tb, _ in rb) / 1000 for _, ta, _ in ra]
    print(f"sync(1) resume gaps between the hosts, ms: {gaps}")
    assert statistics.median(gaps) < A_FEW_MS + 2, gaps  # plus both resumes' lateness
    assert max(gaps) < 30, gaps  # a busy 2-core machine can delay one resume


def test_cutting_and_restoring_the_link(hosts, pair):
    a, b = pair
    before = [p.state() for p in pair]
    hosts.cut()
    try:
        # Each side notices (Link's peer timeout) and goes on alone; every
        # request is answered meanwhile (nothing hangs: Peer times out at 10 s).
        t0 = time.monotonic()
        states = wait_all(lambda ss: all(s["peers"] == 0 for s in ss), pair, timeout=20)
        assert all(s["peers"] == 0 for s in states), states
        lost_after = time.monotonic() - t0
        # Each kept its timeline: the same tempo, the beat where it was due.
        for s0, s1 in zip(before, states):
            assert s1["tempo"] == pytest.approx(s0["tempo"], abs=0.01)
            jump_ms = (s1["beat"] - beat_at(s0, s1["time_us"])) * 60e3 / s0["tempo"]
            assert abs(jump_ms) < 2, f"beat jumped {jump_ms:.2f} ms while cut off"
        # Apart, they drift apart in tempo.
        a.request("tempo", value=141)
        assert b.state()["tempo"] == pytest.approx(before[1]["tempo"], abs=0.01)
    finally:
        hosts.restore()
    states = wait_all(lambda ss: all(s["peers"] == 1 for s in ss), pair, timeout=30)
    assert all(s["peers"] == 1 for s in states), f"no re-join after restoring: {states}"
    states = wait_all(lambda ss: abs(ss[0]["tempo"] - ss[1]["tempo"]) < 0.01, pair, timeout=5)
    assert states[0]["tempo"] == pytest.approx(states[1]["tempo"], abs=0.01)
    time.sleep(0.2)
    assert abs(offset_ms(a, b, quantum=4)) < A_FEW_MS, "not in phase after re-joining"
    assert lost_after < 20
