"""Build tests/native/win_smoke.c for Windows with MinGW-w64 and run it
under Wine (tests/test_windows_wine.py; scripts/win-smoke.sh).

The program links the Win32 platform layer, the scheduler (scheduler.c,
sched_commits.c, item_heap.c, beatmath.c) and the Link shim over Ableton
Link's Windows platform into one static .exe.  Which Link: `include_dirs`
(or AALINK_INCLUDE_DIRS, os.pathsep-separated, as setup.py reads it) is
searched for ableton/Link.hpp and asio.hpp before /usr/include and
/usr/local/include, so a Link 4.0 tree is
"<link>/include:<link>/modules/asio-standalone/asio/include".  The shim is
built as C++17 for a Link that has include/ableton/LinkAudio.hpp (4.0 on),
C++14 otherwise.

Builds are cached in build/win-smoke/<key> (key: the sources, the flags and
the Link headers' contents); Wine's prefix is build/wine-prefix (both
git-ignored).  Wine's sockets are made by its wineserver, in the network
namespace the wineserver started in: run() therefore stops any wineserver
of the prefix before and after the program, so that the one serving the
program is started by it, in the caller's namespace (run it inside
scripts/in-private-netns)."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "_aalink"
SHIM = ROOT / "link_shim"
PROGRAM = ROOT / "tests" / "native" / "win_smoke.c"
BUILD = ROOT / "build" / "win-smoke"
WINEPREFIX = ROOT / "build" / "wine-prefix"
CC = "x86_64-w64-mingw32-gcc-posix"
CXX = "x86_64-w64-mingw32-g++-posix"
MINGW_INCLUDE = Path("/usr/x86_64-w64-mingw32/include")
C_SOURCES = ["platform_win32.c", "scheduler.c", "sched_commits.c", "sched_items.c", "item_heap.c",
             "beatmath.c"]
# Link's sockets and interface discovery, and the 1 ms timer.
LIBS = ["-lws2_32", "-liphlpapi", "-lwinmm"]
DEFAULT_PREFIXES = ["/usr/include", "/usr/local/include"]


class Missing(Exception):
    """A tool or header the build needs is not there (the test skips)."""


def wine() -> str | None:
    """Wine's loader: `wine` (Debian's wine package) or the bare wine64."""
    for name in ("wine", "wine64"):
        if shutil.which(name):
            return shutil.which(name)
    bare = Path("/usr/lib/wine/wine64")
    return str(bare) if bare.is_file() else None


def wineserver() -> str | None:
    for candidate in (
        shutil.which("wineserver"),
        "/usr/lib/wine/wineserver64",
        "/usr/lib/wine/wineserver",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def missing_tools() -> str | None:
    """Why the program cannot be built and run here, or None."""
    for tool in (CC, CXX):
        if shutil.which(tool) is None:
            return (
                f"{tool} is not installed (scripts/setup.sh --test installs "
                "gcc-mingw-w64-x86-64-posix and g++-mingw-w64-x86-64-posix)"
            )
    if wine() is None or wineserver() is None:
        return "Wine is not installed (scripts/setup.sh --test installs Debian's wine64)"
    return None


def find_link(include_dirs: list[str] | None = None) -> tuple[Path, Path]:
    """The directories holding ableton/Link.hpp and asio.hpp."""
    if include_dirs is None:
        include_dirs = [d for d in os.environ.get("AALINK_INCLUDE_DIRS", "").split(os.pathsep) if d]
    dirs = [Path(d) for d in [*include_dirs, *DEFAULT_PREFIXES]]
    link = next((d for d in dirs if (d / "ableton" / "Link.hpp").is_file()), None)
    asio = next((d for d in dirs if (d / "asio.hpp").is_file()), None)
    if link is None or asio is None:
        raise Missing(f"Ableton Link / asio headers not found in {', '.join(map(str, dirs))}")
    return link, asio


def is_link4(link: Path) -> bool:
    return (link / "ableton" / "LinkAudio.hpp").is_file()


def windows_include_dir(dest: Path, link: Path, asio: Path) -> Path:
    """Link and asio, plus the capitalised Windows header names Link uses
    (WinSock2.h...), which MinGW spells in lower case."""
    inc = dest / "include"
    if inc.exists():
        shutil.rmtree(inc)
    inc.mkdir(parents=True)
    (inc / "ableton").symlink_to(link / "ableton")
    for name in ("asio", "asio.hpp"):
        (inc / name).symlink_to(asio / name)
    needed: set[str] = set()
    for header in (link / "ableton").rglob("*.hpp"):
        needed |= set(re.findall(r"#include <(\w+\.h)>", header.read_text(errors="replace")))
    for name in sorted(needed):
        lower = MINGW_INCLUDE / name.lower()
        if name != name.lower() and lower.is_file():
            (inc / name).symlink_to(lower)
    return inc


def _digest(paths: list[Path], extra: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p).encode())
        h.update(p.read_bytes())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:16]


def build(include_dirs: list[str] | None = None, log=print) -> Path:
    """Build (or reuse) win_smoke.exe; returns its path."""
    why = missing_tools()
    if why:
        raise Missing(why)
    link, asio = find_link(include_dirs)
    cxx_std = "-std=c++17"  # as setup.py builds the shim, on every engine
    common = ["-O2", "-Wall", "-Wextra", "-Werror"]
    cflags = ["-std=c11", "-Wno-missing-field-initializers", *common]
    cxxflags = [
        cxx_std,
        "-DLINK_PLATFORM_WINDOWS=1",
        "-D_WIN32_WINNT=0x0601",
        *common,
        # Link's own headers: multi-char tags, MSVC pragmas.
        "-Wno-multichar",
        "-Wno-unknown-pragmas",
        "-Wno-subobject-linkage",
    ]
    sources = [PROGRAM, *(SRC / name for name in C_SOURCES), SHIM / "aal_link.cpp"]
    headers = sorted(SRC.glob("*.h")) + sorted(SHIM.glob("*.h"))
    link_headers = sorted((link / "ableton").rglob("*.hpp"))
    key = _digest(
        [*sources, *headers, *link_headers], [*cflags, *cxxflags, str(link), str(asio), *LIBS]
    )
    out = BUILD / key
    exe = out / "win_smoke.exe"
    if exe.is_file():
        return exe
    out.mkdir(parents=True, exist_ok=True)
    inc = windows_include_dir(out, link, asio)
    started = time.monotonic()
    objects = []
    procs = []
    for source in sources:
        obj = out / (source.name + ".o")
        objects.append(obj)
        if source.suffix == ".cpp":
            cmd = [
                CXX,
                *cxxflags,
                "-isystem",
                str(inc),
                f"-I{SHIM}",
                "-c",
                str(source),
                "-o",
                str(obj),
            ]
        else:
            cmd = [CC, *cflags, f"-I{SRC}", f"-I{SHIM}", "-c", str(source), "-o", str(obj)]
        procs.append(
            (
                cmd,
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
            )
        )
    for cmd, proc in procs:
        output, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}\n{output}")
    # Static: no MinGW runtime DLLs to find under Wine or on Windows.
    cmd = [CXX, "-static", "-o", str(exe) + ".tmp", *map(str, objects), *LIBS]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{r.stdout}{r.stderr}")
    os.replace(str(exe) + ".tmp", exe)
    log(
        f"win_smoke.exe built against {link} ({'Link 4' if is_link4(link) else 'Link 3'}, "
        f"{cxx_std}) in {time.monotonic() - started:.1f} s"
    )
    return exe


def wine_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        WINEPREFIX=str(WINEPREFIX),
        WINEDEBUG="-all",
        # No Mono or Gecko prompts while the prefix is made.
        WINEDLLOVERRIDES="mscoree,mshtml=",
    )
    return env


def stop_wineserver() -> None:
    """Stop the prefix's wineserver, if one runs, and wait until it has."""
    server = wineserver()
    if server and WINEPREFIX.is_dir():
        subprocess.run([server, "-k"], env=wine_env(), capture_output=True, timeout=30)
        subprocess.run([server, "-w"], env=wine_env(), capture_output=True, timeout=30)


def run(exe: Path, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs the program under Wine with the project's prefix (made on first
    use), its own wineserver started in this network namespace."""
    loader = wine()
    if loader is None:
        raise Missing("Wine is not installed")
    WINEPREFIX.parent.mkdir(parents=True, exist_ok=True)
    stop_wineserver()
    try:
        return subprocess.run(
            [loader, str(exe), *args],
            env=wine_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        stop_wineserver()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--include-dir",
        action="append",
        dest="include_dirs",
        help="where ableton/Link.hpp or asio.hpp are (repeatable)",
    )
    parser.add_argument(
        "--network",
        action="store_true",
        help="also enable two Links on loopback (private namespace only)",
    )
    parser.add_argument("--build-only", action="store_true")
    ns = parser.parse_args(argv)
    try:
        exe = build(ns.include_dirs)
    except Missing as e:
        print(f"win_smoke: {e}", file=sys.stderr)
        return 2
    print(f"built {exe}")
    if ns.build_only:
        return 0
    if ns.network and os.environ.get("AALINK_PRIVATE_NETNS") != "1":
        print("win_smoke: --network runs only inside scripts/in-private-netns", file=sys.stderr)
        return 2
    fresh = not WINEPREFIX.is_dir()
    started = time.monotonic()
    r = run(exe, ["--network"] if ns.network else [])
    print(r.stdout, end="")
    print(r.stderr, end="", file=sys.stderr)
    print(
        f"# exit {r.returncode}, {time.monotonic() - started:.1f} s under Wine"
        f"{' (prefix made on this run)' if fresh else ''}"
    )
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
