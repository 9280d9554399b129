"""Tests of the ``minimal`` SL-T method and the ``conduit_rule`` option (issue 10).

Every expected vector is worked out by hand from the site built in the test, or by a brute
force over all 4^7 vectors written here from docs/model.md (the rate times 10^-min(L, c), L
the weakest of the scenario's FRs), never from the code under test. Each test names the method
and the conduit rule it uses, so the tests hold whatever the defaults become.
"""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest

from riskkit.levels import target_levels
from riskkit.site import RawSite, build_site

FRS = ["FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7"]
# today's rules, written out so the tests hold whatever the model defaults become
MODEL_TODAY: dict = {"sl_effect": "orders", "fr_roles": "frequency", "layering": "max"}


def build(d):
    return build_site(RawSite(data=copy.deepcopy(d), file="<test>"))


def minimal(site, **kw):
    return target_levels(
        site, method="minimal", conduit_rule=kw.pop("conduit_rule", "zones_max"), **kw
    )


def one_zone(per_zone_ale=1.5e4):
    """One zone, one actor (capability 4, 10 attempts/yr), three scenarios.

    S1: λ = 10 x 0.1 x 0.5 = 0.5/yr, FR1+FR3; safety severity 3 w.p. 0.2 -> 0.1/yr against the
        strictest class <= 3, f_3 = 1e-4: needs 10^-3, L >= 3; environment severity 2 (w.p. 1)
        0.5/yr against f_2 = 1e-2: L >= 2.
    S2: own rate 0.2/yr, FR3+FR7, equipment 1e6 -> ALE 2e5 x 10^-min(FR3, FR7).
    S3: λ = 10 x 0.01 = 0.1/yr, FR2, equipment 1e5 -> ALE 1e4 x 10^-FR2.
    Zone ALE tolerance 1.5e4: with FR1 = FR3 = 3 for S1, the floor gives 2e4 + 1e3 > 1.5e4;
    FR7 = 2 gives 2e3 + 1e3 = 3e3 (sum + 1); FR2 = 2 alone gives 2e4 + 1e2, still too much.
    So SL-T = (3, 1, 3, 1, 1, 1, 2).
    """
    return {
        "site": {"name": "one zone"},
        "zones": [{"id": "Z", "kind": "control", "purdue_level": 1}],
        "threat_actors": [{"id": "A", "capability": 4, "attempt_rate": 10}],
        "scenarios": [
            {
                "id": "S1",
                "zone": "Z",
                "actor": "A",
                "frs": ["FR1", "FR3"],
                "rate_share": 0.1,
                "vulnerability": 0.5,
                "consequences": {
                    "safety": {"severity": 3, "probability": 0.2},
                    "environment": {"severity": 2},
                },
            },
            {
                "id": "S2",
                "zone": "Z",
                "actor": "A",
                "frs": ["FR3", "FR7"],
                "rate": 0.2,
                "consequences": {"equipment": 1e6},
            },
            {
                "id": "S3",
                "zone": "Z",
                "actor": "A",
                "frs": ["FR2"],
                "rate_share": 0.01,
                "consequences": {"equipment": 1e5},
            },
        ],
        "tolerance": {
            "safety": {1: 1e-2, 2: 1e-3, 3: 1e-4},
            "environment": {2: 1e-2},
            "financial": {"per_zone_ale": per_zone_ale},
        },
        "model": dict(MODEL_TODAY),
    }


# --------------------------------------------------------------------------------------------
# closed form on one zone
# --------------------------------------------------------------------------------------------


def test_minimal_closed_form_one_zone():
    t = minimal(build(one_zone()))
    assert t.method == "minimal"
    assert t.vector("Z") == (3, 1, 3, 1, 1, 1, 2)
    # FR1 one level lower: S1's safety rate 0.1 x 1e-2 = 1e-3 > 1e-4
    d = t.driver("Z", "FR1")
    assert (d["scenario"], d["dimension"], d["basis"]) == ("S1", "safety>=3", "scenario")
    assert d["rrf"] == pytest.approx(0.1 / 1e-4)  # the unmitigated ratio
    assert t.driver("Z", "FR3")["dimension"] == "safety>=3"
    # FR7 one level lower: ALE 2e5 x 0.1 + 1e4 x 0.1 = 2.1e4 > 1.5e4; S2 is tagged FR7
    d7 = t.driver("Z", "FR7")
    assert (d7["scenario"], d7["dimension"]) == ("S2", "financial:ale")
    assert d7["rrf"] == pytest.approx(2.1e5 / 1.5e4)
    # FR2 at 0: 2e3 + 1e4 = 1.2e4 <= 1.5e4, nothing binds: the floor
    assert t.driver("Z", "FR2")["basis"] == "floor"
    for fr in ("FR4", "FR5", "FR6"):
        assert t.driver("Z", fr)["basis"] == "floor"
    assert t.flags.empty
    # each scenario's protection under the zone's SL-T: min over its FRs
    assert list(t.scenarios["protection"]) == [3, 2, 1]


def test_minimal_ale_is_the_zone_total_not_a_share():
    # per_zone_ale 1e5: floor gives 2e4 + 1e3 <= 1e5, so only S1's harm asks for more
    t = minimal(build(one_zone(per_zone_ale=1e5)))
    assert t.vector("Z") == (3, 1, 3, 1, 1, 1, 1)


def test_dummy_scenario_moves_rrf_but_not_minimal():
    """Issue 10, point 4: a dummy scenario lifts rrf's SL-T through the equal share."""
    d = one_zone(per_zone_ale=2e5)
    d["scenarios"] = [s for s in d["scenarios"] if s["id"] == "S2"]
    d["scenarios"][0]["consequences"] = {"equipment": 7.5e6}  # ALE 1.5e6
    d["tolerance"] = {"financial": {"per_zone_ale": 2e5}}
    dummy = copy.deepcopy(d)
    dummy["scenarios"].append(
        {"id": "S9", "zone": "Z", "actor": "A", "frs": ["FR2"], "rate": 1e-3,
         "consequences": {"equipment": 1.0}}
    )  # fmt: skip
    # rrf: alone RRF 1.5e6 / 2e5 = 7.5 -> SL 1; with the dummy 1.5e6 / 1e5 = 15 -> SL 2
    assert target_levels(build(d), method="rrf").vector("Z")[2] == 1
    assert target_levels(build(dummy), method="rrf").vector("Z")[2] == 2
    # minimal: 1.5e6 x 0.1 + 1e-3 x 0.1 <= 2e5 at the floor, with or without the dummy
    assert minimal(build(d)).vector("Z") == (1,) * 7
    assert minimal(build(dummy)).vector("Z") == (1,) * 7


def test_duplicate_scenario_does_not_change_minimal():
    base = build(one_zone())
    want = minimal(base).vector("Z")
    # an exact copy of the harm scenario: its harm tolerance is per scenario
    d = one_zone()
    twin = copy.deepcopy(d["scenarios"][0])
    twin["id"] = "S1b"
    d["scenarios"].append(twin)
    assert minimal(build(d)).vector("Z") == want
    # the money scenario written twice, each with half its rate: the same zone risk
    d = one_zone()
    d["scenarios"][1]["rate"] = 0.1
    half = copy.deepcopy(d["scenarios"][1])
    half["id"] = "S2b"
    d["scenarios"].append(half)
    assert minimal(build(d)).vector("Z") == want


def test_unreachable_harm_is_flagged_and_relaxed():
    d = one_zone(per_zone_ale=1e9)
    d["threat_actors"][0]["capability"] = 2  # levels above 2 do nothing against this actor
    t = minimal(build(d))
    # S1 safety: best 0.1 x 1e-2 = 1e-3 against 1e-4; relaxed to 1e-3, met at FR1 = FR3 = 2
    assert t.vector("Z") == (2, 1, 2, 1, 1, 1, 1)
    f = t.flags.set_index("scenario")
    assert list(f.index) == ["S1"]
    assert f.loc["S1", "reason"] == "capability"
    assert f.loc["S1", "dimension"] == "safety>=3"
    assert f.loc["S1", "residual_rrf"] == pytest.approx(10.0)
    assert bool(t.driver("Z", "FR1")["capped"]) is True


# --------------------------------------------------------------------------------------------
# brute force over FR levels on small zones
# --------------------------------------------------------------------------------------------


def _random_zone(rng, n):
    scen = []
    for i in range(n):
        frs = sorted(rng.choice(FRS, size=int(rng.integers(1, 4)), replace=False).tolist())
        s = {
            "id": f"S{i}",
            "zone": "Z",
            "actor": f"A{int(rng.integers(1, 5))}",
            "frs": frs,
            "rate": float(np.round(rng.uniform(0.05, 3.0), 3)),
            "consequences": {"equipment": float(np.round(rng.uniform(1e4, 2e6), -2))},
        }
        if rng.random() < 0.5:
            s["consequences"]["safety"] = {
                "severity": int(rng.integers(1, 5)),
                "probability": float(np.round(rng.uniform(0.01, 0.5), 3)),
            }
        scen.append(s)
    return {
        "site": {"name": "random zone"},
        "zones": [{"id": "Z", "kind": "control"}, {"id": "Y", "kind": "operations"}],
        "conduits": [{"id": "C", "zones": ["Y", "Z"]}],
        "threat_actors": [
            {"id": f"A{c}", "capability": c, "attempt_rate": 1} for c in (1, 2, 3, 4)
        ],
        "scenarios": scen,
        "tolerance": {
            "safety": {1: 1e-1, 2: 1e-2, 3: 1e-3, 4: 1e-4},
            "financial": {"per_zone_ale": float(rng.choice([1e4, 5e4, 2e5]))},
        },
        "model": dict(MODEL_TODAY),
    }


def _brute_force(d):
    """Least feasible vector by (sum, lexicographic), from the model's rules written here."""
    cap = {a["id"]: a["capability"] for a in d["threat_actors"]}
    tol = d["tolerance"]
    limit_ale = tol["financial"]["per_zone_ale"]

    def measures(v):
        out, ale = [], 0.0
        for s in d["scenarios"]:
            L = min(v[FRS.index(f)] for f in s["frs"])
            lam = s["rate"] * 10.0 ** -min(L, cap[s["actor"]])
            ale += lam * s["consequences"]["equipment"]
            h = s["consequences"].get("safety")
            if h:
                f = min(tol["safety"][k] for k in range(1, h["severity"] + 1))
                out.append((lam * h["probability"], f))
        out.append((ale, limit_ale))
        return out

    best = measures((4,) * 7)
    limits = [max(lim, m) * (1 + 1e-9) for (m, lim) in best]
    cands = sorted(itertools.product(range(1, 5), repeat=7), key=lambda v: (sum(v), v))
    for v in cands:
        if all(m <= lim for (m, _), lim in zip(measures(v), limits)):
            return v
    raise AssertionError("all-4 must be feasible")


@pytest.mark.parametrize("seed", range(12))
def test_minimal_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    d = _random_zone(rng, int(rng.integers(1, 5)))
    t = minimal(build(d))
    assert t.vector("Z") == _brute_force(d)
    assert t.vector("Y") == (1,) * 7  # no scenario: the floor


# --------------------------------------------------------------------------------------------
# the site's exceedance points on aggregate annual loss
# --------------------------------------------------------------------------------------------


def aggregate_site(p):
    """Events of 1e5 each never reach 1e6 alone; ten of them in one year do.

    50 attempts/yr get through: at SL 1 the rate is 5/yr, P(N >= 10) = 0.0318 (Poisson); at
    SL 2 it is 0.5/yr, P(N >= 10) = 1.7e-10. The ALE tolerance does not bind.
    """
    return {
        "site": {"name": "aggregate"},
        "zones": [{"id": "Z", "kind": "control"}],
        "threat_actors": [{"id": "A", "capability": 4, "attempt_rate": 1}],
        "scenarios": [
            {"id": "S1", "zone": "Z", "actor": "A", "frs": ["FR5"], "rate": 50,
             "consequences": {"equipment": 1e5}}
        ],
        "tolerance": {"financial": {"per_zone_ale": 1e9, "exceedance": [[1e6, p]]}},
        "model": {**MODEL_TODAY, "trials": 4000, "seed": 11},
    }  # fmt: skip


def _poisson_sf(k, lam):
    """P(N >= k) for N ~ Poisson(lam)."""
    return 1.0 - sum(math.exp(-lam) * lam**i / math.factorial(i) for i in range(k))


def test_exceedance_on_aggregate_loss_raises_a_level():
    site = build(aggregate_site(0.01))
    # the rrf method splits the point over single events: G(1e6) = 0, it asks for nothing
    assert target_levels(site, method="rrf").vector("Z") == (1,) * 7
    t = minimal(site)
    assert t.vector("Z") == (1, 1, 1, 1, 2, 1, 1)
    d = t.driver("Z", "FR5")
    assert d["dimension"] == "financial:P(L>=1e+06)"
    ex = t.meta["exceedance"]
    assert bool(ex.loc[0, "holds"]) and ex.loc[0, "estimate"] <= 0.01
    assert [r[:3] for r in t.meta["raises"]] == [("Z", "FR5", 2)]
    # the estimate before the raise was the Poisson tail at λ = 5, within 4 SE
    q = t.meta["raises"][0][4]
    want = _poisson_sf(10, 5.0)
    assert abs(q - want) <= 4 * math.sqrt(want * (1 - want) / 4000)


def test_exceedance_point_that_holds_is_reported_with_its_se():
    t = minimal(build(aggregate_site(0.06)))
    assert t.vector("Z") == (1,) * 7
    ex = t.meta["exceedance"].iloc[0]
    want = _poisson_sf(10, 5.0)
    se = math.sqrt(want * (1 - want) / 4000)
    assert abs(ex["estimate"] - want) <= 4 * se
    assert ex["se"] == pytest.approx(math.sqrt(ex["estimate"] * (1 - ex["estimate"]) / 4000))
    assert ex["trials"] == 4000 and bool(ex["holds"])
    assert t.meta["raises"] == []
    # the check can be switched off
    off = minimal(build(aggregate_site(0.01)), exceedance=False)
    assert off.vector("Z") == (1,) * 7 and off.meta["exceedance"] is None


# --------------------------------------------------------------------------------------------
# conduit rule
# --------------------------------------------------------------------------------------------


def conduit_site():
    """Zone Z: S1 enters through C1 (safety needs L >= 3 in FR1), S2 has no entry (FR2 3).

    Under zones_max both conduits take Z's vector; under entry C1 carries only S1 (FR1 3) and
    C2, which no scenario enters through, stays at the floor.
    """
    harm = {"safety": {"severity": 4, "probability": 1.0}}
    return {
        "site": {"name": "conduits"},
        "zones": [{"id": "Z", "kind": "control"}, {"id": "Y", "kind": "operations"},
                  {"id": "X", "kind": "operations"}],
        "conduits": [{"id": "C1", "zones": ["Y", "Z"]}, {"id": "C2", "zones": ["X", "Z"]}],
        "threat_actors": [{"id": "A", "capability": 4, "attempt_rate": 1}],
        "scenarios": [
            {"id": "S1", "zone": "Z", "actor": "A", "frs": ["FR1"], "entry": "C1",
             "rate": 0.1, "consequences": harm},
            {"id": "S2", "zone": "Z", "actor": "A", "frs": ["FR2"], "rate": 0.1,
             "consequences": harm},
        ],
        "tolerance": {"safety": {4: 1e-4}},
        "model": dict(MODEL_TODAY),
    }  # fmt: skip


@pytest.mark.parametrize("method", ["rrf", "minimal"])
def test_conduit_rule_entry_and_zones_max(method):
    site = build(conduit_site())
    zm = target_levels(site, method=method, conduit_rule="zones_max")
    assert zm.vector("Z") == (3, 3, 1, 1, 1, 1, 1)
    assert zm.vector("C1") == zm.vector("C2") == (3, 3, 1, 1, 1, 1, 1)
    en = target_levels(site, method=method, conduit_rule="entry")
    assert en.vector("Z") == (3, 3, 1, 1, 1, 1, 1)
    assert en.vector("C1") == (3, 1, 1, 1, 1, 1, 1)
    assert en.vector("C2") == (1,) * 7
    d = en.driver("C1", "FR1")
    assert (d["scenario"], d["via"], d["basis"]) == ("S1", "Z", "scenario")
    assert en.driver("C2", "FR1")["basis"] == "floor"
    s = en.summary.set_index("id")
    assert (s.loc["C1", "scenarios"], s.loc["C2", "scenarios"]) == (1, 0)
    assert en.options["conduit_rule"] == "entry"


def test_defaults_are_model_v2():
    # issue 10: the model-v2 defaults (minimal SL-T, conduits from their entering scenarios)
    from riskkit.levels import DEFAULT_CONDUIT_RULE, DEFAULT_METHOD

    assert (DEFAULT_METHOD, DEFAULT_CONDUIT_RULE) == ("minimal", "entry")
    site = build(one_zone())
    t = target_levels(site)
    assert t.method == "minimal" and t.options["conduit_rule"] == "entry"


def test_bad_options_are_refused():
    site = build(one_zone())
    with pytest.raises(ValueError, match="conduit_rule must be one of zones_max, entry, 'x'"):
        target_levels(site, method="minimal", conduit_rule="x")
    with pytest.raises(TypeError, match="unknown option 'severity_map' for method 'minimal'"):
        target_levels(site, method="minimal", severity_map={})


def test_refinery_dummy_scenario_in_z_sup(refinery_site):
    """Issue 10, point 4, on the example refinery: a dummy scenario in Z-SUP lifts S-15 from
    SL 1 to SL 2 under rrf (its ALE share shrinks from 250,000/n to 250,000/(n+1)); the
    minimal SL-T of Z-SUP does not move."""
    from riskkit.io import site_to_dict

    d = site_to_dict(refinery_site)
    d["scenarios"].append(
        {"id": "S-DUMMY", "zone": "Z-SUP", "actor": "A-RANSOM", "frs": ["FR4"], "rate": 1e-3,
         "consequences": {"equipment": 1.0}}
    )  # fmt: skip
    dummy = build(d)
    before = target_levels(refinery_site, method="rrf").scenarios.loc["S-15", "sl_t"]
    after = target_levels(dummy, method="rrf").scenarios.loc["S-15", "sl_t"]
    assert (before, after) == (1, 2)
    kw = {"exceedance": False}
    assert minimal(dummy, **kw).vector("Z-SUP") == minimal(refinery_site, **kw).vector("Z-SUP")


# --------------------------------------------------------------------------------------------
# every model option: the search against a brute force on rules.scenario_factors
# --------------------------------------------------------------------------------------------

OPTIONS = [
    {"sl_effect": "orders", "fr_roles": "frequency", "layering": "max"},
    {"sl_effect": "capability", "fr_roles": "frequency", "layering": "max"},
    {"sl_effect": "orders", "fr_roles": "split", "layering": "independent"},
    {"sl_effect": "capability", "fr_roles": "split", "layering": "independent"},
]


def _option_zone(rng, model):
    """A random zone whose scenarios use FR6/FR7 (consequence under split), production loss
    (what FR6/FR7 scale), LOPA layers (one cyber-defeatable) and an entry conduit."""
    d = _random_zone(rng, int(rng.integers(2, 5)))
    for s in d["scenarios"]:
        s["frs"] = sorted(set(s["frs"]) | {str(rng.choice(["FR6", "FR7"]))})
        s["consequences"]["production"] = {
            "hours": float(rng.integers(5, 200)),
            "cost_per_hour": float(rng.integers(1000, 20000)),
        }
        if "safety" in s["consequences"]:
            s["protection_layers"] = [
                {"name": "relief valve", "pfd": 0.01},
                {"name": "SIS trip", "pfd": 0.1, "cyber_defeatable": True},
            ]
        if rng.random() < 0.5:
            s["entry"] = "C"
    d["model"] = dict(model)
    return d


def _oracle(site):
    """Least feasible vector of zone Z by brute force, risk from rules.scenario_factors."""
    from riskkit import rules
    from riskkit.exposure import expected_losses

    grid = np.array(sorted(itertools.product(range(1, 5), repeat=7), key=lambda v: (sum(v), v)))
    zones = {z.id: np.zeros(7, dtype=int) for z in site.zones}
    conduits = {c.id: np.zeros(7, dtype=int) for c in site.conduits}
    zones["Z"] = grid
    ex = expected_losses(site, "unmitigated")
    tol = site.tolerance
    meas, limits = [], []
    ale = np.zeros(len(grid))
    for s in site.scenarios:
        f = rules.scenario_factors(site, s, zones, conduits)
        f0 = rules.scenario_factors(site, s, {**zones, "Z": np.zeros(7, int)}, conduits)
        lam = ex.loc[s.id, "event_rate"] * np.asarray(f.rate) / f0.rate
        money = rules.money_per_event(s)
        ale = ale + lam * sum(m * np.asarray(f.consequence[k]) for k, m in money.items())
        h = s.consequences.safety
        if h is not None and h.severity > 0:
            meas.append(lam * h.probability * f.harm["safety"])
            limits.append(min(tol.safety[k] for k in range(1, h.severity + 1)))
    meas.append(ale)
    limits.append(tol.financial.per_zone_ale)
    m = np.array(meas)  # (constraints, vectors)
    lim = np.maximum(np.array(limits), m.min(axis=1)) * (1 + 1e-9)
    ok = (m <= lim[:, None]).all(axis=0)
    return tuple(int(v) for v in grid[int(np.argmax(ok))])


@pytest.mark.parametrize("model", OPTIONS, ids=lambda m: "-".join(m.values()))
@pytest.mark.parametrize("seed", range(3))
def test_minimal_under_every_model_option(model, seed):
    site = build(_option_zone(np.random.default_rng(100 + seed), model))
    assert minimal(site).vector("Z") == _oracle(site)


def lateral_site(bypass):
    """S starts in O and attacks Z over O-M-Z (and, with ``bypass``, straight over C-OZ).

    Safety severity 4 at 0.1/yr against 1e-4: FR1 must reach 3. The scenario enters Z
    through the last conduit of each path: C-MZ, and C-OZ with the bypass.
    """
    conduits = [{"id": "C-OM", "zones": ["O", "M"]}, {"id": "C-MZ", "zones": ["M", "Z"]}]
    if bypass:
        conduits.append({"id": "C-OZ", "zones": ["O", "Z"]})
    return {
        "site": {"name": "lateral"},
        "zones": [{"id": i, "kind": "control"} for i in ("O", "M", "Z")],
        "conduits": conduits,
        "threat_actors": [{"id": "A", "capability": 4, "attempt_rate": 1}],
        "scenarios": [
            {"id": "S", "zone": "Z", "origin": "O", "actor": "A", "frs": ["FR1"], "rate": 0.1,
             "consequences": {"safety": {"severity": 4, "probability": 1.0}}}
        ],
        "tolerance": {"safety": {4: 1e-4}},
        "model": dict(MODEL_TODAY),
    }  # fmt: skip


def test_entry_rule_takes_the_last_conduit_of_each_attack_path():
    site = build(lateral_site(bypass=True))
    t = target_levels(site, method="rrf", conduit_rule="entry")
    assert t.vector("C-MZ") == t.vector("C-OZ") == (3, 1, 1, 1, 1, 1, 1)
    assert t.vector("C-OM") == (1,) * 7  # crossed on the way, not an entry
    s = t.summary.set_index("id")
    assert (s.loc["C-MZ", "scenarios"], s.loc["C-OM", "scenarios"]) == (1, 0)


def test_minimal_entry_rule_on_a_single_path():
    # one path O -> M -> Z: C-MZ alone (zones at 0) carries S exactly as the zone would
    site = build(lateral_site(bypass=False))
    t = minimal(site, conduit_rule="entry")
    assert t.vector("Z") == (3, 1, 1, 1, 1, 1, 1)
    assert t.vector("C-MZ") == (3, 1, 1, 1, 1, 1, 1)
    assert t.vector("C-OM") == (1,) * 7
