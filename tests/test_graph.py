"""Simple paths over the conduit graph and the two-terminal reliability of attack paths.

Hand values: a chain multiplies; disjoint parallel paths give 1 - (1 - p1)(1 - p2); a
diamond with a shared final stage c and branches a, b gives c (1 - (1 - a)(1 - b)).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from riskkit import rules
from riskkit.graph import TooManyPaths, reachable, simple_paths

EDGES = [("C1", "A", "B"), ("C2", "B", "T"), ("C3", "A", "C"), ("C4", "C", "T"), ("C5", "B", "C")]


def test_simple_paths_of_a_small_graph():
    paths = simple_paths(EDGES, "A", "T")
    assert sorted(paths) == sorted(
        [
            (("C1", "B"), ("C2", "T")),
            (("C1", "B"), ("C5", "C"), ("C4", "T")),
            (("C3", "C"), ("C4", "T")),
            (("C3", "C"), ("C5", "B"), ("C2", "T")),
        ]
    )
    assert simple_paths(EDGES, "A", "A") == []
    assert simple_paths(EDGES + [("C9", "X", "Y")], "A", "X") == []
    assert reachable(EDGES + [("C9", "X", "Y")], "A") == {"A", "B", "C", "T"}


def test_parallel_conduits_are_distinct_paths_and_long_chains_do_not_recurse():
    assert len(simple_paths([("C1", "A", "B"), ("C2", "A", "B")], "A", "B")) == 2
    chain = [(f"C{i}", f"Z{i}", f"Z{i + 1}") for i in range(3000)]
    (path,) = simple_paths(chain, "Z0", "Z3000")
    assert len(path) == 3000 and path[-1] == ("C2999", "Z3000")


def test_too_many_paths_is_refused():
    # a ladder of k rungs has 2^k paths between its ends
    edges = []
    for i in range(12):
        edges += [(f"U{i}", f"L{i}", f"L{i + 1}"), (f"V{i}", f"L{i}", f"L{i + 1}")]
    with pytest.raises(TooManyPaths, match="more than 100"):
        simple_paths(edges, "L0", "L12", max_paths=100)


def test_reach_closed_forms():
    assert rules.reach_probability([0.3, 0.5, 0.2], [(0, 1, 2)]) == pytest.approx(0.03, abs=1e-15)
    assert rules.reach_probability([0.3, 0.4], [(0,), (1,)]) == pytest.approx(0.58, abs=1e-15)
    a, b, c = 0.3, 0.6, 0.5
    got = rules.reach_probability([a, b, c], [(0, 2), (1, 2)])
    assert got == pytest.approx(c * (1 - (1 - a) * (1 - b)), abs=1e-15)
    # a stage on no path changes nothing; a path containing another adds nothing
    assert rules.reach_probability([a, b, c, 0.9], [(0, 2), (1, 2), (0, 1, 2)]) == pytest.approx(
        got, abs=1e-15
    )
    assert rules.reach_probability([0.5], []) == 0.0


def _brute(p, paths):
    """Sum over all 2^S stage states of P(state) x [some path open]."""
    total = 0.0
    for state in itertools.product([0, 1], repeat=len(p)):
        if any(all(state[j] for j in path) for path in paths):
            total += np.prod([p[j] if s else 1 - p[j] for j, s in enumerate(state)])
    return total


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exact_methods_equal_brute_force(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    n = 9
    paths = [tuple(rng.choice(n, size=rng.integers(1, 5), replace=False)) for _ in range(20)]
    p = rng.random(n)
    want = _brute(p, paths)
    assert rules.reach_probability(p, paths) == pytest.approx(want, abs=1e-12)
    monkeypatch.setattr(rules, "REACH_EXACT_PATHS", 0)  # force stage-state enumeration
    assert rules.reach_probability(p, paths) == pytest.approx(want, abs=1e-12)
    # vectorised over leading axes
    pp = np.stack([p, p * 0.5])
    got = rules.reach_probability(pp, paths)
    assert got.shape == (2,) and got[1] == pytest.approx(_brute(p * 0.5, paths), abs=1e-12)


def test_estimator_within_four_standard_errors(monkeypatch):
    rng = np.random.default_rng(5)
    n = 10
    paths = [tuple(rng.choice(n, size=3, replace=False)) for _ in range(8)]
    p = rng.random(n) * 0.8
    want = _brute(p, paths)
    est, se = rules.reach_probability_mc(p, paths, np.random.default_rng(7), 100_000)
    assert abs(est - want) <= 4 * se
    monkeypatch.setattr(rules, "REACH_EXACT_PATHS", 0)
    monkeypatch.setattr(rules, "REACH_EXACT_STAGES", 0)
    with pytest.raises(ValueError, match="exceed the exact limits"):
        rules.reach_probability(p, paths)
    got = rules.reach_probability(p, paths, rng=np.random.default_rng(7), samples=100_000)
    assert got == pytest.approx(est)
