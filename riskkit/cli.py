"""The ``riskkit`` command. Thin: parses options, calls the library, prints.

Every command exits 0 on success, 1 when the input is wrong (a :class:`SiteError`, printed as a
list of problems, never a traceback) and 2 on usage errors.
"""

from __future__ import annotations

import sys

import click

from . import __version__
from .io import load_site
from .site import SiteError

__all__ = ["main", "cli"]


def _fail_site(err: SiteError, path) -> None:
    click.echo(f"{path}: {len(err.problems)} problem(s)", err=True)
    for p in err.problems:
        click.echo(f"  - {p}", err=True)
    sys.exit(1)


def _load(path):
    """Load a site or exit 1 with its problems."""
    try:
        return load_site(path)
    except SiteError as e:
        _fail_site(e, path)
    except FileNotFoundError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="riskkit")
def cli():
    """riskkit: quantitative IEC 62443 risk assessment of industrial control systems."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--checks", is_flag=True, help="Also run the zone-model checks (lint).")
def validate(paths, checks):
    """Check site files and print an inventory, or every problem found.

    PATHS are site.yaml files, site folders or .xlsx workbooks. Exit 0 when all are valid,
    1 otherwise.
    """
    failed = False
    for path in paths:
        try:
            site = load_site(path)
        except SiteError as e:
            failed = True
            click.echo(f"{path}: INVALID, {len(e.problems)} problem(s)")
            for p in e.problems:
                click.echo(f"  - {p}")
            continue
        except FileNotFoundError as e:
            failed = True
            click.echo(f"{path}: {e}")
            continue
        inv = site.inventory()
        n_cand = len(site.candidates)
        click.echo(
            f"{path}: OK  {site.name} ({site.currency}); "
            f"{inv['zones']} zones, {inv['conduits']} conduits, {inv['threat_actors']} actors, "
            f"{inv['scenarios']} scenarios, {inv['countermeasures']} countermeasures "
            f"({len(site.implemented)} implemented, {n_cand} candidates)"
        )
        if checks:
            from .levels import model_checks

            findings = model_checks(site)
            if findings.empty:
                click.echo("  checks: no findings")
            for _, f in findings.iterrows():
                click.echo(f"  [{f['severity']}] {f['rule']}: {f['subject']}: {f['message']}")
    sys.exit(1 if failed else 0)


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@click.argument("out", type=click.Path())
def export(site_path, out):
    """Write SITE_PATH as an Excel workbook OUT (one sheet per table; never overwrites)."""
    from .io import export_xlsx

    site = _load(site_path)
    try:
        export_xlsx(site, out)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="OUT") from None
    except OSError as e:  # OUT exists (export_xlsx never overwrites), no folder, no permission
        click.echo(f"error: cannot write {out}: {e.strerror or e}", err=True)
        sys.exit(1)
    click.echo(f"wrote {out}")


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@click.option(
    "--method",
    type=click.Choice(["rrf", "matrix", "capability"]),
    default="rrf",
    show_default=True,
    help="How SL-T is derived.",
)
@click.option("--plan", multiple=True, help="Candidate countermeasure id added to SL-A (repeat).")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON.")
def levels(site_path, method, plan, as_json):
    """Print SL-T per zone and conduit with their driving scenarios, flags and SL gaps."""
    import json

    import pandas as pd

    from .levels import gaps, target_levels

    site = _load(site_path)
    try:
        t = target_levels(site, method=method)
        g = gaps(site, t, plan=list(plan) or None)
    except (ValueError, NotImplementedError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    if as_json:

        def rec(df):
            return json.loads(df.to_json(orient="records"))

        out = {
            "site": site.name,
            "method": t.method,
            "statistic": t.statistic,
            "zones": json.loads(t.zones.to_json(orient="index")),
            "conduits": json.loads(t.conduits.to_json(orient="index")),
            "drivers": rec(t.drivers),
            "flags": rec(t.flags),
            "gaps": rec(g.table),
            "meets": json.loads(g.zones_meeting.to_json()),
        }
        click.echo(json.dumps(out, indent=2))
        return
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        click.echo(f"{site.name}: SL-T by method {t.method!r}, statistic {t.statistic!r}\n")
        click.echo(t.summary.drop(columns=["scenarios"]).to_string(index=False))
        d = t.drivers[(t.drivers["kind"] == "zone") & (t.drivers["basis"] == "scenario")]
        cols = ["id", "fr", "sl_t", "scenario", "actor", "rrf", "dimension", "required"]
        cols += ["capability", "capped"]
        click.echo("\nDrivers (zones; a conduit takes the larger of its two zones):")
        click.echo(d[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        if len(t.flags):
            click.echo("\nSecurity PHA Review findings (an SL alone cannot reach tolerance):")
            for m in t.flags["message"]:
                click.echo(f"  - {m}")
        cells = g.table.assign(
            cell=g.table["sl_t"].astype(str)
            + "/"
            + g.table["sl_a"].astype(str)
            + g.table["capability_gap"].map({True: "*", False: ""})
        )
        wide = cells.pivot(index="id", columns="fr", values="cell")
        wide = wide.reindex(list(dict.fromkeys(g.table["id"])))
        wide["meets"] = g.zones_meeting
        state = g.state + (f" {list(g.plan)}" if g.plan else "")
        click.echo(f"\nGaps, SL-T/SL-A ({state}; * = SL-T above SL-C):")
        click.echo(wide.to_string())


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@click.option("--trials", type=int, default=None, help="Simulated years [default: the site's].")
@click.option("--seed", type=int, default=None, help="Random seed [default: the site's].")
@click.option(
    "--state",
    type=click.Choice(["unmitigated", "current", "plan"]),
    default="current",
    show_default=True,
)
@click.option("--plan", multiple=True, help="Candidate ids, comma-separated or repeated.")
@click.option(
    "--level",
    type=click.Choice(["scenario", "zone", "site"]),
    default="zone",
    show_default=True,
    help="Rows of the table (the site total is always added).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Threads simulating blocks of trials at once (0: one per CPU); same numbers.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def simulate(site_path, trials, seed, state, plan, level, workers, as_json):
    """Monte Carlo annual losses: ALE, VaR, expected shortfall and harm frequencies."""
    import json

    import pandas as pd

    from .engine import simulate as run

    site = _load(site_path)
    ids = [p.strip() for item in plan for p in item.split(",") if p.strip()]
    try:
        sim = run(
            site, trials=trials, seed=seed, state=state, plan=ids or None, workers=workers or None
        )
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except MemoryError:
        n = trials if trials is not None else site.model.trials
        click.echo(f"error: not enough memory for {n:,} trials; use fewer --trials", err=True)
        sys.exit(1)
    done = [cid for cid in ids if site.countermeasure(cid).status == "implemented"]
    if done:
        click.echo(
            f"note: {', '.join(done)} already implemented (part of the current state);"
            " nothing to add for them",
            err=True,
        )
    groups: dict = {}
    for cid in sim.state.active:
        g = site.countermeasure(cid).exclusive_group
        if g:
            groups.setdefault(g, []).append(cid)
    for g, members in groups.items():
        if len(members) > 1:
            click.echo(
                f"note: {', '.join(members)} are alternatives (exclusive group {g!r}); simulated"
                " as a what-if, a plan from riskkit plan never holds more than one",
                err=True,
            )
    table = sim.summary(level)
    if level != "site":
        table = pd.concat([table, sim.summary("site")])
    if as_json:
        out = {
            "site": site.name,
            "state": sim.state.name,
            "plan": list(sim.state.plan),
            "trials": sim.trials,
            "seed": sim.seed,
            "currency": sim.currency,
            "level": level,
            "summary": json.loads(table.to_json(orient="index")),
        }
        click.echo(json.dumps(out, indent=2))
        return
    plan_txt = f" {list(sim.state.plan)}" if sim.state.plan else ""
    click.echo(
        f"{site.name}: {sim.state.name}{plan_txt} state, {sim.trials} trials, seed {sim.seed}"
        f" [{sim.currency}, per year]\n"
    )
    money = {
        "ale": "ALE",
        "ale_se": "+-SE",
        "expected_ale": "closed form",
        "var95": "VaR95",
        "var99": "VaR99",
        "es99": "ES99",
    }
    t = table[list(money)].rename(columns=money)
    t["P(0)"] = table["p_zero"]
    fmt = {c: "{:,.0f}".format for c in money.values()}
    fmt["P(0)"] = "{:.3f}".format
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        click.echo(t.to_string(formatters=fmt))
        harm = table.filter(regex="^(safety|environment)_ge")
        harm = harm.loc[:, (harm != 0).any()]
        if harm.shape[1]:
            click.echo("\nHarm: events per year of severity class >= k")
            click.echo(harm.to_string(float_format=lambda v: f"{v:.3g}"))


class _AssessProgress:
    """Terminal progress of ``assess``: a live line while a notebook runs, one line when done."""

    def __init__(self):
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.status = None
        self.count = 0
        self.t0 = 0.0

    def __call__(self, event, **info):
        import time

        c = self.console
        if event == "start":
            self.count = len(info["notebooks"])
            p = info["params"]
            c.print(
                f"assessing {p['site']} -> {info['out']}\n"
                f"  {p['trials']:,} trials, seed {p['seed']}, budget "
                f"{'least total cost of risk' if p['budget'] is None else p['budget']}"
            )
        elif event in ("notebook", "step"):
            name = info["name"]
            label = f"[{info['index'] + 1}/{self.count}] {name}" if event == "notebook" else name
            self.label, self.t0 = label, time.perf_counter()
            self.status = c.status(label)
            self.status.start()
        elif event == "cell" and self.status is not None:
            dt = time.perf_counter() - self.t0
            self.status.update(f"{self.label}  cell {info['cell']}/{info['cells']}  {dt:.1f} s")
        elif event in ("notebook_done", "step_done"):
            if self.status is not None:
                self.status.stop()
                self.status = None
            c.print(f"  done  {self.label:<32} {info['seconds']:6.1f} s")

    def close(self):
        if self.status is not None:
            self.status.stop()
            self.status = None


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Output folder; must not exist. Default reports/<site>/<date>-<input hash>/.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=100),
    default=None,
    help="Monte Carlo trials, >= 100 (default: the site's model.trials).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed (default: the site's model.seed).",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0),
    default=None,
    help="Budget of the recommended plan [currency/yr]; default: the plan with the "
    "least total cost of risk.",
)
@click.option(
    "--budget-kind",
    type=click.Choice(["annualised", "capex"]),
    default="annualised",
    show_default=True,
    help="What the budget bounds.",
)
@click.option(
    "--previous",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="An earlier assess folder: the summary shows what changed since.",
)
@click.option(
    "--fast", is_flag=True, help="Quick look: 2000 trials unless given, 10 frontier budgets."
)
def assess(site_path, out, trials, seed, budget, budget_kind, previous, fast):
    """Run the full IEC 62443-3-2 assessment of SITE_PATH into a fresh report folder.

    Executes the five notebooks (system, risk, target levels, countermeasures, management
    summary) and writes HTML reports, executed notebooks, summary.json, tables.xlsx and
    Parquet tables. Exit 0 on success; 1 for an invalid site or a failing notebook (the
    partial run is kept in a -FAILED- folder).
    """
    from .pipeline import AssessError
    from .pipeline import assess as run_assessment

    progress = _AssessProgress()
    try:
        result = run_assessment(
            site_path,
            out,
            trials=trials,
            seed=seed,
            budget=budget,
            budget_kind=budget_kind,
            previous=previous,
            fast=fast,
            progress=progress,
        )
    except SiteError as e:
        progress.close()
        _fail_site(e, site_path)
    except AssessError as e:
        progress.close()
        click.echo(f"error: {e.describe()}", err=True)
        sys.exit(1)
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        progress.close()
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    s = result.summary
    cur = s["currency"]
    ale = s["site"]["ale"]
    plan = s["plan"]
    click.echo(f"wrote {result.out}")
    click.echo(
        f"  expected annual loss: unmitigated {ale['unmitigated']:,.0f}, current "
        f"{ale['current']:,.0f}, with plan {ale['plan']:,.0f} {cur}/yr"
    )
    members = ", ".join(m["id"] for m in plan["members"]) or "none"
    click.echo(f"  plan: {members} ({plan['annualised_cost']:,.0f} {cur}/yr)")
    click.echo(f"  open {result.out / 'index.html'}")


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@click.option("--budget", type=float, default=None, help="Budget; none = no limit.")
@click.option(
    "--kind",
    "budget_kind",
    type=click.Choice(["annualised", "capex"]),
    default="annualised",
    show_default=True,
    help="What the budget bounds: annualised cost [/yr] or capex.",
)
@click.option(
    "--constraint",
    "constraints",
    multiple=True,
    type=click.Choice(["close_gaps", "meet_tolerance", "zone_ale", "harm_frequency"]),
    help="Plan constraint (repeat).",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "subset", "logspace", "product", "enumerate"]),
    default="auto",
    show_default=True,
)
@click.option("--time-limit", type=float, default=None, help="Seconds for the solver.")
@click.option("--trials", type=int, default=None, help="Simulated years [default: the site's].")
@click.option("--seed", type=int, default=None, help="Random seed [default: the site's].")
@click.option(
    "--top", type=click.IntRange(min=0), default=15, show_default=True, help="Ranking rows shown."
)
def plan(site_path, budget, budget_kind, constraints, method, time_limit, trials, seed, top):
    """Rank the candidate countermeasures and print the optimal plan within a budget."""
    import pandas as pd

    from .portfolio import InfeasiblePlan, greedy, optimize, prioritize

    site = _load(site_path)
    cur = site.currency
    try:
        ranking = prioritize(site, trials=trials, seed=seed, budget_kind=budget_kind)
        best = optimize(
            site,
            budget,
            budget_kind,
            constraints,
            method=method,
            time_limit=time_limit,
            trials=trials,
            seed=seed,
        )
        quick = greedy(site, budget, budget_kind, constraints, exact=False)
    except InfeasiblePlan as e:
        click.echo(f"no plan: {e}", err=True)
        sys.exit(1)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    r = ranking.summary
    cols = {
        "rank": "#",
        "countermeasure": "id",
        "annualised_cost": f"cost {cur}/yr",
        "delta_ale": f"dALE {cur}/yr",
        "reduction_per_cost": "dALE/cost",
        "rosi": "ROSI",
        "delta_var99": "dVaR99",
        "sl_gaps_closed": "gaps",
    }
    show = r[[c for c in cols if c in r.columns]].head(top).rename(columns=cols)
    with pd.option_context("display.width", 200):
        click.echo(
            f"{site.name}: candidates by risk reduction per cost (each on its own, added to today)"
        )
        click.echo(show.to_string(index=False, float_format=lambda v: f"{v:,.3g}"))
        unit = f"{cur}/yr" if budget_kind == "annualised" else cur
        b = "no budget" if best.budget is None else f"budget {best.budget:,.0f} {unit}"
        click.echo(f"\nRecommended plan ({b}, {budget_kind}): {best.status}, {best.method}")
        if best.members:
            m = best.summary[["name", "annualised_cost", "capex", "shapley"]].rename(
                columns={
                    "annualised_cost": f"cost {cur}/yr",
                    "capex": f"capex {cur}",
                    "shapley": f"share of dALE {cur}/yr",
                }
            )
            m["name"] = m["name"].str.slice(0, 48)
            click.echo(m.to_string(float_format=lambda v: f"{v:,.0f}"))
        else:
            click.echo("  (no candidate: nothing fits or nothing helps)")
        click.echo(
            f"cost {best.annualised_cost:,.0f} {cur}/yr ({best.capex:,.0f} {cur} capex);"
            f" expected loss {best.baseline_ale:,.0f} -> {best.expected_ale:,.0f} {cur}/yr"
            f" (ROSI {best.rosi:.2f})"
        )
        if best.simulated is not None:
            s = best.simulated
            click.echo(
                f"simulated ({best.trials:,} years, seed {best.seed}): ALE"
                f" {s.loc['current', 'ale']:,.0f} -> {s.loc['plan', 'ale']:,.0f} {cur}/yr,"
                f" VaR99 {s.loc['current', 'var99']:,.0f} -> {s.loc['plan', 'var99']:,.0f},"
                f" ES99 {s.loc['current', 'es99']:,.0f} -> {s.loc['plan', 'es99']:,.0f} {cur}"
            )
        if best.status != "optimal":
            click.echo(f"solver stopped early: bound {best.bound:,.0f}, gap {best.gap:.2%}")
        excess = (quick.expected_ale - best.expected_ale) / max(best.expected_ale, 1e-300)
        click.echo(
            f"greedy by reduction per cost would choose {', '.join(quick.members) or 'nothing'}:"
            f" expected loss {quick.expected_ale:,.0f} {cur}/yr ({excess:+.1%})"
        )


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port on 127.0.0.1 (default: a free one).",
)
@click.option("--no-browser", is_flag=True, help="Do not open the page in a browser.")
@click.option(
    "--trials",
    type=click.IntRange(min=100),
    default=20_000,
    show_default=True,
    help="Simulated years per update.",
)
def explore(site_path, port, no_browser, trials):
    """Serve the what-if explorer of SITE_PATH as a web page (Voila) on 127.0.0.1.

    The page shows the controls and figures, no code; its URL is printed. Needs the widgets
    extra (pip install 'riskkit[widgets]'). Ctrl-C stops the server.
    """
    _load(site_path)  # a broken site fails here, with its problems, not in the page
    try:
        import ipywidgets  # noqa: F401
        import voila  # noqa: F401
    except ImportError as e:
        click.echo(
            f"error: riskkit explore needs the widgets extra ({e.name} is missing):"
            " pip install 'riskkit[widgets]'",
            err=True,
        )
        sys.exit(1)
    from .app import serve

    sys.exit(
        serve(
            site_path,
            port=port,
            open_browser=not no_browser,
            trials=trials,
            echo=lambda m: click.echo(m),
        )
    )


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="riskkit")
    except MemoryError:
        # any command given more trials than the machine holds (simulate says more itself)
        click.echo("error: not enough memory for this run; use fewer --trials", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
