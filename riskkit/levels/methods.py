"""Target security levels (SL-T), gap analysis and zone-model checks.

The rules of docs/model.md, "Target security levels", in code. Per scenario, the required risk
reduction factor (RRF) against every tolerance dimension of the site gives a required level;
the SL-T vector of a zone over FR1..FR7 is the max of the levels of its scenarios tagged with
each FR (at least 1), and a conduit takes the element-wise max of the zones it joins. Every
SL-T value carries its driver (the scenario, its RRF, the dimension that set it, whether the
actor's capability capped it), so a reviewer can follow each number back to one scenario.

Four methods, so that an organisation can reproduce its own procedure and compare:

``minimal`` (default, see :data:`DEFAULT_METHOD`; ``rrf`` was the default before model v2)
    ℓ = clamp(ceil(log_r RRF), 0, 4), capped at the actor's capability c: SL-T_s = min(ℓ, c),
    r = ``model.sl_reduction_per_level``.
``matrix``
    the site's ``risk_matrix`` (likelihood class x consequence class -> SL).
``capability``
    every credible actor (one whose unmitigated risk exceeds tolerance) sets its capability
    on the FRs of its scenarios; the capability may be derived from the actor's resources and
    knowledge and lowered for location, traceability and extent (Heinrich et al. 2019).
``minimal``
    per zone, the least SL-T vector (by sum, then FR1 first) under which every scenario's
    harm tolerance and the zone's total ``per_zone_ale`` hold, found by exact enumeration with
    the risk under each candidate from :func:`riskkit.rules.scenario_factors`; then the site's
    exceedance points are checked on the simulated aggregate annual loss and levels raised
    where one fails (:mod:`riskkit.levels.minimal` gives the procedure). Nothing is shared
    out by the number of scenarios.

A conduit's SL-T follows ``conduit_rule``: ``zones_max`` (today: the element-wise max of its
two zones) or ``entry`` (from the scenarios that enter through it, under the rule that
credits it; :data:`~riskkit.levels.drivers.CONDUIT_RULES`).

The risk measures behind the RRF
--------------------------------
All measures are taken in the *unmitigated* state (no SL-A, no countermeasures), with one
event rate λ_s per scenario [events/yr]:

- with ``decision_statistic: mean`` λ_s is the closed-form E[λ_s]
  (:func:`riskkit.exposure.expected_losses`), so the result is deterministic;
- with a percentile ``pXX`` λ_s is the XX-th percentile of the event rate sampled per trial
  (``Simulation.event_rates()`` of the unmitigated state): the percentile is taken over the
  *parameter* uncertainty of the rate. A percentile of the simulated annual loss itself would
  be 0 for every scenario rarer than 1 - XX % and so would never ask for protection against
  rare, severe events, which is the opposite of what a cautious analyst wants.

Given λ_s, with p_h the probability that an event reaches harm h, E[X_s] the expected money
loss per event and G_s(x) = P(X_s >= x) its tail:

- safety / environment, for each class k with a tolerable frequency f_k and the scenario's
  severity s >= k: RRF = λ_s p_h / f_k (a scenario has one severity, so its events of severity
  >= k are all its harm events when s >= k and none otherwise);
- money, expected loss: the zone's ``per_zone_ale`` is shared equally among the n_z scenarios
  of the zone with money loss: RRF = λ_s E[X_s] / (per_zone_ale / n_z);
- money, each exceedance point (x, p) of the site's tolerance curve: the site's probability p
  is shared equally among the N scenarios of the *site* with money loss (the curve is a
  site-level tolerance), p_s = p / N, and the scenario's share is spent on the probability
  that at least one of its events alone loses x or more, 1 - exp(-λ_s G_s(x)). The RRF is the
  factor by which the rate must be divided to bring that probability to p_s:
  RRF = λ_s G_s(x) / (-ln(1 - p_s)), which is P / p_s for small probabilities. By the union
  bound this keeps P(some single event of the site loses >= x in a year) <= p; it does not
  bound the sum of many smaller losses, which the engine's exceedance curve shows. G_s is
  estimated from ``tail_samples`` draws of the per-event loss with a generator seeded from
  ``model.seed`` (spawned per scenario), so it too is reproducible.

The scenario's RRF is the max over these dimensions; the dimension that set it is recorded.

References
----------
.. [1] IEC 62443-3-2:2020, *Security risk assessment for system design*, clause 4.6 (ZCR 5:
   detailed risk assessment, ZCR 5.6 tolerable risk, ZCR 5.7 SL-T per zone and conduit) and
   clause 4.5 (ZCR 3: zones and conduits).
.. [2] IEC 62443-3-3:2013, clause 4 (FR1..FR7, security levels 1..4; SL-T, SL-C and SL-A).
.. [3] IEC 61511-3:2016, Annex F (layer of protection analysis: required risk reduction as
   the ratio of unmitigated to tolerable frequency), the analogy behind the RRF method.
.. [4] M. Heinrich et al. (2019), "Security Requirements Engineering in Safety-Critical
   Railway Signalling Networks", *Security and Communication Networks* 2019, 8348925,
   Table 1 (threat-derived SL: resources, knowledge, location, traceability, extent).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exposure import expected_losses
from ..rules import (
    KIND_PURDUE,
    ale_share,
    exceedance_share,
    harm_at_least,
    money_terms,
    protection_levels,
    required_levels,
    sl_factor,
)
from ..site import FRS, HARM_CATEGORIES, Problem, Site, SiteError
from .drivers import (
    CONDUIT_RULES,
    DEFAULT_CONDUIT_RULE,
    FLAG_COLUMNS,
    _aggregate,
    _aggregate_minimal,
    _flags,
    _summary,
)
from .minimal import minimal_levels

SLT_METHODS = ("rrf", "matrix", "capability", "minimal")
"""Methods of :func:`target_levels` (how SL-T is derived)."""

DEFAULT_METHOD = "minimal"  # "rrf" before model v2
"""The method :func:`target_levels` uses when none is given."""

METHODS = SLT_METHODS
"""Old name of :data:`SLT_METHODS`, kept for existing imports."""
_KIND_PURDUE = KIND_PURDUE  # old name; the map lives in riskkit.rules

_COMMON = {"statistic", "tail_samples", "conduit_rule"}
_OPTIONS = {
    "rrf": {*_COMMON, "cap"},
    "matrix": {*_COMMON, "cap", "severity_map"},
    "capability": {
        *_COMMON,
        "derive",
        "credible",
        "scope",
        "threshold",
        "reductions",
        "reduction_rule",
        "floor",
    },
    "minimal": {
        *_COMMON,
        "exceedance",
        "exceedance_trials",
        "exceedance_batch",
        "exceedance_steps",
    },
}


# --------------------------------------------------------------------------------------------
# Small pure rules
# --------------------------------------------------------------------------------------------


def required_level(rrf: float, r: float = 10.0) -> int:
    """Required SL for a risk reduction factor: clamp(ceil(log_r RRF), 0, 4).

    Parameters
    ----------
    rrf : float
        Required risk reduction factor [-] (unmitigated / tolerable risk).
    r : float
        Reduction per achieved level (``model.sl_reduction_per_level``), > 1.

    Returns
    -------
    int
        0 where RRF <= 1 (already tolerable); 4 at most.

    Examples
    --------
    >>> required_level(1000.0), required_level(1000.1), required_level(0.5)
    (3, 4, 0)
    """
    return required_levels(rrf, r)


def threat_level(
    resources: int,
    knowledge: int,
    location: int = 0,
    traceability: int = 0,
    extent: int = 0,
    rule: str = "sum",
    floor: int = 1,
) -> int:
    """Threat-derived SL after Heinrich et al. (2019), Table 1.

    The preliminary level PSL = max(resources, knowledge) is lowered by the reductions for
    location (the attacker must be on site), traceability (the attacker can be identified) and
    extent of damage (the damage stays local), and kept within [floor, 4].

    Parameters
    ----------
    resources, knowledge : int
        The attacker's resources and knowledge, 1..4.
    location, traceability, extent : int
        Reductions, 0..4.
    rule : {'sum', 'max'}
        How reductions combine: their sum (default) or only the largest. The paper's Table 1
        is reproduced by both (with ``floor=1``); its text was not available to check which
        one the authors meant.
    floor : int
        Lowest level the reductions can reach (default 1: a credible threat asks for SL 1).

    Returns
    -------
    int
        The SL, ``floor``..4.

    Examples
    --------
    Table 1 of Heinrich et al. (2019):

    >>> threat_level(3, 4), threat_level(2, 2, extent=1), threat_level(2, 2, location=1, extent=1)
    (4, 1, 1)
    """
    for name, v, lo in (("resources", resources, 1), ("knowledge", knowledge, 1)):
        if not (isinstance(v, (int, np.integer)) and lo <= v <= 4):
            raise ValueError(f"{name} must be an integer 1..4, {v!r} was given")
    red = {"location": location, "traceability": traceability, "extent": extent}
    for name, v in red.items():
        if not (isinstance(v, (int, np.integer)) and 0 <= v <= 4):
            raise ValueError(f"{name} reduction must be an integer 0..4, {v!r} was given")
    if rule == "sum":
        cut = sum(red.values())
    elif rule == "max":
        cut = max(red.values())
    else:
        raise ValueError(f"reduction_rule must be 'sum' or 'max', {rule!r} was given")
    if not 0 <= floor <= 4:
        raise ValueError(f"floor must be 0..4, {floor!r} was given")
    return int(min(4, max(floor, max(resources, knowledge) - cut)))


def matrix_class(value: float, thresholds: Iterable[float]) -> int:
    """Class of a value on ascending thresholds: the number of thresholds <= value.

    Class 0 lies below the first threshold; class i is a value >= threshold i (1-based).

    Examples
    --------
    >>> matrix_class(0.05, [1e-3, 1e-2, 1e-1]), matrix_class(1e-2, [1e-3, 1e-2, 1e-1])
    (2, 2)
    """
    return int(np.searchsorted(np.asarray(list(thresholds), dtype=float), value, side="right"))


def _parse_statistic(stat: str) -> float | None:
    """None for 'mean', else the quantile in (0, 1) of 'pXX'."""
    if stat == "mean":
        return None
    if isinstance(stat, str) and stat.startswith("p"):
        try:
            q = float(stat[1:]) / 100.0
        except ValueError:
            q = -1.0
        if 0 < q < 1:
            return q
    raise ValueError(f"statistic must be 'mean' or a percentile such as 'p90', {stat!r} was given")


# --------------------------------------------------------------------------------------------
# Risk measures and RRF per scenario
# --------------------------------------------------------------------------------------------


def _event_loss_tail(site: Site, xs: list[float], n: int) -> dict[str, np.ndarray]:
    """P(X_s >= x) per scenario with money loss, per exceedance point, by seeded sampling."""
    money = [s for s in site.scenarios if s.consequences.money()]
    if not xs or not money:
        return {}
    children = np.random.SeedSequence(site.model.seed).spawn(len(site.scenarios))
    seeds = {s.id: children[i] for i, s in enumerate(site.scenarios)}
    out = {}
    xs_arr = np.asarray(xs, dtype=float)
    for s in money:
        rng = np.random.default_rng(seeds[s.id])
        loss = np.zeros(n)
        for specs in money_terms(s).values():
            loss += math.prod((spec.sample(rng, n) for spec in specs), start=1.0)
        out[s.id] = (loss[:, None] >= xs_arr[None, :]).mean(axis=0)
    return out


def scenario_risk(
    site: Site,
    sim: Any = None,
    statistic: str | None = None,
    tail_samples: int = 20000,
) -> pd.DataFrame:
    """Unmitigated risk measures of every scenario, one row per scenario.

    Parameters
    ----------
    site : Site
    sim : Simulation, optional
        A simulation of the unmitigated state; used (and run if absent) only for a percentile
        statistic, whose event rate is the percentile of ``sim.event_rates()``.
    statistic : str, optional
        ``mean`` or ``pXX``; default ``site.model.decision_statistic``.
    tail_samples : int
        Draws of the per-event loss used for the exceedance tails G_s(x).

    Returns
    -------
    pandas.DataFrame
        Indexed by scenario: ``zone``, ``actor``, ``capability``, ``frs`` (list),
        ``rate`` [events/yr] (the decision statistic of λ_s), ``mean_rate`` [events/yr],
        ``loss_per_event`` [currency], ``ale`` [currency/yr] = rate x loss_per_event,
        ``money`` (bool: has money loss), and for safety and environment ``<h>_severity``,
        ``<h>_probability`` and ``<h>_rate`` [events/yr] = rate x probability; plus one column
        ``tail_<x>`` = G_s(x) per exceedance point.
    """
    stat = statistic or site.model.decision_statistic
    q = _parse_statistic(stat)
    ex = expected_losses(site, "unmitigated")
    if not site.scenarios:
        return pd.DataFrame(
            columns=["zone", "actor", "capability", "frs", "rate", "loss_per_event", "ale"]
        )
    rate = ex["event_rate"].astype(float)
    if q is not None:
        if sim is None:
            sim = _simulate_unmitigated(site)
        _check_sim_state(sim)
        rates = sim.event_rates()
        missing = [s for s in ex.index if s not in rates.columns]
        if missing:
            raise ValueError(f"the simulation has no event rates for scenarios {missing}")
        rate = rates[list(ex.index)].quantile(q).astype(float)
    df = pd.DataFrame(index=ex.index.copy())
    df["zone"] = ex["zone"]
    df["actor"] = ex["actor"]
    df["capability"] = ex["capability"].astype(int)
    recs = [site.scenario(s) for s in ex.index]
    df["frs"] = [list(s.frs) for s in recs]
    df["rate"] = rate
    df["mean_rate"] = ex["event_rate"].astype(float)
    df["loss_per_event"] = ex["loss_per_event"].astype(float)
    df["ale"] = df["rate"] * df["loss_per_event"]
    df["money"] = [bool(s.consequences.money()) for s in recs]
    for h in HARM_CATEGORIES:
        sev, prob = [], []
        for s in recs:
            harm = getattr(s.consequences, h)
            ok = harm is not None and harm.severity > 0
            sev.append(harm.severity if ok else 0)
            prob.append(harm.probability if ok else 0.0)
        df[f"{h}_severity"] = sev
        df[f"{h}_probability"] = prob
        df[f"{h}_rate"] = df["rate"] * df[f"{h}_probability"]
    xs = [x for x, _ in site.tolerance.financial.exceedance]
    tails = _event_loss_tail(site, xs, int(tail_samples))
    for j, x in enumerate(xs):
        df[f"tail_{x:g}"] = [float(tails[s][j]) if s in tails else 0.0 for s in ex.index]
    df.attrs["statistic"] = stat
    return df


def _simulate_unmitigated(site: Site):
    try:
        from ..engine import simulate
    except ImportError as e:  # pragma: no cover - until the engine lands
        raise NotImplementedError(
            "a percentile decision statistic needs the Monte Carlo engine (riskkit.engine),"
            " which is not available; use statistic='mean'"
        ) from e
    return simulate(site, state="unmitigated")


def _check_sim_state(sim) -> None:
    st = getattr(sim, "state", None)
    name = getattr(st, "name", st)
    if isinstance(name, str) and name != "unmitigated":
        raise ValueError(
            "target levels need a simulation of the unmitigated state,"
            f" a simulation of {name!r} was given"
        )


def risk_reduction(site: Site, risk: pd.DataFrame) -> pd.DataFrame:
    """RRF of every scenario against every tolerance dimension (long form).

    Parameters
    ----------
    site : Site
    risk : pandas.DataFrame
        From :func:`scenario_risk`.

    Returns
    -------
    pandas.DataFrame
        One row per (scenario, dimension) that applies: ``scenario``, ``dimension`` (a label
        such as ``safety>=3``, ``financial:ale``, ``financial:P(L>=5e+06)``), ``category``
        (safety, environment, ale, exceedance), ``threshold`` (severity class or loss x),
        ``measure`` (the unmitigated risk: [events/yr], [currency/yr] or a probability),
        ``tolerable`` (its share of the tolerance, same unit) and ``rrf`` [-].
    """
    tol = site.tolerance
    rows = []
    if not len(risk):
        return pd.DataFrame(rows, columns=_RRF_COLUMNS)
    ids = list(risk.index)
    for h in HARM_CATEGORIES:
        table = sorted(getattr(tol, h).items())
        for sid, sev, prob, rate in zip(
            ids, risk[f"{h}_severity"], risk[f"{h}_probability"], risk[f"{h}_rate"]
        ):
            sev = int(sev)
            if sev <= 0 or prob <= 0:
                continue
            for k, f in table:
                if sev >= k:
                    m = float(harm_at_least(sev, rate, k))
                    rows.append((sid, f"{h}>={k}", h, float(k), m, float(f), m / f))
    fin = tol.financial
    money = risk[risk["money"] & (risk["loss_per_event"] > 0)]
    if fin.per_zone_ale is not None and len(money):
        n_zone = money.groupby("zone").size().to_dict()
        for sid, zone, ale in zip(money.index, money["zone"], money["ale"]):
            share = ale_share(fin.per_zone_ale, n_zone[zone])
            m = float(ale)
            rows.append((sid, "financial:ale", "ale", np.nan, m, share, m / share))
    n_site = len(money)
    rates = [float(v) for v in money["rate"]]
    for x, p in fin.exceedance:
        p_s, denom = exceedance_share(p, n_site)
        label = f"financial:P(L>={x:g})"
        for sid, rate, tail in zip(money.index, rates, money[f"tail_{x:g}"]):
            lam_g = rate * float(tail)
            measure = -math.expm1(-lam_g)
            rows.append((sid, label, "exceedance", float(x), measure, p_s, lam_g / denom))
    return pd.DataFrame(rows, columns=_RRF_COLUMNS)


_RRF_COLUMNS = ["scenario", "dimension", "category", "threshold", "measure", "tolerable", "rrf"]


# --------------------------------------------------------------------------------------------
# The result object
# --------------------------------------------------------------------------------------------


@dataclass
class TargetLevels:
    """SL-T vectors of every zone and conduit, with the scenarios that drive them.

    Attributes
    ----------
    method : str
        ``rrf``, ``matrix``, ``capability`` or ``minimal``.
    statistic : str
        The decision statistic of the event rate (``mean`` or ``pXX``).
    options : dict
        The method's options as used.
    zones : pandas.DataFrame
        Index zone id, columns FR1..FR7: SL-T (int, 1..4).
    conduits : pandas.DataFrame
        Index conduit id, columns FR1..FR7: SL-T (int).
    scenarios : pandas.DataFrame
        Per scenario: ``zone``, ``actor``, ``capability``, ``rrf`` [-], ``dimension``,
        ``required`` (level before the cap), ``sl_t`` (after it), ``capped`` (bool: the cap
        lowered the level), ``frs`` (list), ``residual_rrf`` (RRF / r^sl_t, the reduction an
        SL cannot give) and the method's own columns (``likelihood_class``, ``credible``,
        ``protection`` for ``minimal``, ...).
    drivers : pandas.DataFrame
        Long form, one row per (kind, id, FR): ``kind`` (zone/conduit), ``id``, ``fr``,
        ``sl_t``, ``basis`` (``scenario``, or ``floor`` where no scenario asks for 1), ``via``
        (the zone that set a conduit's value; the zone itself for zones), ``scenario``,
        ``actor``, ``rrf``, ``dimension``, ``required``, ``capability``, ``capped``.
    flags : pandas.DataFrame
        Security PHA Review findings: scenarios whose RRF an SL cannot deliver (ℓ above the
        actor's capability, or RRF above r^4): ``scenario``, ``zone``, ``actor``, ``rrf``,
        ``dimension``, ``required``, ``capability``, ``residual_rrf``, ``reason``, ``message``.
        These follow from the RRF analysis and are the same for the rrf, matrix and capability
        methods; ``minimal`` flags the tolerances no vector reaches (reason ``capability``,
        ``beyond-sl4`` or ``site-exceedance``), ``residual_rrf`` being the best reachable
        measure over the tolerance.
    rrfs : pandas.DataFrame
        Every (scenario, dimension) RRF, from :func:`risk_reduction`.
    summary : pandas.DataFrame
        One row per zone and conduit: ``kind``, ``id``, FR1..FR7, ``max_sl_t``,
        ``scenarios`` (count), ``flagged`` (flagged scenarios), ``top_driver``.
    """

    method: str
    statistic: str
    options: dict
    zones: pd.DataFrame
    conduits: pd.DataFrame
    scenarios: pd.DataFrame
    drivers: pd.DataFrame
    flags: pd.DataFrame
    rrfs: pd.DataFrame
    summary: pd.DataFrame
    r: float = 10.0
    meta: dict = field(default_factory=dict)

    def vector(self, ident: str) -> tuple[int, ...]:
        """SL-T vector (FR1..FR7) of a zone or conduit."""
        for table in (self.zones, self.conduits):
            if ident in table.index:
                return tuple(int(v) for v in table.loc[ident, list(FRS)])
        known = ", ".join([*self.zones.index, *self.conduits.index])
        raise KeyError(f"no zone or conduit {ident!r}; known: {known}")

    def driver(self, ident: str, fr: str) -> dict:
        """The driver record of one SL-T value (a row of :attr:`drivers` as a dict)."""
        d = self.drivers
        hit = d[(d["id"] == ident) & (d["fr"] == fr)]
        if hit.empty:
            raise KeyError(f"no SL-T value for {ident!r} {fr!r}")
        return hit.iloc[0].to_dict()

    def __repr__(self) -> str:
        return (
            f"TargetLevels(method={self.method!r}, statistic={self.statistic!r},"
            f" {len(self.zones)} zones, {len(self.conduits)} conduits, {len(self.flags)} flags)"
        )


# --------------------------------------------------------------------------------------------
# target_levels
# --------------------------------------------------------------------------------------------


def target_levels(
    site: Site, sim: Any = None, method: str | None = None, **options
) -> TargetLevels:
    """SL-T vector of every zone and conduit (62443-3-2 ZCR 5.7), traceable to scenarios.

    Parameters
    ----------
    site : Site
    sim : Simulation, optional
        Simulation of the unmitigated state; used only for a percentile statistic (run with
        the site's trials and seed when absent). With ``mean`` the closed forms are exact and
        ``sim`` is not used.
    method : {'rrf', 'matrix', 'capability', 'minimal'}, optional
        Default :data:`DEFAULT_METHOD` (``minimal``).
    **options
        Common: ``statistic`` (override ``model.decision_statistic``), ``tail_samples``
        (default 20000, draws for the exceedance tails), ``conduit_rule`` (``zones_max`` or
        ``entry``; default :data:`~riskkit.levels.drivers.DEFAULT_CONDUIT_RULE`).

        ``minimal``: ``cap`` (default True, for the per-scenario RRF columns kept for
        reference); ``exceedance`` (default True: check the site's exceedance points on the
        simulated aggregate annual loss), ``exceedance_trials`` (default ``model.trials``),
        ``exceedance_batch`` (default 12), ``exceedance_steps`` (default no bound). The result's
        ``meta['exceedance']`` holds each point's estimate, standard error and verdict and
        ``meta['raises']`` the levels the check added; ``scenarios['protection']`` is each
        scenario's L with its zone at SL-T.

        ``rrf``: ``cap`` (default True): cap ℓ at the actor's capability.

        ``matrix``: ``cap`` (default False: the matrix value as the organisation's procedure
        gives it); ``severity_map``: ``{'safety': {severity: consequence class}, 'environment':
        {...}}``. By default severity k maps to consequence class max(0, m - 4 + k), m the
        top class (``len(risk_matrix.consequence)``): severity 4 is the worst consequence class
        and each lower severity one class less.

        ``capability``: ``credible`` ('risk' (default): actors whose risk exceeds tolerance,
        or 'all'); ``scope`` ('zone' (default): an actor is credible in a zone where one of
        its scenarios there has RRF > ``threshold``; 'scenario'; 'site'); ``threshold``
        (default 1.0); ``derive`` ('actor' (default): the actor's ``capability``, or
        'heinrich': :func:`threat_level` of the actor's ``resources`` and ``knowledge``
        reduced by the scenario's ``sl_reductions``); ``reductions`` ({scenario id:
        {location, traceability, extent}}, merged over the site's); ``reduction_rule``
        ('sum' or 'max'); ``floor`` (default 1).

    Returns
    -------
    TargetLevels

    Notes
    -----
    Per scenario of actor capability c, SL-T_s = min(ℓ, c) (``rrf``); then
    SL-T_z[k] = max(1, max over the zone's scenarios tagged k of SL-T_s) and a conduit's
    SL-T is the element-wise max of its two zones' vectors (``conduit_rule='zones_max'``) or
    the max over the scenarios entering through it (``'entry'``). Ties between scenarios are
    broken by the larger RRF, then by the order of the site file. ``minimal`` replaces the
    per-scenario levels by the exact per-zone search (:mod:`riskkit.levels.minimal`).

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.6.7 (ZCR 5.7: determine SL-T).
    """
    method = DEFAULT_METHOD if method is None else method
    _check_options(method, options)
    stat = _statistic(site, options.get("statistic"))
    r = float(site.model.sl_reduction_per_level)
    risk = scenario_risk(site, sim, stat, options.get("tail_samples", 20000))
    rrfs = risk_reduction(site, risk)
    scen = _scenario_rrf(site, risk, rrfs, r)
    cap = _required_levels(site, method, risk, scen, options)
    scen["sl_t"] = (
        np.minimum(scen["required"], scen["capability"]) if cap else scen["required"]
    ).astype(int)
    scen["capped"] = scen["sl_t"] < scen["required"]
    scen["residual_rrf"] = scen["rrf"] * sl_factor(r, scen["rrf_level"], scen["capability"])
    rule = _conduit_rule(options.get("conduit_rule"))
    meta: dict = {}
    if method == "minimal":
        res = minimal_levels(site, risk, {**options, "conduit_rule": rule})
        zones, conduits, drivers = _aggregate_minimal(site, res, rule)
        flags = pd.DataFrame(res["flags"], columns=FLAG_COLUMNS)
        scen["protection"] = _protection(zones, scen)
        meta = {"exceedance": res["exceedance"], "raises": res["raises"]}
    else:
        zones, conduits, drivers = _aggregate(site, scen, rule)
        flags = _flags(scen, r)
    summary = _summary(site, zones, conduits, drivers, scen, flags, rule)
    used = {k: v for k, v in options.items() if k != "statistic"}
    used["conduit_rule"] = rule
    if method in ("rrf", "matrix", "minimal"):
        used["cap"] = cap
    return TargetLevels(
        method=method,
        statistic=stat,
        options=used,
        zones=zones,
        conduits=conduits,
        scenarios=scen,
        drivers=drivers,
        flags=flags,
        rrfs=rrfs,
        summary=summary,
        r=r,
        meta=meta,
    )


def _check_options(method: str, options: Mapping) -> None:
    """Refuse an unknown method, or an option the method does not take."""
    if method not in SLT_METHODS:
        raise ValueError(f"method must be one of {', '.join(SLT_METHODS)}, {method!r} was given")
    bad = sorted(set(options) - _OPTIONS[method])
    if bad:
        raise TypeError(
            f"unknown option {bad[0]!r} for method {method!r}; options are"
            f" {', '.join(sorted(_OPTIONS[method]))}"
        )


def _protection(zones: pd.DataFrame, scen: pd.DataFrame) -> list[int]:
    """Each scenario's protection L with its zone at SL-T (conduits at 0), one call per FR set."""
    vec = zones[list(FRS)].to_numpy(dtype=int)
    row = {z: i for i, z in enumerate(zones.index)}
    out = np.zeros(len(scen), dtype=int)
    groups: dict[tuple, list[int]] = {}
    for i, frs in enumerate(scen["frs"]):
        groups.setdefault(tuple(frs), []).append(i)
    zi = np.array([row[z] for z in scen["zone"]], dtype=int)
    for frs, idx in groups.items():
        out[idx] = protection_levels(vec[zi[idx]], None, list(frs)) if frs else 0
    return out.tolist()


def _conduit_rule(given: str | None) -> str:
    """The conduit rule: ``given`` or :data:`DEFAULT_CONDUIT_RULE`, refused if unknown."""
    rule = DEFAULT_CONDUIT_RULE if given is None else given
    if rule not in CONDUIT_RULES:
        raise ValueError(
            f"conduit_rule must be one of {', '.join(CONDUIT_RULES)}, {rule!r} was given"
        )
    return rule


def _statistic(site: Site, given: str | None) -> str:
    """The decision statistic: ``given``, else the site's (a bad site value is a problem)."""
    if given:
        _parse_statistic(given)
        return given
    stat = site.model.decision_statistic
    try:
        _parse_statistic(stat)
    except ValueError as e:
        problem = Problem(site.source or site.name, "model", "decision_statistic", str(e))
        raise SiteError([problem]) from None
    return stat


def _required_levels(site: Site, method: str, risk, scen: pd.DataFrame, options) -> bool:
    """Fill ``scen['required']`` by ``method``; whether the actor's capability caps SL-T."""
    if method in ("rrf", "minimal"):
        scen["required"] = scen["rrf_level"]
        return bool(options.get("cap", True))
    if method == "matrix":
        _matrix_levels(site, risk, scen, options.get("severity_map"))
        return bool(options.get("cap", False))
    _capability_levels(site, scen, options)
    return False


def _scenario_rrf(site: Site, risk: pd.DataFrame, rrfs: pd.DataFrame, r: float) -> pd.DataFrame:
    """Per scenario: the max RRF, its dimension and the RRF level ℓ (before any cap)."""
    scen = risk[["zone", "actor", "capability"]].copy()
    scen["rate"] = risk["rate"]
    scen["rrf"] = 0.0
    scen["dimension"] = pd.Series([None] * len(scen), index=scen.index, dtype=object)
    if len(rrfs):
        # first max in file order of dimensions (safety, environment, ale, exceedance)
        best = rrfs.loc[rrfs.groupby("scenario", sort=False)["rrf"].idxmax()]
        best = best.set_index("scenario")
        scen.loc[best.index, "rrf"] = best["rrf"].astype(float)
        scen.loc[best.index, "dimension"] = best["dimension"]
    scen["rrf_level"] = np.asarray(required_levels(scen["rrf"].to_numpy(float), r), dtype=int)
    scen["frs"] = risk["frs"]
    return scen


def _matrix_levels(site: Site, risk: pd.DataFrame, scen: pd.DataFrame, severity_map) -> None:
    rm = site.risk_matrix
    if rm is None:
        raise ValueError(
            "method 'matrix' needs a risk_matrix section in the site file"
            " (likelihood and consequence thresholds and an sl table)"
        )
    top = len(rm.consequence)
    smap: dict[str, dict[int, int]] = {}
    for h in HARM_CATEGORIES:
        default = {k: max(0, top - 4 + k) for k in range(1, 5)}
        given = (severity_map or {}).get(h)
        if given is not None:
            for k, c in given.items():
                if not (isinstance(c, (int, np.integer)) and 0 <= c <= top):
                    raise ValueError(
                        f"severity_map[{h!r}][{k}] must be a consequence class 0..{top},"
                        f" {c!r} was given"
                    )
            default = {**default, **{int(k): int(c) for k, c in given.items()}}
        smap[h] = default
    levels, lcls, ccls, dims = [], [], [], []
    for _, rec in risk.iterrows():
        cands = []  # (sl, dimension, likelihood class, consequence class)
        if rec["money"] and rec["loss_per_event"] > 0:
            li = matrix_class(rec["rate"], rm.likelihood)
            ci = matrix_class(rec["loss_per_event"], rm.consequence)
            cands.append((rm.sl[li][ci], "financial", li, ci))
        for h in HARM_CATEGORIES:
            sev = int(rec[f"{h}_severity"])
            if sev > 0 and rec[f"{h}_rate"] > 0:
                li = matrix_class(rec[f"{h}_rate"], rm.likelihood)
                ci = smap[h][sev]
                cands.append((rm.sl[li][ci], f"{h}:{sev}", li, ci))
        if not cands:
            li = matrix_class(rec["rate"], rm.likelihood)
            cands.append((rm.sl[li][0], "none", li, 0))
        # highest SL; ties to the higher consequence class, then likelihood class
        sl, dim, li, ci = max(cands, key=lambda t: (t[0], t[3], t[2]))
        levels.append(int(sl))
        dims.append(dim)
        lcls.append(li)
        ccls.append(ci)
    scen["required"] = levels
    scen["likelihood_class"] = lcls
    scen["consequence_class"] = ccls
    scen["matrix_dimension"] = dims


def _capability_levels(site: Site, scen: pd.DataFrame, options: Mapping) -> None:
    credible = options.get("credible", "risk")
    scope = options.get("scope", "zone")
    threshold = float(options.get("threshold", 1.0))
    derive = options.get("derive", "actor")
    if credible not in ("risk", "all"):
        raise ValueError(f"credible must be 'risk' or 'all', {credible!r} was given")
    if scope not in ("zone", "scenario", "site"):
        raise ValueError(f"scope must be 'zone', 'scenario' or 'site', {scope!r} was given")
    if derive not in ("actor", "heinrich"):
        raise ValueError(f"derive must be 'actor' or 'heinrich', {derive!r} was given")
    exceeds = scen["rrf"] > threshold
    if credible == "all":
        cred = pd.Series(True, index=scen.index)
    elif scope == "scenario":
        cred = exceeds
    else:
        keys = ["actor", "zone"] if scope == "zone" else ["actor"]
        cred = exceeds.groupby([scen[k] for k in keys]).transform("any")
    extra = options.get("reductions") or {}
    unknown = [s for s in extra if s not in scen.index]
    if unknown:
        raise ValueError(f"reductions name unknown scenarios {unknown}")
    level = []
    for sid in scen.index:
        s = site.scenario(sid)
        a = site.actor(s.actor)
        if derive == "actor":
            level.append(a.capability)
            continue
        if a.resources is None or a.knowledge is None:
            raise ValueError(
                f"derive='heinrich' needs resources and knowledge of every actor; {a.id!r} has"
                f" resources={a.resources!r}, knowledge={a.knowledge!r}"
            )
        red = {**s.sl_reductions, **extra.get(sid, {})}
        level.append(
            threat_level(
                a.resources,
                a.knowledge,
                int(red.get("location", 0)),
                int(red.get("traceability", 0)),
                int(red.get("extent", 0)),
                rule=options.get("reduction_rule", "sum"),
                floor=int(options.get("floor", 1)),
            )
        )
    scen["threat_level"] = level
    scen["credible"] = cred.astype(bool)
    scen["required"] = np.where(scen["credible"], scen["threat_level"], 0).astype(int)


COMPARED_METHODS = SLT_METHODS  # ("rrf", "matrix", "capability") before model v2
"""Methods :func:`compare_methods` runs when none are given."""


def compare_methods(
    site: Site, sim: Any = None, methods: Iterable[str] = COMPARED_METHODS, **options
) -> pd.DataFrame:
    """SL-T of every zone, conduit and FR under several methods, side by side.

    Parameters
    ----------
    site : Site
    sim : Simulation, optional
    methods : iterable of str
        Methods to run; a method is skipped (with a column of NA) where the site lacks its
        inputs (``matrix`` without a ``risk_matrix``).
    **options
        ``{method: {option: value}}`` per method, e.g. ``capability={'derive': 'heinrich'}``.

    Returns
    -------
    pandas.DataFrame
        Long form: ``kind``, ``id``, ``fr`` and one SL-T column per method.
    """
    out = None
    for m in methods:
        try:
            t = target_levels(site, sim, method=m, **options.get(m, {}))
            col = t.drivers[["kind", "id", "fr", "sl_t"]].rename(columns={"sl_t": m})
        except ValueError:
            if m != "matrix" or site.risk_matrix is not None:
                raise
            col = None
        if col is None:
            out[m] = pd.NA
            continue
        out = col if out is None else out.merge(col, on=["kind", "id", "fr"], how="left")
    return out
