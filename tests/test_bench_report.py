"""bench/report.py: a second build of the port (bench/run.sh --baseline REF)
gets its own columns and its ratio to the port, computed from the runs."""
import importlib.util
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_report():
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lateness_run(median, p99):
    return {"lateness_ms": {"median": median, "p99": p99, "max": p99, "n": 100, "cdf": []}}


def cells(table, label):
    line = next(line for line in table.splitlines() if line.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_baseline_columns_and_ratio():
    report = load_report()
    by = defaultdict(list)
    by[("port", "asyncio", "lat1")] += [lateness_run(0.04, 0.2), lateness_run(0.06, 0.4)]
    by[("baseline", "asyncio", "lat1")] += [lateness_run(0.10, 1.0), lateness_run(0.10, 0.6)]
    by[("published", "asyncio", "lat1")] += [lateness_run(1.0, 3.0)]
    table = report.table({"baseline_commit": "abc1234"}, by)
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")][1:]
    assert header == ["aalink 0.2.3", "port", "0.2.3 / port", "port @ abc1234", "abc1234 / port"]
    median = cells(table, "1 coroutine: median lateness")
    # Medians over the runs: port 0.05, baseline 0.10 -> 2.0x; published 1.0 -> 20x.
    assert median == ["1.00 ms", "0.050 ms", "20×", "0.100 ms", "2.0×"]
    assert cells(table, "1 coroutine: p99 lateness")[3:] == ["0.800 ms", "2.7×"]


def test_no_baseline_no_baseline_columns():
    report = load_report()
    by = defaultdict(list)
    by[("port", "asyncio", "lat1")].append(lateness_run(0.05, 0.2))
    table = report.table({}, by)
    assert "@" not in table.splitlines()[0] and "/ port" not in table


def test_machine_floor_column_only_on_its_rows():
    report = load_report()
    by = defaultdict(list)
    by[("port_rt", "asyncio", "loaded1")].append(lateness_run(0.04, 0.2))
    by[("port_rt", "asyncio", "lat1")].append(lateness_run(0.03, 0.1))
    by[("port_rt", "asyncio", "loaded1000")].append(lateness_run(1.0, 2.0))
    by[("machine", "rtfloor", "loaded1")] += [lateness_run(0.02, 0.3), lateness_run(0.02, 0.9)]
    by[("machine", "rtfloor", "lat1")].append(lateness_run(0.01, 0.05))
    table = report.table({}, by)
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")][1:]
    assert header == ["port, real-time", "machine floor"]
    assert cells(table, "loaded machine, 1 coroutine: max lateness (worst run)") == [
        "0.200 ms",
        "0.900 ms",
    ]
    assert cells(table, "1 coroutine: median lateness") == ["0.030 ms", "0.010 ms"]
    assert cells(table, "loaded machine, 1,000 coroutines: p99 lateness") == ["2.00 ms", ""]
