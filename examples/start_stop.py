"""start_stop: follow the session's transport, with beat 0 on the start.

With start_stop_sync_enabled the program shares play/stop with its peers.
It waits until the session plays (a peer presses play, or --start), maps
beat 0 to the moment playing started with request_beat_at_start_playing_time,
then prints bar and beat (quantum 4) until the transport stops.
Usage: python start_stop.py [BEATS] [--start]
  BEATS    stop printing after this many beats (default: until stopped)
  --start  start the transport itself instead of waiting for a peer
The tempo is 120 bpm, or the AALINK_EXAMPLE_BPM environment variable.
"""
import asyncio
import os
import sys

from aalink import Link


async def main(beats, start):
    loop = asyncio.get_running_loop()
    link = Link(float(os.environ.get('AALINK_EXAMPLE_BPM', 120)), loop)
    link.quantum = 4
    link.start_stop_sync_enabled = True
    link.enabled = True

    changed = asyncio.Event()
    link.add_start_stop_callback(lambda playing: changed.set())

    print('waiting for play', flush=True)
    if start:
        link.playing = True
    while not link.playing:
        changed.clear()
        await changed.wait()

    link.request_beat_at_start_playing_time(0)
    print('playing', flush=True)
    count = 0
    while beats is None or count < beats:
        b = await link.sync(1)
        if not link.playing:
            break
        bar, beat = divmod(int(b), 4)
        print(f'bar {bar + 1} beat {beat + 1} ({b})', flush=True)
        count += 1
    print('stopped' if not link.playing else 'done', flush=True)


if __name__ == '__main__':
    args = [a for a in sys.argv[1:] if a != '--start']
    try:
        asyncio.run(main(int(args[0]) if args else None, '--start' in sys.argv[1:]))
    except KeyboardInterrupt:
        pass
