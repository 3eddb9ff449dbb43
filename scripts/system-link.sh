#!/usr/bin/env bash
# Build the extension against the system's Ableton Link (Debian's
# ableton-link-dev 3.0.6 + libasio-dev: AALINK_LINK=system) and run tests
# with it, with the normal Python of .venv.  The default engine is Link 4.0;
# this checks that the second one still builds and behaves.
#
#   scripts/system-link.sh                 the subset below (scripts/test.sh's pass)
#   scripts/system-link.sh tests/          extra args go to pytest instead
#
# The build lives in build/system-link (a copy of the package with its own
# extension, put first on PYTHONPATH, as scripts/sanitize.sh does); .venv
# keeps its Link 4.0 build.  Runs inside the private network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh --test >&2
py=$root/.venv/bin/python

say() { printf 'aalink system-link: %s\n' "$*" >&2; }

# What the system's Link is made to hold: Link's TEST-PLAN tempo tests
# (TEMPO-2's 30 back-to-back joins among them: the shim's node-id
# specialisation), and a sample of the rest: syncs, properties, callbacks,
# the engine's own checks, shutdown.
SUBSET=(tests/test_link_test_plan.py tests/test_engine.py tests/test_build_log.py tests/test_sync.py
        tests/test_properties.py tests/test_callbacks.py tests/test_shutdown.py)

# ---- 1. the build, redone when the sources change ----
dest=$root/build/system-link
key="$(cat setup.py scripts/fetch_link.py src/_aalink/* link_shim/* src/aalink/*.py |
    sha256sum | cut -c1-16)"
if [ "$(cat "$dest/.key" 2>/dev/null)" != "$key" ] ||
   ! ls "$dest"/src/aalink/_aalink*.so >/dev/null 2>&1; then
    say "building the extension against the system's Link (AALINK_LINK=system)"
    rm -rf "$dest"
    mkdir -p "$dest/src/aalink" "$dest/scripts"
    cp -r setup.py pyproject.toml README.md LICENSE link_shim "$dest/"
    cp -r src/_aalink "$dest/src/"
    cp scripts/fetch_link.py "$dest/scripts/"
    find src/aalink -maxdepth 1 -type f \( -name '*.py' -o -name '*.pyi' -o -name py.typed \) \
        -exec cp {} "$dest/src/aalink/" \;
    (cd "$dest" && AALINK_LINK=system "$py" setup.py build_ext --inplace >build.log 2>&1) || {
        cat "$dest/build.log" >&2
        exit 1
    }
    echo "$key" > "$dest/.key"
fi

export PYTHONPATH="$dest/src${PYTHONPATH:+:$PYTHONPATH}"
version=$("$py" -c 'import aalink; print(aalink.LINK_VERSION, aalink.__file__)')
case "$version" in
    *" $dest"/*) ;;
    *) say "imported ${version#* } instead of the build in $dest"; exit 1 ;;
esac
version=${version%% *}
grep -q "building against the system's Link" "$dest/build.log" || {
    say "the build in $dest did not take the system's Link:"
    cat "$dest/build.log" >&2
    exit 1
}
export AALINK_EXPECT_LINK_VERSION=$version
export AALINK_BUILD_LOG=$dest/build.log  # tests/test_build_log.py

if [ $# -eq 0 ]; then
    set -- -q "${SUBSET[@]}"
fi
say "running pytest on the system's Link $version (${*})"
exec scripts/pytest-in-netns "$py" -p no:cacheprovider "$@"
