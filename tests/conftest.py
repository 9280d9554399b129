"""Shared fixtures for the riskkit tests.

Fixtures
--------
repo_root
    The repository root (a :class:`pathlib.Path`), for paths to ``data/`` and ``tests/data/``.
tiny_site, water_site, refinery_site
    The example sites, loaded once per test session. Site records are read-only (assigning
    a field raises :class:`riskkit.site.ReadOnlySiteError`); for a changed site use
    :func:`riskkit.what_if`, or ``riskkit.io.site_to_dict(site)``, change the dict and pass it
    to ``make_site``. Never mutate a shared site's lists in place.
base_site_dict
    A fresh copy of :data:`BASE_SITE`, a minimal valid site as plain data (two zones, one
    conduit, one actor, two scenarios, two countermeasures). Copy it, break one field and
    pass it to ``make_site`` to test a rule.
make_site
    ``make_site(d)`` validates the dict ``d`` into a :class:`riskkit.Site` the way a loaded
    file is (``build_site(RawSite(data=d, file="<test>"))``), raising :class:`riskkit.SiteError`
    when something is wrong. ``d`` is deep-copied first, so the caller's dict is untouched.

Example
-------
>>> def test_capability_above_4(base_site_dict, make_site):
...     base_site_dict["threat_actors"][0]["capability"] = 5
...     with pytest.raises(SiteError):
...         make_site(base_site_dict)
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from riskkit import Site, load_site
from riskkit.site import RawSite, build_site

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root."""

BASE_SITE: dict = {
    "site": {"name": "Base test site", "currency": "EUR"},
    "zones": [
        {"id": "Z-OPS", "kind": "operations", "purdue_level": 3, "sl_a": [1, 1, 1, 1, 1, 1, 1]},
        {"id": "Z-CTRL", "kind": "control", "purdue_level": 1, "sl_c": [2, 2, 2, 2, 2, 2, 2]},
    ],
    "conduits": [{"id": "C-OPS-CTRL", "zones": ["Z-OPS", "Z-CTRL"], "sl_a": [1, 0, 1, 0, 1, 0, 1]}],
    "threat_actors": [
        {
            "id": "A-CRIME",
            "capability": 2,
            "attempt_rate": {"dist": "lognormal", "low": 1, "high": 5},
        }
    ],
    "scenarios": [
        {
            "id": "S-1",
            "zone": "Z-OPS",
            "actor": "A-CRIME",
            "frs": ["FR1", "FR3"],
            "rate_share": 0.5,
            "vulnerability": {"dist": "pert", "low": 0.2, "mode": 0.5, "high": 0.8},
            "consequences": {
                "production": {
                    "hours": {"dist": "pert", "low": 4, "mode": 24, "high": 96},
                    "cost_per_hour": 10000,
                },
                "recovery": {"dist": "lognormal", "low": 1e5, "high": 1e6},
            },
        },
        {
            "id": "S-2",
            "zone": "Z-CTRL",
            "actor": "A-CRIME",
            "entry": "C-OPS-CTRL",
            "frs": ["FR2", "FR5"],
            "rate": {"dist": "uniform", "low": 0.1, "high": 0.3},
            "vulnerability": 0.5,
            "consequences": {
                "equipment": {"dist": "triangular", "low": 1e4, "mode": 5e4, "high": 2e5},
                "safety": {"severity": 2, "probability": 0.1},
            },
        },
    ],
    "countermeasures": [
        {
            "id": "CM-1",
            "status": "implemented",
            "cost": {"capex": 20000, "opex": 2000, "lifetime_years": 5},
            "effects": [
                {"type": "security_level", "conduits": ["C-OPS-CTRL"], "levels": {"FR5": 2}}
            ],
        },
        {
            "id": "CM-2",
            "status": "candidate",
            "cost": {"capex": 50000, "opex": 5000, "lifetime_years": 10},
            "exclusive_group": "segmentation",
            "effects": [
                {"type": "security_level", "zones": ["Z-CTRL"], "levels": {"FR2": 2}},
                {"type": "frequency", "scenarios": ["S-2"], "reduction": 0.5},
                {
                    "type": "consequence",
                    "zones": ["Z-OPS"],
                    "category": "production",
                    "reduction": 0.3,
                },
            ],
        },
    ],
    "tolerance": {
        "safety": {1: 1e-2, 2: 1e-3, 3: 1e-4, 4: 1e-5},
        "financial": {"per_zone_ale": 1e5, "exceedance": [[1e6, 0.1], [1e7, 0.01]]},
    },
    "model": {"trials": 1000, "seed": 1},
}
"""A minimal valid site as plain data; copy it (``copy.deepcopy``) before changing it."""


def build(d: dict, file: str = "<test>") -> Site:
    """Validate plain data ``d`` (deep-copied) into a Site; raises SiteError."""
    return build_site(RawSite(data=copy.deepcopy(d), file=file))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_site() -> Site:
    """tests/data/tiny/site.yaml, loaded once (read-only)."""
    return load_site(REPO_ROOT / "tests" / "data" / "tiny" / "site.yaml")


@pytest.fixture(scope="session")
def water_site() -> Site:
    """data/sites/example-water, loaded once (read-only)."""
    return load_site(REPO_ROOT / "data" / "sites" / "example-water")


@pytest.fixture(scope="session")
def refinery_site() -> Site:
    """data/sites/example-refinery, loaded once (read-only)."""
    return load_site(REPO_ROOT / "data" / "sites" / "example-refinery")


@pytest.fixture
def base_site_dict() -> dict:
    """A fresh deep copy of BASE_SITE, free to change."""
    return copy.deepcopy(BASE_SITE)


@pytest.fixture
def make_site():
    """Factory: ``make_site(d)`` -> Site (raises SiteError), ``d`` plain data as in a file."""
    return build
