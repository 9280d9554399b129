"""Compliance and risk side by side: the plan that closes the SL gaps beside the best-risk plan.

The recommended plan (:attr:`Assessment.plan`) buys the most expected-loss reduction within the
budget; it need not bring any zone to its target security level. This module adds

- :func:`unclosable_gaps`: the open SL gaps (SL-A below SL-T) that no candidate countermeasure
  of the site file closes: they need a countermeasure not yet in the site file;
- :func:`reachable_targets`: the SL-T with those gaps set aside (SL-T lowered to SL-A where no
  candidate can close the gap), so that the ``close_gaps`` constraint of
  :func:`riskkit.optimize` asks for every *closable* gap;
- :func:`gap_closing_plan`: the plan with the least expected loss among those that close every
  closable gap within the budget; where the budget cannot close them all, the cheapest budget
  that can (found by bisection on the budget, each step an exact optimisation);
- :func:`plan_status` and :func:`plans_side_by_side`: cost, expected loss, harm and zones
  meeting SL-T of each plan, for the management summary.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from .assessment import Assessment

__all__ = [
    "unclosable_gaps",
    "reachable_targets",
    "gap_closing_plan",
    "plan_status",
    "plans_side_by_side",
    "BISECTION_STEPS",
]

BISECTION_STEPS = 14
"""Halvings of the budget interval when the budget cannot close every closable gap: the budget
found is within (total cost of the closers) / 2**14 of the least that can."""


def _closers(A: Assessment) -> pd.DataFrame:
    """Rows of ``Gaps.closers`` (today's gaps) where the candidate reaches SL-T."""
    cl = A.gaps("current").closers
    if cl is None or not len(cl):
        return pd.DataFrame(columns=["countermeasure", "kind", "id", "fr", "closes"])
    return cl[cl["closes"]]


def excluded_for_gaps(A: Assessment) -> tuple[str, ...]:
    """Gap closers left out so that the closable gaps can all be closed together.

    Two candidates of one exclusive group cannot both be in a plan, so gaps closed only by
    different members of a group cannot all be closed. In each group whose members close
    gaps, the mandatory member is kept, else the one closing the most gaps (the cheapest
    on a tie); the group's other gap closers are left out. The gaps only they close count as
    needing a countermeasure not yet in the site file.

    Returns
    -------
    tuple of str
        Candidate ids left out of the gap-closing plan.
    """
    cl = _closers(A)
    if not len(cl):
        return ()
    from ..rules import annualised_cost

    counts = cl.groupby("countermeasure").size()
    groups: dict[str, list] = {}
    for cm in A.site.candidates:
        if cm.exclusive_group and cm.id in counts.index:
            groups.setdefault(cm.exclusive_group, []).append(cm)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        mandatory = [cm for cm in members if cm.mandatory]
        keep = (
            mandatory[0]
            if mandatory
            else max(members, key=lambda cm: (counts[cm.id], -annualised_cost(A.site, cm.id)))
        )
        out += [cm.id for cm in members if cm.id != keep.id]
    return tuple(out)


def _closed_keys(A: Assessment) -> set[tuple[str, str, str]]:
    """(kind, id, FR) of today's gaps that a candidate closes (leaving the excluded out)."""
    cl = _closers(A)
    cl = cl[~cl["countermeasure"].isin(excluded_for_gaps(A))]
    return {(k, i, f) for k, i, f in cl[["kind", "id", "fr"]].itertuples(index=False)}


def unclosable_gaps(A: Assessment) -> pd.DataFrame:
    """Open SL gaps today that no candidate countermeasure of the site file can close.

    A gap closed only by a candidate that :func:`excluded_for_gaps` leaves out (it excludes
    a better gap closer of its exclusive group) counts as unclosable too.

    Returns
    -------
    pandas.DataFrame
        ``kind`` (zone or conduit), ``id``, ``fr``, ``sl_t``, ``sl_a``, ``gap`` [levels], in the
        order of the gap table, and ``excluded_closer`` (True where a candidate would close
        the gap but is left out for a better closer of its exclusive group).
    """
    tab = A.gaps("current").table
    open_ = tab[tab["gap"] > 0]
    ok = _closed_keys(A)
    cl = _closers(A)
    any_closer = {(k, i, f) for k, i, f in cl[["kind", "id", "fr"]].itertuples(index=False)}
    keys = list(open_[["kind", "id", "fr"]].itertuples(index=False, name=None))
    stuck = open_[[k not in ok for k in keys]][["kind", "id", "fr", "sl_t", "sl_a", "gap"]]
    stuck = stuck.reset_index(drop=True)
    stuck["excluded_closer"] = [
        k in any_closer for k in stuck[["kind", "id", "fr"]].itertuples(index=False, name=None)
    ]
    return stuck


def reachable_targets(A: Assessment):
    """:attr:`Assessment.targets` with SL-T lowered to SL-A where no candidate closes the gap.

    Returns
    -------
    riskkit.levels.TargetLevels
        A copy; only ``zones`` and ``conduits`` differ from the original.
    """
    T = A.targets
    stuck = unclosable_gaps(A)
    zones, conduits = T.zones.copy(), T.conduits.copy()
    for r in stuck.itertuples(index=False):
        frame = zones if r.kind == "zone" else conduits
        if r.id in frame.index and r.fr in frame.columns:
            frame.loc[r.id, r.fr] = int(r.sl_a)
    return dataclasses.replace(T, zones=zones, conduits=conduits)


def constrained_optimize(A: Assessment, budget: float | None, constraints, simulate=False):
    """:func:`riskkit.optimize` with the run's parameters under ``constraints``.

    ``close_gaps`` is asked of :func:`reachable_targets`: every gap a candidate can close.
    """
    from ..portfolio import optimize

    extra = {}
    if "close_gaps" in constraints:
        extra = {"targets": reachable_targets(A), "exclude": excluded_for_gaps(A)}
    return optimize(
        A.site,
        budget,
        budget_kind=A.budget_kind,
        constraints=tuple(constraints),
        simulate=simulate,
        trials=A.trials,
        seed=A.seed,
        **extra,
    )


def best_or_least_budget(A: Assessment, constraints, simulate=False):
    """The best-risk plan meeting ``constraints`` within the budget, else at the least budget.

    Where :attr:`Assessment.budget` cannot meet the constraints, the least budget that can is
    found by bisection (:data:`BISECTION_STEPS` steps, each an exact optimisation), and the
    best plan at that budget is returned.

    Returns
    -------
    (Plan or None, bool)
        The plan (None where no budget meets the constraints, e.g. exclusive groups in the
        way) and whether it stays within :attr:`Assessment.budget`.
    """
    from ..portfolio import InfeasiblePlan

    try:
        return constrained_optimize(A, A.budget, constraints, simulate), True
    except InfeasiblePlan:
        pass
    try:
        unlimited = constrained_optimize(A, None, constraints)
    except InfeasiblePlan:
        return None, False
    cost = unlimited.annualised_cost if A.budget_kind == "annualised" else unlimited.capex
    lo, hi = float(A.budget), float(cost)
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        try:
            constrained_optimize(A, mid, constraints)
            hi = mid
        except InfeasiblePlan:
            lo = mid
    return constrained_optimize(A, hi, constraints, simulate), False


def gap_closing_plan(A: Assessment):
    """The best-risk plan among those that close every closable SL gap.

    Within :attr:`Assessment.budget` where that suffices; otherwise at the least budget that
    closes them all (:func:`best_or_least_budget` with ``close_gaps``).

    Returns
    -------
    (Plan or None, bool)
        The plan and whether it stays within the budget.
    """
    return best_or_least_budget(A, ("close_gaps",))


def _zones_meeting(A: Assessment, members) -> int:
    """Zones whose SL-A reaches SL-T in every FR with ``members`` added to today's state."""
    from ..levels import gaps

    g = gaps(A.site, A.targets, state="plan", plan=tuple(members)).summary
    return int(g[g["kind"] == "zone"]["meets"].sum())


def _harm_text(P) -> str:
    """Once in how many years a harm of severity 3 or worse is expected with the plan."""
    parts = []
    for cat in ("safety", "environment"):
        rate = float(P.harm.get(f"{cat}_ge3", 0.0))
        if rate > 0:
            parts.append(f"{cat} severity 3+: once in {1 / rate:,.0f} years")
    return "; ".join(parts) if parts else "no harm of severity 3 or worse expected"


def plan_status(A: Assessment, P) -> dict:
    """Cost, expected loss, harm and compliance of a plan, for the side-by-side table.

    Returns
    -------
    dict
        ``members`` (tuple of str), ``annualised_cost`` [currency/yr], ``capex`` [currency],
        ``expected_ale`` [currency/yr] (exact), ``reduction`` [currency/yr], ``net`` (reduction
        minus cost) [currency/yr], ``harm`` (text), ``zones_meeting`` (int), ``zones`` (int).
    """
    return {
        "members": tuple(P.members),
        "annualised_cost": float(P.annualised_cost),
        "capex": float(P.capex),
        "expected_ale": float(P.expected_ale),
        "reduction": float(P.baseline_ale - P.expected_ale),
        "net": float(P.baseline_ale - P.expected_ale - P.annualised_cost),
        "harm": _harm_text(P),
        "zones_meeting": _zones_meeting(A, P.members),
        "zones": len(A.site.zones),
    }


def plans_side_by_side(A: Assessment) -> pd.DataFrame:
    """The recommended plan and the gap-closing plan, one column each, as text for reading.

    Rows: measures, annualised cost, up-front cost, expected annual loss with the plan, its
    reduction, net saving or cost, harm, zones meeting SL-T in every FR.
    """
    from ..figures import money

    cur = A.site.currency
    cols = {"Best risk reduction within the budget": A.plan}
    closing, within = A.gap_plan
    head = "Closes every closable SL gap" + ("" if within else " (above the budget)")
    if closing is not None:
        cols[head] = closing
    out = {}
    for name, P in cols.items():
        s = plan_status(A, P)
        net = s["net"]
        out[name] = {
            "Measures": ", ".join(s["members"]) or "none",
            "Annualised cost": f"{money(s['annualised_cost'], cur)}/yr",
            "Up-front cost (capex)": money(s["capex"], cur),
            "Expected annual loss with the plan": f"{money(s['expected_ale'], cur)}/yr",
            "Reduction of expected annual loss": f"{money(s['reduction'], cur)}/yr",
            "Net saving (+) or cost (−)": ("+" if net >= 0 else "−") + f"{money(abs(net), cur)}/yr",
            "Harm with the plan": s["harm"],
            "Zones meeting SL-T in every FR": f"{s['zones_meeting']} of {s['zones']}",
        }
    df = pd.DataFrame(out)
    df.index.name = "plan"
    return df


def unclosable_view(A: Assessment) -> pd.DataFrame:
    """Gaps that need a countermeasure not yet in the site file: one row per zone or conduit.

    Returns
    -------
    pandas.DataFrame
        ``kind``, ``id``, the FRs short with SL-A -> SL-T, and ``count`` (how many).
    """
    stuck = unclosable_gaps(A)
    rows = []
    for (kind, rid), g in stuck.groupby(["kind", "id"], sort=False):
        frs = ", ".join(f"{r.fr} ({int(r.sl_a)} -> {int(r.sl_t)})" for r in g.itertuples())
        rows.append({"kind": kind, "id": rid, "FRs short (SL-A -> SL-T)": frs, "count": len(g)})
    if not rows:
        return pd.DataFrame(columns=["kind", "id", "FRs short (SL-A -> SL-T)", "count"])
    return pd.DataFrame(rows)
