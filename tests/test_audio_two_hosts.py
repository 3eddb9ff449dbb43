"""Link Audio across a real (virtual) network hop: examples/audio_send.py on
one "host", examples/audio_record.py on the other, two network namespaces
joined by a veth pair (tests/support/netns.py, as test_two_hosts.py).  The
recording is bar-aligned and every beat's note sounds within 1 ms of the
recorder's beat."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import aalink
from support import interrupt
from support.audio import check_bar_recording

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BPM = "300"

pytestmark = pytest.mark.skipif(not aalink.HAS_LINK_AUDIO, reason="Link Audio needs Link 4.0")


def test_a_synth_on_one_host_is_recorded_bar_aligned_on_the_other(hosts, tmp_path):
    env = dict(os.environ, AALINK_EXAMPLE_BPM=BPM, PYTHONUNBUFFERED="1")
    send = subprocess.Popen([*hosts.prefix(0), sys.executable, str(EXAMPLES / "audio_send.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out = tmp_path / "hop.wav"
    try:
        r = subprocess.run([*hosts.prefix(1), sys.executable, str(EXAMPLES / "audio_record.py"),
                            str(out), "2"], capture_output=True, text=True, timeout=90, env=env)
    finally:
        sent, err = interrupt(send)
    assert r.returncode == 0, r.stderr
    assert send.returncode == 0 and "Traceback" not in err, err
    assert any(line.endswith("frames") for line in sent.splitlines())  # heard across the hop
    check_bar_recording(out, [line.split() for line in r.stdout.splitlines()], BPM)
