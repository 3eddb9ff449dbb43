"""Link.every(): an async iterator over the points of a beat grid."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, SupportsFloat

if TYPE_CHECKING:
    from ._aalink import Link


async def every(link: Link, beat: SupportsFloat, offset: SupportsFloat = 0,
                origin: SupportsFloat = 0, *, skip_late: bool = False,
                lead: SupportsFloat | None = None) -> AsyncIterator[float]:
    """Yield origin + offset + k*beat for successive k, each when it is due.

    The first point is the next one after the current beat (as sync()); each
    later one is the point after the previous, so a consumer that comes back
    late gets the points it missed at once, in order.  With skip_late=True
    it gets the next point after the current beat instead.
    """
    first = await link.sync(beat, offset=offset, origin=origin, lead=lead)
    yield first
    grid = float(beat)
    step = 0
    while True:
        if skip_late:
            first = await link.sync(grid, offset=offset, origin=origin, lead=lead)
            step = 0
            yield first
        else:
            step += 1
            # first + step*beat, not a running sum: no accumulated rounding.
            target = first + step * grid
            value = await link._sync_at(target, lead=lead, step=grid, offset=offset,
                                        origin=origin)
            if value != target:
                # A timeline edit re-targeted the step: go on from there.
                first, step = value, 0
            yield value
