"""What every entry point prepares: a problem with its budget kind, constraints and bounds.

:class:`_Setup` also turns a solution into a :class:`~riskkit.portfolio.results.Plan`, so the
entry points share one way of making plans.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..site import Site
from .constraints import _constraints, _prune, _Rules
from .heuristics import _greedy_runs
from .milp import _MIP, LARGE_CANDIDATES, _diagnose
from .problem import MIP_REL_GAP, InfeasiblePlan, Problem, _bounds, _cost_kind, _problem
from .results import Plan, _make_plan

DEFAULT_TIME_LIMIT = 60.0
"""Default time limit of :func:`optimize` (the whole call) and of each budget of
:func:`frontier` [s]. When it stops the search, the plan states its proven bound and gap;
``time_limit=None`` searches without a limit."""

FINISH_SHARE = 0.05
"""Share of a time limit kept back from HiGHS for the work after the solve (pruning the plan,
its exact evaluation) [-], at most :data:`FINISH_MAX` seconds."""

FINISH_MAX = 5.0


@dataclass
class _Setup:
    """A problem prepared for one call: costs of the budget kind, constraints, x bounds."""

    inst: Problem
    rules: _Rules
    kind: str
    cons: tuple[str, ...]
    cost: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    t0: float  # when the call started [s, time.perf_counter]

    def elapsed(self) -> float:
        """Seconds since the call started [s]."""
        return time.perf_counter() - self.t0

    def plan(self, x, budget: float, method: str, sol=None, **given) -> Plan:
        """The plan of ``x``; status, bound and seconds from ``sol`` unless ``given``."""
        meta = {"status": "given", "bound": np.nan, "seconds": 0.0}
        if sol is not None:
            meta = {"status": sol.status, "bound": sol.bound, "seconds": sol.seconds}
        meta.update(given)
        return _make_plan(
            self.inst, x, budget=budget, kind=self.kind, method=method, cons=self.cons, **meta
        )


def _setup(
    site: Site,
    problem: Problem | None,
    budget_kind: str,
    constraints: Iterable[str] | str,
    targets: Any = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    t0: float | None = None,
) -> _Setup:
    """Check the arguments and prepare the shared problem (built here if not given)."""
    t0 = time.perf_counter() if t0 is None else t0
    kind = _cost_kind(budget_kind)
    cons = _constraints(constraints)
    inst = _problem(site, problem)
    rules = _Rules(inst, cons, targets)
    lo, hi = _bounds(inst, include, exclude)
    return _Setup(inst, rules, kind, cons, inst.cost(kind), lo, hi, t0)


def _check_time_limit(time_limit) -> None:
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 [s], {time_limit!r} was given")


def _check_gap(gap) -> float:
    try:
        g = float(gap)
    except (TypeError, ValueError):
        raise ValueError(f"gap must be a number in [0, 1), {gap!r} was given") from None
    if not 0 <= g < 1:
        raise ValueError(f"gap must be in [0, 1) (a relative gap), {gap!r} was given")
    return g


def _solve_plan(
    job: _Setup,
    budget: float,
    method: str,
    time_limit: float | None,
    *,
    mip: _MIP | None = None,
    lo: np.ndarray | None = None,
    start: np.ndarray | None = None,
    gap: float = MIP_REL_GAP,
    progress=None,
    where: tuple | None = None,
    t0: float | None = None,
) -> Plan:
    """The optimal plan by the MIP, or the best found with its proven gap.

    ``time_limit`` [s] counts from ``t0`` (default :attr:`_Setup.t0`): building the problem
    and the program, the greedy start, the cut loop and HiGHS spend it, and a share is kept
    back for pruning and evaluating the plan. ``lo`` are the x lower bounds (default the
    job's), ``start`` a start plan (default the greedy plan, computed for programs of at
    least :data:`LARGE_CANDIDATES` candidates or with logspace blocks). Smaller programs
    are solved by HiGHS alone, and if a time limit stops it, the better of its incumbent
    and the greedy plan is kept. Raises :class:`InfeasiblePlan` with a diagnosis.
    """
    inst, rules, cost, hi = job.inst, job.rules, job.cost, job.hi
    lo = job.lo if lo is None else lo
    t0 = job.t0 if t0 is None else t0
    mip = _MIP(inst, rules, job.kind, method) if mip is None else mip
    large = inst.n >= LARGE_CANDIDATES or bool(mip.terms)
    if start is None and large:
        start = _greedy_runs(inst, rules, cost, budget, (lo > 0)[None], hi)[0][0]
    reserve = 0.0
    if time_limit is not None:
        reserve = min(FINISH_SHARE * time_limit, FINISH_MAX)
    sol = mip.solve(
        budget,
        lo,
        hi,
        time_limit,
        start=t0,
        gap=gap,
        x0=start if large else None,
        progress=progress,
        where=where or (budget, 0, 1),
        reserve=reserve,
    )
    if sol.x is None and sol.status == "infeasible":
        raise InfeasiblePlan(_diagnose(mip, inst, rules, budget, cost, lo, hi, job.kind))
    x, label = sol.x, mip.method
    if sol.status != "optimal" and large:
        if x is not None and start is not None and np.array_equal(x, start):
            label = f"{mip.method}+greedy"  # HiGHS found nothing better than the start
    elif sol.status != "optimal":
        # stopped early: keep the better of HiGHS's incumbent and the greedy plan
        gx = _greedy_runs(inst, rules, cost, budget, (lo > 0)[None], hi)[0][0]
        if not rules.violations(gx) and (
            x is None or inst.total(gx[None])[0] < inst.total(x[None])[0]
        ):
            x, label = gx, f"{mip.method}+greedy"
    if x is None:
        raise RuntimeError(
            f"HiGHS found no plan within the time limit of {time_limit} s (status"
            f" {sol.status}) and greedy breaks the constraints; raise time_limit"
        )
    x = _prune(inst, rules, x, lo, cost)
    return job.plan(x, budget, label, sol, seconds=time.perf_counter() - t0)


def _wants_simulation(simulate: bool | None, trials, seed) -> bool:
    """``simulate`` if given, else whether ``trials`` or ``seed`` was given."""
    if simulate is None:
        return trials is not None or seed is not None
    return bool(simulate)
