"""Distribution specs of the site file and their vectorised samplers.

Each spec is a small validated record (pydantic) with three duties: draw samples from a
:class:`numpy.random.Generator`, give its exact mean and variance (for closed-form checks and
optimisers), and report the bounds of its support (so the site model can reject, say, a
probability that may exceed 1). A bare number in a site file becomes a :class:`Constant`.

Caps (censoring)
----------------
Every kind takes an optional ``cap`` (a legal maximum such as a regulatory fine): the
quantity is then min(X, cap), a loss above the cap being paid at the cap. This is censoring,
not truncation: the probability P(X > cap) is not dropped but sits as an atom at the cap, so
the law below the cap is unchanged. Samplers draw X exactly as without a cap (the same random
numbers) and take the minimum; :meth:`mean` and :meth:`var` give the exact moments of
min(X, cap) in closed form from the partial moments of X below the cap,

    E[min(X, c)] = c - w (c - m),   Var[min(X, c)] = w v + w (1 - w) (c - m)^2,

with w = P(X <= c), m = E[X | X <= c] and v = Var[X | X <= c] (the law of total variance
over the two parts). The cap must lie above the spec's low bound (``low`` where the kind has
one, the smallest value of an ``empirical``, 0 for ``poisson`` and ``beta``, the value of a
``constant``, on which a cap therefore never acts).

References
----------
.. [1] Vose, D. (2008). *Risk Analysis: A Quantitative Guide*, 3rd ed., Wiley, sec. 9.1.5
   (modified PERT with shape parameter gamma).
.. [2] Hubbard, D. W. (2014). *How to Measure Anything*, 3rd ed., Wiley, ch. 6 (90 % credible
   intervals of calibrated estimators, fitted with a lognormal).
.. [3] Klugman, S. A., Panjer, H. H. & Willmot, G. E. (2012). *Loss Models: From Data to
   Decisions*, 4th ed., Wiley, ch. 3 (the limited loss variable X ^ u = min(X, u), "right
   censored at u", and its limited expected values) and ch. 8 (policy limits).
.. [4] Johnson, N. L., Kotz, S. & Balakrishnan, N. (1994). *Continuous Univariate
   Distributions*, vol. 1, 2nd ed., Wiley, ch. 13-14 (partial moments of the normal and the
   lognormal).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "Constant",
    "Pert",
    "LogNormal",
    "Triangular",
    "Uniform",
    "Normal",
    "Beta",
    "Poisson",
    "Empirical",
    "Dist",
    "DIST_KINDS",
    "as_dist",
    "MIN_TRUNCATED_MASS",
]

MIN_TRUNCATED_MASS = 1e-12
"""Smallest share of a normal's probability its truncation interval may hold."""


def _mode_not_below_low(cls, v, info):
    low = info.data.get("low")
    if low is not None and v < low:
        raise ValueError(f"mode must be >= low ({low}), {v} was given")
    return v


def _high_not_below_mode(cls, v, info):
    mode, low = info.data.get("mode"), info.data.get("low")
    if mode is not None and v < mode:
        raise ValueError(f"high must be >= mode ({mode}), {v} was given")
    if low is not None and v < low:
        raise ValueError(f"high must be >= low ({low}), {v} was given")
    return v


def _high_above_low(cls, v, info):
    low = info.data.get("low")
    if low is not None and v <= low:
        raise ValueError(f"high must be > low ({low}), {v} was given")
    return v


def _cap_check(floor_name: str | None, floor_of):
    """A field validator refusing a ``cap`` at or below the spec's low bound.

    ``floor_of(data)`` gives the low bound from the fields validated before ``cap`` (None when
    one of them failed, so the cap is not judged against a missing value).
    """

    def check(cls, v, info):
        if v is None:
            return v
        floor = floor_of(info.data)
        if floor is not None and not v > floor:
            what = f"{floor_name} ({floor:g})" if floor_name else f"{floor:g}"
            raise ValueError(f"cap must be > {what}, {v:g} was given")
        return v

    return field_validator("cap")(check)


def _censor(w: float, m_below: float, v_below: float, c: float) -> tuple[float, float]:
    """Mean and variance of min(X, c) from w = P(X <= c), E[X | X <= c] and Var[X | X <= c].

    E[min(X, c)] = c - w (c - m), Var[min(X, c)] = w v + w (1 - w) (c - m)^2 (total variance
    over the parts X <= c and X > c, the second an atom at c). A w too small to be told from
    0 gives the atom alone.
    """
    if not w > 0 or not math.isfinite(m_below):
        return c, 0.0
    w = min(w, 1.0)
    gap = c - m_below
    return c - w * gap, w * max(v_below, 0.0) + w * (1 - w) * gap * gap


def _beta_censored(a: float, b: float, c: float) -> tuple[float, float]:
    """Mean and variance of min(B, c), B ~ Beta(a, b), 0 < c < 1.

    Partial moments from the regularised incomplete beta I_c: P(B <= c) = I_c(a, b),
    E[B; B <= c] = a / (a + b) I_c(a + 1, b), E[B^2; B <= c] = a (a + 1) / ((a + b)
    (a + b + 1)) I_c(a + 2, b).
    """
    from scipy.special import betainc

    w = float(betainc(a, b, c))
    if not w > 0:
        return c, 0.0
    m = a / (a + b) * float(betainc(a + 1, b, c)) / w
    e2 = a / (a + b) * (a + 1) / (a + b + 1) * float(betainc(a + 2, b, c)) / w
    return _censor(w, m, e2 - m * m, c)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _finite_moments(self):
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                m, v = self.mean(), self.var()
        except (OverflowError, ZeroDivisionError):
            m = v = math.inf
        if not (math.isfinite(m) and math.isfinite(v)):
            raise ValueError(
                "the mean or variance of this distribution overflows (parameters too extreme);"
                " use values within the documented bounds"
            )
        return self

    def _within(self, m: float) -> float:
        """``m`` kept inside the support (rounding may step over a bound by one ulp)."""
        lo, hi = self.bounds()
        return min(max(m, lo), hi)

    # -- interface -------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` independent values [units of the quantity].

        With a ``cap``, the draws of the uncapped law (same random numbers) cut at the cap.
        """
        x = self._draw(rng, size)
        if self._capped():
            x = np.minimum(x, self.cap)
        return x

    def mean(self) -> float:
        """Exact expected value [units of the quantity], of min(X, cap) with a cap."""
        if self._capped():
            return self._within(self._censored(self.cap)[0])
        return self._mean()

    def var(self) -> float:
        """Exact variance [units squared], of min(X, cap) with a cap."""
        if self._capped():
            return max(self._censored(self.cap)[1], 0.0)
        return self._var()

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value the distribution can produce (the cap included)."""
        lo, hi = self._support()
        return (lo, min(hi, self.cap)) if self._capped() else (lo, hi)

    def second_moment(self) -> float:
        """E[X^2], used for closed-form variances of compound sums."""
        return self.var() + self.mean() ** 2

    @property
    def is_constant(self) -> bool:
        """True where every draw gives the same value."""
        lo, hi = self.bounds()
        return lo == hi

    # -- what each kind provides -----------------------------------------------------------
    def _capped(self) -> bool:
        """True where a cap lies inside the support (below its upper end)."""
        cap = getattr(self, "cap", None)
        return cap is not None and cap < self._support()[1]

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws of the uncapped law."""
        raise NotImplementedError

    def _mean(self) -> float:
        """Exact mean of the uncapped law."""
        raise NotImplementedError

    def _var(self) -> float:
        """Exact variance of the uncapped law."""
        raise NotImplementedError

    def _support(self) -> tuple[float, float]:
        """Bounds of the uncapped law."""
        raise NotImplementedError

    def _censored(self, c: float) -> tuple[float, float]:
        """Exact mean and variance of min(X, c) for c inside the support."""
        raise NotImplementedError


def _low_field(data: dict) -> float | None:
    return data.get("low")


class Constant(_Spec):
    """A fixed value (a bare number in the site file).

    A ``cap`` is accepted for uniformity and checked (it must exceed the value), so it never
    acts; it is left out of the dumped form, so a capped constant writes back as a number.
    """

    dist: Literal["constant"] = "constant"
    value: float
    cap: float | None = Field(None, exclude=True)

    _check_cap = _cap_check("the value", lambda data: data.get("value"))

    def _draw(self, rng, size):
        return np.full(size, self.value, dtype=float)

    def _mean(self):
        return float(self.value)

    def _var(self):
        return 0.0

    def _support(self):
        return (float(self.value), float(self.value))


class _Interval(_Spec):
    """A spec whose support is [low, high]."""

    def _support(self):
        return (self.low, self.high)


class Pert(_Interval):
    """Modified PERT on [low, high] with mode and shape ``gamma`` (4 = standard PERT).

    alpha = 1 + gamma (mode - low) / (high - low), beta = 1 + gamma (high - mode) / (high - low).
    With a ``cap``: min(X, cap), moments from the incomplete beta function.
    """

    dist: Literal["pert"]
    low: float
    mode: float
    high: float
    gamma: float = Field(4.0, gt=0)
    cap: float | None = None

    _check_mode = field_validator("mode")(_mode_not_below_low)
    _check_high = field_validator("high")(_high_not_below_mode)
    _check_cap = _cap_check("low", _low_field)

    def _ab(self) -> tuple[float, float]:
        span = self.high - self.low
        a = 1 + self.gamma * (self.mode - self.low) / span
        b = 1 + self.gamma * (self.high - self.mode) / span
        return a, b

    def _draw(self, rng, size):
        if self.high == self.low:
            return np.full(size, self.low, dtype=float)
        a, b = self._ab()
        return self.low + (self.high - self.low) * rng.beta(a, b, size)

    def _mean(self):
        g = self.gamma
        return self._within((self.low + g * self.mode + self.high) / (g + 2))

    def _var(self):
        if self.high == self.low:
            return 0.0
        a, b = self._ab()
        span = self.high - self.low
        return span**2 * a * b / ((a + b) ** 2 * (a + b + 1))

    def _censored(self, c):
        span = self.high - self.low
        a, b = self._ab()
        m, v = _beta_censored(a, b, (c - self.low) / span)
        return self.low + span * m, span * span * v


class LogNormal(_Spec):
    """Lognormal fitted so that [low, high] is its central ``ci`` credible interval.

    With a ``cap``: min(X, cap), from the lognormal's partial moments
    E[X^k; X <= c] = exp(k mu + k^2 sigma^2 / 2) Phi((ln c - mu) / sigma - k sigma).
    """

    dist: Literal["lognormal"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)
    ci: float = Field(0.90, gt=0, lt=1)
    cap: float | None = None

    _check_high = field_validator("high")(_high_above_low)
    _check_cap = _cap_check("low", _low_field)

    @property
    def mu(self) -> float:
        """Mean of the underlying normal [log units]."""
        return 0.5 * (math.log(self.low) + math.log(self.high))

    @property
    def sigma(self) -> float:
        """Standard deviation of the underlying normal [log units]."""
        z = NormalDist().inv_cdf(0.5 + self.ci / 2)
        return (math.log(self.high) - math.log(self.low)) / (2 * z)

    def _draw(self, rng, size):
        return rng.lognormal(self.mu, self.sigma, size)

    def _mean(self):
        return math.exp(self.mu + self.sigma**2 / 2)

    def _var(self):
        s2 = self.sigma**2
        return math.expm1(s2) * math.exp(2 * self.mu + s2)

    def _support(self):
        return (0.0, math.inf)

    def _censored(self, c):
        from scipy.special import log_ndtr

        mu, s = self.mu, self.sigma
        z = (math.log(c) - mu) / s
        l0, l1, l2 = (float(log_ndtr(z - k * s)) for k in (0, 1, 2))
        m = math.exp(mu + s * s / 2 + l1 - l0)  # E[X | X <= c], in log space: no overflow
        # Var[X | X <= c] = m^2 (E[X^2 | X <= c] / m^2 - 1)
        v = m * m * math.expm1(s * s + l2 + l0 - 2 * l1)
        return _censor(math.exp(l0), m, v, c)


class Triangular(_Interval):
    """Triangular on [low, high] with the given mode.

    With a ``cap``: min(X, cap), moments by integrating the piecewise-linear density.
    """

    dist: Literal["triangular"]
    low: float
    mode: float
    high: float
    cap: float | None = None

    _check_mode = field_validator("mode")(_mode_not_below_low)
    _check_high = field_validator("high")(_high_not_below_mode)
    _check_cap = _cap_check("low", _low_field)

    def _draw(self, rng, size):
        if self.high == self.low:
            return np.full(size, self.low, dtype=float)
        return rng.triangular(self.low, self.mode, self.high, size)

    def _mean(self):
        return self._within(self.low / 3 + self.mode / 3 + self.high / 3)

    def _var(self):
        a, c, b = self.low, self.mode, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18

    def _censored(self, c):
        # Shifted to low = 0 (mode m, high b, cap d, 0 < d < b), with Y = d - min(X, d) =
        # (d - X)+: E[Y] = int_0^d F, E[Y^2] = int_0^d 2 (d - x) F(x) dx, F the cdf. Both are
        # written as sums of positive terms, so a cap tiny against the width loses no digits.
        m, b, d = self.mode - self.low, self.high - self.low, c - self.low
        if d <= m:  # F(x) = x^2 / (b m) below the mode
            u = (d / b) * (d / m)  # P(X <= d)
            return self.low + d * (1 - u / 3), d * d * u * (1 / 6 - u / 9)
        # above the mode, F(x) = 1 - (b - x)^2 / (b (b - m)); in units of the width b
        m, d = m / b, d / b
        e, t = d - m, 1 - d
        B = t + e  # 1 - m
        ey = m * m / 3 + e * (3 * m * B + 3 * t * e + 2 * e * e) / (3 * B)
        ey2 = m * m * (4 * d - 3 * m) / 6 + e * e * (m * B + 2 * t * e / 3 + e * e / 2) / B
        return self.low + b * (d - ey), b * b * (ey2 - ey * ey)


class Uniform(_Interval):
    """Uniform on [low, high]. With a ``cap``: min(X, cap)."""

    dist: Literal["uniform"]
    low: float
    high: float
    cap: float | None = None

    @field_validator("high")
    @classmethod
    def _high_not_below_low(cls, v, info):
        low = info.data.get("low")
        if low is not None and v < low:
            raise ValueError(f"high must be >= low ({low}), {v} was given")
        return v

    _check_cap = _cap_check("low", _low_field)

    def _draw(self, rng, size):
        return rng.uniform(self.low, self.high, size)

    def _mean(self):
        return self._within(self.low / 2 + self.high / 2)

    def _var(self):
        return (self.high - self.low) ** 2 / 12

    def _censored(self, c):
        # shifted to low = 0: width L, cap d; E = d - d^2 / 2L, Var = d^3 (4L - 3d) / 12L^2
        r, d = (c - self.low) / (self.high - self.low), c - self.low
        return self.low + d * (1 - r / 2), d * d * r * (4 - 3 * r) / 12


class Normal(_Interval):
    """Normal with ``mean`` and ``sd``, truncated to [low, high] (low defaults to 0).

    With a ``cap``: min(X, cap) of the truncated normal (censored at the cap, not truncated
    there), from the truncated moments of its two parts [low, cap] and [cap, high].
    """

    dist: Literal["normal"]
    mean_: float = Field(alias="mean")
    sd: float = Field(gt=0)
    low: float = Field(0.0, allow_inf_nan=True)  # -inf: not truncated below
    high: float = Field(math.inf, allow_inf_nan=True)
    cap: float | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("low", "high")
    @classmethod
    def _not_nan(cls, v):
        if math.isnan(v):
            raise ValueError("Input should be a number or .inf, nan was given")
        return v

    _check_high = field_validator("high")(_high_above_low)
    _check_cap = _cap_check("low", _low_field)

    def _frozen(self):
        a = (self.low - self.mean_) / self.sd
        b = (self.high - self.mean_) / self.sd
        from scipy import stats  # imported here: scipy.stats costs ~0.7 s at start-up

        return stats.truncnorm(a, b, loc=self.mean_, scale=self.sd)

    def _draw(self, rng, size):
        return self._frozen().ppf(rng.random(size))

    def _std_moments(self) -> tuple[float, float]:
        """Mean and variance of the truncated standard normal, stable far into the tails.

        Raises ValueError when the interval holds less than :data:`MIN_TRUNCATED_MASS` of
        the normal's probability (its moments would be meaningless).
        """
        a = (self.low - self.mean_) / self.sd
        b = (self.high - self.mean_) / self.sd
        m, v, mass = _truncated_std_moments(a, b)
        if not mass >= MIN_TRUNCATED_MASS:
            raise ValueError(
                f"the interval [low, high] = [{self.low:g}, {self.high:g}] holds a share"
                f" {mass:.1e} of this normal (mean {self.mean_:g}, sd {self.sd:g}), less than"
                f" {MIN_TRUNCATED_MASS:g}; move the interval or the mean"
            )
        return m, v

    def _mean(self):
        m, _ = self._std_moments()
        return self._within(self.mean_ + self.sd * m)

    def _var(self):
        _, v = self._std_moments()
        width = self.high - self.low
        return min(max(self.sd * self.sd * v, 0.0), width * width / 4)

    def _censored(self, c):
        self._std_moments()  # refuses an interval holding almost none of the normal
        a, z, b = ((x - self.mean_) / self.sd for x in (self.low, c, self.high))
        m, v, below = _truncated_std_moments(a, z)
        above = _truncated_std_moments(z, b)[2]
        if not below > 0 or not math.isfinite(m):
            return c, 0.0
        width = c - self.low
        v_below = min(max(self.sd * self.sd * v, 0.0), width * width / 4)
        m_below = min(max(self.mean_ + self.sd * m, self.low), c)
        return _censor(below / (below + above), m_below, v_below, c)


def _truncated_std_moments(a: float, b: float) -> tuple[float, float, float]:
    """Mean, variance and mass of N(0, 1) truncated to [a, b], computed in log space.

    An interval in the upper tail is mirrored into the lower tail, where the ratios
    phi(x) / Phi(x) are taken from ``log_ndtr`` without underflow.
    """
    if a > 0:  # mirror: moments of [-b, -a], mean negated
        m, v, mass = _truncated_std_moments(-b, -a)
        return -m, v, mass
    from scipy.special import log_ndtr

    log_pb = float(log_ndtr(b))
    r = math.exp(float(log_ndtr(a)) - log_pb) if a > -math.inf else 0.0  # Phi(a) / Phi(b)
    mass = math.exp(log_pb) * -math.expm1(math.log(r)) if r > 0 else math.exp(log_pb)
    if r >= 1:  # an interval too narrow to tell its ends apart
        return math.nan, math.nan, 0.0

    def lam(x: float) -> float:  # phi(x) / Phi(x), and x * that, both 0 at -inf
        if x == -math.inf:
            return 0.0
        return math.exp(-0.5 * x * x - 0.5 * math.log(2 * math.pi) - float(log_ndtr(x)))

    lb = lam(b) if b < math.inf else 0.0
    xb = b * lb if b < math.inf else 0.0
    la = lam(a) * r if r > 0 else 0.0
    xa = a * la if a > -math.inf else 0.0
    m = (la - lb) / (1 - r)
    v = 1 + (xa - xb) / (1 - r) - m * m
    return m, v, mass


def _zero(data: dict) -> float:
    return 0.0


class Beta(_Spec):
    """Beta(a, b) on [0, 1], for probabilities. With a ``cap``: min(X, cap)."""

    dist: Literal["beta"]
    a: float = Field(gt=0)
    b: float = Field(gt=0)
    cap: float | None = None

    _check_cap = _cap_check(None, _zero)

    def _draw(self, rng, size):
        return rng.beta(self.a, self.b, size)

    def _mean(self):
        return self._within(self.a / (self.a + self.b))

    def _var(self):
        s = self.a + self.b
        return self.a * self.b / (s * s * (s + 1))

    def _support(self):
        return (0.0, 1.0)

    def _censored(self, c):
        return _beta_censored(self.a, self.b, c)


class Poisson(_Spec):
    """Poisson with the given mean (a count).

    With a ``cap``: min(N, cap); with k = floor(cap), P(N <= k), E[N; N <= k] =
    mean P(N <= k - 1) and E[N (N - 1); N <= k] = mean^2 P(N <= k - 2).
    """

    dist: Literal["poisson"]
    mean_: float = Field(alias="mean", ge=0)
    cap: float | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    _check_cap = _cap_check(None, _zero)

    def _draw(self, rng, size):
        return rng.poisson(self.mean_, size).astype(float)

    def _mean(self):
        return float(self.mean_)

    def _var(self):
        return float(self.mean_)

    def _support(self):
        return (0.0, math.inf)

    def _censored(self, c):
        from scipy.special import pdtr

        lam, k = float(self.mean_), math.floor(c)

        def cdf(j: int) -> float:  # P(N <= j), 0 below 0
            return float(pdtr(j, lam)) if j >= 0 else 0.0

        w = cdf(k)
        if not w > 0:
            return c, 0.0
        m = lam * cdf(k - 1) / w
        e2 = (lam * lam * cdf(k - 2) + lam * cdf(k - 1)) / w
        return _censor(w, m, e2 - m * m, c)


class Empirical(_Spec):
    """Discrete distribution on ``values`` with optional ``weights`` (normalised).

    With a ``cap``: the values above it are paid at the cap (moments exact by summation).
    """

    dist: Literal["empirical"]
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None
    cap: float | None = None

    @field_validator("weights")
    @classmethod
    def _weights_match(cls, v, info):
        if v is None:
            return v
        values = info.data.get("values")
        if values is not None and len(v) != len(values):
            raise ValueError(
                f"weights must have one entry per value ({len(values)}), {len(v)} were given"
            )
        if any(w < 0 for w in v) or sum(v) <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, {v} was given")
        return v

    _check_cap = _cap_check(
        "the smallest value", lambda data: min(data["values"]) if data.get("values") else None
    )

    def _p(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights, float)
        w = w / w.max()  # scaled first: weights near 1e308 do not overflow their sum
        return w / w.sum()

    def _draw(self, rng, size):
        return rng.choice(np.asarray(self.values, float), size=size, p=self._p())

    def _moments_of(self, v: np.ndarray) -> tuple[float, float]:
        p = self._p()
        m = self._within(float(np.dot(p, v)))
        return m, float(np.dot(p, (v - m) ** 2))

    def _mean(self):
        return self._moments_of(np.asarray(self.values, float))[0]

    def _var(self):
        return self._moments_of(np.asarray(self.values, float))[1]

    def _support(self):
        return (float(min(self.values)), float(max(self.values)))

    def _censored(self, c):
        return self._moments_of(np.minimum(np.asarray(self.values, float), c))


DIST_KINDS = {
    "constant": Constant,
    "pert": Pert,
    "lognormal": LogNormal,
    "triangular": Triangular,
    "uniform": Uniform,
    "normal": Normal,
    "beta": Beta,
    "poisson": Poisson,
    "empirical": Empirical,
}


def as_dist(value: Any) -> Any:
    """Turn a bare number into a constant spec; leave mappings for validation.

    Raises a ValueError naming the known kinds when ``dist`` is unknown, so the message says
    more than pydantic's tag error.
    """
    if isinstance(value, bool):
        raise ValueError(f"a number or a distribution is expected, {value!r} was given")
    if isinstance(value, (int, float)):
        try:
            return {"dist": "constant", "value": float(value)}
        except OverflowError:
            size = f"about 1e{int(value.bit_length() * math.log10(2))}"
            raise ValueError(f"a number this large cannot be used, {size} was given") from None
    if isinstance(value, str):
        try:
            return {"dist": "constant", "value": float(value)}
        except ValueError:
            raise ValueError(
                f"a number or a distribution is expected, {value!r} was given"
            ) from None
    if isinstance(value, dict):
        kind = value.get("dist")
        if kind is None:
            raise ValueError("a distribution needs a 'dist' key, one of " + ", ".join(DIST_KINDS))
        if not isinstance(kind, str) or kind not in DIST_KINDS:
            raise ValueError(f"unknown dist {kind!r}; expected one of " + ", ".join(DIST_KINDS))
    return value


Dist = Annotated[
    Union[Constant, Pert, LogNormal, Triangular, Uniform, Normal, Beta, Poisson, Empirical],
    Field(discriminator="dist"),
    BeforeValidator(as_dist),
]
"""Any distribution spec, or a bare number."""
