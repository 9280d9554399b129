"""The ``riskkit`` command. Thin: parses options, calls the library, prints.

Every command exits 0 on success, 1 when the input is wrong (a :class:`SiteError`, printed as a
list of problems, never a traceback) and 2 on usage errors.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import warnings

import click

from . import __version__
from .io import load_site
from .rules import check_trials
from .site import SiteError

__all__ = ["main", "cli"]


def _fail_site(err: SiteError, path) -> None:
    click.echo(f"{path}: {len(err.problems)} problem(s)", err=True)
    for p in err.problems:
        click.echo(f"  - {p}", err=True)
    sys.exit(1)


def _fail_memory(err: MemoryError, trials) -> None:
    """Exit 1 for a run that does not fit in memory, with the engine's reason if it gave one."""
    why = str(err) or f"not enough memory for {trials:,} trials"
    click.echo(f"error: {why}; use fewer --trials", err=True)
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


# --------------------------------------------------------------------------------------------
# Shared options: usage errors (exit 2) for values no run can use
# --------------------------------------------------------------------------------------------


def _trials_value(ctx, param, value):
    """``--trials``: a whole number >= :data:`riskkit.rules.MIN_TRIALS`, else a usage error."""
    if value is None:
        return None
    try:
        return check_trials(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _budget_value(ctx, param, value):
    """``--budget``: a finite amount >= 0 [currency], else a usage error."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise click.BadParameter(f"must be a finite amount >= 0, {value!r} was given")
    return value


def trials_option(help_text: str = "Simulated years, >= 100 [default: the site's]."):
    """The ``--trials`` option of the commands that simulate."""
    return click.option("--trials", type=int, default=None, callback=_trials_value, help=help_text)


def seed_option(help_text: str = "Random seed, >= 0 [default: the site's]."):
    """The ``--seed`` option of the commands that simulate."""
    return click.option("--seed", type=click.IntRange(min=0), default=None, help=help_text)


def budget_option(help_text: str):
    """The ``--budget`` option: a finite amount >= 0, or none."""
    return click.option(
        "--budget", type=float, default=None, callback=_budget_value, help=help_text
    )


BUDGET_KINDS = ("annualised", "capex")
"""What a budget bounds: the annualised cost [currency/yr] or the capital expenditure."""


def _deprecated_kind(ctx, param, value):
    """The old ``plan --kind``: still accepted, with a deprecation line on stderr."""
    if value is not None:
        click.echo("riskkit: --kind is deprecated; use --budget-kind", err=True)
    return value


@contextlib.contextmanager
def _quiet_numerics():
    """No numpy overflow warnings on the terminal.

    The commands check every printed number for NaN and infinity themselves and say which
    input overflowed.
    """
    import numpy as np

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


class _Group(click.Group):
    """The command group; an interrupt (Ctrl-C) ends any command with one line, exit 130."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # one line, no traceback: 128 + SIGINT, as a shell reports an interrupted command
            click.echo("riskkit: interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="riskkit")
def cli():
    """riskkit: quantitative IEC 62443 risk assessment of industrial control systems."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--checks",
    is_flag=True,
    help="Also run the zone-model checks (lint): an error finding fails the file (exit 1);"
    " warnings are shown and pass.",
)
@click.option(
    "--strict", is_flag=True, help="With --checks: warnings fail the file as well (exit 1)."
)
def validate(paths, checks, strict):
    """Check site files and print an inventory, or every problem found.

    PATHS are site.yaml files, site folders or .xlsx workbooks. Exit 0 when all are valid,
    1 otherwise. With --checks a file is valid only when the zone-model checks find no
    error (and, with --strict, no warning either); info findings never fail.
    """
    if strict and not checks:
        raise click.UsageError("--strict applies to the zone-model checks; add --checks")
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
        findings = None
        status = "OK"
        if checks:
            from .levels import model_checks

            findings = model_checks(site)
            count = findings["severity"].value_counts()
            n_err, n_warn = int(count.get("error", 0)), int(count.get("warning", 0))
            failing = n_err + (n_warn if strict else 0)
            if failing:
                failed = True
                parts = [f"{n_err} error(s)"] + ([f"{n_warn} warning(s)"] if strict else [])
                status = "FAILED CHECKS, " + ", ".join(parts) + (" (--strict)" if strict else "")
            elif n_warn:
                status = f"OK, {n_warn} warning(s)"
        inv = site.inventory()
        n_cand = len(site.candidates)
        click.echo(
            f"{path}: {status}  {site.name} ({site.currency}); "
            f"{inv['zones']} zones, {inv['conduits']} conduits, {inv['threat_actors']} actors, "
            f"{inv['scenarios']} scenarios, {inv['countermeasures']} countermeasures "
            f"({len(site.implemented)} implemented, {n_cand} candidates)"
        )
        if findings is not None:
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
    type=click.Choice(["rrf", "matrix", "capability", "minimal"]),
    default="minimal",  # riskkit.levels.DEFAULT_METHOD (rrf before model v2)
    show_default=True,
    help="How SL-T is derived.",
)
@click.option(
    "--conduit-rule",
    type=click.Choice(["zones_max", "entry"]),
    default="entry",  # riskkit.levels.DEFAULT_CONDUIT_RULE (zones_max before model v2)
    show_default=True,
    help="A conduit's SL-T: the larger of its zones, or from the scenarios entering through it.",
)
@click.option("--plan", multiple=True, help="Candidate countermeasure id added to SL-A (repeat).")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON.")
def levels(site_path, method, conduit_rule, plan, as_json):
    """Print SL-T per zone and conduit with their driving scenarios, flags and SL gaps."""
    from .levels import gaps, target_levels

    site = _load(site_path)
    try:
        t = target_levels(site, method=method, conduit_rule=conduit_rule)
        g = gaps(site, t, plan=list(plan) or None)
    except SiteError as e:  # a site value the method cannot use (e.g. the decision statistic)
        _fail_site(e, site_path)
    except (ValueError, NotImplementedError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(_json_text(_levels_json(site, t, g)))
    else:
        _print_levels(site, t, g)


def _records(df) -> list:
    """A table as a list of JSON records (NaN becomes null)."""
    return json.loads(df.to_json(orient="records"))


def _json_text(out: dict) -> str:
    """Indented JSON; a NaN or infinity anywhere is an error, never printed."""
    return json.dumps(out, indent=2, allow_nan=False)


def _levels_json(site, t, g) -> dict:
    """The ``levels --json`` document."""
    return {
        "site": site.name,
        "method": t.method,
        "statistic": t.statistic,
        "zones": json.loads(t.zones.to_json(orient="index")),
        "conduits": json.loads(t.conduits.to_json(orient="index")),
        "drivers": _records(t.drivers),
        "flags": _records(t.flags),
        "gaps": _records(g.table),
        "meets": json.loads(g.zones_meeting.to_json()),
    }


_DRIVER_LEGEND = (
    "rrf: risk reduction factor the tolerance requires; dimension: the tolerance that sets it;"
    " required: level it needs; capability: the actor's; capped: SL-T limited to it"
)


def _legend(text: str) -> None:
    """A legend line under a table, wrapped to 100 characters."""
    import textwrap

    click.echo(textwrap.fill(text, 100, subsequent_indent="  "))


def _rows(df, index: str | None = None) -> list[dict]:
    """A table's rows as mappings for :func:`riskkit.format.text_table` (index first)."""
    rows = df.to_dict("records")
    if index is None:
        return rows
    return [{index: i, **r} for i, r in zip(df.index, rows)]


def _print_levels(site, t, g) -> None:
    """The ``levels`` text: SL-T summary, drivers, review findings and the gap table."""
    from .format import text_table

    click.echo(f"{site.name}: SL-T by method {t.method!r}, statistic {t.statistic!r}\n")
    summ = t.summary.drop(columns=["scenarios"])
    click.echo(text_table(_rows(summ), list(summ.columns)))
    _legend(
        "flagged: Security PHA Review findings; top_driver: the scenario behind the highest"
        " SL-T, - where no scenario drives one"
    )
    d = t.drivers[(t.drivers["kind"] == "zone") & (t.drivers["basis"] == "scenario")]
    cols = ["id", "fr", "sl_t", "scenario", "actor", "rrf", "dimension", "required"]
    cols += ["capability", "capped"]
    if t.options.get("conduit_rule") == "entry":
        click.echo("\nDrivers (zones; a conduit's come from the scenarios entering through it):")
    else:
        click.echo("\nDrivers (zones; a conduit takes the larger of its two zones):")
    if len(d):
        click.echo(text_table(_rows(d[cols]), cols))
        _legend(_DRIVER_LEGEND)
    else:
        click.echo("  (no scenario drives an SL-T: every zone is at the floor of 1)")
    ex = t.meta.get("exceedance")
    if ex is not None and len(ex):
        click.echo("\nSite exceedance on aggregate annual loss, zones at SL-T (simulated):")
        for r in ex.itertuples():
            verdict = "holds" if r.holds else "FAILS"
            click.echo(
                f"  P(L >= {r.x:,.0f}) = {r.estimate:.4f} (SE {r.se:.4f}, {r.trials:,} years)"
                f" against {r.p:g}: {verdict}"
            )
    if len(t.flags):
        click.echo("\nSecurity PHA Review findings (an SL alone cannot reach tolerance):")
        for m in t.flags["message"]:
            click.echo(f"  - {m}")
    _print_gaps(g)


def _print_gaps(g) -> None:
    """The gap table: SL-T/SL-A per zone or conduit and FR, ``*`` where SL-T > SL-C."""
    from .format import text_table

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
    click.echo(
        f"\nGaps, SL-T/SL-A ({state}; * = SL-T above SL-C; meets: ✓ every FR at SL-T, ✗ not):"
    )
    if len(wide):
        rows = _rows(wide, "id")
        click.echo(text_table(rows, ["id", *wide.columns]))
    else:
        click.echo("  (the site has no zones or conduits)")


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@trials_option()
@seed_option()
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
@click.option(
    "--intervals/--no-intervals",
    default=True,
    show_default=True,
    help="Add 95 % confidence intervals of VaR and ES (order-statistic and plug-in normal).",
)
@click.option(
    "--precision",
    callback=lambda ctx, param, value: _precision_value(value),
    default=None,
    help="Pick the trials for this 95 % relative precision of ALE, e.g. 1%; a pilot of"
    " --trials years estimates how many.",
)
def simulate(site_path, trials, seed, state, plan, level, workers, as_json, intervals, precision):
    """Monte Carlo annual losses: ALE, VaR, expected shortfall and harm frequencies.

    \b
    Columns (money in the site's currency):
      ALE        expected annual loss, simulated [/yr]
      +-SE       its Monte Carlo standard error [/yr]
      exact ALE  expected annual loss in closed form, without sampling error [/yr]
      VaR95      loss exceeded one year in 20
      VaR99      loss exceeded one year in 100
      ES99       mean loss of the worst 1 % of years
      P(0)       share of simulated years without any loss
      safety_geK / environment_geK  events per year of harm severity class K or above
      VaR99 CI, ES99 CI  95 % confidence intervals (with --intervals)
    """  # noqa: D301  (\b is click's "do not rewrap" marker)
    import pandas as pd

    from .engine import simulate as run

    site = _load(site_path)
    ids = [p.strip() for item in plan for p in item.split(",") if p.strip()]
    try:
        with _quiet_numerics():
            if precision is not None:  # issue 14: a pilot run picks the trials
                trials = _precision_trials(site, precision, trials, seed, state, ids, workers)
            sim = run(
                site,
                trials=trials,
                seed=seed,
                state=state,
                plan=ids or None,
                workers=workers or None,
            )
            table = sim.summary(level, intervals)
            if level != "site":
                table = pd.concat([table, sim.summary("site", intervals)])
            scenarios = sim.summary("scenario")
    except SiteError as e:  # a site value the engine cannot simulate
        _fail_site(e, site_path)
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except MemoryError as e:
        _fail_memory(e, trials if trials is not None else site.model.trials)
    _simulate_notes(site, ids, sim)
    _refuse_non_finite(site_path, scenarios, table)
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
        click.echo(_json_text(out))
    else:
        _print_simulation(site, sim, table, intervals)


def _first_non_finite(table):
    """(row, column, value) of the first NaN or infinity of a table's numbers, or None."""
    import numpy as np

    values = table.select_dtypes("number")
    arr = values.to_numpy(dtype=float)
    bad = np.argwhere(~np.isfinite(arr))
    if not len(bad):
        return None
    r, c = bad[0]
    return table.index[r], values.columns[c], arr[r, c]


def _refuse_non_finite(site_path, *tables) -> None:
    """Exit 1 rather than print a NaN or infinity, naming the first row that has one.

    A scenario-level table comes first, so the message names the scenario whose values
    overflow rather than only its zone.
    """
    for table in tables:
        hit = _first_non_finite(table)
        if hit is not None:
            row, col, value = hit
            click.echo(
                f"error: {site_path}: {row}: {col} is {value}: the site's values overflow in"
                " the model; check its largest amounts, rates and recovery constants",
                err=True,
            )
            sys.exit(1)


def _simulate_notes(site, ids, sim) -> None:
    """Notes on stderr: plan members already implemented, alternatives simulated together."""
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


def _print_simulation(site, sim, table, intervals: bool = False) -> None:
    """The ``simulate`` text: money measures per row, a legend, then harm frequencies."""
    from .format import money_text, number, text_table

    plan_txt = f" {list(sim.state.plan)}" if sim.state.plan else ""
    click.echo(
        f"{site.name}: {sim.state.name}{plan_txt} state, {sim.trials} trials, seed {sim.seed}"
        f" [{sim.currency}, per year]\n"
    )
    money = {
        "ale": "ALE",
        "ale_se": "+-SE",
        "expected_ale": "exact ALE",
        "var95": "VaR95",
        "var99": "VaR99",
        "es99": "ES99",
    }
    key = table.index.name or "id"
    rows = [{key: i, **r} for i, r in zip(table.index, table.to_dict("records"))]
    heads = {key: "", **money, "p_zero": "P(0)"}
    fmt = {c: money_text for c in money}
    fmt["p_zero"] = "{:.3f}".format
    cols = [key, *money, "p_zero"]
    if intervals:  # the 95 % intervals of VaR99 and ES99, as "low - high"
        for m, head in (("var99", "VaR99 95% CI"), ("es99", "ES99 95% CI")):
            for r in rows:
                r[f"{m}_ci"] = f"{money_text(r[f'{m}_lo'])} - {money_text(r[f'{m}_hi'])}"
            heads[f"{m}_ci"] = head
            cols.append(f"{m}_ci")
    click.echo(text_table(rows, cols, heads, fmt))
    _legend(
        "ALE: simulated, +-SE its Monte Carlo error; exact ALE: closed form, no sampling"
        " error; VaR95/VaR99: loss exceeded 1 year in 20/100; ES99: mean of the worst 1 %"
        " of years; P(0): share of years without loss"
        + (
            f"; CI: 95 % confidence interval from the {sim.trials:,} simulated years"
            " (VaR: order statistics; ES: normal, plug-in variance)"
            if intervals
            else ""
        )
    )
    harm = table.filter(regex="^(safety|environment)_ge")
    harm = harm.loc[:, (harm != 0).any()]
    if harm.shape[1]:
        click.echo("\nHarm: events per year of severity class >= k")
        hrows = [{key: i, **r} for i, r in zip(harm.index, harm.to_dict("records"))]
        click.echo(
            text_table(hrows, [key, *harm.columns], {key: ""}, dict.fromkeys(harm.columns, number))
        )


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
                f"assessing {info.get('input', p['site'])} -> {info['out']}\n"
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


def safety_first_option(fn):
    """``--safety-first/--no-safety-first``: harm tolerances before money (issue 10)."""
    return click.option(
        "--safety-first/--no-safety-first",
        "safety_first",
        default=True,  # off before model v2
        show_default=True,
        help="Harm first: the plan meets every harm tolerance that some plan can meet "
        "whenever the budget allows, then the least expected loss; otherwise the output "
        "says so first, with the least budget that would.",
    )(fn)


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Output folder; must not exist. Default reports/<site>/<date>-<input hash>/.",
)
@trials_option("Monte Carlo trials, >= 100 (default: the site's model.trials).")
@seed_option("Seed (default: the site's model.seed).")
@budget_option(
    "Budget of the recommended plan [currency/yr]; default: the plan with the "
    "least total cost of risk."
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
    "--allow-other-site",
    is_flag=True,
    help="Accept a --previous run of a different site (zones are then matched by id).",
)
@click.option(
    "--fast", is_flag=True, help="Quick look: 2000 trials unless given, 10 frontier budgets."
)
@click.option(
    "--close-gaps",
    is_flag=True,
    help="The recommended plan must close every SL gap that a candidate can close.",
)
@click.option(
    "--meet-tolerance",
    is_flag=True,
    help="The recommended plan must bring every zone's expected loss and every scenario's "
    "harm frequency within tolerance.",
)
@click.option(
    "--pdf",
    is_flag=True,
    help="Also write summary.pdf, the management summary on A4 (needs headless Chromium).",
)
@safety_first_option
def assess(
    site_path,
    out,
    trials,
    seed,
    budget,
    budget_kind,
    previous,
    allow_other_site,
    fast,
    close_gaps,
    meet_tolerance,
    pdf,
    safety_first,
):
    """Run the full IEC 62443-3-2 assessment of SITE_PATH into a fresh report folder.

    Executes the five notebooks (system, risk, target levels, countermeasures, management
    summary) and writes HTML reports, executed notebooks, summary.json, tables.xlsx and
    Parquet tables. Exit 0 on success; 1 for an invalid site or a failing notebook (the
    partial run is kept in a -FAILED- folder).
    """
    from .report.printing import ChromiumMissing
    from .report.run import (
        AssessError,
        AssessInterrupted,
        OutputError,
        Terminated,
        sigterm_as_interrupt,
    )
    from .report.run import assess as run_assessment

    if previous is not None and not allow_other_site:
        _refuse_other_site(site_path, previous)
    progress = _AssessProgress()
    try:
        # SIGTERM stops the run like Ctrl-C: the partial folder is tidied, one line printed
        with sigterm_as_interrupt():
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
                pdf=pdf,
                constraints=[
                    c
                    for c, on in (("close_gaps", close_gaps), ("meet_tolerance", meet_tolerance))
                    if on
                ],
                safety_first=safety_first,
            )
    except SiteError as e:
        progress.close()
        _fail_site(e, site_path)
    except AssessInterrupted as e:
        progress.close()
        click.echo(f"riskkit: {e.describe()}", err=True)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt as e:  # before any folder existed
        progress.close()
        click.echo("riskkit: interrupted; nothing was written", err=True)
        sys.exit(143 if isinstance(e, Terminated) else 130)
    except AssessError as e:
        progress.close()
        click.echo(f"error: {e.describe()}", err=True)
        sys.exit(1)
    except (FileExistsError, FileNotFoundError, ValueError, OutputError, ChromiumMissing) as e:
        progress.close()
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    s = result.summary
    cur = s["currency"]
    ale = s["site"]["ale"]
    plan = s["plan"]
    click.echo(f"wrote {result.out}")
    if plan.get("expected_ale") is not None and plan.get("expected_ale_current") is not None:
        click.echo(
            f"  expected annual loss (exact): current {plan['expected_ale_current']:,.0f},"
            f" with plan {plan['expected_ale']:,.0f} {cur}/yr"
        )
    click.echo(
        f"  simulated annual loss ({s['provenance']['trials']:,} years): unmitigated"
        f" {ale['unmitigated']:,.0f}, current {ale['current']:,.0f},"
        f" with plan {ale['plan']:,.0f} {cur}/yr"
    )
    members = ", ".join(m["id"] for m in plan["members"]) or "none"
    click.echo(f"  plan: {members} ({plan['annualised_cost']:,.0f} {cur}/yr)")
    if plan.get("safety", {}).get("sentence"):
        click.echo(f"  safety first: {plan['safety']['sentence']}")
    click.echo(f"  open {result.out / 'index.html'}")
    if pdf:
        click.echo(f"  printed {result.out / 'summary.pdf'}")


def _refuse_other_site(site_path, previous) -> None:
    """Exit 1 when ``previous`` is an assessment of another site than ``site_path``.

    Both site ids are named. A site that does not load, or a previous ``summary.json`` that
    is missing or does not conform to its schema, is left to the run, which reports it in its
    own words.
    """
    from .report.run import read_previous

    try:
        site_id = load_site(site_path).site.slug
        _, prev = read_previous(previous)  # checked against its schema first
    except (SiteError, OSError, ValueError):
        return
    prov = prev.get("provenance") if isinstance(prev.get("provenance"), dict) else {}
    prev_id = prov.get("site_id")
    if isinstance(prev_id, str) and prev_id != site_id:
        click.echo(
            f"error: --previous {previous} is an assessment of site {prev_id!r}, not of"
            f" {site_id!r} ({site_path}); comparing zones of two plants by id would be"
            " misleading. Give --allow-other-site to compare anyway.",
            err=True,
        )
        sys.exit(1)


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@budget_option("Budget; none = no limit.")
@click.option(
    "--budget-kind",
    "budget_kind",
    type=click.Choice(BUDGET_KINDS),
    default="annualised",
    show_default=True,
    help="What the budget bounds: annualised cost [/yr] or capex.",
)
@click.option(
    "--kind",
    "old_kind",
    type=click.Choice(BUDGET_KINDS),
    default=None,
    hidden=True,
    callback=_deprecated_kind,
    help="Deprecated spelling of --budget-kind.",
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
@click.option(
    "--time-limit",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds for the optimiser; when it stops the search, the plan states its gap.",
)
@click.option("--no-time-limit", is_flag=True, help="Search until the plan is proven optimal.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show the search (best plan, bound, gap) on stderr; default: when it is a terminal.",
)
@trials_option()
@seed_option()
@click.option(
    "--top", type=click.IntRange(min=0), default=15, show_default=True, help="Ranking rows shown."
)
@safety_first_option
def plan(
    site_path,
    budget,
    budget_kind,
    old_kind,
    constraints,
    method,
    time_limit,
    no_time_limit,
    progress,
    trials,
    seed,
    top,
    safety_first,
):
    """Rank the candidate countermeasures and print the optimal plan within a budget."""
    from .portfolio import InfeasiblePlan

    budget_kind = old_kind or budget_kind
    site = _load(site_path)
    if progress is None:
        progress = _stderr_is_terminal()
    report = (lambda r: click.echo(r.text(site.currency), err=True)) if progress else None
    try:
        with _quiet_numerics():
            ranking, best, quick = _plan_results(
                site,
                budget,
                budget_kind,
                constraints,
                method,
                None if no_time_limit else time_limit,
                trials,
                seed,
                safety_first,
                report,
            )
    except InfeasiblePlan as e:
        click.echo(f"no plan: {e}", err=True)
        sys.exit(1)
    except SiteError as e:  # a site value the engine cannot simulate
        _fail_site(e, site_path)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    except MemoryError as e:
        _fail_memory(e, trials if trials is not None else site.model.trials)
    if best.simulated is not None:
        _refuse_non_finite(site_path, best.simulated)
    _print_ranking(site, ranking, top)
    _print_plan(site, best, quick, budget_kind)


def _stderr_is_terminal() -> bool:
    """Whether stderr is an interactive terminal (where the progress display goes)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _plan_results(
    site,
    budget,
    budget_kind,
    constraints,
    method,
    time_limit,
    trials,
    seed,
    safety_first=False,
    progress=None,
):
    """The ranking, the optimal plan (simulated) and the greedy plan that ``plan`` prints."""
    from .portfolio import Problem, greedy, optimize, prioritize

    problem = Problem(site)  # built once, shared by the three calls (issue 16)
    ranking = prioritize(site, trials=trials, seed=seed, budget_kind=budget_kind, problem=problem)
    best = optimize(
        site,
        budget,
        budget_kind,
        constraints,
        method=method,
        time_limit=time_limit,
        progress=progress,
        simulate=True,  # the printed plan shows its simulated ALE, VaR99 and ES99
        trials=trials,
        seed=seed,
        safety_first=safety_first,
        problem=problem,
    )
    quick = greedy(site, budget, budget_kind, constraints, compare_optimum=False, problem=problem)
    return ranking, best, quick


def _money(v: float, fmt: str = ",.0f") -> str:
    """A number for the plan text; ``-`` where it is not finite (never NaN or inf)."""
    return format(v, fmt) if math.isfinite(v) else "-"


def _finite(fmt: str):
    """A table's float format that shows ``-`` for a value that is not finite."""
    return lambda v: _money(v, fmt)


def _print_ranking(site, ranking, top: int) -> None:
    """The candidates by risk reduction per cost, or a sentence where there are none."""
    from .format import money_text, number, text_table

    cur = site.currency
    r = ranking.summary
    cols = {
        "rank": "#",
        "countermeasure": "id",
        "annualised_cost": f"cost {cur}/yr",
        "delta_ale": f"dALE {cur}/yr",
        "reduction_per_cost": "dALE/cost",
        "rosi": "ROSI",
        "delta_var99": f"dVaR99 {cur}",
        "sl_gaps_closed": "gaps",
    }
    click.echo(
        f"{site.name}: candidates by risk reduction per cost (each on its own, added to today)"
    )
    if not len(r):
        click.echo("  (the site has no candidate countermeasures to rank)")
        return
    shown = [c for c in cols if c in r.columns]
    fmt = {c: money_text for c in ("annualised_cost", "delta_ale", "delta_var99")}
    fmt.update(reduction_per_cost=number, rosi="{:.2f}".format)
    click.echo(text_table(_rows(r[shown].head(top)), shown, cols, fmt))
    more = f"; {len(r) - top} more not shown (--top)" if len(r) > top else ""
    _legend(
        "dALE: reduction of expected annual loss; ROSI: (dALE - cost) / cost; dVaR99:"
        f" reduction of the 1-in-100-year loss; gaps: SL gaps it closes{more}"
    )


def _print_plan(site, best, quick, budget_kind: str) -> None:
    """The recommended plan, its cost and losses, and what greedy would choose."""
    from .format import money_text, text_table

    cur = site.currency
    unit = f"{cur}/yr" if budget_kind == "annualised" else cur
    b = "no budget" if best.budget is None else f"budget {best.budget:,.0f} {unit}"
    click.echo(f"\nRecommended plan ({b}, {budget_kind}): {best.status}, {best.method}")
    if best.safety is not None:
        _print_safety(best.safety, cur, unit)
    if best.members:
        m = best.summary
        heads = {
            "countermeasure": "id",
            "name": "name",
            "annualised_cost": f"cost {cur}/yr",
            "capex": f"capex {cur}",
            "shapley": f"share of dALE {cur}/yr",
        }
        fmt = dict.fromkeys(("annualised_cost", "capex", "shapley"), money_text)
        click.echo(text_table(_rows(m, "countermeasure"), list(heads), heads, fmt, {"name": 44}))
    else:
        click.echo("  (no candidate: nothing fits or nothing helps)")
    rosi = f"ROSI {best.rosi:.2f}" if best.rosi is not None else best.rosi_note
    click.echo(
        f"cost {best.annualised_cost:,.0f} {cur}/yr ({best.capex:,.0f} {cur} capex);"
        f" expected loss {best.baseline_ale:,.0f} -> {best.expected_ale:,.0f} {cur}/yr"
        f" ({rosi})"
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
        if math.isfinite(best.bound) and math.isfinite(best.gap):
            click.echo(
                f"solver stopped early: bound {_money(best.bound)}, gap {_money(best.gap, '.2%')}"
                f" ({best.optimality})"
            )
        else:
            click.echo("solver stopped early, before it had a bound: optimality is not proven")
    excess = (quick.expected_ale - best.expected_ale) / max(best.expected_ale, 1e-300)
    harm_first = best.safety is not None and "harm_frequency" in best.constraints
    click.echo(
        f"greedy by reduction per cost would choose {', '.join(quick.members) or 'nothing'}:"
        f" expected loss {quick.expected_ale:,.0f} {cur}/yr ({excess:+.1%})"
        + (", ignoring the harm tolerances" if harm_first else "")
    )
    why = negative_return_warning(site, best)
    if why:
        click.echo(why, err=True)


def _print_safety(s, cur: str, unit: str) -> None:
    """The plan against the harm tolerances under safety first (:class:`SafetyFirst`)."""
    import textwrap

    from .format import number

    least = f"{s.least_budget:,.0f} {unit}" if math.isfinite(s.least_budget) else None
    if s.met:
        text = (
            f"safety first: the plan meets every harm tolerance that a candidate can meet"
            f" ({len(s.constrained)} scenarios; least sufficient budget {least or '-'})"
        )
    elif least is not None:
        over = ", ".join(r["scenario"] for r in s.breaches if r["meetable"])
        text = (
            f"safety first: no plan within the budget meets every harm tolerance; the least"
            f" budget that would is {least} ({', '.join(s.least_plan) or 'no measure'})."
            f" This plan is the best for expected loss within the budget and leaves {over}"
            " above tolerance"
        )
    elif not s.least_exact:  # the search ran out of time before finding one
        over = ", ".join(r["scenario"] for r in s.breaches if r["meetable"])
        text = (
            "safety first: the time limit ran out before a plan meeting every harm tolerance"
            f" was found (raise --time-limit); this plan leaves {over} above tolerance"
        )
    else:
        over = ", ".join(r["scenario"] for r in s.breaches if r["meetable"])
        text = (
            "safety first: no plan meets every harm tolerance together (exclusive groups or"
            f" other constraints in the way); this plan leaves {over} above tolerance"
        )
    if s.unmeetable:
        text += (
            f"; no candidate brings {', '.join(s.unmeetable)} within tolerance (a safeguard"
            " or consequence reduction not yet in the site file is needed)"
        )
    click.echo(textwrap.fill(text, 100, subsequent_indent="  "))
    if s.breaches:
        for r in s.breaches:
            click.echo(
                f"  {r['scenario']} {r['category']} severity {r['severity']}:"
                f" {number(r['frequency'])}/yr, tolerable {number(r['tolerable'])}/yr"
                + ("" if r["meetable"] else " (no candidate meets it)")
            )


def negative_return_warning(site, best) -> str | None:
    """Why a plan removes less expected loss than it costs, or None where it does not.

    Names the plan's mandatory members with their annualised cost and their Shapley share of
    the reduction [currency/yr]; without one, the members whose share is below their cost.

    Parameters
    ----------
    site : Site
    best : riskkit.portfolio.Plan

    Returns
    -------
    str or None
        A ``warning:`` line (wrapped), or None where the plan's return is not negative.
    """
    import textwrap

    if not best.members:
        return None
    cur = site.currency
    reduction = best.baseline_ale - best.expected_ale
    net = reduction - best.annualised_cost
    if not (net < 0):
        return None
    m = best.summary
    text = (
        f"warning: the plan's return is negative: it costs {best.annualised_cost:,.0f} {cur}/yr"
        f" and removes {reduction:,.0f} {cur}/yr of expected loss, a net cost of"
        f" {-net:,.0f} {cur}/yr."
    )

    def part(cid) -> str:
        return (
            f"{cid} ({site.countermeasure(cid).name}; cost {m.loc[cid, 'annualised_cost']:,.0f}"
            f" {cur}/yr, removes {m.loc[cid, 'shapley']:,.0f})"
        )

    mandatory = [cid for cid in best.members if site.countermeasure(cid).mandatory]
    losing = [cid for cid in best.members if m.loc[cid, "shapley"] < m.loc[cid, "annualised_cost"]]
    if mandatory:
        text += (
            " Cause: the mandatory measure"
            + ("s " if len(mandatory) > 1 else " ")
            + "; ".join(part(c) for c in mandatory)
            + ", which every plan must hold whatever its return (the site file marks it"
            " mandatory)."
        )
        others = [c for c in losing if c not in mandatory]
    else:
        text += " No member is mandatory; the budget buys reduction beyond where it pays."
        others = losing
    if others:
        text += " Members removing less than they cost: " + "; ".join(map(part, others)) + "."
    return textwrap.fill(text, 100, subsequent_indent="  ")


@cli.command()
@click.argument("paths", metavar="SITE_OR_FOLDER...", nargs=-1, required=True, type=click.Path())
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="reports",
    show_default=True,
    help="Batch folder: <out>/<site id>/<date>-<input hash>/ per run, manifest.json/.csv.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Sites run at once on this machine [default: the number of CPUs].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run on this Dask cluster (tcp://host:port) instead of local processes.",
)
@trials_option("Monte Carlo trials, >= 100 (default: each site's model.trials).")
@seed_option("Seed (default: each site's).")
@click.option("--fast", is_flag=True, help="As assess --fast.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds per site; a site over it is killed (kernel included) and failed.",
)
@click.option("--force", is_flag=True, help="Rerun sites that already have a complete run.")
def batch(paths, out, workers, scheduler, trials, seed, fast, timeout, force):
    """Assess many sites, each as assess does, on local processes or a Dask cluster.

    Each SITE_OR_FOLDER is a site file, a site folder or a folder of sites. A site with a
    complete run of the same input, seed, trials and riskkit version in OUT is skipped
    unless --force. Writes OUT/manifest.json and manifest.csv. Exit 0 when no site failed,
    1 otherwise (the failed sites are named).
    """
    from .batch import BatchError, run_batch
    from .batch.progress import BatchProgress

    try:
        with BatchProgress() as progress:
            result = run_batch(
                paths,
                out,
                workers=workers,
                scheduler=scheduler,
                trials=trials,
                seed=seed,
                fast=fast,
                timeout=timeout,
                force=force,
                progress=progress,
            )
    except BatchError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    counts = {s: len(result.by_status(s)) for s in ("ok", "skipped", "failed")}
    click.echo(
        f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed;"
        f" manifest {result.manifest}"
    )
    if result.interrupted:
        click.echo("the batch was interrupted; run it again to resume", err=True)
    if result.failed:
        click.echo("failed: " + ", ".join(r["site_id"] for r in result.failed), err=True)
        sys.exit(1)


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


# --- issue 14: sensitivity, robustness and value of information --------------------------


def _precision_value(value):
    """``--precision`` as a fraction: ``1%`` or ``0.01`` -> 0.01; None when not given."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        p = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.BadParameter(
            f"give a percentage such as 1% or 0.01, {value!r} was given"
        ) from None
    if not 0 < p < 1:
        raise click.BadParameter(f"must be between 0 and 100 %, {value!r} was given")
    return p


def _precision_trials(site, precision, trials, seed, state, ids, workers) -> int:
    """Trials for a 95 % half-width of ALE of ``precision`` x ALE, from a pilot simulation.

    The pilot has ``trials`` years (default the site's); the note goes to stderr.
    """
    from .engine import simulate as run
    from .sensitivity import trials_for_precision

    pilot = run(site, trials=trials, seed=seed, state=state, plan=ids or None, workers=1)
    x = pilot.losses("site")["site"].to_numpy()
    n = max(trials_for_precision(x, precision), pilot.trials)
    click.echo(
        f"note: precision {precision:.2%} of ALE (95 %) needs {n:,} trials"
        f" (estimated from a pilot of {pilot.trials:,})",
        err=True,
    )
    return n


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@click.option(
    "--draws",
    type=click.IntRange(min=100),
    default=4000,
    show_default=True,
    help="Parameter draws θ for EVPI, robustness and global indices.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the parameter draws [default: the site's].",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Rows of the tornado and EVPPI tables.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def sensitivity(site_path, draws, seed, top, as_json):
    """Which estimates matter: tornado, EVPI / EVPPI and fragile SL-T entries of SITE_PATH."""
    from .sensitivity import evpi, recommended_plan, sl_robustness, tornado

    site = _load(site_path)
    try:
        with _quiet_numerics():
            plan = recommended_plan(site)
            tor = tornado(site, plan=plan, seed=seed)
            voi = evpi(site, draws=draws, seed=seed)
            rob = sl_robustness(site, draws=draws, seed=seed)
    except SiteError as e:
        _fail_site(e, site_path)
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    fragile = rob[rob["fragile"]]
    if as_json:
        out = {
            "site": site.name,
            "currency": site.site.currency,
            "plan": list(plan),
            "base_ale": tor.attrs["base_ale"],
            "tornado": _records(tor.head(top).reset_index()),
            "value_of_information": voi.to_dict(),
            "fragile_sl_t": _records(fragile),
        }
        click.echo(_json_text(out))
        return
    cur = site.site.currency
    click.echo(f"Sensitivity of {site.name}: site ALE {tor.attrs['base_ale']:,.0f} {cur}/yr")
    click.echo(f"Recommended plan: {', '.join(plan) or 'none'}")
    click.echo("")
    click.echo(f"Tornado (P10 -> P90 of each input, {cur}/yr):")
    for key, r in tor.head(top).iterrows():
        click.echo(
            f"  {key:<32} ALE {r['low']:>14,.0f} .. {r['high']:>14,.0f}  swing {r['swing']:>13,.0f}"
            f"  plan NB swing {r['nb_swing']:>13,.0f}"
        )
    click.echo("")
    click.echo(
        f"EVPI: {voi.evpi:,.0f} {cur}/yr (se {voi.se:,.0f}, {voi.draws:,} draws,"
        f" {len(voi.plans)} plans incl. doing nothing)"
    )
    for key, r in voi.evppi.head(top).iterrows():
        if r["evppi"] > 0:
            click.echo(f"  EVPPI {key:<32} {r['evppi']:>12,.0f} (se {r['se']:,.0f})")
    click.echo("")
    if len(fragile):
        click.echo("Fragile SL-T entries (P(one level off) >= 20 %):")
        for r in fragile.itertuples():
            click.echo(
                f"  {r.kind:<7} {r.id:<18} {r.fr} SL-T {r.sl_t}: lower {r.p_lower:.0%},"
                f" higher {r.p_higher:.0%} (driver {r.driver or '-'})"
            )
    else:
        click.echo("No fragile SL-T entries.")


def main() -> None:
    """Console-script entry point.

    Ctrl-C inside a command is handled by the group (:class:`_Group`: one line, exit 130).
    """
    try:
        cli(prog_name="riskkit")
    except MemoryError:
        # any command given more trials than the machine holds (simulate says more itself)
        click.echo("error: not enough memory for this run; use fewer --trials", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
