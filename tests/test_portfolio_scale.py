"""Large portfolios: time limits, the progress display, the stated gap, the greedy start.

The instances are small so the file runs in seconds; what they check (exactness against
enumeration, valid bounds, monotone progress, the time limit covering the call) is what the
large instances of ``benchmarks/`` rely on.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import pytest
from click.testing import CliRunner

from riskkit import portfolio as P
from riskkit.portfolio import milp as M
from riskkit.portfolio.constraints import _Rules
from riskkit.portfolio.heuristics import _gains, _greedy_runs
from riskkit.portfolio.setup import DEFAULT_TIME_LIMIT

TINY = "tests/data/tiny/site.yaml"


def _check_reports(reports, plan, optimum):
    """Progress reports of one solve: valid bounds, better plans only, exact values."""
    assert reports, "no progress was reported"
    assert reports[-1].event == "done"
    inc = np.array([r.incumbent for r in reports])
    bnd = np.array([r.bound for r in reports])
    assert (np.diff(inc) <= 1e-9 * np.abs(inc[1:])).all()  # the best plan only improves
    # the bound only rises; it is -inf until HiGHS proves one (then never -inf again)
    known = np.isfinite(bnd)
    assert not (known[:-1] & ~known[1:]).any()
    fb = bnd[known]
    assert (np.diff(fb) >= -1e-9 * np.abs(fb[1:])).all()
    assert (bnd <= optimum * (1 + 1e-9)).all()  # and never passes the optimum
    assert (inc >= optimum * (1 - 1e-9)).all()
    # the incumbent is the exact value of the plan returned (pruning keeps the loss)
    assert plan.expected_ale == pytest.approx(inc[-1], rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logspace_with_greedy_start_and_callbacks_equals_enumeration(seed):
    # logspace blocks take the greedy start plan and stop on the exact gap seen in the
    # callbacks; the plan must still be the optimum that enumeration finds
    site = P.synthetic_site(14, 16, per_scenario=9, seed=seed)
    problem = P.Problem(site)
    total = problem.costs["annualised"].sum()
    for frac in (0.2, 0.5):
        best = P.optimize(site, frac * total, method="enumerate", problem=problem)
        reports = []
        plan = P.optimize(
            site, frac * total, method="logspace", problem=problem, progress=reports.append
        )
        assert plan.status == "optimal", plan.optimality
        assert plan.expected_ale == pytest.approx(best.expected_ale, rel=1e-7)
        assert reports[0].event == "start"  # the greedy plan came first
        _check_reports(reports, plan, best.expected_ale)


def test_a_requested_gap_is_proven():
    site = P.synthetic_site(14, 16, per_scenario=9, seed=4)
    problem = P.Problem(site)
    budget = 0.3 * problem.costs["annualised"].sum()
    best = P.optimize(site, budget, method="enumerate", problem=problem)
    plan = P.optimize(site, budget, method="logspace", problem=problem, gap=0.05)
    assert plan.status in ("optimal", "gap")
    assert plan.gap <= 0.05 and plan.bound <= best.expected_ale * (1 + 1e-9)
    assert plan.expected_ale <= best.expected_ale * 1.05 / (1 - 1e-9)
    with pytest.raises(ValueError, match="gap must be in .*1.5 was given"):
        P.optimize(site, budget, problem=problem, gap=1.5)


def test_auto_keeps_subset_columns_bounded_and_exact(monkeypatch):
    site = P.synthetic_site(14, 16, per_scenario=9, seed=5)
    problem = P.Problem(site)
    m = np.array([b.m for b in problem.blocks])
    # a small program keeps every block of at most 12 candidates as subsets, as before
    assert M._auto_subsets(problem).tolist() == (m <= M.SUBSET_MAX).tolist()
    monkeypatch.setattr(M, "SUBSET_COLUMNS", 64)
    ok = M._auto_subsets(problem)
    assert (2.0 ** m[ok]).sum() <= 64
    # the blocks moved to logspace are the largest ones
    assert m[ok & (m > 0)].max(initial=0) <= m[~ok & (m <= M.SUBSET_MAX)].min(initial=99)
    budget = 0.4 * problem.costs["annualised"].sum()
    plan = P.optimize(site, budget, problem=problem)
    best = P.optimize(site, budget, method="enumerate", problem=problem)
    assert "logspace" in plan.method and plan.status == "optimal"
    assert plan.expected_ale == pytest.approx(best.expected_ale, rel=1e-7)


def test_vectorised_gains_equal_the_problem_gains():
    # blocks of more than 16 candidates are not tabulated: the vectorised evaluation of all
    # one-candidate additions must give Problem.gains exactly
    site = P.synthetic_site(12, 40, per_scenario=20, seed=6)
    problem = P.Problem(site)
    assert problem.flat()[-1], "the instance should have untabulated blocks"
    rng = np.random.default_rng(0)
    x = rng.random((4, problem.n)) < 0.2
    codes = problem.codes(x)
    np.testing.assert_array_equal(_gains(problem, x, codes), problem.gains(x, codes))


def test_greedy_with_the_gain_cache_equals_plain_greedy(monkeypatch):
    site = P.synthetic_site(12, 40, per_scenario=20, seed=7)
    problem = P.Problem(site)
    rules = _Rules(problem, ())
    cost = problem.costs["annualised"]
    budgets = np.array([0.1, 0.3, np.inf]) * cost.sum()
    starts = np.zeros((3, problem.n), dtype=bool)
    hi = np.ones(problem.n)
    fast, _ = _greedy_runs(problem, rules, cost, budgets, starts, hi)
    import riskkit.portfolio.heuristics as H

    monkeypatch.setattr(
        H, "_gains", lambda inst, x, codes, cache=None, dirty=None: inst.gains(x, codes)
    )
    slow, _ = _greedy_runs(problem, rules, cost, budgets, starts, hi)
    np.testing.assert_array_equal(fast, slow)


def test_default_time_limits():
    for fn in (P.optimize, P.frontier):
        assert inspect.signature(fn).parameters["time_limit"].default == DEFAULT_TIME_LIMIT
    assert DEFAULT_TIME_LIMIT == 60.0
    # None still searches without a limit
    site = P.synthetic_site(10, 12, seed=1)
    plan = P.optimize(site, None, time_limit=None)
    assert plan.status == "optimal" and plan.optimality == "proven optimal"


def test_a_time_limited_large_solve_states_its_gap():
    # 48 candidates, blocks beyond 12 candidates (logspace), a limit shorter than the solve;
    # money only (safety_first=False): the time limit of the expected-loss search is checked
    site = P.synthetic_site(30, 60, per_scenario=14, seed=8)
    problem = P.Problem(site)
    budget = 0.2 * problem.costs["annualised"].sum()
    reports = []
    t0 = time.perf_counter()
    plan = P.optimize(
        site,
        budget,
        problem=problem,
        time_limit=1.0,
        progress=reports.append,
        safety_first=False,
    )
    elapsed = time.perf_counter() - t0
    # HiGHS is stopped at the limit; before it the greedy start, after it pruning and the
    # closed-form check of the plan: timed here too, so a loaded machine scales both sides
    t1 = time.perf_counter()
    P.greedy(site, budget, problem=problem, compare_optimum=False)
    P.evaluate(site, plan.members)
    fixed = time.perf_counter() - t1
    assert elapsed < 1.0 + 3 * fixed + 1.0, (elapsed, fixed)
    assert plan.annualised_cost <= budget * (1 + 1e-9)
    # without a limit this solve takes 30 s or more
    assert plan.status == "time_limit" and not plan.proven_optimal
    assert "of the optimum" in plan.optimality or "before the solver" in plan.optimality
    if np.isfinite(plan.bound):
        assert plan.gap == pytest.approx((plan.expected_ale - plan.bound) / plan.expected_ale)
        assert plan.bound <= plan.expected_ale * (1 + 1e-9)
    assert reports[0].event == "start" and reports[-1].event == "done"
    assert all(r.seconds <= elapsed + 1e-6 for r in reports)
    assert "best plan" in reports[-1].text("EUR") and "EUR/yr" in reports[-1].text("EUR")


def test_frontier_reports_progress_per_budget():
    site = P.synthetic_site(14, 16, per_scenario=9, seed=9)
    reports = []
    fr = P.frontier(site, n=3, nested=False, progress=reports.append, method="logspace")
    assert {r.steps for r in reports} == {3}
    assert {r.step for r in reports} == {0, 1, 2}
    assert (fr.points["status"] == "optimal").all()


def test_plan_optimality_sentences():
    site = P.synthetic_site(10, 12, seed=2)
    problem = P.Problem(site)
    budget = 0.3 * problem.costs["annualised"].sum()
    assert P.optimize(site, budget, problem=problem).proven_optimal
    g = P.greedy(site, budget, problem=problem)
    assert g.optimality.startswith("a greedy plan")
    assert not g.proven_optimal


def test_cli_plan_shows_progress_on_stderr_when_asked():
    from riskkit.cli import cli

    args = ["plan", TINY, "--budget", "40000", "--trials", "200", "--method", "logspace"]
    res = CliRunner().invoke(cli, [*args, "--progress"])
    assert res.exit_code == 0, res.output
    assert "best plan" in res.stderr and "bound" in res.stderr and "gap" in res.stderr
    assert "best plan" not in res.stdout
    quiet = CliRunner().invoke(cli, [*args, "--no-time-limit"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == "" or "best plan" not in quiet.stderr
    assert quiet.stdout.split("Recommended plan")[1] == res.stdout.split("Recommended plan")[1]


def test_synthetic_data_writes_the_synthetic_site(tmp_path):
    import yaml

    from riskkit import load_site
    from riskkit.exposure import expected_losses
    from riskkit.synthetic import synthetic_data

    data = synthetic_data(40, 30, seed=3)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    site = P.synthetic_site(40, 30, seed=3)
    loaded = load_site(path)
    assert [s.id for s in loaded.scenarios] == [s.id for s in site.scenarios]
    assert [c.id for c in loaded.countermeasures] == [c.id for c in site.countermeasures]
    a = expected_losses(site, plan=[c.id for c in site.candidates])["ale"]
    b = expected_losses(loaded, plan=[c.id for c in loaded.candidates])["ale"]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-12)
