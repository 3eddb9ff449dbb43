"""Loops without add_reader() (Windows' proactor loop) get their futures and
callbacks through a relay thread and call_soon_threadsafe: what only they
have, the relay thread.  The behaviours every loop shares (syncs, callbacks
on the loop's thread, ...) run on such a loop too, in
tests/test_event_loops.py."""
import asyncio
import os
import threading
import time
from pathlib import Path

from aalink import Link
from support import NoReaderLoop


def run(coro_fn):
    loop = NoReaderLoop()
    try:
        return loop.run_until_complete(coro_fn(loop))
    finally:
        loop.close()


def test_relay_threads_stop_with_the_link():
    before = threading.active_count()

    async def main(loop):
        links = [Link(120, loop) for _ in range(5)]
        for link in links:
            await link.sync(0.01)
        for link in links:
            link.close()

    run(main)
    names = [Path(f"/proc/self/task/{t}/comm").read_text().strip()
             for t in os.listdir("/proc/self/task")]
    assert "aalink-relay" not in names
    assert threading.active_count() == before


def busy_loop_resumes(loop_factory, seconds=1.5):
    """A coroutine syncing on 1/4 beat at 240 bpm while the loop runs 4 ms
    Python callbacks back to back: (resumes, worst lateness in beats)."""
    async def main():
        loop = asyncio.get_running_loop()
        link = Link(240)
        await link.sync(0.25)
        deadline = time.perf_counter() + seconds
        late = []

        def busy():
            end = time.perf_counter() + 0.004
            while time.perf_counter() < end:
                pass
            if time.perf_counter() < deadline:
                loop.call_soon(busy)

        async def syncer():
            while time.perf_counter() < deadline:
                b = await link.sync(0.25)
                late.append(link.beat - b)

        loop.call_soon(busy)
        task = asyncio.ensure_future(syncer())
        await asyncio.sleep(seconds + 0.5)
        task.cancel()
        link.close()
        return len(late), max(late, default=None)

    loop = loop_factory()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def test_a_busy_loop_without_add_reader_still_gets_its_beats():
    """The relay must not starve waiting for the GIL while the loop runs
    Python callbacks back to back (a thread that only took the GIL would
    deliver nothing for seconds here)."""
    resumes, worst = busy_loop_resumes(NoReaderLoop)
    # 1.5 s at 240 bpm is 24 quarter beats; allow for a slow machine.
    assert resumes >= 12
    assert worst < 0.5  # beats (125 ms); starving would be seconds
