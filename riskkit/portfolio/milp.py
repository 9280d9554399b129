"""The mixed-integer program of the exact optimiser.

One builder per exact formulation (``subset``, ``logspace`` with its tangent-cut loop,
``product``), the solve loop split into bounds, solve and collect, the diagnosis of an
infeasible program and the joint roadmap.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from .results import Progress

try:  # HiGHS as bundled with scipy (>= 1.15): callbacks and start solutions
    from scipy.optimize._highspy import _core as _hc
except ImportError:  # pragma: no cover - older scipy: scipy.optimize.milp, no callbacks
    _hc = None

SUBSET_COLUMNS = 8192
"""Most subset columns ``auto`` puts in one program [-].

``auto`` formulates a block by subsets (2^m columns for m touching candidates) while the
program's subset columns stay within this; beyond it the largest blocks go to ``logspace``.
A program of tens of thousands of subset columns spends minutes in each LP (measured: 27,657
columns at 200 scenarios x 500 candidates, 3 branch-and-bound nodes in 60 s), while the
compact logspace blocks keep the LP small.
"""

SEEN_CUTS = 20
"""Plans found during a cut round (the last ones) at which tangents are added after it [-];
more tangents per round, fewer rounds."""

ROUND_SLICE = 5.0
"""First time slice of a HiGHS round in a program with tangent cuts [s]; each next slice is
:data:`SLICE_GROWTH` times longer (twice that if the slice found nothing to cut)."""

SLICE_GROWTH = 1.5

PROGRESS_EVERY = 1.0
"""Least time between two ``bound`` reports of the progress display [s]."""

LARGE_CANDIDATES = 50
"""Candidates from which a solve starts from the greedy plan (given to HiGHS as its first
incumbent). Smaller programs are solved by HiGHS alone, as before, greedy being kept only as
a fallback when a time limit stops HiGHS."""


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
    target: float = MIP_REL_GAP  # relative gap at which the search stops [-]
    nodes: int = 0
    seen: list = field(default_factory=list)  # plans HiGHS found in this round

    def raise_bound(self, res) -> None:
        """Raise the bound to HiGHS's dual bound (valid for the exact objective)."""
        bnd = getattr(res, "mip_dual_bound", None)
        if bnd is not None and np.isfinite(bnd):
            self.bound = max(self.bound, bnd + self.const)

    def converged(self) -> bool:
        return self.best_x is not None and self.best_val - self.bound <= self.target * max(
            abs(self.best_val), 1e-12
        )

    def gap(self) -> float:
        """Relative gap of the best plan so far to the bound [-] (inf if either is missing)."""
        if self.best_x is None or not np.isfinite(self.bound):
            return np.inf
        if self.best_val == 0:
            return 0.0
        return max(self.best_val - self.bound, 0.0) / abs(self.best_val)

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


def _auto_subsets(inst: Problem) -> np.ndarray:
    """Which blocks ``auto`` formulates by subsets, (B,) bool.

    Blocks of at most :data:`SUBSET_MAX` candidates, as long as their subset columns
    (2^m each) stay within :data:`SUBSET_COLUMNS`; beyond that the largest go to the
    compact formulation first.
    """
    m = np.array([blk.m for blk in inst.blocks], dtype=int)
    ok = m <= SUBSET_MAX
    cols = np.where(ok, 2.0**m, 0.0)
    if cols.sum() > SUBSET_COLUMNS:
        for b in np.argsort(-m, kind="stable"):
            if cols.sum() <= SUBSET_COLUMNS:
                break
            if ok[b] and m[b] > 0:
                ok[b], cols[b] = False, 0.0
    return ok


@dataclass
class _HighsResult:
    """What one HiGHS run returns (the fields of scipy's ``OptimizeResult`` used here)."""

    status: int  # 0 optimal, 1 stopped (time limit or interrupted), 2 infeasible, 4 other
    x: np.ndarray | None
    mip_dual_bound: float | None
    message: str
    interrupted: bool = False


def _highs(c, integ, lb, ub, A, rlo, rhi, opts, start=None, watch=None) -> _HighsResult:
    """One HiGHS run of the program min c x, rlo <= A x <= rhi, lb <= x <= ub.

    Without ``start`` and ``watch``, :func:`scipy.optimize.milp`. Otherwise HiGHS through
    scipy's bundled interface, with ``start`` = (column indices, values) as a start
    solution (HiGHS completes the other columns) and ``watch(kind, payload) -> bool`` called
    with ``('solution', x)`` at each improving solution and ``('bound', (dual bound,
    nodes))`` during the search; it returns True to stop the search.
    """
    if _hc is None or (start is None and watch is None):
        res = milp(
            c,
            integrality=integ,
            bounds=Bounds(lb, ub),
            constraints=LinearConstraint(A, rlo, rhi),
            options=opts,
        )
        return _HighsResult(res.status, res.x, getattr(res, "mip_dual_bound", None), res.message)
    A = sparse.csc_matrix(A)
    h = _hc._Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    # the relative gap decides (HiGHS's absolute gap of 1e-6 would stop the scaled objective
    # of a large site early); the search is stopped by the callback at the asked gap
    h.setOptionValue("mip_abs_gap", 1e-12)
    # tangent rows are measured in units of their term's largest value: a row tolerance of
    # 1e-6 there would let w sit below exp(u) by more than the gap asked of the optimum
    h.setOptionValue("mip_feasibility_tolerance", 1e-9)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    for key, val in opts.items():
        if key == "presolve":
            val = "on" if val else "off"
        h.setOptionValue(key, float(val) if isinstance(val, float) else val)
    lp = _hc.HighsLp()
    lp.num_col_ = len(c)
    lp.num_row_ = A.shape[0]
    lp.col_cost_ = np.asarray(c, dtype=float)
    lp.col_lower_ = np.asarray(lb, dtype=float)
    lp.col_upper_ = np.asarray(ub, dtype=float)
    lp.row_lower_ = np.asarray(rlo, dtype=float)
    lp.row_upper_ = np.asarray(rhi, dtype=float)
    lp.a_matrix_.num_col_ = len(c)
    lp.a_matrix_.num_row_ = A.shape[0]
    lp.a_matrix_.format_ = _hc.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data.astype(float)
    lp.integrality_ = [_hc.HighsVarType(int(i)) for i in integ]
    h.passModel(lp)
    if start is not None:
        h.setSolution(len(start[0]), start[0], start[1])
    state: dict[str, Any] = {"stop": False, "error": None}
    kinds = _hc.cb.HighsCallbackType
    improving, interrupt = (
        int(kinds.kCallbackMipImprovingSolution),
        int(kinds.kCallbackMipInterrupt),
    )

    def callback(ctype, message, out, inp, user_data):
        if state["error"] is not None:
            inp.user_interrupt = True
            return
        try:
            t = int(ctype)
            if t == improving:
                stop = watch("solution", out.mip_solution)
            else:
                stop = watch("bound", (out.mip_dual_bound, out.mip_node_count))
            state["stop"] = state["stop"] or bool(stop)
        except Exception as e:  # raised again after the run; HiGHS cannot carry it
            state["error"] = e
        if t == interrupt and (state["stop"] or state["error"] is not None):
            inp.user_interrupt = True

    if watch is not None:
        h.setCallback(callback, None)
        for kind in (kinds.kCallbackMipImprovingSolution, kinds.kCallbackMipInterrupt):
            h.startCallback(kind)
    h.run()
    if state["error"] is not None:
        raise state["error"]
    ms = h.getModelStatus()
    info = h.getInfo()
    S = _hc.HighsModelStatus
    stopped = (S.kTimeLimit, S.kInterrupt, S.kIterationLimit, S.kSolutionLimit)
    if ms == S.kOptimal:
        status = 0
    elif ms in stopped or ms == getattr(S, "kHighsInterrupt", S.kInterrupt):
        status = 1
    elif ms == S.kInfeasible:
        status = 2
    else:
        status = 4
    x = None
    if status in (0, 1) and np.isfinite(info.objective_function_value):
        x = np.array(h.getSolution().col_value)
    bound = info.mip_dual_bound
    return _HighsResult(
        status, x, bound, h.modelStatusToString(ms), interrupted=bool(state["stop"])
    )


class _Reporter:
    """Builds :class:`Progress` reports of one solve and passes them on."""

    def __init__(self, scale: float, t0: float, progress, where):
        self.scale, self.t0, self.progress = scale, t0, progress
        self.budget, self.step, self.steps = where
        self.last = -np.inf

    def __call__(self, run: _Run, event: str, throttle: bool = False) -> None:
        if self.progress is None:
            return
        now = time.perf_counter()
        if throttle and now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        budget = self.budget
        self.progress(
            Progress(
                seconds=now - self.t0,
                incumbent=run.best_val * self.scale if run.best_x is not None else np.inf,
                bound=run.bound * self.scale if np.isfinite(run.bound) else -np.inf,
                gap=run.gap(),
                event=event,
                round=run.it,
                nodes=run.nodes,
                budget=None if budget is None or not np.isfinite(budget) else float(budget),
                step=self.step,
                steps=self.steps,
            )
        )


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
        by_subsets = _auto_subsets(inst) if method == "auto" else None
        for b, blk in enumerate(inst.blocks):
            kind = method
            if method == "auto":
                kind = "subset" if by_subsets[b] else large
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
        *,
        gap: float = MIP_REL_GAP,
        x0: np.ndarray | None = None,
        progress: Callable[[Progress], None] | None = None,
        where: tuple = (None, 0, 1),
        reserve: float = 0.0,
    ) -> _Solved:
        """Solve with the budget row <= ``budget``; the exact objective of the plan found.

        The objective is ``loss_weight`` x (expected loss of ``blocks``) / scale +
        ``cost_weight`` x cost; ``value`` and ``bound`` are returned in the same units times
        scale for the loss part. ``time_limit`` [s] counts from ``start``
        (:func:`time.perf_counter`, default now): the time before the call and the cut loop
        spend it too, and HiGHS gets what is left at each round, less ``reserve`` [s] kept
        for the caller's work after the solve.

        ``gap`` is the relative gap at which the search stops: the exact value of the best
        plan found against HiGHS's bound (valid for the exact objective, the tangent cuts
        being an outer approximation). ``x0`` (a plan (n,) within the bounds, budget and
        constraints) is the first incumbent and is given to HiGHS as a start solution.
        ``progress`` receives a :class:`Progress` at each better plan, raised bound and cut
        round; ``where`` is its (budget, step, steps).
        """
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be > 0 [s], {time_limit!r} was given")
        if not 0 <= gap < 1:
            raise ValueError(f"gap must be in [0, 1), {gap!r} was given")
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
        run = _Run(blocks, loss_weight, cost_weight, const, target=max(gap, MIP_REL_GAP))
        active = self._active_terms(blocks if loss_weight else [])
        tell = _Reporter(self.scale, t0, progress, where)
        if x0 is not None and self._admissible(x0, lb, ub, budget):
            self._consider(run, np.asarray(x0, dtype=bool))
            tell(run, "start")
        else:
            x0 = None
        # stop HiGHS ourselves where its own gap is not the exact one (tangent cuts) or
        # where a looser gap than its tolerance is asked
        early = bool(active) or gap > MIP_REL_GAP
        # with tangent cuts, HiGHS runs in slices of growing length: the plans found in a
        # slice refine the cuts before the next, instead of one long search on a coarse model
        slice_s = ROUND_SLICE if active else None
        for run.it in range(1, max_iter + 1):
            opts = self._options(time_limit, t0, reserve, run.target)
            if opts is None:
                run.status = "time_limit"
                break
            sliced = slice_s is not None and opts.get("time_limit", np.inf) > slice_s
            if sliced:
                opts["time_limit"] = slice_s
            if active and run.it == 1 and run.best_x is not None:
                # tangents at the start plan: its exact value is the program's value there
                self._cuts_at(run.best_x, active)
            start_x = run.best_x if x0 is not None else None
            deadline = t0 + time_limit - reserve if time_limit is not None else np.inf
            watch = self._watcher(run, tell, early, deadline) if (progress or early) else None
            res = _highs(
                c,
                self.integ,
                lb,
                ub,
                self.matrix(),
                np.array(self.rlo),
                self._row_upper(budget),
                opts,
                self._start(start_x),
                watch,
            )
            if res.status == 2:
                if run.best_x is None:
                    seconds = time.perf_counter() - t0
                    return _Solved(
                        None, "infeasible", np.inf, np.inf, np.nan, seconds, run.it, res.message
                    )
                break
            run.raise_bound(res)
            x = self._collect(run, res) if res.x is not None else None
            done = res.interrupted and run.converged()
            if res.status == 1 and sliced and not done:
                added = self._add_cuts(res.x, x, active) if x is not None else 0
                for seen in run.seen[-SEEN_CUTS:]:
                    added += self._cuts_at(seen, active)
                run.seen.clear()
                slice_s *= SLICE_GROWTH if added else 2 * SLICE_GROWTH
                tell(run, "round")
                continue
            if res.status != 0 or x is None:
                if not done:
                    run.status = "time_limit" if res.status == 1 else "error"
                break
            tell(run, "round")
            if run.converged() or not self._add_cuts(res.x, x, active):
                break
            for seen in run.seen[-SEEN_CUTS:]:  # tangents at the round's other plans too
                self._cuts_at(seen, active)
            run.seen.clear()
        else:
            run.status = "iteration_limit"
        tell(run, "done")
        return run.result(self.scale, time.perf_counter() - t0)

    def _admissible(self, x, lb, ub, budget) -> bool:
        """Whether a plan (n,) keeps the x bounds, the budget, the groups and constraints."""
        x = np.asarray(x, dtype=bool)
        if len(x) != self.inst.n:
            return False
        if (x < lb[self.x]).any() or (x > ub[self.x]).any():
            return False
        if np.isfinite(budget) and self.cost @ x > budget * (1 + 1e-12) + 1e-9:
            return False
        if any(x[m].sum() > 1 for m in self.inst.groups.values()):
            return False
        return not self.rules.violations(x)

    def _value(self, run: _Run, x: np.ndarray) -> float:
        """The exact objective of a plan (n,) [scaled]."""
        loss, _ = self.inst.block_values(x[None])
        if run.blocks is not None:
            loss = loss * np.isin(np.arange(len(self.inst.blocks)), run.blocks)[None]
        return run.loss_weight * loss[0].sum() / self.scale + run.cost_weight * float(self.cost @ x)

    def _consider(self, run: _Run, x: np.ndarray) -> bool:
        """Keep ``x`` as the best plan if it is better and meets the constraints."""
        val = self._value(run, x)
        if val < run.best_val and not self.rules.violations(x):
            run.best_x, run.best_val = x, val
            return True
        return False

    def _start(self, x: np.ndarray | None):
        """The start solution given to HiGHS: the plan's x columns (HiGHS completes it)."""
        if x is None:
            return None
        return self.x.astype(np.int32), np.asarray(x, dtype=float)

    def _watcher(self, run: _Run, tell, early: bool, deadline: float = np.inf):
        """The callback of one HiGHS run: exact value of each new plan, bound, stop.

        Stops the run at the asked gap (``early``) and at ``deadline``
        (:func:`time.perf_counter`), which HiGHS's own time checks can overrun.
        """
        ncols = self.ncols

        def watch(kind: str, payload) -> bool:
            if kind == "solution":
                sol = np.asarray(payload, dtype=float)
                if len(sol) == ncols:
                    x = sol[self.x] > 0.5
                    run.seen.append(x)
                    if self._consider(run, x):
                        tell(run, "plan")
            else:
                bnd, nodes = payload
                run.nodes = int(nodes)
                if bnd is not None and np.isfinite(bnd) and bnd + run.const > run.bound:
                    run.bound = bnd + run.const
                    tell(run, "bound", throttle=True)
            return (early and run.converged()) or time.perf_counter() > deadline

        return watch

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
    def _options(
        time_limit: float | None, t0: float, reserve: float = 0.0, gap: float = MIP_REL_GAP
    ) -> dict | None:
        """HiGHS options for one round; None if the time limit is spent."""
        opts = {"mip_rel_gap": gap, "presolve": True}
        if time_limit is not None:
            left = time_limit - (time.perf_counter() - t0) - reserve
            if left <= 0:
                return None
            opts["time_limit"] = left
        return opts

    def _collect(self, run: _Run, res) -> np.ndarray:
        """The plan of a HiGHS solution, its exact objective kept if feasible and best."""
        x = res.x[self.x] > 0.5
        self._consider(run, x)
        return x

    def _cuts_at(self, x: np.ndarray, terms: list[_Term]) -> int:
        """Tangent cuts at the exact value of each term under plan ``x`` (n,)."""
        added, vals = 0, {}
        for t in terms:
            blk = self.inst.blocks[t.block]
            if t.block not in vals:
                vals[t.block] = blk.terms(x[blk.idx][None])[1][0] / self.scale
            true = vals[t.block][t.k]
            if true > 0:
                u = math.log(true)
                if not any(abs(u - a) < 1e-12 for a in t.points):
                    self._cut(t, u)
                    added += 1
        return added

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
