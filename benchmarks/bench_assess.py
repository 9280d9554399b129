"""Time ``riskkit assess`` of the example refinery against one trivial notebook, and its size.

Measured in one process, alternately: one trivial notebook through papermill in a fresh kernel
(the fixed cost of a kernel start and ``import riskkit``, and its HTML export) and the whole
assessment through :func:`riskkit.report.assess` (``--fast`` by default, ``--full`` for the
site's trials). Prints the time of every step, the ratio assess / trivial notebook (goal for
``--fast``: at most 3) and the size of the run folder (goal: at most 10 MB), with the median
of ``--repeat`` pairs.

Usage::

    python benchmarks/bench_assess.py [SITE] [--full] [--repeat N] [--write FILE.md]
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

from riskkit import __version__, load_site
from riskkit.report import run as report_run

HERE = Path(__file__).resolve().parent
DEFAULT_SITE = HERE.parent / "data" / "sites" / "example-refinery"
TRIVIAL = """# %% tags=["parameters"]
site = None

# %%
import riskkit
from riskkit import report

report.setup_notebook()
"""
GOAL_RATIO = 3.0
GOAL_MB = 10.0


def trivial_notebook(tmp: Path, k: int) -> float:
    """Seconds for one trivial notebook through papermill in a new kernel, and its export."""
    import papermill as pm

    nb_path = tmp / "trivial.py"
    nb_path.write_text(TRIVIAL)
    t0 = time.perf_counter()
    nb = report_run._load_notebook(nb_path)
    pm.execute_notebook(
        nb,
        str(tmp / f"trivial-{k}.ipynb"),
        parameters={"site": None},
        kernel_name="python3",
        language="python",
        progress_bar=False,
        kernel_manager_class=report_run._kernel_manager_class(tmp),
    )
    report_run.export_html(tmp / f"trivial-{k}.ipynb", tmp / f"trivial-{k}.html")
    return time.perf_counter() - t0


def folder_mb(folder: Path) -> float:
    """Size of the files under ``folder`` [MB, 10^6 bytes]."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", nargs="?", default=str(DEFAULT_SITE))
    ap.add_argument("--full", action="store_true", help="the site's trials, not --fast")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--write", default=None, help="append the results to this Markdown file")
    args = ap.parse_args()
    site_path = Path(args.site)
    site = load_site(site_path)
    fast = not args.full
    tmp = Path(tempfile.mkdtemp(prefix="bench-assess-"))
    try:
        trivial, totals, sizes, steps = [], [], [], {}
        for k in range(args.repeat):
            trivial.append(trivial_notebook(tmp, k))
            t0 = time.perf_counter()
            res = report_run.assess(site_path, tmp / f"run-{k}", fast=fast)
            totals.append(time.perf_counter() - t0)
            sizes.append(folder_mb(res.out))
            steps = res.timings
            plotly_mb = (res.out / "html" / report_run.PLOTLY_JS).stat().st_size / 1e6
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base, total = statistics.median(trivial), statistics.median(totals)
    ratios = [t / b for t, b in zip(totals, trivial)]
    ratio, size = total / base, max(sizes)
    mode = "--fast" if fast else "full"
    lines = [
        f"## {dt.date.today().isoformat()}: {site.name}, assess {mode}",
        "",
        f"riskkit {__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" {platform.machine()}; median of {args.repeat} pair(s).",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| {name} | {sec:.1f} |" for name, sec in steps.items()],
        f"| **total (assess {mode}, wall clock)** | **{total:.1f}** |",
        "",
        f"- trivial notebook (kernel start, `import riskkit`, HTML export): {base:.1f} s",
        f"- assess {mode} / trivial notebook: {ratio:.1f}"
        f" (pairs: {', '.join(f'{r:.1f}' for r in ratios)});"
        f" goal at most {GOAL_RATIO:.0f}: {'met' if ratio <= GOAL_RATIO else 'NOT met'}",
        f"- run folder: {size:.1f} MB (of which html/plotly.min.js {plotly_mb:.1f} MB);"
        f" goal at most {GOAL_MB:.0f} MB: {'met' if size <= GOAL_MB else 'NOT met'}",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(args.write, "a", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
