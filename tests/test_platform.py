"""Portability: the native threads run on a small OS layer
(src/_aalink/platform.h; with the few compiler intrinsics they need), and
the Windows side of it compiles.

The Windows checks here cross-compile with MinGW-w64 (syntax and types):
platform_win32.c with every C file that does not need Python's headers (the
scheduler, its heap, the beat maths), and the C++ shim over Ableton Link's
Windows platform.  tests/test_windows_wine.py links and runs them under
Wine.  scripts/setup.sh --test
installs the compilers (gcc/g++-mingw-w64-x86-64-posix); without them those
tests skip, saying so."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.winsmoke import windows_include_dir

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "_aalink"
SHIM = ROOT / "link_shim"
CC = "x86_64-w64-mingw32-gcc-posix"
CXX = "x86_64-w64-mingw32-g++-posix"

# What only the platform layer may name.
OS_PRIMITIVE = re.compile(
    r"\bpthread_\w+|#include <(pthread|windows|winsock2|poll|unistd|sys/eventfd)\.h>"
    r"|\b(CreateThread|_beginthreadex|SleepConditionVariableSRW|nanosleep|clock_gettime|eventfd|poll)\s*\("
    r"|\b__(atomic|sync)_\w+|\b__builtin_\w+"  # GCC/Clang only: MSVC has neither
)


def python_free_sources():
    """C files that compile without Python.h (they include no Python header)."""
    out = []
    for path in sorted(SRC.glob("*.c")):
        if path.name.startswith("platform_"):
            continue
        if not includes_python(path):
            out.append(path)
    return out


def includes_python(path, seen=None):
    seen = set() if seen is None else seen
    if path in seen:
        return False
    seen.add(path)
    for name in re.findall(r'#include [<"]([^>"]+)[>"]', path.read_text()):
        if name in ("Python.h", "structmember.h"):
            return True
        local = SRC / name
        if local.exists() and includes_python(local, seen):
            return True
    return False


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh --test installs "
                    "gcc-mingw-w64-x86-64-posix and g++-mingw-w64-x86-64-posix)")


def compile_for_windows(compiler, args):
    r = subprocess.run([compiler, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", *args],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_only_the_platform_layer_names_os_primitives():
    offenders = {}
    for path in sorted(SRC.glob("*.[ch]")):
        if path.name.startswith("platform"):
            continue
        hits = sorted({m.group(0) for m in OS_PRIMITIVE.finditer(path.read_text())})
        if hits:
            offenders[path.name] = hits
    assert offenders == {}


def test_the_scheduler_needs_no_python_headers():
    # What the Windows compile below checks must include the scheduler.
    names = {p.name for p in python_free_sources()}
    assert {"scheduler.c", "item_heap.c", "beatmath.c"} <= names


def test_windows_platform_layer_and_scheduler_compile():
    need(CC)
    sources = [str(SRC / "platform_win32.c")] + [str(p) for p in python_free_sources()]
    for source in sources:
        compile_for_windows(CC, ["-std=c11", "-Wno-missing-field-initializers",
                                 f"-I{SRC}", f"-I{SHIM}", source])


def test_the_windows_platform_layer_is_not_vacuous(tmp_path):
    """The check above fails on a Windows error (here: POSIX-only code)."""
    need(CC)
    bad = tmp_path / "bad.c"
    bad.write_text('#include "platform.h"\n#include <sys/eventfd.h>\n'
                   "int f(void) { return eventfd(0, 0); }\n")
    r = subprocess.run([CC, "-fsyntax-only", "-std=c11", f"-I{SRC}", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode != 0


def link_headers_for_windows(tmp_path):
    """Ableton Link and asio headers as MinGW needs them (the Wine build's
    include directory, support.winsmoke.windows_include_dir)."""
    for prefix in [Path("/usr/include"), Path("/usr/local/include")]:
        if (prefix / "ableton" / "Link.hpp").is_file() and (prefix / "asio.hpp").is_file():
            break
    else:
        pytest.fail("Ableton Link / asio headers not found (scripts/setup.sh installs them)")
    return windows_include_dir(tmp_path, prefix, prefix)


def test_windows_link_shim_compiles(tmp_path):
    need(CXX)
    inc = link_headers_for_windows(tmp_path)
    compile_for_windows(CXX, ["-std=c++17", "-DLINK_PLATFORM_WINDOWS=1", "-D_WIN32_WINNT=0x0601",
                              # Link's own headers: multi-char tags, MSVC pragmas.
                              "-Wno-multichar", "-Wno-unknown-pragmas", "-Wno-subobject-linkage",
                              "-isystem", str(inc), f"-I{SHIM}", str(SHIM / "aal_link.cpp")])
