"""The built wheel works in a fresh virtual environment (no editable
install, no source tree on the path)."""
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).parent.parent

CHECK = """
import asyncio, aalink, sys
from aalink import Link
assert 'site-packages' in aalink.__file__, aalink.__file__
async def main():
    link = Link(600)
    values = [await link.sync(0.5) for _ in range(3)]
    assert all(b - a == 0.5 for a, b in zip(values, values[1:])), values
    assert link.beat >= values[-1] - 1e-6
    link.close()
asyncio.run(main())
import importlib.resources as r
assert r.files('aalink').joinpath('py.typed').is_file()
print('wheel ok', sys.version_info[:2], 'link', aalink.LINK_VERSION)
"""


def test_built_wheel_installs_and_runs_in_a_fresh_venv(tmp_path):
    src = tmp_path / "src"
    # Build from a clean copy of the tracked sources, as an sdist would.
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        dest = src / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest)
    # The engine of the build under test: the fetched Link tree, which the
    # copy of the tracked sources lacks (the system's Link otherwise).
    env = dict(os.environ)
    fetched = ROOT / ".deps" / "link-4.0"
    if fetched.is_dir() and not env.get("AALINK_LINK_DIR") and env.get("AALINK_LINK") != "system":
        env["AALINK_LINK_DIR"] = str(fetched)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(src)], check=True, timeout=600, env=env)
    (wheel,) = wheels.glob("aalink-*.whl")
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", str(wheel)],
                   check=True, timeout=300)
    r = subprocess.run([str(py), "-c", CHECK], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wheel ok" in r.stdout
    import aalink
    assert f"link {aalink.LINK_VERSION}" in r.stdout, "the wheel's engine is not the build's"
