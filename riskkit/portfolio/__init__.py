"""Countermeasure portfolios: ranking, attribution, exact optimal plans and frontiers.

The package, by module:

- :mod:`.problem`: the instance model, :class:`Problem` (candidates, costs and one exact
  evaluator block per scenario), built once and shared by every entry point;
- :mod:`.constraints`: the optional constraints (SL gaps, tolerances) in evaluable form;
- :mod:`.costs`: :func:`plan_costs` and :func:`evaluate` (closed forms);
- :mod:`.formulations`: one builder per exact formulation of a scenario's block;
- :mod:`.milp`: the mixed-integer program and its solve loop (bounds, HiGHS rounds, collect);
- :mod:`.enumeration`: exact enumeration of small instances;
- :mod:`.heuristics`: greedy and partial enumeration;
- :mod:`.attribution`: Shapley, stand-alone and drop-one values;
- :mod:`.results`: the result objects (:class:`Plan`, :class:`Ranking`, ...);
- :mod:`.setup`: what every entry point prepares (problem, constraints, bounds) and how it
  makes plans;
- :mod:`.api`: :func:`optimize`, :func:`greedy`, :func:`prioritize`, :func:`k_best`;
- :mod:`.frontier`: :func:`frontier`, the efficient and nested frontiers.

:func:`riskkit.synthetic.synthetic_site` is re-exported here for compatibility.

The section *Countermeasures* of ``docs/model.md`` in code. Management chooses a *plan*, a
set of candidate countermeasures, and wants to know what the money buys. This package
answers with

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
The expected annual loss of scenario s under plan S has a closed form (``docs/model.md``,
*One simulated year*; :func:`riskkit.exposure.expected_scenario`)::

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
larger ones, and moves the largest blocks to ``logspace`` where the subset columns of the
program would exceed 8,192 (:data:`riskkit.portfolio.milp.SUBSET_COLUMNS`); ``enumerate``
tries every plan (at most 22 candidates). Whatever the method, the
chosen plan's objective is recomputed exactly with :func:`riskkit.exposure.expected_losses`,
and if a time limit stops HiGHS (60 s by default), the proven bound and relative gap are
reported (:attr:`Plan.optimality`); ``progress=`` follows the search.

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

from ..synthetic import synthetic_site
from .api import (
    greedy,
    k_best,
    least_sufficient_budget,
    least_total_cost,
    optimize,
    prioritize,
)
from .attribution import attribution
from .constraints import SafetyFirst
from .costs import evaluate, plan_costs
from .frontier import frontier
from .problem import (
    BUDGET_KINDS,
    CONSTRAINTS,
    METHODS,
    InfeasiblePlan,
    Problem,
)
from .problem import (
    ENUMERATE_MAX as ENUMERATE_MAX,
)
from .problem import (
    MIP_REL_GAP as MIP_REL_GAP,
)
from .problem import (
    SUBSET_MAX as SUBSET_MAX,
)
from .problem import (
    TABLE_MAX as TABLE_MAX,
)
from .problem import (
    _Block as _Block,
)
from .problem import (
    _Instance as _Instance,
)
from .results import Attribution, Frontier, KBest, Plan, Progress, Ranking

__all__ = [
    "BUDGET_KINDS",
    "CONSTRAINTS",
    "METHODS",
    "InfeasiblePlan",
    "Problem",
    "Plan",
    "Progress",
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
    "least_sufficient_budget",
    "least_total_cost",
    "SafetyFirst",
    "synthetic_site",
]
