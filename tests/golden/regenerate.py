"""Regenerate the golden outputs that pin riskkit's numbers across refactors.

Run on purpose only, when a change is *meant* to move numbers, and say so in the commit::

    .venv/bin/python tests/golden/regenerate.py

It writes, for each example site, ``<site>.summary.json`` (the in-process
``Assessment.summary()`` at a fixed seed and trials, without the version block) and
``<site>.<command>.txt`` (the CLI's stdout for ``simulate``, ``levels`` and ``plan``).
``tests/test_golden.py`` compares the current code against these files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# (site folder, trials, seed, budget for `plan`) -- small enough for the test suite.
SITES = {
    "example-refinery": ("data/sites/example-refinery", 2000, 7, 150_000),
    "example-water": ("data/sites/example-water", 2000, 7, 60_000),
}


def cli_commands(path: str, trials: int, seed: int, budget: float) -> dict[str, list[str]]:
    """The CLI invocations whose stdout is pinned, by name."""
    return {
        "simulate": ["simulate", path, "--trials", str(trials), "--seed", str(seed)],
        "simulate_plan_json": [
            "simulate", path, "--trials", str(trials), "--seed", str(seed), "--json",
            "--state", "unmitigated",
        ],
        "levels": ["levels", path],
        "levels_json": ["levels", path, "--json"],
        "plan": ["plan", path, "--budget", str(budget), "--trials", str(trials),
                 "--seed", str(seed)],
    }


def summary_of(path: str, trials: int, seed: int) -> dict:
    """``Assessment.summary()`` without the environment-dependent version block."""
    from riskkit.pipeline import Assessment

    out = Assessment(ROOT / path, trials=trials, seed=seed, fast=True).summary()
    out.pop("riskkit", None)
    return out


def run_cli(args: list[str]) -> str:
    """Stdout of ``riskkit ARGS`` run in-process (exit status must be 0)."""
    from click.testing import CliRunner

    from riskkit.cli import cli

    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    if res.exit_code != 0:
        raise SystemExit(f"riskkit {' '.join(args)} exited {res.exit_code}:\n{res.output}")
    return res.stdout


def main() -> None:
    """Write every golden file."""
    import os

    os.chdir(ROOT)
    for name, (path, trials, seed, budget) in SITES.items():
        s = summary_of(path, trials, seed)
        (HERE / f"{name}.summary.json").write_text(json.dumps(s, indent=1, sort_keys=True) + "\n")
        for cmd, args in cli_commands(path, trials, seed, budget).items():
            (HERE / f"{name}.{cmd}.txt").write_text(run_cli(args))
        print(f"wrote golden outputs of {name}", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
