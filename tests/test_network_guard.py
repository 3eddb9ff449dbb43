"""The guard of conftest.py: tests run only in a private network namespace
(Link multicasts on every interface once enabled), unless the host network
is allowed on purpose (support/netns_guard.py)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import netns_guard

SUPPORT = Path(__file__).parent / "support"


def test_guard_accepts_this_namespace():
    assert netns_guard.isolation_problem() is None


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                    reason="needs root to build a nested namespace with a dummy interface")
def test_guard_rejects_a_namespace_with_another_interface():
    """In a namespace that has a non-loopback interface, the guard objects."""
    script = (
        "ip link add aalinktest0 type veth peer name aalinktest1 && ip link set aalinktest0 up && "
        f"exec {sys.executable} {SUPPORT / 'netns_guard.py'}"
    )
    env = {k: v for k, v in os.environ.items() if k != "AALINK_TESTS_ALLOW_HOST_NETWORK"}
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "not inside a private network namespace" in r.stdout
    assert "aalinktest0" in r.stdout


def test_guard_opt_in_is_explicit(monkeypatch):
    monkeypatch.setattr(netns_guard, "foreign_interfaces", lambda: ["eth0"])
    assert netns_guard.isolation_problem() is not None
    monkeypatch.setenv(netns_guard.OPT_IN, "1")
    assert netns_guard.isolation_problem() is None
