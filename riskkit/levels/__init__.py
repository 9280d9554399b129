"""Target security levels (SL-T), gap analysis and zone-model checks.

Modules (each imports only those above it, and :mod:`riskkit.rules` for every model rule):

- :mod:`~riskkit.levels.drivers`: zone and conduit SL-T vectors from scenario levels, each
  value with its driver; review flags and the per-zone summary;
- :mod:`~riskkit.levels.methods`: the three methods (``rrf``, ``matrix``, ``capability``),
  the risk measures behind the RRF, :class:`TargetLevels` and :func:`target_levels` (its
  module notes give the model);
- :mod:`~riskkit.levels.gap_analysis`: SL-T against SL-C and SL-A (:func:`gaps`);
- :mod:`~riskkit.levels.checks`: the zone-model lint (:func:`model_checks`).

Every name importable from ``riskkit.levels`` before it became a package still is.
"""

from __future__ import annotations

from .checks import CHECK_COLUMNS, MODEL_CHECKS, SEVERITIES, Finding, _is_dmz, model_checks
from .drivers import _aggregate, _driver_fields, _flags, _summary, _vectors
from .gap_analysis import Gaps, _closers, _gap_table, gaps
from .methods import (
    _KIND_PURDUE,
    _OPTIONS,
    METHODS,
    SLT_METHODS,
    TargetLevels,
    _capability_levels,
    _check_options,
    _check_sim_state,
    _event_loss_tail,
    _matrix_levels,
    _parse_statistic,
    _required_levels,
    _scenario_rrf,
    _simulate_unmitigated,
    _statistic,
    compare_methods,
    matrix_class,
    required_level,
    risk_reduction,
    scenario_risk,
    target_levels,
    threat_level,
)

__all__ = [
    "SLT_METHODS",
    "METHODS",
    "TargetLevels",
    "Gaps",
    "target_levels",
    "gaps",
    "model_checks",
    "compare_methods",
    "scenario_risk",
    "risk_reduction",
    "required_level",
    "threat_level",
    "matrix_class",
]

_COMPAT = (
    CHECK_COLUMNS,
    MODEL_CHECKS,
    SEVERITIES,
    Finding,
    _is_dmz,
    _aggregate,
    _driver_fields,
    _flags,
    _summary,
    _vectors,
    _closers,
    _gap_table,
    _KIND_PURDUE,
    _OPTIONS,
    _capability_levels,
    _check_options,
    _check_sim_state,
    _event_loss_tail,
    _matrix_levels,
    _parse_statistic,
    _required_levels,
    _scenario_rrf,
    _simulate_unmitigated,
    _statistic,
)
"""Names importable from ``riskkit.levels`` before it became a package (tests, notebooks)."""
