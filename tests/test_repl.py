"""Issue 7, item 4: live coding in the asyncio REPL (``python -m asyncio``).

A real REPL process is driven through a pipe, one line at a time, as a user
types: ``from aalink import Link; link = Link(240)``, ``await link.sync(1)``
at the prompt, then a background task made with ``asyncio.ensure_future``
that keeps running in time on the REPL's loop while the prompt waits for the
next line.
"""
import json
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

TIMEOUT = 30.0  # seconds: REPL start-up on a loaded machine
LATE_BEATS = 0.2  # 50 ms at 240 bpm: a generous bound on lateness


class Repl:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "asyncio"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.transcript = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def type(self, *lines):
        for line in lines:
            self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

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

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.pump.join(5)  # it reads stdout until the end
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass  # a broken pipe to a killed REPL


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
        repl.proc.stdin.close()  # end of input: the REPL exits
        assert repl.proc.wait(timeout=TIMEOUT) == 0
        while repl.lines.get(timeout=TIMEOUT) is not None:
            pass
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
        for line in lines[1:]:
            if line.startswith((">>> ", "... ")) or line in (">>>", "..."):
                code = line[4:]
                if HIHAT_OUTPUT.match(code):
                    time.sleep(1.0)  # the README shows it playing meanwhile
                else:
                    repl.type(code)
            else:
                shown.append(line)
        repl.type('print("END", 0)')
        repl.expect("END 0")
        repl.proc.stdin.close()
        assert repl.proc.wait(timeout=TIMEOUT) == 0
        while repl.lines.get(timeout=TIMEOUT) is not None:
            pass
        out = "".join(repl.transcript)
        assert "Traceback" not in out and "Error" not in out, out
        # What the README shows: a grid point from the first await, the hihat
        # playing, and True from cancel().
        assert shown == ["1.0", "True"], shown
        assert re.search(r"\b\d+\.0\b", out), out
        assert out.count("tss") >= 4, out
        assert "True" in out
    finally:
        repl.close()
