"""riskkit.what_if against the closed forms of riskkit.expected_losses.

Closed forms are compared with a relative tolerance of 1e-12 (float rounding of a scaled
parameter: exp(log k + mu) is k exp(mu) only up to a few ulps); a simulation of a what-if
is compared with the simulation of the same change made by hand, which must agree exactly.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import riskkit
from riskkit import SiteError, expected_losses, target_levels, what_if
from riskkit.distributions import DIST_KINDS
from riskkit.io import site_to_dict
from riskkit.site import RawSite, build_site
from riskkit.whatif import scale_spec

RTOL = 1e-12


@pytest.fixture(params=["water", "refinery"])
def site(request, water_site, refinery_site):
    return {"water": water_site, "refinery": refinery_site}[request.param]


def _ale(s, **kw):
    return expected_losses(s, **kw)["ale"]


def _snapshot(s):
    return copy.deepcopy(s.model_dump()), site_to_dict(s), s.source, s.source_hash


# --------------------------------------------------------------------------------------------
# rates
# --------------------------------------------------------------------------------------------


def test_doubling_an_actor_doubles_exactly_its_scenarios_ale_and_nothing_else(site):
    before = _ale(site)
    for actor in site.threat_actors:
        after = _ale(what_if(site, actor_rate={actor.id: 2.0}))
        mine = [s.id for s in site.scenarios if s.actor == actor.id and s.rate_share is not None]
        others = [s.id for s in site.scenarios if s.id not in mine]
        assert mine, f"{actor.id} has no rate_share scenario: the test would check nothing"
        np.testing.assert_allclose(after[mine], 2.0 * before[mine], rtol=RTOL)
        np.testing.assert_array_equal(after[others], before[others])


def test_scenario_rate_scales_a_share_and_an_own_rate(water_site):
    s = water_site
    share = next(x for x in s.scenarios if x.rate_share is not None and x.rate_share <= 0.5)
    own = next(x for x in s.scenarios if x.rate is not None)
    before = _ale(s)
    after = _ale(what_if(s, scenario_rate={share.id: 2.0, own.id: 0.25}))
    assert after[share.id] == pytest.approx(2.0 * before[share.id], rel=RTOL)
    assert after[own.id] == pytest.approx(0.25 * before[own.id], rel=RTOL)
    rest = [x.id for x in s.scenarios if x.id not in (share.id, own.id)]
    np.testing.assert_array_equal(after[rest], before[rest])


def test_scenario_rate_that_pushes_a_share_above_one_is_refused(water_site):
    sid = next(x.id for x in water_site.scenarios if x.rate_share is not None)
    with pytest.raises(SiteError) as e:
        what_if(water_site, scenario_rate={sid: 1e6})
    (p,) = e.value.problems
    assert (p.record, p.field) == (sid, "scenario_rate")
    assert "above 1" in p.message


# --------------------------------------------------------------------------------------------
# consequences
# --------------------------------------------------------------------------------------------


def test_halving_one_scenarios_consequence_halves_its_ale_only(site):
    before = _ale(site)
    sid = before.idxmax()  # a scenario with money at stake
    after = _ale(what_if(site, consequence={sid: 0.5}))
    assert after[sid] == pytest.approx(0.5 * before[sid], rel=RTOL)
    rest = before.index.drop(sid)
    np.testing.assert_array_equal(after[rest], before[rest])


def test_a_number_scales_every_money_consequence_but_not_harm(site):
    base = expected_losses(site)
    new = expected_losses(what_if(site, consequence=3.0))
    np.testing.assert_allclose(new["ale"], 3.0 * base["ale"], rtol=RTOL)
    np.testing.assert_allclose(new["loss_per_event"], 3.0 * base["loss_per_event"], rtol=RTOL)
    for cat in ("safety", "environment"):
        np.testing.assert_array_equal(new[f"{cat}_rate"], base[f"{cat}_rate"])


# --------------------------------------------------------------------------------------------
# countermeasures
# --------------------------------------------------------------------------------------------


def _some_candidates(site):
    """Up to three candidates, at most one per exclusive group."""
    out, groups = [], set()
    for c in site.candidates:
        if c.exclusive_group in groups:
            continue
        if c.exclusive_group:
            groups.add(c.exclusive_group)
        out.append(c.id)
    return out[:3]


def test_implement_equals_the_plan_state(site):
    plan = _some_candidates(site)
    new = what_if(site, implement=plan)
    assert {c.id for c in new.implemented} == {c.id for c in site.implemented} | set(plan)
    np.testing.assert_allclose(_ale(new), _ale(site, state="plan", plan=plan), rtol=RTOL)
    assert _ale(new).sum() < _ale(site).sum()  # the plan buys something: not a vacuous test
    # and the simulations agree exactly: the plan's streams are the same random numbers
    a = riskkit.simulate(new, 2000, 5).losses("zone")
    b = riskkit.simulate(site, 2000, 5, plan=plan).losses("zone")
    pd.testing.assert_frame_equal(a, b)


def test_remove_takes_a_countermeasure_out(water_site):
    s = water_site
    cm = s.implemented[0]
    new = what_if(s, remove=[cm.id])
    assert cm.id not in {c.id for c in new.countermeasures}
    assert len(new.countermeasures) == len(s.countermeasures) - 1
    assert _ale(new).sum() >= _ale(s).sum()


def test_implementing_two_members_of_an_exclusive_group_is_refused(water_site):
    group = [c.id for c in water_site.candidates if c.exclusive_group == "telemetry"]
    assert len(group) == 2
    what_if(water_site, implement=group[:1])  # one is fine
    with pytest.raises(SiteError) as e:
        what_if(water_site, implement=group)
    (p,) = e.value.problems
    assert p.record == group[1] and p.field == "implement"
    assert "exclusive group 'telemetry'" in p.message


# --------------------------------------------------------------------------------------------
# tolerance and r
# --------------------------------------------------------------------------------------------


def test_ten_times_stricter_tolerance_gives_the_sl_t_of_a_hand_edited_copy(water_site, tmp_path):
    raw = yaml.safe_load(Path(water_site.source).read_text(encoding="utf-8"))
    # edited by hand from the file: every tolerable frequency and the ALE tolerance / 10,
    # the exceedance probabilities / 10
    raw["tolerance"] = {
        "safety": {1: 1.0e-3, 2: 1.0e-4, 3: 1.0e-5, 4: 1.0e-6},
        "environment": {1: 1.0e-2, 2: 1.0e-3, 3: 1.0e-4, 4: 1.0e-5},
        "financial": {"per_zone_ale": 5000, "exceedance": [[500000, 0.01], [5000000, 0.001]]},
    }
    assert water_site.tolerance.financial.per_zone_ale == 50000  # the file is what we edited
    path = tmp_path / "stricter.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    by_hand = target_levels(riskkit.load_site(path))
    new = target_levels(what_if(water_site, tolerance=0.1))
    pd.testing.assert_frame_equal(new.zones, by_hand.zones)
    pd.testing.assert_frame_equal(new.conduits, by_hand.conduits)
    before = target_levels(water_site).zones
    assert (new.zones.to_numpy() >= before.to_numpy()).all()
    assert (new.zones.to_numpy() > before.to_numpy()).any()  # stricter asks for more somewhere


def test_sl_reduction_per_level_replaces_r(water_site):
    # r acts on the rate under sl_effect 'orders' (r^-min(L, c)); the capability-aware default
    # does not use it, so the site names the rule whose r is being replaced
    d = site_to_dict(water_site)
    d.setdefault("model", {})["sl_effect"] = "orders"
    orders = build_site(RawSite(data=copy.deepcopy(d), file="<orders>"))
    d["model"]["sl_reduction_per_level"] = 3.0
    by_hand = build_site(RawSite(data=d, file="<hand>"))
    new = what_if(orders, sl_reduction_per_level=3.0)
    assert new.model.sl_reduction_per_level == 3.0
    np.testing.assert_array_equal(_ale(new), _ale(by_hand))
    assert not np.allclose(_ale(new), _ale(orders))


# --------------------------------------------------------------------------------------------
# purity, identity, errors
# --------------------------------------------------------------------------------------------


def test_the_input_site_is_unchanged(site):
    before = _snapshot(site)
    plan = _some_candidates(site)
    what_if(
        site,
        actor_rate={site.threat_actors[0].id: 3.0},
        scenario_rate={site.scenarios[0].id: 0.5},
        consequence=2.0,
        tolerance=0.1,
        implement=plan,
        remove=[site.countermeasures[-1].id] if site.countermeasures[-1].id not in plan else [],
        sl_reduction_per_level=5.0,
    )
    assert _snapshot(site) == before


def test_no_change_is_the_same_site(site):
    new = what_if(site)
    assert new is not site
    assert site_to_dict(new) == site_to_dict(site)
    a = riskkit.simulate(new, 1000, 3).summary("zone")
    b = riskkit.simulate(site, 1000, 3).summary("zone")
    pd.testing.assert_frame_equal(a, b)
    assert new.source.endswith("(what-if)") and new.source_hash is None


@pytest.mark.parametrize(
    ("kwargs", "record", "field", "words"),
    [
        ({"actor_rate": {"A-NOBODY": 2.0}}, "A-NOBODY", "actor_rate", "unknown threat actor"),
        ({"actor_rate": {"A-CRIME": -1.0}}, "A-CRIME", "actor_rate", "-1.0 was given"),
        ({"actor_rate": {"A-CRIME": float("inf")}}, "A-CRIME", "actor_rate", "inf was given"),
        ({"actor_rate": {"A-CRIME": "2"}}, "A-CRIME", "actor_rate", "'2' was given"),
        ({"scenario_rate": {"S-404": 2.0}}, "S-404", "scenario_rate", "unknown scenario"),
        ({"consequence": {"S-404": 0.5}}, "S-404", "consequence", "unknown scenario"),
        ({"consequence": float("nan")}, "every scenario", "consequence", "nan was given"),
        ({"tolerance": 0.0}, "tolerance", "tolerance", "positive"),
        ({"tolerance": -0.1}, "tolerance", "tolerance", "-0.1 was given"),
        ({"implement": ["CM-404"]}, "CM-404", "implement", "unknown countermeasure"),
        ({"remove": ["CM-404"]}, "CM-404", "remove", "unknown countermeasure"),
        ({"sl_reduction_per_level": 1.0}, "model", "sl_reduction_per_level", "above 1"),
    ],
)
def test_a_bad_id_or_factor_names_the_argument_and_the_id(water_site, kwargs, record, field, words):
    with pytest.raises(SiteError) as e:
        what_if(water_site, **kwargs)
    (p,) = e.value.problems
    assert (p.record, p.field) == (record, field)
    assert words in p.message
    assert record in str(e.value) and field in str(e.value)


def test_every_bad_argument_is_reported_at_once(water_site):
    with pytest.raises(SiteError) as e:
        what_if(water_site, actor_rate={"A-X": 2.0}, tolerance=float("nan"), implement=["Q"])
    assert [p.field for p in e.value.problems] == ["actor_rate", "tolerance", "implement"]


# --------------------------------------------------------------------------------------------
# distributions scale as distributions
# --------------------------------------------------------------------------------------------

SPECS = [
    4.0,
    {"dist": "constant", "value": 4.0},
    {"dist": "pert", "low": 1.0, "mode": 2.0, "high": 7.0, "gamma": 3.0},
    {"dist": "triangular", "low": 1.0, "mode": 2.0, "high": 7.0},
    {"dist": "uniform", "low": 1.0, "high": 7.0},
    {"dist": "lognormal", "low": 1.0, "high": 7.0, "ci": 0.8},
    {"dist": "normal", "mean": 5.0, "sd": 2.0, "low": 1.0, "high": 12.0},
    {"dist": "normal", "mean": 5.0, "sd": 2.0},
    {"dist": "empirical", "values": [1.0, 3.0, 8.0], "weights": [1.0, 2.0, 1.0]},
]


def _dist(spec):
    from pydantic import TypeAdapter

    return TypeAdapter(riskkit.distributions.Dist).validate_python(spec)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["dist"] if isinstance(s, dict) else "n")
@pytest.mark.parametrize("k", [0.1, 2.5])
def test_a_scaled_spec_is_the_law_of_k_x(spec, k):
    x, kx = _dist(spec), _dist(scale_spec(spec, k))
    assert kx.mean() == pytest.approx(k * x.mean(), rel=1e-9)
    assert kx.var() == pytest.approx(k * k * x.var(), rel=1e-9, abs=1e-15)
    lo, hi = x.bounds()
    assert kx.bounds() == pytest.approx((k * lo, k * hi), rel=1e-12)
    # common random numbers: the same generator state gives k times the same draws
    a = x.sample(np.random.default_rng(11), 500)
    b = kx.sample(np.random.default_rng(11), 500)
    np.testing.assert_allclose(b, k * a, rtol=1e-9)
    assert spec == copy.deepcopy(spec)  # (the spec was not changed: checked below too)


def test_scale_spec_leaves_its_input_alone_and_zero_is_the_constant_zero():
    spec = {"dist": "pert", "low": 1.0, "mode": 2.0, "high": 7.0}
    kept = copy.deepcopy(spec)
    scale_spec(spec, 3.0)
    assert spec == kept
    assert scale_spec(spec, 0.0) == 0.0
    assert scale_spec(spec, 1.0) == spec


@pytest.mark.parametrize(
    "spec", [{"dist": "poisson", "mean": 2.0}, {"dist": "beta", "a": 2, "b": 3}]
)
def test_poisson_and_beta_cannot_be_scaled(spec):
    with pytest.raises(ValueError, match=f"a {spec['dist']} distribution cannot be multiplied"):
        scale_spec(spec, 2.0)
    assert scale_spec(spec, 1.0) == spec


def test_a_poisson_rate_is_refused_with_the_argument_and_id(base_site_dict, make_site):
    d = copy.deepcopy(base_site_dict)
    d["threat_actors"][0]["attempt_rate"] = {"dist": "poisson", "mean": 3.0}
    s = make_site(d)
    aid = d["threat_actors"][0]["id"]
    with pytest.raises(SiteError) as e:
        what_if(s, actor_rate={aid: 2.0})
    (p,) = e.value.problems
    assert p.record == aid and p.field.startswith("actor_rate")
    assert "poisson" in p.message
    assert set(DIST_KINDS) >= {"poisson", "beta"}
