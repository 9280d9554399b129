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
  meeting SL-T of each plan, for the management summary;
- :func:`safety_first_plan`: the recommended plan under the safety-first rule (harm
  tolerances before money), and :func:`safety_sentence`, what the management summary says
  first about it.
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
    "safety_first_plan",
    "safety_sentence",
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


def _gap_extra(A: Assessment, constraints) -> dict:
    """``close_gaps`` is asked of :func:`reachable_targets`, leaving the excluded closers out."""
    if "close_gaps" in constraints:
        return {"targets": reachable_targets(A), "exclude": excluded_for_gaps(A)}
    return {}


def constrained_optimize(
    A: Assessment, budget: float | None, constraints, simulate=False, safety_first=False
):
    """:func:`riskkit.optimize` with the run's parameters under ``constraints``.

    ``close_gaps`` is asked of :func:`reachable_targets`: every gap a candidate can close.
    ``safety_first`` as for :func:`riskkit.optimize` (default False here: money alone).
    """
    from ..portfolio import optimize

    return optimize(
        A.site,
        budget,
        budget_kind=A.budget_kind,
        constraints=tuple(constraints),
        simulate=simulate,
        trials=A.trials,
        seed=A.seed,
        safety_first=safety_first,
        **_gap_extra(A, constraints),
    )


def best_or_least_budget(
    A: Assessment, constraints, simulate=False, budget=None, safety_first=False
):
    """The best-risk plan meeting ``constraints`` within the budget, else at the least budget.

    Where the budget (``budget``, default :attr:`Assessment.budget`) cannot meet the
    constraints, the least budget that can is found by bisection (:data:`BISECTION_STEPS`
    steps, each an exact optimisation), and the best plan at that budget is returned.
    ``safety_first`` as for :func:`riskkit.optimize` (the harm tolerances never make a plan
    infeasible; they are met wherever the budget allows).

    Returns
    -------
    (Plan or None, bool)
        The plan (None where no budget meets the constraints, e.g. exclusive groups in the
        way) and whether it stays within the budget.
    """
    from ..portfolio import InfeasiblePlan

    budget = A.budget if budget is None else float(budget)
    try:
        return constrained_optimize(A, budget, constraints, simulate, safety_first), True
    except InfeasiblePlan:
        pass
    try:
        unlimited = constrained_optimize(A, None, constraints)
    except InfeasiblePlan:
        return None, False
    cost = unlimited.annualised_cost if A.budget_kind == "annualised" else unlimited.capex
    lo, hi = float(budget), float(cost)
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        try:
            constrained_optimize(A, mid, constraints)
            hi = mid
        except InfeasiblePlan:
            lo = mid
    return constrained_optimize(A, hi, constraints, simulate, safety_first), False


def safety_first_plan(A: Assessment):
    """The recommended plan under the safety-first rule: harm tolerances first, then money.

    - With a given budget: :func:`riskkit.optimize` with ``safety_first=True`` (and the run's
      constraints): the best plan for expected loss among those meeting every harm tolerance
      that some plan can meet, where the budget allows one; else the best plan within the
      budget, its :attr:`~riskkit.portfolio.Plan.safety` record giving the least sufficient
      budget (the management summary says so first, :func:`safety_sentence`).
    - Without a budget: the same within the budget of the least total cost of risk
      (:func:`~riskkit.report.assessment.recommended_budget`) where that budget allows the
      harm tolerances to be met. Where it does not, that budget was nobody's decision, so
      the plan becomes the one with the least total cost of risk (expected loss plus
      annualised cost, exact) among the plans meeting every harm tolerance
      (:func:`riskkit.portfolio.least_total_cost`); its ``budget`` is None, its
      ``safety.within_budget`` False (the least-total-cost budget did not suffice) and
      :attr:`Assessment.budget` becomes its annualised cost.

    Returns
    -------
    Plan
        Simulated with the run's trials and seed, with ``safety`` set.

    Raises
    ------
    InfeasiblePlan
        Where the run's other constraints (``close_gaps``, ``meet_tolerance``) cannot be met
        within a given budget, as without safety first.

    References
    ----------
    .. [1] CCPS (2001). *Layer of Protection Analysis: Simplified Process Risk Assessment*,
       chapter 8 (risk tolerance criteria).
    .. [2] ISA-TR84.00.09-2017, *Cybersecurity Related to the Functional Safety Lifecycle*
       (safeguards that a cyber attack cannot defeat).
    """
    import dataclasses

    import numpy as np

    from ..portfolio import InfeasiblePlan, least_total_cost
    from .assessment import recommended_budget

    given = A.budget_given is not None
    budget = A.budget_given if given else recommended_budget(A.frontier.points)
    cons = tuple(A.constraints)
    P, within = best_or_least_budget(A, cons, simulate=True, budget=budget, safety_first=True)
    if P is None or (not within and given):
        least = "" if P is None else f"; the least that does costs {P.annualised_cost:,.0f}"
        raise InfeasiblePlan(
            f"no plan within the budget {budget:,.0f} meets the constraints {', '.join(cons)}"
            + (f"{least} {A.site.currency}/yr" if least else "")
        )
    s = P.safety
    if not given and np.isfinite(s.least_budget):
        # the exact least total cost of risk among the plans meeting the harm tolerances: the
        # plan within the frontier's budget can cost more in total (the frontier's budgets
        # are a grid, and its least-total-cost point was found for money alone)
        T = least_total_cost(
            A.site,
            cons,
            safety_first=True,
            simulate=True,
            trials=A.trials,
            seed=A.seed,
            **_gap_extra(A, cons),
        )
        total = T.annualised_cost + T.expected_ale
        if not s.within_budget or total < (P.annualised_cost + P.expected_ale) * (1 - 1e-9):
            within = bool(s.within_budget)
            P = dataclasses.replace(T, safety=dataclasses.replace(T.safety, within_budget=within))
    return P


def _scenario_list(ids, limit: int = 6) -> str:
    ids = list(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def safety_sentence(A: Assessment, markdown: bool = True) -> str | None:
    """What the summary says first under safety first; None when it is off or nothing is amiss.

    - the budget is too small: *no plan within the budget meets every harm tolerance*, the
      least budget that would, its plan, and the scenarios left above tolerance;
    - no budget was given and the least-total-cost budget was too small: what meeting the
      harm tolerances costs and that the plan shown is the cheapest in total cost of risk
      among those meeting them;
    - scenarios no plan can bring within tolerance are named in either case (and alone
      when everything else is met).

    Text from the site (ids, currency) is escaped for Markdown when ``markdown``.
    """
    import math

    from .. import escape
    from ..figures import money

    if not A.safety_first:
        return None
    P = A.plan
    s = P.safety
    if s is None:
        return None

    def e(t: str) -> str:
        return escape.markdown(t) if markdown else t

    def b(t: str) -> str:
        return f"**{t}**" if markdown else t

    cur = e(A.site.currency)
    least = s.least_budget
    parts = []
    given = A.budget_given is not None
    if not s.met and not s.within_budget:
        over = [r["scenario"] for r in s.breaches if r["meetable"]]
        if math.isfinite(least):
            parts.append(
                b(
                    f"No plan within the budget of {money(A.budget, cur)}"
                    f"{'/yr' if s.budget_kind == 'annualised' else ''} meets every harm"
                    " tolerance"
                )
                + ": the least budget that would is "
                + b(money(least, cur) + ("/yr" if s.budget_kind == "annualised" else ""))
                + f" ({e(', '.join(s.least_plan)) or 'no measure'})."
                + f" The plan shown is the best for expected loss within the budget and leaves"
                f" {e(_scenario_list(over))} above the tolerable frequency of harm."
            )
        elif not s.least_exact:
            parts.append(
                b("The time limit ran out before a plan meeting every harm tolerance was found")
                + f": the plan shown is the best for expected loss and leaves"
                f" {e(_scenario_list(over))} above the tolerable frequency of harm."
            )
        else:
            parts.append(
                b("No plan meets every harm tolerance together")
                + " (candidates that exclude each other, or other constraints, are in the"
                f" way): the plan shown is the best for expected loss and leaves"
                f" {e(_scenario_list(over))} above the tolerable frequency of harm."
            )
    elif not given and not s.within_budget:
        parts.append(
            b("Meeting every harm tolerance comes first")
            + f": it needs at least {money(least, cur)}/yr, more than the budget with the least"
            " total cost of risk, so the plan shown is the one with the least total cost of"
            f" risk among the plans that meet them ({money(P.annualised_cost, cur)}/yr)."
        )
    if s.unmeetable:
        parts.append(
            f"{e(_scenario_list(s.unmeetable))} cannot be brought within the tolerable"
            " frequency of harm by any candidate of the site file: they need a safeguard that"
            " a cyber attack cannot defeat, or a smaller consequence (a Security PHA finding)."
        )
    return " ".join(parts) if parts else None


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
    safe = least_budget_plan(A)
    if safe is not None:
        cols["Meets every harm tolerance (least sufficient budget)"] = safe
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
        if A.safety_first:
            over = harm_over(A, P.members)
            out[name]["Harm tolerances"] = (
                "all met" if not over else "above tolerance: " + ", ".join(over)
            )
    df = pd.DataFrame(out)
    df.index.name = "plan"
    return df


def harm_over(A: Assessment, members) -> list[str]:
    """Scenarios whose harm tolerance some plan can meet and the plan ``members`` does not."""
    from ..portfolio import Problem
    from ..portfolio.constraints import _harm_breaches

    inst = Problem(A.site)
    s = A.plan.safety
    unmeetable = set(s.unmeetable) if s is not None else set()
    return [
        r["scenario"]
        for r in _harm_breaches(inst, inst.mask(members))
        if r["scenario"] not in unmeetable
    ]


def least_budget_plan(A: Assessment):
    """The best plan at the least sufficient budget, for the side-by-side table.

    Only under safety first where the recommended plan breaks a harm tolerance; else None.
    """
    if not A.safety_first:
        return None
    s = A.plan.safety
    if s is None or s.met or not s.least_plan:
        return None

    def compute():
        P, _ = best_or_least_budget(
            A, tuple(A.constraints), budget=s.least_budget, safety_first=True
        )
        return P

    return A._get("safety_least_plan", compute)


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
