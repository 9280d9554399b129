"""The deliverables of an assessment: notebooks run by papermill into one output folder.

``riskkit assess SITE`` (:func:`assess`) executes the notebooks of ``notebooks/`` (stored as
jupytext percent-format ``.py`` files, converted at run time) one after the other, each with
the same parameters, and writes into a fresh folder::

    <out>/
      summary.json           machine-readable results and provenance
      index.html             links to the reports, headline numbers
      html/NN_*.html         the reports, without code cells, plotly figures interactive
      notebooks/NN_*.ipynb   the executed notebooks
      tables.xlsx            every table, one sheet each
      tables/*.parquet       the same tables as Parquet
      input/                 a copy of the site file(s) assessed

The numbers are computed in the notebooks, through :class:`Assessment`: one object that calls
the library (:func:`riskkit.simulate`, :func:`riskkit.target_levels`, :func:`riskkit.gaps`,
:func:`riskkit.prioritize`, :func:`riskkit.optimize`, :func:`riskkit.frontier`) with the run's
parameters, computes each result on first use and keeps it in a cache folder shared by the
notebooks of one run, so the simulation a later notebook shows is the one an earlier notebook
ran. After the last notebook the same object (now reading the cache) writes ``summary.json``
and the tables; anything computed from the same inputs and seed through the library's API
gives the same numbers.

The folder is written atomically: everything goes to ``<out>.partial-XXXX`` and is renamed at
the end. A failing notebook leaves ``<out>-FAILED-<time>`` with the partial executed notebook
and an ``ERROR.txt`` naming the cell and the error, and :class:`AssessError` is raised; an
existing folder is never overwritten.

References
----------
.. [1] IEC 62443-3-2:2020, clauses 4.2-4.7 (ZCR 1-6: the steps the five notebooks follow) and
   clause 4.8 (ZCR 7: documentation of the assessment).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import pickle
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .exposure import annualised_cost
from .io import load_site
from .site import FRS, Site

__all__ = [
    "NOTEBOOKS",
    "STATES",
    "Assessment",
    "AssessError",
    "AssessResult",
    "assess",
    "default_out",
    "notebooks_dir",
    "recommended_budget",
    "setup_notebook",
    "write_tables",
    "export_html",
    "read_summary",
    # views and sentences the notebooks display
    "styled",
    "provenance_markdown",
    "inventory_table",
    "zones_table",
    "conduits_table",
    "actors_table",
    "scenarios_table",
    "countermeasures_table",
    "checks_markdown",
    "risk_table",
    "tolerance_markdown",
    "register_view",
    "level_frames",
    "levels_markdown",
    "drivers_view",
    "flags_markdown",
    "rrf_view",
    "headline_markdown",
    "ranking_view",
    "frontier_view",
    "plan_markdown",
    "plan_view",
    "top_risks_view",
    "zone_status_view",
    "changes_markdown",
]

NOTEBOOKS: tuple[tuple[str, str], ...] = (
    ("01_system", "System under consideration"),
    ("02_risk", "Risk assessment"),
    ("03_levels", "Target security levels and gap analysis"),
    ("04_countermeasures", "Countermeasure prioritisation"),
    ("05_summary", "Management summary"),
)
"""The notebooks of an assessment, in order: file stem and title."""

STATES = ("unmitigated", "current", "plan")
"""The three states every assessment compares (MODEL.md section 2)."""

FAST_TRIALS = 2000
"""Trials of a ``fast`` run where none are given."""

_CACHE = ".cache"


# --------------------------------------------------------------------------------------------
# The results of one assessment
# --------------------------------------------------------------------------------------------


def _jsonable(x: Any) -> Any:
    """Plain JSON types from numpy / pandas scalars and containers."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, np.ndarray, pd.Index)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if x is pd.NA or x is pd.NaT:
        return None
    if isinstance(x, (_dt.date, _dt.datetime, pd.Timestamp)):
        return x.isoformat()
    return x


def recommended_budget(points: pd.DataFrame) -> float:
    """Budget of the frontier plan with the least total cost of risk.

    The total cost of risk of a plan is its expected residual annual loss plus its
    annualised cost [currency/yr]; the plan that minimises it is where one more unit of money
    stops buying at least one unit of expected loss. Used when no budget is given.

    Parameters
    ----------
    points : pandas.DataFrame
        ``Frontier.points``: columns ``annualised_cost`` (or ``cost``) and ``expected_ale``.

    Returns
    -------
    float
        The budget [currency/yr] (the chosen plan's annualised cost).
    """
    cc = "annualised_cost" if "annualised_cost" in points.columns else "cost"
    total = points["expected_ale"].astype(float) + points[cc].astype(float)
    best = total.to_numpy().argmin()
    return float(points[cc].iloc[best])


class Assessment:
    """Every result of one assessment, computed through the library on first use.

    Parameters
    ----------
    site : Site or path
        The site, or a path :func:`riskkit.load_site` reads.
    trials : int, optional
        Monte Carlo trials; default ``site.model.trials`` (``FAST_TRIALS`` when ``fast``).
    seed : int, optional
        Seed of every random draw; default ``site.model.seed``.
    budget : float, optional
        Budget of the recommended plan [currency/yr for ``annualised``, currency for
        ``capex``]; default: the frontier plan with the least total cost of risk
        (:func:`recommended_budget`).
    budget_kind : {'annualised', 'capex'}
    fast : bool
        A quick look: fewer trials (unless given) and a coarser frontier.
    cache : path, optional
        Folder where results are kept between the notebooks of one run; a cache written for
        other inputs (hash, trials, seed, budget) is ignored.

    Notes
    -----
    The library calls, with ``site``, ``trials`` = T and ``seed`` = s of this object:

    - ``simulation(state)``: ``simulate(site, trials=T, seed=s, state=state)``, with the
      recommended plan's members for ``plan``;
    - ``targets``: ``target_levels(site, sim=simulation('unmitigated'))``;
    - ``gaps(state)``: ``gaps(site, targets, state=..., plan=...)``;
    - ``ranking``: ``prioritize(site, trials=T, seed=s, budget_kind=...)``;
    - ``frontier``: ``frontier(site, n=20 (10 if fast), budget_kind=..., trials=T, seed=s)``;
    - ``plan``: ``optimize(site, budget, budget_kind=..., trials=T, seed=s)``.
    """

    def __init__(
        self,
        site: Site | str | os.PathLike,
        trials: int | None = None,
        seed: int | None = None,
        budget: float | None = None,
        budget_kind: str = "annualised",
        fast: bool = False,
        cache: str | os.PathLike | None = None,
    ):
        self.site = site if isinstance(site, Site) else load_site(site)
        m = self.site.model
        self.fast = bool(fast)
        self.trials = int(trials) if trials is not None else (FAST_TRIALS if fast else m.trials)
        self.seed = int(seed) if seed is not None else int(m.seed)
        if self.trials < 100:  # the site file's minimum
            raise ValueError(f"trials must be >= 100, {self.trials} was given")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, {self.seed} was given")
        if budget is not None and not (float(budget) >= 0):
            raise ValueError(f"budget must be >= 0, {budget} was given")
        if budget_kind not in ("annualised", "capex"):
            raise ValueError(
                f"budget_kind must be 'annualised' or 'capex', {budget_kind!r} was given"
            )
        if budget_kind == "capex" and budget is None:
            raise ValueError("a capex budget kind needs a budget; give --budget")
        self.budget_given = None if budget is None else float(budget)
        self.budget_kind = budget_kind
        self._mem: dict[str, Any] = {}
        self.cache = Path(cache) if cache is not None else None
        if self.cache is not None:
            self.cache.mkdir(parents=True, exist_ok=True)
            fp = self.cache / "fingerprint.json"
            mine = json.dumps(self.fingerprint(), sort_keys=True)
            if not fp.exists() or fp.read_text() != mine:
                for f in self.cache.glob("*.pkl"):
                    f.unlink()
                fp.write_text(mine)

    @classmethod
    def from_parameters(
        cls,
        site,
        trials=None,
        seed=None,
        budget=None,
        budget_kind="annualised",
        fast=False,
        out=None,
    ) -> Assessment:
        """The assessment a notebook's parameters cell describes.

        ``out`` is the run's output folder; its ``.cache`` holds the results shared by the
        notebooks of the run. Without it (a notebook opened on its own) nothing is cached.
        """
        cache = Path(out) / _CACHE if out else None
        return cls(site, trials, seed, budget, budget_kind, fast=fast, cache=cache)

    def fingerprint(self) -> dict:
        """What the results depend on: input hash, trials, seed, budget, version."""
        return {
            "input_hash": self.site.source_hash,
            "trials": self.trials,
            "seed": self.seed,
            "budget": self.budget_given,
            "budget_kind": self.budget_kind,
            "fast": self.fast,
            "riskkit": __version__,
        }

    def __repr__(self) -> str:
        return (
            f"Assessment({self.site.name!r}, trials={self.trials}, seed={self.seed},"
            f" budget={self.budget_given}, budget_kind={self.budget_kind!r})"
        )

    # caching -------------------------------------------------------------------------------
    def _get(self, key: str, compute: Callable[[], Any]) -> Any:
        if key in self._mem:
            return self._mem[key]
        path = self.cache / f"{key}.pkl" if self.cache is not None else None
        if path is not None and path.exists():
            with open(path, "rb") as f:
                value = pickle.load(f)
        else:
            value = compute()
            if path is not None:
                tmp = path.with_suffix(".tmp")
                with open(tmp, "wb") as f:
                    pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
        self._mem[key] = value
        return value

    # the library calls -----------------------------------------------------------------------
    def simulation(self, state: str = "current"):
        """Monte Carlo simulation of a state (``plan`` = the recommended plan)."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, {state!r} was given")
        from .engine import simulate

        def run():
            if state == "plan":
                return simulate(
                    self.site,
                    trials=self.trials,
                    seed=self.seed,
                    state="plan",
                    plan=list(self.plan_members),
                )
            return simulate(self.site, trials=self.trials, seed=self.seed, state=state)

        return self._get(f"sim-{state}", run)

    @property
    def targets(self):
        """SL-T of every zone and conduit (:func:`riskkit.target_levels`)."""
        from .levels import target_levels

        return self._get(
            "targets", lambda: target_levels(self.site, sim=self.simulation("unmitigated"))
        )

    @property
    def methods(self) -> pd.DataFrame:
        """SL-T under every method side by side (:func:`riskkit.levels.compare_methods`)."""
        from .levels import compare_methods

        return self._get(
            "methods", lambda: compare_methods(self.site, self.simulation("unmitigated"))
        )

    def gaps(self, state: str = "current"):
        """Gap analysis of a state against :attr:`targets` (:func:`riskkit.gaps`)."""
        from .levels import gaps

        if state == "plan":
            return self._get(
                "gaps-plan",
                lambda: gaps(self.site, self.targets, state="plan", plan=list(self.plan_members)),
            )
        return self._get(f"gaps-{state}", lambda: gaps(self.site, self.targets, state=state))

    @property
    def checks(self) -> pd.DataFrame:
        """Zone-model checks (:func:`riskkit.levels.model_checks`) with :attr:`targets`."""
        from .levels import model_checks

        return self._get("checks", lambda: model_checks(self.site, self.targets))

    @property
    def ranking(self):
        """Every candidate's effect on the current state (:func:`riskkit.prioritize`)."""
        from .portfolio import prioritize

        return self._get(
            "ranking",
            lambda: prioritize(
                self.site, trials=self.trials, seed=self.seed, budget_kind=self.budget_kind
            ),
        )

    @property
    def frontier(self):
        """Efficient frontier with the greedy sequence (:func:`riskkit.frontier`)."""
        from .portfolio import frontier

        return self._get(
            "frontier",
            lambda: frontier(
                self.site,
                n=self.frontier_points,
                budget_kind=self.budget_kind,
                trials=self.trials,
                seed=self.seed,
            ),
        )

    @property
    def frontier_points(self) -> int:
        """Budgets on the frontier: 20, or 10 for a ``fast`` run."""
        return 10 if self.fast else 20

    @property
    def budget(self) -> float:
        """The budget of the recommended plan: as given, else :func:`recommended_budget`."""
        if self.budget_given is not None:
            return self.budget_given
        if self.budget_kind != "annualised":
            raise ValueError("give a budget for a capex budget kind")
        return recommended_budget(self.frontier.points)

    @property
    def budget_source(self) -> str:
        """``given`` or ``least total cost of risk``."""
        return "given" if self.budget_given is not None else "least total cost of risk"

    @property
    def plan(self):
        """The recommended plan: the exact optimum within :attr:`budget`."""
        from .portfolio import optimize

        return self._get(
            "plan",
            lambda: optimize(
                self.site,
                self.budget,
                budget_kind=self.budget_kind,
                trials=self.trials,
                seed=self.seed,
            ),
        )

    @property
    def plan_members(self) -> tuple[str, ...]:
        """Candidate ids of the recommended plan."""
        return tuple(self.plan.members)

    # risk tables ---------------------------------------------------------------------------
    def states(self, plan: bool = True) -> tuple[str, ...]:
        """The states to report: unmitigated, current and (if ``plan``) the plan."""
        return STATES if plan else STATES[:2]

    def risk(self, level: str = "zone", states: Iterable[str] | None = None) -> pd.DataFrame:
        """``Simulation.summary(level)`` of each state, stacked with a ``state`` column.

        Returns
        -------
        pandas.DataFrame
            Long form: ``state``, the level's id column (``scenario``, ``zone`` or ``site``)
            and the columns of :meth:`riskkit.engine.Simulation.summary`.
        """
        frames = []
        for st in states or self.states():
            df = self.simulation(st).summary(level).reset_index()
            df.insert(0, "state", st)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def ale_table(
        self, level: str = "zone", column: str = "ale", states: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """One column of the risk summary, ids x states (e.g. ALE per zone and state)."""
        states = list(states or self.states())
        return pd.DataFrame({st: self.simulation(st).summary(level)[column] for st in states})

    def exceedance(self, states: Iterable[str] | None = None, points: int = 200) -> pd.DataFrame:
        """Site loss exceedance curves of several states on one logarithmic grid.

        Returns
        -------
        pandas.DataFrame
            Index ``loss`` [currency], one column per state: P(annual site loss >= loss).
        """
        states = list(states or self.states())
        lo, hi = np.inf, 0.0
        for st in states:
            x = self.simulation(st).losses("site")["site"].to_numpy()
            pos = x[x > 0]
            if pos.size:
                lo, hi = min(lo, float(pos.min())), max(hi, float(pos.max()))
        grid = np.geomspace(lo, hi, points) if hi > lo else np.array([max(hi, 1.0)])
        return pd.DataFrame(
            {st: self.simulation(st).exceedance("site", points=grid)["site"] for st in states}
        )

    def severity(self, states: Iterable[str] | None = None) -> pd.DataFrame:
        """Site frequencies of safety and environment events of class >= k, one row per state."""
        cols = [f"{h}_ge{k}" for h in ("safety", "environment") for k in (1, 2, 3, 4)]
        rows = {
            st: self.simulation(st).summary("site").iloc[0][cols] for st in states or self.states()
        }
        return pd.DataFrame(rows).T.astype(float)

    def tolerance_check(self, states: Iterable[str] | None = None) -> pd.DataFrame:
        """Each state against each tolerance of the site.

        Returns
        -------
        pandas.DataFrame
            ``state``, ``tolerance`` (what is checked), ``subject`` (zone, site or scenario),
            ``value``, ``tolerable`` and ``within`` (bool): the simulated per-zone ALE
            [currency/yr] and site exceedance probabilities P(L >= x), and per scenario the
            closed-form frequency of safety / environment events of class >= k [events/yr]
            (tolerable classes such as 1e-5/yr are rarer than the simulated years resolve).
        """
        tol = self.site.tolerance
        rows = []
        for st in states or self.states():
            sim = self.simulation(st)
            if tol.financial.per_zone_ale is not None:
                for z, ale in sim.summary("zone")["ale"].items():
                    if self.site.scenarios_in(z):
                        rows.append((st, "zone ALE", z, ale, tol.financial.per_zone_ale))
            if tol.financial.exceedance:
                xs = [x for x, _ in tol.financial.exceedance]
                ex = sim.exceedance("site", points=xs)["site"]
                for (x, p), v in zip(tol.financial.exceedance, ex.to_numpy()):
                    rows.append((st, f"P(site loss >= {x:,.0f})", "site", float(v), p))
            # rare harm classes (1e-5/yr) are below what a few 10^4 simulated years resolve:
            # the closed-form frequency is exact, so it is the one checked
            ex = sim.expected()
            for h in ("safety", "environment"):
                for k, f in sorted(getattr(tol, h).items()):
                    for sid, sev, v in zip(ex.index, ex[f"{h}_severity"], ex[f"{h}_rate"]):
                        if sev >= k and v > 0:
                            rows.append((st, f"{h} >= {k} per scenario", sid, float(v), f))
        df = pd.DataFrame(rows, columns=["state", "tolerance", "subject", "value", "tolerable"])
        df["within"] = df["value"] <= df["tolerable"]
        return df

    def register(self, states: Iterable[str] | None = None) -> pd.DataFrame:
        """The risk register: one row per scenario, ranked by current ALE.

        Returns
        -------
        pandas.DataFrame
            Index ``scenario``: ``name``, ``zone``, ``actor``, ``entry``, ``frs``,
            ``protection`` (L today), ``capability``, ``event_rate`` (closed-form E[events/yr]
            today), ``ale_<state>`` [currency/yr] per state, ``var99_current`` [currency],
            ``safety_severity``, ``environment_severity``, ``sl_t`` (the scenario's required
            level after the cap), ``rrf`` and ``dimension`` (what drives it), ``flagged``
            (an SL alone cannot bring it within tolerance), ``implemented`` and ``candidates``
            (countermeasures acting on it today, and candidates that could).
        """
        from .exposure import scenario_effects, touching

        states = list(states or self.states())
        cur = self.simulation("current")
        ex = cur.expected()
        t = self.targets.scenarios
        flagged = set(self.targets.flags["scenario"]) if len(self.targets.flags) else set()
        impl_ids = {c.id for c in self.site.implemented}
        rows = []
        for s in self.site.scenarios:
            eff = scenario_effects(self.site, s, impl_ids)
            acting = sorted(
                {c for c, _ in eff.frequency} | {c for v in eff.consequence.values() for c, _ in v}
            )
            cons = s.consequences
            rows.append(
                {
                    "scenario": s.id,
                    "name": s.name,
                    "zone": s.zone,
                    "actor": s.actor,
                    "entry": s.entry,
                    "frs": ", ".join(s.frs),
                    "protection": int(ex.at[s.id, "protection"]),
                    "capability": int(ex.at[s.id, "capability"]),
                    "event_rate": float(ex.at[s.id, "event_rate"]),
                    "safety_severity": cons.safety.severity if cons.safety else 0,
                    "environment_severity": cons.environment.severity if cons.environment else 0,
                    "sl_t": int(t.at[s.id, "sl_t"]) if s.id in t.index else None,
                    "rrf": float(t.at[s.id, "rrf"]) if s.id in t.index else None,
                    "dimension": t.at[s.id, "dimension"] if s.id in t.index else None,
                    "flagged": s.id in flagged,
                    "implemented": ", ".join(acting),
                    "candidates": ", ".join(touching(self.site, s)),
                }
            )
        cols = ["scenario", "name", "zone", "actor", "entry", "frs", "protection", "capability"]
        cols += ["event_rate", "safety_severity", "environment_severity", "sl_t", "rrf"]
        cols += ["dimension", "flagged", "implemented", "candidates"]
        df = pd.DataFrame(rows, columns=cols).set_index("scenario")  # columns even if no rows
        for st in states:
            df[f"ale_{st}"] = self.simulation(st).summary("scenario")["ale"]
        df["var99_current"] = cur.summary("scenario")["var99"]
        order = ["name", "zone", "actor", "entry", "frs"]
        order += [f"ale_{st}" for st in states] + ["var99_current"]
        rest = [c for c in df.columns if c not in order]
        return df[order + rest].sort_values("ale_current", ascending=False)

    # what changed ----------------------------------------------------------------------------
    def changes(self, previous: str | os.PathLike | Mapping | None) -> pd.DataFrame:
        """Per zone: current ALE and SL-T now and in a previous run's ``summary.json``.

        Parameters
        ----------
        previous : path or dict, optional
            An earlier output folder (or its summary as a dict).

        Returns
        -------
        pandas.DataFrame
            Index zone id: ``ale_before``, ``ale_now``, ``ale_change`` [currency/yr],
            ``sl_t_before``, ``sl_t_now`` (vectors as text), ``sl_t_changed`` (bool),
            ``meets_before``, ``meets_now``, ``status`` (``new``, ``removed`` or ``kept``).
            Empty when ``previous`` is None.
        """
        cols = [
            "ale_before",
            "ale_now",
            "ale_change",
            "sl_t_before",
            "sl_t_now",
            "sl_t_changed",
            "meets_before",
            "meets_now",
            "status",
        ]
        if previous is None:
            return pd.DataFrame(columns=cols, index=pd.Index([], name="zone"))
        prev = previous if isinstance(previous, Mapping) else read_summary(previous)
        before = prev.get("zones", {})
        now = self.zone_summary()
        rows = {}
        for zid in [*now, *[z for z in before if z not in now]]:
            b, n = before.get(zid), now.get(zid)
            ab = b["ale"]["current"] if b else None
            an = n["ale"]["current"] if n else None
            tb = _vec_text(b["sl_t"]) if b else None
            tn = _vec_text(n["sl_t"]) if n else None
            rows[zid] = {
                "ale_before": ab,
                "ale_now": an,
                "ale_change": (an - ab) if (ab is not None and an is not None) else None,
                "sl_t_before": tb,
                "sl_t_now": tn,
                "sl_t_changed": bool(b and n and tb != tn),
                "meets_before": b["meets_target"]["current"] if b else None,
                "meets_now": n["meets_target"]["current"] if n else None,
                "status": "new" if b is None else ("removed" if n is None else "kept"),
            }
        df = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
        df.index.name = "zone"
        return df

    # summary.json ------------------------------------------------------------------------------
    def zone_summary(self) -> dict:
        """Per zone: ALE, its SE, VaR 95/99, ES 99 per state; SL-T, SL-C, SL-A and gaps."""
        sums = {st: self.simulation(st).summary("zone") for st in STATES}
        T = self.targets
        gaps = {st: self.gaps(st).table for st in ("current", "plan")}
        meets = {st: self.gaps(st).zones_meeting for st in ("current", "plan")}
        out = {}
        for z in self.site.zones:
            rec = {
                "name": z.name,
                "kind": z.kind,
                "purdue_level": z.purdue_level,
                "scenarios": len(self.site.scenarios_in(z.id)),
            }
            for col in ("ale", "ale_se", "var95", "var99", "es99"):
                rec[col] = {st: float(sums[st].at[z.id, col]) for st in STATES}
            rec["sl_t"] = [int(v) for v in T.zones.loc[z.id, list(FRS)]]
            rec["sl_c"] = list(z.sl_c) if z.sl_c is not None else None
            for key in ("sl_a", "gap"):
                rec[key] = {}
                for st in ("current", "plan"):
                    g = gaps[st]
                    g = g[(g["kind"] == "zone") & (g["id"] == z.id)].set_index("fr")
                    rec[key][st] = [int(g.at[f, "sl_a" if key == "sl_a" else "gap"]) for f in FRS]
            rec["meets_target"] = {st: bool(meets[st][z.id]) for st in ("current", "plan")}
            out[z.id] = rec
        return out

    def conduit_summary(self) -> dict:
        """Per conduit: SL-T, SL-C, SL-A and gaps (current and with the plan)."""
        T = self.targets
        out = {}
        for c in self.site.conduits:
            rec = {
                "zones": list(c.zones),
                "sl_t": [int(v) for v in T.conduits.loc[c.id, list(FRS)]],
            }
            rec["sl_c"] = list(c.sl_c) if c.sl_c is not None else None
            rec["sl_a"], rec["gap"], rec["meets_target"] = {}, {}, {}
            for st in ("current", "plan"):
                G = self.gaps(st)
                g = G.table[(G.table["kind"] == "conduit") & (G.table["id"] == c.id)]
                g = g.set_index("fr")
                rec["sl_a"][st] = [int(g.at[f, "sl_a"]) for f in FRS]
                rec["gap"][st] = [int(g.at[f, "gap"]) for f in FRS]
                rec["meets_target"][st] = bool(G.zones_meeting[c.id])
            out[c.id] = rec
        return out

    def plan_summary(self) -> dict:
        """The recommended plan: members, budget, costs, expected and simulated ALE."""
        P = self.plan
        sim = self.simulation("plan").summary("site").iloc[0]
        cur = self.simulation("current").summary("site").iloc[0]
        return {
            "members": [
                {
                    "id": m,
                    "name": self.site.countermeasure(m).name,
                    "annualised_cost": annualised_cost(self.site, m),
                    "capex": self.site.countermeasure(m).cost.capex,
                }
                for m in P.members
            ],
            "budget": self.budget,
            "budget_kind": self.budget_kind,
            "budget_source": self.budget_source,
            "annualised_cost": P.annualised_cost,
            "capex": P.capex,
            "opex": P.opex,
            "expected_ale_current": P.baseline_ale,
            "expected_ale": P.expected_ale,
            "expected_reduction": P.reduction,
            "rosi": P.rosi,
            "status": P.status,
            "method": P.method,
            "solver_gap": P.gap,
            "ale_current": float(cur["ale"]),
            "ale": float(sim["ale"]),
            "ale_se": float(sim["ale_se"]),
            "var95": float(sim["var95"]),
            "var99": float(sim["var99"]),
            "var99_current": float(cur["var99"]),
            "zones_meeting_target": int(
                self.gaps("plan").summary.query("kind == 'zone'")["meets"].sum()
            ),
        }

    def summary(self, previous: str | os.PathLike | None = None) -> dict:
        """The content of ``summary.json`` (without the run's timestamps and outputs).

        Keys: ``riskkit`` (versions), ``provenance``, ``site`` (site-level risk per state),
        ``zones``, ``conduits``, ``plan``, ``frontier``, ``top_risks``, ``flags``,
        ``checks``, ``changes`` (when ``previous`` is given). Money in ``currency``; ALE
        [currency/yr], VaR / ES [currency].
        """
        site = self.site
        sums = {st: self.simulation(st).summary("site").iloc[0] for st in STATES}
        site_block = {
            col: {st: float(sums[st][col]) for st in STATES}
            for col in ("ale", "ale_se", "var95", "var99", "es99", "p_zero")
        }
        site_block["harm"] = {
            st: {k: float(v) for k, v in sums[st].items() if k.startswith(("safety_", "env"))}
            for st in STATES
        }
        reg = self.register()
        top = [
            {
                "scenario": sid,
                "name": r["name"],
                "zone": r["zone"],
                "ale_current": float(r["ale_current"]),
                "ale_plan": float(r["ale_plan"]),
            }
            for sid, r in reg.head(5).iterrows()
        ]
        F = self.frontier
        fcost = "annualised_cost" if "annualised_cost" in F.points else "cost"
        frontier = [
            {
                "budget": _jsonable(r.get("budget")),
                "annualised_cost": float(r[fcost]),
                "expected_ale": float(r["expected_ale"]),
                "members": r.get("members"),
            }
            for _, r in F.points.iterrows()
        ]
        checks = self.checks
        out = {
            "riskkit": {
                "version": __version__,
                "python": sys.version.split()[0],
                "numpy": np.__version__,
                "pandas": pd.__version__,
            },
            "provenance": {
                "site": site.name,
                "site_id": site.site.slug,
                "input_hash": site.source_hash,
                "assessed": site.site.assessed,
                "seed": self.seed,
                "trials": self.trials,
                "budget": self.budget,
                "budget_kind": self.budget_kind,
                "budget_source": self.budget_source,
                "fast": self.fast,
                "sl_t_method": self.targets.method,
                "decision_statistic": self.targets.statistic,
            },
            "currency": site.currency,
            "site": site_block,
            "zones": self.zone_summary(),
            "conduits": self.conduit_summary(),
            "plan": self.plan_summary(),
            "frontier": frontier,
            "top_risks": top,
            "flags": [
                {
                    "scenario": r["scenario"],
                    "zone": r["zone"],
                    "reason": r["reason"],
                    "message": r["message"],
                }
                for _, r in self.targets.flags.iterrows()
            ],
            "checks": {k: int(v) for k, v in checks["severity"].value_counts().items()}
            if len(checks)
            else {},
        }
        if previous is not None:
            prev = read_summary(previous)
            ch = self.changes(prev)
            out["changes"] = {
                "previous": {
                    "input_hash": prev.get("provenance", {}).get("input_hash"),
                    "finished": prev.get("provenance", {}).get("finished"),
                    "site_ale_current": prev.get("site", {}).get("ale", {}).get("current"),
                },
                "site_ale_current": site_block["ale"]["current"],
                "zones": {z: {k: _jsonable(v) for k, v in r.items()} for z, r in ch.iterrows()},
            }
        return _jsonable(out)

    def tables(self, previous: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
        """Every table of the deliverables, by sheet name (see :func:`write_tables`)."""
        site = self.site
        T = self.targets
        out = {
            "zones": zones_table(site),
            "conduits": conduits_table(site),
            "threat_actors": actors_table(site),
            "scenarios": scenarios_table(site),
            "countermeasures": countermeasures_table(site),
            "model_checks": self.checks,
            "risk_site": self.risk("site"),
            "risk_zones": self.risk("zone"),
            "risk_scenarios": self.risk("scenario"),
            "exceedance": self.exceedance().reset_index(),
            "tolerance": self.tolerance_check(),
            "register": self.register(),
            "sl_t": T.summary,
            "sl_t_drivers": T.drivers,
            "sl_t_scenarios": T.scenarios,
            "rrf": T.rrfs,
            "pha_flags": T.flags,
        }
        for st in ("current", "plan"):
            G = self.gaps(st)
            out[f"gaps_{st}"] = G.table
            out[f"gap_summary_{st}"] = G.summary
        out["gap_closers"] = self.gaps("current").closers
        out["ranking"] = self.ranking.summary
        out["plan"] = self.plan.summary
        F = self.frontier
        out["frontier"] = F.points
        if F.nested is not None:
            out["frontier_nested"] = F.nested
        out["greedy"] = F.greedy
        out["frontier_grid"] = F.grid
        if previous is not None:
            out["changes"] = self.changes(previous)
        return out


def read_summary(folder: str | os.PathLike) -> dict:
    """The ``summary.json`` of an output folder."""
    p = Path(folder) / "summary.json"
    if not p.is_file():
        raise FileNotFoundError(f"no summary.json in {folder}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{p} is not valid JSON ({e})") from None
    if not (isinstance(data, dict) and isinstance(data.get("zones"), dict)):
        raise ValueError(f"{p} is not the summary.json of a riskkit assess run (no 'zones')")
    return data


# --------------------------------------------------------------------------------------------
# Inside a notebook
# --------------------------------------------------------------------------------------------


def setup_notebook() -> None:
    """Display settings of the report notebooks.

    Plotly figures are emitted both as the plotly mimetype (for JupyterLab) and as HTML with
    plotly.js inlined once per notebook (``plotly_mimetype+notebook``), so they stay
    interactive in the HTML exported without code cells and with no network access.
    """
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype+notebook"
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)


def _dist_text(spec) -> str:
    """A distribution spec in a few characters: 0.5, pert(0.2, 0.5, 0.9), lognormal90[1, 6]."""
    if spec is None:
        return ""
    d = spec.model_dump()
    kind = d.pop("dist", "")
    if kind == "constant":
        return f"{d['value']:g}"
    if kind == "lognormal":
        return f"lognormal{round(100 * d.get('ci', 0.9))}%[{d['low']:g}, {d['high']:g}]"
    if kind in ("pert", "triangular"):
        return f"{kind}({d['low']:g}, {d['mode']:g}, {d['high']:g})"
    vals = ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in d.values())
    return f"{kind}({vals})"


def _vec_text(v) -> str:
    return "" if v is None else " ".join(str(int(x)) for x in v)


def provenance_markdown(A: Assessment) -> str:
    """A short Markdown paragraph: site, input hash, trials, seed, budget, version, run date."""
    s = A.site
    run = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    budget = (
        f"{A.budget_given:,.0f} {s.currency} ({A.budget_kind})"
        if A.budget_given is not None
        else "not given: the plan with the least total cost of risk"
    )
    return (
        f"**{s.name}** ({s.currency}); assessed {s.site.assessed or 'n/a'}. "
        f"Input `{Path(s.source or '').name}`, SHA-256 `{(s.source_hash or '')[:12]}`; "
        f"{A.trials:,} simulated years, seed {A.seed}; budget {budget}; "
        f"riskkit {__version__}; run {run}."
    )


def inventory_table(site: Site) -> pd.DataFrame:
    """Counts of every record kind of the site."""
    inv = site.inventory()
    inv["implemented countermeasures"] = len(site.implemented)
    inv["candidate countermeasures"] = len(site.candidates)
    return pd.DataFrame({"count": inv}).rename_axis("records")


def zones_table(site: Site) -> pd.DataFrame:
    """Zones: kind, Purdue level, SL-C, SL-A, scenarios, assets."""
    rows = [
        {
            "zone": z.id,
            "name": z.name,
            "kind": z.kind,
            "purdue_level": z.purdue_level,
            "sl_c": _vec_text(z.sl_c),
            "sl_a": _vec_text(z.sl_a),
            "scenarios": len(site.scenarios_in(z.id)),
            "assets": ", ".join(z.assets),
        }
        for z in site.zones
    ]
    return pd.DataFrame(rows).set_index("zone")


def conduits_table(site: Site) -> pd.DataFrame:
    """Conduits: the zones they join, protocols, SL-C, SL-A."""
    rows = [
        {
            "conduit": c.id,
            "name": c.name,
            "zones": " - ".join(c.zones),
            "protocols": ", ".join(c.protocols),
            "sl_c": _vec_text(c.sl_c),
            "sl_a": _vec_text(c.sl_a),
            "entry_of": ", ".join(s.id for s in site.scenarios if s.entry == c.id),
        }
        for c in site.conduits
    ]
    cols = ["conduit", "name", "zones", "protocols", "sl_c", "sl_a", "entry_of"]
    return pd.DataFrame(rows, columns=cols).set_index("conduit")


def actors_table(site: Site) -> pd.DataFrame:
    """Threat actors: capability, attempt rate [1/yr] and its mean, scenarios."""
    rows = [
        {
            "actor": a.id,
            "name": a.name,
            "capability": a.capability,
            "attempt_rate": _dist_text(a.attempt_rate),
            "mean_attempts_per_yr": a.attempt_rate.mean(),
            "scenarios": sum(s.actor == a.id for s in site.scenarios),
        }
        for a in site.threat_actors
    ]
    cols = ["actor", "name", "capability", "attempt_rate", "mean_attempts_per_yr", "scenarios"]
    return pd.DataFrame(rows, columns=cols).set_index("actor")


def scenarios_table(site: Site) -> pd.DataFrame:
    """Scenarios as the site file states them: zone, actor, entry, FRs, rate, consequences."""
    rows = []
    for s in site.scenarios:
        c = s.consequences
        money = []
        for cat, spec in c.money().items():
            if cat == "production":
                money.append(
                    f"production {_dist_text(spec.hours)} h x {_dist_text(spec.cost_per_hour)}"
                )
            else:
                money.append(f"{cat} {_dist_text(spec)}")
        harm = [f"{h} {v.severity} (p={v.probability:g})" for h, v in c.harms().items()]
        rows.append(
            {
                "scenario": s.id,
                "name": s.name,
                "zone": s.zone,
                "actor": s.actor,
                "entry": s.entry or "",
                "frs": ", ".join(s.frs),
                "rate": f"share {s.rate_share:g}" if s.rate is None else _dist_text(s.rate),
                "vulnerability": _dist_text(s.vulnerability),
                "money": "; ".join(money),
                "harm": "; ".join(harm),
            }
        )
    return pd.DataFrame(rows).set_index("scenario") if rows else pd.DataFrame()


def countermeasures_table(site: Site) -> pd.DataFrame:
    """Countermeasures: status, cost, annualised cost, group, effects in words."""
    rows = []
    for cm in site.countermeasures:
        effects = []
        for e in cm.effects:
            if e.type == "security_level":
                tgt = ", ".join([*e.zones, *e.conduits])
                lv = " ".join(f"{k}:{v}" for k, v in e.levels.items())
                effects.append(f"SL {lv} on {tgt}")
            else:
                tgt = ", ".join([*e.scenarios, *e.zones])
                what = "frequency" if e.type == "frequency" else e.category
                effects.append(f"-{_dist_text(e.reduction)} {what} of {tgt}")
        rows.append(
            {
                "countermeasure": cm.id,
                "name": cm.name,
                "status": cm.status,
                "capex": cm.cost.capex,
                "opex": cm.cost.opex,
                "lifetime_years": cm.cost.lifetime_years,
                "annualised_cost": annualised_cost(site, cm.id),
                "group": cm.exclusive_group or "",
                "mandatory": cm.mandatory,
                "effects": "; ".join(effects),
            }
        )
    return pd.DataFrame(rows).set_index("countermeasure") if rows else pd.DataFrame()


def checks_markdown(checks: pd.DataFrame) -> str:
    """One sentence counting the model-check findings by severity."""
    if checks is None or checks.empty:
        return "The zone model passes every check."
    counts = checks["severity"].value_counts()
    parts = [f"{counts[k]} {k}{'s' if counts[k] != 1 else ''}" for k in counts.index]
    return "Model checks: " + ", ".join(parts) + "."


_NOT_MONEY = ("per_cost", "rosi", "excess", "lost", "share", "gap", "p_zero", "rrf", "seconds")
_MONEY_WORD = re.compile(
    r"(^|[_ ])(ale|var\d+|es\d+|capex|opex|cost|npv|budget|loss|shapley|standalone|drop_one"
    r"|reduction|bound|value|tolerable)($|[_ ])"
)


def _is_money(name: str, values: pd.Series) -> bool:
    n = name.lower()
    if any(w in n for w in _NOT_MONEY):
        return False
    if n in ("value", "tolerable"):  # tolerance table: money only where it is large
        return bool((values.abs() >= 100).all())
    return bool(_MONEY_WORD.search(n))


def styled(df: pd.DataFrame, hide_index: bool = False):
    """A pandas Styler with readable numbers.

    Money columns get thousands separators and no decimals, other floats 3 significant digits.
    """
    fmt = {}
    for c in df.columns:
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        if _is_money(str(c), col.dropna()):
            fmt[c] = "{:,.0f}"
        elif pd.api.types.is_float_dtype(col):
            fmt[c] = "{:.3g}"
    st = df.style.format(fmt, na_rep="")
    if hide_index:
        st = st.hide(axis="index")
    return st


_RISK_COLS = ["ale", "ale_se", "var95", "var99", "es99", "p_zero", "expected_ale"]


def risk_table(A: Assessment, level: str = "zone", states: Iterable[str] | None = None):
    """Styled risk measures per state and zone (or site): ALE, its SE, VaR, ES, P(no loss)."""
    df = A.risk(level, states)
    key = {"zone": "zone", "site": "site", "scenario": "scenario"}[level]
    df = df.set_index(["state", key])[_RISK_COLS]
    return styled(df)


def tolerance_markdown(tol: pd.DataFrame) -> str:
    """How many tolerance checks each state fails, in one sentence per state."""
    lines = []
    for st, g in tol.groupby("state", sort=False):
        bad = g[~g["within"]]
        if bad.empty:
            lines.append(f"- **{st}**: within every tolerance ({len(g)} checks).")
        else:
            what = ", ".join(sorted(set(bad["tolerance"].str.replace(r" >= \d.*", "", regex=True))))
            lines.append(f"- **{st}**: {len(bad)} of {len(g)} checks exceed tolerance ({what}).")
    return "\n".join(lines) or "The site states no tolerance."


def register_view(reg: pd.DataFrame, top: int | None = None):
    """The risk register, styled for reading (the full table is in the workbook)."""
    df = reg if top is None else reg.head(top)
    return styled(df)


def level_frames(A: Assessment, state: str = "current") -> tuple[pd.DataFrame, pd.DataFrame]:
    """SL-T and SL-A of every zone and conduit (ids x FR1..FR7) in a state, for the diagram."""
    tab = A.gaps(state).table
    frs = list(FRS)
    t = tab.pivot_table(index="id", columns="fr", values="sl_t", sort=False)[frs]
    a = tab.pivot_table(index="id", columns="fr", values="sl_a", sort=False)[frs]
    return t.astype(int), a.astype(int)


def levels_markdown(A: Assessment) -> str:
    """The SL-T method, statistic and the counts of zones meeting their targets."""
    T = A.targets
    g = A.gaps("current").summary
    z = g[g["kind"] == "zone"]
    c = g[g["kind"] == "conduit"]
    return (
        f"Method **{T.method}**, decision statistic **{T.statistic}**, r = {T.r:g} "
        f"(each level divides the attack rate by {T.r:g}, up to the actor's capability). "
        f"Today {int(z['meets'].sum())} of {len(z)} zones and {int(c['meets'].sum())} of "
        f"{len(c)} conduits meet their SL-T in every FR; {len(T.flags)} scenario(s) are "
        "flagged for the Security PHA Review."
    )


def methods_view(A: Assessment) -> pd.DataFrame:
    """SL-T vectors (FR1..FR7) of every zone and conduit, one column per SL-T method.

    ``n/a`` where the site lacks a method's inputs (``matrix`` without a ``risk_matrix``);
    ``differs`` marks rows where the methods that ran disagree.
    """
    long = A.methods
    methods = [c for c in long.columns if c not in ("kind", "id", "fr")]
    rows = []
    for (kind, rid), g in long.groupby(["kind", "id"], sort=False):
        g = g.set_index("fr").reindex(list(FRS))
        row = {"kind": kind, "id": rid}
        vectors = []
        for m in methods:
            v = g[m]
            if v.isna().all():
                row[m] = "n/a"
            else:
                row[m] = " ".join(str(int(x)) for x in v)
                vectors.append(row[m])
        row["differs"] = len(set(vectors)) > 1
        rows.append(row)
    return pd.DataFrame(rows)


def drivers_view(T) -> pd.DataFrame:
    """The driver of every zone SL-T value above the floor, one row per (zone, FR)."""
    d = T.drivers
    d = d[(d["kind"] == "zone") & (d["basis"] == "scenario")]
    cols = ["id", "fr", "sl_t", "scenario", "actor", "rrf", "dimension", "required", "capped"]
    return d[cols].rename(columns={"id": "zone"}).reset_index(drop=True)


def flags_markdown(flags: pd.DataFrame) -> str:
    """A bullet per Security PHA Review finding."""
    if flags is None or flags.empty:
        return "No scenario needs more than a security level can give."
    return "\n".join(f"- {m}" for m in flags["message"])


def rrf_view(T) -> pd.DataFrame:
    """Per scenario: zone, actor, RRF, its dimension, the level required and set."""
    cols = [
        c
        for c in (
            "zone",
            "actor",
            "capability",
            "rrf",
            "dimension",
            "required",
            "sl_t",
            "capped",
            "residual_rrf",
        )
        if c in T.scenarios.columns
    ]
    return T.scenarios[cols].sort_values("rrf", ascending=False)


def _harm_rate(sim, harm: str, k: int) -> float:
    """Closed-form expected events per year of ``harm`` class >= k in a simulation's state."""
    ex = sim.expected()
    return float(ex.loc[ex[f"{harm}_severity"] >= k, f"{harm}_rate"].sum())


def _m(x: float, cur: str) -> str:
    from .figures import money

    return money(x, cur)


def headline_markdown(A: Assessment) -> str:
    """The management summary in a few sentences, for a reader with five minutes."""
    S, cur = A.site, A.site.currency
    un = A.simulation("unmitigated").summary("site").iloc[0]
    now = A.simulation("current").summary("site").iloc[0]
    pl = A.simulation("plan").summary("site").iloc[0]
    P = A.plan
    gz = {st: A.gaps(st).summary.query("kind == 'zone'") for st in ("current", "plan")}
    n_z = len(gz["current"])
    reduction = now["ale"] - pl["ale"]
    lines = [
        f"- **Today** {S.name} is expected to lose **{_m(now['ale'], cur)} per year** to cyber"
        f" attacks on its control systems; one year in a hundred the loss exceeds"
        f" **{_m(now['var99'], cur)}**. Without the protection in place it would be"
        f" {_m(un['ale'], cur)} per year.",
    ]
    if P.members:
        per = reduction / P.annualised_cost if P.annualised_cost > 0 else float("inf")
        lines.append(
            f"- **The recommended plan** ({len(P.members)} measures: {', '.join(P.members)})"
            f" costs **{_m(P.annualised_cost, cur)} per year** ({_m(P.capex, cur)} up front,"
            f" spread over each measure's lifetime, plus running costs). It lowers the expected"
            f" loss to **{_m(pl['ale'], cur)} per year**, a reduction of"
            f" {_m(reduction, cur)}: each unit spent removes {per:.1f} units of expected loss."
            f" The one-in-a-hundred-years loss falls to {_m(pl['var99'], cur)}."
        )
    else:
        lines.append(
            "- **No investment is recommended** within the budget: no candidate removes more"
            " expected loss than it costs, or the budget is too small for any."
        )
    m_now, m_plan = int(gz["current"]["meets"].sum()), int(gz["plan"]["meets"].sum())
    lines.append(
        f"- **Security levels**: {m_now} of {n_z} zones reach their target security level in"
        f" every requirement today, {m_plan} of {n_z} with the plan"
        + (
            " (the plan is chosen for the loss it removes; the measures that would close the"
            " remaining gaps are listed in notebook 3)."
            if m_plan < n_z
            else "."
        )
    )
    hs = []
    for h, word in (("safety", "safety"), ("environment", "environmental")):
        a = _harm_rate(A.simulation("current"), h, 3)
        b = _harm_rate(A.simulation("plan"), h, 3)
        if a > 0:
            hs.append(
                f"{word} incidents of severity 3 or worse: once in {1 / a:,.0f} years today,"
                + (f" once in {1 / b:,.0f} years with the plan" if b > 0 else " none with the plan")
            )
    if hs:
        lines.append("- **Harm**: " + "; ".join(hs) + ".")
    nf = len(A.targets.flags)
    if nf:
        lines.append(
            f"- **{nf} scenario(s)** need more risk reduction than any security level can give"
            " (see notebook 3): they need an engineering safeguard or a smaller consequence,"
            " which is a decision for the process-safety review."
        )
    if A.budget_given is None:
        lines.append(
            f"- No budget was set: the plan shown is the one with the least total cost of"
            f" risk (expected loss plus plan cost), at {_m(A.budget, cur)} per year."
        )
    return "\n".join(lines)


def ranking_view(R) -> pd.DataFrame:
    """The ranking's main columns (the full table is in the workbook)."""
    cols = [
        "rank",
        "countermeasure",
        "name",
        "annualised_cost",
        "delta_ale",
        "reduction_per_cost",
        "rosi",
        "delta_var99",
        "sl_gaps_closed",
        "exclusive_group",
    ]
    df = R.summary
    return df[[c for c in cols if c in df.columns]]


def frontier_view(points: pd.DataFrame) -> pd.DataFrame:
    """The frontier's main columns: budget, cost, ALE, VaR 99, members, greedy's ALE."""
    cols = [
        "budget",
        "annualised_cost",
        "capex",
        "expected_ale",
        "var99",
        "n_members",
        "members",
        "greedy_ale",
        "nesting_cost",
    ]
    return points[[c for c in cols if c in points.columns]]


def plan_markdown(A: Assessment) -> str:
    """The recommended plan in numbers: budget, costs, ALE and VaR 99 before and after."""
    P, cur = A.plan, A.site.currency
    now = A.simulation("current").summary("site").iloc[0]
    pl = A.simulation("plan").summary("site").iloc[0]
    unit = f"{cur}/yr" if A.budget_kind == "annualised" else cur
    lines = [
        f"- Budget: {A.budget:,.0f} {unit} ({A.budget_kind}; {A.budget_source}).",
        f"- Members: {', '.join(P.members) or 'none'}.",
        f"- Cost: {P.annualised_cost:,.0f} {cur}/yr annualised ({P.capex:,.0f} {cur} capex,"
        f" {P.opex:,.0f} {cur}/yr opex).",
        f"- Expected annual loss (closed form): {P.baseline_ale:,.0f} -> {P.expected_ale:,.0f}"
        f" {cur}/yr; ROSI {P.rosi:.2f}.",
        f"- Simulated ({A.trials:,} years, seed {A.seed}): ALE {now['ale']:,.0f} ->"
        f" {pl['ale']:,.0f} {cur}/yr (SE {pl['ale_se']:,.0f}); VaR 99 % {now['var99']:,.0f} ->"
        f" {pl['var99']:,.0f} {cur}.",
        f"- Solver: {P.status} ({P.method})"
        + (f", relative gap {P.gap:.2g}." if np.isfinite(P.gap) and P.gap > 0 else "."),
    ]
    return "\n".join(lines)


def plan_view(A: Assessment) -> pd.DataFrame:
    """The plan's members with names, costs and their Shapley share of the reduction."""
    P = A.plan
    df = P.summary.reset_index()
    return df


def top_risks_view(A: Assessment, n: int = 5) -> pd.DataFrame:
    """The ``n`` scenarios with the largest expected loss today, before and after the plan."""
    reg = A.register().head(n)
    out = reg[["name", "zone", "ale_current", "ale_plan", "var99_current"]].reset_index()
    return out.rename(
        columns={
            "ale_current": "expected loss today",
            "ale_plan": "expected loss with the plan",
            "var99_current": "1-in-100-year loss today",
        }
    )


def zone_status_view(A: Assessment) -> pd.DataFrame:
    """Per zone: expected loss today and with the plan, and whether it meets its SL-T."""
    zs = A.zone_summary()
    rows = {
        z: {
            "name": r["name"],
            "ale today": r["ale"]["current"],
            "ale with plan": r["ale"]["plan"],
            "SL-T": _vec_text(r["sl_t"]),
            "meets SL-T today": r["meets_target"]["current"],
            "meets SL-T with plan": r["meets_target"]["plan"],
        }
        for z, r in zs.items()
    }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "zone"
    return df


def changes_markdown(A: Assessment, previous) -> str:
    """What changed since a previous run, in a few sentences (or why nothing is shown)."""
    if previous is None:
        return "No previous assessment was given (run with `--previous DIR` to compare)."
    prev = read_summary(previous)
    ch = A.changes(prev)
    cur = A.site.currency
    pa = prev.get("site", {}).get("ale", {}).get("current")
    na = A.simulation("current").summary("site").iloc[0]["ale"]
    when = prev.get("provenance", {}).get("finished", "an earlier run")
    same = prev.get("provenance", {}).get("input_hash") == A.site.source_hash
    lines = [f"Compared with the assessment of {when}" + (" (same input file)." if same else ".")]
    if pa is not None:
        lines.append(
            f"- Expected annual loss today: {_m(pa, cur)} then, {_m(na, cur)} now"
            f" ({'+' if na >= pa else '-'}{_m(abs(na - pa), cur)})."
        )
    moved = ch[ch["sl_t_changed"]]
    if len(moved):
        lines.append("- Target levels changed in " + ", ".join(moved.index) + ".")
    else:
        lines.append("- No target security level changed.")
    for status in ("new", "removed"):
        ids = list(ch.index[ch["status"] == status])
        if ids:
            lines.append(f"- Zones {status}: {', '.join(ids)}.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _cell(v: Any) -> Any:
    if isinstance(v, (list, tuple, set, np.ndarray)):
        return ", ".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(_jsonable(v))
    return v


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """A copy safe for Excel and Parquet: index as columns, lists as text, str column names."""
    out = df.copy()
    if not isinstance(out.index, pd.RangeIndex) or out.index.name is not None:
        out = out.reset_index()
    out.columns = [str(c) for c in out.columns]
    for c in out.columns:
        if out[c].dtype == object:
            vals = out[c].map(_cell)
            kinds = {type(v) for v in vals if v is not None and not pd.isna(v)}
            if len(kinds) > 1 or (kinds and not kinds <= {str, bool, int, float}):
                vals = vals.map(lambda v: None if v is None or pd.isna(v) else str(v))
            out[c] = vals
    return out


def write_tables(tables: Mapping[str, pd.DataFrame], out: str | os.PathLike) -> list[str]:
    """Write tables as ``<out>/tables.xlsx`` (one sheet each) and ``<out>/tables/*.parquet``.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Name (at most 31 characters, the Excel limit) to table.
    out : path
        The output folder.

    Returns
    -------
    list of str
        The table names written.
    """
    out = Path(out)
    for name in tables:
        if len(name) > 31:
            raise ValueError(f"table name {name!r} is longer than Excel's 31 characters")
    (out / "tables").mkdir(parents=True, exist_ok=True)
    names = []
    with pd.ExcelWriter(out / "tables.xlsx", engine="openpyxl") as xl:
        for name, df in tables.items():
            flat = _flat(df)
            flat.to_parquet(out / "tables" / f"{name}.parquet", index=False)
            flat.to_excel(xl, sheet_name=name, index=False)
            names.append(name)
    return names


# --------------------------------------------------------------------------------------------
# Running the notebooks
# --------------------------------------------------------------------------------------------


class AssessError(RuntimeError):
    """A notebook of an assessment failed.

    Attributes
    ----------
    notebook : str
        The notebook's stem (``02_risk``).
    cell : int or None
        Index of the failing cell in the executed notebook (0-based, as stored).
    exec_count : int or None
        Its execution count (the ``In [n]`` a reader sees).
    source : str
        The cell's code.
    ename, evalue : str
        Exception type and message raised in the kernel.
    folder : pathlib.Path or None
        The ``-FAILED-`` folder kept with the partial executed notebook.
    """

    def __init__(self, notebook, cell, exec_count, source, ename, evalue, folder=None):
        self.notebook = notebook
        self.cell = cell
        self.exec_count = exec_count
        self.source = source or ""
        self.ename = ename
        self.evalue = evalue
        self.folder = folder
        super().__init__(self.describe())

    def describe(self) -> str:
        """Multi-line message: notebook, cell, its code (first lines) and the error."""
        lines = [f"notebook {self.notebook} failed"]
        if self.cell is not None:
            lines[0] += f" in cell {self.cell} (In [{self.exec_count}])"
        src = self.source.strip().splitlines()
        if src:
            lines.append("  cell:")
            lines += [f"    {s}" for s in src[:12]]
            if len(src) > 12:
                lines.append(f"    ... ({len(src) - 12} more lines)")
        lines.append(f"  error: {self.ename}: {self.evalue}")
        if self.folder is not None:
            lines.append(f"  partial results kept in {self.folder}")
        return "\n".join(lines)


@dataclasses.dataclass
class AssessResult:
    """What :func:`assess` produced.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    summary : dict
        The content of ``summary.json``.
    timings : dict
        Seconds per step (notebook stems, ``export``, ``tables``).
    """

    out: Path
    summary: dict
    timings: dict


def notebooks_dir() -> Path:
    """The folder holding the notebooks (``riskkit/notebooks`` when installed, else the repo's)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "notebooks", here.parent / "notebooks"):
        if (cand / f"{NOTEBOOKS[0][0]}.py").exists():
            return cand
    raise FileNotFoundError(
        f"the assessment notebooks were not found beside the package ({here.parent / 'notebooks'})"
    )


def default_out(site: Site, root: str | os.PathLike = "reports", today: _dt.date | None = None):
    """``<root>/<site slug>/<YYYY-MM-DD>-<short input hash>``, with -2, -3... if taken.

    Parameters
    ----------
    site : Site
    root : path
    today : datetime.date, optional
        The date in the name (default: today, UTC).
    """
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    short = (site.source_hash or "nohash")[:7]
    base = Path(root) / site.site.slug / f"{today.isoformat()}-{short}"
    cand, k = base, 1
    while cand.exists() or any(cand.parent.glob(cand.name + ".partial-*")):
        k += 1
        cand = base.with_name(f"{base.name}-{k}")
    return cand


def _load_notebook(path: Path):
    """A jupytext percent ``.py`` (or an ``.ipynb``) as an nbformat notebook with a kernel."""
    import jupytext
    import nbformat

    nb = jupytext.read(path) if path.suffix == ".py" else nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.pop("jupytext", None)
    return nb


def _kernel_manager_class():
    """A kernel manager that talks to the kernel over IPC sockets instead of TCP ports.

    Several runs on one machine (tests, people, processes) cannot collide on ports, and the
    kernel does not warn about unencrypted TCP.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc" if os.name == "posix" else "tcp"

    return IPCKernelManager


_EXTERNAL_SCRIPT = re.compile(
    r"<script[^>]*\bsrc=[\"']https?://[^\"']*[\"'][^>]*>\s*</script>", re.IGNORECASE
)


def export_html(ipynb: str | os.PathLike, html: str | os.PathLike, title: str | None = None):
    """Export an executed notebook as a self-contained HTML report without code cells.

    Outputs are kept (plotly figures with plotly.js inlined), inputs and prompts dropped, and
    scripts that would be fetched from the internet (require.js, MathJax) removed, so the page
    works offline.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)
    # papermill's bookkeeping cells carry no content for a reader
    nb.cells = [
        c
        for c in nb.cells
        if "injected-parameters" not in c.get("metadata", {}).get("tags", [])
        and "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])
    ]
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    resources = {"metadata": {"name": title or Path(ipynb).stem}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    body = _EXTERNAL_SCRIPT.sub("", body)
    Path(html).write_text(body, encoding="utf-8")
    return Path(html)


def _copy_input(site_path: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if site_path.is_dir():
        for f in sorted(site_path.iterdir()):
            if f.is_file() and f.suffix.lower() in (".yaml", ".yml", ".csv"):
                shutil.copy2(f, dest / f.name)
    else:
        shutil.copy2(site_path, dest / site_path.name)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _emit(progress, event: str, **info) -> None:
    if progress is not None:
        progress(event, **info)


def assess(
    site_path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    trials: int | None = None,
    seed: int | None = None,
    budget: float | None = None,
    budget_kind: str = "annualised",
    previous: str | os.PathLike | None = None,
    fast: bool = False,
    root: str | os.PathLike = "reports",
    notebooks: Iterable[str | os.PathLike] | None = None,
    progress: Callable[..., None] | None = None,
) -> AssessResult:
    """Run a full assessment of a site into a fresh output folder.

    Parameters
    ----------
    site_path : path
        Site file, site folder or workbook (:func:`riskkit.load_site`).
    out : path, optional
        The output folder; it must not exist. Default: :func:`default_out` under ``root``.
    trials, seed : int, optional
        Monte Carlo trials and seed; default the site's ``model.trials`` and ``model.seed``.
    budget : float, optional
        Budget of the recommended plan [currency/yr, or currency for ``capex``]; default the
        frontier plan with the least total cost of risk.
    budget_kind : {'annualised', 'capex'}
    previous : path, optional
        An earlier output folder; the management summary shows what changed since.
    fast : bool
        Fewer trials (2000 unless given) and a coarser frontier, for a quick look.
    root : path
        Where default output folders go.
    notebooks : iterable of path, optional
        The notebooks to run (default: those of :data:`NOTEBOOKS` in :func:`notebooks_dir`).
    progress : callable, optional
        Called as ``progress(event, **info)`` with events ``start`` (``out``, ``notebooks``),
        ``notebook`` (``name``, ``index``, ``count``), ``cell`` (``name``, ``cell``,
        ``cells``), ``notebook_done`` (``name``, ``seconds``), ``step`` (``name``) and
        ``step_done`` (``name``, ``seconds``).

    Returns
    -------
    AssessResult

    Raises
    ------
    SiteError
        The site is invalid (nothing is written).
    FileExistsError
        ``out`` exists.
    FileNotFoundError
        The site, a notebook or ``previous/summary.json`` is missing.
    AssessError
        A notebook failed; the partial run is kept in ``<out>-FAILED-<time>``.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    site_path = Path(site_path)
    site = load_site(site_path)  # a broken site fails here, before any folder exists
    # validate the parameters (and resolve their defaults) before any folder exists
    probe = Assessment(
        site, trials=trials, seed=seed, budget=budget, budget_kind=budget_kind, fast=fast
    )
    if previous is not None:
        previous = Path(previous).resolve()
        if not (previous / "summary.json").is_file():
            raise FileNotFoundError(f"no summary.json in the previous run folder {previous}")
        read_summary(previous)  # a damaged one fails now, not in the last notebook
    nb_paths = (
        [Path(p) for p in notebooks]
        if notebooks is not None
        else [notebooks_dir() / f"{stem}.py" for stem, _ in NOTEBOOKS]
    )
    for p in nb_paths:
        if not p.is_file():
            raise FileNotFoundError(f"notebook not found: {p}")
    if out is None:
        out = default_out(site, root)
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; riskkit never overwrites a run, choose a new --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileExistsError(
            f"cannot create the folder {out.parent} for the run: {e.strerror}"
            f" ({e.filename} is in the way)"
        ) from None
    work = Path(tempfile.mkdtemp(prefix=out.name + ".partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(work, 0o777 & ~umask)  # mkdtemp makes it private; the report is not
    started = _now()
    timings: dict[str, float] = {}
    params = {
        "site": str(site_path.resolve()),
        "trials": probe.trials,
        "seed": probe.seed,
        "budget": probe.budget_given,
        "budget_kind": budget_kind,
        "out": str(work.resolve()),
        "previous": str(previous) if previous is not None else None,
        "fast": bool(fast),
    }
    _emit(progress, "start", out=out, notebooks=[p.stem for p in nb_paths], params=params)
    current = None
    try:
        (work / "notebooks").mkdir()
        (work / "html").mkdir()
        _copy_input(site_path, work / "input")
        km = _kernel_manager_class()
        for i, src in enumerate(nb_paths):
            current = src.stem
            _emit(progress, "notebook", name=current, index=i, count=len(nb_paths))
            t0 = time.perf_counter()
            nb = _load_notebook(src)
            executed = work / "notebooks" / f"{current}.ipynb"
            n_cells = sum(c.cell_type == "code" for c in nb.cells)
            counter = {"n": 0}

            def on_cell(cell=None, cell_index=None, name=current, n=n_cells, counter=counter, **_):
                if cell is not None and cell.get("cell_type") == "code":
                    counter["n"] += 1
                    _emit(progress, "cell", name=name, cell=counter["n"], cells=n)

            try:
                pm.execute_notebook(
                    nb,
                    str(executed),
                    parameters=params,
                    kernel_name="python3",
                    language="python",
                    cwd=str(work),
                    progress_bar=False,
                    kernel_manager_class=km,
                    on_cell_complete=on_cell,
                )
            except PapermillExecutionError as e:
                raise AssessError(
                    current, e.cell_index, e.exec_count, e.source, e.ename, e.evalue
                ) from None
            timings[current] = time.perf_counter() - t0
            _emit(progress, "notebook_done", name=current, seconds=timings[current])

        current = "export"
        _emit(progress, "step", name="HTML reports")
        t0 = time.perf_counter()
        titles = dict(NOTEBOOKS)
        for src in nb_paths:
            export_html(
                work / "notebooks" / f"{src.stem}.ipynb",
                work / "html" / f"{src.stem}.html",
                title=titles.get(src.stem, src.stem),
            )
        timings["export"] = time.perf_counter() - t0
        _emit(progress, "step_done", name="HTML reports", seconds=timings["export"])

        current = "tables"
        _emit(progress, "step", name="tables and summary.json")
        t0 = time.perf_counter()
        A = Assessment(
            site,
            trials=probe.trials,
            seed=probe.seed,
            budget=probe.budget_given,
            budget_kind=budget_kind,
            fast=fast,
            cache=work / _CACHE,
        )
        names = write_tables(A.tables(previous), work)
        summary = A.summary(previous=previous)
        timings["tables"] = time.perf_counter() - t0
        _emit(progress, "step_done", name="tables and summary.json", seconds=timings["tables"])
        shutil.rmtree(work / _CACHE, ignore_errors=True)
        summary["provenance"].update(
            {
                "input": str(site_path),
                "started": started,
                "finished": _now(),
                "previous": str(previous) if previous is not None else None,
            }
        )
        summary["outputs"] = {
            "notebooks": [f"notebooks/{p.stem}.ipynb" for p in nb_paths],
            "html": [f"html/{p.stem}.html" for p in nb_paths],
            "tables": [f"tables/{n}.parquet" for n in names],
            "workbook": "tables.xlsx",
        }
        summary["timings"] = {k: round(v, 2) for k, v in timings.items()}
        (work / "index.html").write_text(_index_html(summary, nb_paths), encoding="utf-8")
        # summary.json is written last: a folder holding it is complete
        (work / "summary.json").write_text(
            json.dumps(_jsonable(summary), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        if out.exists():
            raise FileExistsError(f"{out} appeared while the run was going; results in {work}")
        os.rename(work, out)
    except BaseException as exc:
        failed = _fail(work, out)
        if isinstance(exc, AssessError):
            exc.folder = failed
            exc.args = (exc.describe(),)
            (failed / "ERROR.txt").write_text(exc.describe() + "\n", encoding="utf-8")
            raise
        if failed is not None:
            (failed / "ERROR.txt").write_text(
                f"step {current} failed: {type(exc).__name__}: {exc}\n", encoding="utf-8"
            )
        raise
    return AssessResult(out=out, summary=summary, timings=timings)


def _index_html(summary: dict, nb_paths: list[Path]) -> str:
    """A small landing page: headline numbers and links to the reports."""
    import html as _h

    cur = summary.get("currency", "")
    prov = summary.get("provenance", {})
    site = summary.get("site", {})
    plan = summary.get("plan", {})
    titles = dict(NOTEBOOKS)

    def m(x):
        return "n/a" if x is None else f"{x:,.0f} {cur}"

    links = "\n".join(
        f'<li><a href="html/{p.stem}.html">{_h.escape(titles.get(p.stem, p.stem))}</a>'
        f' (<a href="notebooks/{p.stem}.ipynb">notebook</a>)</li>'
        for p in nb_paths
    )
    ale = site.get("ale", {})
    members = ", ".join(x["id"] for x in plan.get("members", [])) or "none"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>riskkit assessment: {_h.escape(str(prov.get("site", "")))}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}}
td,th{{padding:0.2em 1em;text-align:right}} th{{text-align:left}}</style></head><body>
<h1>Security risk assessment: {_h.escape(str(prov.get("site", "")))}</h1>
<p>IEC 62443-3-2 assessment by riskkit {_h.escape(str(summary.get("riskkit", {}).get("version")))};
input SHA-256 <code>{_h.escape(str(prov.get("input_hash", ""))[:12])}</code>,
{prov.get("trials", 0):,} simulated years, seed {prov.get("seed")};
finished {_h.escape(str(prov.get("finished", "")))}.</p>
<table>
<tr><th>expected annual loss, unmitigated</th><td>{m(ale.get("unmitigated"))}/yr</td></tr>
<tr><th>expected annual loss, today</th><td>{m(ale.get("current"))}/yr</td></tr>
<tr><th>expected annual loss, with the recommended plan</th><td>{m(ale.get("plan"))}/yr</td></tr>
<tr><th>annualised cost of the plan</th><td>{m(plan.get("annualised_cost"))}/yr</td></tr>
</table>
<p>Recommended plan: {_h.escape(members)}.</p>
<p><b>Start here: <a href="html/05_summary.html">management summary</a></b>
(a five-minute read); the detailed reports follow the steps of IEC 62443-3-2.</p>
<h2>Reports</h2><ol>
{links}
</ol>
<p>Machine-readable results: <a href="summary.json">summary.json</a>; tables:
<a href="tables.xlsx">tables.xlsx</a> and <code>tables/*.parquet</code>;
input: <code>input/</code>.</p>
</body></html>
"""


def _fail(work: Path, out: Path) -> Path | None:
    """Rename a partial run to ``<out>-FAILED-<time>``, without its cache and summary."""
    if not work.exists():
        return None
    shutil.rmtree(work / _CACHE, ignore_errors=True)
    for f in ("summary.json", "index.html"):
        (work / f).unlink(missing_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    failed = out.with_name(f"{out.name}-FAILED-{stamp}")
    k = 1
    while failed.exists():
        k += 1
        failed = out.with_name(f"{out.name}-FAILED-{stamp}-{k}")
    os.rename(work, failed)
    return failed
