"""Target security levels (SL-T), gap analysis and zone-model checks.

Modules (each imports only those above it, and :mod:`riskkit.rules` for every model rule):

- :mod:`~riskkit.levels.drivers`: zone and conduit SL-T vectors from scenario levels, each
  value with its driver; review flags and the per-zone summary;
- :mod:`~riskkit.levels.minimal`: the ``minimal`` method (exact least SL-T per zone, site
  exceedance on aggregate annual loss);
- :mod:`~riskkit.levels.methods`: the methods (``rrf``, ``matrix``, ``capability``, ``minimal``),
  the risk measures behind the RRF, :class:`TargetLevels` and :func:`target_levels` (its
  module notes give the model);
- :mod:`~riskkit.levels.gap_analysis`: SL-T against SL-C and SL-A (:func:`gaps`);
- :mod:`~riskkit.levels.checks`: the zone-model lint (:func:`model_checks`).

Every name importable from ``riskkit.levels`` before it became a package still is.
"""

from __future__ import annotations

from .. import _forward
from .checks import CHECK_COLUMNS, MODEL_CHECKS, SEVERITIES, model_checks
from .drivers import CONDUIT_RULES, DEFAULT_CONDUIT_RULE
from .gap_analysis import Gaps, gaps
from .methods import (
    COMPARED_METHODS,
    DEFAULT_METHOD,
    METHODS,
    SLT_METHODS,
    TargetLevels,
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
    "DEFAULT_METHOD",
    "COMPARED_METHODS",
    "CONDUIT_RULES",
    "DEFAULT_CONDUIT_RULE",
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
    "MODEL_CHECKS",
    "CHECK_COLUMNS",
    "SEVERITIES",
]

_MOVED: dict[str, str] = {
    "Finding": "riskkit.levels.checks",
    "_is_dmz": "riskkit.levels.checks",
    "_aggregate": "riskkit.levels.drivers",
    "_driver_fields": "riskkit.levels.drivers",
    "_flags": "riskkit.levels.drivers",
    "_summary": "riskkit.levels.drivers",
    "_vectors": "riskkit.levels.drivers",
    "_closers": "riskkit.levels.gap_analysis",
    "_gap_table": "riskkit.levels.gap_analysis",
    "_KIND_PURDUE": "riskkit.levels.methods",
    "_OPTIONS": "riskkit.levels.methods",
    "_capability_levels": "riskkit.levels.methods",
    "_check_options": "riskkit.levels.methods",
    "_check_sim_state": "riskkit.levels.methods",
    "_event_loss_tail": "riskkit.levels.methods",
    "_matrix_levels": "riskkit.levels.methods",
    "_parse_statistic": "riskkit.levels.methods",
    "_required_levels": "riskkit.levels.methods",
    "_scenario_rrf": "riskkit.levels.methods",
    "_simulate_unmitigated": "riskkit.levels.methods",
    "_statistic": "riskkit.levels.methods",
}
"""Other names importable from this module before it became a package, and their home."""


__getattr__ = _forward(__name__, _MOVED)
