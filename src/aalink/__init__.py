"""aalink: await beats of an Ableton Link session from asyncio.

    import asyncio
    from aalink import Link

    async def main():
        link = Link(120)
        link.enabled = True
        while True:
            await link.sync(1)      # resumes on every beat of the session
            print('bang!')

    asyncio.run(main())

``Link.sync(beat, offset=0, origin=0)`` returns an asyncio Future that is
done when the shared timeline reaches the next point of the grid
``origin + offset + k * beat``; its result is that grid point, in beats.
The timing runs on a native thread that never waits for the GIL.
"""
from ._aalink import LINK_VERSION, Link

__all__ = ["LINK_VERSION", "Link"]
__version__ = "0.3.0"
