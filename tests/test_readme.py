"""Every Python code block of the README runs.

Whole programs (they call asyncio.run or uvloop.run) run as they are; snippets
(top-level await, names such as `link`) run inside a coroutine that provides
a Link and stand-ins for the instruments they play.  A snippet that loops
forever on purpose (`while True`, `async for`) passes when it runs without
error until the time limit.  The pycon transcript, the shell command and its
output are run by test_repl.py and test_cli.py.
"""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
BLOCKS = [(README.read_text()[:m.start()].count("\n") + 1, m.group(1))
          for m in re.finditer(r"```python\n(.*?)```", README.read_text(), re.S)]

SNIPPET_HARNESS = '''
import asyncio, inspect, sys
from fractions import Fraction
from aalink import Link

class Instrument:
    """Stands in for a synth, a drum or a MIDI port: accepts any call."""
    def __getattr__(self, name):
        return lambda *args, **kwargs: None

async def __snippet():
    loop = asyncio.get_running_loop()
    link = Link(600)
    b = 0.0
    hat = kick = midi_out = Instrument()
    note_on = object()
    pattern = "x...x...x...x..."
{body}
    for fn in list(locals().values()):
        if inspect.iscoroutinefunction(fn) and not inspect.signature(fn).parameters:
            await fn()

try:
    asyncio.run(asyncio.wait_for(__snippet(), {limit}))
except asyncio.TimeoutError:
    sys.exit(3)
'''


def runs_forever(code):
    return "while True" in code or "async for" in code


@pytest.mark.parametrize("line,code", BLOCKS, ids=[f"line{l}" for l, _ in BLOCKS])
def test_readme_block_runs(line, code):
    program = ("asyncio.run(" in code) or ("uvloop.run(" in code)
    if program:
        source = code
    else:
        source = SNIPPET_HARNESS.format(body=textwrap.indent(code, "    "), limit=3)
    try:
        r = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                           timeout=6 if runs_forever(code) else 30)
    except subprocess.TimeoutExpired as e:
        assert program and runs_forever(code), f"README block at line {line} hung"
        assert "Traceback" not in (e.stderr or b"").decode()
        return
    if r.returncode == 3:
        assert runs_forever(code), f"README block at line {line} timed out:\n{r.stderr}"
    else:
        assert r.returncode == 0, f"README block at line {line} failed:\n{r.stderr}"
    assert "Traceback" not in r.stderr


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 8
