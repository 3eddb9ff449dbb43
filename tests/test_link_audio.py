"""Link Audio: two Links in one private namespace (loopback)."""
import array
import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import aalink
from aalink import Link
from support import until
from support.audio import audio_pair, subscribed

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
needs_audio = pytest.mark.skipif(not aalink.HAS_LINK_AUDIO, reason="Link Audio needs Link 4.0")


def test_has_link_audio_follows_the_engine():
    assert aalink.HAS_LINK_AUDIO == (aalink.LINK_VERSION.split(".")[0] not in ("1", "2", "3"))


@pytest.mark.skipif(aalink.HAS_LINK_AUDIO, reason="this engine has Link Audio")
def test_without_link_audio_the_api_raises_clearly():
    with Link(120) as link:
        assert link.audio_enabled is False
        with pytest.raises(RuntimeError, match="Link 4.0"):
            link.audio_enabled = True
        with pytest.raises(RuntimeError, match="Link 4.0"):
            link.sink("x")



async def take(source, timeout=0.3):
    """Every block that arrives until none has for `timeout` s."""
    blocks = []
    while True:
        try:
            blocks.append(await asyncio.wait_for(source.__anext__(), timeout))
        except asyncio.TimeoutError:  # a cancelled __anext__ loses nothing
            return blocks


@needs_audio
async def test_a_ramp_arrives_sample_exact_with_beats_and_counts():
    a, b = audio_pair()
    calls = []
    b.set_channels_callback(lambda: calls.append(threading.get_ident()))
    try:
        sink, source = await subscribed(a, b, "ramp")  # one probe of 64 zeros was sent
        assert calls and set(calls) == {threading.get_ident()}  # on the loop's thread
        ch = [c for c in b.channels if c.name == "ramp"][0]
        assert ch.peer_name == "sender" and len(ch.id) == 16 and source.channel == ch.id
        ramp = array.array('h', range(-4000, 4000))  # more than max_samples: in pieces
        beat = a.beat + 0.5
        assert sink.write(ramp, beat, rate=48000, channels=2)
        blocks = await take(source)
        # Exactly what was sent, once: the probe that write() called sent
        # (the probes it called unsent sent nothing), then the ramp.
        probe = [blk for blk in blocks if blk.channels == 1]
        assert b"".join(blk.samples for blk in probe) == bytes(2 * 64)
        got = array.array('h', b"".join(blk.samples for blk in blocks if blk.channels == 2))
        assert got == ramp
        assert blocks[:len(probe)] == probe  # in order
        counts = [blk.sequence for blk in blocks]
        assert counts == list(range(counts[0], counts[0] + len(counts)))
        ramp_blocks = [blk for blk in blocks if blk.channels == 2]
        assert abs(ramp_blocks[0].begin_beat - beat) < 1e-3
        for x, y in zip(ramp_blocks, ramp_blocks[1:]):
            assert abs(x.end_beat - y.begin_beat) < 1e-3
        assert source.stats["dropped"] == 0 and source.stats["out_of_session"] == 0
    finally:
        a.close()
        b.close()


@needs_audio
async def test_bad_input_gets_clear_errors():
    a, b = audio_pair()
    try:
        sink = a.sink("bad")
        with pytest.raises(TypeError, match="int16"):
            sink.write(array.array('f', [0.0] * 4), rate=48000)
        with pytest.raises(TypeError, match="int16"):
            sink.write(array.array('i', [0] * 4), rate=48000)
        with pytest.raises(ValueError, match="stereo"):
            sink.write(array.array('h', [0] * 3), rate=48000, channels=2)
        with pytest.raises(ValueError, match="whole int16"):
            sink.write(b"\0\0\0", rate=48000)
        with pytest.raises(TypeError, match="rate"):
            sink.write(b"\0\0")
        with pytest.raises(ValueError, match="channels"):
            sink.write(b"\0\0", rate=48000, channels=3)
        with pytest.raises(LookupError, match="no channel"):
            b.source("0123456789abcdef")
        with pytest.raises(ValueError, match="16 hex"):
            b.source("zz")
        with pytest.raises(LookupError):
            b.source(peer="nobody", name="bad")
        assert sink.write(b"\0\0" * 8, rate=48000) is False  # nobody listens
        sink.close()
        assert sink.closed
        with pytest.raises(RuntimeError, match="closed"):
            sink.write(b"\0\0", rate=48000)
        try:
            import numpy
        except ImportError:
            return
        sink2 = a.sink("np")
        assert sink2.write(numpy.zeros((4, 2), numpy.int16), rate=48000, channels=2) is False
        with pytest.raises(TypeError, match="int16"):
            sink2.write(numpy.zeros(4, numpy.float32), rate=48000)
    finally:
        a.close()
        b.close()


@needs_audio
async def test_a_larger_buffer_goes_in_pieces_and_nothing_stale_is_sent_again():
    """Growing a sink made Link 4.0 send its earlier buffers again (stale
    audio); a write larger than max_samples now goes in pieces."""
    a, b = audio_pair()
    try:
        sink, source = await subscribed(a, b, "ramp", ring=1024)  # its probe waits in a packet
        for k in range(1, 200):  # more than Link's 128 queued buffers, each distinct
            assert sink.write(array.array('h', [k] * 64), rate=48000)
            await asyncio.sleep(0.001)
        big = array.array('h', [-7] * 10000)
        assert sink.max_samples < len(big)
        assert sink.write(big, rate=48000)
        assert sink.max_samples == 4096  # never grown
        got = array.array('h', b"".join(blk.samples for blk in await take(source)))
        want = array.array('h', [k for k in range(200) for _ in range(64)]) + big
        assert source.stats["dropped"] == 0
        assert len(got) > len(want) - 300  # Link keeps a partial packet
        assert got == want[:len(got)]
    finally:
        a.close()
        b.close()


@needs_audio
async def test_a_cancelled_anext_loses_nothing():
    a, b = audio_pair()
    try:
        sink, source = await subscribed(a, b, "ramp")  # its probe waits in a partial packet
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(source.__anext__(), 0.05)  # nothing yet: cancelled
        assert sink.write(array.array('h', [5] * 1000), rate=48000)
        await until(lambda: source.stats["received"] >= 3)
        got = array.array('h', b"".join(blk.samples for blk in await take(source)))
        assert got.tolist() == [0] * 64 + [5] * (len(got) - 64) and len(got) > 700
    finally:
        a.close()
        b.close()


@needs_audio
async def test_closing_the_source_or_its_link_ends_async_for():
    a, b = audio_pair()
    try:
        sink, source = await subscribed(a, b, "ramp")

        async def drain(src):
            async for _ in src:
                pass
            return "ended"

        task = asyncio.ensure_future(drain(source))
        await asyncio.sleep(0.1)
        source.close()
        assert await asyncio.wait_for(task, 2) == "ended"
        source2 = b.source(peer="sender", name="ramp")
        task = asyncio.ensure_future(drain(source2))
        await asyncio.sleep(0.1)
        b.close()
        assert await asyncio.wait_for(task, 2) == "ended"
        assert source2.closed
    finally:
        a.close()
        b.close()
    assert sink.closed  # closed with its Link


@needs_audio
async def test_overflow_drops_the_oldest_and_counts():
    a, b = audio_pair()
    try:
        sink, source = await subscribed(a, b, "ramp", ring=4)
        for i in range(40):
            sink.write(array.array('h', [i] * 200), rate=48000)
            await asyncio.sleep(0.002)  # never read: the ring fills
        await until(lambda: source.stats["received"] >= 20)
        stats = source.stats
        assert stats["queued"] == 4 and stats["dropped"] == stats["received"] - 4
        last = array.array('h', (await source.__anext__()).samples)
        assert last[-1] > 0  # the newest kept, the oldest (the probe's zeros) gone
    finally:
        a.close()
        b.close()


@needs_audio
def test_the_sine_example_runs():
    r = subprocess.run([sys.executable, str(EXAMPLES / "audio_sine.py"), "3"],
                       capture_output=True, text=True, timeout=60,
                       env={**__import__("os").environ, "AALINK_EXAMPLE_BPM": "600"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len([x for x in lines if " sent " in x]) == 3 and lines[-1].startswith("heard")
