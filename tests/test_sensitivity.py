"""Sensitivity, SL-T robustness and value of information on models with known answers."""

from __future__ import annotations

import copy
import math
from statistics import NormalDist

import numpy as np
import pytest
from conftest import build

from riskkit.exposure import expected_losses
from riskkit.sensitivity import (
    _Model,
    convergence,
    evpi,
    global_sensitivity,
    sl_robustness,
    tornado,
    trials_for_precision,
)
from riskkit.whatif import what_if

ONE = {
    "site": {"name": "One uncertain input", "currency": "EUR"},
    "zones": [{"id": "Z-A", "kind": "control"}, {"id": "Z-B", "kind": "operations"}],
    "conduits": [],
    "threat_actors": [{"id": "A-1", "capability": 4, "attempt_rate": 2.0}],
    "scenarios": [
        {
            "id": "S-1",
            "zone": "Z-A",
            "actor": "A-1",
            "frs": ["FR1"],
            "rate": {"dist": "lognormal", "low": 1, "high": 5},
            "vulnerability": 1.0,
            "consequences": {"equipment": 1e5},
        },
        {
            "id": "S-2",
            "zone": "Z-B",
            "actor": "A-1",
            "frs": ["FR2"],
            "rate_share": 0.5,
            "vulnerability": 0.5,
            "consequences": {"equipment": 2e5},
        },
    ],
    "countermeasures": [
        {
            "id": "CM-A",
            "status": "candidate",
            "cost": {"capex": 0, "opex": 1000, "lifetime_years": 5},
            "effects": [{"type": "frequency", "scenarios": ["S-1"], "reduction": 0.9}],
        },
        {
            "id": "CM-B",
            "status": "candidate",
            "cost": {"capex": 0, "opex": 1000, "lifetime_years": 5},
            "effects": [{"type": "frequency", "scenarios": ["S-1"], "reduction": 0.1}],
        },
    ],
    "tolerance": {"financial": {"per_zone_ale": 1e5}},
    "model": {"trials": 1000, "seed": 7},
}


def _site(change=None):
    d = copy.deepcopy(ONE)
    if change:
        change(d)
    return build(d)


def test_closed_form_at_the_means_is_expected_losses(refinery_site):
    m = _Model(refinery_site)
    assert m.ale() == pytest.approx(expected_losses(refinery_site)["ale"].sum(), rel=1e-12)
    plan = ("CM-10", "CM-14")
    want = expected_losses(refinery_site, plan=plan)["ale"].sum()
    assert m.ale(None, plan) == pytest.approx(want, rel=1e-12)


def test_one_uncertain_input_ranks_first_with_the_closed_form_swing():
    site = _site()
    t = tornado(site, plan=["CM-A"])
    assert list(t.index) == ["rate:S-1"]  # the only uncertain family
    row = t.loc["rate:S-1"]
    lo = NormalDist(math.log(5) / 2, math.log(5) / (2 * NormalDist().inv_cdf(0.95)))
    assert row["p10"] == pytest.approx(math.exp(lo.inv_cdf(0.10)), rel=1e-12)
    mean = site.scenario("S-1").rate.mean()

    def ale(v):
        return expected_losses(what_if(site, scenario_rate={"S-1": v / mean}))["ale"].sum()

    assert row["low"] == pytest.approx(ale(row["p10"]), rel=1e-9)
    assert row["high"] == pytest.approx(ale(row["p90"]), rel=1e-9)
    assert row["swing"] == pytest.approx(ale(row["p90"]) - ale(row["p10"]), rel=1e-9)
    # net benefit of CM-A: 0.9 x rate x 1e5 - 1000 per year
    assert row["nb_swing"] == pytest.approx(0.9 * (row["p90"] - row["p10"]) * 1e5, rel=1e-9)


def test_independent_inputs_have_rank_correlation_near_zero():
    def two(d):
        d["countermeasures"][0]["effects"][0]["reduction"] = {
            "dist": "uniform",
            "low": 0.2,
            "high": 0.9,
        }
        d["scenarios"][1]["vulnerability"] = {"dist": "uniform", "low": 0.1, "high": 0.9}

    site = _site(two)
    g = global_sensitivity(site, draws=4000, seed=3)
    # a candidate's effect does not act in the current state: independent of the loss
    eff = g.loc["effect:CM-A:0"]
    assert abs(eff["rank_corr"]) < 4 * eff["se"]
    assert eff["se"] == pytest.approx(1 / math.sqrt(3999))
    assert eff["first_order"] == pytest.approx(0.0, abs=1e-12)
    # the two inputs that act are independent of each other and both correlate positively
    assert g.loc["rate:S-1", "rank_corr"] > 10 * g.loc["rate:S-1", "se"]
    assert g.loc["vulnerability:S-2", "rank_corr"] > 10 * g.loc["vulnerability:S-2", "se"]
    assert g.index[0] == "rate:S-1"


def test_tornado_in_the_plan_state_swings_the_plan_ale():
    """With CM-A (frequency reduction 0.9 on S-1) the swing of S-1's rate is a tenth."""
    site = _site()
    cur = tornado(site, plan=["CM-A"])
    pl = tornado(site, state="plan", plan=["CM-A"])
    assert pl.loc["rate:S-1", "swing"] == pytest.approx(0.1 * cur.loc["rate:S-1", "swing"])
    assert pl.attrs["base_ale"] == pytest.approx(
        float(expected_losses(site, plan=["CM-A"])["ale"].sum())
    )


def test_total_indices_of_a_product_match_the_closed_form():
    """ALE of S-1 = rate x (1 - e) x 1e5 with rate and e independent: a pure product, so
    S_rate = Var(R) E[F]^2 / Var(Y), S_T,rate = 1 - Var(F) E[R]^2 / Var(Y) (and likewise
    for F), each checked within 4 relative standard errors of a variance estimate."""

    def product(d):
        d["countermeasures"][0]["status"] = "implemented"
        d["countermeasures"][0]["effects"][0]["reduction"] = {
            "dist": "uniform",
            "low": 0.0,
            "high": 0.8,
        }
        d["countermeasures"].pop(1)

    site = _site(product)
    g = global_sensitivity(site, draws=20_000, seed=5)
    rate = site.scenario("S-1").rate
    er, vr = rate.mean(), rate.var()
    ef, vf = 1 - 0.4, 0.8**2 / 12  # F = 1 - e, e ~ U(0, 0.8)
    vy = (vr + er**2) * (vf + ef**2) - (er * ef) ** 2  # S-2 has no uncertain input
    tol = 4 * math.sqrt(2 / 20_000) * 3  # variance ratios: a few relative standard errors
    r, f = g.loc["rate:S-1"], g.loc["effect:CM-A:0"]
    assert r["first_order"] == pytest.approx(vr * ef**2 / vy, rel=tol)
    assert r["total"] == pytest.approx(1 - vf * er**2 / vy, rel=tol)
    assert f["first_order"] == pytest.approx(vf * er**2 / vy, rel=tol)
    assert f["total"] == pytest.approx(1 - vr * ef**2 / vy, rel=tol)
    # the interaction shows: totals exceed first-order indices, which sum below 1
    assert r["total"] > r["first_order"] and f["total"] > f["first_order"]
    assert r["first_order"] + f["first_order"] < 1 < r["total"] + f["total"]


def test_evpi_is_zero_when_one_plan_is_best_for_every_theta():
    site = _site()
    v = evpi(site, plans=[["CM-A"], ["CM-B"]], draws=2000, seed=1)
    # NB(CM-A | θ) = 0.9 λ 1e5 - 1000 > NB(CM-B | θ) and > 0 for every draw of λ > 0.05
    assert v.best == ("CM-A",)
    assert v.evpi == 0.0
    assert (v.evppi["evppi"] == 0.0).all()


def test_evpi_matches_a_hand_computation_with_two_rate_values():
    def two_values(d):
        d["scenarios"][0]["rate"] = {"dist": "empirical", "values": [1.0, 3.0]}
        d["scenarios"][0]["consequences"] = {"equipment": 1000.0}
        d["countermeasures"][0]["effects"][0]["reduction"] = 0.5
        d["countermeasures"][0]["cost"]["opex"] = 900.0

    site = _site(two_values)
    v = evpi(site, plans=[["CM-A"]], draws=8000, seed=5)
    # NB(CM-A | λ) = 0.5 x 1000 λ - 900: -400 at λ = 1, +600 at λ = 3; doing nothing: 0.
    # E[NB] = 100 > 0, so CM-A is chosen; with perfect information the loss of -400 is
    # avoided: EVPI = 0.5 x 600 - 100 = 200 [EUR/yr].
    assert v.best == ("CM-A",)
    assert v.se > 0
    assert v.evpi == pytest.approx(200.0, abs=4 * v.se)
    assert v.evppi.loc["rate:S-1", "evppi"] == pytest.approx(v.evpi, rel=1e-12)
    assert v.plans.set_index("members").loc["CM-A", "expected_nb"] == pytest.approx(100.0)


def _certain(d):
    d["scenarios"][0]["rate"] = 0.3


def test_sl_robustness_without_uncertainty_is_zero_or_one():
    site = _site(_certain)
    rob = sl_robustness(site, draws=200, seed=1)
    probs = np.concatenate([rob["p_lower"], rob["p_higher"]])
    assert set(np.unique(probs)) <= {0.0, 1.0}
    assert not rob["fragile"].any()


def test_sl_robustness_of_a_lognormal_rate_on_a_level_boundary():
    site0 = _site()
    lam = site0.scenario("S-1").rate
    x = 1e5
    tol = lam.mean() * x / 10.2  # reported RRF 10.2 against r = 10: SL 2 (a knife edge)

    def edge(d):
        d["scenarios"] = d["scenarios"][:1]
        d["tolerance"]["financial"]["per_zone_ale"] = tol

    site = _site(edge)
    n = 20000
    rob = sl_robustness(site, draws=n, seed=11).set_index(["kind", "id", "fr"])
    entry = rob.loc[("zone", "Z-A", "FR1")]
    assert entry["sl_t"] == 2
    law = NormalDist(lam.mu, lam.sigma)
    p_lower = law.cdf(math.log(10 * tol / x))  # RRF <= 10: SL 1
    p_higher = 1 - law.cdf(math.log(100 * tol / x))  # RRF > 100: SL 3
    for got, want in ((entry["p_lower"], p_lower), (entry["p_higher"], p_higher)):
        assert got == pytest.approx(want, abs=4 * math.sqrt(want * (1 - want) / n) + 1e-9)
    assert entry["fragile"]
    assert entry["driver"] == "rate:S-1"
    assert rob.loc[("zone", "Z-B", "FR2"), "p_change"] == 0.0


def test_convergence_and_trials_for_precision(tiny_site):
    c = convergence(tiny_site, [200, 1000, 4000], seed=2)
    assert list(c.index) == [200, 1000, 4000]
    assert (c["ale_se"].diff().dropna() < 0).all()  # shrinks with the trials
    assert (c["var_lo"] <= c["var"]).all() and (c["var"] <= c["var_hi"]).all()
    x = np.array([1.0, 3.0] * 50)
    # s = 1.005, mean 2: (1.96 x 1.005 / (0.01 x 2))^2
    want = math.ceil((NormalDist().inv_cdf(0.975) * x.std(ddof=1) / 0.02) ** 2)
    assert trials_for_precision(x, 0.01) == want
    with pytest.raises(ValueError, match="precision"):
        trials_for_precision(x, 1.5)


def test_draws_are_reproducible_and_seeded(refinery_site):
    a = evpi(refinery_site, draws=500, seed=4, evppi=False)
    b = evpi(refinery_site, draws=500, seed=4, evppi=False)
    assert a.evpi == b.evpi
    assert a.evpi >= 0


def test_cli_sensitivity_json(tmp_path):
    import json

    import yaml
    from click.testing import CliRunner

    from riskkit.cli import cli

    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(ONE))
    res = CliRunner().invoke(cli, ["sensitivity", str(path), "--json", "--draws", "500"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["tornado"][0]["family"] == "rate:S-1"
    want = evpi(build(ONE), draws=500)  # the frontier's plans, the site's seed
    assert out["value_of_information"]["evpi"] == pytest.approx(want.evpi, rel=1e-12)
    assert out["value_of_information"]["best_plan"] == list(want.best)
    text = CliRunner().invoke(cli, ["sensitivity", str(path), "--draws", "500"])
    assert text.exit_code == 0 and f"EVPI: {want.evpi:,.0f} EUR/yr" in text.output


def test_cli_simulate_precision_picks_the_trials(tmp_path):
    import json

    import yaml
    from click.testing import CliRunner

    from riskkit.cli import cli

    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(ONE))
    args = ["simulate", str(path), "--precision", "5%", "--trials", "2000", "--json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    row = out["summary"]["site"]
    assert out["trials"] >= 2000
    # the achieved 95 % half-width is close to the precision asked for (within sampling)
    assert 1.96 * row["ale_se"] / row["ale"] < 0.05 * 1.15
    bad = CliRunner().invoke(cli, ["simulate", str(path), "--precision", "150%"])
    assert bad.exit_code != 0 and "150%" in bad.output


def test_report_block_and_sentence_use_the_library_numbers(tiny_site):
    from riskkit.report import Assessment, schema
    from riskkit.report.summary import SENSITIVITY_DRAWS, sensitivity_block
    from riskkit.report.views import fragile_markdown, sensitivity_markdown

    A = Assessment(tiny_site, trials=500, seed=3)
    block = sensitivity_block(A)
    assert schema.check(block, schema.SUMMARY_SCHEMA["sensitivity"]) == []
    want = evpi(tiny_site, plans=A.frontier.plans, draws=SENSITIVITY_DRAWS, seed=3)
    assert block["evpi"] == pytest.approx(want.evpi, rel=1e-12)
    assert block["best_plan"] == list(want.best)
    assert block["base_ale"] == pytest.approx(expected_losses(tiny_site)["ale"].sum())
    text = sensitivity_markdown(A)
    assert "EVPI" in text and ("robust to" in text or "sensitive to" in text)
    assert "SL-T" in fragile_markdown(A)


def test_vectorised_levels_agree_with_required_level():
    from riskkit.levels.methods import required_level
    from riskkit.sensitivity import _levels

    rng = np.random.default_rng(0)
    for r in (10.0, 3.0, 2.5):
        x = np.concatenate([10 ** rng.uniform(-2, 6, 2000), r ** np.arange(0, 6.0), [0.0, 1.0]])
        assert list(_levels(x, r)) == [required_level(float(v), r) for v in x]
