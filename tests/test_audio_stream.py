"""Link Audio: the beats a sink's buffers are stamped with (docs/audio.md
"Sinks"): a write whose beat jumps is stamped at its beat, and a write
without a beat follows on from the previous buffer, or starts at the beat
now after a gap.  Two Links, one private namespace."""
import array
import asyncio
import time

import pytest

import aalink
from support.audio import audio_pair, subscribed

pytestmark = pytest.mark.skipif(not aalink.HAS_LINK_AUDIO, reason="Link Audio needs Link 4.0")

RATE = 48000
BPF = 2.0 / RATE  # beats per frame at 120 bpm
HALF_FRAME = BPF / 2 + 2e-6  # Link keeps beats in micro-beats


async def setup():
    a, b = audio_pair()
    sink, source = await subscribed(a, b, "stream", ring=4096)  # read after writing
    return a, b, sink, source


async def take(source, timeout=0.3):
    blocks = []
    while True:
        try:
            blocks.append(await asyncio.wait_for(source.__anext__(), timeout))
        except asyncio.TimeoutError:
            assert source.stats["dropped"] == 0
            return [blk for blk in blocks if blk.channels == 2]  # not the mono probe


def frames_of(blocks):
    """(value, stamp) for every frame of stereo blocks (both channels equal)."""
    out = []
    for blk in blocks:
        got = array.array('h', blk.samples)
        assert got[::2] == got[1::2]
        out += [(v, blk.begin_beat + i * BPF) for i, v in enumerate(got[::2])]
    return out


def stereo(value, frames):
    return array.array('h', [value] * (2 * frames))


async def test_a_write_whose_beat_jumps_is_stamped_at_its_beat():
    a, b, sink, source = await setup()
    try:
        beat = a.beat + 0.25
        writes = []  # (value, beat of its first frame)
        plan = [(1, 0), (2, 0), (3, 0), (4, 0.5), (5, 0), (6, -0.25), (7, 0), (8, 10 * BPF),
                (9, 0), (10, 3)]  # value, jump before it (beats); 100 frames each
        for value, jump in plan:
            beat += jump
            assert sink.write(stereo(value, 100), beat, rate=RATE, channels=2)
            writes.append((value, beat))
            beat += 100 * BPF
        assert sink.write(stereo(11, 1000), beat, rate=RATE, channels=2)  # flushes the rest
        blocks = await take(source)
        assert all(blk.tempo == 120.0 for blk in blocks)  # the workaround does not show
        frames = frames_of(blocks)
        assert [v for v, _ in frames][:1000] == [v for v, _ in writes for _ in range(100)]
        for value, want in writes:
            i = [v for v, _ in frames].index(value)
            for k in range(100):  # every frame of it, sample-exact
                assert abs(frames[i + k][1] - (want + k * BPF)) < HALF_FRAME, (value, k)
    finally:
        a.close()
        b.close()


async def write_paced(sink, link, chunks, frames=480, value=1):
    """Writes `chunks` buffers without a beat, in real time (absolute
    schedule); returns the sender's beat just before and after the first."""
    start = time.monotonic()
    before = link.beat
    assert sink.write(stereo(value, frames), rate=RATE, channels=2)
    after = link.beat
    for k in range(1, chunks):
        await asyncio.sleep(max(0.0, start + k * frames / RATE - time.monotonic()))
        assert sink.write(stereo(value + k, frames), rate=RATE, channels=2)
    return before, after


async def test_a_write_without_a_beat_follows_on_and_starts_again_after_a_gap():
    a, b, sink, source = await setup()
    try:
        await asyncio.sleep(0.3)  # the probe's end is now 0.3 s behind: too far
        before, after = await write_paced(sink, a, 40)
        blocks = await take(source)
        assert before <= blocks[0].begin_beat <= after  # the first: the beat now
        for x, y in zip(blocks, blocks[1:]):  # then sample-contiguous
            assert abs(y.begin_beat - x.end_beat) < 5e-6  # 2.5 us: a frame is 21
        end = blocks[-1].end_beat  # Link holds back a partial packet
        await asyncio.sleep(0.25)  # a gap: more than 0.1 s behind
        before, after = await write_paced(sink, a, 5, value=100)
        # Then a short pause, within 0.1 s: it follows on (no gap for the receiver).
        await asyncio.sleep(0.03)
        assert sink.write(stereo(200, 1000), rate=RATE, channels=2)
        frames = frames_of(await take(source))
        first = next(s for v, s in frames if v == 100)
        assert before <= first <= after and first > end + 0.4  # the beat now again
        assert next(s for v, s in frames if v == 200) == pytest.approx(
            first + 5 * 480 * BPF, abs=HALF_FRAME)
    finally:
        a.close()
        b.close()


async def test_a_stream_running_too_far_ahead_starts_again_at_the_beat_now():
    a, b, sink, source = await setup()
    try:
        await asyncio.sleep(0.3)
        nows = []
        for k in range(150):  # 1.5 s of audio written in about 0.2 s
            nows.append(a.beat)
            assert sink.write(stereo(k + 1, 480), rate=RATE, channels=2)
            await asyncio.sleep(0.001)
        frames = frames_of(await take(source))
        starts = {}
        for v, s in frames:
            starts.setdefault(v, s)
        jumps = [k for k in range(2, 150) if k in starts and k - 1 in starts
                 and abs(starts[k] - starts[k - 1] - 480 * BPF) > 1e-5]
        assert jumps, "never started again"
        for k in jumps:  # each time the stream had run more than 1 s (2 beats) ahead
            ahead = starts[k - 1] + 480 * BPF - nows[k]
            assert 1.99 < ahead < 2.1, (k, ahead)  # now was read just before
            assert abs(starts[k] - nows[k]) < 0.01  # ... it starts at the beat now
        for k in range(2, 150):  # and follows on otherwise
            if k in starts and k - 1 in starts and k not in jumps:
                assert starts[k] - starts[k - 1] == pytest.approx(480 * BPF, abs=2e-6)
    finally:
        a.close()
        b.close()
