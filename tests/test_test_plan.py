"""Ableton Link's TEST-PLAN.md, automated against LinkHut.

Each test is named after the case of Link's test plan it automates
(TEMPO-1 ... STARTSTOPSTATE-2).  "App" in the plan is our Link here.
AUDIOENGINE-1 (recorded audio onsets against LinkHut's clicks) does not apply
to a library without audio output; the closest check, our sync() beats
against LinkHut's beat column, is in test_linkhut.py.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from linkhut import jack, linkhut, linkhut_on, now_us  # noqa: F401  (fixtures)

TESTS = Path(__file__).parent


def test_TEMPO_2_thirty_fresh_processes_joining_never_change_the_session_tempo(linkhut_on):
    """30 fresh processes run the seed's code (Link(140, loop), enabled = True at
    once) against LinkHut at 100 bpm, back to back: each joins at 100 bpm and
    LinkHut never leaves 100 bpm.  Back to back is the hard case: LinkHut
    founds a new session each time the previous process leaves (see
    link_shim/aal_link.cpp)."""
    hut = linkhut_on
    assert hut.set_tempo(100)
    changed, not_joined = [], []
    for trial in range(30):
        since = now_us()
        r = subprocess.run([sys.executable, str(TESTS / "peer.py"), "join", "140", "3"],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        tempos = {s.tempo for s in hut.history(since)}
        if out["peers"] < 1:
            not_joined.append(trial)
        if tempos != {100.0} or abs(out["tempo"] - 100) > 0.01:
            changed.append((trial, sorted(tempos), out["tempo"]))
            assert hut.set_tempo(100)
    assert not not_joined, f"trials that found no peer: {not_joined}"
    assert not changed, f"{len(changed)} of 30 joins changed the session tempo: {changed}"
