"""Run every benchmark workload for both implementations, alternating, and save JSON.

Runs inside ONE private network namespace (bench/run.sh starts it with
scripts/in-private-netns).  Each measurement is a fresh subprocess:
`<venv>/bin/python bench/workloads.py ...`, where the venv decides which
aalink is measured (.venv: the port; .venv-published: aalink 0.2.3; with
--baseline-python, a second build of the port from another commit).  They
alternate A/B, B/A, A/B... round after round, so slow drifts of the
machine's load hit both alike.  The plain-asyncio floor (bench/floor.py)
runs at the start of each round.

The "loaded machine" loads (loaded1, loaded1000: 1 and 1,000 coroutines)
run the lateness workload while 2 x cores busy processes (`while True:
pass`, normal priority) compete for every core.  The port also runs in its
real-time mode (column "port, real-time": Link(..., realtime=True)) on the
asyncio loop, for the loads its goals are about (lat1, lat1000, loaded1,
loaded1000, idle).

The machine floor (--rtfloor, bench/rtfloor.c, built by bench/run.sh): a
C thread at SCHED_FIFO 10 sleeping to an absolute deadline every 1/4 beat,
under the same load as lat1 and loaded1 (column "machine floor"): how late
this machine wakes a real-time thread at all, with no Python and no Link.

    python bench/driver.py --port-python .venv/bin/python \
        [--published-python .venv-published/bin/python]
        [--baseline-python .bench-baseline/<commit>/.venv/bin/python
         --baseline-commit <commit>] [--quick] [options]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

from stats import summarize

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOADS = ["lat1", "lat1000", "lat10000", "idle", "busy", "loaded1", "loaded1000"]
REALTIME_LOADS = {"lat1", "lat1000", "loaded1", "loaded1000", "idle"}
HOG = "while True: pass"
FLOOR_NS = [1, 1000, 10000]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def has_module(python, module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def cpu_times():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def git(*args):
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return ""


def workload_cmd(python, load, loop, cfg, realtime=False):
    cmd = [python, os.path.join(HERE, "workloads.py")] + (["--realtime"] if realtime else [])
    if load.startswith("lat"):
        cmd += ["lateness", "--n", load[3:], "--duration", str(cfg.duration)]
    elif load.startswith("loaded"):
        cmd += ["lateness", "--n", load[6:], "--duration", str(cfg.duration)]
    elif load == "idle":
        cmd += ["idle", "--duration", str(cfg.idle_duration)]
    else:
        cmd += ["busy", "--duration", str(cfg.busy_duration)]
    return cmd + ["--loop", loop]


class Hogs:
    """`n` busy processes at normal priority for the duration of a `with`."""

    def __init__(self, n):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(self.n)]
        time.sleep(0.5)  # let them take the cores
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def run_one(cmd, timeout, hogs=0):
    if hogs:
        with Hogs(hogs):
            return run_one(cmd, timeout)
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s", "wall_s": timeout}
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"ok": False, "error": (p.stderr or p.stdout)[-2000:], "wall_s": wall}
    try:
        return {"ok": True, "result": json.loads(p.stdout.strip().splitlines()[-1]), "wall_s": wall}
    except (ValueError, IndexError):
        return {"ok": False, "error": "no JSON: " + (p.stdout + p.stderr)[-2000:], "wall_s": wall}


def brief(rec):
    if not rec["ok"]:
        return (
            "FAILED: " + rec["error"].strip().splitlines()[-1] if rec["error"].strip() else "FAILED"
        )
    r = rec["result"]
    if "cpu_percent" in r and "lateness_ms" not in r:
        return f"CPU {r['cpu_percent']:.3f} % of a core, {r['switches_per_s']:.0f} switches/s"
    s = r["lateness_ms"]
    if s["n"] == 0:
        return "no samples"
    text = f"median {s['median']:.3f} ms, p99 {s['p99']:.3f} ms, max {s['max']:.1f} ms"
    if r.get("delivered_fraction") is not None:
        text += f", delivered {100 * r['delivered_fraction']:.1f} %"
    return text


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--port-python", required=True)
    ap.add_argument(
        "--published-python", help="python of the venv with aalink 0.2.3 (omit when unavailable)"
    )
    ap.add_argument(
        "--baseline-python",
        help="python of a venv with the port built from another commit (bench/setup_baseline.sh)",
    )
    ap.add_argument("--baseline-commit", default="", help="that commit, for the report")
    ap.add_argument("--quick", action="store_true", help="one short round (about 2 minutes)")
    ap.add_argument("--rounds", type=int, help="A/B rounds on asyncio (full: 3, quick: 1)")
    ap.add_argument(
        "--uvloop-rounds", type=int, help="A/B rounds on uvloop (full: 2, quick: 1; 0: none)"
    )
    ap.add_argument("--no-uvloop", action="store_true", help="same as --uvloop-rounds 0")
    ap.add_argument(
        "--relay-rounds",
        type=int,
        help="rounds of the port on a loop without add_reader (full: 2, quick: 1; 0: none)",
    )
    ap.add_argument(
        "--duration", type=float, help="measured seconds per lateness run (full 5, quick 2)"
    )
    ap.add_argument(
        "--idle-duration", type=float, help="measured seconds of the idle run (full 5, quick 2)"
    )
    ap.add_argument(
        "--busy-duration", type=float, help="seconds of the busy loop (full 10, quick 4)"
    )
    ap.add_argument("--loads", default=",".join(LOADS), help="comma list of " + ",".join(LOADS))
    ap.add_argument("--no-floor", action="store_true", help="skip the plain-asyncio floor")
    ap.add_argument(
        "--rtfloor",
        help="the machine-floor program (bench/rtfloor.c, built): runs with lat1 and loaded1",
    )
    ap.add_argument("--out", required=True, help="JSON file to write")
    cfg = ap.parse_args()

    quick = cfg.quick
    cfg.rounds = cfg.rounds if cfg.rounds is not None else (1 if quick else 3)
    if cfg.uvloop_rounds is None:
        cfg.uvloop_rounds = 1 if quick else 2
    if cfg.no_uvloop:
        cfg.uvloop_rounds = 0
    if cfg.relay_rounds is None:
        cfg.relay_rounds = 1 if quick else 2
    cfg.duration = cfg.duration or (2.0 if quick else 5.0)
    cfg.idle_duration = cfg.idle_duration or (2.0 if quick else 5.0)
    cfg.busy_duration = cfg.busy_duration or (4.0 if quick else 10.0)
    loads = [x for x in cfg.loads.split(",") if x]
    for x in loads:
        if x not in LOADS:
            sys.exit(f"unknown load {x!r}; choose from {','.join(LOADS)}")

    impls = {"port": cfg.port_python, "port_rt": cfg.port_python}
    if cfg.published_python:
        impls["published"] = cfg.published_python
    if cfg.baseline_python:
        impls["baseline"] = cfg.baseline_python
    loops_of = {}
    for name, py in impls.items():
        loops_of[name] = ["asyncio"] + (
            ["uvloop"]
            if cfg.uvloop_rounds and has_module(py, "uvloop") and name != "port_rt"
            else []
        )
    floor_loops = list(loops_of["port"])
    if cfg.relay_rounds:
        # The port's other delivery path (Windows' proactor loop takes it).
        for name in ("port", "baseline"):
            if name in loops_of:
                loops_of[name].append("relay")
    described = ", ".join("{} ({})".format(k, "+".join(v)) for k, v in loops_of.items())
    log(
        f"bench: implementations {described}; "
        f"{cfg.rounds} round(s) on asyncio, "
        f"{cfg.uvloop_rounds if 'uvloop' in floor_loops else 0} on uvloop"
    )
    if "published" not in impls:
        log("bench: aalink 0.2.3 is not available: measuring the port only")

    meta = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "mode": "quick" if quick else "full",
        "rounds": cfg.rounds,
        "uvloop_rounds": cfg.uvloop_rounds,
        "relay_rounds": cfg.relay_rounds,
        "durations_s": {
            "lateness": cfg.duration,
            "idle": cfg.idle_duration,
            "busy": cfg.busy_duration,
        },
        "bpm": 240,
        "step_beats": 0.25,
        "implementations": impls,
        "loops": loops_of,
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "baseline_commit": cfg.baseline_commit if cfg.baseline_python else None,
        "port_sources_modified": bool(
            git("status", "--porcelain", "--", "src", "link_shim", "setup.py")
        ),
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "loadavg_start": os.getloadavg(),
        "private_netns": bool(os.environ.get("AALINK_PRIVATE_NETNS")),
        "env": {k: v for k, v in os.environ.items() if k.startswith("AALINK_")},
        "hogs": 2 * (os.cpu_count() or 1),
    }
    runs = []
    cpu0 = cpu_times()
    t_start = time.perf_counter()

    def record(kind, impl, loop, load, rnd, cmd, timeout):
        rec = run_one(cmd, timeout, hogs=meta["hogs"] if load.startswith("loaded") else 0)
        if rec["ok"] and "samples_ms" in rec["result"]:  # the machine floor
            rec["result"]["lateness_ms"] = summarize(rec["result"].pop("samples_ms"))
        rec.update(kind=kind, impl=impl, loop=loop, load=load, round=rnd)
        runs.append(rec)
        log(
            f"  [{time.perf_counter() - t_start:5.0f} s] round {rnd + 1} "
            f"{impl:9s} {loop:7s} {load:9s} {brief(rec)}"
        )

    for rnd in range(cfg.rounds):
        loops = (
            ["asyncio"]
            + (["uvloop"] if rnd < cfg.uvloop_rounds else [])
            + (["relay"] if rnd < cfg.relay_rounds else [])
        )
        if not cfg.no_floor:
            for loop in loops:
                if loop not in floor_loops:
                    continue
                for n in FLOOR_NS:
                    if f"lat{n}" not in loads:
                        continue
                    cmd = [
                        cfg.port_python,
                        os.path.join(HERE, "floor.py"),
                        "--n",
                        str(n),
                        "--duration",
                        str(cfg.duration),
                        "--loop",
                        loop,
                    ]
                    record("floor", "floor", loop, f"lat{n}", rnd, cmd, cfg.duration + 60)
        if cfg.rtfloor:
            for load in ("lat1", "loaded1"):
                if load in loads:
                    cmd = [cfg.rtfloor, "--duration", str(cfg.duration), "--period-us", "62500"]
                    record("machine", "machine", "rtfloor", load, rnd, cmd, cfg.duration + 60)
        order = list(impls) if rnd % 2 == 0 else list(impls)[::-1]
        for load in loads:
            for loop in loops:
                for impl in order:
                    if loop not in loops_of[impl]:
                        continue
                    if load.startswith("loaded") and loop != "asyncio":
                        continue  # the loaded machine: asyncio's loop only
                    if impl == "port_rt" and load not in REALTIME_LOADS:
                        continue
                    cmd = workload_cmd(impls[impl], load, loop, cfg, realtime=impl == "port_rt")
                    record(
                        "link",
                        impl,
                        loop,
                        load,
                        rnd,
                        cmd,
                        120 + 2 * max(cfg.duration, cfg.busy_duration),
                    )

    cpu1 = cpu_times()
    meta["seconds"] = time.perf_counter() - t_start
    meta["loadavg_end"] = os.getloadavg()
    if cpu0 and cpu1 and cpu1[1] > cpu0[1]:
        meta["machine_busy_percent"] = 100.0 * (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1])
        # Cores kept busy by processes other than the bench, on average.
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy_s = (cpu1[0] - cpu0[0]) / os.sysconf("SC_CLK_TCK")
        meta["other_load_cores"] = max(0.0, (busy_s - ru.ru_utime - ru.ru_stime) / meta["seconds"])
    os.makedirs(os.path.dirname(os.path.abspath(cfg.out)), exist_ok=True)
    with open(cfg.out, "w") as f:
        json.dump({"meta": meta, "runs": runs}, f)
    failed = sum(1 for r in runs if not r["ok"])
    log(
        f"bench: {len(runs)} runs in {meta['seconds']:.0f} s ({failed} failed); "
        f"raw results in {cfg.out}"
    )


if __name__ == "__main__":
    main()
