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
from .constraints import _constraints, _Rules
from .problem import Problem, _bounds, _cost_kind, _problem
from .results import Plan, _make_plan


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


def _wants_simulation(simulate: bool | None, trials, seed) -> bool:
    """``simulate`` if given, else whether ``trials`` or ``seed`` was given."""
    if simulate is None:
        return trials is not None or seed is not None
    return bool(simulate)
