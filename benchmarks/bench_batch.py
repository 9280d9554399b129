"""Time ``riskkit batch``: 8 site runs on 2 local workers against the same runs one at a time.

The sites are copies of one site (default tests/data/tiny) under 8 different site ids, so
every run is a full assessment (five notebooks, HTML, tables, summary.json). Both timings are
measured in the same process with :func:`riskkit.batch.run_batch`, the sequential one with
``workers=1``; the ratio sequential / parallel is the speed-up (goal >= 1.6 on 2 cores).

Usage::

    python benchmarks/bench_batch.py [SITE] [--sites 8] [--workers 2] [--trials 200]
        [--write benchmarks/RESULTS-batch.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path

from riskkit import __version__
from riskkit.batch import run_batch

HERE = Path(__file__).resolve().parent
DEFAULT_SITE = HERE.parent / "tests" / "data" / "tiny" / "site.yaml"
GOAL = 1.6


def make_sites(src: Path, n: int, folder: Path) -> Path:
    """``n`` copies of the site file ``src``, each with its own ``site.id``."""
    text = src.read_text(encoding="utf-8")
    folder.mkdir(parents=True)
    for k in range(1, n + 1):
        body, count = re.subn(r"(?m)^  id: .*$", f"  id: bench-{k}", text, count=1)
        if not count:
            body = re.sub(r"(?m)^site:\s*$", f"site:\n  id: bench-{k}", text, count=1)
        (folder / f"bench-{k}.yaml").write_text(body, encoding="utf-8")
    return folder


def timed_batch(sites: Path, out: Path, workers: int, trials: int) -> float:
    """Wall time of one batch [s]; fails loudly if a site did not complete."""
    t0 = time.perf_counter()
    res = run_batch([sites], out, workers=workers, trials=trials)
    took = time.perf_counter() - t0
    bad = [r for r in res.rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"sites failed: {bad}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", nargs="?", default=str(DEFAULT_SITE), help="a site YAML file")
    ap.add_argument("--sites", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--write", default=None, help="append the results to this Markdown file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        sites = make_sites(Path(args.site), args.sites, tmp / "sites")
        par = timed_batch(sites, tmp / "parallel", args.workers, args.trials)
        seq = timed_batch(sites, tmp / "sequential", 1, args.trials)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = seq / par
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"## bench_batch, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"riskkit {__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" load average at the end {load:.2f}; site {Path(args.site).name} x {args.sites},"
        f" {args.trials} trials each.",
        "",
        "| batch | wall time [s] | per site [s] |",
        "|---|---:|---:|",
        f"| one after another (workers=1) | {seq:.1f} | {seq / args.sites:.1f} |",
        f"| {args.workers} workers | {par:.1f} | {par / args.sites:.1f} |",
        "",
        f"Speed-up: **{ratio:.2f}x** (goal >= {GOAL}x: {'met' if ratio >= GOAL else 'NOT met'}).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(args.write, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
