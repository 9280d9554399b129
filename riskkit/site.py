"""The validated site model: records of the site file and the checks across them.

A :class:`Site` is the System under Consideration of IEC 62443-3-2 (ZCR 1) with its zones and
conduits (ZCR 3), the threat actors and scenarios of the detailed risk assessment (ZCR 5) and
the countermeasures to choose from. Field names and meanings follow ``docs/site-format.md``.

Validation happens in two passes, and both collect every problem instead of stopping at the
first: each record is validated on its own (types, ranges, distribution specs), then the
records are checked against each other (ids, references, exclusive groups). All problems are
raised together as one :class:`SiteError`, each :class:`Problem` naming the file, the record,
the field and the bad value.

References
----------
.. [1] IEC 62443-3-2:2020, *Security risk assessment for system design*, clauses 4.2-4.6
   (ZCR 1 to ZCR 5).
.. [2] IEC 62443-3-3:2013, *System security requirements and security levels*, clause 4
   (foundational requirements FR1..FR7 and security levels SL 1..4).
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .distributions import Dist
from .graph import TooManyPaths, reachable, simple_paths

__all__ = [
    "FRS",
    "MONEY_CATEGORIES",
    "HARM_CATEGORIES",
    "SECTIONS",
    "Problem",
    "SiteError",
    "ReadOnlySiteError",
    "Site",
    "SiteInfo",
    "Zone",
    "Conduit",
    "ThreatActor",
    "Scenario",
    "Countermeasure",
    "Tolerance",
    "RiskMatrix",
    "ModelSettings",
    "ProtectionLayer",
    "build_site",
]

FRS: tuple[str, ...] = ("FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7")
"""The seven foundational requirements of IEC 62443-3-3, in vector order."""

MONEY_CATEGORIES: tuple[str, ...] = ("production", "equipment", "recovery", "regulatory", "other")
"""Consequence categories measured in money, summed into the monetary loss."""

HARM_CATEGORIES: tuple[str, ...] = ("safety", "environment")
"""Consequence categories measured as severity classes 0..4."""

ZONE_KINDS = (
    "enterprise",
    "dmz",
    "operations",
    "supervisory",
    "control",
    "safety",
    "field",
    "other",
)

SECTIONS: tuple[str, ...] = (
    "zones",
    "conduits",
    "threat_actors",
    "scenarios",
    "countermeasures",
)
"""The list sections of a site file, each a table of records with an ``id``."""


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a site file.

    Attributes
    ----------
    file : str
        The file that holds the record (as given by the user).
    record : str or None
        The record's id, or ``section[index]`` where it has none; None for the whole file.
    field : str or None
        Dotted path of the offending field inside the record.
    message : str
        What is wrong, with the bad value.
    hint : str
        What to do about it.
    line, column : int or None
        1-based position in the file, where known.
    """

    file: str
    record: str | None
    field: str | None
    message: str
    hint: str = ""
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        parts = [where]
        if self.record:
            parts.append(self.record)
        if self.field:
            parts.append(self.field)
        text = ": ".join(parts) + f": {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class SiteError(ValueError):
    """A site file that cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the site"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


# --------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------


class FieldError(ValueError):
    """A record-level check that blames one field (so the problem can name it)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _check_probability(d):
    lo, hi = d.bounds()
    if lo < 0 or hi > 1:
        if lo == hi:
            raise ValueError(f"a probability must lie in [0, 1], {lo:g} was given")
        raise ValueError(f"a probability must lie in [0, 1], this one spans [{lo:g}, {hi:g}]")
    return d


def _check_nonnegative(d):
    lo, hi = d.bounds()
    if lo < 0:
        if lo == hi:
            raise ValueError(f"must not be negative, {lo:g} was given")
        raise ValueError(f"must not be negative, this one reaches {lo:g}")
    return d


# Upper bounds of site quantities: far above any plant, low enough that their products
# (rate x money x trials, capex / lifetime, SL factors over four levels) stay finite.
MAX_RATE = 1e4
"""Largest event or attempt rate [events/yr] (about one a minute)."""
MAX_HOURS = 1e5
"""Largest production loss per event [h] (about 11 years)."""
MAX_COST_PER_HOUR = 1e10
"""Largest production margin [currency/h]."""
MAX_MONEY = 1e15
"""Largest money amount per event, capex [currency] or opex [currency/yr]."""
MAX_LIFETIME = 1000.0
"""Longest countermeasure lifetime [yr]."""
MAX_SL_REDUCTION = 1e6
"""Largest frequency reduction factor per security level above the threat's."""
MAX_TRIALS = 100_000_000
"""Most Monte Carlo trials per run."""
MIN_TRIALS = 100
"""The fewest Monte Carlo trials accepted: fewer years cannot estimate VaR99 / ES99."""


def _at_most(limit: float, unit: str):
    """An after-validator refusing a distribution whose mean or reach exceeds ``limit``."""

    def check(d):
        values = (d.mean(), d.bounds()[1], getattr(d, "high", None))
        reach = max(float(v) for v in values if v is not None and np.isfinite(v))
        if reach > limit:
            raise ValueError(f"must not exceed {limit:g} {unit}, this one reaches {reach:g}")
        return d

    return AfterValidator(check)


ProbDist = Annotated[Dist, AfterValidator(_check_probability)]
"""A distribution whose every value is a probability."""

NonNegDist = Annotated[Dist, AfterValidator(_check_nonnegative)]
"""A distribution of a quantity that cannot be negative (a rate, money, hours)."""

RateDist = Annotated[NonNegDist, _at_most(MAX_RATE, "events/yr")]
HoursDist = Annotated[NonNegDist, _at_most(MAX_HOURS, "h")]
PerHourDist = Annotated[NonNegDist, _at_most(MAX_COST_PER_HOUR, "per hour")]
MoneyDist = Annotated[NonNegDist, _at_most(MAX_MONEY, "per event")]

Probability = Annotated[float, Field(ge=0, le=1)]
SL = Annotated[int, Field(ge=0, le=4)]
SLVector = Annotated[tuple[SL, SL, SL, SL, SL, SL, SL], Field()]
FR = Literal["FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7"]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


def _sl_vector(v: Any) -> Any:
    """Give a clear message for SL vectors of the wrong length."""
    if isinstance(v, (list, tuple)) and len(v) != 7:
        raise ValueError(f"an SL vector has 7 entries (FR1..FR7), {len(v)} were given: {list(v)}")
    return v


class ReadOnlySiteError(AttributeError):
    """Raised when code assigns to a field of a loaded site or one of its records.

    Sites are read-only once validated: an assignment would bypass the checks that loading
    makes (``attempt_rate = 10.0`` is not a distribution, and the engine would fail later).
    The supported ways to change a site are :func:`riskkit.what_if` (a validated, changed
    copy) or editing the site file and loading it again.
    """


def _refuse_assignment(record: BaseModel, name: str) -> None:
    """Raise :class:`ReadOnlySiteError` naming the record, its id and the field."""
    rid = getattr(record, "id", None)
    what = type(record).__name__ + (f" {rid!r}" if isinstance(rid, str) else "")
    raise ReadOnlySiteError(
        f"site records are read-only: cannot set {name!r} of {what}. Use"
        " riskkit.what_if(site, ...) for a validated, changed copy, or change the site file"
        " and load it again (riskkit.load_site)."
    )


class _ReadOnly(BaseModel):
    """A validated model whose fields cannot be assigned or deleted after it is built."""

    model_config = ConfigDict(frozen=True)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):  # pydantic's private attributes (e.g. the id index)
            super().__setattr__(name, value)
            return
        _refuse_assignment(self, name)

    def __delattr__(self, name: str) -> None:
        if name.startswith("_"):
            super().__delattr__(name)
            return
        _refuse_assignment(self, name)


class _Record(_ReadOnly):
    model_config = ConfigDict(
        extra="forbid", validate_default=True, allow_inf_nan=False, frozen=True
    )


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


class SiteInfo(_Record):
    """The ``site`` header."""

    name: str = Field(min_length=1)
    id: Id | None = None
    currency: str = "EUR"
    assessed: _dt.date | None = None
    description: str | None = None

    @property
    def slug(self) -> str:
        """Short name for folders: ``id`` or a slug of ``name``."""
        if self.id:
            return self.id
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "site"


class Zone(_Record):
    """A zone (62443-3-2 ZCR 3): assets with common security requirements."""

    id: Id
    name: str | None = None
    kind: Literal[ZONE_KINDS] = "other"  # type: ignore[valid-type]
    purdue_level: float | None = Field(None, ge=0, le=5)
    sl_c: SLVector | None = None
    sl_a: SLVector | None = None
    assets: list[str] = Field(default_factory=list)
    description: str | None = None

    _v_sl = field_validator("sl_c", "sl_a", mode="before")(lambda cls, v: _sl_vector(v))


class Conduit(_Record):
    """A conduit (62443-3-2 ZCR 3): the controlled communication path between two zones."""

    id: Id
    name: str | None = None
    zones: tuple[Id, Id]
    protocols: list[str] = Field(default_factory=list)
    sl_c: SLVector | None = None
    sl_a: SLVector | None = None
    description: str | None = None

    _v_sl = field_validator("sl_c", "sl_a", mode="before")(lambda cls, v: _sl_vector(v))

    @field_validator("zones", mode="before")
    @classmethod
    def _two_zones(cls, v):
        if isinstance(v, (list, tuple)) and len(v) != 2:
            raise ValueError(f"a conduit joins exactly two zones, {len(v)} were given: {list(v)}")
        return v

    @field_validator("zones")
    @classmethod
    def _distinct(cls, v):
        if v[0] == v[1]:
            raise ValueError(f"a conduit joins two different zones, {v[0]!r} was given twice")
        return v


class ThreatActor(_Record):
    """A threat actor with its capability (the SL that resists it) and attempt rate."""

    id: Id
    name: str | None = None
    capability: int = Field(ge=1, le=4)
    attempt_rate: RateDist
    resources: int | None = Field(None, ge=1, le=4)
    knowledge: int | None = Field(None, ge=1, le=4)
    description: str | None = None


class Production(_Record):
    """Lost production: hours [h] times margin [currency/h]."""

    hours: HoursDist
    cost_per_hour: PerHourDist


class Harm(_Record):
    """Harm measured as a severity class, reached with a probability per event."""

    severity: int = Field(ge=0, le=4)
    probability: Probability = 1.0


class Consequences(_Record):
    """Consequences of one successful event."""

    production: Production | None = None
    equipment: MoneyDist | None = None
    recovery: MoneyDist | None = None
    regulatory: MoneyDist | None = None
    other: MoneyDist | None = None
    safety: Harm | None = None
    environment: Harm | None = None

    def money(self) -> dict[str, Any]:
        """The money categories present, category -> spec (production as the record)."""
        return {c: getattr(self, c) for c in MONEY_CATEGORIES if getattr(self, c) is not None}

    def harms(self) -> dict[str, Harm]:
        """The harm categories present with a severity above 0."""
        out = {}
        for c in HARM_CATEGORIES:
            h = getattr(self, c)
            if h is not None and h.severity > 0 and h.probability > 0:
                out[c] = h
        return out


class ProtectionLayer(_Record):
    """An independent protection layer (LOPA IPL) between an event and its harm.

    ``pfd`` is its probability of failure on demand [-]; a layer the attack itself can disable
    (``cyber_defeatable: true``, for example a SIS reachable from the attacked network) gives
    no credit against this scenario. ``categories`` limits the harm categories it protects
    against (default: every harm category).
    """

    name: str = Field(min_length=1)
    pfd: float = Field(gt=0, le=1)
    cyber_defeatable: bool = False
    categories: list[Literal[HARM_CATEGORIES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(HARM_CATEGORIES)
    )
    description: str | None = None


class Scenario(_Record):
    """A threat scenario: an actor's attack on one zone, with its consequences."""

    id: Id
    name: str | None = None
    zone: Id
    actor: Id
    entry: Id | None = None
    # zone where the actor starts (attack paths, docs/model.md "Lateral movement")
    origin: Id | None = None
    frs: list[FR] = Field(min_length=1)
    rate_share: Probability | None = None
    rate: RateDist | None = None
    vulnerability: ProbDist = 1.0
    consequences: Consequences = Field(default_factory=Consequences)
    # reductions of the threat-derived SL (capability SL-T method, Heinrich et al. 2019)
    sl_reductions: dict[
        Literal["location", "traceability", "extent"], Annotated[int, Field(ge=0, le=4)]
    ] = Field(default_factory=dict)
    # independent protection layers credited against harm (LOPA); money is unchanged
    protection_layers: list[ProtectionLayer] = Field(default_factory=list)
    description: str | None = None

    @field_validator("frs", mode="before")
    @classmethod
    def _frs_list(cls, v):
        if isinstance(v, str):
            v = [s.strip() for s in re.split(r"[,;\s]+", v) if s.strip()]
        if isinstance(v, list):
            bad = [x for x in v if x not in FRS]
            if bad:
                raise ValueError(f"FR tags must be FR1..FR7, {bad} was given")
        return v

    @model_validator(mode="after")
    def _one_rate(self):
        if self.rate_share is not None and self.rate is not None:
            raise FieldError("rate", "give exactly one of rate_share and rate, both were given")
        if self.rate_share is None and self.rate is None:
            raise FieldError(
                "rate_share", "give exactly one of rate_share and rate, neither was given"
            )
        return self


class _Targets(_Record):
    scenarios: list[Id] = Field(default_factory=list)
    zones: list[Id] = Field(default_factory=list)


class SecurityLevelEffect(_Record):
    """Raises SL-A of zones and conduits to at least the given level per FR."""

    type: Literal["security_level"]
    zones: list[Id] = Field(default_factory=list)
    conduits: list[Id] = Field(default_factory=list)
    levels: dict[FR, SL] = Field(min_length=1)

    def vector(self) -> np.ndarray:
        """The levels as an SL vector (0 where an FR is not raised)."""
        return np.array([self.levels.get(f, 0) for f in FRS], dtype=int)


class FrequencyEffect(_Targets):
    """Prevents a fraction of the events of the targeted scenarios."""

    type: Literal["frequency"]
    reduction: ProbDist


class ConsequenceEffect(_Targets):
    """Removes a fraction of one consequence category of the targeted scenarios."""

    type: Literal["consequence"]
    category: Literal[MONEY_CATEGORIES + HARM_CATEGORIES]  # type: ignore[valid-type]
    reduction: ProbDist


Effect = Annotated[
    Union[SecurityLevelEffect, FrequencyEffect, ConsequenceEffect], Field(discriminator="type")
]


class Cost(_Record):
    """What a countermeasure costs: capex [currency], opex [currency/yr], lifetime [yr]."""

    capex: float = Field(0.0, ge=0, le=MAX_MONEY)
    opex: float = Field(0.0, ge=0, le=MAX_MONEY)
    lifetime_years: float = Field(10.0, ge=1, le=MAX_LIFETIME)


class Countermeasure(_Record):
    """A countermeasure, implemented or a candidate, with its cost and effects."""

    id: Id
    name: str | None = None
    status: Literal["implemented", "candidate"] = "candidate"
    cost: Cost = Field(default_factory=Cost)
    exclusive_group: str | None = None
    mandatory: bool = False
    effects: list[Effect] = Field(default_factory=list)
    description: str | None = None


SeverityTable = dict[Annotated[int, Field(ge=1, le=4)], Annotated[float, Field(gt=0)]]


class FinancialTolerance(_Record):
    """Money tolerance: per-zone ALE [currency/yr] and exceedance points (loss, probability)."""

    per_zone_ale: float | None = Field(None, gt=0)
    exceedance: list[tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0, le=1)]]] = (
        Field(default_factory=list)
    )

    @field_validator("exceedance")
    @classmethod
    def _ascending(cls, v):
        for (x0, p0), (x1, p1) in zip(v, v[1:]):
            if not (x1 > x0 and p1 <= p0):
                raise ValueError(
                    "exceedance points need ascending losses with non-increasing probabilities,"
                    f" ({x0:g}, {p0:g}) is followed by ({x1:g}, {p1:g})"
                )
        return v


class Tolerance(_Record):
    """The organisation's risk tolerance (62443-3-2 ZCR 5.x: tolerable risk)."""

    safety: SeverityTable = Field(default_factory=dict)
    environment: SeverityTable = Field(default_factory=dict)
    financial: FinancialTolerance = Field(default_factory=FinancialTolerance)

    @field_validator("safety", "environment")
    @classmethod
    def _decreasing(cls, v):
        items = sorted(v.items())
        for (k0, f0), (k1, f1) in zip(items, items[1:]):
            if f1 > f0:
                raise ValueError(
                    f"tolerable frequency must not grow with severity: class {k1} ({f1:g}/yr)"
                    f" is above class {k0} ({f0:g}/yr)"
                )
        return v


class RiskMatrix(_Record):
    """A likelihood x consequence matrix mapping to SL (the ``matrix`` SL-T method)."""

    likelihood: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    consequence: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    sl: list[list[SL]]

    @field_validator("likelihood", "consequence")
    @classmethod
    def _ascending(cls, v):
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"thresholds must be strictly ascending, {v} was given")
        return v

    @model_validator(mode="after")
    def _shape(self):
        rows, cols = len(self.likelihood) + 1, len(self.consequence) + 1
        if len(self.sl) != rows or any(len(r) != cols for r in self.sl):
            shape = f"{len(self.sl)} x {[len(r) for r in self.sl]}"
            raise FieldError(
                "sl",
                f"sl must be a {rows} x {cols} table (likelihood classes x consequence classes),"
                f" {shape} was given",
            )
        return self


_TableRow = Annotated[list[Annotated[float, Field(gt=0, le=1)]], Field(min_length=4, max_length=4)]
SL_EFFECTS = ("orders", "capability")
"""Values of ``model.sl_effect`` (docs/model.md, "SL effect")."""
FR_ROLES = ("frequency", "split")
"""Values of ``model.fr_roles``: every FR on frequency, or FR6/FR7 on consequence."""
LAYERINGS = ("max", "independent")
"""Values of ``model.layering``: how a zone and its entry conduit combine in one FR."""


class ModelSettings(_Record):
    """Model parameters (MODEL.md sections 2-5).

    The model options default to the model-v2 rules; the comment beside each names the value
    that reproduces riskkit before model v2 (``docs/model.md`` explains every option,
    ``docs/model-options.md`` how to choose them).
    """

    sl_reduction_per_level: float = Field(10.0, gt=1, le=MAX_SL_REDUCTION)
    decision_statistic: str = Field("mean", pattern=r"^(mean|p\d{1,2}(\.\d+)?)$")
    discount_rate: float = Field(0.08, ge=0, le=1)
    trials: int = Field(20000, ge=MIN_TRIALS, le=MAX_TRIALS)

    @field_validator("decision_statistic")
    @classmethod
    def _percentile_inside(cls, v):
        if v != "mean" and not 0 < float(v[1:]) < 100:
            raise ValueError(f"a percentile lies strictly between p0 and p100, {v!r} was given")
        return v

    seed: int = Field(62443, ge=0)

    # P(an attempt beats level L): 'orders' r^-min(L, c), or 'capability' (logistic per step)
    sl_effect: Literal[SL_EFFECTS] = "capability"  # type: ignore[valid-type]  # was "orders" before model v2
    # the capability curve: pass probability of one step = ceiling * logistic((c - l - mid)/scale)
    capability_scale: float = Field(0.375, gt=0, le=10)
    capability_midpoint: float = Field(0.25, ge=-4, le=4)
    capability_ceiling: float = Field(0.3, gt=0, le=1)
    # optional table P(attempt beats L | c): 4 rows L = 1..4, 4 columns c = 1..4
    sl_effect_table: list[_TableRow] | None = Field(None, min_length=4, max_length=4)
    # 'frequency': every FR prevents; 'split': FR1-FR5 prevent, FR6/FR7 scale consequence
    fr_roles: Literal[FR_ROLES] = "split"  # type: ignore[valid-type]  # was "frequency" before model v2
    response_reduction_per_level: float = Field(0.3, ge=0, lt=1)
    response_categories: list[Literal[MONEY_CATEGORIES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["production", "recovery"]
    )
    # 'max': the stronger of zone and entry conduit per FR; 'independent': two barriers
    layering: Literal[LAYERINGS] = "independent"  # type: ignore[valid-type]  # was "max" before model v2
    # FRs that make a stage of an attack path a barrier
    lateral_frs: list[FR] = Field(default_factory=lambda: ["FR1", "FR2", "FR5"], min_length=1)

    @field_validator("sl_effect_table")
    @classmethod
    def _table_monotone(cls, v):
        if v is not None:
            for c in range(4):
                col = [row[c] for row in v]
                for lv in range(3):
                    if col[lv + 1] > col[lv]:
                        raise ValueError(
                            "P(attempt beats L | c) must not grow with L: for capability"
                            f" {c + 1}, level {lv + 2} ({col[lv + 1]:g}) is above level"
                            f" {lv + 1} ({col[lv]:g})"
                        )
        return v


# --------------------------------------------------------------------------------------------
# The site
# --------------------------------------------------------------------------------------------


class Site(_ReadOnly):
    """A validated site: records and quick lookups by id.

    Build one with :func:`riskkit.load_site`; ``source`` names the input and ``source_hash`` is
    the SHA-256 of its bytes (the provenance every report states).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: SiteInfo
    zones: list[Zone] = Field(min_length=1)
    conduits: list[Conduit] = Field(default_factory=list)
    threat_actors: list[ThreatActor] = Field(default_factory=list)
    scenarios: list[Scenario] = Field(default_factory=list)
    countermeasures: list[Countermeasure] = Field(default_factory=list)
    tolerance: Tolerance = Field(default_factory=Tolerance)
    risk_matrix: RiskMatrix | None = None
    model: ModelSettings = Field(default_factory=ModelSettings)
    source: str | None = None
    source_hash: str | None = None

    _index: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:  # noqa: D102
        self._index = {sec: {r.id: r for r in getattr(self, sec)} for sec in SECTIONS}

    # lookups ------------------------------------------------------------------------------
    def zone(self, zid: str) -> Zone:
        """The zone with id ``zid``."""
        return self._get("zones", zid)

    def conduit(self, cid: str) -> Conduit:
        """The conduit with id ``cid``."""
        return self._get("conduits", cid)

    def actor(self, aid: str) -> ThreatActor:
        """The threat actor with id ``aid``."""
        return self._get("threat_actors", aid)

    def scenario(self, sid: str) -> Scenario:
        """The scenario with id ``sid``."""
        return self._get("scenarios", sid)

    def countermeasure(self, cid: str) -> Countermeasure:
        """The countermeasure with id ``cid``."""
        return self._get("countermeasures", cid)

    def _get(self, section: str, rid: str):
        try:
            return self._index[section][rid]
        except KeyError:
            known = ", ".join(self._index[section]) or "none"
            raise KeyError(f"no {section[:-1].replace('_', ' ')} {rid!r}; known: {known}") from None

    @property
    def name(self) -> str:
        """The site's name."""
        return self.site.name

    @property
    def currency(self) -> str:
        """The currency of every money value."""
        return self.site.currency

    @property
    def candidates(self) -> list[Countermeasure]:
        """Countermeasures with status ``candidate``."""
        return [c for c in self.countermeasures if c.status == "candidate"]

    @property
    def implemented(self) -> list[Countermeasure]:
        """Countermeasures with status ``implemented``."""
        return [c for c in self.countermeasures if c.status == "implemented"]

    def scenarios_in(self, zone_id: str) -> list[Scenario]:
        """The scenarios that harm zone ``zone_id``."""
        return [s for s in self.scenarios if s.zone == zone_id]

    def inventory(self) -> dict[str, int]:
        """Counts of each record kind."""
        return {sec: len(getattr(self, sec)) for sec in SECTIONS}


# --------------------------------------------------------------------------------------------
# Building a site from raw data, collecting every problem
# --------------------------------------------------------------------------------------------

Origin = tuple[str, "int | None", dict]
"""(file, line of the record, {dotted field path: line}) of one record."""


@dataclass
class RawSite:
    """Parsed but unvalidated site data with where each record came from.

    ``origins`` maps ``(section, index)`` of a list record, or ``(section, None)`` of a one-off
    section (``site``, ``tolerance``...), to its file, line and the lines of its fields (keyed by
    dotted path, ``consequences.production.hours``, ``effects[1].levels``). ``problems`` holds
    what the reader found before validation (duplicate keys, unreadable cells); they are
    reported together with the validation problems.
    """

    data: dict[str, Any]
    file: str
    origins: dict[tuple[str, int | None], Origin] = field(default_factory=dict)
    section_lines: dict[str, int] = field(default_factory=dict)
    source_hash: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def where(self, section: str, index: int | None = None, fld: str | None = None):
        """File and line of a record (and of one of its fields, where known)."""
        if (section, index) in self.origins:
            f, line, fields = self.origins[(section, index)]
            path = fld or ""
            while path:
                if path in fields:
                    return f, fields[path]
                shorter = re.sub(r"(\[[^\[\]]*\]|\.?[^.\[\]]+|.)$", "", path)
                path = shorter if len(shorter) < len(path) else ""
            return f, line if line is not None else self.section_lines.get(section)
        return self.file, self.section_lines.get(section)


_HINTS = {
    "missing": "this field is required",
    "literal_error": "use one of the listed values",
    "union_tag_invalid": "an effect's type is security_level, frequency or consequence",
    "union_tag_not_found": "give the effect a type: security_level, frequency or consequence",
    "finite_number": "use a finite number (not .inf or .nan)",
    "model_type": "indent its fields below it, or write {field: value, ...}",
    "model_attributes_type": "indent its fields below it, or write {field: value, ...}",
    "list_type": "write a list, e.g. [a, b]",
    "tuple_type": "write a list, e.g. [a, b]",
    "dict_type": "write a mapping, e.g. {key: value}",
}


def _hint(err_type: str, fld: str | None) -> str:
    last = re.sub(r"\[\d+\]$", "", fld or "").rsplit(".", 1)[-1]
    if last in ("sl_a", "sl_c"):
        return "an SL vector is seven integers 0..4, one per FR1..FR7"
    if last in FRS or (fld or "").endswith("levels"):
        return "levels map FR1..FR7 to a security level 0..4"
    if last == "frs":
        return "list foundational requirements FR1..FR7, e.g. [FR1, FR3]"
    return _HINTS.get(err_type, "")


def _loc_to_field(loc: tuple) -> str:
    parts = []
    for k, p in enumerate(loc):
        if p == "[key]" or (p == "value" and k > 0 and loc[k - 1] == "constant"):
            continue
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in _TAGS:
            continue
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts).replace(".[", "[")


_TAGS = {
    "constant",
    "pert",
    "lognormal",
    "triangular",
    "uniform",
    "normal",
    "beta",
    "poisson",
    "empirical",
    "security_level",
    "frequency",
    "consequence",
}


@functools.cache
def _field_names() -> frozenset[str]:
    """Every field name of every record kind, for did-you-mean hints (built once)."""
    from . import distributions

    names: set[str] = set()
    models = [SiteInfo, Zone, Conduit, ThreatActor, Production, Harm, Consequences, Scenario]
    models += [SecurityLevelEffect, FrequencyEffect, ConsequenceEffect, Cost, Countermeasure]
    models += [FinancialTolerance, Tolerance, RiskMatrix, ModelSettings]
    models += list(distributions.DIST_KINDS.values())
    for m in models:
        for name, info in m.model_fields.items():
            names.add(info.alias or name)
    return frozenset(names)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _problems_from(exc: ValidationError, raw: RawSite, section: str, index: int | None, rid):
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(str(x) if not isinstance(x, int) else x for x in err["loc"])
        loc = tuple(
            p
            for p in loc
            if not (isinstance(p, str) and p.startswith(("function-", "tagged-union[")))
        )
        blamed = getattr((err.get("ctx") or {}).get("error"), "field", None)
        if blamed:
            loc += (blamed,)
        fld = _loc_to_field(loc) or None
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("model_type", "model_attributes_type"):
            msg = "should be a mapping of field: value"
        hint = _hint(err["type"], fld)
        if err["type"] == "extra_forbidden":
            name = str(err["loc"][-1]) if err["loc"] else "?"
            msg = f"unknown field {name!r}"
            close = difflib.get_close_matches(name, _field_names(), n=1, cutoff=0.75)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else "check the spelling against docs/site-format.md"
            )
        elif (
            err["type"] != "missing"
            and "input" in err
            and (fld is not None or not isinstance(err["input"], dict))
            and not blamed
        ):
            if "given" not in msg:
                msg += f", {_short(err['input'])} was given"
        file, line = raw.where(section, index, fld)
        out.append(Problem(file, rid, fld, msg, hint=hint, line=line))
    return out


_SINGLE = {
    "site": SiteInfo,
    "tolerance": Tolerance,
    "risk_matrix": RiskMatrix,
    "model": ModelSettings,
}
_LISTS = {
    "zones": Zone,
    "conduits": Conduit,
    "threat_actors": ThreatActor,
    "scenarios": Scenario,
    "countermeasures": Countermeasure,
}


def build_site(raw: RawSite) -> Site:
    """Validate raw site data into a :class:`Site`, raising one :class:`SiteError` for all.

    Parameters
    ----------
    raw : RawSite
        Parsed data with the origin of each record (from :mod:`riskkit.io`).

    Returns
    -------
    Site

    Raises
    ------
    SiteError
        Listing every problem found, in file order.
    """
    data = raw.data
    problems: list[Problem] = list(raw.problems)
    if not isinstance(data, dict):
        raise SiteError(
            problems
            + [
                Problem(
                    raw.file,
                    None,
                    None,
                    f"a site file is a mapping of sections, got {type(data).__name__}",
                    hint="start the file with site:, zones:, ... at the left margin",
                )
            ]
        )
    problems += _unknown_sections(raw)
    built: dict[str, Any] = {}
    problems += _build_single(raw, built)
    problems += _build_lists(raw, built)
    problems += _cross_checks(raw, built)
    if problems:
        # file order: the main file first, then tables as met; whole-file problems first
        rank = {raw.file: 0}
        for p in problems:
            rank.setdefault(p.file, len(rank))
        problems.sort(key=lambda p: (rank[p.file], p.line or 0))
        raise SiteError(problems)
    kwargs = {k: v for k, v in built.items() if k in _SINGLE}
    for key in _LISTS:
        kwargs[key] = [r for _, r in built[key]]
    return Site(**kwargs, source=raw.file, source_hash=raw.source_hash)


def _unknown_sections(raw: RawSite) -> list[Problem]:
    """Top-level keys that are not sections."""
    data = raw.data
    problems: list[Problem] = []
    known = set(_SINGLE) | set(_LISTS)
    for key in data:
        if key not in known:
            file, line = raw.where(str(key))
            problems.append(
                Problem(
                    file,
                    None,
                    str(key),
                    f"unknown section {key!r}",
                    hint="sections are " + ", ".join(sorted(known)),
                    line=line,
                )
            )

    return problems


def _build_single(raw: RawSite, built: dict[str, Any]) -> list[Problem]:
    """Validate the one-off sections into ``built``; their problems."""
    data = raw.data
    problems: list[Problem] = []
    for key, model in _SINGLE.items():
        if key not in data or data[key] is None:
            if key == "site":
                problems.append(
                    Problem(
                        raw.file,
                        "site",
                        None,
                        "the 'site' section is missing",
                        hint="add site: {name: ..., currency: EUR}",
                    )
                )
            continue
        try:
            built[key] = model.model_validate(data[key])
        except ValidationError as e:
            problems += _problems_from(e, raw, key, None, key)

    return problems


def _build_lists(raw: RawSite, built: dict[str, Any]) -> list[Problem]:
    """Validate the record lists into ``built`` as (index, record); their problems."""
    data = raw.data
    problems: list[Problem] = []
    for key, model in _LISTS.items():
        rows = data.get(key) or []
        if not isinstance(rows, list):
            file, line = raw.where(key)
            problems.append(
                Problem(
                    file,
                    key,
                    None,
                    f"must be a list of records, got {type(rows).__name__}",
                    line=line,
                )
            )
            continue
        if key == "zones" and not rows:
            file, line = raw.where(key)
            problems.append(
                Problem(file, "zones", None, "a site needs at least one zone", line=line)
            )
        good = []
        for i, row in enumerate(rows):
            rid = row.get("id") if isinstance(row, dict) else None
            ok = isinstance(rid, (str, int, float)) and not isinstance(rid, bool)
            label = str(rid) if ok and str(rid).strip() else f"{key}[{i}]"
            if not isinstance(row, dict):
                file, line = raw.where(key, i)
                problems.append(
                    Problem(
                        file, label, None, f"a record is a mapping, got {_short(row)}", line=line
                    )
                )
                continue
            try:
                good.append((i, model.model_validate(row)))
            except ValidationError as e:
                problems += _problems_from(e, raw, key, i, label)
        built[key] = good

    return problems


class _Cross:
    """What the cross-record rules share: the raw rows, the built records and the ids.

    References are checked on the raw rows (where their values have the right type), so a
    record that failed its own validation elsewhere still has its references checked, and
    still counts as defined (no false "unknown id" after a typo elsewhere).
    """

    def __init__(self, raw: RawSite, built: dict[str, Any]):
        self.raw, self.built = raw, built
        self.out: list[Problem] = []
        self.ids: dict[str, set] = {sec: set() for sec in SECTIONS}
        self._known: dict[str, str] = {}  # the "known: ..." hint of each section, once built
        # a section that is not a list was reported already; references into it are not
        self.broken = {
            sec for sec in SECTIONS if raw.data.get(sec) and not isinstance(raw.data[sec], list)
        }

    def add(self, section, index, rid, fld, msg, hint=""):
        """Report a problem of record ``rid`` (row ``index`` of ``section``), field ``fld``."""
        file, line = self.raw.where(section, index, fld)
        self.out.append(Problem(file, rid, fld, msg, hint=hint, line=line))

    def rows(self, sec):
        """``(index, id or label, row)`` of the mapping rows of a section."""
        value = self.raw.data.get(sec)
        for i, row in enumerate(value if isinstance(value, list) else []):
            if isinstance(row, dict):
                rid = row.get("id")
                yield i, (rid if isinstance(rid, str) and rid else f"{sec}[{i}]"), row

    def unknown(self, sec, index, rid, fld, ref, kind):
        """Report a reference ``ref`` to a record of section ``kind`` that does not exist."""
        if kind in self.broken:
            return
        if kind not in self._known:  # once per kind: many unknown ids stay linear
            choices = sorted(self.ids[kind])
            self._known[kind] = ", ".join(choices[:12]) + (" ..." if len(choices) > 12 else "")
        known = self._known[kind]
        choices = self.ids[kind]
        self.add(
            sec,
            index,
            rid,
            fld,
            f"unknown {kind[:-1].replace('_', ' ')} {ref!r}",
            hint="known: " + (known if choices else "none defined"),
        )


def _str_list(value):
    if isinstance(value, (list, tuple)):
        return [(j, x) for j, x in enumerate(value) if isinstance(x, str)]
    return []


def _rule_unique_ids(c: _Cross) -> None:
    """Ids are unique across every record kind (counted on the raw rows)."""
    seen: dict[str, str] = {}
    for sec in SECTIONS:
        rows = c.raw.data.get(sec) if isinstance(c.raw.data.get(sec), list) else []
        for i, row in enumerate(rows):
            rid = row.get("id") if isinstance(row, dict) else None
            if not isinstance(rid, str) or not rid:
                continue
            if rid in seen:
                c.add(
                    sec,
                    i,
                    rid,
                    "id",
                    f"duplicate id {rid!r} (also a record of {seen[rid]})",
                    hint="ids must be unique across zones, conduits, actors, scenarios and "
                    "countermeasures",
                )
            else:
                seen[rid] = sec
            c.ids[sec].add(rid)


def _rule_conduit_zones(c: _Cross) -> None:
    """A conduit joins zones that exist."""
    for i, cid, row in c.rows("conduits"):
        for j, z in _str_list(row.get("zones")):
            if z not in c.ids["zones"]:
                c.unknown("conduits", i, cid, f"zones[{j}]", z, "zones")


def _rule_scenario_references(c: _Cross) -> None:
    """A scenario's zone, actor and entry exist, and its entry conduit touches its zone."""
    conduit_zones = {}
    for _, rid, row in c.rows("conduits"):
        z = row.get("zones")
        if isinstance(z, list) and all(isinstance(x, str) for x in z) and len(set(z)) == 2:
            conduit_zones[rid] = set(z)
    for i, sid, row in c.rows("scenarios"):
        zone, actor, entry = (row.get(k) for k in ("zone", "actor", "entry"))
        if isinstance(zone, str) and zone not in c.ids["zones"]:
            c.unknown("scenarios", i, sid, "zone", zone, "zones")
        if isinstance(actor, str) and actor not in c.ids["threat_actors"]:
            c.unknown("scenarios", i, sid, "actor", actor, "threat_actors")
        if not isinstance(entry, str):
            continue
        if entry not in c.ids["conduits"]:
            c.unknown("scenarios", i, sid, "entry", entry, "conduits")
        elif (
            entry in conduit_zones  # else the conduit itself was reported
            and isinstance(zone, str)
            and zone in c.ids["zones"]
            and zone not in conduit_zones[entry]
        ):
            c.add(
                "scenarios",
                i,
                sid,
                "entry",
                f"entry conduit {entry!r} joins {sorted(conduit_zones[entry])},"
                f" not the scenario's zone {zone!r}",
                hint="the entry conduit is the one the attack crosses into the scenario's zone",
            )


def _rule_effect_targets(c: _Cross) -> None:
    """Every countermeasure effect targets something, and only records that exist."""
    for i, cid, row in c.rows("countermeasures"):
        effects = row.get("effects")
        for k, eff in enumerate(effects if isinstance(effects, list) else []):
            kind = eff.get("type") if isinstance(eff, dict) else None
            if kind not in ("security_level", "frequency", "consequence"):
                continue  # reported by the record's own validation
            base = f"effects[{k}]"
            keys = ("zones", "conduits") if kind == "security_level" else ("zones", "scenarios")
            if all(eff.get(key) in (None, []) for key in keys) and not any(
                eff.get(key) is None and key in eff for key in keys
            ):
                c.add(
                    "countermeasures",
                    i,
                    cid,
                    base,
                    f"a {kind} effect that targets nothing",
                    hint="list the " + " or ".join(keys) + " it acts on",
                )
            for key in keys:
                for j, ref in _str_list(eff.get(key)):
                    if ref not in c.ids[key]:
                        c.unknown("countermeasures", i, cid, f"{base}.{key}[{j}]", ref, key)


def _rule_exclusive_groups(c: _Cross) -> None:
    """An exclusive group has at most one mandatory member, compatible with what is in place."""
    groups: dict[str, list] = defaultdict(list)
    for i, cm in c.built.get("countermeasures", []):
        if cm.exclusive_group:
            groups[cm.exclusive_group].append((i, cm))
    for g, members in groups.items():
        mandatory = [cm.id for _, cm in members if cm.mandatory]
        implemented = [cm.id for _, cm in members if cm.status == "implemented"]
        if len(mandatory) > 1:
            i, cm = next((i, cm) for i, cm in members if cm.mandatory and cm.id == mandatory[1])
            c.add(
                "countermeasures",
                i,
                cm.id,
                "mandatory",
                f"exclusive group {g!r} has {len(mandatory)} mandatory members {mandatory};"
                " at most one can be chosen",
                hint="make only one of them mandatory, or take them out of the group",
            )
        elif mandatory and implemented and mandatory[0] not in implemented:
            i, cm = next((i, cm) for i, cm in members if cm.id == mandatory[0])
            c.add(
                "countermeasures",
                i,
                cm.id,
                "mandatory",
                f"{cm.id!r} is mandatory but its exclusive group {g!r} already has"
                f" {implemented} implemented",
                hint="drop the mandatory flag or the group",
            )


def _rule_scenario_origin(c: _Cross) -> None:
    """A scenario's origin zone exists and a path leads from it to the scenario's zone.

    An entry given with an origin lies on such a path (docs/model.md, "Lateral movement").
    """
    edges = []
    for _, rid, row in c.rows("conduits"):
        z = row.get("zones")
        if isinstance(z, list) and len(z) == 2 and all(isinstance(x, str) for x in z):
            if z[0] != z[1]:
                edges.append((rid, z[0], z[1]))
    for i, sid, row in c.rows("scenarios"):
        origin, zone, entry = (row.get(k) for k in ("origin", "zone", "entry"))
        if not isinstance(origin, str):
            continue
        if origin not in c.ids["zones"]:
            c.unknown("scenarios", i, sid, "origin", origin, "zones")
            continue
        if not isinstance(zone, str) or zone not in c.ids["zones"] or origin == zone:
            continue
        if zone not in reachable(edges, origin):
            c.add(
                "scenarios",
                i,
                sid,
                "origin",
                f"no path of conduits leads from origin {origin!r} to the scenario's zone {zone!r}",
                hint="add the conduits the attack crosses, or correct the origin",
            )
            continue
        try:
            paths = simple_paths(edges, origin, zone)
        except TooManyPaths as err:
            c.add("scenarios", i, sid, "origin", str(err), hint="simplify the conduit graph")
            continue
        if (
            isinstance(entry, str)
            and entry in c.ids["conduits"]
            and not any(cond == entry for p in paths for cond, _ in p)
        ):
            c.add(
                "scenarios",
                i,
                sid,
                "entry",
                f"entry conduit {entry!r} lies on no path from origin {origin!r} to {zone!r}",
                hint="give the conduit the attack crosses into the zone on its way from the"
                " origin, or leave entry out",
            )


CROSS_RULES = (
    _rule_unique_ids,  # first: the others look ids up
    _rule_conduit_zones,
    _rule_scenario_references,
    _rule_scenario_origin,
    _rule_effect_targets,
    _rule_exclusive_groups,
)
"""The rules that span records, in the order they run (each appends its problems)."""


def _cross_checks(raw: RawSite, built: dict[str, Any]) -> list[Problem]:
    """Run :data:`CROSS_RULES` over the site; their problems in rule order."""
    c = _Cross(raw, built)
    for rule in CROSS_RULES:
        rule(c)
    return c.out
