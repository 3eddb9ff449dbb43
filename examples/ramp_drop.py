"""ramp_drop: a four-bar riser that ramps the session tempo from 120 to 150
bpm, then a drop on the downbeat; every peer follows the ramp.

Usage: python examples/ramp_drop.py [bars]   (default 4 bars of ramp)
"""
import asyncio
import sys

from aalink import Link


async def main(bars):
    link = Link(120)
    link.enabled = True
    link.quantum = 4
    await link.sync(4)  # start on a bar line
    link.ramp_tempo(150, bars * 4)
    for _ in range(bars * 4):
        b = await link.sync(1)
        print(f"riser beat {b:5.1f}  tempo {link.tempo:6.2f} bpm", flush=True)
    b = await link.sync(4)
    print(f"DROP at beat {b:.1f}, {link.tempo:.1f} bpm", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4))
