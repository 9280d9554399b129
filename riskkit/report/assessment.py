"""The results of one assessment: :class:`Assessment`, computed through the library."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..io import load_site
from ..rules import STATES, check_trials
from ..site import Site
from . import summary as _s
from .common import _CACHE, FAST_TRIALS


def _constraint_names(constraints) -> tuple[str, ...]:
    """Plan constraints as a tuple of names, checked (``None`` or ``""`` for none)."""
    from ..portfolio import CONSTRAINTS

    if not constraints:
        return ()
    names = [constraints] if isinstance(constraints, str) else list(constraints)
    out = []
    for n in names:
        for part in str(n).split(","):
            part = part.strip()
            if not part:
                continue
            if part not in CONSTRAINTS:
                raise ValueError(
                    f"unknown plan constraint {part!r}; constraints are: {', '.join(CONSTRAINTS)}"
                )
            out.append(part)
    return tuple(dict.fromkeys(out))


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
        A quick look: fewer trials (unless given), a coarser frontier (10 budgets, no nested
        roadmap) and coarser exceedance curves (60 points). ``summary()`` holds the same
        entries as a full run.
    cache : path, optional
        Folder where results are kept between the notebooks of one run; a cache written for
        other inputs (hash, trials, seed, budget) is ignored.
    constraints : iterable of str, optional
        Constraints of the recommended plan (:func:`riskkit.optimize`): ``close_gaps`` (every
        SL gap that a candidate can close is closed; gaps no candidate closes are set aside,
        :func:`riskkit.report.plans.reachable_targets`) and ``meet_tolerance`` (or its parts
        ``zone_ale``, ``harm_frequency``).
    safety_first : bool, default True
        The recommended plan meets every harm tolerance that some plan can meet whenever
        the budget allows (:func:`riskkit.optimize` with ``safety_first=True``); without a
        given budget, where the least-total-cost budget does not allow it, the plan is the
        one with the least total cost of risk among those meeting them
        (:func:`riskkit.report.plans.safety_first_plan`). Default True (False before model v2).

    Notes
    -----
    The library calls, with ``site``, ``trials`` = T and ``seed`` = s of this object:

    - ``simulation(state)``: ``simulate(site, trials=T, seed=s, state=state)``, with the
      recommended plan's members for ``plan``;
    - ``targets``: ``target_levels(site, sim=simulation('unmitigated'))``;
    - ``gaps(state)``: ``gaps(site, targets, state=..., plan=...)``;
    - ``ranking``: ``prioritize(site, trials=T, seed=s, budget_kind=...)``;
    - ``frontier``: ``frontier(site, n=20 (10 if fast), budget_kind=..., nested=not fast,
      trials=T, seed=s)``: a quick look skips the nested roadmap;
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
        constraints: Iterable[str] | str | None = None,
        safety_first: bool = True,  # False before model v2
    ):
        self.site = site if isinstance(site, Site) else load_site(site)
        self.constraints = _constraint_names(constraints)
        self.safety_first = bool(safety_first)
        m = self.site.model
        self.fast = bool(fast)
        self.trials = check_trials(
            trials if trials is not None else (FAST_TRIALS if fast else m.trials)
        )
        self.seed = int(seed) if seed is not None else int(m.seed)
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
        constraints=None,
        safety_first=True,  # False before model v2
    ) -> Assessment:
        """The assessment a notebook's parameters cell describes.

        ``out`` is the run's output folder; its ``.cache`` holds the results shared by the
        notebooks of the run. Without it (a notebook opened on its own) nothing is cached.
        """
        cache = Path(out) / _CACHE if out else None
        return cls(
            site,
            trials,
            seed,
            budget,
            budget_kind,
            fast=fast,
            cache=cache,
            constraints=constraints,
            safety_first=bool(safety_first),
        )

    def fingerprint(self) -> dict:
        """What the results depend on: input hash, trials, seed, budget, version."""
        fp = {
            "input_hash": self.site.source_hash,
            "trials": self.trials,
            "seed": self.seed,
            "budget": self.budget_given,
            "budget_kind": self.budget_kind,
            "fast": self.fast,
            "riskkit": __version__,
        }
        if self.constraints:
            fp["constraints"] = list(self.constraints)
        if self.safety_first:  # only then, so today's caches stay valid
            fp["safety_first"] = True
        return fp

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
        from ..engine import simulate

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
        from ..levels import target_levels

        return self._get(
            "targets", lambda: target_levels(self.site, sim=self.simulation("unmitigated"))
        )

    @property
    def methods(self) -> pd.DataFrame:
        """SL-T under every method side by side (:func:`riskkit.levels.compare_methods`)."""
        from ..levels import compare_methods

        return self._get(
            "methods", lambda: compare_methods(self.site, self.simulation("unmitigated"))
        )

    def gaps(self, state: str = "current"):
        """Gap analysis of a state against :attr:`targets` (:func:`riskkit.gaps`)."""
        from ..levels import gaps

        if state == "plan":
            return self._get(
                "gaps-plan",
                lambda: gaps(self.site, self.targets, state="plan", plan=list(self.plan_members)),
            )
        return self._get(f"gaps-{state}", lambda: gaps(self.site, self.targets, state=state))

    @property
    def checks(self) -> pd.DataFrame:
        """Zone-model checks (:func:`riskkit.levels.model_checks`) with :attr:`targets`."""
        from ..levels import model_checks

        return self._get("checks", lambda: model_checks(self.site, self.targets))

    @property
    def ranking(self):
        """Every candidate's effect on the current state (:func:`riskkit.prioritize`)."""
        from ..portfolio import prioritize

        return self._get(
            "ranking",
            lambda: prioritize(
                self.site, trials=self.trials, seed=self.seed, budget_kind=self.budget_kind
            ),
        )

    @property
    def frontier(self):
        """Efficient frontier with the greedy sequence (:func:`riskkit.frontier`)."""
        from ..portfolio import frontier

        return self._get(
            "frontier",
            lambda: frontier(
                self.site,
                n=self.frontier_points,
                budget_kind=self.budget_kind,
                nested=not self.fast,  # a quick look skips the nested roadmap
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
        if self.safety_first and self.plan.budget is None:
            return float(self.plan.annualised_cost)  # raised to meet the harm tolerances
        return recommended_budget(self.frontier.points)

    @property
    def budget_source(self) -> str:
        """Where the budget comes from.

        ``given``, ``least total cost of risk`` or, under safety first where that budget does
        not meet the harm tolerances, ``least total cost of risk meeting every harm
        tolerance``.
        """
        if self.budget_given is not None:
            return "given"
        if self.safety_first and self.plan.budget is None:
            return "least total cost of risk meeting every harm tolerance"
        return "least total cost of risk"

    @property
    def plan(self):
        """The recommended plan: the exact optimum within :attr:`budget`."""
        from ..portfolio import optimize

        if self.safety_first:
            from .plans import safety_first_plan

            return self._get("plan", lambda: safety_first_plan(self))
        if self.constraints:
            from .plans import best_or_least_budget

            def constrained():
                P, within = best_or_least_budget(self, self.constraints, simulate=True)
                if P is None or (not within and self.budget_given is not None):
                    from ..portfolio import InfeasiblePlan

                    raise InfeasiblePlan(
                        f"no plan within the budget {self.budget:,.0f} meets the constraints"
                        f" {', '.join(self.constraints)}"
                        + (
                            ""
                            if P is None
                            else f"; the least that does costs"
                            f" {P.annualised_cost:,.0f} {self.site.currency}/yr"
                        )
                    )
                return P

            return self._get("plan", constrained)
        return self._get(
            "plan",
            lambda: optimize(
                self.site,
                self.budget,
                budget_kind=self.budget_kind,
                trials=self.trials,
                seed=self.seed,
                safety_first=False,  # this branch is the run without safety first
            ),
        )

    @property
    def gap_plan(self):
        """The plan beside the recommended one: it closes every SL gap a candidate can close.

        ``(Plan or None, within_budget)`` from :func:`riskkit.report.plans.gap_closing_plan`.
        """
        from .plans import gap_closing_plan

        return self._get("gap_plan", lambda: gap_closing_plan(self))

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

    def exceedance(
        self, states: Iterable[str] | None = None, points: int | None = None
    ) -> pd.DataFrame:
        """Site loss exceedance curves of states on one grid (:func:`.summary.exceedance`).

        ``points`` defaults to :attr:`exceedance_points` (200, or 60 for a ``fast`` run).
        """
        return _s.exceedance(self, states, self.exceedance_points if points is None else points)

    @property
    def exceedance_points(self) -> int:
        """Loss amounts on an exceedance curve: 200, or 60 for a ``fast`` run."""
        return 60 if self.fast else 200

    def severity(self, states: Iterable[str] | None = None) -> pd.DataFrame:
        """Site frequencies of harm of class >= k per state (:func:`.summary.severity`)."""
        return _s.severity(self, states)

    def tolerance_check(self, states: Iterable[str] | None = None) -> pd.DataFrame:
        """Each state against each tolerance of the site (:func:`.summary.tolerance_check`)."""
        return _s.tolerance_check(self, states)

    def register(self, states: Iterable[str] | None = None) -> pd.DataFrame:
        """The risk register, one row per scenario by current ALE (:func:`.summary.register`)."""
        return _s.register(self, states)

    # what changed ----------------------------------------------------------------------------
    def changes(self, previous: str | os.PathLike | Mapping | None) -> pd.DataFrame:
        """Per zone: current ALE and SL-T now and before (:func:`.summary.changes`)."""
        return _s.changes(self, previous)

    # summary.json ------------------------------------------------------------------------------
    def zone_summary(self) -> dict:
        """Per zone: risk per state, SL-T, SL-C, SL-A and gaps (:func:`.summary.zone_summary`)."""
        return _s.zone_summary(self)

    def conduit_summary(self) -> dict:
        """Per conduit: SL-T, SL-C, SL-A and gaps (:func:`.summary.conduit_summary`)."""
        return _s.conduit_summary(self)

    def plan_summary(self) -> dict:
        """The recommended plan's members, costs and ALE (:func:`.summary.plan_summary`)."""
        return _s.plan_summary(self)

    def summary(self, previous: str | os.PathLike | None = None) -> dict:
        """The content of ``summary.json`` without the run's timestamps and outputs.

        See :func:`.summary.summary`; it conforms to :data:`.schema.SUMMARY_SCHEMA`.
        """
        return _s.summary(self, previous)

    def tables(self, previous: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
        """Every table of the deliverables, by sheet name (:func:`.summary.tables`)."""
        return _s.tables(self, previous)
