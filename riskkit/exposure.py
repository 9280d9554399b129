"""Closed-form expectations per scenario and state, built from :mod:`riskkit.rules`.

The rules themselves (states, SL-A, protection, effects, costs) live in :mod:`riskkit.rules`
and are re-exported here for older imports. In short (``docs/model.md``):

- a *state* is the set of active countermeasures and whether today's SL-A counts
  (``unmitigated``: neither; ``current``: SL-A and implemented countermeasures; ``plan``:
  current plus chosen candidates);
- SL-A of a zone or conduit is the element-wise max of its ``sl_a`` and the levels of the
  active ``security_level`` effects;
- a scenario's protection L is the min over its FRs of max(SL-A of its zone, SL-A of its entry
  conduit), and its rate is multiplied by r^(-min(L, c)) for an actor of capability c (the
  default options; :func:`riskkit.rules.scenario_factors` applies every model option: SL
  effect, FR roles, layering, attack paths, and the LOPA credit on harm);
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

import pandas as pd

from .rules import (
    STATES,
    ScenarioEffects,
    State,
    achieved_levels,
    annualised_cost,
    base_rate_mean,
    crf,
    effect_index,
    indexed_effects,
    money_per_event,
    protection_level,
    resolve_state,
    scenario_effects,
    scenario_factors,
    touching,
)
from .site import HARM_CATEGORIES, MONEY_CATEGORIES, Scenario, Site

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


def expected_scenario(
    site: Site,
    scenario: Scenario,
    state: State,
    levels: tuple[dict, dict] | None = None,
    index=None,
) -> dict:
    """Closed-form expectations for one scenario in one state.

    ``levels`` are the state's :func:`achieved_levels` if already computed, ``index`` the
    site's :func:`riskkit.rules.effect_index` (optional: the same numbers without scanning
    every active effect, for many scenarios).

    Returns
    -------
    dict
        ``base_rate`` [events/yr] (no protection), ``protection`` (L), ``capability`` (c),
        ``sl_factor`` (the rate factor of :func:`riskkit.rules.scenario_factors`, r^-min(L, c)
        under ``sl_effect: orders``), ``freq_factor`` (prod(1 - E[e])), ``event_rate``
        [events/yr], ``loss_per_event`` [currency] after consequence effects (and the FR6/FR7
        response factor under ``fr_roles: split``), one entry per money category
        ``money_<cat>`` [currency/event], ``ale`` [currency/yr], and for each harm category
        ``<cat>_severity`` and ``<cat>_rate`` [events/yr] of reaching it (after the LOPA
        credit of the scenario's ``protection_layers``). ``protection`` is L of the target
        zone and entry conduit, whatever the options.
    """
    zones, conduits = levels if levels is not None else achieved_levels(site, state)
    c = site.actor(scenario.actor).capability
    L = protection_level(scenario, zones, conduits)
    fac = scenario_factors(site, scenario, zones, conduits)
    sl = fac.rate
    if index is None:
        eff = scenario_effects(site, scenario, state.active)
    else:  # the same effects read from rules.effect_index (issue 16: no scan per scenario)
        eff = indexed_effects(site, scenario, state.active, index)
    freq_factor = eff.frequency_factor()
    base = base_rate_mean(site, scenario)
    rate = base * sl * freq_factor
    out = {
        "zone": scenario.zone,
        "actor": scenario.actor,
        "base_rate": base,
        "protection": L,
        "capability": c,
        "sl_factor": sl,
        "freq_factor": freq_factor,
        "event_rate": rate,
    }
    money = money_per_event(scenario, eff)
    for cat in money:
        money[cat] *= fac.consequence[cat]
    out.update({f"money_{cat}": m for cat, m in money.items()})
    loss = sum(money.values())
    out["loss_per_event"] = loss
    out["ale"] = rate * loss
    for cat in HARM_CATEGORIES:
        h = getattr(scenario.consequences, cat)
        sev = h.severity if h is not None else 0
        p = h.probability if h is not None else 0.0
        p *= eff.consequence_factor(cat) * fac.harm[cat]
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
    index = effect_index(site)
    rows = {s.id: expected_scenario(site, s, st, levels, index) for s in site.scenarios}
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
