#!/usr/bin/env bash
# Set up everything aalink needs, idempotently, and quickly when it is there:
#   1. Debian/Ubuntu packages (a C/C++ compiler, iproute2 for private network
#      namespaces; with --test or AALINK_LINK=system the system's Ableton Link
#      and asio headers; with --test LinkHut + JACK, MinGW-w64 for the
#      Windows build and Wine to run it: wine64 without its recommends,
#      under 30 s to install here),
#   2. a virtual environment in .venv with the Python dependencies,
#   3. the Link 4.0 tree, fetched once into .deps/link-4.0
#      (scripts/fetch_link.py; skipped with AALINK_LINK=system or
#      AALINK_LINK_DIR),
#   4. the extension, rebuilt only when its sources or its engine changed.
# Usage: scripts/setup.sh [--test]
# AALINK_VENV chooses the environment (default .venv); AALINK_LINK and
# AALINK_LINK_DIR choose the engine as setup.py documents.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

PYTHON=${PYTHON:-python3}
VENV=${AALINK_VENV:-.venv}

say() { printf 'aalink setup: %s\n' "$*" >&2; }

# ---- 1. system packages ----
packages=(g++ iproute2 python3-venv)
# The system's Link: the second engine the tests build against, or chosen.
if [ "$want_test" = 1 ] || [ "${AALINK_LINK:-}" = system ]; then
    packages+=(ableton-link-dev libasio-dev)
fi
[ "$want_test" = 1 ] && packages+=(ableton-link-utils jackd2 gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix wine64)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    # python3-venv is only needed when the chosen Python lacks venv.
    if "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        missing=("${missing[@]/python3-venv}")
    fi
    missing=($(printf '%s\n' "${missing[@]}" | grep . || true))
fi
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing packages ${missing[*]} and no apt-get: install Ableton Link and asio headers yourself and set AALINK_INCLUDE_DIRS"
    else
        sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

# ---- 2. virtual environment (the -e install builds the extension) ----
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"

# ---- 3. the Link 4.0 tree (quick when it is there: it is only checked) ----
if [ "${AALINK_LINK:-auto}" != system ] && [ -z "${AALINK_LINK_DIR:-}" ]; then
    "$py" scripts/fetch_link.py >/dev/null || {
        say "could not fetch Link 4.0 (above); AALINK_LINK=system builds against the system's Link instead"
        exit 1
    }
fi
# The engine is part of what a build is made of.
engine="${AALINK_LINK:-auto}|${AALINK_LINK_DIR:-}|$([ -d .deps/link-4.0 ] && echo fetched)"
build_stamp="$VENV/.aalink-build"
build_key="$( (cat setup.py pyproject.toml scripts/fetch_link.py src/_aalink/* link_shim/*; echo "$engine") |
    sha256sum | cut -c1-16)"
deps_stamp="$VENV/.aalink-deps"
deps_base="$(cat pyproject.toml | sha256sum | cut -c1-16)"
deps_key="$deps_base-$want_test"
deps_have="$(cat "$deps_stamp" 2>/dev/null || true)"
# The install that builds the extension keeps its whole output in
# $VENV/.aalink-build.log (tests/test_build_log.py checks it has no compiler
# warning); a failure shows the log's end, warnings are repeated here.
build_log="$VENV/.aalink-build.log"
build_logged() {
    if ! "$@" >"$build_log" 2>&1; then
        tail -n 60 "$build_log" >&2
        say "the build failed (whole log: $build_log)"
        exit 1
    fi
    grep -E ':[0-9]+:([0-9]+:)? (warning|error):' "$build_log" >&2 || true
}
# An environment set up for the tests also serves the demo.
if [ "$deps_have" != "$deps_key" ] && [ "$deps_have" != "$deps_base-1" ]; then
    say "installing Python dependencies"
    "$py" -m pip install -q --disable-pip-version-check -U pip "setuptools>=77" wheel
    extra=""
    [ "$want_test" = 1 ] && extra="[test]"
    build_logged "$py" -m pip install -v --disable-pip-version-check --no-build-isolation \
        -e ".$extra"
    echo "$deps_key" > "$deps_stamp"
    echo "$build_key" > "$build_stamp"
fi

# ---- 4. the extension, rebuilt when its sources or its engine changed ----
if [ "$(cat "$build_stamp" 2>/dev/null)" != "$build_key" ] ||
   ! "$py" -c 'import aalink' >/dev/null 2>&1; then
    say "building the extension"
    build_logged "$py" -m pip install -v --disable-pip-version-check --no-build-isolation \
        --no-deps -e .
    echo "$build_key" > "$build_stamp"
fi

# ---- 5. with --test: a local wheelhouse for building the sdist offline ----
# tests/test_wheel.py builds a wheel from the sdist inside the private
# namespace, which has no network: pip's isolated build environment takes
# setuptools and wheel from here.  Fetched once, outside the namespace.
wheelhouse=.deps/wheelhouse
if [ "$want_test" = 1 ] && [ ! -e "$wheelhouse/.complete" ]; then
    say "filling $wheelhouse (setuptools, wheel)"
    mkdir -p "$wheelhouse"
    # For every Python the tests run on: the newest setuptools needs 3.10.
    for v in 3.9 ""; do
        "$py" -m pip download -q --disable-pip-version-check --only-binary :all: \
            ${v:+--python-version "$v"} -d "$wheelhouse" "setuptools>=77" wheel
    done
    touch "$wheelhouse/.complete"
fi
