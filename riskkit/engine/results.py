"""The result of a run: :class:`Simulation`, its losses, harm counts and risk measures."""

from __future__ import annotations

import math
from collections.abc import Iterable
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


__all__ = ["LEVELS", "QUANTILES", "Simulation"]

LEVELS: tuple[str, ...] = ("scenario", "zone", "site")
"""Levels of aggregation of losses."""

QUANTILES: tuple[float, ...] = (0.90, 0.95, 0.99)
"""Confidence levels of the value at risk and expected shortfall columns."""


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
