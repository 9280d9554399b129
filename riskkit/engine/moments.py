"""Closed-form mean and variance of every scenario's annual loss."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..rules import (
    State,
    money_per_event,
    resolve_state,
)
from ..site import Site
from .simulation import _scenario_runs

__all__ = ["moments"]

# --------------------------------------------------------------------------------------------
# Closed-form moments
# --------------------------------------------------------------------------------------------


def _m2(spec) -> float:
    return spec.second_moment()


def moments(
    site: Site, state: str | State = "current", plan: Iterable[str] | None = None
) -> pd.DataFrame:
    """Closed-form mean and variance of every scenario's annual loss.

    With rate lambda = A V F prod(1 - e_i) (independent factors; F the rate factor of
    :func:`riskkit.rules.scenario_factors`, r^-min(L, c) under ``sl_effect: orders``),
    per-event loss Y = sum_k D_k X_k with D_k = c_k prod(1 - d_j) per year (c_k the constant
    consequence factor of the state, FR6/FR7) and X_k independent per event,

    E[S] = E[lambda] sum_k E[D_k] E[X_k],

    Var[S] = E[lambda] E[Y^2] + E[lambda^2] E[(sum_k D_k E[X_k])^2]
             - (E[lambda] sum_k E[D_k] E[X_k])^2,

    the law of total variance over the compound Poisson sum given the year's parameters.

    Parameters
    ----------
    site : Site
    state : {'unmitigated', 'current', 'plan'} or State
    plan : iterable of str, optional

    Returns
    -------
    pandas.DataFrame
        Indexed by scenario: ``mean`` [currency/yr], ``var`` [currency^2/yr^2],
        ``rate`` = E[lambda] [events/yr], ``rate_m2`` = E[lambda^2].

    Notes
    -----
    Scenarios of the same actor share its attempt rate, and scenarios under the same
    countermeasure effect share its reduction, so scenarios are correlated; these moments are
    per scenario.
    """
    st = resolve_state(site, state, plan)
    rows = {}
    for p, s in zip(_scenario_runs(site, [st]), site.scenarios):
        v = p.views[0]
        if p.actor is not None:
            a = site.actor(p.actor).attempt_rate
            ea, ea2 = a.mean() * p.share, _m2(a) * p.share**2
        else:
            ea, ea2 = p.rate.mean(), _m2(p.rate)
        ev, ev2 = p.vulnerability.mean(), _m2(p.vulnerability)
        f1, f2 = v.sl_factor, v.sl_factor**2
        for lab in v.freq:
            d = p.reductions[lab]
            f1 *= 1 - d.mean()
            f2 *= 1 - 2 * d.mean() + _m2(d)
        el, el2 = ea * ev * f1, ea2 * ev2 * f2
        mu, m2, d1, d2 = [], [], [], []
        per_event = money_per_event(s)  # E[X_k] per category, in the order of p.terms
        for cat, specs in p.terms:
            mu.append(per_event[cat])
            m2.append(math.prod(_m2(sp) for sp in specs))
            a1 = v.factor(cat)  # FR6/FR7 response factor (a constant of the state)
            a2 = a1 * a1
            for lab in v.scaled(cat):
                d = p.reductions[lab]
                a1 *= 1 - d.mean()
                a2 *= 1 - 2 * d.mean() + _m2(d)
            d1.append(a1)
            d2.append(a2)
        mu, m2, d1, d2 = map(np.asarray, (mu, m2, d1, d2))
        mean_y = float(np.sum(d1 * mu))
        # E[(sum D_k mu_k)^2] with independent D_k
        e_dm2 = float(mean_y**2 - np.sum((d1 * mu) ** 2) + np.sum(d2 * mu**2))
        e_y2 = float(e_dm2 + np.sum(d2 * (m2 - mu**2)))
        mean = el * mean_y
        var = el * e_y2 + el2 * e_dm2 - mean**2
        rows[s.id] = {"mean": mean, "var": var, "rate": el, "rate_m2": el2}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "scenario"
    return df
