"""The documentation site (mkdocs.yml, docs/) builds with no warning: every
page is in the navigation and every link and anchor between pages resolves."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_docs_site_builds_strictly(tmp_path):
    # Not -q: mkdocs then drops the warnings before --strict counts them.
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                        "-d", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert (tmp_path / "site" / "index.html").exists()
    for page in ("guide", "api", "design", "bench", "testing", "building", "changes"):
        assert (tmp_path / "site" / page / "index.html").exists(), page
