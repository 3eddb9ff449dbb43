"""The plain-asyncio floor, without Link; prints one JSON line.

N tasks each await a future; every 1/4 beat at 240 bpm (62.5 ms) one callback
resolves all the pending futures in one pass.  A sample is the time from the
start of that callback to a task's resumption, in ms.  Each task then awaits a
new future, as a coroutine looping `await link.sync(1/4)` would.  No scheduler
delivering beats to one event loop can do better than this.

    python bench/floor.py --n 10000 --duration 6 [--loop uvloop]
"""

import argparse
import asyncio
import json
import sys
import time

from gctime import GcClock, gc_share
from loops import run
from stats import summarize

PERIOD = 0.0625  # seconds: 1/4 beat at 240 bpm
WARMUP = 1.0


async def floor(n, duration):
    loop = asyncio.get_running_loop()
    pending = []  # futures awaited now; swapped out by each resolve
    lat = []
    state = {"measuring": False, "rounds": 0, "done": False}
    gc_clock = GcClock()
    window = {}  # "start"/"end": (perf_counter, (gc seconds, collections))

    async def task():
        while not state["done"]:
            fut = loop.create_future()
            pending.append(fut)
            t0 = await fut
            if state["measuring"]:
                lat.append((time.perf_counter() - t0) * 1000.0)

    t_start = loop.time()
    finished = loop.create_future()

    def resolve(k):
        elapsed = loop.time() - t_start
        state["measuring"] = WARMUP <= elapsed < WARMUP + duration
        state["done"] = elapsed >= WARMUP + duration
        if state["measuring"] and "start" not in window:
            window["start"] = (time.perf_counter(), gc_clock.read())
        if state["done"] and "end" not in window:
            window["end"] = (time.perf_counter(), gc_clock.read())
        batch = pending[:]
        del pending[:]
        t0 = time.perf_counter()
        for f in batch:
            if not f.done():
                f.set_result(t0)
        if state["measuring"]:
            state["rounds"] += 1
        if state["done"]:
            finished.set_result(None)
        else:
            loop.call_at(t_start + (k + 1) * PERIOD, resolve, k + 1)

    tasks = [asyncio.ensure_future(task()) for _ in range(n)]
    loop.call_at(t_start + PERIOD, resolve, 1)
    await finished
    await asyncio.wait(tasks, timeout=10.0)
    expected = state["rounds"] * n
    gc_stats = {}
    if "start" in window and "end" in window:
        wall = window["end"][0] - window["start"][0]
        gc_stats = gc_share(window["start"][1], window["end"][1], wall)
    return {
        **gc_stats,
        "n": n,
        "expected": expected,
        "delivered": len(lat),
        "delivered_fraction": len(lat) / expected if expected else None,
        "lateness_ms": summarize(lat),
    }


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = run(lambda: floor(args.n, args.duration), args.loop)
    result.update(
        workload="floor",
        loop=args.loop,
        python=sys.version.split()[0],
        wall_s=time.perf_counter() - t0,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
