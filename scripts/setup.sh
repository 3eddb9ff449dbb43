#!/usr/bin/env bash
# Set up everything aalink needs, idempotently, and quickly when it is there:
#   1. Debian/Ubuntu packages (Ableton Link and asio headers, a C/C++ compiler,
#      iproute2 for private network namespaces, and with --test LinkHut + JACK,
#      MinGW-w64 for the Windows build and Wine to run it: wine64 without its
#      recommends, under 30 s to install here),
#   2. a virtual environment in .venv with the Python dependencies,
#   3. the extension, rebuilt only when its sources changed.
# Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

PYTHON=${PYTHON:-python3}
VENV=${AALINK_VENV:-.venv}

say() { printf 'aalink setup: %s\n' "$*" >&2; }

# ---- 1. system packages ----
packages=(ableton-link-dev libasio-dev g++ iproute2 python3-venv)
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
build_stamp="$VENV/.aalink-build"
build_key="$(cat setup.py pyproject.toml src/_aalink/* link_shim/* | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"
deps_stamp="$VENV/.aalink-deps"
deps_base="$(cat pyproject.toml | sha256sum | cut -c1-16)"
deps_key="$deps_base-$want_test"
deps_have="$(cat "$deps_stamp" 2>/dev/null || true)"
# An environment set up for the tests also serves the demo.
if [ "$deps_have" != "$deps_key" ] && [ "$deps_have" != "$deps_base-1" ]; then
    say "installing Python dependencies"
    "$py" -m pip install -q --disable-pip-version-check -U pip "setuptools>=77" wheel
    extra=""
    [ "$want_test" = 1 ] && extra="[test]"
    "$py" -m pip install -q --disable-pip-version-check --no-build-isolation -e ".$extra"
    echo "$deps_key" > "$deps_stamp"
    echo "$build_key" > "$build_stamp"
fi

# ---- 3. the extension, rebuilt when its sources changed ----
if [ "$(cat "$build_stamp" 2>/dev/null)" != "$build_key" ] ||
   ! "$py" -c 'import aalink' >/dev/null 2>&1; then
    say "building the extension"
    "$py" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e .
    echo "$build_key" > "$build_stamp"
fi
