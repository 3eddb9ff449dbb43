"""Link Audio: latency from write() on one peer to delivery on the other,
and CPU per stream at 48 kHz stereo; prints one JSON line.

Two Links (two peers, one process) in one session.  A thread writes N
streams of 48 kHz stereo in real time, 10 ms per write; the other Link's
sources take the blocks by `async for` on its loop.  A block's latency is
the time from the write() that completed it (its last frame) to its
delivery to Python: Link's packets, the network (loopback), the ring and
the loop's wake.  CPU: the process's CPU time while streaming, less the
same two Links idle for as long, per stream, in % of one core.
Run it in a private network namespace:

    scripts/in-private-netns .venv/bin/python bench/audio.py --streams 4 --duration 10
"""

import argparse
import array
import asyncio
import json
import os
import sys
import threading
import time

from aalink import HAS_LINK_AUDIO, Link

RATE, CHUNK = 48000, 480  # frames per write: 10 ms


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def until(pred, timeout=10.0):
    for _ in range(int(timeout / 0.01)):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise SystemExit("timed out setting up")


def writer(sinks, seconds, written):
    """Writes every sink in real time.  Write k's left channel carries k + 1
    (the probes' silence is 0); written[k] is when write k returned."""
    start = time.monotonic()
    frame = 0
    while frame < seconds * RATE:
        chunk = array.array('h', [len(written) % 32767 + 1, 0] * CHUNK)
        for sink in sinks:
            sink.write(chunk, rate=RATE, channels=2)
        frame += CHUNK
        written.append(time.monotonic())
        lag = start + frame / RATE - time.monotonic()
        if lag > 0:
            time.sleep(lag)


async def main(args):
    a, b = Link(120), Link(120)
    for link in (a, b):
        link.enabled = True
        link.audio_enabled = True
    sinks = [a.sink(f"s{i}") for i in range(args.streams)]
    await until(lambda: len(b.channels) >= args.streams)
    sources = [b.source(c) for c in sorted(b.channels, key=lambda c: c.name)]
    probe = array.array('h', [0] * 2 * CHUNK)
    for sink in sinks:
        await until(lambda sink=sink: sink.write(probe, rate=RATE, channels=2))
    await asyncio.sleep(0.5)
    for source in sources:
        while source.stats["queued"]:
            await source.__anext__()
    base = [s.stats["received"] for s in sources]

    # Idle: the same two Links, no audio, as long as the run.
    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.sleep(args.duration)
    idle = (time.process_time() - cpu0) / (time.monotonic() - t0)

    written, latencies, frames = [], [], [0] * len(sources)
    done = asyncio.Event()

    async def take(i, source):
        while not done.is_set():
            try:
                block = await asyncio.wait_for(source.__anext__(), 1.0)
            except asyncio.TimeoutError:
                continue
            now = time.monotonic()
            frames[i] += block.frames
            k = array.array('h', block.samples[-4:])[0] - 1  # its last frame's write
            if i == 0 and 0 <= k < len(written):
                latencies.append((now - written[k]) * 1000)

    tasks = [asyncio.ensure_future(take(i, s)) for i, s in enumerate(sources)]
    thread = threading.Thread(target=writer, args=(sinks, args.duration, written))
    cpu0, t0 = time.process_time(), time.monotonic()
    thread.start()
    await asyncio.to_thread(thread.join)
    busy = (time.process_time() - cpu0) / (time.monotonic() - t0)
    await asyncio.sleep(0.3)
    done.set()
    await asyncio.gather(*tasks)
    stats = [s.stats for s in sources]
    a.close()
    b.close()
    print(json.dumps({
        "streams": args.streams, "duration_s": args.duration, "rate": RATE, "channels": 2,
        "blocks": sum(s["received"] for s in stats) - sum(base),
        "dropped": sum(s["dropped"] for s in stats),
        "latency_ms": {"median": round(percentile(latencies, 0.5), 3),
                       "p99": round(percentile(latencies, 0.99), 3),
                       "n": len(latencies)},
        "cpu_percent": {"idle": round(100 * idle, 2), "streaming": round(100 * busy, 2),
                        "per_stream": round(100 * (busy - idle) / args.streams, 2)},
        "cores": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    if not HAS_LINK_AUDIO:
        sys.exit("Link Audio needs Link 4.0")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=4)
    p.add_argument("--duration", type=float, default=10.0)
    asyncio.run(main(p.parse_args()))
