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
# # Management summary
#
# The cyber-security risk of the site in money and in harm, what the recommended investment
# buys, and what changed since the last assessment. Figures are expected values over many
# simulated years unless stated; "one year in a hundred" is the loss exceeded with 1 %
# probability in a year (VaR 99 %).

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
# ## In brief

# %%
display(Markdown(report.headline_markdown(A)))

# %% [markdown]
# ## Compliance and risk side by side
#
# The recommended plan buys the most reduction of expected loss; the plan beside it is the
# cheapest that closes every security-level gap a candidate countermeasure can close (then
# the most risk reduction for that money). Expected values are exact (closed form).

# %%
display(report.styled(report.plans_side_by_side(A), currency=S.currency))

# %% [markdown]
# **Gaps that need a countermeasure not yet in the site file** (no candidate closes them):

# %%
stuck = report.unclosable_view(A)
if len(stuck):
    display(report.styled(stuck, hide_index=True, currency=S.currency))
else:
    display(Markdown("Every open gap has a candidate that closes it."))

# %% [markdown]
# ## What the recommended plan buys

# %%
P = A.plan
# expected values are exact (closed form), as in the sentences above
figures.plan_value(P.baseline_ale, P.expected_ale, P.annualised_cost, S.currency).show()

# %%
display(report.styled(report.plan_view(A), hide_index=True, currency=S.currency))

# %% [markdown]
# ## How sure we are

# %%
from riskkit.report import views as _views

display(Markdown(_views.sensitivity_markdown(A)))

# %% [markdown]
# ## The largest risks today

# %%
display(report.styled(report.top_risks_view(A), hide_index=True, currency=S.currency))

# %% [markdown]
# ## Zones: risk and target security levels

# %%
figures.compliance_heatmap(
    A.gaps("plan").table,
    "zone",
    title="Target security levels with the plan: met (✓) or levels short, per zone and FR",
).show()

# %%
display(report.styled(report.zone_status_view(A), currency=S.currency))

# %% [markdown]
# ## Other budgets
#
# Each point is the best plan for its budget; the recommended plan is circled. Moving right
# buys less and less risk reduction per unit of money.

# %%
F = A.frontier
figures.frontier_figure(
    F.points,
    F.greedy,
    plan=(P.annualised_cost, P.expected_ale),
    current_ale=P.baseline_ale,
    currency=S.currency,
).show()

# %% [markdown]
# ## Since the previous assessment

# %%
ch = A.changes(previous)
display(Markdown(report.changes_markdown(A, previous)))
if len(ch):
    figures.change_bars(ch["ale_before"].dropna(), ch["ale_now"].dropna(), S.currency).show()
    display(report.styled(ch, currency=S.currency))

# %% [markdown]
# ## How to read these numbers
#
# The numbers come from a model of the site (zones, threat actors, attack scenarios and their
# consequences, each with its uncertainty) simulated over many years. They are as good as
# those inputs: the detailed reports (notebooks 1-4) show every assumption and trace every
# target level to the scenario that sets it. Safety and environmental harm are never turned
# into money; they are checked against the organisation's tolerable frequencies.
