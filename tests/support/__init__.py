"""What the tests share: constants, small helpers and the event loops.

The helper modules beside this file:
  linkhut      drives LinkHut (Ableton's test app) on a headless JACK server
  peer         a Link peer in its own process (`python tests/support/peer.py`)
  netns        two "hosts": network namespaces joined by a veth pair
  netns_guard  is this process in a private network namespace?
"""
from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time

EPS = 1e-6  # beats: Link keeps beats in micro-beats
LATE = 0.05  # seconds: a generous bound on lateness for a shared 2-core machine
TIMEOUT = 5.0  # seconds: no single await on the loop should come near it

# ---- event loops: the behaviours of tests/test_event_loops.py hold on each ----

LOOP_KINDS = ("asyncio", "uvloop", "no_add_reader")


class NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop without add_reader(), like Windows' proactor loop: the Link
    reaches it through a relay thread and call_soon_threadsafe."""

    def add_reader(self, fd, callback, *args):
        raise NotImplementedError


def new_loop(kind):
    """A new event loop of the given kind (one of LOOP_KINDS)."""
    if kind == "asyncio":
        return asyncio.new_event_loop()
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if kind == "no_add_reader":
        return NoReaderLoop()
    raise ValueError(f"unknown loop kind {kind!r}")


# ---- beats and grids ----

def beats(link, seconds):
    """How many beats the Link's timeline moves in `seconds` at its tempo."""
    return link.tempo / 60.0 * seconds


def since(link, t0):
    """The most beats the timeline can have moved since time.monotonic() was
    t0, at the Link's tempo (1e-6 for Link's micro-beats, 0.1 % for the
    difference between the monotonic clock and Link's raw one).  Bounds drawn
    from real time stay exact however long a busy machine stalls a test."""
    return beats(link, (time.monotonic() - t0) * 1.001) + 1e-6


def is_grid_point(value, step, offset=0.0, origin=0.0, tol=1e-9):
    """Is value on the grid origin + offset + k * step (k an integer)?"""
    k = (value - offset - origin) / step
    return abs(k - round(k)) < tol


async def checked_sync(link, step, offset=0.0, origin=0.0, timeout=TIMEOUT):
    """Awaits one sync and checks every rule that applies to a single call.

    Returns the value of the future."""
    b0 = link.beat
    fut = link.sync(step, offset=offset, origin=origin)
    b1 = link.beat  # the call's own beat lies between the two reads
    assert isinstance(fut, asyncio.Future)
    assert fut.get_loop() is asyncio.get_running_loop()
    value = await asyncio.wait_for(fut, timeout)
    after = link.beat
    assert type(value) is float
    # On the grid, and the *next* point after the beat at the call.
    assert is_grid_point(value, float(step), float(offset), float(origin)), value
    assert b0 < value <= b1 + float(step) + EPS, (b0, b1, value)
    # Never early, not much late.
    assert after >= value - EPS, ("early", value, after)
    late_s = (after - value) * 60.0 / link.tempo
    assert late_s < LATE, f"{late_s * 1000:.1f} ms late"
    return value


# ---- waiting ----

async def wait_until(predicate, timeout=5.0, interval=0.02):
    """Poll predicate() on the loop until it is true; return whether it was."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


async def until(predicate, timeout=10.0):
    """wait_until(), failing the test when predicate() never turns true."""
    if not await wait_until(predicate, timeout):
        raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


# ---- builds ----

# What GCC and Clang print for a diagnostic: file:line[:column]: warning: ...
_DIAGNOSTIC = re.compile(r":\d+:(\d+:)? (warning|error): ")


def compiler_diagnostics(log: str) -> list[str]:
    """The compiler's warnings and errors in a build's output."""
    return [line for line in log.splitlines() if _DIAGNOSTIC.search(line)]


# ---- processes ----

def interrupt(proc: subprocess.Popen, timeout: float = 20) -> tuple[str, str]:
    """Ctrl-C for a program a test started: SIGINT, then its (stdout,
    stderr).  One that does not stop in time is killed before the
    TimeoutExpired goes on, so that it does not stay a Link peer of the
    tests that come after."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
