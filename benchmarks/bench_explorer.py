"""Update latency of the what-if explorer, driven in-process through its widgets.

One "control change" is what happens when an analyst lets go of a slider: the widget's value
changes, the explorer builds the what-if site (:func:`riskkit.what_if`), simulates it at the
trials of the explorer (20,000 by default), recomputes the per-zone table and replaces the
data of both exceedance figures. The heavy results (SL-T, frontier, the budget's plan) are
debounced into a background thread and are not part of it; the script waits for them to finish
between two changes, so they do not slow the next measurement.

Baseline, timed in the same process and interleaved with the changes: one bare
``riskkit.simulate(site, 20000, seed)`` of the what-if site, the floor of any update (the
explorer must simulate once per change). Reported: the median latency [ms] of a change, the
median of the baseline [ms] and their ratio. The target is a median below 250 ms on the
project's 2-core machine.

Run:  python benchmarks/bench_explorer.py [--changes 40] [--trials 20000] [--site PATH]
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
from pathlib import Path

import riskkit
from riskkit.widgets import Explorer

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 250.0


def measure(site_path: Path, changes: int, trials: int) -> dict:
    ex = Explorer(site_path, trials=trials, background=True, debounce=0.05)
    ex.wait()
    sliders = [w for k, w in ex.controls.items() if k.startswith("actor:")]
    sliders += [ex.controls["consequence"], ex.controls["tolerance"]]
    values = [0.5, 2.0, 0.2, 5.0, 1.0]
    lat, floor = [], []
    for i in range(changes):
        w = sliders[i % len(sliders)]
        v = values[i % len(values)]
        if w.value == v:
            v = 3.0
        gc.collect()
        t0 = time.perf_counter()
        w.value = v  # the observer runs the whole fast path before this returns
        lat.append(time.perf_counter() - t0)
        assert ex.error is None, ex.error
        ex.wait()
        s = ex.site
        gc.collect()
        t0 = time.perf_counter()
        riskkit.simulate(s, trials, ex.seed)
        floor.append(time.perf_counter() - t0)
    return {
        "site": site_path.name,
        "median_ms": 1e3 * statistics.median(lat),
        "p90_ms": 1e3 * sorted(lat)[int(0.9 * (len(lat) - 1))],
        "floor_ms": 1e3 * statistics.median(floor),
        "ratio": statistics.median(lat) / statistics.median(floor),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--changes", type=int, default=40)
    ap.add_argument("--trials", type=int, default=20_000)
    ap.add_argument("--site", action="append", type=Path)
    args = ap.parse_args()
    sites = args.site or [
        ROOT / "data" / "sites" / "example-water" / "site.yaml",
        ROOT / "data" / "sites" / "example-refinery" / "site.yaml",
    ]
    print(f"python {platform.python_version()}, {args.trials:,} trials, {args.changes} changes")
    print("| site | median change [ms] | p90 [ms] | bare simulate [ms] | ratio | target |")
    print("|---|---|---|---|---|---|")
    for p in sites:
        r = measure(p, args.changes, args.trials)
        ok = "met" if r["median_ms"] < TARGET_MS else "NOT met"
        print(
            f"| {p.parent.name} | {r['median_ms']:.0f} | {r['p90_ms']:.0f} | {r['floor_ms']:.0f}"
            f" | {r['ratio']:.2f} | < {TARGET_MS:.0f} ms: {ok} |"
        )


if __name__ == "__main__":
    main()
