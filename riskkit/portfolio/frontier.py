"""The efficient frontier over budgets, greedy beside it, and the nested frontier (roadmap)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..site import Site
from .constraints import _precheck, _prune
from .heuristics import _greedy_runs
from .milp import _MIP, LARGE_CANDIDATES, _diagnose, _joint_roadmap
from .problem import (
    InfeasiblePlan,
    Problem,
    _check_budget,
)
from .results import (
    Frontier,
    Plan,
    Progress,
    _simulate_plans,
)
from .setup import (
    DEFAULT_TIME_LIMIT,
    FINISH_MAX,
    FINISH_SHARE,
    _check_time_limit,
    _Setup,
    _setup,
    _wants_simulation,
)


def frontier(
    site: Site,
    budgets: Sequence[float] | None = None,
    n: int = 20,
    budget_kind: str = "annualised",
    nested: bool = True,
    *,
    constraints: Iterable[str] | str = (),
    method: str = "auto",
    time_limit: float | None = DEFAULT_TIME_LIMIT,
    targets: Any = None,
    simulate: bool | None = None,
    trials: int | None = None,
    seed: int | None = None,
    problem: Problem | None = None,
    progress: Callable[[Progress], Any] | None = None,
) -> Frontier:
    """The efficient frontier: the exact optimal plan at each budget, with greedy beside it.

    Exact optimal plans are not nested: a larger budget can swap a cheap item for an
    expensive one. The nested frontier answers the roadmap question (what to buy first, then
    next) by optimising each budget with the previous plan fixed; ``nesting_cost`` shows what
    that costs against the optimum.

    Parameters
    ----------
    site : Site
    budgets : sequence of float, optional
        Budgets [currency/yr] or [currency]; default ``n`` evenly spaced from the cost of
        the mandatory items to the cost of the best plan without a budget.
    n : int
        Number of default budgets.
    budget_kind : {'annualised', 'capex'}
    nested : {True, 'myopic', 'joint', False}, default True
        Also compute a nested frontier, a roadmap of plans each containing the previous one.
        ``True`` or ``'myopic'``: each step is the best plan within its budget that keeps
        the previous step (fast, but an early choice can cost later steps much);
        ``'joint'``: the chain of nested plans that minimises the summed expected loss over
        all the budgets, one program for all steps (exact, much slower: a time limit of
        ``time_limit`` or 60 s, falling back to ``'myopic'`` if no roadmap is found).
    constraints, method, targets, problem
        As for :func:`optimize`.
    time_limit : float or None, default 60
        Seconds for each budget's solve [s] (None: no limit); a point stopped by it keeps
        its status ``time_limit``, bound and gap in :attr:`Frontier.points`.
    progress : callable, optional
        Called with a :class:`Progress` during each budget's solve (its ``step`` and
        ``steps`` say which budget), as for :func:`optimize`.
    simulate : bool, optional
        Simulate every plan on common random numbers for ``sim_ale``, ``var99`` and
        ``es99`` (the frontier against VaR99). None (default): only if ``trials`` or
        ``seed`` is given.
    trials, seed : int, optional

    Returns
    -------
    Frontier

    Notes
    -----
    One program is built and re-solved for every budget: only the budget row changes, and
    the tangent cuts of ``logspace`` blocks carry over to the next budget. A nested step
    whose budget's optimum already contains the previous step takes that optimum without a
    new solve. (Passing the previous optimum's value as an objective cutoff was measured
    and did not speed HiGHS up, so it is not done.)
    """
    if nested not in (True, False, "myopic", "joint"):
        raise ValueError(f"nested must be True, False, 'myopic' or 'joint', {nested!r} was given")
    _check_time_limit(time_limit)
    job = _setup(site, problem, budget_kind, constraints, targets)
    mip = _MIP(job.inst, job.rules, job.kind, method)
    if budgets is None:
        budgets = _default_budgets(job, mip, n, time_limit)
    budgets = np.unique(np.asarray([_check_budget(b) for b in budgets], dtype=float))
    gx = _greedy_at(job, budgets)
    large = job.inst.n >= LARGE_CANDIDATES or bool(mip.terms)
    opt = [
        _solve_point(
            job,
            mip,
            b,
            job.lo,
            time_limit,
            x0=gx[k] if large else None,
            progress=progress,
            where=(b, k, len(budgets)),
        )
        for k, b in enumerate(budgets)
    ]
    points = pd.DataFrame([row for _, row in opt])
    _add_greedy(points, job, budgets, gx)
    gseq = _greedy_sequence(job)
    nested_df, nested_plans = None, []
    if nested:
        nested_df, nested_plans = _nested(
            job, mip, nested, method, budgets, opt, points, time_limit
        )
    plans = [plan for plan, _ in opt]
    grid = pd.DataFrame(
        {b: _mask(job.inst, p) for b, p in zip(budgets, plans)},
        index=pd.Index(job.inst.ids, name="countermeasure"),
    )
    grid.columns.name = "budget"
    if _wants_simulation(simulate, trials, seed):
        _simulate_frontier(site, plans, nested_plans, points, nested_df, trials, seed)
    parts = [points.assign(series="optimal")]
    if nested_df is not None:
        parts.append(nested_df.assign(series="nested"))
    parts.append(gseq.assign(series="greedy"))
    summary = pd.concat(parts, ignore_index=True)
    return Frontier(
        job.kind,
        points,
        nested_df,
        gseq,
        grid,
        summary,
        plans,
        job.inst.baseline_ale,
        site.currency,
    )


def _mask(inst: Problem, plan: Plan | None) -> np.ndarray:
    """The plan's members as a bool vector over the candidates (none for no plan)."""
    return inst.mask(plan.members) if plan is not None else np.zeros(inst.n, bool)


def _default_budgets(job: _Setup, mip: _MIP, n: int, time_limit) -> np.ndarray:
    """``n`` budgets from the least cost meeting the constraints to the best plan's cost."""
    if n < 2:
        raise ValueError(f"n must be >= 2, {n!r} was given")
    inst, rules, cost, lo, hi, kind = job.inst, job.rules, job.cost, job.lo, job.hi, job.kind
    top = mip.solve(np.inf, lo, hi, time_limit)
    if top.x is None:
        _precheck(inst, rules, np.inf, cost, lo, hi, kind)
        raise InfeasiblePlan(_diagnose(mip, inst, rules, np.inf, cost, lo, hi, kind))
    top_x = _prune(inst, rules, top.x, lo, cost)
    low = float(cost[lo > 0].sum())
    if rules.gaps or rules.zone_tol or np.isfinite(rules.harm_tol).any():
        cheap = mip.solve(np.inf, lo, hi, time_limit, loss_weight=0.0, cost_weight=1 / mip.scale)
        if cheap.x is not None:
            low = float(cost @ cheap.x)
    return np.linspace(low, float(cost @ top_x), n)


def _solve_point(
    job: _Setup, mip: _MIP, budget: float, lo_x, time_limit, x0=None, progress=None, where=None
):
    """The optimal plan within ``budget`` keeping ``lo_x``, and its row (plan None if none).

    ``x0`` is a start plan (the greedy plan of that budget for large programs).
    """
    reserve = 0.0 if time_limit is None else min(FINISH_SHARE * time_limit, FINISH_MAX)
    sol = mip.solve(
        budget,
        lo_x,
        job.hi,
        time_limit,
        x0=x0,
        progress=progress,
        where=where or (budget, 0, 1),
        reserve=reserve,
    )
    if sol.x is None:
        return None, {"budget": budget, "status": sol.status}
    x = _prune(job.inst, job.rules, sol.x, lo_x, job.cost)
    plan = job.plan(x, budget, mip.method, sol)
    return plan, {"budget": budget, **plan.overview()}


def _greedy_at(job: _Setup, budgets: np.ndarray) -> np.ndarray:
    """The greedy plan at every budget, (K, n), in one vectorised run."""
    starts = np.repeat((job.lo > 0)[None], len(budgets), axis=0)
    return _greedy_runs(job.inst, job.rules, job.cost, budgets, starts, job.hi)[0]


def _add_greedy(points: pd.DataFrame, job: _Setup, budgets: np.ndarray, gx: np.ndarray) -> None:
    """The greedy plans ``gx`` (K, n) at the budgets: their columns of ``points``, in place."""
    inst, cost = job.inst, job.cost
    g_ale = inst.total(gx)
    g_ale[gx.astype(float) @ cost > budgets * (1 + 1e-12) + 1e-9] = np.nan  # below the forced
    points["greedy_ale"] = g_ale
    points["greedy_cost"] = gx.astype(float) @ inst.costs["annualised"]
    points["greedy_members"] = [", ".join(inst.members(x)) for x in gx]
    ok = points["expected_ale"].notna() if "expected_ale" in points else np.zeros(0, bool)
    opt = points.get("expected_ale", np.nan)
    points["greedy_excess"] = np.where(ok, (g_ale - opt) / opt, np.nan)
    red = points.get("reduction", np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        points["greedy_lost"] = np.where(ok & (red > 0), (g_ale - opt) / red, 0.0)


def _greedy_sequence(job: _Setup) -> pd.DataFrame:
    """The greedy investment sequence without budget, one row per step."""
    inst, lo = job.inst, job.lo
    _, seq = _greedy_runs(inst, job.rules, job.cost, np.inf, (lo > 0)[None], job.hi, record=True)
    cur = lo > 0
    rows = [_sequence_row(inst, 0, "", cur)]
    for step, (j, _) in enumerate(seq, start=1):
        cur = cur.copy()
        cur[j] = True
        rows.append(_sequence_row(inst, step, inst.ids[j], cur))
    return pd.DataFrame(rows)


def _sequence_row(inst: Problem, step: int, added: str, x: np.ndarray) -> dict:
    return {
        "step": step,
        "added": added,
        "annualised_cost": float(inst.costs["annualised"] @ x),
        "capex": float(inst.costs["capex"] @ x),
        "expected_ale": float(inst.total(x[None])[0]),
        "members": ", ".join(inst.members(x)),
    }


def _nested(job: _Setup, mip: _MIP, nested, method, budgets, opt, points, time_limit):
    """The nested frontier (table, plans): ``joint`` if asked and found, else ``myopic``."""
    if nested == "joint":
        found = [k for k, (plan, _) in enumerate(opt) if plan is not None]
        joint = _joint_roadmap(
            job.inst, job.rules, job.kind, method, budgets[found], job.lo, job.hi, time_limit
        )
        if joint is not None:
            return _joint_rows(job, mip, budgets, found, joint, points)
        # no roadmap within the time limit: fall back to the myopic one
    return _myopic_rows(job, mip, budgets, opt, points, time_limit)


def _joint_rows(job: _Setup, mip: _MIP, budgets, found, joint, points):
    xs, status, gap, seconds = joint
    rows, plans = [], []
    for k, b in enumerate(budgets):
        if k not in found:
            plans.append(None)
            rows.append({"budget": b, "status": "infeasible"})
            continue
        plan = job.plan(
            xs[found.index(k)], b, mip.method, status=status, bound=np.nan, seconds=seconds
        )
        plan.gap = gap
        row = {"budget": b, **plan.overview()}
        row["nesting_cost"] = plan.expected_ale - points.loc[k, "expected_ale"]
        plans.append(plan)
        rows.append(row)
    return pd.DataFrame(rows).assign(roadmap="joint"), plans


def _myopic_rows(job: _Setup, mip: _MIP, budgets, opt, points, time_limit):
    prev = job.lo.copy()
    rows, plans = [], []
    for k, b in enumerate(budgets):
        plan, row = opt[k]
        if plan is not None and (_mask(job.inst, plan) >= (prev > 0)).all():
            # the optimum already contains the previous step: it is the nested optimum
            row = dict(row)
        else:
            plan, row = _solve_point(job, mip, b, prev, time_limit)
        plans.append(plan)
        if plan is not None:
            prev = np.maximum(prev, _mask(job.inst, plan).astype(float))
            best = points.loc[k, "expected_ale"] if "expected_ale" in points else np.nan
            row["nesting_cost"] = plan.expected_ale - best
        rows.append(row)
    return pd.DataFrame(rows).assign(roadmap="myopic"), plans


def _simulate_frontier(site, plans, nested_plans, points, nested_df, trials, seed) -> None:
    """Simulate every plan on common random numbers: ``sim_ale``, ``var99``, ``es99``."""
    spec = {}
    for prefix, group in (("optimal", plans), ("nested", nested_plans)):
        for k, p in enumerate(group):
            if p is not None:
                spec[f"{prefix}-{k}"] = p.members
    stats, _, _, _ = _simulate_plans(site, spec, trials, seed, points=2)
    for prefix, df in (("optimal", points), ("nested", nested_df)):
        if df is None:
            continue
        for col, src in (("sim_ale", "ale"), ("var99", "var99"), ("es99", "es99")):
            df[col] = [
                stats.loc[f"{prefix}-{k}", src] if f"{prefix}-{k}" in stats.index else np.nan
                for k in range(len(df))
            ]
