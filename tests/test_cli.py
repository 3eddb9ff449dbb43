"""Issue 7, item 1: ``python -m aalink``, the live terminal monitor.

The monitor runs as a real child process, as a user starts it: on a pseudo-
terminal for the live screen (keys written to the master side, the screen
read back from it), through a pipe for plain mode.  Every child runs in the
test runner's private network namespace, so enabling Link stays on loopback.
"""
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from aalink import _terminal
from aalink.monitor import fmt_beats, phase_bar

PY = sys.executable
TIMEOUT = 20.0  # seconds: start-up on a loaded 2-core machine can be slow
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class PtyMonitor:
    """``python -m aalink ARGS`` on a pseudo-terminal of ROWS x COLS."""

    def __init__(self, *args, rows=24, cols=100):
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.tty_before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(
            [PY, "-m", "aalink", *args],
            stdin=self.slave, stdout=self.slave, stderr=self.slave,
            start_new_session=True, close_fds=True,
        )
        self.raw = b""
        self.mark = 0  # expect() looks at the output after this offset

    def _read(self, wait):
        ready, _, _ = select.select([self.master], [], [], wait)
        if ready:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the child has gone
                data = b""
            self.raw += data
            return bool(data)
        return False

    def text(self, since=0):
        """Output since the offset, escape sequences removed."""
        return ANSI.sub(b"", self.raw[since:]).decode("utf-8", "replace")

    def expect(self, pattern, timeout=TIMEOUT):
        """Wait until pattern appears in the output after the mark; return
        the match and move the mark past it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            # Search the raw bytes (escape codes removed) after the mark.
            cleaned = self.text(self.mark)
            m = regex.search(cleaned)
            if m:
                # Move the mark to the end of what has been read so far.
                self.mark = len(self.raw)
                return m
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} not on screen within {timeout} s; last output:\n"
                    + cleaned[-1500:])
            if self.proc.poll() is not None and not self._read(0):
                raise AssertionError(
                    f"monitor exited ({self.proc.returncode}) before {pattern!r}; output:\n"
                    + cleaned[-1500:])
            self._read(0.05)

    def send(self, keys):
        self.mark = len(self.raw)
        os.write(self.master, keys.encode() if isinstance(keys, str) else keys)

    def wait(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        while self._read(0.05):
            pass
        return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def monitor():
    started = []

    def start(*args, **kwargs):
        m = PtyMonitor(*args, **kwargs)
        started.append(m)
        return m

    yield start
    for m in started:
        m.close()


def assert_terminal_restored(m):
    assert termios.tcgetattr(m.slave) == m.tty_before, "terminal settings not restored"
    tail = m.raw[-200:]
    # Cursor shown again and the normal screen back, after the last frame.
    assert tail.rfind(_terminal.CURSOR_SHOW.encode()) > tail.rfind(_terminal.HOME.encode())
    assert _terminal.ALT_SCREEN_OFF.encode() in tail


def screen_value(m, label, pattern=r"([0-9.]+)"):
    return m.expect(label + r"\s+" + pattern).group(1)


# ---------------------------------------------------------------- live screen

def test_live_screen_shows_the_session_and_the_tempo_keys_change_it(monitor):
    m = monitor("--tempo", "120", "--quantum", "4")
    m.expect(r"aalink monitor")
    assert screen_value(m, "tempo") == "120.00"
    m.expect(r"link\s+on")
    m.expect(r"peers\s+0")
    m.expect(r"quantum\s+4 beats")
    m.expect(r"playing\s+no")
    m.expect(r"start/stop sync\s+off")
    # While in the monitor the terminal is in key mode: no echo, no lines.
    mode = termios.tcgetattr(m.slave)
    assert not mode[3] & termios.ECHO and not mode[3] & termios.ICANON

    m.send("e")                       # LinkHut's tempo-up key
    m.expect(r"tempo\s+121\.00 bpm")
    m.send("+")
    m.expect(r"tempo\s+122\.00 bpm")
    m.send("w")                       # tempo down
    m.expect(r"tempo\s+121\.00 bpm")
    m.send("-")
    m.expect(r"tempo\s+120\.00 bpm")
    m.send("E")                       # +10
    m.expect(r"tempo\s+130\.00 bpm")
    m.send(b"\x1b[B")                 # arrow down: -1
    m.expect(r"tempo\s+129\.00 bpm")

    m.send("q")
    assert m.wait() == 0
    assert_terminal_restored(m)


def test_quantum_enable_start_stop_sync_and_play_keys(monitor):
    m = monitor("--quantum", "4")
    m.expect(r"quantum\s+4 beats")
    m.send("t")
    m.expect(r"quantum\s+5 beats")
    m.send("rr")
    m.expect(r"quantum\s+3 beats")
    m.send(" ")
    m.expect(r"playing\s+yes")
    m.send(" ")
    m.expect(r"playing\s+no")
    m.send("s")
    m.expect(r"start/stop sync\s+on")
    m.send("a")
    m.expect(r"link\s+off")
    m.send("a")
    m.expect(r"link\s+on")
    m.send("q")
    assert m.wait() == 0
    assert_terminal_restored(m)


def test_the_beat_and_the_phase_bar_move_in_time(monitor):
    """Beats read off successive frames advance at the tempo (240 bpm:
    4 beats a second), and the phase bar's filling changes with them."""
    m = monitor("--tempo", "240", "--quantum", "4", "--no-enable")
    m.expect(r"link\s+off")
    samples, bars = [], set()
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        m.mark = len(m.raw)
        beat = float(m.expect(r"beat\s+(-?[0-9]+\.[0-9]+)").group(1))
        samples.append((time.monotonic(), beat))
        bars.add(m.expect(r"(\[[ =#|]+\])").group(1))
    (t0, b0), (t1, b1) = samples[0], samples[-1]
    rate = (b1 - b0) / (t1 - t0)  # beats per second
    assert 3.0 < rate < 5.0, samples
    assert len(bars) >= 5, bars  # the bar moved
    assert all(b2 >= b1 for (_, b1), (_, b2) in zip(samples, samples[1:]))
    m.send("q")
    assert m.wait() == 0


def test_ctrl_c_quits_and_restores_the_terminal(monitor):
    m = monitor("--no-enable")
    m.expect(r"aalink monitor")
    m.send(b"\x03")
    assert m.wait() == 0
    assert_terminal_restored(m)


def test_sigint_quits_and_restores_the_terminal(monitor):
    m = monitor()
    m.expect(r"aalink monitor")
    m.proc.send_signal(signal.SIGINT)
    assert m.wait() == 0
    assert_terminal_restored(m)


def test_no_enable_starts_with_a_local_timeline(monitor):
    m = monitor("--no-enable", "--beats", "2", "--tempo", "300")
    m.expect(r"Link disabled: local timeline")
    m.expect(r"link\s+off")
    assert m.wait() == 0  # --beats ends it by itself
    assert_terminal_restored(m)


# ---------------------------------------------------------------- plain mode

def run_plain(*args, timeout=TIMEOUT):
    return subprocess.run([PY, "-m", "aalink", *args], capture_output=True,
                          stdin=subprocess.DEVNULL,
                          timeout=timeout, text=True)


PLAIN = re.compile(r"^beat (-?\d+)  phase (\d+)/4  tempo 600\.00 bpm  peers 0  "
                   r"link (on|off)  playing no$")


def test_plain_mode_through_a_pipe_prints_one_line_per_beat():
    t0 = time.monotonic()
    r = run_plain("--tempo", "600", "--beats", "5")
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 5, r.stdout
    assert "\x1b" not in r.stdout  # no screen control in a pipe
    matches = [PLAIN.match(line) for line in lines]
    assert all(matches), lines
    beats = [int(m.group(1)) for m in matches]
    assert beats == list(range(beats[0], beats[0] + 5))
    assert all(int(m.group(2)) == b % 4 for m, b in zip(matches, beats))
    assert {m.group(3) for m in matches} == {"on"}
    assert "joined the Link session" in r.stderr
    # 4 beat intervals at 600 bpm take 0.4 s: lines come on the beat, not at once.
    assert elapsed > 0.35


def test_realtime_flag_says_whether_it_was_granted():
    r = run_plain("--tempo", "600", "--beats", "2", "--no-enable", "--realtime")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2
    # Granted (as root here), or refused with the warning: either way it says so.
    assert ("real-time mode on" in r.stderr or
            ("real-time mode refused" in r.stderr and "RuntimeWarning" in r.stderr)), r.stderr


def test_plain_mode_flag_on_a_terminal_and_no_enable(monitor):
    m = monitor("--plain", "--no-enable", "--tempo", "600", "--beats", "3")
    assert m.wait() == 0
    lines = [line for line in m.text().splitlines() if line.startswith("beat ")]
    assert len(lines) == 3, m.text()
    assert all(PLAIN.match(line.strip()) and "link off" in line for line in lines)
    assert _terminal.ALT_SCREEN_ON.encode() not in m.raw


def test_plain_mode_stops_cleanly_on_sigint():
    proc = subprocess.Popen([PY, "-m", "aalink", "--tempo", "600"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("beat "), first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_help_explains_options_keys_and_that_it_joins_the_session():
    r = run_plain("--help")
    assert r.returncode == 0
    text = r.stdout
    assert "python -m aalink" in text
    assert re.search(r"JOINS THE LINK SESSION OF YOUR NETWORK", text)
    for option in ("--tempo", "--quantum", "--no-enable", "--plain", "--beats",
                   "--start-stop-sync"):
        assert option in text, option
    for key_line in ("tempo +1 bpm", "quantum +1", "play / stop", "start/stop sync",
                     "enable / disable Link", "quit"):
        assert key_line in text, key_line
    assert "not a terminal" in text  # when plain mode is chosen


def test_bad_options_are_usage_errors():
    r = run_plain("--tempo", "-3")
    assert r.returncode == 2
    assert "must be > 0" in r.stderr


# ---------------------------------------------------------------- pieces

def test_keys_are_decoded_from_terminal_bytes():
    keys = list(_terminal.decode_keys(b"e+\x1b[A\x1b[Bq\x03 \x1b"))
    assert keys == ["e", "+", "up", "down", "q", "ctrl-c", " ", "escape"]


def test_phase_bar_and_beat_formatting():
    assert phase_bar(0.0, 4, 40).count("|") == 3
    half = phase_bar(1.5, 4, 43)
    first, second = half[1:-1].split("|")[:2]
    assert set(first) == {"="} and second.startswith("#") and second.endswith(" ")
    assert phase_bar(3.999, 4, 43).count(" ") <= 1
    assert fmt_beats(17.0) == "17" and fmt_beats(2.5) == "2.5" and fmt_beats(0.125) == "0.125"


def test_the_readme_plain_mode_example():
    """The command shown in the guide prints lines shaped like the guide's."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "guide.md").read_text()
    section = text[text.index("## Command line monitor"):]
    command = re.search(r"```sh\n(.*?)\n```", section, re.S).group(1)
    shown = re.search(r"```text\n(beat .*?)\n```", section, re.S).group(1).splitlines()
    assert command.startswith("python -m aalink ")
    r = run_plain(*command.split()[3:])
    assert r.returncode == 0, r.stderr
    got = r.stdout.splitlines()
    assert len(got) == len(shown)

    def shape(line):
        return re.sub(r"\d+", "N", line)

    assert [shape(line) for line in got] == [shape(line) for line in shown]


def test_live_screen_shows_lateness_stats(monitor):
    """Issue 8: the monitor shows how late its beats were resolved."""
    m = monitor("--tempo", "600", "--no-enable")
    m.expect(r"timing\s+no beat resolved yet")
    match = m.expect(r"timing\s+late p50 ([\d.]+) ms\s+p99 ([\d.]+) ms"
                     r"\s+max ([\d.]+) ms\s+\((\d+) beats\)")
    p50, p99, worst = map(float, match.groups()[:3])
    assert 0 <= p50 <= p99 <= worst < 1000
    assert int(match.group(4)) >= 1
    m.send("q")
    assert m.wait() == 0
