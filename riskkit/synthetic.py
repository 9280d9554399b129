"""Synthetic sites: random but valid sites for the tests and benchmarks of the optimiser."""

from __future__ import annotations

import numpy as np

from .site import RawSite, Site, build_site


def synthetic_site(
    n_scenarios: int = 60,
    n_candidates: int = 40,
    per_scenario: float = 5.0,
    seed: int = 0,
    *,
    sl_share: float = 0.25,
    group_share: float = 0.15,
    n_mandatory: int = 0,
    harm: bool = True,
    tolerance: dict | None = None,
) -> Site:
    """A random but valid site for tests and benchmarks of the optimiser.

    Scenarios sit in ``n_scenarios // 8 + 2`` zones, each entering through a conduit; a share
    ``sl_share`` of the candidates raise levels of a conduit in several FRs (so that SL effects
    act in steps and complement each other), the others reduce the frequency or a consequence
    category of chosen scenarios, until each scenario is touched by about ``per_scenario``
    candidates. Some candidates form exclusive pairs.

    Parameters
    ----------
    n_scenarios, n_candidates : int
    per_scenario : float
        Target mean number of candidates touching a scenario.
    seed : int
        Seed of the :class:`numpy.random.Generator` that draws everything.
    sl_share, group_share : float
        Shares of security-level candidates and of candidates in exclusive pairs.
    n_mandatory : int
        Candidates flagged mandatory.
    harm : bool
        Whether some scenarios have safety or environment consequences.
    tolerance : dict, optional
        The site's ``tolerance`` section.

    Returns
    -------
    Site
    """
    data = synthetic_data(
        n_scenarios,
        n_candidates,
        per_scenario,
        seed,
        sl_share=sl_share,
        group_share=group_share,
        n_mandatory=n_mandatory,
        harm=harm,
        tolerance=tolerance,
    )
    return build_site(RawSite(data=data, file="<synthetic>"))


def synthetic_data(
    n_scenarios: int = 60,
    n_candidates: int = 40,
    per_scenario: float = 5.0,
    seed: int = 0,
    *,
    sl_share: float = 0.25,
    group_share: float = 0.15,
    n_mandatory: int = 0,
    harm: bool = True,
    tolerance: dict | None = None,
) -> dict:
    """The site file content of :func:`synthetic_site` (same arguments), as plain data.

    For writing large sites to YAML (``yaml.safe_dump(synthetic_data(5000, 500))``) to time
    loading and the command line; ``build_site(RawSite(data=...))`` of it is the site
    :func:`synthetic_site` returns.

    Returns
    -------
    dict
    """
    rng = np.random.default_rng(seed)
    zones, conduits = _zones_and_conduits(rng, n_scenarios)
    scenarios = [_scenario(rng, s, conduits, harm) for s in range(n_scenarios)]
    cms = _candidates(rng, n_candidates)
    n_sl = int(round(sl_share * n_candidates))
    touched = _security_level_effects(rng, cms[:n_sl], scenarios)
    others = list(range(n_sl, n_candidates))
    _scenario_effects(rng, cms, others, scenarios, touched, per_scenario)
    for cm in cms:
        if not cm["effects"]:
            cm["effects"].append(
                {"type": "frequency", "scenarios": [scenarios[0]["id"]], "reduction": 0.1}
            )
    _groups_and_mandatory(rng, cms, others, group_share, n_candidates, n_mandatory)
    data = {
        "site": {
            "name": f"Synthetic site {n_scenarios}x{n_candidates} seed {seed}",
            "currency": "EUR",
        },
        "zones": zones,
        "conduits": conduits,
        "threat_actors": _ACTORS,
        "scenarios": scenarios,
        "countermeasures": cms,
        "tolerance": tolerance
        or {
            "safety": {1: 1e-2, 2: 1e-3, 3: 1e-4, 4: 1e-5},
            "environment": {1: 1e-1, 2: 1e-2, 3: 1e-3, 4: 1e-4},
            "financial": {"per_zone_ale": 5e5},
        },
        "model": {"trials": 2000, "seed": int(seed)},
    }
    return data


_FRS = [f"FR{k}" for k in range(1, 8)]

_ACTORS = [
    {
        "id": f"A{a}",
        "capability": a + 1,
        "attempt_rate": {"dist": "lognormal", "low": 0.5 * (4 - a), "high": 4.0 * (4 - a)},
    }
    for a in range(4)
]


def _zones_and_conduits(rng: np.random.Generator, n_scenarios: int) -> tuple[list, list]:
    """``n_scenarios // 8 + 2`` zones and ``n_scenarios // 4`` conduits with random SL-A."""
    nz = n_scenarios // 8 + 2
    zones = [
        {"id": f"Z{z:02d}", "kind": "control", "sl_a": [int(v) for v in rng.integers(0, 2, 7)]}
        for z in range(nz)
    ]
    conduits = []
    for c in range(max(1, n_scenarios // 4)):
        a = c % nz
        b = (a + 1 + int(rng.integers(0, nz - 1))) % nz
        conduits.append(
            {
                "id": f"C{c:02d}",
                "zones": [f"Z{a:02d}", f"Z{b:02d}"],
                "sl_a": [int(v) for v in rng.integers(0, 2, 7)],
            }
        )
    return zones, conduits


def _scenario(rng: np.random.Generator, s: int, conduits: list, harm: bool) -> dict:
    """Scenario ``s`` entering through a random conduit into one of its zones."""
    cond = conduits[int(rng.integers(0, len(conduits)))]
    zone = cond["zones"][int(rng.integers(0, 2))]
    k = 1 + int(rng.random() < 0.4)
    rec = {
        "id": f"S{s:03d}",
        "zone": zone,
        "actor": f"A{int(rng.integers(0, 4))}",
        "entry": cond["id"],
        "frs": sorted(rng.choice(_FRS[:4], size=k, replace=False).tolist()),
        "rate_share": float(rng.uniform(0.05, 0.5)),
        "vulnerability": {"dist": "pert", "low": 0.1, "mode": 0.4, "high": 0.9},
        "consequences": {
            "production": {
                "hours": {"dist": "pert", "low": 4, "mode": 24, "high": 200},
                "cost_per_hour": float(rng.choice([5000, 10000, 20000, 40000])),
            },
            "recovery": {"dist": "lognormal", "low": 2e4, "high": float(rng.uniform(2e5, 2e6))},
        },
    }
    if harm and rng.random() < 0.3:
        rec["consequences"]["safety"] = {
            "severity": int(rng.integers(1, 5)),
            "probability": float(rng.uniform(0.01, 0.3)),
        }
    if harm and rng.random() < 0.2:
        rec["consequences"]["environment"] = {
            "severity": int(rng.integers(1, 4)),
            "probability": float(rng.uniform(0.05, 0.5)),
        }
    return rec


def _candidates(rng: np.random.Generator, n: int) -> list[dict]:
    """``n`` candidates with random costs and no effects yet."""
    cms = []
    for i in range(n):
        capex = float(np.round(rng.lognormal(np.log(6e4), 0.8), -2))
        cms.append(
            {
                "id": f"CM{i:03d}",
                "status": "candidate",
                "cost": {
                    "capex": capex,
                    "opex": float(np.round(capex * rng.uniform(0.02, 0.2), -2)),
                    "lifetime_years": int(rng.integers(3, 16)),
                },
                "effects": [],
            }
        )
    return cms


def _security_level_effects(rng: np.random.Generator, cms: list, scenarios: list) -> np.ndarray:
    """Give each of ``cms`` an SL effect on a conduit; how often each scenario is touched."""
    by_conduit: dict[str, list[int]] = {}
    for s, rec in enumerate(scenarios):
        by_conduit.setdefault(rec["entry"], []).append(s)
    touched = np.zeros(len(scenarios))
    for i, cm in enumerate(cms):
        cond = list(by_conduit)[i % len(by_conduit)]
        sub = rng.choice(_FRS[:4], size=int(rng.integers(1, 4)), replace=False)
        lvl = int(rng.integers(1, 4))
        cm["effects"].append(
            {
                "type": "security_level",
                "conduits": [cond],
                "levels": {f: lvl for f in sorted(sub.tolist())},
            }
        )
        touched[by_conduit[cond]] += 1
    return touched


def _scenario_effects(rng, cms, others, scenarios, touched, per_scenario) -> None:
    """Frequency or consequence effects of ``others`` until each scenario has about enough."""
    if not others:
        return
    for s in range(len(scenarios)):
        want = max(1, int(rng.poisson(max(per_scenario - touched[s], 0.5))))
        want = min(want, len(others))
        for i in rng.choice(others, size=want, replace=False):
            cms[int(i)]["effects"].append(_effect(rng, scenarios[s]["id"]))


def _effect(rng: np.random.Generator, sid: str) -> dict:
    """A random frequency (60 %) or consequence effect on scenario ``sid``."""
    if rng.random() < 0.6:
        lo = float(rng.uniform(0.1, 0.6))
        return {
            "type": "frequency",
            "scenarios": [sid],
            "reduction": {
                "dist": "pert",
                "low": lo,
                "mode": lo + 0.15,
                "high": min(0.99, lo + 0.35),
            },
        }
    return {
        "type": "consequence",
        "scenarios": [sid],
        "category": str(rng.choice(["production", "recovery"])),
        "reduction": float(np.round(rng.uniform(0.2, 0.8), 2)),
    }


def _groups_and_mandatory(rng, cms, others, group_share, n_candidates, n_mandatory) -> None:
    """Exclusive pairs among ``others``, then ``n_mandatory`` mandatory ones."""
    pool = list(rng.permutation(others))
    n_pairs = int(group_share * n_candidates / 2)
    for p in range(n_pairs):
        if len(pool) < 2:
            break
        for i in (pool.pop(), pool.pop()):
            cms[int(i)]["exclusive_group"] = f"G{p}"
    for i in pool[:n_mandatory]:
        cms[int(i)]["mandatory"] = True
