"""The example programs run and print what the seed says they do.

Each example runs in a subprocess (inside the test runner's private network
namespace) for a few beats at a fast tempo (AALINK_EXAMPLE_BPM), and its
output is checked against the sync rules: the values printed are grid points.
The last tests run seed-style scripts that never close their Link, and check
that they exit cleanly.
"""
import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support import interrupt, wait_until

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BPM = "600"


def example_env(bpm=BPM):
    return dict(os.environ, AALINK_EXAMPLE_BPM=bpm, PYTHONUNBUFFERED="1")


def run_example(name, *args, timeout=30, bpm=BPM):
    r = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)],
                       capture_output=True, text=True, timeout=timeout, env=example_env(bpm))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Fatal" not in r.stderr, r.stderr
    return [line.split() for line in r.stdout.splitlines()]


def is_grid_point(value, step, offset=0.0, tol=1e-9):
    k = (value - offset) / step
    return abs(k - round(k)) < tol


@pytest.mark.parametrize("name", ["hello.py", "swing.py", "sequences.py", "concurrency.py",
                                  "start_stop.py", "audio_send.py", "audio_record.py"])
def test_example_has_a_docstring(name):
    import ast

    tree = ast.parse((EXAMPLES / name).read_text())
    doc = ast.get_docstring(tree)
    assert doc and doc.splitlines()[0].strip()
    assert "Link(" in (EXAMPLES / name).read_text()


def test_hello_bangs_on_every_beat():
    p = subprocess.Popen([sys.executable, str(EXAMPLES / "hello.py")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=example_env())
    try:
        lines = [p.stdout.readline().strip() for _ in range(3)]
    finally:
        p.terminate()
        p.communicate(timeout=10)  # waits, and closes the pipes
    assert lines == ["bang!"] * 3


def test_swing_arpeggiates_with_a_swung_offset():
    lines = run_example("swing.py", 4)
    assert [(tag, int(i)) for tag, i, _ in lines] == [
        (tag, i) for i in range(4) for tag in ("###", "@@@")]
    values = [float(v) for _, _, v in lines]
    assert all(b > a for a, b in zip(values, values[1:]))
    for (tag, i, v) in lines:
        v = float(v)
        if tag == "###" and int(i) % 2 == 1:
            assert is_grid_point(v, 0.5, 0.25)  # the swung off-beats
        else:
            assert is_grid_point(v, 0.5)


def test_swing_runs_16_steps_by_default():
    lines = run_example("swing.py")
    assert len(lines) == 32
    assert lines[-1][:2] == ["@@@", "15"]


def test_sequences_run_in_series_then_concurrently():
    lines = run_example("sequences.py", 3)
    assert [name for _, name, _ in lines[:6]] == ["a"] * 3 + ["b"] * 3
    assert sorted(name for _, name, _ in lines[6:]) == ["c"] * 3 + ["d"] * 3
    assert all(word == "bang!" for word, _, _ in lines)
    values = [float(v) for _, _, v in lines]
    assert all(v == int(v) for v in values)  # every bang on a beat
    series = values[:6]
    assert all(b == a + 1 for a, b in zip(series, series[1:]))  # a then b, beat after beat
    c = [float(v) for _, name, v in lines[6:] if name == "c"]
    d = [float(v) for _, name, v in lines[6:] if name == "d"]
    assert c == d  # concurrent: c and d bang on the same beats
    assert c[0] == series[-1] + 1


def test_concurrency_runs_two_intervals_together():
    # 240 bpm: each voice has 83 ms between triplets to print and sync again
    lines = run_example("concurrency.py", 3, bpm="240")
    beats = [float(v) for name, v in lines if name == "beat"]
    triplets = [float(v) for name, v in lines if name == "triplet"]
    assert len(beats) == 3
    assert all(v == int(v) for v in beats)
    assert all(is_grid_point(v, 1 / 3, tol=1e-2) for v in triplets)  # printed as %.3f
    assert len(triplets) == 9  # three a beat
    assert all(any(abs(t - b) < 1e-3 for t in triplets) for b in beats)
    assert max(triplets) <= max(beats) + 1e-3


def test_start_stop_starting_by_itself():
    lines = run_example("start_stop.py", 5, "--start")
    assert lines[0] == ["waiting", "for", "play"]
    assert lines[1] == ["playing"]
    assert lines[-1] == ["done"]
    beats = [float(line[4].strip("()")) for line in lines[2:-1]]
    # beat 0 is where playing started: the first sync(1) after it is beat 1
    assert beats == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert lines[2][:4] == ["bar", "1", "beat", "2"]
    assert lines[5][:4] == ["bar", "2", "beat", "1"]


async def test_start_stop_follows_a_peer(make_link):
    """A peer in this process presses play, then stop; the example follows."""
    peer = make_link(float(BPM))
    peer.quantum = 4
    peer.start_stop_sync_enabled = True
    peer.enabled = True
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "start_stop.py"), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=example_env())
    try:
        async def line():
            return (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().split()

        assert await line() == ["waiting", "for", "play"]
        assert await wait_until(lambda: peer.num_peers == 1, timeout=10)
        await asyncio.sleep(0.2)  # nothing plays yet
        peer.playing = True
        assert await line() == ["playing"]
        got = [await line() for _ in range(3)]
        values = [float(g[4].strip("()")) for g in got]
        assert all(v == int(v) for v in values)
        assert all(b == a + 1 for a, b in zip(values, values[1:]))
        # The example aligned its beat 0 to the start: with the peer it shares
        # the phase of the bar (quantum 4).
        assert all(g[0] == "bar" for g in got)
        peer.playing = False
        rest = []
        while True:
            words = await line()
            rest.append(words)
            if words in (["stopped"], ["done"]) or not words:
                break
        assert rest[-1] == ["stopped"]
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# ---------------------------------------- seed-style scripts exit cleanly

def run_script(code, timeout=30):
    r = subprocess.run([sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    assert "Fatal" not in r.stderr and "Segmentation" not in r.stderr, r.stderr
    return r.stdout


def test_a_global_link_used_by_asyncio_run_exits_cleanly():
    out = run_script("""
        import asyncio
        from aalink import Link
        link = Link(600)
        async def main():
            await link.sync(0.5)
            print('bang!')
        asyncio.run(main())
    """)
    assert out.strip() == "bang!"


def test_a_link_with_callbacks_left_open_at_exit_exits_cleanly():
    out = run_script("""
        import asyncio
        from aalink import Link
        seen = []
        async def main():
            global link
            link = Link(120)
            link.add_tempo_callback(seen.append)
            link.add_start_stop_callback(seen.append)
            link.tempo = 150
            link.playing = True
            for _ in range(100):
                if len(seen) == 2:
                    break
                await asyncio.sleep(0.02)
        asyncio.run(main())
        print(seen)
    """)
    assert out.strip() == "[150.0, True]"


@pytest.mark.skipif(not __import__("aalink").HAS_LINK_AUDIO, reason="Link Audio needs Link 4.0")
def test_audio_send_plays_every_beat_and_audio_record_records_whole_bars(tmp_path):
    from support.audio import check_bar_recording

    send = subprocess.Popen([sys.executable, str(EXAMPLES / "audio_send.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=example_env())
    try:
        out = tmp_path / "bars.wav"
        lines = run_example("audio_record.py", out, 2, timeout=60)
    finally:
        sent, err = interrupt(send)
    assert send.returncode == 0 and "Traceback" not in err, err
    assert any(line.endswith("nobody listens yet") for line in sent.splitlines()[:2])
    assert any(line.endswith("played 4800 frames") for line in sent.splitlines())
    check_bar_recording(out, lines, BPM)
