"""Link Audio: channels that appear, are renamed and vanish, and sources
whose loop closes (docs/audio.md "Sources").  Two Links, one private
namespace."""
import array
import asyncio

import pytest

import aalink
from support import until
from support.audio import audio_pair
from support.audio import subscribed as subscribe

pytestmark = pytest.mark.skipif(not aalink.HAS_LINK_AUDIO, reason="Link Audio needs Link 4.0")



def named(link, name):
    return [c for c in link.channels if c.name == name]


async def subscribed(a, b, name="ramp"):
    # Link packs writes into packets of ~250 frames: this probe fills four
    return await subscribe(a, b, name, probe_frames=1024)


async def drain(source):
    """Takes what is queued; returns a pending __anext__ future."""
    while source.stats["queued"]:
        await source.__anext__()
    return source.__anext__()


async def test_channels_appear_are_renamed_and_vanish_and_the_callback_fires():
    a, b = audio_pair()
    calls = []
    b.set_channels_callback(lambda: calls.append([(c.id, c.name) for c in b.channels]))
    try:
        sink = a.sink("first")
        await until(lambda: named(b, "first"))
        await until(lambda: any(("first" in [n for _, n in seen]) for seen in calls))
        ch = named(b, "first")[0]
        assert (ch.peer_name, ch.peer_id == ch.id) == ("sender", False)
        n = len(calls)
        sink.name = "second"
        assert sink.name == "second"
        await until(lambda: named(b, "second"))
        assert named(b, "second")[0].id == ch.id and not named(b, "first")  # same channel
        await until(lambda: len(calls) > n and (ch.id, "second") in calls[-1])
        n = len(calls)
        sink.close()
        await until(lambda: not named(b, "second"))
        await until(lambda: len(calls) > n and all(i != ch.id for i, _ in calls[-1]))
        with pytest.raises(RuntimeError, match="closed"):
            sink.name = "third"
        with pytest.raises(TypeError, match="str"):
            a.sink("x").name = 3
    finally:
        a.close()
        b.close()


async def test_a_renamed_channel_keeps_its_subscription():
    a, b = audio_pair()
    try:
        sink, source = await subscribed(a, b)
        sink.name = "renamed"
        await until(lambda: named(b, "renamed"))
        assert sink.write(array.array('h', [7] * 2000), rate=48000)

        async def sevens():
            async for block in source:  # Link packs writes into its own packets
                if 7 in array.array('h', block.samples):
                    return True

        assert await asyncio.wait_for(sevens(), 5)
        assert not source.closed
    finally:
        a.close()
        b.close()


async def test_a_vanished_channel_ends_async_for_with_lookup_error():
    a, b = audio_pair()
    try:
        sink, source = await subscribed(a, b)
        got = []

        async def listen():
            async for block in source:
                got.append(block)

        task = asyncio.ensure_future(listen())
        await until(lambda: got)  # the probe arrived
        sink.close()
        with pytest.raises(LookupError, match="'ramp' of peer 'sender'"):
            await asyncio.wait_for(task, 15)
        assert source.closed
        with pytest.raises(LookupError, match="left the session"):
            await source.__anext__()  # says so again, not a silent end
    finally:
        a.close()
        b.close()


async def test_a_vanished_channel_delivers_what_was_queued_first():
    a, b = audio_pair()
    try:
        sink, source = await subscribed(a, b)
        await until(lambda: source.stats["received"] >= 1)
        queued = source.stats["queued"]
        sink.close()
        await until(lambda: source.closed, 15)
        got = 0
        with pytest.raises(LookupError):
            async for _ in source:
                got += 1
        assert got == queued >= 1
    finally:
        a.close()
        b.close()


async def test_a_vanished_channel_closes_a_callback_source():
    a, b = audio_pair()
    try:
        sink = a.sink("cb")
        await until(lambda: named(b, "cb"))
        got = []
        source = b.source(peer="sender", name="cb", callback=got.append)
        # Link Audio goes over UDP: write until a buffer arrives.
        await until(lambda: sink.write(array.array('h', [1] * 1024), rate=48000) and got)
        sink.close()
        await until(lambda: source.closed, 15)
        assert source.stats["queued"] == 0  # handed to the callback before closing
    finally:
        a.close()
        b.close()


def test_closing_the_loop_ends_async_for_and_lets_go_of_the_waiter():
    loop = asyncio.new_event_loop()
    a, b = audio_pair()
    try:
        sink, source = loop.run_until_complete(subscribed(a, b))
        other = b.source(peer="sender", name="ramp")
        fut = loop.run_until_complete(drain(source))
        assert not fut.done()
        loop.close()
        with pytest.raises(StopAsyncIteration):
            source.__anext__()  # the source's loop is closed: the iteration ends
        assert source.closed
        assert not fut.done()  # a closed loop cannot run callbacks: let go

        async def again():
            n = 0
            async for _ in other:  # made on the closed loop: ends at once
                n += 1
            await b.sync(0.25)     # the Link follows this loop
            return n

        assert asyncio.run(again()) == 0
        assert other.closed
    finally:
        a.close()
        b.close()


def test_the_link_moving_to_a_new_loop_ends_the_old_loops_sources():
    loop = asyncio.new_event_loop()
    a, b = audio_pair()
    try:
        sink, source = loop.run_until_complete(subscribed(a, b))
        loop.close()
        assert not source.closed  # nothing looked yet

        async def follow():
            await b.sync(0.25)  # the Link lets go of its closed loop ...
            return source.closed  # ... and so do its sources

        assert asyncio.run(follow()) is True
        fresh = asyncio.run(fresh_source(b))
        assert fresh is True
    finally:
        a.close()
        b.close()


async def fresh_source(b):
    """A source made on the new loop works there."""
    src = b.source(peer="sender", name="ramp")
    src.close()
    return src.closed


async def test_on_close_tells_a_callback_source_why_on_the_loop_thread():
    import threading

    a, b = audio_pair()
    try:
        sink = a.sink("why")
        await until(lambda: named(b, "why"))
        events = []

        def on_close(exc):
            events.append((exc, threading.get_ident()))

        got = []
        src = b.source(peer="sender", name="why", callback=got.append, on_close=on_close)
        # Link Audio goes over UDP: write until a buffer arrives.
        await until(lambda: sink.write(array.array('h', [1] * 1024), rate=48000) and got)
        sink.close()  # the channel vanishes
        await until(lambda: events, 15)
        exc, thread = events[0]
        assert isinstance(exc, LookupError) and "'why' of peer 'sender'" in str(exc)
        assert thread == threading.get_ident() and src.closed
        assert src.stats["queued"] == 0  # the blocks came first

        sink = a.sink("why2")
        await until(lambda: named(b, "why2"))
        closed_here = []
        src = b.source(peer="sender", name="why2", callback=got.append,
                       on_close=lambda exc: closed_here.append(exc))
        src.close()
        assert closed_here == []  # never from inside close(): on the loop, soon
        await until(lambda: closed_here)
        src.close()
        await asyncio.sleep(0.05)
        assert closed_here == [None]  # this program closed it, once

        by_link = []
        b.source(peer="sender", name="why2", on_close=by_link.append)  # async form too
        threading.Thread(target=b.close).start()  # the Link closed, from another thread
        await until(lambda: by_link)
        assert by_link == [None]
    finally:
        a.close()
        b.close()


async def test_on_close_must_be_callable():
    a, b = audio_pair()
    try:
        sink = a.sink("c")  # kept: a dropped sink withdraws its channel
        await until(lambda: named(b, "c") and sink)
        with pytest.raises(TypeError, match="on_close"):
            b.source(peer="sender", name="c", on_close=3)
    finally:
        a.close()
        b.close()
