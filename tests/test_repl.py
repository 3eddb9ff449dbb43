"""Issue 7, item 4: live coding in the asyncio REPL (``python -m asyncio``).

A real REPL process is driven through a pseudo-terminal, as a person types
into it: ``from aalink import Link; link = Link(240)``, ``await link.sync(1)``
at the prompt, then a background task made with ``asyncio.ensure_future``
that keeps running in time on the REPL's loop while the prompt waits for the
next line.

A terminal, not a pipe: with standard input a pipe, 3.13's asyncio REPL
falls back to its basic console, which cannot take multi-line input
(CPython gh-140013), and a person's REPL is on a terminal anyway.  Up to
3.12 the REPL reads lines through readline; a block (``async def ...:``) is
typed line by line and ended by an empty line.  From 3.13 the REPL is the
new one (``_pyrepl``), which indents by itself after a ``:``: a block is
pasted as a person pastes it (a bracketed paste) and entered with Enter;
one-line statements are typed.
"""
import fcntl
import json
import os
import pty
import queue
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

TIMEOUT = 30.0  # seconds: REPL start-up on a loaded machine
LATE_BEATS = 0.2  # 50 ms at 240 bpm: a generous bound on lateness
PYREPL = sys.version_info >= (3, 13)  # the new REPL, with its own line editor
# What a terminal shows besides text: CSI sequences (cursor moves, colours,
# modes), OSC strings, keypad modes, character sets; and carriage returns.
TERMINAL_CODES = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>]|\x1b[()][0-9A-Za-z]|\r")


class Repl:
    def __init__(self):
        master, slave = pty.openpty()
        # A terminal of a usual size, wide enough that no typed line wraps.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "asyncio"], stdin=slave, stdout=slave, stderr=slave,
            env={**os.environ, "TERM": "xterm"}, start_new_session=True)
        os.close(slave)
        self.master = master
        self.lines = queue.Queue()
        self.transcript = []
        self.ready = threading.Event()  # a prompt is shown, waiting for input
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self):
        """Complete lines of what the terminal shows, terminal codes removed
        (the prompt being edited stays in the buffer until Enter)."""
        pending = ""
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the REPL has exited and closed the terminal
                chunk = b""
            if not chunk:
                break
            pending += chunk.decode(errors="replace")
            *done, pending = pending.split("\n")
            for line in done:
                self.lines.put(TERMINAL_CODES.sub("", line) + "\n")
            # A prompt is on the line being written.  A line ended since
            # means the REPL went on (ran what was typed, printed): a
            # prompt shown before no longer counts.
            if done:
                self.ready.clear()
            if TERMINAL_CODES.sub("", pending).endswith((">>> ", "... ")):
                self.ready.set()
        self.lines.put(TERMINAL_CODES.sub("", pending))
        self.lines.put(None)

    def _send(self, text):
        """Wait for the prompt, as a person does, then type text."""
        if not self.ready.wait(TIMEOUT):
            raise AssertionError("no prompt; transcript:\n" + "".join(self.transcript))
        self.ready.clear()
        os.write(self.master, text.encode())

    def type(self, *lines):
        """Type lines as a person does, each at its prompt and Enter after
        it; a block (a line ending in ':' up to the empty line that ends it)
        is pasted on 3.13."""
        lines = list(lines)
        while lines:
            line = lines.pop(0)
            if PYREPL and line.rstrip().endswith(":"):
                block = [line]
                while lines and lines[0].strip():
                    block.append(lines.pop(0))
                if lines:
                    lines.pop(0)  # the empty line that ends the block
                self._send("\x1b[200~" + "\n".join(block) + "\n\x1b[201~\r")
            else:
                self._send(line + "\r")

    def end_input(self):
        """Ctrl-D at an empty prompt: the REPL exits.  (Typed while the REPL
        runs a line, the terminal is in cooked mode and takes Ctrl-D as its
        own end of file: typed again at the next prompt.)"""
        for _ in range(3):
            self._send("\x04")
            try:
                self.proc.wait(timeout=5)
                return
            except subprocess.TimeoutExpired:
                pass

    def expect(self, marker, timeout=TIMEOUT):
        """The first output line containing marker, after what was read."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > deadline:
                raise AssertionError(f"{marker!r} not printed; transcript:\n"
                                     + "".join(self.transcript))
            self.transcript.append(line)
            if marker in line:
                return line

    def result(self, marker):
        """print(marker, json.dumps(...)) at the prompt: the decoded value."""
        line = self.expect(marker + " ")
        return json.loads(line[line.index(marker + " ") + len(marker) + 1:])

    def wait_for_exit(self):
        """The REPL's exit status, after reading what it printed to the end."""
        status = self.proc.wait(timeout=TIMEOUT)
        while True:
            line = self.lines.get(timeout=TIMEOUT)
            if line is None:
                return status
            self.transcript.append(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.pump.join(5)  # it reads the terminal until the end
        os.close(self.master)


def test_await_sync_at_the_prompt_and_background_tasks_keep_time():
    repl = Repl()
    try:
        repl.type("import json",
                  "from aalink import Link",
                  "link = Link(240)",
                  # one line: the beat is read as the await returns, not a
                  # prompt round trip later
                  "v = await link.sync(1); b = link.beat",
                  'print("SYNC", json.dumps([v, b]))')
        value, beat = repl.result("SYNC")
        assert value == int(value) and value >= 1.0
        assert value - 1e-6 <= beat < value + LATE_BEATS

        # A background task: a hi-hat on every half beat, recording when it
        # resumed.  The REPL's loop runs it while the prompt waits for input.
        repl.type("ticks = []",
                  "async def hihat():",
                  "    while True:",
                  "        v = await link.sync(1/2)",
                  "        ticks.append([v, link.beat])",
                  "",
                  "task = asyncio.ensure_future(hihat())",
                  'print("STARTED", json.dumps(len(ticks)))')
        repl.result("STARTED")
        time.sleep(1.5)  # nothing typed: 1.5 s = 6 beats = 12 half beats

        # Awaiting at the prompt does not disturb the background task.
        repl.type("bar = await link.sync(4); b = link.beat",
                  'print("BAR", json.dumps([bar, b]))')
        bar, beat = repl.result("BAR")
        assert bar % 4 == 0 and bar - 1e-6 <= beat < bar + LATE_BEATS

        repl.type('print("TICKS", json.dumps(ticks))')
        ticks = repl.result("TICKS")
        assert len(ticks) >= 8, ticks
        values = [v for v, _ in ticks]
        assert all(b - a == 0.5 for a, b in zip(values, values[1:])), values  # none missed
        assert all(v - 1e-6 <= b < v + LATE_BEATS for v, b in ticks), ticks  # on time

        # Live change: double the tempo, the running task follows.
        repl.type("link.tempo = 480",
                  "n = len(ticks)",
                  "await asyncio.sleep(1.0)",
                  'print("FASTER", json.dumps(ticks[n:]))')
        faster = repl.result("FASTER")
        assert 12 <= len(faster) <= 20, faster  # 16 half beats a second at 480 bpm
        assert all(v - 1e-6 <= b < v + 2 * LATE_BEATS for v, b in faster), faster

        repl.type("task.cancel()", "link.close()", 'print("DONE", json.dumps(True))')
        repl.result("DONE")
        repl.end_input()
        assert repl.wait_for_exit() == 0
        assert "Traceback" not in "".join(repl.transcript), "".join(repl.transcript)
    finally:
        repl.close()


# ---------------------------------------------------------------- README

README = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
HIHAT_OUTPUT = re.compile(r"^(tss ?)+$")  # what the background task prints


def readme_transcript():
    """The pycon block of the guide's "Live coding in the REPL" section."""
    text = README.read_text()
    section = text[text.index("## Live coding in the REPL"):]
    block = section[section.index("```pycon\n") + len("```pycon\n"):]
    return block[:block.index("```")].splitlines()


def test_the_readme_transcript_runs_in_a_real_repl():
    """Type the README's transcript: its input lines, in order, with a pause
    where it shows the background task playing; its results come back."""
    lines = readme_transcript()
    assert lines[0] == "$ python -m asyncio"
    repl = Repl()
    try:
        shown = []  # result lines the transcript shows (not prompts)
        code = []  # input lines not typed yet (a block goes in whole)
        for line in lines[1:]:
            if line.startswith((">>> ", "... ")) or line in (">>>", "..."):
                if HIHAT_OUTPUT.match(line[4:]):
                    repl.type(*code)
                    code = []
                    time.sleep(1.0)  # the README shows it playing meanwhile
                else:
                    code.append(line[4:])
            else:
                shown.append(line)
        repl.type(*code, 'print("END", 0)')
        repl.expect("END 0")
        repl.end_input()
        assert repl.wait_for_exit() == 0
        out = "".join(repl.transcript)
        assert "Traceback" not in out and "Error" not in out, out
        # What the README shows: a grid point from the first await, the hihat
        # playing, and True from cancel().
        assert shown == ["1.0", "True"], shown
        # (Results on lines of their own; the echo of what was typed shows
        # 'tss' in quotes, the task prints it bare.)
        assert re.search(r"^\d+\.0$", out, re.M), out
        assert len(re.findall(r"(?<!')\btss\b", out)) >= 4, out
        assert re.search(r"^True$", out, re.M), out
    finally:
        repl.close()
