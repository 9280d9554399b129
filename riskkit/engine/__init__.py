"""The Monte Carlo engine: simulated years of loss per scenario, zone and site.

Modules (data flows down the list; each imports only those above it, and
:mod:`riskkit.rules` for every model rule):

- :mod:`~riskkit.engine.streams`: one random generator per quantity and block of trials,
  Poisson counts by inversion, per-trial sums of per-event values;
- :mod:`~riskkit.engine.limits`: site values the engine cannot simulate, refused as problems
  naming the field (rates, trials beyond memory);
- :mod:`~riskkit.engine.results`: :class:`Simulation`, the result of a run, and its risk
  measures;
- :mod:`~riskkit.engine.simulation`: what each scenario draws, chunks of trials, workers,
  and the public calls :func:`simulate` and :func:`simulate_many` (its module notes explain
  the common random numbers);
- :mod:`~riskkit.engine.moments`: closed-form mean and variance of each scenario's loss.

Every name importable from ``riskkit.engine`` before it became a package still is.
"""

from __future__ import annotations

from ..rules import SEVERITY_CLASSES
from .limits import MAX_EVENTS_PER_YEAR, _check_memory, _check_rates, _rate_problem
from .moments import _m2, moments
from .results import LEVELS, QUANTILES, Simulation, _frozen
from .simulation import (
    DEFAULT_CHUNK,
    MAX_EVENTS,
    _check_int,
    _Chunk,
    _chunk_trials,
    _cpus,
    _factor,
    _label,
    _Out,
    _resolve_run,
    _resolve_workers,
    _run,
    _scale,
    _scenario_runs,
    _ScenarioRun,
    _View,
    simulate,
    simulate_many,
)
from .streams import (
    _KMAX,
    _SMALL_RATE,
    _TAIL,
    BLOCK,
    _join,
    _key,
    _poisson_counts,
    _segment_sum,
    _stream,
)

__all__ = [
    "LEVELS",
    "QUANTILES",
    "Simulation",
    "simulate",
    "simulate_many",
    "moments",
]

_COMPAT = (
    SEVERITY_CLASSES,
    MAX_EVENTS_PER_YEAR,
    _check_memory,
    _check_rates,
    _rate_problem,
    _m2,
    _frozen,
    DEFAULT_CHUNK,
    MAX_EVENTS,
    _check_int,
    _Chunk,
    _chunk_trials,
    _cpus,
    _factor,
    _label,
    _Out,
    _resolve_run,
    _resolve_workers,
    _run,
    _scale,
    _scenario_runs,
    _ScenarioRun,
    _View,
    _KMAX,
    _SMALL_RATE,
    _TAIL,
    BLOCK,
    _join,
    _key,
    _poisson_counts,
    _segment_sum,
    _stream,
)
"""Names importable from ``riskkit.engine`` before it became a package (tests, benchmarks)."""
