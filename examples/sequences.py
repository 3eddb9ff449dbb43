"""sequences: synced coroutines in series, then concurrently (the seed's example).

Sequence 'a' bangs on four beats, then 'b' on the next four, then 'c' and 'd'
run together with asyncio.gather and bang on the same beats.
Usage: python sequences.py [BANGS]   (4 bangs per sequence by default)
The tempo is 120 bpm, or the AALINK_EXAMPLE_BPM environment variable.
"""
import asyncio
import os
import sys

from aalink import Link


async def main(bangs):
    loop = asyncio.get_running_loop()
    link = Link(float(os.environ.get('AALINK_EXAMPLE_BPM', 120)), loop)
    link.enabled = True

    async def sequence(name):
        for _ in range(bangs):
            b = await link.sync(1)
            print('bang!', name, b, flush=True)

    await sequence('a')
    await sequence('b')
    await asyncio.gather(sequence('c'), sequence('d'))


if __name__ == '__main__':
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4))
    except KeyboardInterrupt:
        pass
