"""One benchmark workload against one aalink implementation; prints one JSON line.

The implementation is whichever `aalink` the running Python imports: the
driver runs this file with .venv/bin/python (the port) or with
.venv-published/bin/python (aalink 0.2.3 from PyPI).  Only the API both
share is used: `Link(bpm)` inside a running loop, `enabled`, `beat`, `sync`.

    python bench/workloads.py lateness --n 1000 --duration 6 [--loop uvloop|relay]
                                       [--realtime]   (the port only: Link(..., realtime=True))
    python bench/workloads.py idle --duration 6
    python bench/workloads.py busy --duration 10

Lateness of a resume = `link.beat` read right after the coroutine resumes
minus the grid point the future returned, in ms (60000 / bpm per beat).
Must run inside a private network namespace: it enables Link.
"""

import argparse
import asyncio
import json
import math
import os
import sys
import time

from gctime import GcClock, gc_share
from loops import LOOP_NAMES, run
from stats import summarize

BPM = 240.0
STEP = 0.25  # every coroutine loops `b = await link.sync(STEP)`
MS_PER_BEAT = 60000.0 / BPM
BEATS_PER_S = BPM / 60.0
WARMUP_BEATS = 4  # one second at 240 bpm, not measured


def implementation():
    import aalink

    try:
        from importlib.metadata import version

        ver = version("aalink")
    except Exception:
        ver = getattr(aalink, "__version__", "?")
    return {"aalink_version": ver, "aalink_file": aalink.__file__}


def thread_switches():
    """Context switches of every thread of this process (wake-ups, roughly)."""
    total = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
    except OSError:
        return None
    return total


def reset_native_stats(link):
    """The port's own lateness statistics (resolution on the loop): diagnostics only."""
    if hasattr(link, "reset_stats"):
        link.reset_stats()


def native_stats(link):
    return dict(link.stats) if hasattr(link, "stats") else None


REALTIME = False  # --realtime: the port's real-time mode (0.2.3 has none)
RAISE_OTHERS = False  # --raise-link-threads: an experiment (docs/bench.md)


def raise_other_threads():
    """SCHED_FIFO 10 on every thread the real-time mode leaves alone (Link's own)."""
    raised = 0
    for tid in os.listdir("/proc/self/task"):
        tid = int(tid)
        if os.sched_getscheduler(tid) & ~0x40000000 == os.SCHED_OTHER:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(10))
            raised += 1
    return raised


async def new_link():
    from aalink import Link

    # The running loop; 0.2.3 warns when a loop is passed.
    link = Link(BPM, realtime=True) if REALTIME else Link(BPM)
    if RAISE_OTHERS:
        await link.sync(STEP)  # the loop's thread first, by the mode itself
        print(f"raised {raise_other_threads()} more thread(s)", file=sys.stderr)
    link.enabled = True
    # aalink 0.2.3 answers the first sync of a new Link with 0.0 at once:
    # do two before measuring anything.
    await link.sync(STEP)
    await link.sync(STEP)
    return link


async def lateness(args):
    """N coroutines looping sync(1/4); every resume in the window is a sample."""
    link = await new_link()
    beat0 = math.ceil(link.beat) + WARMUP_BEATS
    beat1 = beat0 + args.duration * BEATS_PER_S
    expected_per_coroutine = round((beat1 - beat0) / STEP)
    lat, at = [], []
    marks = {}
    gc_clock = GcClock()

    async def worker(i):
        while True:
            b = await link.sync(STEP)
            now = link.beat
            if b >= beat1:
                if i == 0:
                    marks["end"] = (time.perf_counter(), time.process_time(), gc_clock.read())
                return
            if b >= beat0:
                lat.append(now - b)
                at.append(b)
                if i == 0 and "start" not in marks:
                    marks["start"] = (time.perf_counter(), time.process_time(), gc_clock.read())
                    reset_native_stats(link)

    tasks = [asyncio.ensure_future(worker(i)) for i in range(args.n)]
    budget = (beat1 - link.beat) / BEATS_PER_S + 30.0
    _, pending = await asyncio.wait(tasks, timeout=budget)
    for t in pending:
        t.cancel()
    link.enabled = False

    lat_ms = [x * MS_PER_BEAT for x in lat]
    third = (beat1 - beat0) / 3
    first = [x for x, b in zip(lat_ms, at) if b < beat0 + third]
    last = [x for x, b in zip(lat_ms, at) if b >= beat1 - third]
    out = {
        "n": args.n,
        "expected": expected_per_coroutine * args.n,
        "delivered": len(lat_ms),
        "delivered_fraction": len(lat_ms) / (expected_per_coroutine * args.n),
        "early": sum(1 for x in lat if x < 0),
        "unfinished_tasks": len(pending),
        "lateness_ms": summarize(lat_ms),
        "median_first_third_ms": summarize(first)["median"],
        "median_last_third_ms": summarize(last)["median"],
    }
    out["drift_ms"] = (
        None
        if out["median_first_third_ms"] is None or out["median_last_third_ms"] is None
        else out["median_last_third_ms"] - out["median_first_third_ms"]
    )
    out["native_stats"] = native_stats(link)
    out["realtime"] = getattr(link, "realtime", False)
    if "start" in marks and "end" in marks:
        wall = marks["end"][0] - marks["start"][0]
        out["cpu_percent"] = 100.0 * (marks["end"][1] - marks["start"][1]) / wall
        out.update(gc_share(marks["start"][2], marks["end"][2], wall))
    return out


async def idle(args):
    """Link enabled, one far-away pending sync: CPU time of the whole process."""
    link = await new_link()
    fut = link.sync(10000)
    await asyncio.sleep(1.0)
    s0 = thread_switches()
    w0, c0 = time.perf_counter(), time.process_time()
    await asyncio.sleep(args.duration)
    w1, c1 = time.perf_counter(), time.process_time()
    s1 = thread_switches()
    fut.cancel()
    link.enabled = False
    wall = w1 - w0
    return {
        "seconds": wall,
        "cpu_percent": 100.0 * (c1 - c0) / wall,
        "switches_per_s": None if s0 is None or s1 is None else (s1 - s0) / wall,
        "pending_done_early": fut.done() and not fut.cancelled(),
        "realtime": getattr(link, "realtime", False),
    }


async def busy(args):
    """The loop runs 4 ms Python callbacks back to back; one coroutine syncs on 1/4."""
    loop = asyncio.get_running_loop()
    link = await new_link()
    state = {"stop_beat": None, "callbacks": 0}
    lat, late_after_stop = [], []
    start_beat = link.beat
    deadline = time.perf_counter() + args.duration
    stopped = loop.create_future()

    def burn():
        t_end = time.perf_counter() + 0.004
        while time.perf_counter() < t_end:
            pass
        state["callbacks"] += 1
        if time.perf_counter() < deadline:
            loop.call_soon(burn)
        else:
            state["stop_beat"] = link.beat
            stopped.set_result(None)

    async def worker():
        while True:
            b = await link.sync(STEP)
            now = link.beat
            stop = state["stop_beat"]
            if stop is not None and b > stop:
                return
            if b > start_beat:
                lat.append((now - b) * MS_PER_BEAT)
                if stop is not None:  # due before the stop, delivered after it
                    late_after_stop.append((now - b) * MS_PER_BEAT)

    task = asyncio.ensure_future(worker())
    await asyncio.sleep(0)  # let the worker post its first sync
    reset_native_stats(link)
    loop.call_soon(burn)
    await stopped
    stop_beat = state["stop_beat"]
    stats = native_stats(link)
    try:
        await asyncio.wait_for(task, timeout=15.0)
        finished = True
    except asyncio.TimeoutError:
        finished = False
    link.enabled = False
    expected = max(1, math.floor(stop_beat / STEP) - math.floor(start_beat / STEP))
    delivered_in_time = len(lat) - len(late_after_stop)
    return {
        "seconds": args.duration,
        "callbacks": state["callbacks"],
        "expected": expected,
        "delivered": len(lat),
        "delivered_before_stop": delivered_in_time,
        "delivered_fraction": delivered_in_time / expected,
        "late_after_stop_ms": late_after_stop,
        "finished_after_stop": finished,
        "lateness_ms": summarize(lat),
        "native_stats": stats,
    }


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("workload", choices=["lateness", "idle", "busy"])
    ap.add_argument("--n", type=int, default=1, help="coroutines (lateness)")
    ap.add_argument("--duration", type=float, default=6.0, help="measured seconds")
    ap.add_argument("--loop", choices=LOOP_NAMES, default="asyncio")
    ap.add_argument("--realtime", action="store_true", help="Link(..., realtime=True)")
    ap.add_argument(
        "--raise-link-threads",
        action="store_true",
        help="with --realtime, Link's own threads too (an experiment; Linux)",
    )
    args = ap.parse_args()
    global REALTIME, RAISE_OTHERS
    REALTIME = args.realtime
    RAISE_OTHERS = args.realtime and args.raise_link_threads
    if not os.environ.get("AALINK_PRIVATE_NETNS"):
        sys.exit("workloads.py enables Link: run it inside scripts/in-private-netns")

    fn = {"lateness": lateness, "idle": idle, "busy": busy}[args.workload]
    t0 = time.perf_counter()
    result = run(lambda: fn(args), args.loop)
    result.update(implementation())
    result["realtime_asked"] = args.realtime
    result.update(
        workload=args.workload,
        loop=args.loop,
        python=sys.version.split()[0],
        wall_s=time.perf_counter() - t0,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
