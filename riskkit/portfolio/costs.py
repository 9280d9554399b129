"""Costs and closed-form outcomes of plans.

:func:`plan_costs` (capex, opex, CRF, annualised cost) and :func:`evaluate` (expected ALE
and harm frequencies per class).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..exposure import expected_losses
from ..rules import (
    SEVERITY_CLASSES,
    annualised_cost,
    crf,
    harm_at_least,
    resolve_state,
)
from ..site import HARM_CATEGORIES, Site


def plan_costs(site: Site, plan: Iterable[str] | None = None) -> pd.DataFrame:
    """Cost of each candidate (or of a plan's members), with the capital recovery factor.

    Annualised cost = capex x CRF + opex with CRF = i(1+i)^n / ((1+i)^n - 1), i the site's
    ``discount_rate`` and n the countermeasure's ``lifetime_years``
    (``docs/model.md``, *Countermeasures*).

    Parameters
    ----------
    site : Site
    plan : iterable of str, optional
        Countermeasure ids; every candidate by default.

    Returns
    -------
    pandas.DataFrame
        Index ``countermeasure``; columns ``name``, ``capex`` [currency], ``opex``
        [currency/yr], ``lifetime_years`` [yr], ``crf`` [1/yr], ``annualised_cost``
        [currency/yr], ``exclusive_group``, ``mandatory``.
    """
    ids = [c.id for c in site.candidates] if plan is None else list(dict.fromkeys(plan))
    rows = []
    i = site.model.discount_rate
    for cid in ids:
        cm = site.countermeasure(cid)
        rows.append(
            {
                "countermeasure": cid,
                "name": cm.name or cid,
                "capex": cm.cost.capex,
                "opex": cm.cost.opex,
                "lifetime_years": cm.cost.lifetime_years,
                "crf": crf(i, cm.cost.lifetime_years),
                "annualised_cost": annualised_cost(site, cid),
                "exclusive_group": cm.exclusive_group,
                "mandatory": cm.mandatory,
            }
        )
    cols = [
        "countermeasure",
        "name",
        "capex",
        "opex",
        "lifetime_years",
        "crf",
        "annualised_cost",
        "exclusive_group",
        "mandatory",
    ]
    return pd.DataFrame(rows, columns=cols).set_index("countermeasure")


def evaluate(site: Site, plan: Iterable[str] = ()) -> dict:
    """Exact expected outcome of a plan: ALE, harm frequencies per class, costs.

    Parameters
    ----------
    site : Site
    plan : iterable of str
        Candidate ids added to the current state (implemented ones change nothing and cost
        nothing more).

    Returns
    -------
    dict
        ``expected_ale`` [currency/yr] (closed form, :func:`riskkit.exposure.expected_losses`),
        ``safety_ge1`` .. ``environment_ge4`` [events/yr] (events whose harm reaches class k
        or worse), ``annualised_cost`` [currency/yr], ``capex`` [currency], ``opex``
        [currency/yr].
    """
    plan = resolve_state(site, "current", plan).plan  # candidates only, once each
    df = expected_losses(site, plan=plan or None)
    out = {"expected_ale": float(df["ale"].sum())}
    out.update(_harm_classes(df))
    costs = plan_costs(site, plan) if plan else None
    for col in ("annualised_cost", "capex", "opex"):
        out[col] = float(costs[col].sum()) if costs is not None else 0.0
    return out


def _harm_classes(df: pd.DataFrame) -> dict:
    out = {}
    for cat in HARM_CATEGORIES:
        sev, rate = df[f"{cat}_severity"].to_numpy(), df[f"{cat}_rate"].to_numpy()
        for k in SEVERITY_CLASSES:
            out[f"{cat}_ge{k}"] = harm_at_least(sev, rate, k)
    return out
