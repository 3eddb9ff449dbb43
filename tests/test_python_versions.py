"""The Python versions aalink supports: CPython 3.9 to 3.13, each tested
(scripts/test-all-pythons.sh runs the whole suite on each; docs/python-versions.md
has the last result).  The classifiers name exactly those, and an older
Python is refused with a message that says so, before anything else runs."""
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFUSAL = "aalink needs Python 3.9 or newer"


def versions_tested():
    """The versions scripts/test-all-pythons.sh runs the suite on."""
    text = (ROOT / "scripts" / "test-all-pythons.sh").read_text()
    return re.search(r"^VERSIONS=\(([^)]*)\)", text, re.M).group(1).split()


def python(version):
    """An interpreter of that version: pyenv's, else one on PATH."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
    return found[-1] if found else shutil.which(f"python{version}")


def test_the_classifiers_name_exactly_the_versions_tested():
    pyproject = (ROOT / "pyproject.toml").read_text()
    classified = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    assert classified == versions_tested() == ["3.9", "3.10", "3.11", "3.12", "3.13"]
    assert 'requires-python = ">=3.9"' in pyproject
    assert 'python_version < \'3.9\'' in pyproject  # the build requirement that lets 3.8 hear it


def test_setup_py_refuses_python_3_8_first_thing():
    py = python("3.8")
    if py is None:
        pytest.skip("no Python 3.8 here (pyenv or PATH)")
    r = subprocess.run([py, "setup.py", "--version"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0
    assert REFUSAL in r.stderr and "3.9 to 3.13" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr


def test_pip_on_python_3_8_says_which_pythons_are_supported(tmp_path):
    """What a user sees: pip runs setup.py's first lines (offline here, with
    the setuptools of the environment; from the registry, pip gets one that
    installs on 3.8 by the build requirements' marker) and shows the refusal."""
    py = python("3.8")
    if py is None:
        pytest.skip("no Python 3.8 here (pyenv or PATH)")
    env_dir = tmp_path / "py38"
    subprocess.run([py, "-m", "venv", str(env_dir)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--no-index",
                        "--no-build-isolation", str(ROOT)], capture_output=True, text=True,
                       timeout=300, env=env, cwd=tmp_path)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert REFUSAL in out, out[-3000:]
    assert "this is Python 3.8" in out
