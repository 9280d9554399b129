"""Model v2 (issue 10) and attack paths (issue 15): the factors of a scenario.

Every test passes its model options explicitly, so it keeps its meaning when the defaults
change. Closed forms are checked by hand; Monte Carlo agrees with them within 4 standard
errors.
"""

from __future__ import annotations

import copy

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
