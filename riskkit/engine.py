"""The Monte Carlo engine: simulated years of loss per scenario, zone and site.

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

import functools
import hashlib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .exposure import expected_losses
from .rules import (
    MIN_TRIALS,
    SEVERITY_CLASSES,
    State,
    achieved_levels,
    base_rate_mean,
    harm_at_least,
    harm_columns,
    loss_grid,
    money_per_event,
    money_terms,
    protection_level,
    resolve_state,
    scenario_effects,
    sl_factor,
)
from .site import HARM_CATEGORIES, Problem, Site, SiteError

__all__ = [
    "LEVELS",
    "QUANTILES",
    "Simulation",
    "simulate",
    "simulate_many",
    "moments",
]

LEVELS: tuple[str, ...] = ("scenario", "zone", "site")
"""Levels of aggregation of losses."""

QUANTILES: tuple[float, ...] = (0.90, 0.95, 0.99)
"""Confidence levels of the value at risk and expected shortfall columns."""

BLOCK = 1 << 14
"""Trials per block of every random stream [trials].

Each block of each stream has its own generator, so blocks can be simulated in any order and
concurrently. Part of the definition of the random numbers: changing it changes them.
"""

DEFAULT_CHUNK = 1 << 16
"""Trials simulated together [trials], a multiple of :data:`BLOCK`; bounds the memory of
per-event arrays. With ``workers > 1`` and no ``chunk_size``, chunks are made smaller (down to
one block) so that every worker gets several."""

MAX_EVENTS = 1 << 21
"""Events drawn at once for one scenario; larger chunks are cut into pieces of trials."""

MAX_EVENTS_PER_YEAR = 1e7
"""Most successful events of one scenario in one simulated year [events/yr].

A rate above it (one success every three seconds) is a unit or typing error in the site, and
its per-event arrays would not fit in memory; the run stops with a problem naming the field.
"""

_SMALL_RATE = 12.0  # rates up to this use inversion of the Poisson CDF
_KMAX = 250  # inversion stops here (P(N > 250 | rate 12) < 1e-200)
_TAIL = 1e-17  # ... or where the next term no longer changes the CDF in float64


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 14)
def _key(label: str) -> int:
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little")


def _stream(seed: int, label: str, block: int) -> np.random.Generator:
    """The generator of block ``block`` of the stream ``label``.

    A keyed child of ``SeedSequence(seed)`` with spawn key (hash of ``label``, ``block``).
    """
    ss = np.random.SeedSequence(seed, spawn_key=(_key(label), block))
    return np.random.Generator(np.random.PCG64(ss))


def _poisson_counts(
    u: np.ndarray,
    lam: float | np.ndarray,
    large: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
) -> np.ndarray:
    """Poisson counts: inversion of the CDF at ``u`` for small rates, numpy above.

    Inversion keeps one uniform per trial whatever the rate; the rare rates above
    ``_SMALL_RATE`` take ``large(trials, rates)``, numpy's sampler on their own stream
    (consumed in trial order).
    """
    n = u.size
    if np.ndim(lam) == 0 and lam <= _SMALL_RATE:  # one rate for every trial: tabulate the CDF
        F = [math.exp(-lam)]
        p = acc = F[0]
        for k in range(1, _KMAX + 1):  # the same recurrence as below, so the same counts
            p *= lam
            p /= k
            acc += p
            if p < acc * _TAIL:  # F has stopped growing: the far tail ends here
                F.append(math.inf)
                break
            F.append(acc)
        return np.minimum(np.searchsorted(np.array(F), u, side="right"), len(F) - 1)
    lam = np.broadcast_to(np.asarray(lam, dtype=float), (n,))
    counts = np.zeros(n, dtype=np.int64)
    big = lam > _SMALL_RATE
    if big.any():
        ib = np.flatnonzero(big)
        counts[ib] = large(ib, lam[ib])
        idx = np.flatnonzero(~big)
        u, lam = u[idx], lam[idx]
    else:
        idx = None
    p = np.exp(-lam)
    sel = np.flatnonzero(u >= p)  # F(0) = p; N = min{k : u < F(k)}
    if idx is None:
        idx = sel
    else:
        idx = idx[sel]
    u, lam, p = u[sel], lam[sel], p[sel]
    F = p.copy()
    k = 0
    while idx.size:
        k += 1
        p *= lam
        p /= k
        F += p
        done = (u < F) | (p < F * _TAIL)
        counts[idx[done]] = k
        if k >= _KMAX:
            counts[idx[~done]] = k
            break
        keep = ~done
        idx, u, lam, p, F = idx[keep], u[keep], lam[keep], p[keep], F[keep]
    return counts


def _segment_sum(x: np.ndarray, nz: np.ndarray, nz_starts: np.ndarray, m: int) -> np.ndarray:
    """Per-trial sums of per-event values ``x`` (the events of a trial are contiguous).

    ``nz`` are the trials (of ``m``) that have events and ``nz_starts`` their first event. The
    additions of a trial's sum involve only its own events, so the sums do not depend on how
    trials are chunked.
    """
    out = np.zeros(m, dtype=x.dtype)
    if nz.size:
        out[nz] = np.add.reduceat(x, nz_starts)
    return out


# --------------------------------------------------------------------------------------------
# What the run does to each scenario (static set-up)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """How one state acts on one scenario."""

    sl_factor: float
    freq: tuple[str, ...]  # reduction streams of the active frequency effects
    cons: tuple[tuple[str, tuple[str, ...]], ...]  # (category, reduction streams)

    @property
    def thin(self) -> bool:
        return self.sl_factor < 1.0 or bool(self.freq)

    def scaled(self, category: str) -> tuple[str, ...]:
        for cat, labels in self.cons:
            if cat == category:
                return labels
        return ()


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
            cat: p < 1.0 or any(v.scaled(cat) for v in self.views)
            for cat, (_, p) in self.harms.items()
        }

    @property
    def has_events(self) -> bool:
        return bool(self.terms or self.harms)


def _scenario_runs(site: Site, states: list[State]) -> list[_ScenarioRun]:
    r = float(site.model.sl_reduction_per_level)
    levels = [achieved_levels(site, st) for st in states]
    plans = []
    for col, s in enumerate(site.scenarios):
        capability = site.actor(s.actor).capability
        reductions: dict[str, Any] = {}
        views = []
        for st, (zones, conduits) in zip(states, levels):
            L = protection_level(s, zones, conduits)
            eff = scenario_effects(site, s, st.active)
            freq = tuple(_label(site, s.id, cid, spec, reductions) for cid, spec in eff.frequency)
            cons = tuple(
                (cat, tuple(_label(site, s.id, cid, spec, reductions) for cid, spec in lst))
                for cat, lst in sorted(eff.consequence.items())
            )
            views.append(_View(sl_factor(r, L, capability), freq, cons))
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


def _label(site: Site, sid: str, cid: str, spec: Any, reductions: dict[str, Any]) -> str:
    """Stream label of the reduction of effect k of countermeasure ``cid``: ``effect|CM|k``.

    One draw per trial and effect, shared by every scenario the effect acts on: how well a
    countermeasure works is one uncertain quantity, like an actor's attempt rate.
    """
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
    """Per-state outputs filled by the chunks (columns are scenarios)."""

    loss: np.ndarray | None  # (trials, scenarios) float64, Fortran order
    harm: dict[str, np.ndarray]  # category -> (trials, scenarios with that harm) int32
    harm_cols: dict[str, list[int]]  # category -> scenario columns
    rates: np.ndarray | None = None  # (trials, scenarios) float64, when asked


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


def _join(parts: list[np.ndarray]) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0)


class _Chunk:
    """Simulates the trials ``[a, b)`` of every scenario; ``a`` starts a block.

    Holds the generators of the blocks it covers (one per stream and block, created on first
    use) and the per-trial draws shared by several scenarios (actors' attempt rates, effects'
    reductions). Writes only rows ``a .. b-1`` of the outputs, so chunks can run concurrently.
    """

    def __init__(
        self, site: Site, seed: int, plans: list[_ScenarioRun], events: bool, a: int, b: int
    ):
        self.site = site
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
                    outs[i].rates[a:b, plan.col] = lam
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
        sub = slice(self.a + lo, self.a + hi)
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
                loss += _scale(v.scaled(cat), sl_red) * s
            harm = {}
            for cat, (_, p) in plan.harms.items():
                if not plan.harm_draw[cat]:
                    harm[cat] = n_alive
                    continue
                q = p * _scale(v.scaled(cat), sl_red)
                q_ev = np.repeat(q, counts) if isinstance(q, np.ndarray) else q
                hit = harm_u[cat] < q_ev
                if alive is not None:
                    hit &= alive
                harm[cat] = _segment_sum(hit.astype(np.int64), *seg)
            for i in idx:
                o = outs[i]
                o.loss[sub, plan.col] = loss
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


# --------------------------------------------------------------------------------------------
# Site values the engine cannot simulate: problems naming the field, not numpy's errors
# --------------------------------------------------------------------------------------------


def _rate_problem(site: Site, sid: str, what: str) -> SiteError:
    """A problem on the field that sets scenario ``sid``'s attempts: its rate or its actor's."""
    s = site.scenario(sid)
    if s.rate is not None:
        record, fld, via = sid, "rate", ""
    else:
        record, fld = s.actor, "attempt_rate"
        via = f" (scenario {sid} takes rate_share {s.rate_share:g} of it)"
    msg = (
        f"{what}{via}: more than {MAX_EVENTS_PER_YEAR:.0e} successful events a year cannot be"
        " simulated"
    )
    hint = "check the unit: rates are events per year"
    return SiteError([Problem(site.source or site.name, record, fld, msg, hint)])


def _check_rates(site: Site) -> None:
    """Refuse a scenario whose mean unmitigated event rate is not finite or too large."""
    for s in site.scenarios:
        lam = base_rate_mean(site, s)
        if not (math.isfinite(lam) and lam <= MAX_EVENTS_PER_YEAR):
            raise _rate_problem(site, s.id, f"mean event rate {lam:.3g} [events/yr]")


def _available_memory() -> float:
    """Physical memory of the machine [bytes] (infinite where the platform does not say)."""
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # not on every platform
        return math.inf


def _check_memory(site: Site, trials: int, states: int, from_site: bool) -> None:
    """Refuse a run whose result tables alone exceed the machine's memory.

    Raises a :class:`SiteError` on ``model.trials`` when the trials come from the site file,
    else a :class:`MemoryError` whose message says how much the tables need.
    """
    n = len(site.scenarios)
    # losses (float64) and harm counts (int32 per harm category) per trial and scenario
    need = float(trials) * states * max(n, 1) * (8 + 4 * len(HARM_CATEGORIES))
    have = _available_memory()
    if need <= have:
        return
    msg = (
        f"not enough memory for {trials:,} trials: the tables of {n} scenarios need"
        f" {need / 1e9:,.3g} GB, the machine has {have / 1e9:,.3g} GB"
    )
    if from_site:
        problem = Problem(site.source or site.name, "model", "trials", msg, "use fewer trials")
        raise SiteError([problem])
    raise MemoryError(msg)


def _run(
    site: Site,
    states: list[State],
    trials: int,
    seed: int,
    chunk_size: int | None,
    workers: int | None,
    events: bool = True,
    rates: bool = False,
) -> list[_Out]:
    workers = _resolve_workers(workers)
    chunk = _chunk_trials(chunk_size, trials, workers)
    _check_rates(site)
    plans = _scenario_runs(site, states)
    outs = []
    for _ in states:
        harm_cols = {cat: [p.col for p in plans if cat in p.harms] for cat in HARM_CATEGORIES}
        outs.append(
            _Out(
                loss=np.zeros((trials, len(plans)), order="F") if events else None,
                harm={
                    cat: np.zeros((trials, len(cols)), dtype=np.int32, order="F")
                    for cat, cols in harm_cols.items()
                }
                if events
                else {},
                harm_cols=harm_cols,
                rates=np.zeros((trials, len(plans)), order="F") if rates else None,
            )
        )

    def one(a: int) -> None:
        _Chunk(site, seed, plans, events, a, min(a + chunk, trials)).run(outs)

    starts = range(0, trials, chunk)
    if workers == 1 or len(starts) == 1:
        for a in starts:
            one(a)
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(starts))) as ex:
            for fut in [ex.submit(one, a) for a in starts]:
                fut.result()
    return outs


def _frozen(a: np.ndarray | None) -> np.ndarray | None:
    if a is not None:
        a.flags.writeable = False
    return a


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _resolve_run(site: Site, trials, seed, states: int = 1) -> tuple[int, int]:
    # at least MIN_TRIALS, as in the site file: fewer years cannot estimate VaR99 / ES99
    from_site = trials is None
    trials = _check_int("trials", site.model.trials if from_site else trials, MIN_TRIALS)
    seed = _check_int("seed", site.model.seed if seed is None else seed, 0)
    _check_memory(site, trials, states, from_site)
    return trials, seed


def simulate(
    site: Site,
    trials: int | None = None,
    seed: int | None = None,
    state: str | State = "current",
    plan: Iterable[str] | None = None,
    *,
    chunk_size: int | None = None,
    workers: int | None = 1,
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
    trials, seed = _resolve_run(site, trials, seed)
    workers = _resolve_workers(workers)
    (out,) = _run(site, [st], trials, seed, chunk_size, workers)
    return Simulation(site, trials, seed, st, out, chunk_size, workers)


def simulate_many(
    site: Site,
    plans: Mapping[str, Any] | Iterable[str],
    trials: int | None = None,
    seed: int | None = None,
    *,
    chunk_size: int | None = None,
    workers: int | None = 1,
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
    trials, seed, chunk_size, workers
        As for :func:`simulate`.

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
    trials, seed = _resolve_run(site, trials, seed, max(len(states), 1))
    workers = _resolve_workers(workers)
    if not states:
        return {}
    outs = _run(site, states, trials, seed, chunk_size, workers)
    return {
        n: Simulation(site, trials, seed, st, o, chunk_size, workers)
        for n, st, o in zip(names, states, outs)
    }


class Simulation:
    """Simulated annual losses of a site in one state: the result of :func:`simulate`.

    Attributes
    ----------
    site : Site
    trials : int
        Simulated years.
    seed : int
    state : State
        Which countermeasures act and whether today's SL-A counts.
    currency : str
        Unit of every money value.
    scenarios : list of str
        Scenario ids, the columns of ``losses('scenario')``.
    zones : list of str
        Zone ids, the columns of ``losses('zone')``.

    Notes
    -----
    Losses per trial and scenario are kept (``trials x scenarios`` float64); zone and site
    losses are summed from them on demand. The frames returned by :meth:`losses`,
    :meth:`harm_counts` and :meth:`event_rates` are read-only views of those arrays (no copy
    of a possibly large table); call ``.copy()`` on one to change it.
    """

    def __init__(self, site, trials, seed, state, out: _Out, chunk_size=None, workers=1):
        self.site = site
        self.trials = int(trials)
        self.seed = int(seed)
        self.state = state
        self.currency = site.currency
        self.chunk_size = chunk_size
        self.workers = workers
        self.scenarios = [s.id for s in site.scenarios]
        self.zones = [z.id for z in site.zones]
        self._loss = _frozen(out.loss)
        self._harm = {k: _frozen(v) for k, v in out.harm.items()}
        self._harm_cols = out.harm_cols
        self._rates = _frozen(out.rates)
        self._cache: dict[Any, Any] = {}

    def __repr__(self) -> str:
        plan = f", plan={list(self.state.plan)}" if self.state.plan else ""
        return (
            f"Simulation({self.site.name!r}, state={self.state.name!r}{plan}, "
            f"trials={self.trials}, seed={self.seed})"
        )

    # -- losses -----------------------------------------------------------------------------
    def _members(self, level: str) -> list[tuple[str, list[int]]]:
        """Entities of a level and the scenario columns each sums."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, {level!r} was given")
        if level == "scenario":
            return [(sid, [j]) for j, sid in enumerate(self.scenarios)]
        if level == "zone":
            col = {s.id: j for j, s in enumerate(self.site.scenarios)}
            return [(z, [col[s.id] for s in self.site.scenarios_in(z)]) for z in self.zones]
        return [("site", list(range(len(self.scenarios))))]

    def _level_array(self, level: str) -> np.ndarray:
        if level == "scenario":
            return self._loss
        key = ("loss", level)
        arr = self._cache.get(key)
        if arr is None:
            members = self._members(level)
            arr = np.zeros((self.trials, len(members)), order="F")
            for k, (_, cols) in enumerate(members):
                for j in cols:  # fixed order of additions: reproducible to the bit
                    arr[:, k] += self._loss[:, j]
            self._cache[key] = _frozen(arr)
        return arr

    def losses(self, level: str = "site") -> pd.DataFrame:
        """Annual losses, one row per trial [currency/yr].

        Parameters
        ----------
        level : {'scenario', 'zone', 'site'}
            Columns are scenario ids, zone ids (every zone, zero where it has no scenario),
            or the single column ``'site'``.

        Returns
        -------
        pandas.DataFrame
            Index ``trial`` (0 .. trials-1).
        """
        names = [n for n, _ in self._members(level)]
        df = pd.DataFrame(self._level_array(level), columns=names, copy=False)
        df.index.name = "trial"
        df.columns.name = level
        return df

    # -- harm -------------------------------------------------------------------------------
    def harm_counts(
        self, category: str, level: str = "scenario", min_class: int = 1
    ) -> pd.DataFrame:
        """Events per trial whose ``category`` harm reaches class ``min_class`` or worse.

        Parameters
        ----------
        category : {'safety', 'environment'}
        level : {'scenario', 'zone', 'site'}
        min_class : int, 1..4

        Returns
        -------
        pandas.DataFrame
            One row per trial, one column per scenario / zone / ``'site'`` [events/yr].
        """
        cat_arr, sev = self._harm_data(category)
        if min_class not in SEVERITY_CLASSES:
            raise ValueError(f"min_class must be 1..4, {min_class!r} was given")
        members = self._members(level)
        data = np.zeros((self.trials, len(members)), dtype=np.int64, order="F")
        for k, (_, cols) in enumerate(members):
            for j in cols:
                if j in sev and sev[j][1] >= min_class:
                    data[:, k] += cat_arr[:, sev[j][0]]
        df = pd.DataFrame(data, columns=[n for n, _ in members], copy=False)
        df.index.name = "trial"
        df.columns.name = level
        return df

    def _harm_data(self, category: str):
        if category not in HARM_CATEGORIES:
            raise ValueError(
                f"category must be one of {', '.join(HARM_CATEGORIES)}, {category!r} was given"
            )
        cols = self._harm_cols[category]
        sev = {}
        for k, j in enumerate(cols):
            severity = self.site.scenarios[j].consequences.harms()[category].severity
            sev[j] = (k, severity)
        return self._harm[category], sev

    def harm_frequency(self, category: str, level: str = "zone") -> pd.DataFrame:
        """Mean frequency of events of each severity class or worse [events/yr].

        Parameters
        ----------
        category : {'safety', 'environment'}
        level : {'scenario', 'zone', 'site'}

        Returns
        -------
        pandas.DataFrame
            One row per scenario / zone / site, columns ``<category>_ge1`` .. ``_ge4``: the
            simulated number of events per year whose harm reaches class k or worse.
        """
        arr, sev = self._harm_data(category)
        means = arr.mean(axis=0) if arr.size else np.zeros(0)
        members = self._members(level)
        out = np.zeros((len(members), len(SEVERITY_CLASSES)))
        for i, (_, cols) in enumerate(members):
            mine = [j for j in cols if j in sev]
            severity = [sev[j][1] for j in mine]
            rate = [means[sev[j][0]] for j in mine]
            for c, k in enumerate(SEVERITY_CLASSES):
                out[i, c] = harm_at_least(severity, rate, k)
        df = pd.DataFrame(
            out,
            index=pd.Index([n for n, _ in members], name=level),
            columns=harm_columns([category]),
        )
        return df

    # -- statistics -------------------------------------------------------------------------
    def summary(self, level: str = "zone") -> pd.DataFrame:
        """Risk measures of every scenario, zone or the site.

        Parameters
        ----------
        level : {'scenario', 'zone', 'site'}

        Returns
        -------
        pandas.DataFrame
            One row per scenario / zone / site with columns

            - ``ale``: mean annual loss [currency/yr], ``ale_se`` its Monte Carlo standard error;
            - ``var90``, ``var95``, ``var99``: value at risk, the q-quantile of the annual loss
              (the smallest simulated loss with empirical CDF >= q) [currency];
            - ``es90``, ``es95``, ``es99``: expected shortfall, the mean of the worst (1 - q)
              share of the years (Acerbi and Tasche) [currency];
            - ``p_zero``: share of years without loss;
            - ``safety_ge1`` .. ``safety_ge4``, ``environment_ge1`` .. ``environment_ge4``:
              events per year whose harm reaches class k or worse [events/yr];
            - ``expected_ale``: the closed-form expected annual loss [currency/yr].
        """
        key = ("summary", level)
        if key in self._cache:
            return self._cache[key].copy()
        arr = self._level_array(level)
        members = self._members(level)
        n = self.trials
        rows = []
        ks = [min(max(math.ceil(n * q - 1e-9) - 1, 0), n - 1) for q in QUANTILES]
        for k, _ in enumerate(members):
            x = arr[:, k]
            row = {"ale": x.mean(), "ale_se": x.std(ddof=1) / math.sqrt(n) if n > 1 else np.nan}
            part = np.partition(x, sorted(set(ks)))
            var, es = {}, {}
            for q, kq in zip(QUANTILES, ks):
                tail = part[kq + 1 :].sum()
                var[q] = part[kq]
                es[q] = (tail + (kq + 1 - n * q) * part[kq]) / (n * (1 - q))
            for q in QUANTILES:
                row[f"var{round(q * 100)}"] = var[q]
            for q in QUANTILES:
                row[f"es{round(q * 100)}"] = es[q]
            row["p_zero"] = np.count_nonzero(x == 0) / n
            rows.append(row)
        cols = [
            "ale",
            "ale_se",
            *(f"{m}{round(q * 100)}" for m in ("var", "es") for q in QUANTILES),
        ]
        df = pd.DataFrame(
            rows, index=pd.Index([m for m, _ in members], name=level), columns=[*cols, "p_zero"]
        )  # the columns also without rows (a site without scenarios)
        for cat in HARM_CATEGORIES:
            df = df.join(self.harm_frequency(cat, level))
        exp = self.expected()
        ale = exp["ale"].to_numpy(float) if "ale" in exp else np.zeros(0)
        df["expected_ale"] = [float(ale[cols].sum()) for _, cols in members]
        self._cache[key] = df
        return df.copy()

    def exceedance(self, level: str = "site", points: int | Iterable[float] = 200) -> pd.DataFrame:
        """Loss exceedance curve: P(annual loss >= x) for each column of ``losses(level)``.

        Parameters
        ----------
        level : {'scenario', 'zone', 'site'}
        points : int or array of float
            Number of losses on a logarithmic grid from the smallest to the largest positive
            simulated loss, or the losses [currency] themselves.

        Returns
        -------
        pandas.DataFrame
            Index ``loss`` [currency], one column per entity, values P(loss >= x) in [0, 1].
        """
        arr = self._level_array(level)
        names = [n for n, _ in self._members(level)]
        if isinstance(points, (int, np.integer)):
            if points < 2:
                raise ValueError(f"points must be >= 2, {points} was given")
            pos = arr[arr > 0]
            if pos.size == 0:
                grid = np.array([0.0])
            else:
                lo, hi = float(pos.min()), float(pos.max())
                grid = loss_grid(lo, hi, int(points))
        else:
            grid = np.asarray(list(points), dtype=float)
        out = np.empty((grid.size, len(names)))
        for k in range(len(names)):
            srt = np.sort(arr[:, k])
            out[:, k] = (self.trials - np.searchsorted(srt, grid, side="left")) / self.trials
        df = pd.DataFrame(out, index=pd.Index(grid, name="loss"), columns=names)
        df.columns.name = level
        return df

    def event_rates(self) -> pd.DataFrame:
        """Sampled expected event rate of every trial and scenario [events/yr].

        lambda_t = attempts x share x vulnerability x r^-min(L, c) x prod(1 - e_i), the rate
        of the Poisson distribution of each simulated year (after protection and frequency
        effects); its percentiles express parameter uncertainty. Computed on first use from
        the same streams as the losses (parameters only).

        Returns
        -------
        pandas.DataFrame
            One row per trial, one column per scenario.
        """
        if self._rates is None:
            (out,) = _run(
                self.site,
                [self.state],
                self.trials,
                self.seed,
                self.chunk_size,
                self.workers,
                events=False,
                rates=True,
            )
            self._rates = _frozen(out.rates)
        df = pd.DataFrame(self._rates, columns=self.scenarios, copy=False)
        df.index.name = "trial"
        df.columns.name = "scenario"
        return df

    def expected(self) -> pd.DataFrame:
        """Closed-form expectations of every scenario in this state.

        Returns
        -------
        pandas.DataFrame
            :func:`riskkit.exposure.expected_losses` for ``self.state``.
        """
        if "expected" not in self._cache:
            self._cache["expected"] = expected_losses(self.site, self.state)
        return self._cache["expected"].copy()


# --------------------------------------------------------------------------------------------
# Closed-form moments
# --------------------------------------------------------------------------------------------


def _m2(spec) -> float:
    return spec.second_moment()


def moments(
    site: Site, state: str | State = "current", plan: Iterable[str] | None = None
) -> pd.DataFrame:
    """Closed-form mean and variance of every scenario's annual loss.

    With rate lambda = A V r^-min(L, c) prod(1 - e_i) (independent factors), per-event loss
    Y = sum_k D_k X_k with D_k = prod(1 - d_j) per year and X_k independent per event,

    E[S] = E[lambda] sum_k E[D_k] E[X_k],

    Var[S] = E[lambda] E[Y^2] + E[lambda^2] E[(sum_k D_k E[X_k])^2]
             - (E[lambda] sum_k E[D_k] E[X_k])^2,

    the law of total variance over the compound Poisson sum given the year's parameters.

    Parameters
    ----------
    site : Site
    state : {'unmitigated', 'current', 'plan'} or State
    plan : iterable of str, optional

    Returns
    -------
    pandas.DataFrame
        Indexed by scenario: ``mean`` [currency/yr], ``var`` [currency^2/yr^2],
        ``rate`` = E[lambda] [events/yr], ``rate_m2`` = E[lambda^2].

    Notes
    -----
    Scenarios of the same actor share its attempt rate, and scenarios under the same
    countermeasure effect share its reduction, so scenarios are correlated; these moments are
    per scenario.
    """
    st = resolve_state(site, state, plan)
    rows = {}
    for p, s in zip(_scenario_runs(site, [st]), site.scenarios):
        v = p.views[0]
        if p.actor is not None:
            a = site.actor(p.actor).attempt_rate
            ea, ea2 = a.mean() * p.share, _m2(a) * p.share**2
        else:
            ea, ea2 = p.rate.mean(), _m2(p.rate)
        ev, ev2 = p.vulnerability.mean(), _m2(p.vulnerability)
        f1, f2 = v.sl_factor, v.sl_factor**2
        for lab in v.freq:
            d = p.reductions[lab]
            f1 *= 1 - d.mean()
            f2 *= 1 - 2 * d.mean() + _m2(d)
        el, el2 = ea * ev * f1, ea2 * ev2 * f2
        mu, m2, d1, d2 = [], [], [], []
        per_event = money_per_event(s)  # E[X_k] per category, in the order of p.terms
        for cat, specs in p.terms:
            mu.append(per_event[cat])
            m2.append(math.prod(_m2(sp) for sp in specs))
            a1 = a2 = 1.0
            for lab in v.scaled(cat):
                d = p.reductions[lab]
                a1 *= 1 - d.mean()
                a2 *= 1 - 2 * d.mean() + _m2(d)
            d1.append(a1)
            d2.append(a2)
        mu, m2, d1, d2 = map(np.asarray, (mu, m2, d1, d2))
        mean_y = float(np.sum(d1 * mu))
        # E[(sum D_k mu_k)^2] with independent D_k
        e_dm2 = float(mean_y**2 - np.sum((d1 * mu) ** 2) + np.sum(d2 * mu**2))
        e_y2 = float(e_dm2 + np.sum(d2 * (m2 - mu**2)))
        mean = el * mean_y
        var = el * e_y2 + el2 * e_dm2 - mean**2
        rows[s.id] = {"mean": mean, "var": var, "rate": el, "rate_m2": el2}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "scenario"
    return df
