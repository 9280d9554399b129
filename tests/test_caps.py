"""Tests of the ``cap`` of distribution specs: min(X, cap), censoring rather than truncation.

Exact moments of min(X, c) are checked against numerical integration with scipy (quad over
the density of the uncapped law below the cap plus the atom c * P(X > c)), or a direct sum
for the discrete kinds, never against the code under test. Samplers are checked the way
tests/test_distributions.py checks them: the sampled mean within 4 standard errors of the
exact mean, SE = sd / sqrt(n), and the sampled variance within 4 standard errors of the exact
variance, SE = sqrt((m4 - s^4) / n); seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from scipy import integrate, stats

from riskkit import SiteError
from riskkit.distributions import DIST_KINDS, Dist, LogNormal
from riskkit.engine.moments import moments
from riskkit.engine.simulation import simulate
from riskkit.exposure import expected_losses
from riskkit.io import site_to_dict
from riskkit.whatif import scale_spec

DIST = TypeAdapter(Dist)
N = 200_000
Z90 = 1.6448536269514722  # standard normal quantile at 0.95 (central 90 %)


def _lognormal_law(low, high, z=Z90):
    mu = (math.log(low) + math.log(high)) / 2
    s = (math.log(high) - math.log(low)) / (2 * z)
    return stats.lognorm(s=s, scale=math.exp(mu))


def _pert_law(low, mode, high, gamma=4.0):
    span = high - low
    a, b = 1 + gamma * (mode - low) / span, 1 + gamma * (high - mode) / span
    return stats.beta(a, b, loc=low, scale=span)


def _censored_by_quad(law, lo, c):
    """Mean and variance of min(X, c) by numerical integration of the law's density.

    Through Y = c - min(X, c) = (c - X)+, which is 0 above the cap: E[Y^k] = int_lo^c
    (c - x)^k f(x) dx, and Var[min(X, c)] = Var[Y] (no digits lost to E[X^2] - E[X]^2 when
    little mass lies below the cap).
    """
    opts = {"limit": 200, "epsabs": 0.0, "epsrel": 1e-12}
    y1 = integrate.quad(lambda x: (c - x) * law.pdf(x), lo, c, **opts)[0]
    y2 = integrate.quad(lambda x: (c - x) ** 2 * law.pdf(x), lo, c, **opts)[0]
    return c - y1, y2 - y1 * y1


def _censored_by_sum(values, probs, c):
    x = np.minimum(np.asarray(values, float), c)
    p = np.asarray(probs, float) / np.sum(probs)
    m = float(p @ x)
    return m, float(p @ (x - m) ** 2)


def _poisson_censored(lam, c):
    k = np.arange(0, int(lam + 60 * math.sqrt(lam) + 60))
    return _censored_by_sum(k, stats.poisson(lam).pmf(k), c)


# (spec, exact (mean, variance) of min(X, cap), P(X > cap))
CASES = [
    pytest.param(
        {"dist": "lognormal", "low": 1e6, "high": 5e7, "cap": 3e7},
        _censored_by_quad(_lognormal_law(1e6, 5e7), 0.0, 3e7),
        float(_lognormal_law(1e6, 5e7).sf(3e7)),
        id="lognormal-tail",
    ),
    pytest.param(
        {"dist": "lognormal", "low": 1e5, "high": 1e6, "cap": 2e5},
        _censored_by_quad(_lognormal_law(1e5, 1e6), 0.0, 2e5),
        float(_lognormal_law(1e5, 1e6).sf(2e5)),
        id="lognormal-below-median",
    ),
    pytest.param(
        {"dist": "lognormal", "low": 1, "high": 3, "ci": 0.5, "cap": 4},
        _censored_by_quad(_lognormal_law(1, 3, 0.6744897501960817), 0.0, 4),
        float(_lognormal_law(1, 3, 0.6744897501960817).sf(4)),
        id="lognormal-ci50",
    ),
    pytest.param(
        {"dist": "pert", "low": 2, "mode": 3, "high": 10, "cap": 6},
        _censored_by_quad(_pert_law(2, 3, 10), 2, 6),
        float(_pert_law(2, 3, 10).sf(6)),
        id="pert",
    ),
    pytest.param(
        {"dist": "pert", "low": 0, "mode": 9, "high": 10, "gamma": 6, "cap": 5},
        _censored_by_quad(_pert_law(0, 9, 10, 6), 0, 5),
        float(_pert_law(0, 9, 10, 6).sf(5)),
        id="pert-gamma6-below-mode",
    ),
    pytest.param(
        {"dist": "triangular", "low": 1, "mode": 2, "high": 10, "cap": 1.5},
        _censored_by_quad(stats.triang(1 / 9, loc=1, scale=9), 1, 1.5),
        float(stats.triang(1 / 9, loc=1, scale=9).sf(1.5)),
        id="triangular-below-mode",
    ),
    pytest.param(
        {"dist": "triangular", "low": 1, "mode": 2, "high": 10, "cap": 5},
        _censored_by_quad(stats.triang(1 / 9, loc=1, scale=9), 1, 5),
        float(stats.triang(1 / 9, loc=1, scale=9).sf(5)),
        id="triangular-above-mode",
    ),
    pytest.param(
        {"dist": "triangular", "low": 0, "mode": 0, "high": 4, "cap": 3},
        _censored_by_quad(stats.triang(0, loc=0, scale=4), 0, 3),
        float(stats.triang(0, loc=0, scale=4).sf(3)),
        id="triangular-mode-at-low",
    ),
    pytest.param(
        {"dist": "triangular", "low": 0, "mode": 4, "high": 4, "cap": 1},
        _censored_by_quad(stats.triang(1, loc=0, scale=4), 0, 1),
        float(stats.triang(1, loc=0, scale=4).sf(1)),
        id="triangular-mode-at-high",
    ),
    pytest.param(
        {"dist": "uniform", "low": 1, "high": 3, "cap": 2.5},
        _censored_by_quad(stats.uniform(1, 2), 1, 2.5),
        0.25,
        id="uniform",
    ),
    pytest.param(
        {"dist": "normal", "mean": 5, "sd": 3, "cap": 6},
        _censored_by_quad(stats.truncnorm(-5 / 3, math.inf, loc=5, scale=3), 0, 6),
        float(stats.truncnorm(-5 / 3, math.inf, loc=5, scale=3).sf(6)),
        id="normal-truncated-at-0",
    ),
    pytest.param(
        {"dist": "normal", "mean": 1e6, "sd": 4e5, "low": 0, "high": 3e6, "cap": 1.2e6},
        _censored_by_quad(stats.truncnorm(-2.5, 5, loc=1e6, scale=4e5), 0, 1.2e6),
        float(stats.truncnorm(-2.5, 5, loc=1e6, scale=4e5).sf(1.2e6)),
        id="normal-money",
    ),
    pytest.param(
        {"dist": "beta", "a": 2, "b": 3, "cap": 0.3},
        _censored_by_quad(stats.beta(2, 3), 0, 0.3),
        float(stats.beta(2, 3).sf(0.3)),
        id="beta",
    ),
    pytest.param(
        {"dist": "poisson", "mean": 3, "cap": 2.5},
        _poisson_censored(3, 2.5),
        float(stats.poisson(3).sf(2)),
        id="poisson-fractional-cap",
    ),
    pytest.param(
        {"dist": "poisson", "mean": 40, "cap": 45},
        _poisson_censored(40, 45),
        float(stats.poisson(40).sf(45)),
        id="poisson-integer-cap",
    ),
    pytest.param(
        {"dist": "empirical", "values": [1, 2, 10, 50], "weights": [4, 3, 2, 1], "cap": 5},
        _censored_by_sum([1, 2, 10, 50], [4, 3, 2, 1], 5),
        0.3,
        id="empirical",
    ),
    pytest.param(
        {"dist": "empirical", "values": [1, 2, 10], "cap": 10},
        _censored_by_sum([1, 2, 10], [1, 1, 1], 10),
        0.0,
        id="empirical-cap-at-top",
    ),
]


# caps tiny against the width, where few draws fall below the cap (exact values only)
TINY = [
    pytest.param(  # just above the mode
        {"dist": "triangular", "low": 0, "mode": 1e-6, "high": 1, "cap": 2e-6},
        _censored_by_quad(stats.triang(1e-6, loc=0, scale=1), 0, 2e-6),
        float(stats.triang(1e-6, loc=0, scale=1).sf(2e-6)),
        id="triangular-tiny-cap",
    ),
    pytest.param(
        {"dist": "pert", "low": 0, "mode": 0.5, "high": 1, "cap": 1e-3},
        _censored_by_quad(_pert_law(0, 0.5, 1), 0, 1e-3),
        float(_pert_law(0, 0.5, 1).sf(1e-3)),
        id="pert-tiny-cap",
    ),
]


@pytest.mark.parametrize(("spec", "exact", "tail"), CASES + TINY)
def test_exact_moments_of_the_capped_law_match_numerical_integration(spec, exact, tail):
    d = DIST.validate_python(spec)
    assert d.mean() == pytest.approx(exact[0], rel=1e-9)
    assert d.var() == pytest.approx(exact[1], rel=1e-7)
    assert d.second_moment() == pytest.approx(exact[1] + exact[0] ** 2, rel=1e-9)
    assert d.bounds() == (d.bounds()[0], min(spec["cap"], d._support()[1]))


@pytest.mark.parametrize(("spec", "exact", "tail"), CASES)
def test_sampled_capped_mean_and_variance_within_4_standard_errors(spec, exact, tail):
    d = DIST.validate_python(spec)
    x = d.sample(np.random.default_rng(20261129), N)
    mean, var = exact
    sd = math.sqrt(var)
    assert abs(x.mean() - mean) <= 4 * sd / math.sqrt(N) + 1e-12 * abs(mean)
    s2 = x.var(ddof=1)
    m4 = float(np.mean((x - x.mean()) ** 4))
    assert abs(s2 - var) <= 4 * math.sqrt(max(m4 - s2 * s2, 0.0) / N) + 1e-12 * var


@pytest.mark.parametrize(("spec", "exact", "tail"), CASES)
def test_the_cap_censors_rather_than_truncates(spec, exact, tail):
    """Draws above the cap are paid at the cap: an atom of mass P(X > cap) sits there, and
    the draws are those of the uncapped law (same random numbers) cut at the cap."""
    d = DIST.validate_python(spec)
    raw = DIST.validate_python({k: v for k, v in spec.items() if k != "cap"})
    x = d.sample(np.random.default_rng(7), N)
    y = raw.sample(np.random.default_rng(7), N)
    np.testing.assert_array_equal(x, np.minimum(y, spec["cap"]))
    assert x.max() <= spec["cap"]
    if d.dist not in ("poisson", "empirical"):  # continuous: P(X == cap) = 0 uncapped
        at_cap = float(np.mean(x == spec["cap"]))
        assert abs(at_cap - tail) <= 4 * math.sqrt(tail * (1 - tail) / N) + 1e-12


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "pert", "low": 1, "mode": 2, "high": 3, "cap": 3},
        {"dist": "triangular", "low": 1, "mode": 2, "high": 3, "cap": 7},
        {"dist": "uniform", "low": 1, "high": 3, "cap": 3},
        {"dist": "normal", "mean": 1, "sd": 1, "high": 2, "cap": 2.5},
        {"dist": "beta", "a": 2, "b": 2, "cap": 1},
        {"dist": "empirical", "values": [1, 2], "cap": 2},
        {"dist": "constant", "value": 3, "cap": 5},
    ],
)
def test_a_cap_at_or_above_the_top_of_the_support_changes_nothing(spec):
    d = DIST.validate_python(spec)
    raw = DIST.validate_python({k: v for k, v in spec.items() if k != "cap"})
    assert (d.mean(), d.var(), d.bounds()) == (raw.mean(), raw.var(), raw.bounds())
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(d.sample(rng1, 1000), raw.sample(rng2, 1000))


def test_capped_lognormal_by_hand():
    """A lognormal with median 10 M and sigma 1 capped at its median: E = 10 M (Phi(-1) e^0.5
    + 0.5) exactly, as E[X; X <= median] = e^(mu + 1/2) Phi(-1)."""
    z = Z90
    low, high = 1e7 * math.exp(-z), 1e7 * math.exp(z)  # mu = ln 1e7, sigma = 1
    d = LogNormal(dist="lognormal", low=low, high=high, cap=1e7)
    phi_m1 = 0.5 * math.erfc(1 / math.sqrt(2))
    assert d.mean() == pytest.approx(1e7 * (math.exp(0.5) * phi_m1 + 0.5), rel=1e-12)
    uncapped = LogNormal(dist="lognormal", low=low, high=high)
    assert uncapped.mean() == pytest.approx(1e7 * math.exp(0.5), rel=1e-12)


def test_cap_far_out_in_a_huge_lognormal_stays_finite():
    """Uncapped, a lognormal over 600 decades overflows and is refused; capped it is bounded."""
    with pytest.raises(ValidationError, match="overflows"):
        DIST.validate_python({"dist": "lognormal", "low": 1e-300, "high": 1e300})
    d = DIST.validate_python({"dist": "lognormal", "low": 1e-300, "high": 1e300, "cap": 1e9})
    assert 0 < d.mean() < 1e9 and 0 < d.var() < 1e18
    # mu = 0, sigma = ln(1e300) / z: P(X > 1e9) = Phi(-ln(1e9) / sigma) (the atom dominates)
    sigma = math.log(1e300) / Z90
    tail = 0.5 * math.erfc(math.log(1e9) / sigma / math.sqrt(2))
    assert d.mean() == pytest.approx(1e9 * tail, rel=0.05)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _errors(value) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        DIST.validate_python(value)
    out = []
    for err in info.value.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "tagged-union"))]
        out.append((loc[-1] if loc else "", err["msg"]))
    return out


LN = {"dist": "lognormal", "low": 1e5, "high": 1e6}
PERT = {"dist": "pert", "low": 1, "mode": 2, "high": 3}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({**LN, "cap": 1e5}, "cap must be > low (100000), 100000 was given"),
        ({**LN, "cap": 5e4}, "cap must be > low (100000), 50000 was given"),
        ({**PERT, "cap": 0.5}, "cap must be > low (1), 0.5 was given"),
        ({**PERT, "dist": "triangular", "cap": 1}, "cap must be > low (1), 1 was given"),
        ({"dist": "uniform", "low": 1, "high": 3, "cap": -2}, "cap must be > low (1), -2 was"),
        ({"dist": "normal", "mean": 1, "sd": 1, "cap": 0}, "cap must be > low (0), 0 was given"),
        ({"dist": "beta", "a": 1, "b": 1, "cap": 0}, "cap must be > 0, 0 was given"),
        ({"dist": "poisson", "mean": 3, "cap": -1}, "cap must be > 0, -1 was given"),
        (
            {"dist": "empirical", "values": [4, 2, 9], "cap": 2},
            "cap must be > the smallest value (2), 2 was given",
        ),
        ({"dist": "constant", "value": 3, "cap": 2}, "cap must be > the value (3), 2 was given"),
        ({**PERT, "cap": math.inf}, "finite"),
        ({**PERT, "cap": "a lot"}, "valid number"),
    ],
)
def test_cap_at_or_below_the_low_bound_is_refused_showing_the_value(value, fragment):
    errors = _errors(value)
    assert any(loc == "cap" and fragment in msg for loc, msg in errors), errors


def test_a_site_with_a_cap_below_low_names_the_scenario_and_the_field(base_site_dict, make_site):
    base_site_dict["scenarios"][0]["consequences"]["recovery"]["cap"] = 5e4
    with pytest.raises(SiteError) as info:
        make_site(base_site_dict)
    text = str(info.value)
    assert "S-1" in text and "recovery.cap" in text and "50000 was given" in text, text


@pytest.mark.parametrize("kind", sorted(set(DIST_KINDS)))
def test_every_kind_takes_a_cap(kind):
    spec = {
        "constant": {"dist": "constant", "value": 1},
        "pert": {"dist": "pert", "low": 0, "mode": 1, "high": 3},
        "lognormal": {"dist": "lognormal", "low": 0.5, "high": 3},
        "triangular": {"dist": "triangular", "low": 0, "mode": 1, "high": 3},
        "uniform": {"dist": "uniform", "low": 0, "high": 3},
        "normal": {"dist": "normal", "mean": 1, "sd": 1},
        "beta": {"dist": "beta", "a": 2, "b": 2},
        "poisson": {"dist": "poisson", "mean": 2},
        "empirical": {"dist": "empirical", "values": [0, 1, 3]},
    }[kind]
    raw = DIST.validate_python(spec)
    capped = DIST.validate_python({**spec, "cap": 2 if kind != "beta" else 0.5})
    if kind == "constant":  # the cap must exceed the value: it never acts
        assert capped.mean() == raw.mean()
    else:
        assert capped.mean() < raw.mean() and capped.bounds()[1] < raw.bounds()[1]


_BIG = [1e-300, 1e-12, 1e-3, 1.0, 1e3, 1e12, 1e150, 1e300]


def _extreme_capped_specs():
    for x in _BIG:
        for y in _BIG:
            lo, hi = sorted((x, y))
            for cap in (lo * 1.5 + 1e-300, math.sqrt(lo) * math.sqrt(hi), hi * 0.9):
                yield {"dist": "uniform", "low": 0, "high": hi, "cap": cap}
                yield {"dist": "pert", "low": 0, "mode": lo, "high": hi, "cap": cap}
                yield {"dist": "triangular", "low": 0, "mode": lo, "high": hi, "cap": cap}
                yield {"dist": "lognormal", "low": lo, "high": hi * 2, "cap": cap * 1.5}
                yield {"dist": "normal", "mean": x, "sd": y, "cap": cap}
                yield {"dist": "empirical", "values": [0, lo, hi], "cap": cap}
                yield {"dist": "poisson", "mean": min(x, 1e6), "cap": cap}
                if cap < 1:
                    yield {"dist": "beta", "a": x, "b": y, "cap": cap}


def test_capped_kinds_at_extreme_parameters_have_moments_inside_their_bounds_or_are_refused():
    kinds, accepted = set(), 0
    for spec in _extreme_capped_specs():
        try:
            d = DIST.validate_python(spec)
        except ValidationError:
            continue  # a refusal is a site problem, never a traceback
        accepted += 1
        kinds.add(spec["dist"])
        lo, hi = d.bounds()
        m, v = d.mean(), d.var()
        assert math.isfinite(m) and lo <= m <= hi <= spec["cap"], (spec, m)
        assert math.isfinite(v) and v >= 0, (spec, v)
        if hi < math.inf:
            assert math.sqrt(v) <= (hi - lo) / 2 * (1 + 1e-9), (spec, v)  # Popoviciu
    assert kinds == set(DIST_KINDS) - {"constant"} and accepted > 500


# --------------------------------------------------------------------------------------------
# the engine, the closed forms and the site tools pick the cap up
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def capped_site():
    from tests.conftest import BASE_SITE, build

    d = copy.deepcopy(BASE_SITE)
    d["scenarios"][0]["consequences"]["recovery"]["cap"] = 4e5  # lognormal 90 % in [1e5, 1e6]
    d["scenarios"][1]["consequences"]["equipment"]["cap"] = 1e5  # triangular(1e4, 5e4, 2e5)
    return build(d)


def test_closed_form_ale_uses_the_capped_mean(capped_site, base_site_dict, make_site):
    uncapped = expected_losses(make_site(base_site_dict))
    capped = expected_losses(capped_site)
    recovery = _censored_by_quad(_lognormal_law(1e5, 1e6), 0.0, 4e5)[0]
    equipment = _censored_by_quad(stats.triang(4 / 19, loc=1e4, scale=1.9e5), 1e4, 1e5)[0]
    assert capped.loc["S-1", "money_recovery"] == pytest.approx(recovery, rel=1e-9)
    assert capped.loc["S-2", "money_equipment"] == pytest.approx(equipment, rel=1e-9)
    for sid in ("S-1", "S-2"):  # rates unchanged, money per event lower
        assert capped.loc[sid, "event_rate"] == uncapped.loc[sid, "event_rate"]
        assert capped.loc[sid, "ale"] < uncapped.loc[sid, "ale"]
        expected = capped.loc[sid, "event_rate"] * capped.loc[sid, "loss_per_event"]
        assert capped.loc[sid, "ale"] == pytest.approx(expected, rel=1e-12)


def test_simulated_capped_losses_agree_with_the_closed_forms_within_4_se(capped_site):
    trials = 200_000
    x = simulate(capped_site, trials=trials, seed=11).losses("scenario")
    exact = moments(capped_site)
    ale = expected_losses(capped_site)["ale"]
    for sid in ("S-1", "S-2"):
        col = x[sid].to_numpy()
        assert exact.loc[sid, "mean"] == pytest.approx(ale[sid], rel=1e-12)
        se = math.sqrt(exact.loc[sid, "var"] / trials)
        assert abs(col.mean() - exact.loc[sid, "mean"]) <= 4 * se, sid
        s2 = col.var(ddof=1)
        m4 = float(np.mean((col - col.mean()) ** 4))
        assert abs(s2 - exact.loc[sid, "var"]) <= 4 * math.sqrt((m4 - s2 * s2) / trials), sid


def test_a_what_if_multiplies_the_cap_with_the_distribution(capped_site):
    spec = {"dist": "lognormal", "low": 1e5, "high": 1e6, "cap": 4e5}
    scaled = DIST.validate_python(scale_spec(spec, 2.5))
    base = DIST.validate_python(spec)
    assert scaled.cap == 1e6
    assert scaled.mean() == pytest.approx(2.5 * base.mean(), rel=1e-12)
    assert scaled.var() == pytest.approx(2.5**2 * base.var(), rel=1e-9)
    emp = {"dist": "empirical", "values": [1, 5, 9], "cap": 6}
    assert scale_spec(emp, 2) == {"dist": "empirical", "values": [2, 10, 18], "cap": 12}
    assert scale_spec(spec, 1) == spec and scale_spec(spec, 0) == 0.0


def test_caps_survive_the_round_trip_to_file_form(capped_site, make_site):
    data = site_to_dict(capped_site)
    assert data["scenarios"][0]["consequences"]["recovery"]["cap"] == 4e5
    again = make_site(data)
    recovery = capped_site.scenarios[0].consequences.recovery
    assert again.scenarios[0].consequences.recovery == recovery
    # a capped constant writes back as a bare number (its cap can never act)
    const = DIST.validate_python({"dist": "constant", "value": 3, "cap": 5})
    assert "cap" not in const.model_dump()


def test_the_sensitivity_quantiles_of_a_capped_lognormal_stop_at_the_cap(
    base_site_dict, make_site
):
    from riskkit.sensitivity import _all_inputs

    base_site_dict["threat_actors"][0]["attempt_rate"]["cap"] = 3.0  # lognormal 90 % in [1, 5]
    fam = _all_inputs(make_site(base_site_dict))["actor:A-CRIME"]
    q = fam.quantiles([0.1, 0.5, 0.99])
    law = _lognormal_law(1, 5)
    assert q[0] == pytest.approx(float(law.ppf(0.1)), rel=1e-9)
    assert q[1] == pytest.approx(float(law.ppf(0.5)), rel=1e-9)
    assert q[2] == 3.0 < float(law.ppf(0.99))


def test_the_report_text_of_a_capped_spec_names_the_cap():
    from riskkit.report.views import _dist_text

    assert _dist_text(DIST.validate_python({"dist": "uniform", "low": 1, "high": 3})) == (
        "uniform(1, 3)"
    )
    text = _dist_text(DIST.validate_python({"dist": "lognormal", "low": 1, "high": 9, "cap": 5}))
    assert text == "lognormal90%[1, 9] capped at 5"
