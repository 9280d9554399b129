"""Safety first: harm tolerance as a hard constraint of the plan, and the least sufficient budget.

Every exact answer (least sufficient budget, best plan meeting the harm tolerances within a
budget, least total cost of risk) is checked against an independent brute force over every
plan of a small hand-built site, with each plan's harm frequencies and expected loss taken
from :func:`riskkit.exposure.expected_losses` (not from the optimiser's evaluator). Every
option is passed explicitly, so the tests hold whatever the defaults.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from riskkit import portfolio as P
from riskkit.exposure import expected_losses
from riskkit.rules import annualised_cost
from riskkit.site import RawSite, build_site

REFINERY = "data/sites/example-refinery"

SAFETY_TOL = {1: 1e-1, 2: 1e-2, 3: 1e-3, 4: 1e-6}

# model options passed explicitly, so the tests hold whatever the defaults (hand values below
# are for today's r^-min(L, c) with r = 10)
TODAY = {"sl_effect": "orders", "fr_roles": "frequency", "layering": "max"}
V2 = {"sl_effect": "capability", "fr_roles": "split", "layering": "independent"}


def make_site(scenarios, cms, *, tolerance=None, options=None):
    data = {
        "site": {"name": "safety test", "currency": "EUR"},
        "zones": [{"id": "Z1"}, {"id": "Z2"}],
        "conduits": [],
        "threat_actors": [{"id": "ACT", "capability": 4, "attempt_rate": 1.0}],
        "scenarios": scenarios,
        "countermeasures": cms,
        "tolerance": tolerance or {"safety": SAFETY_TOL},
        "model": {"discount_rate": 0.08, "trials": 2000, **(options or TODAY)},
    }
    return build_site(RawSite(data=data, file="<test>"))


def scen(sid, zone, frs, rate, loss, **harm):
    return {
        "id": sid,
        "zone": zone,
        "actor": "ACT",
        "frs": list(frs),
        "rate": rate,
        "vulnerability": 1.0,
        "consequences": {"equipment": loss, **harm},
    }


def cm(cid, *effects, opex=0.0, capex=0.0, **extra):
    return {
        "id": cid,
        "status": "candidate",
        "cost": {"capex": capex, "opex": opex, "lifetime_years": 10},
        "effects": list(effects),
        **extra,
    }


def small_site(extra_scenarios=(), extra_cms=(), s1_layers=(), options=None):
    """S1 (severity 3) needs C1, or C3 (non-hackable safeguard) with C4; S2 needs C5 or C6."""
    s1 = scen("S1", "Z1", ["FR1"], 0.1, 1000.0, safety={"severity": 3, "probability": 0.5})
    if s1_layers:
        s1["protection_layers"] = list(s1_layers)
    scenarios = [
        s1,
        scen("S2", "Z2", ["FR2"], 0.2, 5000.0, safety={"severity": 2, "probability": 0.1}),
        scen("S3", "Z1", ["FR1", "FR3"], 0.5, 20000.0),
        *extra_scenarios,
    ]
    cms = [
        cm(
            "C1",
            {"type": "security_level", "zones": ["Z1"], "levels": {"FR1": 2}},
            opex=300,
            capex=1000,
        ),
        cm(
            "C2",
            {"type": "security_level", "zones": ["Z1"], "levels": {"FR3": 2}},
            opex=200,
            capex=500,
        ),
        cm(
            "C3",
            {"type": "consequence", "zones": ["Z1"], "category": "safety", "reduction": 0.95},
            opex=100,
            capex=2000,
        ),
        cm("C4", {"type": "frequency", "scenarios": ["S1"], "reduction": 0.7}, opex=150),
        cm(
            "C5",
            {"type": "frequency", "scenarios": ["S2"], "reduction": 0.6},
            opex=200,
            exclusive_group="g",
        ),
        cm(
            "C6",
            {"type": "security_level", "zones": ["Z2"], "levels": {"FR2": 1}},
            opex=250,
            capex=300,
            exclusive_group="g",
        ),
        cm("C7", {"type": "frequency", "scenarios": ["S3"], "reduction": 0.5}, opex=400),
        *extra_cms,
    ]
    return make_site(scenarios, cms, options=options)


class Brute:
    """Every plan of a site (exclusive groups respected), from expected_losses."""

    def __init__(self, site):
        self.site = site
        cands = [c for c in site.candidates]
        self.plans = []
        for r in range(len(cands) + 1):
            for combo in itertools.combinations(cands, r):
                groups = [c.exclusive_group for c in combo if c.exclusive_group]
                if len(groups) != len(set(groups)):
                    continue
                members = tuple(c.id for c in combo)
                ex = expected_losses(site, state="plan", plan=list(members))
                self.plans.append(
                    {
                        "members": members,
                        "annualised": sum(annualised_cost(site, c) for c in members),
                        "capex": sum(site.countermeasure(c).cost.capex for c in members),
                        "ale": float(ex["ale"].sum()),
                        "harm_ok": self._harm_ok(ex),
                    }
                )

    def _harm_ok(self, ex) -> dict:
        tol = self.site.tolerance
        ok = {}
        for sid, row in ex.iterrows():
            good = True
            for cat in ("safety", "environment"):
                sev = int(row[f"{cat}_severity"])
                lim = [v for k, v in getattr(tol, cat).items() if k <= sev]
                if sev > 0 and lim and row[f"{cat}_rate"] > min(lim) * (1 + 1e-9):
                    good = False
            ok[sid] = good
        return ok

    def meets(self, plan, scenarios) -> bool:
        return all(plan["harm_ok"][s] for s in scenarios)

    def meetable(self) -> list[str]:
        sids = [s.id for s in self.site.scenarios]
        return [s for s in sids if any(p["harm_ok"][s] for p in self.plans)]

    def least_budget(self, kind="annualised") -> float:
        ok = [p[kind] for p in self.plans if self.meets(p, self.meetable())]
        return min(ok) if ok else math.nan

    def best_within(self, budget, kind="annualised", harm=True) -> dict:
        ok = [
            p
            for p in self.plans
            if p[kind] <= budget * (1 + 1e-12) + 1e-9
            and (not harm or self.meets(p, self.meetable()))
        ]
        return min(ok, key=lambda p: (p["ale"], p[kind]))

    def least_total_cost(self, harm=True) -> dict:
        ok = [p for p in self.plans if not harm or self.meets(p, self.meetable())]
        return min(ok, key=lambda p: p["ale"] + p["annualised"])


@pytest.fixture(scope="module")
def site():
    return small_site()


@pytest.fixture(scope="module")
def brute(site):
    return Brute(site)


# --------------------------------------------------------------------------------------------
# The least sufficient budget equals brute force
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["annualised", "capex"])
@pytest.mark.parametrize("method", ["auto", "logspace", "product", "enumerate"])
def test_least_sufficient_budget_equals_brute_force(site, brute, kind, method):
    want = brute.least_budget(kind)
    got, members = P.least_sufficient_budget(site, kind, method=method)
    assert got == pytest.approx(want, rel=1e-9)
    plan = next(p for p in brute.plans if p["members"] == members)
    assert brute.meets(plan, brute.meetable())
    assert plan[kind] == pytest.approx(want, rel=1e-9)
    # the plan named is the best for expected loss among those at the least budget
    assert plan["ale"] == pytest.approx(brute.best_within(want, kind)["ale"], rel=1e-9)


@pytest.mark.parametrize("method", ["auto", "enumerate"])
def test_least_budget_and_plan_under_the_v2_model_options(method):
    """Capability-aware SL effect, FR6/FR7 on consequence, independent layering (core)."""
    site = small_site(
        extra_scenarios=[
            scen("S7", "Z2", ["FR2", "FR6"], 0.3, 800.0, safety={"severity": 2, "probability": 0.2})
        ],
        options=V2,
    )
    brute = Brute(site)
    least, _ = P.least_sufficient_budget(site, method=method)
    assert least == pytest.approx(brute.least_budget(), rel=1e-9)
    for budget in (least, least * 1.5):
        plan = P.optimize(site, budget, safety_first=True, method=method, simulate=False)
        assert plan.safety.met
        assert plan.expected_ale == pytest.approx(brute.best_within(budget)["ale"], rel=1e-9)


def test_hand_value_of_the_small_site(site):
    """S1 needs C1, or C3 + C4; S2 needs C5 or C6: least C1 + C5 once capex is annualised.

    Annualised [EUR/yr] at 8 % over 10 years (CRF 0.14903): C1 300 + 1000 CRF = 449.03,
    C3 + C4 = 100 + 2000 CRF + 150 = 548.06; C5 200, C6 250 + 300 CRF = 294.71.
    """
    crf = 0.08 * 1.08**10 / (1.08**10 - 1)
    want = 300 + 1000 * crf + 200
    assert want < 100 + 2000 * crf + 150 + 200
    got, members = P.least_sufficient_budget(site, "annualised")
    assert got == pytest.approx(want, rel=1e-12)
    assert set(members) >= {"C1", "C5"}
    # by capex: C1 (1000) + C5 (0), against C3 + C4 (2000) or C6 (300)
    assert P.least_sufficient_budget(site, "capex")[0] == pytest.approx(1000.0, rel=1e-12)


# --------------------------------------------------------------------------------------------
# optimize(safety_first=True)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "enumerate"])
def test_within_budget_the_plan_meets_harm_and_is_best_among_those(site, brute, method):
    least = brute.least_budget()
    for budget in (least, least * 1.5, least + 1000, None):
        plan = P.optimize(site, budget, safety_first=True, method=method, simulate=False)
        b = math.inf if budget is None else budget
        want = brute.best_within(b)
        assert plan.expected_ale == pytest.approx(want["ale"], rel=1e-9)
        assert plan.safety.within_budget and plan.safety.met
        assert plan.safety.breaches == ()
        assert plan.safety.least_budget == pytest.approx(least, rel=1e-9)
        assert "harm_frequency" in plan.constraints


@pytest.mark.parametrize("method", ["auto", "enumerate"])
def test_below_the_least_budget_the_money_plan_is_kept_and_flagged(site, brute, method):
    least = brute.least_budget()
    budget = least * (1 - 1e-6)
    plan = P.optimize(site, budget, safety_first=True, method=method, simulate=False)
    plain = P.optimize(site, budget, method=method, simulate=False)
    assert plan.members == plain.members
    assert plan.expected_ale == pytest.approx(brute.best_within(budget, harm=False)["ale"])
    s = plan.safety
    assert not s.within_budget
    assert s.least_budget == pytest.approx(least, rel=1e-9)
    # the breaches are exactly the scenarios brute force says the plan leaves above tolerance
    row = next(p for p in brute.plans if p["members"] == plan.members)
    broken = {sid for sid, ok in row["harm_ok"].items() if not ok}
    assert {b["scenario"] for b in s.breaches} == broken
    assert s.met == (not broken)
    for b in s.breaches:
        assert b["frequency"] > b["tolerable"]


def test_least_budget_search_out_of_time_keeps_the_money_plan_and_says_so(site, brute, monkeypatch):
    # the least-budget search stopped by the time limit before any plan meeting the harm
    # tolerances was found: optimize still returns the money plan within the budget, and the
    # record says the least budget is unknown (NaN, not exact) rather than infeasible
    from riskkit.portfolio import api

    def out_of_time(*args, **kwargs):
        raise RuntimeError("the least budget meeting the harm tolerances was not found")

    monkeypatch.setattr(api, "_least_budget", out_of_time)
    budget = brute.least_budget() * (1 - 1e-6)
    plan = P.optimize(site, budget, safety_first=True, simulate=False)
    plain = P.optimize(site, budget, safety_first=False, simulate=False)
    assert plan.members == plain.members
    s = plan.safety
    assert math.isnan(s.least_budget) and not s.least_exact and not s.within_budget
    assert s.least_plan == ()


def test_default_is_safety_first_and_false_gives_the_money_plan(site, brute):
    # model v2 (issue 10): safety first is the default of optimize
    least = brute.least_budget()
    for budget in (400.0, least):
        plan = P.optimize(site, budget, simulate=False)
        on = P.optimize(site, budget, safety_first=True, simulate=False)
        assert plan.safety == on.safety and plan.members == on.members
        assert plan.safety is not None
    assert "harm_frequency" in plan.constraints and plan.safety.met
    # safety_first=False: the money-only plan of before, without the record
    off = P.optimize(site, 400.0, safety_first=False, simulate=False)
    assert off.safety is None
    assert "harm_frequency" not in off.constraints


def test_non_hackable_safeguard_is_bought_only_for_harm():
    """C8 acts on harm alone: worthless for money, chosen once harm is a constraint."""
    site = small_site(
        extra_cms=[
            cm(
                "C8",
                {"type": "consequence", "zones": ["Z2"], "category": "safety", "reduction": 0.9},
                opex=10,
            )
        ]
    )
    least, members = P.least_sufficient_budget(site)
    assert "C8" in members
    # it meets S2 for 10 instead of C5's 200 [EUR/yr]
    assert least == pytest.approx(P.least_sufficient_budget(small_site())[0] - 190, rel=1e-12)
    money = P.optimize(site, least, safety_first=False, simulate=False)
    assert "C8" not in money.members
    safe = P.optimize(site, least, safety_first=True, simulate=False)
    assert "C8" in safe.members and safe.safety.met
    assert safe.expected_ale == pytest.approx(Brute(site).best_within(least)["ale"], rel=1e-9)


def test_unmeetable_scenario_is_named_not_constrained():
    """S4 (severity 4, tolerable 1e-6/yr) cannot be met by any candidate: flagged only."""
    extra = [scen("S4", "Z2", ["FR2"], 1.0, 100.0, safety={"severity": 4, "probability": 1.0})]
    site = small_site(extra_scenarios=extra)
    brute = Brute(site)
    assert "S4" not in brute.meetable()
    with pytest.raises(P.InfeasiblePlan, match="S4"):
        P.optimize(site, None, constraints=["harm_frequency"], simulate=False)
    plan = P.optimize(site, None, safety_first=True, simulate=False)
    assert plan.safety.unmeetable == ("S4",)
    assert "S4" not in plan.safety.constrained
    assert plan.safety.met  # every meetable tolerance is met
    assert [b["scenario"] for b in plan.safety.breaches] == ["S4"]
    assert plan.safety.breaches[0]["meetable"] is False
    assert P.least_sufficient_budget(site)[0] == pytest.approx(brute.least_budget(), rel=1e-9)


def test_tolerances_that_exclude_each_other_give_no_least_budget():
    """S5 is met only by C5, S6 only by C6, and C5, C6 exclude each other."""
    extra = [
        scen("S5", "Z2", ["FR4"], 0.02, 10.0, safety={"severity": 2, "probability": 1.0}),
        scen("S6", "Z2", ["FR4"], 0.02, 10.0, safety={"severity": 2, "probability": 1.0}),
    ]
    cms_ = [
        cm("C9", {"type": "frequency", "scenarios": ["S5"], "reduction": 0.9}, exclusive_group="h"),
        cm(
            "C10", {"type": "frequency", "scenarios": ["S6"], "reduction": 0.9}, exclusive_group="h"
        ),
    ]
    site = small_site(extra_scenarios=extra, extra_cms=cms_)
    assert math.isnan(Brute(site).least_budget())
    least, members = P.least_sufficient_budget(site)
    assert math.isnan(least) and members == ()
    plan = P.optimize(site, 5000.0, safety_first=True, simulate=False)
    assert not plan.safety.within_budget and not plan.safety.met
    assert plan.members == P.optimize(site, 5000.0, simulate=False).members


@pytest.mark.parametrize("defeatable", [False, True])
def test_lopa_credit_counts_in_the_harm_constraint(defeatable):
    """An IPL (pfd 0.1) on S1 lets C3 alone meet its tolerance; a layer the attack can
    defeat gives no credit (CCPS LOPA; ISA TR84.00.09)."""
    base = small_site()
    layer = {"name": "relief valve", "pfd": 0.1, "cyber_defeatable": defeatable}
    site = small_site(s1_layers=[layer])
    brute = Brute(site)
    least, members = P.least_sufficient_budget(site)
    assert least == pytest.approx(brute.least_budget(), rel=1e-9)
    without = P.least_sufficient_budget(base)[0]
    if defeatable:
        assert least == pytest.approx(without, rel=1e-12)
    else:
        crf = 0.08 * 1.08**10 / (1.08**10 - 1)
        assert least == pytest.approx(100 + 2000 * crf + 200, rel=1e-12) and least < without
        assert set(members) >= {"C3", "C5"}


@pytest.mark.parametrize("combos", [4096, 0])
def test_blocks_too_large_to_tabulate(monkeypatch, combos):
    """Untabulated blocks: meetability by group combinations (or all usable candidates)."""
    import riskkit.portfolio.constraints as C
    import riskkit.portfolio.problem as PR

    monkeypatch.setattr(PR, "TABLE_MAX", 0)
    monkeypatch.setattr(C, "GROUP_COMBINATIONS_MAX", combos)
    extra = [scen("S4", "Z2", ["FR2"], 1.0, 100.0, safety={"severity": 4, "probability": 1.0})]
    site = small_site(extra_scenarios=extra)
    brute = Brute(site)
    problem = P.Problem(site)
    assert all(b.table is None for b in problem.blocks if b.m)
    least, _ = P.least_sufficient_budget(site, method="logspace", problem=problem)
    assert least == pytest.approx(brute.least_budget(), rel=1e-9)
    plan = P.optimize(
        site, least * 1.2, safety_first=True, method="logspace", simulate=False, problem=problem
    )
    assert plan.safety.unmeetable == ("S4",) and plan.safety.met
    assert plan.expected_ale == pytest.approx(brute.best_within(least * 1.2)["ale"], rel=1e-9)


# --------------------------------------------------------------------------------------------
# Least total cost of risk
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "enumerate"])
@pytest.mark.parametrize("safety_first", [False, True])
def test_least_total_cost_equals_brute_force(site, brute, method, safety_first):
    want = brute.least_total_cost(harm=safety_first)
    plan = P.least_total_cost(site, safety_first=safety_first, method=method, simulate=False)
    assert plan.expected_ale + plan.annualised_cost == pytest.approx(
        want["ale"] + want["annualised"], rel=1e-9
    )
    assert plan.budget is None
    if safety_first:
        assert plan.safety.met and plan.safety.within_budget
    else:
        assert plan.safety is None


# --------------------------------------------------------------------------------------------
# The example refinery: S-26 and CM-30 (non-hackable safeguards)
# --------------------------------------------------------------------------------------------


def refinery_with(options: dict):
    """The example refinery with the model options given explicitly (whatever the defaults)."""
    from riskkit.io import read_raw

    raw = read_raw(REFINERY)
    raw.data["model"] = {**raw.data.get("model", {}), **options}
    return build_site(raw)


@pytest.fixture(scope="module")
def refinery():
    return refinery_with(TODAY)


@pytest.mark.parametrize("options", [TODAY, V2], ids=["today", "v2"])
def test_refinery_safety_plan_meets_harm_when_the_budget_allows(options):
    site = refinery_with(options)
    problem = P.Problem(site)
    least, members = P.least_sufficient_budget(site, problem=problem)
    assert np.isfinite(least) and members
    plan = P.optimize(site, least * 1.25, safety_first=True, simulate=False, problem=problem)
    assert plan.safety.met and plan.safety.within_budget and plan.safety.breaches == ()
    money = P.optimize(site, least * 1.25, simulate=False, problem=problem)
    assert plan.expected_ale >= money.expected_ale - 1e-9 * money.expected_ale


def test_refinery_least_budget_is_the_threshold(refinery):
    """At the least sufficient budget the harm tolerances are met; a cent less, they are not."""
    problem = P.Problem(refinery)
    least, members = P.least_sufficient_budget(refinery, problem=problem)
    assert np.isfinite(least)
    at = P.optimize(refinery, least, safety_first=True, simulate=False, problem=problem)
    assert at.safety.within_budget and at.safety.met and at.safety.breaches == ()
    assert at.members == members
    below = P.optimize(refinery, least - 0.01, safety_first=True, simulate=False, problem=problem)
    assert not below.safety.within_budget and not below.safety.met
    assert below.safety.least_budget == pytest.approx(least, rel=1e-12)


def test_refinery_buys_the_non_hackable_safeguards_for_s26(refinery):
    problem = P.Problem(refinery)
    money = P.optimize(refinery, None, safety_first=False, simulate=False, problem=problem)
    assert "CM-30" not in money.members  # CM-30 removes no money
    over = P.optimize(refinery, None, safety_first=True, simulate=False, problem=problem)
    # even with every candidate that removes money, S-26 stays above its tolerance
    mask = problem.mask(money.members)
    from riskkit.portfolio.constraints import _harm_breaches

    assert "S-26" in {b["scenario"] for b in _harm_breaches(problem, mask)}
    assert "CM-30" in over.members and over.safety.met
    assert "S-26" in over.safety.constrained and over.safety.breaches == ()


# --------------------------------------------------------------------------------------------
# Reports and CLI: the first sentence says when the budget cannot meet the harm tolerances
# --------------------------------------------------------------------------------------------


def _assessment(site, budget, safety_first):
    from riskkit.report import Assessment

    return Assessment(site, trials=500, seed=3, budget=budget, fast=True, safety_first=safety_first)


def test_assessment_without_safety_first_recommends_the_money_plan(site, brute):
    # Assessment(safety_first=False) (assess --no-safety-first) must not fall back to the
    # optimiser's default (safety first): at the least sufficient budget the money plan and
    # the harm-constrained plan differ on this site
    least = brute.least_budget()
    money = P.optimize(site, least, safety_first=False, simulate=False)
    safe = P.optimize(site, least, safety_first=True, simulate=False)
    assert money.members != safe.members
    assert _assessment(site, least, False).plan.members == money.members
    assert _assessment(site, least, True).plan.members == safe.members


def test_summary_first_sentence_names_the_least_budget(site, brute):
    from riskkit.figures import money
    from riskkit.report import views
    from riskkit.report.summary import plan_summary

    least = brute.least_budget()
    A = _assessment(site, least / 2, True)
    first = views.headline_markdown(A).split("\n")[0]
    assert first.startswith("- **Safety first.** **No plan within the budget of")
    assert f"**{money(least, 'EUR')}/yr**" in first
    block = plan_summary(A)["safety"]
    assert block["least_budget"] == pytest.approx(least, rel=1e-9)
    assert not block["within_budget"] and not block["met"]
    assert block["sentence"].startswith("No plan within the budget")
    over = {b["scenario"] for b in block["breaches"]}
    row = next(p for p in brute.plans if p["members"] == A.plan.members)
    assert over == {s for s, ok in row["harm_ok"].items() if not ok}
    # within the budget: nothing is said first, the harm line says the tolerances are met
    B = _assessment(site, least, True)
    lines = views.headline_markdown(B).split("\n")
    assert not lines[0].startswith("- **Safety first.**")
    assert any("meets the tolerable frequency of harm of every scenario" in ln for ln in lines)
    assert plan_summary(B)["safety"]["sentence"] is None


def test_summary_is_unchanged_without_safety_first(site, brute):
    from riskkit.report import views
    from riskkit.report.summary import plan_summary

    A = _assessment(site, brute.least_budget() / 2, False)
    assert "safety" not in plan_summary(A)
    assert "Safety first" not in views.headline_markdown(A)
    assert "safety_first" not in A.fingerprint()


def test_no_budget_keeps_the_least_total_cost_budget_when_it_suffices(site, brute):
    from riskkit.report.assessment import recommended_budget

    A = _assessment(site, None, True)
    budget = recommended_budget(A.frontier.points)
    assert budget >= brute.least_budget()
    assert A.plan.safety.within_budget and A.plan.safety.met
    assert A.budget == budget and A.budget_source == "least total cost of risk"
    assert A.plan.expected_ale == pytest.approx(brute.best_within(budget)["ale"], rel=1e-9)


def test_no_budget_raises_the_plan_to_meet_harm():
    """Nothing pays for itself (least-total-cost budget 0), yet S1's harm needs C1 or C2:
    the plan becomes the least total cost of risk among the plans meeting the tolerance."""
    from riskkit.report import views
    from riskkit.report.assessment import recommended_budget

    site = make_site(
        [scen("S1", "Z1", ["FR1"], 0.1, 10.0, safety={"severity": 3, "probability": 0.5})],
        [
            cm("C1", {"type": "security_level", "zones": ["Z1"], "levels": {"FR1": 2}}, opex=300),
            cm("C2", {"type": "frequency", "scenarios": ["S1"], "reduction": 0.99}, opex=280),
            cm("C3", {"type": "frequency", "scenarios": ["S1"], "reduction": 0.5}, opex=50),
        ],
    )
    brute = Brute(site)
    A = _assessment(site, None, True)
    assert recommended_budget(A.frontier.points) < brute.least_budget() == 280.0
    P = A.plan
    want = brute.least_total_cost(harm=True)
    assert P.members == want["members"] == ("C2",)
    assert P.safety.met and not P.safety.within_budget and P.budget is None
    assert A.budget == pytest.approx(280.0) and "harm" in A.budget_source
    assert views.headline_markdown(A).startswith("- **Safety first.** **Meeting every harm")
    off = _assessment(site, None, False)
    assert off.plan.members == () and off.budget_source == "least total cost of risk"


def test_cli_plan_says_so_first():
    from click.testing import CliRunner

    from riskkit.cli import cli
    from riskkit.io import load_site

    # the CLI reads the site file with its own model options: so does the reference value
    least, members = P.least_sufficient_budget(load_site(REFINERY))
    args = ["plan", REFINERY, "--budget", "100000", "--trials", "200", "--seed", "1", "--top", "0"]
    res = CliRunner().invoke(cli, [*args, "--safety-first"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    want = (
        "no plan within the budget meets every harm tolerance; the least budget that would"
        f" is {least:,.0f} EUR/yr ({', '.join(members)})"
    )
    assert want in text
    off = CliRunner().invoke(cli, [*args, "--no-safety-first"], catch_exceptions=False)
    assert "safety first" not in off.stdout
    on = CliRunner().invoke(
        cli, [*args[:3], str(math.ceil(least)), *args[4:], "--safety-first"], catch_exceptions=False
    )
    assert "safety first: the plan meets every harm tolerance" in " ".join(on.stdout.split())
    # safety first is the default of plan (model v2)
    default = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert want in " ".join(default.stdout.split())


def test_side_by_side_shows_the_least_budget_plan(site, brute):
    from riskkit.report.plans import plans_side_by_side

    least = brute.least_budget()
    A = _assessment(site, least / 2, True)
    df = plans_side_by_side(A)
    col = "Meets every harm tolerance (least sufficient budget)"
    assert col in df.columns
    assert df.loc["Harm tolerances", col] == "all met"
    assert df.loc["Harm tolerances", "Best risk reduction within the budget"].startswith(
        "above tolerance: "
    )
    off = plans_side_by_side(_assessment(site, least / 2, False))
    assert col not in off.columns and "Harm tolerances" not in off.index


def test_without_a_budget_the_plan_has_the_least_total_cost_among_harm_meeting_plans(
    refinery_site,
):
    # the frontier's least-total-cost budget (a grid, found for money alone) allowed a
    # harm-meeting plan costing more in total than the exact optimum; the recommended plan is
    # the exact least total cost of risk among the plans meeting the harm tolerances
    from riskkit.report import Assessment

    A = Assessment(refinery_site, trials=500, seed=3)
    T = P.least_total_cost(refinery_site, safety_first=True, simulate=False)
    plan = A.plan
    assert plan.safety.met
    got = plan.annualised_cost + plan.expected_ale
    assert got == pytest.approx(T.annualised_cost + T.expected_ale, rel=1e-9)
