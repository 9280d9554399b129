# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Countermeasure prioritisation
#
# IEC 62443-3-2 ZCR 5.8-5.9: which candidate countermeasures to implement. Each candidate is
# first measured on its own against today's state (a *marginal* ranking: effects on one
# scenario multiply, so a measure's value depends on what else is chosen); then plans are
# optimised as portfolios, exactly, for every budget (the efficient frontier), with the
# greedy sequence beside it; finally the recommended plan is checked by simulation.
#
# Annualised cost = capex x CRF + opex with the site's discount rate; ROSI = (reduction of
# expected annual loss - annualised cost) / annualised cost.

# %% tags=["parameters"]
site = "../data/sites/example-refinery"  # site file, folder or workbook
trials = None  # Monte Carlo trials (default: the site's model.trials)
seed = None  # seed (default: the site's model.seed)
budget = None  # budget of the recommended plan (default: least total cost of risk)
budget_kind = "annualised"  # or "capex"
out = None  # output folder of the run (results are shared between notebooks through it)
previous = None  # an earlier output folder, for "what changed"
fast = False  # quick look: fewer trials, coarser frontier
constraints = None  # plan constraints: e.g. ["close_gaps", "meet_tolerance"]
safety_first = True  # harm tolerances before money

# %%
from IPython.display import Markdown, display

from riskkit import figures, report

A = report.start(
    site, trials, seed, budget, budget_kind, fast, out, constraints, safety_first=safety_first
)
S = A.site

# %% [markdown]
# ## Ranking of the candidates

# %%
R = A.ranking
figures.ranking_bars(R.summary, currency=S.currency).show()

# %%
display(report.styled(report.ranking_view(R), hide_index=True, currency=S.currency))

# %% [markdown]
# ## Efficient frontier
#
# Every point is the plan with the least expected residual loss for its budget (an exact
# optimum); plans are not nested as the budget grows, so the nested frontier below is the
# roadmap where each step keeps the previous plan. The greedy sequence adds, at each step,
# the measure with the best reduction per cost.

# %%
F = A.frontier
P = A.plan
figures.frontier_figure(
    F.points,
    F.greedy,
    plan=(P.annualised_cost, P.expected_ale),
    current_ale=P.baseline_ale,
    currency=S.currency,
).show()

# %%
display(report.styled(report.frontier_view(F.points), hide_index=True, currency=S.currency))

# %%
if F.nested is not None:
    display(Markdown("**Nested frontier (roadmap)**"))
    display(report.styled(report.frontier_view(F.nested), hide_index=True, currency=S.currency))

# %% [markdown]
# ## The recommended plan

# %%
display(Markdown(report.plan_markdown(A)))
display(report.styled(report.plan_view(A), hide_index=True, currency=S.currency))

# %% [markdown]
# Residual risk with the plan, simulated on the same years as today's risk:

# %%
states = ("current", "plan")
figures.exceedance_curves(
    A.exceedance(states),
    S.tolerance.financial.exceedance,
    currency=S.currency,
    trials=A.trials,
).show()

# %%
figures.ale_by_zone(
    A.ale_table("zone", "ale"),
    A.ale_table("zone", "ale_se"),
    tolerance=S.tolerance.financial.per_zone_ale,
    currency=S.currency,
    trials=A.trials,
).show()

# %% [markdown]
# Security-level gaps left after the plan:

# %%
GP = A.gaps("plan")
figures.gap_heatmap(GP.table, "zone", title="SL gaps per zone with the plan (SL-T/SL-A)").show()
tol = A.tolerance_check(("plan",))
display(Markdown(report.tolerance_markdown(tol)))
