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
    """Under today's options the closed form of every scenario without an origin is today's
    rule, and the engine's rate factor is the same number."""
    from riskkit.engine.simulation import _scenario_runs
    from riskkit.io import site_to_dict
    from riskkit.site import RawSite, build_site

    d = with_model(site_to_dict(refinery_site), **OLD)
    site = build_site(RawSite(data=d, file="<test>"))
    df = expected_losses(site)
    r = site.model.sl_reduction_per_level
    keep = [not rules.lateral(s) for s in site.scenarios]
    assert sum(keep) >= 10
    expect = [sl_factor(r, L, c) for L, c in zip(df["protection"], df["capability"])]
    np.testing.assert_array_equal(df["sl_factor"].to_numpy()[keep], np.array(expect)[keep])
    runs = _scenario_runs(site, [resolve_state(site)])
    np.testing.assert_array_equal([p.views[0].sl_factor for p in runs], df["sl_factor"])


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
    # each path's own probability, in the order of scenario_paths
    s = site.scenarios[0]
    paths = rules.scenario_paths(site, s)[0]
    assert [[c for c, _ in p] for p in paths] == [["C-1", "C-3", "C-5"], ["C-2", "C-4", "C-5"]]
    zones_, conduits_ = achieved_levels(site, resolve_state(site))
    np.testing.assert_allclose(
        rules.path_probabilities(site, s, zones_, conduits_), [pa * pm3 * pt, pb * pm4 * pt]
    )


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
    # attempts simulated stage by stage: each stage open independently, success if some
    # path is fully open; the success fraction matches the reach within 4 SE
    s = site.scenarios[0]
    _, stages, index = rules.scenario_paths(site, s)
    zones_, conduits_ = achieved_levels(site, resolve_state(site))
    p = rules.stage_probabilities(site, s, zones_, conduits_, stages)
    rng = np.random.default_rng(2026)
    n = 400_000
    open_ = rng.random((n, len(stages))) < p
    ok = np.zeros(n, dtype=bool)
    for ix in index:
        ok |= open_[:, list(ix)].all(axis=1)
    q = rate_factor(site)
    assert abs(ok.mean() - q) <= 4 * math.sqrt(q * (1 - q) / n)


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


# --------------------------------------------------------------------------------------------
# Model options (issue 10): closed forms and Monte Carlo
# --------------------------------------------------------------------------------------------


def option_site(zone_sl, entry_sl=None, frs=("FR1",), capability=4, layers=(), **model) -> dict:
    """One scenario on Z-T (100 attempts/yr, 1000 EUR equipment, 2 h x 500 EUR production,
    recovery 300 EUR, safety class 3 with probability 0.5, environment class 2)."""
    scen = {
        "id": "S-X",
        "zone": "Z-T",
        "actor": "A",
        "frs": list(frs),
        "rate": 100.0,
        "vulnerability": 1.0,
        "consequences": {
            "equipment": 1000.0,
            "production": {"hours": 2.0, "cost_per_hour": 500.0},
            "recovery": 300.0,
            "safety": {"severity": 3, "probability": 0.5},
            "environment": {"severity": 2, "probability": 1.0},
        },
        "protection_layers": list(layers),
    }
    conduits = []
    if entry_sl is not None:
        scen["entry"] = "C-1"
        conduits = [{"id": "C-1", "zones": ["Z-O", "Z-T"], "sl_a": list(entry_sl)}]
    return {
        "site": {"name": "options"},
        "zones": [{"id": "Z-O"}, {"id": "Z-T", "sl_a": list(zone_sl)}],
        "conduits": conduits,
        "threat_actors": [{"id": "A", "capability": capability, "attempt_rate": 1.0}],
        "scenarios": [scen],
        "model": {"trials": 1000, "seed": 5, "sl_reduction_per_level": 3.0, **OLD, **model},
    }


def test_capability_curve_at_known_points():
    from riskkit.site import ModelSettings

    m = ModelSettings(sl_effect="capability")
    # s(d) = 0.3 / (1 + exp(-(d - 0.25) / 0.375))
    for d, want in [(-2, 7.4179e-4), (-1, 0.0103336), (0, 0.101773), (1, 0.264239), (2, 0.297205)]:
        assert rules.capability_step(m, d) == pytest.approx(want, rel=1e-5)
    assert rules.capability_step(m, 0.25) == pytest.approx(0.15, rel=1e-12)  # the midpoint
    tab = rules.sl_effect_table(m)
    assert (tab[0] == 1).all()
    for c in range(1, 5):
        want = 1.0
        for lv in range(1, 5):
            want *= rules.capability_step(m, c - lv)
            assert sl_effect(m, lv, c) == pytest.approx(want, rel=1e-12)
    # an actor below the level mostly fails, one above mostly gets through
    assert sl_effect(m, 3, 1) < 1e-5 < 0.05 < sl_effect(m, 1, 4)
    assert (np.diff(tab[1:, 1:], axis=0) < 0).all() and (np.diff(tab[1:, 1:], axis=1) > 0).all()
    # arrays
    np.testing.assert_array_equal(sl_effect(m, np.array([0, 2]), 3), tab[[0, 2], 3])


def test_capability_table_override(make_site):
    table = [[0.5, 0.6, 0.7, 0.8], [0.05, 0.2, 0.3, 0.4], [0.01, 0.02, 0.1, 0.2], [1e-3] * 4]
    site = make_site(
        option_site([2] * 7, capability=3, sl_effect="capability", sl_effect_table=table)
    )
    assert rate_factor(site) == 0.3  # L = 2, c = 3
    bad = [row[:] for row in table]
    bad[1][0] = 0.9  # level 2 above level 1 for capability 1
    from riskkit import SiteError

    with pytest.raises(SiteError, match="must not grow with L"):
        make_site(option_site([2] * 7, sl_effect="capability", sl_effect_table=bad))


def _simulate(site, trials=4000):
    from riskkit.engine import simulate

    return simulate(site, trials=trials, seed=17)


def _within_4se(x, exact):
    x = np.asarray(x, dtype=float)
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert abs(x.mean() - exact) <= 4 * se + 1e-12, (x.mean(), exact, se)


@pytest.mark.parametrize("sl_effect_kind", ["orders", "capability"])
def test_fr6_fr7_scale_consequence_not_frequency(make_site, sl_effect_kind):
    # FR1 at 1, FR6 at 2 in the zone; FR7 at 1 in the zone and 3 on the entry conduit
    zone = [1, 4, 4, 4, 4, 2, 1]
    entry = [0, 0, 0, 0, 0, 0, 3]
    opts = {"sl_effect": sl_effect_kind, "response_reduction_per_level": 0.4}
    split = make_site(option_site(zone, entry, frs=("FR1", "FR6", "FR7"), fr_roles="split", **opts))
    freq = make_site(option_site(zone, entry, frs=("FR1", "FR6", "FR7"), **opts))
    z, c = achieved_levels(split, resolve_state(split, "current"))
    f = scenario_factors(split, split.scenarios[0], z, c)
    # frequency: FR1 alone (level 1)
    assert f.rate == sl_effect(split.model, 1, 4)
    # consequence: the weakest responding FR, FR6 = 2 (FR7 = max(1, 3) = 3): 0.6^2
    assert f.consequence["production"] == pytest.approx(0.36, rel=1e-12)
    assert f.consequence["recovery"] == pytest.approx(0.36, rel=1e-12)
    assert f.consequence["equipment"] == 1.0
    assert f.harm == {"safety": 1.0, "environment": 1.0}
    # under 'frequency' the weakest FR (FR1 = 1) decides the rate too, no consequence factor
    g = scenario_factors(freq, freq.scenarios[0], *achieved_levels(freq, resolve_state(freq)))
    assert g.rate == sl_effect(freq.model, 1, 4) and g.consequence["production"] == 1.0
    # closed form and Monte Carlo
    row = expected_losses(split).iloc[0]
    rate = 100 * f.rate
    assert row["event_rate"] == pytest.approx(rate, rel=1e-12)
    assert row["ale"] == pytest.approx(rate * (1000 + 0.36 * (1000 + 300)), rel=1e-12)
    assert row["safety_rate"] == pytest.approx(rate * 0.5, rel=1e-12)
    sim = _simulate(split)
    _within_4se(sim.losses("site")["site"], row["ale"])
    _within_4se(sim.harm_counts("environment", "site")["site"], rate)  # frequency untouched


def test_independent_layering_multiplies_exactly(make_site):
    r = 3.0
    zone, entry = [2, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]
    ind = make_site(option_site(zone, entry, layering="independent"))
    mx = make_site(option_site(zone, entry, layering="max"))
    assert rate_factor(ind) == pytest.approx(r**-2 * r**-1, rel=1e-15)
    assert rate_factor(mx) == r**-2
    # capped: no FR gives more than SL 4 (c = 4: r^-4), nor more than the actor's capability
    capped = make_site(option_site([3] + [0] * 6, [3] + [0] * 6, layering="independent"))
    assert rate_factor(capped) == pytest.approx(r**-4, rel=1e-15)
    low = make_site(option_site(zone, entry, capability=2, layering="independent"))
    assert rate_factor(low) == pytest.approx(r**-2, rel=1e-15)
    # the weakest FR decides: FR2 with the zone at 1 and no conduit level
    two = make_site(
        option_site([2, 1, 0, 0, 0, 0, 0], entry, frs=("FR1", "FR2"), layering="independent")
    )
    assert rate_factor(two) == pytest.approx(r**-1, rel=1e-15)
    # capability effect, independent: the product of the two barriers' effects
    cap = make_site(option_site(zone, entry, layering="independent", sl_effect="capability"))
    m = cap.model
    assert rate_factor(cap) == pytest.approx(sl_effect(m, 2, 4) * sl_effect(m, 1, 4), rel=1e-15)
    row = expected_losses(ind).iloc[0]
    _within_4se(_simulate(ind).losses("site")["site"], row["ale"])


def test_lopa_credit_is_product_of_undefeated_pfds(make_site):
    layers = [
        {"name": "relief valve", "pfd": 0.1},
        {"name": "SIS trip", "pfd": 0.01, "cyber_defeatable": True},
        {"name": "dike", "pfd": 0.5, "categories": ["environment"]},
    ]
    site = make_site(option_site([1] * 7, layers=layers))
    plain = make_site(option_site([1] * 7))
    f = scenario_factors(site, site.scenarios[0], *achieved_levels(site, resolve_state(site)))
    assert f.harm["safety"] == pytest.approx(0.1, rel=1e-15)
    assert f.harm["environment"] == pytest.approx(0.05, rel=1e-15)
    a, b = expected_losses(site).iloc[0], expected_losses(plain).iloc[0]
    assert a["ale"] == b["ale"]  # money unchanged
    assert a["safety_rate"] == pytest.approx(b["safety_rate"] * 0.1, rel=1e-12)
    assert a["environment_rate"] == pytest.approx(b["environment_rate"] * 0.05, rel=1e-12)
    sim = _simulate(site, trials=20_000)
    _within_4se(sim.harm_counts("safety", "site")["site"], a["safety_rate"])
    _within_4se(sim.harm_counts("environment", "site")["site"], a["environment_rate"])
    _within_4se(sim.losses("site")["site"], a["ale"])


def test_capability_effect_monte_carlo_and_moments(make_site):
    from riskkit.engine.moments import moments

    site = make_site(
        option_site(
            [2, 0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 0],
            frs=("FR1", "FR6"),
            capability=2,
            sl_effect="capability",
            fr_roles="split",
            layering="independent",
        )
    )
    row = expected_losses(site).iloc[0]
    mom = moments(site).iloc[0]
    assert mom["mean"] == pytest.approx(row["ale"], rel=1e-12)
    x = _simulate(site, trials=20_000).losses("site")["site"].to_numpy()
    _within_4se(x, row["ale"])
    # the closed-form variance agrees with the sample variance (within 4 of its SE)
    n = len(x)
    m2, m4 = x.var(), ((x - x.mean()) ** 4).mean()
    assert abs(m2 - mom["var"]) <= 4 * math.sqrt((m4 - m2**2) / n)


@pytest.mark.parametrize(
    "options",
    [OLD, {"sl_effect": "capability", "fr_roles": "split", "layering": "independent"}],
)
def test_sensitivity_closed_form_follows_the_options(water_site, options):
    """The sensitivity module's ALE at the inputs' means is the closed form, whatever the
    options (it calls the rule module for scenarios outside today's form)."""
    from riskkit.io import site_to_dict
    from riskkit.sensitivity import _Model
    from riskkit.site import RawSite, build_site

    d = with_model(site_to_dict(water_site), **options)
    site = build_site(RawSite(data=d, file="<test>"))
    model = _Model(site)
    plan = tuple(c.id for c in site.candidates[:2])
    for members in (None, plan):
        exact = expected_losses(site, plan=list(members) if members else None)["ale"].sum()
        assert float(model.ale(None, members)) == pytest.approx(exact, rel=1e-12)


NEW = {"sl_effect": "capability", "fr_roles": "split", "layering": "independent"}
"""Every new option at once, passed explicitly."""


def test_formulations_of_blocks_outside_todays_form_equal_brute_force(water_site):
    """Under the new options every block is outside today's form: the ``logspace`` and
    ``product`` formulations then choose among the SL-A states the candidates reach, and
    agree with exhaustive search, with and without the tolerance constraints."""
    from riskkit.io import site_to_dict
    from riskkit.portfolio import InfeasiblePlan, Problem, optimize
    from riskkit.site import RawSite, build_site

    d = with_model(site_to_dict(water_site), **NEW)
    site = build_site(RawSite(data=d, file="<test>"))
    prob = Problem(site)
    assert not any(b.separable for b in prob.blocks)
    for budget in (20_000, 60_000, 150_000):
        for cons in ((), ("meet_tolerance",)):
            try:
                brute = optimize(
                    site, budget, constraints=cons, method="enumerate", simulate=False, problem=prob
                )
            except InfeasiblePlan:
                for method in ("logspace", "product", "subset"):
                    with pytest.raises(InfeasiblePlan):
                        optimize(
                            site,
                            budget,
                            constraints=cons,
                            method=method,
                            simulate=False,
                            problem=prob,
                        )
                continue
            for method in ("logspace", "product", "subset"):
                plan = optimize(
                    site, budget, constraints=cons, method=method, simulate=False, problem=prob
                )
                assert plan.expected_ale == pytest.approx(brute.expected_ale, rel=1e-6), method


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        ("layer", {"name": "valve", "pfd": 0}, "protection_layers[0].pfd"),
        ("layer", {"name": "valve", "pfd": 1.5}, "protection_layers[0].pfd"),
        ("layer", {"name": "valve", "pfd": 0.1, "categories": ["money"]}, "protection_layers"),
        ("model", {"sl_effect": "logistic"}, "sl_effect"),
        ("model", {"layering": "sum"}, "layering"),
        ("model", {"fr_roles": "all"}, "fr_roles"),
        ("model", {"response_reduction_per_level": 1.0}, "response_reduction_per_level"),
        ("model", {"lateral_frs": ["FR9"]}, "lateral_frs"),
    ],
)
def test_bad_option_or_layer_names_the_field(make_site, where, value, field):
    from riskkit import SiteError

    d = option_site([1] * 7)
    if where == "layer":
        d["scenarios"][0]["protection_layers"] = [value]
    else:
        d["model"].update(value)
    with pytest.raises(SiteError) as err:
        make_site(d)
    assert any(p.field and p.field.startswith(field) for p in err.value.problems), err.value
