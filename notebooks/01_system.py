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
# # 1. System under consideration
#
# IEC 62443-3-2 ZCR 1-3: the system under consideration, its partition into zones and
# conduits, and the checks a reviewer runs on that model before trusting any number built on
# it. Everything shown here comes from the site file; the risk numbers follow in notebook 2.

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
# ## Inventory

# %%
display(report.styled(report.inventory_table(S), currency=S.currency))

# %% [markdown]
# ## Zones and conduits
#
# Zones are drawn on the levels of the reference model (Purdue); hover over a zone or a
# conduit's diamond for its SL-C and SL-A vectors, protocols and assets. Colours here show the
# kind of zone; notebook 3 redraws the diagram coloured by whether each zone meets its
# target level.

# %%
figures.zone_diagram(S).show()

# %%
display(report.styled(report.zones_table(S), currency=S.currency))

# %%
display(report.styled(report.conduits_table(S), currency=S.currency))

# %% [markdown]
# ## Attack paths
#
# A scenario that names an `origin` zone (where the actor starts, such as the enterprise
# network or the vendor's remote access) reaches its target over the conduits. Each stage (a
# conduit and the zone behind it) stops an attempt unless it is crossed, with probability
# r^-min(b, c) for its barrier level b in the lateral FRs; the attack succeeds if any simple
# path is open. The lines below follow the paths that carry the most expected loss today,
# wider where a path carries a larger share of the path-borne risk; hover for the numbers.

# %%
from riskkit import paths as rk_paths

P = rk_paths.attack_paths(S)
display(Markdown(rk_paths.paths_markdown(P, currency=S.currency)))
if len(P):
    figures.attack_path_diagram(S, P, currency=S.currency).show()
    cols = ["scenario", "path", "route", "stages", "probability", "share", "reach"]
    cols += ["expected_ale", "risk_share"]
    names = rk_paths.display_names(S.currency)
    display(report.styled(P[cols].rename(columns=names), hide_index=True, currency=S.currency))

# %% [markdown]
# ## Threat actors and scenarios
#
# Capability is the security level that resists the actor (62443-3-3 SL definitions); the
# attempt rate is per year against this site.

# %%
display(report.styled(report.actors_table(S), currency=S.currency))

# %%
display(report.styled(report.scenarios_table(S), currency=S.currency))

# %% [markdown]
# ## Countermeasures
#
# Implemented countermeasures define today's state; candidates are what notebook 4 chooses
# from. Annualised cost = capex x CRF + opex.

# %%
display(report.styled(report.countermeasures_table(S), currency=S.currency))

# %% [markdown]
# ## Model checks
#
# A lint of the zone model (MODEL.md section 3): errors are structural problems of the
# architecture (such as an enterprise zone reaching control without a DMZ), warnings are
# places where the model may not say what the analyst means.

# %%
checks = A.checks
display(Markdown(report.checks_markdown(checks)))
if len(checks):
    display(report.styled(checks, hide_index=True))
