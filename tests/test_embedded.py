"""aalink embedded in an app whose main thread is busy.

examples/embedded.py runs the asyncio loop with its Link in a background
thread while the main thread runs its own (fake GUI) loop and reads
link.beat / link.phase directly.  Tested as a user runs it (a subprocess) and
in-process through its LinkThread class: reads from the main thread, work
handed to the loop thread, callbacks on the loop thread, and a clean stop.
"""
import importlib.util
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support import EPS

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "embedded.py"
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def embedded():
    spec = importlib.util.spec_from_file_location("aalink_example_embedded", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_runs_and_stops_cleanly():
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(EXAMPLE), "1.5", "240"], capture_output=True,
                       text=True, timeout=TIMEOUT)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    loop_beats = [int(m.group(1)) for m in
                  (re.match(r"\[aalink-loop\] beat (\d+) \(tempo 240\.0 bpm", line)
                   for line in lines) if m]
    main_beats = [float(m.group(1)) for m in
                  (re.match(r"\[MainThread\] beat +(-?[\d.]+)  \[[# ]+\]$", line)
                   for line in lines) if m]
    # 1.5 s at 240 bpm: about 6 beats on the loop thread, in order, none missed.
    assert 4 <= len(loop_beats) <= 8, r.stdout
    assert loop_beats == list(range(loop_beats[0], loop_beats[0] + len(loop_beats)))
    # The main thread's render loop read the advancing beat itself.
    assert len(main_beats) >= 4 and main_beats == sorted(main_beats), r.stdout
    assert lines[-1] == "stopped: loop thread alive=False, loop closed=True"
    assert elapsed < 1.5 + 10


def test_main_thread_reads_the_link_while_the_loop_thread_syncs(embedded):
    engine = embedded.LinkThread(bpm=240, quantum=4, enabled=True).start()
    try:
        link = engine.link
        loop_thread = engine._thread.ident
        assert engine.running and threading.current_thread() is threading.main_thread()

        # Reads from the main thread: the beat advances at the tempo.
        b0, t0 = link.beat, time.monotonic()
        time.sleep(0.5)
        rate = (link.beat - b0) / (time.monotonic() - t0)
        assert 3.0 < rate < 5.0, rate  # 240 bpm = 4 beats/s
        assert 0 <= link.phase < 4 and link.tempo == 240.0

        # Work handed to the loop thread: await the next bar there.
        async def next_bar():
            value = await link.sync(4)
            return value, threading.get_ident()

        bar, thread = engine.call(next_bar()).result(timeout=TIMEOUT)
        assert bar % 4 == 0 and thread == loop_thread
        assert link.beat >= bar - EPS  # read from the main thread, right after

        # Callbacks registered on the loop thread are called there, for a
        # tempo set from the main thread.
        calls = []

        async def register():
            link.add_tempo_callback(lambda bpm: calls.append((bpm, threading.get_ident())))

        engine.call(register()).result(timeout=TIMEOUT)
        link.tempo = 300  # from the main thread
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls and calls[-1] == (300.0, loop_thread)

        # A coroutine left waiting on a far beat does not hold up the stop.
        pending = engine.call(_wait_far(link))
        time.sleep(0.05)
    finally:
        engine.stop()
    assert not engine.running
    assert engine.loop.is_closed()
    assert pending.cancelled()
    assert repr(link) == "<aalink.Link closed>"
    assert not [t for t in threading.enumerate() if t.name == "aalink-loop"]


async def _wait_far(link):
    await link.sync(10_000)


def test_stop_twice_is_harmless(embedded):
    engine = embedded.LinkThread(bpm=120, enabled=False).start()
    engine.stop()
    engine.stop()
    assert not engine.running
