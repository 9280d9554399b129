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
# # 2. Risk assessment
#
# IEC 62443-3-2 ZCR 2 and ZCR 5: the risk of every scenario, zone and the whole site, by
# Monte Carlo simulation of many years. Two states are compared on the same random numbers:
#
# - **unmitigated**: no security level achieved and no countermeasure (the risk the plant
#   would carry with no protection; the basis of the target levels in notebook 3);
# - **current**: today's achieved security levels (SL-A) and implemented countermeasures.
#
# ALE is the expected annual loss; VaR 99 % the annual loss exceeded in one year out of a
# hundred; ES 99 % the mean of those worst years. Money is in the site's currency.

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
# ## Risk per zone

# %%
states = ("unmitigated", "current")
figures.ale_by_zone(
    A.ale_table("zone", "ale", states),
    A.ale_table("zone", "ale_se", states),
    tolerance=S.tolerance.financial.per_zone_ale,
    currency=S.currency,
    trials=A.trials,
).show()

# %%
display(report.risk_table(A, "zone", states))

# %% [markdown]
# ## Risk of each scenario
#
# Each bubble is a scenario today: how often it succeeds (per year) against what one success
# costs; its area is the expected annual loss. Bubbles above the dashed line would use up a
# zone's whole tolerable loss on their own; the dotted steps are the site's exceedance
# tolerance. Hover for the scenario's id and name.

# %%
figures.scenario_risk(
    A.simulation("current").expected(),
    {s.id: s.name for s in S.scenarios},
    tolerance=S.tolerance.financial.per_zone_ale,
    exceedance=S.tolerance.financial.exceedance,
    currency=S.currency,
).show()

# %% [markdown]
# ## The whole site
#
# The loss exceedance curve gives, for every amount x, the probability that the site loses x
# or more in a year; the dashed steps are the organisation's tolerance. A curve above a
# tolerance point exceeds tolerance there.

# %%
figures.exceedance_curves(
    A.exceedance(states),
    S.tolerance.financial.exceedance,
    currency=S.currency,
    trials=A.trials,
).show()

# %%
display(report.risk_table(A, "site", states))
display(Markdown(report.method_note(A)))

# %% [markdown]
# ## Harm to people and the environment
#
# Safety and environmental consequences are not turned into money: they are counted as events
# per year reaching each severity class. The markers show the tolerable frequency *per
# scenario*; the per-scenario check is in the tolerance table below.

# %%
figures.severity_frequencies(A.severity(states), S.tolerance, trials=A.trials).show()

# %% [markdown]
# ## Against tolerance
#
# Zone ALE and site exceedance are checked on the simulated years; the frequency of harm per
# scenario on its closed form (rare classes are below what the simulated years resolve).

# %%
tol = A.tolerance_check(states)
display(Markdown(report.tolerance_markdown(tol)))
display(report.styled(tol[~tol["within"]], hide_index=True, currency=S.currency))

# %% [markdown]
# ## Risk register
#
# Every scenario, ranked by today's expected annual loss, with what drives its target level
# (notebook 3) and the countermeasures that act on it today or could.

# %%
display(report.register_view(A.register(states), currency=S.currency))

# %% [markdown]
# ## Which estimates matter
#
# Every input is an estimate. The tornado swings each uncertain input from its P10 to its
# P90, every other input at its distribution, and shows the site's expected annual loss
# (exact, closed form) at both ends; the largest bars are the estimates that move the risk
# most. The table adds the swing of the recommended plan's net benefit.

# %%
from riskkit.report import summary as _summary
from riskkit.report import views as _views

_sens = _summary.sensitivity_results(A)
figures.tornado_chart(_sens["tornado"], S.currency).show()

# %%
display(report.styled(_views.tornado_view(A), currency=S.currency))

# %% [markdown]
# ## How precise the simulation is
#
# The Monte Carlo estimates over the first n simulated years, with their 95 % intervals: the
# expected annual loss (± 1.96 standard errors), VaR 99 % (order-statistic interval) and ES
# 99 % (bootstrap).

# %%
figures.convergence_chart(_sens["convergence"], S.currency).show()
display(Markdown(_views.convergence_markdown(A)))
