#!/usr/bin/env python3
"""Fetch the Ableton Link 4.0 tree aalink builds against, and tell Link trees apart.

The repository holds no copy of Link.  This script takes an unmodified Link
tree from a registry package that ships one: the sdist of aalink 0.2.3 on
PyPI carries Link 4.0 plus five commits (Ableton/link 902aef9) under
``ext/link``, with asio standalone under ``ext/link/modules/asio-standalone``.
It downloads that sdist with pip (``pip download --no-deps --no-binary
aalink aalink==0.2.3``), checks the sdist's SHA-256, extracts only
``ext/link`` and keeps it in ``.deps/link-4.0`` (git-ignored).  Run again, it
finds the tree there, checks it and returns at once.

    python3 scripts/fetch_link.py            fetch (or check) .deps/link-4.0
    python3 scripts/fetch_link.py --dest D   somewhere else
    python3 scripts/fetch_link.py --check D  only identify the tree in D

Link has no version header, so a tree is told by what it holds:
``include/ableton/LinkAudio.hpp`` exists from Link 4.0 on, and a checksum of
its ``include/`` directory (``include_checksum`` below) is compared with the
values recorded in ``KNOWN_TREES``.  setup.py imports this file to identify
the tree it builds against, so both agree.  Needs the network (pip and
PyPI): run it outside any private network namespace.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = ROOT / ".deps" / "link-4.0"

# The registry package that ships the tree, and where in it.
SDIST = "aalink==0.2.3"
SDIST_FILE = "aalink-0.2.3.tar.gz"
SDIST_SHA256 = "2b8d5388ced3e412d03cbde30cc186c8d7eb84031c00d405baec7108d5d8406b"
SDIST_PREFIX = "aalink-0.2.3/ext/link/"

# include_checksum() of the Link trees this project knows: checksum -> the
# version aalink.LINK_VERSION reports, and a description.
RECORDED_CHECKSUM = "c3f6461ea2b311e8fb1f73b1678d91a80c8d90487f5cf483efc0ed89397000f4"
KNOWN_TREES = {
    RECORDED_CHECKSUM: ("4.0", "Link 4.0 + 5 commits (Ableton/link 902aef9), as in aalink 0.2.3"),
}

# Where a Link tree keeps the headers the build needs.
LINK_INCLUDE = "include"
ASIO_INCLUDE = os.path.join("modules", "asio-standalone", "asio", "include")


class LinkTreeError(Exception):
    """A tree that is missing, incomplete or not the one recorded."""


def include_checksum(tree: Path) -> str:
    """SHA-256 over every file under tree/include, in sorted order of their
    paths relative to include/ (with '/'): each path, a NUL, and the SHA-256
    of the file's bytes with CRLF read as LF (so a Windows checkout with
    autocrlf gives the same value)."""
    include = tree / LINK_INCLUDE
    total = hashlib.sha256()
    files = sorted((p.relative_to(include).as_posix(), p) for p in include.rglob("*")
                   if p.is_file())
    for rel, path in files:
        data = path.read_bytes().replace(b"\r\n", b"\n")
        total.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return total.hexdigest()


def link_dirs(tree: Path) -> list[str]:
    """The two include directories of a Link tree: Link's and its asio's."""
    return [str(tree / LINK_INCLUDE), str(tree / ASIO_INCLUDE)]


def identify(tree: Path) -> tuple[str, str, str]:
    """(version, checksum, description) of the Link tree at `tree`.  The
    version is the recorded one when the checksum is known, else "4.x" when
    the tree has LinkAudio.hpp (Link 4.0 on), else "3.x".  Raises
    LinkTreeError when the tree lacks Link's or asio's headers."""
    for header in (Path(LINK_INCLUDE) / "ableton" / "Link.hpp", Path(ASIO_INCLUDE) / "asio.hpp"):
        if not (tree / header).is_file():
            raise LinkTreeError(f"{tree} is not a Link tree with its asio: no {header}")
    checksum = include_checksum(tree)
    if checksum in KNOWN_TREES:
        version, what = KNOWN_TREES[checksum]
        return version, checksum, what
    if (tree / LINK_INCLUDE / "ableton" / "LinkAudio.hpp").is_file():
        return "4.x", checksum, "a Link 4 tree (has LinkAudio.hpp) not recorded by aalink"
    return "3.x", checksum, "a Link tree older than 4.0 (no LinkAudio.hpp)"


def check_recorded(tree: Path) -> str:
    """Checks that `tree` is the recorded Link 4.0 tree; returns its version.
    Raises LinkTreeError saying what differs."""
    version, checksum, what = identify(tree)
    if checksum != RECORDED_CHECKSUM:
        raise LinkTreeError(
            f"the Link tree in {tree} is not the one aalink records: {what}; "
            f"checksum of include/ {checksum}, expected {RECORDED_CHECKSUM} "
            f"(Link 4.0 + 5 commits, from the {SDIST} sdist). Delete it and run "
            "scripts/fetch_link.py again, or set AALINK_LINK_DIR to choose a tree on purpose.")
    return version


def _download(workdir: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
           "--no-deps", "--no-binary", "aalink", SDIST, "-d", str(workdir)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise LinkTreeError(
            f"pip download of {SDIST} failed (exit {r.returncode}); it needs PyPI, so run it "
            f"outside a private network namespace.\n{r.stdout}{r.stderr}")
    sdist = workdir / SDIST_FILE
    if not sdist.is_file():
        raise LinkTreeError(f"pip download gave no {SDIST_FILE} in {workdir}")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise LinkTreeError(f"{SDIST_FILE} has SHA-256 {digest}, expected {SDIST_SHA256}")
    return sdist


def _extract(sdist: Path, into: Path) -> None:
    """Only ext/link, without its sdist prefix, and nothing outside `into`."""
    with tarfile.open(sdist) as tar:
        members = []
        for m in tar.getmembers():
            if not m.name.startswith(SDIST_PREFIX) or not (m.isfile() or m.isdir()):
                continue
            m.name = m.name[len(SDIST_PREFIX):]
            if not m.name or m.name.startswith("/") or ".." in Path(m.name).parts:
                continue
            members.append(m)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, members=members, filter="data")
        else:  # Python without extraction filters; the names were checked above
            tar.extractall(into, members=members)


def fetch(dest: Path) -> str:
    """Makes sure `dest` holds the recorded Link tree; returns its version."""
    if dest.exists():
        return check_recorded(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".link-", dir=dest.parent) as tmp:
        work = Path(tmp)
        sdist = _download(work)
        tree = work / "link"
        _extract(sdist, tree)
        version = check_recorded(tree)
        tree.rename(dest)  # whole or not at all
    return version


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST,
                    help=f"where to keep the tree (default {DEFAULT_DEST.relative_to(ROOT)})")
    ap.add_argument("--check", type=Path, metavar="TREE",
                    help="only identify the Link tree in TREE (no download)")
    args = ap.parse_args(argv)
    try:
        if args.check is not None:
            version, checksum, what = identify(args.check)
            print(f"{args.check}: Link {version}: {what}\ninclude/ checksum {checksum}")
            return 0 if checksum in KNOWN_TREES else 1
        version = fetch(args.dest)
    except LinkTreeError as e:
        print(f"fetch_link: {e}", file=sys.stderr)
        return 1
    print(args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
