import asyncio
import gc

import pytest

from netns_guard import isolation_problem


@pytest.fixture(autouse=True)
def _private_network_guard():
    """Every test may enable Link: fail loudly outside a private namespace."""
    problem = isolation_problem()
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def make_link():
    """Create Links that are closed when the test ends."""
    from aalink import Link

    links = []

    def make(*args, **kwargs):
        link = Link(*args, **kwargs)
        links.append(link)
        return link

    yield make
    for link in links:
        link.close()
    gc.collect()


async def wait_until(predicate, timeout=5.0, interval=0.02):
    """Poll predicate() on the loop until it is true; return whether it was."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())
