"""The result objects and the helpers that build and simulate plans.

:class:`Plan`, :class:`Attribution`, :class:`Ranking`, :class:`Frontier`, :class:`KBest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..rules import loss_grid
from ..site import HARM_CATEGORIES, Site
from .costs import evaluate, plan_costs
from .problem import (
    Problem,
)


@dataclass(frozen=True)
class Progress:
    """One report of a running optimisation, passed to the ``progress`` callable.

    :func:`optimize` and :func:`frontier` call ``progress(report)`` when the search finds
    a better plan, when HiGHS raises its bound (at most every ``PROGRESS_EVERY`` seconds)
    and when a cut round or a budget ends. The values are exact: ``incumbent`` is the
    closed-form expected loss of the best plan found so far, ``bound`` a proven lower bound
    on every plan within the budget and constraints.

    Attributes
    ----------
    seconds : float
        Since the call started [s].
    incumbent : float
        Expected residual loss of the best plan so far [currency/yr]; inf before the first.
    bound : float
        Lower bound on the optimum [currency/yr]; -inf before HiGHS has one.
    gap : float
        (incumbent - bound) / incumbent [-]; inf while either is unknown.
    event : str
        ``start`` (the greedy start plan), ``plan`` (a better plan), ``bound`` (HiGHS raised
        its bound), ``round`` (a cut round ended), ``done``.
    round : int
        Cut round of the outer approximation (1 for formulations without cuts).
    nodes : int
        Branch-and-bound nodes explored by HiGHS in this round.
    budget : float or None
        The budget of this solve [currency/yr or currency]; None for no budget.
    step : int
        Budget number within a :func:`frontier` (0 for :func:`optimize`).
    steps : int
        Budgets of the frontier (1 for :func:`optimize`).
    """

    seconds: float
    incumbent: float
    bound: float
    gap: float
    event: str
    round: int = 1
    nodes: int = 0
    budget: float | None = None
    step: int = 0
    steps: int = 1

    def text(self, currency: str = "") -> str:
        """One line for a terminal: time, best plan, bound and gap."""
        unit = f" {currency}/yr" if currency else ""

        def money(v: float) -> str:
            return f"{v:,.0f}" if np.isfinite(v) else "-"

        gap = f"{self.gap:.2%}" if np.isfinite(self.gap) else "-"
        where = f"budget {self.step + 1}/{self.steps} " if self.steps > 1 else ""
        return (
            f"[{self.seconds:6.1f} s] {where}best plan {money(self.incumbent)}{unit},"
            f" bound {money(self.bound)}{unit}, gap {gap} (round {self.round},"
            f" {self.nodes} nodes, {self.event})"
        )


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
        ``optimal``; ``gap`` (the search stopped at a relative gap above HiGHS's tolerance:
        the ``gap`` asked of :func:`optimize`, or what the tangent cuts left); ``time_limit``
        (stopped by the time limit: see ``bound`` and ``gap``); ``heuristic`` for greedy
        plans; ``given`` for a plan evaluated as given. :attr:`optimality` says it in words.
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
    safety : SafetyFirst or None
        Where the plan stands against the harm tolerances under the safety-first rule
        (:class:`riskkit.portfolio.constraints.SafetyFirst`); None unless the plan was made
        with ``safety_first=True``.
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
    safety: Any = field(default=None, repr=False, compare=False)  # helper safety (issue 10)
    site: Site | None = field(default=None, repr=False)
    _attribution: Any = field(default=None, repr=False, compare=False)
    _problem: Any = field(default=None, repr=False, compare=False)
    _summary: Any = field(default=None, repr=False, compare=False)

    @property
    def proven_optimal(self) -> bool:
        """Whether the plan is proven optimal (up to HiGHS's relative tolerance 1e-7)."""
        return self.status == "optimal"

    @property
    def optimality(self) -> str:
        """How far from optimal the plan may be, as a sentence.

        ``proven optimal``; for a search stopped early, the proven bound and the largest
        possible excess over the optimum (the relative gap); for greedy plans, their excess
        over the optimum where it was computed.
        """
        cur = self.currency
        if self.status == "optimal":
            return "proven optimal"
        if self.status in ("given", "heuristic"):
            what = "a greedy plan" if self.status == "heuristic" else "a plan as given"
            if np.isfinite(self.gap) and np.isfinite(self.bound):
                return f"{what}: {self.gap:.2%} above the optimum of {self.bound:,.0f} {cur}/yr"
            return f"{what}: its distance from the optimum is not known"
        why = "stopped by the time limit" if self.status == "time_limit" else "stopped"
        if self.status == "gap":
            why = "stopped at the requested gap"
        if np.isfinite(self.gap) and np.isfinite(self.bound):
            return (
                f"within {self.gap:.2%} of the optimum ({why}): no plan within the budget and"
                f" constraints has an expected loss below {self.bound:,.0f} {cur}/yr"
            )
        return f"not proven optimal ({why} before the solver had a bound)"

    @property
    def reduction(self) -> float:
        """Expected annual loss removed by the plan [currency/yr]."""
        return self.baseline_ale - self.expected_ale

    @property
    def rosi(self) -> float | None:
        """(reduction - annualised cost) / annualised cost of the whole plan [-].

        None where it is undefined, when the plan costs nothing (for example the empty plan
        of a site without candidates or scenarios); :attr:`rosi_note` says why.
        """
        if self.annualised_cost > 0:
            return _rosi(self.reduction, self.annualised_cost)
        return None

    @property
    def rosi_note(self) -> str:
        """Why :attr:`rosi` is None, as a sentence; empty where it is defined."""
        if self.annualised_cost > 0:
            return ""
        if not self.members:
            return "no ROSI: the plan is empty and costs nothing"
        if self.reduction > 0:
            return "no ROSI: the plan costs nothing and reduces the expected loss (unbounded)"
        return "no ROSI: the plan costs nothing and reduces nothing"

    def attribution(self) -> Attribution:
        """The plan's reduction attributed to its members (see :func:`attribution`).

        Computed on the first call (Shapley values, exact per scenario), then kept on the plan.
        """
        if self._attribution is None:
            from .attribution import attribution

            self._attribution = attribution(self.site, self.members, problem=self._problem)
        return self._attribution

    @property
    def summary(self) -> pd.DataFrame:
        """One row per member: name, costs and its share of the reduction (Shapley).

        Columns ``name``, ``annualised_cost`` [currency/yr], ``capex`` [currency],
        ``standalone``, ``drop_one``, ``shapley`` [currency/yr]. The first access runs the
        attribution (:meth:`attribution`); the table is then kept on the plan.
        """
        if self._summary is None:
            self._summary = self._member_table()
        return self._summary

    def _member_table(self) -> pd.DataFrame:
        cols = ["name", "annualised_cost", "capex", "standalone", "drop_one", "shapley"]
        if not self.members:
            return pd.DataFrame(columns=cols, index=pd.Index([], name="countermeasure"))
        costs = plan_costs(self.site, self.members)
        att = self.attribution().summary
        return costs[["name", "annualised_cost", "capex"]].join(
            att[["standalone", "drop_one", "shapley"]]
        )[cols]

    def simulate(self, trials: int | None = None, seed: int | None = None) -> Plan:
        """The plan with its simulated statistics attached (a new :class:`Plan`).

        The current state and the plan are simulated on common random numbers (
        :func:`riskkit.engine.simulate_many`): :attr:`simulated` and :attr:`exceedance`.

        Parameters
        ----------
        trials, seed : int, optional
            Simulated years and seed (defaults from the site's ``model``).
        """
        stats, exc, used_trials, used_seed = _simulate_plans(
            self.site, {"plan": self.members}, trials, seed
        )
        return replace(self, simulated=stats, exceedance=exc, trials=used_trials, seed=used_seed)

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


def _make_plan(
    inst: Problem, x, *, budget, kind, method, status, bound, seconds, cons, violations=()
) -> Plan:
    site = inst.site
    members = inst.base + inst.members(x)
    ev = evaluate(site, members)
    base_ale = inst.base_state_ale
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
        _problem=inst if not inst.base else None,
    )


def _simulate_plans(site: Site, plans: dict, trials=None, seed=None, points: int = 200):
    """Site statistics of the current state and of each plan on common random numbers."""
    from ..engine import simulate_many

    spec = {"current": "current"}
    for name, members in plans.items():
        spec[name] = list(members) if members else "current"
    sims = simulate_many(site, spec, trials=trials, seed=seed)
    stats = pd.concat({k: s.summary("site").iloc[0] for k, s in sims.items()}, axis=1).T
    stats.index.name = "plan"
    losses = np.concatenate([s.losses("site").to_numpy().ravel() for s in sims.values()])
    pos = losses[losses > 0]
    if pos.size and pos.max() > pos.min():
        grid = loss_grid(pos.min(), pos.max(), points)
    else:
        grid = np.array([0.0])
    exc = pd.concat({k: s.exceedance("site", grid)["site"] for k, s in sims.items()}, axis=1)
    first = next(iter(sims.values()))
    return stats, exc, first.trials, first.seed
