"""States, protection levels, countermeasure effects and closed-form expectations.

The pieces of MODEL.md section 2 that do not need random numbers, shared by the Monte Carlo
engine, the target-level methods and the portfolio optimiser so that all three apply the same
rules:

- a *state* is the set of active countermeasures and whether today's SL-A counts
  (``unmitigated``: neither; ``current``: SL-A and implemented countermeasures; ``plan``:
  current plus chosen candidates);
- SL-A of a zone or conduit is the element-wise max of its ``sl_a`` and the levels of the
  active ``security_level`` effects;
- a scenario's protection L is the min over its FRs of max(SL-A of its zone, SL-A of its entry
  conduit), and its rate is multiplied by r^(-min(L, c)) for an actor of capability c;
- frequency effects thin events by prod(1 - e); consequence effects scale a category by
  prod(1 - d).

Closed forms assume what the model assumes: parameters independent of each other, so the
expected annual loss is E[rate] E[SL factor] prod(1 - E[e]) sum_k E[loss_k] prod(1 - E[d_k]).

References
----------
.. [1] IEC 62443-3-3:2013, clause 4.2 (security levels) and Annex A (SL vectors).
.. [2] IEC 62443-3-2:2020, clause 4.6 (ZCR 5: detailed risk assessment, countermeasures).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .site import (
    FRS,
    HARM_CATEGORIES,
    MONEY_CATEGORIES,
    ConsequenceEffect,
    FrequencyEffect,
    Scenario,
    SecurityLevelEffect,
    Site,
)

__all__ = [
    "STATES",
    "State",
    "resolve_state",
    "achieved_levels",
    "protection_level",
    "ScenarioEffects",
    "scenario_effects",
    "touching",
    "expected_scenario",
    "expected_losses",
    "crf",
    "annualised_cost",
]

STATES = ("unmitigated", "current", "plan")
FR_INDEX = {f: i for i, f in enumerate(FRS)}


@dataclass(frozen=True)
class State:
    """A state of the site: which countermeasures act and whether today's SL-A counts.

    Attributes
    ----------
    name : str
        ``unmitigated``, ``current`` or ``plan``.
    active : tuple of str
        Ids of the countermeasures in force (implemented ones, plus the plan's candidates).
    plan : tuple of str
        The plan's candidate ids (empty unless ``name == "plan"``).
    baseline : bool
        Whether the ``sl_a`` vectors of the site file count.
    """

    name: str
    active: tuple[str, ...] = ()
    plan: tuple[str, ...] = ()
    baseline: bool = True


def resolve_state(
    site: Site, state: str | State = "current", plan: Iterable[str] | None = None
) -> State:
    """Turn a state name and an optional plan into a :class:`State`.

    Parameters
    ----------
    site : Site
    state : {'unmitigated', 'current', 'plan'} or State
        Giving a ``plan`` with the default ``current`` means ``plan``.
    plan : iterable of str, optional
        Candidate countermeasure ids added to the current state.

    Raises
    ------
    ValueError
        For an unknown state or a plan naming an unknown countermeasure.
    """
    if isinstance(state, State):
        return state
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, {state!r} was given")
    plan_ids: tuple[str, ...] = tuple(dict.fromkeys(plan or ()))
    known = {c.id for c in site.countermeasures}
    bad = [p for p in plan_ids if p not in known]
    if bad:
        cands = ", ".join(c.id for c in site.candidates) or "none"
        raise ValueError(f"unknown countermeasure {bad[0]!r} in plan; candidates are: {cands}")
    if state == "unmitigated":
        if plan_ids:
            raise ValueError("the unmitigated state takes no plan")
        return State("unmitigated", (), (), baseline=False)
    implemented = tuple(c.id for c in site.implemented)
    if state == "current" and not plan_ids:
        return State("current", implemented, (), baseline=True)
    extra = tuple(p for p in plan_ids if p not in implemented)
    return State("plan", implemented + extra, extra, baseline=True)


def achieved_levels(
    site: Site, state: State
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """SL-A vectors of every zone and conduit in ``state``.

    Returns
    -------
    zones, conduits : dict of str to ndarray of int, shape (7,)
        Element-wise max of the site's ``sl_a`` (if ``state.baseline``) and the levels of the
        active ``security_level`` effects.
    """
    zones = {
        z.id: np.array(z.sl_a if (state.baseline and z.sl_a) else (0,) * 7, dtype=int)
        for z in site.zones
    }
    conduits = {
        c.id: np.array(c.sl_a if (state.baseline and c.sl_a) else (0,) * 7, dtype=int)
        for c in site.conduits
    }
    for cid in state.active:
        for eff in site.countermeasure(cid).effects:
            if isinstance(eff, SecurityLevelEffect):
                v = eff.vector()
                for z in eff.zones:
                    np.maximum(zones[z], v, out=zones[z])
                for c in eff.conduits:
                    np.maximum(conduits[c], v, out=conduits[c])
    return zones, conduits


def protection_level(
    scenario: Scenario, zones: dict[str, np.ndarray], conduits: dict[str, np.ndarray]
) -> int:
    """Protection L of a scenario: the weakest of its FRs, each the stronger of zone and entry.

    L = min over k in frs of max(SL-A_zone[k], SL-A_entry[k]).
    """
    z = zones[scenario.zone]
    e = conduits[scenario.entry] if scenario.entry else np.zeros(7, dtype=int)
    return int(min(max(z[FR_INDEX[f]], e[FR_INDEX[f]]) for f in scenario.frs))


@dataclass
class ScenarioEffects:
    """The frequency and consequence effects acting on one scenario in one state.

    ``frequency`` lists (countermeasure id, reduction spec); ``consequence`` maps a category to
    such a list.
    """

    frequency: list[tuple[str, object]] = field(default_factory=list)
    consequence: dict[str, list[tuple[str, object]]] = field(default_factory=dict)


def scenario_effects(site: Site, scenario: Scenario, active: Iterable[str]) -> ScenarioEffects:
    """Frequency and consequence effects of the ``active`` countermeasures on ``scenario``."""
    out = ScenarioEffects()
    for cid in active:
        for eff in site.countermeasure(cid).effects:
            if isinstance(eff, (FrequencyEffect, ConsequenceEffect)):
                hit = scenario.id in eff.scenarios or scenario.zone in eff.zones
                if not hit:
                    continue
                if isinstance(eff, FrequencyEffect):
                    out.frequency.append((cid, eff.reduction))
                else:
                    out.consequence.setdefault(eff.category, []).append((cid, eff.reduction))
    return out


def touching(site: Site, scenario: Scenario) -> list[str]:
    """Ids of the candidate countermeasures that can change ``scenario``'s risk.

    A candidate touches a scenario through a frequency or consequence effect aimed at it (or
    its zone), or a security-level effect on its zone or entry conduit in one of its FRs.
    """
    frs = set(scenario.frs)
    out = []
    for cm in site.candidates:
        for eff in cm.effects:
            if isinstance(eff, SecurityLevelEffect):
                if (
                    scenario.zone in eff.zones
                    or (scenario.entry and scenario.entry in eff.conduits)
                ) and frs & set(eff.levels):
                    out.append(cm.id)
                    break
            elif scenario.id in eff.scenarios or scenario.zone in eff.zones:
                out.append(cm.id)
                break
    return out


def _base_rate_mean(site: Site, s: Scenario) -> float:
    """E[attempts aimed at s per year] x E[vulnerability] [events/yr], no protection."""
    if s.rate is not None:
        attempts = s.rate.mean()
    else:
        attempts = site.actor(s.actor).attempt_rate.mean() * s.rate_share
    return attempts * s.vulnerability.mean()


def expected_scenario(
    site: Site, scenario: Scenario, state: State, levels: tuple[dict, dict] | None = None
) -> dict:
    """Closed-form expectations for one scenario in one state.

    Returns
    -------
    dict
        ``base_rate`` [events/yr] (no protection), ``protection`` (L), ``capability`` (c),
        ``sl_factor`` (r^-min(L, c)), ``freq_factor`` (prod(1 - E[e])), ``event_rate``
        [events/yr], ``loss_per_event`` [currency] after consequence effects, one entry per
        money category ``money_<cat>`` [currency/event], ``ale`` [currency/yr], and for each
        harm category ``<cat>_severity`` and ``<cat>_rate`` [events/yr] of reaching it.
    """
    zones, conduits = levels if levels is not None else achieved_levels(site, state)
    r = site.model.sl_reduction_per_level
    c = site.actor(scenario.actor).capability
    L = protection_level(scenario, zones, conduits)
    sl_factor = float(r) ** (-min(L, c))
    eff = scenario_effects(site, scenario, state.active)
    freq_factor = float(np.prod([1 - d.mean() for _, d in eff.frequency])) if eff.frequency else 1.0
    base = _base_rate_mean(site, scenario)
    rate = base * sl_factor * freq_factor
    out = {
        "zone": scenario.zone,
        "actor": scenario.actor,
        "base_rate": base,
        "protection": L,
        "capability": c,
        "sl_factor": sl_factor,
        "freq_factor": freq_factor,
        "event_rate": rate,
    }
    loss = 0.0
    cons = scenario.consequences
    for cat, spec in cons.money().items():
        m = spec.hours.mean() * spec.cost_per_hour.mean() if cat == "production" else spec.mean()
        for _, d in eff.consequence.get(cat, []):
            m *= 1 - d.mean()
        out[f"money_{cat}"] = m
        loss += m
    out["loss_per_event"] = loss
    out["ale"] = rate * loss
    for cat in HARM_CATEGORIES:
        h = getattr(cons, cat)
        sev = h.severity if h is not None else 0
        p = h.probability if h is not None else 0.0
        for _, d in eff.consequence.get(cat, []):
            p *= 1 - d.mean()
        out[f"{cat}_severity"] = sev
        out[f"{cat}_rate"] = rate * p if sev > 0 else 0.0
    return out


def expected_losses(
    site: Site, state: str | State = "current", plan: Iterable[str] | None = None
) -> pd.DataFrame:
    """Closed-form expectations of every scenario in a state, one row per scenario.

    Parameters
    ----------
    site : Site
    state : {'unmitigated', 'current', 'plan'} or State
    plan : iterable of str, optional

    Returns
    -------
    pandas.DataFrame
        Indexed by scenario id, the columns of :func:`expected_scenario`; ``ale`` is in
        [currency/yr].
    """
    st = resolve_state(site, state, plan)
    levels = achieved_levels(site, st)
    rows = {s.id: expected_scenario(site, s, st, levels) for s in site.scenarios}
    df = pd.DataFrame.from_dict(rows, orient="index")
    if not rows:  # no scenarios: the same columns, no rows (sums are 0)
        cols = ["zone", "actor", "base_rate", "protection", "capability", "sl_factor"]
        cols += ["freq_factor", "event_rate", "loss_per_event", "ale"]
        cols += [f"{c}_{k}" for c in HARM_CATEGORIES for k in ("severity", "rate")]
        df = pd.DataFrame(columns=cols, dtype=float)
    df.index.name = "scenario"
    for cat in MONEY_CATEGORIES:
        col = f"money_{cat}"
        if col in df:
            df[col] = df[col].fillna(0.0)
    return df


def crf(rate: float, years: float) -> float:
    """Capital recovery factor i(1+i)^n / ((1+i)^n - 1); 1/n where i = 0 [1/yr]."""
    if rate == 0:
        return 1.0 / years
    g = (1 + rate) ** years
    return rate * g / (g - 1)


def annualised_cost(site: Site, cm_id: str) -> float:
    """Annualised cost of a countermeasure: capex x CRF + opex [currency/yr]."""
    cm = site.countermeasure(cm_id)
    return cm.cost.capex * crf(site.model.discount_rate, cm.cost.lifetime_years) + cm.cost.opex
