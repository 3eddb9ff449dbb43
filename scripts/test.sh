#!/usr/bin/env bash
# The test command: set everything up, then run the whole suite inside a
# private network namespace.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec scripts/in-private-netns .venv/bin/python -X faulthandler -m pytest "$@"
