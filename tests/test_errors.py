"""Errors that name their cause: what Ableton Link throws becomes the
matching Python exception (std::system_error -> OSError with its errno,
std::bad_alloc -> MemoryError, anything else -> RuntimeError with its text)."""
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses the resource module")

OUT_OF_DESCRIPTORS = textwrap.dedent("""
    import errno, os, resource
    from aalink import Link
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    held = []
    while True:
        try:
            held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            break
    try:
        Link(120)
    except OSError as e:
        assert e.errno == errno.EMFILE, repr(e)
        assert str(e) and e.strerror, repr(e)
        print("OSError", e.errno, e)
    else:
        raise AssertionError("Link() succeeded without descriptors")
    for fd in held:
        os.close(fd)
    link = Link(120)
    assert link.beat >= 0 and link.tempo == 120.0
    link.close()
    print("recovered")
""")


def test_out_of_descriptors_is_oserror_emfile():
    """With every descriptor in use, Link() raises OSError(EMFILE) with a
    message (not an empty MemoryError), and once descriptors are freed the
    process can create a Link again."""
    r = subprocess.run([sys.executable, "-c", OUT_OF_DESCRIPTORS], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "recovered" in r.stdout
