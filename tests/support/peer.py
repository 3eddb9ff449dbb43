"""A Link peer in its own process, for the multi-process tests.

    python peer.py serve [BPM]        JSON-lines server on stdin/stdout
    python peer.py join BPM [WAIT]    the seed's pattern: Link(BPM, loop),
                                      enabled = True at once, wait for a peer
                                      (at most WAIT s), print one JSON line, exit

`serve` commands (one JSON object a line, each answered by one line):
    {"cmd": "enable", "value": true}   {"cmd": "tempo", "value": 133}
    {"cmd": "quantum", "value": 4}     {"cmd": "state"}
    {"cmd": "sync", "beat": 1, "count": 4}  -> resumes: [[grid, time_us, beat], ...]
    {"cmd": "quit"}
`Peer` (below) runs one, optionally under a command prefix such as
`ip netns exec NAME`, and talks to it with a timeout on every request.
"""
import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def now_us():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW) // 1000


def state_of(link):
    # The beat's time is the middle of two clock reads around it alone; a
    # reading stretched past 1 ms (the thread was preempted) is taken again.
    for _ in range(5):
        t0 = now_us()
        beat = link.beat
        t1 = now_us()
        if t1 - t0 <= 1000:
            break
    phase, tempo = link.phase, link.tempo
    return {"peers": link.num_peers, "tempo": tempo, "beat": beat, "phase": phase,
            "time_us": (t0 + t1) // 2, "enabled": link.enabled, "playing": link.playing,
            "quantum": link.quantum}


async def serve(bpm):
    from aalink import Link

    loop = asyncio.get_running_loop()
    link = Link(bpm, loop)
    lines = asyncio.Queue()

    def reader():
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, "")

    threading.Thread(target=reader, daemon=True).start()
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    while True:
        line = await lines.get()
        if not line:
            break
        req = json.loads(line)
        cmd = req["cmd"]
        reply = {"ok": True}
        if cmd == "enable":
            link.enabled = bool(req["value"])
        elif cmd == "tempo":
            link.tempo = float(req["value"])
        elif cmd == "quantum":
            link.quantum = float(req["value"])
        elif cmd == "state":
            reply.update(state_of(link))
        elif cmd == "sync":
            out = []
            for _ in range(int(req.get("count", 1))):
                grid = await link.sync(req.get("beat", 1))
                t = now_us()
                out.append([grid, t, link.beat])
            reply["resumes"] = out
        elif cmd == "quit":
            print(json.dumps(reply), flush=True)
            break
        else:
            reply = {"ok": False, "error": f"unknown command {cmd!r}"}
        print(json.dumps(reply), flush=True)
    link.close()


async def join_once(bpm, wait):
    from aalink import Link

    loop = asyncio.get_running_loop()
    link = Link(bpm, loop)  # the seed's pattern, verbatim
    link.enabled = True
    deadline = loop.time() + wait
    while link.num_peers < 1 and loop.time() < deadline:  # noqa: ASYNC110  (no event: polls Link)
        await asyncio.sleep(0.005)
    joined = loop.time()
    # Let the session settle (measurement, tempo) before reporting.
    await asyncio.sleep(max(0.0, min(deadline, joined + 0.25) - loop.time()))
    print(json.dumps({"peers": link.num_peers, "tempo": link.tempo}), flush=True)
    link.close()


class Peer:
    """A `peer.py serve` process; every request has a timeout."""

    def __init__(self, bpm=120.0, prefix=(), env=None, timeout=10.0):
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, os.path.join(HERE, "peer.py"), "serve", str(bpm)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env, start_new_session=True)
        self._lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self._next(timeout)
        if not first.get("ready"):
            raise RuntimeError(f"peer did not start: {first}")

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next(self, timeout):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"peer {self.proc.pid} did not answer in {timeout} s") from None
        if line is None:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError(f"peer {self.proc.pid} exited: {err[-2000:]}")
        return json.loads(line)

    def send(self, cmd, **kw):
        """Send a request without waiting; receive() gets the answer."""
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout=None):
        reply = self._next(timeout or self.timeout)
        if not reply.get("ok"):
            raise RuntimeError(f"peer refused: {reply}")
        return reply

    def request(self, cmd, timeout=None, **kw):
        self.send(cmd, **kw)
        return self.receive(timeout)

    def state(self):
        return self.request("state")

    def close(self):
        """Ask the peer to quit; kill it if it does not within a few seconds."""
        if self.proc.poll() is None:
            try:
                self.request("quit", timeout=5)
                self.proc.wait(timeout=5)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass


def beat_at(state, t_us):
    """A peer's beat at Link time t_us, from one of its states."""
    return state["beat"] + (t_us - state["time_us"]) / 60e6 * state["tempo"]


def wait_all(predicate, peers, timeout=10.0, interval=0.05):
    """Poll every peer's state until predicate(states) holds; return the states."""
    deadline = time.monotonic() + timeout
    while True:
        states = [p.state() for p in peers]
        if predicate(states) or time.monotonic() > deadline:
            return states
        time.sleep(interval)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "serve":
        asyncio.run(serve(float(sys.argv[2]) if len(sys.argv) > 2 else 120.0))
    elif mode == "join":
        asyncio.run(join_once(float(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 3.0))
    else:
        raise SystemExit(__doc__)
