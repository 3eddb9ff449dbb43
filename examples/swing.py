"""swing: arpeggiate on half beats with a swung offset (the seed's arpeggiate()).

Every other off-beat is pushed a quarter beat late with sync(1/2, offset=swing).
Usage: python swing.py [STEPS]   (16 steps by default, as in the seed)
The tempo is 120 bpm, or the AALINK_EXAMPLE_BPM environment variable.
"""
import asyncio
import os
import sys

from aalink import Link


async def main(steps):
    loop = asyncio.get_running_loop()
    link = Link(float(os.environ.get('AALINK_EXAMPLE_BPM', 120)), loop)
    link.enabled = True

    async def arpeggiate():
        for i in range(steps):
            swing = 0.25 if i % 2 == 1 else 0
            b = await link.sync(1/2, offset=swing)
            print('###', i, b, flush=True)
            b = await link.sync(1/2, offset=0)
            print('@@@', i, b, flush=True)

    await arpeggiate()


if __name__ == '__main__':
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 16))
    except KeyboardInterrupt:
        pass
