"""`riskkit plan --trials 2000` on generated sites: wall time, CPU time and peak memory.

Each size is written to YAML (``riskkit.synthetic.synthetic_data``, seed 0, about 5
candidates per scenario) and ``riskkit plan SITE --trials 2000 --no-progress`` runs in a child
process; its wall time, user + system CPU time and peak resident memory (``ru_maxrss`` of the
child) are printed as a markdown table. The machine may be shared: CPU time is the steadier
number. The load limits of the site file are raised for the large sizes.

Run:  python benchmarks/bench_plan_scale.py [--sizes 1000x100 5000x40 5000x500]
      [--trials 2000] [--out RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from riskkit.synthetic import synthetic_data


def write_site(folder: Path, n: int, m: int) -> Path:
    """The generated site of ``n`` scenarios and ``m`` candidates as a YAML file."""
    path = folder / f"site_{n}x{m}.yaml"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(synthetic_data(n, m), Dumper=dumper, sort_keys=False))
    return path


def run_plan(path: Path, trials: int) -> dict:
    """Wall [s], CPU [s] and peak RSS [MB] of one ``riskkit plan`` child process."""
    env = dict(os.environ, RISKKIT_MAX_FILE_BYTES="100000000", RISKKIT_MAX_RECORDS="100000000")
    cmd = [sys.executable, "-m", "riskkit.cli", "plan", str(path), "--trials", str(trials)]
    cmd.append("--no-progress")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of the children is the largest of any child so far [KiB on Linux]
    return {
        "ok": proc.returncode == 0,
        "wall": wall,
        "cpu": cpu,
        "rss_mb": after.ru_maxrss / 1024,
        "err": proc.stderr.strip().splitlines()[-1:] if proc.returncode else [],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["1000x100", "5000x40", "5000x500"])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = [
        f"`riskkit plan --trials {args.trials}`, generated sites (seed 0):",
        "",
        "| scenarios x candidates | wall [s] | CPU [s] | peak RSS [MB] | status |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="riskkit-plan-scale-") as tmp:
        for size in args.sizes:
            n, m = (int(v) for v in size.split("x"))
            r = run_plan(write_site(Path(tmp), n, m), args.trials)
            status = "ok" if r["ok"] else f"failed: {' '.join(r['err'])}"
            row = f"| {n} x {m} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss_mb']:.0f} | {status} |"
            print(row, flush=True)
            lines.append(row)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
