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
