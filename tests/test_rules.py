"""riskkit.rules against hand computations.

Every expected value below is worked out by hand in the comments, on a small site whose
distributions are constants, so that means are the numbers themselves:

- actor A: capability 2, 10 attempts/yr; r = 10 per security level; discount rate 10 %.
- S-1 in Z-A through conduit C-1, FR1 + FR2, rate_share 0.5, vulnerability 0.2:
  base rate 10 x 0.5 x 0.2 = 1.0 /yr. Production 10 h x 100 = 1000, recovery 500 per event.
  Safety severity 3 with probability 0.1.
- S-2 in Z-A, no entry, FR2 + FR3, own rate 0.4 /yr, vulnerability 0.5: base 0.2 /yr;
  equipment 2000 per event.
- S-3 in Z-B, FR7, own rate 0.1 /yr, vulnerability 1: base 0.1 /yr; environment severity 2,
  no money.
- SL-A: Z-A [2, 1, 3, 0, 0, 0, 0], C-1 [3, 3, 0, 0, 0, 0, 0], Z-B none (zeros).
- CM-F implemented: frequency 0.5 on S-1. CM-C candidate: production -25 % in Z-A, capex
  1000, opex 100, 2 years. CM-S candidate: Z-A FR2 -> 3.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build

from riskkit import rules

SITE = {
    "site": {"name": "Rules site", "currency": "EUR"},
    "zones": [
        {"id": "Z-A", "kind": "operations", "purdue_level": 3, "sl_a": [2, 1, 3, 0, 0, 0, 0]},
        {"id": "Z-B", "kind": "field"},
        {"id": "Z-C", "kind": "other"},
    ],
    "conduits": [{"id": "C-1", "zones": ["Z-A", "Z-B"], "sl_a": [3, 3, 0, 0, 0, 0, 0]}],
    "threat_actors": [{"id": "A", "capability": 2, "attempt_rate": 10}],
    "scenarios": [
        {
            "id": "S-1",
            "zone": "Z-A",
            "actor": "A",
            "entry": "C-1",
            "frs": ["FR1", "FR2"],
            "rate_share": 0.5,
            "vulnerability": 0.2,
            "consequences": {
                "production": {"hours": 10, "cost_per_hour": 100},
                "recovery": 500,
                "safety": {"severity": 3, "probability": 0.1},
            },
        },
        {
            "id": "S-2",
            "zone": "Z-A",
            "actor": "A",
            "frs": ["FR2", "FR3"],
            "rate": 0.4,
            "vulnerability": 0.5,
            "consequences": {"equipment": 2000},
        },
        {
            "id": "S-3",
            "zone": "Z-B",
            "actor": "A",
            "frs": ["FR7"],
            "rate": 0.1,
            "vulnerability": 1,
            "consequences": {"environment": {"severity": 2, "probability": 0.5}},
        },
    ],
    "countermeasures": [
        {
            "id": "CM-F",
            "status": "implemented",
            "cost": {"capex": 10, "opex": 1, "lifetime_years": 5},
            "effects": [{"type": "frequency", "scenarios": ["S-1"], "reduction": 0.5}],
        },
        {
            "id": "CM-C",
            "status": "candidate",
            "cost": {"capex": 1000, "opex": 100, "lifetime_years": 2},
            "effects": [
                {"type": "consequence", "zones": ["Z-A"], "category": "production",
                 "reduction": 0.25},
            ],
        },
        {
            "id": "CM-S",
            "status": "candidate",
            "cost": {"capex": 10, "opex": 1, "lifetime_years": 5},
            "effects": [{"type": "security_level", "zones": ["Z-A"], "levels": {"FR2": 3}}],
        },
    ],
    "tolerance": {"safety": {1: 1e-2}},
    "model": {"sl_reduction_per_level": 10, "discount_rate": 0.1, "trials": 1000, "seed": 1},
}  # fmt: skip


@pytest.fixture(scope="module")
def site():
    return build(SITE)


# -- states and achieved levels --------------------------------------------------------------


def test_states_and_constants():
    assert rules.STATES == ("unmitigated", "current", "plan")
    assert rules.SEVERITY_CLASSES == (1, 2, 3, 4)
    assert rules.MIN_TRIALS == 100
    assert rules.FR_INDEX["FR1"] == 0 and rules.FR_INDEX["FR7"] == 6
    assert rules.fr_positions(["FR1", "FR5"]) == [0, 4]
    assert rules.HARM_LABELS == {"safety": "Safety", "environment": "Environment"}


def test_resolve_state(site):
    un = rules.resolve_state(site, "unmitigated")
    assert (un.active, un.plan, un.baseline) == ((), (), False)
    cur = rules.resolve_state(site, "current")
    assert (cur.name, cur.active, cur.baseline) == ("current", ("CM-F",), True)
    # a plan with the default state is the plan state; an implemented member adds nothing
    pl = rules.resolve_state(site, plan=["CM-C", "CM-F", "CM-C"])
    assert (pl.name, pl.active, pl.plan) == ("plan", ("CM-F", "CM-C"), ("CM-C",))
    assert rules.resolve_state(site, pl) is pl
    with pytest.raises(ValueError, match="unknown countermeasure 'CM-X'"):
        rules.resolve_state(site, plan=["CM-X"])
    with pytest.raises(ValueError, match="takes no plan"):
        rules.resolve_state(site, "unmitigated", ["CM-C"])
    with pytest.raises(ValueError, match="state must be one of"):
        rules.resolve_state(site, "future")


def test_achieved_levels(site):
    zones, conduits = rules.achieved_levels(site, rules.resolve_state(site, "current"))
    assert zones["Z-A"].tolist() == [2, 1, 3, 0, 0, 0, 0]
    assert zones["Z-B"].tolist() == [0] * 7  # no sl_a: zeros
    assert conduits["C-1"].tolist() == [3, 3, 0, 0, 0, 0, 0]
    # CM-S raises FR2 of Z-A from 1 to 3, element-wise max
    zones, _ = rules.achieved_levels(site, rules.resolve_state(site, plan=["CM-S"]))
    assert zones["Z-A"].tolist() == [2, 3, 3, 0, 0, 0, 0]
    zones, conduits = rules.achieved_levels(site, rules.resolve_state(site, "unmitigated"))
    assert zones["Z-A"].tolist() == [0] * 7 and conduits["C-1"].tolist() == [0] * 7


# -- protection and the SL factor ------------------------------------------------------------


def test_protection_level(site):
    levels = rules.achieved_levels(site, rules.resolve_state(site, "current"))
    # S-1: FR1 max(2, 3) = 3, FR2 max(1, 3) = 3 -> L = 3
    assert rules.protection_level(site.scenario("S-1"), *levels) == 3
    # S-2 has no entry conduit: FR2 1, FR3 3 -> L = 1
    assert rules.protection_level(site.scenario("S-2"), *levels) == 1
    # S-3 in Z-B (no SL-A): 0
    assert rules.protection_level(site.scenario("S-3"), *levels) == 0


def test_protection_levels_of_arrays():
    zone = np.array([[2, 1, 3, 0, 0, 0, 0], [2, 3, 3, 0, 0, 0, 0]])
    entry = np.array([[0, 4, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    # no entry: FR2, FR3 -> min(1, 3) = 1 and min(3, 3) = 3
    assert rules.protection_levels(zone, None, ["FR2", "FR3"]).tolist() == [1, 3]
    # with entry: row 0 FR2 max(1, 4) = 4, FR3 3 -> 3; row 1 unchanged 3
    assert rules.protection_levels(zone, entry, ["FR2", "FR3"]).tolist() == [3, 3]
    # one FR: the zone's own level
    assert int(rules.protection_levels(zone[0], None, ["FR1"])) == 2


def test_sl_factor_scalar_and_capability_cap():
    # r^-min(L, c): 10^-min(3, 2) = 0.01; the level above capability adds nothing
    assert rules.sl_factor(10, 3, 2) == pytest.approx(0.01, rel=1e-15)
    assert rules.sl_factor(10, 1, 4) == pytest.approx(0.1, rel=1e-15)
    assert rules.sl_factor(10, 0, 4) == 1.0
    assert rules.sl_factor(4, 2, 3) == pytest.approx(1 / 16, rel=1e-15)
    assert isinstance(rules.sl_factor(10, 2, 2), float)
    assert rules.stage_factor(10, 3, 2) == rules.sl_factor(10, 3, 2)


def test_sl_factor_of_arrays():
    # L = 0..4 against capability 2: 1, 0.1, 0.01, 0.01, 0.01
    got = rules.sl_factor(10, np.arange(5), 2)
    assert got == pytest.approx([1, 0.1, 0.01, 0.01, 0.01], rel=1e-15)
    # capability per row: min([3, 3], [1, 4]) = [1, 3] -> [0.1, 0.001]
    got = rules.sl_factor(10, np.array([3, 3]), np.array([1, 4]))
    assert got == pytest.approx([0.1, 0.001], rel=1e-15)


# -- effects ---------------------------------------------------------------------------------


def test_effect_product():
    assert rules.effect_product([]) == 1.0  # no effect acts
    assert rules.effect_product([0.5]) == 0.5
    assert rules.effect_product([0.5, 0.2]) == pytest.approx(0.4, rel=1e-15)  # 0.5 x 0.8
    assert rules.effect_product([1.0, 0.3]) == 0.0


def test_scenario_effects_and_factors(site):
    s1 = site.scenario("S-1")
    eff = rules.scenario_effects(site, s1, ["CM-F", "CM-C"])
    assert [cid for cid, _ in eff.frequency] == ["CM-F"]
    assert list(eff.consequence) == ["production"]
    assert eff.frequency_factor() == 0.5  # 1 - 0.5
    assert eff.consequence_factor("production") == 0.75  # 1 - 0.25
    assert eff.consequence_factor("recovery") == 1.0  # nothing acts on it
    none = rules.scenario_effects(site, site.scenario("S-3"), ["CM-F", "CM-C"])
    assert none.frequency == [] and none.consequence == {}
    assert none.frequency_factor() == 1.0


def test_touching(site):
    # CM-C acts on Z-A's production, CM-S raises FR2 of Z-A: both touch S-1 (FR2) and S-2
    assert rules.touching(site, site.scenario("S-1")) == ["CM-C", "CM-S"]
    assert rules.touching(site, site.scenario("S-2")) == ["CM-C", "CM-S"]
    assert rules.touching(site, site.scenario("S-3")) == []  # another zone


# -- rates and losses ------------------------------------------------------------------------


def test_base_rate_mean(site):
    assert rules.base_rate_mean(site, site.scenario("S-1")) == pytest.approx(1.0)  # 10x.5x.2
    assert rules.base_rate_mean(site, site.scenario("S-2")) == pytest.approx(0.2)  # 0.4 x 0.5
    assert rules.base_rate_mean(site, site.scenario("S-3")) == pytest.approx(0.1)


def test_money_per_event_and_loss_per_event(site):
    s1 = site.scenario("S-1")
    assert rules.money_per_event(s1) == {"production": 1000.0, "recovery": 500.0}
    assert rules.loss_per_event(s1) == 1500.0
    eff = rules.scenario_effects(site, s1, ["CM-C"])
    # production 1000 x (1 - 0.25) = 750; recovery untouched: 1250
    assert rules.money_per_event(s1, eff) == {"production": 750.0, "recovery": 500.0}
    assert rules.loss_per_event(s1, eff) == 1250.0
    assert rules.money_per_event(site.scenario("S-3")) == {}
    assert rules.loss_per_event(site.scenario("S-3")) == 0


def test_money_terms(site):
    terms = rules.money_terms(site.scenario("S-1"))
    assert list(terms) == ["production", "recovery"]
    assert len(terms["production"]) == 2 and len(terms["recovery"]) == 1
    # the product of the factors' means is the money per event: 10 x 100 = 1000
    assert np.prod([d.mean() for d in terms["production"]]) == 1000.0
    assert rules.money_terms(site.scenario("S-3")) == {}


def test_harm_at_least():
    sev, rate = [3, 0, 2], [0.1, 5.0, 0.05]
    assert rules.harm_at_least(sev, rate, 1) == pytest.approx(0.15)  # 0.1 + 0.05
    assert rules.harm_at_least(sev, rate, 2) == pytest.approx(0.15)
    assert rules.harm_at_least(sev, rate, 3) == pytest.approx(0.1)
    assert rules.harm_at_least(sev, rate, 4) == 0.0
    # counts per trial (rows: scenarios, columns: trials): the sum runs over scenarios
    counts = np.array([[1, 0, 2], [7, 7, 7], [0, 1, 1]])
    assert rules.harm_at_least(sev, counts, 2).tolist() == [1, 1, 3]
    assert rules.harm_columns(["safety"]) == [f"safety_ge{k}" for k in (1, 2, 3, 4)]
    assert len(rules.harm_columns()) == 8


def test_loss_grid():
    assert rules.loss_grid(10, 1000, 3) == pytest.approx([10, 100, 1000], rel=1e-12)
    assert rules.loss_grid(5, 5, 200).tolist() == [5]  # empty range: one point
    assert rules.loss_grid(1, 16, 5) == pytest.approx([1, 2, 4, 8, 16], rel=1e-12)


def test_check_trials():
    assert rules.check_trials(100) == 100
    assert rules.check_trials(2000.0) == 2000
    with pytest.raises(ValueError, match="trials must be >= 100, 99 was given"):
        rules.check_trials(99)
    with pytest.raises(ValueError, match="whole number >= 100, 1.5 was given"):
        rules.check_trials(1.5)
    with pytest.raises(ValueError, match="whole number"):
        rules.check_trials(True)


# -- costs and zones -------------------------------------------------------------------------


def test_crf_and_annualised_cost(site):
    assert rules.crf(0, 4) == 0.25  # 1 / n
    # i = 0.1, n = 2: 0.1 x 1.21 / 0.21 = 0.576190476...
    assert rules.crf(0.1, 2) == pytest.approx(0.121 / 0.21, rel=1e-12)
    # CM-C: 1000 x 0.576190476 + 100 = 676.190476...
    assert rules.annualised_cost(site, "CM-C") == pytest.approx(1000 * 0.121 / 0.21 + 100)


def test_purdue_level(site):
    assert rules.purdue_level(site.zone("Z-A")) == 3.0  # given
    assert rules.purdue_level(site.zone("Z-B")) == 0.0  # kind field
    assert rules.purdue_level(site.zone("Z-C")) is None  # kind other, no level
    assert rules.KIND_PURDUE["dmz"] == 3.5 and rules.KIND_PURDUE["enterprise"] == 4.0


def test_acts_on(site):
    cm_c = site.countermeasure("CM-C").effects[0]
    assert rules.acts_on(cm_c, site.scenario("S-2"))  # by zone
    assert not rules.acts_on(cm_c, site.scenario("S-3"))
    cm_f = site.countermeasure("CM-F").effects[0]
    assert rules.acts_on(cm_f, site.scenario("S-1"))  # by scenario id
    assert not rules.acts_on(cm_f, site.scenario("S-2"))


def test_required_levels_by_hand():
    # log10 of 1000 is 3 (exactly a level: 3, not 4); 1000.1 needs a fourth order
    assert rules.required_levels(1000.0, 10.0) == 3
    assert rules.required_levels(1000.1, 10.0) == 4
    assert rules.required_levels(0.5, 10.0) == 0 and rules.required_levels(1.0, 10.0) == 0
    assert rules.required_levels(float("inf"), 10.0) == 4
    assert rules.required_levels(float("nan"), 10.0) == 0
    # r = 3: RRF 10 needs ceil(log3 10) = ceil(2.096) = 3; 1e9 is capped at 4
    arr = rules.required_levels(np.array([10.0, 9.0, 1e9, 2.0]), 3.0)
    assert arr.tolist() == [3, 2, 4, 1]
    with pytest.raises(ValueError, match="must be > 1, 1.0 was given"):
        rules.required_levels(5.0, 1.0)


def test_zone_and_conduit_targets_by_hand():
    assert rules.zone_target([]) == 1  # no scenario tagged: the floor
    assert rules.zone_target([0, 0]) == 1
    assert rules.zone_target([2, 3, 1]) == 3
    per_draw = rules.zone_target([np.array([0, 2, 1]), np.array([1, 1, 3])])
    assert per_draw.tolist() == [1, 2, 3]
    assert rules.conduit_target(np.array([1, 3]), np.array([2, 2])).tolist() == [2, 3]
