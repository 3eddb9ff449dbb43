"""audio_record: record a Link Audio channel to a WAV file, bar-aligned.

Joins the session, waits for the channel (by default "synth" of peer
"synth", as audio_send.py announces it), and records whole bars: the file
starts on the first downbeat after the first buffer arrives, and every
buffer lands at the frame its beat stamp says (gaps stay silent).  The WAV
is 16-bit, with the channel's rate and channel count (stdlib `wave`).
Usage: audio_record.py out.wav [bars] [peer] [channel]   (needs Link 4.0)
"""
import asyncio
import math
import os
import sys
import wave

import aalink
from aalink import Link

QUANTUM = 4  # beats in a bar


async def record(path, bars, peer, name):
    bpm = float(os.environ.get("AALINK_EXAMPLE_BPM", "120"))
    link = Link(bpm)
    link.quantum = QUANTUM
    link.peer_name = "recorder"
    link.enabled = True
    link.audio_enabled = True
    appeared = asyncio.Event()

    def changed() -> None:
        if any(c.peer_name == peer and c.name == name for c in link.channels):
            appeared.set()

    link.set_channels_callback(changed)
    changed()
    await appeared.wait()
    out = None
    start = end = 0.0
    with link.source(peer=peer, name=name, ring=1024) as source:
        async for block in source:
            if block.begin_beat is None:
                continue  # from another session: no place on our grid
            if out is None:  # the first buffer: record from the next downbeat
                start = math.ceil(block.begin_beat / QUANTUM) * QUANTUM
                end = start + QUANTUM * bars
                rate, channels = block.rate, block.channels
                per_beat = rate * 60 / block.tempo
                out = bytearray(2 * channels * round((end - start) * per_beat))
                print(f"recording {name!r} of {peer!r}: beats {start:g} to {end:g}, "
                      f"{rate} Hz, {channels} channel(s)", flush=True)
            at = round((block.begin_beat - start) * per_beat) * 2 * channels
            data = block.samples
            if at < 0:  # before the downbeat: keep the part after it
                data, at = data[-at:], 0
            n = min(len(data), len(out) - at)
            if n > 0:
                out[at:at + n] = data[:n]
            if (block.end_beat or 0.0) >= end:
                break
    if out is None:
        link.close()
        return  # no buffer came
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(out) if sys.byteorder == "little" else _swap(out))
    print(f"recorded {len(out) // (2 * channels)} frames ({bars} bars) to {path}", flush=True)
    link.close()


def _swap(data):
    import array
    a = array.array('h', bytes(data))
    a.byteswap()  # WAV is little-endian
    return a.tobytes()


if __name__ == '__main__':
    if not aalink.HAS_LINK_AUDIO:
        sys.exit(f"Link Audio needs Link 4.0; this aalink uses Link {aalink.LINK_VERSION}")
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    args = sys.argv[1:] + [None] * 3
    try:
        asyncio.run(record(args[0], int(args[1] or 2), args[2] or "synth", args[3] or "synth"))
    except KeyboardInterrupt:
        pass
