"""A Link and its pending futures: a pending sync() keeps its Link alive (as
a pending asyncio.sleep keeps its task) and lets go once the last pending
future is done or cancelled; close() (and interpreter exit) cancels every
pending future; futures of a closed loop are let go, and so is their hold."""
import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest

from aalink import Link
from support import TIMEOUT, new_loop


def sched_threads(expect=None):
    """Native scheduler threads alive in this process (Linux); with
    `expect`, waits up to a second for that many (a new thread names
    itself a moment after it starts)."""
    deadline = time.monotonic() + 1.0
    while True:
        n = 0
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/comm") as f:
                    n += f.read().strip() == "aalink-sched"
            except OSError:
                pass
        if expect is None or n == expect or time.monotonic() > deadline:
            return n
        time.sleep(0.01)


def test_await_a_sync_of_an_unnamed_link_returns_its_grid_point(run_on):
    async def body():
        return await asyncio.wait_for(Link(120).sync(1), TIMEOUT)
    assert run_on(body) == 1.0


def test_a_dropped_link_resolves_its_pending_future_then_is_freed(run_on):
    async def body():
        link = Link(240)
        ref = weakref.ref(link)
        fut = link.sync(0.25)
        del link
        gc.collect()
        value = await asyncio.wait_for(fut, TIMEOUT)
        assert ref() is None  # no cycle outlives the future: freed at once
        return value
    gc.disable()
    try:
        assert run_on(body) == 0.25
    finally:
        gc.enable()


def test_a_dropped_link_lets_go_once_its_futures_are_cancelled(run_on):
    async def body():
        link = Link(240)
        ref = weakref.ref(link)
        futures = [link.sync(1000) for _ in range(3)]
        del link
        gc.collect()
        assert ref() is not None  # held by its pending futures
        for f in futures:
            f.cancel()
        await asyncio.sleep(0)
        gc.collect()
        assert ref() is None
    run_on(body)


async def voice(link, started):
    started.set()
    while True:
        await link.sync(1000)


async def every_voice(link, started):
    started.set()
    async for _ in link.every(1000):
        pass


@pytest.mark.parametrize("coro", [voice, every_voice])
def test_close_cancels_tasks_waiting_on_sync_or_every(run_on, coro):
    async def body():
        link = Link(120)
        started = asyncio.Event()
        task = asyncio.ensure_future(coro(link, started))
        await started.wait()
        await asyncio.sleep(0.02)
        link.close()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT)
        assert task.cancelled()
        with pytest.raises(RuntimeError, match="closed"):
            link.sync(1)
    run_on(body)


def test_close_from_another_thread_cancels_through_the_loop(run_on):
    async def body():
        link = Link(120)
        started = asyncio.Event()
        task = asyncio.ensure_future(voice(link, started))
        await started.wait()
        await asyncio.sleep(0.02)
        closer = threading.Thread(target=link.close)
        closer.start()
        await asyncio.to_thread(closer.join)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT)
    run_on(body)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is 3.11+")
def test_task_group_with_link_block_ends(run_on):
    async def body():
        async with asyncio.TaskGroup() as tg:
            with Link(240) as link:
                tg.create_task(voice(link, asyncio.Event()))
                await asyncio.sleep(0.3)
        return "past the block"
    assert run_on(body) == "past the block"


def test_a_link_held_only_by_futures_of_a_closed_loop_is_freed(loop_kind):
    """Its threads and sockets go with it, not at exit."""
    gc.collect()
    threads_before = sched_threads()
    loop = new_loop(loop_kind)
    link = Link(120)
    ref = weakref.ref(link)

    async def far(link):
        return link.sync(1000)

    fut = loop.run_until_complete(far(link))
    assert sched_threads(threads_before + 1) == threads_before + 1
    loop.close()
    del link, fut, loop
    gc.collect()
    assert ref() is None
    assert sched_threads(threads_before) == threads_before


def test_futures_of_a_closed_loop_let_go_of_a_held_link():
    link = Link(600)
    try:
        loop = asyncio.new_event_loop()

        async def far():
            return link.sync(1000)

        fut = loop.run_until_complete(far())
        loop.close()
        assert link._scheduler_stats()["pending"] == 1
        with pytest.raises(RuntimeError, match="event loop"):
            link.sync(1)  # no loop runs here: the closed one is let go
        assert link._scheduler_stats()["pending"] == 0
        assert not fut.done()  # a closed loop cannot run its callbacks
    finally:
        link.close()


EXIT = textwrap.dedent("""
    import asyncio, atexit
    results = []
    atexit.register(lambda: print("cancelled at exit:", results[0].cancelled()))
    from aalink import Link   # its exit hook runs before the one above
    loop = asyncio.new_event_loop()
    link = Link(120, loop)
    results.append(link.sync(1000))
""")


def test_interpreter_exit_cancels_pending_futures():
    r = subprocess.run([sys.executable, "-c", EXIT], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "cancelled at exit: True" in r.stdout
