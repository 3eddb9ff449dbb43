"""Build the aalink._aalink extension: C sources in src/_aalink and the C++
shim in link_shim/ over Ableton Link's headers (ableton-link-dev, libasio-dev).

Set AALINK_INCLUDE_DIRS (os.pathsep-separated) to look for Link's and asio's
headers somewhere else, e.g. a Homebrew prefix or a checkout of Link
("<link>/include:<link>/modules/asio-standalone/asio/include").
Set AALINK_DEBUG=1 for -O0 -g, AALINK_SANITIZE=1 for ASan + UBSan.
"""
import sys

# Before anything else (the file parses on Python 3.6 and newer): on a Python
# older than 3.9 say so, instead of failing later in an unrelated place.  The
# build dependencies of pyproject.toml let this run on 3.8 (see there).
if sys.version_info < (3, 9):  # noqa: UP036 (the point: this runs on 3.8)
    sys.exit(
        "aalink needs Python 3.9 or newer (it is tested on CPython 3.9 to 3.13); "
        "this is Python {}.{}.{}.".format(*sys.version_info[:3])
    )

import os
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
DEFAULT_PREFIXES = ["/usr/include", "/usr/local/include", "/opt/homebrew/include"]
NEEDED = {
    "Ableton Link": ("ableton/Link.hpp", "ableton-link-dev"),
    "asio": ("asio.hpp", "libasio-dev"),
}


def candidate_dirs():
    extra = os.environ.get("AALINK_INCLUDE_DIRS", "")
    return [d for d in extra.split(os.pathsep) if d] + DEFAULT_PREFIXES


def find_headers():
    found, missing = [], []
    for name, (header, package) in NEEDED.items():
        hit = next((d for d in candidate_dirs() if (Path(d) / header).is_file()), None)
        if hit is None:
            missing.append((name, header, package))
        elif hit not in found:
            found.append(hit)
    if missing:
        lines = [f"  {name}: {header} (Debian/Ubuntu package {package})"
                 for name, header, package in missing]
        packages = " ".join(p for _, _, p in missing)
        sys.exit(
            "aalink: cannot find these headers:\n" + "\n".join(lines) +
            f"\nInstall them with:  sudo apt-get install {packages}\n"
            "or point AALINK_INCLUDE_DIRS at the directories that hold them "
            f"(searched: {', '.join(candidate_dirs())})."
        )
    return found


def platform_macros():
    if sys.platform.startswith("linux"):
        return [("LINK_PLATFORM_LINUX", "1")]
    if sys.platform == "darwin":
        return [("LINK_PLATFORM_MACOSX", "1")]
    if sys.platform == "win32":
        return [("LINK_PLATFORM_WINDOWS", "1")]
    return [("LINK_PLATFORM_LINUX", "1")]


SHIM = "link_shim/aal_link.cpp"


class BuildExt(build_ext):
    """C files as C11, the shim as C++14; warnings on; headers found late so
    that sdist and metadata work without Link installed.

    Only public setuptools API: the C flags go in the Extension's
    extra_compile_args; the shim is compiled here with its own flags and
    linked in through extra_objects.  Both are passed as extra_postargs, so
    they come after Python's own CFLAGS and our -O level wins."""

    def build_extensions(self):
        ext = self.extensions[0]
        ext.include_dirs[:0] = find_headers()
        if self.compiler.compiler_type == "msvc" or SHIM not in ext.sources:
            return super().build_extensions()  # MSVC: flag-free; or flags already set
        debug = os.environ.get("AALINK_DEBUG") == "1"
        sanitize = os.environ.get("AALINK_SANITIZE") == "1"
        common = ["-Wall", "-Wextra", "-fvisibility=hidden"]
        common += ["-O0", "-g"] if debug or sanitize else ["-O2"]
        if sanitize:
            common += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
            ext.extra_link_args += ["-fsanitize=address,undefined"]
        ext.extra_compile_args += ["-std=c11", "-Wno-missing-field-initializers"] + common
        ext.sources = [s for s in ext.sources if s != SHIM]
        ext.extra_objects += self.compiler.compile(
            [SHIM],
            output_dir=self.build_temp,
            macros=ext.define_macros,
            include_dirs=ext.include_dirs,
            debug=self.debug,
            extra_postargs=["-std=c++14"] + common,
            depends=ext.depends,
        )
        ext.extra_link_args += ["-lstdc++", "-pthread"]
        super().build_extensions()


# One OS layer: platform_win32.c on Windows, platform_posix.c elsewhere.
other_platform = "_posix.c" if sys.platform == "win32" else "_win32.c"
sources = sorted(str(p.relative_to(HERE)) for p in (HERE / "src" / "_aalink").glob("*.c"))
sources = [s for s in sources if not s.endswith(other_platform)]
sources.append(SHIM)
# Link's sockets and interface discovery, and the 1 ms timer, on Windows.
libraries = ["ws2_32", "iphlpapi", "winmm"] if sys.platform == "win32" else []

setup(
    ext_modules=[
        Extension(
            "aalink._aalink",
            sources=sources,
            include_dirs=["link_shim", "src/_aalink"],
            define_macros=platform_macros(),
            libraries=libraries,
            # The shim is compiled apart (see BuildExt): a change to it or to
            # its header rebuilds the extension.
            depends=[SHIM, "link_shim/aal_link.h"],
            language="c++",
        )
    ],
    cmdclass={"build_ext": BuildExt},
)
