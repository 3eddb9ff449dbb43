#!/usr/bin/env bash
# Set up .venv-published idempotently: the published aalink 0.2.3 from PyPI
# (never a dependency of the port), matplotlib for bench/report.py's plot,
# and uvloop when it installs.  Runs outside any network namespace (pip needs
# the network).  Never fails: what could not be installed is reported, and
# the benchmark goes on without it.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv-published
LOG=bench/results/setup-published.log
say() { printf 'bench setup: %s\n' "$*" >&2; }
mkdir -p bench/results

py="$VENV/bin/python"
want=(aalink==0.2.3 matplotlib uvloop)
stamp="$VENV/.bench-setup"
key="$("$PYTHON" -c 'import sys; print(sys.version)' | sha256sum | cut -c1-16) ${want[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" = "$key" ] && [ -x "$py" ]; then
    exit 0
fi
if [ ! -x "$py" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV" || { say "cannot create $VENV: no published aalink, no plot"; exit 0; }
fi
ok=1
for pkg in "${want[@]}"; do
    mod=${pkg%%=*}
    if "$py" -c "import $mod" >/dev/null 2>&1 &&
       { [ "$mod" != aalink ] || [ "$("$py" -c 'from importlib.metadata import version; print(version("aalink"))')" = 0.2.3 ]; }; then
        continue
    fi
    say "installing $pkg into $VENV"
    if ! "$py" -m pip install -q --disable-pip-version-check "$pkg" >>"$LOG" 2>&1; then
        ok=0
        case "$mod" in
            aalink) say "could not install aalink==0.2.3 (see $LOG): the benchmark measures the port only" ;;
            matplotlib) say "could not install matplotlib (see $LOG): no plot" ;;
            *) say "could not install $pkg (see $LOG): no uvloop column for aalink 0.2.3" ;;
        esac
    fi
done
[ "$ok" = 1 ] && echo "$key" > "$stamp"
exit 0
