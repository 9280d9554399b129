"""The result of a run: :class:`Simulation`, its losses, harm counts and risk measures.

What a run keeps
----------------
A run keeps, per state, the annual loss of every trial for each zone and for the site
(``trials x (zones + 1)`` float64) and, per scenario, its statistics (mean, standard error,
value at risk, expected shortfall, share of years without loss, harm event counts). The
per-trial losses and harm counts of single scenarios are kept only on request
(``simulate(..., keep_scenarios=...)``) or where they are small (the default): memory grows
with trials x zones, not trials x scenarios.

The statistics are *exact*, not sketched: the engine simulates the scenarios in groups of
whole columns (every trial of a few scenarios, :data:`GROUP_BYTES`), and each group is folded
into the totals before the next is drawn (:class:`_Totals`). A scenario's statistics are
computed from its complete column, by the same numpy calls as when every column was kept,
and the zone and site totals are summed scenario by scenario in the site's order, as before:
every number is identical, to the bit, to a run that keeps every column.

Precision
---------
With ``summary(level, intervals=True)`` every value at risk and expected shortfall carries a
confidence interval (:data:`CONFIDENCE`, 95 %):

- VaR_q: the distribution-free order-statistic interval [X_(l), X_(u)], with l and u the
  binomial quantiles of Bin(n, q) at (1 - c)/2 and (1 + c)/2 (u one rank higher), so that
  P(X_(l) <= xi_q <= X_(u)) >= c for any continuous loss distribution [1]_;
- ES_q: ES +- z sigma, the normal interval with the plug-in asymptotic variance of the
  estimator, sigma^2 = Var((X - VaR_q)+) / (n (1 - q)^2) [2]_ [3]_. It needs the worst
  (1 - q) share of years only, and unlike batch means it holds at the smallest runs (100
  trials); it assumes a finite variance of the tail, and under-covers for very heavy tails
  at small n.

References
----------
.. [1] David, H. A., Nagaraja, H. N. (2003). *Order Statistics*, 3rd ed., Wiley, sec. 7.1
   (distribution-free confidence intervals for quantiles).
.. [2] Manistre, B. J., Hancock, G. H. (2005). Variance of the CTE estimator. *North American
   Actuarial Journal* 9(2), 129-156.
.. [3] Acerbi, C., Tasche, D. (2002). On the coherence of expected shortfall. *Journal of
   Banking & Finance* 26(7), 1487-1503.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..exposure import expected_losses
from ..rules import (
    SEVERITY_CLASSES,
    harm_at_least,
    harm_columns,
    loss_grid,
)
from ..site import HARM_CATEGORIES

if TYPE_CHECKING:
    from .simulation import _Out


__all__ = ["CONFIDENCE", "LEVELS", "QUANTILES", "Simulation"]

LEVELS: tuple[str, ...] = ("scenario", "zone", "site")
"""Levels of aggregation of losses."""

QUANTILES: tuple[float, ...] = (0.90, 0.95, 0.99)
"""Confidence levels of the value at risk and expected shortfall columns."""

CONFIDENCE = 0.95
"""Coverage of the confidence intervals of VaR and ES (``summary(intervals=True)``)."""

_MEASURES = [
    "ale",
    "ale_se",
    *(f"{m}{round(q * 100)}" for m in ("var", "es") for q in QUANTILES),
    "p_zero",
]
_INTERVALS = [
    f"{m}{round(q * 100)}_{end}" for m in ("var", "es") for q in QUANTILES for end in ("lo", "hi")
]


# --------------------------------------------------------------------------------------------
# Statistics of one column of annual losses
# --------------------------------------------------------------------------------------------


def _ranks(n: int) -> list[int]:
    """0-based rank of the VaR of each of :data:`QUANTILES` among ``n`` sorted losses."""
    return [min(max(math.ceil(n * q - 1e-9) - 1, 0), n - 1) for q in QUANTILES]


def order_interval(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int]:
    """Ranks of the order statistics that bracket the ``q``-quantile (distribution-free).

    Parameters
    ----------
    n : int
        Sample size [trials], >= 1.
    q : float
        Probability level of the quantile, in (0, 1).
    confidence : float
        Coverage, in (0, 1).

    Returns
    -------
    (int, int)
        0-based ranks ``(l, u)``, ``l <= u``, such that P(X_(l) <= xi_q <= X_(u)) >= confidence
        for a continuous distribution (sorted sample ``X_(0) <= ... <= X_(n-1)``); clipped to
        the sample, where the coverage then falls short.

    Notes
    -----
    The number B of sample values below xi_q is Bin(n, q). With l' the (1 - c)/2 quantile of
    B and u' its (1 + c)/2 quantile, the 1-based order statistics X_(l') and X_(u' + 1)
    bracket xi_q with probability P(l' <= B <= u') >= c.

    References
    ----------
    .. [1] David, H. A., Nagaraja, H. N. (2003). *Order Statistics*, 3rd ed., sec. 7.1.
    """
    a = (1.0 - confidence) / 2.0
    sd = math.sqrt(n * q * (1.0 - q))
    lo = max(0, math.floor(n * q - 10.0 * sd) - 10)
    hi = min(n, math.ceil(n * q + 10.0 * sd) + 10)
    ks = np.arange(lo, hi + 1)
    # P(B = k) from log-gamma; the window holds all but < 1e-20 of the mass, so its cumulative
    # sum is P(B <= k)
    log_fact = np.array(
        [math.lgamma(k + 1.0) + math.lgamma(n - k + 1.0) for k in range(lo, hi + 1)]
    )
    log_pmf = math.lgamma(n + 1.0) - log_fact + ks * math.log(q) + (n - ks) * math.log1p(-q)
    cdf = np.cumsum(np.exp(log_pmf))
    last = len(ks) - 1
    l1 = int(ks[min(int(np.searchsorted(cdf, a, side="left")), last)])  # 1-based
    u1 = int(ks[min(int(np.searchsorted(cdf, 1.0 - a, side="left")), last)]) + 1
    return min(max(l1, 1), n) - 1, min(max(u1, 1), n) - 1


def _normal_z(confidence: float) -> float:
    """The standard normal quantile at (1 + confidence) / 2."""
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _interval_ranks(n: int, confidence: float = CONFIDENCE) -> list[tuple[int, int]]:
    """:func:`order_interval` of each of :data:`QUANTILES` (the same for every column)."""
    return [order_interval(n, q, confidence) for q in QUANTILES]


def _column_stats(
    x: np.ndarray,
    intervals: bool = True,
    confidence: float = CONFIDENCE,
    ranks: list[tuple[int, int]] | None = None,
) -> dict:
    """ALE, its SE, VaR, ES and P(0) of one column of ``n`` annual losses (and intervals).

    The same numpy calls, in the same order, whatever keeps the column: the numbers depend
    only on the column's values. ``ranks``: :func:`_interval_ranks` of ``n`` and
    ``confidence``, computed once for many columns.
    """
    n = x.size
    ks = _ranks(n)
    row = {"ale": x.mean(), "ale_se": x.std(ddof=1) / math.sqrt(n) if n > 1 else np.nan}
    part = np.partition(x, sorted(set(ks)))
    var, es, es_se = {}, {}, {}
    for q, kq in zip(QUANTILES, ks):
        tail = part[kq + 1 :].sum()
        var[q] = part[kq]
        es[q] = (tail + (kq + 1 - n * q) * part[kq]) / (n * (1 - q))
        if intervals:
            es_se[q] = _es_se(part[kq + 1 :], float(part[kq]), n, q)
    for q in QUANTILES:
        row[f"var{round(q * 100)}"] = var[q]
    for q in QUANTILES:
        row[f"es{round(q * 100)}"] = es[q]
    row["p_zero"] = np.count_nonzero(x == 0) / n
    if intervals:
        if ranks is None:
            ranks = _interval_ranks(n, confidence)
        part.partition(sorted({r for lu in ranks for r in lu}))  # in place: values read above
        z = _normal_z(confidence)
        for q, (lo, hi) in zip(QUANTILES, ranks):
            row[f"var{round(q * 100)}_lo"] = float(part[lo])
            row[f"var{round(q * 100)}_hi"] = float(part[hi])
        for q in QUANTILES:
            # ES >= VaR: the normal interval's lower end never goes below VaR's own lower end
            # (a heavy tail on few years can push it below zero otherwise)
            lo_es = max(es[q] - z * es_se[q], row[f"var{round(q * 100)}_lo"])
            row[f"es{round(q * 100)}_lo"] = float(lo_es)
            row[f"es{round(q * 100)}_hi"] = float(es[q] + z * es_se[q])
    return row


def _es_se(tail: np.ndarray, v: float, n: int, q: float) -> float:
    """Plug-in standard error of ES_q: sqrt(Var((X - v)+) / n) / (1 - q) [currency].

    ``tail`` holds the losses ranked above the VaR ``v`` (every other year has (X - v)+ = 0).
    """
    if n < 2:
        return math.nan
    d = tail - v
    s1 = float(d.sum())
    s2 = float(np.square(d, out=d).sum())
    mean = s1 / n
    var = max(s2 - n * mean * mean, 0.0) / (n - 1)
    return math.sqrt(var / n) / (1.0 - q)


# --------------------------------------------------------------------------------------------
# What a run keeps of one state
# --------------------------------------------------------------------------------------------


class _Totals:
    """The kept results of one state, filled group by group of scenario columns.

    ``zone`` (trials x zones) and ``site`` (trials x 1) sum the scenario columns in the site's
    order, as :meth:`Simulation.losses` did from a full table; ``stats`` holds the statistics
    of each scenario whose column is not kept; ``harm_sum`` each scenario's total harm events
    per category; ``loss`` and ``harm`` the kept scenarios' columns.
    """

    def __init__(
        self,
        site,
        trials: int,
        keep: Sequence[int],
        harm: dict[str, list[int]],
        site_only: bool = False,
    ):
        self.trials = trials
        self.site_only = site_only  # no zone columns, no per-scenario statistics
        zone_pos = {z.id: k for k, z in enumerate(site.zones)}
        self.zone_of = [zone_pos[s.zone] for s in site.scenarios]
        self.zone = np.zeros((trials, 0 if site_only else len(site.zones)), order="F")
        self.site = np.zeros((trials, 1), order="F")
        self.keep = list(keep)  # kept scenario columns, in site order
        self.kept_pos = {c: i for i, c in enumerate(self.keep)}
        self.loss = np.zeros((trials, len(self.keep)), order="F")
        # category -> kept columns with that harm (``harm``: every column with it)
        self.harm_cols = {
            cat: [c for c in cols if c in self.kept_pos] for cat, cols in harm.items()
        }
        self.harm = {
            cat: np.zeros((trials, len(cols)), dtype=np.int32, order="F")
            for cat, cols in self.harm_cols.items()
        }
        self.stats: dict[int, dict] = {}
        self.ranks = _interval_ranks(trials) if trials else None
        self.harm_sum: dict[str, dict[int, int]] = {cat: {} for cat in harm}

    def views(self, cols: list[int], harm_cols: dict[str, list[int]]):
        """The kept arrays' columns for a group, when the group is a run of kept columns.

        Returns ``(loss, harm)`` views the chunks can write into directly, or ``None``.
        """
        pos = [self.kept_pos.get(c) for c in cols]
        if not cols or None in pos or pos != list(range(pos[0], pos[0] + len(pos))):
            return None
        harm = {}
        for cat, hc in harm_cols.items():
            if not hc:
                harm[cat] = self.harm[cat][:, 0:0]
                continue
            i0 = self.harm_cols[cat].index(hc[0])
            harm[cat] = self.harm[cat][:, i0 : i0 + len(hc)]
        return self.loss[:, pos[0] : pos[0] + len(pos)], harm

    def fold(self, out: _Out, cols: list[int], in_place: bool) -> None:
        """Add a group's columns (``cols``, in site order) to the totals.

        ``in_place``: the group's arrays are :meth:`views` of the kept arrays (nothing to
        copy).
        """
        for col in cols:
            x = out.loss[:, out.pos[col]]
            if not self.site_only:
                if col not in self.kept_pos:
                    self.stats[col] = _column_stats(x, ranks=self.ranks)
                self.zone[:, self.zone_of[col]] += x  # site order: the sums of a full table
            self.site[:, 0] += x
            kept = self.kept_pos.get(col)
            if kept is not None and not in_place:
                self.loss[:, kept] = x
        for cat, hc in out.harm_cols.items():
            arr = out.harm[cat]
            for k, col in enumerate(hc):
                h = arr[:, k]
                self.harm_sum[cat][col] = int(h.sum(dtype=np.int64))
                if col in self.kept_pos and not in_place:
                    self.harm[cat][:, self.harm_cols[cat].index(col)] = h

    def nbytes(self) -> int:
        arrays = [self.zone, self.site, self.loss, *self.harm.values()]
        return int(sum(a.nbytes for a in arrays))


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------


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
        Scenario ids (every scenario; statistics exist for all of them).
    kept : list of str
        Scenario ids whose per-trial losses and harm counts were kept, the columns of
        ``losses('scenario')`` (``simulate(..., keep_scenarios=...)``).
    zones : list of str
        Zone ids, the columns of ``losses('zone')``.

    Notes
    -----
    The per-trial losses of every zone and of the site are kept (``trials x (zones + 1)``
    float64), those of single scenarios only for :attr:`kept`; the statistics of every
    scenario were computed during the run from its complete column, exactly (see the module
    notes). The frames returned by :meth:`losses`, :meth:`harm_counts` and
    :meth:`event_rates` are read-only views of the arrays held (no copy of a possibly large
    table); call ``.copy()`` on one to change it.
    """

    def __init__(self, site, trials, seed, state, out: _Totals, chunk_size=None, workers=1):
        self.site = site
        self.trials = int(trials)
        self.seed = int(seed)
        self.state = state
        self.currency = site.currency
        self.chunk_size = chunk_size
        self.workers = workers
        self.scenarios = [s.id for s in site.scenarios]
        self.zones = [z.id for z in site.zones]
        self.kept = [self.scenarios[c] for c in out.keep]
        self._keep = list(out.keep)
        self._loss = _frozen(out.loss)  # kept scenario columns
        self._harm = {k: _frozen(v) for k, v in out.harm.items()}
        self._harm_cols = out.harm_cols  # category -> kept columns with that harm
        self._zone = _frozen(out.zone)
        self._site = _frozen(out.site)
        self._stats = out.stats  # statistics of the scenarios not kept
        self._harm_sum = out.harm_sum  # category -> column -> harm events of all trials
        self._site_only = getattr(out, "site_only", False)  # simulate_many(site_only=True)
        self._rates = None
        self._cache: dict[Any, Any] = {}

    def __repr__(self) -> str:
        plan = f", plan={list(self.state.plan)}" if self.state.plan else ""
        return (
            f"Simulation({self.site.name!r}, state={self.state.name!r}{plan}, "
            f"trials={self.trials}, seed={self.seed})"
        )

    @property
    def nbytes(self) -> int:
        """Bytes of the per-trial arrays held (zone, site and kept scenario columns)."""
        arrays = [self._zone, self._site, self._loss, *self._harm.values()]
        if self._rates is not None:
            arrays.append(self._rates)
        return int(sum(a.nbytes for a in arrays))

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

    def _not_kept(self, what: str, missing: Iterable[str]) -> ValueError:
        missing = list(missing)
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        return ValueError(
            f"{what} needs the per-trial losses of scenarios {shown}, which this run of"
            f" {self.trials:,} trials did not keep; simulate again with"
            " keep_scenarios=[...] naming them (each costs 12-16 bytes per trial)"
        )

    def _site_only_check(self, level: str) -> None:
        if self._site_only and level in ("scenario", "zone"):
            raise ValueError(
                f"this run kept only the site's losses (site_only=True): no {level} losses or"
                " statistics; simulate again without site_only"
            )

    def _level_array(self, level: str) -> np.ndarray:
        self._site_only_check(level)
        if level == "scenario":
            if self.scenarios and not self.kept:
                raise self._not_kept("losses('scenario')", self.scenarios)
            return self._loss
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, {level!r} was given")
        return self._zone if level == "zone" else self._site

    def _names(self, level: str) -> list[str]:
        if level == "scenario":
            return list(self.kept)
        return [n for n, _ in self._members(level)]

    def losses(self, level: str = "site") -> pd.DataFrame:
        """Annual losses, one row per trial [currency/yr].

        Parameters
        ----------
        level : {'scenario', 'zone', 'site'}
            Columns are scenario ids (the kept scenarios, :attr:`kept`), zone ids (every
            zone, zero where it has no scenario), or the single column ``'site'``.

        Returns
        -------
        pandas.DataFrame
            Index ``trial`` (0 .. trials-1).

        Raises
        ------
        ValueError
            For ``'scenario'`` when the run kept no scenario's per-trial losses (see
            ``keep_scenarios`` of :func:`simulate`).
        """
        arr = self._level_array(level)
        df = pd.DataFrame(arr, columns=self._names(level), copy=False)
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
            ``'scenario'``: one column per kept scenario (:attr:`kept`); ``'zone'`` and
            ``'site'`` need every scenario kept.
        min_class : int, 1..4

        Returns
        -------
        pandas.DataFrame
            One row per trial, one column per scenario / zone / ``'site'`` [events/yr].
        """
        cat_arr, sev = self._harm_data(category)
        if min_class not in SEVERITY_CLASSES:
            raise ValueError(f"min_class must be 1..4, {min_class!r} was given")
        if level == "scenario":
            members = [(self.scenarios[j], [j]) for j in self._keep]
            if self.scenarios and not self.kept:
                raise self._not_kept("harm_counts", self.scenarios)
        else:
            members = self._members(level)
            missing = [sid for sid in self.scenarios if sid not in set(self.kept)]
            if missing:
                raise self._not_kept(f"harm_counts at level {level!r}", missing)
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
        """The kept harm counts of ``category`` and, per kept column, (position, severity)."""
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
        if category not in HARM_CATEGORIES:
            raise ValueError(
                f"category must be one of {', '.join(HARM_CATEGORIES)}, {category!r} was given"
            )
        # each scenario's mean count: its exact integer total over the trials, divided once
        means = {j: np.float64(t) / self.trials for j, t in self._harm_sum[category].items()}
        sev = {j: self.site.scenarios[j].consequences.harms()[category].severity for j in means}
        members = self._members(level)
        out = np.zeros((len(members), len(SEVERITY_CLASSES)))
        for i, (_, cols) in enumerate(members):
            mine = [j for j in cols if j in sev]
            severity = [sev[j] for j in mine]
            rate = [means[j] for j in mine]
            for c, k in enumerate(SEVERITY_CLASSES):
                out[i, c] = harm_at_least(severity, rate, k)
        df = pd.DataFrame(
            out,
            index=pd.Index([n for n, _ in members], name=level),
            columns=harm_columns([category]),
        )
        return df

    # -- statistics -------------------------------------------------------------------------
    def _rows(self, level: str, intervals: bool) -> list[dict]:
        """Statistics of every scenario, zone or the site, cached (with intervals if asked)."""
        for key in (("rows", level, True), ("rows", level, intervals)):
            if key in self._cache:
                return self._cache[key]
        self._site_only_check(level)
        ranks = _interval_ranks(self.trials) if intervals else None
        if level == "scenario":
            kept = {c: i for i, c in enumerate(self._keep)}
            rows = [
                self._stats[j]
                if j not in kept
                else _column_stats(self._loss[:, kept[j]], intervals, ranks=ranks)
                for j in range(len(self.scenarios))
            ]
        else:
            arr = self._level_array(level)
            rows = [_column_stats(arr[:, k], intervals, ranks=ranks) for k in range(arr.shape[1])]
        self._cache[("rows", level, intervals)] = rows
        return rows

    def summary(self, level: str = "zone", intervals: bool = False) -> pd.DataFrame:
        """Risk measures of every scenario, zone or the site.

        Parameters
        ----------
        level : {'scenario', 'zone', 'site'}
        intervals : bool, default False
            Add the 95 % confidence intervals (:data:`CONFIDENCE`) of every VaR and ES as
            columns ``var90_lo``, ``var90_hi`` .. ``es99_lo``, ``es99_hi`` (see the module
            notes). New default at merge: True.

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
            - ``expected_ale``: the closed-form expected annual loss [currency/yr];
            - with ``intervals``: ``var<q>_lo``, ``var<q>_hi`` (order-statistic interval) and
              ``es<q>_lo``, ``es<q>_hi`` (normal interval, plug-in asymptotic variance)
              [currency].
        """
        key = ("summary", level, bool(intervals))
        if key in self._cache:
            return self._cache[key].copy()
        members = self._members(level)
        rows = self._rows(level, bool(intervals))
        df = pd.DataFrame(
            [{c: r[c] for c in _MEASURES} for r in rows],
            index=pd.Index([m for m, _ in members], name=level),
            columns=_MEASURES,
        )  # the columns also without rows (a site without scenarios)
        for cat in HARM_CATEGORIES:
            df = df.join(self.harm_frequency(cat, level))
        exp = self.expected()
        ale = exp["ale"].to_numpy(float) if "ale" in exp else np.zeros(0)
        df["expected_ale"] = [float(ale[cols].sum()) for _, cols in members]
        if intervals:
            for c in _INTERVALS:
                df[c] = [r[c] for r in rows]
        self._cache[key] = df
        return df.copy()

    def exceedance(self, level: str = "site", points: int | Iterable[float] = 200) -> pd.DataFrame:
        """Loss exceedance curve: P(annual loss >= x) for each column of ``losses(level)``.

        Parameters
        ----------
        level : {'scenario', 'zone', 'site'}
            ``'scenario'``: the kept scenarios (:attr:`kept`).
        points : int or array of float
            Number of losses on a logarithmic grid from the smallest to the largest positive
            simulated loss, or the losses [currency] themselves.

        Returns
        -------
        pandas.DataFrame
            Index ``loss`` [currency], one column per entity, values P(loss >= x) in [0, 1].
        """
        arr = self._level_array(level)
        names = self._names(level)
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
        the same streams as the losses (parameters only); it holds ``trials x scenarios``
        float64.

        Returns
        -------
        pandas.DataFrame
            One row per trial, one column per scenario.
        """
        if self._rates is None:
            from .simulation import _run  # the run module builds Simulations: import late

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


def _frozen(a: np.ndarray | None) -> np.ndarray | None:
    if a is not None:
        a.flags.writeable = False
    return a
