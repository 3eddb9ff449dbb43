import asyncio
import gc
import signal
import sys
from pathlib import Path

import pytest

# The shared helpers are the package tests/support: importable as `support`
# however pytest is started (from the repository root, scripts/test.sh,
# scripts/sanitize.sh) and whatever its import mode.
TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from support import LOOP_KINDS, new_loop  # noqa: E402
from support.linkhut import jack, linkhut, linkhut_on  # noqa: E402, F401  (fixtures)
from support.netns import hosts  # noqa: E402, F401  (fixture)
from support.netns_guard import isolation_problem  # noqa: E402


def pytest_configure(config):
    # A shell without job control starts a background command (`cmd &` in a
    # script, a CI harness, nohup) with SIGINT and SIGQUIT ignored, and every
    # program the tests start would inherit that: the tests of Ctrl-C would
    # find it ignored whatever aalink does.  Ctrl-C is theirs to test: this
    # process takes Python's default back, and its children start with the
    # system's default (a handler, unlike "ignored", is not inherited).
    for sig in (signal.SIGINT, getattr(signal, "SIGQUIT", None)):
        if sig is not None and signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT
                          else signal.SIG_DFL)


@pytest.fixture(autouse=True)
def _private_network_guard():
    """Every test may enable Link: fail loudly outside a private namespace."""
    problem = isolation_problem()
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def make_link():
    """Create Links that are closed when the test ends."""
    from aalink import Link

    links = []

    def make(*args, **kwargs):
        link = Link(*args, **kwargs)
        links.append(link)
        return link

    yield make
    for link in links:
        link.close()
    gc.collect()


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request):
    """Each kind of event loop the behaviours must hold on: asyncio's own,
    uvloop (skipped, with the reason, where it is not installed) and a loop
    without add_reader() (Windows' proactor loop: the relay thread)."""
    if request.param == "uvloop":
        pytest.importorskip(
            "uvloop", reason="uvloop is not installed (pip install -e .[test] installs it "
                             "where it exists; not on Windows)")
    return request.param


@pytest.fixture
def run_on(loop_kind):
    """run_on(coro_fn, *args): run coro_fn(*args) to completion on a fresh
    loop of the test's loop_kind, and close that loop."""
    def run(coro_fn, *args):
        loop = new_loop(loop_kind)
        expected = type(loop)
        try:
            async def main():
                assert type(asyncio.get_running_loop()) is expected
                return await asyncio.wait_for(coro_fn(*args), 60)
            return loop.run_until_complete(main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    return run
