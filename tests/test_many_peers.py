"""Eight processes, each with its own Link, in one session (the test
runner's private namespace, over loopback)."""
import statistics
import time

import pytest

from support.peer import Peer, beat_at, wait_all

N = 8
QUANTUM = 4


@pytest.fixture(scope="module")
def crowd():
    peers = []
    try:
        for i in range(N):
            peers.append(Peer(100 + 5 * i, timeout=20))
        for p in peers:
            p.request("quantum", value=QUANTUM)
            p.request("enable", value=True)
        states = wait_all(lambda ss: all(s["peers"] == N - 1 for s in ss), peers, timeout=30)
        assert [s["peers"] for s in states] == [N - 1] * N, "not one session of eight"
        yield peers
    finally:
        for p in peers:
            p.close()


def phase_spread_ms(peers, rounds=5):
    """Largest phase difference (quantum 4) from peer 0 at the same instant,
    median over a few rounds, in ms."""
    spreads = []
    for _ in range(rounds):
        states = [p.state() for p in peers]
        t, tempo = states[0]["time_us"], states[0]["tempo"]
        ref = beat_at(states[0], t)
        worst = 0.0
        for s in states[1:]:
            d = (beat_at(s, t) - ref + QUANTUM / 2) % QUANTUM - QUANTUM / 2
            worst = max(worst, abs(d) * 60e3 / tempo)
        spreads.append(worst)
        time.sleep(0.05)
    return statistics.median(spreads)


def test_eight_peers_join_one_session_at_one_tempo(crowd):
    states = wait_all(lambda ss: len({round(s["tempo"], 2) for s in ss}) == 1, crowd, timeout=5)
    assert len({round(s["tempo"], 2) for s in states}) == 1, [s["tempo"] for s in states]
    assert all(s["peers"] == N - 1 for s in states)


def test_a_tempo_change_by_one_reaches_all(crowd):
    crowd[5].request("tempo", value=151)
    states = wait_all(lambda ss: all(abs(s["tempo"] - 151) < 0.01 for s in ss), crowd,
                      timeout=10)
    assert [round(s["tempo"], 2) for s in states] == [151.0] * N


def test_all_stay_in_phase(crowd):
    spread = phase_spread_ms(crowd)
    print(f"phase spread of {N} peers: {spread:.3f} ms")
    assert spread < 3
    crowd[2].request("tempo", value=97)
    wait_all(lambda ss: all(abs(s["tempo"] - 97) < 0.01 for s in ss), crowd, timeout=10)
    assert phase_spread_ms(crowd) < 3
