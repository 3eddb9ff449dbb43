"""A Link dropped while an exception is in flight leaves it alone.

Returning from a coroutine or a generator raises StopIteration internally,
and a Link bound to a loop that is dropped at that moment runs its dealloc
(which unregisters from the loop) while that exception is in flight.  The
dealloc must save and restore it, or the return value (or the exception
being raised) is lost.
"""
import asyncio
import gc

import pytest

from aalink import Link


def test_coroutine_returning_while_dropping_a_bound_link_keeps_its_value():
    async def inner():
        link = Link(120)  # bound to the running loop, dropped on return
        assert link.tempo == 120
        return "x"

    async def main():
        values = [await inner() for _ in range(5)]
        await asyncio.sleep(0)
        return values

    assert asyncio.run(main()) == ["x"] * 5


def test_generator_returning_while_dropping_a_bound_link_keeps_its_value():
    def gen(loop):
        link = Link(120, loop)
        yield link.tempo
        return "y"

    async def main():
        loop = asyncio.get_running_loop()
        g = gen(loop)
        assert next(g) == 120
        with pytest.raises(StopIteration) as info:
            next(g)
        return info.value.value

    assert asyncio.run(main()) == "y"


def test_exception_raised_while_dropping_a_bound_link_propagates_unchanged():
    class Boom(Exception):
        pass

    async def inner():
        link = Link(120)
        link.add_tempo_callback(lambda bpm: None)
        raise Boom("kept")

    async def main():
        with pytest.raises(Boom, match="^kept$") as info:
            await inner()
        assert info.value.__context__ is None
        return "done"

    assert asyncio.run(main()) == "done"
    gc.collect()
