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
# # What-if explorer
#
# Move a control and the loss exceedance curves, the per-zone table, the SL-T radar and the
# efficient frontier follow (see the README, "What-if explorer"). Every number is
# `riskkit.simulate(riskkit.what_if(site, ...))` on the same random numbers as today's site.
# `explorer.set(actor_rate={"A-CRIME": 2})` moves the controls from code, `explorer.summary`
# is the table and `explorer.save("what-if.yaml")` writes a site file for `riskkit assess`.
#
# To open this file as a notebook on double-click in JupyterLab, run once
# `jupytext-config set-default-viewer python`.

# %%
from riskkit.widgets import Explorer

explorer = Explorer("../data/sites/example-water")
explorer.view  # noqa: B018 (the cell shows the explorer)
