"""The computations behind :class:`~riskkit.report.Assessment`'s tables and ``summary.json``.

Each function takes the :class:`~riskkit.report.Assessment` ``A`` whose results (simulations,
targets, gaps, plan, frontier) it combines; the accessors of ``Assessment`` call them. The
shape of ``summary.json`` is described in :mod:`riskkit.report.schema`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from .. import __version__
from ..exposure import annualised_cost
from ..rules import STATES, loss_grid
from ..site import FRS
from . import schema
from .common import _jsonable, _vec_text, read_summary
from .views import actors_table, conduits_table, countermeasures_table, scenarios_table, zones_table


def tolerance_check(A, states: Iterable[str] | None = None) -> pd.DataFrame:
    """Each state against each tolerance of the site.

    Returns
    -------
    pandas.DataFrame
        ``state``, ``tolerance`` (what is checked), ``subject`` (zone, site or scenario),
        ``value``, ``tolerable`` and ``within`` (bool): the simulated per-zone ALE
        [currency/yr] and site exceedance probabilities P(L >= x), and per scenario the
        closed-form frequency of safety / environment events of class >= k [events/yr]
        (tolerable classes such as 1e-5/yr are rarer than the simulated years resolve).
    """
    tol = A.site.tolerance
    rows = []
    for st in states or A.states():
        sim = A.simulation(st)
        if tol.financial.per_zone_ale is not None:
            for z, ale in sim.summary("zone")["ale"].items():
                if A.site.scenarios_in(z):
                    rows.append((st, "zone ALE", z, ale, tol.financial.per_zone_ale))
        if tol.financial.exceedance:
            xs = [x for x, _ in tol.financial.exceedance]
            ex = sim.exceedance("site", points=xs)["site"]
            for (x, p), v in zip(tol.financial.exceedance, ex.to_numpy()):
                rows.append((st, f"P(site loss >= {x:,.0f})", "site", float(v), p))
        # rare harm classes (1e-5/yr) are below what a few 10^4 simulated years resolve:
        # the closed-form frequency is exact, so it is the one checked
        ex = sim.expected()
        for h in ("safety", "environment"):
            for k, f in sorted(getattr(tol, h).items()):
                for sid, sev, v in zip(ex.index, ex[f"{h}_severity"], ex[f"{h}_rate"]):
                    if sev >= k and v > 0:
                        rows.append((st, f"{h} >= {k} per scenario", sid, float(v), f))
    df = pd.DataFrame(rows, columns=["state", "tolerance", "subject", "value", "tolerable"])
    df["within"] = df["value"] <= df["tolerable"]
    return df


def register(A, states: Iterable[str] | None = None) -> pd.DataFrame:
    """The risk register: one row per scenario, ranked by current ALE.

    Returns
    -------
    pandas.DataFrame
        Index ``scenario``: ``name``, ``zone``, ``actor``, ``entry``, ``frs``,
        ``protection`` (L today), ``capability``, ``event_rate`` (closed-form E[events/yr]
        today), ``ale_<state>`` [currency/yr] per state, ``var99_current`` [currency],
        ``safety_severity``, ``environment_severity``, ``sl_t`` (the scenario's required
        level after the cap), ``rrf`` and ``dimension`` (what drives it), ``flagged``
        (an SL alone cannot bring it within tolerance), ``implemented`` and ``candidates``
        (countermeasures acting on it today, and candidates that could).
    """
    from ..exposure import scenario_effects, touching

    states = list(states or A.states())
    cur = A.simulation("current")
    ex = cur.expected()
    t = A.targets.scenarios
    flagged = set(A.targets.flags["scenario"]) if len(A.targets.flags) else set()
    impl_ids = {c.id for c in A.site.implemented}
    rows = []
    for s in A.site.scenarios:
        eff = scenario_effects(A.site, s, impl_ids)
        acting = sorted(
            {c for c, _ in eff.frequency} | {c for v in eff.consequence.values() for c, _ in v}
        )
        cons = s.consequences
        rows.append(
            {
                "scenario": s.id,
                "name": s.name,
                "zone": s.zone,
                "actor": s.actor,
                "entry": s.entry,
                "frs": ", ".join(s.frs),
                "protection": int(ex.at[s.id, "protection"]),
                "capability": int(ex.at[s.id, "capability"]),
                "event_rate": float(ex.at[s.id, "event_rate"]),
                "safety_severity": cons.safety.severity if cons.safety else 0,
                "environment_severity": cons.environment.severity if cons.environment else 0,
                "sl_t": int(t.at[s.id, "sl_t"]) if s.id in t.index else None,
                "rrf": float(t.at[s.id, "rrf"]) if s.id in t.index else None,
                "dimension": t.at[s.id, "dimension"] if s.id in t.index else None,
                "flagged": s.id in flagged,
                "implemented": ", ".join(acting),
                "candidates": ", ".join(touching(A.site, s)),
            }
        )
    cols = ["scenario", "name", "zone", "actor", "entry", "frs", "protection", "capability"]
    cols += ["event_rate", "safety_severity", "environment_severity", "sl_t", "rrf"]
    cols += ["dimension", "flagged", "implemented", "candidates"]
    df = pd.DataFrame(rows, columns=cols).set_index("scenario")  # columns even if no rows
    for st in states:
        df[f"ale_{st}"] = A.simulation(st).summary("scenario")["ale"]
    df["var99_current"] = cur.summary("scenario")["var99"]
    order = ["name", "zone", "actor", "entry", "frs"]
    order += [f"ale_{st}" for st in states] + ["var99_current"]
    rest = [c for c in df.columns if c not in order]
    return df[order + rest].sort_values("ale_current", ascending=False)


def changes(A, previous: str | os.PathLike | Mapping | None) -> pd.DataFrame:
    """Per zone: current ALE and SL-T now and in a previous run's ``summary.json``.

    Parameters
    ----------
    previous : path or dict, optional
        An earlier output folder (or its summary as a dict).

    Returns
    -------
    pandas.DataFrame
        Index zone id: ``ale_before``, ``ale_now``, ``ale_change`` [currency/yr],
        ``sl_t_before``, ``sl_t_now`` (vectors as text), ``sl_t_changed`` (bool),
        ``meets_before``, ``meets_now``, ``status`` (``new``, ``removed`` or ``kept``).
        Empty when ``previous`` is None.
    """
    cols = [
        "ale_before",
        "ale_now",
        "ale_change",
        "sl_t_before",
        "sl_t_now",
        "sl_t_changed",
        "meets_before",
        "meets_now",
        "status",
    ]
    if previous is None:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="zone"))
    prev = previous if isinstance(previous, Mapping) else read_summary(previous)
    before = prev.get("zones", {})
    now = A.zone_summary()
    rows = {}
    for zid in [*now, *[z for z in before if z not in now]]:
        b, n = before.get(zid), now.get(zid)
        ab = b["ale"]["current"] if b else None
        an = n["ale"]["current"] if n else None
        tb = _vec_text(b["sl_t"]) if b else None
        tn = _vec_text(n["sl_t"]) if n else None
        rows[zid] = {
            "ale_before": ab,
            "ale_now": an,
            "ale_change": (an - ab) if (ab is not None and an is not None) else None,
            "sl_t_before": tb,
            "sl_t_now": tn,
            "sl_t_changed": bool(b and n and tb != tn),
            "meets_before": b["meets_target"]["current"] if b else None,
            "meets_now": n["meets_target"]["current"] if n else None,
            "status": "new" if b is None else ("removed" if n is None else "kept"),
        }
    df = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
    df.index.name = "zone"
    return df


def zone_summary(A) -> dict:
    """Per zone: ALE, its SE, VaR 95/99, ES 99 (95 % intervals), SL-T, SL-C, SL-A and gaps."""
    sums = {st: A.simulation(st).summary("zone", intervals=True) for st in STATES}
    T = A.targets
    gaps = {st: A.gaps(st).table for st in ("current", "plan")}
    meets = {st: A.gaps(st).zones_meeting for st in ("current", "plan")}
    out = {}
    for z in A.site.zones:
        rec = {
            "name": z.name,
            "kind": z.kind,
            "purdue_level": z.purdue_level,
            "scenarios": len(A.site.scenarios_in(z.id)),
        }
        for col in ("ale", "ale_se", "var95", "var99", "es99"):
            rec[col] = {st: float(sums[st].at[z.id, col]) for st in STATES}
        for col in ("var99", "es99"):
            rec[f"{col}_ci"] = {
                st: [float(sums[st].at[z.id, f"{col}_{e}"]) for e in ("lo", "hi")]
                for st in STATES
            }
        rec["sl_t"] = [int(v) for v in T.zones.loc[z.id, list(FRS)]]
        rec["sl_c"] = list(z.sl_c) if z.sl_c is not None else None
        for key in ("sl_a", "gap"):
            rec[key] = {}
            for st in ("current", "plan"):
                g = gaps[st]
                g = g[(g["kind"] == "zone") & (g["id"] == z.id)].set_index("fr")
                rec[key][st] = [int(g.at[f, "sl_a" if key == "sl_a" else "gap"]) for f in FRS]
        rec["meets_target"] = {st: bool(meets[st][z.id]) for st in ("current", "plan")}
        out[z.id] = rec
    return out


def conduit_summary(A) -> dict:
    """Per conduit: SL-T, SL-C, SL-A and gaps (current and with the plan)."""
    T = A.targets
    out = {}
    for c in A.site.conduits:
        rec = {
            "zones": list(c.zones),
            "sl_t": [int(v) for v in T.conduits.loc[c.id, list(FRS)]],
        }
        rec["sl_c"] = list(c.sl_c) if c.sl_c is not None else None
        rec["sl_a"], rec["gap"], rec["meets_target"] = {}, {}, {}
        for st in ("current", "plan"):
            G = A.gaps(st)
            g = G.table[(G.table["kind"] == "conduit") & (G.table["id"] == c.id)]
            g = g.set_index("fr")
            rec["sl_a"][st] = [int(g.at[f, "sl_a"]) for f in FRS]
            rec["gap"][st] = [int(g.at[f, "gap"]) for f in FRS]
            rec["meets_target"][st] = bool(G.zones_meeting[c.id])
        out[c.id] = rec
    return out


SAFETY_SCHEMA: dict = {
    "met": "bool",
    "within_budget": "bool",
    "least_budget": "number?",
    "least_exact": "bool",
    "least_plan": ("list", "str"),
    "constrained": ("list", "str"),
    "unmeetable": ("list", "str"),
    "breaches": (
        "list",
        {
            "scenario": "str",
            "zone": "str",
            "category": "str",
            "severity": "int",
            "frequency": "number",
            "tolerable": "number",
            "meetable": "bool",
        },
    ),
    "budget_kind": "str",
    "sentence": "str?",
}
"""``plan.safety`` of ``summary.json``, present when the run used safety first (helper
``safety``, issue 10). At the merge that makes safety first the default, the integrator may
move it into :data:`riskkit.report.schema.SUMMARY_SCHEMA` as a required key of ``plan``."""


def safety_block(A) -> dict | None:
    """The ``plan.safety`` entry of ``summary.json``; None when safety first is off.

    Keys: ``met`` (the plan meets every harm tolerance that some plan can meet),
    ``within_budget`` (some plan within the budget does), ``least_budget`` (the least
    sufficient budget [currency/yr] or [currency] by ``budget_kind``; null where no plan meets
    them together), ``least_exact``, ``least_plan`` (ids), ``constrained`` and ``unmeetable``
    (scenario ids), ``breaches`` (the plan's harm above tolerance: ``scenario``, ``zone``,
    ``category``, ``severity``, ``frequency`` and ``tolerable`` [events/yr], ``meetable``),
    ``budget_kind`` and ``sentence`` (the summary's first sentence about it, plain text, or
    null when nothing is amiss).
    """
    from .plans import safety_sentence

    if not A.safety_first or A.plan.safety is None:
        return None
    out = A.plan.safety.to_dict()
    out["sentence"] = safety_sentence(A, markdown=False)
    problems = schema.check(out, SAFETY_SCHEMA, "plan.safety")
    assert not problems, f"the safety block riskkit computed does not conform: {problems[:3]}"
    return out


def plan_summary(A) -> dict:
    """The recommended plan: members, budget, costs, expected and simulated ALE.

    With safety first, also ``safety`` (:func:`safety_block`).
    """
    P = A.plan
    sim = A.simulation("plan").summary("site").iloc[0]
    cur = A.simulation("current").summary("site").iloc[0]
    out = {
        "members": [
            {
                "id": m,
                "name": A.site.countermeasure(m).name,
                "annualised_cost": annualised_cost(A.site, m),
                "capex": A.site.countermeasure(m).cost.capex,
            }
            for m in P.members
        ],
        "budget": A.budget,
        "budget_kind": A.budget_kind,
        "budget_source": A.budget_source,
        "annualised_cost": P.annualised_cost,
        "capex": P.capex,
        "opex": P.opex,
        "expected_ale_current": P.baseline_ale,
        "expected_ale": P.expected_ale,
        "expected_reduction": P.reduction,
        "rosi": P.rosi,
        "status": P.status,
        "method": P.method,
        "solver_gap": P.gap,
        "ale_current": float(cur["ale"]),
        "ale": float(sim["ale"]),
        "ale_se": float(sim["ale_se"]),
        "var95": float(sim["var95"]),
        "var99": float(sim["var99"]),
        "var99_current": float(cur["var99"]),
        "zones_meeting_target": int(A.gaps("plan").summary.query("kind == 'zone'")["meets"].sum()),
    }
    safety = safety_block(A)
    if safety is not None:  # only then, so summaries without safety first keep their keys
        out["safety"] = safety
    return out


def site_block(A) -> dict:
    """Site-level ALE, its SE, VaR 95/99, ES 99, P(no loss) and harm frequencies per state.

    ``var99_ci`` and ``es99_ci`` are the 95 % confidence intervals [low, high] of VaR99 and
    ES99 from the simulated years (order statistics; plug-in normal).
    """
    sums = {st: A.simulation(st).summary("site", intervals=True).iloc[0] for st in STATES}
    block = {
        col: {st: float(sums[st][col]) for st in STATES}
        for col in ("ale", "ale_se", "var95", "var99", "es99", "p_zero")
    }
    for col in ("var99", "es99"):
        block[f"{col}_ci"] = {
            st: [float(sums[st][f"{col}_{e}"]) for e in ("lo", "hi")] for st in STATES
        }
    block["harm"] = {
        st: {k: float(v) for k, v in sums[st].items() if k.startswith(("safety_", "env"))}
        for st in STATES
    }
    return block


def top_risks(A, n: int = 5) -> list[dict]:
    """The ``n`` scenarios of the register with the largest current ALE [currency/yr]."""
    return [
        {
            "scenario": sid,
            "name": r["name"],
            "zone": r["zone"],
            "ale_current": float(r["ale_current"]),
            "ale_plan": float(r["ale_plan"]),
        }
        for sid, r in A.register().head(n).iterrows()
    ]


def frontier_block(A) -> list[dict]:
    """The frontier's points: budget, annualised cost and expected ALE [currency/yr], members."""
    F = A.frontier
    fcost = "annualised_cost" if "annualised_cost" in F.points else "cost"
    return [
        {
            "budget": _jsonable(r.get("budget")),
            "annualised_cost": float(r[fcost]),
            "expected_ale": float(r["expected_ale"]),
            "members": r.get("members"),
        }
        for _, r in F.points.iterrows()
    ]


SENSITIVITY_DRAWS = 2000
"""Parameter draws θ behind the report's EVPI, EVPPI and SL-T robustness."""


def sensitivity_results(A) -> dict:
    """Tornado, value of information, SL-T robustness and convergence of one assessment.

    Computed once per run (cached with the run's other results) by :mod:`riskkit.sensitivity`
    for the recommended plan, over the frontier's plans, with the run's seed and
    :data:`SENSITIVITY_DRAWS` parameter draws; convergence uses the current simulation.

    Returns
    -------
    dict
        ``tornado`` (DataFrame), ``voi`` (:class:`~riskkit.sensitivity.ValueOfInformation`),
        ``robustness`` (DataFrame), ``convergence`` (DataFrame).
    """
    from .. import sensitivity as sens

    def compute():
        plans = [P for P in A.frontier.plans]
        return {
            "tornado": sens.tornado(A.site, plan=A.plan_members, seed=A.seed),
            "voi": sens.evpi(A.site, plans=plans, draws=SENSITIVITY_DRAWS, seed=A.seed),
            "robustness": sens.sl_robustness(
                A.site, draws=SENSITIVITY_DRAWS, seed=A.seed, targets=A.targets
            ),
            "convergence": sens.convergence(A.simulation("current"), boot=100),
        }

    return A._get("sensitivity", compute)


def sensitivity_block(A, top: int = 10) -> dict:
    """The ``sensitivity`` entry of ``summary.json``.

    Keys: ``method``, ``draws``, ``seed``, ``base_ale`` [currency/yr]; ``tornado`` (the
    ``top`` families by swing: ``input``, ``kind``, ``record``, ``low``, ``high``, ``swing``,
    ``nb_swing`` [currency/yr]); ``evpi``, ``evpi_se`` [currency/yr], ``best_plan``,
    ``p_best`` (share of draws in which the best plan on average is the best); ``evppi``
    (top five: ``input``, ``evppi``, ``se``); ``fragile`` (SL-T entries one level off with
    probability >= 20 %: ``kind``, ``id``, ``fr``, ``sl_t``, ``p_lower``, ``p_higher``,
    ``driver``); ``convergence`` (``trials``, ``ale_rel`` (95 % half-width / ALE),
    ``trials_for_1pct``).
    """
    R = sensitivity_results(A)
    tor, voi, rob, conv = R["tornado"], R["voi"], R["robustness"], R["convergence"]
    vd = voi.to_dict()
    fragile = rob[rob["fragile"]]
    last = conv.iloc[-1]
    return {
        "method": "closed-form conditional expectation given parameter draws θ; see"
        " docs/model.md, section Sensitivity, robustness and EVPI",
        "draws": int(voi.draws),
        "seed": int(voi.seed),
        "base_ale": float(tor.attrs["base_ale"]),
        "tornado": [
            {
                "input": str(k),
                "kind": str(r["kind"]),
                "record": str(r["record"]),
                "low": float(r["low"]),
                "high": float(r["high"]),
                "swing": float(r["swing"]),
                "nb_swing": float(r["nb_swing"]),
            }
            for k, r in tor.head(top).iterrows()
        ],
        "evpi": vd["evpi"],
        "evpi_se": vd["evpi_se"],
        "best_plan": vd["best_plan"],
        "p_best": vd["p_best"],
        "evppi": vd["evppi"],
        "fragile": [
            {
                "kind": str(r.kind),
                "id": str(r.id),
                "fr": str(r.fr),
                "sl_t": int(r.sl_t),
                "p_lower": float(r.p_lower),
                "p_higher": float(r.p_higher),
                "driver": str(r.driver),
            }
            for r in fragile.itertuples()
        ],
        "convergence": {
            "trials": int(conv.index[-1]),
            "ale_rel": float(last["ale_rel"]),
            "trials_for_1pct": int(conv.attrs["trials_for_1pct"]),
        },
    }


def provenance(A) -> dict:
    """Site, input hash, seed, trials, budget and target method of the assessment."""
    site = A.site
    return {
        "site": site.name,
        "site_id": site.site.slug,
        "input_hash": site.source_hash,
        "assessed": site.site.assessed,
        "seed": A.seed,
        "trials": A.trials,
        "budget": A.budget,
        "budget_kind": A.budget_kind,
        "budget_source": A.budget_source,
        "fast": A.fast,
        "sl_t_method": A.targets.method,
        "decision_statistic": A.targets.statistic,
    }


def changes_block(A, prev: Mapping, site_ale_current: float) -> dict:
    """The ``changes`` entry of ``summary.json`` against a previous summary ``prev``."""
    ch = A.changes(prev)
    return {
        "previous": {
            "input_hash": prev.get("provenance", {}).get("input_hash"),
            "finished": prev.get("provenance", {}).get("finished"),
            "site_ale_current": prev.get("site", {}).get("ale", {}).get("current"),
        },
        "site_ale_current": site_ale_current,
        "zones": {z: {k: _jsonable(v) for k, v in r.items()} for z, r in ch.iterrows()},
    }


def summary(A, previous: str | os.PathLike | None = None) -> dict:
    """The content of ``summary.json`` (without the run's timestamps and outputs).

    Keys: ``riskkit`` (versions), ``provenance``, ``site`` (site-level risk per state),
    ``zones``, ``conduits``, ``plan``, ``frontier``, ``top_risks``, ``flags``,
    ``checks``, ``sensitivity`` (:func:`sensitivity_block`), ``changes`` (when ``previous`` is
    given). Money in ``currency``; ALE
    [currency/yr], VaR / ES [currency]. The result conforms to
    :data:`riskkit.report.schema.SUMMARY_SCHEMA` (checked).
    """
    site = A.site
    block = site_block(A)
    top = top_risks(A)
    frontier = frontier_block(A)
    checks = A.checks
    out = {
        "riskkit": {
            "version": __version__,
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "provenance": provenance(A),
        "currency": site.currency,
        "site": block,
        "zones": A.zone_summary(),
        "conduits": A.conduit_summary(),
        "plan": A.plan_summary(),
        "frontier": frontier,
        "top_risks": top,
        "flags": [
            {k: r[k] for k in ("scenario", "zone", "reason", "message")}
            for _, r in A.targets.flags.iterrows()
        ],
        "checks": {k: int(v) for k, v in checks["severity"].value_counts().items()}
        if len(checks)
        else {},
        "sensitivity": sensitivity_block(A),
    }
    # attack paths (issue 15, helper `paths`): only where some scenario names an origin
    from ..paths import paths_block

    paths = paths_block(A)
    if paths is not None:
        out["paths"] = paths
    if previous is not None:
        out["changes"] = changes_block(A, read_summary(previous), block["ale"]["current"])
    out = _jsonable(out)
    problems = schema.check(out)
    assert not problems, f"the summary riskkit computed does not conform: {problems[:3]}"
    return out


def exceedance(A, states: Iterable[str] | None = None, points: int = 200) -> pd.DataFrame:
    """Site loss exceedance curves of several states on one logarithmic grid.

    Returns
    -------
    pandas.DataFrame
        Index ``loss`` [currency], one column per state: P(annual site loss >= loss).
    """
    states = list(states or A.states())
    lo, hi = np.inf, 0.0
    for st in states:
        x = A.simulation(st).losses("site")["site"].to_numpy()
        pos = x[x > 0]
        if pos.size:
            lo, hi = min(lo, float(pos.min())), max(hi, float(pos.max()))
    if hi < lo:  # no simulated year with a loss: one threshold, 1 currency unit
        lo = hi = 1.0
    grid = loss_grid(lo, hi, points)
    return pd.DataFrame(
        {st: A.simulation(st).exceedance("site", points=grid)["site"] for st in states}
    )


def severity(A, states: Iterable[str] | None = None) -> pd.DataFrame:
    """Site frequencies of safety and environment events of class >= k, one row per state."""
    cols = [f"{h}_ge{k}" for h in ("safety", "environment") for k in (1, 2, 3, 4)]
    rows = {st: A.simulation(st).summary("site").iloc[0][cols] for st in states or A.states()}
    return pd.DataFrame(rows).T.astype(float)


def tables(A, previous: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the deliverables, by sheet name (see :func:`write_tables`)."""
    site = A.site
    T = A.targets
    out = {
        "zones": zones_table(site),
        "conduits": conduits_table(site),
        "threat_actors": actors_table(site),
        "scenarios": scenarios_table(site),
        "countermeasures": countermeasures_table(site),
        "model_checks": A.checks,
        "risk_site": A.risk("site"),
        "risk_zones": A.risk("zone"),
        "risk_scenarios": A.risk("scenario"),
        "exceedance": A.exceedance().reset_index(),
        "tolerance": A.tolerance_check(),
        "register": A.register(),
        "sl_t": T.summary,
        "sl_t_drivers": T.drivers,
        "sl_t_scenarios": T.scenarios,
        "rrf": T.rrfs,
        "pha_flags": T.flags,
    }
    for st in ("current", "plan"):
        G = A.gaps(st)
        out[f"gaps_{st}"] = G.table
        out[f"gap_summary_{st}"] = G.summary
    out["gap_closers"] = A.gaps("current").closers
    out["ranking"] = A.ranking.summary
    out["plan"] = A.plan.summary
    F = A.frontier
    out["frontier"] = F.points
    if F.nested is not None:
        out["frontier_nested"] = F.nested
    out["greedy"] = F.greedy
    out["frontier_grid"] = F.grid
    if previous is not None:
        out["changes"] = A.changes(previous)
    if A.safety_first and A.plan.safety is not None:
        out["harm_breaches"] = pd.DataFrame(
            list(A.plan.safety.breaches),
            columns=["scenario", "zone", "category", "severity", "frequency", "tolerable"]
            + ["meetable"],
        )
    return out
