"""The Windows build, run: tests/native/win_smoke.c with the Win32 platform
layer, the scheduler and the Link shim, cross-compiled with MinGW-w64 into
one static .exe (tests/support/winsmoke.py) and run under Wine.

One program run serves every test here; each test checks one line of its
report.  The network checks (two Links enabled on loopback) run only inside
the private network namespace (the program refuses too, and checks that
Windows sees loopback only).  Skipped, saying why, without MinGW-w64 or
Wine (scripts/setup.sh --test installs both).  The first run makes Wine's
prefix in build/wine-prefix (about 10 s) and builds the program into
build/win-smoke (10-40 s, cached by the sources' and Link headers' hash);
after that a run takes about 5 s."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from support import winsmoke

CHECKS = [
    "clock",
    "threads",
    "timed wait",
    "signalled wait",
    "wake pair",
    "scheduler, polled",
    "scheduler, wake pair",
    "scheduler, tempo change",
]
NETWORK_CHECKS = ["network discovery", "network tempo"]
PRIVATE = os.environ.get("AALINK_PRIVATE_NETNS") == "1"


@pytest.fixture(scope="module")
def report() -> tuple[dict[str, tuple[bool, str]], subprocess.CompletedProcess]:
    why = winsmoke.missing_tools()
    if why:
        pytest.skip(why)
    exe = winsmoke.build(log=lambda _: None)
    r = winsmoke.run(exe, ["--network"] if PRIVATE else [], timeout=120)
    lines = {}
    for m in re.finditer(r"^(ok|not ok) - ([^:]+): (.*)$", r.stdout, re.M):
        lines[m.group(2)] = (m.group(1) == "ok", m.group(3))
    return lines, r


@pytest.mark.parametrize("name", CHECKS)
def test_windows_native(report, name):
    lines, r = report
    assert name in lines, f"no report for {name!r}:\n{r.stdout}{r.stderr}"
    ok, text = lines[name]
    assert ok, text


@pytest.mark.parametrize("name", NETWORK_CHECKS)
def test_windows_link_on_loopback(report, name):
    if not PRIVATE:
        pytest.skip("enables Link: only inside scripts/in-private-netns")
    lines, r = report
    assert name in lines, f"no report for {name!r}:\n{r.stdout}{r.stderr}"
    ok, text = lines[name]
    assert ok, text


def test_every_check_reported_and_the_exit_status_counts_failures(report):
    lines, r = report
    expected = CHECKS + (NETWORK_CHECKS if PRIVATE else [])
    assert sorted(lines) == sorted(expected), r.stdout + r.stderr
    assert r.returncode == sum(not ok for ok, _ in lines.values()), r.stdout + r.stderr


def test_the_network_checks_refuse_outside_a_private_namespace():
    """Without AALINK_PRIVATE_NETNS=1 the program enables no Link: checked
    on its source, since running it to find out could enable one."""
    source = winsmoke.PROGRAM.read_text()
    body = source[source.index("static void check_network(void)") :]
    guard = body.index('getenv("AALINK_PRIVATE_NETNS")')
    adapters = body.index("GetAdaptersAddresses(")
    first_link = body.index("aal_link_create(")
    assert guard < adapters < first_link
