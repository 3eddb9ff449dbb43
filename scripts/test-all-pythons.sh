#!/usr/bin/env bash
# The whole test suite on every supported CPython (3.9 to 3.13), each in its
# own environment (.venv-X.Y; .venv for the system's python3), inside the
# private network namespace.  Not part of scripts/test.sh, which runs the
# whole suite on 3.11 and 3.13 and a subset on the others (the CI budget):
# this takes about 5 minutes a version.  Records the result in
# docs/python-versions.md.
#
# Usage: scripts/test-all-pythons.sh [pytest arguments]
#        AALINK_PYTHONS="3.9 3.13" scripts/test-all-pythons.sh    some versions
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh

VERSIONS=(3.9 3.10 3.11 3.12 3.13)
[ -n "${AALINK_PYTHONS:-}" ] && read -r -a VERSIONS <<< "$AALINK_PYTHONS"
RESULTS=docs/python-versions.md
logdir=$(mktemp -d)
rows=()
status=0
for v in "${VERSIONS[@]}"; do
    echo "aalink: the whole suite on Python $v" >&2
    start=$SECONDS
    if ! py=$(setup_python "$v"); then
        rows+=("| $v | not installed | |")
        status=1
        continue
    fi
    full=$("$py" -c 'import platform; print(platform.python_version())')
    rc=0
    scripts/pytest-in-netns "$py" -q -p no:cacheprovider -rfEs "$@" \
        2>&1 | tee "$logdir/$v.log" || rc=$?
    # pytest's closing line, e.g. "3 skipped, 537 passed in 250.1s (0:04:10)"
    summary=$(grep -E '^=*.*(passed|failed|error).* in [0-9.]+s' "$logdir/$v.log" | tail -n 1 |
              sed -E 's/^=+ //; s/ =+$//; s/ \([0-9:]+\)$//')
    failed=$(grep -E '^(FAILED|ERROR) ' "$logdir/$v.log" | sed -E 's/ - .*//; s/^(FAILED|ERROR) //' |
             paste -sd ' ' - || true)
    [ "$rc" -eq 0 ] || status=1
    rows+=("| $full | ${summary:-no summary (exit $rc)} | ${failed:-} |")
    echo "aalink: Python $v: ${summary:-exit $rc} ($((SECONDS - start)) s)" >&2
done

# Only a run of every version over the whole suite is the recorded result.
if [ $# -eq 0 ] && [ -z "${AALINK_PYTHONS:-}" ]; then
    {
        echo "Last run: $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores."
        echo
        echo "| Python | whole suite | failed |"
        echo "|---|---|---|"
        printf '%s\n' "${rows[@]}"
    } > "$logdir/table.md"
    python3 - "$RESULTS" "$logdir/table.md" <<'PY'
import sys
from pathlib import Path
page, table = Path(sys.argv[1]), Path(sys.argv[2]).read_text()
start, end = "<!-- test-all-pythons: start -->\n", "<!-- test-all-pythons: end -->"
text = page.read_text()
before, rest = text.split(start)
page.write_text(before + start + table + rest[rest.index(end):])
PY
    echo "aalink: recorded in $RESULTS" >&2
fi
exit "$status"
