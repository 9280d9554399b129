"""The entry points :func:`optimize`, :func:`greedy`, :func:`prioritize` and :func:`k_best`."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..rules import SEVERITY_CLASSES, harm_at_least, harm_columns
from ..site import HARM_CATEGORIES, Site
from .constraints import (
    SafetyFirst,
    _harm_breaches,
    _least_cost_enumerated,
    _precheck,
    _prune,
    _with_harm,
)
from .costs import plan_costs
from .enumeration import _enumerate, _enumerate_diagnosis
from .heuristics import _greedy_runs, _seeds
from .milp import _MIP, _diagnose
from .problem import (
    MIP_REL_GAP,
    InfeasiblePlan,
    Problem,
    _check_budget,
    _cost_kind,
    _problem,
)
from .results import (
    KBest,
    Plan,
    Progress,
    Ranking,
    _rosi,
    _simulate_plans,
)
from .setup import (
    DEFAULT_TIME_LIMIT,
    _check_gap,
    _check_time_limit,
    _Setup,
    _setup,
    _solve_plan,
    _wants_simulation,
)


def optimize(
    site: Site,
    budget: float | None,
    budget_kind: str = "annualised",
    constraints: Iterable[str] | str = (),
    method: str = "auto",
    time_limit: float | None = DEFAULT_TIME_LIMIT,
    *,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    targets: Any = None,
    simulate: bool | None = None,
    trials: int | None = None,
    seed: int | None = None,
    problem: Problem | None = None,
    safety_first: bool = True,  # False before model v2
    gap: float = MIP_REL_GAP,
    progress: Callable[[Progress], Any] | None = None,
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
        most 12 candidates and ``logspace`` for larger ones, and for the largest of them too
        where the program's subset columns would exceed 8,192.
    time_limit : float or None, default 60
        Seconds for the whole call [s] (building the problem and the program, the greedy
        start, the cut loop, HiGHS; a share is kept for finishing the plan); None for no
        limit. If it stops the search, the best plan found is returned with status
        ``time_limit``, the proven bound and the relative gap (:attr:`Plan.optimality`
        says it in words; the bound is NaN if HiGHS did not get to run).
    include, exclude : iterable of str
        Candidates forced into or out of the plan.
    targets : TargetLevels, optional
        SL-T for ``close_gaps`` (default :func:`riskkit.levels.target_levels`).
    simulate : bool, optional
        Check the plan by simulation (:meth:`Plan.simulate`): :attr:`Plan.simulated` and
        :attr:`Plan.exceedance` before and after on common random numbers. None (default):
        only if ``trials`` or ``seed`` is given; the optimiser itself never simulates.
    trials, seed : int, optional
        Of the simulation (defaults from the site's ``model``).
    problem : Problem, optional
        The site's :class:`Problem`, built once and shared between calls (built here if not
        given).
    safety_first : bool, default True
        Harm first, then money: the harm tolerance of every scenario that some plan can
        bring within it (``harm_frequency``) is a hard constraint whenever a plan within the
        budget meets them all; money is then optimised among those plans. Where none within
        the budget does, the plan is the best for expected loss within the budget (as
        without the option) and :attr:`Plan.safety` says so, with the least sufficient
        budget. Scenarios no plan can bring within tolerance are named, not constrained.
        :attr:`Plan.safety` (:class:`SafetyFirst`) is set only with this option. True since
        model v2 (issue 10); False gives the money-only plan of before.
    gap : float, default 1e-7
        Relative gap at which the search stops [-]: (exact expected loss of the best plan
        - proven bound) / expected loss. The default asks for the optimum; 0.01 accepts a
        plan proven within 1 % of it (status ``gap``).
    progress : callable, optional
        Called with a :class:`Progress` (best plan so far, bound, gap, seconds) at each
        better plan, raised bound (at most once a second) and cut round.

    Returns
    -------
    Plan

    Raises
    ------
    InfeasiblePlan
        If no plan meets the budget and the constraints; the message names the mandatory
        items, the SL gap, the zone or the scenario that cannot be met, or the least budget
        the constraints need. Under ``safety_first`` the harm tolerances do not raise it
        (unless ``harm_frequency`` is also asked for explicitly: that stays strict).

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.6 (ZCR 5.8: countermeasures to bring residual risk
       within tolerance) and clause 4.7 (ZCR 6).
    .. [2] CCPS (2001). *Layer of Protection Analysis: Simplified Process Risk Assessment*,
       chapter 8 (tolerable frequency criteria as a constraint on the mitigated frequency).
    """
    t0 = time.perf_counter()
    _check_time_limit(time_limit)
    gap = _check_gap(gap)
    _cost_kind(budget_kind)
    b = _check_budget(budget)
    job = _setup(site, problem, budget_kind, constraints, targets, include, exclude, t0)
    _precheck(job.inst, job.rules, b, job.cost, job.lo, job.hi, job.kind)
    if safety_first:
        plan = _safety_first(job, b, method, time_limit, gap, progress)
    else:
        plan = _best(job, b, method, time_limit, gap, progress)
    if _wants_simulation(simulate, trials, seed):
        plan = plan.simulate(trials, seed)
    return plan


def _best(
    job: _Setup,
    budget: float,
    method: str,
    time_limit: float | None,
    gap: float = MIP_REL_GAP,
    progress=None,
) -> Plan:
    """The optimal plan of a prepared problem within ``budget`` (enumerated or solved)."""
    if method == "enumerate":
        return _enumerated(job, budget)
    return _solved(job, budget, method, time_limit, gap, progress)


def _least_budget(job: _Setup, method: str, time_limit: float | None):
    """The least cost of a plan meeting ``job.rules``: (cost, x, proven) or None if none.

    The cost is of the budget kind of ``job`` ([currency/yr] or [currency]). Solved exactly
    as the same mixed-integer program with the cost as objective (no loss term), or by
    enumeration for ``method='enumerate'``.
    """
    inst, rules, cost, lo, hi = job.inst, job.rules, job.cost, job.lo, job.hi
    if method == "enumerate":
        got = _least_cost_enumerated(inst, rules, cost, lo, hi)
        return None if got is None else (got[0], got[1], True)
    try:
        mip = _MIP(inst, rules, job.kind, method)
    except InfeasiblePlan:  # a block's harm cannot be met (checked before; kept for safety)
        return None
    sol = mip.solve(
        np.inf,
        lo,
        hi,
        time_limit,
        loss_weight=0.0,
        cost_weight=1.0 / mip.cost_scale,
        start=job.t0,
    )
    if sol.x is None:
        if sol.status == "infeasible":
            return None
        raise RuntimeError(
            f"the least budget meeting the harm tolerances was not found within the time"
            f" limit of {time_limit} s (status {sol.status}); raise time_limit"
        )
    x = sol.x
    return float(cost @ x), x, sol.status == "optimal"


def _harm_job(job: _Setup) -> tuple[_Setup, tuple[int, ...]]:
    """``job`` with the meetable harm tolerances added, and the unmeetable blocks."""
    harm_rules, unmeetable = _with_harm(job.inst, job.rules, job.hi)
    return dataclasses.replace(job, rules=harm_rules, cons=harm_rules.cons), unmeetable


def _safety_info(
    hjob: _Setup, unmeetable, least, least_plan, x: np.ndarray, within: bool
) -> SafetyFirst:
    """The :class:`SafetyFirst` record of plan ``x`` (n,) in the harm-constrained ``hjob``."""
    inst = hjob.inst
    breaches = _harm_breaches(inst, x, unmeetable)
    unmet_ids = {inst.blocks[b].sid for b in unmeetable}
    tol = hjob.rules.harm_tol
    return SafetyFirst(
        met=not any(r["meetable"] for r in breaches),
        within_budget=within,
        least_budget=least[0] if least is not None else np.nan,
        least_exact=bool(least[2]) if least is not None else True,
        least_plan=tuple(least_plan),
        constrained=tuple(inst.blocks[b].sid for b in np.flatnonzero(np.isfinite(tol).any(1))),
        unmeetable=tuple(s.id for s in inst.site.scenarios if s.id in unmet_ids),
        breaches=breaches,
        budget_kind=hjob.kind,
    )


def _safety_first(
    job: _Setup,
    budget: float,
    method: str,
    time_limit: float | None,
    gap: float = MIP_REL_GAP,
    progress=None,
) -> Plan:
    """The plan under the safety-first rule (see :func:`optimize`), with its :class:`SafetyFirst`.

    1. the harm tolerances some plan can meet become constraints (:func:`_with_harm`);
    2. the least budget meeting them is found exactly (:func:`_least_budget`);
    3. within the budget if it suffices, the best plan among those meeting them; else the
       best plan without them, the record saying which budget would suffice.

    ``gap`` and ``progress`` apply to the solve of the plan returned (step 3).
    """
    hjob, unmeetable = _harm_job(job)
    try:
        least = _least_budget(hjob, method, time_limit)
    except RuntimeError:  # the time limit ran out before any plan meeting them was found
        least = (math.nan, None, False)  # unknown: NaN and not exact
    within = least is not None and least[0] <= budget * (1 + 1e-12) + 1e-9
    plan = _best(hjob if within else job, budget, method, time_limit, gap, progress)
    least_plan: tuple[str, ...] = ()
    if least is not None and math.isfinite(least[0]):
        same = within and budget <= least[0] * (1 + 1e-12) + 1e-9  # the budget is the least
        least_plan = plan.members if same else _best(hjob, least[0], method, time_limit).members
    info = _safety_info(hjob, unmeetable, least, least_plan, job.inst.mask(plan.members), within)
    return dataclasses.replace(plan, safety=info)


def least_sufficient_budget(
    site: Site,
    budget_kind: str = "annualised",
    constraints: Iterable[str] | str = (),
    *,
    method: str = "auto",
    time_limit: float | None = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    targets: Any = None,
    problem: Problem | None = None,
) -> tuple[float, tuple[str, ...]]:
    """The least budget with which a plan meets every harm tolerance that some plan can meet.

    The minimum cost of a plan that keeps the expected frequency of each scenario's safety
    and environment events of class k or worse at most the tolerable frequency of class k
    (for every scenario whose tolerance some plan can meet), together with ``constraints``,
    the exclusive groups, mandatory items and ``include`` / ``exclude``. Exact: the
    optimiser's mixed-integer program with the cost as objective (or enumeration).

    Parameters
    ----------
    site : Site
    budget_kind : {'annualised', 'capex'}
        The cost minimised: annualised [currency/yr] or capex [currency].
    constraints, method, time_limit, include, exclude, targets, problem
        As for :func:`optimize`.

    Returns
    -------
    (float, tuple of str)
        The least budget (NaN where no plan meets the harm tolerances together with the
        other constraints) and the plan with the least expected loss at that budget.

    References
    ----------
    .. [1] CCPS (2001). *Layer of Protection Analysis*, chapter 8.
    """
    t0 = time.perf_counter()
    _check_time_limit(time_limit)
    _cost_kind(budget_kind)
    job = _setup(site, problem, budget_kind, constraints, targets, include, exclude, t0)
    hjob, _ = _harm_job(job)
    least = _least_budget(hjob, method, time_limit)
    if least is None:
        return float("nan"), ()
    return least[0], _best(hjob, least[0], method, time_limit).members


def least_total_cost(
    site: Site,
    constraints: Iterable[str] | str = (),
    *,
    safety_first: bool = True,  # False before model v2
    method: str = "auto",
    time_limit: float | None = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    targets: Any = None,
    simulate: bool | None = None,
    trials: int | None = None,
    seed: int | None = None,
    problem: Problem | None = None,
) -> Plan:
    """The plan with the least total cost of risk: expected annual loss + annualised cost.

    Exact (the optimiser's mixed-integer program with the annualised cost added to the
    objective, no budget). Under ``safety_first`` only plans meeting every harm tolerance
    that some plan can meet take part (:func:`optimize`); :attr:`Plan.safety` is set.

    Parameters
    ----------
    site : Site
    constraints, method, time_limit, include, exclude, targets, simulate, trials, seed,
    problem, safety_first
        As for :func:`optimize`.

    Returns
    -------
    Plan
        ``budget`` None; ``expected_ale`` + ``annualised_cost`` [currency/yr] is least.
    """
    t0 = time.perf_counter()
    _check_time_limit(time_limit)
    job = _setup(site, problem, "annualised", constraints, targets, include, exclude, t0)
    _precheck(job.inst, job.rules, np.inf, job.cost, job.lo, job.hi, job.kind)
    hjob = unmeetable = least = None
    if safety_first:
        hjob, unmeetable = _harm_job(job)
        least = _least_budget(hjob, method, time_limit)
        if least is not None:
            job = hjob
    inst, rules, cost, lo, hi = job.inst, job.rules, job.cost, job.lo, job.hi
    if method == "enumerate":
        x = _least_total_enumerated(inst, rules, cost, lo, hi)
        plan = job.plan(x, np.inf, "enumerate", status="optimal", seconds=job.elapsed())
    else:
        mip = _MIP(inst, rules, job.kind, method)
        sol = mip.solve(np.inf, lo, hi, time_limit, cost_weight=1.0 / mip.scale, start=t0)
        if sol.x is None:
            raise InfeasiblePlan(_diagnose(mip, inst, rules, np.inf, cost, lo, hi, job.kind))
        x = _prune(inst, rules, sol.x, lo, cost)
        plan = job.plan(x, np.inf, mip.method, status=sol.status, seconds=job.elapsed())
    if hjob is not None:
        least_plan = _best(hjob, least[0], method, time_limit).members if least else ()
        info = _safety_info(hjob, unmeetable, least, least_plan, x, least is not None)
        plan = dataclasses.replace(plan, safety=info)
    if _wants_simulation(simulate, trials, seed):
        plan = plan.simulate(trials, seed)
    return plan


def _least_total_enumerated(inst: Problem, rules, cost, lo, hi) -> np.ndarray:
    """The plan with the least expected loss + cost by brute force (least cost on a tie)."""
    from .problem import ENUMERATE_MAX

    if inst.n > ENUMERATE_MAX:
        raise ValueError(
            f"method 'enumerate' handles at most {ENUMERATE_MAX} candidates, this site has {inst.n}"
        )
    free = np.flatnonzero((hi > 0) & (lo == 0))
    k = len(free)
    best = None
    for start in range(0, 1 << k, 1 << min(k, 16)):
        codes = np.arange(start, min(start + (1 << min(k, 16)), 1 << k))
        x = np.zeros((len(codes), inst.n), dtype=bool)
        x[:, free] = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
        x[:, lo > 0] = True
        ok = np.ones(len(x), dtype=bool)
        for members in inst.groups.values():
            ok &= x[:, members].sum(axis=1) <= 1
        x = x[ok]
        x = x[rules.feasible(x)] if len(x) else x
        if not len(x):
            continue
        c = x.astype(float) @ cost
        tcr = inst.total(x) + c
        j = np.lexsort((c, tcr))[0]
        if best is None or (tcr[j], c[j]) < best[:2]:
            best = (float(tcr[j]), float(c[j]), x[j].copy())
    if best is None:
        raise InfeasiblePlan("no plan satisfies the constraints together, whatever the budget")
    return best[2]


def _enumerated(job: _Setup, budget: float) -> Plan:
    """The optimal plan by enumerating every plan (small instances)."""
    t0 = time.perf_counter()
    inst, rules, cost, lo, hi = job.inst, job.rules, job.cost, job.lo, job.hi
    best = _enumerate(inst, rules, cost, budget, lo, hi)
    if not best:
        raise InfeasiblePlan(_enumerate_diagnosis(inst, rules, cost, budget, lo, hi, job.kind))
    x = _prune(inst, rules, best[0][2], lo, cost)
    seconds = time.perf_counter() - t0
    return job.plan(x, budget, "enumerate", status="optimal", bound=best[0][0], seconds=seconds)


def _solved(
    job: _Setup,
    budget: float,
    method: str,
    time_limit: float | None,
    gap: float = MIP_REL_GAP,
    progress=None,
) -> Plan:
    """The optimal plan by the MIP, or the best found with its gap (:func:`_solve_plan`)."""
    return _solve_plan(job, budget, method, time_limit, gap=gap, progress=progress)


def greedy(
    site: Site,
    budget: float | None,
    budget_kind: str = "annualised",
    constraints: Iterable[str] | str = (),
    depth: int = 0,
    *,
    compare_optimum: bool = True,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    targets: Any = None,
    simulate: bool | None = None,
    trials: int | None = None,
    seed: int | None = None,
    problem: Problem | None = None,
    exact: bool | None = None,
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
    compare_optimum : bool, default True
        Also solve the exact problem (:func:`optimize`) and report the gap: ``bound`` is the
        optimal expected ALE and ``gap`` = (ALE - optimum) / ALE.
    include, exclude, targets, problem
        As for :func:`optimize`.
    simulate, trials, seed
        As for :func:`optimize` (not simulated unless asked).
    exact : bool, optional
        Deprecated spelling of ``compare_optimum`` (a DeprecationWarning).

    Returns
    -------
    Plan
        ``status`` ``heuristic``, ``method`` ``greedy`` or ``greedy-enum<depth>``.

    References
    ----------
    .. [1] Sviridenko, M. (2004). A note on maximizing a submodular set function subject to
       a knapsack constraint. *Operations Research Letters* 32(1), 41-43.
    """
    if exact is not None:
        warnings.warn(
            "greedy(exact=...) is deprecated: it means 'also compute the optimum'; use"
            " compare_optimum=...",
            DeprecationWarning,
            stacklevel=2,
        )
        compare_optimum = exact
    _cost_kind(budget_kind)
    b = _check_budget(budget)
    if depth < 0:
        raise ValueError(f"depth must be >= 0, {depth!r} was given")
    job = _setup(site, problem, budget_kind, constraints, targets, include, exclude)
    inst, rules, cost, lo, hi = job.inst, job.rules, job.cost, job.lo, job.hi
    _precheck(inst, rules, b, cost, lo, hi, job.kind)
    t0 = time.perf_counter()
    plans, _ = _greedy_runs(inst, rules, cost, b, _seeds(inst, cost, b, lo, hi, depth), hi)
    tot = inst.total(plans)
    nviol = (
        np.array([len(rules.violations(x)) for x in plans]) if job.cons else np.zeros(len(plans))
    )
    x = plans[np.lexsort((plans.astype(float) @ cost, tot, nviol))[0]]
    seconds = time.perf_counter() - t0
    bound = np.nan
    if compare_optimum:
        try:
            opt = optimize(
                site,
                budget,
                job.kind,
                job.cons,
                include=include,
                exclude=exclude,
                targets=targets,
                simulate=False,
                problem=inst,
            )
            bound = opt.expected_ale
        except InfeasiblePlan:
            bound = np.nan
    method = "greedy" if depth == 0 else f"greedy-enum{depth}"
    plan = job.plan(
        x,
        b,
        method,
        status="heuristic",
        bound=bound,
        seconds=seconds,
        violations=rules.violations(x),
    )
    if _wants_simulation(simulate, trials, seed):
        plan = plan.simulate(trials, seed)
    return plan


def prioritize(
    site: Site,
    plan: Iterable[str] | None = None,
    trials: int | None = None,
    seed: int | None = None,
    simulate: bool = True,
    *,
    targets: Any = None,
    budget_kind: str = "annualised",
    problem: Problem | None = None,
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
    problem : Problem, optional
        ``Problem(site, plan)``, shared between calls (built here if not given).

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
    inst = _problem(site, problem, base)
    df, baseline = _closed_form_ranking(inst, kind)
    _count_gaps_closed(df, site, targets, base)
    used_trials = used_seed = None
    if simulate and inst.n:
        sim, used_trials, used_seed = _simulated_ranking(inst, baseline, trials, seed)
        df = pd.concat([df, sim], axis=1)
    df = df.sort_values(["reduction_per_cost", "delta_ale"], ascending=False, kind="stable")
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df = df.reset_index(drop=True)
    return Ranking(df, base, baseline, used_trials, used_seed, site.currency)


def _closed_form_ranking(inst: Problem, kind: str) -> tuple[pd.DataFrame, dict]:
    """Each candidate's closed-form effect on the base state, and the base state's numbers."""
    n = inst.n
    loss0, harm0 = inst.block_values(np.zeros((1, n), dtype=bool))
    if n:
        loss1, harm1 = inst.block_values(np.eye(n, dtype=bool))
    else:
        loss1, harm1 = np.zeros((0, 0)), np.zeros((0, 0, 2))
    d_ale = loss0.sum() - loss1.sum(axis=1)
    costs = plan_costs(inst.site, inst.ids)
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
    baseline = {"expected_ale": float(loss0.sum())}
    for h, cat in enumerate(HARM_CATEGORIES):
        sev = np.array([blk.harm_sev[h] for blk in inst.blocks])
        for k in SEVERITY_CLASSES:
            before = harm_at_least(sev, harm0[0, :, h], k)
            after = harm_at_least(sev, harm1[:, :, h].T, k) if n else np.zeros(0)
            df[f"delta_{cat}_ge{k}"] = before - after
            baseline[f"{cat}_ge{k}"] = before
    df["sl_gaps_closed"] = 0
    df["sl_levels_closed"] = 0
    return df, baseline


def _count_gaps_closed(df: pd.DataFrame, site: Site, targets, base) -> None:
    """Fill ``sl_gaps_closed`` and ``sl_levels_closed`` of a ranking table in place."""
    from ..levels import gaps as level_gaps

    g = level_gaps(site, targets, state="current", plan=base or None)
    if len(g.closers):
        cl = g.closers.assign(levels=g.closers["gap"] - g.closers["gap_after"])
        agg = cl.groupby("countermeasure").agg(
            sl_gaps_closed=("closes", "sum"), sl_levels_closed=("levels", "sum")
        )
        for col in ("sl_gaps_closed", "sl_levels_closed"):
            df[col] = df["countermeasure"].map(agg[col]).fillna(0).astype(int)


def _simulated_ranking(inst: Problem, baseline: dict, trials, seed):
    """Simulated effects of each candidate on common random numbers (table, trials, seed).

    Adds the base state's simulated statistics to ``baseline``.
    """
    from ..engine import simulate_many

    base = inst.base
    spec = {"__base__": list(base) if base else "current"}
    for c in inst.ids:
        spec[c] = [*base, c]
    # only the site's losses and harm counts of each state are needed: site_only keeps them
    # (trials x states, not trials x zones x states) with the same numbers
    sims = simulate_many(inst.site, spec, trials=trials, seed=seed, site_only=True)
    b = sims.pop("__base__")
    bl = b.losses("site")["site"].to_numpy()
    bs = _site_measures(b)
    baseline.update({f"sim_{k}": float(bs[k]) for k in ("ale", "ale_se", "var99", "es99")})
    rows = []
    for c in inst.ids:
        s = sims.pop(c)  # dropped once read: memory stays that of the run
        diff = bl - s.losses("site")["site"].to_numpy()
        ss = _site_measures(s)
        rows.append(
            {
                "delta_ale_sim": diff.mean(),
                "delta_ale_se": diff.std(ddof=1) / math.sqrt(len(diff)),
                "delta_var99": bs["var99"] - ss["var99"],
                "delta_es99": bs["es99"] - ss["es99"],
                **{f"delta_{k}_sim": bs[k] - ss[k] for k in harm_columns()},
            }
        )
    return pd.DataFrame(rows), b.trials, b.seed


def _site_measures(sim) -> dict:
    """The site row of ``sim.summary('site')`` without its closed-form ``expected_ale``.

    The same numbers (the simulation's own statistics and harm frequencies), without the
    closed-form expectations of every scenario that ``summary`` adds, which ranking many
    candidates does not read.
    """
    out = dict(sim._rows("site", False)[0])
    for cat in HARM_CATEGORIES:
        out.update(sim.harm_frequency(cat, "site").iloc[0].to_dict())
    return out


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
    simulate: bool | None = None,
    trials: int | None = None,
    seed: int | None = None,
    problem: Problem | None = None,
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
    budget_kind, constraints, method, time_limit, targets, problem
        As for :func:`optimize` (``time_limit`` per plan found).
    simulate : bool, optional
        Simulate every plan on the same fresh trials; None (default): only if ``trials`` or
        ``seed`` is given.
    trials, seed : int, optional

    Returns
    -------
    KBest
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, {k!r} was given")
    _cost_kind(budget_kind)
    b = _check_budget(budget)
    job = _setup(site, problem, budget_kind, constraints, targets)
    _precheck(job.inst, job.rules, b, job.cost, job.lo, job.hi, job.kind)
    plans, complete = _best_plans(job, b, k, method, time_limit)
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
    if _wants_simulation(simulate, trials, seed) and plans:
        _simulate_k_best(df, plans, trials, seed)
    return KBest(df, plans, complete and len(plans) == k)


def _best_plans(job: _Setup, budget: float, k: int, method: str, time_limit) -> tuple[list, bool]:
    """Up to ``k`` distinct plans, best first, by re-solving with each plan cut off."""
    inst, rules, cost, lo, hi = job.inst, job.rules, job.cost, job.lo, job.hi
    mip = _MIP(inst, rules, job.kind, method)
    plans, seen = [], set()
    for _ in range(20 * k):
        sol = mip.solve(budget, lo, hi, time_limit)
        if sol.x is None:
            if not plans and sol.status == "infeasible":
                raise InfeasiblePlan(_diagnose(mip, inst, rules, budget, cost, lo, hi, job.kind))
            return plans, False
        for x in {tuple(sol.x), tuple(_prune(inst, rules, sol.x, lo, cost))}:
            xa = np.array(x, dtype=bool)
            mip._row(mip.x, np.where(xa, -1.0, 1.0), 1.0 - xa.sum(), np.inf)
        x = _prune(inst, rules, sol.x, lo, cost)
        key = tuple(np.flatnonzero(x))
        if key in seen:
            continue
        seen.add(key)
        plans.append(job.plan(x, budget, mip.method, sol))
        if len(plans) == k:
            break
    return plans, True


def _simulate_k_best(df: pd.DataFrame, plans: list, trials, seed) -> None:
    """Simulate the plans on common trials: columns of ``df`` and each plan's statistics."""
    stats, _, used_trials, used_seed = _simulate_plans(
        plans[0].site, {f"k{r}": p.members for r, p in enumerate(plans)}, trials, seed, points=2
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
