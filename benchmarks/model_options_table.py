"""Measure the numbers of docs/model-options.md: each model option before and after model v2.

For a site, under the options before model v2 (``sl_effect: orders``, ``fr_roles: frequency``,
``layering: max``, SL-T method ``rrf``, ``conduit_rule: zones_max``, safety first off), under
the defaults, and with each option switched alone: closed-form site ALE (unmitigated, current),
SL-T per zone and conduit, Security PHA findings, the recommended plan of ``riskkit assess``
(quick look, seed 7; no budget and a given budget), the harm tolerances it and the current
state break, and P(site annual loss >= x) of the current state (20,000 simulated years).

Usage::

    python benchmarks/model_options_table.py SITE [--budget B] [--json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from riskkit import expected_losses, load_site, optimize, simulate, target_levels
from riskkit.portfolio.constraints import _harm_breaches  # the optimiser's own check
from riskkit.portfolio.problem import Problem
from riskkit.report.assessment import Assessment

OLD_MODEL = {"sl_effect": "orders", "fr_roles": "frequency", "layering": "max"}
NEW_MODEL = {"sl_effect": "capability", "fr_roles": "split", "layering": "independent"}
OLD = {"model": OLD_MODEL, "method": "rrf", "conduit_rule": "zones_max", "safety_first": False}
NEW = {"model": NEW_MODEL, "method": "minimal", "conduit_rule": "entry", "safety_first": True}
CONFIGS = {
    "before model v2": OLD,
    "sl_effect capability": {**OLD, "model": {**OLD_MODEL, "sl_effect": "capability"}},
    "fr_roles split": {**OLD, "model": {**OLD_MODEL, "fr_roles": "split"}},
    "layering independent": {**OLD, "model": {**OLD_MODEL, "layering": "independent"}},
    "method minimal": {**OLD, "method": "minimal"},
    "conduit_rule entry": {**OLD, "conduit_rule": "entry"},
    "safety first": {**OLD, "safety_first": True},
    "defaults": NEW,
}


def with_model(site, options: dict):
    """The site with ``options`` set in its ``model`` section (the site itself unchanged)."""
    return site.model_copy(update={"model": site.model.model_copy(update=options)})


def _breaches(records) -> list[str]:
    return [
        f"{b['scenario']} {b['frequency'] / b['tolerable']:.2f}x"
        for b in sorted(records, key=lambda b: -b["frequency"] / b["tolerable"])
    ]


def measure(site, cfg: dict, budget: float, loss: float) -> dict:
    """Every number of one configuration."""
    site = with_model(site, cfg["model"])
    out: dict = {
        f"ale_{st}": float(expected_losses(site, state=st)["ale"].sum())
        for st in ("unmitigated", "current")
    }
    T = target_levels(site, method=cfg["method"], conduit_rule=cfg["conduit_rule"])
    out["sl_t_zones"] = {k: [int(v) for v in row] for k, row in T.zones.iterrows()}
    out["sl_t_conduits"] = {k: [int(v) for v in row] for k, row in T.conduits.iterrows()}
    out["flags"] = sorted(set(T.flags["scenario"])) if len(T.flags) else []
    problem = Problem(site)
    for key, b in (("plan", None), ("plan_budget", budget)):
        A = Assessment(site, fast=True, seed=7, budget=b, safety_first=cfg["safety_first"])
        if cfg["safety_first"]:
            P = A.plan
        else:  # Assessment.plan does not pass safety_first=False on to optimize
            P = optimize(site, A.budget, safety_first=False, problem=problem)
        out[key] = {
            "members": list(P.members),
            "annualised_cost": float(P.annualised_cost),
            "expected_ale": float(P.expected_ale),
            "budget": float(A.budget),
            "budget_source": A.budget_source,
            "harm_breaches": _breaches(_harm_breaches(problem, problem.mask(P.members))),
        }
    # no candidate chosen: the current state
    out["harm_breaches_current"] = _breaches(
        _harm_breaches(problem, np.zeros(problem.n, dtype=bool))
    )
    sim = simulate(site, trials=20000, seed=7, state="current")
    out[f"p_loss_ge_{loss:g}_current"] = float((sim.losses("site")["site"] >= loss).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site")
    ap.add_argument("--budget", type=float, default=150_000.0, help="annualised [currency/yr]")
    ap.add_argument("--loss", type=float, default=5e6, help="x of P(site loss >= x)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    site = load_site(args.site)
    res = {name: measure(site, cfg, args.budget, args.loss) for name, cfg in CONFIGS.items()}
    if args.json:
        print(json.dumps(res, indent=1))
        return
    for name, r in res.items():
        print(f"== {name}")
        ale = r["ale_unmitigated"], r["ale_current"]
        print(f"  site ALE unmitigated {ale[0]:,.0f}, current {ale[1]:,.0f}")
        for k, v in r["sl_t_zones"].items():
            print(f"  SL-T {k}: {v}")
        print(f"  conduits: { {k: v for k, v in r['sl_t_conduits'].items()} }")
        print(f"  Security PHA findings: {', '.join(r['flags']) or 'none'}")
        for key in ("plan", "plan_budget"):
            p = r[key]
            print(
                f"  {key}: {', '.join(p['members'])} ({p['annualised_cost']:,.0f}/yr,"
                f" expected ALE {p['expected_ale']:,.0f}, {p['budget_source']});"
                f" harm breaches: {', '.join(p['harm_breaches']) or 'none'}"
            )
        print(f"  harm breaches, current: {', '.join(r['harm_breaches_current']) or 'none'}")
        p = r[f"p_loss_ge_{args.loss:g}_current"]
        print(f"  P(site loss >= {args.loss:,.0f}), current: {p}")


if __name__ == "__main__":
    main()
