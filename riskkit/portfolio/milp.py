"""The mixed-integer program of the exact optimiser.

One builder per exact formulation (``subset``, ``logspace`` with its tangent-cut loop,
``product``), the solve loop split into bounds, solve and collect, the diagnosis of an
infeasible program and the joint roadmap.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from .constraints import _prune, _Rules
from .formulations import _Formulations, _Term
from .problem import (
    METHODS,
    MIP_REL_GAP,
    SUBSET_MAX,
    TABLE_MAX,
    Problem,
    _fmt,
)


@dataclass
class _Solved:
    x: np.ndarray | None
    status: str
    value: float  # exact objective of x [currency/yr or currency]
    bound: float
    gap: float
    seconds: float
    iterations: int
    message: str = ""


@dataclass
class _Run:
    """The state of one :meth:`_MIP.solve`: the best plan so far and HiGHS's best bound."""

    blocks: Any
    loss_weight: float
    cost_weight: float
    const: float  # objective constant of the blocks [scaled]
    best_x: np.ndarray | None = None
    best_val: float = np.inf
    bound: float = -np.inf
    status: str = "optimal"
    it: int = 0

    def raise_bound(self, res) -> None:
        """Raise the bound to HiGHS's dual bound (valid for the exact objective)."""
        bnd = getattr(res, "mip_dual_bound", None)
        if bnd is not None and np.isfinite(bnd):
            self.bound = max(self.bound, bnd + self.const)

    def converged(self) -> bool:
        return self.best_x is not None and self.best_val - self.bound <= MIP_REL_GAP * max(
            abs(self.best_val), 1e-12
        )

    def result(self, scale: float, seconds: float) -> _Solved:
        """The outcome in currency: value, bound and relative gap."""
        if self.best_x is None:
            status = self.status if self.status != "optimal" else "infeasible"
            return _Solved(None, status, np.inf, self.bound * scale, np.nan, seconds, self.it)
        value = self.best_val * scale
        bound = min(self.bound, self.best_val) * scale if np.isfinite(self.bound) else -np.inf
        gap = (value - bound) / abs(value) if value else 0.0
        status = self.status
        if status == "optimal" and gap > 10 * MIP_REL_GAP:
            status = "gap"
        return _Solved(self.best_x, status, value, bound, max(gap, 0.0), seconds, self.it)


class _MIP(_Formulations):
    """One problem as a mixed-integer program; the budget and x bounds change per solve."""

    def __init__(
        self,
        inst: Problem,
        rules: _Rules,
        cost_kind: str,
        method: str = "auto",
        large: str = "logspace",
    ):
        if method not in METHODS or method == "enumerate":
            raise ValueError(f"method must be one of {', '.join(METHODS)}, {method!r} was given")
        self.inst, self.rules = inst, rules
        self.cost_kind, self.requested = cost_kind, method
        self.cost = inst.cost(cost_kind)
        self.scale = inst.scale
        self._lb: list = []
        self._ub: list = []
        self._int: list = []
        self._obj: list = []
        self._R: list = []
        self._C: list = []
        self._V: list = []
        self.rlo: list = []
        self.rhi: list = []
        self.ncols = 0
        self.nrows = 0
        self._A = None
        self.terms: list[_Term] = []
        self.kinds: dict[str, int] = {}
        n = inst.n
        self.x = self._cols(n, 0.0, np.where(inst.blocked, 0.0, 1.0), 1, 0.0)
        self.cost_scale = max(float(self.cost.sum()), 1.0)
        self.budget_row = self._row(self.x, self.cost / self.cost_scale, -np.inf, np.inf)
        for members in inst.groups.values():
            self._row(members, np.ones(len(members)), -np.inf, 1.0)
        for gap in rules.gaps:
            if len(gap.closers):
                self._row(gap.closers, np.ones(len(gap.closers)), 1.0, np.inf)
        self.expr: list[tuple[np.ndarray, np.ndarray, float]] = []
        for b, blk in enumerate(inst.blocks):
            kind = method
            if method == "auto":
                kind = "subset" if blk.m <= SUBSET_MAX else large
            if kind == "subset" and blk.m > TABLE_MAX:
                raise ValueError(
                    f"method 'subset' handles at most {TABLE_MAX} candidates per scenario;"
                    f" {blk.sid} is touched by {blk.m}: use 'auto', 'logspace' or 'product'"
                )
            if blk.m == 0:
                kind = "constant"
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            self.expr.append(getattr(self, f"_{kind}")(b, blk))
        for z, tol in rules.zone_tol.items():
            cols, vals, const = self._sum_expr(np.flatnonzero(inst.block_zone == z))
            self._row(cols, vals, -np.inf, tol / self.scale - const)
        self.lb = np.concatenate(self._lb)
        self.ub = np.concatenate(self._ub)
        self.integ = np.concatenate(self._int)
        self.obj = np.concatenate(self._obj)

    @property
    def method(self) -> str:
        used = [k for k in ("subset", "logspace", "product") if self.kinds.get(k)]
        return used[0] if len(used) == 1 else ("+".join(used) if used else "constant")

    # -- building ----------------------------------------------------------------------------
    def _cols(self, k, lb, ub, integ, obj) -> np.ndarray:
        start = self.ncols
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (k,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (k,)).copy())
        self._int.append(np.full(k, integ, dtype=np.uint8))
        self._obj.append(np.broadcast_to(np.asarray(obj, dtype=float), (k,)).copy())
        self.ncols += k
        return np.arange(start, start + k)

    def _row(self, cols, vals, lo, hi) -> int:
        cols = np.asarray(cols, dtype=np.int64)
        self._R.append(np.full(len(cols), self.nrows, dtype=np.int64))
        self._C.append(cols)
        self._V.append(np.asarray(vals, dtype=float))
        self.rlo.append(float(lo))
        self.rhi.append(float(hi))
        self.nrows += 1
        self._A = None
        return self.nrows - 1

    def matrix(self):
        if self._A is None:
            self._A = sparse.csr_matrix(
                (np.concatenate(self._V), (np.concatenate(self._R), np.concatenate(self._C))),
                shape=(self.nrows, self.ncols),
            )
        return self._A

    def _sum_expr(self, blocks) -> tuple[np.ndarray, np.ndarray, float]:
        cols = [self.expr[b][0] for b in blocks]
        vals = [self.expr[b][1] for b in blocks]
        const = float(sum(self.expr[b][2] for b in blocks))
        if not cols:
            return np.zeros(0, dtype=np.int64), np.zeros(0), const
        return np.concatenate(cols), np.concatenate(vals), const

    # -- solving -----------------------------------------------------------------------------
    def objective(self, blocks=None, cost_weight: float = 0.0):
        """Objective vector and constant over ``blocks`` (all by default) plus a cost term."""
        if blocks is None:
            c = self.obj.copy()
            const = float(sum(e[2] for e in self.expr))
        else:
            c = np.zeros(self.ncols)
            cols, vals, const = self._sum_expr(blocks)
            np.add.at(c, cols, vals)
        if cost_weight:
            c[self.x] += cost_weight * self.cost
        return c, const

    def solve(
        self,
        budget: float = np.inf,
        lo_x: np.ndarray | None = None,
        hi_x: np.ndarray | None = None,
        time_limit: float | None = None,
        blocks=None,
        cost_weight: float = 0.0,
        loss_weight: float = 1.0,
        max_iter: int = 100,
        start: float | None = None,
    ) -> _Solved:
        """Solve with the budget row <= ``budget``; the exact objective of the plan found.

        The objective is ``loss_weight`` x (expected loss of ``blocks``) / scale +
        ``cost_weight`` x cost; ``value`` and ``bound`` are returned in the same units times
        scale for the loss part. ``time_limit`` [s] counts from ``start``
        (:func:`time.perf_counter`, default now): the time before the call and the cut loop
        spend it too, and HiGHS gets what is left at each round.
        """
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be > 0 [s], {time_limit!r} was given")
        t0 = time.perf_counter() if start is None else start
        if self.inst.n == 0:
            # no candidates: the empty plan is the only plan (HiGHS rejects an empty program)
            value = loss_weight * float(self.inst.total(np.zeros((1, 0), dtype=bool))[0])
            return _Solved(np.zeros(0, dtype=bool), "optimal", value, value, 0.0, 0.0, 0)
        c, const = self.objective(blocks)
        c, const = c * loss_weight, const * loss_weight
        if cost_weight:
            c[self.x] += cost_weight * self.cost
        lb, ub = self._var_bounds(lo_x, hi_x)
        if (lb > ub).any():
            return _Solved(None, "infeasible", np.inf, np.inf, np.nan, 0.0, 0)
        run = _Run(blocks, loss_weight, cost_weight, const)
        active = self._active_terms(blocks if loss_weight else [])
        for run.it in range(1, max_iter + 1):
            opts = self._options(time_limit, t0)
            if opts is None:
                run.status = "time_limit"
                break
            res = milp(
                c,
                integrality=self.integ,
                bounds=Bounds(lb, ub),
                constraints=LinearConstraint(self.matrix(), self.rlo, self._row_upper(budget)),
                options=opts,
            )
            if res.status == 2:
                if run.best_x is None:
                    seconds = time.perf_counter() - t0
                    return _Solved(
                        None, "infeasible", np.inf, np.inf, np.nan, seconds, run.it, res.message
                    )
                break
            run.raise_bound(res)
            if res.x is None:
                run.status = "time_limit" if res.status == 1 else "error"
                break
            x = self._collect(run, res)
            if res.status != 0:
                run.status = "time_limit" if res.status == 1 else "error"
                break
            if not self._add_cuts(res.x, x, active) or run.converged():
                break
        else:
            run.status = "iteration_limit"
        return run.result(self.scale, time.perf_counter() - t0)

    def _var_bounds(self, lo_x, hi_x) -> tuple[np.ndarray, np.ndarray]:
        """Column bounds with the plan's x bounds and the mandatory items applied."""
        lb, ub = self.lb.copy(), self.ub.copy()
        if lo_x is not None:
            lb[self.x] = np.maximum(lb[self.x], lo_x)
        lb[self.x] = np.maximum(lb[self.x], self.inst.mandatory.astype(float))
        if hi_x is not None:
            ub[self.x] = np.minimum(ub[self.x], hi_x)
        return lb, ub

    def _row_upper(self, budget: float) -> np.ndarray:
        """Row upper bounds with the budget row set to ``budget`` (scaled, with slack)."""
        rhi = np.array(self.rhi)
        rhi[self.budget_row] = (
            (budget * (1 + 1e-12) + 1e-9) / self.cost_scale if np.isfinite(budget) else np.inf
        )
        return rhi

    @staticmethod
    def _options(time_limit: float | None, t0: float) -> dict | None:
        """HiGHS options for one round; None if the time limit is spent."""
        opts = {"mip_rel_gap": MIP_REL_GAP, "presolve": True}
        if time_limit is not None:
            left = time_limit - (time.perf_counter() - t0)
            if left <= 0:
                return None
            opts["time_limit"] = left
        return opts

    def _collect(self, run: _Run, res) -> np.ndarray:
        """The plan of a HiGHS solution, its exact objective kept if feasible and best."""
        x = res.x[self.x] > 0.5
        loss, _ = self.inst.block_values(x[None])
        if run.blocks is not None:
            loss = loss * np.isin(np.arange(len(self.inst.blocks)), run.blocks)[None]
        val = run.loss_weight * loss[0].sum() / self.scale + run.cost_weight * float(self.cost @ x)
        if not self.rules.violations(x) and val < run.best_val:
            run.best_x, run.best_val = x, val
        return x

    def _active_terms(self, blocks) -> list[_Term]:
        if not self.terms:
            return []
        keep = set(range(len(self.inst.blocks))) if blocks is None else set(blocks)
        zones = set(self.rules.zone_tol)
        return [t for t in self.terms if t.block in keep or self.inst.block_zone[t.block] in zones]


def _diagnose(mip: _MIP, inst, rules, budget, cost, lo, hi, kind) -> str:
    """Explain why the MIP is infeasible: a zone's tolerance, or the budget."""
    cur = inst.site.currency
    unit = f"{cur}/yr" if kind == "annualised" else cur
    if rules.zone_tol:
        relaxed = copy.copy(rules)
        relaxed.zone_tol = {}
        free = _MIP(inst, relaxed, mip.cost_kind, mip.requested)
        for z, tol in rules.zone_tol.items():
            blocks = np.flatnonzero(inst.block_zone == z)
            sol = free.solve(np.inf, lo, hi, time_limit=30, blocks=blocks)
            if sol.x is None:
                break
            if sol.value > tol * (1 + 1e-9):
                return (
                    f"zone {inst.zones[z]} cannot meet its tolerance per_zone_ale of"
                    f" {_fmt(tol)} {cur}/yr with any plan: its lowest reachable expected loss"
                    f" is {_fmt(sol.value)} {cur}/yr; the constraint zone_ale (meet_tolerance)"
                    " cannot be met"
                )
    sol = mip.solve(np.inf, lo, hi, time_limit=30, loss_weight=0.0, cost_weight=1 / mip.scale)
    if sol.x is None:
        return (
            f"no plan satisfies the constraints {', '.join(rules.cons) or '(none)'} together"
            " with the exclusive groups and mandatory items, whatever the budget"
        )
    need = float(cost @ sol.x)
    return (
        f"the constraints {', '.join(rules.cons) or '(none)'} need at least {_fmt(need)}"
        f" {unit} ({kind}), above the budget of {_fmt(budget)} {unit}; the cheapest plan"
        f" meeting them is {', '.join(inst.members(sol.x))}"
    )


def _joint_roadmap(inst, rules, kind, method, budgets, lo, hi, time_limit):
    """Nested plans S_1 ⊆ ... ⊆ S_K within the budgets minimising the summed expected loss.

    One copy of the program per budget, linked by x_k <= x_(k+1), solved as one MIP (blocks
    too large for subsets use the sequential-product form, which needs no cut loop). Returns
    (plans (K, n), status, relative gap, seconds) or None if no roadmap is found in time.
    """
    t0 = time.perf_counter()
    per = "auto" if method in ("auto", "logspace") else method
    m = _MIP(inst, rules, kind, per, large="product")
    if m.terms:  # a forced logspace formulation: use products for the joint model
        m = _MIP(inst, rules, kind, "auto", large="product")
    k_n, nc, n = len(budgets), m.ncols, inst.n
    A = sparse.block_diag([m.matrix()] * k_n, format="csr")
    rlo = np.tile(np.array(m.rlo), k_n)
    rhi = np.tile(np.array(m.rhi), k_n)
    for k, b in enumerate(budgets):
        rhi[k * m.nrows + m.budget_row] = (b * (1 + 1e-12) + 1e-9) / m.cost_scale
    r = np.repeat(np.arange((k_n - 1) * n), 2)
    c = np.ravel([[k * nc + i, (k + 1) * nc + i] for k in range(k_n - 1) for i in range(n)])
    v = np.tile([1.0, -1.0], (k_n - 1) * n)
    link = sparse.csr_matrix((v, (r, c)), shape=((k_n - 1) * n, k_n * nc))
    A = sparse.vstack([A, link], format="csr")
    rlo = np.concatenate([rlo, np.full((k_n - 1) * n, -np.inf)])
    rhi = np.concatenate([rhi, np.zeros((k_n - 1) * n)])
    lb, ub = np.tile(m.lb, k_n), np.tile(m.ub, k_n)
    for k in range(k_n):
        lb[k * nc : k * nc + n] = np.maximum(lb[k * nc : k * nc + n], lo)
        ub[k * nc : k * nc + n] = np.minimum(ub[k * nc : k * nc + n], hi)
    opts = {"mip_rel_gap": MIP_REL_GAP, "time_limit": 60.0 if time_limit is None else time_limit}
    res = milp(
        np.tile(m.obj, k_n),
        integrality=np.tile(m.integ, k_n),
        bounds=Bounds(lb, ub),
        constraints=LinearConstraint(A, rlo, rhi),
        options=opts,
    )
    if res.x is None:
        return None
    xs = np.array([res.x[k * nc : k * nc + n] > 0.5 for k in range(k_n)])
    prev = lo > 0
    for k in range(k_n):  # drop members without effect, keeping the chain nested
        xs[k] = _prune(inst, rules, xs[k], np.maximum(lo, prev), inst.cost(kind)) | prev
        prev = xs[k]
    status = "optimal" if res.status == 0 else "time_limit"
    gap = float(getattr(res, "mip_gap", np.nan)) if res.status != 0 else 0.0
    return xs, status, gap, time.perf_counter() - t0
