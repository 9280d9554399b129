"""riskkit: quantitative IEC 62443 risk assessment for industrial control systems.

Public names (a contract: extended, never renamed):

- :func:`load_site` -> :class:`Site` (validated site model), :class:`SiteError`
- :func:`simulate` -> ``Simulation`` (Monte Carlo annual losses)
- :func:`target_levels`, :func:`gaps` (SL-T vectors and gap analysis)
- :func:`prioritize`, :func:`optimize`, :func:`frontier` (countermeasure portfolios)
- :func:`assess` (the deliverables: notebooks, HTML, summary.json)
- :func:`attack_paths`, :func:`chokepoints` (lateral movement across conduits)

Heavy modules are imported on first use, so ``import riskkit`` stays fast for the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

from .io import load_site
from .site import Problem, Site, SiteError

__version__ = "0.1.0"

_LAZY = {
    "simulate": "riskkit.engine",
    "Simulation": "riskkit.engine",
    "simulate_many": "riskkit.engine",
    "expected_losses": "riskkit.exposure",
    "target_levels": "riskkit.levels",
    "TargetLevels": "riskkit.levels",
    "gaps": "riskkit.levels",
    "model_checks": "riskkit.levels",
    "prioritize": "riskkit.portfolio",
    "optimize": "riskkit.portfolio",
    "frontier": "riskkit.portfolio",
    "attribution": "riskkit.portfolio",
    "greedy": "riskkit.portfolio",
    "k_best": "riskkit.portfolio",
    "assess": "riskkit.pipeline",
    "export_xlsx": "riskkit.io",
    "what_if": "riskkit.whatif",
    "tornado": "riskkit.sensitivity",
    "evpi": "riskkit.sensitivity",
    "sl_robustness": "riskkit.sensitivity",
    "global_sensitivity": "riskkit.sensitivity",
    "convergence": "riskkit.sensitivity",
    "attack_paths": "riskkit.paths",
    "chokepoints": "riskkit.paths",
}

__all__ = ["__version__", "load_site", "Site", "SiteError", "Problem", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'riskkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _forward(module: str, moved: dict[str, str]):
    """A module ``__getattr__`` that finds each name of ``moved`` in the module it moved to.

    For a module that became a package: ``from riskkit.engine import _name`` keeps working
    for every name importable before, without importing each one at the top of the package.
    """

    def __getattr__(name: str) -> Any:
        home = moved.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home), name)

    return __getattr__
