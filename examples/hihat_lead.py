"""hihat_lead: a swung hi-hat that sounds on the beat although output takes
20 ms to reach the speakers: a latency lead makes each step resume early.

Usage: python examples/hihat_lead.py [bars]   (default 2 bars of 4 beats)
"""
import asyncio
import sys

from aalink import Link

OUTPUT_LATENCY = 0.020  # seconds from our print/MIDI write to sound
SWING = 0.08  # beats


async def main(bars):
    link = Link(120)
    link.enabled = True
    link.lead = OUTPUT_LATENCY  # every sync() resolves 20 ms before its beat
    for step in range(bars * 8):
        # eighth notes, the off-beats a little late: a shuffle
        offset = 0.5 + SWING if step % 2 else 0.0
        b = await link.sync(1, offset=offset)
        early_ms = (b - link.beat) * 60000 / link.tempo
        print(f"hat  beat {b:6.2f}  sent {early_ms:5.1f} ms ahead", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2))
