#!/usr/bin/env bash
# The main job: set everything up, then run the hello example, which prints
# "bang!" on every beat of your Link session (it joins your network, like any
# Link app).  --private runs it in a private network namespace instead, alone.
set -euo pipefail
cd "$(dirname "$0")/.."
private=0
if [ "${1:-}" = "--private" ]; then private=1; shift; fi
bash scripts/setup.sh
if [ "$private" = 1 ]; then
    exec scripts/in-private-netns .venv/bin/python examples/hello.py "$@"
fi
exec .venv/bin/python examples/hello.py "$@"
