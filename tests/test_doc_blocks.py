"""Every Python code block of the README and of the docs site (docs/*.md) runs.

Whole programs (they call asyncio.run or uvloop.run) run as they are; snippets
(top-level await, names such as `link`) run inside a coroutine that provides
a Link and stand-ins for the instruments they play.  A snippet that loops
forever on purpose (`while True`, `async for`) passes when it runs without
error until the time limit.  The pycon transcript, the shell command and its
output are run by test_repl.py and test_cli.py.  Blocks that are not Python
name their language in the fence (sh, pycon, text, ...); a fence without one
fails here, so no block is skipped by accident.
"""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import aalink

ROOT = Path(__file__).resolve().parent.parent
FILES = (["README.md"] + sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))
         + ["CHANGELOG.md", "CONTRIBUTING.md"])

# How many Python blocks each file has at least: a block whose fence lost its
# language would silently stop running.
MIN_BLOCKS = {
    "README.md": 2,
    "docs/guide.md": 11,
}

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```$", re.S | re.M)


def fences(name):
    """(line, language, code) of every fenced block of a file."""
    text = (ROOT / name).read_text()
    return [(text[:m.start()].count("\n") + 1, m.group(1).strip(), m.group(2))
            for m in FENCE.finditer(text)]


BLOCKS = [(name, line, code) for name in FILES
          for line, lang, code in fences(name) if lang == "python"]

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


@pytest.mark.parametrize("name,line,code", BLOCKS,
                         ids=[f"{name}:{line}" for name, line, _ in BLOCKS])
def test_doc_block_runs(name, line, code):
    if "TaskGroup" in code and sys.version_info < (3, 11):
        pytest.skip("asyncio.TaskGroup is 3.11+")
    if name == "docs/audio.md" and not aalink.HAS_LINK_AUDIO:
        pytest.skip(f"Link Audio needs Link 4.0; this build uses {aalink.LINK_VERSION}")
    where = f"{name} block at line {line}"
    program = ("asyncio.run(" in code) or ("uvloop.run(" in code)
    if program:
        source = code
    else:
        source = SNIPPET_HARNESS.format(body=textwrap.indent(code, "    "), limit=3)
    try:
        r = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                           timeout=6 if runs_forever(code) else 30)
    except subprocess.TimeoutExpired as e:
        assert program and runs_forever(code), f"{where} hung"
        assert "Traceback" not in (e.stderr or b"").decode()
        return
    if r.returncode == 3:
        assert runs_forever(code), f"{where} timed out:\n{r.stderr}"
    else:
        assert r.returncode == 0, f"{where} failed:\n{r.stderr}"
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("name", sorted(MIN_BLOCKS))
def test_the_file_has_its_python_blocks(name):
    found = sum(1 for n, _, _ in BLOCKS if n == name)
    assert found >= MIN_BLOCKS[name], f"{name}: {found} Python blocks"


@pytest.mark.parametrize("name", FILES)
def test_every_fence_names_its_language(name):
    text = (ROOT / name).read_text()
    assert text.count("```") % 2 == 0, f"{name}: an unclosed fence"
    assert text.count("```") == 2 * len(fences(name)), f"{name}: a fence the test does not see"
    for line, lang, _ in fences(name):
        assert lang, f"{name}:{line}: a fence without a language"
