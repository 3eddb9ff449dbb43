"""step_sequencer: link.every() drives a 16-step pattern; if the loop is late,
missed steps still play, in order (skip_late=True would drop them instead).

Usage: python examples/step_sequencer.py [bars]   (default 1 bar)
"""
import asyncio
import sys

from aalink import Link

PATTERN = {"kick": "x...x...x...x...", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."}


async def main(bars):
    link = Link(120)
    link.enabled = True
    steps = 0
    async for b in link.every(0.25):
        step = steps % 16
        hits = [name for name, row in PATTERN.items() if row[step] == "x"]
        print(f"{b:6.2f} step {step:2d} {' '.join(hits)}", flush=True)
        steps += 1
        if steps == bars * 16:
            break


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
