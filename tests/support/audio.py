"""Link Audio in the tests: two Links subscribed to each other's channel
(test_link_audio, test_audio_lifecycle, test_audio_stream), and the checks
of a recording made by examples/audio_record.py of the synth of
examples/audio_send.py (test_examples, test_audio_two_hosts)."""
import array
import sys
import wave

from aalink import Link

from . import until


def audio_pair():
    """Two Links in this namespace with Link Audio on: peers "sender" (a)
    and "receiver" (b)."""
    a, b = Link(120), Link(120)
    a.peer_name, b.peer_name = "sender", "receiver"
    for link in (a, b):
        link.enabled = True
        link.audio_enabled = True
    return a, b


async def subscribed(a, b, name, *, probe_frames=64, **source_kw):
    """(sink, source): a's new channel `name`, b subscribed to it, and one
    probe of `probe_frames` zero frames (mono, 48 kHz) sent: Link sends only
    once a source exists, so the probe is written until it goes."""
    sink = a.sink(name)
    await until(lambda: any(c.name == name for c in b.channels))
    source = b.source(peer="sender", name=name, **source_kw)
    probe = array.array('h', [0] * probe_frames)
    await until(lambda: sink.write(probe, rate=48000))
    return sink, source


def check_bar_recording(path, lines, bpm, bars=2):
    """lines: audio_record.py's output, split.  The WAV starts on a
    downbeat, has a note at the start of every beat (sounding within 1 ms)
    and silence in each beat's second half, and the octave-up downbeats are
    where its bars begin."""
    per_beat = 48000 * 60 // int(bpm)
    assert lines[0][0] == "recording" and float(lines[0][5]) % 4 == 0, lines
    assert lines[-1][:3] == ["recorded", str(4 * bars * per_beat), "frames"], lines
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 48000)
        frames = array.array('h', w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        frames.byteswap()
    crossings = []
    for k in range(4 * bars):
        beat = frames[k * per_beat:(k + 1) * per_beat]
        head = beat[:per_beat // 8]
        assert max(map(abs, head[:48])) > 1000, k  # sounding within 1 ms of the beat
        assert max(map(abs, beat[per_beat // 2:-48])) == 0, k
        crossings.append(sum((x < 0) != (y < 0) for x, y in zip(head, head[1:])))
    for k in range(4 * bars):
        assert (crossings[k] > 1.5 * crossings[1]) == (k % 4 == 0), crossings
