"""A bounded soak.

1,000 coroutines sync at mixed grids (1, 1/2, 1/3, 1/4 beat, with offsets)
while the tempo changes every few seconds (from this Link and from a peer)
and a second Link joins and leaves the session.  Per coroutine: never the
same grid point twice, never early, every grid point in order (a point may
be skipped only by a coroutine that came back more than a whole step late,
which the loop's lag explains and the test reports); RSS flat.

AALINK_SOAK_SECONDS sets the duration (default 12 s in the test command):
    AALINK_SOAK_SECONDS=600 scripts/test.sh tests/test_soak.py -s
The soak's own time-out follows from that duration (the suite-wide one of
pyproject.toml is for tests of seconds).
"""
import asyncio
import faulthandler
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from aalink import Link
from support import EPS

SECONDS = float(os.environ.get("AALINK_SOAK_SECONDS", "12"))
COROUTINES = 1_000
# The conductor runs SECONDS, the voices then get 30 s to finish; the rest
# is slack for a loaded machine (setup, teardown, collection).
TIMEOUT = SECONDS * 1.2 + 120


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def test_soak_timeout_follows_its_duration():
    """An hour's soak gets more than an hour: the suite-wide time-out
    (2 minutes) must not cut the documented long soak short."""
    code = ("import test_soak; print(next(m.args[0] for m in test_soak.test_soak.pytestmark "
            "if m.name == 'timeout'))")
    env = dict(os.environ, AALINK_SOAK_SECONDS="3600")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, text=True,
                         capture_output=True, cwd=Path(__file__).parent).stdout
    assert float(out) > 3600 + 30


@pytest.fixture
def soak_faulthandler():
    """pytest dumps every thread's stack once a test has run
    faulthandler_timeout (pyproject.toml): re-arm that for the soak's own
    duration, so a long soak does not dump at 110 s as if it hung."""
    faulthandler.cancel_dump_traceback_later()
    faulthandler.dump_traceback_later(TIMEOUT - 10, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.usefixtures("soak_faulthandler")
async def test_soak(make_link):
    loop = asyncio.get_running_loop()
    link = make_link(150)
    link.enabled = True
    rng = random.Random(6)
    grids = [(step, rng.choice([0, 0.1, -0.05, step / 2]))
             for step in (1, 1 / 2, 1 / 3, 1 / 4) for _ in range(COROUTINES // 4)]
    stop = asyncio.Event()
    problems = []  # doubles, early resumes, unexplained skips, off-grid values
    lag_skips = []  # skips after a resume later than a whole step
    counts = [0] * len(grids)

    async def voice(i, step, offset):
        previous = None
        late_prev = 0.0
        while not stop.is_set():
            v = await link.sync(step, offset=offset)
            now = link.beat
            counts[i] += 1
            if now < v - EPS:
                problems.append(("early", i, v, now))
            if previous is not None:
                k = (v - previous) / step
                if abs(k - round(k)) > 1e-6:
                    problems.append(("off grid", i, previous, v))
                elif round(k) < 1:
                    problems.append(("double or backwards", i, previous, v))
                elif round(k) > 1:
                    if late_prev >= step - EPS:
                        lag_skips.append((i, previous, v, late_prev))
                    else:
                        problems.append(("skipped", i, previous, v, late_prev))
            previous, late_prev = v, now - v

    async def conductor():
        """Tempo every 2.5 s; a peer joins for 3 s of every 5, and changes
        the session tempo itself while it is there."""
        tempos = [150, 120, 175, 100, 160, 135]
        t0 = loop.time()
        n = 0
        peer = None
        while loop.time() - t0 < SECONDS:
            await asyncio.sleep(2.5)
            n += 1
            if n % 2 == 1:
                peer = Link(tempos[n % len(tempos)])
                peer.enabled = True
                await asyncio.sleep(0.5)
                if n % 4 == 1:
                    peer.tempo = tempos[(n + 1) % len(tempos)]  # from the peer
                else:
                    link.tempo = tempos[(n + 1) % len(tempos)]
            else:
                link.tempo = tempos[n % len(tempos)]
                if peer is not None:
                    peer.close()
                    peer = None
        if peer is not None:
            peer.close()

    async def sampler(samples):
        while not stop.is_set():
            samples.append(rss_mb())
            await asyncio.sleep(0.5)

    samples = []
    tasks = [asyncio.ensure_future(voice(i, s, o)) for i, (s, o) in enumerate(grids)]
    sampling = asyncio.ensure_future(sampler(samples))
    link.reset_stats()
    await conductor()
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, sampling), 30)

    stats = link.stats
    warm = samples[len(samples) // 4:]
    growth = max(warm) - warm[0] if warm else 0.0
    print(f"\nsoak: {SECONDS:.0f} s, {sum(counts)} resumes, lateness p50 "
          f"{stats['p50_ms']:.2f} ms p99 {stats['p99_ms']:.2f} ms max {stats['max_ms']:.1f} ms, "
          f"{len(lag_skips)} skips after lag, RSS {samples[0]:.1f} -> {samples[-1]:.1f} MB")
    assert not problems, problems[:10]
    assert min(counts) >= SECONDS * 0.3  # every voice kept going (1 beat at 100 bpm)
    # Skips happen only after the loop lagged a whole step; at this load
    # they should be rare.
    assert len(lag_skips) <= 0.01 * sum(counts), lag_skips[:10]
    assert growth < 16, samples
    assert link._scheduler_stats()["pending"] == 0
