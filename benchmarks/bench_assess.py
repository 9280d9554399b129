"""Time the whole ``riskkit assess`` of the example refinery at the site's default trials.

Prints the time of every step and the total, and ratios against two baselines measured in
the same process: one trivial notebook run through the same papermill path (the fixed cost of
a kernel start and ``import riskkit``) and the library computation alone (every number of the
assessment, computed through :class:`riskkit.pipeline.Assessment` without notebooks). The goal
is a total under 90 s on a 2-core machine.

Usage::

    python benchmarks/bench_assess.py [SITE] [--repeat N] [--write benchmarks/RESULTS-assess.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from riskkit import __version__, load_site, pipeline

HERE = Path(__file__).resolve().parent
DEFAULT_SITE = HERE.parent / "data" / "sites" / "example-refinery"
TRIVIAL = """# %% tags=["parameters"]
site = None

# %%
import riskkit
from riskkit import pipeline

pipeline.setup_notebook()
"""
GOAL = 90.0


def kernel_baseline(tmp: Path) -> float:
    """Seconds for one trivial notebook through papermill (kernel start, import, export)."""
    import papermill as pm

    nb_path = tmp / "trivial.py"
    nb_path.write_text(TRIVIAL)
    t0 = time.perf_counter()
    nb = pipeline._load_notebook(nb_path)
    pm.execute_notebook(
        nb,
        str(tmp / "trivial.ipynb"),
        parameters={"site": None},
        kernel_name="python3",
        language="python",
        progress_bar=False,
        kernel_manager_class=pipeline._kernel_manager_class(),
    )
    pipeline.export_html(tmp / "trivial.ipynb", tmp / "trivial.html")
    return time.perf_counter() - t0


def library_baseline(site_path: Path) -> float:
    """Seconds to compute every table and summary.json in-process (no notebooks)."""
    t0 = time.perf_counter()
    A = pipeline.Assessment(site_path)
    A.tables()
    A.summary()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", nargs="?", default=str(DEFAULT_SITE))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--write", default=None, help="append the results to this Markdown file")
    args = ap.parse_args()
    site_path = Path(args.site)
    site = load_site(site_path)
    tmp = Path(tempfile.mkdtemp(prefix="bench-assess-"))
    try:
        base_kernel = kernel_baseline(tmp)
        base_lib = library_baseline(site_path)
        totals, steps = [], None
        for k in range(args.repeat):
            t0 = time.perf_counter()
            res = pipeline.assess(site_path, tmp / f"run-{k}")
            totals.append(time.perf_counter() - t0)
            steps = res.timings
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = statistics.median(totals)
    lines = [
        f"## {dt.date.today().isoformat()}: {site.name}, {site.model.trials:,} trials",
        "",
        f"riskkit {__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" {platform.machine()}; median of {args.repeat} run(s).",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| {name} | {sec:.1f} |" for name, sec in steps.items()],
        f"| **total (assess, wall clock)** | **{total:.1f}** |",
        "",
        f"- baseline 1, one trivial notebook through papermill + HTML export: {base_kernel:.1f} s;"
        f" total / baseline = {total / base_kernel:.1f}",
        f"- baseline 2, every number in-process without notebooks: {base_lib:.1f} s;"
        f" total / baseline = {total / base_lib:.1f}",
        f"- goal: under {GOAL:.0f} s: {'met' if total < GOAL else 'NOT met'}"
        f" ({total / GOAL:.0%} of it)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(args.write, "a", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
