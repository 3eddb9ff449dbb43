"""hello: print "bang!" on every beat of the Link session (the seed's first example)."""
import asyncio

from aalink import Link


async def main():
    loop = asyncio.get_running_loop()
    link = Link(120, loop)
    link.enabled = True
    while True:
        await link.sync(1)
        print('bang!', flush=True)


if __name__ == '__main__':
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
