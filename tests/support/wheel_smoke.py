"""A smoke test of an installed aalink, run from outside any source tree: by
tests/test_wheel.py on the wheels built here, and by cibuildwheel inside
every wheel the release workflow builds (its test-command).

It never enables Link (no network: Link's timeline runs locally), so it
needs no private network namespace and no test dependencies.
"""
import asyncio
import importlib.resources
import sys

import aalink
from aalink import Link

assert "site-packages" in aalink.__file__, f"not the installed package: {aalink.__file__}"
assert importlib.resources.files("aalink").joinpath("py.typed").is_file()


async def main():
    link = Link(600)  # 0.1 s a beat
    assert not link.enabled
    values = [await link.sync(0.5) for _ in range(3)]
    assert all(b - a == 0.5 for a, b in zip(values, values[1:])), values
    assert link.beat >= values[-1] - 1e-6
    points = []
    async for point in link.every(0.25):
        points.append(point)
        if len(points) == 3:
            break
    assert all(b - a == 0.25 for a, b in zip(points, points[1:])), points
    link.tempo = 300
    assert abs(link.tempo - 300) < 1e-9
    link.close()


asyncio.run(main())
print("wheel ok", "python", "{}.{}".format(*sys.version_info[:2]), "link", aalink.LINK_VERSION)
