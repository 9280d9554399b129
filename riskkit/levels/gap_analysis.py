"""Gap analysis: SL-T against SL-C and SL-A per zone, conduit and FR."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..rules import (
    achieved_levels,
    resolve_state,
)
from ..site import FRS, SecurityLevelEffect, Site
from .methods import TargetLevels, target_levels

__all__ = ["Gaps", "gaps"]

# --------------------------------------------------------------------------------------------
# Gap analysis
# --------------------------------------------------------------------------------------------


@dataclass
class Gaps:
    """SL-T vs SL-C vs SL-A per zone, conduit and FR (62443-3-2 ZCR 6, 62443-3-3 clause 4).

    Attributes
    ----------
    state : str
        The state whose SL-A was used (``current``, ``plan`` or ``unmitigated``).
    plan : tuple of str
        The plan's candidate ids.
    table : pandas.DataFrame
        Long form: ``kind``, ``id``, ``fr``, ``sl_t``, ``sl_c`` (Int64, NA where the site
        gives none), ``sl_a``, ``gap`` = max(0, SL-T - SL-A), ``capability_gap`` (bool:
        SL-T > SL-C, so the installed equipment cannot reach the target; False where SL-C is
        unknown).
    zones_meeting : pandas.Series
        Bool per zone and conduit id: SL-A >= SL-T in every FR.
    closers : pandas.DataFrame
        Candidate countermeasures (not active in the state) whose ``security_level`` effects
        raise an SL-A that has a gap: ``countermeasure``, ``kind``, ``id``, ``fr``, ``sl_t``,
        ``sl_a``, ``level``, ``gap``, ``gap_after``, ``closes`` (bool).
    summary : pandas.DataFrame
        One row per zone and conduit: ``kind``, ``id``, ``meets``, ``gaps`` (FRs with a gap),
        ``total_gap`` (sum of levels missing), ``max_gap``, ``capability_gaps``.
    """

    state: str
    plan: tuple
    table: pd.DataFrame
    zones_meeting: pd.Series
    closers: pd.DataFrame
    summary: pd.DataFrame


def gaps(
    site: Site,
    targets: TargetLevels | None = None,
    state: str = "current",
    plan: Iterable[str] | None = None,
) -> Gaps:
    """Gap analysis: SL-T against SL-C and SL-A for every zone, conduit and FR.

    Parameters
    ----------
    site : Site
    targets : TargetLevels, optional
        From :func:`target_levels`; computed with the default method when absent.
    state : {'current', 'plan', 'unmitigated'}
        Which SL-A to use (:func:`riskkit.exposure.achieved_levels`): the site's ``sl_a`` and
        implemented ``security_level`` effects, plus a plan's candidates.
    plan : iterable of str, optional
        Candidate countermeasure ids added to the current state.

    Returns
    -------
    Gaps

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.6.7 (ZCR 5.7) and clause 4.7 (ZCR 6: cybersecurity
       requirements specification); IEC 62443-3-3:2013, clause 4.3 (SL-T, SL-C, SL-A).
    """
    if targets is None:
        targets = target_levels(site)
    st = resolve_state(site, state, plan)
    tab = _gap_table(site, targets, st)
    meeting = tab.groupby("id", sort=False)["gap"].max() == 0
    meeting.name = "meets"
    closers = _closers(site, st, tab)
    g = tab.assign(open=tab["gap"] > 0).groupby(["kind", "id"], sort=False)
    summary = pd.DataFrame(
        {
            "meets": g["gap"].max() == 0,
            "gaps": g["open"].sum().astype(int),
            "total_gap": g["gap"].sum().astype(int),
            "max_gap": g["gap"].max().astype(int),
            "capability_gaps": g["capability_gap"].sum().astype(int),
        }
    ).reset_index()
    return Gaps(st.name, st.plan, tab, meeting, closers, summary)


def _gap_table(site: Site, targets: TargetLevels, st) -> pd.DataFrame:
    """The long gap table of :class:`Gaps` (one row per zone or conduit and FR)."""
    za, ca = achieved_levels(site, st)
    blocks = []
    for kind, table, achieved, rec_of in (
        ("zone", targets.zones, za, site.zone),
        ("conduit", targets.conduits, ca, site.conduit),
    ):
        ids = list(table.index)
        if not ids:
            continue
        t = table.loc[ids, list(FRS)].to_numpy(dtype=int)
        a = np.array([achieved[i] for i in ids], dtype=int).reshape(len(ids), 7)
        c = np.array(
            [rec_of(i).sl_c if rec_of(i).sl_c is not None else (-1,) * 7 for i in ids], dtype=int
        ).reshape(len(ids), 7)
        n = len(ids)
        blocks.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "id": np.repeat(ids, 7),
                    "fr": np.tile(FRS, n),
                    "sl_t": t.ravel(),
                    "sl_c": c.ravel(),
                    "sl_a": a.ravel(),
                }
            )
        )
    cols = ["kind", "id", "fr", "sl_t", "sl_c", "sl_a", "gap", "capability_gap"]
    if blocks:
        tab = pd.concat(blocks, ignore_index=True)
    else:
        tab = pd.DataFrame(columns=cols[:6])
    known_c = tab["sl_c"] >= 0
    tab["gap"] = (tab["sl_t"] - tab["sl_a"]).clip(lower=0).astype(int)
    tab["capability_gap"] = known_c & (tab["sl_t"] > tab["sl_c"])
    tab["sl_c"] = tab["sl_c"].astype("Int64").where(known_c, pd.NA)
    return tab[cols]


def _closers(site: Site, st, tab: pd.DataFrame) -> pd.DataFrame:
    cols = ["countermeasure", "kind", "id", "fr", "sl_t", "sl_a", "level", "gap", "gap_after"]
    sub = tab[tab["gap"] > 0]
    open_ = {
        (k, i, f): (int(t), int(a))
        for k, i, f, t, a in zip(sub["kind"], sub["id"], sub["fr"], sub["sl_t"], sub["sl_a"])
    }
    best: dict[tuple, int] = {}  # (cm, kind, id, fr) -> best level (two effects may overlap)
    if open_:
        active = set(st.active)
        for cm in site.candidates:
            if cm.id in active:
                continue
            for eff in cm.effects:
                if not isinstance(eff, SecurityLevelEffect):
                    continue
                for kind, targets in (("zone", eff.zones), ("conduit", eff.conduits)):
                    for ident in targets:
                        for fr, lvl in eff.levels.items():
                            hit = open_.get((kind, ident, fr))
                            if hit is None or lvl <= hit[1]:
                                continue
                            key = (cm.id, kind, ident, fr)
                            best[key] = max(best.get(key, 0), int(lvl))
    rows = []
    for (cid, kind, ident, fr), lvl in sorted(best.items()):
        t, a = open_[(kind, ident, fr)]
        rows.append((cid, kind, ident, fr, t, a, lvl, t - a, max(0, t - lvl)))
    df = pd.DataFrame(rows, columns=cols)
    df["closes"] = df["gap_after"] == 0
    return df
