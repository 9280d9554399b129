"""Sensitivity, SL-T robustness and the value of information.

The method is described in ``docs/model.md``, section "Sensitivity, robustness and EVPI".

Every input of the model is an estimate given as a distribution. This module asks which of
them matter, with the closed forms of :mod:`riskkit.rules` / :mod:`riskkit.exposure`.

Input families
--------------
One *family* per uncertain input (a distribution with positive variance): each actor's
``attempt_rate`` (used by scenarios with a ``rate_share``), each scenario's own ``rate``, each
scenario's ``vulnerability``, each money consequence of each scenario (production is hours x
cost per hour, one family), each frequency or money-consequence effect of a countermeasure,
and, when a range is given, the model's r (``sl_reduction_per_level``, a constant of the site
file, so it has no distribution of its own).

The conditional expectation given θ
-----------------------------------
θ is one draw of every family. Given θ the expected annual loss of a scenario is the closed
form of :func:`riskkit.exposure.expected_scenario` with each family's mean replaced by its
draw: rate x vulnerability x r^-min(L, c) x prod(1 - e) x sum_k money_k prod(1 - d_k). The
model is linear in each family and the families are independent, so

- substituting one family's value with every other family at its mean gives the exact
  conditional expectation E[ALE | that family = value] (the tornado, EVPPI);
- at the means it equals :func:`riskkit.exposure.expected_losses` (checked by the tests).

A plan's net benefit given θ is NB(plan | θ) = ALE_current(θ) - ALE_plan(θ) - annualised
cost [currency/yr]: the conditional expected loss reduction, never a simulated year's loss.

References
----------
.. [1] Howard, R. A. (1966). Information value theory. *IEEE Trans. Systems Science and
   Cybernetics* 2(1), 22-26 (EVPI).
.. [2] Strong, M., Oakley, J. E. (2013). An efficient method for computing single-parameter
   partial expected value of perfect information. *Medical Decision Making* 33(6), 755-766;
   Strong, M., Oakley, J. E., Brennan, A. (2014). Estimating multiparameter partial EVPI
   from a probabilistic sensitivity analysis sample. *Med. Decis. Making* 34(3), 311-326.
.. [3] Saltelli, A. et al. (2008). *Global Sensitivity Analysis: The Primer*, Wiley, ch. 1
   and 4 (tornado diagrams, first-order indices).
.. [4] Serfling, R. J. (1980). *Approximation Theorems of Mathematical Statistics*, Wiley,
   sec. 2.6 (distribution-free confidence intervals of quantiles).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from .distributions import LogNormal
from .rules import (
    achieved_levels,
    acts_on,
    annualised_cost,
    conduit_target,
    money_terms,
    protection_level,
    required_levels,
    resolve_state,
    scenario_factors,
    separable,
    zone_target,
)
from .site import HARM_CATEGORIES, ConsequenceEffect, FrequencyEffect, Site

__all__ = [
    "Family",
    "families",
    "tornado",
    "recommended_plan",
    "evpi",
    "ValueOfInformation",
    "sl_robustness",
    "global_sensitivity",
    "convergence",
    "trials_for_precision",
    "FRAGILE",
]

FRAGILE = 0.2
"""An SL-T entry is *fragile* when the probability that it would differ is at least this."""

QUANTILE_DRAWS = 100_000
"""Draws behind an empirical P10 / P90 (kinds without a closed-form quantile)."""


# --------------------------------------------------------------------------------------------
# Families and the closed form given θ
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """One uncertain input family.

    Attributes
    ----------
    key : str
        ``actor:<id>``, ``rate:<scenario>``, ``vulnerability:<scenario>``,
        ``money:<scenario>:<category>``, ``effect:<countermeasure>:<n>`` or ``r``.
    kind : str
        ``attempt_rate``, ``rate``, ``vulnerability``, ``money``, ``effect`` or ``r``.
    record : str
        The site record (actor, scenario or countermeasure id; ``model`` for r).
    mean : float
        E[value] in the family's unit.
    sampler : callable
        ``sampler(rng, n)`` -> ndarray of n independent draws.
    """

    key: str
    kind: str
    record: str
    mean: float
    sampler: Callable[[np.random.Generator, int], np.ndarray] = field(repr=False, compare=False)
    spec: Any = field(default=None, repr=False, compare=False)

    def quantiles(self, qs: Sequence[float], seed: int = 0) -> list[float]:
        """The ``qs`` quantiles: exact for a lognormal, else from one seeded sample."""
        if isinstance(self.spec, LogNormal):
            nd = NormalDist(self.spec.mu, self.spec.sigma)
            cap = math.inf if self.spec.cap is None else self.spec.cap  # quantiles of min(X, cap)
            return [min(math.exp(nd.inv_cdf(q)), cap) for q in qs]
        x = self.sampler(np.random.default_rng(seed), QUANTILE_DRAWS)
        return [float(v) for v in np.quantile(x, list(qs))]


def _uncertain(spec) -> bool:
    return spec is not None and float(spec.var()) > 0


def _product_sampler(specs: tuple):
    def draw(rng, n):
        out = np.ones(n)
        for s in specs:
            out = out * np.broadcast_to(np.asarray(s.sample(rng, n), dtype=float), (n,))
        return out

    return draw


def _spec_sampler(spec):
    def draw(rng, n):
        return np.broadcast_to(np.asarray(spec.sample(rng, n), dtype=float), (n,)).copy()

    return draw


def _money_mean(specs: tuple) -> float:
    return math.prod(float(s.mean()) for s in specs)


def _all_inputs(site: Site) -> dict[str, Family]:
    """Every input of the closed form as a family (constants included), by key."""
    out: dict[str, Family] = {}

    def add(key, kind, record, spec):
        out[key] = Family(key, kind, record, float(spec.mean()), _spec_sampler(spec), spec)

    for a in site.threat_actors:
        add(f"actor:{a.id}", "attempt_rate", a.id, a.attempt_rate)
    for s in site.scenarios:
        if s.rate is not None:
            add(f"rate:{s.id}", "rate", s.id, s.rate)
        add(f"vulnerability:{s.id}", "vulnerability", s.id, s.vulnerability)
        for cat, specs in money_terms(s).items():
            key = f"money:{s.id}:{cat}"
            out[key] = Family(
                key, "money", s.id, _money_mean(specs), _product_sampler(specs), specs
            )
    for cm in site.countermeasures:
        for i, eff in enumerate(cm.effects):
            if isinstance(eff, (FrequencyEffect, ConsequenceEffect)):
                if isinstance(eff, ConsequenceEffect) and eff.category in HARM_CATEGORIES:
                    continue  # harm does not enter the money loss
                add(f"effect:{cm.id}:{i}", "effect", cm.id, eff.reduction)
    return out


def families(site: Site, r_range: tuple[float, float] | None = None) -> list[Family]:
    """The uncertain input families of ``site`` (positive variance), in site-file order.

    Parameters
    ----------
    site : Site
    r_range : (float, float), optional
        A low and high value of r [-]; adds the family ``r`` (uniform between them).

    Returns
    -------
    list of Family
        Actor rates only where a scenario uses them through ``rate_share``.
    """
    used = {s.actor for s in site.scenarios if s.rate is None}
    out = []
    for fam in _all_inputs(site).values():
        if fam.kind == "attempt_rate" and fam.record not in used:
            continue
        specs = fam.spec if isinstance(fam.spec, tuple) else (fam.spec,)
        if any(_uncertain(s) for s in specs):
            out.append(fam)
    if r_range is not None:
        lo, hi = (float(v) for v in r_range)
        if not (1 < lo <= hi):
            raise ValueError(f"r_range must be 1 < low <= high, {r_range!r} was given")

        def draw_r(rng, n, lo=lo, hi=hi):
            return rng.uniform(lo, hi, n)

        out.append(Family("r", "r", "model", (lo + hi) / 2, draw_r, None))
    return out


class _Model:
    """The closed form of site ALE as a function of the inputs, per state (precomputed)."""

    def __init__(self, site: Site):
        self.site = site
        self.inputs = _all_inputs(site)
        self.means = {k: f.mean for k, f in self.inputs.items()}
        self.means["r"] = float(site.model.sl_reduction_per_level)
        self._states: dict[tuple, list] = {}

    def _terms(self, members) -> list:
        if members == "unmitigated":
            key: tuple = ("unmitigated",)
            st = resolve_state(self.site, "unmitigated")
        elif members is None:
            key, st = ("current",), resolve_state(self.site, "current")
        else:
            key = ("plan", *members)
            st = resolve_state(self.site, "plan", members or None)
        if key in self._states:
            return self._states[key]
        site = self.site
        zones, conduits = achieved_levels(site, st)
        terms = []
        for s in site.scenarios:
            rate = (
                (f"rate:{s.id}", 1.0)
                if s.rate is not None
                else (
                    f"actor:{s.actor}",
                    float(s.rate_share),
                )
            )
            if separable(site, s):  # r^-n, with r among the inputs
                n = min(protection_level(s, zones, conduits), site.actor(s.actor).capability)
            else:  # other model options or an attack path: the factors of the rule module
                fac = scenario_factors(site, s, zones, conduits)
                n = (float(fac.rate), fac.consequence)
            freq, cons = [], {}
            for cid in st.active:
                for i, eff in enumerate(site.countermeasure(cid).effects):
                    if not isinstance(eff, (FrequencyEffect, ConsequenceEffect)):
                        continue
                    if not acts_on(eff, s):
                        continue
                    if isinstance(eff, FrequencyEffect):
                        freq.append(f"effect:{cid}:{i}")
                    elif eff.category not in HARM_CATEGORIES:
                        cons.setdefault(eff.category, []).append(f"effect:{cid}:{i}")
            money = [(f"money:{s.id}:{cat}", cons.get(cat, [])) for cat in money_terms(s)]
            terms.append((rate, f"vulnerability:{s.id}", n, freq, money))
        self._states[key] = terms
        return terms

    def ale(self, theta: dict | None = None, members: tuple[str, ...] | None = None):
        """Site ALE given θ [currency/yr]: a float, or an array over the draws in ``theta``.

        ``theta`` maps input keys to values (floats or arrays of one length); the others are
        at their means. ``members`` None is the current state, else the plan's candidates.
        """
        theta = theta or {}

        def v(k):
            return theta[k] if k in theta else self.means[k]

        r = v("r")
        total = 0.0
        for (rk, share), vk, n, freq, money in self._terms(members):
            if isinstance(n, tuple):  # (rate factor, consequence factors): r does not act
                sl, cons = n
            else:
                sl, cons = np.power(r, -n), {}
            f = v(rk) * share * v(vk) * sl
            for e in freq:
                f = f * (1.0 - v(e))
            loss = 0.0
            for mk, effs in money:
                m = v(mk) * cons.get(mk.rsplit(":", 1)[1], 1.0)
                for e in effs:
                    m = m * (1.0 - v(e))
                loss = loss + m
            total = total + f * loss
        return total

    def net_benefit(self, members: tuple[str, ...], theta: dict | None = None):
        """NB(plan | θ) = ALE_current(θ) - ALE_plan(θ) - annualised cost [currency/yr]."""
        if not members:
            base = self.ale(theta)
            return base * 0.0
        cost = sum(annualised_cost(self.site, c) for c in members)
        return self.ale(theta) - self.ale(theta, tuple(members)) - cost


def _draws(fams: Sequence[Family], draws: int, seed: int | None) -> dict[str, np.ndarray]:
    """Independent draws of every family, each from its own generator of ``seed``."""
    ss = np.random.SeedSequence(seed)
    gens = [np.random.default_rng(c) for c in ss.spawn(len(fams))]
    return {f.key: f.sampler(g, int(draws)) for f, g in zip(fams, gens)}


def _seed(site: Site, seed: int | None) -> int:
    return int(site.model.seed if seed is None else seed)


# --------------------------------------------------------------------------------------------
# Recommended plan and the frontier's plans
# --------------------------------------------------------------------------------------------


def _frontier(site: Site, n: int = 20):
    from .portfolio import frontier

    return frontier(site, n=n)


def recommended_plan(site: Site, front=None) -> tuple[str, ...]:
    """Members of the frontier plan with the least total cost of risk (ALE + cost).

    The rule of :func:`riskkit.report.assessment.recommended_budget` (the report's default
    budget), applied to the frontier's plans.
    """
    front = front if front is not None else _frontier(site)
    pts = front.points
    if not len(pts):
        return ()
    total = pts["expected_ale"].astype(float) + pts["annualised_cost"].astype(float)
    return tuple(front.plans[int(total.to_numpy().argmin())].members)


def _plan_members(site: Site, plan) -> tuple[str, ...]:
    if plan is None:
        return recommended_plan(site)
    if hasattr(plan, "members"):
        return tuple(plan.members)
    if isinstance(plan, str):
        return (plan,)
    return tuple(plan)


# --------------------------------------------------------------------------------------------
# Tornado
# --------------------------------------------------------------------------------------------


def tornado(
    site: Site,
    *,
    state: str = "current",
    plan: Any = None,
    inputs: Iterable[str] | None = None,
    r_range: tuple[float, float] | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """One-at-a-time swing of each uncertain input family from its P10 to its P90.

    Each family is set to its P10 and its P90 with every other family at its distribution;
    as the model is linear in each family and the families are independent, the result is
    the closed form with that one value substituted (exact, no sampling except for the
    quantiles of kinds without a closed-form quantile).

    Parameters
    ----------
    site : Site
    state : {'current', 'unmitigated', 'plan'}
        The state whose site ALE is swung (``unmitigated`` ignores countermeasures; ``plan``
        is the current state with ``plan``'s candidates added).
    plan : Plan or iterable of str, optional
        The plan whose net benefit is swung; default :func:`recommended_plan`.
    inputs : iterable of str, optional
        Family keys to keep (default all uncertain families).
    r_range : (float, float), optional
        Add r as a family, uniform on this range (r is a constant of the site file).
    seed : int, optional
        Seed of the empirical quantiles; default ``site.model.seed``.

    Returns
    -------
    pandas.DataFrame
        Indexed by family key, sorted by ``swing`` (largest first): ``kind``, ``record``,
        ``mean``, ``p10``, ``p90`` (the family's values), ``low`` and ``high`` (site ALE at
        P10 and P90 [currency/yr]), ``swing`` = |high - low|, ``nb_low``, ``nb_high``,
        ``nb_swing`` (the plan's net benefit [currency/yr]). ``attrs`` holds ``base_ale``,
        ``base_nb`` and ``plan``.
    """
    model = _Model(site)
    members = _plan_members(site, plan)
    fams = families(site, r_range)
    if inputs is not None:
        keep = set(inputs)
        unknown = keep - {f.key for f in fams}
        if unknown:
            raise ValueError(
                f"unknown or certain input families {sorted(unknown)}; uncertain ones are "
                + (", ".join(f.key for f in fams) or "none")
            )
        fams = [f for f in fams if f.key in keep]
    if state not in ("current", "unmitigated", "plan"):
        raise ValueError(
            f"state must be 'current', 'unmitigated' or 'plan', {state!r} was given"
        )
    which = {"current": None, "unmitigated": "unmitigated", "plan": tuple(members)}[state]

    def ale(theta):
        return model.ale(theta, which)

    sd = _seed(site, seed)
    rows = []
    for i, f in enumerate(fams):
        if f.kind == "r":
            lo_v, hi_v = (float(v) for v in r_range)  # type: ignore[misc]
            lo_v, hi_v = lo_v + 0.1 * (hi_v - lo_v), lo_v + 0.9 * (hi_v - lo_v)
        else:
            lo_v, hi_v = f.quantiles((0.10, 0.90), sd + i)
        a_lo, a_hi = float(ale({f.key: lo_v})), float(ale({f.key: hi_v}))
        n_lo = float(model.net_benefit(members, {f.key: lo_v}))
        n_hi = float(model.net_benefit(members, {f.key: hi_v}))
        rows.append(
            {
                "family": f.key,
                "kind": f.kind,
                "record": f.record,
                "mean": f.mean,
                "p10": lo_v,
                "p90": hi_v,
                "low": a_lo,
                "high": a_hi,
                "swing": abs(a_hi - a_lo),
                "nb_low": n_lo,
                "nb_high": n_hi,
                "nb_swing": abs(n_hi - n_lo),
            }
        )
    cols = ["kind", "record", "mean", "p10", "p90", "low", "high", "swing"]
    cols += ["nb_low", "nb_high", "nb_swing"]
    df = pd.DataFrame(rows, columns=["family", *cols]).set_index("family")
    df = df.sort_values(["swing", "nb_swing"], ascending=False, kind="stable")
    df.attrs.update(
        base_ale=float(ale({})),
        base_nb=float(model.net_benefit(members)),
        plan=list(members),
        state=state,
    )
    return df


# --------------------------------------------------------------------------------------------
# EVPI and EVPPI
# --------------------------------------------------------------------------------------------


@dataclass
class ValueOfInformation:
    """EVPI of the investment decision and EVPPI per input family.

    Attributes
    ----------
    evpi : float
        E_θ[max_p NB(p | θ)] - max_p E_θ[NB(p | θ)] [currency/yr].
    se : float
        Monte Carlo standard error of ``evpi`` [currency/yr].
    plans : pandas.DataFrame
        One row per candidate plan: ``members``, ``cost`` [currency/yr], ``expected_nb``
        (closed form at the means), ``mean_nb`` (over the draws) [currency/yr] and
        ``p_best`` (share of draws in which it is best).
    evppi : pandas.DataFrame
        Indexed by family: ``evppi`` [currency/yr] and ``se``; sorted, largest first.
    best : tuple of str
        The plan with the largest expected net benefit.
    draws, seed : int
    currency : str
    """

    evpi: float
    se: float
    plans: pd.DataFrame
    evppi: pd.DataFrame
    best: tuple[str, ...]
    draws: int
    seed: int
    currency: str

    def to_dict(self) -> dict:
        """Plain JSON-ready numbers (top five EVPPI)."""
        top = self.evppi.head(5)
        return {
            "evpi": float(self.evpi),
            "evpi_se": float(self.se),
            "best_plan": list(self.best),
            "p_best": float(self.plans.loc[self.plans["best"], "p_best"].iloc[0])
            if len(self.plans)
            else 1.0,
            "draws": int(self.draws),
            "seed": int(self.seed),
            "evppi": [
                {"input": k, "evppi": float(v), "se": float(s)}
                for k, v, s in zip(top.index, top["evppi"], top["se"])
            ],
        }


def _candidate_plans(site: Site, plans) -> list[tuple[str, ...]]:
    if plans is None:
        front = _frontier(site)
        out = [tuple(p.members) for p in front.plans]
    else:
        out = [_plan_members(site, p) for p in plans]
    out = [()] + out  # doing nothing is always an option
    return list(dict.fromkeys(tuple(sorted(p)) for p in out))


def _voi(nb: np.ndarray) -> tuple[float, float]:
    """EVPI from a (plans, draws) matrix of net benefits, and its standard error."""
    best = int(nb.mean(axis=1).argmax())
    gain = nb.max(axis=0) - nb[best]
    n = gain.size
    se = float(gain.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return float(gain.mean()), se


def evpi(
    site: Site,
    *,
    plans: Iterable[Any] | None = None,
    draws: int = 4000,
    seed: int | None = None,
    evppi: bool = True,
) -> ValueOfInformation:
    """Expected value of perfect information for the choice among plans [currency/yr].

    EVPI = E_θ[max_p NB(p | θ)] - max_p E_θ[NB(p | θ)], NB the closed-form conditional net
    benefit (expected loss reduction given θ minus annualised cost), estimated over ``draws``
    joint draws of θ; the plan "do nothing" (NB = 0) is always a candidate. Its standard error
    is that of the mean of max_p NB(p | θ) - NB(p* | θ) over the draws.

    EVPPI of a family X: E_X[max_p E[NB(p) | X]] - max_p E[NB(p)]. As NB is linear in each
    family and the families are independent, E[NB(p) | X = x] is exactly the closed form with
    x substituted and every other family at its mean, so the regression step of Strong and
    Oakley's estimator is exact here; the outer expectation is a Monte Carlo mean over the
    same draws of X (standard error as for EVPI).

    Parameters
    ----------
    site : Site
    plans : iterable of Plan or iterable of str, optional
        The candidate plans; default the optimal plans of :func:`riskkit.frontier` (20
        budgets).
    draws : int
        Joint draws of θ.
    seed : int, optional
        Default ``site.model.seed``; each family draws from its own spawned generator.
    evppi : bool
        Also compute EVPPI per family.

    Returns
    -------
    ValueOfInformation
    """
    draws = int(draws)
    if draws < 2:
        raise ValueError(f"draws must be >= 2, {draws} was given")
    sd = _seed(site, seed)
    model = _Model(site)
    cands = _candidate_plans(site, plans)
    fams = families(site)
    theta = _draws(fams, draws, sd)
    nb = np.array(
        [np.broadcast_to(model.net_benefit(p, theta), (draws,)) for p in cands], dtype=float
    )
    exact = np.array([float(model.net_benefit(p)) for p in cands])
    value, se = _voi(nb)
    best_i = int(nb.mean(axis=1).argmax())
    winners = nb.argmax(axis=0)
    table = pd.DataFrame(
        {
            "members": [", ".join(p) for p in cands],
            "cost": [sum(annualised_cost(site, c) for c in p) for p in cands],
            "expected_nb": exact,
            "mean_nb": nb.mean(axis=1),
            "p_best": [float(np.mean(winners == i)) for i in range(len(cands))],
            "best": [i == best_i for i in range(len(cands))],
        }
    )
    rows = []
    if evppi:
        for f in fams:
            part = np.array(
                [
                    np.broadcast_to(model.net_benefit(p, {f.key: theta[f.key]}), (draws,))
                    for p in cands
                ]
            )
            v, s = _voi(part)
            rows.append((f.key, max(v, 0.0), s))
    ev = pd.DataFrame(rows, columns=["family", "evppi", "se"]).set_index("family")
    ev = ev.sort_values("evppi", ascending=False, kind="stable")
    return ValueOfInformation(
        evpi=value,
        se=se,
        plans=table,
        evppi=ev,
        best=cands[best_i],
        draws=draws,
        seed=sd,
        currency=site.site.currency,
    )


# --------------------------------------------------------------------------------------------
# SL-T robustness
# --------------------------------------------------------------------------------------------


def _levels(rrf: np.ndarray, r: float) -> np.ndarray:
    """:func:`riskkit.rules.required_levels` on an array of RRFs (one per draw)."""
    return np.asarray(required_levels(rrf, r))


def sl_robustness(
    site: Site,
    draws: int = 2000,
    seed: int | None = None,
    *,
    targets: Any = None,
    cap: bool = True,
) -> pd.DataFrame:
    """Probability over parameter uncertainty that each SL-T entry would be lower or higher.

    Per draw θ the RRF of each scenario and tolerance dimension is recomputed in closed form:
    the measure behind the RRF is linear in the unmitigated event rate λ_s = rate x
    vulnerability (harm and exceedance dimensions) and, for the per-zone ALE dimension, in
    the mean money loss per event too, so RRF(θ) = RRF x λ_s(θ)/E[λ_s] (x E[X_s | θ]/E[X_s]).
    The exceedance tails G_s(x) stay at their estimates (a documented simplification). The
    level of each draw follows the ``rrf`` method: clamp(ceil(log_r RRF), 0, 4), capped at the
    actor's capability; a zone's entry is the max over its scenarios tagged with the FR (at
    least 1), a conduit's the max of its two zones.

    Parameters
    ----------
    site : Site
    draws : int
    seed : int, optional
        Default ``site.model.seed``.
    targets : TargetLevels, optional
        The reported SL-T of the rrf method with ``conduit_rule='zones_max'``; targets of
        another method or conduit rule are replaced by those (the per-draw levels follow the
        rrf method, so only its levels can be compared).
    cap : bool
        Cap each scenario's level at its actor's capability (as the rrf method does).

    Returns
    -------
    pandas.DataFrame
        One row per zone / conduit and FR: ``kind``, ``id``, ``fr``, ``sl_t`` (reported),
        ``p_lower``, ``p_higher``, ``p_change``, ``fragile`` (p_change >= :data:`FRAGILE`),
        ``driver`` (the family whose draw has the largest absolute rank correlation with the
        entry's level; empty where the entry never changes) and ``driver_rho``.
    """
    from .levels import target_levels

    tl = targets
    if tl is None or tl.method != "rrf" or tl.options.get("conduit_rule") != "zones_max":
        # the per-draw levels below follow the rrf method with zones_max conduits; compare
        # them with the same method's reported levels, whatever the site's default method
        tl = target_levels(site, method="rrf", conduit_rule="zones_max")
    draws = int(draws)
    sd = _seed(site, seed)
    theta = _draws(families(site), draws, sd)
    level = _scenario_levels(site, tl.rrfs, theta, draws, cap)
    ranks = {k: _rank(v) for k, v in theta.items()}
    rows = []
    for kind, ident, fr, lv in _entry_levels(site, level, draws):
        table = tl.zones if kind == "zone" else tl.conduits
        rep = int(table.loc[ident, fr])
        lo, hi = float(np.mean(lv < rep)), float(np.mean(lv > rep))
        drv, rho = _driver(lv, ranks) if lo + hi > 0 else ("", 0.0)
        rows.append((kind, ident, fr, rep, lo, hi, lo + hi, lo + hi >= FRAGILE, drv, rho))
    cols = ["kind", "id", "fr", "sl_t", "p_lower", "p_higher", "p_change", "fragile"]
    df = pd.DataFrame(rows, columns=[*cols, "driver", "driver_rho"])
    df.attrs.update(draws=draws, seed=sd)
    return df


def _scenario_levels(site: Site, rrfs: pd.DataFrame, theta: dict, draws: int, cap: bool):
    """Each scenario's SL-T level per draw θ (the rrf method on the RRF given θ)."""
    r = float(site.model.sl_reduction_per_level)
    mean = {k: f.mean for k, f in _all_inputs(site).items()}

    def ratio(k):
        return theta[k] / mean[k] if (k in theta and mean[k]) else 1.0

    lam_mult, money_mult = {}, {}
    for s in site.scenarios:
        rk = f"rate:{s.id}" if s.rate is not None else f"actor:{s.actor}"
        lam_mult[s.id] = ratio(rk) * ratio(f"vulnerability:{s.id}")
        keys = [f"money:{s.id}:{c}" for c in money_terms(s)]
        tot = sum(mean[k] for k in keys)
        drawn = sum(theta.get(k, mean[k]) for k in keys)
        money_mult[s.id] = drawn / tot if tot else 1.0
    rrf = {s.id: np.zeros(draws) for s in site.scenarios}
    for rec in rrfs.itertuples(index=False):
        m = np.broadcast_to(lam_mult[rec.scenario], (draws,))
        if rec.category == "ale":
            m = m * money_mult[rec.scenario]
        rrf[rec.scenario] = np.maximum(rrf[rec.scenario], float(rec.rrf) * m)
    level = {}
    for s in site.scenarios:
        lv = _levels(rrf[s.id], r)
        level[s.id] = np.minimum(lv, site.actor(s.actor).capability) if cap else lv
    return level


def _entry_levels(site: Site, level: dict, draws: int) -> list[tuple]:
    """(kind, id, FR, levels per draw) of every zone and conduit entry.

    A zone's entry is the max over its scenarios tagged with the FR, at least 1; a conduit's
    the max of its two zones' (as :mod:`riskkit.levels.drivers` aggregates).
    """
    from .site import FRS

    zone_lv = {}
    for z in site.zones:
        mine = [s for s in site.scenarios if s.zone == z.id]
        for fr in FRS:
            tagged = [level[s.id] for s in mine if fr in s.frs]
            lv = zone_target(tagged)
            zone_lv[(z.id, fr)] = np.broadcast_to(lv, (draws,)).astype(int)
    out = [("zone", z.id, fr, zone_lv[(z.id, fr)]) for z in site.zones for fr in FRS]
    for c in site.conduits:
        a, b = c.zones
        for fr in FRS:
            out.append(("conduit", c.id, fr, conduit_target(zone_lv[(a, fr)], zone_lv[(b, fr)])))
    return out


def _driver(lv: np.ndarray, ranks: dict) -> tuple[str, float]:
    """The family whose draw has the largest |rank correlation| with the levels ``lv``."""
    if np.ptp(lv) == 0:
        return "", 0.0
    rl = _rank(lv.astype(float))
    drv, rho = "", 0.0
    for k, rk in ranks.items():
        c = abs(_pearson(rk, rl))
        if c > rho:
            drv, rho = k, c
    return drv, rho


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(x.size)
    ranks[order] = np.arange(x.size, dtype=float)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return (sums / counts)[inv]


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / den if den > 0 else 0.0


# --------------------------------------------------------------------------------------------
# Global indices
# --------------------------------------------------------------------------------------------


def global_sensitivity(
    sim_or_site: Any, draws: int = 4000, seed: int | None = None
) -> pd.DataFrame:
    """Spearman rank correlation and first-order index of each family with site ALE.

    The engine does not expose the parameter draws of each trial, so θ is drawn here (one
    seeded generator per family) and the closed-form conditional ALE given θ computed per
    draw. The rank correlation of each family's draw with it is reported with its sampling
    error 1/sqrt(n - 1) (that of a correlation near zero; an interval of +-2 se holds a zero
    correlation 95 % of the time). The first-order index S_f = Var(E[ALE | X_f]) / Var(ALE)
    uses the exact conditional expectation (the closed form with X_f substituted, the model
    being linear in each family), its variance over the same draws; for a model linear in
    each family the indices sum to at most 1 (the rest is interaction). The total index
    S_Tf = 1 - Var(E[ALE | X_~f]) / Var(ALE) uses the same exact conditional expectation, with
    every family but f at its draw and f at its mean; S_Tf - S_f is the share of variance
    from f's interactions with the others. Both are variance-based (Sobol') indices computed
    from exact conditional expectations rather than by a sampling design such as SALib's
    Saltelli scheme, so their only error is that of estimating variances from ``draws``
    draws (relative standard error about sqrt(2 / draws) for a normal output).

    Parameters
    ----------
    sim_or_site : Simulation or Site
        A simulation (its site and seed are used) or a site.
    draws : int
    seed : int, optional

    Returns
    -------
    pandas.DataFrame
        Indexed by family, sorted by |rank correlation|: ``kind``, ``record``,
        ``rank_corr``, ``se``, ``first_order``, ``total``. ``attrs``: ``method``, ``draws``,
        ``seed``.
    """
    site = sim_or_site if isinstance(sim_or_site, Site) else sim_or_site.site
    if seed is None and not isinstance(sim_or_site, Site):
        seed = sim_or_site.seed
    sd = _seed(site, seed)
    draws = int(draws)
    if draws < 3:
        raise ValueError(f"draws must be >= 3, {draws} was given")
    model = _Model(site)
    fams = families(site)
    theta = _draws(fams, draws, sd)
    y = np.broadcast_to(np.asarray(model.ale(theta), dtype=float), (draws,))
    ry = _rank(y)
    var = float(y.var())
    se = 1.0 / math.sqrt(draws - 1)
    rows = []
    for f in fams:
        rho = _pearson(_rank(theta[f.key]), ry)
        cond = np.broadcast_to(np.asarray(model.ale({f.key: theta[f.key]}), float), (draws,))
        s1 = float(cond.var()) / var if var > 0 else 0.0
        rest = {k: v for k, v in theta.items() if k != f.key}
        others = np.broadcast_to(np.asarray(model.ale(rest), dtype=float), (draws,))
        st = 1.0 - float(others.var()) / var if var > 0 else 0.0
        rows.append((f.key, f.kind, f.record, rho, se, s1, min(max(st, 0.0), 1.0)))
    cols = ["family", "kind", "record", "rank_corr", "se", "first_order", "total"]
    df = pd.DataFrame(rows, columns=cols)
    df = df.set_index("family")
    df = df.reindex(df["rank_corr"].abs().sort_values(ascending=False, kind="stable").index)
    df.attrs.update(
        method="Spearman rank correlation, first-order and total (Sobol') indices of the"
        " closed-form conditional ALE over seeded parameter draws",
        draws=draws,
        seed=sd,
    )
    return df


# --------------------------------------------------------------------------------------------
# Convergence of the Monte Carlo estimates
# --------------------------------------------------------------------------------------------

_Z95 = NormalDist().inv_cdf(0.975)


def _es(x: np.ndarray, q: float) -> float:
    v = np.quantile(x, q)
    tail = x[x >= v]
    return float(tail.mean()) if tail.size else float(v)


def convergence(
    sim_or_site: Any,
    trials: Sequence[int] | None = None,
    *,
    seed: int | None = None,
    level: float = 0.99,
    boot: int = 200,
) -> pd.DataFrame:
    """Standard errors and 95 % intervals of ALE, VaR and ES against the number of trials.

    The estimates over the first n simulated years, for each n in ``trials``: ALE with its
    standard error s / sqrt(n); VaR (the ``level`` quantile) with its distribution-free
    order-statistic interval (binomial, normal approximation); ES (the mean beyond VaR) with a
    bootstrap standard error (``boot`` resamples from a seeded generator).

    Parameters
    ----------
    sim_or_site : Simulation or Site
        A simulation of the site (its losses are used), or a site (simulated with
        ``max(trials)`` trials and ``seed``).
    trials : sequence of int, optional
        Default: 100, 200, 500, 1000, ... up to the simulation's trials.
    seed : int, optional
    level : float
        VaR / ES level.
    boot : int
        Bootstrap resamples for the ES standard error.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``trials``: ``ale``, ``ale_se``, ``ale_rel`` (95 % half-width / ALE),
        ``var``, ``var_lo``, ``var_hi``, ``es``, ``es_se`` [currency/yr]. ``attrs``
        ``trials_for_1pct``: the trials that a 1 % relative 95 % half-width of ALE needs.
    """
    if hasattr(sim_or_site, "losses"):
        sim = sim_or_site
    else:
        from .engine import simulate

        n_max = max(trials) if trials else None
        sim = simulate(sim_or_site, n_max, seed)
    x_all = sim.losses("site")["site"].to_numpy(dtype=float)
    N = x_all.size
    if trials is None:
        grid, k = [], 100
        while k < N:
            grid += [k, 2 * k, 5 * k]
            k *= 10
        trials = sorted({t for t in grid if t < N} | {N})
    rng = np.random.default_rng(_seed(sim.site, seed) if hasattr(sim, "site") else seed)
    rows = []
    for n in trials:
        n = int(n)
        if not 2 <= n <= N:
            raise ValueError(f"trials must be in 2..{N} (the simulation's), {n} was given")
        x = x_all[:n]
        m, s = float(x.mean()), float(x.std(ddof=1))
        se = s / math.sqrt(n)
        srt = np.sort(x)
        half = _Z95 * math.sqrt(n * level * (1 - level))
        lo_i = int(max(0, math.floor(n * level - half) - 1))
        hi_i = int(min(n - 1, math.ceil(n * level + half) - 1))
        idx = rng.integers(0, n, size=(int(boot), n))
        es_b = [_es(x[i], level) for i in idx]
        rows.append(
            {
                "trials": n,
                "ale": m,
                "ale_se": se,
                "ale_rel": _Z95 * se / m if m > 0 else math.nan,
                "var": float(np.quantile(x, level)),
                "var_lo": float(srt[lo_i]),
                "var_hi": float(srt[hi_i]),
                "es": _es(x, level),
                "es_se": float(np.std(es_b, ddof=1)),
            }
        )
    df = pd.DataFrame(rows).set_index("trials")
    df.attrs["trials_for_1pct"] = trials_for_precision(x_all, 0.01)
    return df


def trials_for_precision(losses: np.ndarray, precision: float, *, minimum: int = 100) -> int:
    """Trials for a 95 % half-width of ALE of ``precision`` x ALE, from a pilot sample.

    n = (1.96 s / (precision x mean))^2, s and mean from ``losses`` (the pilot's annual
    losses [currency/yr]); at least ``minimum``.
    """
    x = np.asarray(losses, dtype=float)
    if not 0 < precision < 1:
        raise ValueError(f"precision must be between 0 and 1 (0.01 for 1 %), {precision} was given")
    m, s = float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0
    if m <= 0 or s == 0:
        return int(minimum)
    return max(int(minimum), int(math.ceil((_Z95 * s / (precision * m)) ** 2)))
