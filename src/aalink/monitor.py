"""``python -m aalink``: watch and steer the Ableton Link session from a terminal.

A small cousin of Ableton's LinkHut written with asyncio and aalink: it shows
the session's tempo, peers, transport and beat, draws the phase as a bar that
moves in time, and takes keys to change tempo, quantum and transport.  When
standard output is not a terminal (or with --plain) it prints one line per
beat instead.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import signal
import sys
from typing import TYPE_CHECKING, Any, TextIO

from . import _terminal as term

if TYPE_CHECKING:
    from . import Link

TEMPO_STEP = 1.0        # bpm per press of e / w / + / -
TEMPO_BIG_STEP = 10.0   # bpm per press of E / W
MIN_TEMPO, MAX_TEMPO = 20.0, 999.0
FPS = 30.0

KEYS_HELP = """\
keys (interactive mode):
  a              enable / disable Link (join or leave the session)
  e  +  up       tempo +1 bpm           E   tempo +10 bpm
  w  -  down     tempo -1 bpm           W   tempo -10 bpm
  t  right       quantum +1 beat
  r  left        quantum -1 beat (not below 1)
  s              start/stop sync on / off (share play/stop with peers)
  space          play / stop
  q  Ctrl-C      quit (the terminal is restored)
"""

DESCRIPTION = """\
Watch and steer an Ableton Link session from the terminal: the Python
answer to LinkHut, built on asyncio and aalink.

It JOINS THE LINK SESSION OF YOUR NETWORK (like any Link app: Ableton Live,
Bitwig, LinkHut, phones...) unless you pass --no-enable: its tempo changes
and play/stop reach every peer.  With --no-enable it runs a local timeline
only, until you press 'a'.

On a terminal it shows the tempo (bpm), the number of peers, whether Link
and start/stop sync are on, the transport state, the quantum, the beat and
the phase, drawn as a bar that moves in time, redrawn about 30 times a
second.  When standard output is not a terminal, or with --plain, it prints
one line per beat instead, e.g.

  beat 17  phase 1/4  tempo 120.00 bpm  peers 2  link on  playing no
"""


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m aalink`` (see --help)."""
    parser = argparse.ArgumentParser(
        prog="python -m aalink",
        description=DESCRIPTION,
        epilog=KEYS_HELP + "\nExit status 0 when quit with q, Ctrl-C or after --beats.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-t", "--tempo", type=positive_float, default=120.0, metavar="BPM",
        help="initial tempo in bpm, clamped to Link's 20..999 (default 120); "
             "once peers are found the session's tempo wins")
    parser.add_argument(
        "-q", "--quantum", type=positive_float, default=4.0, metavar="BEATS",
        help="quantum in beats: the length of the phase bar, and what Link "
             "aligns with peers (default 4)")
    parser.add_argument(
        "--no-enable", dest="enable", action="store_false",
        help="start with Link disabled: a local timeline, not on the network "
             "(press 'a' to join)")
    parser.add_argument(
        "-s", "--start-stop-sync", action="store_true",
        help="start with start/stop sync on: share play/stop with peers")
    parser.add_argument(
        "--realtime", action="store_true",
        help="run the timing threads under a real-time policy (Link.realtime; on "
             "Linux SCHED_FIFO at AALINK_RT_PRIORITY, default 10): needs "
             "`ulimit -r` >= 10 or CAP_SYS_NICE, else a warning and normal priority")
    parser.add_argument(
        "--plain", action="store_true",
        help="one line per beat instead of the live screen (the default when "
             "standard output is not a terminal)")
    parser.add_argument(
        "-n", "--beats", type=positive_int, default=None, metavar="N",
        help="stop after N beats (default: run until q or Ctrl-C)")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"aalink {__version__}")
    return parser


# ---------------------------------------------------------------- formatting

def fmt_beats(value: float) -> str:
    """A beat count: '17' when whole, else up to 3 decimals ('2.5', '0.125')."""
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def phase_bar(phase: float, quantum: float, width: int) -> str:
    """The phase as a bar about `width` cells wide: one segment per beat of
    the quantum (separated by '|'), filled up to the phase: '=' for the beats
    already past in this quantum, '#' for the current one."""
    cells = max(1, math.ceil(quantum - 1e-9))
    seg = max(2, (width - (cells - 1)) // cells)
    current = min(max(int(phase), 0), cells - 1)
    parts = []
    for k in range(cells):
        beat_len = min(1.0, quantum - k)          # the last beat may be partial
        n = max(1, round(seg * beat_len))
        fill = int(n * min(max((phase - k) / beat_len, 0.0), 1.0))
        mark = "#" if k == current else "="
        parts.append(mark * fill + " " * (n - fill))
    return "[" + "|".join(parts) + "]"


def timing_line(stats: dict[str, float]) -> str:
    """How late this monitor's beats were resolved (Link.stats), in ms."""
    if not stats["count"]:
        return "timing   no beat resolved yet"
    return (f"timing   late p50 {stats['p50_ms']:.2f} ms  p99 {stats['p99_ms']:.2f} ms  "
            f"max {stats['max_ms']:.2f} ms  ({int(stats['count'])} beats)")


def plain_line(link: Link, value: float) -> str:
    quantum = link.quantum
    phase = value % quantum
    return (f"beat {fmt_beats(value)}  phase {fmt_beats(phase)}/{fmt_beats(quantum)}  "
            f"tempo {link.tempo:.2f} bpm  peers {link.num_peers}  "
            f"link {'on' if link.enabled else 'off'}  playing {yes_no(link.playing)}")


# ---------------------------------------------------------------- plain mode

async def run_plain(link: Link, args: argparse.Namespace, out: TextIO, stop: asyncio.Event) -> int:
    count = 0
    while args.beats is None or count < args.beats:
        beat = link.sync(1)
        stopping = asyncio.ensure_future(stop.wait())
        waiting: set[asyncio.Future[Any]] = {beat, stopping}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not beat.done():
            beat.cancel()
            stopping.cancel()
            break
        stopping.cancel()
        out.write(plain_line(link, beat.result()) + "\n")
        out.flush()
        count += 1
    return 0


# ---------------------------------------------------------------- interactive

class Monitor:
    """The live screen: state shown, keys handled, redraw loop."""

    def __init__(self, link: Link, args: argparse.Namespace, out: TextIO,
                 stop: asyncio.Event) -> None:
        self.link = link
        self.args = args
        self.out = out
        self.stop = stop
        self.beats_seen = 0
        self.last_beat: float | None = None
        self.message = ""

    # keys -------------------------------------------------------------
    def on_key(self, key: str) -> None:
        link = self.link
        if key in ("q", "Q", term.CTRL_C, term.CTRL_D):
            self.stop.set()
        elif key in ("e", "+", "=", "up"):
            self.change_tempo(TEMPO_STEP)
        elif key in ("w", "-", "_", "down"):
            self.change_tempo(-TEMPO_STEP)
        elif key == "E":
            self.change_tempo(TEMPO_BIG_STEP)
        elif key == "W":
            self.change_tempo(-TEMPO_BIG_STEP)
        elif key in ("t", "right"):
            link.quantum = math.floor(link.quantum + 1e-9) + 1
            self.message = f"quantum {fmt_beats(link.quantum)}"
        elif key in ("r", "left"):
            link.quantum = max(1, math.ceil(link.quantum - 1e-9) - 1)
            self.message = f"quantum {fmt_beats(link.quantum)}"
        elif key == "a":
            link.enabled = not link.enabled
            self.message = "Link enabled: joining the session" if link.enabled else "Link disabled"
        elif key == "s":
            link.start_stop_sync_enabled = not link.start_stop_sync_enabled
            self.message = f"start/stop sync {'on' if link.start_stop_sync_enabled else 'off'}"
        elif key == " ":
            link.playing = not link.playing
            self.message = "playing" if link.playing else "stopped"

    def change_tempo(self, delta: float) -> None:
        tempo = min(MAX_TEMPO, max(MIN_TEMPO, self.link.tempo + delta))
        self.link.tempo = tempo
        self.message = f"tempo {tempo:.2f} bpm"

    # screen -----------------------------------------------------------
    def lines(self) -> list[str]:
        link = self.link
        columns = shutil.get_terminal_size((80, 24)).columns
        quantum = link.quantum
        beat = link.beat
        phase = link.phase
        on_beat = self.last_beat is not None and 0 <= beat - self.last_beat < 0.15
        width = max(8, min(columns - 6, 64))
        return [
            (f"{term.BOLD}aalink monitor{term.RESET}  Ableton Link session"
             f"{'' if link.enabled else ' (Link disabled: local timeline)'}"),
            "",
            f"  tempo    {link.tempo:7.2f} bpm     peers    {link.num_peers}",
            (f"  link     {'on ' if link.enabled else 'off'}             "
             f"start/stop sync  {'on' if link.start_stop_sync_enabled else 'off'}"),
            f"  playing  {yes_no(link.playing):3}             quantum  {fmt_beats(quantum)} beats",
            f"  realtime {yes_no(link.realtime):3}",
            f"  beat     {beat:9.2f}       phase    {phase:5.2f}  {'*' if on_beat else ' '}",
            "  " + timing_line(link.stats),
            "",
            "  " + phase_bar(phase, quantum, width),
            "",
            "  " + self.message,
            "",
            "  a link  e/w or +/- tempo  r/t quantum  s start/stop sync  space play  q quit",
        ]

    def draw(self) -> None:
        self.out.write(term.frame(self.lines()))
        self.out.flush()

    async def redraw_loop(self) -> None:
        while not self.stop.is_set():
            self.draw()
            try:
                await asyncio.wait_for(self.stop.wait(), 1.0 / FPS)
            except asyncio.TimeoutError:
                pass

    async def beat_loop(self) -> None:
        while True:
            self.last_beat = await self.link.sync(1)
            self.beats_seen += 1
            if self.args.beats is not None and self.beats_seen >= self.args.beats:
                self.stop.set()
                return


async def run_interactive(link: Link, args: argparse.Namespace, out: TextIO,
                          stop: asyncio.Event) -> int:
    loop = asyncio.get_running_loop()
    monitor = Monitor(link, args, out, stop)
    fd = sys.stdin.fileno() if sys.stdin is not None else -1

    def on_readable() -> None:
        try:
            data = os.read(fd, 256)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # end of input: no more keys, but keep running
            loop.remove_reader(fd)
            return
        for key in term.decode_keys(data):
            monitor.on_key(key)
        monitor.draw()

    reading = False
    with term.KeyMode(fd) as mode:
        out.write(term.ALT_SCREEN_ON + term.CURSOR_HIDE)
        out.flush()
        try:
            if fd >= 0:
                try:
                    loop.add_reader(fd, on_readable)
                    reading = True
                except (OSError, ValueError, NotImplementedError):
                    pass  # e.g. stdin is a regular file or /dev/null: no keys
            tasks = [asyncio.ensure_future(monitor.redraw_loop()),
                     asyncio.ensure_future(monitor.beat_loop())]
            try:
                await stop.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            if reading:
                loop.remove_reader(fd)
            mode.restore()
            out.write(term.CURSOR_SHOW + term.ALT_SCREEN_OFF)
            out.flush()
    return 0


# ---------------------------------------------------------------- entry

async def run(args: argparse.Namespace, out: TextIO, interactive: bool) -> int:
    from . import Link

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    link = Link(args.tempo, realtime=args.realtime)
    try:
        link.quantum = args.quantum
        link.start_stop_sync_enabled = args.start_stop_sync
        link.enabled = args.enable
        if interactive:
            return await run_interactive(link, args, out, stop)
        if args.realtime:
            print(f"aalink: real-time mode {'on' if link.realtime else 'refused'}",
                  file=sys.stderr, flush=True)
        if args.enable:
            print("aalink: joined the Link session of this network; Ctrl-C stops",
                  file=sys.stderr, flush=True)
        return await run_plain(link, args, out, stop)
    finally:
        link.close()
        for sig in installed:
            loop.remove_signal_handler(sig)


def main(argv: list[str] | None = None) -> int:
    """Run the monitor with the command-line arguments argv; return the exit status."""
    args = build_parser().parse_args(argv)
    out = sys.stdout
    interactive = not args.plain and out.isatty() and term.HAVE_TERMIOS
    try:
        return asyncio.run(run(args, out, interactive))
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place
        return 0
    except BrokenPipeError:  # e.g. python -m aalink | head -3
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
