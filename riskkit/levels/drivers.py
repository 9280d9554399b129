"""Zone and conduit SL-T vectors from scenario levels, with the driver of each value.

Also the Security PHA Review flags (an SL alone cannot reach tolerance) and the summary
per zone and conduit.

Every function here makes one pass over the scenarios (plain lists and dicts rather than a
pandas selection per zone and FR), so the cost grows linearly with the number of scenarios,
zones and conduits (issue 16: 5,000 scenarios in well under a second).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from ..rules import conduit_target, lateral, scenario_paths, sl_factor, zone_target
from ..site import FRS, Site

CONDUIT_RULES = ("zones_max", "entry")
"""How a conduit's SL-T is derived (``conduit_rule`` of :func:`riskkit.levels.target_levels`).

``zones_max``: the element-wise max of the SL-T of the two zones it joins (before model v2);
``entry``: from the scenarios that enter through it, under the rule that credits it (the
protection of a scenario is the stronger of its zone and its entry conduit in each FR, so the
conduit alone must carry the scenarios entering through it).
"""

DEFAULT_CONDUIT_RULE = "entry"  # "zones_max" before model v2

DRIVER_COLUMNS = [
    "kind",
    "id",
    "fr",
    "sl_t",
    "basis",
    "via",
    "scenario",
    "actor",
    "rrf",
    "dimension",
    "required",
    "capability",
    "capped",
]
"""Columns of :attr:`TargetLevels.drivers`."""


def _columns(scen: pd.DataFrame) -> dict:
    """The columns of the scenario table the aggregation reads, as plain lists."""
    dim = scen["matrix_dimension"] if "matrix_dimension" in scen else scen["dimension"]
    return {
        "ids": list(scen.index),
        "zone": scen["zone"].tolist(),
        "frs": scen["frs"].tolist(),
        "sl_t": [int(v) for v in scen["sl_t"]],
        "rrf": [float(v) for v in scen["rrf"]],
        "actor": scen["actor"].tolist(),
        "dimension": dim.tolist(),
        "required": [int(v) for v in scen["required"]],
        "capability": [int(v) for v in scen["capability"]],
        "capped": [bool(v) for v in scen["capped"]],
    }


def _best(groups: list, cols: dict) -> tuple[dict, dict]:
    """Per (group, FR): the largest scenario level and the scenario that drives it.

    The driver is the scenario of the highest level, ties broken by the larger RRF, then by
    the order of the site file. ``groups[i]`` is scenario i's group (its zone) or groups (the
    conduits it enters through).
    """
    top: dict[tuple, int] = {}
    best: dict[tuple, int] = {}
    slt, rrf = cols["sl_t"], cols["rrf"]
    for i, (gs, frs) in enumerate(zip(groups, cols["frs"])):
        for g in (gs,) if isinstance(gs, str) else gs:
            for fr in set(frs):
                key = (g, fr)
                j = best.get(key)
                if j is None:
                    best[key], top[key] = i, slt[i]
                    continue
                if (slt[i], rrf[i]) > (slt[j], rrf[j]):
                    best[key] = i
                if slt[i] > top[key]:
                    top[key] = slt[i]
    return top, best


def entries(site: Site, scenario) -> tuple[str, ...]:
    """The conduits a scenario enters its zone through.

    Its ``entry``; for a scenario with an ``origin`` (attack paths), the last conduit of each
    of its paths (the target stage's conduit, which the risk rule credits as the entry).
    """
    if lateral(scenario):
        _, stages, _ = scenario_paths(site, scenario)
        return tuple(dict.fromkeys(c for c, z in stages if z == scenario.zone))
    return (scenario.entry,) if scenario.entry else ()


def _aggregate(site: Site, scen: pd.DataFrame, conduit_rule: str = DEFAULT_CONDUIT_RULE):
    """Zone and conduit SL-T vectors and their drivers."""
    cols = _columns(scen)
    top, best = _best(cols["zone"], cols)
    zone_rows, drivers = {}, []
    for z in site.zones:
        vec = []
        for fr in FRS:
            key = (z.id, fr)
            val = int(zone_target([top[key]] if key in top else []))
            drv = _driver_from(cols, best.get(key))
            vec.append(val)
            drivers.append({"kind": "zone", "id": z.id, "fr": fr, "sl_t": val, "via": z.id, **drv})
        zone_rows[z.id] = vec
    zones = _vectors(zone_rows, "zone")
    if conduit_rule == "entry":
        con_rows = _entry_conduits(site, cols, drivers)
    else:
        con_rows = _zones_max_conduits(site, drivers)
    conduits = _vectors(con_rows, "conduit")
    return zones, conduits, _driver_frame(drivers)


def _zones_max_conduits(site: Site, drivers: list) -> dict:
    """``zones_max``: each FR the larger of the two zones, driven by that zone's driver."""
    zdrv = {(d["id"], d["fr"]): d for d in drivers}
    con_rows = {}
    for c in site.conduits:
        vec = []
        for fr in FRS:
            a, b = (zdrv[(zid, fr)] for zid in c.zones)
            ra = a["rrf"] if a["basis"] == "scenario" else -1.0
            rb = b["rrf"] if b["basis"] == "scenario" else -1.0
            win = a if (a["sl_t"], ra) >= (b["sl_t"], rb) else b  # the driver of the value
            vec.append(int(conduit_target(a["sl_t"], b["sl_t"])))
            drivers.append({**win, "kind": "conduit", "id": c.id})
        con_rows[c.id] = vec
    return con_rows


def _entry_conduits(site: Site, cols: dict, drivers: list) -> dict:
    """``entry``: each FR the largest level of the scenarios entering through it (at least 1)."""
    top, best = _best([entries(site, site.scenario(sid)) for sid in cols["ids"]], cols)
    con_rows = {}
    for c in site.conduits:
        vec = []
        for fr in FRS:
            key = (c.id, fr)
            val = int(zone_target([top[key]] if key in top else []))
            i = best.get(key)
            drv = _driver_from(cols, i)
            via = cols["zone"][i] if drv["basis"] == "scenario" else None
            vec.append(val)
            row = {"kind": "conduit", "id": c.id, "fr": fr, "sl_t": val, "via": via}
            drivers.append({**row, **drv})
        con_rows[c.id] = vec
    return con_rows


def _driver_from(cols: dict, i: int | None) -> dict:
    """Driver fields of scenario i, or of the floor where no scenario asks for level 1."""
    if i is None or cols["sl_t"][i] < 1:
        return _driver_fields(None, None, "floor")
    return {
        "basis": "scenario",
        "scenario": cols["ids"][i],
        "actor": cols["actor"][i],
        "rrf": cols["rrf"][i],
        "dimension": cols["dimension"][i],
        "required": cols["required"][i],
        "capability": cols["capability"][i],
        "capped": cols["capped"][i],
    }


def _driver_frame(drivers: list) -> pd.DataFrame:
    """The long driver table, with its column types."""
    ddf = pd.DataFrame(drivers, columns=DRIVER_COLUMNS)
    ddf["sl_t"] = ddf["sl_t"].astype(int)
    for c in ("required", "capability"):
        ddf[c] = ddf[c].astype("Int64")
    ddf["capped"] = ddf["capped"].astype("boolean")
    return ddf


def _driver_fields(sid, rec, basis: str) -> dict:
    if rec is None:
        return {
            "basis": basis,
            "scenario": None,
            "actor": None,
            "rrf": np.nan,
            "dimension": None,
            "required": pd.NA,
            "capability": pd.NA,
            "capped": pd.NA,
        }
    dim = rec.get("matrix_dimension", rec["dimension"])
    return {
        "basis": basis,
        "scenario": sid,
        "actor": rec["actor"],
        "rrf": float(rec["rrf"]),
        "dimension": dim,
        "required": int(rec["required"]),
        "capability": int(rec["capability"]),
        "capped": bool(rec["capped"]),
    }


def _vectors(rows: dict, name: str) -> pd.DataFrame:
    df = pd.DataFrame.from_dict(rows, orient="index", columns=list(FRS)) if rows else None
    if df is None:
        df = pd.DataFrame(columns=list(FRS), dtype=int)
    df = df.astype(int)
    df.index.name = name
    return df


FLAG_COLUMNS = [
    "scenario",
    "zone",
    "actor",
    "rrf",
    "dimension",
    "required",
    "capability",
    "residual_rrf",
    "reason",
    "message",
]


def _flags(scen: pd.DataFrame, r: float) -> pd.DataFrame:
    rows = []
    for sid, zone, actor, ell, c, rrf, dim in zip(
        scen.index,
        scen["zone"],
        scen["actor"],
        scen["rrf_level"],
        scen["capability"],
        scen["rrf"],
        scen["dimension"],
    ):
        ell, c, rrf = int(ell), int(c), float(rrf)
        if ell > c:
            reason = "capability"
            why = (
                f"needs SL {ell} but actor {actor} has capability {c}; levels above"
                f" {c} do not slow this actor further"
            )
        elif rrf > r**4 * (1 + 1e-9):
            reason = "beyond-sl4"
            why = f"needs more than SL 4 gives (RRF {rrf:.3g} > r^4 = {r**4:g})"
        else:
            continue
        resid = rrf * sl_factor(r, ell, c)
        rows.append(
            (
                sid,
                zone,
                actor,
                rrf,
                dim,
                ell,
                c,
                resid,
                reason,
                f"{sid} ({zone}): RRF {rrf:.3g} on {dim} {why}; a residual"
                f" factor of {resid:.3g} must come from a non-hackable safeguard or a"
                " consequence reduction (Security PHA Review finding)",
            )
        )
    return pd.DataFrame(rows, columns=FLAG_COLUMNS)


def _summary(
    site, zones, conduits, drivers, scen, flags, conduit_rule: str = DEFAULT_CONDUIT_RULE
) -> pd.DataFrame:
    rows = []
    flagged = set(flags["scenario"]) if len(flags) else set()
    per_zone = Counter(scen["zone"])
    flagged_zone = Counter(z for sid, z in zip(scen.index, scen["zone"]) if sid in flagged)
    if conduit_rule == "entry":
        entry = [entries(site, site.scenario(sid)) for sid in scen.index]
        per_conduit = Counter(e for es in entry for e in es)
        flagged_conduit = Counter(
            e for sid, es in zip(scen.index, entry) if sid in flagged for e in es
        )
    top = _top_drivers(drivers)
    for kind, table in (("zone", zones), ("conduit", conduits)):
        vals = table[list(FRS)].to_numpy(dtype=int) if len(table) else np.zeros((0, 7), int)
        for ident, vec in zip(table.index, vals):
            if kind == "zone":
                n, nf = per_zone[ident], flagged_zone[ident]
            elif conduit_rule == "entry":
                n, nf = per_conduit[ident], flagged_conduit[ident]
            else:
                zs = set(site.conduit(ident).zones)
                n = sum(per_zone[z] for z in zs)
                nf = sum(flagged_zone[z] for z in zs)
            rows.append(
                {
                    "kind": kind,
                    "id": ident,
                    **{fr: int(v) for fr, v in zip(FRS, vec)},
                    "max_sl_t": int(vec.max()),
                    "scenarios": n,
                    "flagged": nf,
                    "top_driver": top.get(ident),
                }
            )
    cols = ["kind", "id", *FRS, "max_sl_t", "scenarios", "flagged", "top_driver"]
    return pd.DataFrame(rows, columns=cols)


def _top_drivers(drivers: pd.DataFrame) -> dict:
    """Per id: the scenario behind its highest SL-T (larger RRF on ties, then FR order)."""
    top: dict = {}
    key: dict = {}
    sub = drivers[drivers["basis"] == "scenario"]
    for ident, slt, rrf, sid in zip(sub["id"], sub["sl_t"], sub["rrf"], sub["scenario"]):
        k = (int(slt), float(rrf))
        if ident not in key or k > key[ident]:
            key[ident], top[ident] = k, sid
    return top


def _aggregate_minimal(site: Site, res: dict, conduit_rule: str = DEFAULT_CONDUIT_RULE):
    """Zone and conduit SL-T vectors and drivers from :func:`~.minimal.minimal_levels`."""
    drivers: list = []
    zone_rows = {}
    for z in site.zones:
        vec = [int(v) for v in res["zones"][z.id]]
        zone_rows[z.id] = vec
        for fr, val in zip(FRS, vec):
            drv = _minimal_driver(res["zone_drivers"].get((z.id, fr)))
            drivers.append({"kind": "zone", "id": z.id, "fr": fr, "sl_t": val, "via": z.id, **drv})
    zones = _vectors(zone_rows, "zone")
    if conduit_rule == "entry":
        con_rows = {}
        for c in site.conduits:
            vec = [int(v) for v in res["conduits"][c.id]]
            con_rows[c.id] = vec
            for fr, val in zip(FRS, vec):
                d = res["conduit_drivers"].get((c.id, fr))
                via = None
                if d is not None:
                    via = site.scenario(d["scenario"]).zone
                row = {"kind": "conduit", "id": c.id, "fr": fr, "sl_t": val, "via": via}
                drivers.append({**row, **_minimal_driver(d)})
    else:
        con_rows = _zones_max_conduits(site, drivers)
    conduits = _vectors(con_rows, "conduit")
    return zones, conduits, _driver_frame(drivers)


def _minimal_driver(d: dict | None) -> dict:
    if d is None:
        return _driver_fields(None, None, "floor")
    return {"basis": "scenario", **d}
