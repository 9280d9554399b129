"""Time of the sensitivity analysis of the example refinery: tornado and EVPI (issue 14).

Timed in one process, interleaved: (a) ``riskkit.tornado(site)`` (which also finds the
recommended plan on the frontier), (b) ``riskkit.evpi(site)`` over the frontier's plans with
EVPPI of every family (4,000 draws), (c) ``riskkit.sl_robustness(site)`` (2,000 draws), and
the baseline, one closed-form ``riskkit.expected_losses(site)``. Reported: the best of
``--repeat`` runs of each [s] and its ratio to the baseline. The goal is tornado plus EVPI in
under 10 s on the project's 2-core machine.

Run:  python benchmarks/bench_sensitivity.py [--repeat 3] [--site PATH] [--out FILE]
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from pathlib import Path

import riskkit

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 10.0


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--site", type=Path, default=ROOT / "data" / "sites" / "example-refinery")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-sensitivity.md"))
    args = ap.parse_args()
    site = riskkit.load_site(args.site)
    runs = {
        "expected_losses (baseline)": lambda: riskkit.expected_losses(site),
        "tornado": lambda: riskkit.tornado(site),
        "evpi (frontier plans, EVPPI)": lambda: riskkit.evpi(site),
        "sl_robustness": lambda: riskkit.sl_robustness(site),
    }
    res = {name: best_of(fn, args.repeat) for name, fn in runs.items()}
    base = res["expected_losses (baseline)"]
    total = res["tornado"] + res["evpi (frontier plans, EVPPI)"]
    lines = [
        "# Sensitivity benchmark",
        "",
        f"Site: {args.site.name}; best of {args.repeat}; python {platform.python_version()},"
        f" {platform.machine()}.",
        "",
        "| run | seconds | x baseline |",
        "|---|---:|---:|",
    ]
    lines += [f"| {k} | {v:.3f} | {v / base:,.0f} |" for k, v in res.items()]
    verdict = "meets" if total < GOAL_S else "misses"
    lines += ["", f"Tornado + EVPI: {total:.2f} s ({verdict} the {GOAL_S:g} s goal)."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
