"""What-if transformations of a site: the one way to ask "what if ..." of the model.

:func:`what_if` takes a validated :class:`~riskkit.site.Site` and returns a new one with some
rates, consequences or tolerances multiplied, countermeasures implemented or removed, or the
SL reduction per level replaced. The explorer (:mod:`riskkit.widgets`), saved what-ifs and
sensitivity analyses all go through it, so a what-if always means the same site.

The input is never changed: the site is written out as plain data
(:func:`riskkit.io.site_to_dict`), changed there, and validated again by
:func:`riskkit.site.build_site`, the path every site file takes, so the result obeys every
rule a loaded site does.

Distributions scale as distributions: multiplying a quantity X by k gives the law of kX, so
the parameters of each kind are scaled (bounds and mode of ``pert``, ``triangular``,
``uniform`` and ``empirical`` values; ``low`` and ``high`` of ``lognormal``, whose spread in
log space stays the same; ``mean``, ``sd``, ``low`` and ``high`` of ``normal``; a ``cap`` with
them, as k min(X, c) = min(kX, kc)). Every mean,
variance and quantile is multiplied by k (variances by k squared), and, as the engine draws
each quantity from its own stream, the simulated draws are those of the original site times k
(common random numbers). ``poisson`` and ``beta`` have no such family (kX of a count is not a
count, kX of a beta variable leaves [0, 1]): a factor other than 1 on one of them is refused.
A factor 0 gives the constant 0 for every kind.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from numbers import Real
from typing import Any

from .io import site_to_dict
from .site import MONEY_CATEGORIES, Problem, RawSite, Site, SiteError, build_site

__all__ = ["what_if", "scale_spec", "WHAT_IF_KEYWORDS"]

WHAT_IF_KEYWORDS: tuple[str, ...] = (
    "actor_rate",
    "scenario_rate",
    "consequence",
    "tolerance",
    "implement",
    "remove",
    "sl_reduction_per_level",
)
"""The keyword arguments of :func:`what_if`, in the order they are applied."""

_LOCATION_FIELDS = {
    "pert": ("low", "mode", "high"),
    "triangular": ("low", "mode", "high"),
    "uniform": ("low", "high"),
    "lognormal": ("low", "high"),
    "normal": ("mean", "sd", "low", "high"),
}


def scale_spec(spec: Any, k: float) -> Any:
    """The spec (file form) of kX, where ``spec`` is the file form of X.

    Parameters
    ----------
    spec : float or dict
        A bare number or a distribution mapping as in a site file (``{'dist': 'pert', ...}``).
    k : float
        Factor, finite and >= 0 [-].

    Returns
    -------
    float or dict
        A new value; ``spec`` is not changed. ``k == 1`` returns an equal copy, ``k == 0``
        the constant 0.

    Raises
    ------
    ValueError
        For ``poisson`` and ``beta`` with ``k`` other than 0 and 1 (no such scaled law).
    """
    if isinstance(spec, Mapping):
        spec = dict(spec)
    if k == 1:
        return spec
    if k == 0:
        return 0.0
    if not isinstance(spec, Mapping):
        return float(spec) * k
    kind = spec.get("dist", "constant")
    if kind == "constant":
        return float(spec["value"]) * k
    if kind in _LOCATION_FIELDS or kind == "empirical":
        if spec.get("cap") is not None:  # k min(X, c) = min(kX, kc)
            spec["cap"] = float(spec["cap"]) * k
    if kind == "empirical":
        spec["values"] = [float(v) * k for v in spec["values"]]
        return spec
    if kind in _LOCATION_FIELDS:
        for name in _LOCATION_FIELDS[kind]:
            if name in spec:
                spec[name] = float(spec[name]) * k
        return spec
    raise ValueError(
        f"a {kind} distribution cannot be multiplied by {k:g}: k times a {kind} variable is not"
        f" {'a count' if kind == 'poisson' else 'a beta variable on [0, 1]'}"
    )


def _label(site: Site) -> str:
    return f"{site.source or '<site>'} (what-if)"


def _factor(arg: str, key: str, value: Any, problems: list, file: str, positive=False):
    """``value`` as a float factor, or None after adding a problem."""
    ok = isinstance(value, Real) and not isinstance(value, bool)
    x = float(value) if ok else math.nan
    if not ok or not math.isfinite(x) or x < 0 or (positive and x == 0):
        need = "positive" if positive else "non-negative"
        problems.append(
            Problem(
                file,
                key,
                arg,
                f"{arg} factor for {key} must be a finite {need} number, {value!r} was given",
                hint="1 leaves the value as it is, 2 doubles it, 0.5 halves it",
            )
        )
        return None
    return x


def _unknown(file: str, arg: str, kind: str, rid, known) -> Problem:
    """The problem of an id that the site does not have, with the ids it does have."""
    hint = "known: " + (", ".join(known) or "none")
    return Problem(file, str(rid), arg, f"unknown {kind} {rid!r}", hint=hint)


def _factors(
    arg: str, value: Mapping | None, known: dict[str, int], kind: str, problems, file
) -> dict[str, float]:
    """Check a {id: factor} argument: known ids, valid factors."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(
            Problem(file, None, arg, f"{arg} takes {{{kind} id: factor}}, {value!r} was given")
        )
        return {}
    out = {}
    for rid, f in value.items():
        if rid not in known:
            problems.append(_unknown(file, arg, kind, rid, known))
            continue
        x = _factor(arg, str(rid), f, problems, file)
        if x is not None:
            out[rid] = x
    return out


def _ids(arg: str, value: Iterable[str], known: dict[str, int], problems, file) -> list[str]:
    if isinstance(value, str):
        value = [value]
    out = []
    for rid in value or ():
        if rid not in known:
            problems.append(_unknown(file, arg, "countermeasure", rid, known))
        elif rid not in out:
            out.append(rid)
    return out


def _scale_into(
    row: dict, fld: str, k: float, arg: str, rid: str, problems: list, file: str
) -> None:
    try:
        row[fld] = scale_spec(row[fld], k)
    except ValueError as e:
        problems.append(Problem(file, rid, f"{arg} -> {fld}", str(e)))


def _scale_money(row: dict, k: float, arg: str, problems: list, file: str) -> None:
    cons = row.get("consequences") or {}
    for cat in MONEY_CATEGORIES:
        if cat not in cons:
            continue
        if cat == "production":  # hours x margin: scale the margin, the product scales by k
            _scale_into(cons[cat], "cost_per_hour", k, arg, row["id"], problems, file)
        else:
            _scale_into(cons, cat, k, arg, row["id"], problems, file)


def _scale_tolerance(tol: dict, k: float) -> None:
    for h in ("safety", "environment"):
        if tol.get(h):
            tol[h] = {sev: float(f) * k for sev, f in tol[h].items()}
    fin = tol.get("financial")
    if fin:
        if "per_zone_ale" in fin:
            fin["per_zone_ale"] = float(fin["per_zone_ale"]) * k
        if fin.get("exceedance"):
            # a probability: k times the tolerable probability, at most 1 (clipping keeps the
            # points non-increasing)
            fin["exceedance"] = [[float(x), min(1.0, float(p) * k)] for x, p in fin["exceedance"]]


def what_if(
    site: Site,
    *,
    actor_rate: Mapping[str, float] | None = None,
    scenario_rate: Mapping[str, float] | None = None,
    consequence: float | Mapping[str, float] | None = None,
    tolerance: float | None = None,
    implement: Iterable[str] = (),
    remove: Iterable[str] = (),
    sl_reduction_per_level: float | None = None,
) -> Site:
    """A new validated site with the given changes; ``site`` itself is never changed.

    Parameters
    ----------
    site : Site
        A validated site.
    actor_rate : mapping of str to float, optional
        Actor id -> factor on its ``attempt_rate`` [-]. Scenarios with a ``rate_share`` of
        that actor follow; scenarios with their own ``rate`` do not (their events are not
        the actor's attempts).
    scenario_rate : mapping of str to float, optional
        Scenario id -> factor on its rate: its ``rate_share``, or its own ``rate``
        distribution [-]. A share pushed above 1 is refused.
    consequence : float or mapping of str to float, optional
        Factor on every money consequence of every scenario, or scenario id -> factor
        [-]. Production losses scale through their cost per hour (hours stay hours).
        Harm (safety, environment) is a severity class and does not scale.
    tolerance : float, optional
        Factor on every tolerable frequency (safety and environment tables [events/yr]), the
        per-zone ALE tolerance [currency/yr] and the probabilities of the exceedance
        tolerance points (capped at 1) [-]; 0.1 is ten times stricter. Must be > 0.
    implement : iterable of str, optional
        Candidate ids to mark implemented. A candidate whose exclusive group already has
        another implemented member (after ``remove``) is refused.
    remove : iterable of str, optional
        Countermeasure ids (implemented or candidate) to take out of the site.
    sl_reduction_per_level : float, optional
        Replaces r, the rate divisor per achieved SL level (must be > 1).

    Returns
    -------
    Site
        Validated like a loaded site file; ``source`` is the input's source with
        ``" (what-if)"`` appended and ``source_hash`` is None (no file holds it yet).

    Raises
    ------
    SiteError
        Listing every bad argument: an unknown id (the problem's record is the id and its
        field the argument), a factor that is negative, not finite or not a number, a
        distribution that cannot be scaled, or a result the site rules refuse.

    Examples
    --------
    >>> twice = what_if(site, actor_rate={"A-CRIME": 2.0})  # doctest: +SKIP
    >>> stricter = what_if(site, tolerance=0.1)  # doctest: +SKIP
    """
    file = _label(site)
    problems: list[Problem] = []
    data = site_to_dict(site)  # fresh plain data: the input is never touched
    for sec in ("threat_actors", "scenarios", "countermeasures"):
        data.setdefault(sec, [])
    actors = {r["id"]: i for i, r in enumerate(data["threat_actors"])}
    scens = {r["id"]: i for i, r in enumerate(data["scenarios"])}
    cms = {r["id"]: i for i, r in enumerate(data["countermeasures"])}

    for aid, k in _factors(
        "actor_rate", actor_rate, actors, "threat actor", problems, file
    ).items():
        _scale_into(
            data["threat_actors"][actors[aid]], "attempt_rate", k, "actor_rate", aid, problems, file
        )

    for sid, k in _factors(
        "scenario_rate", scenario_rate, scens, "scenario", problems, file
    ).items():
        row = data["scenarios"][scens[sid]]
        if "rate_share" in row:
            share = float(row["rate_share"]) * k
            if share > 1:
                problems.append(
                    Problem(
                        file,
                        sid,
                        "scenario_rate",
                        f"scenario_rate {k:g} for {sid} makes its rate_share"
                        f" {row['rate_share']:g} x {k:g} = {share:g}, above 1",
                        hint="raise the actor's rate (actor_rate) instead",
                    )
                )
            row["rate_share"] = share
        else:
            _scale_into(row, "rate", k, "scenario_rate", sid, problems, file)

    if consequence is not None:
        if isinstance(consequence, Mapping):
            per = _factors("consequence", consequence, scens, "scenario", problems, file)
        else:
            k = _factor("consequence", "every scenario", consequence, problems, file)
            per = {sid: k for sid in scens} if k is not None else {}
        for sid, k in per.items():
            _scale_money(data["scenarios"][scens[sid]], k, "consequence", problems, file)

    if tolerance is not None:
        k = _factor("tolerance", "tolerance", tolerance, problems, file, positive=True)
        if k is not None:
            data["tolerance"] = data.get("tolerance") or {}
            _scale_tolerance(data["tolerance"], k)

    removed = _ids("remove", remove, cms, problems, file)
    added = _ids("implement", implement, cms, problems, file)
    _implement(data, cms, added, removed, problems, file)

    if sl_reduction_per_level is not None:
        r = sl_reduction_per_level
        if not isinstance(r, Real) or isinstance(r, bool) or not (math.isfinite(r) and r > 1):
            problems.append(
                Problem(
                    file,
                    "model",
                    "sl_reduction_per_level",
                    f"sl_reduction_per_level must be a finite number above 1, {r!r} was given",
                )
            )
        else:
            data.setdefault("model", {})["sl_reduction_per_level"] = float(r)

    if problems:
        raise SiteError(problems)
    return build_site(RawSite(data=data, file=file))


def _implement(data: dict, cms: dict, added: list, removed: list, problems, file) -> None:
    rows = data["countermeasures"]
    groups: dict[str, list[str]] = {}
    for row in rows:
        if row["id"] not in removed and row.get("status") == "implemented":
            g = row.get("exclusive_group")
            if g is not None:
                groups.setdefault(g, []).append(row["id"])
    for cid in added:
        if cid in removed:
            problems.append(
                Problem(file, cid, "implement", f"{cid} is both implemented and removed")
            )
            continue
        row = rows[cms[cid]]
        g = row.get("exclusive_group")
        if row.get("status") != "implemented" and g is not None:
            if groups.get(g):
                problems.append(
                    Problem(
                        file,
                        cid,
                        "implement",
                        f"{cid} is in exclusive group {g!r}, which already has"
                        f" {groups[g]} implemented",
                        hint="at most one member of an exclusive group can be chosen",
                    )
                )
                continue
            groups.setdefault(g, []).append(cid)
        row["status"] = "implemented"
    data["countermeasures"] = [r for r in rows if r["id"] not in removed]
