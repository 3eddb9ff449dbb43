"""timestamps: schedule notes ahead of time with timestamps, for MIDI or OSC
APIs that take them: time_at_beat() gives the Link clock time of a beat and
clock_offset converts it to time.monotonic() / loop.time().

Usage: python examples/timestamps.py [notes]   (default 4)
"""
import asyncio
import sys
import time

from aalink import Link


async def main(notes):
    link = Link(120)
    link.enabled = True
    loop = asyncio.get_running_loop()
    start = await link.sync(1)
    for i in range(1, notes + 1):
        beat = start + i
        when = link.time_at_beat(beat).total_seconds() + link.clock_offset
        # A MIDI library would get `when` as the message timestamp; here we
        # let the loop fire a print at that monotonic time.
        loop.call_at(when, lambda b=beat, w=when: print(
            f"note for beat {b:.0f}: {1000 * (time.monotonic() - w):+.2f} ms", flush=True))
    await link.sync(notes + 1, origin=start)  # wait past the last note


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4))
