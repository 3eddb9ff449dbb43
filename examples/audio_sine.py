"""audio_sine: publish a sine on every beat into a Link Audio channel "sine".

A second Link in the same process listens to the channel (a callback on the
loop) and prints how many frames it heard and on which beats blips start.
Usage: audio_sine.py [beats]   (needs Link 4.0: aalink.HAS_LINK_AUDIO)
"""
import array
import asyncio
import math
import os
import sys

import aalink
from aalink import Link

RATE = 48000


def sine(frames, hz=440.0, level=8000):
    return array.array('h', (int(level * math.sin(2 * math.pi * hz * i / RATE))
                             for i in range(frames)))


async def main(beats):
    bpm = float(os.environ.get("AALINK_EXAMPLE_BPM", "120"))
    sender, listener = Link(bpm), Link(bpm)
    sender.peer_name, listener.peer_name = "synth", "ear"
    for link in (sender, listener):
        link.enabled = True
        link.audio_enabled = True
    sink = sender.sink("sine")
    appeared = asyncio.Event()

    def changed() -> None:
        if any(c.name == "sine" for c in listener.channels):
            appeared.set()

    listener.set_channels_callback(changed)
    if not any(c.name == "sine" for c in listener.channels):
        await appeared.wait()
    heard: list[aalink.AudioBlock] = []
    source = listener.source(peer="synth", name="sine", callback=heard.append)
    tone = sine(RATE * 60 // int(bpm) // 4)  # a sixteenth-note blip
    sent = 0
    while sent < beats:
        beat = await sender.sync(1)
        if sink.write(tone, beat, rate=RATE):  # False until the subscription arrives
            sent += 1
            print(f"beat {beat:g} sent {len(tone)} frames", flush=True)
    await sender.sync(1)
    starts = sorted({round(b.begin_beat, 3) for b in heard if b.begin_beat is not None})
    print(f"heard {sum(b.frames for b in heard)} frames; blips starting on beats "
          f"{[s for s in starts if s == int(s)]}", flush=True)
    source.close()
    sink.close()
    sender.close()
    listener.close()


if __name__ == '__main__':
    if not aalink.HAS_LINK_AUDIO:
        sys.exit(f"Link Audio needs Link 4.0; this aalink uses Link {aalink.LINK_VERSION}")
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8))
    except KeyboardInterrupt:
        pass
