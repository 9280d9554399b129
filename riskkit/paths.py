"""Attack paths across conduits: per-path success, chokepoints and the SL-T side report.

A scenario that names an ``origin`` zone reaches its target zone over the conduit graph
(``docs/model.md``, "Attack paths"). The rule itself (paths and stages, their probabilities,
the reach probability of several paths) lives in :mod:`riskkit.rules`
(:func:`~riskkit.rules.scenario_paths`, :func:`~riskkit.rules.stage_probabilities`,
:func:`~riskkit.rules.reach_probability`, :func:`~riskkit.rules.path_reach`) and the
expected losses in :mod:`riskkit.exposure`; this module only reports them:

- :func:`attack_paths`: per scenario with an origin, each simple path, the probability that
  it is open, and its share of the scenario's success probability;
- :func:`chokepoints`: per conduit, the site ALE removed if its SL-A rose to 3 or to 4 in the
  lateral FRs, and the share of the site's path-borne risk that crosses it;
- :func:`path_credit`: beside SL-T (which stays the target zone's and entry conduit's), the
  credit that a path's earlier stages already give at today's SL-A;
- :func:`substitutes`: which conduit upgrades would do as much for a zone as closing its gap;
- :func:`paths_block`: the ``paths`` entry of ``summary.json``.

Shares of a scenario's success probability partition the success event by its most likely
open path: with the paths ranked by P(path open), path i is credited with P(path i open and
no higher-ranked path open) = R(1..i) - R(1..i-1), where R(1..i) is the reach probability of
the first i paths. The shares sum to 1 exactly, which a ratio P(path open) / P(reach) would
not (paths overlap).

References
----------
.. [1] IEC 62443-3-2:2020, clause 4.4 (ZCR 3: zones and conduits) and clause 4.6 (ZCR 5).
.. [2] IEC 62443-3-3:2013, clause 4.2 (security levels).
.. [3] Ball, M. O. (1986). Computational complexity of network reliability analysis: an
   overview. IEEE Transactions on Reliability, R-35(3), 230-239.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from . import rules
from .exposure import expected_scenario
from .rules import achieved_levels, resolve_state, scenario_paths, stage_probabilities
from .site import FRS, Site

__all__ = [
    "CHOKEPOINT_LEVELS",
    "display_names",
    "attack_paths",
    "chokepoints",
    "path_credit",
    "substitutes",
    "paths_block",
    "paths_markdown",
    "has_paths",
]

CHOKEPOINT_LEVELS: tuple[int, ...] = (3, 4)
"""The SL-A a conduit is raised to, in the lateral FRs, for its chokepoint value."""

_PATH_COLUMNS = [
    "scenario",
    "actor",
    "origin",
    "zone",
    "path",
    "route",
    "zones",
    "conduits",
    "stages",
    "probability",
    "share",
    "reach",
    "expected_ale",
    "risk_share",
]


def display_names(currency: str = "") -> dict[str, str]:
    """Human column names, with units, for the tables of this module in the reports."""
    cur = f"{currency}/yr" if currency else "currency/yr"
    return {
        "route": "Path (origin → conduit → zone ...)",
        "stages": "Stages",
        "probability": "P(path open)",
        "share": "Share of the scenario's success",
        "reach": "P(reach), all paths",
        "risk_share": "Share of path-borne risk",
        "barrier": "Barrier level today (lateral FRs)",
        "paths": "Paths crossing it",
        "path_share": "Share of path-borne risk crossing it",
        "ale_removed_sl3": f"Site ALE removed at SL 3 [{cur}]",
        "ale_removed_sl4": f"Site ALE removed at SL 4 [{cur}]",
        "door_level": "Protection at the door (L)",
        "door": "P(door crossed)",
        "credit": "Credit of earlier stages (reach / door)",
        "credit_levels": "Credit in levels",
        "shortfall": "SL-T above the door [levels]",
        "covered": "Credit covers it",
        "short_frs": "FRs below SL-T",
        "conduit_sl": "Conduit raised to SL",
        "ale_now": f"Zone ALE today [{cur}]",
        "ale_gap_closed": f"Zone ALE, gap closed [{cur}]",
        "ale_with_conduit": f"Zone ALE, conduit raised [{cur}]",
        "harm_now": "Harm events today [events/yr]",
        "harm_gap_closed": "Harm events, gap closed [events/yr]",
        "harm_with_conduit": "Harm events, conduit raised [events/yr]",
        "substitutes": "Substitutes for the gap",
    }


def has_paths(site: Site) -> bool:
    """Whether any scenario names an ``origin`` other than its own zone (so has paths)."""
    return any(rules.lateral(s) for s in site.scenarios)


def _origin_scenarios(site: Site):
    return [s for s in site.scenarios if rules.lateral(s)]


def _lateral_frs(site: Site) -> tuple[str, ...]:
    return tuple(site.model.lateral_frs)


def _reach(s, p: np.ndarray, index) -> float:
    """Reach probability of some of a scenario's paths (the scenario's estimator seed)."""
    if not index:
        return 0.0
    return float(rules.reach_probability(p, list(index), rng=rules._reach_rng(s)))


def _levels(site: Site, state: str, plan):
    st = resolve_state(site, state, plan)
    return st, achieved_levels(site, st)


def _scenario_ale(site: Site, st, levels) -> dict[str, float]:
    return {s.id: float(expected_scenario(site, s, st, levels)["ale"]) for s in site.scenarios}


def _one_scenario(site: Site, s, zones, conduits) -> list[dict]:
    """Rows of one scenario's paths: probability, exclusive share, reach."""
    paths, stages, index = scenario_paths(site, s)
    p = stage_probabilities(site, s, zones, conduits, stages)
    prob = [float(rules.reach_probability(p, [ix])) for ix in index]
    order = sorted(range(len(paths)), key=lambda i: (-prob[i], i))
    reach = float(rules.path_reach(site, s, zones, conduits))
    rows, before = [], 0.0
    for rank, i in enumerate(order, start=1):
        upto = reach if rank == len(order) else _reach(s, p, [index[k] for k in order[:rank]])
        excl = max(upto - before, 0.0)
        before = upto
        path = paths[i]
        zs = (s.origin, *(z for _, z in path))
        cs = tuple(c for c, _ in path)
        route = " → ".join([zs[0], *(f"{c} → {z}" for c, z in path)])
        rows.append(
            {
                "scenario": s.id,
                "actor": s.actor,
                "origin": s.origin,
                "zone": s.zone,
                "path": rank,
                "route": route,
                "zones": zs,
                "conduits": cs,
                "stages": len(path),
                "probability": prob[i],
                "share": excl / reach if reach > 0 else (1.0 / len(paths)),
                "reach": reach,
            }
        )
    return rows


def attack_paths(
    site: Site, state: str = "current", plan: Iterable[str] | None = None
) -> pd.DataFrame:
    """Every simple attack path of every scenario with an origin, with its share of risk.

    Parameters
    ----------
    site : Site
    state : {'unmitigated', 'current', 'plan'}
    plan : iterable of str, optional
        Candidate countermeasures added to the current state.

    Returns
    -------
    pandas.DataFrame
        One row per (scenario, path), paths ranked by probability within each scenario:
        ``scenario``, ``actor``, ``origin``, ``zone`` (target), ``path`` (rank, 1 = most
        likely), ``route`` (text), ``zones`` (tuple of zone ids, origin first), ``conduits``
        (tuple of conduit ids in order), ``stages`` (count), ``probability`` (P(every stage
        of the path open) [-]), ``share`` (the path's part of the scenario's success
        probability, exclusive by rank, summing to 1 per scenario [-]), ``reach`` (P(some
        path open), the scenario's path factor [-]), ``expected_ale`` (the scenario's
        closed-form expected annual loss times ``share`` [currency/yr]) and ``risk_share``
        (of the site's path-borne ALE [-]). Empty (same columns) where no scenario names an
        origin. ``attrs['path_ale']`` is the site's path-borne ALE [currency/yr].
    """
    st, (zones, conduits) = _levels(site, state, plan)
    rows: list[dict] = []
    scen = _origin_scenarios(site)
    for s in scen:
        rows += _one_scenario(site, s, zones, conduits)
    df = pd.DataFrame(rows, columns=_PATH_COLUMNS)
    if rows:
        ale = {s.id: float(expected_scenario(site, s, st, (zones, conduits))["ale"]) for s in scen}
        df["expected_ale"] = df["scenario"].map(ale) * df["share"]
    else:
        df["expected_ale"] = pd.Series(dtype=float)
    total = float(df["expected_ale"].sum()) if rows else 0.0
    df["risk_share"] = df["expected_ale"] / total if total > 0 else 0.0
    df.attrs["path_ale"] = total
    df.attrs["state"] = st.name
    df.attrs["lateral_frs"] = list(_lateral_frs(site))
    return df


def _raised(conduits: dict, cid: str, level: int, frs: Iterable[str]) -> dict:
    out = dict(conduits)
    v = np.array(out[cid], copy=True)
    for f in frs:
        k = rules.FR_INDEX[f]
        v[k] = max(int(v[k]), level)
    out[cid] = v
    return out


def chokepoints(
    site: Site,
    state: str = "current",
    plan: Iterable[str] | None = None,
    paths: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Conduits ranked by the site ALE removed if each alone rose to SL 3, or 4, laterally.

    Parameters
    ----------
    site : Site
    state : {'unmitigated', 'current', 'plan'}
    plan : iterable of str, optional
    paths : pandas.DataFrame, optional
        :func:`attack_paths` of the same state, when the caller has it.

    Returns
    -------
    pandas.DataFrame
        Indexed by conduit id, ranked by ``ale_removed_sl4``, then ``ale_removed_sl3``, then
        ``path_share``: ``name``, ``zones`` (text), ``barrier`` (today's least SL-A of the
        conduit over the lateral FRs), ``paths`` (simple paths crossing it), ``path_share``
        (share of the site's path-borne ALE whose dominant path crosses it [-]),
        ``ale_removed_sl3`` and ``ale_removed_sl4`` (site ALE now minus site ALE with the
        conduit's SL-A raised to at least 3, or 4, in every lateral FR [currency/yr]; every
        scenario counts, also those entering through the conduit without an origin).
        ``attrs['site_ale']`` is the site ALE of the state [currency/yr].
    """
    st, (zones, conduits) = _levels(site, state, plan)
    frs = _lateral_frs(site)
    paths = attack_paths(site, state, plan) if paths is None else paths
    base = _scenario_ale(site, st, (zones, conduits))
    site_ale = sum(base.values())
    path_ale = float(paths["expected_ale"].sum()) if len(paths) else 0.0
    rows = []
    for c in site.conduits:
        on = paths[paths["conduits"].map(lambda cs, c=c.id: c in cs)] if len(paths) else paths
        row = {
            "conduit": c.id,
            "name": c.name or "",
            "zones": f"{c.zones[0]} - {c.zones[1]}",
            "barrier": int(min(conduits[c.id][rules.FR_INDEX[f]] for f in frs)),
            "paths": int(len(on)),
            "path_share": float(on["expected_ale"].sum()) / path_ale if path_ale > 0 else 0.0,
        }
        touched = [
            s
            for s in site.scenarios
            if s.entry == c.id or (len(on) and s.id in set(on["scenario"]))
        ]
        for lv in CHOKEPOINT_LEVELS:
            lifted = (zones, _raised(conduits, c.id, lv, frs))
            removed = sum(
                base[s.id] - float(expected_scenario(site, s, st, lifted)["ale"]) for s in touched
            )
            row[f"ale_removed_sl{lv}"] = max(removed, 0.0)
        rows.append(row)
    cols = ["conduit", "name", "zones", "barrier", "paths", "path_share"]
    cols += [f"ale_removed_sl{lv}" for lv in CHOKEPOINT_LEVELS]
    df = pd.DataFrame(rows, columns=cols).set_index("conduit")
    df = df.sort_values(
        ["ale_removed_sl4", "ale_removed_sl3", "path_share"], ascending=False, kind="stable"
    )
    df.attrs["site_ale"] = site_ale
    df.attrs["path_ale"] = path_ale
    df.attrs["state"] = st.name
    df.attrs["lateral_frs"] = list(frs)
    return df


def path_credit(
    site: Site, state: str = "current", plan: Iterable[str] | None = None, targets=None
) -> pd.DataFrame:
    """The credit a scenario's earlier path stages give, beside its SL-T.

    SL-T stays what ``docs/model.md`` defines (target zone and entry conduit). For each
    scenario with an origin this reports how much the stages before the target already
    reduce its rate at the state's SL-A: ``credit`` = reach / door, where ``door`` is the
    largest probability of the stages entering the target (the attempt's chance if the actor
    stood next to the target) and ``reach`` the scenario's path factor.

    Parameters
    ----------
    site : Site
    state : {'unmitigated', 'current', 'plan'}
    plan : iterable of str, optional
    targets : TargetLevels, optional
        Adds the scenario's ``sl_t`` and whether the credit covers it (``credit_levels`` >=
        the SL-T's shortfall of the target's protection).

    Returns
    -------
    pandas.DataFrame
        Indexed by scenario id: ``zone``, ``origin``, ``actor``, ``capability``, ``paths``
        (count), ``door_level`` (L at the weakest door into the target), ``door`` [-],
        ``reach`` [-], ``credit`` [-] (in (0, 1]), ``credit_levels`` (-log_r credit: levels
        of the target's protection the earlier stages are worth [-]); with ``targets``:
        ``sl_t`` and ``shortfall`` (SL-T minus ``door_level``, at least 0) and ``covered``
        (bool: ``credit_levels`` >= ``shortfall``).
    """
    st, (zones, conduits) = _levels(site, state, plan)
    r = site.model.sl_reduction_per_level
    rows = {}
    for s in _origin_scenarios(site):
        paths, stages, _ = scenario_paths(site, s)
        p = stage_probabilities(site, s, zones, conduits, stages)
        last = [j for j, (_, z) in enumerate(stages) if z == s.zone]
        door_j = max(last, key=lambda j: (p[j], -j)) if last else None
        door = float(p[door_j]) if door_j is not None else 0.0
        reach = float(rules.path_reach(site, s, zones, conduits))
        credit = reach / door if door > 0 else 1.0
        door_level = 0
        if door_j is not None:
            cid = stages[door_j][0]
            door_level = int(rules.protection_levels(zones[s.zone], conduits[cid], s.frs))
        row = {
            "zone": s.zone,
            "origin": s.origin,
            "actor": s.actor,
            "capability": site.actor(s.actor).capability,
            "paths": len(paths),
            "door_level": door_level,
            "door": door,
            "reach": reach,
            "credit": credit,
            "credit_levels": 0.0 - math.log(credit) / math.log(r) if credit > 0 else math.inf,
        }
        if targets is not None and s.id in targets.scenarios.index:
            sl_t = int(targets.scenarios.loc[s.id, "sl_t"])
            row["sl_t"] = sl_t
            row["shortfall"] = max(sl_t - row["door_level"], 0)
            row["covered"] = bool(row["credit_levels"] >= row["shortfall"] - 1e-9)
        rows[s.id] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "scenario"
    return df


def _zone_risk(site: Site, st, levels, zone: str) -> dict[str, float]:
    out = {"ale": 0.0, "safety_rate": 0.0, "environment_rate": 0.0}
    for s in site.scenarios_in(zone):
        e = expected_scenario(site, s, st, levels)
        for k in out:
            out[k] += float(e[k])
    return out


def substitutes(
    site: Site, targets, state: str = "current", plan: Iterable[str] | None = None
) -> pd.DataFrame:
    """Conduit upgrades that would do as much for a zone as closing the zone's own SL gap.

    For each zone short of its SL-T (some FR with SL-A < SL-T) that a scenario with an
    origin targets, and each conduit on those scenarios' paths other than the doors into
    the zone, the zone's risk (ALE and the rate of safety and environment events) with the
    conduit raised to SL 3, or 4, in the lateral FRs is compared with the zone's risk with
    its gap closed (SL-A raised to SL-T in every FR). The conduit substitutes where neither
    its ALE nor a harm rate is above the gap-closed value.

    Parameters
    ----------
    site : Site
    targets : TargetLevels
        SL-T of the zones (:func:`riskkit.target_levels`).
    state : {'current', 'plan'}
    plan : iterable of str, optional

    Returns
    -------
    pandas.DataFrame
        One row per (zone, conduit, level): ``zone``, ``short_frs`` (the FRs where SL-A is
        below SL-T, text), ``conduit``, ``conduit_sl`` (3 or 4), ``ale_now``,
        ``ale_gap_closed``, ``ale_with_conduit`` [currency/yr], ``harm_now``,
        ``harm_gap_closed``, ``harm_with_conduit`` (safety plus environment events
        [events/yr]) and ``substitutes`` (bool); the substituting rows first.
    """
    st, (zones, conduits) = _levels(site, state, plan)
    frs = _lateral_frs(site)
    rows = []
    by_zone: dict[str, list] = {}
    for s in _origin_scenarios(site):
        by_zone.setdefault(s.zone, []).append(s)
    for zid, scen in by_zone.items():
        if zid not in targets.zones.index:
            continue
        t = np.array([int(targets.zones.loc[zid, f]) for f in FRS])
        short = [f for f, a, b in zip(FRS, zones[zid], t) if a < b]
        if not short:
            continue
        now = _zone_risk(site, st, (zones, conduits), zid)
        closed_z = dict(zones)
        closed_z[zid] = np.maximum(zones[zid], t)
        closed = _zone_risk(site, st, (closed_z, conduits), zid)
        on_path = []
        for s in scen:
            for path in scenario_paths(site, s)[0]:
                on_path += [c for c, z in path if z != zid]
        for cid in dict.fromkeys(on_path):
            for lv in CHOKEPOINT_LEVELS:
                up = _zone_risk(site, st, (zones, _raised(conduits, cid, lv, frs)), zid)
                harm = {
                    k: v["safety_rate"] + v["environment_rate"]
                    for k, v in (("now", now), ("closed", closed), ("up", up))
                }
                ok = (
                    up["ale"] <= closed["ale"] * (1 + 1e-9) + 1e-12
                    and harm["up"] <= harm["closed"] * (1 + 1e-9) + 1e-15
                )
                rows.append(
                    {
                        "zone": zid,
                        "short_frs": ", ".join(short),
                        "conduit": cid,
                        "conduit_sl": lv,
                        "ale_now": now["ale"],
                        "ale_gap_closed": closed["ale"],
                        "ale_with_conduit": up["ale"],
                        "harm_now": harm["now"],
                        "harm_gap_closed": harm["closed"],
                        "harm_with_conduit": harm["up"],
                        "substitutes": bool(ok),
                    }
                )
    cols = ["zone", "short_frs", "conduit", "conduit_sl", "ale_now", "ale_gap_closed"]
    cols += ["ale_with_conduit"]
    cols += ["harm_now", "harm_gap_closed", "harm_with_conduit", "substitutes"]
    df = pd.DataFrame(rows, columns=cols)
    if len(df):
        df = df.sort_values(
            ["substitutes", "zone", "ale_with_conduit"],
            ascending=[False, True, True],
            kind="stable",
        ).reset_index(drop=True)
    return df


def paths_block(A, top: int = 10) -> dict | None:
    """The ``paths`` entry of ``summary.json``; None where no scenario names an origin.

    Parameters
    ----------
    A : Assessment
        The run (its site and the recommended plan are read).
    top : int
        Paths and chokepoints listed.

    Returns
    -------
    dict or None
        ``lateral_frs``, ``scenarios`` (count with an origin), ``path_ale`` (current
        path-borne ALE [currency/yr]), ``top_paths`` (the ``top`` paths by current ALE:
        ``scenario``, ``origin``, ``zone``, ``zones``, ``conduits``, ``probability``,
        ``share``, ``expected_ale``, ``risk_share``) and ``chokepoints`` (the ``top`` conduits:
        ``conduit``, ``zones``, ``paths``, ``path_share``, ``ale_removed_sl3``,
        ``ale_removed_sl4``).
    """
    site = A.site
    if not has_paths(site):
        return None
    p = attack_paths(site, "current")
    ch = chokepoints(site, "current", paths=p)
    best = p.sort_values("expected_ale", ascending=False, kind="stable").head(top)
    return {
        "lateral_frs": list(_lateral_frs(site)),
        "scenarios": len(_origin_scenarios(site)),
        "path_ale": float(p.attrs["path_ale"]),
        "top_paths": [
            {
                "scenario": r["scenario"],
                "origin": r["origin"],
                "zone": r["zone"],
                "zones": list(r["zones"]),
                "conduits": list(r["conduits"]),
                "probability": float(r["probability"]),
                "share": float(r["share"]),
                "expected_ale": float(r["expected_ale"]),
                "risk_share": float(r["risk_share"]),
            }
            for _, r in best.iterrows()
        ],
        "chokepoints": [
            {
                "conduit": cid,
                "zones": r["zones"],
                "paths": int(r["paths"]),
                "path_share": float(r["path_share"]),
                "ale_removed_sl3": float(r["ale_removed_sl3"]),
                "ale_removed_sl4": float(r["ale_removed_sl4"]),
            }
            for cid, r in ch.head(top).iterrows()
        ],
    }


def _pct(x: float) -> str:
    """A share as a whole percentage, "<1%" for a small positive one."""
    return "<1%" if 0 < x < 0.005 else f"{x:.0%}"


def paths_markdown(paths: pd.DataFrame, chokes: pd.DataFrame | None = None, currency: str = ""):
    """A few sentences on the dominant attack paths and the best chokepoint (Markdown)."""
    from . import escape
    from .figures import money

    m = escape.markdown
    if paths is None or paths.empty:
        return (
            "No scenario names an `origin`: every scenario is credited with its target zone"
            " and entry conduit only, so there are no attack paths to show."
        )
    n = paths["scenario"].nunique()
    top = paths.sort_values("expected_ale", ascending=False, kind="stable").iloc[0]
    carried = money(paths.attrs.get("path_ale", paths["expected_ale"].sum()), m(currency))
    out = [
        f"{n} scenario(s) start from an origin zone, over {len(paths)} simple path(s); they"
        f" carry {carried}/yr of"
        f" expected loss. The riskiest path is {m(top['route'])} ({m(top['scenario'])},"
        f" {_pct(top['risk_share'])} of the path-borne risk)."
    ]
    if chokes is not None and len(chokes):
        cid = chokes.index[0]
        r = chokes.iloc[0]
        out.append(
            f"The strongest chokepoint is {m(cid)} ({m(r['zones'])}): at SL 4 in the lateral"
            f" FRs it would remove {money(r['ale_removed_sl4'], m(currency))}/yr of site ALE"
            f" ({money(r['ale_removed_sl3'], m(currency))}/yr at SL 3); {_pct(r['path_share'])}"
            " of the path-borne risk crosses it."
        )
        path_ale = float(chokes.attrs.get("path_ale", 0.0))
        busy = chokes[
            (chokes["path_share"] >= 0.25) & (chokes["ale_removed_sl4"] < 0.01 * path_ale)
        ]
        for cid, r in busy.iterrows():
            out.append(
                f"{m(cid)} carries {_pct(r['path_share'])} of the path-borne risk yet removes"
                f" little at SL 4 ({money(r['ale_removed_sl4'], m(currency))}/yr): the"
                " scenarios crossing it are weakest in an FR outside the lateral FRs, so"
                " raising those alone does not stop them."
            )
    return " ".join(out)
