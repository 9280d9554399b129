"""The instance model of the portfolio: :class:`Problem`.

Candidates, costs, exclusive groups and one exact evaluator block per scenario, built once
per site and base plan and shared by every entry point; the constants and argument checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from ..exposure import expected_losses, expected_scenario
from ..rules import (
    State,
    achieved_levels,
    annualised_cost,
    effect_index,
    fr_positions,
    fr_protection,
    indexed_effects,
    lopa_factor,
    money_per_event,
    resolve_state,
    scenario_elements,
    scenario_factors,
    separable,
    sl_factor,
    touching_all,
    weakest,
)
from ..site import HARM_CATEGORIES, Site

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

STATES_MAX = 1 << 14
"""Most SL-A states of one block the exact ``logspace``/``product`` forms of a block outside
today's form enumerate (:meth:`_Block.level_states`)."""

ENUMERATE_MAX = 22
"""Most candidates ``method='enumerate'`` accepts (2^22 plans)."""

MIP_REL_GAP = 1e-7
"""Relative optimality gap asked of HiGHS (its default, 1e-4, is too loose for 'exact')."""

_FLOOR = 1e-12
_TOL = 1e-9


class InfeasiblePlan(ValueError):
    """No plan satisfies the budget and the constraints; the message says which one fails."""


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
    # the general form, for blocks whose factors are not r^-min(L, c) of zone and entry
    # (rules.separable is False): SL vectors of the elements scenario_factors reads
    separable: bool = True
    site: object = None
    scenario: object = None
    elems: tuple = ()  # ((kind, id), ...) zones and conduits the factors read
    vec_base: np.ndarray | None = None  # (E, 7) SL-A of each element in the base state
    vec_cand: np.ndarray | None = None  # (m, E, 7) levels each candidate sets (0 where none)
    mask: np.ndarray | None = None  # (E, 7) the FRs of each element the factors read
    cats: tuple = ()  # money categories, in the order of ``money``
    _states: tuple | None = None  # cache of level_states()

    @property
    def m(self) -> int:
        return len(self.idx)

    @property
    def base_level(self) -> int:
        return int(weakest(self.fr_base))

    def terms(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rate [events/yr], loss per money category [currency/yr] and harm rates per subset.

        ``bits`` is a (P, m) bool array of the touching candidates chosen.
        """
        p = bits.shape[0]
        if not self.separable:
            return self._general(bits)
        if self.m:
            # SL-A of the chosen candidates (element-wise max), then the weakest FR
            lev = np.where(bits[:, :, None], self.fr_lev[None], 0).max(axis=1)
            level = weakest(np.maximum(lev, self.fr_base[None]))
            ff = np.where(bits, self.f[None], 1.0).prod(axis=1)
            gg = np.where(bits[:, :, None], self.g[None], 1.0).prod(axis=1)
            hh = np.where(bits[:, :, None], self.gh[None], 1.0).prod(axis=1)
        else:
            level = np.full(p, self.base_level)
            ff = np.ones(p)
            gg = np.ones((p, len(self.money)))
            hh = np.ones((p, 2))
        rate = self.rate0 * sl_factor(self.r, level, self.cap) * ff
        return rate, rate[:, None] * gg * self.money[None], rate[:, None] * self.harm_p * hh

    def levels(self, bits: np.ndarray) -> tuple[dict, dict]:
        """SL-A vectors (P, 7) of the block's zones and conduits under each subset ``bits``."""
        p = bits.shape[0]
        vec = np.broadcast_to(self.vec_base[None], (p, *self.vec_base.shape))
        for j in range(self.m):
            vec = np.where(bits[:, j, None, None], np.maximum(vec, self.vec_cand[j][None]), vec)
        zones, conduits = {}, {}
        for e, (kind, rid) in enumerate(self.elems):
            (zones if kind == "zone" else conduits)[rid] = vec[:, e]
        return zones, conduits

    def _general(self, bits: np.ndarray):
        """:meth:`terms` through :func:`riskkit.rules.scenario_factors`, vectorised over P."""
        p = bits.shape[0]
        fac = scenario_factors(self.site, self.scenario, *self.levels(bits))
        if self.m:
            ff = np.where(bits, self.f[None], 1.0).prod(axis=1)
            gg = np.where(bits[:, :, None], self.g[None], 1.0).prod(axis=1)
            hh = np.where(bits[:, :, None], self.gh[None], 1.0).prod(axis=1)
        else:
            ff, gg, hh = np.ones(p), np.ones((p, len(self.money))), np.ones((p, 2))
        rate = self.rate0 * np.broadcast_to(fac.rate, (p,)) * ff
        cons = np.ones((p, len(self.cats)))
        for k, cat in enumerate(self.cats):
            cons[:, k] = fac.consequence[cat]
        return rate, rate[:, None] * gg * cons * self.money[None], rate[:, None] * self.harm_p * hh

    def level_states(self):
        """The distinct SL-A states the block's candidates can reach, with their factors.

        For the exact formulations of a block outside today's form: its loss is
        rate0 x F(state) x C_k(state) x money_k x prod over chosen candidates of (f g_k), where
        the state (the SL-A of the block's zones and conduits) depends only on the candidates
        with a ``security_level`` effect on them, and F, C_k come from
        :func:`riskkit.rules.scenario_factors` per state. Both are non-increasing as levels
        rise, so a state may be chosen wherever the plan supports each of its levels.

        Returns
        -------
        states : ndarray of int, (S, E, 7)
            Row 0 is the base state (no candidate).
        rate : ndarray, (S,)
            The rate factor of each state [-].
        cons : ndarray, (S, K)
            The consequence factor of each state per money category [-].
        support : list of (e, k, level, positions)
            For each element e, FR k and level above the base that some state has: the
            block positions of the candidates that raise (e, k) to at least that level.

        Raises
        ------
        ValueError
            More than :data:`STATES_MAX` states.
        """
        if self._states is not None:
            return self._states
        # only the FRs the factors read count (rules.scenario_elements): project the rest out
        cand = np.where(self.mask[None], self.vec_cand, 0)
        states = self.vec_base[None].copy()
        for j in range(self.m):
            if not (cand[j] > self.vec_base).any():
                continue
            grown = np.concatenate([states, np.maximum(states, cand[j][None])])
            _, first = np.unique(grown.reshape(len(grown), -1), axis=0, return_index=True)
            states = grown[np.sort(first)]  # the base state stays first
            if len(states) > STATES_MAX:
                raise ValueError(
                    f"the candidates of {self.sid} reach more than {STATES_MAX} SL-A states of"
                    " its zones and conduits, and its factors are not r^-min(L, c) of its zone"
                    " and entry (model options or an attack path): too many for the exact"
                    " formulation; use method='subset' or fewer security-level candidates"
                )
        z = {i: states[:, e] for e, (k, i) in enumerate(self.elems) if k == "zone"}
        c = {i: states[:, e] for e, (k, i) in enumerate(self.elems) if k == "conduit"}
        fac = scenario_factors(self.site, self.scenario, z, c)
        rate = np.broadcast_to(np.asarray(fac.rate, dtype=float), (len(states),)).copy()
        cons = np.ones((len(states), len(self.cats)))
        for k, cat in enumerate(self.cats):
            cons[:, k] = fac.consequence[cat]
        support = []
        for e in range(len(self.elems)):
            for k in range(7):
                base = self.vec_base[e, k]
                for lv in np.unique(states[:, e, k]):
                    if lv > base:
                        who = np.flatnonzero(cand[:, e, k] >= lv)
                        support.append((e, k, int(lv), who))
        self._states = (states, rate, cons, support)
        return self._states

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


class Problem:
    """One portfolio problem: the candidates, their costs and one exact block per scenario.

    Built once from a site and a base plan (the candidates assumed chosen) and shared by
    :func:`optimize`, :func:`greedy`, :func:`frontier`, :func:`k_best`, :func:`attribution`
    and :func:`prioritize` through their ``problem=`` argument: building it evaluates every
    scenario's loss for every subset of the candidates touching it, which is the expensive
    part of a small instance. A problem describes the site as it was when built; build a new
    one after changing the site.

    Parameters
    ----------
    site : Site
    base : iterable of str
        Candidate ids assumed already in the plan (the current state by default).

    Attributes
    ----------
    ids : list of str
        The candidates not in the base plan, in site order.
    blocks : list
        One evaluator block per scenario.
    baseline_ale : float
        Expected annual loss of the base state [currency/yr].
    """

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
        # the effects indexed once: touching and each candidate's effects on a scenario in
        # time linear in scenarios + effects (issue 16), not scenarios x candidates
        self._index = effect_index(site)
        touched = touching_all(site, self._index)
        self.blocks: list[_Block] = []
        for s in site.scenarios:
            self.blocks.append(self._block(s, zones, conduits, cand_levels, touched[s.id]))
        self.zones = [z.id for z in site.zones]
        zone_pos = {z: k for k, z in enumerate(self.zones)}
        self.block_zone = np.array([zone_pos[b.zone] for b in self.blocks], dtype=int)
        self.baseline_ale = float(
            sum(b.table[0] if b.table is not None else 0 for b in self.blocks)
        )
        if any(b.table is None for b in self.blocks):
            self.baseline_ale = float(self.total(np.zeros((1, self.n), dtype=bool))[0])
        self.scale = self.baseline_ale if self.baseline_ale > 0 else 1.0
        self._flat = None

    # -- construction ------------------------------------------------------------------------
    def _block(self, s, zones, conduits, cand_levels, touched) -> _Block:
        site = self.site
        cur = expected_scenario(site, s, self.state, (zones, conduits), self._index)
        tids = [c for c in touched if c in self.pos]
        idx = np.array([self.pos[c] for c in tids], dtype=int)

        def per_fr(z, e):
            return fr_protection(z[s.zone], e[s.entry] if s.entry else None, s.frs)

        elem_frs = scenario_elements(site, s)
        elems = tuple(elem_frs)
        mask = np.zeros((len(elems), 7), dtype=bool)
        for e, key in enumerate(elems):
            mask[e, fr_positions(elem_frs[key])] = True
        pick = {"zone": zones, "conduit": conduits}
        vec_base = np.array([pick[k][i] for k, i in elems], dtype=int).reshape(len(elems), 7)
        vec_cand = np.zeros((len(tids), len(elems), 7), dtype=int)
        for j, c in enumerate(tids):
            cz, cc = cand_levels[c]
            pick_c = {"zone": cz, "conduit": cc}
            for e, (k, i) in enumerate(elems):
                vec_cand[j, e] = pick_c[k][i]

        fr_base = per_fr(zones, conduits)
        fr_lev = np.array([per_fr(*cand_levels[c]) for c in tids], dtype=int).reshape(
            len(tids), len(s.frs)
        )
        cats = list(s.consequences.money())
        sep = separable(site, s)
        if sep:
            money = np.array([cur[f"money_{k}"] for k in cats], dtype=float)
        else:  # without the state's response factors, which _general applies per subset
            base_money = money_per_event(
                s, indexed_effects(site, s, self.state.active, self._index)
            )
            money = np.array([base_money[k] for k in cats], dtype=float)
        lopa = {cat: lopa_factor(s, cat) for cat in HARM_CATEGORIES}
        f = np.ones(len(tids))
        g = np.ones((len(tids), len(cats)))
        gh = np.ones((len(tids), 2))
        for j, c in enumerate(tids):
            eff = indexed_effects(site, s, [c], self._index)
            f[j] = eff.frequency_factor()
            g[j] = [eff.consequence_factor(cat) for cat in cats]
            gh[j] = [eff.consequence_factor(cat) for cat in HARM_CATEGORIES]
        base_eff = indexed_effects(site, s, self.state.active, self._index)
        harm_p = np.zeros(2)
        harm_sev = np.zeros(2, dtype=int)
        for h, cat in enumerate(HARM_CATEGORIES):
            rec = getattr(s.consequences, cat)
            if rec is not None and rec.severity > 0:
                harm_p[h] = rec.probability * base_eff.consequence_factor(cat) * lopa[cat]
                harm_sev[h] = rec.severity
        blk = _Block(
            sid=s.id,
            zone=s.zone,
            idx=idx,
            rate0=cur["base_rate"] * cur["freq_factor"],
            separable=sep,
            site=site,
            scenario=s,
            elems=elems,
            vec_base=vec_base,
            vec_cand=vec_cand,
            mask=mask,
            cats=tuple(cats),
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
        """Cost per candidate of a budget kind: [currency/yr] or [currency] (capex)."""
        return self.costs[_cost_kind(kind)]

    def mask(self, members: Iterable[str]) -> np.ndarray:
        """Bool vector (n,) of the candidates named; members of the base plan are ignored."""
        x = np.zeros(self.n, dtype=bool)
        for c in members:
            if c in self.pos:
                x[self.pos[c]] = True
            elif c not in self.base:
                known = ", ".join(self.ids) or "none"
                raise ValueError(f"{c!r} is not a candidate countermeasure; candidates: {known}")
        return x

    def members(self, x: np.ndarray) -> tuple[str, ...]:
        """Candidate ids of a bool vector (n,)."""
        return tuple(self.ids[i] for i in np.flatnonzero(x))

    def block_values(self, x: np.ndarray, blocks=None) -> tuple[np.ndarray, np.ndarray]:
        """Loss (P, B) [currency/yr] and harm rates (P, B, 2) [events/yr] of plans (P, n).

        With ``blocks`` (indices), only those blocks, in that order: (P, len(blocks)).
        """
        x = np.atleast_2d(np.asarray(x, dtype=bool))
        which = range(len(self.blocks)) if blocks is None else blocks
        p = x.shape[0]
        loss = np.empty((p, len(which)))
        harm = np.empty((p, len(which), 2))
        for col, b in enumerate(which):
            blk = self.blocks[b]
            bits = x[:, blk.idx]
            if blk.table is not None:
                code = bits.astype(np.int64) @ (1 << np.arange(blk.m, dtype=np.int64))
                loss[:, col] = blk.table[code]
                harm[:, col] = blk.harm_table[code]
            else:
                loss[:, col], harm[:, col] = blk.evaluate(bits)
        return loss, harm

    @cached_property
    def candidate_blocks(self) -> list[np.ndarray]:
        """Per candidate, the indices of the blocks (scenarios) it touches."""
        out: list[list[int]] = [[] for _ in range(self.n)]
        for b, blk in enumerate(self.blocks):
            for i in blk.idx:
                out[i].append(b)
        return [np.array(v, dtype=int) for v in out]

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

    @cached_property
    def base_state_ale(self) -> float:
        """Expected annual loss of the base state in closed form [currency/yr]."""
        return float(expected_losses(self.site, plan=self.state.plan or None)["ale"].sum())

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


_Instance = Problem  # the former name, kept for tests and benchmarks


def _problem(site: Site, problem: Problem | None = None, base: Iterable[str] = ()) -> Problem:
    """``problem`` if given (checked to describe ``site`` and ``base``), else a new one."""
    base = tuple(dict.fromkeys(base))
    if problem is None:
        return Problem(site, base)
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a riskkit.portfolio.Problem, {problem!r} was given")
    if problem.site is not site or problem.base != base:
        raise ValueError(
            "problem was built for another site or base plan"
            f" (base {list(problem.base)}, wanted {list(base)}): build Problem(site, base)"
        )
    return problem


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


def _fmt(x: float) -> str:
    """Money or cost for a message: thousands separators, small values with 4 digits."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.4g}"
