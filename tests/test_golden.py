"""Golden outputs: the numbers of the example sites stay put across refactors.

``tests/golden/`` holds ``summary.json`` content and CLI output of the example refinery and
water utility at a fixed seed and trials, written by ``tests/golden/regenerate.py`` from the
code as it was before a refactor. A change that is meant to move numbers regenerates them on
purpose (and says so in its commit); any other change must leave them identical.

Floats are compared to a relative 1e-12 (summation order may change the last bit); everything
else, including the CLI text, must match exactly.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os

import pytest
from conftest import REPO_ROOT

GOLDEN = REPO_ROOT / "tests" / "golden"
_spec = importlib.util.spec_from_file_location("golden_regenerate", GOLDEN / "regenerate.py")
regen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regen)


def _diff(a, b, path="$"):
    """First difference between two JSON values, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{path}: keys differ: {sorted(set(a) ^ set(b))}"
        for k in a:
            d = _diff(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _diff(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            if math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or (a != a and b != b):
                return None
        return f"{path}: {a!r} != {b!r}"
    return None if a == b else f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("name", sorted(regen.SITES))
def test_summary_unchanged(name):
    path, trials, seed, _ = regen.SITES[name]
    expected = json.loads((GOLDEN / f"{name}.summary.json").read_text())
    got = json.loads(json.dumps(regen.summary_of(path, trials, seed)))
    assert _diff(got, expected) is None, _diff(got, expected)


@pytest.mark.parametrize(
    "name,cmd",
    [(n, c) for n in sorted(regen.SITES) for c in regen.cli_commands("x", 1, 1, 1)],
)
def test_cli_output_unchanged(name, cmd, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    path, trials, seed, budget = regen.SITES[name]
    args = regen.cli_commands(path, trials, seed, budget)[cmd]
    expected = (GOLDEN / f"{name}.{cmd}.txt").read_text()
    assert regen.run_cli(args) == expected


def test_golden_detects_a_change():
    """The comparison is not vacuous: a moved number is reported."""
    expected = json.loads((GOLDEN / "example-water.summary.json").read_text())
    moved = json.loads(json.dumps(expected))
    moved["site"]["ale"]["current"] *= 1 + 1e-9
    assert _diff(moved, expected) is not None
    assert os.path.exists(GOLDEN / "regenerate.py")
