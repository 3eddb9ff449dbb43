"""aalink is a typed package.

- src/aalink/py.typed and the stubs of the native module (_aalink.pyi) exist
  and are shipped (setuptools' build_py copies them);
- mypy accepts the examples and the stubs, and checks our own modules
  strictly;
- the stubs say what the API really does: `sync()` is an
  `asyncio.Future[float]`, properties have their types, callbacks take the
  right argument; code that misuses them is rejected;
- mypy's stubtest finds the stubs consistent with the built extension
  (every public name, argument names, kinds and defaults).
"""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

if sys.version_info < (3, 10):
    pytest.skip("mypy cannot target Python 3.9: mypy 2 needs 3.10 to run and to target, and "
                "the mypy pip finds for 3.9 (1.19) reports differences that are not there "
                "(stubtest on typing.Any and TextIO); these checks run on 3.10-3.13",
                allow_module_level=True)
pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e .[test]")

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "aalink"
TIMEOUT = 300  # seconds: a cold mypy run on a loaded 2-core machine
# mypy cannot target 3.9 any more; 3.10 is the oldest it checks against.
PYVER = "3.10"
# A known mypy limitation, not a typing error in the example: it cannot type
# `lambda b=beat, w=when: ...` (default arguments in a lambda).
KNOWN_MYPY_LIMITATIONS = ("Cannot infer type of lambda",)


@pytest.fixture(scope="module")
def mypy(tmp_path_factory):
    cache = tmp_path_factory.mktemp("mypy-cache")
    # These checks choose their own flags: not pyproject.toml's [tool.mypy]
    # (strict over src/aalink, which tests/test_lint.py runs).
    config = tmp_path_factory.mktemp("mypy-config") / "mypy.ini"
    config.write_text("[mypy]\n")

    def run(*args):
        r = subprocess.run(
            [sys.executable, "-m", "mypy", "--cache-dir", str(cache),
             "--config-file", str(config),
             "--python-version", PYVER, "--no-error-summary", "--show-error-codes",
             *map(str, args)],
            cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
        errors = [line for line in r.stdout.splitlines()
                  if ": error:" in line
                  and not any(known in line for known in KNOWN_MYPY_LIMITATIONS)]
        assert r.returncode in (0, 1), r.stdout + r.stderr  # 2: mypy itself failed
        return errors, r.stdout

    return run


def test_py_typed_and_stubs_are_in_the_package_and_shipped(tmp_path):
    assert (PKG / "py.typed").is_file()
    assert (PKG / "_aalink.pyi").is_file()
    # build_py copies what a wheel will hold (no compiling involved).
    r = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib",
                        str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    built = {p.name for p in (tmp_path / "aalink").iterdir()}
    assert {"py.typed", "_aalink.pyi", "__init__.py", "__main__.py", "monitor.py"} <= built


def test_examples_and_package_type_check(mypy):
    """Every example (function bodies included) and the package type-check."""
    examples = sorted((ROOT / "examples").glob("*.py"))
    assert examples
    errors, out = mypy("--check-untyped-defs", *examples, PKG)
    assert not errors, out


def test_stubs_and_our_modules_pass_strict_mode(mypy):
    errors, out = mypy("--strict", PKG / "_aalink.pyi", PKG / "__init__.py",
                       PKG / "__main__.py", PKG / "monitor.py", PKG / "_terminal.py",
                       PKG / "_every.py")
    assert not errors, out


GOOD = '''\
import asyncio
from datetime import timedelta
from fractions import Fraction
from typing import AsyncIterator, Dict

from aalink import Link


def on_peers(n: int) -> None: ...
def on_tempo(bpm: float) -> None: ...
def on_start_stop(playing: bool) -> None: ...


async def main() -> None:
    with Link(120, asyncio.get_running_loop()) as link:
        fut: asyncio.Future[float] = link.sync(1)
        reveal_type(link.sync(Fraction(1, 2), offset=0.25, origin=1, lead=0.01))
        beat: float = await fut
        tempo: float = link.tempo
        link.tempo = 130
        link.quantum = Fraction(3, 2)
        link.enabled = True
        link.start_stop_sync_enabled = True
        link.playing = False
        peers: int = link.num_peers
        t: timedelta = link.time
        t = link.time_at_beat(beat + 4)
        b: float = link.beat_at_time(t) + link.beat_at_time(1.5) + link.phase
        stats: Dict[str, float] = link.stats
        link.add_num_peers_callback(on_peers)
        link.set_tempo_callback(on_tempo)
        link.set_tempo_callback(None)
        link.add_start_stop_callback(on_start_stop)
        link.remove_start_stop_callback(on_start_stop)
        link.request_beat(0)
        link.force_beat(0.5)
        link.set_is_playing_and_request_beat_at_time(True, link.time, 0)
        link.ramp_tempo(140, 8)
        it: AsyncIterator[float] = link.every(1)
        async for point in link.every(1 / 4, skip_late=True):
            reveal_type(point)
            break
        print(beat, tempo, peers, b, stats, it)
    link.close()

asyncio.run(main())
'''

BAD = '''\
import asyncio
from aalink import Link


def on_tempo(bpm: str) -> None: ...


async def main() -> None:
    link = Link(120)
    fut: asyncio.Future[str] = link.sync(1)         # E1: a Future[float]
    name: str = link.tempo                          # E2: tempo is a float
    link.sync("one")                                # E3: not a number
    link.add_tempo_callback(on_tempo)               # E4: called with a float
    link.add_num_peers_callback(lambda: None)       # E5: called with one argument
    link.num_peers = 3                              # E6: read-only
    link.time = 0.0                                 # E7: read-only
    link.sync(1, swing=0.1)                         # E8: no such argument
    await link.synk(1)                              # E9: no such method
'''


def test_the_stubs_type_the_api_as_documented(mypy, tmp_path):
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    errors, out = mypy("--strict", good)
    assert not errors, out
    # (mypy spells these "asyncio.futures.Future[builtins.float]" or, newer,
    # "_asyncio.Future[float]")
    assert re.search(r'Revealed type is "[\w.]*Future\[(builtins\.)?float\]"', out), out
    assert re.search(r'Revealed type is "(builtins\.)?float"', out), out


def test_misuse_of_the_api_is_a_type_error(mypy, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    errors, out = mypy("--strict", bad)
    lines_with_errors = {int(re.match(r"[^:]+:(\d+):", e).group(1)) for e in errors}
    expected = {i + 1 for i, line in enumerate(BAD.splitlines()) if "# E" in line}
    assert len(expected) == 9
    assert expected <= lines_with_errors, out


def test_stubtest_finds_the_stubs_consistent_with_the_extension():
    """Every public name of the built module is in the stubs, with the same
    arguments; a new method or property without a stub fails here."""
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "aalink"],
                       cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                       env={**os.environ, "MYPY_FORCE_COLOR": "0"})
    assert r.returncode == 0, textwrap.shorten(r.stdout + r.stderr, 4000) + (
        "\n(update src/aalink/_aalink.pyi to match the C code)")
