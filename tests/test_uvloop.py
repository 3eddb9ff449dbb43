"""What only uvloop has: the README's uvloop example runs.

The behaviours every loop shares (grid values, never early, callbacks on the
loop's thread, cancellation, 1000 coroutines, every(), the seed's
Link(bpm, loop) form, two Links seeing each other) run on uvloop too, in
tests/test_event_loops.py.  Skipped, with the reason shown, where uvloop is
not installed (e.g. Windows: the test extra installs it only where it
exists).
"""
import pytest

pytest.importorskip(
    "uvloop", reason="uvloop is not installed (pip install -e .[test] installs it "
    "where it exists; not on Windows)")


def test_the_readme_uvloop_example_runs():
    import re
    import subprocess
    import sys
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "guide.md").read_text()
    section = text[text.index("## Event loops and threads"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "uvloop.run(main())" in code
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    beats = [float(x) for x in r.stdout.split()]
    assert len(beats) == 4 and all(b2 - b1 == 1.0 for b1, b2 in zip(beats, beats[1:]))
