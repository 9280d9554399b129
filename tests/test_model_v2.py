"""Model v2 (issue 10) and attack paths (issue 15): the factors of a scenario.

Every test passes its model options explicitly, so it keeps its meaning when the defaults
change. Closed forms are checked by hand; Monte Carlo agrees with them within 4 standard
errors.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from riskkit import rules
from riskkit.exposure import expected_losses
from riskkit.rules import (
    Factors,
    achieved_levels,
    resolve_state,
    scenario_factors,
    sl_effect,
    sl_factor,
)

OLD = {"sl_effect": "orders", "fr_roles": "frequency", "layering": "max"}
"""Today's options, passed explicitly."""


def with_model(d: dict, **model) -> dict:
    """A copy of site data ``d`` with ``model`` options set."""
    d = copy.deepcopy(d)
    d.setdefault("model", {}).update(model)
    return d


# --------------------------------------------------------------------------------------------
# The interface under today's options
# --------------------------------------------------------------------------------------------


def test_factors_under_old_options_are_todays_rule(base_site_dict, make_site):
    site = make_site(with_model(base_site_dict, **OLD))
    for state in ("unmitigated", "current"):
        zones, conduits = achieved_levels(site, resolve_state(site, state))
        for s in site.scenarios:
            f = scenario_factors(site, s, zones, conduits)
            assert isinstance(f, Factors)
            L = rules.protection_level(s, zones, conduits)
            c = site.actor(s.actor).capability
            assert f.rate == sl_factor(10.0, L, c)
            assert set(f.consequence) == set(rules.MONEY_CATEGORIES)
            assert set(f.harm) == set(rules.HARM_CATEGORIES)
            assert all(v == 1.0 for v in f.consequence.values())
            assert all(v == 1.0 for v in f.harm.values())


def test_factors_are_array_friendly(base_site_dict, make_site):
    """Leading axes of the SL vectors give one factor per row, each the scalar answer."""
    d = with_model(base_site_dict, sl_effect="capability", layering="independent")
    d["model"]["fr_roles"] = "split"
    d["scenarios"][1]["frs"] = ["FR2", "FR5", "FR6"]
    site = make_site(d)
    s = site.scenario("S-2")
    rng = np.random.default_rng(7)
    zrows = rng.integers(0, 5, size=(6, 7))
    crows = rng.integers(0, 5, size=(6, 7))
    many = scenario_factors(site, s, {"Z-CTRL": zrows}, {"C-OPS-CTRL": crows})
    assert many.rate.shape == (6,)
    for i in range(6):
        one = scenario_factors(site, s, {"Z-CTRL": zrows[i]}, {"C-OPS-CTRL": crows[i]})
        assert one.rate == pytest.approx(many.rate[i], rel=1e-15)
        assert one.consequence["production"] == pytest.approx(
            many.consequence["production"][i], rel=1e-15
        )


def test_sl_effect_orders_is_sl_factor():
    class M:
        sl_effect = "orders"
        sl_reduction_per_level = 7.0

    lv = np.arange(5)[:, None]
    c = np.arange(1, 5)[None, :]
    np.testing.assert_array_equal(sl_effect(M, lv, c), sl_factor(7.0, lv, c))
    assert sl_effect(M, 3, 2) == 7.0**-2


def test_closed_forms_unchanged_under_old_options(refinery_site):
    """The default options are today's: the closed form of every scenario is today's rule."""
    df = expected_losses(refinery_site)
    r = refinery_site.model.sl_reduction_per_level
    expect = [sl_factor(r, L, c) for L, c in zip(df["protection"], df["capability"])]
    np.testing.assert_array_equal(df["sl_factor"].to_numpy(), expect)


# --------------------------------------------------------------------------------------------
# Attack paths (issue 15)
# --------------------------------------------------------------------------------------------


def _vec(*levels) -> list[int]:
    """An SL vector with FR1, FR2, FR5 (the lateral FRs) at ``levels`` and the rest 0."""
    v = [0] * 7
    for k, lv in zip((0, 1, 4), levels * 3 if len(levels) == 1 else levels):
        v[k] = lv
    return v


def path_site(zones: dict, conduits: list, origin="Z-O", entry=None, **model) -> dict:
    """Site data: zones {id: lateral level}, conduits [(id, a, b, level)], one scenario on
    Z-T by a capability-4 actor (FR1), 100 attempts/yr, 1000 EUR per event."""
    scen = {
        "id": "S-P",
        "zone": "Z-T",
        "actor": "A-4",
        "frs": ["FR1"],
        "rate": 100.0,
        "vulnerability": 1.0,
        "consequences": {"equipment": 1000.0, "safety": {"severity": 3, "probability": 0.5}},
    }
    if origin:
        scen["origin"] = origin
    if entry:
        scen["entry"] = entry
    return {
        "site": {"name": "paths"},
        "zones": [{"id": z, "sl_a": _vec(lv)} for z, lv in zones.items()],
        "conduits": [{"id": c, "zones": [a, b], "sl_a": _vec(lv)} for c, a, b, lv in conduits],
        "threat_actors": [{"id": "A-4", "capability": 4, "attempt_rate": 1.0}],
        "scenarios": [scen],
        "model": {"trials": 1000, "seed": 3, "sl_reduction_per_level": 3.0, **OLD, **model},
    }


def rate_factor(site, state="current") -> float:
    zones, conduits = achieved_levels(site, resolve_state(site, state))
    s = site.scenarios[0]
    return scenario_factors(site, s, zones, conduits).rate


R = 3.0


def test_chain_of_three_stages_is_the_product(make_site):
    zones = {"Z-O": 0, "Z-A": 1, "Z-B": 2, "Z-T": 1}
    conduits = [("C-1", "Z-O", "Z-A", 0), ("C-2", "Z-A", "Z-B", 0), ("C-3", "Z-B", "Z-T", 0)]
    site = make_site(path_site(zones, conduits))
    # stages: into Z-A at b = 1, into Z-B at b = 2, the target at L = 1 (FR1 of Z-T)
    assert rate_factor(site) == pytest.approx(R**-1 * R**-2 * R**-1, rel=1e-12)
    assert rate_factor(site, "unmitigated") == 1.0


def test_two_disjoint_paths(make_site):
    zones = {"Z-O": 0, "Z-A": 1, "Z-B": 2, "Z-T": 0}
    conduits = [
        ("C-1", "Z-O", "Z-A", 0),
        ("C-2", "Z-O", "Z-B", 0),
        ("C-3", "Z-A", "Z-T", 1),
        ("C-4", "Z-B", "Z-T", 2),
    ]
    site = make_site(path_site(zones, conduits))
    p1 = R**-1 * R**-1  # into Z-A (b = 1), then the target entered over C-3 (L = 1)
    p2 = R**-2 * R**-2
    assert rate_factor(site) == pytest.approx(1 - (1 - p1) * (1 - p2), rel=1e-12)


def test_diamond_with_shared_final_stage(make_site):
    zones = {"Z-O": 0, "Z-A": 1, "Z-B": 0, "Z-M": 0, "Z-T": 2}
    conduits = [
        ("C-1", "Z-O", "Z-A", 0),
        ("C-2", "Z-O", "Z-B", 2),
        ("C-3", "Z-A", "Z-M", 1),
        ("C-4", "Z-B", "Z-M", 0),
        ("C-5", "Z-M", "Z-T", 0),
    ]
    site = make_site(path_site(zones, conduits))
    # by hand: P = p(C-5 into Z-T) x [1 - (1 - pA pM3)(1 - pB pM4)]
    pa, pm3, pb, pm4, pt = 1 / 3, 1 / 3, 1 / 9, 1.0, 1 / 9
    hand = pt * (1 - (1 - pa * pm3) * (1 - pb * pm4))
    assert hand == pytest.approx(0.0233196159122085, rel=1e-12)
    assert rate_factor(site) == pytest.approx(hand, rel=1e-12)


def test_conduit_on_no_path_changes_nothing(make_site):
    zones = {"Z-O": 0, "Z-A": 1, "Z-T": 1, "Z-D": 0}
    conduits = [("C-1", "Z-O", "Z-A", 0), ("C-2", "Z-A", "Z-T", 0), ("C-9", "Z-T", "Z-D", 0)]
    d = path_site(zones, conduits)
    base = rate_factor(make_site(d))
    d["conduits"][2]["sl_a"] = [4] * 7
    d["zones"][3]["sl_a"] = [4] * 7
    assert rate_factor(make_site(d)) == base
    # and a candidate raising it touches nothing
    d["countermeasures"] = [
        {
            "id": "CM-9",
            "effects": [{"type": "security_level", "conduits": ["C-9"], "levels": {"FR1": 4}}],
        }
    ]
    site = make_site(d)
    assert rules.touching(site, site.scenarios[0]) == []


@pytest.mark.parametrize(
    "options",
    [OLD, {"sl_effect": "capability", "layering": "independent", "fr_roles": "split"}],
)
def test_adjacent_origin_gives_todays_rate(make_site, options):
    zones = {"Z-O": 0, "Z-T": 1}
    conduits = [("C-1", "Z-O", "Z-T", 2)]
    with_origin = make_site(path_site(zones, conduits, entry="C-1", **options))
    without = make_site(path_site(zones, conduits, origin=None, entry="C-1", **options))
    assert rate_factor(with_origin) == rate_factor(without)
    # no entry given: the only path enters over C-1, the same factor
    only = make_site(path_site(zones, conduits, **options))
    assert rate_factor(only) == rate_factor(without)


def test_origin_equal_to_zone_is_no_lateral_movement(make_site):
    zones = {"Z-O": 0, "Z-T": 1}
    conduits = [("C-1", "Z-O", "Z-T", 2)]
    site = make_site(path_site(zones, conduits, origin="Z-T"))
    assert rate_factor(site) == R**-1


def _mc_agrees(site, trials=20_000):
    from riskkit.engine import simulate

    sim = simulate(site, trials=trials, seed=11)
    x = sim.losses("site")
    x = np.asarray(x)
    mean, se = x.mean(), x.std(ddof=1) / math.sqrt(len(x))
    exact = float(expected_losses(site)["ale"].sum())
    assert abs(mean - exact) <= 4 * se, (mean, exact, se)
    return exact


@pytest.mark.parametrize("case", ["chain", "parallel", "diamond", "adjacent"])
def test_paths_monte_carlo_agrees(make_site, case):
    if case == "chain":
        zones = {"Z-O": 0, "Z-A": 1, "Z-T": 1}
        conduits = [("C-1", "Z-O", "Z-A", 0), ("C-2", "Z-A", "Z-T", 0)]
    elif case == "parallel":
        zones = {"Z-O": 0, "Z-A": 1, "Z-B": 2, "Z-T": 0}
        conduits = [
            ("C-1", "Z-O", "Z-A", 0),
            ("C-2", "Z-O", "Z-B", 0),
            ("C-3", "Z-A", "Z-T", 1),
            ("C-4", "Z-B", "Z-T", 2),
        ]
    elif case == "diamond":
        zones = {"Z-O": 0, "Z-A": 1, "Z-B": 0, "Z-M": 0, "Z-T": 2}
        conduits = [
            ("C-1", "Z-O", "Z-A", 0),
            ("C-2", "Z-O", "Z-B", 2),
            ("C-3", "Z-A", "Z-M", 1),
            ("C-4", "Z-B", "Z-M", 0),
            ("C-5", "Z-M", "Z-T", 0),
        ]
    else:
        zones = {"Z-O": 0, "Z-T": 1}
        conduits = [("C-1", "Z-O", "Z-T", 2)]
    site = make_site(path_site(zones, conduits))
    exact = _mc_agrees(site, trials=5000)
    assert exact == pytest.approx(100 * 1000 * rate_factor(site), rel=1e-12)


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"origin": "Z-NOPE"}, "origin", "unknown zone 'Z-NOPE'"),
        ({"origin": "Z-X"}, "origin", "no path of conduits"),
        ({"entry": "C-2"}, "entry", "lies on no path"),
    ],
)
def test_bad_origin_is_a_site_error(make_site, change, field, text):
    from riskkit import SiteError

    zones = {"Z-O": 0, "Z-A": 0, "Z-T": 0, "Z-X": 0, "Z-Y": 0}
    conduits = [
        ("C-1", "Z-O", "Z-A", 0),
        ("C-3", "Z-A", "Z-T", 0),
        ("C-2", "Z-Y", "Z-T", 0),
    ]
    d = path_site(zones, conduits)
    d["scenarios"][0].update(change)
    with pytest.raises(SiteError) as err:
        make_site(d)
    probs = [p for p in err.value.problems if p.record == "S-P"]
    assert probs and probs[0].field == field and text in probs[0].message, err.value


@pytest.mark.parametrize(
    "options", [OLD, {"sl_effect": "capability", "layering": "independent", "fr_roles": "split"}]
)
def test_optimiser_buys_upstream_conduit_and_equals_brute_force(make_site, options):
    from riskkit.portfolio import Problem, optimize

    zones = {"Z-O": 0, "Z-A": 0, "Z-B": 0, "Z-T": 0}
    conduits = [
        ("C-1", "Z-O", "Z-A", 0),
        ("C-2", "Z-A", "Z-T", 0),
        ("C-3", "Z-O", "Z-B", 0),
        ("C-4", "Z-B", "Z-T", 0),
    ]
    d = path_site(zones, conduits, **options)
    d["scenarios"].append(
        {
            "id": "S-Q",
            "zone": "Z-A",
            "actor": "A-4",
            "frs": ["FR2"],
            "rate": 2.0,
            "consequences": {"equipment": 500.0},
        }
    )

    def sl(cid, kind, target, levels, cost):
        return {
            "id": cid,
            "cost": {"capex": 0, "opex": cost},
            "effects": [{"type": "security_level", kind: [target], "levels": levels}],
        }

    lateral = {"FR1": 3, "FR2": 3, "FR5": 3}
    d["countermeasures"] = [
        sl("CM-T", "zones", "Z-T", {"FR1": 1}, 10),  # the target zone itself
        sl("CM-UP", "zones", "Z-O", lateral, 10),  # the origin: on no stage, worth nothing
        sl("CM-A", "conduits", "C-1", lateral, 6),  # upstream conduits, one per path
        sl("CM-B", "conduits", "C-3", lateral, 6),
        sl("CM-Q", "zones", "Z-A", {"FR2": 2}, 3),  # a stage of S-P and the zone of S-Q
    ]
    site = make_site(d)
    s = site.scenario("S-P")
    assert set(rules.touching(site, s)) == {"CM-T", "CM-A", "CM-B", "CM-Q"}
    prob = Problem(site)
    for budget in (6, 10, 12, 15, 30):
        best = optimize(site, budget, simulate=False, problem=prob)
        brute = optimize(site, budget, method="enumerate", simulate=False, problem=prob)
        assert best.expected_ale == pytest.approx(brute.expected_ale, rel=1e-9)
        for method in ("logspace", "product"):  # path blocks are formulated by subsets
            other = optimize(site, budget, method=method, simulate=False, problem=prob)
            assert other.expected_ale == pytest.approx(brute.expected_ale, rel=1e-9)
        # the plan's value is the closed form of the plan
        exact = float(expected_losses(site, plan=list(best.members))["ale"].sum())
        assert best.expected_ale == pytest.approx(exact, rel=1e-9)
    both = optimize(site, 12, simulate=False, problem=prob)
    assert set(both.members) >= {"CM-A", "CM-B"}  # both upstream conduits, not the target
