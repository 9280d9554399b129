"""The optional plan constraints in evaluable form.

SL gaps, zone tolerances and harm tolerances; the checks that name an impossible constraint
before solving, and pruning of members without effect.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..site import HARM_CATEGORIES
from .problem import (
    CONSTRAINTS,
    InfeasiblePlan,
    Problem,
    _fmt,
)


@dataclass
class _Gap:
    kind: str
    id: str
    fr: str
    sl_t: int
    sl_a: int
    closers: np.ndarray  # candidate positions whose level reaches sl_t

    def label(self) -> str:
        return f"{self.kind} {self.id} {self.fr} (SL-A {self.sl_a} < SL-T {self.sl_t})"


def _constraints(cons: Iterable[str] | str | None) -> tuple[str, ...]:
    if cons is None:
        return ()
    if isinstance(cons, str):
        cons = [cons]
    out = []
    for c in cons:
        if c not in CONSTRAINTS:
            raise ValueError(f"unknown constraint {c!r}; constraints are: {', '.join(CONSTRAINTS)}")
        if c == "meet_tolerance":
            out += ["zone_ale", "harm_frequency"]
        else:
            out.append(c)
    return tuple(dict.fromkeys(out))


class _Rules:
    """The constraints of one problem in evaluable form."""

    def __init__(self, inst: Problem, cons: tuple[str, ...], targets=None):
        self.inst = inst
        self.cons = cons
        self.gaps: list[_Gap] = []
        if "close_gaps" in cons:
            self.gaps = _gap_items(inst, targets)
        site = inst.site
        self.zone_tol: dict[int, float] = {}
        if "zone_ale" in cons:
            tol = site.tolerance.financial.per_zone_ale
            if tol is None:
                raise InfeasiblePlan(
                    "the constraint zone_ale (meet_tolerance) needs tolerance.financial."
                    "per_zone_ale in the site file, and it is not given"
                )
            present = set(inst.block_zone)
            self.zone_tol = {z: float(tol) for z in sorted(present)}
        self.harm_tol = np.full((len(inst.blocks), 2), np.inf)
        if "harm_frequency" in cons:
            for b, blk in enumerate(inst.blocks):
                for h, cat in enumerate(HARM_CATEGORIES):
                    sev = blk.harm_sev[h]
                    table = getattr(site.tolerance, cat)
                    lim = [table[k] for k in range(1, sev + 1) if k in table]
                    if sev > 0 and lim and blk.harm_p[h] > 0:
                        self.harm_tol[b, h] = min(lim)

    def violations(self, x: np.ndarray) -> list[str]:
        """What a single plan (n,) breaks, as readable messages."""
        inst = self.inst
        out = []
        x = np.asarray(x, dtype=bool)
        for gap in self.gaps:
            if not x[gap.closers].any():
                out.append(f"SL gap open: {gap.label()}")
        if self.zone_tol or np.isfinite(self.harm_tol).any():
            loss, harm = inst.block_values(x[None])
            for z, tol in self.zone_tol.items():
                ale = loss[0, inst.block_zone == z].sum()
                if ale > tol * (1 + 1e-9):
                    out.append(
                        f"zone {inst.zones[z]} expected loss {_fmt(ale)} above its tolerance"
                        f" {_fmt(tol)} [{inst.site.currency}/yr]"
                    )
            over = harm[0] > self.harm_tol * (1 + 1e-9)
            for b, h in zip(*np.nonzero(over)):
                blk = inst.blocks[b]
                out.append(
                    f"scenario {blk.sid} {HARM_CATEGORIES[h]} severity {blk.harm_sev[h]}"
                    f" frequency {harm[0, b, h]:.3g}/yr above its tolerance"
                    f" {self.harm_tol[b, h]:.3g}/yr"
                )
        return out

    def feasible(self, x: np.ndarray) -> np.ndarray:
        """Whether plans (P, n) satisfy the constraints (not budget or groups), (P,)."""
        x = np.atleast_2d(np.asarray(x, dtype=bool))
        ok = np.ones(x.shape[0], dtype=bool)
        for gap in self.gaps:
            ok &= x[:, gap.closers].any(axis=1)
        if self.zone_tol or np.isfinite(self.harm_tol).any():
            loss, harm = self.inst.block_values(x)
            for z, tol in self.zone_tol.items():
                ok &= loss[:, self.inst.block_zone == z].sum(axis=1) <= tol * (1 + 1e-9)
            ok &= (harm <= self.harm_tol[None] * (1 + 1e-9)).all(axis=(1, 2))
        return ok


def _gap_items(inst: Problem, targets=None) -> list[_Gap]:
    """Open SL gaps of the base state and the candidates that close each one."""
    from ..levels import gaps as level_gaps

    site = inst.site
    g = level_gaps(site, targets, state="current", plan=inst.base or None)
    tab = g.table[g.table["gap"] > 0]
    closers = g.closers[g.closers["closes"]] if len(g.closers) else g.closers
    out = []
    for _, row in tab.iterrows():
        key = (row["kind"], row["id"], row["fr"])
        if len(closers):
            hit = closers[
                (closers["kind"] == key[0]) & (closers["id"] == key[1]) & (closers["fr"] == key[2])
            ]
            cids = [c for c in hit["countermeasure"] if c in inst.pos]
        else:
            cids = []
        out.append(
            _Gap(
                key[0],
                key[1],
                key[2],
                int(row["sl_t"]),
                int(row["sl_a"]),
                np.array([inst.pos[c] for c in cids], dtype=int),
            )
        )
    return out


def _harm_message(inst: Problem, rules: _Rules, b: int) -> str:
    blk = inst.blocks[b]
    best = np.inf
    which = "its harm"
    for h, cat in enumerate(HARM_CATEGORIES):
        if np.isfinite(rules.harm_tol[b, h]):
            which = f"{cat} severity {blk.harm_sev[h]}"
            if blk.harm_table is not None:
                best = blk.harm_table[:, h].min()
            break
    lim = rules.harm_tol[b][np.isfinite(rules.harm_tol[b])]
    tol = float(lim.min()) if len(lim) else np.nan
    got = f" (at best {best:.3g}/yr with every candidate)" if np.isfinite(best) else ""
    return (
        f"scenario {blk.sid} in zone {blk.zone} cannot meet its tolerance for {which}:"
        f" tolerable {tol:.3g}/yr{got}; the constraint harm_frequency (meet_tolerance)"
        " cannot be met by any plan"
    )


def _precheck(inst: Problem, rules: _Rules, budget: float, cost: np.ndarray, lo, hi, kind):
    """Raise :class:`InfeasiblePlan` for what can be named without solving."""
    cur = inst.site.currency
    unit = f"{cur}/yr" if kind == "annualised" else cur
    forced = lo > 0
    if cost[forced].sum() > budget * (1 + 1e-12) + 1e-9:
        names = ", ".join(inst.ids[i] for i in np.flatnonzero(forced))
        raise InfeasiblePlan(
            f"the mandatory or required candidates ({names}) cost {_fmt(cost[forced].sum())}"
            f" {unit} ({kind}), above the budget of {_fmt(budget)} {unit}"
        )
    stuck = [g for g in rules.gaps if not any(hi[i] > 0 for i in g.closers)]
    if stuck:
        names = "; ".join(g.label() for g in stuck[:10]) + (" ..." if len(stuck) > 10 else "")
        raise InfeasiblePlan(
            f"{len(stuck)} SL gap(s) that no candidate (not excluded) can close: {names};"
            " the constraint close_gaps cannot be met"
        )
    for gap in rules.gaps:
        usable = [i for i in gap.closers if hi[i] > 0]
        cheapest = min(cost[i] for i in usable)
        if cheapest > budget * (1 + 1e-12) + 1e-9:
            raise InfeasiblePlan(
                f"closing the SL gap {gap.label()} needs at least {_fmt(cheapest)} {unit}"
                f" ({inst.ids[min(usable, key=lambda i: cost[i])]}), above the budget of"
                f" {_fmt(budget)} {unit}"
            )


def _prune(inst: Problem, rules: _Rules, x: np.ndarray, lo, cost) -> np.ndarray:
    """Drop members whose removal changes neither the expected loss nor the constraints."""
    x = x.copy()
    loss = inst.block_values(x[None])[0][0]
    val = loss.sum()
    for i in sorted(np.flatnonzero(x), key=lambda i: -cost[i]):
        if lo[i] > 0:
            continue
        y = x.copy()
        y[i] = False
        # only the blocks the candidate touches change: re-evaluate those, sum all
        after = loss.copy()
        touched = inst.candidate_blocks[i]
        after[touched] = inst.block_values(y[None], touched)[0][0]
        v = after.sum()
        if v <= val + 1e-12 * max(val, 1.0) and not rules.violations(y):
            x, val, loss = y, min(val, v), after
    return x


# -- safety first: harm tolerance as a hard constraint (issue 10) -----------------------------

GROUP_COMBINATIONS_MAX = 4096
"""Most combinations of exclusive-group members tried when checking, for a block too large to
tabulate, whether any plan brings its harm within tolerance; beyond, every usable candidate is
taken together (an optimistic check that the joint program then confirms)."""


@dataclass(frozen=True)
class SafetyFirst:
    """Where a plan stands against the harm tolerances, under the safety-first rule.

    Safety first makes the harm tolerance of every scenario (the expected frequency of its
    safety and environment events of class k or worse at most the tolerable frequency of
    class k) a hard constraint of the plan wherever some plan can meet it, and optimises money
    within the budget only among plans that do. Where no plan within the budget meets every
    such tolerance, the plan is the best for expected loss within the budget and this record
    says so, with the least budget that would suffice.

    Attributes
    ----------
    met : bool
        The plan meets the harm tolerance of every constrained scenario.
    within_budget : bool
        Some plan within the budget meets them (so the plan does).
    least_budget : float
        The least budget with which a plan meets every constrained harm tolerance together
        with the other constraints, exclusive groups and mandatory items ([currency/yr] for
        an annualised budget, [currency] for capex): the minimum cost of such a plan, exact
        (a mixed-integer program, or enumeration). NaN when no plan meets them all together.
    least_exact : bool
        ``least_budget`` is proven least (False where a time limit stopped the solver: it is
        then the cost of the cheapest plan found, an upper bound).
    least_plan : tuple of str
        The plan with the least expected loss among those meeting the harm tolerances at
        ``least_budget`` (empty when none).
    constrained : tuple of str
        Scenario ids whose harm tolerance is a constraint.
    unmeetable : tuple of str
        Scenario ids with a harm tolerance that no plan of the site's candidates can meet
        (not constrained; they need a safeguard or a consequence reduction not yet in the
        site file).
    breaches : tuple of dict
        The harm tolerances the plan breaks, constrained or not: ``scenario``, ``category``
        (safety or environment), ``severity``, ``frequency`` [events/yr], ``tolerable``
        [events/yr], ``meetable`` (bool: some plan could meet it).
    budget_kind : str
        ``annualised`` or ``capex``: the unit of ``least_budget``.
    """

    met: bool
    within_budget: bool
    least_budget: float
    least_exact: bool
    least_plan: tuple[str, ...]
    constrained: tuple[str, ...]
    unmeetable: tuple[str, ...]
    breaches: tuple[dict, ...]
    budget_kind: str

    def to_dict(self) -> dict:
        """A JSON-ready dict (``least_budget`` None where it is NaN)."""
        lb = self.least_budget
        return {
            "met": bool(self.met),
            "within_budget": bool(self.within_budget),
            "least_budget": float(lb) if np.isfinite(lb) else None,
            "least_exact": bool(self.least_exact),
            "least_plan": list(self.least_plan),
            "constrained": list(self.constrained),
            "unmeetable": list(self.unmeetable),
            "breaches": [dict(b) for b in self.breaches],
            "budget_kind": self.budget_kind,
        }


def _harm_tolerances(inst: Problem) -> np.ndarray:
    """Tolerable harm frequency (B, 2) of every block and harm category [events/yr] (inf: none)."""
    return _Rules(inst, ("harm_frequency",)).harm_tol


def _block_meetable(inst: Problem, b: int, tol: np.ndarray, hi: np.ndarray) -> bool:
    """Whether some plan brings block ``b``'s harm within ``tol`` (2,) [events/yr].

    Only the candidates touching the block matter. Every effect reduces harm (reductions lie
    in [0, 1], levels combine by max), so adding a candidate never raises it: a tabulated
    block is checked over every allowed subset; a larger one over every choice of one member
    per exclusive group (all other usable candidates chosen), up to
    :data:`GROUP_COMBINATIONS_MAX` choices, beyond which all usable candidates are taken
    together.
    """
    blk = inst.blocks[b]
    lim = tol * (1 + 1e-9)
    usable = (hi[blk.idx] > 0) & ~inst.blocked[blk.idx]
    if blk.m == 0:
        return bool((blk.evaluate(np.zeros((1, 0), dtype=bool))[1][0] <= lim).all())
    gof = inst.group_of[blk.idx]
    if blk.harm_table is not None:
        codes = np.arange(2**blk.m)
        bits = ((codes[:, None] >> np.arange(blk.m)) & 1).astype(bool)
        ok = ~bits[:, ~usable].any(axis=1)
        for g in np.unique(gof[gof >= 0]):
            ok &= bits[:, gof == g].sum(axis=1) <= 1
        return bool((ok & (blk.harm_table <= lim[None]).all(axis=1)).any())
    base = usable & (gof < 0)
    groups = [np.flatnonzero(usable & (gof == g)) for g in np.unique(gof[usable & (gof >= 0)])]
    combos = 1
    for g in groups:
        combos *= len(g)
    if combos > GROUP_COMBINATIONS_MAX:
        rows = usable[None]
    else:
        import itertools

        rows = np.repeat(base[None], combos, axis=0)
        for r, pick in enumerate(itertools.product(*groups)):
            rows[r, list(pick)] = True
    harm = blk.evaluate(rows)[1]
    return bool((harm <= lim[None]).all(axis=1).any())


def _with_harm(inst: Problem, rules: _Rules, hi: np.ndarray) -> tuple[_Rules, tuple[int, ...]]:
    """``rules`` plus the harm tolerance of every block some plan can meet, and the others.

    Returns the extended rules (a copy; ``harm_frequency`` added to ``cons``) and the indices
    of the blocks whose harm tolerance no plan meets (left unconstrained).
    """
    import copy

    tol = _harm_tolerances(inst)
    unmeetable = []
    for b in np.flatnonzero(np.isfinite(tol).any(axis=1)):
        if not _block_meetable(inst, int(b), tol[b], hi):
            unmeetable.append(int(b))
            tol[b] = np.inf
    out = copy.copy(rules)
    out.harm_tol = np.minimum(rules.harm_tol, tol) if len(tol) else rules.harm_tol
    out.cons = tuple(dict.fromkeys((*rules.cons, "harm_frequency")))
    return out, tuple(unmeetable)


def _harm_breaches(inst: Problem, x: np.ndarray, unmeetable=()) -> tuple[dict, ...]:
    """Every harm tolerance plan ``x`` (n,) breaks, as records (see :class:`SafetyFirst`)."""
    tol = _harm_tolerances(inst)
    if not np.isfinite(tol).any():
        return ()
    _, harm = inst.block_values(np.asarray(x, dtype=bool)[None])
    out = []
    for b, h in zip(*np.nonzero(harm[0] > tol * (1 + 1e-9))):
        blk = inst.blocks[b]
        out.append(
            {
                "scenario": blk.sid,
                "zone": blk.zone,
                "category": HARM_CATEGORIES[h],
                "severity": int(blk.harm_sev[h]),
                "frequency": float(harm[0, b, h]),
                "tolerable": float(tol[b, h]),
                "meetable": int(b) not in set(unmeetable),
            }
        )
    return tuple(out)


def _least_cost_enumerated(inst: Problem, rules: _Rules, cost, lo, hi):
    """The cheapest plan meeting ``rules`` by brute force, least loss on a tie; None if none.

    Returns (cost, x) with the cost of the budget kind of ``cost``.
    """
    from .problem import ENUMERATE_MAX

    if inst.n > ENUMERATE_MAX:
        raise ValueError(
            f"method 'enumerate' handles at most {ENUMERATE_MAX} candidates, this site has {inst.n}"
        )
    free = np.flatnonzero((hi > 0) & (lo == 0))
    k = len(free)
    best = None
    chunk = 1 << min(k, 16)
    for start in range(0, 1 << k, chunk):
        codes = np.arange(start, min(start + chunk, 1 << k))
        x = np.zeros((len(codes), inst.n), dtype=bool)
        x[:, free] = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
        x[:, lo > 0] = True
        ok = np.ones(len(x), dtype=bool)
        for members in inst.groups.values():
            ok &= x[:, members].sum(axis=1) <= 1
        x = x[ok]
        x = x[rules.feasible(x)] if len(x) else x
        if not len(x):
            continue
        c = x.astype(float) @ cost
        tot = inst.total(x)
        j = np.lexsort((tot, c))[0]
        if best is None or (c[j], tot[j]) < best[:2]:
            best = (float(c[j]), float(tot[j]), x[j].copy())
    return None if best is None else (best[0], best[2])
