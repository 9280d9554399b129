"""Zone and conduit SL-T vectors from scenario levels, with the driver of each value.

Also the Security PHA Review flags (an SL alone cannot reach tolerance) and the summary
per zone and conduit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..rules import conduit_target, sl_factor, zone_target
from ..site import FRS, Site


def _aggregate(site: Site, scen: pd.DataFrame):
    """Zone and conduit SL-T vectors and their drivers."""
    order = {sid: i for i, sid in enumerate(scen.index)}
    zone_rows, drivers = {}, []
    for z in site.zones:
        vec = []
        mine = scen[scen["zone"] == z.id]
        for fr in FRS:
            tagged = mine[[fr in frs for frs in mine["frs"]]]
            best = None
            if len(tagged):
                key = sorted(
                    tagged.index,
                    key=lambda s: (-tagged.at[s, "sl_t"], -tagged.at[s, "rrf"], order[s]),
                )
                best = key[0]
            val = int(zone_target(list(tagged["sl_t"]) if len(tagged) else []))  # driver below
            if best is not None and tagged.at[best, "sl_t"] >= 1:
                drv = _driver_fields(best, tagged.loc[best], "scenario")
            else:
                drv = _driver_fields(None, None, "floor")
            vec.append(val)
            drivers.append({"kind": "zone", "id": z.id, "fr": fr, "sl_t": val, "via": z.id, **drv})
        zone_rows[z.id] = vec
    zones = _vectors(zone_rows, "zone")
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
    conduits = _vectors(con_rows, "conduit")
    cols = [
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
    ddf = pd.DataFrame(drivers, columns=cols)
    ddf["sl_t"] = ddf["sl_t"].astype(int)
    for c in ("required", "capability"):
        ddf[c] = ddf[c].astype("Int64")
    ddf["capped"] = ddf["capped"].astype("boolean")
    return zones, conduits, ddf


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


def _flags(scen: pd.DataFrame, r: float) -> pd.DataFrame:
    cols = [
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
    rows = []
    for sid, rec in scen.iterrows():
        ell, c, rrf = int(rec["rrf_level"]), int(rec["capability"]), float(rec["rrf"])
        if ell > c:
            reason = "capability"
            why = (
                f"needs SL {ell} but actor {rec['actor']} has capability {c}; levels above"
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
                rec["zone"],
                rec["actor"],
                rrf,
                rec["dimension"],
                ell,
                c,
                resid,
                reason,
                f"{sid} ({rec['zone']}): RRF {rrf:.3g} on {rec['dimension']} {why}; a residual"
                f" factor of {resid:.3g} must come from a non-hackable safeguard or a"
                " consequence reduction (Security PHA Review finding)",
            )
        )
    return pd.DataFrame(rows, columns=cols)


def _summary(site, zones, conduits, drivers, scen, flags) -> pd.DataFrame:
    rows = []
    flagged = set(flags["scenario"]) if len(flags) else set()
    for kind, table in (("zone", zones), ("conduit", conduits)):
        for ident, vec in table.iterrows():
            if kind == "zone":
                members = list(scen.index[scen["zone"] == ident])
            else:
                zs = site.conduit(ident).zones
                members = list(scen.index[scen["zone"].isin(zs)])
            d = drivers[(drivers["id"] == ident) & (drivers["basis"] == "scenario")]
            top = None
            if len(d):
                top = d.sort_values(["sl_t", "rrf"], ascending=False).iloc[0]["scenario"]
            rows.append(
                {
                    "kind": kind,
                    "id": ident,
                    **{fr: int(vec[fr]) for fr in FRS},
                    "max_sl_t": int(vec.max()),
                    "scenarios": len(members),
                    "flagged": sum(m in flagged for m in members),
                    "top_driver": top,
                }
            )
    cols = ["kind", "id", *FRS, "max_sl_t", "scenarios", "flagged", "top_driver"]
    return pd.DataFrame(rows, columns=cols)
