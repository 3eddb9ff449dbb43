#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer and
# run the test suite under it, with the normal (non-sanitized) Python of
# .venv and the sanitizer runtimes preloaded.  Fails on any sanitizer report,
# from pytest itself or from any Python subprocess a test starts.
#
#   scripts/sanitize.sh                   the whole suite
#   scripts/sanitize.sh tests/test_sync.py -k first      extra args go to pytest
#
# The sanitized build lives in build/sanitize (a copy of the package with its
# own extension, put first on PYTHONPATH); .venv keeps its normal build.
# Runs inside the private network namespace, like scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh --test >&2
py=$root/.venv/bin/python

say() { printf 'aalink sanitize: %s\n' "$*" >&2; }

# ---- 1. the sanitized build, redone when the sources change ----
dest=$root/build/sanitize
# The same engine as .venv's build: the fetched Link tree (or AALINK_LINK and
# AALINK_LINK_DIR, as setup.py reads them).
engine="${AALINK_LINK:-auto}|${AALINK_LINK_DIR:-}|$([ -d .deps/link-4.0 ] && echo fetched)"
key="$( (cat setup.py scripts/fetch_link.py src/_aalink/* link_shim/* src/aalink/*.py; echo "$engine") |
    sha256sum | cut -c1-16)"
if [ "$(cat "$dest/.key" 2>/dev/null)" != "$key" ] ||
   ! ls "$dest"/src/aalink/_aalink*.so >/dev/null 2>&1; then
    say "building the extension with -fsanitize=address,undefined"
    rm -rf "$dest"
    mkdir -p "$dest/src/aalink"
    cp -r setup.py pyproject.toml README.md LICENSE link_shim "$dest/"
    cp -r src/_aalink "$dest/src/"
    mkdir -p "$dest/scripts"
    cp scripts/fetch_link.py "$dest/scripts/"
    [ -d .deps ] && ln -s "$root/.deps" "$dest/.deps"
    # The Python side of the package, not the normal build's extension.
    find src/aalink -maxdepth 1 -type f \( -name '*.py' -o -name '*.pyi' -o -name py.typed \) \
        -exec cp {} "$dest/src/aalink/" \;
    (cd "$dest" && AALINK_SANITIZE=1 "$py" setup.py -q build_ext --inplace >build.log 2>&1) || {
        cat "$dest/build.log" >&2
        exit 1
    }
    echo "$key" > "$dest/.key"
fi

# ---- 2. the runtimes, preloaded into the normal Python ----
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
for lib in "$asan" "$ubsan"; do
    [ -e "$lib" ] || { say "no sanitizer runtime $lib (install gcc's libasan/libubsan)"; exit 1; }
done
logs=$root/build/sanitize-logs
rm -rf "$logs"
mkdir -p "$logs"

# detect_leaks=0: CPython itself does not free everything at exit; the leak
# checks of our own objects are tests/test_leaks.py.  Reports go to files
# (one per process) so that those of subprocesses are seen too.
export AALINK_SANITIZE_RUN=1
export PYTHONPATH="$dest/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONMALLOC=malloc # every Python object through ASan's allocator
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
preload="$asan $ubsan"

# The sanitized extension is the one imported.
where=$(LD_PRELOAD="$preload" "$py" -c 'import aalink._aalink as m; print(m.__file__)')
case "$where" in
    "$dest"/*) ;;
    *) say "imported $where instead of the sanitized build"; exit 1 ;;
esac

say "running pytest under ASan+UBSan (${*:-the whole suite})"
set +e
scripts/in-private-netns env LD_PRELOAD="$preload" "$py" -X faulthandler -m pytest \
    -p no:cacheprovider "$@"
rc=$?
set -e

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
    say "sanitizer reports:"
    for f in $reports; do
        printf '==== %s\n' "$f" >&2
        cat "$f" >&2
    done
    exit 1
fi
[ "$rc" -eq 0 ] || { say "pytest failed (exit $rc)"; exit "$rc"; }
say "no sanitizer reports"
