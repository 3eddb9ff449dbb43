#!/usr/bin/env bash
# Build a second copy of the port, from another commit, to measure beside
# this one:  bash bench/setup_baseline.sh REF   (REF: a commit, tag or branch)
# It checks REF out as a git worktree under .bench-baseline/<commit> (git-
# ignored) and runs that commit's own scripts/setup.sh there, which makes its
# .venv and builds its extension.  Prints the baseline's python on stdout.
# Runs outside any network namespace (pip needs the network).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'bench baseline: %s\n' "$*" >&2; }
[ $# -eq 1 ] || { say "usage: bench/setup_baseline.sh REF"; exit 2; }
sha=$(git rev-parse --short=12 "$1^{commit}") || { say "unknown commit '$1'"; exit 2; }
dir=.bench-baseline/$sha
if [ ! -d "$dir" ]; then
    say "checking out $1 ($sha) in $dir"
    git worktree add -q --detach "$dir" "$sha" >&2
fi
# That commit's own set-up: its system packages, venv and build.
bash "$dir/scripts/setup.sh" >&2
py="$PWD/$dir/.venv/bin/python"
"$py" -c 'import uvloop' >/dev/null 2>&1 ||
    "$py" -m pip install -q --disable-pip-version-check uvloop >/dev/null 2>&1 ||
    say "uvloop could not be installed: no uvloop column for the baseline"
echo "$py"
