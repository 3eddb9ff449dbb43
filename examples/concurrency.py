"""concurrency: two intervals at once, beats and triplets, in one program.

One coroutine awaits sync(1) and prints each beat; another awaits sync(1/3)
and prints each third of a beat.  Both resume on the same shared timeline,
so every third triplet lands on a beat.
Usage: python concurrency.py [BEATS]   (runs until Ctrl-C without BEATS)
The tempo is 120 bpm, or the AALINK_EXAMPLE_BPM environment variable.
"""
import asyncio
import os
import sys

from aalink import Link


async def main(beats):
    loop = asyncio.get_running_loop()
    link = Link(float(os.environ.get('AALINK_EXAMPLE_BPM', 120)), loop)
    link.enabled = True
    start = await link.sync(1)  # both voices start from this beat
    end = start + beats if beats is not None else float('inf')

    async def every(step, name):
        while True:
            b = await link.sync(step)
            if b > end:
                return
            print(f'{name:8} {b:.3f}', flush=True)

    await asyncio.gather(every(1, 'beat'), every(1/3, 'triplet'))


if __name__ == '__main__':
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
    except KeyboardInterrupt:
        pass
