"""Views and sentences the notebooks display: tables, Markdown, styled frames."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import __version__, escape
from ..rules import HARM_LABELS, annualised_cost, harm_at_least
from ..site import FRS, Site
from .common import _vec_text, read_summary
from .format import styled

if TYPE_CHECKING:
    from .assessment import Assessment


def setup_notebook() -> None:
    """Display settings of the report notebooks.

    Plotly figures are emitted both as the plotly mimetype (for JupyterLab) and as HTML with
    plotly.js inlined once per notebook (``plotly_mimetype+notebook``), so they stay
    interactive in the HTML exported without code cells and with no network access.
    """
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype+notebook"
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)


def start(site, *parameters, **options) -> Assessment:
    """The setup of every report notebook, in one call after its parameters cell.

    Applies :func:`setup_notebook`, builds the run's :class:`Assessment` through
    :meth:`Assessment.from_parameters` (parameters as papermill injected them) and displays
    the provenance line (:func:`provenance_markdown`).

    Parameters
    ----------
    site : str or path
        Site file, folder or workbook.
    *parameters, **options
        The rest of :meth:`Assessment.from_parameters`, in its order: ``trials`` [years],
        ``seed``, ``budget`` [currency or currency/yr], ``budget_kind``, ``fast``, ``out``
        (the run's output folder, through which the notebooks share results),
        ``constraints``; and the keyword ``safety_first``.

    Returns
    -------
    Assessment
    """
    from IPython.display import HTML, Markdown, display

    from .assessment import Assessment

    setup_notebook()
    A = Assessment.from_parameters(site, *parameters, **options)
    if A.fast:
        display(HTML(quick_look_banner(A)))
    display(Markdown(provenance_markdown(A)))
    return A


def quick_look_banner(A: Assessment) -> str:
    """The banner of a quick-look run: trials and how far its figures may move [%].

    The spread is two Monte Carlo standard errors of today's simulated site expected annual
    loss, relative to it (:func:`riskkit.report.printing.quick_look_error`).
    """
    from .printing import quick_look_error, quick_look_html

    row = _site_row(A, "current")
    return quick_look_html(A.trials, quick_look_error(row["ale"], row["ale_se"]))


def _dist_text(spec) -> str:
    """A distribution spec in a few characters: 0.5, pert(0.2, 0.5, 0.9), lognormal90[1, 6]."""
    if spec is None:
        return ""
    d = spec.model_dump()
    kind = d.pop("dist", "")
    cap = d.pop("cap", None)
    capped = "" if cap is None else f" capped at {cap:g}"
    if kind == "constant":
        return f"{d['value']:g}"
    if kind == "lognormal":
        return f"lognormal{round(100 * d.get('ci', 0.9))}%[{d['low']:g}, {d['high']:g}]" + capped
    if kind in ("pert", "triangular"):
        return f"{kind}({d['low']:g}, {d['mode']:g}, {d['high']:g})" + capped
    vals = ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in d.values())
    return f"{kind}({vals})" + capped


def provenance_markdown(A: Assessment) -> str:
    """A short Markdown paragraph: site, input hash, trials, seed, budget, version, run date."""
    s, md = A.site, escape.markdown
    run = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    budget = (
        f"{A.budget_given:,.0f} {md(s.currency)} ({md(A.budget_kind)})"
        if A.budget_given is not None
        else "not given: the plan with the least total cost of risk"
    )
    source = md(Path(s.source or "").name)
    return (
        f"**{md(s.name)}** ({md(s.currency)}); assessed {md(s.site.assessed or 'n/a')}. "
        f"Input <code>{source}</code>, SHA-256 `{md((s.source_hash or '')[:12])}`; "
        f"{A.trials:,} simulated years, seed {A.seed}; budget {budget}; "
        f"riskkit {__version__}; run {run}."
    )


def inventory_table(site: Site) -> pd.DataFrame:
    """Counts of every record kind of the site."""
    inv = site.inventory()
    inv["implemented countermeasures"] = len(site.implemented)
    inv["candidate countermeasures"] = len(site.candidates)
    return pd.DataFrame({"count": inv}).rename_axis("records")


def zones_table(site: Site) -> pd.DataFrame:
    """Zones: kind, Purdue level, SL-C, SL-A, scenarios, assets."""
    rows = [
        {
            "zone": z.id,
            "name": z.name,
            "kind": z.kind,
            "purdue_level": z.purdue_level,
            "sl_c": _vec_text(z.sl_c),
            "sl_a": _vec_text(z.sl_a),
            "scenarios": len(site.scenarios_in(z.id)),
            "assets": ", ".join(z.assets),
        }
        for z in site.zones
    ]
    return pd.DataFrame(rows).set_index("zone")


def conduits_table(site: Site) -> pd.DataFrame:
    """Conduits: the zones they join, protocols, SL-C, SL-A."""
    rows = [
        {
            "conduit": c.id,
            "name": c.name,
            "zones": " - ".join(c.zones),
            "protocols": ", ".join(c.protocols),
            "sl_c": _vec_text(c.sl_c),
            "sl_a": _vec_text(c.sl_a),
            "entry_of": ", ".join(s.id for s in site.scenarios if s.entry == c.id),
        }
        for c in site.conduits
    ]
    cols = ["conduit", "name", "zones", "protocols", "sl_c", "sl_a", "entry_of"]
    return pd.DataFrame(rows, columns=cols).set_index("conduit")


def actors_table(site: Site) -> pd.DataFrame:
    """Threat actors: capability, attempt rate [1/yr] and its mean, scenarios."""
    rows = [
        {
            "actor": a.id,
            "name": a.name,
            "capability": a.capability,
            "attempt_rate": _dist_text(a.attempt_rate),
            "mean_attempts_per_yr": a.attempt_rate.mean(),
            "scenarios": sum(s.actor == a.id for s in site.scenarios),
        }
        for a in site.threat_actors
    ]
    cols = ["actor", "name", "capability", "attempt_rate", "mean_attempts_per_yr", "scenarios"]
    return pd.DataFrame(rows, columns=cols).set_index("actor")


def scenarios_table(site: Site) -> pd.DataFrame:
    """Scenarios as the site file states them: zone, actor, entry, FRs, rate, consequences."""
    rows = []
    for s in site.scenarios:
        c = s.consequences
        money = []
        for cat, spec in c.money().items():
            if cat == "production":
                money.append(
                    f"production {_dist_text(spec.hours)} h x {_dist_text(spec.cost_per_hour)}"
                )
            else:
                money.append(f"{cat} {_dist_text(spec)}")
        harm = [f"{h} {v.severity} (p={v.probability:g})" for h, v in c.harms().items()]
        rows.append(
            {
                "scenario": s.id,
                "name": s.name,
                "zone": s.zone,
                "actor": s.actor,
                "entry": s.entry or "",
                "frs": ", ".join(s.frs),
                "rate": f"share {s.rate_share:g}" if s.rate is None else _dist_text(s.rate),
                "vulnerability": _dist_text(s.vulnerability),
                "money": "; ".join(money),
                "harm": "; ".join(harm),
            }
        )
    return pd.DataFrame(rows).set_index("scenario") if rows else pd.DataFrame()


def countermeasures_table(site: Site) -> pd.DataFrame:
    """Countermeasures: status, cost, annualised cost, group, effects in words."""
    rows = []
    for cm in site.countermeasures:
        effects = []
        for e in cm.effects:
            if e.type == "security_level":
                tgt = ", ".join([*e.zones, *e.conduits])
                lv = " ".join(f"{k}:{v}" for k, v in e.levels.items())
                effects.append(f"SL {lv} on {tgt}")
            else:
                tgt = ", ".join([*e.scenarios, *e.zones])
                what = "frequency" if e.type == "frequency" else e.category
                effects.append(f"-{_dist_text(e.reduction)} {what} of {tgt}")
        rows.append(
            {
                "countermeasure": cm.id,
                "name": cm.name,
                "status": cm.status,
                "capex": cm.cost.capex,
                "opex": cm.cost.opex,
                "lifetime_years": cm.cost.lifetime_years,
                "annualised_cost": annualised_cost(site, cm.id),
                "group": cm.exclusive_group or "",
                "mandatory": cm.mandatory,
                "effects": "; ".join(effects),
            }
        )
    return pd.DataFrame(rows).set_index("countermeasure") if rows else pd.DataFrame()


def checks_markdown(checks: pd.DataFrame) -> str:
    """One sentence counting the model-check findings by severity."""
    if checks is None or checks.empty:
        return "The zone model passes every check."
    counts = checks["severity"].value_counts()
    parts = [
        f"{counts[k]} {escape.markdown(k)}{'s' if counts[k] != 1 else ''}" for k in counts.index
    ]
    return "Model checks: " + ", ".join(parts) + "."


_RISK_COLS = ["ale", "ale_se", "var95", "var99", "es99", "p_zero", "expected_ale"]


_CI_COLS = ["var99_lo", "var99_hi", "es99_lo", "es99_hi"]


def risk_table(
    A: Assessment,
    level: str = "zone",
    states: Iterable[str] | None = None,
    intervals: bool = True,
):
    """Styled risk measures per state and zone (or site): ALE, its SE, VaR, ES, P(no loss).

    With ``intervals``, the 95 % confidence intervals of VaR99 and ES99 as four more columns
    (:meth:`riskkit.engine.Simulation.summary`). The caption says how many simulated years
    are behind the table.
    """
    df = A.risk(level, states)
    key = {"zone": "zone", "site": "site", "scenario": "scenario"}[level]
    cols = list(_RISK_COLS)
    if intervals:
        ci = [
            A.simulation(st).summary(level, intervals=True)[_CI_COLS].reset_index().assign(state=st)
            for st in dict.fromkeys(df["state"])
        ]
        df = df.merge(pd.concat(ci), on=["state", key], how="left")
        cols += _CI_COLS
    df = df.set_index(["state", key])[cols]
    return styled(df, currency=A.site.currency).set_caption(trials_caption(A))


def trials_caption(A: Assessment) -> str:
    """Under a simulated table or figure: the simulated years and seed behind it."""
    return f"Monte Carlo: {A.trials:,} simulated years, seed {A.seed}."


def tolerance_markdown(tol: pd.DataFrame) -> str:
    """How many tolerance checks each state fails, in one sentence per state."""
    lines = []
    for st, g in tol.groupby("state", sort=False):
        bad = g[~g["within"]]
        st = escape.markdown(st)
        if bad.empty:
            lines.append(f"- **{st}**: within every tolerance ({len(g)} checks).")
        else:
            kinds = set(bad["tolerance"].astype(str).str.replace(r" >= \d.*", "", regex=True))
            what = ", ".join(escape.markdown(k) for k in sorted(kinds))
            lines.append(f"- **{st}**: {len(bad)} of {len(g)} checks exceed tolerance ({what}).")
    return "\n".join(lines) or "The site states no tolerance."


def register_view(reg: pd.DataFrame, top: int | None = None, currency: str | None = None):
    """The risk register, styled for reading (the full table is in the workbook)."""
    df = reg if top is None else reg.head(top)
    return styled(df, currency=currency)


def level_frames(A: Assessment, state: str = "current") -> tuple[pd.DataFrame, pd.DataFrame]:
    """SL-T and SL-A of every zone and conduit (ids x FR1..FR7) in a state, for the diagram."""
    tab = A.gaps(state).table
    frs = list(FRS)
    t = tab.pivot_table(index="id", columns="fr", values="sl_t", sort=False)[frs]
    a = tab.pivot_table(index="id", columns="fr", values="sl_a", sort=False)[frs]
    return t.astype(int), a.astype(int)


def levels_markdown(A: Assessment) -> str:
    """The SL-T method, statistic and the counts of zones meeting their targets."""
    T = A.targets
    g = A.gaps("current").summary
    z = g[g["kind"] == "zone"]
    c = g[g["kind"] == "conduit"]
    return (
        f"Method **{escape.markdown(T.method)}**, decision statistic"
        f" **{escape.markdown(T.statistic)}**, r = {T.r:g} "
        f"(each level divides the attack rate by {T.r:g}, up to the actor's capability). "
        f"Today {int(z['meets'].sum())} of {len(z)} zones and {int(c['meets'].sum())} of "
        f"{len(c)} conduits meet their SL-T in every FR; {len(T.flags)} scenario(s) are "
        "flagged for the Security PHA Review."
    )


def methods_view(A: Assessment) -> pd.DataFrame:
    """SL-T vectors (FR1..FR7) of every zone and conduit, one column per SL-T method.

    ``n/a`` where the site lacks a method's inputs (``matrix`` without a ``risk_matrix``);
    ``differs`` marks rows where the methods that ran disagree.
    """
    long = A.methods
    methods = [c for c in long.columns if c not in ("kind", "id", "fr")]
    rows = []
    for (kind, rid), g in long.groupby(["kind", "id"], sort=False):
        g = g.set_index("fr").reindex(list(FRS))
        row = {"kind": kind, "id": rid}
        vectors = []
        for m in methods:
            v = g[m]
            if v.isna().all():
                row[m] = "n/a"
            else:
                row[m] = " ".join(str(int(x)) for x in v)
                vectors.append(row[m])
        row["differs"] = len(set(vectors)) > 1
        rows.append(row)
    return pd.DataFrame(rows)


def drivers_view(T) -> pd.DataFrame:
    """The driver of every zone SL-T value above the floor, one row per (zone, FR)."""
    d = T.drivers
    d = d[(d["kind"] == "zone") & (d["basis"] == "scenario")]
    cols = ["id", "fr", "sl_t", "scenario", "actor", "rrf", "dimension", "required", "capped"]
    return d[cols].rename(columns={"id": "zone"}).reset_index(drop=True)


def flags_markdown(flags: pd.DataFrame) -> str:
    """A bullet per Security PHA Review finding."""
    if flags is None or flags.empty:
        return "No scenario needs more than a security level can give."
    return "\n".join(f"- {escape.markdown(m)}" for m in flags["message"])


def rrf_view(T) -> pd.DataFrame:
    """Per scenario: zone, actor, RRF, its dimension, the level required and set."""
    cols = [
        c
        for c in (
            "zone",
            "actor",
            "capability",
            "rrf",
            "dimension",
            "required",
            "sl_t",
            "capped",
            "residual_rrf",
        )
        if c in T.scenarios.columns
    ]
    return T.scenarios[cols].sort_values("rrf", ascending=False)


def _harm_rate(sim, harm: str, k: int) -> float:
    """Closed-form expected events per year of ``harm`` class >= k in a simulation's state."""
    ex = sim.expected()
    return harm_at_least(ex[f"{harm}_severity"], ex[f"{harm}_rate"], k)


def _m(x: float, cur: str) -> str:
    """An amount for Markdown; ``cur`` must already be escaped."""
    from ..figures import money

    return money(x, cur)


def _site_row(A: Assessment, state: str) -> pd.Series:
    """The site-level simulated risk measures of a state (ale, var99, ale_se, ...)."""
    return A.simulation(state).summary("site").iloc[0]


def _ids(ids: Iterable[str]) -> str:
    """Record ids for Markdown, escaped, comma separated."""
    return ", ".join(escape.markdown(i) for i in ids)


METHOD_NOTE = (
    "Expected values (expected annual loss, its reduction, the harm frequencies) are exact"
    " (closed form); tail figures (the one-in-a-hundred-years loss) are simulated over {trials:,}"
    " years, ± their Monte Carlo error."
)
"""How the figures of the reports are computed, said once per report where both appear."""


def method_note(A: Assessment) -> str:
    """The one sentence saying which figures are exact and which are simulated."""
    return METHOD_NOTE.format(trials=A.trials)


def _headline_today(A: Assessment, cur: str) -> str:
    un, now = _site_row(A, "unmitigated"), _site_row(A, "current")
    return (
        f"- **Today** {escape.markdown(A.site.name)} is expected to lose"
        f" **{_m(now['expected_ale'], cur)} per year** to cyber attacks on its control"
        f" systems; one year in a hundred the loss exceeds **{_m(now['var99'], cur)}**."
        f" Without the protection in place it would be {_m(un['expected_ale'], cur)} per year."
    )


def _mandatory(A: Assessment) -> list:
    """The mandatory countermeasures among the plan's members (site records)."""
    members = set(A.plan.members)
    return [cm for cm in A.site.candidates if cm.mandatory and cm.id in members]


def negative_return_markdown(A: Assessment, cur: str | None = None) -> str | None:
    """Why the plan costs more than the expected loss it removes, or None where it does not.

    Names the mandatory measures in the plan (with their annualised cost [currency/yr] and
    their Shapley share of the reduction [currency/yr]); without one, says that the budget
    buys reduction beyond the point where it pays for itself.
    """
    P = A.plan
    if not P.members:
        return None
    cur = escape.markdown(A.site.currency) if cur is None else cur
    reduction = P.baseline_ale - P.expected_ale
    net = reduction - P.annualised_cost
    if net >= 0:
        return None
    text = (
        f"The plan costs {_m(P.annualised_cost, cur)} per year and removes"
        f" {_m(reduction, cur)} of expected loss: a **net cost of {_m(-net, cur)} per year**"
        f" (return on investment {P.rosi:.2f})."
    )
    mand = _mandatory(A)
    if mand:
        shares = P.summary["shapley"] if "shapley" in P.summary.columns else None
        parts = []
        for cm in mand:
            share = shares.get(cm.id) if shares is not None else None
            parts.append(
                f"{escape.markdown(cm.id)} ({escape.markdown(cm.name)}), which costs"
                f" {_m(annualised_cost(A.site, cm.id), cur)} per year"
                + (f" and removes {_m(share, cur)}" if share is not None else "")
            )
        text += (
            " The cause is the mandatory measure"
            + ("s " if len(mand) > 1 else " ")
            + "; ".join(parts)
            + (": they are" if len(mand) > 1 else ": it is")
            + " required (by regulation or policy, as the site file marks"
            + (
                " them) whatever their return, so the plan carries their cost."
                if len(mand) > 1
                else " it) whatever its return, so the plan carries its cost."
            )
        )
    else:
        text += (
            " No measure in it is mandatory: the budget buys risk reduction beyond the point"
            " where each unit spent still removes a unit of expected loss."
        )
    return text


def _headline_plan(A: Assessment, cur: str) -> str:
    P = A.plan
    if not P.members:
        return (
            "- **No investment is recommended** within the budget: no candidate removes more"
            " expected loss than it costs, or the budget is too small for any."
        )
    pl = _site_row(A, "plan")
    reduction = P.baseline_ale - P.expected_ale
    per = reduction / P.annualised_cost if P.annualised_cost > 0 else float("inf")
    line = (
        f"- **The recommended plan** ({len(P.members)} measures: {_ids(P.members)})"
        f" costs **{_m(P.annualised_cost, cur)} per year** ({_m(P.capex, cur)} up front,"
        f" spread over each measure's lifetime, plus running costs). It lowers the expected"
        f" loss to **{_m(P.expected_ale, cur)} per year**, a reduction of"
        f" {_m(reduction, cur)}: each unit spent removes {per:.1f} units of expected loss."
        f" The one-in-a-hundred-years loss falls to {_m(pl['var99'], cur)}."
    )
    why = negative_return_markdown(A, cur)
    return line + (" " + why if why else "")


def _headline_levels(A: Assessment, cur: str) -> str:
    from .plans import plan_status, unclosable_gaps

    gz = {st: A.gaps(st).summary.query("kind == 'zone'") for st in ("current", "plan")}
    n_z = len(gz["current"])
    m_now, m_plan = int(gz["current"]["meets"].sum()), int(gz["plan"]["meets"].sum())
    line = (
        f"- **Security levels**: {m_now} of {n_z} zones reach their target security level in"
        f" every requirement today, {m_plan} of {n_z} with the plan"
    )
    if m_plan == n_z:
        return line + "."
    line += " (it is chosen for the loss it removes)."
    closing, within = A.gap_plan
    if closing is not None and tuple(closing.members) != tuple(A.plan.members):
        st = plan_status(A, closing)
        line += (
            f" The cheapest way to close every gap that a candidate can close"
            f" ({len(closing.members)} measures, {_m(st['annualised_cost'], cur)} per year"
            + ("" if within else ", above the budget")
            + f") brings {st['zones_meeting']} of {n_z} zones to target; both plans are"
            " compared below."
        )
    stuck = unclosable_gaps(A)
    if len(stuck):
        kinds = stuck.groupby("kind", sort=False)["id"].nunique()
        where = " and ".join(
            f"{kinds[k]} {k}{'s' if kinds[k] != 1 else ''}"
            for k in ("zone", "conduit")
            if k in kinds
        )
        n_alt = int(stuck["excluded_closer"].sum())
        line += (
            f" {len(stuck)} gap{'s' if len(stuck) != 1 else ''} (in {where}) need a"
            " countermeasure not yet in the site file: no candidate closes them"
            + (
                f" ({n_alt} only by a candidate that excludes a better gap closer of its"
                " exclusive group)"
                if n_alt
                else ""
            )
            + "; they are listed below."
        )
    return line


_HARM_WORDS = {"safety": "safety", "environment": "environmental"}
"""The adjective of each harm category (:data:`riskkit.rules.HARM_LABELS`) in a sentence."""


def _headline_harm(A: Assessment) -> str | None:
    hs = []
    for h in HARM_LABELS:
        a = _harm_rate(A.simulation("current"), h, 3)
        b = _harm_rate(A.simulation("plan"), h, 3)
        if a > 0:
            hs.append(
                f"{_HARM_WORDS.get(h, h)} incidents of severity 3 or worse: once in"
                f" {1 / a:,.0f} years today,"
                + (f" once in {1 / b:,.0f} years with the plan" if b > 0 else " none with the plan")
            )
    line = "- **Harm**: " + "; ".join(hs) + "." if hs else None
    s = A.plan.safety if A.safety_first else None
    if s is not None and s.met and s.constrained:
        met = (
            f"The plan meets the tolerable frequency of harm of every scenario that a candidate"
            f" can bring within it ({len(s.constrained)} scenarios; harm comes before money)."
        )
        line = (line + " " + met) if line else "- **Harm**: " + met
    return line


def headline_markdown(A: Assessment) -> str:
    """The management summary in a few sentences, for a reader with five minutes.

    Under safety first (:attr:`Assessment.safety_first`), where no plan within the budget
    meets every harm tolerance (or the plan had to go beyond the least-total-cost budget to
    meet them), the first sentence says so, with the least sufficient budget
    (:func:`riskkit.report.plans.safety_sentence`).
    """
    from .plans import safety_sentence

    cur = escape.markdown(A.site.currency)
    lines = [_headline_today(A, cur), _headline_plan(A, cur), _headline_levels(A, cur)]
    first = safety_sentence(A)
    if first:
        lines.insert(0, f"- **Safety first.** {first}")
    harm = _headline_harm(A)
    if harm:
        lines.append(harm)
    nf = len(A.targets.flags)
    if nf:
        lines.append(
            f"- **{nf} scenario(s)** need more risk reduction than any security level can give"
            " (see notebook 3): they need an engineering safeguard or a smaller consequence,"
            " which is a decision for the process-safety review."
        )
    if A.budget_given is None:
        among = " among the plans meeting every harm tolerance" if "harm" in A.budget_source else ""
        lines.append(
            f"- No budget was set: the plan shown is the one with the least total cost of"
            f" risk (expected loss plus plan cost){among}, at {_m(A.budget, cur)} per year."
        )
    lines.append("")
    lines.append(f"<small>{method_note(A)}</small>")
    return "\n".join(lines)


def ranking_view(R) -> pd.DataFrame:
    """The ranking's main columns (the full table is in the workbook)."""
    cols = [
        "rank",
        "countermeasure",
        "name",
        "annualised_cost",
        "delta_ale",
        "reduction_per_cost",
        "rosi",
        "delta_var99",
        "sl_gaps_closed",
        "exclusive_group",
    ]
    df = R.summary
    return df[[c for c in cols if c in df.columns]]


def frontier_view(points: pd.DataFrame) -> pd.DataFrame:
    """The frontier's main columns: budget, cost, ALE, VaR 99, members, greedy's ALE."""
    cols = [
        "budget",
        "annualised_cost",
        "capex",
        "expected_ale",
        "var99",
        "n_members",
        "members",
        "greedy_ale",
        "nesting_cost",
    ]
    return points[[c for c in cols if c in points.columns]]


def plan_markdown(A: Assessment) -> str:
    """The recommended plan in numbers: budget, costs, ALE and VaR 99 before and after."""
    P, cur = A.plan, escape.markdown(A.site.currency)
    now, pl = _site_row(A, "current"), _site_row(A, "plan")
    kind = escape.markdown(A.budget_kind)
    unit = f"{cur}/yr" if A.budget_kind == "annualised" else cur
    lines = [
        f"- Budget: {A.budget:,.0f} {unit} ({kind}; {escape.markdown(A.budget_source)}).",
        f"- Members: {_ids(P.members) or 'none'}.",
        f"- Cost: {P.annualised_cost:,.0f} {cur}/yr annualised ({P.capex:,.0f} {cur} capex,"
        f" {P.opex:,.0f} {cur}/yr opex).",
        f"- Expected annual loss (closed form): {P.baseline_ale:,.0f} -> {P.expected_ale:,.0f}"
        f" {cur}/yr; ROSI {P.rosi:.2f}.",
        f"- Simulated ({A.trials:,} years, seed {A.seed}): ALE {now['ale']:,.0f} ->"
        f" {pl['ale']:,.0f} {cur}/yr (SE {pl['ale_se']:,.0f})¹; VaR 99 % {now['var99']:,.0f} ->"
        f" {pl['var99']:,.0f} {cur}.",
        f"- Solver: {escape.markdown(P.status)} ({escape.markdown(P.method)})"
        + (f", relative gap {P.gap:.2g}." if np.isfinite(P.gap) and P.gap > 0 else "."),
    ]
    why = negative_return_markdown(A, cur)
    if why:
        lines.append(f"- {why}")
    lines.append("")
    lines.append(
        "¹ Two figures for the same expected loss: the closed form is exact and is the one"
        " quoted elsewhere; the simulated mean differs from it by Monte Carlo error (its SE)."
        f" {method_note(A)}"
    )
    return "\n".join(lines)


def plan_view(A: Assessment) -> pd.DataFrame:
    """The plan's members with names, costs and their Shapley share of the reduction."""
    P = A.plan
    df = P.summary.reset_index()
    return df


def top_risks_view(A: Assessment, n: int = 5) -> pd.DataFrame:
    """The ``n`` scenarios with the largest expected loss today, before and after the plan."""
    reg = A.register().head(n)
    # the styled table labels these columns with their units (report.format.LABELS)
    return reg[["name", "zone", "ale_current", "ale_plan", "var99_current"]].reset_index()


def zone_status_view(A: Assessment) -> pd.DataFrame:
    """Per zone: expected loss today and with the plan, and whether it meets its SL-T."""
    zs = A.zone_summary()
    rows = {
        z: {
            "name": r["name"],
            "ale_current": r["ale"]["current"],
            "ale_plan": r["ale"]["plan"],
            "SL-T": _vec_text(r["sl_t"]),
            "meets SL-T today": r["meets_target"]["current"],
            "meets SL-T with plan": r["meets_target"]["plan"],
        }
        for z, r in zs.items()
    }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "zone"
    return df


def _number(value) -> float | None:
    """A number read from an untrusted summary.json, or None where it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def changes_markdown(A: Assessment, previous) -> str:
    """What changed since a previous run, in a few sentences (or why nothing is shown).

    The previous summary.json is untrusted like a site file: its timestamps and zone ids are
    escaped, and an amount that is not a number is left out.
    """
    if previous is None:
        return "No previous assessment was given (run with `--previous DIR` to compare)."
    prev = read_summary(previous)
    ch = A.changes(prev)
    cur = escape.markdown(A.site.currency)
    pa = _number(prev.get("site", {}).get("ale", {}).get("current"))
    na = _site_row(A, "current")["ale"]
    when = escape.markdown(prev.get("provenance", {}).get("finished", "an earlier run"))
    same = prev.get("provenance", {}).get("input_hash") == A.site.source_hash
    lines = [f"Compared with the assessment of {when}" + (" (same input file)." if same else ".")]
    prev_id = prev.get("provenance", {}).get("site_id")
    if isinstance(prev_id, str) and prev_id != A.site.site.slug:
        lines.append(
            f"- **That run is of another site** ({escape.markdown(prev_id)}, this one is"
            f" {escape.markdown(A.site.site.slug)}): zones are matched by id only, so the"
            " comparison below may pair unrelated zones."
        )
    if pa is not None:
        lines.append(
            f"- Expected annual loss today: {_m(pa, cur)} then, {_m(na, cur)} now"
            f" ({'+' if na >= pa else '-'}{_m(abs(na - pa), cur)})."
        )
    moved = ch[ch["sl_t_changed"]]
    if len(moved):
        lines.append("- Target levels changed in " + _ids(moved.index) + ".")
    else:
        lines.append("- No target security level changed.")
    for status in ("new", "removed"):
        ids = list(ch.index[ch["status"] == status])
        if ids:
            lines.append(f"- Zones {status}: {_ids(ids)}.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


# --- sensitivity, robustness and value of information (issue 14) ---------------------------


def _sensitivity(A: Assessment) -> dict:
    from .summary import sensitivity_results

    return sensitivity_results(A)


def tornado_view(A: Assessment, top: int = 10) -> pd.DataFrame:
    """The ``top`` inputs by swing of site ALE, P10 -> P90, with headers for people.

    Display it through :func:`riskkit.report.styled` (which escapes the text).
    """
    t = _sensitivity(A)["tornado"].head(top)
    df = t[["kind", "record", "p10", "p90", "low", "high", "swing", "nb_swing"]].copy()
    df.index.name = "input"
    labels = {
        "p10": "input at P10",
        "p90": "input at P90",
        "low": f"ALE at P10 [{A.site.currency}/yr]",
        "high": f"ALE at P90 [{A.site.currency}/yr]",
        "swing": f"swing of ALE [{A.site.currency}/yr]",
        "nb_swing": f"swing of the plan's net benefit [{A.site.currency}/yr]",
    }
    return df.rename(columns=labels)


def fragile_view(A: Assessment) -> pd.DataFrame:
    """SL-T entries one level off with probability >= 20 %, with the input that moves them.

    Display it through :func:`riskkit.report.styled` (which escapes the text).
    """
    from ..sensitivity import FRAGILE

    rob = _sensitivity(A)["robustness"]
    cols = ["kind", "id", "fr", "sl_t", "p_lower", "p_higher", "driver"]
    df = rob[rob["p_change"] >= FRAGILE][cols].reset_index(drop=True)
    labels = {
        "p_lower": "P(one level lower)",
        "p_higher": "P(one level higher)",
        "driver": "input that moves it most",
    }
    return df.rename(columns=labels)


def fragile_markdown(A: Assessment) -> str:
    """One sentence on how many SL-T entries are fragile, naming the most fragile."""
    from ..sensitivity import FRAGILE

    rob = _sensitivity(A)["robustness"]
    frag = rob[rob["p_change"] >= FRAGILE].sort_values("p_change", ascending=False)
    n = int(rob.attrs.get("draws", 0))
    if not len(frag):
        return (
            f"No SL-T entry would move by a level with probability {FRAGILE:.0%} or more over"
            f" the uncertainty of the inputs ({n:,} parameter draws)."
        )
    r = frag.iloc[0]
    return (
        f"{len(frag)} of {len(rob)} SL-T entries are fragile: over the uncertainty of the"
        f" inputs ({n:,} parameter draws) they would be one level lower or higher with"
        f" probability {FRAGILE:.0%} or more. The most fragile is {escape.markdown(r['kind'])}"
        f" {escape.markdown(r['id'])} {escape.markdown(r['fr'])} (SL-T {int(r['sl_t'])}:"
        f" {r['p_lower']:.0%} lower, {r['p_higher']:.0%} higher), moved mostly by"
        f" {escape.markdown(r['driver'] or '-')}."
    )


def convergence_markdown(A: Assessment) -> str:
    """The Monte Carlo precision of ALE and the trials a 1 % precision needs."""
    conv = _sensitivity(A)["convergence"]
    last = conv.iloc[-1]
    return (
        f"With {int(conv.index[-1]):,} simulated years the expected annual loss is known to"
        f" ±{last['ale_rel']:.1%} (95 %); ±1 % would need about"
        f" {int(conv.attrs['trials_for_1pct']):,} years (`riskkit simulate --precision 1%`)."
    )


def sensitivity_markdown(A: Assessment) -> str:
    """One sentence for management: how robust the plan is and which estimate to refine.

    Robust when perfect information (EVPI) is worth less than a tenth of the recommended
    plan's expected net benefit, else sensitive to the estimates.
    """
    voi = _sensitivity(A)["voi"]
    cur = escape.markdown(A.site.currency)
    nb = float(_sensitivity(A)["tornado"].attrs.get("base_nb", 0.0))
    share = voi.evpi / nb if nb > 0 else float("inf")
    word = "robust to" if share < 0.1 else "sensitive to"
    rel = f", {share:.0%} of its expected net benefit of {_m(nb, cur)}/yr" if nb > 0 else ""
    text = (
        f"The recommended plan is {word} the uncertainty of the estimates: knowing every"
        f" uncertain input exactly would be worth at most {_m(voi.evpi, cur)}/yr (EVPI over"
        f" {len(voi.plans)} candidate plans{rel})"
    )
    ev = voi.evppi[voi.evppi["evppi"] > 0]
    if len(ev):
        k, v = ev.index[0], float(ev["evppi"].iloc[0])
        return text + (
            f"; the estimate most worth refining is {escape.markdown(k)} (EVPPI {_m(v, cur)}/yr)."
        )
    return text + "; no single estimate is worth refining for this decision."
