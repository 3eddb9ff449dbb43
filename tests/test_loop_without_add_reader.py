"""Loops without add_reader() (Windows' proactor loop) get their futures and
callbacks through a relay thread and call_soon_threadsafe."""
import asyncio
import threading

from aalink import Link


class NoReaderLoop(asyncio.SelectorEventLoop):
    def add_reader(self, fd, callback, *args):
        raise NotImplementedError


def run(coro_fn):
    loop = NoReaderLoop()
    try:
        return loop.run_until_complete(coro_fn(loop))
    finally:
        loop.close()


def test_sync_resolves_on_a_loop_without_add_reader():
    async def main(loop):
        link = Link(480, loop)
        values = [await asyncio.wait_for(link.sync(0.5), 2) for _ in range(4)]
        beat_after = link.beat
        link.close()
        return values, beat_after

    values, beat_after = run(main)
    assert all(b - a == 0.5 for a, b in zip(values, values[1:]))
    assert beat_after >= values[-1] - 1e-6


def test_callbacks_arrive_on_the_loop_thread_without_add_reader():
    async def main(loop):
        a = Link(120, loop)
        b = Link(120, loop)
        seen = []
        a.add_tempo_callback(lambda bpm: seen.append((bpm, threading.get_ident())))
        a.enabled = b.enabled = True
        for _ in range(200):
            if a.num_peers:
                break
            await asyncio.sleep(0.05)
        b.tempo = 150
        for _ in range(100):
            if any(abs(bpm - 150) < 0.01 for bpm, _ in seen):
                break
            await asyncio.sleep(0.05)
        a.close()
        b.close()
        return seen

    seen = run(main)
    assert any(abs(bpm - 150) < 0.01 for bpm, _ in seen)
    assert {tid for _, tid in seen} == {threading.get_ident()}


def test_relay_threads_stop_with_the_link():
    before = threading.active_count()

    async def main(loop):
        links = [Link(120, loop) for _ in range(5)]
        for link in links:
            await link.sync(0.01)
        for link in links:
            link.close()

    run(main)
    import os
    from pathlib import Path
    names = [Path(f"/proc/self/task/{t}/comm").read_text().strip()
             for t in os.listdir("/proc/self/task")]
    assert "aalink-relay" not in names
    assert threading.active_count() == before
