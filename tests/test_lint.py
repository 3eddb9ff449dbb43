"""The repository passes its linter and type checker, as configured in
pyproject.toml: `ruff check` over the whole repository, `mypy` (strict) over
src/aalink.  A failure lists the findings."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300  # seconds: a cold mypy run on a loaded 2-core machine


def ruff():
    """The ruff next to this Python (the test extra installs it), else on PATH."""
    here = Path(sys.executable).parent / "ruff"
    return str(here) if here.exists() else shutil.which("ruff")


def test_ruff_finds_nothing():
    exe = ruff()
    if exe is None:
        pytest.skip("ruff is in the test extra: pip install -e .[test]")
    r = subprocess.run([exe, "check", "--no-cache", "--output-format", "concise", "."],
                       cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, f"ruff check:\n{r.stdout}{r.stderr}"


def test_mypy_strict_passes(tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e .[test]")
    r = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, f"mypy (pyproject.toml's [tool.mypy]):\n{r.stdout}{r.stderr}"
