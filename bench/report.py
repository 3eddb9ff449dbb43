"""Table (markdown) and plot of one benchmark run saved by bench/driver.py.

    python bench/report.py bench/results/latest.json [--markdown out.md]
                           [--plot docs/bench.png | --no-plot]

Each cell is the median, over the rounds of the run, of the statistic of each
run (a run = one subprocess); "max" rows take the worst run instead.  Where
every run kept its samples (1 coroutine, busy loop: a few hundred samples per
run), the lateness percentiles are those of all the rounds' samples pooled.  The
plot needs matplotlib (bench/run.sh uses .venv-published, where it is).
"""

import argparse
import json
import statistics
import sys
from collections import defaultdict

LAT_LOADS = [
    ("lat1", "1 coroutine"),
    ("lat1000", "1,000 coroutines"),
    ("lat10000", "10,000 coroutines"),
]
# The loaded machine: 2 x cores busy processes during the run (bench/driver.py).
LOADED_LOADS = [
    ("loaded1", "loaded machine, 1 coroutine"),
    ("loaded1000", "loaded machine, 1,000 coroutines"),
]
COLUMNS = [  # (key, header)
    (("published", "asyncio"), "aalink 0.2.3"),
    (("port", "asyncio"), "port"),
    ("ratio", "0.2.3 / port"),
    (("port_rt", "asyncio"), "port, real-time"),
    (("baseline", "asyncio"), "port @ {base}"),
    ("base_ratio", "{base} / port"),
    (("port", "uvloop"), "port, uvloop"),
    (("baseline", "uvloop"), "{base}, uvloop"),
    (("port", "relay"), "port, relay"),
    (("baseline", "relay"), "{base}, relay"),
    (("published", "uvloop"), "0.2.3, uvloop"),
    (("floor", "asyncio"), "asyncio floor"),
    (("floor", "uvloop"), "floor, uvloop"),
    (("machine", "rtfloor"), "machine floor"),
]


def load_runs(path):
    with open(path) as f:
        data = json.load(f)
    by = defaultdict(list)  # (impl, loop, load) -> [result]
    for r in data["runs"]:
        if r["ok"]:
            by[(r["impl"], r["loop"], r["load"])].append(r["result"])
    return data["meta"], data["runs"], by


def fmt_ms(x):
    if x is None:
        return "—"
    if x < 0:
        return "−" + fmt_ms(-x)
    if x >= 1000:
        return f"{x / 1000:.1f} s"
    if x >= 100:
        return f"{x:.0f} ms"
    if x >= 10:
        return f"{x:.1f} ms"
    if x >= 1:
        return f"{x:.2f} ms"
    return f"{x:.3f} ms"


def fmt_pct(x, digits=1):
    return "—" if x is None else f"{x:.{digits}f} %"


def fmt_ratio(a, b):
    if a is None or b is None or b <= 0:
        return "—"
    r = a / b
    return f"{r:.0f}×" if r >= 10 else f"{r:.1f}×"


class Row:
    def __init__(
        self,
        label,
        load,
        get,
        agg="median",
        fmt=fmt_ms,
        ratio=True,
        floor=False,
        stat=None,
        machine=False,
    ):
        self.label, self.load, self.get, self.agg, self.fmt = label, load, get, agg, fmt
        self.ratio, self.floor, self.stat = ratio, floor, stat
        # The machine floor (bench/rtfloor.c): one SCHED_FIFO wake-up per grid point.
        self.machine = machine

    def value(self, by, impl, loop):
        results = by.get((impl, loop, self.load), [])
        if self.stat:
            p = pooled(results, self.stat)
            if p is not None:
                return p
        vals = [self.get(r) for r in results]
        vals = [v for v in vals if v is not None]
        if not vals:
            return None
        return max(vals) if self.agg == "max" else statistics.median(vals)


def lat(stat):
    return lambda r: r["lateness_ms"][stat]


POOLED = {"median": 0.5, "p99": 0.99}


def pooled(results, stat):
    """Percentile `stat` of every run's samples together, or None if a run kept none."""
    if stat not in POOLED or not results or any(not r["lateness_ms"].get("raw") for r in results):
        return None
    v = sorted(x for r in results for x in r["lateness_ms"]["raw"])
    return v[min(len(v) - 1, int(POOLED[stat] * len(v)))]


def busy_delivered(r):
    return 100.0 * r["delivered_fraction"]


def rows():
    out = []
    for load, name in LAT_LOADS:
        m = load == "lat1"
        out.append(
            Row(
                f"{name}: median lateness",
                load,
                lat("median"),
                floor=True,
                stat="median",
                machine=m,
            )
        )
        out.append(
            Row(f"{name}: p99 lateness", load, lat("p99"), floor=True, stat="p99", machine=m)
        )
    for load, name in LOADED_LOADS:
        m = load == "loaded1"
        out.append(Row(f"{name}: median lateness", load, lat("median"), stat="median", machine=m))
        out.append(Row(f"{name}: p99 lateness", load, lat("p99"), stat="p99", machine=m))
        out.append(
            Row(f"{name}: max lateness (worst run)", load, lat("max"), agg="max", machine=m)
        )
    out.append(
        Row(
            "10,000: grid points delivered",
            "lat10000",
            lambda r: 100.0 * r["delivered_fraction"],
            fmt=fmt_pct,
            ratio=False,
        )
    )
    out.append(
        Row(
            "10,000: drift of median lateness, last third − first third",
            "lat10000",
            lambda r: r.get("drift_ms"),
            ratio=False,
        )
    )
    out.append(
        Row(
            "10,000: CPU of the process",
            "lat10000",
            lambda r: r.get("cpu_percent"),
            fmt=fmt_pct,
            ratio=False,
        )
    )
    out.append(
        Row(
            "10,000: time in garbage collection, % of the run",
            "lat10000",
            lambda r: r.get("gc_percent"),
            fmt=fmt_pct,
            ratio=False,
            floor=True,
        )
    )
    out.append(
        Row(
            "idle: CPU, % of a core",
            "idle",
            lambda r: r["cpu_percent"],
            fmt=lambda x: fmt_pct(x, 3),
        )
    )
    out.append(
        Row(
            "idle: thread wake-ups (context switches) per s",
            "idle",
            lambda r: r.get("switches_per_s"),
            fmt=lambda x: "—" if x is None else f"{x:.0f}",
        )
    )
    out.append(
        Row("busy loop (4 ms callbacks): max lateness (worst run)", "busy", lat("max"), agg="max")
    )
    out.append(Row("busy loop: median lateness", "busy", lat("median"), stat="median"))
    out.append(
        Row(
            "busy loop: grid points delivered in time (worst run)",
            "busy",
            busy_delivered,
            agg="min",
            fmt=fmt_pct,
            ratio=False,
        )
    )
    return out


# Ratio columns: (numerator, denominator) implementation, on asyncio.
RATIOS = {"ratio": ("published", "port"), "base_ratio": ("baseline", "port")}


def table(meta, by):
    present = [
        c
        for c in COLUMNS
        if (c[0] in RATIOS and all(by_has(by, (i, "asyncio")) for i in RATIOS[c[0]]))
        or (c[0] not in RATIOS and by_has(by, c[0]))
    ]
    base = meta.get("baseline_commit") or "baseline"
    lines = [
        "| measure | " + " | ".join(h.format(base=base) for _, h in present) + " |",
        "|---|" + "---|" * len(present),
    ]
    for row in rows():
        cells = []
        for key, _ in present:
            if key in RATIOS:
                num, den = RATIOS[key]
                cells.append(
                    fmt_ratio(row.value(by, num, "asyncio"), row.value(by, den, "asyncio"))
                    if row.ratio
                    else ""
                )
            elif (key[0] == "floor" and not row.floor) or (key[0] == "machine" and not row.machine):
                cells.append("")
            else:
                v = row.value(by, *key)
                if row.agg == "min" and v is None:
                    cells.append("—")
                    continue
                if row.agg == "min":
                    vals = [busy_delivered(r) for r in by.get((key[0], key[1], row.load), [])]
                    v = min(vals) if vals else None
                text = row.fmt(v)
                if row.load == "busy" and row.agg == "min" and v is not None and v < 50:
                    text += " (starved)"
                cells.append(text)
        if all(c in ("", "—") for c in cells):
            continue  # a load that was not run
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def by_has(by, key):
    return any(k[0] == key[0] and k[1] == key[1] for k in by)


def caption(meta, runs):
    impls = meta["implementations"]
    parts = [
        f"{meta['mode']} run of {meta['started']}, {meta['rounds']} round(s) on asyncio"
        f", {meta['uvloop_rounds']} on uvloop"
        + (
            f" and {meta['relay_rounds']} of the port on a loop without add_reader (relay)"
            if meta.get("relay_rounds")
            else ""
        )
        + ", alternating A/B in one private network namespace;",
        (
            "240 bpm, coroutines looping `await link.sync(1/4)`; "
            "lateness = `link.beat` after resuming − target;"
        ),
        f"{meta['durations_s']['lateness']:g} s per lateness run, "
        f"{meta['durations_s']['idle']:g} s idle,"
        f" {meta['durations_s']['busy']:g} s busy loop; port at commit {meta['git_commit']}"
        + (" plus uncommitted changes to its sources" if meta.get("port_sources_modified") else "")
        + ";",
        (
            f"{meta['cpus']} CPUs ({meta['machine']}); "
            f"load average {meta['loadavg_start'][0]:.2f} at start,"
            f" {meta['loadavg_end'][0]:.2f} at end"
        ),
    ]
    other = meta.get("other_load_cores")
    if other is not None:
        parts[-1] += f"; other processes used {other:.2f} core(s) on average during the run"
        if other > 0.2:
            parts[-1] += " — A LOADED MACHINE: absolute numbers are noisy, compare ratios"
    parts[-1] += "."
    if "published" not in impls:
        parts.append("aalink 0.2.3 could not be installed: the port only.")
    if "baseline" in impls:
        parts.append(
            f"port @ {meta.get('baseline_commit') or 'baseline'}: a second build of the port,"
            f" from that commit, measured in the same rounds."
        )
    failed = [r for r in runs if not r["ok"]]
    if failed:
        parts.append(
            f"{len(failed)} run(s) failed: "
            + "; ".join(f"{r['impl']}/{r['loop']}/{r['load']}" for r in failed)
            + "."
        )
    if any(r["impl"] == "port_rt" for r in runs):
        refused = sum(
            1
            for r in runs
            if r["ok"] and r["impl"] == "port_rt" and not r["result"].get("realtime")
        )
        parts.append(
            "port, real-time: Link(..., realtime=True) (SCHED_FIFO 10 on the scheduler and"
            " loop threads)"
            + (f"; REFUSED in {refused} run(s) (normal priority there)." if refused else ".")
        )
    if meta.get("hogs"):
        parts.append(
            f"loaded machine: {meta['hogs']} busy processes (`while True: pass`, normal"
            " priority) during the run, asyncio's loop only."
        )
    machine = [r["result"] for r in runs if r["ok"] and r["impl"] == "machine"]
    if machine:
        steal = [r["steal_ms"] for r in machine if r.get("steal_ms", -1) >= 0]
        parts.append(
            "machine floor: bench/rtfloor.c, one thread at SCHED_FIFO"
            f" {machine[0].get('priority', 10)} sleeping to an absolute deadline every 1/4 beat"
            " (62.5 ms) under the same load, no Python and no Link: its lateness is the"
            " machine's own"
            + (
                f"; hypervisor steal time during those runs: {max(steal):.0f} ms at most."
                if steal
                else "."
            )
        )
    early = sum(r["result"].get("early", 0) for r in runs if r["ok"])
    if early:
        parts.append(f"WARNING: {early} resume(s) happened before their beat.")
    return "\n".join(parts)


def plot(meta, by, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    styles = {
        ("published", "asyncio"): ("aalink 0.2.3", "tab:red", "-"),
        ("port", "asyncio"): ("port", "tab:blue", "-"),
        ("published", "uvloop"): ("aalink 0.2.3, uvloop", "tab:red", ":"),
        ("port", "uvloop"): ("port, uvloop", "tab:blue", ":"),
        ("baseline", "asyncio"): (
            f"port @ {meta.get('baseline_commit') or 'baseline'}",
            "tab:green",
            "-.",
        ),
        ("floor", "asyncio"): ("asyncio floor (no Link)", "0.45", "--"),
        ("floor", "uvloop"): ("uvloop floor (no Link)", "0.65", ":"),
    }
    panels = LAT_LOADS + [("busy", "busy loop (4 ms callbacks), 1 coroutine")]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, (load, title) in zip(axes.flat, panels):
        for key, (label, color, ls) in styles.items():
            results = by.get((key[0], key[1], load), [])
            curves = [np.array(r["lateness_ms"]["cdf"]) for r in results if r["lateness_ms"]["cdf"]]
            if not curves:
                continue
            # Mixture of the runs (equal weight): mean of their CDFs.
            xs = np.unique(np.concatenate([c[:, 1] for c in curves]))
            xs = np.clip(xs, 1e-3, None)
            cdf = np.mean(
                [
                    np.interp(xs, np.clip(c[:, 1], 1e-3, None), c[:, 0], left=0.0, right=1.0)
                    for c in curves
                ],
                axis=0,
            )
            exceed = np.clip(1.0 - cdf, 1e-4, 1.0)
            ax.step(xs, exceed, where="post", color=color, ls=ls, lw=1.8, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-4, 1.2)
        ax.set_title(title)
        ax.set_xlabel("lateness (ms, log)")
        ax.set_ylabel("fraction of resumes later than x")
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8, loc="lower left")

    ax = axes.flat[4]  # idle CPU
    keys = [
        k
        for k in [
            ("published", "asyncio"),
            ("port", "asyncio"),
            ("published", "uvloop"),
            ("port", "uvloop"),
        ]
        if by.get((k[0], k[1], "idle"))
    ]
    vals = [statistics.median(r["cpu_percent"] for r in by[(k[0], k[1], "idle")]) for k in keys]
    ax.bar(range(len(keys)), vals, color=[styles[k][1] for k in keys], alpha=0.85)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([styles[k][0].replace(", ", "\n") for k in keys], fontsize=8)
    ax.set_ylabel("% of a core")
    ax.set_title("idle CPU (Link enabled, one far-away sync)")
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.3f} %", ha="center", va="bottom", fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)

    ax = axes.flat[5]
    ax.axis("off")
    note = (
        "aalink C port vs aalink 0.2.3 (PyPI)\n240 bpm, coroutines looping\n"
        "`b = await link.sync(1/4)`\n"
        f"lateness = link.beat after resuming − b\n\n{meta['mode']} run, {meta['started']}\n"
        f"{meta['cpus']} CPUs; other load {meta.get('other_load_cores', float('nan')):.2f} cores\n"
        f"port at {meta['git_commit']}"
        + (" (+ local changes)" if meta.get("port_sources_modified") else "")
        + "\n\nabsolute numbers are machine-dependent:\ncompare curves within one run"
    )
    ax.text(0.02, 0.95, note, va="top", family="monospace", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("results")
    ap.add_argument("--markdown", help="also write the table and its caption to this file")
    ap.add_argument("--plot", help="write the PNG plot here")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()
    meta, runs, by = load_runs(args.results)
    text = table(meta, by) + "\n\n" + caption(meta, runs) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.plot and not args.no_plot:
        try:
            plot(meta, by, args.plot)
            print(f"plot: {args.plot}", file=sys.stderr)
        except ImportError as e:
            print(f"no plot ({e})", file=sys.stderr)


if __name__ == "__main__":
    main()
