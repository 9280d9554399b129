"""Distribution specs of the site file and their vectorised samplers.

Each spec is a small validated record (pydantic) with three duties: draw samples from a
:class:`numpy.random.Generator`, give its exact mean and variance (for closed-form checks and
optimisers), and report the bounds of its support (so the site model can reject, say, a
probability that may exceed 1). A bare number in a site file becomes a :class:`Constant`.

References
----------
.. [1] Vose, D. (2008). *Risk Analysis: A Quantitative Guide*, 3rd ed., Wiley, sec. 9.1.5
   (modified PERT with shape parameter gamma).
.. [2] Hubbard, D. W. (2014). *How to Measure Anything*, 3rd ed., Wiley, ch. 6 (90 % credible
   intervals of calibrated estimators, fitted with a lognormal).
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
        """Draw ``size`` independent values [units of the quantity]."""
        raise NotImplementedError

    def mean(self) -> float:
        """Exact expected value [units of the quantity]."""
        raise NotImplementedError

    def var(self) -> float:
        """Exact variance [units squared]."""
        raise NotImplementedError

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value the distribution can produce."""
        raise NotImplementedError

    def second_moment(self) -> float:
        """E[X^2], used for closed-form variances of compound sums."""
        return self.var() + self.mean() ** 2

    @property
    def is_constant(self) -> bool:
        """True where every draw gives the same value."""
        lo, hi = self.bounds()
        return lo == hi


class Constant(_Spec):
    """A fixed value (a bare number in the site file)."""

    dist: Literal["constant"] = "constant"
    value: float

    def sample(self, rng, size):  # noqa: D102
        return np.full(size, self.value, dtype=float)

    def mean(self):  # noqa: D102
        return float(self.value)

    def var(self):  # noqa: D102
        return 0.0

    def bounds(self):  # noqa: D102
        return (float(self.value), float(self.value))


class _Interval(_Spec):
    """A spec whose support is [low, high]."""

    def bounds(self):
        return (self.low, self.high)


class Pert(_Interval):
    """Modified PERT on [low, high] with mode and shape ``gamma`` (4 = standard PERT).

    alpha = 1 + gamma (mode - low) / (high - low), beta = 1 + gamma (high - mode) / (high - low).
    """

    dist: Literal["pert"]
    low: float
    mode: float
    high: float
    gamma: float = Field(4.0, gt=0)

    _check_mode = field_validator("mode")(_mode_not_below_low)
    _check_high = field_validator("high")(_high_not_below_mode)

    def _ab(self) -> tuple[float, float]:
        span = self.high - self.low
        a = 1 + self.gamma * (self.mode - self.low) / span
        b = 1 + self.gamma * (self.high - self.mode) / span
        return a, b

    def sample(self, rng, size):  # noqa: D102
        if self.high == self.low:
            return np.full(size, self.low, dtype=float)
        a, b = self._ab()
        return self.low + (self.high - self.low) * rng.beta(a, b, size)

    def mean(self):  # noqa: D102
        g = self.gamma
        return self._within((self.low + g * self.mode + self.high) / (g + 2))

    def var(self):  # noqa: D102
        if self.high == self.low:
            return 0.0
        a, b = self._ab()
        span = self.high - self.low
        return span**2 * a * b / ((a + b) ** 2 * (a + b + 1))


class LogNormal(_Spec):
    """Lognormal fitted so that [low, high] is its central ``ci`` credible interval."""

    dist: Literal["lognormal"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)
    ci: float = Field(0.90, gt=0, lt=1)

    _check_high = field_validator("high")(_high_above_low)

    @property
    def mu(self) -> float:
        """Mean of the underlying normal [log units]."""
        return 0.5 * (math.log(self.low) + math.log(self.high))

    @property
    def sigma(self) -> float:
        """Standard deviation of the underlying normal [log units]."""
        z = NormalDist().inv_cdf(0.5 + self.ci / 2)
        return (math.log(self.high) - math.log(self.low)) / (2 * z)

    def sample(self, rng, size):  # noqa: D102
        return rng.lognormal(self.mu, self.sigma, size)

    def mean(self):  # noqa: D102
        return math.exp(self.mu + self.sigma**2 / 2)

    def var(self):  # noqa: D102
        s2 = self.sigma**2
        return math.expm1(s2) * math.exp(2 * self.mu + s2)

    def bounds(self):  # noqa: D102
        return (0.0, math.inf)


class Triangular(_Interval):
    """Triangular on [low, high] with the given mode."""

    dist: Literal["triangular"]
    low: float
    mode: float
    high: float

    _check_mode = field_validator("mode")(_mode_not_below_low)
    _check_high = field_validator("high")(_high_not_below_mode)

    def sample(self, rng, size):  # noqa: D102
        if self.high == self.low:
            return np.full(size, self.low, dtype=float)
        return rng.triangular(self.low, self.mode, self.high, size)

    def mean(self):  # noqa: D102
        return self._within(self.low / 3 + self.mode / 3 + self.high / 3)

    def var(self):  # noqa: D102
        a, c, b = self.low, self.mode, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18


class Uniform(_Interval):
    """Uniform on [low, high]."""

    dist: Literal["uniform"]
    low: float
    high: float

    @field_validator("high")
    @classmethod
    def _high_not_below_low(cls, v, info):
        low = info.data.get("low")
        if low is not None and v < low:
            raise ValueError(f"high must be >= low ({low}), {v} was given")
        return v

    def sample(self, rng, size):  # noqa: D102
        return rng.uniform(self.low, self.high, size)

    def mean(self):  # noqa: D102
        return self._within(self.low / 2 + self.high / 2)

    def var(self):  # noqa: D102
        return (self.high - self.low) ** 2 / 12


class Normal(_Interval):
    """Normal with ``mean`` and ``sd``, truncated to [low, high] (low defaults to 0)."""

    dist: Literal["normal"]
    mean_: float = Field(alias="mean")
    sd: float = Field(gt=0)
    low: float = Field(0.0, allow_inf_nan=True)  # -inf: not truncated below
    high: float = Field(math.inf, allow_inf_nan=True)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("low", "high")
    @classmethod
    def _not_nan(cls, v):
        if math.isnan(v):
            raise ValueError("Input should be a number or .inf, nan was given")
        return v

    _check_high = field_validator("high")(_high_above_low)

    def _frozen(self):
        a = (self.low - self.mean_) / self.sd
        b = (self.high - self.mean_) / self.sd
        from scipy import stats  # imported here: scipy.stats costs ~0.7 s at start-up

        return stats.truncnorm(a, b, loc=self.mean_, scale=self.sd)

    def sample(self, rng, size):  # noqa: D102
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

    def mean(self):  # noqa: D102
        m, _ = self._std_moments()
        return self._within(self.mean_ + self.sd * m)

    def var(self):  # noqa: D102
        _, v = self._std_moments()
        width = self.high - self.low
        return min(max(self.sd * self.sd * v, 0.0), width * width / 4)


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


class Beta(_Spec):
    """Beta(a, b) on [0, 1], for probabilities."""

    dist: Literal["beta"]
    a: float = Field(gt=0)
    b: float = Field(gt=0)

    def sample(self, rng, size):  # noqa: D102
        return rng.beta(self.a, self.b, size)

    def mean(self):  # noqa: D102
        return self._within(self.a / (self.a + self.b))

    def var(self):  # noqa: D102
        s = self.a + self.b
        return self.a * self.b / (s * s * (s + 1))

    def bounds(self):  # noqa: D102
        return (0.0, 1.0)


class Poisson(_Spec):
    """Poisson with the given mean (a count)."""

    dist: Literal["poisson"]
    mean_: float = Field(alias="mean", ge=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def sample(self, rng, size):  # noqa: D102
        return rng.poisson(self.mean_, size).astype(float)

    def mean(self):  # noqa: D102
        return float(self.mean_)

    def var(self):  # noqa: D102
        return float(self.mean_)

    def bounds(self):  # noqa: D102
        return (0.0, math.inf)


class Empirical(_Spec):
    """Discrete distribution on ``values`` with optional ``weights`` (normalised)."""

    dist: Literal["empirical"]
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

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

    def _p(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights, float)
        w = w / w.max()  # scaled first: weights near 1e308 do not overflow their sum
        return w / w.sum()

    def sample(self, rng, size):  # noqa: D102
        return rng.choice(np.asarray(self.values, float), size=size, p=self._p())

    def mean(self):  # noqa: D102
        return self._within(float(np.dot(self._p(), self.values)))

    def var(self):  # noqa: D102
        v = np.asarray(self.values, float)
        m = self.mean()
        return float(np.dot(self._p(), (v - m) ** 2))

    def bounds(self):  # noqa: D102
        return (float(min(self.values)), float(max(self.values)))


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
