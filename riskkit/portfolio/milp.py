"""Countermeasure portfolios: ranking, attribution, exact optimal plans and frontiers.

MODEL.md section 4 in code. Management chooses a *plan*, a set of candidate countermeasures,
and wants to know what the money buys. This module answers with

- :func:`prioritize`: every candidate's effect on the current state (ΔALE, ΔVaR99, Δ frequency
  of each safety and environment severity class, SL gaps closed, annualised cost, risk
  reduction per cost, ROSI, net present value), sorted by risk reduction per cost;
- :func:`attribution`: a plan's reduction attributed to its members stand-alone, drop-one and
  by Shapley values (only the last sums to the plan's reduction);
- :func:`optimize`: the plan that minimises the expected residual annual loss of the site
  within a budget, solved exactly as a mixed-integer program (HiGHS through
  :func:`scipy.optimize.milp`), honouring exclusive groups, mandatory items and the optional
  constraints ``close_gaps`` and ``meet_tolerance``;
- :func:`greedy`: greedy by marginal risk reduction per cost, plain or with partial
  enumeration, each with its measured gap to the exact optimum;
- :func:`frontier`: the efficient frontier over a range of budgets with the greedy sequence,
  a member x budget grid and a nested frontier (a roadmap where each plan contains the
  previous one);
- :func:`k_best`: the k best plans by expected loss, each simulated afresh for its tail.

The objective
-------------
The expected annual loss of scenario s under plan S has a closed form (MODEL.md section 2,
:func:`riskkit.exposure.expected_scenario`)::

    E[loss_s](S) = λ_s r^-min(L_s(S), c_s) prod_{i in S} f_is  sum_k m_sk prod_{i in S} g_isk

with λ_s the rate of the current state before the SL factor, L_s(S) the protection level
(a min over the scenario's FRs of a max over active levels, so SL effects act in *steps*),
f_is the frequency factors prod(1 - E[e]) and g_isk the consequence factors of category k.
It depends on S only through S ∩ T_s, the candidates touching s
(:func:`riskkit.exposure.touching`). Effects interact multiplicatively and through the SL
steps, so the site's expected loss is not a sum of independent values per candidate, and
rankings are marginal.

Exact formulations (``method``)
-------------------------------
Each scenario is one *block* of the mixed-integer program, formulated in one of three exact
ways; binary x_i says whether candidate i is in the plan.

``subset``
    one continuous variable y_sA per subset A of T_s (subsets breaking an exclusive group
    are left out), with sum_A y_sA = 1 and sum_{A ∋ i} y_sA = x_i: for binary x the y are
    the indicator of S ∩ T_s, and the block's loss sum_A E[loss_s](A) y_sA is exact and
    linear. This is the convex hull of each block, the tightest formulation; its size grows
    as 2^|T_s|, fine up to about 12 candidates per scenario.
``logspace``
    per money category k a variable w_sk >= exp(u_sk) with u_sk = ln E[loss_sk] linear in x
    and in step variables z_sl (protection >= l), imposed by tangent cuts added until the
    chosen plan's tangents are tight (outer approximation): any size.
``product``
    the product is built factor by factor, p_t = p_{t-1} - (1 - φ_t) q_t with q_t = x_t p_{t-1}
    linearised exactly for binary x_t (sequential-product linearisation): any size, weaker
    relaxation.

``auto`` (default) takes ``subset`` for blocks of at most 12 candidates and ``logspace`` for
larger ones; ``enumerate`` tries every plan (at most 22 candidates). Whatever the method, the
chosen plan's objective is recomputed exactly with :func:`riskkit.exposure.expected_losses`,
and if a time limit stops HiGHS, the solver's bound and relative gap are reported.

The zero factors of a reduction of exactly 1 are floored at 1e-12 in ``logspace`` and
``product`` (a relative error of at most 1e-12 of that term); ``subset`` uses them as they are.

References
----------
.. [1] IEC 62443-3-2:2020, clause 4.6 (ZCR 5.8 and 5.9: identify and document
   countermeasures, re-assess residual risk) and clause 4.7 (ZCR 6: cybersecurity
   requirements specification).
.. [2] IEC 62443-3-3:2013, clause 4.3 (SL-T, SL-C and SL-A; security levels per FR).
.. [3] Sonnenreich, W., Albanese, J., Stout, B. (2006). Return on security investment
   (ROSI): a practical quantitative model. *Journal of Research and Practice in
   Information Technology* 38(1), 45-56.
.. [4] Shapley, L. S. (1953). A value for n-person games. In *Contributions to the Theory of
   Games II*, Annals of Mathematics Studies 28, 307-317.
.. [5] Duran, M. A., Grossmann, I. E. (1986). An outer-approximation algorithm for a class
   of mixed-integer nonlinear programs. *Mathematical Programming* 36, 307-339.
.. [6] Sviridenko, M. (2004). A note on maximizing a submodular set function subject to a
   knapsack constraint. *Operations Research Letters* 32(1), 41-43 (greedy with partial
   enumeration).
.. [7] Huangfu, Q., Hall, J. A. J. (2018). Parallelizing the dual revised simplex method.
   *Mathematical Programming Computation* 10, 119-142 (HiGHS).
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from .exposure import expected_losses, expected_scenario
from .rules import (
    FR_INDEX,
    State,
    achieved_levels,
    annualised_cost,
    crf,
    resolve_state,
    scenario_effects,
    touching,
)
from .site import HARM_CATEGORIES, RawSite, Site, build_site

__all__ = [
    "BUDGET_KINDS",
    "CONSTRAINTS",
    "METHODS",
    "InfeasiblePlan",
    "Plan",
    "Ranking",
    "Attribution",
    "Frontier",
    "KBest",
    "plan_costs",
    "evaluate",
    "prioritize",
    "attribution",
    "optimize",
    "greedy",
    "frontier",
    "k_best",
    "synthetic_site",
]

BUDGET_KINDS = ("annualised", "capex")
"""What a budget bounds: the plan's summed annualised cost [currency/yr] or its capex."""

CONSTRAINTS = ("close_gaps", "meet_tolerance", "zone_ale", "harm_frequency")
"""Optional plan constraints; ``meet_tolerance`` is ``zone_ale`` and ``harm_frequency``."""

METHODS = ("auto", "subset", "logspace", "product", "enumerate")
"""Exact formulations of :func:`optimize`."""

SUBSET_MAX = 12
"""Largest block (candidates touching one scenario) that ``auto`` formulates by subsets."""

TABLE_MAX = 16
"""Largest block whose losses are tabulated for every subset (2^16 entries)."""

ENUMERATE_MAX = 22
"""Most candidates ``method='enumerate'`` accepts (2^22 plans)."""

MIP_REL_GAP = 1e-7
"""Relative optimality gap asked of HiGHS (its default, 1e-4, is too loose for 'exact')."""

_FLOOR = 1e-12
_TOL = 1e-9


class InfeasiblePlan(ValueError):
    """No plan satisfies the budget and the constraints; the message says which one fails."""


# --------------------------------------------------------------------------------------------
# The instance: candidates, costs and one exact evaluator block per scenario
# --------------------------------------------------------------------------------------------


@dataclass
class _Block:
    """One scenario's expected loss as a function of the candidates touching it."""

    sid: str
    zone: str
    idx: np.ndarray  # positions of the touching candidates, (m,)
    rate0: float  # [events/yr] in the base state, before the SL factor
    r: float
    cap: int
    fr_base: np.ndarray  # (F,) base level per FR of the scenario (max of zone and entry)
    fr_lev: np.ndarray  # (m, F) candidate levels per FR (0 where none)
    f: np.ndarray  # (m,) frequency factor prod(1 - E[e]) per candidate
    money: np.ndarray  # (K,) [currency/event] per money category, base state
    g: np.ndarray  # (m, K) consequence factors per candidate and category
    harm_p: np.ndarray  # (2,) probability an event reaches the harm, base state
    harm_sev: np.ndarray  # (2,) severity class of safety, environment
    gh: np.ndarray  # (m, 2) harm factors per candidate
    table: np.ndarray | None = None  # (2^m,) loss [currency/yr] per subset code
    harm_table: np.ndarray | None = None  # (2^m, 2) harm rates [events/yr]

    @property
    def m(self) -> int:
        return len(self.idx)

    @property
    def base_level(self) -> int:
        return int(self.fr_base.min())

    def terms(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rate [events/yr], loss per money category [currency/yr] and harm rates per subset.

        ``bits`` is a (P, m) bool array of the touching candidates chosen.
        """
        p = bits.shape[0]
        if self.m:
            lev = np.where(bits[:, :, None], self.fr_lev[None], 0).max(axis=1)
            level = np.maximum(lev, self.fr_base[None]).min(axis=1)
            ff = np.where(bits, self.f[None], 1.0).prod(axis=1)
            gg = np.where(bits[:, :, None], self.g[None], 1.0).prod(axis=1)
            hh = np.where(bits[:, :, None], self.gh[None], 1.0).prod(axis=1)
        else:
            level = np.full(p, self.base_level)
            ff = np.ones(p)
            gg = np.ones((p, len(self.money)))
            hh = np.ones((p, 2))
        rate = self.rate0 * float(self.r) ** (-np.minimum(level, self.cap)) * ff
        return rate, rate[:, None] * gg * self.money[None], rate[:, None] * self.harm_p * hh

    def evaluate(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected loss [currency/yr] (P,) and harm rates [events/yr] (P, 2) per subset."""
        _, loss, harm = self.terms(bits)
        return loss.sum(axis=1), harm

    def tabulate(self) -> None:
        """Fill :attr:`table` and :attr:`harm_table` for every subset of the block."""
        codes = np.arange(2**self.m)
        bits = ((codes[:, None] >> np.arange(self.m)) & 1).astype(bool)
        self.table, self.harm_table = self.evaluate(bits)


def _cost_kind(kind: str) -> str:
    if kind not in BUDGET_KINDS:
        raise ValueError(
            f"budget_kind must be one of {', '.join(BUDGET_KINDS)}, {kind!r} was given"
        )
    return kind


class _Instance:
    """Candidates (not in the base plan), their costs and one :class:`_Block` per scenario."""

    def __init__(self, site: Site, base: Iterable[str] = ()):
        self.site = site
        self.base = tuple(dict.fromkeys(base))
        self.state = resolve_state(site, "current", self.base)
        active = set(self.state.active)
        cands = [c for c in site.candidates if c.id not in active]
        self.ids = [c.id for c in cands]
        self.pos = {c: i for i, c in enumerate(self.ids)}
        self.n = len(self.ids)
        self.names = [c.name or c.id for c in cands]
        self.costs = {
            "annualised": np.array([annualised_cost(site, c.id) for c in cands], dtype=float),
            "capex": np.array([c.cost.capex for c in cands], dtype=float),
        }
        self.opex = np.array([c.cost.opex for c in cands], dtype=float)
        self.lifetime = np.array([c.cost.lifetime_years for c in cands], dtype=float)
        self.mandatory = np.array([c.mandatory for c in cands], dtype=bool)
        # exclusive groups among the candidates; a group already used by an active
        # countermeasure excludes its remaining members
        groups: dict[str, list[int]] = {}
        for i, c in enumerate(cands):
            if c.exclusive_group:
                groups.setdefault(c.exclusive_group, []).append(i)
        used = {
            site.countermeasure(a).exclusive_group
            for a in active
            if site.countermeasure(a).exclusive_group
        }
        self.blocked = np.zeros(self.n, dtype=bool)
        for g in used:
            for i in groups.pop(g, []):
                self.blocked[i] = True
        self.groups = {g: np.array(v) for g, v in groups.items() if len(v) > 1}
        self.group_of = np.full(self.n, -1)
        for k, v in enumerate(self.groups.values()):
            self.group_of[v] = k

        zones, conduits = achieved_levels(site, self.state)
        cand_levels = {
            c: achieved_levels(site, State("plan", (c,), (c,), baseline=False)) for c in self.ids
        }
        self.blocks: list[_Block] = []
        for s in site.scenarios:
            self.blocks.append(self._block(s, zones, conduits, cand_levels))
        self.zones = [z.id for z in site.zones]
        self.block_zone = np.array([self.zones.index(b.zone) for b in self.blocks], dtype=int)
        self.baseline_ale = float(
            sum(b.table[0] if b.table is not None else 0 for b in self.blocks)
        )
        if any(b.table is None for b in self.blocks):
            self.baseline_ale = float(self.total(np.zeros((1, self.n), dtype=bool))[0])
        self.scale = self.baseline_ale if self.baseline_ale > 0 else 1.0
        self._flat = None

    # -- construction ------------------------------------------------------------------------
    def _block(self, s, zones, conduits, cand_levels) -> _Block:
        site = self.site
        cur = expected_scenario(site, s, self.state, (zones, conduits))
        tids = [c for c in touching(site, s) if c in self.pos]
        idx = np.array([self.pos[c] for c in tids], dtype=int)
        fr = [FR_INDEX[f] for f in s.frs]

        def per_fr(z, e):
            ze = z[s.zone]
            ee = e[s.entry] if s.entry else np.zeros(7, dtype=int)
            return np.maximum(ze, ee)[fr]

        fr_base = per_fr(zones, conduits)
        fr_lev = np.array([per_fr(*cand_levels[c]) for c in tids], dtype=int).reshape(
            len(tids), len(fr)
        )
        cats = list(s.consequences.money())
        money = np.array([cur[f"money_{k}"] for k in cats], dtype=float)
        f = np.ones(len(tids))
        g = np.ones((len(tids), len(cats)))
        gh = np.ones((len(tids), 2))
        for j, c in enumerate(tids):
            eff = scenario_effects(site, s, [c])
            for _, d in eff.frequency:
                f[j] *= 1 - d.mean()
            for k, cat in enumerate(cats):
                for _, d in eff.consequence.get(cat, []):
                    g[j, k] *= 1 - d.mean()
            for h, cat in enumerate(HARM_CATEGORIES):
                for _, d in eff.consequence.get(cat, []):
                    gh[j, h] *= 1 - d.mean()
        base_eff = scenario_effects(site, s, self.state.active)
        harm_p = np.zeros(2)
        harm_sev = np.zeros(2, dtype=int)
        for h, cat in enumerate(HARM_CATEGORIES):
            rec = getattr(s.consequences, cat)
            if rec is not None and rec.severity > 0:
                p = rec.probability
                for _, d in base_eff.consequence.get(cat, []):
                    p *= 1 - d.mean()
                harm_p[h] = p
                harm_sev[h] = rec.severity
        blk = _Block(
            sid=s.id,
            zone=s.zone,
            idx=idx,
            rate0=cur["base_rate"] * cur["freq_factor"],
            r=float(site.model.sl_reduction_per_level),
            cap=int(cur["capability"]),
            fr_base=np.asarray(fr_base, dtype=int),
            fr_lev=fr_lev,
            f=f,
            money=money,
            g=g,
            harm_p=harm_p,
            harm_sev=harm_sev,
            gh=gh,
        )
        if blk.m <= TABLE_MAX:
            blk.tabulate()
        return blk

    # -- evaluation ----------------------------------------------------------------------------
    def cost(self, kind: str) -> np.ndarray:
        return self.costs[_cost_kind(kind)]

    def mask(self, members: Iterable[str]) -> np.ndarray:
        x = np.zeros(self.n, dtype=bool)
        for c in members:
            if c in self.pos:
                x[self.pos[c]] = True
            elif c not in self.base:
                known = ", ".join(self.ids) or "none"
                raise ValueError(f"{c!r} is not a candidate countermeasure; candidates: {known}")
        return x

    def members(self, x: np.ndarray) -> tuple[str, ...]:
        return tuple(self.ids[i] for i in np.flatnonzero(x))

    def block_values(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Loss (P, B) [currency/yr] and harm rates (P, B, 2) [events/yr] of plans (P, n)."""
        x = np.atleast_2d(np.asarray(x, dtype=bool))
        p = x.shape[0]
        loss = np.empty((p, len(self.blocks)))
        harm = np.empty((p, len(self.blocks), 2))
        for b, blk in enumerate(self.blocks):
            bits = x[:, blk.idx]
            if blk.table is not None:
                code = bits.astype(np.int64) @ (1 << np.arange(blk.m, dtype=np.int64))
                loss[:, b] = blk.table[code]
                harm[:, b] = blk.harm_table[code]
            else:
                loss[:, b], harm[:, b] = blk.evaluate(bits)
        return loss, harm

    def total(self, x: np.ndarray) -> np.ndarray:
        """Expected site loss [currency/yr] of plans (P, n)."""
        return self.block_values(x)[0].sum(axis=1)

    # -- greedy machinery: codes of every block, marginal gains ------------------------------
    def flat(self):
        """Concatenated tables and (block, candidate, bit) pairs for vectorised gains."""
        if self._flat is None:
            tabbed = [b for b, blk in enumerate(self.blocks) if blk.table is not None]
            off = np.zeros(len(self.blocks), dtype=np.int64)
            chunks, pos = [], 0
            for b in tabbed:
                off[b] = pos
                chunks.append(self.blocks[b].table)
                pos += len(self.blocks[b].table)
            tab = np.concatenate(chunks) if chunks else np.zeros(0)
            pb, pc, pbit = [], [], []
            for b in tabbed:
                blk = self.blocks[b]
                pb += [b] * blk.m
                pc += list(blk.idx)
                pbit += [1 << j for j in range(blk.m)]
            pb, pc, pbit = (np.array(v, dtype=np.int64) for v in (pb, pc, pbit))
            inc = sparse.csr_matrix(
                (np.ones(len(pc)), (np.arange(len(pc)), pc)), shape=(len(pc), self.n)
            )
            big = [b for b, blk in enumerate(self.blocks) if blk.table is None]
            self._flat = (tab, off, pb, pc, pbit, inc, big)
        return self._flat

    @property
    def bitmat(self) -> np.ndarray:
        """(n, B) bit of each candidate in each tabulated block's subset code (0 if none)."""
        if getattr(self, "_bitmat", None) is None:
            tab, off, pb, pc, pbit, inc, big = self.flat()
            bm = np.zeros((self.n, len(self.blocks)), dtype=np.int64)
            bm[pc, pb] = pbit
            self._bitmat = bm
        return self._bitmat

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Subset code of every block (P, B) for plans (P, n); 0 for untabulated blocks."""
        x = np.atleast_2d(x)
        out = np.zeros((x.shape[0], len(self.blocks)), dtype=np.int64)
        for b, blk in enumerate(self.blocks):
            if blk.table is not None and blk.m:
                out[:, b] = x[:, blk.idx].astype(np.int64) @ (1 << np.arange(blk.m))
        return out

    def gains(self, x: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Reduction of expected loss [currency/yr] from adding each candidate, (P, n)."""
        tab, off, pb, pc, pbit, inc, big = self.flat()
        cur = codes[:, pb]
        vals = tab[off[pb] + cur] - tab[off[pb] + (cur | pbit)]
        g = np.asarray(inc.T @ vals.T).T if len(pb) else np.zeros((x.shape[0], self.n))
        for b in big:
            blk = self.blocks[b]
            bits = x[:, blk.idx]
            now, _ = blk.evaluate(bits)
            for j, i in enumerate(blk.idx):
                alt = bits.copy()
                alt[:, j] = True
                g[:, i] += now - blk.evaluate(alt)[0]
        return g


_CACHE: OrderedDict = OrderedDict()


def _instance(site: Site, base: Iterable[str] = ()) -> _Instance:
    """The instance of a site and base plan, cached while the site keeps its content."""
    base = tuple(dict.fromkeys(base))
    key = (id(site), base, hash(site.model_dump_json()))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is site:
        _CACHE.move_to_end(key)
        return hit[1]
    inst = _Instance(site, base)
    _CACHE[key] = (site, inst)
    while len(_CACHE) > 4:
        _CACHE.popitem(last=False)
    return inst


# --------------------------------------------------------------------------------------------
# Constraints: SL gaps and tolerances
# --------------------------------------------------------------------------------------------


@dataclass
class _Gap:
    kind: str
    id: str
    fr: str
    sl_t: int
    sl_a: int
    closers: np.ndarray  # candidate positions whose level reaches sl_t

    def label(self) -> str:
        return f"{self.kind} {self.id} {self.fr} (SL-A {self.sl_a} < SL-T {self.sl_t})"


def _constraints(cons: Iterable[str] | str | None) -> tuple[str, ...]:
    if cons is None:
        return ()
    if isinstance(cons, str):
        cons = [cons]
    out = []
    for c in cons:
        if c not in CONSTRAINTS:
            raise ValueError(f"unknown constraint {c!r}; constraints are: {', '.join(CONSTRAINTS)}")
        if c == "meet_tolerance":
            out += ["zone_ale", "harm_frequency"]
        else:
            out.append(c)
    return tuple(dict.fromkeys(out))


class _Rules:
    """The constraints of one problem in evaluable form."""

    def __init__(self, inst: _Instance, cons: tuple[str, ...], targets=None):
        self.inst = inst
        self.cons = cons
        self.gaps: list[_Gap] = []
        if "close_gaps" in cons:
            self.gaps = _gap_items(inst, targets)
        site = inst.site
        self.zone_tol: dict[int, float] = {}
        if "zone_ale" in cons:
            tol = site.tolerance.financial.per_zone_ale
            if tol is None:
                raise InfeasiblePlan(
                    "the constraint zone_ale (meet_tolerance) needs tolerance.financial."
                    "per_zone_ale in the site file, and it is not given"
                )
            present = set(inst.block_zone)
            self.zone_tol = {z: float(tol) for z in sorted(present)}
        self.harm_tol = np.full((len(inst.blocks), 2), np.inf)
        if "harm_frequency" in cons:
            for b, blk in enumerate(inst.blocks):
                for h, cat in enumerate(HARM_CATEGORIES):
                    sev = blk.harm_sev[h]
                    table = getattr(site.tolerance, cat)
                    lim = [table[k] for k in range(1, sev + 1) if k in table]
                    if sev > 0 and lim and blk.harm_p[h] > 0:
                        self.harm_tol[b, h] = min(lim)

    def violations(self, x: np.ndarray) -> list[str]:
        """What a single plan (n,) breaks, as readable messages."""
        inst = self.inst
        out = []
        x = np.asarray(x, dtype=bool)
        for gap in self.gaps:
            if not x[gap.closers].any():
                out.append(f"SL gap open: {gap.label()}")
        if self.zone_tol or np.isfinite(self.harm_tol).any():
            loss, harm = inst.block_values(x[None])
            for z, tol in self.zone_tol.items():
                ale = loss[0, inst.block_zone == z].sum()
                if ale > tol * (1 + 1e-9):
                    out.append(
                        f"zone {inst.zones[z]} expected loss {_fmt(ale)} above its tolerance"
                        f" {_fmt(tol)} [{inst.site.currency}/yr]"
                    )
            over = harm[0] > self.harm_tol * (1 + 1e-9)
            for b, h in zip(*np.nonzero(over)):
                blk = inst.blocks[b]
                out.append(
                    f"scenario {blk.sid} {HARM_CATEGORIES[h]} severity {blk.harm_sev[h]}"
                    f" frequency {harm[0, b, h]:.3g}/yr above its tolerance"
                    f" {self.harm_tol[b, h]:.3g}/yr"
                )
        return out

    def feasible(self, x: np.ndarray) -> np.ndarray:
        """Whether plans (P, n) satisfy the constraints (not budget or groups), (P,)."""
        x = np.atleast_2d(np.asarray(x, dtype=bool))
        ok = np.ones(x.shape[0], dtype=bool)
        for gap in self.gaps:
            ok &= x[:, gap.closers].any(axis=1)
        if self.zone_tol or np.isfinite(self.harm_tol).any():
            loss, harm = self.inst.block_values(x)
            for z, tol in self.zone_tol.items():
                ok &= loss[:, self.inst.block_zone == z].sum(axis=1) <= tol * (1 + 1e-9)
            ok &= (harm <= self.harm_tol[None] * (1 + 1e-9)).all(axis=(1, 2))
        return ok


def _gap_items(inst: _Instance, targets=None) -> list[_Gap]:
    """Open SL gaps of the base state and the candidates that close each one."""
    from .levels import gaps as level_gaps

    site = inst.site
    g = level_gaps(site, targets, state="current", plan=inst.base or None)
    tab = g.table[g.table["gap"] > 0]
    closers = g.closers[g.closers["closes"]] if len(g.closers) else g.closers
    out = []
    for _, row in tab.iterrows():
        key = (row["kind"], row["id"], row["fr"])
        if len(closers):
            hit = closers[
                (closers["kind"] == key[0]) & (closers["id"] == key[1]) & (closers["fr"] == key[2])
            ]
            cids = [c for c in hit["countermeasure"] if c in inst.pos]
        else:
            cids = []
        out.append(
            _Gap(
                key[0],
                key[1],
                key[2],
                int(row["sl_t"]),
                int(row["sl_a"]),
                np.array([inst.pos[c] for c in cids], dtype=int),
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# The mixed-integer program
# --------------------------------------------------------------------------------------------


@dataclass
class _Term:
    """One money term exp(u) of a ``logspace`` block, bounded below by tangent cuts on w."""

    block: int
    k: int
    w: int
    u0: float
    cols: np.ndarray
    coefs: np.ndarray
    W: float = 1.0  # w is measured in units of exp(u0), the term's largest value
    points: list = field(default_factory=list)


@dataclass
class _Solved:
    x: np.ndarray | None
    status: str
    value: float  # exact objective of x [currency/yr or currency]
    bound: float
    gap: float
    seconds: float
    iterations: int
    message: str = ""


class _MIP:
    """One problem as a mixed-integer program; the budget and x bounds change per solve."""

    def __init__(
        self,
        inst: _Instance,
        rules: _Rules,
        cost_kind: str,
        method: str = "auto",
        large: str = "logspace",
    ):
        if method not in METHODS or method == "enumerate":
            raise ValueError(f"method must be one of {', '.join(METHODS)}, {method!r} was given")
        self.inst, self.rules = inst, rules
        self.cost_kind, self.requested = cost_kind, method
        self.cost = inst.cost(cost_kind)
        self.scale = inst.scale
        self._lb: list = []
        self._ub: list = []
        self._int: list = []
        self._obj: list = []
        self._R: list = []
        self._C: list = []
        self._V: list = []
        self.rlo: list = []
        self.rhi: list = []
        self.ncols = 0
        self.nrows = 0
        self._A = None
        self.terms: list[_Term] = []
        self.kinds: dict[str, int] = {}
        n = inst.n
        self.x = self._cols(n, 0.0, np.where(inst.blocked, 0.0, 1.0), 1, 0.0)
        self.cost_scale = max(float(self.cost.sum()), 1.0)
        self.budget_row = self._row(self.x, self.cost / self.cost_scale, -np.inf, np.inf)
        for members in inst.groups.values():
            self._row(members, np.ones(len(members)), -np.inf, 1.0)
        for gap in rules.gaps:
            if len(gap.closers):
                self._row(gap.closers, np.ones(len(gap.closers)), 1.0, np.inf)
        self.expr: list[tuple[np.ndarray, np.ndarray, float]] = []
        for b, blk in enumerate(inst.blocks):
            kind = method
            if method == "auto":
                kind = "subset" if blk.m <= SUBSET_MAX else large
            if kind == "subset" and blk.m > TABLE_MAX:
                raise ValueError(
                    f"method 'subset' handles at most {TABLE_MAX} candidates per scenario;"
                    f" {blk.sid} is touched by {blk.m}: use 'auto', 'logspace' or 'product'"
                )
            if blk.m == 0:
                kind = "constant"
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            self.expr.append(getattr(self, f"_{kind}")(b, blk))
        for z, tol in rules.zone_tol.items():
            cols, vals, const = self._sum_expr(np.flatnonzero(inst.block_zone == z))
            self._row(cols, vals, -np.inf, tol / self.scale - const)
        self.lb = np.concatenate(self._lb)
        self.ub = np.concatenate(self._ub)
        self.integ = np.concatenate(self._int)
        self.obj = np.concatenate(self._obj)

    @property
    def method(self) -> str:
        used = [k for k in ("subset", "logspace", "product") if self.kinds.get(k)]
        return used[0] if len(used) == 1 else ("+".join(used) if used else "constant")

    # -- building ----------------------------------------------------------------------------
    def _cols(self, k, lb, ub, integ, obj) -> np.ndarray:
        start = self.ncols
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (k,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (k,)).copy())
        self._int.append(np.full(k, integ, dtype=np.uint8))
        self._obj.append(np.broadcast_to(np.asarray(obj, dtype=float), (k,)).copy())
        self.ncols += k
        return np.arange(start, start + k)

    def _row(self, cols, vals, lo, hi) -> int:
        cols = np.asarray(cols, dtype=np.int64)
        self._R.append(np.full(len(cols), self.nrows, dtype=np.int64))
        self._C.append(cols)
        self._V.append(np.asarray(vals, dtype=float))
        self.rlo.append(float(lo))
        self.rhi.append(float(hi))
        self.nrows += 1
        self._A = None
        return self.nrows - 1

    def matrix(self):
        if self._A is None:
            self._A = sparse.csr_matrix(
                (np.concatenate(self._V), (np.concatenate(self._R), np.concatenate(self._C))),
                shape=(self.nrows, self.ncols),
            )
        return self._A

    def _sum_expr(self, blocks) -> tuple[np.ndarray, np.ndarray, float]:
        cols = [self.expr[b][0] for b in blocks]
        vals = [self.expr[b][1] for b in blocks]
        const = float(sum(self.expr[b][2] for b in blocks))
        if not cols:
            return np.zeros(0, dtype=np.int64), np.zeros(0), const
        return np.concatenate(cols), np.concatenate(vals), const

    def _allowed(self, blk: _Block, bits: np.ndarray, b: int) -> np.ndarray:
        inst = self.inst
        ok = np.ones(len(bits), dtype=bool)
        gof = inst.group_of[blk.idx]
        for g in np.unique(gof[gof >= 0]):
            ok &= bits[:, gof == g].sum(axis=1) <= 1
        ok &= ~bits[:, inst.blocked[blk.idx]].any(axis=1)
        ok &= bits[:, inst.mandatory[blk.idx]].all(axis=1)
        return ok

    def _constant(self, b, blk):
        loss, harm = blk.evaluate(np.zeros((1, 0), dtype=bool))
        return np.zeros(0, dtype=np.int64), np.zeros(0), float(loss[0]) / self.scale

    def _subset(self, b, blk):
        codes = np.arange(2**blk.m)
        bits = ((codes[:, None] >> np.arange(blk.m)) & 1).astype(bool)
        ok = self._allowed(blk, bits, b)
        ok &= (blk.harm_table <= self.rules.harm_tol[b] * (1 + 1e-9)).all(axis=1)
        if not ok.any():
            raise InfeasiblePlan(_harm_message(self.inst, self.rules, b))
        codes, bits = codes[ok], bits[ok]
        coef = blk.table[codes] / self.scale
        y = self._cols(len(codes), 0.0, 1.0, 0, coef)
        self._row(y, np.ones(len(y)), 1.0, 1.0)
        for j, i in enumerate(blk.idx):
            sel = y[bits[:, j]]
            self._row(np.append(sel, i), np.append(np.ones(len(sel)), -1.0), 0.0, 0.0)
        return y, coef, 0.0

    def _steps(self, blk: _Block, integer: bool):
        """Step variables z_l = [protection >= l] for the levels the candidates can add."""
        l0 = min(blk.base_level, blk.cap)
        usable = ~self.inst.blocked[blk.idx]
        top = blk.fr_lev[usable].max(axis=0) if usable.any() else np.zeros(len(blk.fr_base))
        lmax = min(int(np.maximum(blk.fr_base, top).min()), blk.cap)
        levels = list(range(l0 + 1, lmax + 1))
        z = self._cols(len(levels), 0.0, 1.0, int(integer), 0.0)
        for t, lvl in enumerate(levels):
            for k in range(len(blk.fr_base)):
                if blk.fr_base[k] >= lvl:
                    continue
                who = blk.idx[(blk.fr_lev[:, k] >= lvl) & usable]
                self._row(np.append(z[t], who), np.append(1.0, -np.ones(len(who))), -np.inf, 0)
            if t:
                self._row([z[t], z[t - 1]], [1.0, -1.0], -np.inf, 0.0)
        return z, l0

    def _harm_rows(self, b, blk, z, l0):
        lnr = math.log(blk.r)
        for h in range(2):
            tol = self.rules.harm_tol[b, h]
            if not np.isfinite(tol) or blk.harm_p[h] <= 0 or blk.rate0 <= 0:
                continue
            coef = np.log(np.maximum(blk.f * blk.gh[:, h], _FLOOR))
            cols = np.concatenate([blk.idx, z])
            vals = np.concatenate([coef, -lnr * np.ones(len(z))])
            const = math.log(blk.rate0 * blk.harm_p[h]) - lnr * l0
            keep = vals != 0
            if not keep.any():
                if const > math.log(tol) + 1e-9:
                    raise InfeasiblePlan(_harm_message(self.inst, self.rules, b))
                continue
            self._row(cols[keep], vals[keep], -np.inf, math.log(tol) - const + 1e-9)

    def _logspace(self, b, blk):
        z, l0 = self._steps(blk, integer=False)
        self._harm_rows(b, blk, z, l0)
        lnr = math.log(blk.r)
        cols_out, vals_out, const = [], [], 0.0
        lf = np.log(np.maximum(blk.f, _FLOOR))
        for k in range(len(blk.money)):
            if blk.money[k] <= 0 or blk.rate0 <= 0:
                continue
            u0 = math.log(blk.rate0 * blk.money[k] / self.scale) - lnr * l0
            coefs = np.concatenate(
                [lf + np.log(np.maximum(blk.g[:, k], _FLOOR)), -lnr * np.ones(len(z))]
            )
            cols = np.concatenate([blk.idx, z])
            keep = coefs != 0
            cols, coefs = cols[keep], coefs[keep]
            if not len(cols):
                const += math.exp(u0)
                continue
            W = math.exp(u0)
            w = self._cols(1, 0.0, np.inf, 0, W)[0]
            term = _Term(b, k, int(w), u0, cols, coefs, W)
            umin = u0 + coefs[coefs < 0].sum()
            for a in np.linspace(umin, u0, 6):
                self._cut(term, float(a))
            self.terms.append(term)
            cols_out.append([w])
            vals_out.append([W])
        if not cols_out:
            return np.zeros(0, dtype=np.int64), np.zeros(0), const
        return np.concatenate(cols_out), np.concatenate(vals_out), const

    def _cut(self, term: _Term, a: float) -> None:
        """Tangent of exp at a: W w >= e^a (1 + u - a)."""
        ea = math.exp(a) / term.W
        self._row(
            np.append(term.w, term.cols),
            np.append(1.0, -ea * term.coefs),
            ea * (1 + term.u0 - a),
            np.inf,
        )
        term.points.append(a)

    def _product(self, b, blk):
        z, l0 = self._steps(blk, integer=True)
        self._harm_rows(b, blk, z, l0)
        cols_out, vals_out, const = [], [], 0.0
        for k in range(len(blk.money)):
            if blk.money[k] <= 0 or blk.rate0 <= 0:
                continue
            p0 = blk.rate0 * float(blk.r) ** (-l0) * blk.money[k] / self.scale
            phi = np.maximum(blk.f * blk.g[:, k], _FLOOR)
            chain = [(int(i), float(v)) for i, v in zip(blk.idx, phi) if v < 1]
            chain += [(int(zz), 1.0 / blk.r) for zz in z]
            prev = None  # p and q are measured in units of p0
            for var, ph in chain:
                p, q = self._cols(2, 0.0, 1.0, 0, 0.0)
                if prev is None:
                    self._row([p, q], [1.0, 1 - ph], 1.0, 1.0)
                else:
                    self._row([p, prev, q], [1.0, -1.0, 1 - ph], 0.0, 0.0)
                    self._row([q, prev], [1.0, -1.0], -np.inf, 0.0)
                self._row([q, var], [1.0, -1.0], -np.inf, 0.0)
                prev = p
            if prev is None:
                const += p0
            else:
                self._obj[-1][-2] = p0  # the last p of the chain carries the loss
                cols_out.append([prev])
                vals_out.append([p0])
        if not cols_out:
            return np.zeros(0, dtype=np.int64), np.zeros(0), const
        return np.concatenate(cols_out), np.concatenate(vals_out), const

    # -- solving -----------------------------------------------------------------------------
    def objective(self, blocks=None, cost_weight: float = 0.0):
        """Objective vector and constant over ``blocks`` (all by default) plus a cost term."""
        if blocks is None:
            c = self.obj.copy()
            const = float(sum(e[2] for e in self.expr))
        else:
            c = np.zeros(self.ncols)
            cols, vals, const = self._sum_expr(blocks)
            np.add.at(c, cols, vals)
        if cost_weight:
            c[self.x] += cost_weight * self.cost
        return c, const

    def solve(
        self,
        budget: float = np.inf,
        lo_x: np.ndarray | None = None,
        hi_x: np.ndarray | None = None,
        time_limit: float | None = None,
        blocks=None,
        cost_weight: float = 0.0,
        loss_weight: float = 1.0,
        max_iter: int = 100,
    ) -> _Solved:
        """Solve with the budget row <= ``budget``; the exact objective of the plan found.

        The objective is ``loss_weight`` x (expected loss of ``blocks``) / scale +
        ``cost_weight`` x cost; ``value`` and ``bound`` are returned in the same units times
        scale for the loss part.
        """
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be > 0 [s], {time_limit!r} was given")
        inst = self.inst
        t0 = time.perf_counter()
        if inst.n == 0:
            # no candidates: the empty plan is the only plan (HiGHS rejects an empty program)
            value = loss_weight * float(inst.total(np.zeros((1, 0), dtype=bool))[0])
            return _Solved(np.zeros(0, dtype=bool), "optimal", value, value, 0.0, 0.0, 0)
        c, const = self.objective(blocks)
        c = c * loss_weight
        const *= loss_weight
        if cost_weight:
            c[self.x] += cost_weight * self.cost
        lb, ub = self.lb.copy(), self.ub.copy()
        if lo_x is not None:
            lb[self.x] = np.maximum(lb[self.x], lo_x)
        lb[self.x] = np.maximum(lb[self.x], inst.mandatory.astype(float))
        if hi_x is not None:
            ub[self.x] = np.minimum(ub[self.x], hi_x)
        if (lb > ub).any():
            return _Solved(None, "infeasible", np.inf, np.inf, np.nan, 0.0, 0)
        rhi = np.array(self.rhi)
        rhi[self.budget_row] = (
            (budget * (1 + 1e-12) + 1e-9) / self.cost_scale if np.isfinite(budget) else np.inf
        )
        active = self._active_terms(blocks if loss_weight else [])
        best_x, best_val, bound, status, it = None, np.inf, -np.inf, "optimal", 0
        bmask = None if blocks is None else np.isin(np.arange(len(inst.blocks)), blocks)
        for it in range(1, max_iter + 1):
            opts = {"mip_rel_gap": MIP_REL_GAP, "presolve": True}
            if time_limit is not None:
                left = time_limit - (time.perf_counter() - t0)
                if left <= 0:
                    status = "time_limit"
                    break
                opts["time_limit"] = left
            A = self.matrix()
            rlo = np.array(self.rlo)
            if len(rhi) < self.nrows:
                rhi = np.concatenate([rhi, np.array(self.rhi[len(rhi) :])])
            res = milp(
                c,
                integrality=self.integ,
                bounds=Bounds(lb, ub),
                constraints=LinearConstraint(A, rlo, rhi),
                options=opts,
            )
            if res.status == 2:
                if best_x is None:
                    return _Solved(
                        None,
                        "infeasible",
                        np.inf,
                        np.inf,
                        np.nan,
                        time.perf_counter() - t0,
                        it,
                        res.message,
                    )
                break
            if res.x is None:
                status = "time_limit" if res.status == 1 else "error"
                bnd = getattr(res, "mip_dual_bound", None)
                if bnd is not None and np.isfinite(bnd):
                    bound = max(bound, (bnd + const))
                break
            x = res.x[self.x] > 0.5
            loss, _ = inst.block_values(x[None])
            lv = loss[0] if bmask is None else loss[0] * bmask
            val = loss_weight * lv.sum() / self.scale + cost_weight * float(self.cost @ x)
            feasible = not self.rules.violations(x)
            if feasible and val < best_val:
                best_x, best_val = x, val
            bnd = getattr(res, "mip_dual_bound", None)
            if bnd is not None and np.isfinite(bnd):
                bound = max(bound, bnd + const)
            if res.status != 0:
                status = "time_limit" if res.status == 1 else "error"
                break
            added = self._add_cuts(res.x, x, active)
            if not added:
                break
            if best_x is not None and best_val - bound <= MIP_REL_GAP * max(abs(best_val), 1e-12):
                break
        else:
            status = "iteration_limit"
        seconds = time.perf_counter() - t0
        if best_x is None:
            return _Solved(
                None,
                status if status != "optimal" else "infeasible",
                np.inf,
                bound * self.scale,
                np.nan,
                seconds,
                it,
            )
        scale = self.scale
        value = best_val * scale
        bound_c = min(bound, best_val) * scale if np.isfinite(bound) else -np.inf
        gap = (value - bound_c) / abs(value) if value else 0.0
        if status == "optimal" and gap > 10 * MIP_REL_GAP:
            status = "gap"
        return _Solved(best_x, status, value, bound_c, max(gap, 0.0), seconds, it)

    def _active_terms(self, blocks) -> list[_Term]:
        if not self.terms:
            return []
        keep = set(range(len(self.inst.blocks))) if blocks is None else set(blocks)
        zones = set(self.rules.zone_tol)
        return [t for t in self.terms if t.block in keep or self.inst.block_zone[t.block] in zones]

    def _add_cuts(self, sol: np.ndarray, x: np.ndarray, terms: list[_Term]) -> int:
        """Tangent cuts where a term's w lies below exp(u) at the solution."""
        added = 0
        if not terms:
            return 0
        vals = {}
        for t in terms:
            blk = self.inst.blocks[t.block]
            if t.block not in vals:
                vals[t.block] = blk.terms(x[blk.idx][None])[1][0] / self.scale
            true = vals[t.block][t.k]
            w = sol[t.w] * t.W
            u_mip = t.u0 + float(t.coefs @ sol[t.cols])
            for u in {math.log(true) if true > 0 else None, u_mip}:
                if u is None:
                    continue
                target = math.exp(u)
                if w < target * (1 - 1e-9) - 1e-15 and not any(
                    abs(u - a) < 1e-12 for a in t.points
                ):
                    self._cut(t, u)
                    added += 1
        return added


def _harm_message(inst: _Instance, rules: _Rules, b: int) -> str:
    blk = inst.blocks[b]
    best = np.inf
    which = "its harm"
    for h, cat in enumerate(HARM_CATEGORIES):
        if np.isfinite(rules.harm_tol[b, h]):
            which = f"{cat} severity {blk.harm_sev[h]}"
            if blk.harm_table is not None:
                best = blk.harm_table[:, h].min()
            break
    lim = rules.harm_tol[b][np.isfinite(rules.harm_tol[b])]
    tol = float(lim.min()) if len(lim) else np.nan
    got = f" (at best {best:.3g}/yr with every candidate)" if np.isfinite(best) else ""
    return (
        f"scenario {blk.sid} in zone {blk.zone} cannot meet its tolerance for {which}:"
        f" tolerable {tol:.3g}/yr{got}; the constraint harm_frequency (meet_tolerance)"
        " cannot be met by any plan"
    )


# --------------------------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------------------------


def plan_costs(site: Site, plan: Iterable[str] | None = None) -> pd.DataFrame:
    """Cost of each candidate (or of a plan's members), with the capital recovery factor.

    Annualised cost = capex x CRF + opex with CRF = i(1+i)^n / ((1+i)^n - 1), i the site's
    ``discount_rate`` and n the countermeasure's ``lifetime_years`` (MODEL.md section 4).

    Parameters
    ----------
    site : Site
    plan : iterable of str, optional
        Countermeasure ids; every candidate by default.

    Returns
    -------
    pandas.DataFrame
        Index ``countermeasure``; columns ``name``, ``capex`` [currency], ``opex``
        [currency/yr], ``lifetime_years`` [yr], ``crf`` [1/yr], ``annualised_cost``
        [currency/yr], ``exclusive_group``, ``mandatory``.
    """
    ids = [c.id for c in site.candidates] if plan is None else list(dict.fromkeys(plan))
    rows = []
    i = site.model.discount_rate
    for cid in ids:
        cm = site.countermeasure(cid)
        rows.append(
            {
                "countermeasure": cid,
                "name": cm.name or cid,
                "capex": cm.cost.capex,
                "opex": cm.cost.opex,
                "lifetime_years": cm.cost.lifetime_years,
                "crf": crf(i, cm.cost.lifetime_years),
                "annualised_cost": annualised_cost(site, cid),
                "exclusive_group": cm.exclusive_group,
                "mandatory": cm.mandatory,
            }
        )
    cols = [
        "countermeasure",
        "name",
        "capex",
        "opex",
        "lifetime_years",
        "crf",
        "annualised_cost",
        "exclusive_group",
        "mandatory",
    ]
    return pd.DataFrame(rows, columns=cols).set_index("countermeasure")


def evaluate(site: Site, plan: Iterable[str] = ()) -> dict:
    """Exact expected outcome of a plan: ALE, harm frequencies per class, costs.

    Parameters
    ----------
    site : Site
    plan : iterable of str
        Candidate ids added to the current state (implemented ones change nothing and cost
        nothing more).

    Returns
    -------
    dict
        ``expected_ale`` [currency/yr] (closed form, :func:`riskkit.exposure.expected_losses`),
        ``safety_ge1`` .. ``environment_ge4`` [events/yr] (events whose harm reaches class k
        or worse), ``annualised_cost`` [currency/yr], ``capex`` [currency], ``opex``
        [currency/yr].
    """
    plan = resolve_state(site, "current", plan).plan  # candidates only, once each
    df = expected_losses(site, plan=plan or None)
    out = {"expected_ale": float(df["ale"].sum())}
    out.update(_harm_classes(df))
    costs = plan_costs(site, plan) if plan else None
    for col in ("annualised_cost", "capex", "opex"):
        out[col] = float(costs[col].sum()) if costs is not None else 0.0
    return out


def _harm_classes(df: pd.DataFrame) -> dict:
    out = {}
    for cat in HARM_CATEGORIES:
        sev, rate = df[f"{cat}_severity"].to_numpy(), df[f"{cat}_rate"].to_numpy()
        for k in range(1, 5):
            out[f"{cat}_ge{k}"] = float(rate[sev >= k].sum())
    return out


# --------------------------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """A plan (a set of candidate countermeasures) with its cost, risk and provenance.

    Attributes
    ----------
    members : tuple of str
        Candidate ids in the plan (besides the implemented countermeasures).
    expected_ale : float
        Expected residual annual loss of the site with the plan [currency/yr], recomputed
        exactly in closed form (:func:`riskkit.exposure.expected_losses`).
    baseline_ale : float
        Expected annual loss of the current state [currency/yr].
    annualised_cost, capex, opex : float
        Summed over the members [currency/yr], [currency], [currency/yr].
    budget : float or None
        The budget the plan was chosen under ([currency/yr] or [currency], see
        ``budget_kind``); None for no budget.
    budget_kind : {'annualised', 'capex'}
    method : str
        How it was found: the MIP formulation(s) (``subset``, ``logspace``, ``product``, or
        a mix ``subset+logspace``), ``enumerate``, ``greedy``, ``greedy-enum2`` (greedy with
        partial enumeration of depth 2); ``...+greedy`` when a time limit stopped HiGHS and
        the greedy plan was better than its incumbent.
    status : str
        ``optimal``; ``time_limit`` (HiGHS stopped early: see ``bound`` and ``gap``);
        ``heuristic`` for greedy plans; ``given`` for a plan evaluated as given.
    bound : float
        Lower bound on the expected ALE of every plan within the budget and constraints
        [currency/yr] (the optimum itself for greedy plans compared with it; NaN if unknown).
    gap : float
        (expected_ale - bound) / expected_ale: 0 for a proven optimum (up to HiGHS's
        relative tolerance 1e-7), the excess over the optimum for a greedy plan.
    seconds : float
        Solve time [s].
    constraints : tuple of str
        The constraints imposed (``close_gaps``, ``zone_ale``, ``harm_frequency``).
    violations : tuple of str
        Constraints the plan breaks (greedy plans only; empty for optimiser plans).
    harm : dict
        Expected events per year whose safety / environment harm reaches class k or worse,
        ``safety_ge1`` .. ``environment_ge4`` [events/yr].
    simulated : pandas.DataFrame or None
        Simulated site statistics (columns of :meth:`riskkit.engine.Simulation.summary`)
        of the current state and of the plan (index ``current``, ``plan``) on common random
        numbers; None if not simulated.
    exceedance : pandas.DataFrame or None
        Loss exceedance before and after: index ``loss`` [currency], columns ``current``
        and ``plan``, P(annual loss >= loss).
    trials, seed : int or None
        Of the simulation.
    currency : str
    """

    members: tuple[str, ...]
    expected_ale: float
    baseline_ale: float
    annualised_cost: float
    capex: float
    opex: float
    budget: float | None
    budget_kind: str
    method: str
    status: str
    bound: float
    gap: float
    seconds: float
    constraints: tuple[str, ...]
    violations: tuple[str, ...]
    harm: dict
    currency: str
    simulated: pd.DataFrame | None = None
    exceedance: pd.DataFrame | None = None
    trials: int | None = None
    seed: int | None = None
    site: Site | None = field(default=None, repr=False)
    _attribution: Any = field(default=None, repr=False)

    @property
    def reduction(self) -> float:
        """Expected annual loss removed by the plan [currency/yr]."""
        return self.baseline_ale - self.expected_ale

    @property
    def rosi(self) -> float:
        """(reduction - annualised cost) / annualised cost of the whole plan [-]."""
        return _rosi(self.reduction, self.annualised_cost)

    def attribution(self) -> Attribution:
        """The plan's reduction attributed to its members (see :func:`attribution`)."""
        if self._attribution is None:
            self._attribution = attribution(self.site, self.members)
        return self._attribution

    @property
    def summary(self) -> pd.DataFrame:
        """One row per member: name, costs and its share of the reduction (Shapley).

        Columns ``name``, ``annualised_cost`` [currency/yr], ``capex`` [currency],
        ``standalone``, ``drop_one``, ``shapley`` [currency/yr].
        """
        cols = ["name", "annualised_cost", "capex", "standalone", "drop_one", "shapley"]
        if not self.members:
            return pd.DataFrame(columns=cols, index=pd.Index([], name="countermeasure"))
        costs = plan_costs(self.site, self.members)
        att = self.attribution().summary
        return costs[["name", "annualised_cost", "capex"]].join(
            att[["standalone", "drop_one", "shapley"]]
        )[cols]

    def overview(self) -> dict:
        """The plan's headline numbers as a flat dict (one row of a table)."""
        out = {
            "members": ", ".join(self.members),
            "n_members": len(self.members),
            "annualised_cost": self.annualised_cost,
            "capex": self.capex,
            "expected_ale": self.expected_ale,
            "reduction": self.reduction,
            "rosi": self.rosi,
            "status": self.status,
            "method": self.method,
            "bound": self.bound,
            "gap": self.gap,
            "seconds": self.seconds,
        }
        if self.simulated is not None:
            p = self.simulated.loc["plan"]
            out.update(sim_ale=p["ale"], sim_ale_se=p["ale_se"], var99=p["var99"], es99=p["es99"])
        return out

    def __repr__(self) -> str:
        cur = self.currency
        b = "no budget" if self.budget is None else f"budget {self.budget:,.0f} {self.budget_kind}"
        return (
            f"Plan({len(self.members)} members [{', '.join(self.members)}], {b},"
            f" cost {self.annualised_cost:,.0f} {cur}/yr, ALE {self.baseline_ale:,.0f} ->"
            f" {self.expected_ale:,.0f} {cur}/yr, {self.status} ({self.method}))"
        )


def _rosi(reduction: float, cost: float) -> float:
    if cost > 0:
        return (reduction - cost) / cost
    return np.inf if reduction > 0 else np.nan


@dataclass
class Attribution:
    """A plan's reduction of expected annual loss attributed to its members.

    Attributes
    ----------
    members : tuple of str
    reduction : float
        ALE(current) - ALE(current + plan) [currency/yr].
    summary : pandas.DataFrame
        Index ``countermeasure``; ``standalone`` = ALE(current) - ALE(current + {i}),
        ``drop_one`` = ALE(plan - {i}) - ALE(plan), ``shapley`` (the Shapley value of the
        cooperative game v(A) = ALE(current) - ALE(current + A)) [currency/yr], and
        ``shapley_share`` (of the reduction). Only the Shapley values sum to the reduction;
        stand-alone values overstate substitutes and understate complements, drop-one values
        the reverse.
    """

    members: tuple[str, ...]
    reduction: float
    summary: pd.DataFrame


@dataclass
class Ranking:
    """Every candidate's effect on a base state, sorted by risk reduction per cost.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per candidate (see :func:`prioritize` for the columns), best first.
    base : tuple of str
        The plan the effects are measured on (empty: the current state).
    baseline : dict
        Expected ALE and harm frequencies of the base state, and its simulated statistics
        when simulated.
    trials, seed : int or None
    currency : str
    """

    summary: pd.DataFrame
    base: tuple[str, ...]
    baseline: dict
    trials: int | None
    seed: int | None
    currency: str


@dataclass
class Frontier:
    """Efficient frontier of plans over a range of budgets.

    Attributes
    ----------
    budget_kind : {'annualised', 'capex'}
    points : pandas.DataFrame
        One row per budget with the exact optimal plan: ``budget``, ``annualised_cost``
        [currency/yr], ``capex`` [currency], ``expected_ale`` [currency/yr], ``reduction``,
        ``n_members``, ``members`` (comma-separated ids), ``status``, ``gap``, ``seconds``,
        ``greedy_ale`` and ``greedy_gap`` (the greedy plan at that budget and its excess
        residual ALE over the optimum, relative), ``greedy_members``; when simulated also
        ``sim_ale``, ``var99``, ``es99`` [currency].
    nested : pandas.DataFrame or None
        The nested frontier (a roadmap: each plan contains the previous one), same columns
        plus ``nesting_cost`` = its ALE minus the optimum's at that budget [currency/yr] and
        ``roadmap`` (``myopic`` or ``joint``).
    greedy : pandas.DataFrame
        The greedy investment sequence without budget: ``step``, ``added``,
        ``annualised_cost`` (cumulative), ``capex``, ``expected_ale``, ``members``.
    grid : pandas.DataFrame
        Bool, index candidate id, one column per budget: whether the optimal plan at that
        budget contains it.
    summary : pandas.DataFrame
        Long form of ``points``, ``nested`` and ``greedy`` with a ``series`` column
        (``optimal``, ``nested``, ``greedy``) for plotting.
    plans : list of Plan
        The optimal plans, one per budget.
    baseline_ale : float
        Expected ALE of the current state [currency/yr].
    currency : str
    """

    budget_kind: str
    points: pd.DataFrame
    nested: pd.DataFrame | None
    greedy: pd.DataFrame
    grid: pd.DataFrame
    summary: pd.DataFrame
    plans: list
    baseline_ale: float
    currency: str


@dataclass
class KBest:
    """The k best plans by expected loss within a budget, each simulated on fresh trials.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per plan, best expected ALE first: ``rank``, ``members``,
        ``annualised_cost``, ``capex``, ``expected_ale``, ``excess_ale`` (over the best plan)
        [currency/yr]; when simulated ``sim_ale``, ``var99``, ``es99`` [currency] and
        ``best_tail`` (True for the lowest simulated ES99).
    plans : list of Plan
    complete : bool
        False if fewer than k plans exist.
    """

    summary: pd.DataFrame
    plans: list
    complete: bool


# --------------------------------------------------------------------------------------------
# Helpers shared by the public functions
# --------------------------------------------------------------------------------------------


def _check_budget(budget) -> float:
    if budget is None:
        return np.inf
    try:
        b = float(budget)
    except (TypeError, ValueError):
        raise ValueError(f"budget must be a number >= 0, {budget!r} was given") from None
    if not b >= 0:
        raise ValueError(f"budget must be >= 0, {budget!r} was given")
    return b


def _bounds(inst: _Instance, include: Iterable[str], exclude: Iterable[str]):
    lo = inst.mandatory.astype(float)
    hi = np.where(inst.blocked, 0.0, 1.0)
    inc, exc = inst.mask(include), inst.mask(exclude)
    both = inc & exc
    if both.any():
        raise ValueError(f"{inst.ids[np.flatnonzero(both)[0]]!r} is both included and excluded")
    if (inc & inst.blocked).any():
        i = np.flatnonzero(inc & inst.blocked)[0]
        raise InfeasiblePlan(
            f"{inst.ids[i]!r} cannot be included: its exclusive group already has an active member"
        )
    if (exc & inst.mandatory).any():
        i = np.flatnonzero(exc & inst.mandatory)[0]
        raise ValueError(f"{inst.ids[i]!r} is mandatory and cannot be excluded")
    lo[inc] = 1.0
    hi[exc] = 0.0
    for g, members in inst.groups.items():
        if lo[members].sum() > 1:
            forced = [inst.ids[i] for i in members if lo[i]]
            raise InfeasiblePlan(
                f"exclusive group {g!r} allows one member, but {forced} are all required"
            )
    return lo, hi


def _precheck(inst: _Instance, rules: _Rules, budget: float, cost: np.ndarray, lo, hi, kind):
    """Raise :class:`InfeasiblePlan` for what can be named without solving."""
    cur = inst.site.currency
    unit = f"{cur}/yr" if kind == "annualised" else cur
    forced = lo > 0
    if cost[forced].sum() > budget * (1 + 1e-12) + 1e-9:
        names = ", ".join(inst.ids[i] for i in np.flatnonzero(forced))
        raise InfeasiblePlan(
            f"the mandatory or required candidates ({names}) cost {_fmt(cost[forced].sum())}"
            f" {unit} ({kind}), above the budget of {_fmt(budget)} {unit}"
        )
    stuck = [g for g in rules.gaps if not any(hi[i] > 0 for i in g.closers)]
    if stuck:
        names = "; ".join(g.label() for g in stuck[:10]) + (" ..." if len(stuck) > 10 else "")
        raise InfeasiblePlan(
            f"{len(stuck)} SL gap(s) that no candidate (not excluded) can close: {names};"
            " the constraint close_gaps cannot be met"
        )
    for gap in rules.gaps:
        usable = [i for i in gap.closers if hi[i] > 0]
        cheapest = min(cost[i] for i in usable)
        if cheapest > budget * (1 + 1e-12) + 1e-9:
            raise InfeasiblePlan(
                f"closing the SL gap {gap.label()} needs at least {_fmt(cheapest)} {unit}"
                f" ({inst.ids[min(usable, key=lambda i: cost[i])]}), above the budget of"
                f" {_fmt(budget)} {unit}"
            )


def _fmt(x: float) -> str:
    """Money or cost for a message: thousands separators, small values with 4 digits."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.4g}"


def _diagnose(mip: _MIP, inst, rules, budget, cost, lo, hi, kind) -> str:
    """Explain why the MIP is infeasible: a zone's tolerance, or the budget."""
    cur = inst.site.currency
    unit = f"{cur}/yr" if kind == "annualised" else cur
    if rules.zone_tol:
        relaxed = copy.copy(rules)
        relaxed.zone_tol = {}
        free = _MIP(inst, relaxed, mip.cost_kind, mip.requested)
        for z, tol in rules.zone_tol.items():
            blocks = np.flatnonzero(inst.block_zone == z)
            sol = free.solve(np.inf, lo, hi, time_limit=30, blocks=blocks)
            if sol.x is None:
                break
            if sol.value > tol * (1 + 1e-9):
                return (
                    f"zone {inst.zones[z]} cannot meet its tolerance per_zone_ale of"
                    f" {_fmt(tol)} {cur}/yr with any plan: its lowest reachable expected loss"
                    f" is {_fmt(sol.value)} {cur}/yr; the constraint zone_ale (meet_tolerance)"
                    " cannot be met"
                )
    sol = mip.solve(np.inf, lo, hi, time_limit=30, loss_weight=0.0, cost_weight=1 / mip.scale)
    if sol.x is None:
        return (
            f"no plan satisfies the constraints {', '.join(rules.cons) or '(none)'} together"
            " with the exclusive groups and mandatory items, whatever the budget"
        )
    need = float(cost @ sol.x)
    return (
        f"the constraints {', '.join(rules.cons) or '(none)'} need at least {_fmt(need)}"
        f" {unit} ({kind}), above the budget of {_fmt(budget)} {unit}; the cheapest plan"
        f" meeting them is {', '.join(inst.members(sol.x))}"
    )


def _prune(inst: _Instance, rules: _Rules, x: np.ndarray, lo, cost) -> np.ndarray:
    """Drop members whose removal changes neither the expected loss nor the constraints."""
    x = x.copy()
    val = inst.total(x[None])[0]
    for i in sorted(np.flatnonzero(x), key=lambda i: -cost[i]):
        if lo[i] > 0:
            continue
        y = x.copy()
        y[i] = False
        v = inst.total(y[None])[0]
        if v <= val + 1e-12 * max(val, 1.0) and not rules.violations(y):
            x, val = y, min(val, v)
    return x


def _make_plan(
    inst: _Instance, x, *, budget, kind, method, status, bound, seconds, cons, violations=()
) -> Plan:
    site = inst.site
    members = inst.base + inst.members(x)
    ev = evaluate(site, members)
    own = evaluate(site, inst.base) if inst.base else None
    if own is None and getattr(inst, "_current_ale", None) is None:
        inst._current_ale = float(expected_losses(site)["ale"].sum())
    base_ale = own["expected_ale"] if own else inst._current_ale
    fast = inst.total(np.asarray(x, dtype=bool)[None])[0]
    if abs(fast - ev["expected_ale"]) > 1e-8 * max(abs(ev["expected_ale"]), 1.0):
        raise RuntimeError(
            f"internal evaluator disagrees with the closed form: {fast!r} vs"
            f" {ev['expected_ale']!r} for plan {members}"
        )
    ale = ev["expected_ale"]
    gap = (ale - bound) / ale if (np.isfinite(bound) and ale > 0) else (0.0 if ale == 0 else np.nan)
    return Plan(
        members=inst.members(x),
        expected_ale=ale,
        baseline_ale=base_ale,
        annualised_cost=float(inst.costs["annualised"] @ x),
        capex=float(inst.costs["capex"] @ x),
        opex=float(inst.opex @ x),
        budget=None if not np.isfinite(budget) else float(budget),
        budget_kind=kind,
        method=method,
        status=status,
        bound=float(bound) if np.isfinite(bound) else np.nan,
        gap=float(max(gap, 0.0)) if np.isfinite(gap) else np.nan,
        seconds=float(seconds),
        constraints=tuple(cons),
        violations=tuple(violations),
        harm={k: v for k, v in ev.items() if k.startswith(HARM_CATEGORIES)},
        currency=site.currency,
        site=site,
    )


def _simulate_plans(site: Site, plans: dict, trials=None, seed=None, points: int = 200):
    """Site statistics of the current state and of each plan on common random numbers."""
    from .engine import simulate_many

    spec = {"current": "current"}
    for name, members in plans.items():
        spec[name] = list(members) if members else "current"
    sims = simulate_many(site, spec, trials=trials, seed=seed)
    stats = pd.concat({k: s.summary("site").iloc[0] for k, s in sims.items()}, axis=1).T
    stats.index.name = "plan"
    losses = np.concatenate([s.losses("site").to_numpy().ravel() for s in sims.values()])
    pos = losses[losses > 0]
    grid = (
        np.geomspace(pos.min(), pos.max(), points)
        if pos.size and pos.max() > pos.min()
        else (np.array([0.0]))
    )
    exc = pd.concat({k: s.exceedance("site", grid)["site"] for k, s in sims.items()}, axis=1)
    first = next(iter(sims.values()))
    return stats, exc, first.trials, first.seed


def _attach_simulation(plan: Plan, trials, seed) -> Plan:
    stats, exc, trials, seed = _simulate_plans(plan.site, {"plan": plan.members}, trials, seed)
    plan.simulated = stats
    plan.exceedance = exc
    plan.trials, plan.seed = trials, seed
    return plan


def _enumerate(inst, rules, cost, budget, lo, hi, top: int = 1):
    """Best plans by brute force: (loss, cost, x) sorted, at most ``top``."""
    if inst.n > ENUMERATE_MAX:
        raise ValueError(
            f"method 'enumerate' handles at most {ENUMERATE_MAX} candidates, this site has {inst.n}"
        )
    best: list = []
    free = np.flatnonzero((hi > 0) & (lo == 0))
    fixed = lo > 0
    k = len(free)
    chunk = 1 << min(k, 16)
    for start in range(0, 1 << k, chunk):
        codes = np.arange(start, min(start + chunk, 1 << k))
        bits = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
        x = np.zeros((len(codes), inst.n), dtype=bool)
        x[:, free] = bits
        x[:, fixed] = True
        ok = x.astype(float) @ cost <= budget * (1 + 1e-12) + 1e-9
        for members in inst.groups.values():
            ok &= x[:, members].sum(axis=1) <= 1
        x = x[ok]
        if not len(x):
            continue
        x = x[rules.feasible(x)]
        if not len(x):
            continue
        tot = inst.total(x)
        c = x.astype(float) @ cost
        order = np.lexsort((c, tot))[:top]
        best += [(tot[j], c[j], x[j]) for j in order]
        best.sort(key=lambda t: (t[0], t[1]))
        best = best[:top]
    return best


# --------------------------------------------------------------------------------------------
# optimize
# --------------------------------------------------------------------------------------------


def optimize(
    site: Site,
    budget: float | None,
    budget_kind: str = "annualised",
    constraints: Iterable[str] | str = (),
    method: str = "auto",
    time_limit: float | None = None,
    *,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    targets: Any = None,
    simulate: bool = True,
    trials: int | None = None,
    seed: int | None = None,
) -> Plan:
    """The plan that minimises the expected residual annual loss of the site within a budget.

    Solved exactly as a mixed-integer program with HiGHS (:func:`scipy.optimize.milp`, see
    the module notes for the formulations); the chosen plan's expected loss is recomputed in
    closed form, and members that change neither the loss nor a constraint are dropped.

    Parameters
    ----------
    site : Site
    budget : float or None
        Upper bound on the plan's summed cost: annualised cost [currency/yr] or capex
        [currency] (see ``budget_kind``); None for no budget. Implemented countermeasures are
        sunk and cost nothing here.
    budget_kind : {'annualised', 'capex'}
        Annualised cost = capex x CRF + opex (:func:`plan_costs`).
    constraints : iterable of str
        Any of

        - ``close_gaps``: every open SL gap (SL-A < SL-T in some zone or conduit and FR,
          :func:`riskkit.levels.gaps`) is closed by a candidate whose ``security_level``
          effect reaches the SL-T;
        - ``meet_tolerance``: both of ``zone_ale`` (the expected loss of every zone at most
          ``tolerance.financial.per_zone_ale``) and ``harm_frequency`` (the expected
          frequency of each scenario's safety and environment events of class k or worse at
          most the tolerable frequency of class k). The exceedance points of
          ``tolerance.financial.exceedance`` are a tail measure and are not constrained;
          check them on :attr:`Plan.exceedance`.

        Exclusive groups and mandatory candidates always hold.
    method : {'auto', 'subset', 'logspace', 'product', 'enumerate'}
        The formulation (module notes); ``auto`` takes ``subset`` for scenarios touched by at
        most 12 candidates and ``logspace`` for larger ones.
    time_limit : float, optional
        Seconds for HiGHS; if it stops the search, the plan found is returned with status
        ``time_limit``, the solver's lower bound and the relative gap.
    include, exclude : iterable of str
        Candidates forced into or out of the plan.
    targets : TargetLevels, optional
        SL-T for ``close_gaps`` (default :func:`riskkit.levels.target_levels`).
    simulate : bool, default True
        Check the plan by simulation: :attr:`Plan.simulated` and :attr:`Plan.exceedance`
        before and after on common random numbers.
    trials, seed : int, optional
        Of the simulation (defaults from the site's ``model``).

    Returns
    -------
    Plan

    Raises
    ------
    InfeasiblePlan
        If no plan meets the budget and the constraints; the message names the mandatory
        items, the SL gap, the zone or the scenario that cannot be met, or the least budget
        the constraints need.

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.6 (ZCR 5.8: countermeasures to bring residual risk
       within tolerance) and clause 4.7 (ZCR 6).
    """
    kind = _cost_kind(budget_kind)
    b = _check_budget(budget)
    cons = _constraints(constraints)
    inst = _instance(site)
    rules = _Rules(inst, cons, targets)
    cost = inst.cost(kind)
    lo, hi = _bounds(inst, include, exclude)
    _precheck(inst, rules, b, cost, lo, hi, kind)
    if method == "enumerate":
        t0 = time.perf_counter()
        best = _enumerate(inst, rules, cost, b, lo, hi)
        if not best:
            raise InfeasiblePlan(_enumerate_diagnosis(inst, rules, cost, b, lo, hi, kind))
        x = _prune(inst, rules, best[0][2], lo, cost)
        plan = _make_plan(
            inst,
            x,
            budget=b,
            kind=kind,
            method="enumerate",
            status="optimal",
            bound=best[0][0],
            seconds=time.perf_counter() - t0,
            cons=cons,
        )
    else:
        mip = _MIP(inst, rules, kind, method)
        sol = mip.solve(b, lo, hi, time_limit)
        if sol.x is None and sol.status == "infeasible":
            raise InfeasiblePlan(_diagnose(mip, inst, rules, b, cost, lo, hi, kind))
        x, label = sol.x, mip.method
        if sol.status != "optimal":
            # stopped early: keep the better of HiGHS's incumbent and the greedy plan
            gx = _greedy_runs(inst, rules, cost, b, (lo > 0)[None], hi)[0][0]
            if not rules.violations(gx) and (
                x is None or inst.total(gx[None])[0] < inst.total(x[None])[0]
            ):
                x, label = gx, f"{mip.method}+greedy"
        if x is None:
            raise RuntimeError(
                f"HiGHS found no plan within the time limit of {time_limit} s (status"
                f" {sol.status}) and greedy breaks the constraints; raise time_limit"
            )
        x = _prune(inst, rules, x, lo, cost)
        plan = _make_plan(
            inst,
            x,
            budget=b,
            kind=kind,
            method=label,
            status=sol.status,
            bound=sol.bound,
            seconds=sol.seconds,
            cons=cons,
        )
    if simulate:
        _attach_simulation(plan, trials, seed)
    return plan


def _enumerate_diagnosis(inst, rules, cost, budget, lo, hi, kind) -> str:
    best = _enumerate(inst, rules, cost, np.inf, lo, hi)
    unit = f"{inst.site.currency}/yr" if kind == "annualised" else inst.site.currency
    if not best:
        if rules.zone_tol:
            x = np.ones(inst.n, dtype=bool)
            for z, tol in rules.zone_tol.items():
                loss = inst.block_values(x[None])[0][0, inst.block_zone == z].sum()
                if loss > tol:
                    return (
                        f"zone {inst.zones[z]} cannot meet its tolerance per_zone_ale of"
                        f" {_fmt(tol)} {inst.site.currency}/yr with any plan"
                    )
        return "no plan satisfies the constraints together, whatever the budget"
    need = min(c for _, c, _ in _enumerate(inst, rules, cost, np.inf, lo, hi, top=1 << 20))
    return (
        f"the constraints {', '.join(rules.cons) or '(none)'} need at least {_fmt(need)} {unit}"
        f" ({kind}), above the budget of {_fmt(budget)} {unit}"
    )


# --------------------------------------------------------------------------------------------
# Greedy
# --------------------------------------------------------------------------------------------


def _greedy_runs(inst, rules, cost, budget, starts, hi, record=False, batch=256):
    """Greedy by marginal reduction per cost from each start plan, vectorised over starts.

    ``budget`` is a scalar or one budget per start. First, while SL gaps are open (with the
    ``close_gaps`` constraint), the candidate closing the most open gaps per cost is added;
    then the candidate with the largest reduction of expected loss per cost that fits the
    remaining budget and its exclusive group, until none reduces the loss. Returns the plans
    (P, n) and, with ``record``, the order of additions of the first start as
    (candidate, gain).
    """
    starts = np.atleast_2d(np.asarray(starts, dtype=bool))
    budgets = np.broadcast_to(np.asarray(budget, dtype=float), (len(starts),))
    if len(starts) > batch and not record:
        parts = [
            _greedy_runs(inst, rules, cost, budgets[a : a + batch], starts[a : a + batch], hi)[0]
            for a in range(0, len(starts), batch)
        ]
        return np.concatenate(parts), []
    x = starts.copy()
    if inst.n == 0:
        return x, []
    p = len(x)
    rows_all = np.arange(p)
    spent = x.astype(float) @ cost
    allowed = hi > 0
    slack = 1e-12 * np.where(np.isfinite(budgets), budgets, 0) + 1e-9
    seq: list = []
    tol = 1e-12 * inst.scale

    def eligible():
        e = ~x & allowed[None] & (cost[None] <= (budgets - spent + slack)[:, None])
        for members in inst.groups.values():
            used = x[:, members].any(axis=1)
            if used.any():
                e[np.ix_(used, members)] = False
        return e

    def add(score):
        ratio = np.where(cost[None] > 0, score / np.maximum(cost[None], 1e-300), np.inf)
        ratio = np.where(elig, ratio, -np.inf)
        j = ratio.argmax(axis=1)
        ok = ratio[rows_all, j] > -np.inf
        rows = np.flatnonzero(ok)
        if len(rows):
            x[rows, j[rows]] = True
            spent[rows] += cost[j[rows]]
        return rows, j

    if rules.gaps:
        cover = np.zeros((len(rules.gaps), inst.n))
        for g, gap in enumerate(rules.gaps):
            cover[g, gap.closers] = 1.0
        while True:
            open_ = (x.astype(float) @ cover.T) == 0
            score = open_.astype(float) @ cover
            elig = eligible() & (score > 0)
            rows, j = add(score)
            if not len(rows):
                break
            if record and rows[0] == 0:
                seq.append((int(j[0]), np.nan))
    codes = inst.codes(x)
    while True:
        gain = inst.gains(x, codes)
        elig = eligible() & (gain > tol)
        rows, j = add(gain)
        if not len(rows):
            break
        codes[rows] |= inst.bitmat[j[rows]]
        if record and rows[0] == 0:
            seq.append((int(j[0]), float(gain[0, j[0]])))
    return x, seq


def _seeds(inst, cost, budget, lo, hi, depth):
    """Start plans of the partial enumeration: forced items plus small feasible sets."""
    forced = lo > 0
    free = [i for i in range(inst.n) if hi[i] > 0 and not forced[i]]
    left = budget - cost[forced].sum()
    out = [forced.copy()]
    for r in range(1, depth + 1):
        for combo in itertools.combinations(free, r):
            if cost[list(combo)].sum() > left * (1 + 1e-12) + 1e-9:
                continue
            g = inst.group_of[list(combo)]
            g = g[g >= 0]
            if len(g) != len(set(g)):
                continue
            s = forced.copy()
            s[list(combo)] = True
            out.append(s)
    return np.array(out)


def greedy(
    site: Site,
    budget: float | None,
    budget_kind: str = "annualised",
    constraints: Iterable[str] | str = (),
    depth: int = 0,
    *,
    exact: bool = True,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    targets: Any = None,
    simulate: bool = False,
    trials: int | None = None,
    seed: int | None = None,
) -> Plan:
    """A plan by greedy marginal risk reduction per cost, with its gap to the optimum.

    Starting from the mandatory candidates, repeatedly add the candidate with the largest
    reduction of expected annual loss per annualised cost (or capex) that still fits the
    budget and its exclusive group, until none reduces the loss (milliseconds). With
    ``depth`` > 0, greedy is run from every feasible set of at most ``depth`` candidates and
    the best result kept (partial enumeration, near-optimal, slower).

    Greedy knows only marginal values: it misses complements (two SL effects that are
    worthless alone) and can spend the budget on a good ratio that crowds out a better
    plan. With ``close_gaps`` it first covers the open SL gaps greedily; ``zone_ale`` and
    ``harm_frequency`` are not enforced, and what the plan breaks is listed in
    :attr:`Plan.violations`.

    Parameters
    ----------
    site : Site
    budget : float or None
        [currency/yr] or [currency], see ``budget_kind``.
    budget_kind : {'annualised', 'capex'}
    constraints : iterable of str
        As for :func:`optimize`.
    depth : int, default 0
        Size of the enumerated start sets (0: plain greedy).
    exact : bool, default True
        Also solve the exact problem (:func:`optimize`) and report the gap: ``bound`` is the
        optimal expected ALE and ``gap`` = (ALE - optimum) / ALE.
    include, exclude, targets
        As for :func:`optimize`.
    simulate, trials, seed
        As for :func:`optimize` (default: not simulated).

    Returns
    -------
    Plan
        ``status`` ``heuristic``, ``method`` ``greedy`` or ``greedy-enum<depth>``.

    References
    ----------
    .. [1] Sviridenko, M. (2004). A note on maximizing a submodular set function subject to
       a knapsack constraint. *Operations Research Letters* 32(1), 41-43.
    """
    kind = _cost_kind(budget_kind)
    b = _check_budget(budget)
    if depth < 0:
        raise ValueError(f"depth must be >= 0, {depth!r} was given")
    cons = _constraints(constraints)
    inst = _instance(site)
    rules = _Rules(inst, cons, targets)
    cost = inst.cost(kind)
    lo, hi = _bounds(inst, include, exclude)
    _precheck(inst, rules, b, cost, lo, hi, kind)
    t0 = time.perf_counter()
    starts = _seeds(inst, cost, b, lo, hi, depth)
    plans, _ = _greedy_runs(inst, rules, cost, b, starts, hi)
    tot = inst.total(plans)
    nviol = np.array([len(rules.violations(x)) for x in plans]) if cons else np.zeros(len(plans))
    pick = np.lexsort((plans.astype(float) @ cost, tot, nviol))[0]
    x = plans[pick]
    seconds = time.perf_counter() - t0
    bound = np.nan
    if exact:
        try:
            opt = optimize(
                site,
                budget,
                kind,
                cons,
                include=include,
                exclude=exclude,
                targets=targets,
                simulate=False,
            )
            bound = opt.expected_ale
        except InfeasiblePlan:
            bound = np.nan
    plan = _make_plan(
        inst,
        x,
        budget=b,
        kind=kind,
        method="greedy" if depth == 0 else f"greedy-enum{depth}",
        status="heuristic",
        bound=bound,
        seconds=seconds,
        cons=cons,
        violations=rules.violations(x),
    )
    if simulate:
        _attach_simulation(plan, trials, seed)
    return plan


# --------------------------------------------------------------------------------------------
# Attribution
# --------------------------------------------------------------------------------------------


def attribution(
    site: Site, plan: Iterable[str], *, samples: int = 2000, seed: int = 0
) -> Attribution:
    """Attribute a plan's reduction of expected annual loss to its members three ways.

    With v(A) = ALE(current) - ALE(current + A) [currency/yr], the reduction of a subset A
    of the plan N:

    - stand-alone: v({i});
    - drop-one: v(N) - v(N - {i});
    - Shapley: phi_i = sum over A ⊆ N - {i} of |A|! (n - |A| - 1)! / n! (v(A ∪ {i}) - v(A)),
      which sums exactly to v(N).

    The Shapley values are computed exactly, scenario by scenario (the game is a sum of one
    game per scenario, and the Shapley value is additive), over the plan's members touching
    each scenario; if more than 20 members touch one scenario, that scenario's values are
    estimated from ``samples`` random orders drawn with ``seed``.

    Parameters
    ----------
    site : Site
    plan : iterable of str
        Candidate ids.
    samples, seed : int
        Only for scenarios touched by more than 20 members.

    Returns
    -------
    Attribution

    References
    ----------
    .. [1] Shapley, L. S. (1953). A value for n-person games. *Annals of Mathematics
       Studies* 28, 307-317.
    """
    inst = _instance(site)
    members = tuple(dict.fromkeys(plan))
    x = inst.mask(members)
    pos = [inst.pos[c] for c in members]
    base = inst.total(np.zeros((1, inst.n), dtype=bool))[0]
    full = inst.total(x[None])[0]
    single = np.zeros((len(pos), inst.n), dtype=bool)
    single[np.arange(len(pos)), pos] = True
    standalone = base - inst.total(single)
    drop = np.repeat(x[None], len(pos), axis=0)
    drop[np.arange(len(pos)), pos] = False
    drop_one = inst.total(drop) - full
    shap = np.zeros(inst.n)
    rng = np.random.default_rng(seed)
    for blk in inst.blocks:
        local = [j for j, i in enumerate(blk.idx) if x[i]]
        k = len(local)
        if k == 0:
            continue
        ids = blk.idx[local]
        if k <= 20:
            codes = np.arange(1 << k)
            bits = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
            full_bits = np.zeros((len(codes), blk.m), dtype=bool)
            full_bits[:, local] = bits
            v = -blk.evaluate(full_bits)[0]
            size = bits.sum(axis=1)
            fact = np.array([math.factorial(s) for s in range(k + 1)], dtype=float)
            w = fact[size] * fact[k - size - 1 + (size == k)] / fact[k]
            for j in range(k):
                without = ~bits[:, j]
                shap[ids[j]] += float(
                    (w[without] * (v[codes[without] | (1 << j)] - v[codes[without]])).sum()
                )
        else:
            acc = np.zeros(k)
            for _ in range(samples):
                order = rng.permutation(k)
                cur = np.zeros((1, blk.m), dtype=bool)
                prev = blk.evaluate(cur)[0][0]
                for j in order:
                    cur[0, local[j]] = True
                    now = blk.evaluate(cur)[0][0]
                    acc[j] += prev - now
                    prev = now
            shap[ids] += acc / samples
    reduction = base - full
    df = pd.DataFrame(
        {
            "countermeasure": list(members),
            "name": [inst.names[i] for i in pos],
            "standalone": standalone,
            "drop_one": drop_one,
            "shapley": shap[pos],
        }
    ).set_index("countermeasure")
    df["shapley_share"] = df["shapley"] / reduction if reduction else np.nan
    return Attribution(members, float(reduction), df)


# --------------------------------------------------------------------------------------------
# Prioritize
# --------------------------------------------------------------------------------------------


def prioritize(
    site: Site,
    plan: Iterable[str] | None = None,
    trials: int | None = None,
    seed: int | None = None,
    simulate: bool = True,
    *,
    targets: Any = None,
    budget_kind: str = "annualised",
) -> Ranking:
    """Every candidate's effect on the current state (or on a plan), best value first.

    Effects interact, so each is marginal: the change from adding one candidate to the base
    state (the current state plus ``plan``).

    Parameters
    ----------
    site : Site
    plan : iterable of str, optional
        Candidates assumed already chosen; the others are ranked on top of them.
    trials, seed : int, optional
        Of the simulation (defaults from the site's ``model``).
    simulate : bool, default True
        Also simulate the base state and every candidate on common random numbers for
        ΔVaR99, ΔES99 and the simulated ΔALE.
    targets : TargetLevels, optional
        SL-T for the gaps closed (default :func:`riskkit.levels.target_levels`).
    budget_kind : {'annualised', 'capex'}
        The cost that ``reduction_per_cost`` divides by.

    Returns
    -------
    Ranking
        ``summary`` has one row per candidate, sorted by ``reduction_per_cost``:

        - ``rank``, ``countermeasure``, ``name``, ``exclusive_group``, ``mandatory``;
        - ``capex`` [currency], ``opex`` [currency/yr], ``lifetime_years`` [yr], ``crf``
          [1/yr], ``annualised_cost`` = capex x CRF + opex [currency/yr];
        - ``delta_ale``: reduction of the expected annual loss, closed form [currency/yr];
        - ``reduction_per_cost``: delta_ale / annualised cost (or / capex) [-];
        - ``rosi`` = (delta_ale - annualised cost) / annualised cost [-];
        - ``npv`` = (delta_ale - annualised cost) / CRF: the net present value of the
          yearly savings minus opex over the lifetime, less the capex [currency];
        - ``delta_safety_ge1`` .. ``delta_environment_ge4``: reduction of the expected
          frequency of events whose harm reaches class k or worse, closed form [events/yr];
        - ``sl_gaps_closed``: open (zone or conduit, FR) gaps it closes alone;
          ``sl_levels_closed``: levels of gap it removes;
        - simulated (on common random numbers): ``delta_ale_sim`` and its standard error
          ``delta_ale_se`` [currency/yr], ``delta_var99``, ``delta_es99`` [currency], and
          ``delta_safety_ge1_sim`` .. ``delta_environment_ge4_sim`` [events/yr], the
          simulated counterparts of the closed-form harm columns.

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.6 (ZCR 5.8: identify and evaluate
       countermeasures).
    .. [2] Sonnenreich, W., Albanese, J., Stout, B. (2006). Return on security investment
       (ROSI): a practical quantitative model. *JRPIT* 38(1), 45-56.
    """
    kind = _cost_kind(budget_kind)
    base = tuple(dict.fromkeys(plan or ()))
    inst = _instance(site, base)
    n = inst.n
    zero = np.zeros((1, n), dtype=bool)
    eye = np.eye(n, dtype=bool)
    loss0, harm0 = inst.block_values(zero)
    loss1, harm1 = inst.block_values(eye) if n else (np.zeros((0, 0)), np.zeros((0, 0, 2)))
    d_ale = loss0.sum() - loss1.sum(axis=1)
    costs = plan_costs(site, inst.ids)
    ann = costs["annualised_cost"].to_numpy()
    div = ann if kind == "annualised" else costs["capex"].to_numpy()
    df = costs.reset_index()
    df["delta_ale"] = d_ale
    with np.errstate(divide="ignore", invalid="ignore"):
        df["reduction_per_cost"] = np.where(
            div > 0, d_ale / np.where(div > 0, div, 1), np.where(d_ale > 0, np.inf, np.nan)
        )
    df["rosi"] = [_rosi(d, c) for d, c in zip(d_ale, ann)]
    df["npv"] = (d_ale - ann) / costs["crf"].to_numpy()
    for h, cat in enumerate(HARM_CATEGORIES):
        sev = np.array([blk.harm_sev[h] for blk in inst.blocks])
        for k in range(1, 5):
            sel = sev >= k
            before = harm0[0, sel, h].sum()
            after = harm1[:, sel, h].sum(axis=1) if n else np.zeros(0)
            df[f"delta_{cat}_ge{k}"] = before - after
    df["sl_gaps_closed"] = 0
    df["sl_levels_closed"] = 0
    from .levels import gaps as level_gaps

    g = level_gaps(site, targets, state="current", plan=base or None)
    if len(g.closers):
        cl = g.closers.assign(levels=g.closers["gap"] - g.closers["gap_after"])
        agg = cl.groupby("countermeasure").agg(
            sl_gaps_closed=("closes", "sum"), sl_levels_closed=("levels", "sum")
        )
        for col in ("sl_gaps_closed", "sl_levels_closed"):
            df[col] = df["countermeasure"].map(agg[col]).fillna(0).astype(int)
    baseline = {"expected_ale": float(loss0.sum())}
    for h, cat in enumerate(HARM_CATEGORIES):
        sev = np.array([blk.harm_sev[h] for blk in inst.blocks])
        for k in range(1, 5):
            baseline[f"{cat}_ge{k}"] = float(harm0[0, sev >= k, h].sum())
    used_trials = used_seed = None
    if simulate and n:
        from .engine import simulate_many

        spec = {"__base__": list(base) if base else "current"}
        for c in inst.ids:
            spec[c] = [*base, c]
        sims = simulate_many(site, spec, trials=trials, seed=seed)
        b = sims.pop("__base__")
        bl = b.losses("site")["site"].to_numpy()
        bs = b.summary("site").iloc[0]
        harm_cols = [f"{cat}_ge{k}" for cat in HARM_CATEGORIES for k in range(1, 5)]
        baseline.update({f"sim_{k}": float(bs[k]) for k in ("ale", "ale_se", "var99", "es99")})
        rows = []
        for c in inst.ids:
            s = sims[c]
            cl = s.losses("site")["site"].to_numpy()
            ss = s.summary("site").iloc[0]
            diff = bl - cl
            rows.append(
                {
                    "delta_ale_sim": diff.mean(),
                    "delta_ale_se": diff.std(ddof=1) / math.sqrt(len(diff)),
                    "delta_var99": bs["var99"] - ss["var99"],
                    "delta_es99": bs["es99"] - ss["es99"],
                    **{f"delta_{k}_sim": bs[k] - ss[k] for k in harm_cols},
                }
            )
        df = pd.concat([df, pd.DataFrame(rows)], axis=1)
        used_trials, used_seed = b.trials, b.seed
    df = df.sort_values(["reduction_per_cost", "delta_ale"], ascending=False, kind="stable")
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df = df.reset_index(drop=True)
    return Ranking(df, base, baseline, used_trials, used_seed, site.currency)


# --------------------------------------------------------------------------------------------
# Frontier
# --------------------------------------------------------------------------------------------


def frontier(
    site: Site,
    budgets: Sequence[float] | None = None,
    n: int = 20,
    budget_kind: str = "annualised",
    nested: bool = True,
    *,
    constraints: Iterable[str] | str = (),
    method: str = "auto",
    time_limit: float | None = None,
    targets: Any = None,
    simulate: bool = True,
    trials: int | None = None,
    seed: int | None = None,
) -> Frontier:
    """The efficient frontier: the exact optimal plan at each budget, with greedy beside it.

    Exact optimal plans are not nested: a larger budget can swap a cheap item for an
    expensive one. The nested frontier answers the roadmap question (what to buy first, then
    next) by optimising each budget with the previous plan fixed; ``nesting_cost`` shows what
    that costs against the optimum.

    Parameters
    ----------
    site : Site
    budgets : sequence of float, optional
        Budgets [currency/yr] or [currency]; default ``n`` evenly spaced from the cost of
        the mandatory items to the cost of the best plan without a budget.
    n : int
        Number of default budgets.
    budget_kind : {'annualised', 'capex'}
    nested : {True, 'myopic', 'joint', False}, default True
        Also compute a nested frontier, a roadmap of plans each containing the previous one.
        ``True`` or ``'myopic'``: each step is the best plan within its budget that keeps
        the previous step (fast, but an early choice can cost later steps much);
        ``'joint'``: the chain of nested plans that minimises the summed expected loss over
        all the budgets, one program for all steps (exact, much slower: a time limit of
        ``time_limit`` or 60 s, falling back to ``'myopic'`` if no roadmap is found).
    constraints, method, time_limit, targets
        As for :func:`optimize` (``time_limit`` per budget).
    simulate : bool, default True
        Simulate every plan on common random numbers for ``sim_ale``, ``var99`` and
        ``es99`` (the frontier against VaR99).
    trials, seed : int, optional

    Returns
    -------
    Frontier

    Notes
    -----
    One program is built and re-solved for every budget: only the budget row changes, and
    the tangent cuts of ``logspace`` blocks carry over to the next budget. A nested step
    whose budget's optimum already contains the previous step takes that optimum without a
    new solve. (Passing the previous optimum's value as an objective cutoff was measured
    and did not speed HiGHS up, so it is not done.)
    """
    kind = _cost_kind(budget_kind)
    cons = _constraints(constraints)
    inst = _instance(site)
    rules = _Rules(inst, cons, targets)
    cost = inst.cost(kind)
    lo, hi = _bounds(inst, (), ())
    mip = _MIP(inst, rules, kind, method)
    if budgets is None:
        if n < 2:
            raise ValueError(f"n must be >= 2, {n!r} was given")
        top = mip.solve(np.inf, lo, hi, time_limit)
        if top.x is None:
            _precheck(inst, rules, np.inf, cost, lo, hi, kind)
            raise InfeasiblePlan(_diagnose(mip, inst, rules, np.inf, cost, lo, hi, kind))
        top_x = _prune(inst, rules, top.x, lo, cost)
        low = float(cost[lo > 0].sum())
        if rules.gaps or rules.zone_tol or np.isfinite(rules.harm_tol).any():
            cheap = mip.solve(
                np.inf, lo, hi, time_limit, loss_weight=0.0, cost_weight=1 / mip.scale
            )
            if cheap.x is not None:
                low = float(cost @ cheap.x)
        budgets = np.linspace(low, float(cost @ top_x), n)
    budgets = np.unique(np.asarray([_check_budget(b) for b in budgets], dtype=float))

    def solve_row(b, lo_x):
        sol = mip.solve(b, lo_x, hi, time_limit)
        if sol.x is None:
            return None, {"budget": b, "status": sol.status}
        x = _prune(inst, rules, sol.x, lo_x, cost)
        plan = _make_plan(
            inst,
            x,
            budget=b,
            kind=kind,
            method=mip.method,
            status=sol.status,
            bound=sol.bound,
            seconds=sol.seconds,
            cons=cons,
        )
        row = {"budget": b, **plan.overview()}
        return plan, row

    plans, rows, xs = [], [], []
    for b in budgets:
        plan, row = solve_row(b, lo)
        plans.append(plan)
        rows.append(row)
        xs.append(inst.mask(plan.members) if plan else None)
    points = pd.DataFrame(rows)

    # greedy at every budget, in one vectorised run
    starts = np.repeat((lo > 0)[None], len(budgets), axis=0)
    gx, _ = _greedy_runs(inst, rules, cost, budgets, starts, hi)
    g_ale = inst.total(gx)
    g_ale[gx.astype(float) @ cost > budgets * (1 + 1e-12) + 1e-9] = np.nan  # below the forced
    points["greedy_ale"] = g_ale
    points["greedy_cost"] = gx.astype(float) @ inst.costs["annualised"]
    points["greedy_members"] = [", ".join(inst.members(x)) for x in gx]
    ok = points["expected_ale"].notna() if "expected_ale" in points else np.zeros(0, bool)
    points["greedy_excess"] = np.where(
        ok,
        (g_ale - points.get("expected_ale", np.nan)) / points.get("expected_ale", np.nan),
        np.nan,
    )
    red = points.get("reduction", np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        points["greedy_lost"] = np.where(
            ok & (red > 0), (g_ale - points.get("expected_ale", np.nan)) / red, 0.0
        )

    # the greedy sequence without budget
    gs, seq = _greedy_runs(inst, rules, cost, np.inf, (lo > 0)[None], hi, record=True)
    cur = lo > 0
    srows = [
        {
            "step": 0,
            "added": "",
            "annualised_cost": float(inst.costs["annualised"] @ cur),
            "capex": float(inst.costs["capex"] @ cur),
            "expected_ale": float(inst.total(cur[None])[0]),
            "members": ", ".join(inst.members(cur)),
        }
    ]
    for step, (j, _) in enumerate(seq, start=1):
        cur = cur.copy()
        cur[j] = True
        srows.append(
            {
                "step": step,
                "added": inst.ids[j],
                "annualised_cost": float(inst.costs["annualised"] @ cur),
                "capex": float(inst.costs["capex"] @ cur),
                "expected_ale": float(inst.total(cur[None])[0]),
                "members": ", ".join(inst.members(cur)),
            }
        )
    gseq = pd.DataFrame(srows)

    nested_df = None
    nested_plans = []
    if nested not in (True, False, "myopic", "joint"):
        raise ValueError(f"nested must be True, False, 'myopic' or 'joint', {nested!r} was given")
    road = "joint" if nested == "joint" else "myopic"
    if road == "joint" and nested:
        found = [k for k, x in enumerate(xs) if x is not None]
        joint = _joint_roadmap(inst, rules, kind, method, budgets[found], lo, hi, time_limit)
        if joint is None:
            road = "myopic"  # no roadmap within the time limit: fall back
        else:
            js, status, gap, seconds = joint
            nrows = []
            for k, b in enumerate(budgets):
                if k not in found:
                    nested_plans.append(None)
                    nrows.append({"budget": b, "status": "infeasible"})
                    continue
                x = js[found.index(k)]
                plan = _make_plan(
                    inst,
                    x,
                    budget=b,
                    kind=kind,
                    method=mip.method,
                    status=status,
                    bound=np.nan,
                    seconds=seconds,
                    cons=cons,
                )
                plan.gap = gap
                row = {"budget": b, **plan.overview()}
                row["nesting_cost"] = plan.expected_ale - points.loc[k, "expected_ale"]
                nested_plans.append(plan)
                nrows.append(row)
            nested_df = pd.DataFrame(nrows).assign(roadmap="joint")
    if nested and road == "myopic":
        prev = lo.copy()
        nrows = []
        for k, b in enumerate(budgets):
            if xs[k] is not None and (xs[k] >= (prev > 0)).all():
                # the optimum already contains the previous step: it is the nested optimum
                plan, row = plans[k], dict(rows[k])
            else:
                plan, row = solve_row(b, prev)
            nested_plans.append(plan)
            if plan is not None:
                prev = np.maximum(prev, inst.mask(plan.members).astype(float))
                opt = points.loc[k, "expected_ale"] if "expected_ale" in points else np.nan
                row["nesting_cost"] = plan.expected_ale - opt
            nrows.append(row)
        nested_df = pd.DataFrame(nrows).assign(roadmap="myopic")

    grid = pd.DataFrame(
        {b: (x if x is not None else np.zeros(inst.n, bool)) for b, x in zip(budgets, xs)},
        index=pd.Index(inst.ids, name="countermeasure"),
    )
    grid.columns.name = "budget"

    if simulate:
        spec = {}
        for k, p in enumerate(plans):
            if p is not None:
                spec[f"optimal-{k}"] = p.members
        for k, p in enumerate(nested_plans):
            if p is not None:
                spec[f"nested-{k}"] = p.members
        stats, _, used_trials, used_seed = _simulate_plans(site, spec, trials, seed, points=2)
        for prefix, df in (("optimal", points), ("nested", nested_df)):
            if df is None:
                continue
            for col, src in (("sim_ale", "ale"), ("var99", "var99"), ("es99", "es99")):
                df[col] = [
                    stats.loc[f"{prefix}-{k}", src] if f"{prefix}-{k}" in stats.index else np.nan
                    for k in range(len(df))
                ]
    parts = [points.assign(series="optimal")]
    if nested_df is not None:
        parts.append(nested_df.assign(series="nested"))
    parts.append(gseq.assign(series="greedy"))
    summary = pd.concat(parts, ignore_index=True)
    return Frontier(
        kind, points, nested_df, gseq, grid, summary, plans, inst.baseline_ale, site.currency
    )


def _joint_roadmap(inst, rules, kind, method, budgets, lo, hi, time_limit):
    """Nested plans S_1 ⊆ ... ⊆ S_K within the budgets minimising the summed expected loss.

    One copy of the program per budget, linked by x_k <= x_(k+1), solved as one MIP (blocks
    too large for subsets use the sequential-product form, which needs no cut loop). Returns
    (plans (K, n), status, relative gap, seconds) or None if no roadmap is found in time.
    """
    t0 = time.perf_counter()
    per = "auto" if method in ("auto", "logspace") else method
    m = _MIP(inst, rules, kind, per, large="product")
    if m.terms:  # a forced logspace formulation: use products for the joint model
        m = _MIP(inst, rules, kind, "auto", large="product")
    k_n, nc, n = len(budgets), m.ncols, inst.n
    A = sparse.block_diag([m.matrix()] * k_n, format="csr")
    rlo = np.tile(np.array(m.rlo), k_n)
    rhi = np.tile(np.array(m.rhi), k_n)
    for k, b in enumerate(budgets):
        rhi[k * m.nrows + m.budget_row] = (b * (1 + 1e-12) + 1e-9) / m.cost_scale
    r = np.repeat(np.arange((k_n - 1) * n), 2)
    c = np.ravel([[k * nc + i, (k + 1) * nc + i] for k in range(k_n - 1) for i in range(n)])
    v = np.tile([1.0, -1.0], (k_n - 1) * n)
    link = sparse.csr_matrix((v, (r, c)), shape=((k_n - 1) * n, k_n * nc))
    A = sparse.vstack([A, link], format="csr")
    rlo = np.concatenate([rlo, np.full((k_n - 1) * n, -np.inf)])
    rhi = np.concatenate([rhi, np.zeros((k_n - 1) * n)])
    lb, ub = np.tile(m.lb, k_n), np.tile(m.ub, k_n)
    for k in range(k_n):
        lb[k * nc : k * nc + n] = np.maximum(lb[k * nc : k * nc + n], lo)
        ub[k * nc : k * nc + n] = np.minimum(ub[k * nc : k * nc + n], hi)
    opts = {"mip_rel_gap": MIP_REL_GAP, "time_limit": 60.0 if time_limit is None else time_limit}
    res = milp(
        np.tile(m.obj, k_n),
        integrality=np.tile(m.integ, k_n),
        bounds=Bounds(lb, ub),
        constraints=LinearConstraint(A, rlo, rhi),
        options=opts,
    )
    if res.x is None:
        return None
    xs = np.array([res.x[k * nc : k * nc + n] > 0.5 for k in range(k_n)])
    prev = lo > 0
    for k in range(k_n):  # drop members without effect, keeping the chain nested
        xs[k] = _prune(inst, rules, xs[k], np.maximum(lo, prev), inst.cost(kind)) | prev
        prev = xs[k]
    status = "optimal" if res.status == 0 else "time_limit"
    gap = float(getattr(res, "mip_gap", np.nan)) if res.status != 0 else 0.0
    return xs, status, gap, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# k best plans
# --------------------------------------------------------------------------------------------


def k_best(
    site: Site,
    budget: float | None,
    k: int = 10,
    budget_kind: str = "annualised",
    constraints: Iterable[str] | str = (),
    *,
    method: str = "auto",
    time_limit: float | None = None,
    targets: Any = None,
    simulate: bool = True,
    trials: int | None = None,
    seed: int | None = None,
) -> KBest:
    """The k best plans by expected loss, each simulated for its tail (VaR99, ES99).

    A cautious manager may give up a little expected loss for a thinner tail. The plans are
    ranked by their exact expected loss (no simulated year takes part in choosing them), then
    all are simulated on the same fresh trials, so their tails compare without selection
    bias. Optimising expected shortfall directly over simulated years would fit the noise of
    those years at practical trial counts, so it is not offered.

    The plans are found by re-solving the program with a cut excluding each plan found;
    plans that differ only by members with no effect are counted once.

    Parameters
    ----------
    site : Site
    budget : float or None
    k : int, default 10
    budget_kind, constraints, method, time_limit, targets
        As for :func:`optimize`.
    simulate : bool, default True
    trials, seed : int, optional

    Returns
    -------
    KBest
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, {k!r} was given")
    kind = _cost_kind(budget_kind)
    b = _check_budget(budget)
    cons = _constraints(constraints)
    inst = _instance(site)
    rules = _Rules(inst, cons, targets)
    cost = inst.cost(kind)
    lo, hi = _bounds(inst, (), ())
    _precheck(inst, rules, b, cost, lo, hi, kind)
    mip = _MIP(inst, rules, kind, method)
    plans, seen = [], set()
    complete = True
    for _ in range(20 * k):
        sol = mip.solve(b, lo, hi, time_limit)
        if sol.x is None:
            if not plans and sol.status == "infeasible":
                raise InfeasiblePlan(_diagnose(mip, inst, rules, b, cost, lo, hi, kind))
            complete = False
            break
        for x in {tuple(sol.x), tuple(_prune(inst, rules, sol.x, lo, cost))}:
            xa = np.array(x, dtype=bool)
            mip._row(mip.x, np.where(xa, -1.0, 1.0), 1.0 - xa.sum(), np.inf)
        x = _prune(inst, rules, sol.x, lo, cost)
        key = tuple(np.flatnonzero(x))
        if key in seen:
            continue
        seen.add(key)
        plans.append(
            _make_plan(
                inst,
                x,
                budget=b,
                kind=kind,
                method=mip.method,
                status=sol.status,
                bound=sol.bound,
                seconds=sol.seconds,
                cons=cons,
            )
        )
        if len(plans) == k:
            break
    plans.sort(key=lambda p: (p.expected_ale, p.annualised_cost))
    rows = [
        {
            "rank": r + 1,
            "members": ", ".join(p.members),
            "n_members": len(p.members),
            "annualised_cost": p.annualised_cost,
            "capex": p.capex,
            "expected_ale": p.expected_ale,
            "excess_ale": p.expected_ale - plans[0].expected_ale,
        }
        for r, p in enumerate(plans)
    ]
    df = pd.DataFrame(rows)
    if simulate and plans:
        stats, _, used_trials, used_seed = _simulate_plans(
            site, {f"k{r}": p.members for r, p in enumerate(plans)}, trials, seed, points=2
        )
        for col, src in (
            ("sim_ale", "ale"),
            ("sim_ale_se", "ale_se"),
            ("var99", "var99"),
            ("es99", "es99"),
        ):
            df[col] = [stats.loc[f"k{r}", src] for r in range(len(plans))]
        df["best_tail"] = df["es99"] == df["es99"].min()
        for r, p in enumerate(plans):
            p.simulated = stats.loc[["current", f"k{r}"]].rename(index={f"k{r}": "plan"})
            p.trials, p.seed = used_trials, used_seed
    return KBest(df, plans, complete and len(plans) == k)


# --------------------------------------------------------------------------------------------
# Synthetic instances (tests and benchmarks)
# --------------------------------------------------------------------------------------------


def synthetic_site(
    n_scenarios: int = 60,
    n_candidates: int = 40,
    per_scenario: float = 5.0,
    seed: int = 0,
    *,
    sl_share: float = 0.25,
    group_share: float = 0.15,
    n_mandatory: int = 0,
    harm: bool = True,
    tolerance: dict | None = None,
) -> Site:
    """A random but valid site for tests and benchmarks of the optimiser.

    Scenarios sit in ``n_scenarios // 8 + 2`` zones, each entering through a conduit; a share
    ``sl_share`` of the candidates raise levels of a conduit in several FRs (so that SL effects
    act in steps and complement each other), the others reduce the frequency or a consequence
    category of chosen scenarios, until each scenario is touched by about ``per_scenario``
    candidates. Some candidates form exclusive pairs.

    Parameters
    ----------
    n_scenarios, n_candidates : int
    per_scenario : float
        Target mean number of candidates touching a scenario.
    seed : int
        Seed of the :class:`numpy.random.Generator` that draws everything.
    sl_share, group_share : float
        Shares of security-level candidates and of candidates in exclusive pairs.
    n_mandatory : int
        Candidates flagged mandatory.
    harm : bool
        Whether some scenarios have safety or environment consequences.
    tolerance : dict, optional
        The site's ``tolerance`` section.

    Returns
    -------
    Site
    """
    rng = np.random.default_rng(seed)
    nz = n_scenarios // 8 + 2
    zones = [
        {"id": f"Z{z:02d}", "kind": "control", "sl_a": [int(v) for v in rng.integers(0, 2, 7)]}
        for z in range(nz)
    ]
    nc = max(1, n_scenarios // 4)
    conduits = []
    for c in range(nc):
        a = c % nz
        b = (a + 1 + int(rng.integers(0, nz - 1))) % nz
        conduits.append(
            {
                "id": f"C{c:02d}",
                "zones": [f"Z{a:02d}", f"Z{b:02d}"],
                "sl_a": [int(v) for v in rng.integers(0, 2, 7)],
            }
        )
    actors = [
        {
            "id": f"A{a}",
            "capability": a + 1,
            "attempt_rate": {"dist": "lognormal", "low": 0.5 * (4 - a), "high": 4.0 * (4 - a)},
        }
        for a in range(4)
    ]
    frs = [f"FR{k}" for k in range(1, 8)]
    scenarios = []
    for s in range(n_scenarios):
        cond = conduits[int(rng.integers(0, nc))]
        zone = cond["zones"][int(rng.integers(0, 2))]
        k = 1 + int(rng.random() < 0.4)
        rec = {
            "id": f"S{s:03d}",
            "zone": zone,
            "actor": f"A{int(rng.integers(0, 4))}",
            "entry": cond["id"],
            "frs": sorted(rng.choice(frs[:4], size=k, replace=False).tolist()),
            "rate_share": float(rng.uniform(0.05, 0.5)),
            "vulnerability": {"dist": "pert", "low": 0.1, "mode": 0.4, "high": 0.9},
            "consequences": {
                "production": {
                    "hours": {"dist": "pert", "low": 4, "mode": 24, "high": 200},
                    "cost_per_hour": float(rng.choice([5000, 10000, 20000, 40000])),
                },
                "recovery": {"dist": "lognormal", "low": 2e4, "high": float(rng.uniform(2e5, 2e6))},
            },
        }
        if harm and rng.random() < 0.3:
            rec["consequences"]["safety"] = {
                "severity": int(rng.integers(1, 5)),
                "probability": float(rng.uniform(0.01, 0.3)),
            }
        if harm and rng.random() < 0.2:
            rec["consequences"]["environment"] = {
                "severity": int(rng.integers(1, 4)),
                "probability": float(rng.uniform(0.05, 0.5)),
            }
        scenarios.append(rec)

    n_sl = int(round(sl_share * n_candidates))
    cms = []
    for i in range(n_candidates):
        capex = float(np.round(rng.lognormal(np.log(6e4), 0.8), -2))
        cms.append(
            {
                "id": f"CM{i:03d}",
                "status": "candidate",
                "cost": {
                    "capex": capex,
                    "opex": float(np.round(capex * rng.uniform(0.02, 0.2), -2)),
                    "lifetime_years": int(rng.integers(3, 16)),
                },
                "effects": [],
            }
        )
    by_conduit: dict[str, list[int]] = {}
    for s, rec in enumerate(scenarios):
        by_conduit.setdefault(rec["entry"], []).append(s)
    touched = np.zeros(n_scenarios)
    for i in range(n_sl):
        cond = list(by_conduit)[i % len(by_conduit)]
        sub = rng.choice(frs[:4], size=int(rng.integers(1, 4)), replace=False)
        lvl = int(rng.integers(1, 4))
        cms[i]["effects"].append(
            {
                "type": "security_level",
                "conduits": [cond],
                "levels": {f: lvl for f in sorted(sub.tolist())},
            }
        )
        touched[by_conduit[cond]] += 1
    others = list(range(n_sl, n_candidates))
    if others:
        for s in range(n_scenarios):
            want = max(1, int(rng.poisson(max(per_scenario - touched[s], 0.5))))
            want = min(want, len(others))
            for i in rng.choice(others, size=want, replace=False):
                sid = scenarios[s]["id"]
                if rng.random() < 0.6:
                    lo = float(rng.uniform(0.1, 0.6))
                    eff = {
                        "type": "frequency",
                        "scenarios": [sid],
                        "reduction": {
                            "dist": "pert",
                            "low": lo,
                            "mode": lo + 0.15,
                            "high": min(0.99, lo + 0.35),
                        },
                    }
                else:
                    eff = {
                        "type": "consequence",
                        "scenarios": [sid],
                        "category": str(rng.choice(["production", "recovery"])),
                        "reduction": float(np.round(rng.uniform(0.2, 0.8), 2)),
                    }
                cms[int(i)]["effects"].append(eff)
    for cm in cms:
        if not cm["effects"]:
            cm["effects"].append(
                {"type": "frequency", "scenarios": [scenarios[0]["id"]], "reduction": 0.1}
            )
    pool = list(rng.permutation(others))
    n_pairs = int(group_share * n_candidates / 2)
    for p in range(n_pairs):
        if len(pool) < 2:
            break
        for i in (pool.pop(), pool.pop()):
            cms[int(i)]["exclusive_group"] = f"G{p}"
    for i in pool[:n_mandatory]:
        cms[int(i)]["mandatory"] = True
    data = {
        "site": {
            "name": f"Synthetic site {n_scenarios}x{n_candidates} seed {seed}",
            "currency": "EUR",
        },
        "zones": zones,
        "conduits": conduits,
        "threat_actors": actors,
        "scenarios": scenarios,
        "countermeasures": cms,
        "tolerance": tolerance
        or {
            "safety": {1: 1e-2, 2: 1e-3, 3: 1e-4, 4: 1e-5},
            "environment": {1: 1e-1, 2: 1e-2, 3: 1e-3, 4: 1e-4},
            "financial": {"per_zone_ale": 5e5},
        },
        "model": {"trials": 2000, "seed": int(seed)},
    }
    return build_site(RawSite(data=data, file="<synthetic>"))
