"""The Monte Carlo engine: simulated years of loss per scenario, zone and site.

Modules (data flows down the list; each imports only those above it, and
:mod:`riskkit.rules` for every model rule):

- :mod:`~riskkit.engine.streams`: one random generator per quantity and block of trials,
  Poisson counts by inversion, per-trial sums of per-event values;
- :mod:`~riskkit.engine.limits`: site values the engine cannot simulate, refused as problems
  naming the field (rates, trials beyond memory);
- :mod:`~riskkit.engine.results`: :class:`Simulation`, the result of a run, its risk
  measures and their confidence intervals, and what a run keeps (zone and site totals per
  trial, per-scenario statistics streamed group by group of scenarios);
- :mod:`~riskkit.engine.simulation`: what each scenario draws, chunks of trials, workers,
  and the public calls :func:`simulate` and :func:`simulate_many` (its module notes explain
  the common random numbers);
- :mod:`~riskkit.engine.moments`: closed-form mean and variance of each scenario's loss.

Every name importable from ``riskkit.engine`` before it became a package still is.
"""

from __future__ import annotations

from .. import _forward
from .limits import MAX_EVENTS_PER_YEAR
from .moments import moments
from .results import CONFIDENCE, LEVELS, QUANTILES, Simulation
from .simulation import (
    DEFAULT_CHUNK,
    GROUP_BYTES,
    KEEP_BYTES,
    MAX_EVENTS,
    simulate,
    simulate_many,
)
from .streams import BLOCK

__all__ = [
    "CONFIDENCE",
    "LEVELS",
    "QUANTILES",
    "Simulation",
    "simulate",
    "simulate_many",
    "moments",
    "BLOCK",
    "DEFAULT_CHUNK",
    "GROUP_BYTES",
    "KEEP_BYTES",
    "MAX_EVENTS",
    "MAX_EVENTS_PER_YEAR",
]

_MOVED: dict[str, str] = {
    "SEVERITY_CLASSES": "riskkit.rules",
    "_check_memory": "riskkit.engine.limits",
    "_check_rates": "riskkit.engine.limits",
    "_rate_problem": "riskkit.engine.limits",
    "_m2": "riskkit.engine.moments",
    "_frozen": "riskkit.engine.results",
    "_check_int": "riskkit.engine.simulation",
    "_Chunk": "riskkit.engine.simulation",
    "_chunk_trials": "riskkit.engine.simulation",
    "_cpus": "riskkit.engine.simulation",
    "_factor": "riskkit.engine.simulation",
    "_label": "riskkit.engine.simulation",
    "_Out": "riskkit.engine.simulation",
    "_resolve_run": "riskkit.engine.simulation",
    "_resolve_workers": "riskkit.engine.simulation",
    "_run": "riskkit.engine.simulation",
    "_scale": "riskkit.engine.simulation",
    "_scenario_runs": "riskkit.engine.simulation",
    "_ScenarioRun": "riskkit.engine.simulation",
    "_View": "riskkit.engine.simulation",
    "_KMAX": "riskkit.engine.streams",
    "_SMALL_RATE": "riskkit.engine.streams",
    "_TAIL": "riskkit.engine.streams",
    "_join": "riskkit.engine.streams",
    "_key": "riskkit.engine.streams",
    "_poisson_counts": "riskkit.engine.streams",
    "_segment_sum": "riskkit.engine.streams",
    "_stream": "riskkit.engine.streams",
}
"""Other names importable from this module before it became a package, and their home."""


__getattr__ = _forward(__name__, _MOVED)
