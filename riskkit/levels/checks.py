"""Zone-model checks (a lint): an ordered list of small rules, each a function."""

from __future__ import annotations

import math
from collections import deque

import pandas as pd

from ..rules import (
    purdue_level,
)
from ..site import FRS, Site
from .methods import TargetLevels, target_levels

__all__ = ["model_checks", "MODEL_CHECKS", "SEVERITIES", "CHECK_COLUMNS"]

SEVERITIES = ("error", "warning", "info")
CHECK_COLUMNS = ["severity", "rule", "subject", "message"]


# --------------------------------------------------------------------------------------------
# Zone-model checks
# --------------------------------------------------------------------------------------------


def _is_dmz(z) -> bool:
    return z.kind == "dmz" or z.purdue_level == 3.5


def model_checks(site: Site, targets: TargetLevels | None = None) -> pd.DataFrame:
    """Zone-model checks a reviewer runs before trusting the numbers (a lint).

    Rules (``rule``: severity):

    - ``conduit-sl-span`` (warning): a conduit joins zones whose SL-T differ by 2 or more in
      some FR; the conduit must hold the higher level against the weaker side.
    - ``safety-zone-below-sl3`` (warning): a zone of kind ``safety`` with SL-T below 3 in
      some FR (the FRs are listed: FR4 may be a deliberate choice).
    - ``enterprise-reaches-control`` (error): an enterprise zone (Purdue 4-5, or kind
      ``enterprise``) reaches a zone of Purdue level 2 or below through conduits without
      passing a DMZ (kind ``dmz`` or Purdue 3.5); the path is named.
    - ``zone-without-scenarios`` (warning): no scenario harms the zone, so its SL-T is the
      floor of 1 by default rather than by analysis.
    - ``conduit-not-crossed`` (warning): no scenario names the conduit as its ``entry``.
    - ``actor-unused`` (warning): a threat actor no scenario uses.

    Zones without ``purdue_level`` take the usual level of their kind (operations 3,
    supervisory 2, control/safety 1, field 0).

    Parameters
    ----------
    site : Site
    targets : TargetLevels, optional
        For the two SL-T rules; computed with the default method when absent. If that is not
        possible (a percentile statistic without the engine), an ``info`` finding says the
        SL-T rules were skipped.

    Returns
    -------
    pandas.DataFrame
        Columns ``severity`` (error, warning, info), ``rule``, ``subject``, ``message``;
        sorted by severity, then rule.

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.5 (ZCR 3: separate business and control assets,
       safety-related assets, temporarily connected devices), ZCR 3.2-3.4.
    .. [2] ANSI/ISA-62443-1-1 / IEC TS 62443-1-1:2009, clause 6 (reference model, Purdue
       levels; the DMZ between enterprise and control).
    """
    if targets is None:
        try:
            targets = target_levels(site)
        except (NotImplementedError, ImportError) as e:
            targets = e  # the SL-T rules report why they were skipped
    out: list[Finding] = []
    for rule in MODEL_CHECKS:
        out.extend(rule(site, targets))
    df = pd.DataFrame(out, columns=CHECK_COLUMNS)
    if len(df):
        df["_o"] = df["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
        df = df.sort_values(["_o", "rule"], kind="stable").drop(columns="_o")
        df = df.reset_index(drop=True)
    return df


Finding = tuple[str, str, str, str]
"""One finding of :func:`model_checks`: (severity, rule, subject, message)."""


def _sl_t_skipped(site: Site, targets) -> list[Finding]:
    """``sl-t-rules-skipped`` (info): SL-T could not be computed, so its rules did not run."""
    if isinstance(targets, Exception):
        return [("info", "sl-t-rules-skipped", site.name, f"SL-T rules skipped: {targets}")]
    return []


def _conduit_sl_span(site: Site, targets) -> list[Finding]:
    """``conduit-sl-span`` (warning): a conduit joins zones whose SL-T differ by 2 or more."""
    if not isinstance(targets, TargetLevels):
        return []
    out = []
    for c in site.conduits:
        a, b = c.zones
        if a not in targets.zones.index or b not in targets.zones.index:
            continue
        va, vb = targets.zones.loc[a, list(FRS)], targets.zones.loc[b, list(FRS)]
        diff = (va - vb).abs()
        wide = [fr for fr in FRS if diff[fr] >= 2]
        if wide:
            detail = ", ".join(f"{fr} {va[fr]} vs {vb[fr]}" for fr in wide)
            msg = (
                f"joins {a} and {b} whose SL-T differ by 2 or more ({detail}); the conduit"
                " must enforce the higher level, or an intermediate zone is missing"
            )
            out.append(("warning", "conduit-sl-span", c.id, msg))
    return out


def _safety_zone_below_sl3(site: Site, targets) -> list[Finding]:
    """``safety-zone-below-sl3`` (warning): a safety zone with SL-T below 3 in some FR."""
    if not isinstance(targets, TargetLevels):
        return []
    out = []
    for z in site.zones:
        if z.kind != "safety" or z.id not in targets.zones.index:
            continue
        v = targets.zones.loc[z.id, list(FRS)]
        low = [fr for fr in FRS if v[fr] < 3]
        if low:
            detail = ", ".join(f"{fr} {v[fr]}" for fr in low)
            msg = (
                f"safety zone with SL-T below 3 in {detail}; check that its scenarios and"
                " tolerances capture the safety consequences (SL-T 3 is the usual floor for a"
                " SIS)"
            )
            out.append(("warning", "safety-zone-below-sl3", z.id, msg))
    return out


def _is_enterprise(z) -> bool:
    p = purdue_level(z)
    return (z.kind == "enterprise" or (p is not None and p >= 4)) and not _is_dmz(z)


def _reach_without_dmz(site: Site, start: str) -> dict[str, tuple[str, str] | None]:
    """Zones reached from ``start`` through non-DMZ zones, each with (previous zone, conduit).

    The search stops at the first zone of Purdue level 2 or below on each path: the breach.
    """
    zones = {z.id: z for z in site.zones}
    adj: dict[str, list[tuple[str, str]]] = {z: [] for z in zones}
    for c in site.conduits:
        a, b = c.zones
        if a in adj and b in adj:
            adj[a].append((b, c.id))
            adj[b].append((a, c.id))
    prev: dict[str, tuple[str, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        for nxt, cid in adj[cur]:
            if nxt in prev or _is_dmz(zones[nxt]):
                continue
            prev[nxt] = (cur, cid)
            pn = purdue_level(zones[nxt])
            if pn is None or pn > 2:
                queue.append(nxt)
    return prev


def _enterprise_reaches_control(site: Site, targets) -> list[Finding]:
    """``enterprise-reaches-control`` (error): enterprise to Purdue <= 2 without a DMZ."""
    zones = {z.id: z for z in site.zones}
    out = []
    for z in site.zones:
        if not _is_enterprise(z):
            continue
        prev = _reach_without_dmz(site, z.id)
        for tid in prev:
            pt = purdue_level(zones[tid])
            if tid == z.id or pt is None or pt > 2:
                continue
            path, node = [tid], tid
            while prev[node] is not None:
                node, cid = prev[node]
                path[:0] = [node, f"--{cid}-->"]
            msg = (
                f"enterprise-level zone {z.id} (Purdue {purdue_level(z):g}) reaches {tid}"
                f" (Purdue {pt:g}) without a DMZ: {' '.join(path)}"
            )
            out.append(("error", "enterprise-reaches-control", f"{z.id}->{tid}", msg))
    return out


def _zone_without_scenarios(site: Site, targets) -> list[Finding]:
    """``zone-without-scenarios`` (warning): no scenario harms the zone."""
    used = {s.zone for s in site.scenarios}
    msg = "no scenario harms this zone; its SL-T is the floor of 1 by default, not by analysis"
    return [
        ("warning", "zone-without-scenarios", z.id, msg) for z in site.zones if z.id not in used
    ]


def _conduit_not_crossed(site: Site, targets) -> list[Finding]:
    """``conduit-not-crossed`` (warning): no scenario names the conduit as its entry."""
    entries = {s.entry for s in site.scenarios if s.entry}
    return [
        (
            "warning",
            "conduit-not-crossed",
            c.id,
            f"no scenario enters through this conduit ({c.zones[0]} - {c.zones[1]});"
            " its SL-A then protects nothing in the model",
        )
        for c in site.conduits
        if c.id not in entries
    ]


def _actor_unused(site: Site, targets) -> list[Finding]:
    """``actor-unused`` (warning): a threat actor no scenario uses."""
    used = {s.actor for s in site.scenarios}
    msg = "no scenario uses this threat actor"
    return [("warning", "actor-unused", a.id, msg) for a in site.threat_actors if a.id not in used]


def _rate_share_above_one(site: Site, targets) -> list[Finding]:
    """``rate-share-above-one`` (error): an actor's scenarios' ``rate_share`` sum above 1.

    A share is the part of the actor's attempts aimed at a scenario; shares summing above 1
    would make more attempts succeed than the actor makes.
    """
    shares: dict[str, list[tuple[str, float]]] = {}
    for s in site.scenarios:
        if s.rate is None:
            shares.setdefault(s.actor, []).append((s.id, float(s.rate_share)))
    out = []
    for actor, parts in shares.items():
        total = math.fsum(v for _, v in parts)
        if total > 1 + 1e-9:
            detail = " + ".join(f"{sid} {v:g}" for sid, v in parts)
            msg = (
                f"the rate_share of this actor's scenarios sums to {total:g} > 1 ({detail}):"
                " more attempts would succeed than the actor makes"
            )
            out.append(("error", "rate-share-above-one", actor, msg))
    return out


MODEL_CHECKS = (
    _sl_t_skipped,
    _conduit_sl_span,
    _safety_zone_below_sl3,
    _enterprise_reaches_control,
    _zone_without_scenarios,
    _conduit_not_crossed,
    _actor_unused,
    _rate_share_above_one,
)
"""The rules of :func:`model_checks`, in order; each takes (site, targets), returns findings."""
