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
# # 3. Target security levels and gap analysis
#
# IEC 62443-3-2 ZCR 5.7 and ZCR 6: a target security level (SL-T) for every zone and conduit
# over the seven foundational requirements FR1..FR7, derived from the unmitigated risk and the
# organisation's tolerance, and compared with what the installed equipment can reach (SL-C)
# and what is achieved today (SL-A).
#
# Per scenario, the required risk reduction factor RRF = unmitigated risk / tolerable risk
# (the largest over safety, environment and money) gives a level ceil(log_r RRF), capped at
# the attacking actor's capability; a zone's SL-T in an FR is the highest level of its
# scenarios countered by that FR (at least 1); a conduit takes the higher of its two zones.

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
# ## SL-T vectors

# %%
T = A.targets
display(Markdown(report.levels_markdown(A)))
display(report.styled(T.summary, hide_index=True, currency=S.currency))

# %% [markdown]
# ## Fragile entries
#
# Each SL-T entry rests on uncertain estimates. Over draws of the uncertain inputs (the RRF
# recomputed in closed form for each draw), these entries would be one level lower or
# higher with probability 20 % or more: better estimates pay here before money is spent.

# %%
from riskkit.report import views as _views

display(Markdown(_views.fragile_markdown(A)))
display(report.styled(_views.fragile_view(A), hide_index=True, currency=S.currency))

# %% [markdown]
# ## Where today's levels fall short
#
# Zones that meet their SL-T in every FR are green; conduits short of their SL-T are dashed
# red. Hover for the vectors.

# %%
sl_t, sl_a = report.level_frames(A, "current")
figures.zone_diagram(
    S, sl_t, sl_a, title=f"Zones meeting their target levels today, {S.name}"
).show()

# %%
G = A.gaps("current")
figures.sl_radar(G.table).show()

# %%
figures.gap_heatmap(G.table, "zone").show()

# %%
if (G.table["kind"] == "conduit").any():
    figures.gap_heatmap(G.table, "conduit").show()

# %%
display(report.styled(G.summary, hide_index=True, currency=S.currency))

# %% [markdown]
# ## What drives each target
#
# Every SL-T value traces to one scenario: its RRF, the tolerance dimension that set it, and
# whether the actor's capability capped it. `floor` marks values of 1 that no scenario asks
# for.

# %%
display(report.styled(report.drivers_view(T), hide_index=True, currency=S.currency))

# %% [markdown]
# ## Security PHA Review findings
#
# Scenarios whose required reduction an SL cannot give: the level needed is above the
# actor's capability (levels beyond it do not slow this actor), or above SL 4. The residual
# factor must come from a non-hackable safeguard (a mechanical relief, a hard-wired trip) or
# from reducing the consequence.

# %%
flags = T.flags
display(Markdown(report.flags_markdown(flags)))
if len(flags):
    display(report.styled(flags, hide_index=True, currency=S.currency))

# %% [markdown]
# ## Capability gaps and gap closers
#
# A capability gap (SL-T above SL-C) cannot be closed by configuration: the equipment must
# change. The closers are the candidate countermeasures whose security-level effects raise a
# short SL-A; notebook 4 chooses among them by cost and risk.

# %%
cap = G.table[G.table["capability_gap"]]
display(
    Markdown(
        f"{len(cap)} (zone or conduit, FR) pairs have SL-T above SL-C."
        if len(cap)
        else "No SL-T exceeds SL-C where SL-C is known."
    )
)
if len(cap):
    display(report.styled(cap, hide_index=True, currency=S.currency))
display(report.styled(G.closers, hide_index=True, currency=S.currency))

# %% [markdown]
# ## Attack paths: chokepoints and the credit of earlier stages
#
# SL-T stays the target zone's and its entry conduit's. Where a scenario starts from an
# origin zone, the conduits and zones it must cross first already slow it down: the credit
# below is that reduction in levels of the target's protection (credit = reach / door, the
# probability over all paths against that of the weakest door into the target alone). A
# chokepoint is a conduit whose strengthening to SL 3 or SL 4 in the lateral FRs removes the
# most site ALE; some conduit upgrades do as much for a zone as closing its own gap.

# %%
from riskkit import paths as rk_paths

if rk_paths.has_paths(S):
    names = rk_paths.display_names(S.currency)
    P = rk_paths.attack_paths(S)
    C = rk_paths.chokepoints(S, paths=P)
    display(Markdown(rk_paths.paths_markdown(P, C, currency=S.currency)))
    figures.chokepoint_chart(C, currency=S.currency).show()
    display(report.styled(C.rename(columns=names), currency=S.currency))
    CR = rk_paths.path_credit(S, targets=T)
    display(report.styled(CR.rename(columns=names), currency=S.currency))
    SUB = rk_paths.substitutes(S, T)
    OK = SUB[SUB["substitutes"]] if len(SUB) else SUB
    display(
        Markdown(
            f"{len(OK)} conduit upgrade(s) would substitute for a zone's gap (zone ALE and"
            " harm rate no higher than with the zone's own gap closed)."
            if len(SUB)
            else "No zone short of its SL-T is the target of an attack path."
        )
    )
    if len(OK):
        display(report.styled(OK.rename(columns=names), hide_index=True, currency=S.currency))
else:
    display(Markdown(rk_paths.paths_markdown(None)))

# %% [markdown]
# ## Three methods side by side
#
# The SL-T above comes from the required risk reduction (`rrf`). Many organisations set
# targets with a risk matrix (`matrix`, from the site's `risk_matrix`) or from the capability
# of the threat actors whose risk exceeds tolerance (`capability`). The vectors below let a
# reviewer see where the organisation's own procedure would ask for more or less.

# %%
display(report.styled(report.methods_view(A), hide_index=True, currency=S.currency))

# %% [markdown]
# ## Scenario RRFs

# %%
display(report.styled(report.rrf_view(T), currency=S.currency))
