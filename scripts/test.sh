#!/usr/bin/env bash
# The test command: set everything up, then run the suite inside a private
# network namespace.  Extra arguments go to pytest.  The tests run in worker
# processes side by side, each in a private namespace of its own
# (scripts/pytest-in-netns; AALINK_TEST_WORKERS=1 runs them in one process).
#
# Without arguments (the README's and CI's command) it runs these passes:
#   normal    the whole suite (.venv: the system's python3, 3.11 here)
#   py3.13    the whole suite on CPython 3.13 (.venv-3.13)
#   pythons   a representative subset on CPython 3.9, 3.10 and 3.12
#             (.venv-3.X; the whole suite on every version is
#             scripts/test-all-pythons.sh, docs/python-versions.md)
#   dev       a representative subset under `python -X dev` (debug allocator,
#             asyncio debug mode), with a per-test time-out and faulthandler,
#             so a hang shows its stack (the whole suite there:
#             AALINK_TEST_PASSES=dev scripts/test.sh tests/)
#   sanitize  a representative subset under ASan+UBSan (scripts/sanitize.sh;
#             the whole suite there is `scripts/sanitize.sh`)
#   system-link  the extension built against the system's Link (Debian's
#             3.0.6; the other passes use Link 4.0) and a representative subset
#             on it: Link's TEMPO test plan among them (scripts/system-link.sh;
#             `scripts/system-link.sh tests/` runs the whole suite there)
# With arguments it runs only the normal pass over them.  AALINK_TEST_PASSES
# chooses the passes either way, e.g. AALINK_TEST_PASSES="normal dev"; with
# arguments, the py3.13, pythons and dev passes run over them too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

if [ -n "${AALINK_TEST_PASSES:-}" ]; then
    passes=$AALINK_TEST_PASSES
elif [ $# -eq 0 ]; then
    passes="normal py3.13 pythons dev sanitize system-link"
else
    passes="normal"
fi

# Under ASan timing is slower and less even: the subset leaves out the tests
# that measure lateness in milliseconds and the memory measurements (ASan
# keeps freed memory in quarantine).  Of the behaviours every event loop
# shares (tests/test_event_loops.py, with bounds in milliseconds) it takes
# the two that go through the relay thread of a loop without add_reader.
SANITIZE_SUBSET=(tests/test_fuzz.py tests/test_threads.py tests/test_shutdown.py
                 tests/test_properties.py tests/test_callbacks.py tests/test_scheduler.py
                 tests/test_network_guard.py tests/test_examples.py
                 tests/test_loop_without_add_reader.py
                 "tests/test_event_loops.py::test_successive_syncs_with_the_loop_argument[no_add_reader]"
                 "tests/test_event_loops.py::test_a_peers_tempo_arrives_on_the_loop_thread[no_add_reader]")

# What differs between Python versions: the C API around the objects'
# lifetimes (deallocs that keep the exception in flight, finalization),
# asyncio's loops and REPL, threads, uvloop; the basics of syncing; and a build
# without compiler warnings.
PYTHONS_SUBSET=(tests/test_sync.py tests/test_every.py tests/test_callbacks.py
                tests/test_dealloc_keeps_exception.py tests/test_shutdown.py
                tests/test_threads.py tests/test_loop_without_add_reader.py
                tests/test_uvloop.py tests/test_repl.py tests/test_embedded.py
                tests/test_beat_time.py tests/test_stats.py tests/test_network_guard.py
                tests/test_build_log.py)
PYTHONS_OTHER=(3.9 3.10 3.12)

# Under -X dev: the debug allocator and asyncio's debug mode catch what the
# C code does wrong with memory and with the loop's threads.  The subset
# goes through every path into the loop (the waker, the relay, uvloop),
# callbacks, threads, shutdown, bad input.  asyncio debug mode makes
# creating 1,000 tasks take longer than the 1/16 bar one timing test allows
# (on every kind of loop: the node id deselects all its parametrizations).
DEV_SUBSET=(tests/test_sync.py tests/test_every.py tests/test_callbacks.py
            tests/test_dealloc_keeps_exception.py tests/test_shutdown.py tests/test_threads.py
            tests/test_loop_without_add_reader.py tests/test_event_loops.py
            tests/test_scheduler.py tests/test_fuzz.py tests/test_embedded.py
            --deselect tests/test_event_loops.py::test_a_thousand_coroutines_share_the_grid)

source scripts/pythons.sh

# Link 4.0 (scripts/setup.sh fetches it), unless chosen otherwise.
if [ -z "${AALINK_LINK:-}${AALINK_LINK_DIR:-}" ]; then
    export AALINK_EXPECT_LINK_VERSION=4.0
fi

# Every pass runs; the exit status is the first failing pass's.
status=0
run_pass() {
    local rc=0
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "aalink tests: pass '$pass' failed (exit $rc)" >&2
        [ "$status" -ne 0 ] || status=$rc
    fi
}

for pass in $passes; do
    case "$pass" in
    normal)
        run_pass scripts/pytest-in-netns .venv/bin/python "$@"
        ;;
    py3.13)
        echo "aalink tests: pass on Python 3.13" >&2
        if py=$(setup_python 3.13); then
            run_pass scripts/pytest-in-netns "$py" -p no:cacheprovider "$@"
        else
            run_pass false
        fi
        ;;
    pythons)
        for v in "${PYTHONS_OTHER[@]}"; do
            echo "aalink tests: pass on Python $v (a subset)" >&2
            if py=$(setup_python "$v"); then
                args=("$@")
                [ $# -gt 0 ] || args=("${PYTHONS_SUBSET[@]}")
                run_pass scripts/pytest-in-netns "$py" -q -p no:cacheprovider "${args[@]}"
            else
                run_pass false
            fi
        done
        ;;
    dev)
        echo "aalink tests: pass under python -X dev (a subset)" >&2
        if [ $# -eq 0 ]; then
            args=("${DEV_SUBSET[@]}")
        else
            args=(--deselect tests/test_event_loops.py::test_a_thousand_coroutines_share_the_grid "$@")
        fi
        run_pass scripts/pytest-in-netns .venv/bin/python -X dev -- \
            -q -p no:cacheprovider --timeout=120 -o faulthandler_timeout=110 "${args[@]}"
        ;;
    sanitize)
        echo "aalink tests: pass under ASan+UBSan" >&2
        if [ $# -eq 0 ]; then
            run_pass bash scripts/sanitize.sh -q "${SANITIZE_SUBSET[@]}"
        else
            run_pass bash scripts/sanitize.sh "$@"
        fi
        ;;
    system-link)
        echo "aalink tests: pass on the system's Link" >&2
        if [ $# -eq 0 ]; then
            run_pass bash scripts/system-link.sh
        else
            run_pass bash scripts/system-link.sh "$@"
        fi
        ;;
    *)
        echo "aalink tests: unknown pass '$pass' (normal, py3.13, pythons, dev, sanitize, system-link)" >&2
        exit 2
        ;;
    esac
done
exit "$status"
