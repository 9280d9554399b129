"""The model's rules, each written once: every other module calls these.

The engine (Monte Carlo), the closed forms (:mod:`riskkit.exposure`), the target-level
methods, the portfolio optimiser and the reports all apply the same rules of
``docs/model.md``; this module is the one place each rule is written. The functions are small
and pure; most accept numpy arrays as well as scalars, so the vectorised optimiser and the
per-scenario loops call the same code.

Rules and their functions
-------------------------
- states: :data:`STATES`, :class:`State`, :func:`resolve_state`;
- achieved security levels (SL-A) in a state: :func:`achieved_levels`;
- a scenario's protection level L: :func:`protection_level` (:func:`protection_levels` for
  arrays of candidate levels);
- the SL rate factor r^-min(L, c): :func:`sl_factor` (:func:`stage_factor` is the factor of
  one barrier, the unit later rules such as attack paths combine);
- what protection does to a scenario (every model option: ``sl_effect``, ``fr_roles``,
  ``layering``, attack paths, LOPA layers): :class:`Factors`, :func:`scenario_factors`, built
  from :func:`sl_effect` (:func:`sl_effect_table`, :func:`capability_step`),
  :func:`fr_split`, :func:`barrier_factor`, :func:`response_factor`, :func:`lopa_factor`,
  :func:`target_factors`; the zones and conduits it reads: :func:`scenario_elements`; whether
  it keeps the form before model v2, r^-min(L, c): :func:`separable`;
- attack paths: :func:`scenario_paths`, :func:`stage_probabilities`, :func:`path_reach`,
  :func:`path_probabilities`, :func:`reach_probability`;
- the product of effects prod(1 - d): :func:`effect_product`;
- which countermeasure effects act on a scenario, and which candidates touch it:
  :func:`scenario_effects`, :func:`touching`;
- mean attempts and the base event rate: :func:`base_rate_mean`;
- money loss per event: :func:`money_per_event`, :func:`loss_per_event`;
- events of a harm class >= k: :func:`harm_at_least`, :func:`harm_columns`;
- the log-spaced loss grid of exceedance curves: :func:`loss_grid`;
- the least number of Monte Carlo trials: :data:`MIN_TRIALS`, :func:`check_trials`;
- costs: :func:`crf`, :func:`annualised_cost`;
- the Purdue level of a zone: :func:`purdue_level`.

References
----------
.. [1] IEC 62443-3-3:2013, clause 4.2 (security levels) and Annex A (SL vectors).
.. [2] IEC 62443-3-2:2020, clause 4.6 (ZCR 5: detailed risk assessment, countermeasures).
.. [3] IEC 62443-1-1:2009, clause 6.3 (reference model, Purdue levels).
.. [4] The Open Group (2020). *Risk Analysis (O-RA)*, Open FAIR (threat capability vs
   resistance strength).
.. [5] CCPS (2001). *Layer of Protection Analysis*, AIChE (IPLs and PFDs).
.. [6] ISA-TR84.00.09-2017, *Cybersecurity related to the functional safety lifecycle*.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .graph import simple_paths
from .site import (  # MIN_TRIALS is a schema bound of model.trials, kept with the schema
    FRS,
    HARM_CATEGORIES,
    MIN_TRIALS,
    MONEY_CATEGORIES,
    ConsequenceEffect,
    FrequencyEffect,
    Scenario,
    SecurityLevelEffect,
    Site,
)

__all__ = [
    "FRS",
    "FR_INDEX",
    "HARM_CATEGORIES",
    "MONEY_CATEGORIES",
    "HARM_LABELS",
    "SEVERITY_CLASSES",
    "STATES",
    "MIN_TRIALS",
    "KIND_PURDUE",
    "State",
    "resolve_state",
    "achieved_levels",
    "protection_level",
    "protection_levels",
    "fr_protection",
    "weakest",
    "sl_factor",
    "stage_factor",
    "PREVENT_FRS",
    "RESPONSE_FRS",
    "MAX_LEVEL",
    "Factors",
    "capability_step",
    "sl_effect_table",
    "sl_effect",
    "fr_split",
    "barrier_factor",
    "response_factor",
    "lopa_factor",
    "target_factors",
    "scenario_factors",
    "scenario_elements",
    "separable",
    "lateral",
    "site_edges",
    "scenario_paths",
    "stage_probabilities",
    "path_reach",
    "path_probabilities",
    "effect_product",
    "ScenarioEffects",
    "scenario_effects",
    "touching",
    "base_rate_mean",
    "money_per_event",
    "loss_per_event",
    "harm_at_least",
    "harm_columns",
    "loss_grid",
    "check_trials",
    "crf",
    "annualised_cost",
    "purdue_level",
    "money_terms",
    "reach_probability",
    "reach_probability_mc",
    "ale_share",
    "exceedance_share",
]

FR_INDEX: dict[str, int] = {f: i for i, f in enumerate(FRS)}
"""Position of each foundational requirement in an SL vector."""

SEVERITY_CLASSES: tuple[int, ...] = (1, 2, 3, 4)
"""Harm severity classes above 'no harm' (0), as in the site file's ``tolerance``."""

HARM_LABELS: dict[str, str] = {"safety": "Safety", "environment": "Environment"}
"""Display name of each harm category."""

STATES: tuple[str, ...] = ("unmitigated", "current", "plan")
"""The states a site is assessed in (see :class:`State`)."""


KIND_PURDUE: dict[str, float] = {
    "enterprise": 4.0,
    "dmz": 3.5,
    "operations": 3.0,
    "supervisory": 2.0,
    "control": 1.0,
    "safety": 1.0,
    "field": 0.0,
}
"""Purdue level assumed for a zone without ``purdue_level``, from its kind ('other': none)."""


# --------------------------------------------------------------------------------------------
# States and achieved levels
# --------------------------------------------------------------------------------------------


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

    Returns
    -------
    State
        ``unmitigated``: nothing active and no SL-A; ``current``: the implemented
        countermeasures and SL-A; ``plan``: current plus the plan's candidates.

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

    References
    ----------
    .. [1] IEC 62443-3-3:2013, clause 4.2 and Annex A (SL-A vectors).
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


# --------------------------------------------------------------------------------------------
# Protection and the SL factor
# --------------------------------------------------------------------------------------------


def fr_positions(frs: Iterable[str]) -> list[int]:
    """Positions in an SL vector of the FRs named (``['FR1', 'FR5']`` -> ``[0, 4]``)."""
    return [FR_INDEX[f] for f in frs]


def fr_protection(zone: np.ndarray, entry: np.ndarray | None, frs: Iterable[str]) -> np.ndarray:
    """Per-FR protection of a scenario: max(SL-A of zone, SL-A of entry) in each of its FRs.

    Parameters
    ----------
    zone : array_like of int, shape (..., 7)
        SL-A vector(s) of the scenario's zone.
    entry : array_like of int, shape (..., 7), optional
        SL-A vector(s) of the entry conduit; None where the scenario names no entry.
    frs : iterable of str
        The scenario's foundational requirements.

    Returns
    -------
    ndarray of int, shape (..., len(frs))
        The stronger of zone and entry conduit in each of the scenario's FRs.
    """
    idx = fr_positions(frs)
    z = np.asarray(zone)[..., idx]
    return z if entry is None else np.maximum(z, np.asarray(entry)[..., idx])


def weakest(fr_levels):
    """Protection L from per-FR protection: the weakest FR (min over the last axis)."""
    return np.asarray(fr_levels).min(axis=-1)


def protection_levels(zone: np.ndarray, entry: np.ndarray | None, frs: Iterable[str]):
    """Protection L from SL vectors: min over ``frs`` of max(zone, entry), vectorised.

    :func:`weakest` of :func:`fr_protection`.

    Parameters
    ----------
    zone : array_like of int, shape (..., 7)
        SL-A vector(s) of the scenario's zone; leading axes are kept (for example one row per
        combination of candidates).
    entry : array_like of int, shape (..., 7), optional
        SL-A vector(s) of the entry conduit; None where the scenario names no entry.
    frs : iterable of str
        The scenario's foundational requirements.

    Returns
    -------
    int or ndarray of int
        L, with the leading shape of ``zone`` / ``entry``.
    """
    return weakest(fr_protection(zone, entry, frs))


def protection_level(
    scenario: Scenario, zones: dict[str, np.ndarray], conduits: dict[str, np.ndarray]
) -> int:
    """Protection L of a scenario: the weakest of its FRs, each the stronger of zone and entry.

    L = min over k in frs of max(SL-A_zone[k], SL-A_entry[k]).

    Parameters
    ----------
    scenario : Scenario
    zones, conduits : dict of str to ndarray
        SL-A vectors from :func:`achieved_levels`.

    Returns
    -------
    int
        L in 0..4.
    """
    entry = conduits[scenario.entry] if scenario.entry else None
    return int(protection_levels(zones[scenario.zone], entry, scenario.frs))


def sl_factor(r: float, level, capability):
    """Rate factor of protection: r^-min(L, c).

    Parameters
    ----------
    r : float
        Reduction per security level, ``model.sl_reduction_per_level`` [-].
    level : int or array_like of int
        Protection L (0..4).
    capability : int or array_like of int
        The threat actor's capability c (1..4): a level above it adds no protection.

    Returns
    -------
    float or ndarray
        The factor in (0, 1] by which the event rate is multiplied.

    References
    ----------
    .. [1] IEC 62443-3-3:2013, clause 4.2 (SL 1-4 by the attacker each level resists).
    """
    n = np.minimum(level, capability)
    if np.ndim(n) == 0:
        return float(r) ** (-int(n))
    return float(r) ** (-np.asarray(n))


def stage_factor(r: float, barrier, capability):
    """Probability that an attempt crosses one barrier of level ``barrier``: r^-min(b, c).

    The same rule as :func:`sl_factor`, named for the barriers (conduit plus zone) that an
    attack path crosses; a path multiplies the factors of its stages.
    """
    return sl_factor(r, barrier, capability)


# --------------------------------------------------------------------------------------------
# Model v2: the SL effect, FR roles, layering, protection layers and the factors of a scenario
# --------------------------------------------------------------------------------------------

PREVENT_FRS: tuple[str, ...] = ("FR1", "FR2", "FR3", "FR4", "FR5")
"""FRs that prevent events (act on frequency) under ``model.fr_roles: split``."""

RESPONSE_FRS: tuple[str, ...] = ("FR6", "FR7")
"""FRs that shorten and contain events (act on consequence) under ``fr_roles: split``."""

MAX_LEVEL = 4
"""The highest security level; one FR never gives more than the effect of this level."""


@dataclass(frozen=True)
class Factors:
    """What protection does to one scenario in one state (or in many, as arrays).

    Attributes
    ----------
    rate : float or ndarray
        Multiplies the event rate: P(an attempt gets through every barrier) [-]. Includes the
        reach probability of an attack path for a scenario with an ``origin``.
    consequence : dict of str to float or ndarray
        Per money category, multiplies the loss per event (FR6/FR7 under ``fr_roles: split``)
        [-]; every category of :data:`MONEY_CATEGORIES` is present (1.0 where nothing acts).
    harm : dict of str to float or ndarray
        Per harm category, multiplies P(an event reaches the harm): the product of the PFDs of
        the scenario's protection layers the attack cannot defeat (LOPA) [-]; every category
        of :data:`HARM_CATEGORIES` is present.

    Values are floats for SL vectors of shape (7,), arrays with their leading shape for SL
    vectors of shape (..., 7) (one row per plan, for the optimiser).
    """

    rate: float | np.ndarray
    consequence: dict[str, float | np.ndarray]
    harm: dict[str, float | np.ndarray]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def capability_step(model, gap):
    """P(an attempt passes one SL step) under ``sl_effect: capability``, vectorised.

    s(d) = ceiling x logistic((d - midpoint) / scale), d = c - l the gap between the actor's
    capability c and the step's level l: an actor below the step (d < 0) mostly fails, an
    actor above it mostly succeeds, and ``1 - ceiling`` is the residual that every step keeps
    even against an actor far above it (detection, time, the chance of a mistake).

    Parameters
    ----------
    model : ModelSettings
        ``capability_ceiling``, ``capability_midpoint``, ``capability_scale``.
    gap : float or array_like
        d = c - l [levels].

    Returns
    -------
    float or ndarray
        The pass probability in (0, ceiling) [-]. With the defaults (0.3, 0.25, 0.375):
        s(-2) = 7.4e-4, s(-1) = 0.0103, s(0) = 0.102, s(1) = 0.264, s(2) = 0.297.

    References
    ----------
    .. [1] The Open Group (2020). *Risk Analysis (O-RA)*, Open FAIR standard C20B, sec. 4:
       vulnerability as P(threat capability > resistance strength).
    .. [2] IEC 62443-3-3:2013, clause 4.2 (SL 1-4 defined by the attacker each resists).
    """
    m = model
    out = m.capability_ceiling * _sigmoid(
        (np.asarray(gap, dtype=float) - m.capability_midpoint) / m.capability_scale
    )
    return float(out) if np.ndim(out) == 0 else out


def sl_effect_table(model) -> np.ndarray:
    """P(an attempt beats level L | capability c) as a (5, 5) table indexed [L, c], L, c 0..4.

    ``orders``: r^-min(L, c). ``capability``: the site's ``sl_effect_table`` where given (rows
    L = 1..4, columns c = 1..4), else the product over the steps l = 1..L of
    :func:`capability_step` (c - l). Row L = 0 is 1 (no protection).
    """
    return _effect_table(_table_key(model)).copy()


@lru_cache(maxsize=64)
def _effect_table(key) -> np.ndarray:
    kind, r, ceiling, mid, scale, table = key
    tab = np.ones((MAX_LEVEL + 1, MAX_LEVEL + 1))
    for c in range(MAX_LEVEL + 1):
        for lv in range(1, MAX_LEVEL + 1):
            if kind == "orders":
                tab[lv, c] = r ** (-min(lv, c))
            elif table is not None and c >= 1:
                tab[lv, c] = table[lv - 1][c - 1]
            else:
                step = ceiling / (1.0 + math.exp(-((c - lv) - mid) / scale))
                tab[lv, c] = tab[lv - 1, c] * step
    return tab


def sl_effect(model, level, capability):
    """P(an attempt beats protection level L) for an actor of capability c, vectorised.

    Parameters
    ----------
    model : ModelSettings
        ``sl_effect`` selects the rule: ``orders`` (r^-min(L, c), :func:`sl_factor`) or
        ``capability`` (:func:`sl_effect_table`, the capability-aware curve).
    level : int or array_like of int
        L in 0..4.
    capability : int or array_like of int
        c in 1..4.

    Returns
    -------
    float or ndarray
        The factor in (0, 1] on the event rate [-].

    References
    ----------
    .. [1] IEC 62443-3-3:2013, clause 4.2 (security levels by the attacker each resists).
    .. [2] The Open Group (2020). *Risk Analysis (O-RA)*, sec. 4 (threat capability vs
       resistance strength).
    """
    if model.sl_effect == "orders":
        return sl_factor(float(model.sl_reduction_per_level), level, capability)
    out = _effect_table(_table_key(model))[np.asarray(level), np.asarray(capability)]
    return float(out) if np.ndim(out) == 0 else out


def _table_key(model):
    return (
        model.sl_effect,
        float(model.sl_reduction_per_level),
        float(model.capability_ceiling),
        float(model.capability_midpoint),
        float(model.capability_scale),
        None if model.sl_effect_table is None else tuple(map(tuple, model.sl_effect_table)),
    )


def fr_split(model, frs: Iterable[str]) -> tuple[list[str], list[str]]:
    """The scenario's FRs acting on frequency and on consequence under ``model.fr_roles``.

    ``frequency`` (before model v2): every FR prevents, none responds. ``split``: FR1-FR5 prevent,
    FR6 (timely response to events) and FR7 (resource availability) shorten and contain.
    """
    frs = list(frs)
    if model.fr_roles == "frequency":
        return frs, []
    return [f for f in frs if f in PREVENT_FRS], [f for f in frs if f in RESPONSE_FRS]


def barrier_factor(model, zone, entry, frs: Sequence[str], capability):
    """P(an attempt passes a zone and its entry conduit) in the FRs ``frs``, vectorised.

    The weakest FR decides: the factor is the largest over ``frs`` of the FR's pass
    probability. In one FR k, under ``model.layering``:

    - ``max`` (before model v2): sl_effect(max(zone_k, entry_k)), the stronger of the two counts;
    - ``independent``: zone and conduit are two barriers in series,
      max(sl_effect(zone_k) x sl_effect(entry_k), sl_effect(4)): the product, capped so that
      no single FR gives more than the model's maximum (the effect of SL 4).

    Parameters
    ----------
    model : ModelSettings
    zone : array_like of int, shape (..., 7)
    entry : array_like of int, shape (..., 7), or None
    frs : sequence of str
        An empty list gives 1.0 (nothing prevents).
    capability : int
        The actor's capability c.

    Returns
    -------
    float or ndarray
        With the leading shape of ``zone`` / ``entry``.
    """
    if not frs:
        lead = np.shape(zone)[:-1]
        return 1.0 if not lead else np.ones(lead)
    if model.layering == "max" or entry is None:
        return sl_effect(model, protection_levels(zone, entry, frs), capability)
    idx = fr_positions(frs)
    pz = sl_effect(model, np.asarray(zone)[..., idx], capability)
    pe = sl_effect(model, np.asarray(entry)[..., idx], capability)
    p = np.maximum(np.asarray(pz) * np.asarray(pe), sl_effect(model, MAX_LEVEL, capability))
    out = p.max(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def response_factor(model, zone, entry, frs: Sequence[str]):
    """Consequence multiplier of FR6/FR7 protection: (1 - rho)^L_resp, vectorised [-].

    L_resp is the weakest of the responding FRs ``frs``, each the stronger of zone and entry
    conduit (``layering: independent``: their sum, at most 4); rho is
    ``model.response_reduction_per_level``. 1.0 where ``frs`` is empty.

    References
    ----------
    .. [1] IEC 62443-3-3:2013, clauses 10 (FR6, timely response to events) and 11 (FR7,
       resource availability).
    """
    if not frs:
        lead = np.shape(zone)[:-1]
        return 1.0 if not lead else np.ones(lead)
    idx = fr_positions(frs)
    z = np.asarray(zone)[..., idx]
    if entry is None:
        lv = z
    elif model.layering == "independent":
        lv = np.minimum(z + np.asarray(entry)[..., idx], MAX_LEVEL)
    else:
        lv = np.maximum(z, np.asarray(entry)[..., idx])
    out = (1.0 - model.response_reduction_per_level) ** lv.min(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def lopa_factor(scenario: Scenario, category: str) -> float:
    """LOPA credit against one harm category [-].

    The product of the PFDs of the scenario's protection layers that protect that category
    and that the attack cannot defeat.

    A ``cyber_defeatable`` layer (one the attack itself disables, such as a SIS reachable
    from the attacked network) gives no credit against this scenario. Money is unchanged.

    References
    ----------
    .. [1] CCPS (2001). *Layer of Protection Analysis: Simplified Process Risk Assessment*,
       AIChE, ch. 6 (IPLs and their PFDs) and ch. 7 (mitigated event frequency).
    .. [2] ISA-TR84.00.09-2017, *Cybersecurity related to the functional safety lifecycle*
       (a cyber attack as a common cause that can defeat an IPL).
    """
    return math.prod(
        layer.pfd
        for layer in scenario.protection_layers
        if not layer.cyber_defeatable and category in layer.categories
    )


def target_factors(site: Site, scenario: Scenario, zone, entry):
    """(rate, response) factors of the target stage: the scenario's zone and entry conduit."""
    model = site.model
    c = site.actor(scenario.actor).capability
    rate_frs, resp_frs = fr_split(model, scenario.frs)
    return (
        barrier_factor(model, zone, entry, rate_frs, c),
        response_factor(model, zone, entry, resp_frs),
    )


def scenario_factors(site: Site, scenario: Scenario, zones: dict, conduits: dict) -> Factors:
    """What protection does to ``scenario`` given SL-A of zones and conduits.

    THE function the engine, the closed forms, the target levels, the optimiser and the
    attack-path reports call.

    Parameters
    ----------
    site : Site
        Its ``model`` selects the options (``sl_effect``, ``fr_roles``, ``layering``,
        ``lateral_frs``).
    scenario : Scenario
    zones, conduits : dict of str to array_like of int, shape (7,) or (..., 7)
        SL-A vectors, as :func:`achieved_levels` returns; only the zones and conduits of
        :func:`scenario_elements` are read, and leading axes are kept (one row per plan).

    Returns
    -------
    Factors
    """
    zone = zones[scenario.zone]
    entry = conduits[scenario.entry] if scenario.entry else None
    rate, resp = target_factors(site, scenario, zone, entry)
    if lateral(scenario):  # the reach over the attack paths replaces the target's factor
        rate = path_reach(site, scenario, zones, conduits)
    consequence = {cat: 1.0 for cat in MONEY_CATEGORIES}
    if not (np.ndim(resp) == 0 and resp == 1.0):
        for cat in site.model.response_categories:
            consequence[cat] = resp
    harm = {cat: lopa_factor(scenario, cat) for cat in HARM_CATEGORIES}
    return Factors(rate, consequence, harm)


def scenario_elements(site: Site, scenario: Scenario) -> dict[tuple[str, str], list[str]]:
    """The zones and conduits whose SL-A can change ``scenario``'s factors, with the FRs.

    Returns
    -------
    dict of (kind, id) to list of str
        ``('zone', id)`` or ``('conduit', id)`` -> the FRs of that element that count.
    """
    out: dict[tuple[str, str], list[str]] = {("zone", scenario.zone): list(scenario.frs)}
    if scenario.entry:
        out[("conduit", scenario.entry)] = list(scenario.frs)
    for cond, zone in scenario_paths(site, scenario)[1]:
        if zone == scenario.zone:
            frs = list(scenario.frs)
        else:
            frs = list(site.model.lateral_frs)
            out.setdefault(("zone", zone), [])
            out[("zone", zone)] += [f for f in frs if f not in out[("zone", zone)]]
        out.setdefault(("conduit", cond), [])
        out[("conduit", cond)] += [f for f in frs if f not in out[("conduit", cond)]]
    return out


def separable(site: Site, scenario: Scenario) -> bool:
    """Whether the scenario's factors have the form before model v2 (the optimiser's linear forms).

    That form is r^-min(L, c) with L from its zone and entry and no consequence factor,
    which the ``logspace`` and ``product`` formulations of the optimiser linearise; the other
    blocks are formulated by subsets.
    """
    m = site.model
    return (
        m.sl_effect == "orders"
        and m.layering == "max"
        and not fr_split(m, scenario.frs)[1]
        and not lateral(scenario)
    )


def effect_product(reductions: Iterable[float]) -> float:
    """prod(1 - d) over the mean reductions ``d`` of the effects acting together [-].

    Returns 1.0 where no effect acts.
    """
    return math.prod(1.0 - float(d) for d in reductions)


@dataclass
class ScenarioEffects:
    """The frequency and consequence effects acting on one scenario in one state.

    ``frequency`` lists (countermeasure id, reduction spec); ``consequence`` maps a category to
    such a list.
    """

    frequency: list[tuple[str, object]] = field(default_factory=list)
    consequence: dict[str, list[tuple[str, object]]] = field(default_factory=dict)

    def frequency_factor(self) -> float:
        """prod(1 - E[e]) of the frequency effects [-]."""
        return effect_product(d.mean() for _, d in self.frequency)

    def consequence_factor(self, category: str) -> float:
        """prod(1 - E[d]) of the effects on one consequence category [-]."""
        return effect_product(d.mean() for _, d in self.consequence.get(category, []))


def acts_on(effect, scenario: Scenario) -> bool:
    """Whether a frequency or consequence effect is aimed at ``scenario`` or its zone."""
    return scenario.id in effect.scenarios or scenario.zone in effect.zones


def scenario_effects(site: Site, scenario: Scenario, active: Iterable[str]) -> ScenarioEffects:
    """Frequency and consequence effects of the ``active`` countermeasures on ``scenario``."""
    out = ScenarioEffects()
    for cid in active:
        for eff in site.countermeasure(cid).effects:
            if isinstance(eff, (FrequencyEffect, ConsequenceEffect)) and acts_on(eff, scenario):
                if isinstance(eff, FrequencyEffect):
                    out.frequency.append((cid, eff.reduction))
                else:
                    out.consequence.setdefault(eff.category, []).append((cid, eff.reduction))
    return out


def touching(site: Site, scenario: Scenario) -> list[str]:
    """Ids of the candidate countermeasures that can change ``scenario``'s risk.

    A candidate touches a scenario through a frequency or consequence effect aimed at it (or
    its zone), or a security-level effect on a zone or conduit of :func:`scenario_elements`
    (its zone and entry conduit in one of its FRs; with an ``origin``, also the conduits and
    zones of its attack paths in the lateral FRs).
    """
    elems = scenario_elements(site, scenario)
    out = []
    for cm in site.candidates:
        for eff in cm.effects:
            if isinstance(eff, SecurityLevelEffect):
                raised = set(eff.levels)
                on_path = any(raised & set(elems.get(("zone", z), ())) for z in eff.zones) or any(
                    raised & set(elems.get(("conduit", c), ())) for c in eff.conduits
                )
                if on_path:
                    out.append(cm.id)
                    break
            elif acts_on(eff, scenario):
                out.append(cm.id)
                break
    return out


# --------------------------------------------------------------------------------------------
# Rates and losses
# --------------------------------------------------------------------------------------------


def base_rate_mean(site: Site, scenario: Scenario) -> float:
    """E[attempts aimed at the scenario per year] x E[vulnerability] [events/yr].

    The rate before any protection: the scenario's own ``rate``, or its actor's
    ``attempt_rate`` times its ``rate_share``; times the vulnerability.
    """
    if scenario.rate is not None:
        attempts = scenario.rate.mean()
    else:
        attempts = site.actor(scenario.actor).attempt_rate.mean() * scenario.rate_share
    return attempts * scenario.vulnerability.mean()


def money_per_event(scenario: Scenario, effects: ScenarioEffects | None = None) -> dict:
    """Mean money loss per event, per category, after consequence effects [currency/event].

    Production is hours x cost per hour; the other categories are their own amounts. Each is
    multiplied by :meth:`ScenarioEffects.consequence_factor` of its category.

    Returns
    -------
    dict of str to float
        Only the categories the scenario has.
    """
    out = {}
    for cat, spec in scenario.consequences.money().items():
        m = spec.hours.mean() * spec.cost_per_hour.mean() if cat == "production" else spec.mean()
        if effects is not None:
            for _, d in effects.consequence.get(cat, []):
                m *= 1 - d.mean()
        out[cat] = m
    return out


def loss_per_event(scenario: Scenario, effects: ScenarioEffects | None = None) -> float:
    """Mean money loss of one event, summed over categories [currency/event]."""
    return sum(money_per_event(scenario, effects).values())


def harm_at_least(severity, rate, k: int):
    """Frequency of events of harm class >= ``k`` [events/yr].

    Parameters
    ----------
    severity : array_like of int
        Each scenario's (or event's) severity class in one harm category (0 = none).
    rate : array_like of float
        The matching frequencies [events/yr] (or counts); trailing axes are summed along with
        the first, leading to a scalar, unless ``rate`` has more axes than ``severity``, in
        which case the sum runs over the first axis only.
    k : int
        Severity class, 1..4.

    Returns
    -------
    float or ndarray
        Sum of ``rate`` over the entries with ``severity >= k``.
    """
    sev = np.asarray(severity)
    sel = sev >= k
    rate = np.asarray(rate, dtype=float)
    if rate.ndim > sev.ndim:
        return rate[sel].sum(axis=0)
    return float(rate[sel].sum())


def harm_columns(categories: Sequence[str] = HARM_CATEGORIES) -> list[str]:
    """Names of the harm-frequency columns, ``<category>_ge<k>`` for k in 1..4."""
    return [f"{cat}_ge{k}" for cat in categories for k in SEVERITY_CLASSES]


def loss_grid(lo: float, hi: float, points: int) -> np.ndarray:
    """Log-spaced loss thresholds of an exceedance curve [currency].

    ``points`` values from ``lo`` to ``hi`` (both > 0); a single value ``lo`` where the range
    is empty.
    """
    return np.geomspace(lo, hi, int(points)) if hi > lo else np.array([lo])


def check_trials(trials) -> int:
    """``trials`` as an int, refused below :data:`MIN_TRIALS` with the value shown.

    Raises
    ------
    ValueError
        ``trials must be >= 100, 5 was given``.
    """
    if isinstance(trials, bool) or not float(trials).is_integer():
        raise ValueError(f"trials must be a whole number >= {MIN_TRIALS}, {trials!r} was given")
    n = int(trials)
    if n < MIN_TRIALS:
        raise ValueError(f"trials must be >= {MIN_TRIALS}, {n} was given")
    return n


# --------------------------------------------------------------------------------------------
# Costs and zones
# --------------------------------------------------------------------------------------------


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


def purdue_level(zone) -> float | None:
    """A zone's Purdue level: its ``purdue_level``, else the usual level of its kind.

    Returns None for a zone of kind ``other`` without a level.
    """
    if zone.purdue_level is not None:
        return float(zone.purdue_level)
    return KIND_PURDUE.get(zone.kind)


def money_terms(scenario: Scenario) -> dict[str, tuple]:
    """The factors whose product is one event's money loss, per category [currency/event].

    Production loss is hours x cost per hour, ``(hours, cost_per_hour)``; every other money
    category is its own amount, a 1-tuple. Samplers draw each factor per event and multiply
    them; :func:`money_per_event` is the product of their means.

    Parameters
    ----------
    scenario : Scenario

    Returns
    -------
    dict of str to tuple of Distribution
        Only the categories the scenario has, in the order of the site file.
    """
    return {
        cat: (spec.hours, spec.cost_per_hour) if cat == "production" else (spec,)
        for cat, spec in scenario.consequences.money().items()
    }


def required_levels(rrf, r: float):
    """Required SL for a risk reduction factor: clamp(ceil(log_r RRF), 0, 4), vectorised.

    Parameters
    ----------
    rrf : float or array_like of float
        Required risk reduction factor [-] (unmitigated / tolerable risk).
    r : float
        Reduction per achieved level (``model.sl_reduction_per_level``), > 1.

    Returns
    -------
    int or ndarray of int
        0 where RRF <= 1 or is NaN (already tolerable, or nothing to reduce); 4 at most
        (also for an infinite RRF). A tolerance of 1e-9 on log_r RRF makes RRF = r^k ask
        for k, not k + 1, despite rounding.

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.6.4 (ZCR 5.4: determine SL-T from the risk).
    """
    if not r > 1:
        raise ValueError(f"r (sl_reduction_per_level) must be > 1, {r!r} was given")
    x = np.asarray(rrf, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lv = np.ceil(np.log(np.maximum(x, 1.0)) / math.log(r) - 1e-9)
    lv = np.where((x > 1) & ~np.isnan(x), np.clip(lv, 0, 4), 0).astype(int)
    return int(lv) if lv.ndim == 0 else lv


def zone_target(levels, floor: int = 1):
    """SL-T of a zone in one FR: the largest level of its scenarios tagged with it, at least 1.

    Parameters
    ----------
    levels : sequence of int or of arrays
        SL-T of each scenario of the zone tagged with the FR (arrays: one level per draw).
    floor : int
        The least SL-T of a zone (1).

    Returns
    -------
    int or ndarray of int
    """
    if len(levels) == 0:
        return floor
    return np.maximum(np.max(np.asarray(levels), axis=0), floor)


def conduit_target(zone_a, zone_b):
    """SL-T of a conduit in one FR under ``conduit_rule: zones_max``: the larger of its zones."""
    return np.maximum(zone_a, zone_b)


# --------------------------------------------------------------------------------------------
# Attack paths: two-terminal reliability of the stages (MODEL.md section 5)
# --------------------------------------------------------------------------------------------

REACH_EXACT_PATHS = 14
"""Most minimal paths for which :func:`reach_probability` uses inclusion-exclusion."""

REACH_EXACT_STAGES = 20
"""Most distinct stages for which :func:`reach_probability` enumerates stage states."""

REACH_SAMPLES = 200_000
"""Sampled stage states of the estimator beyond the exact limits."""


def _minimal_paths(paths: Sequence[Sequence[int]]) -> list[int]:
    """Bit masks of the paths that contain no other path (the others add no event)."""
    masks = sorted({sum(1 << int(j) for j in set(p)) for p in paths}, key=lambda m: m.bit_count())
    keep: list[int] = []
    for m in masks:
        if not any(k & m == k for k in keep):
            keep.append(m)
    return keep


def _products(p: np.ndarray, members: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Product of p[..., j] over the j with ``members[u, j]``, per row u -> (..., U)."""
    out = []
    for lo in range(0, len(members), chunk):
        m = members[lo : lo + chunk]
        out.append(np.prod(np.where(m, p[..., None, :], 1.0), axis=-1))
    return np.concatenate(out, axis=-1) if out else np.zeros(p.shape[:-1] + (0,))


def _bits(masks, n: int) -> np.ndarray:
    masks = np.asarray(masks, dtype=np.int64)
    return ((masks[:, None] >> np.arange(n)) & 1).astype(bool)


def reach_probability(
    stage_p,
    paths: Sequence[Sequence[int]],
    *,
    rng: np.random.Generator | None = None,
    samples: int = REACH_SAMPLES,
):
    """Probability that at least one path has every stage open (two-terminal reliability).

    Each stage j is open independently with probability ``stage_p[..., j]``; a path is open
    when all its stages are. Exact by inclusion-exclusion over the minimal paths (up to
    :data:`REACH_EXACT_PATHS` of them), else by enumerating the 2^S stage states (up to
    :data:`REACH_EXACT_STAGES` distinct stages), else estimated from ``samples`` sampled
    stage states with standard error at most 0.5 / sqrt(samples) (see
    :func:`reach_probability_mc`).

    Parameters
    ----------
    stage_p : array_like of float, shape (..., S)
        P(stage open) [-]; leading axes (plans, draws) are kept.
    paths : sequence of sequences of int
        Each path as the indices of its stages in ``stage_p``.
    rng : numpy.random.Generator, optional
        Required only beyond the exact limits (seeded from the run's seed by the caller).
    samples : int
        Sampled stage states of the estimator.

    Returns
    -------
    float or ndarray
        P(some path fully open), shape ``stage_p.shape[:-1]``.

    References
    ----------
    .. [1] Ball, M. O. (1986). Computational complexity of network reliability analysis: an
       overview. IEEE Transactions on Reliability, R-35(3), 230-239.
    .. [2] Colbourn, C. J. (1987). The Combinatorics of Network Reliability. Oxford UP.
    """
    p = np.asarray(stage_p, dtype=float)
    n = p.shape[-1]
    masks = _minimal_paths(paths)
    if not masks:
        out = np.zeros(p.shape[:-1])
    elif len(masks) <= REACH_EXACT_PATHS:
        # P(union of A_i) = sum over nonempty T of (-1)^(|T|+1) P(all stages of T open)
        coef: dict[int, int] = {}
        union = [0] * (1 << len(masks))
        for t in range(1, 1 << len(masks)):
            low = t & -t
            union[t] = union[t ^ low] | masks[low.bit_length() - 1]
            sign = 1 if t.bit_count() % 2 else -1
            coef[union[t]] = coef.get(union[t], 0) + sign
        keys = [u for u, c in coef.items() if c]
        weights = np.array([coef[u] for u in keys], dtype=float)
        out = _products(p, _bits(keys, n)) @ weights
    elif n <= REACH_EXACT_STAGES:
        states = np.arange(1 << n, dtype=np.int64)
        ok = np.zeros(len(states), dtype=bool)
        for m in masks:
            ok |= (states & m) == m
        bits = _bits(states[ok], n)
        out = np.zeros(p.shape[:-1])
        for lo in range(0, len(bits), 4096):
            b = bits[lo : lo + 4096]
            out = out + np.prod(np.where(b, p[..., None, :], 1.0 - p[..., None, :]), -1).sum(-1)
    else:
        if rng is None:
            raise ValueError(
                f"{len(masks)} minimal paths over {n} stages exceed the exact limits"
                f" ({REACH_EXACT_PATHS} paths, {REACH_EXACT_STAGES} stages): pass rng="
            )
        out, _ = reach_probability_mc(p, paths, rng, samples)
    out = np.clip(out, 0.0, 1.0)
    return float(out) if np.ndim(out) == 0 else out


def reach_probability_mc(stage_p, paths: Sequence[Sequence[int]], rng, samples: int):
    """Estimate of :func:`reach_probability` from sampled stage states, with its error.

    Common random numbers: the same uniforms serve every leading index of ``stage_p``, so
    differences between plans carry less noise than each estimate.

    Returns
    -------
    estimate, standard_error : ndarray
        The fraction of sampled states with an open path, and sqrt(q(1 - q) / samples)
        (at most 0.5 / sqrt(samples)).
    """
    p = np.asarray(stage_p, dtype=float)
    idx = [np.flatnonzero(row) for row in _bits(_minimal_paths(paths), p.shape[-1])]
    hits = np.zeros(p.shape[:-1])
    done = 0
    while done < samples:
        k = min(8192, samples - done)
        open_ = rng.random((k, p.shape[-1])) < p[..., None, :]  # (..., k, S)
        reached = np.zeros(open_.shape[:-1], dtype=bool)
        for j in idx:  # a path is open when all its stages are
            reached |= open_[..., j].all(-1)
        hits = hits + reached.sum(-1)
        done += k
    q = hits / samples
    return q, np.sqrt(q * (1 - q) / samples)


# --------------------------------------------------------------------------------------------
# Attack paths of a scenario: stages, their probabilities and the reach (MODEL.md section 5)
# --------------------------------------------------------------------------------------------


def site_edges(site: Site) -> tuple[tuple[str, str, str], ...]:
    """``(conduit id, zone a, zone b)`` of every conduit, in site order."""
    return tuple((c.id, c.zones[0], c.zones[1]) for c in site.conduits)


@lru_cache(maxsize=4096)
def _paths(edges, origin, target, entry):
    paths = simple_paths(edges, origin, target)
    if entry:
        paths = [p for p in paths if any(cond == entry for cond, _ in p)]
    stages: list[tuple[str, str]] = []
    pos: dict[tuple[str, str], int] = {}
    for p in paths:
        for st in p:
            if st not in pos:
                pos[st] = len(stages)
                stages.append(st)
    return tuple(paths), tuple(stages), tuple(tuple(pos[st] for st in p) for p in paths)


def lateral(scenario: Scenario) -> bool:
    """Whether the scenario moves laterally: it names an ``origin`` other than its zone."""
    return bool(scenario.origin) and scenario.origin != scenario.zone


def scenario_paths(site: Site, scenario: Scenario):
    """The attack paths of a scenario with an ``origin``.

    Every simple path from ``origin`` to the scenario's zone over the conduits
    (:func:`riskkit.graph.simple_paths`); with an ``entry`` too, only the paths that cross it.

    Returns
    -------
    paths : tuple of Path
        Each a tuple of ``(conduit, zone entered)`` stages ending in the scenario's zone.
    stages : tuple of (str, str)
        The distinct stages, in order of first appearance.
    index : tuple of tuple of int
        Each path as positions in ``stages`` (what :func:`reach_probability` takes).

    Empty tuples for a scenario without lateral movement.
    """
    if not lateral(scenario):
        return (), (), ()
    return _paths(site_edges(site), scenario.origin, scenario.zone, scenario.entry)


def stage_probabilities(site: Site, scenario: Scenario, zones: dict, conduits: dict, stages):
    """P(an attempt crosses each stage) [-], shape (..., S), vectorised over leading axes.

    A stage into an intermediate zone is a barrier in the site's ``model.lateral_frs``: the
    conduit and the zone entered combine as in :func:`barrier_factor` (``max``: level
    b = min over the lateral FRs of max(conduit, zone), crossed with sl_effect(b, c)). A stage
    into the target zone is the target itself: the scenario's rate factor with that stage's
    conduit as the entry (:func:`target_factors`), so an origin adjacent to the target gives
    exactly the rate without an origin.

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.4 (ZCR 3: zones and conduits as barriers).
    """
    model = site.model
    c = site.actor(scenario.actor).capability
    cols = []
    for cond, zone in stages:
        if zone == scenario.zone:
            p = target_factors(site, scenario, zones[zone], conduits[cond])[0]
        else:
            p = barrier_factor(model, zones[zone], conduits[cond], model.lateral_frs, c)
        cols.append(np.asarray(p, dtype=float))
    return np.stack(np.broadcast_arrays(*cols), axis=-1)


def _reach_rng(scenario: Scenario) -> np.random.Generator:
    """The seeded generator of the reach estimator beyond the exact limits (fixed per id)."""
    seed = int.from_bytes(scenario.id.encode()[:16].ljust(16, b"\0"), "little")
    return np.random.default_rng([62443, seed])


def path_reach(site: Site, scenario: Scenario, zones: dict, conduits: dict):
    """P(an attempt from the origin reaches and succeeds against the target) [-].

    Two-terminal reliability of the stages (:func:`reach_probability`): the attempt succeeds
    if any simple path has every stage open, stages open independently. Exact up to the
    limits of :func:`reach_probability`; beyond them estimated from a generator seeded by the
    scenario's id (the same value in every run).
    """
    _, stages, index = scenario_paths(site, scenario)
    p = stage_probabilities(site, scenario, zones, conduits, stages)
    return reach_probability(p, index, rng=_reach_rng(scenario))


def path_probabilities(site: Site, scenario: Scenario, zones: dict, conduits: dict):
    """P(every stage of each attack path is open) [-], shape (..., number of paths).

    The product of the stage probabilities of each path of :func:`scenario_paths`, in that
    order (a path's own success probability, ignoring the others; their union is
    :func:`path_reach`). Empty for a scenario without lateral movement.
    """
    _, stages, index = scenario_paths(site, scenario)
    if not index:
        return np.zeros(np.shape(zones[scenario.zone])[:-1] + (0,))
    p = stage_probabilities(site, scenario, zones, conduits, stages)
    return np.stack([np.prod(p[..., list(ix)], axis=-1) for ix in index], axis=-1)


# --------------------------------------------------------------------------------------------
# The rrf method's allocation of the money tolerances (MODEL.md section 3)
# --------------------------------------------------------------------------------------------


def ale_share(per_zone_ale: float, n_scenarios: int) -> float:
    """A scenario's share of its zone's tolerable ALE under the ``rrf`` method [currency/yr].

    The zone's tolerance split equally among its ``n_scenarios`` scenarios with money loss
    (the allocation that minimises the total orders of magnitude of reduction). The
    ``minimal`` method checks the zone's total instead and needs no share.
    """
    return per_zone_ale / n_scenarios


def exceedance_share(p: float, n_scenarios: int) -> tuple[float, float]:
    """A scenario's share of a site exceedance point under the ``rrf`` method.

    The tolerable probability p of an annual loss >= x is shared equally among the site's
    ``n_scenarios`` scenarios with money loss, p_s = p / n, and converted to the tolerable
    rate of single events of loss >= x: P(at least one event) = 1 - exp(-λ) = p_s gives
    λ = -ln(1 - p_s).

    Returns
    -------
    (float, float)
        p_s [-] and the tolerable rate -ln(1 - p_s) [events/yr] (inf where p_s >= 1).
    """
    p_s = p / n_scenarios if n_scenarios else p
    return p_s, (-math.log1p(-p_s) if p_s < 1 else math.inf)


# --------------------------------------------------------------------------------------------
# The effects of the countermeasures indexed once (issue 16)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectIndex:
    """Where the effects of a site's countermeasures act, indexed once per site.

    Built by :func:`effect_index`; what :func:`touching_all` and :func:`indexed_effects` read
    instead of scanning every countermeasure's effects for each scenario (time linear in
    scenarios plus effects, not their product).

    Attributes
    ----------
    candidates : tuple of str
        Candidate ids in site order (the order of :func:`touching`).
    by_target : dict
        ``('scenario', id)`` or ``('zone', id)`` -> {countermeasure id: positions of its
        frequency and consequence effects aimed there, in the order of its effects}.
    sl : dict
        ``(kind, id, FR)`` with kind ``'zone'`` or ``'conduit'`` -> sorted positions in
        ``candidates`` of the candidates with a ``security_level`` effect raising that FR of
        that zone or conduit.
    """

    candidates: tuple[str, ...]
    by_target: dict
    sl: dict


def effect_index(site: Site) -> EffectIndex:
    """Index the effects of every countermeasure of ``site`` by where they act (one pass)."""
    cand = tuple(c.id for c in site.candidates)
    pos = {c: i for i, c in enumerate(cand)}
    by_target: dict = {}
    sl: dict = {}
    for cm in site.countermeasures:
        for k, eff in enumerate(cm.effects):
            if isinstance(eff, SecurityLevelEffect):
                if cm.id not in pos:
                    continue
                for kind, ids in (("zone", eff.zones), ("conduit", eff.conduits)):
                    for rid in ids:
                        for fr in eff.levels:
                            sl.setdefault((kind, rid, fr), set()).add(pos[cm.id])
                continue
            for key in [("scenario", s) for s in eff.scenarios] + [("zone", z) for z in eff.zones]:
                lst = by_target.setdefault(key, {}).setdefault(cm.id, [])
                if not lst or lst[-1] != k:  # an effect naming a scenario twice counts once
                    lst.append(k)
    return EffectIndex(cand, by_target, {key: sorted(v) for key, v in sl.items()})


def touching_all(site: Site, index: EffectIndex | None = None) -> dict[str, list[str]]:
    """:func:`touching` of every scenario at once: scenario id -> candidate ids, site order.

    The same lists, in the same order, as ``touching(site, s)`` for each scenario ``s``, in
    time linear in the scenarios, their elements (:func:`scenario_elements`) and the effects
    that touch them, instead of scenarios x candidates effects.
    """
    ix = effect_index(site) if index is None else index
    pos = {c: i for i, c in enumerate(ix.candidates)}
    out: dict[str, list[str]] = {}
    for s in site.scenarios:
        hit: set[int] = set()
        for key in (("scenario", s.id), ("zone", s.zone)):
            hit.update(pos[c] for c in ix.by_target.get(key, ()) if c in pos)
        for (kind, rid), frs in scenario_elements(site, s).items():
            for fr in frs:
                hit.update(ix.sl.get((kind, rid, fr), ()))
        out[s.id] = [ix.candidates[i] for i in sorted(hit)]
    return out


def indexed_effects(
    site: Site, scenario: Scenario, active: Iterable[str], index: EffectIndex
) -> ScenarioEffects:
    """:func:`scenario_effects` read from an :func:`effect_index` (same lists, same order).

    Time grows with the ``active`` countermeasures and the effects aimed at the scenario,
    not with every effect of the active countermeasures.
    """
    out = ScenarioEffects()
    here = [index.by_target.get(("scenario", scenario.id), {})]
    here.append(index.by_target.get(("zone", scenario.zone), {}))
    for cid in active:
        ks = sorted(set(here[0].get(cid, ())) | set(here[1].get(cid, ())))
        if not ks:
            continue
        effects = site.countermeasure(cid).effects
        for k in ks:
            eff = effects[k]
            if isinstance(eff, FrequencyEffect):
                out.frequency.append((cid, eff.reduction))
            else:
                out.consequence.setdefault(eff.category, []).append((cid, eff.reduction))
    return out
