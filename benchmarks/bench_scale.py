"""How time and memory grow with the work (issue 16): load, validate, levels, simulate, plan.

Each measurement runs in its own child process on a generated site
(:func:`riskkit.synthetic.synthetic_site`, seed 2026), so its peak resident memory is its own
(``ru_maxrss`` of the child from ``wait4``). Times are wall times of the operation alone,
measured inside the child after the imports and after the site is generated in memory (with
the CPU time of the operation, the steadier figure on a shared machine), except
``validate`` (the CLI end to end: interpreter start, imports, load, inventory) and ``load``
(``load_site`` of a YAML file written beforehand, next to ``bare``: ``yaml.load`` with
libyaml's ``CSafeLoader`` of the same text, the floor ``load`` is compared with).

The grid follows the issue: 10^2, 10^3, 10^4 scenarios; 10, 10^2, 5*10^2 candidates; trials
where relevant. By default (sized to fit in about 10 minutes on an idle 2-core machine) each command
runs along one axis at a time:

- scenarios axis (10 candidates): load, bare, validate, levels, simulate (1,000 trials), plan;
- candidates axis (10^3 scenarios; plan at 10^2 scenarios): load, bare, levels, simulate, plan;
- trials axis (10^2 scenarios, 10 candidates): simulate at 10^3, 10^4, 10^5 trials.

``--full`` runs every command at every (scenarios, candidates) pair instead. A child that runs
past ``--timeout`` is stopped and reported as such, and the larger sizes of that command along
that axis are skipped. ``plan`` is :func:`riskkit.optimize` at 25 % of the summed annualised
cost of all candidates, closed form (no simulation), with ``time_limit`` = ``--plan-limit``.

The report (``--out``, default ``benchmarks/RESULTS-scale.md``) holds the table, the fitted
log-log slopes (the exponent b of time ~ size^b, least squares over the sizes that finished;
memory is the peak above a child that only imports riskkit) and a log-log plot: a PNG written
by plotly with kaleido, else by matplotlib, else an HTML plotly file (plotly.js from its CDN),
rendered to a PNG with headless Chromium where one is installed; the report says which.

Generated sites have more records and bytes than the reader's default limits at 10^4
scenarios; the children raise ``RISKKIT_MAX_RECORDS`` and ``RISKKIT_MAX_FILE_BYTES``.

Run from the repository root:  python benchmarks/bench_scale.py [--quick] [--full]
    [--scenarios 100,1000] [--candidates 10,100] [--trials 1000,10000]
    [--timeout 150] [--plan-limit 30] [--out benchmarks/RESULTS-scale.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 2026
SCENARIOS = (100, 1_000, 10_000)
CANDIDATES = (10, 100, 500)
TRIALS = (1_000, 10_000, 100_000)
SIM_TRIALS = 1_000
"""Trials of ``simulate`` on the scenario and candidate axes."""
CHILD_ENV = {"RISKKIT_MAX_RECORDS": "1000000", "RISKKIT_MAX_FILE_BYTES": "1000000000"}


# --------------------------------------------------------------------------------------------
# the child: one measurement
# --------------------------------------------------------------------------------------------


def _site(n: int, c: int):
    from riskkit.synthetic import synthetic_site

    return synthetic_site(n, c, seed=SEED)


def child(task: dict) -> dict:
    """Run one task in this process; return its figures (time of the operation alone)."""
    import numpy as np  # noqa: F401  (imported before timing, as every command needs it)

    import riskkit

    cmd, n, c, trials = task["cmd"], task["n"], task["c"], task.get("trials")
    out: dict = {}
    if cmd == "noop":  # the imports of command task["like"], for the memory baseline
        import yaml

        like = task.get("like")
        if like in ("levels", "simulate", "plan"):
            import riskkit.engine
            import riskkit.levels
            import riskkit.synthetic
        if like == "plan":
            import riskkit.portfolio
        return {"seconds": 0.0}
    if cmd == "write":
        import yaml

        from riskkit.io import site_to_dict

        t0 = time.perf_counter()
        site = _site(n, c)
        out["generate_s"] = time.perf_counter() - t0
        text = yaml.safe_dump(site_to_dict(site), sort_keys=False, default_flow_style=None)
        Path(task["path"]).write_text(text, encoding="utf-8")
        return {"seconds": out["generate_s"], "bytes": len(text.encode())}
    if cmd in ("load", "bare"):
        import yaml

        text = Path(task["path"]).read_text(encoding="utf-8")
        t0, c0 = time.perf_counter(), time.process_time()
        if cmd == "load":
            riskkit.load_site(task["path"])
        else:
            yaml.load(text, Loader=yaml.CSafeLoader)
        return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    site = _site(n, c)
    if cmd == "levels":
        from riskkit.levels import gaps, target_levels

        t0, c0 = time.perf_counter(), time.process_time()
        gaps(site, target_levels(site))
        return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    if cmd == "simulate":
        from riskkit.engine import simulate

        t0, c0 = time.perf_counter(), time.process_time()
        simulate(site, trials=trials, seed=0)
        return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    if cmd == "plan":
        from riskkit import portfolio as P

        budget = 0.25 * P.plan_costs(site)["annualised_cost"].sum()
        t0, c0 = time.perf_counter(), time.process_time()
        plan = P.optimize(site, budget, simulate=False, time_limit=task["limit"])
        gap = getattr(plan, "gap", None)
        note = str(getattr(plan, "status", ""))
        if isinstance(gap, float) and gap == gap:
            note += f", gap {gap:.2%}"
        return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "note": note}
    raise ValueError(f"unknown command {cmd!r}")


# --------------------------------------------------------------------------------------------
# the parent: run children, time them, report
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    cmd: str
    axis: str
    n: int
    c: int
    trials: int | None = None
    seconds: float | None = None
    cpu: float | None = None
    rss_mb: float | None = None
    status: str = "ok"
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return {"scenarios": self.n, "candidates": self.c, "trials": self.trials or 0}[self.axis]


def run_child(argv: list[str], timeout: float) -> tuple[dict | None, float, float, str]:
    """Run ``argv``; (its last JSON line or None, wall [s], peak RSS [MB], status).

    The child's whole CPU time (user + system, from ``wait4``) is added to the JSON (an empty
    one when the child printed none) as ``child_cpu`` [s].
    """
    env = {**os.environ, **CHILD_ENV, "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        status = "ok"
        while True:
            pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                pid, code, usage = os.wait4(proc.pid, 0)
                status = f"stopped after {timeout:.0f} s"
                break
            time.sleep(0.05)
        proc.returncode = code  # reaped here (wait4), so Popen must not wait for it again
        wall = time.perf_counter() - t0
        rss = usage.ru_maxrss / 1024  # kB on Linux
        out.seek(0)
        text = out.read()
    if status == "ok" and code != 0:
        last = text.strip().splitlines()[-1:] or ["?"]
        status = f"failed: {last[0][:80]}"
    result = None
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            break
    if result is None and status == "ok":
        result = {}
    if result is not None:
        result["child_cpu"] = usage.ru_utime + usage.ru_stime
    return result, wall, rss, status


def measure(task: dict, timeout: float) -> tuple[dict | None, float, float, str]:
    me = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(task)]
    if task["cmd"] == "validate":
        argv = [sys.executable, "-m", "riskkit", "validate", task["path"]]
        res, wall, rss, status = run_child(argv, timeout)
        cpu = (res or {}).get("child_cpu")
        return {"seconds": wall, "cpu": cpu}, wall, rss, status
    return run_child(me, timeout)


def plan_grid(full: bool, quick: bool, sizes=None) -> list[Row]:
    """The measurements, in the order they run (smaller sizes first along each axis)."""
    ns, cs, ts = sizes or (SCENARIOS, CANDIDATES, TRIALS)
    if quick:
        ns, cs, ts = ns[:2], cs[:2], ts[:2]
    fixed_c, fixed_n, plan_n = cs[0], ns[min(1, len(ns) - 1)], ns[0]
    rows: list[Row] = []
    if full:
        for cmd in ("load", "bare", "validate", "levels", "simulate", "plan"):
            for c in cs:
                for n in ns:
                    rows.append(
                        Row(cmd, "scenarios", n, c, SIM_TRIALS if cmd == "simulate" else None)
                    )
    else:
        for cmd in ("bare", "load", "validate", "levels", "simulate", "plan"):
            for n in ns:
                rows.append(
                    Row(cmd, "scenarios", n, fixed_c, SIM_TRIALS if cmd == "simulate" else None)
                )
        for cmd in ("bare", "load", "levels", "simulate", "plan"):
            base = plan_n if cmd == "plan" else fixed_n
            for c in cs:
                rows.append(
                    Row(cmd, "candidates", base, c, SIM_TRIALS if cmd == "simulate" else None)
                )
    for t in ts:
        rows.append(Row("simulate", "trials", ns[0], fixed_c, t))
    return rows


def run(args) -> tuple[list[Row], dict]:
    work = Path(tempfile.mkdtemp(prefix="riskkit-bench-scale-"))
    info: dict = {"files": {}, "load_average": os.getloadavg()[0]}
    try:
        sizes = tuple(
            tuple(int(float(x)) for x in given.split(",")) if given else default
            for given, default in (
                (args.scenarios, SCENARIOS),
                (args.candidates, CANDIDATES),
                (args.trials, TRIALS),
            )
        )
        rows = plan_grid(args.full, args.quick, sizes)
        info["baseline_rss_mb"] = {}
        for cmd in sorted({r.cmd for r in rows}):
            like = "load" if cmd in ("bare", "validate") else cmd
            noop = {"cmd": "noop", "n": 0, "c": 0, "like": like}
            info["baseline_rss_mb"][cmd] = measure(noop, args.timeout)[2]
        stopped: set[tuple[str, str, int]] = set()  # (cmd, axis, the fixed other size)
        for row in rows:
            fixed = row.c if row.axis == "scenarios" else row.n
            if (row.cmd, row.axis, fixed) in stopped:
                row.status = "skipped (a smaller size was stopped)"
                continue
            task = {"cmd": row.cmd, "n": row.n, "c": row.c, "trials": row.trials}
            task["limit"] = args.plan_limit
            if row.cmd in ("load", "bare", "validate"):
                path = work / f"site-{row.n}x{row.c}.yaml"
                if not path.exists():
                    w = {"cmd": "write", "n": row.n, "c": row.c, "path": str(path)}
                    res, _, _, st = measure(w, args.timeout * 2)
                    if st != "ok" or res is None:
                        row.status = f"could not write the site: {st}"
                        continue
                    info["files"][(row.n, row.c)] = (res["bytes"], res["seconds"])
                task["path"] = str(path)
            res, wall, rss, status = measure(task, args.timeout)
            row.rss_mb, row.status = rss, status
            if status == "ok" and res is not None:
                row.seconds, row.cpu = res["seconds"], res.get("cpu")
                row.note = res.get("note", "")
            else:
                stopped.add((row.cmd, row.axis, fixed))
            shown = f"{row.seconds:.3f} s" if row.seconds is not None else row.status
            shown += f" (cpu {row.cpu:.3f} s)" if row.cpu is not None else ""
            print(
                f"{row.cmd:9s} {row.axis:10s} n={row.n:>6} c={row.c:>4} t={row.trials or '':>7}"
                f"  {shown:>28}  {rss:7.0f} MB  {row.note}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, info


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares exponent b of y ~ x^b over positive points (None below two sizes)."""
    import numpy as np

    pts = [(x, y) for x, y in points if x > 0 and y is not None and y > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    lx, ly = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(lx, ly, 1)[0])


def series(rows: list[Row]) -> dict[tuple[str, str, int], list[Row]]:
    """Rows grouped by (command, axis, the fixed other size), sizes ascending."""
    out: dict[tuple[str, str, int], list[Row]] = {}
    for r in rows:
        fixed = r.c if r.axis == "scenarios" else r.n
        out.setdefault((r.cmd, r.axis, fixed), []).append(r)
    return {k: sorted(v, key=lambda r: r.size) for k, v in out.items()}


def plot(rows: list[Row], base_rss: dict[str, float], stem: Path) -> str:
    """Write the log-log plot next to the report; return a sentence saying what was written."""
    groups = series(rows)
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        go = None
    if go is not None:
        axes = ["scenarios", "candidates", "trials"]
        fig = make_subplots(
            rows=2,
            cols=3,
            subplot_titles=[f"CPU time against {a}" for a in axes]
            + [f"peak memory above imports against {a}" for a in axes],
        )
        palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
        colour = {c: palette[i % 6] for i, c in enumerate(dict.fromkeys(r.cmd for r in rows))}
        shown: set[str] = set()
        for (cmd, axis, _fixed), rs in groups.items():
            col = axes.index(axis) + 1
            done = [r for r in rs if r.seconds is not None]
            xs = [r.size for r in done]
            style = {"mode": "lines+markers", "legendgroup": cmd, "name": cmd,
                     "line": {"color": colour[cmd]}}  # fmt: skip
            fig.add_trace(
                go.Scatter(x=xs, y=[r.cpu or r.seconds for r in done], showlegend=cmd not in shown,
                           **style),
                row=1, col=col,
            )  # fmt: skip
            shown.add(cmd)
            fig.add_trace(
                go.Scatter(x=xs, y=[max(r.rss_mb - base_rss[r.cmd], 1.0) for r in done],
                           showlegend=False, **style),
                row=2, col=col,
            )  # fmt: skip
        fig.update_xaxes(type="log")
        fig.update_yaxes(type="log")
        for col in (1, 2, 3):
            fig.update_yaxes(title_text="CPU time [s]", row=1, col=col)
            fig.update_yaxes(title_text="peak RSS above imports [MB]", row=2, col=col)
        fig.update_layout(width=1500, height=900, title="riskkit: growth with the work (log-log)")
        png = stem.with_suffix(".png")
        try:
            fig.write_image(png)  # needs kaleido
            return f"`{png.name}` (plotly with kaleido)"
        except Exception:
            pass
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is not None:
        fig2, axs = plt.subplots(2, 3, figsize=(15, 9))
        for (cmd, axis, _fixed), rs in groups.items():
            col = ["scenarios", "candidates", "trials"].index(axis)
            done = [r for r in rs if r.seconds is not None]
            xs = [r.size for r in done]
            axs[0][col].loglog(xs, [r.cpu or r.seconds for r in done], "o-", label=cmd)
            axs[1][col].loglog(xs, [max(r.rss_mb - base_rss[r.cmd], 1.0) for r in done], "o-")
        for a in axs[0]:
            a.legend(fontsize=7)
        png = stem.with_suffix(".png")
        fig2.savefig(png, dpi=90)
        return f"`{png.name}` (matplotlib)"
    if go is None:
        return "no plot (neither plotly nor matplotlib is installed)"
    html = stem.with_suffix(".html")
    fig.write_html(html, include_plotlyjs="cdn", config={"displayModeBar": False})
    said = f"`{html.name}` (plotly HTML, plotly.js from its CDN; no kaleido or matplotlib here)"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        png = stem.with_suffix(".png")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "plot.html"
            # an offline copy for the screenshot
            fig.write_html(local, include_plotlyjs=True, config={"displayModeBar": False})
            cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--screenshot={png}", "--window-size=1500,900",
                   "--virtual-time-budget=10000", local.as_uri()]  # fmt: skip
            try:
                subprocess.run(cmd, capture_output=True, timeout=120, check=True)
                said += f", and `{png.name}` rendered from it by headless Chromium"
            except (subprocess.SubprocessError, OSError):
                pass
    return said


def report(rows: list[Row], info: dict, args, took: float, plot_note: str) -> str:
    base = info["baseline_rss_mb"]
    bare = {(r.n, r.c): r.cpu for r in rows if r.cmd == "bare" and r.cpu}
    lines = [
        "# Scale: time and memory against scenarios, candidates and trials",
        "",
        f"`python benchmarks/bench_scale.py{' --full' if args.full else ''}"
        f"{' --quick' if args.quick else ''}` on {platform.platform()}, Python"
        f" {platform.python_version()}, {os.cpu_count()} CPUs, load average"
        f" {info['load_average']:.1f} at the start (other jobs share the machine: wall times"
        f" include waiting for a core; CPU times do not); {took / 60:.1f} min in all. Sites"
        f" from `riskkit.synthetic.synthetic_site(n, c, seed={SEED})`. Each figure"
        " is one run in its own child process; time is the operation alone (the site already"
        " generated in memory), except `validate` (the CLI end to end) and `load`/`bare` (the"
        " YAML file of the same site, written beforehand). Peak memory is the child's peak"
        " resident set; the memory slopes are of the peak above a child that only makes the"
        " same imports (" + ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(base.items())) + ").",
        "",
        "| command | axis | scenarios | candidates | trials | wall [s] | CPU [s] | peak RSS [MB]"
        " | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        t = f"{r.seconds:.3f}" if r.seconds is not None else "-"
        cpu = f"{r.cpu:.3f}" if r.cpu is not None else "-"
        rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else "-"
        note = r.note if r.status == "ok" else r.status
        if r.cmd == "load" and r.cpu and bare.get((r.n, r.c)):
            note = f"{r.cpu / bare[(r.n, r.c)]:.2f}x bare CSafeLoader (CPU)"
        if r.cmd in ("load", "bare", "validate") and (r.n, r.c) in info["files"]:
            size = info["files"][(r.n, r.c)][0] / 1e6
            note = (note + "; " if note else "") + f"{size:.1f} MB file"
        lines.append(
            f"| {r.cmd} | {r.axis} | {r.n:,} | {r.c} | {r.trials or ''} | {t} | {cpu} | {rss}"
            f" | {note} |"
        )
    lines += [
        "",
        "## Fitted growth (log-log slopes)",
        "",
        "b in time ~ size^b (and memory above the imports ~ size^b), least squares over the"
        " sizes that finished along each axis (CPU time is the steadier on a shared machine:"
        " wall time includes waiting for a core): 1 is linear, 2 quadratic; a slope from sizes"
        " whose times are under ~0.1 s mostly measures fixed costs.",
        "",
        "| command | axis | other size fixed | sizes | CPU time slope | wall time slope"
        " | memory slope |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for (cmd, axis, fixed), rs in series(rows).items():
        done = [r for r in rs if r.seconds is not None]
        ts = slope([(r.size, r.cpu or r.seconds) for r in done])
        ws = slope([(r.size, r.seconds) for r in done])
        ms = slope([(r.size, (r.rss_mb or 0) - base[cmd]) for r in done])
        other = f"{'candidates' if axis == 'scenarios' else 'scenarios'} = {fixed:,}"
        sizes = ", ".join(f"{r.size:,}" for r in done) or "-"
        fmt = lambda v: f"{v:.2f}" if v is not None else "-"  # noqa: E731
        lines.append(f"| {cmd} | {axis} | {other} | {sizes} | {fmt(ts)} | {fmt(ws)} | {fmt(ms)} |")
    lines += ["", f"Plot: {plot_note}.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--full", action="store_true", help="every command at every size pair")
    ap.add_argument("--quick", action="store_true", help="the two smaller sizes of each axis")
    ap.add_argument("--timeout", type=float, default=150.0, help="seconds per child [s]")
    ap.add_argument("--plan-limit", type=float, default=30.0, help="optimize time_limit [s]")
    ap.add_argument("--scenarios", help="comma-separated sizes (default 100,1000,10000)")
    ap.add_argument("--candidates", help="comma-separated sizes (default 10,100,500)")
    ap.add_argument("--trials", help="comma-separated trials (default 1000,10000,100000)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS-scale.md"))
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return
    t0 = time.perf_counter()
    rows, info = run(args)
    out = Path(args.out)
    plot_note = plot(rows, info["baseline_rss_mb"], out.with_name(out.stem + "-plot"))
    text = report(rows, info, args, time.perf_counter() - t0, plot_note)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
