"""audio_send: a small Python synth that plays a note on every beat into the
Link Audio channel "synth" (peer "synth"): a higher note on each bar's
downbeat, a short decaying tone, then silence to the next beat.

Each beat's audio is written at that beat, so a receiver (audio_record.py,
or Live) places it on its own beat grid.  Link sends only while someone
listens: until then the synth plays to nobody, and says so once.
Usage: audio_send.py [beats]   (default: until Ctrl-C; needs Link 4.0)
"""
import array
import asyncio
import math
import os
import sys

import aalink
from aalink import Link

RATE = 48000


def note(frames, hz, level=12000, decay=30.0):
    """frames of a sine at hz that dies away (mono int16)."""
    return array.array('h', (int(level * math.exp(-decay * i / RATE)
                                 * math.sin(2 * math.pi * hz * i / RATE))
                             for i in range(frames)))


async def main(beats):
    bpm = float(os.environ.get("AALINK_EXAMPLE_BPM", "120"))
    link = Link(bpm)
    link.quantum = 4
    link.peer_name = "synth"
    link.enabled = True
    link.audio_enabled = True
    sink = link.sink("synth")
    played = heard = 0
    while beats is None or played < beats:
        beat = await link.sync(1)
        frames = round(RATE * 60 / link.tempo)  # one beat of audio
        tone = note(frames // 4, 880 if round(beat) % 4 == 0 else 440)
        buf = tone + array.array('h', bytes(2 * (frames - len(tone))))
        if sink.write(buf, beat, rate=RATE):
            heard += 1
            print(f"beat {beat:g}: played {frames} frames", flush=True)
        elif heard == played:
            print(f"beat {beat:g}: nobody listens yet", flush=True)
        played += 1
    print(f"played {played} beats, {heard} heard", flush=True)
    link.close()


if __name__ == '__main__':
    if not aalink.HAS_LINK_AUDIO:
        sys.exit(f"Link Audio needs Link 4.0; this aalink uses Link {aalink.LINK_VERSION}")
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
    except KeyboardInterrupt:
        pass
