"""embedded: aalink inside an application whose main thread is busy elsewhere.

A GUI toolkit or an audio engine owns the main thread with its own loop.  The
asyncio loop, with the Link, then runs in a background thread:

- the main thread reads ``link.beat`` / ``link.phase`` / ``link.tempo`` at any
  time (they are safe to read from any thread) to draw or to place audio;
- coroutines on the loop thread ``await link.sync(...)`` as usual; the main
  thread hands them work with ``asyncio.run_coroutine_threadsafe`` and
  ``loop.call_soon_threadsafe``;
- stopping: cancel the loop's tasks, close the Link, stop the loop, join.

Here the "app" is a fake 60 Hz render loop that prints a phase bar, and the
loop thread prints a line on every beat.

Usage: python examples/embedded.py [seconds] [bpm]   (default 4 s, 120 bpm)
"""
import asyncio
import concurrent.futures
import sys
import threading
import time
from collections.abc import Coroutine
from typing import Any, Optional, TypeVar

from aalink import Link

T = TypeVar("T")


class LinkThread:
    """An asyncio loop with a Link, running in a background thread."""

    def __init__(self, bpm: float = 120.0, quantum: float = 4.0, enabled: bool = True) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="aalink-loop", daemon=True)
        self._bpm, self._quantum, self._enabled = bpm, quantum, enabled
        self.link: Optional[Link] = None

    def start(self) -> "LinkThread":
        self._thread.start()
        # Make the Link on the loop's own thread, like any asyncio code would.
        self.link = self.call(self._make_link()).result(timeout=10)
        return self

    async def _make_link(self) -> Link:
        link = Link(self._bpm)
        link.quantum = self._quantum
        link.enabled = self._enabled
        return link

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def call(self, coro: "Coroutine[Any, Any, T]") -> "concurrent.futures.Future[T]":
        """Run a coroutine on the loop thread; wait with .result() if needed."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def _shutdown(self) -> None:
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.link is not None:
            self.link.close()  # leaves the session now

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the loop's tasks, close the Link, stop the loop, join."""
        if not self._thread.is_alive():
            return
        self.call(self._shutdown()).result(timeout=timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


async def print_beats(link: Link) -> None:
    """Runs on the loop thread: a line on every beat."""
    while True:
        beat = await link.sync(1)
        print(f"[{threading.current_thread().name}] beat {beat:.0f} "
              f"(tempo {link.tempo:.1f} bpm, peers {link.num_peers})", flush=True)


def render(link: Link, width: int = 32) -> str:
    """Called from the main thread: reads the Link directly."""
    quantum = link.quantum
    phase = link.phase
    filled = int(width * phase / quantum)
    return f"beat {link.beat:8.3f}  [{'#' * filled}{' ' * (width - filled)}]"


def main(seconds: float = 4.0, bpm: float = 120.0) -> None:
    engine = LinkThread(bpm=bpm).start()
    assert engine.link is not None
    link = engine.link
    engine.call(print_beats(link))
    try:
        frame = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # the app's own loop, e.g. a GUI's
            if frame % 15 == 0:  # 4 times a second is enough for a terminal
                print(f"[{threading.current_thread().name}] {render(link)}", flush=True)
            frame += 1
            time.sleep(1 / 60)
    finally:
        engine.stop()
    print(f"stopped: loop thread alive={engine.running}, loop closed={engine.loop.is_closed()}",
          flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    try:
        main(float(args[0]) if args else 4.0, float(args[1]) if len(args) > 1 else 120.0)
    except KeyboardInterrupt:
        pass
