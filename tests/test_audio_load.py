"""Link Audio under load: 48 kHz stereo for 10 s into a busy loop, nothing
lost and the beats right; memory flat; a starved loop drops and counts;
numpy in and out.  Two Links, one private namespace.

AALINK_AUDIO_SOAK_SECONDS sets the soak's duration (default 3 s):
    AALINK_AUDIO_SOAK_SECONDS=600 scripts/test.sh tests/test_audio_load.py -k soak -s
Its time-out follows from that duration, as test_soak.py's does.
"""
import array
import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import aalink
from aalink import Link
from support import until

pytestmark = pytest.mark.skipif(not aalink.HAS_LINK_AUDIO, reason="Link Audio needs Link 4.0")

RATE = 48000
CHUNK = 480  # frames per write: 10 ms
SOAK_SECONDS = float(os.environ.get("AALINK_AUDIO_SOAK_SECONDS", "3"))
SOAK_TIMEOUT = SOAK_SECONDS * 1.5 + 120
BEATS_PER_FRAME = 2.0 / RATE  # 120 bpm
MS_IN_BEATS = 0.002  # 1 ms at 120 bpm


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20



async def setup(name, **kw):
    a, b = Link(120), Link(120)
    a.peer_name, b.peer_name = "sender", "receiver"
    for link in (a, b):
        link.enabled = True
        link.audio_enabled = True
    sink = a.sink(name)
    await until(lambda: any(c.name == name for c in b.channels))
    source = b.source(peer="sender", name=name, **kw)
    silence = array.array('h', [0] * 2 * CHUNK)
    beat0 = a.beat + 0.25  # the stream's first frame: later writes follow on from it
    await until(lambda: sink.write(silence, beat0, rate=RATE, channels=2))  # subscribed
    await until(lambda: source.stats["received"] > 0)
    taken = 0
    while source.stats["queued"]:
        taken += (await source.__anext__()).frames
    return a, b, sink, source, beat0, taken


def ramp(frame):
    return frame % 32767 + 1  # never 0: setup()'s silence may lead the first packet


def send(sink, seconds, beat0, done):
    """On its own thread, in real time: a stereo ramp (both channels carry
    the frame counter, 1..32767 and round), each chunk stamped with its
    exact beat."""
    start = time.monotonic()
    frame = 0
    while frame < seconds * RATE:
        chunk = array.array('h', [0] * 2 * CHUNK)
        for i in range(CHUNK):
            chunk[2 * i] = chunk[2 * i + 1] = ramp(frame + i)
        if not sink.write(chunk, beat0 + frame * BEATS_PER_FRAME, rate=RATE, channels=2):
            done.append(("unsent", frame))
        frame += CHUNK
        lag = start + frame / RATE - time.monotonic()
        if lag > 0:
            time.sleep(lag)
    done.append(("frames", frame))


async def stream(seconds, busy, check_rss=False):
    """Sends `seconds` of audio while the receiving loop blocks for `busy`
    of every 30 ms; checks every frame and every stamp."""
    a, b, sink, source, first, taken = await setup("load")
    try:
        beat0 = first + CHUNK * BEATS_PER_FRAME  # after setup()'s silence
        done = []
        sender = threading.Thread(target=send, args=(sink, seconds, beat0, done))
        expect, worst, blocks = 0, 0.0, 0
        rss = []
        stop = asyncio.Event()

        async def hog():
            while not stop.is_set():
                time.sleep(busy)  # noqa: ASYNC251 -- the loop is busy on purpose
                await asyncio.sleep(0.03 - busy)

        hogging = asyncio.ensure_future(hog())
        sender.start()
        try:
            while True:
                finished = done and expect >= done[-1][1] - 2 * CHUNK  # Link holds a partial packet
                try:
                    block = await asyncio.wait_for(source.__anext__(), 1 if finished else 5)
                except asyncio.TimeoutError:
                    if finished:
                        break
                    raise AssertionError(("stalled", expect, done, source.stats)) from None
                assert block.channels == 2 and block.rate == RATE
                got = array.array('h', block.samples)
                lead = 0
                while expect == 0 and lead < block.frames and got[2 * lead] == 0:
                    lead += 1  # the rest of setup()'s silence
                left, right = list(got[2 * lead::2]), list(got[2 * lead + 1::2])
                want = [ramp(expect + i) for i in range(block.frames - lead)]
                assert left == want and right == want, expect
                at = taken + expect  # frames sent before this block's first
                worst = max(worst, abs(block.begin_beat - (first + at * BEATS_PER_FRAME)))
                expect += block.frames - lead
                taken += lead
                blocks += 1
                if check_rss and blocks % 200 == 0:
                    rss.append(rss_mb())
        finally:
            stop.set()
            await hogging
            sender.join()
        assert [d for d in done if d[0] == "unsent"] == []
        stats = source.stats
        assert stats["dropped"] == 0 and stats["out_of_session"] == 0
        assert worst < MS_IN_BEATS, f"a beat stamp was {worst / BEATS_PER_FRAME / 48:.3f} ms off"
        return expect, rss
    finally:
        a.close()
        b.close()


async def test_ten_seconds_of_stereo_into_a_busy_loop_lose_nothing_and_stay_on_the_beat():
    frames, _ = await stream(10, busy=0.02)
    assert frames >= 10 * RATE - 2 * CHUNK


@pytest.mark.timeout(SOAK_TIMEOUT)
async def test_soak_memory_stays_flat():
    frames, rss = await stream(max(SOAK_SECONDS, 3), busy=0.01, check_rss=True)
    assert frames >= SOAK_SECONDS * RATE - 2 * CHUNK
    if len(rss) >= 4:  # after the warm-up, RSS does not grow with the run
        assert rss[-1] - rss[len(rss) // 4] < 8, rss


def test_soak_timeout_follows_its_duration():
    code = ("import test_audio_load as t; print(next(m.args[0] for m in "
            "t.test_soak_memory_stays_flat.pytestmark if m.name == 'timeout'))")
    env = dict(os.environ, AALINK_AUDIO_SOAK_SECONDS="3600")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, text=True,
                         capture_output=True, cwd=Path(__file__).parent).stdout
    assert float(out) > 3600


async def test_a_starved_loop_drops_the_oldest_and_counts_every_buffer():
    a, b, sink, source, _, _ = await setup("starved", ring=8)
    try:
        base = source.stats["received"]  # setup() took these
        frame = 0
        for _ in range(100):  # 1 s of audio while the loop never reads
            sink.write(array.array('h', [frame % 32768] * 2 * CHUNK), rate=RATE, channels=2)
            frame += CHUNK
            time.sleep(0.01)  # noqa: ASYNC251 -- the loop never reads, on purpose
        await until(lambda: source.stats["received"] >= 100)
        taken = 0
        while source.stats["queued"]:
            await source.__anext__()
            taken += 1
        stats = source.stats
        assert taken == 8 and stats["dropped"] > 0
        assert stats["received"] - base == stats["dropped"] + taken
    finally:
        a.close()
        b.close()


async def test_numpy_frames_go_in_and_come_out_exact():
    numpy = pytest.importorskip("numpy")
    a, b, sink, source, _, _ = await setup("numpy")
    try:
        ramp = (numpy.arange(4 * CHUNK * 2, dtype=numpy.int16) - 4000).reshape(-1, 2)
        assert sink.write(ramp, rate=RATE, channels=2)
        got = numpy.zeros(0, numpy.int16)
        while len(got) < ramp.size - 2 * 256:
            block = await asyncio.wait_for(source.__anext__(), 5)
            got = numpy.concatenate([got, numpy.frombuffer(block.samples, numpy.int16)])
            got = numpy.trim_zeros(got, "f")  # the rest of setup()'s silence
        assert (got == ramp.reshape(-1)[:len(got)]).all()
        with pytest.raises(TypeError, match="contiguous"):
            sink.write(ramp[::2], rate=RATE, channels=2)
        with pytest.raises(TypeError, match="int16"):
            sink.write(ramp.astype(">i2" if sys.byteorder == "little" else "<i2"), rate=RATE)
        with pytest.raises(TypeError, match="int16"):
            sink.write(ramp.astype(numpy.int32), rate=RATE)
    finally:
        a.close()
        b.close()
