"""The ``minimal`` SL-T method: the least SL-T vector per zone under which its tolerances hold.

docs/model.md, "Target security levels", method ``minimal`` (issue 10, point 4 and 5). The
``rrf`` method shares a zone's money tolerance equally among its scenarios, so a scenario's
allowance depends on how many scenarios the analyst wrote, and it checks the site's
exceedance tolerance per scenario on single events. ``minimal`` judges each zone by the
tolerances themselves:

1. **Per zone, exactly.** For zone z with the FRs K its scenarios use, every vector v in
   {1..4}^K (the other FRs at the floor 1) is a candidate. Under v, with every other zone and
   every conduit unmitigated (level 0) and no countermeasure, each scenario s of z has the
   event rate λ_s(v) = λ_s x F_s(v).rate and money per event Σ_k m_{s,k} F_s(v).consequence[k],
   where F_s = :func:`riskkit.rules.scenario_factors` (so every model option acts: SL effect,
   FR roles, layering, protection layers, attack paths) and λ_s the decision statistic of the
   unprotected rate. v is *feasible* where

   - harm, per scenario and category h of severity s_h > 0:
     λ_s(v) p_h F_s(v).harm[h] <= min over classes k <= s_h of the tolerable frequency f_k;
   - money, the zone's total: Σ_s λ_s(v) x money per event <= ``per_zone_ale``.

   The SL-T is the feasible vector of least sum, ties to the lexicographically smallest
   (FR1 first). The enumeration is exact: at most 4^7 = 16,384 vectors, each scenario's
   factors evaluated once per distinct level combination of the FRs it depends on (5^r for r
   FRs, in one array call where the rules accept arrays).
2. **Unreachable tolerances.** A constraint that no vector meets (the actor's capability
   caps what levels do, or even SL 4 is not enough) is relaxed to the best any vector
   reaches, and the scenarios behind it are flagged (Security PHA Review: a non-hackable
   safeguard or a consequence reduction must do the rest).
3. **Site exceedance on aggregate annual loss.** With every zone at its SL-T (conduits and
   countermeasures unmitigated), the engine simulates the site's annual loss
   (``exceedance_trials`` years, default ``model.trials``, seed ``model.seed``, common random
   numbers for every candidate) and each point (x, p) of the exceedance tolerance is checked:
   P(L_site >= x) <= p on the estimate, whose standard error sqrt(P(1 - P)/n) is reported.
   Where a point fails, levels are added: every useful one-level raise (zone, FR) is put in
   one order by the closed forms (greedy on the cut in Σ_x [Σ_s λ_s G_s(x) + ALE/x] / p: the
   expected number of single events >= x plus the Markov bound on P(L >= x)), and the
   shortest prefix of that order under which every point holds is found by a bracketing
   search, ``exceedance_batch`` (default 12) prefixes simulated together per round. If even
   the whole order is not enough, every raise is taken and the failing points are flagged.
   ``exceedance_steps`` bounds the length of the order (default: no bound).

Drivers: for each zone and FR, the vector one level lower in that FR is infeasible by
construction (it has a smaller sum); the tolerance it breaks by the largest ratio is the
driver (``dimension`` as in the rrf method: ``safety>=3``, ``financial:ale``,
``financial:P(L>=5e+06)``), with its scenario (for the zone's ALE, the largest contributor
tagged with the FR), and ``rrf`` the unmitigated ratio of that measure to its tolerance.
Where no tolerance breaks, the value is the floor.

Adding a scenario that carries no risk, or splitting one into copies that share its rate,
leaves every SL-T unchanged: nothing is shared out by count.

References
----------
.. [1] IEC 62443-3-2:2020, clause 4.6.7 (ZCR 5.7: SL-T per zone and conduit) and clause 4.6.6
   (ZCR 5.6: tolerable risk).
.. [2] IEC 62443-3-3:2013, clause 4 (FR1..FR7, security levels 1..4).
.. [3] The Open Group, *Risk Analysis (O-RA)*, C20B (2020): loss exceedance against the
   organisation's tolerance curve, on aggregate annual loss.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from .. import rules
from ..rules import FR_INDEX, base_rate_mean, money_per_event
from ..site import FRS, HARM_CATEGORIES, RawSite, Site, build_site
from .drivers import entries

FLOOR = 1
"""Least SL-T of a zone or conduit in every FR (as the rrf method's floor)."""

LEVELS = 5
"""Security levels 0..4."""

_RTOL = 1e-9  # a measure equal to its tolerance up to rounding holds


# --------------------------------------------------------------------------------------------
# Factors of one scenario on a grid of levels
# --------------------------------------------------------------------------------------------


def _one(v) -> bool:
    """Whether a factor is 1 everywhere (nothing acts)."""
    if isinstance(v, (float, int)):
        return v == 1.0
    return bool((np.asarray(v) == 1.0).all())


def _as_array(v, n: int) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return np.full(n, float(a))
    if a.shape != (n,):
        raise ValueError(f"factor of shape {a.shape}, expected ({n},)")
    return a


class _Grid:
    """Evaluates the factors of scenarios with one zone or conduit at many SL vectors.

    Every other zone and conduit stays at level 0 (unmitigated). The dicts are built once and
    the one entry under test is swapped in and out.
    """

    def __init__(self, site: Site):
        self.site = site
        self.fn = rules.scenario_factors
        self.zones = {z.id: np.zeros(7, dtype=int) for z in site.zones}
        self.conduits = {c.id: np.zeros(7, dtype=int) for c in site.conduits}
        self._vector_ok: dict[tuple, bool] = {}

    def factors(self, scenario, kind: str, ident: str, vectors: np.ndarray):
        """Rate (n,), consequence {cat: (n,)}, harm {h: (n,)} at each row of ``vectors``.

        One array call of the rule where it keeps the leading axis (checked once per kind of
        scenario, with and without attack paths and entry, against one call per row); one call
        per row otherwise.
        """
        table = self.zones if kind == "zone" else self.conduits
        keep = table[ident]
        n = len(vectors)
        key = (kind, rules.lateral(scenario), bool(scenario.entry))
        try:
            if self._vector_ok.get(key) is not False:
                try:
                    table[ident] = vectors
                    f = self.fn(self.site, scenario, self.zones, self.conduits)
                    out = self._unpack(f, n)
                except (TypeError, ValueError, IndexError):
                    self._vector_ok[key] = False
                else:
                    if key not in self._vector_ok:
                        rows = self._rows(table, ident, scenario, vectors)
                        self._vector_ok[key] = self._same(out, rows)
                    if self._vector_ok[key]:
                        return out
            return self._rows(table, ident, scenario, vectors)
        finally:
            table[ident] = keep

    def _rows(self, table, ident, scenario, vectors):
        rows = []
        for v in vectors:
            table[ident] = np.asarray(v, dtype=int)
            rows.append(self.fn(self.site, scenario, self.zones, self.conduits))
        return self._stack(rows)

    @staticmethod
    def _same(a, b) -> bool:
        def close(x, y):
            return np.allclose(x, y, rtol=1e-12, atol=0.0)

        ok = close(a[0], b[0])
        for i in (1, 2):
            for k in set(a[i]) | set(b[i]):
                ok = ok and close(a[i].get(k, 1.0), b[i].get(k, 1.0))
        return bool(ok)

    @staticmethod
    def _unpack(f, n: int):
        """(rate, consequence, harm) as arrays of length n; factors 1 everywhere left out."""
        rate = _as_array(f.rate, n)
        cons = {k: _as_array(v, n) for k, v in f.consequence.items() if not _one(v)}
        harm = {k: _as_array(v, n) for k, v in f.harm.items() if not _one(v)}
        return rate, cons, harm

    @staticmethod
    def _stack(rows):
        rate = np.array([float(f.rate) for f in rows])
        out = []
        for part in ("consequence", "harm"):
            keys = dict.fromkeys(k for f in rows for k in getattr(f, part))
            arrs = {k: np.array([float(getattr(f, part).get(k, 1.0)) for f in rows]) for k in keys}
            out.append({k: a for k, a in arrs.items() if not _one(a)})
        return rate, *out


@cache
def _combos(r: int, low: int = 0) -> np.ndarray:
    """All level combinations of r FRs, low..4, as rows (first FR varies slowest)."""
    if r == 0:
        out = np.zeros((1, 0), dtype=int)
    else:
        out = np.array(list(itertools.product(range(low, LEVELS), repeat=r)), dtype=int)
    out.setflags(write=False)  # cached: shared by every caller
    return out


# --------------------------------------------------------------------------------------------
# The scenarios of one zone (or of one conduit under conduit_rule: entry)
# --------------------------------------------------------------------------------------------


@dataclass
class _Member:
    """One scenario's data for the enumeration, on the grid of levels of the FRs in ``rel``.

    ``lam`` [events/yr], ``ale`` [currency/yr] and each ``harm`` measure [events/yr] hold the
    scenario's value at every combination of levels 0..4 of those FRs (row index: the levels
    read as base-5 digits, first FR most significant).
    """

    sid: str
    zone: str
    actor: str
    capability: int
    frs: tuple[str, ...]
    rel: tuple[int, ...]  # FR positions the factors depend on
    money: bool
    harm: list[tuple[str, float, float, int]]  # (category, probability, limit, class k)
    lam: np.ndarray = field(repr=False, default=None)
    ale: np.ndarray = field(repr=False, default=None)
    harm_rate: dict = field(repr=False, default_factory=dict)

    def index(self, vectors: np.ndarray) -> np.ndarray:
        """Row of this member's grid for each full 7-vector row of ``vectors``."""
        idx = np.zeros(len(vectors), dtype=np.int64)
        for p in self.rel:
            idx = idx * LEVELS + vectors[:, p]
        return idx

    def ale_at(self, vector: np.ndarray) -> float:
        """ALE at one full 7-vector [currency/yr]."""
        return float(self.ale[self.index(vector[None, :])[0]])


def _harm_limits(site: Site, s) -> list:
    """(category, probability, tolerable frequency, class) of each harm the scenario reaches.

    A scenario has one severity per category, so its events count in every class up to it;
    the strictest of those classes binds.
    """
    out = []
    for h in HARM_CATEGORIES:
        rec = getattr(s.consequences, h)
        table = getattr(site.tolerance, h)
        if rec is None or rec.severity <= 0 or rec.probability <= 0:
            continue
        classes = [(f, k) for k, f in table.items() if k <= rec.severity]
        if classes:
            f, k = min(classes, key=lambda t: (t[0], -t[1]))
            out.append((h, float(rec.probability), float(f), int(k)))
    return out


def _members(site: Site, risk: dict, grid: _Grid, kind: str, ident: str, sids) -> list:
    """The members of one zone or conduit, their grids evaluated.

    The unprotected rate λ_s is the decision statistic of the unmitigated event rate
    (``risk``); a vector's rate is λ_s x F_s(v).rate / F_s(0).rate, F_s(0) the factor with
    everything at level 0 (1 where nothing protects).
    """
    out = []
    for sid in sids:
        s = site.scenario(sid)
        own = tuple(sorted(FR_INDEX[f] for f in set(s.frs)))
        rel, (f_rate, f_cons, f_harm) = _evaluate(grid, s, kind, ident, own)
        f0 = f_rate[0]
        if f0 > 0:
            lam = risk[sid]["rate"] * (f_rate / f0)
        else:
            base = base_rate_mean(site, s)
            mean = risk[sid]["mean_rate"]
            lam = base * (risk[sid]["rate"] / mean if mean > 0 else 1.0) * f_rate
        money = bool(risk[sid]["money"]) and risk[sid]["loss_per_event"] > 0
        if not money:
            per_event = np.zeros(len(f_rate))
        elif f_cons:
            per_event = sum(m * f_cons.get(k, 1.0) for k, m in money_per_event(s).items())
        else:  # no consequence factor: the mean loss per event of the closed forms
            per_event = np.full(len(f_rate), float(risk[sid]["loss_per_event"]))
        harm = _harm_limits(site, s)
        out.append(
            _Member(
                sid=sid,
                zone=s.zone,
                actor=s.actor,
                capability=int(site.actor(s.actor).capability),
                frs=tuple(s.frs),
                rel=rel,
                money=money,
                harm=harm,
                lam=lam,
                ale=lam * per_event,
                harm_rate={h: lam * p * f_harm.get(h, 1.0) for h, p, _, _ in harm},
            )
        )
    return out


def _evaluate(grid: _Grid, scenario, kind: str, ident: str, own: tuple):
    """The FR positions the factors depend on, and the factors on their grid of levels.

    The scenario's own FRs, plus any other FR that moves the factors: each is probed at
    level 4 alone, in the same call as the grid (a rule that credits an FR the scenario is
    not tagged with, such as FR6/FR7 acting on consequence, is found here).
    """
    others = [p for p in range(7) if p not in own]
    combos = _combos(len(own))
    rows = np.zeros((len(combos) + len(others), 7), dtype=int)
    rows[: len(combos), list(own)] = combos
    for i, p in enumerate(others):
        rows[len(combos) + i, p] = LEVELS - 1
    rate, cons, harm = grid.factors(scenario, kind, ident, rows)
    n = len(combos)

    def moved(a):
        return np.abs(a[n:] - a[0]) > 1e-15 * max(abs(a[0]), 1e-300)

    hit = moved(rate)
    for a in (*cons.values(), *harm.values()):
        hit |= moved(a)
    extra = [p for p, m in zip(others, hit) if m]
    if not extra:
        return own, (
            rate[:n],
            {k: v[:n] for k, v in cons.items()},
            {k: v[:n] for k, v in harm.items()},
        )
    rel = tuple(sorted({*own, *extra}))
    full = np.zeros((LEVELS ** len(rel), 7), dtype=int)
    full[:, list(rel)] = _combos(len(rel))
    return rel, grid.factors(scenario, kind, ident, full)


# --------------------------------------------------------------------------------------------
# Constraints and the exact search
# --------------------------------------------------------------------------------------------


@dataclass
class _Constraint:
    kind: str  # 'harm' or 'ale'
    label: str  # dimension label, as in the rrf method
    limit: float  # the tolerance [events/yr] or [currency/yr]
    member: int | None = None  # harm: index of the member
    category: str | None = None
    zone: str | None = None  # ale: the zone whose members it sums
    effective: float = 0.0  # limit, relaxed to the best any vector reaches
    relaxed: bool = False
    unmitigated: float = 0.0  # the measure with nothing protecting


def _constraints(members: list, ale_limit: float | None) -> list[_Constraint]:
    """Harm per scenario and category; the ALE of each zone the members belong to."""
    out = []
    for i, m in enumerate(members):
        for h, _, f, k in m.harm:
            out.append(_Constraint("harm", f"{h}>={k}", f, member=i, category=h))
    if ale_limit is not None:
        for z in dict.fromkeys(m.zone for m in members if m.money):
            out.append(_Constraint("ale", "financial:ale", float(ale_limit), zone=z))
    return out


def _measures(members: list, cons: list[_Constraint], vectors: np.ndarray) -> np.ndarray:
    """Each constraint's measure (columns) at each row of ``vectors`` (full 7-vectors)."""
    out = np.zeros((len(vectors), len(cons)))
    idx = [m.index(vectors) for m in members]
    for j, c in enumerate(cons):
        if c.kind == "harm":
            out[:, j] = members[c.member].harm_rate[c.category][idx[c.member]]
        else:
            for m, ix in zip(members, idx):
                if m.money and m.zone == c.zone:
                    out[:, j] += m.ale[ix]
    return out


def _ordered_grid(positions: list[int]) -> np.ndarray:
    """Every vector with the given FRs in FLOOR..4 and the others at FLOOR, in search order.

    Ordered by sum, then lexicographically (FR1 first): the first feasible row is the answer.
    """
    g = np.full((len(_combos(len(positions), FLOOR)), 7), FLOOR, dtype=int)
    g[:, positions] = _combos(len(positions), FLOOR)
    keys = [g[:, p] for p in reversed(range(7))] + [g.sum(axis=1)]
    return g[np.lexsort(keys)]


@dataclass
class _Solution:
    vector: np.ndarray
    members: list
    constraints: list
    drivers: dict  # FR -> dict of driver fields (or None: floor)


def _solve(members: list, ale_limit: float | None) -> _Solution:
    """The least feasible vector (by sum, then lexicographic) and the driver of each FR."""
    cons = _constraints(members, ale_limit)
    vec = np.full(7, FLOOR, dtype=int)
    sol = _Solution(vec, members, cons, {fr: None for fr in FRS})
    if not cons:
        return sol
    positions = sorted({p for m in members for p in m.rel})
    grid = _ordered_grid(positions)
    meas = _measures(members, cons, grid)
    best = meas.min(axis=0)
    for c, b in zip(cons, best):
        c.relaxed = bool(b > c.limit * (1 + _RTOL))
        c.effective = max(c.limit, float(b))
    lim = np.array([c.effective for c in cons]) * (1 + _RTOL)
    ok = (meas <= lim).all(axis=1)
    # measures fall as levels rise, so the all-4 row meets every relaxed limit; should a rule
    # ever break that, take the row closest to meeting them all
    row = int(np.argmax(ok)) if ok.any() else int(np.argmin((meas / lim).max(axis=1)))
    sol.vector = grid[row].copy()
    # one call for the unmitigated row and the vector one level lower in each FR
    probe = np.repeat(sol.vector[None, :], 8, axis=0)
    probe[0] = 0
    for p in range(7):
        probe[p + 1, p] -= 1
    pm = _measures(members, cons, np.maximum(probe, 0))
    for c, u in zip(cons, pm[0]):
        c.unmitigated = float(u)
    for fr, p in FR_INDEX.items():
        if sol.vector[p] > 0:
            sol.drivers[fr] = _binding(sol, p, probe[p + 1], pm[p + 1])
    return sol


def _binding(sol: _Solution, p: int, low: np.ndarray, meas: np.ndarray) -> dict | None:
    """The tolerance that one level less in FR position p breaks most (None: none breaks)."""
    ratio = [
        mv / c.effective if mv > c.effective * (1 + _RTOL) else 0.0
        for mv, c in zip(meas, sol.constraints)
    ]
    j = int(np.argmax(ratio))
    if ratio[j] <= 0:
        return None
    c = sol.constraints[j]
    fr = FRS[p]
    if c.kind == "harm":
        m = sol.members[c.member]
    else:
        m = _top_contributor([m for m in sol.members if m.zone == c.zone], low, fr)
    return {
        "scenario": m.sid,
        "actor": m.actor,
        "rrf": c.unmitigated / c.limit,
        "dimension": c.label,
        "required": int(sol.vector[p]),
        "capability": m.capability,
        "capped": c.relaxed,
    }


def _top_contributor(members: list, vector: np.ndarray, fr: str):
    """The member with the largest ALE at ``vector``, preferring those tagged with ``fr``."""
    best, key = None, None
    for m in members:
        if not m.money:
            continue
        k = (fr in m.frs, m.ale_at(vector))
        if key is None or k > key:
            best, key = m, k
    return best if best is not None else members[0]


# --------------------------------------------------------------------------------------------
# Site-level exceedance on aggregate annual loss
# --------------------------------------------------------------------------------------------


def _derived_site(site: Site, vectors: dict, probes: list[tuple[str, str, int]]) -> Site:
    """The site with zones at ``vectors``, conduits at 0, no countermeasures but ``probes``.

    Each probe (zone, FR, level) becomes a candidate with one ``security_level`` effect.
    """
    from ..io import site_to_dict

    data = site_to_dict(site)
    for z in data["zones"]:
        z["sl_a"] = [int(v) for v in vectors[z["id"]]]
    for c in data.get("conduits", []):
        c.pop("sl_a", None)
    data["countermeasures"] = [
        {
            "id": f"SLT-PROBE-{i}",
            "effects": [{"type": "security_level", "zones": [z], "levels": {fr: int(lv)}}],
        }
        for i, (z, fr, lv) in enumerate(probes)
    ]
    return build_site(RawSite(data=data, file=f"{site.source or site.name} (SL-T check)"))


def _exceedance_check(
    site: Site,
    risk: dict,
    sols: dict,
    trials: int,
    seed: int,
    batch: int = 12,
    max_steps: int | None = None,
) -> tuple[pd.DataFrame, list, dict]:
    """Raise zone levels until the site's exceedance points hold (see the module notes).

    The candidate raises are put in one order by the closed forms (:func:`_sequence`); the
    shortest prefix of that order under which every point holds on the simulated aggregate
    annual loss is found by a bracketing search, each round simulating ``batch`` prefixes
    together with common random numbers.

    Returns
    -------
    table : pandas.DataFrame
        Per point at the final vectors: ``x``, ``p``, ``estimate``, ``se``, ``holds``,
        ``unmitigated`` (the estimate with nothing protecting), ``trials``.
    raises : list of tuple
        (zone, FR, level, (x, p) of the point that failed most, its estimate before the
        raises, its unmitigated estimate), in the order taken.
    vectors : dict
        The final zone vectors.
    """
    from ..engine import simulate_many

    points = [(float(x), float(p)) for x, p in site.tolerance.financial.exceedance]
    base = {z.id: (sols[z.id].vector if z.id in sols else np.full(7, FLOOR)) for z in site.zones}
    seq = _sequence(sols, risk, base, points, max_steps)
    derived = _derived_site(site, base, seq)
    cache: dict[int, list[float]] = {}

    def run(ks):
        todo = sorted({k for k in ks if k not in cache})
        if not todo:
            return
        plans = {f"k{k}": [f"SLT-PROBE-{i}" for i in range(k)] for k in todo}
        if 0 not in cache:
            plans["unmitigated"] = "unmitigated"
        sims = simulate_many(derived, plans, trials=trials, seed=seed)
        for name, sim in sims.items():
            cache[-1 if name == "unmitigated" else int(name[1:])] = _probabilities(sim, points)

    def holds(k):
        return _excess(cache[k], points) <= 0

    n = len(seq)
    run([0, *(_grid(1, n, batch - 1) if n else [])])
    k = 0
    if not holds(0):
        lo, hi = 0, None  # lo fails; hi holds
        while True:
            done = sorted(k for k in cache if k >= 0)
            fails = [k for k in done if not holds(k)]
            oks = [k for k in done if holds(k)]
            lo = max(fails)
            hi = min((k for k in oks if k > lo), default=None)
            if hi is None:  # even every raise is not enough: take them all, flagged below
                k = n
                break
            if hi - lo <= 1:
                k = hi
                break
            run(_grid(lo + 1, hi - 1, batch))
    est, unmit = cache[k], cache[-1]
    worst = max(range(len(points)), key=lambda j: cache[0][j] / points[j][1])
    raises = [(z, fr, lv, points[worst], cache[0][worst], unmit[worst]) for z, fr, lv in seq[:k]]
    vectors = {zid: v.copy() for zid, v in base.items()}
    for z, fr, lv in seq[:k]:
        vectors[z][FR_INDEX[fr]] = max(vectors[z][FR_INDEX[fr]], lv)
    rows = [
        (x, p, q, math.sqrt(q * (1 - q) / trials), q <= p, u, trials)
        for (x, p), q, u in zip(points, est, unmit)
    ]
    cols = ["x", "p", "estimate", "se", "holds", "unmitigated", "trials"]
    return pd.DataFrame(rows, columns=cols), raises, vectors


def _grid(lo: int, hi: int, n: int) -> list[int]:
    """At most n integers from lo to hi (both included), denser near lo."""
    if hi < lo:
        return []
    if hi - lo + 1 <= n:
        return list(range(lo, hi + 1))
    g = np.unique(np.round(np.geomspace(1, hi - lo + 1, n)).astype(int) - 1 + lo)
    return sorted({int(v) for v in g} | {hi})


def _probabilities(sim, points) -> list[float]:
    loss = np.asarray(sim.losses("site")).ravel()
    return [float(np.mean(loss >= x)) for x, _ in points]


def _excess(prob: list[float], points) -> float:
    return float(sum(max(0.0, q - p) / p for q, (_, p) in zip(prob, points)))


def _sequence(sols, risk, base, points, max_steps) -> list[tuple[str, str, int]]:
    """Every useful one-level raise (zone, FR, new level), best first by the closed forms.

    Greedy: each step is the raise with the largest cut in
    Σ_x [Σ_s λ_s G_s(x) + ALE_site / x] / p, the expected number of single events at or above
    x plus the Markov bound E[L]/x on P(L >= x), each over its tolerable probability; after a
    step only that zone's raises are scored again. Raises that cut nothing are left out.
    """
    vec = {z: v.copy() for z, v in base.items()}
    money = {z: [m for m in sol.members if m.money] for z, sol in sols.items()}
    money = {z: ms for z, ms in money.items() if ms}
    positions = {z: sorted({p for m in ms for p in m.rel}) for z, ms in money.items()}

    def score(z, v):
        tail = ale = 0.0
        for m in money[z]:
            ix = m.index(v[None, :])[0]
            lam = float(m.lam[ix])
            ale += float(m.ale[ix])
            for x, p in points:
                tail += lam * float(risk[m.sid].get(f"tail_{x:g}", 0.0)) / p
        return tail + sum(ale / (x * p) for x, p in points)

    def gains(z):
        now = score(z, vec[z])
        out = {}
        for p in positions[z]:
            if vec[z][p] < LEVELS - 1:
                up = vec[z].copy()
                up[p] += 1
                g = now - score(z, up)
                if g > 1e-12 * max(now, 1e-300):
                    out[(z, p)] = g
        return out

    gain: dict = {}
    for z in money:
        gain.update(gains(z))
    seq = []
    limit = math.inf if max_steps is None else int(max_steps)
    while gain and len(seq) < limit:
        (z, p), _ = max(gain.items(), key=lambda t: t[1])
        vec[z][p] += 1
        seq.append((z, FRS[p], int(vec[z][p])))
        for key in [k for k in gain if k[0] == z]:
            del gain[key]
        gain.update(gains(z))
    return seq


# --------------------------------------------------------------------------------------------
# The method
# --------------------------------------------------------------------------------------------


def minimal_levels(site: Site, risk: pd.DataFrame, options: dict) -> dict:
    """SL-T of every zone (and conduit, under ``conduit_rule: entry``) by the minimal method.

    Parameters
    ----------
    site : Site
    risk : pandas.DataFrame
        From :func:`riskkit.levels.methods.scenario_risk` (the decision statistic of each
        rate and the exceedance tails G_s(x)).
    options : dict
        ``conduit_rule``; ``exceedance`` (default True: check the site's exceedance points by
        simulation), ``exceedance_trials`` (default ``model.trials``), ``exceedance_batch``
        (default 12: prefixes of the raise order simulated per round), ``exceedance_steps``
        (default None: no bound on the raises considered).

    Returns
    -------
    dict
        ``zones`` {id: ndarray (7,)}, ``zone_drivers`` {(id, FR): fields or None},
        ``conduits`` and ``conduit_drivers`` (entry rule only), ``flags`` (rows),
        ``exceedance`` (DataFrame or None), ``raises`` (list).
    """
    grid = _Grid(site)
    risk = risk.to_dict("index")
    ale_limit = site.tolerance.financial.per_zone_ale
    by_zone: dict[str, list[str]] = {z.id: [] for z in site.zones}
    for s in site.scenarios:
        by_zone[s.zone].append(s.id)
    sols = {
        zid: _solve(_members(site, risk, grid, "zone", zid, sids), ale_limit)
        for zid, sids in by_zone.items()
    }
    zones = {zid: sol.vector for zid, sol in sols.items()}
    drivers = {(zid, fr): d for zid, sol in sols.items() for fr, d in sol.drivers.items()}
    flags = [f for sol in sols.values() for f in _flag_rows(sol, "zone")]

    table, raises = None, []
    points = site.tolerance.financial.exceedance
    if (
        points
        and options.get("exceedance", True)
        and any(m.money for sol in sols.values() for m in sol.members)
    ):
        trials = rules.check_trials(options.get("exceedance_trials") or site.model.trials)
        batch = max(2, int(options.get("exceedance_batch", 12)))
        steps = options.get("exceedance_steps")
        table, raises, zones = _exceedance_check(
            site, risk, sols, trials, site.model.seed, batch, steps
        )
        for z, fr, lv, (x, p), _q, u in raises:
            m = _top_contributor(sols[z].members, zones[z], fr)
            drivers[(z, fr)] = {
                "scenario": m.sid,
                "actor": m.actor,
                "rrf": u / p,
                "dimension": f"financial:P(L>={x:g})",
                "required": int(lv),
                "capability": m.capability,
                "capped": False,
            }
        for rec in table.itertuples():
            if not rec.holds:
                flags.append(_exceedance_flag(sols, zones, rec))

    out = {"zones": zones, "zone_drivers": drivers, "flags": flags, "exceedance": table}
    out["raises"] = raises
    if options.get("conduit_rule") == "entry":
        by_conduit: dict[str, list[str]] = {c.id: [] for c in site.conduits}
        for s in site.scenarios:
            for c in entries(site, s):
                by_conduit[c].append(s.id)
        csols = {}
        for cid, sids in by_conduit.items():
            members = _members(site, risk, grid, "conduit", cid, sids)
            csols[cid] = _solve_entry(members, ale_limit)
        out["conduits"] = {cid: sol.vector for cid, sol in csols.items()}
        out["conduit_drivers"] = {
            (cid, fr): d for cid, sol in csols.items() for fr, d in sol.drivers.items()
        }
    return out


def _solve_entry(members: list, ale_limit: float | None) -> _Solution:
    """A conduit's least vector: it alone carries the scenarios that enter through it.

    Zones at 0: harm per scenario, and for each zone they target, their ALE within that
    zone's ``per_zone_ale`` (one constraint per target zone, solved jointly).
    """
    return _solve(members, ale_limit)


def _flag_rows(sol: _Solution, kind: str) -> list[dict]:
    """Security PHA Review findings of one zone: its unreachable tolerances."""
    rows = []
    vec = sol.vector[None, :]
    for c in sol.constraints:
        if not c.relaxed:
            continue
        if c.kind == "harm":
            culprits = [sol.members[c.member]]
        else:
            mine = [m for m in sol.members if m.zone == c.zone]
            culprits = _ale_culprits(mine, vec, c.limit)
        for m in culprits:
            rows.append(_flag(m, c, sol.vector))
    return rows


def _ale_culprits(members: list, vec: np.ndarray, limit: float) -> list:
    """The fewest largest contributors whose removal brings the zone's ALE within ``limit``."""
    ales = []
    for m in members:
        if m.money:
            ales.append((m.ale_at(vec[0]), m))
    ales.sort(key=lambda t: -t[0])
    total = sum(a for a, _ in ales)
    out = []
    for a, m in ales:
        if total <= limit * (1 + _RTOL):
            break
        out.append(m)
        total -= a
    return out


def _flag(m, c: _Constraint, vec: np.ndarray) -> dict:
    positions = [FR_INDEX[f] for f in m.frs]
    level = int(min(vec[positions])) if positions else 0
    reason = "capability" if m.capability < LEVELS - 1 else "beyond-sl4"
    resid = c.effective / c.limit
    return {
        "scenario": m.sid,
        "zone": m.zone,
        "actor": m.actor,
        "rrf": c.unmitigated / c.limit,
        "dimension": c.label,
        "required": level,
        "capability": m.capability,
        "residual_rrf": resid,
        "reason": reason,
        "message": (
            f"{m.sid} ({m.zone}): {c.label} cannot be brought within tolerance by security"
            f" levels alone (actor {m.actor}, capability {m.capability}); at the best levels"
            f" it stays {resid:.3g} times the tolerance, which must come from a non-hackable"
            " safeguard or a consequence reduction (Security PHA Review finding)"
        ),
    }


def _exceedance_flag(sols: dict, zones: dict, rec) -> dict:
    top, key = None, None
    for zid, sol in sols.items():
        for m in sol.members:
            if m.money:
                ale = m.ale_at(zones[zid])
                if key is None or ale > key:
                    top, key = m, ale
    label = f"financial:P(L>={rec.x:g})"
    return {
        "scenario": top.sid,
        "zone": top.zone,
        "actor": top.actor,
        "rrf": rec.unmitigated / rec.p,
        "dimension": label,
        "required": LEVELS - 1,
        "capability": top.capability,
        "residual_rrf": rec.estimate / rec.p,
        "reason": "site-exceedance",
        "message": (
            f"the site's P(annual loss >= {rec.x:g}) stays {rec.estimate:.3g} (SE {rec.se:.2g},"
            f" {rec.trials} years) against a tolerance of {rec.p:g} at the SL-T vectors, and no"
            f" further level lowers it; {top.sid} ({top.zone}) carries the largest residual"
            " loss (Security PHA Review finding)"
        ),
    }
