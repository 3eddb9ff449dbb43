"""The engine: which Ableton Link the extension was built against
(aalink.LINK_VERSION), how scripts/fetch_link.py tells Link trees apart, and
what Link 4.0 buys: 100 enabled Links in one process stay within about 1,000
open descriptors (Link 3.0.6 opens a socket per measurement)."""
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import aalink

ROOT = Path(__file__).resolve().parent.parent


def fetch_link():
    spec = importlib.util.spec_from_file_location("fetch_link", ROOT / "scripts" / "fetch_link.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_link_version_says_which_engine_the_build_used():
    assert isinstance(aalink.LINK_VERSION, str)
    assert aalink.LINK_VERSION is aalink._aalink.LINK_VERSION
    assert "LINK_VERSION" in aalink.__all__
    assert re.fullmatch(r"\d+\.(\d+|x)(\.\d+)*", aalink.LINK_VERSION), aalink.LINK_VERSION
    # scripts/test.sh's passes say which engine they built.
    expected = os.environ.get("AALINK_EXPECT_LINK_VERSION")
    if expected:
        assert aalink.LINK_VERSION == expected


def fake_tree(root, *, link_audio=False, crlf=False):
    """A tree with the two headers a Link tree must have."""
    eol = "\r\n" if crlf else "\n"
    ableton = root / "include" / "ableton"
    ableton.mkdir(parents=True)
    (ableton / "Link.hpp").write_bytes(f"// Link{eol}#pragma once{eol}".encode())
    if link_audio:
        (ableton / "LinkAudio.hpp").write_text("// LinkAudio\n")
    asio = root / "modules" / "asio-standalone" / "asio" / "include"
    asio.mkdir(parents=True)
    (asio / "asio.hpp").write_text("// asio\n")
    return root


def test_a_tree_is_told_by_its_contents_and_checksum(tmp_path):
    fl = fetch_link()
    old = fake_tree(tmp_path / "old")
    version, checksum, what = fl.identify(old)
    assert version == "3.x" and "older than 4.0" in what
    # A Windows checkout (CRLF) gives the same checksum.
    assert fl.include_checksum(fake_tree(tmp_path / "crlf", crlf=True)) == checksum
    new = fake_tree(tmp_path / "new", link_audio=True)
    assert fl.identify(new)[0] == "4.x"
    # Neither is the recorded tree: refused, saying why.
    with pytest.raises(fl.LinkTreeError, match="not the one aalink records"):
        fl.check_recorded(new)
    with pytest.raises(fl.LinkTreeError, match="no include/ableton/Link.hpp"):
        fl.identify(tmp_path)


def test_the_fetched_tree_is_the_recorded_link_4_0():
    fl = fetch_link()
    tree = fl.DEFAULT_DEST
    if not tree.exists():
        pytest.skip(f"no fetched tree in {tree} (scripts/fetch_link.py makes it)")
    assert (tree / "include" / "ableton" / "LinkAudio.hpp").is_file()
    assert fl.check_recorded(tree) == "4.0"
    assert fl.KNOWN_TREES[fl.RECORDED_CHECKSUM][0] == "4.0"


# Enables N Links in one process and samples the number of open descriptors
# every 10 ms until nine Links in ten see most of the others (discovery
# done, the measurements under way), and 2 s longer.
HUNDRED_LINKS = textwrap.dedent("""
    import asyncio, os, resource, sys, threading, time
    from aalink import Link

    # Room above the goal, so that a breach is measured rather than an error.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    N = int(sys.argv[1])
    peak, stop = [0], threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], len(os.listdir('/proc/self/fd')))
            time.sleep(0.01)

    async def main():
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        links = [Link(120) for _ in range(N)]
        for link in links:
            link.enabled = True
        # The peers the tenth-least-connected Link sees, at best.
        found, deadline = 0, time.monotonic() + 30
        while time.monotonic() < deadline and found < N * 8 // 10:
            await asyncio.sleep(0.2)
            found = max(found, sorted(l.num_peers for l in links)[N // 10])
        await asyncio.sleep(2)  # measurements of the last peers found
        stop.set()
        watcher.join()
        for link in links:
            link.close()
        print(peak[0], found)

    asyncio.run(main())
""")


@pytest.mark.network
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
@pytest.mark.skipif(os.environ.get("AALINK_SANITIZE_RUN") == "1",
                    reason="under ASan, 100 Links in one process do not find each other "
                           "within the test's 30 s (scripts/sanitize.sh)")
def test_a_hundred_enabled_links_stay_within_a_thousand_descriptors():
    if not aalink.LINK_VERSION.startswith("4"):
        pytest.skip(f"Link {aalink.LINK_VERSION} opens a socket per measurement "
                    "(7,587 to 10,187 descriptors at the peak for 100 Links on 3.0.6); "
                    "the goal holds from Link 4.0 on")
    r = subprocess.run([sys.executable, "-c", HUNDRED_LINKS, "100"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    peak, found = map(int, r.stdout.split())
    # The count covered a session where the Links found each other: nine
    # Links in ten saw at least half of the others at once.
    assert found >= 50, f"the Links found too few peers to measure: {found}"
    assert peak < 1000, f"{peak} descriptors open at the peak for 100 enabled Links"
