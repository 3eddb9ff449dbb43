"""The extension this environment imports was built without a compiler
warning, on every Python and both engines (issue: "builds without warnings
on each").  scripts/setup.sh keeps the output of the build it made in
<venv>/.aalink-build.log; scripts/system-link.sh names its build's log in
AALINK_BUILD_LOG."""
import os
import re
import sys
from pathlib import Path

import pytest

from support import compiler_diagnostics


def build_log() -> Path:
    named = os.environ.get("AALINK_BUILD_LOG")
    return Path(named) if named else Path(sys.prefix) / ".aalink-build.log"


def test_the_extension_was_built_without_compiler_warnings():
    log = build_log()
    if not log.is_file():
        pytest.skip(f"no build log at {log}: this environment was not set up by scripts/setup.sh")
    text = log.read_text(errors="replace")
    # The log is the build's: it compiled our sources (not an empty log).
    assert re.search(r"\b(gcc|g\+\+|cc|c\+\+)\b.*_aalink|link_shim", text), (
        f"{log} holds no compiler command")
    warnings = compiler_diagnostics(text)
    assert not warnings, "\n".join(warnings[:20])
