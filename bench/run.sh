#!/usr/bin/env bash
# The benchmark, in one command: the port against the published aalink 0.2.3.
#   bash bench/run.sh            full run (under ~10 minutes)
#   bash bench/run.sh --quick    one short round (~2 minutes)
#   bash bench/run.sh --baseline REF [--quick]
#                                also a second build of the port, from commit
#                                REF (bench/setup_baseline.sh), side by side
#                                in the same rounds: a "port @ REF" column
# Other options go to bench/driver.py (--rounds N, --no-uvloop, --loads ...;
# see `python3 bench/driver.py --help`).  BENCH_PLOT=path overrides where the
# plot goes (full runs: docs/bench.png; quick runs: bench/results/).
# Sets up .venv (scripts/setup.sh) and .venv-published first, then measures
# everything inside ONE private network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'bench: %s\n' "$*" >&2; }

mode=full
baseline=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) mode=quick; args+=("$1") ;;
        --baseline) [ $# -ge 2 ] || { say "--baseline needs a commit"; exit 2; }
                    baseline=$2; shift ;;
        -h|--help) exec python3 bench/driver.py --help ;;
        *) args+=("$1") ;;
    esac
    shift
done
set -- "${args[@]+"${args[@]}"}"

# ---- setup, outside the namespace (pip needs the network) ----
bash scripts/setup.sh
bash bench/setup_published.sh
port_py="$PWD/.venv/bin/python"
"$port_py" -c 'import uvloop' >/dev/null 2>&1 ||
    "$port_py" -m pip install -q --disable-pip-version-check uvloop >/dev/null 2>&1 ||
    say "uvloop could not be installed: no uvloop column"
pub_py="$PWD/.venv-published/bin/python"
pub_args=()
if "$pub_py" -c 'import aalink' >/dev/null 2>&1; then
    pub_args=(--published-python "$pub_py")
else
    say "aalink 0.2.3 is not installed in .venv-published: measuring the port only"
fi
base_args=()
if [ -n "$baseline" ]; then
    base_py=$(bash bench/setup_baseline.sh "$baseline")
    base_args=(--baseline-python "$base_py" --baseline-commit "$(git rev-parse --short "$baseline^{commit}")")
fi

# The machine floor (bench/rtfloor.c): a plain C real-time thread, built here.
mkdir -p bench/results
floor_args=()
if [ "$(uname -s)" = Linux ] && cc -std=c11 -O2 -pthread -o bench/results/rtfloor bench/rtfloor.c; then
    floor_args=(--rtfloor "$PWD/bench/results/rtfloor")
else
    say "bench/rtfloor.c could not be built: no machine-floor column"
fi

# ---- measure, inside one private network namespace ----
name="bench-$(date +%Y%m%d-%H%M%S)-$mode"
out="bench/results/$name.json"
scripts/in-private-netns "$port_py" bench/driver.py \
    --port-python "$port_py" "${pub_args[@]+"${pub_args[@]}"}" \
    "${base_args[@]+"${base_args[@]}"}" "${floor_args[@]+"${floor_args[@]}"}" \
    --out "$out" "$@"
cp "$out" bench/results/latest.json

# ---- report: table (stdout and .md) and plot ----
if [ "$mode" = full ]; then plot=${BENCH_PLOT:-docs/bench.png}; else plot=${BENCH_PLOT:-bench/results/$name.png}; fi
report_py="$port_py"
plot_args=(--no-plot)
if "$pub_py" -c 'import matplotlib' >/dev/null 2>&1; then
    report_py="$pub_py"
    plot_args=(--plot "$plot")
else
    say "matplotlib is not available: no plot"
fi
"$report_py" bench/report.py "$out" --markdown "bench/results/$name.md" "${plot_args[@]}"
