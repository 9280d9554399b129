"""The Monte Carlo run: what each scenario draws, the chunks of trials, and the public calls.

One trial is one simulated year (docs/model.md, "One simulated year"). For every trial and
scenario the engine samples the parameters (attempt rate, vulnerability, countermeasure
reductions), draws the number of successful events from a Poisson distribution given that
year's rate, draws the consequences of every event and sums them: the annual loss is a true
compound sum, not the product of a frequency and a magnitude. Zone and site losses are sums
over scenarios, trial by trial. Safety and environment consequences stay severity classes and
are counted as events per year of each class.

Common random numbers
---------------------
Every state (unmitigated, current, a plan) is simulated on the same random numbers, so that the
difference between two states is the effect of the countermeasures and not sampling noise:

- each random quantity has its own stream, keyed by what it is (``S-07|vulnerability``,
  ``effect|CM-12|1`` for the reduction of effect 1 of CM-12, ``actor|A-RANSOM``); a stream's
  draws therefore never depend on which other streams are used, which countermeasures are
  active, or the order of records in the file;
- parameters are drawn once per trial: an actor's attempt rate and a countermeasure effect's
  reduction are shared by every scenario they act on in that year (one uncertain quantity
  each), a scenario's vulnerability and own rate are its own;
- the events of a trial are those of the *unmitigated* year (rate lambda_0 = attempts x share x
  vulnerability, counts by inverse-CDF Poisson from one uniform per trial); a state with
  factor f = r^-min(L, c) prod(1 - e_i) <= 1 keeps the events whose uniform mark is below f
  (Poisson thinning: the kept count is Poisson(lambda_0 f)), and scales each money category by
  prod(1 - d_j). Adding protection can only remove events and shrink factors, so a plan never
  raises any trial's loss of any scenario.

Blocks of trials, chunks and workers
------------------------------------
Every stream is cut into blocks of :data:`BLOCK` trials: the draws of quantity ``q`` for the
trials of block ``j`` (trials ``j BLOCK`` .. ``(j + 1) BLOCK - 1``) come from their own
generator, the child of :class:`numpy.random.SeedSequence` (``seed``) with spawn key (hash of
``q``, ``j``). Within a block, a stream is consumed in trial order (per-event streams: the
events of the block's trials, in trial order), and every sampler draws its values one after
another, so splitting a block's draws into pieces gives the same values. A trial's numbers
depend only on its block, so a run of ``n`` trials is the start of every longer run with the
same seed.

A run simulates *chunks* of trials, whole numbers of blocks (a ``chunk_size`` is rounded up to
a multiple of :data:`BLOCK`); each chunk draws its blocks' values and evaluates every state
on them, vectorised over the chunk. No number depends on another block, so chunks can be
simulated in any order and at the same time: ``workers`` threads simulate chunks
concurrently. numpy's samplers and array operations release the GIL while they fill
arrays, which is where the time goes, so threads share one site and need no pickling. The
numbers are the same, to the bit, for every ``chunk_size`` and every number of ``workers``;
:data:`BLOCK` itself is part of their definition (another block size gives other, equally
valid, numbers, as another seed would).

The cost of a run grows with the unmitigated event count, whatever the state.

References
----------
.. [1] IEC 62443-3-2:2020, *Security risk assessment for system design*, clause 4.6 (ZCR 5:
   detailed cyber security risk assessment: likelihood, consequences, residual risk).
.. [2] Klugman, S. A., Panjer, H. H., Willmot, G. E. (2012). *Loss Models: From Data to
   Decisions*, 4th ed., Wiley, ch. 9 (aggregate loss models, compound Poisson).
.. [3] Glasserman, P. (2004). *Monte Carlo Methods in Financial Engineering*, Springer,
   sec. 4.2 (control of variance with common random numbers).
.. [4] Acerbi, C., Tasche, D. (2002). On the coherence of expected shortfall. *Journal of
   Banking & Finance* 26(7), 1487-1503.
.. [5] Devroye, L. (1986). *Non-Uniform Random Variate Generation*, Springer, sec. X.3
   (Poisson by inversion) and VI.2 (thinning of Poisson processes).
.. [6] L'Ecuyer, P., Munger, D., Oreshkin, B., Simard, R. (2017). Random numbers for parallel
   computers: requirements and methods, with emphasis on GPUs. *Mathematics and Computers in
   Simulation* 135, 3-17 (substreams per block of work for reproducible parallel runs).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..rules import (
    MIN_TRIALS,
    State,
    achieved_levels,
    effect_index,
    indexed_effects,
    money_terms,
    resolve_state,
    scenario_elements,
    scenario_factors,
)
from ..site import HARM_CATEGORIES, Site
from .limits import MAX_EVENTS_PER_YEAR, _check_memory, _check_rates, _rate_problem
from .results import Simulation, _Totals
from .streams import BLOCK, _join, _poisson_counts, _segment_sum, _stream

__all__ = ["simulate", "simulate_many", "DEFAULT_CHUNK", "MAX_EVENTS", "GROUP_BYTES", "KEEP_BYTES"]

DEFAULT_CHUNK = 1 << 16
"""Trials simulated together [trials], a multiple of :data:`BLOCK`; bounds the memory of
per-event arrays. With ``workers > 1`` and no ``chunk_size``, chunks are made smaller (down to
one block) so that every worker gets several."""

MAX_EVENTS = 1 << 21
"""Events drawn at once for one scenario; larger chunks are cut into pieces of trials."""

# --------------------------------------------------------------------------------------------
# What the run does to each scenario (static set-up)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """How one state acts on one scenario."""

    sl_factor: float  # the rate factor of rules.scenario_factors
    freq: tuple[str, ...]  # reduction streams of the active frequency effects
    cons: tuple[tuple[str, tuple[str, ...]], ...]  # (category, reduction streams)
    fixed: tuple[tuple[str, float], ...] = ()  # (category, factor != 1): FR6/FR7, LOPA

    @property
    def thin(self) -> bool:
        return self.sl_factor < 1.0 or bool(self.freq)

    def scaled(self, category: str) -> tuple[str, ...]:
        for cat, labels in self.cons:
            if cat == category:
                return labels
        return ()

    def factor(self, category: str) -> float:
        """The constant factor of a category from :func:`~riskkit.rules.scenario_factors`."""
        for cat, f in self.fixed:
            if cat == category:
                return f
        return 1.0


@dataclass
class _ScenarioRun:
    """Static description of one scenario for one run."""

    col: int
    id: str
    actor: str | None  # actor id when the rate comes from the actor's attempts
    share: float
    rate: Any  # the scenario's own rate spec, or None
    vulnerability: Any
    terms: list[tuple[str, tuple[Any, ...]]]  # money terms: (category, specs multiplied per event)
    harms: dict[str, tuple[int, float]]  # category -> (severity, probability)
    reductions: dict[str, Any]  # stream label -> reduction spec
    views: list[_View]
    marks: bool = field(init=False)
    harm_draw: dict[str, bool] = field(init=False)

    def __post_init__(self):
        self.marks = any(v.thin for v in self.views)
        self.harm_draw = {
            cat: p < 1.0 or any(v.scaled(cat) or v.factor(cat) < 1.0 for v in self.views)
            for cat, (_, p) in self.harms.items()
        }

    @property
    def has_events(self) -> bool:
        return bool(self.terms or self.harms)


def _first_effects(site: Site) -> dict[tuple[str, int], int]:
    """(countermeasure id, id of a reduction spec) -> position of its first effect with it."""
    first: dict[tuple[str, int], int] = {}
    for cm in site.countermeasures:
        for k, e in enumerate(cm.effects):
            spec = getattr(e, "reduction", None)
            if spec is not None:
                first.setdefault((cm.id, id(spec)), k)
    return first


def _scenario_runs(site: Site, states: list[State]) -> list[_ScenarioRun]:
    levels = [achieved_levels(site, st) for st in states]
    index = effect_index(site)  # the effects indexed once: linear in scenarios + effects
    first = _first_effects(site)
    plans = []
    for col, s in enumerate(site.scenarios):
        reductions: dict[str, Any] = {}
        views = []
        # states that leave the levels of the scenario's elements alike share its factors
        # (the same call, so the same numbers): one evaluation per distinct set of levels
        elems = list(scenario_elements(site, s))
        factors: dict[bytes, Any] = {}
        for st, (zones, conduits) in zip(states, levels):
            pick = {"zone": zones, "conduit": conduits}
            key = b"".join(pick[k][i].tobytes() for k, i in elems)
            fac = factors.get(key)
            if fac is None:
                fac = factors[key] = scenario_factors(site, s, zones, conduits)
            eff = indexed_effects(site, s, st.active, index)
            freq = tuple(
                _label(site, s.id, cid, spec, reductions, first) for cid, spec in eff.frequency
            )
            cons = tuple(
                (
                    cat,
                    tuple(_label(site, s.id, cid, spec, reductions, first) for cid, spec in lst),
                )
                for cat, lst in sorted(eff.consequence.items())
            )
            fixed = tuple(
                (cat, float(f))
                for cat, f in {**fac.consequence, **fac.harm}.items()
                if float(f) != 1.0
            )
            views.append(_View(float(fac.rate), freq, cons, fixed))
        terms = list(money_terms(s).items())
        harms = {cat: (h.severity, h.probability) for cat, h in s.consequences.harms().items()}
        if s.rate is not None:
            actor, share, rate = None, 1.0, s.rate
        else:
            actor, share, rate = s.actor, float(s.rate_share), None
        plans.append(
            _ScenarioRun(
                col, s.id, actor, share, rate, s.vulnerability, terms, harms, reductions, views
            )
        )
    return plans


def _label(
    site: Site, sid: str, cid: str, spec: Any, reductions: dict[str, Any], first=None
) -> str:
    """Stream label of the reduction of effect k of countermeasure ``cid``: ``effect|CM|k``.

    One draw per trial and effect, shared by every scenario the effect acts on: how well a
    countermeasure works is one uncertain quantity, like an actor's attempt rate. ``first``
    (:func:`_first_effects`) finds k without scanning the countermeasure's effects.
    """
    if first is not None:
        k = first[(cid, id(spec))]
    else:
        effects = site.countermeasure(cid).effects
        k = next(i for i, e in enumerate(effects) if getattr(e, "reduction", None) is spec)
    label = f"effect|{cid}|{k}"
    reductions[label] = spec
    return label


# --------------------------------------------------------------------------------------------
# The simulation loop
# --------------------------------------------------------------------------------------------


@dataclass
class _Out:
    """Per-state outputs filled by the chunks for a group of scenarios.

    Columns are the group's scenarios (``pos`` maps a scenario's column in the site to its
    column here); the rows are the run's trials.
    """

    loss: np.ndarray | None  # (trials, group scenarios) float64, Fortran order
    harm: dict[str, np.ndarray]  # category -> (trials, group scenarios with that harm) int32
    harm_cols: dict[str, list[int]]  # category -> scenario columns (site numbering)
    rates: np.ndarray | None = None  # (trials, scenarios) float64, when asked (every scenario)
    pos: dict[int, int] = field(default_factory=dict)  # site column -> column of ``loss``


def _factor(view: _View, red: dict[str, Any]) -> float | np.ndarray:
    f: float | np.ndarray = view.sl_factor
    for lab in view.freq:
        f = f * (1.0 - red[lab])
    return f


def _scale(labels: tuple[str, ...], red: dict[str, Any]) -> float | np.ndarray:
    s: float | np.ndarray = 1.0
    for lab in labels:
        s = s * (1.0 - red[lab])
    return s


class _Chunk:
    """Simulates the trials ``[a, b)`` of every scenario; ``a`` starts a block.

    Holds the generators of the blocks it covers (one per stream and block, created on first
    use) and the per-trial draws shared by several scenarios (actors' attempt rates, effects'
    reductions). Writes only rows ``a .. b-1`` of the outputs, so chunks can run concurrently.
    """

    def __init__(
        self,
        site: Site,
        seed: int,
        plans: list[_ScenarioRun],
        events: bool,
        a: int,
        b: int,
        origin: int = 0,
    ):
        self.site = site
        self.origin = origin  # the outputs' row 0 is trial ``origin``
        self.seed = seed
        self.plans = plans
        self.events = events
        self.a, self.b = a, b
        self.blocks = range(a // BLOCK, (b - 1) // BLOCK + 1)
        # chunk-relative first trial of each block, then the chunk's length
        self.edges = np.array([max(j * BLOCK, a) - a for j in self.blocks] + [b - a])
        self.sizes = np.diff(self.edges)  # trials of each block in this chunk
        self.rng: dict[tuple[str, int], np.random.Generator] = {}
        self.shared: dict[str, Any] = {}

    # -- streams ------------------------------------------------------------------------------
    def gen(self, label: str, k: int) -> np.random.Generator:
        """Generator of stream ``label`` for the chunk's block ``k`` (continues where it was)."""
        g = self.rng.get((label, k))
        if g is None:
            g = self.rng[(label, k)] = _stream(self.seed, label, self.blocks[k])
        return g

    def draw(self, label: str, spec: Any, sizes: np.ndarray) -> float | np.ndarray:
        """``sizes[k]`` draws of ``spec`` from block ``k`` of ``label``, joined in block order.

        A float where the spec is constant (no draws consumed).
        """
        if spec.is_constant:
            return float(spec.bounds()[0])
        return _join([spec.sample(self.gen(label, k), int(m)) for k, m in enumerate(sizes) if m])

    def uniform(self, label: str, sizes: np.ndarray) -> np.ndarray:
        """``sizes[k]`` uniforms on [0, 1) from block ``k`` of ``label``, joined."""
        out = np.empty(int(sizes.sum()))
        pos = 0
        for k, m in enumerate(sizes):
            if m:
                self.gen(label, k).random(out=out[pos : pos + m])  # no copy to join them
                pos += m
        return out

    def large(self, label: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """Poisson counts of the chunk's trials ``idx`` (sorted) at rates ``lam``."""

        def counts(idx: np.ndarray, lam: np.ndarray) -> np.ndarray:
            cut = np.searchsorted(idx, self.edges)
            return _join(
                [
                    self.gen(label, k).poisson(lam[cut[k] : cut[k + 1]])
                    for k in range(len(self.blocks))
                    if cut[k + 1] > cut[k]
                ]
            )

        return counts

    def common(self, label: str, spec: Any) -> float | np.ndarray:
        """Per-trial draws of a quantity shared by several scenarios (drawn once a chunk)."""
        x = self.shared.get(label)
        if x is None:
            x = self.shared[label] = self.draw(label, spec, self.sizes)
        return x

    # -- simulation ---------------------------------------------------------------------------
    def run(self, outs: list[_Out]) -> None:
        for plan in self.plans:
            self._scenario(plan, outs)

    def _scenario(self, plan: _ScenarioRun, outs: list[_Out]) -> None:
        a, b = self.a, self.b
        n = b - a
        sid = plan.id
        # parameters, once per trial
        if plan.actor is not None:
            spec = self.site.actor(plan.actor).attempt_rate
            lam0 = self.common(f"actor|{plan.actor}", spec) * plan.share
        else:
            lam0 = self.draw(f"{sid}|rate", plan.rate, self.sizes)
        lam0 = lam0 * self.draw(f"{sid}|vulnerability", plan.vulnerability, self.sizes)
        red = {lab: self.common(lab, spec) for lab, spec in plan.reductions.items()}

        # one computation per distinct view (states that act alike on this scenario share it)
        distinct: dict[_View, list[int]] = {}
        for i, v in enumerate(plan.views):
            distinct.setdefault(v, []).append(i)

        for v, idx in distinct.items():
            if outs[idx[0]].rates is not None:
                lam = np.broadcast_to(lam0 * _factor(v, red), (n,))
                for i in idx:
                    outs[i].rates[a - self.origin : b - self.origin, plan.col] = lam
        if not self.events or not plan.has_events:
            return

        u = self.uniform(f"{sid}|count", self.sizes)
        counts = _poisson_counts(u, lam0, self.large(f"{sid}|count.large"))
        if counts.size and counts.max() > MAX_EVENTS_PER_YEAR:
            raise _rate_problem(self.site, plan.id, f"a sampled year has {counts.max():,} events")
        # cut the chunk into pieces of at most MAX_EVENTS events (same draws, less memory)
        ends = np.zeros(n + 1, dtype=np.int64)  # ends[t]: events of the chunk's trials < t
        np.cumsum(counts, out=ends[1:])
        lo = 0
        while lo < n:
            hi = int(np.searchsorted(ends, ends[lo] + MAX_EVENTS, side="right")) - 1
            hi = min(max(hi, lo + 1), n)
            # events of each block within trials lo .. hi-1
            sizes = np.diff(ends[np.clip(self.edges, lo, hi)])
            self._events(plan, lo, hi, counts[lo:hi], sizes, red, distinct, outs)
            lo = hi

    def _events(self, plan, lo, hi, counts, sizes, red, distinct, outs):
        sid = plan.id
        m = hi - lo
        total = int(counts.sum())
        sub = slice(self.a - self.origin + lo, self.a - self.origin + hi)
        if total == 0:  # outputs start at zero
            return
        starts = np.zeros(m, dtype=np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        nz = np.flatnonzero(counts)
        seg = (nz, starts[nz], m)  # trials with events, their first event, trials

        # per-event draws, in trial order
        terms = []
        for cat, specs in plan.terms:
            x: float | np.ndarray = 1.0
            for j, spec in enumerate(specs):
                label = f"{sid}|{cat}" if j == 0 else f"{sid}|{cat}.{j}"
                x = x * self.draw(label, spec, sizes)
            terms.append((cat, x))
        marks = self.uniform(f"{sid}|mark", sizes) if plan.marks else None
        harm_u = {
            cat: self.uniform(f"{sid}|harm.{cat}", sizes)
            for cat, need in plan.harm_draw.items()
            if need
        }
        sl_red = {k: (v[lo:hi] if isinstance(v, np.ndarray) else v) for k, v in red.items()}

        for v, idx in distinct.items():
            if v.thin:
                f = _factor(v, sl_red)
                f_ev = np.repeat(f, counts) if isinstance(f, np.ndarray) else f
                alive = marks < f_ev
                n_alive = _segment_sum(alive.astype(np.int64), *seg)
            else:
                alive = None
                n_alive = counts
            loss = np.zeros(m)
            for cat, x in terms:
                if isinstance(x, np.ndarray):
                    s = _segment_sum(x if alive is None else x * alive, *seg)
                else:
                    s = x * n_alive
                loss += _scale(v.scaled(cat), sl_red) * v.factor(cat) * s
            harm = {}
            for cat, (_, p) in plan.harms.items():
                if not plan.harm_draw[cat]:
                    harm[cat] = n_alive
                    continue
                q = p * v.factor(cat) * _scale(v.scaled(cat), sl_red)
                q_ev = np.repeat(q, counts) if isinstance(q, np.ndarray) else q
                hit = harm_u[cat] < q_ev
                if alive is not None:
                    hit &= alive
                harm[cat] = _segment_sum(hit.astype(np.int64), *seg)
            for i in idx:
                o = outs[i]
                o.loss[sub, o.pos[plan.col]] = loss
                for cat, h in harm.items():
                    o.harm[cat][sub, o.harm_cols[cat].index(plan.col)] = h


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, {value!r} was given")
    return int(value)


def _cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _resolve_workers(workers: int | None) -> int:
    """``workers``, or every CPU available to the process for ``None``."""
    return _cpus() if workers is None else _check_int("workers", workers, 1)


def _chunk_trials(chunk_size: int | None, trials: int, workers: int) -> int:
    """Trials of a chunk: ``chunk_size`` rounded up to a whole number of blocks.

    By default :data:`DEFAULT_CHUNK`, made smaller with several workers so that each gets
    about four chunks (never below one block).
    """
    if chunk_size is None:
        chunk = DEFAULT_CHUNK
        if workers > 1:
            chunk = min(chunk, -(-trials // (4 * workers)))
    else:
        chunk = _check_int("chunk_size", chunk_size, 1)
    return -(-chunk // BLOCK) * BLOCK


def _run(
    site: Site,
    states: list[State],
    trials: int,
    seed: int,
    chunk_size: int | None,
    workers: int | None,
    events: bool = True,
    rates: bool = False,
    client: Any = None,
    keep: Sequence[int] = (),
    site_only: bool = False,
) -> list[Any]:
    """Simulate ``states``: their :class:`_Totals` (or, for ``events=False``, their rates).

    The scenarios are drawn in groups of whole columns (:func:`_groups`); each group's
    chunks of trials run on the workers, then the group is folded into every state's
    totals, in the site's order of scenarios, before the next group is drawn.
    """
    if client is not None:
        workers = max(1, sum(client.nthreads().values()))
    else:
        workers = _resolve_workers(workers)
    chunk = _chunk_trials(chunk_size, trials, workers)
    _check_rates(site)
    plans = _scenario_runs(site, states)
    starts = range(0, trials, chunk)
    pool = None
    if client is None and workers > 1 and len(starts) > 1:
        pool = ThreadPoolExecutor(max_workers=min(workers, len(starts)))

    def simulate_group(group: list[_ScenarioRun], outs: list[_Out]) -> None:
        if client is not None:
            _run_on_cluster(client, site, seed, group, events, rates, outs, starts, chunk, trials)
            return

        def one(a: int) -> None:
            _Chunk(site, seed, group, events, a, min(a + chunk, trials)).run(outs)

        if pool is None:
            for a in starts:
                one(a)
        else:
            for fut in [pool.submit(one, a) for a in starts]:
                fut.result()

    try:
        if not events:  # parameters only (event rates): every scenario at once
            outs = _outputs(plans, len(states), trials, events, rates)
            simulate_group(plans, outs)
            return outs
        totals = [
            _Totals(site, trials, keep, _harm_members(plans), site_only=site_only) for _ in states
        ]
        for group in _groups(plans, trials, len(states), set(keep)):
            cols = [p.col for p in group]
            views = [t.views(cols, _harm_members(group)) for t in totals]
            in_place = all(v is not None for v in views)
            if in_place:
                outs = [_out(group, *v) for v in views]
            else:
                outs = _outputs(group, len(states), trials, events, rates)
            simulate_group(group, outs)
            for t, o in zip(totals, outs):
                t.fold(o, cols, in_place)
            del outs, views  # the group's columns: free before the next group
        return totals
    finally:
        if pool is not None:
            pool.shutdown()


GROUP_BYTES = 1 << 26
"""Memory of the scenario columns drawn together, all states together [bytes].

A run draws the scenarios in groups of whole columns (every trial of each) and folds each
group into the zone and site totals before drawing the next, so memory beyond the totals is
bounded by this (a group has at least one scenario). More groups redraw the quantities that
scenarios share (actors' attempts, countermeasure effects) once per group; the numbers never
depend on the grouping.
"""

KEEP_BYTES = 1 << 28
"""``keep_scenarios=None`` keeps every scenario's per-trial columns when they take at most
this much memory, all states together [bytes], and none otherwise."""

_CELL_BYTES = 8 + 4 * len(HARM_CATEGORIES)
"""Bytes of one trial of one scenario in one state: the loss and the harm counts."""


def _resolve_keep(site: Site, keep: Any, trials: int, states: int) -> list[int]:
    """Site columns of the scenarios whose per-trial losses a run keeps (sorted)."""
    n = len(site.scenarios)
    if keep is None:
        small = float(trials) * states * n * _CELL_BYTES <= KEEP_BYTES
        return list(range(n)) if small else []
    if keep is True:
        return list(range(n))
    if keep is False:
        return []
    if isinstance(keep, str):
        keep = [keep]
    col = {s.id: j for j, s in enumerate(site.scenarios)}
    cols = set()
    for sid in keep:
        if sid not in col:
            raise ValueError(f"keep_scenarios: no scenario {sid!r} in site {site.name!r}")
        cols.add(col[sid])
    return sorted(cols)


def _groups(
    plans: list[_ScenarioRun], trials: int, states: int, kept: set[int]
) -> list[list[_ScenarioRun]]:
    """Consecutive scenarios drawn together.

    Each run of kept scenarios is one group (their columns are held anyway); the others go
    by :data:`GROUP_BYTES`.
    """
    size = max(1, int(GROUP_BYTES // max(float(trials) * states * _CELL_BYTES, 1.0)))
    groups: list[list[_ScenarioRun]] = []
    for is_kept, run in itertools.groupby(plans, key=lambda p: p.col in kept):
        run = list(run)
        if is_kept:
            groups.append(run)
        else:
            groups += [run[i : i + size] for i in range(0, len(run), size)]
    return groups


def _harm_members(plans: list[_ScenarioRun]) -> dict[str, list[int]]:
    """Category -> site columns of the ``plans`` that have that harm."""
    return {cat: [p.col for p in plans if cat in p.harms] for cat in HARM_CATEGORIES}


def _out(plans: list[_ScenarioRun], loss, harm, rates=None) -> _Out:
    return _Out(
        loss=loss,
        harm=harm,
        harm_cols=_harm_members(plans),
        rates=rates,
        pos={p.col: i for i, p in enumerate(plans)},
    )


def _outputs(plans: list[_ScenarioRun], states: int, trials: int, events: bool, rates: bool):
    """Zeroed outputs of ``states`` states for ``trials`` trials of the scenarios ``plans``."""
    outs = []
    members = _harm_members(plans)
    for _ in range(states):
        outs.append(
            _out(
                plans,
                loss=np.zeros((trials, len(plans)), order="F") if events else None,
                harm={
                    cat: np.zeros((trials, len(cols)), dtype=np.int32, order="F")
                    for cat, cols in members.items()
                }
                if events
                else {},
                rates=np.zeros((trials, len(plans)), order="F") if rates else None,
            )
        )
    return outs


def _remote_chunk(site, seed, plans, events, rates, states, a, b) -> list[_Out]:
    """The outputs of trials ``[a, b)`` alone (row 0 is trial ``a``): a task on a cluster."""
    outs = _outputs(plans, states, b - a, events, rates)
    _Chunk(site, seed, plans, events, a, b, origin=a).run(outs)
    return outs


def _run_on_cluster(client, site, seed, plans, events, rates, outs, starts, chunk, trials):
    """Simulate the chunks as tasks of a Dask cluster and copy their rows into ``outs``.

    Each task draws exactly what the local chunk would (the streams are keyed by block), so
    the numbers are bit-identical to a local run.
    """
    from dask.distributed import as_completed

    site_f, plans_f = client.scatter([site, plans], broadcast=True, hash=False)
    futures = {
        client.submit(
            _remote_chunk,
            site_f,
            seed,
            plans_f,
            events,
            rates,
            len(outs),
            a,
            min(a + chunk, trials),
            pure=False,
        ): a
        for a in starts
    }
    for fut in as_completed(list(futures)):
        a = futures[fut]
        part = fut.result()
        rows = slice(a, a + (part[0].loss if events else part[0].rates).shape[0])
        for o, p in zip(outs, part):
            if events:
                o.loss[rows] = p.loss
                for cat, h in p.harm.items():
                    o.harm[cat][rows] = h
            if rates:
                o.rates[rows] = p.rates
        fut.release()


def _resolve_run(
    site: Site, trials, seed, states: int = 1, keep: Any = None
) -> tuple[int, int, list[int]]:
    """Trials, seed and the kept scenario columns of a run, after the memory check."""
    # at least MIN_TRIALS, as in the site file: fewer years cannot estimate VaR99 / ES99
    from_site = trials is None
    trials = _check_int("trials", site.model.trials if from_site else trials, MIN_TRIALS)
    seed = _check_int("seed", site.model.seed if seed is None else seed, 0)
    cols = _resolve_keep(site, keep, trials, states)
    group = min(len(site.scenarios), max(1, GROUP_BYTES // (trials * states * _CELL_BYTES)))
    _check_memory(site, trials, states, from_site, kept=len(cols), group=group)
    return trials, seed, cols


def simulate(
    site: Site,
    trials: int | None = None,
    seed: int | None = None,
    state: str | State = "current",
    plan: Iterable[str] | None = None,
    *,
    chunk_size: int | None = None,
    workers: int | None = 1,
    client: Any = None,
    keep_scenarios: bool | str | Iterable[str] | None = None,
) -> Simulation:
    """Simulate annual losses of every scenario of ``site`` in one state.

    Parameters
    ----------
    site : Site
        A validated site (:func:`riskkit.load_site`).
    trials : int, optional
        Simulated years [trials], at least 100; default ``site.model.trials``.
    seed : int, optional
        Seed of every random stream; default ``site.model.seed``. Same inputs and seed give
        the same numbers, for every ``chunk_size`` and ``workers``.
    state : {'unmitigated', 'current', 'plan'} or State
        ``unmitigated``: no SL-A and no countermeasures; ``current``: today's SL-A and the
        implemented countermeasures; ``plan``: current plus the candidates in ``plan``.
    plan : iterable of str, optional
        Candidate countermeasure ids (giving a plan with the default state means ``plan``).
    chunk_size : int, optional
        Trials simulated together [trials], rounded up to a multiple of :data:`BLOCK`; bounds
        memory, never changes the numbers. Default :data:`DEFAULT_CHUNK` (smaller with
        several workers).
    workers : int or None, default 1
        Threads simulating chunks of trials at the same time; ``None`` means one per CPU
        available to the process. Never changes the numbers. Each running chunk holds its own
        per-event arrays, so memory beyond the results grows with ``workers``.
    client : dask.distributed.Client, optional
        Simulate the chunks as tasks on this Dask cluster (``workers`` is then ignored, and
        chunks are sized for the cluster's threads); the results come back to this process.
        Bit-identical to a local run with the same seed: every block of trials draws from
        its own streams wherever it runs. Needs riskkit installed on the workers.
    keep_scenarios : bool, str or iterable of str, optional
        Scenarios whose per-trial losses and harm counts the result keeps, for
        ``losses('scenario')``, ``harm_counts`` and ``exceedance('scenario')``: ids, ``True``
        (every scenario) or ``False`` (none). Default ``None``: every scenario when their
        tables take at most :data:`KEEP_BYTES`, none otherwise. Each kept scenario costs 12
        to 16 bytes per trial; the zone and site losses of every trial and the statistics of
        every scenario (``summary('scenario')``) are kept whatever this says, and never
        depend on it.

    Returns
    -------
    Simulation

    See Also
    --------
    simulate_many : several states or plans in one pass on the same random numbers.

    Notes
    -----
    Every state is simulated on common random numbers (see the module notes), so
    ``simulate(site, seed=s, state="unmitigated")``, ``simulate(site, seed=s)`` and
    ``simulate(site, seed=s, plan=[...])`` are coupled trial by trial: a plan that only adds
    protection never raises a trial's loss of any scenario.

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.6 (ZCR 5.x: unmitigated and residual risk).
    """
    st = resolve_state(site, state, plan)
    trials, seed, keep = _resolve_run(site, trials, seed, keep=keep_scenarios)
    workers = _resolve_workers(workers)
    (out,) = _run(site, [st], trials, seed, chunk_size, workers, client=client, keep=keep)
    return Simulation(site, trials, seed, st, out, chunk_size, workers)


def simulate_many(
    site: Site,
    plans: Mapping[str, Any] | Iterable[str],
    trials: int | None = None,
    seed: int | None = None,
    *,
    chunk_size: int | None = None,
    workers: int | None = 1,
    client: Any = None,
    keep_scenarios: bool | str | Iterable[str] | None = None,
    site_only: bool = False,
) -> dict[str, Simulation]:
    """Simulate several states or plans in one pass, sharing every random draw.

    The parameters and events are drawn once and every state is evaluated on them, which is
    much faster than separate calls and gives exactly the same numbers as they would.

    Parameters
    ----------
    site : Site
    plans : mapping of str to (list of str, str or State), or iterable of state names
        Name -> a list of candidate ids (a plan), a state name (``'unmitigated'``,
        ``'current'``) or a :class:`~riskkit.exposure.State`. An iterable of state names
        maps each name to itself.
    trials, seed, chunk_size, workers, client
        As for :func:`simulate`.
    keep_scenarios : bool, str or iterable of str, optional
        As for :func:`simulate`, for every state (the default weighs the tables of all
        states together).
    site_only : bool, default False
        Keep only what ranking many plans needs: the site's loss of every trial, its
        statistics and the harm event counts; no zone losses, no per-scenario statistics
        and no kept scenario columns (``losses('zone')``, ``summary('zone')`` and
        ``summary('scenario')`` then raise). Memory is trials x states, not trials x zones x
        states, and the site numbers are the same as without it.

    Returns
    -------
    dict of str to Simulation
        In the order of ``plans``.

    Examples
    --------
    >>> sims = simulate_many(site, {"now": "current", "diode": ["CM-10"]}, trials=10_000)
    >>> (sims["now"].losses("site") - sims["diode"].losses("site")).mean()  # doctest: +SKIP
    """
    if not isinstance(plans, Mapping):
        plans = {name: name for name in plans}
    names, states = [], []
    for name, spec in plans.items():
        if isinstance(spec, State):
            st = spec
        elif isinstance(spec, str):
            st = resolve_state(site, spec)
        else:
            st = resolve_state(site, "plan", list(spec))
        names.append(str(name))
        states.append(st)
    if site_only:
        keep_scenarios = False
    trials, seed, keep = _resolve_run(site, trials, seed, max(len(states), 1), keep_scenarios)
    workers = _resolve_workers(workers)
    if not states:
        return {}
    outs = _run(
        site,
        states,
        trials,
        seed,
        chunk_size,
        workers,
        client=client,
        keep=keep,
        site_only=site_only,
    )
    return {
        n: Simulation(site, trials, seed, st, o, chunk_size, workers)
        for n, st, o in zip(names, states, outs)
    }
