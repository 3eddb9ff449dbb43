"""Drive LinkHut (Ableton's command-line Link test app) from the tests.

LinkHut (Debian package ableton-link-utils) needs a JACK server and reads
single key presses from its terminal; it redraws one status line (with
carriage returns) about every 10 ms:

    enabled | num peers | quantum | start stop sync | tempo   | beats   | metro
    yes     | 1         | 4       | no  [playing]   | 120.00  | 5.31    | XXOO

It only prints and reads keys unbuffered when it runs on a terminal, so it
runs here on a pseudo-terminal (pty).  `Jack` starts a headless JACK server
(`jackd -d dummy`) under a unique name, `LinkHut` starts LinkHut against it,
sends keys and parses its latest status line.  Both are context managers
that kill their process on exit; every wait has a timeout.

Run `python tests/support/linkhut.py` (inside a private network namespace) for a
short self-check.
"""
import collections
import os
import pty
import re
import select
import shutil
import signal
import statistics
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

SHM = Path("/dev/shm")


def now_us():
    """Link's clock on Linux (CLOCK_MONOTONIC_RAW), in microseconds."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW) // 1000


def unavailable():
    """None when LinkHut and jackd can run here, else the reason why not."""
    missing = [p for p in ("LinkHut", "jackd") if shutil.which(p) is None]
    if missing:
        return (f"{' and '.join(missing)} not installed (Debian/Ubuntu: apt-get install "
                f"ableton-link-utils jackd2; scripts/setup.sh --test does it)")
    if not SHM.is_dir():
        return "no /dev/shm for the JACK server"
    return None


def _kill(proc, sig=signal.SIGTERM, timeout=5.0):
    """Stop proc (started by us) and reap it; SIGKILL when it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass


class Jack:
    """A headless JACK server (dummy driver) with a unique name."""

    def __init__(self, timeout=10.0):
        self.name = f"aalink-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.timeout = timeout
        self.proc = None

    @property
    def env(self):
        """Environment for JACK clients: our server, never an auto-started one."""
        return dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")

    def start(self):
        self.proc = subprocess.Popen(
            ["jackd", "--no-realtime", "-n", self.name, "-d", "dummy",
             "-r", "48000", "-p", "512"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        r = subprocess.run(["jack_wait", "-w", "-s", self.name, "-t", str(int(self.timeout))],
                           env=self.env, capture_output=True, text=True,
                           timeout=self.timeout + 5)
        if r.returncode != 0 or self.proc.poll() is not None:
            err = self.stop()
            raise RuntimeError(f"jackd did not start: {r.stdout}{r.stderr}{err}")
        return self

    def stop(self):
        """Stop the server; returns what it wrote on stderr."""
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        _kill(proc)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        # Whatever JACK or a killed client left behind under our server's
        # name, and the shared registry when no other server remains.
        for leftover in [*SHM.glob(f"jack_{self.name}_*"), *SHM.glob(f"jack_sem.*_{self.name}_*")]:
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else \
                leftover.unlink(missing_ok=True)
        if not any(SHM.glob("jack_*")):
            try:
                (SHM / "jack-shm-registry").unlink()
            except OSError:
                pass
        return err

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@dataclass(frozen=True)
class State:
    """One status line of LinkHut, with the Link clock time it was read at."""
    enabled: bool
    peers: int
    quantum: float
    start_stop_sync: bool
    playing: bool
    tempo: float
    beats: float
    metro: str
    read_us: int  # our Link clock (CLOCK_MONOTONIC_RAW) when the line arrived

    @property
    def phase(self):
        return self.beats % self.quantum


_LINE = re.compile(
    r"(yes|no)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*(yes|no)\s*\[(playing|stopped)\]\s*\|"
    r"\s*([\d.]+)\s*\|\s*(-?[\d.]+)\s*\|\s*([XO]+)")


def parse_line(text, read_us=0):
    """A State from one status line, or None when it is not one."""
    m = _LINE.search(text)
    if not m:
        return None
    en, peers, q, sss, play, tempo, beats, metro = m.groups()
    return State(en == "yes", int(peers), float(q), sss == "yes", play == "playing",
                 float(tempo), float(beats), metro, read_us)


class LinkHut:
    """LinkHut on a pty: send keys, read its latest state."""

    def __init__(self, env, history=4000):
        self.env = env
        self.proc = None
        self.master = None
        self.states = collections.deque(maxlen=history)
        self.output = collections.deque(maxlen=200)  # raw chunks, for diagnostics
        self._thread = None
        self._cond = threading.Condition()

    # -- process --
    def start(self, timeout=10.0):
        master, slave = pty.openpty()
        try:
            self.proc = subprocess.Popen(["LinkHut"], stdin=slave, stdout=slave, stderr=slave,
                                         env=self.env, start_new_session=True, close_fds=True)
        except Exception:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.master = master
        self._thread = threading.Thread(target=self._read, name="linkhut-reader", daemon=True)
        self._thread.start()
        if self.wait_for(lambda s: True, timeout) is None:
            out = self.text()
            self.close()
            raise RuntimeError(f"LinkHut printed no state within {timeout} s: {out[-500:]!r}")
        return self

    def _read(self):
        pending = b""
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.2)
                if not ready:
                    if self.proc.poll() is not None:
                        break
                    continue
                chunk = os.read(self.master, 65536)
            except (OSError, ValueError):
                break  # EIO once LinkHut exits, EBADF after close()
            if not chunk:
                break
            t = now_us()
            self.output.append(chunk)
            pending += chunk
            *lines, pending = re.split(rb"[\r\n]", pending)
            parsed = [parse_line(x.decode(errors="replace"), t) for x in lines]
            parsed = [s for s in parsed if s]
            if parsed:
                with self._cond:
                    self.states.extend(parsed)
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def text(self):
        return b"".join(self.output).decode(errors="replace")

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        """Quit LinkHut (q, else SIGKILL) if it still runs; release the pty."""
        if self.running:
            try:
                self.quit(timeout=2.0)
            except OSError:
                pass
        if self.proc is not None:
            _kill(self.proc, signal.SIGKILL)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.master is not None:
            try:
                os.close(self.master)
            except OSError:
                pass
            self.master = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- reading --
    @property
    def state(self):
        """The latest state (None before the first line)."""
        with self._cond:
            return self.states[-1] if self.states else None

    def wait_for(self, predicate, timeout=5.0, after_us=None):
        """Wait for a state (read after after_us) satisfying predicate; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                s = self.states[-1] if self.states else None
                if s is not None and (after_us is None or s.read_us > after_us) and predicate(s):
                    return s
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    return None
                self._cond.wait(min(left, 0.1))

    def fresh(self, timeout=2.0):
        """The first state read after now."""
        return self.wait_for(lambda s: True, timeout, after_us=now_us())

    def history(self, since_us=0):
        with self._cond:
            return [s for s in self.states if s.read_us >= since_us]

    def beat_at(self, t_us, window_us=150_000):
        """LinkHut's beat at Link time t_us, from the lines read around it.

        Each line is extrapolated to t_us at its tempo from the time we read
        it; the median of those estimates smooths LinkHut's two decimals and
        the pty's jitter.  Assumes the tempo was constant in the window."""
        near = [s for s in self.history(t_us - window_us) if s.read_us <= t_us + window_us]
        if not near:
            raise AssertionError("no LinkHut state near that time")
        return statistics.median(s.beats + (t_us - s.read_us) / 60e6 * s.tempo for s in near)

    # -- keys --
    def press(self, keys):
        os.write(self.master, keys.encode() if isinstance(keys, str) else keys)

    def _toggle(self, key, field, want, timeout):
        s = self.fresh()
        if s is not None and getattr(s, field) != want:
            self.press(key)
        return self.wait_for(lambda s: getattr(s, field) == want, timeout)

    def set_enabled(self, want=True, timeout=5.0):
        return self._toggle("a", "enabled", want, timeout)

    def set_start_stop_sync(self, want=True, timeout=5.0):
        return self._toggle("s", "start_stop_sync", want, timeout)

    def set_playing(self, want=True, timeout=5.0):
        return self._toggle(" ", "playing", want, timeout)

    # LinkHut polls its terminal about every 10 ms and drops keys typed
    # faster than that: space them out.
    KEY_GAP = 0.025

    def press_slowly(self, keys):
        for k in keys:
            self.press(k)
            time.sleep(self.KEY_GAP)

    def set_tempo(self, bpm, timeout=10.0):
        """Step the tempo with e/w (1 bpm a key) to the whole number bpm."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.fresh()
            if s is None:
                return None
            steps = round(bpm - s.tempo)
            if not steps:
                return s
            self.press_slowly(("e" if steps > 0 else "w") * abs(steps))
            got = self.wait_for(lambda s: abs(s.tempo - bpm) < 0.005, 0.3)
            if got is not None:
                return got
        return None

    def quit(self, timeout=5.0):
        """Press q; True when LinkHut exited by itself."""
        self.press("q")
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False


if __name__ == "__main__":
    problem = unavailable()
    if problem:
        raise SystemExit(problem)
    with Jack() as jack, LinkHut(jack.env) as hut:
        print("started:", hut.state)
        print("enabled:", hut.set_enabled(True))
        print("tempo 100:", hut.set_tempo(100))
        print("playing:", hut.set_playing(True))
        print("quit:", hut.quit())


def wrap(d, q=4.0):
    """d folded into [-q/2, q/2): the difference of two phases."""
    return (d + q / 2) % q - q / 2


def our_beat_at(link, t_us):
    """An aalink Link's beat at Link time t_us (constant tempo since then)."""
    b, n = link.beat, now_us()
    return b - (n - t_us) / 60e6 * link.tempo


def phase_error_ms(link, hut, t_us, quantum=4.0):
    """How far our phase (quantum 4) is ahead of LinkHut's at t_us, in ms."""
    d = wrap(our_beat_at(link, t_us) - hut.beat_at(t_us), quantum)
    return d * 60e3 / link.tempo


async def wait_joined(link, hut, timeout=10.0):
    """Wait until our Link and LinkHut each see one peer; assert it."""
    import asyncio
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = hut.state
        if link.num_peers == 1 and s is not None and s.peers == 1:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not connected: ours {link.num_peers} peers, LinkHut {hut.state}")


# ---- pytest fixtures: import them into a test module to use them ----
try:
    import pytest
except ImportError:  # the self-check above needs no pytest
    pytest = None

if pytest is not None:
    REQUIRE = "AALINK_REQUIRE_LINKHUT"

    @pytest.fixture(scope="module")
    def jack():
        """A JACK server for LinkHut; the module skips, with the reason, without one."""
        problem = unavailable()
        if problem:
            if os.environ.get(REQUIRE) == "1":
                pytest.fail(f"LinkHut tests cannot run: {problem}", pytrace=False)
            import warnings
            warnings.warn(f"LinkHut tests skipped: {problem}", stacklevel=2)
            pytest.skip(f"LinkHut tests skipped: {problem}")
        server = Jack().start()
        yield server
        server.stop()

    @pytest.fixture
    def linkhut(jack):
        """A fresh LinkHut (Link disabled, 120 bpm, quantum 4), killed after the test."""
        hut = LinkHut(jack.env).start()
        yield hut
        hut.close()

    @pytest.fixture
    def linkhut_on(linkhut):
        """LinkHut with Link enabled."""
        assert linkhut.set_enabled(True), linkhut.text()[-500:]
        return linkhut
