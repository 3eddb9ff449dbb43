"""Build the aalink._aalink extension: C sources in src/_aalink and the C++
shim in link_shim/ over Ableton Link's headers.

Which Link (the engine) the build uses, first found wins:

  1. AALINK_LINK_DIR: a Link tree, e.g. a checkout of Ableton/link (its
     include/ and modules/asio-standalone/asio/include);
  2. ext/link next to this file: the tree an sdist bundles;
  3. .deps/link-4.0: the Link 4.0 tree scripts/fetch_link.py fetches
     (scripts/setup.sh runs it);
  4. the system's headers: ableton/Link.hpp and asio.hpp in
     AALINK_INCLUDE_DIRS (os.pathsep-separated) or /usr/include etc.
     (Debian's ableton-link-dev 3.0.6 and libasio-dev).

AALINK_LINK=system takes the system's headers on purpose (step 4 only);
AALINK_LINK=bundled takes only a Link tree (steps 1-3); auto (the default)
tries all four.  A tree from steps 2-3 must be the one scripts/fetch_link.py
records (checksum of its include/).  aalink.LINK_VERSION tells which engine
a build used.
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

import importlib.util
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = Path(__file__).parent
DEFAULT_PREFIXES = ["/usr/include", "/usr/local/include", "/opt/homebrew/include"]
NEEDED = {
    "Ableton Link": ("ableton/Link.hpp", "ableton-link-dev"),
    "asio": ("asio.hpp", "libasio-dev"),
}
SDIST_TREE = HERE / "ext" / "link"
MODES = ("auto", "bundled", "system")


def link_trees_module():
    """scripts/fetch_link.py, which identifies Link trees (one place for the
    recorded checksum)."""
    spec = importlib.util.spec_from_file_location(
        "aalink_fetch_link", HERE / "scripts" / "fetch_link.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def candidate_dirs():
    extra = os.environ.get("AALINK_INCLUDE_DIRS", "")
    return [d for d in extra.split(os.pathsep) if d] + DEFAULT_PREFIXES


def system_headers():
    """(include dirs, missing [(name, header, package)]) of the system's
    Link and asio."""
    found, missing = [], []
    for name, (header, package) in NEEDED.items():
        hit = next((d for d in candidate_dirs() if (Path(d) / header).is_file()), None)
        if hit is None:
            missing.append((name, header, package))
        elif hit not in found:
            found.append(hit)
    return found, missing


def system_link_version(link_dir):
    """The version of the system's Link: the Debian package's that owns the
    header when dpkg knows it (e.g. 3.0.6), else told by the contents."""
    header = str(Path(link_dir) / "ableton" / "Link.hpp")
    try:
        owner = subprocess.run(["dpkg-query", "-S", header], capture_output=True,
                               text=True, timeout=30)
        package = owner.stdout.split(":")[0].strip() if owner.returncode == 0 else ""
        if package:
            version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                                     capture_output=True, text=True, timeout=30).stdout
            m = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", version)
            if m:
                return m.group(1)
    except (OSError, subprocess.SubprocessError):
        pass
    return "4.x" if (Path(link_dir) / "ableton" / "LinkAudio.hpp").is_file() else "3.x"


def find_link():
    """(include dirs, version, what, is a Link tree) of the engine to build
    against; stops
    the build with what to install or set when there is none."""
    mode = os.environ.get("AALINK_LINK", "auto") or "auto"
    if mode not in MODES:
        sys.exit(f"aalink: AALINK_LINK={mode!r}: expected one of {', '.join(MODES)}")
    trees = link_trees_module()
    if mode != "system":
        chosen = os.environ.get("AALINK_LINK_DIR")
        if chosen:
            tree = Path(chosen)
            try:
                version, checksum, what = trees.identify(tree)
            except trees.LinkTreeError as e:
                sys.exit(f"aalink: AALINK_LINK_DIR: {e}")
            if checksum not in trees.KNOWN_TREES:
                print(f"aalink: AALINK_LINK_DIR={tree}: {what} (checksum of include/ "
                      f"{checksum}); building against it as asked", file=sys.stderr)
            return trees.link_dirs(tree), version, f"AALINK_LINK_DIR={tree}: {what}", True
        for tree, where in ((SDIST_TREE, "bundled in the sdist"),
                            (trees.DEFAULT_DEST, "fetched by scripts/fetch_link.py")):
            if tree.exists():
                try:
                    version = trees.check_recorded(tree)
                except trees.LinkTreeError as e:
                    sys.exit(f"aalink: {e}")
                return trees.link_dirs(tree), version, f"Link {version}, {where} ({tree})", True
    if mode != "bundled":
        found, missing = system_headers()
        if not missing:
            version = system_link_version(found[0])
            return found, version, f"the system's Link {version} ({', '.join(found)})", False
    lines = []
    if mode != "system":
        lines.append(
            "  Link 4.0 (the default engine): run  python3 scripts/fetch_link.py  (or "
            "scripts/setup.sh),\n  or set AALINK_LINK_DIR to a checkout of Ableton/link "
            "with its submodules")
    if mode != "bundled":
        found, missing = system_headers()
        packages = " ".join(p for _, _, p in missing)
        lines += [f"  {name}: {header} (Debian/Ubuntu package {package})"
                  for name, header, package in missing]
        lines.append(
            f"  the system's Link: sudo apt-get install {packages}, or point "
            f"AALINK_INCLUDE_DIRS at the directories that hold them "
            f"(searched: {', '.join(candidate_dirs())})")
    sys.exit(f"aalink: cannot find Ableton Link (AALINK_LINK={mode}):\n" + "\n".join(lines))


def platform_macros():
    if sys.platform.startswith("linux"):
        return [("LINK_PLATFORM_LINUX", "1")]
    if sys.platform == "darwin":
        return [("LINK_PLATFORM_MACOSX", "1")]
    if sys.platform == "win32":
        return [("LINK_PLATFORM_WINDOWS", "1")]
    return [("LINK_PLATFORM_LINUX", "1")]


# The shim: Link itself, and Link Audio (an empty API on Link 3.x).
SHIMS = ["link_shim/aal_link.cpp", "link_shim/aal_audio.cpp"]


class BuildExt(build_ext):
    """C files as C11, the shim as C++17 (Link 4.0 needs it; 3.0.6 builds with
    it too); warnings on; Link found late (find_link) so that sdist and
    metadata work without it.

    Only public setuptools API: the C flags go in the Extension's
    extra_compile_args; the shim is compiled here with its own flags and
    linked in through extra_objects.  Both are passed as extra_postargs, so
    they come after Python's own CFLAGS and our -O level wins.  A Link tree's
    headers are given to the shim as -isystem: they are not ours to warn
    about (Link 4.0's multi-character constants)."""

    def build_extensions(self):
        ext = self.extensions[0]
        if SHIMS[0] not in ext.sources:
            return super().build_extensions()  # flags already set
        dirs, version, what, is_tree = find_link()
        print(f"aalink: building against {what}", file=sys.stderr)
        # A pp-number (4.0, 3.0.6, 4.x) that module.c turns into a string:
        # no quotes to survive a compiler's command line.
        if not re.fullmatch(r"\d[\w.]*", version):
            version = "unknown"
        ext.define_macros.append(("AAL_LINK_VERSION", version))
        if self.compiler.compiler_type == "msvc":
            return self.build_with_msvc(ext, dirs)
        debug = os.environ.get("AALINK_DEBUG") == "1"
        sanitize = os.environ.get("AALINK_SANITIZE") == "1"
        common = ["-Wall", "-Wextra", "-fvisibility=hidden"]
        # A release build carries no debug info (Python's CFLAGS have -g):
        # the module is 7 MB with it, a few hundred KB without.
        common += ["-O0", "-g"] if debug or sanitize else ["-O2", "-g0"]
        if not (debug or sanitize) and sys.platform.startswith("linux"):
            ext.extra_link_args += ["-s"]  # and no symbol table (the dynamic one stays)
        if sanitize:
            common += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
            ext.extra_link_args += ["-fsanitize=address,undefined"]
        ext.extra_compile_args += ["-std=c11", "-Wno-missing-field-initializers"] + common
        ext.sources = [s for s in ext.sources if s not in SHIMS]
        if is_tree:
            shim_dirs, link_flags = [], [f for d in dirs for f in ("-isystem", d)]
        else:
            shim_dirs, link_flags = dirs, []
        def compile_shim(source):
            return self.compiler.compile(
                [source],
                output_dir=self.build_temp,
                macros=ext.define_macros,
                include_dirs=shim_dirs + ext.include_dirs,
                debug=self.debug,
                extra_postargs=["-std=c++17"] + link_flags + common,
                depends=ext.depends,
            )

        # The shim's files take most of a build (Link and asio are header
        # libraries): each compiles in a process of its own, side by side.
        with ThreadPoolExecutor(len(SHIMS)) as pool:
            for objects in pool.map(compile_shim, SHIMS):
                ext.extra_objects += objects
        ext.extra_link_args += ["-lstdc++", "-pthread"]
        super().build_extensions()

    def build_with_msvc(self, ext, dirs):
        """MSVC (the release workflow's Windows wheels; never built here): the
        C files as C11, the shim as C++17 with C++ exceptions, as Link's own
        CMake set-up compiles it (cmake_include/ConfigureCompileFlags.cmake)."""
        ext.include_dirs[:0] = dirs
        ext.extra_compile_args += ["/std:c11", "/W3"]
        ext.sources = [s for s in ext.sources if s not in SHIMS]
        ext.extra_objects += self.compiler.compile(
            SHIMS,
            output_dir=self.build_temp,
            macros=ext.define_macros + [("_SCL_SECURE_NO_WARNINGS", None),
                                        ("LINK_BUILD_VLD", "0")],
            include_dirs=ext.include_dirs,
            debug=self.debug,
            extra_postargs=["/std:c++17", "/EHsc", "/W3"],
            depends=ext.depends,
        )
        super().build_extensions()


class SdistWithLink(sdist):
    """The sdist carries the recorded Link tree, unmodified, in ext/link (as
    aalink 0.2.3's does), so that it builds anywhere with no network: the
    tree a build from this checkout takes (AALINK_LINK_DIR, ext/link or
    scripts/fetch_link.py's), provided it is the one scripts/fetch_link.py
    records.  Copied into the release tree only: nothing in git."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        trees = link_trees_module()
        candidates = [Path(os.environ["AALINK_LINK_DIR"])] if os.environ.get(
            "AALINK_LINK_DIR") else []
        candidates += [SDIST_TREE, trees.DEFAULT_DEST]
        tree = next((t for t in candidates if t.exists()), None)
        if tree is None:
            sys.exit("aalink: an sdist carries Link 4.0 and there is none here: run "
                     "python3 scripts/fetch_link.py (or scripts/setup.sh) first")
        try:
            trees.check_recorded(tree)
        except trees.LinkTreeError as e:
            sys.exit(f"aalink: an sdist carries only the recorded Link tree: {e}")
        dest = Path(base_dir) / "ext" / "link"
        print(f"aalink: bundling the Link tree {tree} as {dest}", file=sys.stderr)
        shutil.copytree(tree, dest, ignore=shutil.ignore_patterns(".git", "__pycache__"))


# One OS layer: platform_win32.c on Windows, platform_posix.c elsewhere.
other_platform = "_posix.c" if sys.platform == "win32" else "_win32.c"
sources = sorted(str(p.relative_to(HERE)) for p in (HERE / "src" / "_aalink").glob("*.c"))
sources = [s for s in sources if not s.endswith(other_platform)]
sources += SHIMS
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
            depends=SHIMS + ["link_shim/aal_link.h", "link_shim/aal_audio.h",
                             "link_shim/aal_link_impl.hpp"],
            language="c++",
        )
    ],
    cmdclass={"build_ext": BuildExt, "sdist": SdistWithLink},
)
