"""Tests of riskkit.distributions: samplers against exact moments, the fits, and validation.

Statistical tolerance: a sampled mean must lie within 4 standard errors of the exact mean,
SE = sd / sqrt(n); a sampled variance within 4 standard errors of the exact variance,
SE = sqrt((m4 - s^4) / n) with m4 the sample fourth central moment. A correct sampler fails one
such check with probability about 6e-5; the seeds are fixed, so the tests are deterministic.
Every exact value is computed here from textbook formulas, not taken from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from riskkit.distributions import (
    DIST_KINDS,
    Beta,
    Constant,
    Dist,
    Empirical,
    LogNormal,
    Normal,
    Pert,
    Poisson,
    Triangular,
    Uniform,
    as_dist,
)

N = 200_000
DIST = TypeAdapter(Dist)
Z90 = 1.6448536269514722  # standard normal quantile at 0.95 (central 90 %)
Z50 = 0.6744897501960817  # at 0.75 (central 50 %)


def phi(x):
    return 0.0 if math.isinf(x) else math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def Phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def truncnorm_moments(mu, sd, low, high):
    """Mean and variance of N(mu, sd^2) truncated to [low, high] (Johnson, Kotz & Balakrishnan)."""
    a, b = (low - mu) / sd, (high - mu) / sd
    z = Phi(b) - Phi(a)
    bphi = 0.0 if math.isinf(b) else b * phi(b)
    d = (phi(a) - phi(b)) / z
    return mu + sd * d, sd * sd * (1 + (a * phi(a) - bphi) / z - d * d)


def lognormal_moments(low, high, z):
    mu = (math.log(low) + math.log(high)) / 2
    s = (math.log(high) - math.log(low)) / (2 * z)
    return math.exp(mu + s * s / 2), (math.exp(s * s) - 1) * math.exp(2 * mu + s * s)


def pert_moments(low, mode, high, gamma):
    mean = (low + gamma * mode + high) / (gamma + 2)
    return mean, (mean - low) * (high - mean) / (gamma + 3)


CASES = [
    pytest.param(Pert(dist="pert", low=2, mode=3, high=10), pert_moments(2, 3, 10, 4), id="pert"),
    pytest.param(
        Pert(dist="pert", low=0, mode=0.9, high=1, gamma=6), pert_moments(0, 0.9, 1, 6),
        id="pert-gamma6",
    ),
    pytest.param(
        LogNormal(dist="lognormal", low=1, high=5), lognormal_moments(1, 5, Z90), id="lognormal"
    ),
    pytest.param(
        LogNormal(dist="lognormal", low=1, high=3, ci=0.5), lognormal_moments(1, 3, Z50),
        id="lognormal-ci50",
    ),
    pytest.param(
        Triangular(dist="triangular", low=1, mode=2, high=6),
        (3.0, (1 + 36 + 4 - 6 - 2 - 12) / 18), id="triangular",
    ),
    pytest.param(Uniform(dist="uniform", low=-1, high=3), (1.0, 16 / 12), id="uniform"),
    pytest.param(
        Normal(dist="normal", mean=1, sd=2), truncnorm_moments(1, 2, 0, math.inf),
        id="normal-truncated-at-0",
    ),
    pytest.param(
        Normal(dist="normal", mean=5, sd=1, low=4, high=7),
        truncnorm_moments(5, 1, 4, 7), id="normal-two-sided",
    ),
    pytest.param(Beta(dist="beta", a=2, b=5), (2 / 7, 10 / (49 * 8)), id="beta"),
    pytest.param(Poisson(dist="poisson", mean=3.5), (3.5, 3.5), id="poisson"),
    pytest.param(
        Empirical(dist="empirical", values=[1, 2, 5], weights=[1, 1, 2]),
        (3.25, 13.75 - 3.25**2), id="empirical",
    ),
    pytest.param(Constant(value=4), (4.0, 0.0), id="constant"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "exact"), CASES)
def test_exact_moments_match_the_formulas(spec, exact):
    mean, var = exact
    assert spec.mean() == pytest.approx(mean, rel=1e-12, abs=1e-12)
    assert spec.var() == pytest.approx(var, rel=1e-9, abs=1e-12)
    assert spec.second_moment() == pytest.approx(var + mean**2, rel=1e-9)


@pytest.mark.parametrize(("spec", "exact"), CASES)
def test_sampled_mean_and_variance_within_4_standard_errors(spec, exact):
    mean, var = exact
    x = spec.sample(np.random.default_rng(62443), N)
    assert x.shape == (N,) and x.dtype == float
    if var == 0:
        assert np.all(x == mean)
        return
    se_mean = math.sqrt(var / N)
    assert abs(x.mean() - mean) <= 4 * se_mean, (x.mean(), mean, se_mean)
    s2 = x.var(ddof=1)
    m4 = np.mean((x - x.mean()) ** 4)
    se_var = math.sqrt((m4 - s2 * s2) / N)
    assert abs(s2 - var) <= 4 * se_var, (s2, var, se_var)


@pytest.mark.parametrize(("spec", "exact"), CASES)
def test_samples_stay_within_bounds(spec, exact):
    lo, hi = spec.bounds()
    x = spec.sample(np.random.default_rng(7), 20_000)
    assert x.min() >= lo and x.max() <= hi


def test_bounds_by_hand():
    assert Pert(dist="pert", low=2, mode=3, high=10).bounds() == (2, 10)
    assert LogNormal(dist="lognormal", low=1, high=5).bounds() == (0.0, math.inf)
    assert Normal(dist="normal", mean=1, sd=2).bounds() == (0.0, math.inf)
    assert Beta(dist="beta", a=2, b=5).bounds() == (0.0, 1.0)
    assert Poisson(dist="poisson", mean=2).bounds() == (0.0, math.inf)
    assert Empirical(dist="empirical", values=[3, -1, 2]).bounds() == (-1.0, 3.0)
    assert Constant(value=-2).bounds() == (-2.0, -2.0)
    assert Constant(value=1).is_constant and not Uniform(dist="uniform", low=0, high=1).is_constant


@pytest.mark.parametrize(("ci", "z"), [(0.90, Z90), (0.50, Z50), (0.98, 2.3263478740408408)])
def test_lognormal_fit_puts_the_credible_mass_inside_the_interval(ci, z):
    spec = LogNormal(dist="lognormal", low=0.5, high=6, ci=ci)
    assert spec.mu == pytest.approx((math.log(0.5) + math.log(6)) / 2, rel=1e-12)
    assert spec.sigma == pytest.approx((math.log(6) - math.log(0.5)) / (2 * z), rel=1e-12)
    x = spec.sample(np.random.default_rng(11), N)
    inside = np.mean((x >= 0.5) & (x <= 6))
    # binomial: P(inside) = ci, standard error sqrt(ci (1 - ci) / n), 4-sigma tolerance
    assert abs(inside - ci) <= 4 * math.sqrt(ci * (1 - ci) / N)
    # and the tails are equal: half of the rest below low
    below = np.mean(x < 0.5)
    assert abs(below - (1 - ci) / 2) <= 4 * math.sqrt((1 - ci) / 2 * (1 + ci) / 2 / N)


@pytest.mark.parametrize(
    ("low", "mode", "high", "gamma", "alpha", "beta"),
    [
        (0, 1, 4, 4, 2.0, 4.0),  # 1 + 4*1/4, 1 + 4*3/4
        (10, 10, 20, 4, 1.0, 5.0),  # mode at low
        (10, 20, 20, 4, 5.0, 1.0),  # mode at high
        (0, 5, 10, 4, 3.0, 3.0),  # symmetric
        (0, 2, 10, 6, 2.2, 5.8),  # 1 + 6*0.2, 1 + 6*0.8
        (-4, -3, 0, 2, 1.5, 2.5),  # negative support, gamma 2
    ],
)
def test_pert_alpha_beta_by_hand(low, mode, high, gamma, alpha, beta):
    spec = Pert(dist="pert", low=low, mode=mode, high=high, gamma=gamma)
    a, b = spec._ab()
    assert a == pytest.approx(alpha) and b == pytest.approx(beta)
    # the mean of Beta(alpha, beta) on [low, high]
    assert spec.mean() == pytest.approx(low + (high - low) * alpha / (alpha + beta))


def test_degenerate_pert_and_triangular_are_constants():
    for spec in (
        Pert(dist="pert", low=3, mode=3, high=3),
        Triangular(dist="triangular", low=3, mode=3, high=3),
    ):
        x = spec.sample(np.random.default_rng(0), 5)
        assert np.all(x == 3) and spec.var() == 0 and spec.mean() == 3 and spec.is_constant


def test_same_seed_same_draws_and_no_global_state():
    spec = LogNormal(dist="lognormal", low=1, high=5)
    a = spec.sample(np.random.default_rng(5), 100)
    np.random.seed(123)  # noqa: NPY002 - the global state must not matter
    b = spec.sample(np.random.default_rng(5), 100)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, spec.sample(np.random.default_rng(6), 100))


# --------------------------------------------------------------------------------------------
# parsing and validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "mean"),
    [
        (2, "constant", 2.0),
        (0.25, "constant", 0.25),
        ("1e-3", "constant", 1e-3),
        ({"dist": "constant", "value": 7}, "constant", 7.0),
        ({"dist": "pert", "low": 1, "mode": 2, "high": 3}, "pert", 2.0),
        ({"dist": "normal", "mean": 3, "sd": 1, "low": -math.inf}, "normal", 3.0),
        ({"dist": "poisson", "mean": 2}, "poisson", 2.0),
    ],
)
def test_parsing(value, kind, mean):
    spec = DIST.validate_python(value)
    assert spec.dist == kind and spec.mean() == pytest.approx(mean)


def _errors(value) -> list[tuple[str, str]]:
    """(last field of the location, message) of every validation error."""
    with pytest.raises(ValidationError) as info:
        DIST.validate_python(value)
    out = []
    for err in info.value.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "tagged-union"))]
        out.append((loc[-1] if loc else "", err["msg"]))
    return out


@pytest.mark.parametrize(
    ("value", "field", "fragment"),
    [
        ({"dist": "pert", "low": 5, "mode": 4, "high": 9}, "mode", "mode must be >= low (5.0)"),
        ({"dist": "pert", "low": 1, "mode": 4, "high": 3}, "high", "high must be >= mode (4.0)"),
        ({"dist": "pert", "low": 1, "mode": 2, "high": 3, "gamma": 0}, "gamma", "greater than 0"),
        ({"dist": "triangular", "low": 5, "mode": 4, "high": 9}, "mode", "mode must be >= low"),
        ({"dist": "triangular", "low": 1, "mode": 4, "high": 3}, "high", "high must be >= mode"),
        ({"dist": "lognormal", "low": 0, "high": 3}, "low", "greater than 0"),
        ({"dist": "lognormal", "low": 3, "high": 3}, "high", "high must be > low (3.0)"),
        ({"dist": "lognormal", "low": 1, "high": 3, "ci": 1}, "ci", "less than 1"),
        ({"dist": "uniform", "low": 3, "high": 1}, "high", "high must be >= low (3.0)"),
        ({"dist": "normal", "mean": 1, "sd": 0}, "sd", "greater than 0"),
        ({"dist": "normal", "mean": 1, "sd": 1, "low": 2, "high": 2}, "high", "high must be > low"),
        ({"dist": "beta", "a": 0, "b": 1}, "a", "greater than 0"),
        ({"dist": "poisson", "mean": -1}, "mean", "greater than or equal to 0"),
        ({"dist": "empirical", "values": []}, "values", "at least 1"),
        ({"dist": "empirical", "values": [1, 2], "weights": [1]}, "weights", "one entry per value"),
        ({"dist": "empirical", "values": [1, 2], "weights": [1, -1]}, "weights", ">= 0"),
        ({"dist": "empirical", "values": [1, 2], "weights": [0, 0]}, "weights", "positive sum"),
        ({"dist": "pert", "low": 1, "mode": 2, "hi": 3}, "hi", "Extra inputs"),
        ({"dist": "uniform", "low": math.nan, "high": 1}, "low", "finite"),
        ({"dist": "normal", "mean": 1, "sd": 1, "low": math.nan}, "low", "nan was given"),
        ({"dist": "weibull", "k": 2}, "", "unknown dist 'weibull'"),
        ({"dist": ["pert"]}, "", "unknown dist ['pert']"),
        ({"low": 1, "high": 2}, "", "needs a 'dist' key"),
        (True, "", "True was given"),
        ("often", "", "'often' was given"),
        (10**400, "", "this large"),
        (math.inf, "value", "finite"),
        ([1, 2], "", ""),
    ],
)
def test_validation_errors_name_the_field_and_value(value, field, fragment):
    errors = _errors(value)
    assert any(loc == field and fragment in msg for loc, msg in errors), errors


def test_as_dist_passes_mappings_through():
    d = {"dist": "beta", "a": 1, "b": 2}
    assert as_dist(d) is d
    assert as_dist(3) == {"dist": "constant", "value": 3.0}


def test_normal_default_upper_bound_is_infinite_but_explicit_infinity_is_allowed():
    spec = Normal(dist="normal", mean=1, sd=1, high=math.inf)
    assert spec.bounds() == (0.0, math.inf)
    assert Normal.model_validate(spec.model_dump()) == spec  # a dump validates again


# --------------------------------------------------------------------------------------------
# extreme parameters: moments stay inside the support, finite, or the spec is refused
# --------------------------------------------------------------------------------------------

_BIG = [1e-300, 1e-12, 1e-3, 1.0, 1e3, 1e12, 1e150, 1e300, 1.7e308]


def _extreme_specs():
    for x in _BIG:
        for y in _BIG:
            lo, hi = sorted((x, y))
            yield {"dist": "uniform", "low": -hi, "high": lo}
            yield {"dist": "pert", "low": lo, "mode": hi, "high": hi}
            yield {"dist": "pert", "low": -hi, "mode": lo, "high": hi, "gamma": y}
            yield {"dist": "triangular", "low": -lo, "mode": lo, "high": hi}
            yield {"dist": "beta", "a": x, "b": y}
            yield {"dist": "empirical", "values": [lo, hi], "weights": [x, y]}
            if lo < hi:
                yield {"dist": "lognormal", "low": lo, "high": hi}
            yield {"dist": "normal", "mean": x, "sd": y, "low": 0, "high": 1}
            yield {"dist": "normal", "mean": -x, "sd": y, "low": lo, "high": math.inf}
        yield {"dist": "poisson", "mean": x}
        yield {"dist": "constant", "value": -x}
        yield {"dist": "pert", "low": x, "mode": x, "high": x}


def test_every_kind_at_extreme_parameters_has_moments_inside_its_support():
    adapter = TypeAdapter(Dist)
    kinds, accepted, refused = set(), 0, 0
    for spec in _extreme_specs():
        try:
            d = adapter.validate_python(spec)
        except ValidationError:
            refused += 1  # a refusal is a site problem, never a traceback
            continue
        accepted += 1
        kinds.add(spec["dist"])
        lo, hi = d.bounds()
        m, v = d.mean(), d.var()
        assert math.isfinite(m) and lo <= m <= hi, (spec, m)
        assert math.isfinite(v) and v >= 0, (spec, v)
    assert kinds == set(DIST_KINDS) and accepted > 300 and refused > 10


def test_normal_far_in_the_tail_is_stable_or_refused():
    # mean 1e6, sd 1 on [0, 1]: the interval holds nothing; scipy's truncnorm gives -102
    with pytest.raises(ValidationError, match="holds a share"):
        TypeAdapter(Dist).validate_python({"dist": "normal", "mean": 1e6, "sd": 1, "high": 1})
    # 6 sd out (mass 1e-9), where scipy is still right: the log-space closed form agrees
    # with scipy.stats.truncnorm to 1e-9 relative
    from scipy import stats

    d = Normal(dist="normal", mean=7.0, sd=1.0, low=0.0, high=1.0)
    ref = stats.truncnorm(-7.0, -6.0, loc=7.0, scale=1.0)
    assert d.mean() == pytest.approx(float(ref.mean()), rel=1e-9)
    assert d.var() == pytest.approx(float(ref.var()), rel=1e-6)
    # far out: the mean stays inside [0, 1] and the variance is small and positive
    far = Normal(dist="normal", mean=-6.5, sd=1.0, low=0.0, high=1.0)
    assert 0.0 <= far.mean() <= 1.0 and 0 < far.var() < 1 / 36


def test_lognormal_over_600_decades_is_refused():
    with pytest.raises(ValidationError, match="overflows"):
        TypeAdapter(Dist).validate_python({"dist": "lognormal", "low": 1e-300, "high": 1e300})
