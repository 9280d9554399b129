"""Tests of riskkit.levels: SL-T methods, drivers, flags, gaps and zone-model checks.

Every expected number below is computed by hand from the site built in the test (closed forms
of MODEL.md section 3), never from the code under test.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from riskkit.levels import (
    compare_methods,
    gaps,
    matrix_class,
    model_checks,
    required_level,
    target_levels,
    threat_level,
)
from riskkit.site import RawSite, build_site

FRS = ["FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7"]

# The rrf method with zones_max conduits (the defaults before model v2): the closed forms below
# are those of this method, so the tests of it name it rather than rely on the default.
RRF = {"method": "rrf", "conduit_rule": "zones_max"}


def build(d):
    return build_site(RawSite(data=copy.deepcopy(d), file="<test>"))


def base_site():
    """One control zone, one actor (capability 4, 10 attempts/yr), three scenarios.

    S1: λ = 10 x 0.1 x 0.5 = 0.5/yr; safety severity 3 w.p. 0.2 -> 0.1/yr of class >= 1, 2, 3;
        environment severity 2 -> 0.5/yr. RRF: safety>=3 = 0.1 / 1e-4 = 1000 (max),
        safety>=2 = 100, safety>=1 = 10, environment>=2 = 0.5 / 1e-2 = 50. ℓ = 3.
    S2: own rate 0.2/yr, vulnerability 1, equipment 1e6 -> ALE 2e5; two money scenarios share
        per_zone_ale 1e5 -> 5e4 each: RRF 4, ℓ = 1.
    S3: λ = 10 x 0.01 = 0.1/yr, equipment 1e5 -> ALE 1e4: RRF 0.2, ℓ = 0.
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
            "financial": {"per_zone_ale": 1e5},
        },
    }


# --------------------------------------------------------------------------------------------
# small rules
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rrf", "r", "level"),
    [(0.0, 10, 0), (1.0, 10, 0), (1.0001, 10, 1), (10.0, 10, 1), (10.5, 10, 2),
     (0.1 / 1e-4, 10, 3), (1e4, 10, 4), (1e9, 10, 4), (4.0, 2, 2), (4.1, 2, 3)],
)  # fmt: skip
def test_required_level(rrf, r, level):
    assert required_level(rrf, r) == level


def test_required_level_rejects_bad_r():
    with pytest.raises(ValueError, match="must be > 1, 1 was given"):
        required_level(5.0, 1)


def test_matrix_class_boundaries():
    th = [1e-3, 1e-2, 1e-1]
    assert [matrix_class(v, th) for v in (1e-4, 1e-3, 5e-3, 1e-1, 7.0)] == [0, 1, 1, 3, 3]


# --------------------------------------------------------------------------------------------
# rrf method: closed form on one zone
# --------------------------------------------------------------------------------------------


def test_rrf_closed_form_one_zone():
    t = target_levels(build(base_site()), **RRF)
    sc = t.scenarios
    assert sc.loc["S1", "rrf"] == pytest.approx(1000.0)
    assert sc.loc["S1", "dimension"] == "safety>=3"
    assert sc.loc["S2", "rrf"] == pytest.approx(4.0)
    assert sc.loc["S2", "dimension"] == "financial:ale"
    assert sc.loc["S3", "rrf"] == pytest.approx(0.2)
    assert list(sc["required"]) == [3, 1, 0]
    assert list(sc["sl_t"]) == [3, 1, 0]
    assert not sc["capped"].any()
    # FR1: S1 -> 3; FR2: only S3 (level 0) -> floor 1; FR3: max(S1 3, S2 1); FR7: S2 -> 1
    assert t.vector("Z") == (3, 1, 3, 1, 1, 1, 1)
    r = t.rrfs.set_index(["scenario", "dimension"])["rrf"]
    assert r[("S1", "safety>=1")] == pytest.approx(10.0)
    assert r[("S1", "safety>=2")] == pytest.approx(100.0)
    assert r[("S1", "environment>=2")] == pytest.approx(50.0)
    assert t.flags.empty


def test_drivers_trace_each_value_to_a_scenario():
    t = target_levels(build(base_site()), **RRF)
    d = t.driver("Z", "FR1")
    assert (d["scenario"], d["basis"], d["dimension"]) == ("S1", "scenario", "safety>=3")
    assert d["rrf"] == pytest.approx(1000.0)
    assert t.driver("Z", "FR3")["scenario"] == "S1"  # 3 beats S2's 1
    assert t.driver("Z", "FR7")["scenario"] == "S2"
    fr2 = t.driver("Z", "FR2")
    assert fr2["basis"] == "floor" and pd.isna(fr2["scenario"]) and fr2["sl_t"] == 1
    assert len(t.drivers) == 7
    assert set(t.drivers.columns) >= {"kind", "id", "fr", "sl_t", "scenario", "rrf", "capped"}
    assert t.zones.dtypes.map(lambda x: np.issubdtype(x, np.integer)).all()


def test_r_changes_levels_and_beyond_sl4_is_flagged():
    d = base_site()
    d["model"] = {"sl_reduction_per_level": 2}
    t = target_levels(build(d), **RRF)
    # log2(1000) = 9.97 -> clamp 4; log2(4) = 2
    assert list(t.scenarios["required"]) == [4, 2, 0]
    f = t.flags.set_index("scenario")
    assert list(f.index) == ["S1"]
    assert f.loc["S1", "reason"] == "beyond-sl4"
    assert f.loc["S1", "residual_rrf"] == pytest.approx(1000 / 16)


def test_capability_cap_binds_and_flags():
    d = base_site()
    d["threat_actors"][0]["capability"] = 2
    t = target_levels(build(d), **RRF)
    s1 = t.scenarios.loc["S1"]
    assert (s1["required"], s1["sl_t"], bool(s1["capped"])) == (3, 2, True)
    assert t.vector("Z") == (2, 1, 2, 1, 1, 1, 1)
    assert bool(t.driver("Z", "FR1")["capped"]) is True
    f = t.flags.set_index("scenario")
    assert list(f.index) == ["S1"]
    assert (f.loc["S1", "required"], f.loc["S1", "capability"]) == (3, 2)
    assert f.loc["S1", "reason"] == "capability"
    assert f.loc["S1", "residual_rrf"] == pytest.approx(1000 / 100)
    assert "non-hackable" in f.loc["S1", "message"]
    # without the cap the level stands, the flag remains (it is a property of the risk)
    u = target_levels(build(d), cap=False, **RRF)
    assert u.vector("Z") == (3, 1, 3, 1, 1, 1, 1)
    assert not u.scenarios["capped"].any()
    assert list(u.flags["scenario"]) == ["S1"]


def test_cap_does_not_bind_when_capability_suffices():
    d = base_site()
    d["threat_actors"][0]["capability"] = 3
    t = target_levels(build(d))
    assert not t.scenarios["capped"].any()
    assert t.flags.empty


def test_exceedance_share_closed_form():
    d = base_site()
    # constant losses: G_S2(1e6) = 1 (loss exactly 1e6), G_S3(1e6) = 0; N = 2 money scenarios
    d["tolerance"]["financial"]["exceedance"] = [[1e6, 0.05]]
    t = target_levels(build(d))
    r = t.rrfs.set_index(["scenario", "dimension"])["rrf"]
    expect = 0.2 / (-math.log(1 - 0.05 / 2))  # λ G / -ln(1 - p/N) = 7.90 > the ALE's 4
    assert r[("S2", "financial:P(L>=1e+06)")] == pytest.approx(expect)
    assert r[("S3", "financial:P(L>=1e+06)")] == 0.0
    assert t.scenarios.loc["S2", "dimension"] == "financial:P(L>=1e+06)"
    assert t.scenarios.loc["S2", "required"] == required_level(expect)


def test_ale_share_uses_zone_money_scenarios_only():
    d = base_site()
    # a second zone with one money scenario: Z keeps n = 2, Y has n = 1
    d["zones"].append({"id": "Y", "kind": "operations", "purdue_level": 3})
    d["scenarios"].append(
        {"id": "S4", "zone": "Y", "actor": "A", "frs": ["FR5"], "rate": 0.1,
         "consequences": {"equipment": 2e6}}
    )  # fmt: skip
    t = target_levels(build(d))
    assert t.scenarios.loc["S2", "rrf"] == pytest.approx(4.0)
    assert t.scenarios.loc["S4", "rrf"] == pytest.approx(0.1 * 2e6 / 1e5)  # 2 -> ℓ 1
    assert t.vector("Y") == (1, 1, 1, 1, 1, 1, 1)


def test_conduit_takes_elementwise_max_of_its_zones():
    d = base_site()
    d["zones"].append({"id": "Y", "kind": "supervisory", "purdue_level": 2})
    d["scenarios"].append(
        {"id": "S4", "zone": "Y", "actor": "A", "frs": ["FR2", "FR5"], "rate": 1.0,
         "consequences": {"safety": {"severity": 1}}}
    )  # fmt: skip  # RRF 1 / 1e-2 = 100 -> 2
    d["conduits"] = [{"id": "C", "zones": ["Y", "Z"]}]
    t = target_levels(build(d), **RRF)
    assert t.vector("Y") == (1, 2, 1, 1, 2, 1, 1)
    assert t.vector("C") == (3, 2, 3, 1, 2, 1, 1)
    dc = t.drivers[t.drivers["kind"] == "conduit"].set_index("fr")
    assert dc.loc["FR1", "via"] == "Z" and dc.loc["FR1", "scenario"] == "S1"
    assert dc.loc["FR5", "via"] == "Y" and dc.loc["FR5", "scenario"] == "S4"
    assert list(t.conduits.index) == ["C"]
    with pytest.raises(KeyError, match="no zone or conduit 'Q'"):
        t.vector("Q")


def test_summary_and_unknown_options():
    t = target_levels(build(base_site()), **RRF)
    row = t.summary.set_index("id").loc["Z"]
    assert (row["max_sl_t"], row["scenarios"], row["flagged"], row["top_driver"]) == (
        3, 3, 0, "S1")  # fmt: skip
    with pytest.raises(TypeError, match="unknown option 'bogus'"):
        target_levels(build(base_site()), bogus=1)
    with pytest.raises(ValueError, match="method must be one of"):
        target_levels(build(base_site()), method="magic")
    with pytest.raises(ValueError, match="'p200' was given"):
        target_levels(build(base_site()), statistic="p200")


def test_deterministic_with_exceedance_sampling():
    d = base_site()
    d["scenarios"][1]["consequences"] = {"equipment": {"dist": "lognormal", "low": 1e5,
                                                      "high": 5e6}}  # fmt: skip
    d["tolerance"]["financial"]["exceedance"] = [[1e6, 0.1]]
    a = target_levels(build(d)).rrfs
    b = target_levels(build(d)).rrfs
    pd.testing.assert_frame_equal(a, b)
    # G(1e6) of a lognormal with 90 % interval [1e5, 5e6]: 1 - Phi(z), within sampling error
    from scipy import stats

    mu = (math.log(1e5) + math.log(5e6)) / 2
    sd = (math.log(5e6) - math.log(1e5)) / (2 * stats.norm.ppf(0.95))
    g = stats.norm.sf((math.log(1e6) - mu) / sd)
    r = a.set_index(["scenario", "dimension"])["rrf"][("S2", "financial:P(L>=1e+06)")]
    g_hat = r * (-math.log(1 - 0.05)) / 0.2
    se = math.sqrt(g * (1 - g) / 20000)
    assert abs(g_hat - g) <= 4 * se


# --------------------------------------------------------------------------------------------
# matrix method
# --------------------------------------------------------------------------------------------

# A 5 x 5 matrix in the style of published 62443-3-2 worked examples: likelihood classes
# (rare .. frequent) against consequence classes (minor .. catastrophic).
MATRIX = {
    "likelihood": [1e-3, 1e-2, 1e-1, 1],
    "consequence": [1e4, 1e5, 1e6, 1e7],
    "sl": [
        [0, 0, 1, 1, 2],
        [0, 1, 1, 2, 2],
        [1, 1, 2, 2, 3],
        [1, 2, 2, 3, 4],
        [1, 2, 3, 4, 4],
    ],
}


def test_matrix_method_by_hand():
    d = base_site()
    d["risk_matrix"] = MATRIX
    t = target_levels(build(d), method="matrix")
    sc = t.scenarios
    # S1: safety rate 0.1 -> likelihood class 3; severity 3 -> consequence class 4 - 4 + 3 = 3
    #     -> 3; environment rate 0.5 -> class 3, severity 2 -> class 2 -> 2. Max 3 (safety).
    assert (sc.loc["S1", "required"], sc.loc["S1", "matrix_dimension"]) == (3, "safety:3")
    assert (sc.loc["S1", "likelihood_class"], sc.loc["S1", "consequence_class"]) == (3, 3)
    # S2: rate 0.2 -> class 3; loss 1e6 -> class 3 -> 3
    assert (sc.loc["S2", "required"], sc.loc["S2", "consequence_class"]) == (3, 3)
    # S3: rate 0.1 -> class 3; loss 1e5 -> class 2 -> 2
    assert sc.loc["S3", "required"] == 2
    assert t.vector("Z") == (3, 2, 3, 1, 1, 1, 3)
    assert t.driver("Z", "FR2")["dimension"] == "financial"
    # the organisation maps severity 3 to the catastrophic class 4: S1 -> sl[3][4] = 4
    t2 = target_levels(build(d), method="matrix", severity_map={"safety": {3: 4}})
    assert t2.scenarios.loc["S1", "required"] == 4
    # default: no cap, so an actor of capability 2 still gets the matrix value ...
    d["threat_actors"][0]["capability"] = 2
    assert target_levels(build(d), method="matrix").vector("Z")[0] == 3
    # ... and with cap=True the capability bounds it
    t3 = target_levels(build(d), method="matrix", cap=True)
    assert t3.vector("Z") == (2, 2, 2, 1, 1, 1, 2)
    assert t3.scenarios["capped"].sum() == 2


def test_matrix_method_needs_a_matrix():
    with pytest.raises(ValueError, match="needs a risk_matrix"):
        target_levels(build(base_site()), method="matrix")
    d = base_site()
    d["risk_matrix"] = MATRIX
    with pytest.raises(ValueError, match="consequence class 0..4, 9 was given"):
        target_levels(build(d), method="matrix", severity_map={"safety": {3: 9}})


# --------------------------------------------------------------------------------------------
# capability method
# --------------------------------------------------------------------------------------------


def two_actor_site():
    d = base_site()
    d["threat_actors"].append({"id": "B", "capability": 2, "attempt_rate": 1})
    # S5 by B in Z: tolerable (RRF 0.01 * 1e6 / (1e5 / 3) = 0.3); S6 by B in Y: RRF 0 (no harm)
    d["zones"].append({"id": "Y", "kind": "operations", "purdue_level": 3})
    d["scenarios"] += [
        {"id": "S5", "zone": "Z", "actor": "B", "frs": ["FR4"], "rate": 0.01,
         "consequences": {"equipment": 1e6}},
        {"id": "S6", "zone": "Y", "actor": "B", "frs": ["FR6"], "rate": 0.01},
    ]  # fmt: skip
    return d


def test_capability_method_credible_actors():
    d = two_actor_site()
    t = target_levels(build(d), method="capability")
    sc = t.scenarios
    # A (capability 4) exceeds tolerance in Z (S1, S2): all of A's scenarios in Z -> 4
    assert list(sc.loc[["S1", "S2", "S3"], "sl_t"]) == [4, 4, 4]
    # B is not credible anywhere (S5 RRF 0.3, S6 0)
    assert list(sc.loc[["S5", "S6"], "sl_t"]) == [0, 0]
    assert t.vector("Z") == (4, 4, 4, 1, 1, 1, 4)
    assert t.vector("Y") == (1,) * 7
    # scope 'scenario': S3 itself is tolerable -> 0, FR2 back to the floor
    t2 = target_levels(build(d), method="capability", scope="scenario")
    assert t2.scenarios.loc["S3", "sl_t"] == 0
    assert t2.vector("Z")[1] == 1
    # credible 'all': every actor sets its capability
    t3 = target_levels(build(d), method="capability", credible="all")
    assert t3.vector("Z")[3] == 2 and t3.vector("Y")[5] == 2
    # make B exceed tolerance in Z only; scope 'site' spreads that to Y, scope 'zone' does not
    d["scenarios"][3]["rate"] = 1.0  # S5 RRF 1e6 / (1e5 / 3) = 30
    assert target_levels(build(d), method="capability").vector("Y")[5] == 1
    assert target_levels(build(d), method="capability", scope="site").vector("Y")[5] == 2


def heinrich_site():
    """Heinrich et al. (2019), Table 1, as three actors and three scenarios in one zone.

    Threat                          FR  R K PSL LOC TRA EXT SL
    T.SI.Attacker.Malware           SI  3 4  4   0   0   0  4
    T.RA.Attacker.DoS               RA  2 2  2   0   0   1  1
    T.DC.Attacker.TrafficAnalysis   DC  2 2  2   1   0   1  1
    (SI = FR3 system integrity, RA = FR7 resource availability, DC = FR4 data confidentiality)
    """
    return {
        "site": {"name": "railway signalling"},
        "zones": [{"id": "Z-IXL", "kind": "safety", "purdue_level": 1}],
        "threat_actors": [
            {"id": "A-MAL", "capability": 4, "resources": 3, "knowledge": 4, "attempt_rate": 1},
            {"id": "A-DOS", "capability": 2, "resources": 2, "knowledge": 2, "attempt_rate": 1},
            {"id": "A-TA", "capability": 2, "resources": 2, "knowledge": 2, "attempt_rate": 1},
        ],
        "scenarios": [
            {"id": "T-Malware", "zone": "Z-IXL", "actor": "A-MAL", "frs": ["FR3"],
             "rate_share": 1},
            {"id": "T-DoS", "zone": "Z-IXL", "actor": "A-DOS", "frs": ["FR7"], "rate_share": 1,
             "sl_reductions": {"extent": 1}},
            {"id": "T-TrafficAnalysis", "zone": "Z-IXL", "actor": "A-TA", "frs": ["FR4"],
             "rate_share": 1, "sl_reductions": {"location": 1, "extent": 1}},
        ],
    }  # fmt: skip


@pytest.mark.parametrize("rule", ["sum", "max"])
def test_heinrich_2019_table1(rule):
    t = target_levels(
        build(heinrich_site()),
        method="capability",
        derive="heinrich",
        credible="all",  # the paper's method is threat-based: every identified threat counts
        reduction_rule=rule,
    )
    assert dict(t.scenarios["threat_level"]) == {
        "T-Malware": 4,
        "T-DoS": 1,
        "T-TrafficAnalysis": 1,
    }
    assert t.vector("Z-IXL") == (1, 1, 4, 1, 1, 1, 1)
    assert t.driver("Z-IXL", "FR3")["scenario"] == "T-Malware"


def test_heinrich_reductions_matter_and_options_override():
    s = build(heinrich_site())
    kw = {"method": "capability", "derive": "heinrich", "credible": "all"}
    # the same threats without reductions would ask for their PSL, 2
    t = target_levels(s, reductions={"T-DoS": {"extent": 0}}, **kw)
    assert t.scenarios.loc["T-DoS", "threat_level"] == 2
    assert t.vector("Z-IXL")[6] == 2
    # floor 0 separates the two readings of Table 1's last row: sum -> 0, max -> 1
    assert target_levels(s, floor=0, **kw).scenarios.loc["T-TrafficAnalysis", "sl_t"] == 0
    t_max = target_levels(s, floor=0, reduction_rule="max", **kw)
    assert t_max.scenarios.loc["T-TrafficAnalysis", "sl_t"] == 1


def test_threat_level_rule():
    assert threat_level(3, 4) == 4
    assert threat_level(2, 2, extent=1) == 1
    assert threat_level(2, 2, location=1, extent=1) == 1
    assert threat_level(4, 1, traceability=1) == 3
    assert threat_level(1, 1, location=3, floor=0) == 0
    with pytest.raises(ValueError, match="resources must be an integer 1..4, 5 was given"):
        threat_level(5, 1)
    with pytest.raises(ValueError, match="reduction_rule must be 'sum' or 'max'"):
        threat_level(2, 2, rule="avg")


def test_heinrich_needs_resources_and_knowledge():
    d = heinrich_site()
    del d["threat_actors"][1]["resources"]
    with pytest.raises(ValueError, match="'A-DOS' has resources=None"):
        target_levels(build(d), method="capability", derive="heinrich", credible="all")


def test_compare_methods_side_by_side():
    d = base_site()
    d["risk_matrix"] = MATRIX
    three = ("rrf", "matrix", "capability")
    c = compare_methods(build(d), methods=three, rrf={"conduit_rule": "zones_max"})
    assert list(c.columns) == ["kind", "id", "fr", "rrf", "matrix", "capability"]
    row = c.set_index("fr").loc["FR2"]
    assert (row["rrf"], row["matrix"], row["capability"]) == (1, 2, 4)
    c2 = compare_methods(build(base_site()), methods=three)  # no matrix: that column is NA
    assert c2["matrix"].isna().all()
    # by default every method runs, minimal (the default SL-T method) included
    c3 = compare_methods(build(d))
    assert list(c3.columns) == ["kind", "id", "fr", "rrf", "matrix", "capability", "minimal"]
    pd.testing.assert_series_equal(c3["rrf"], c["rrf"])


# --------------------------------------------------------------------------------------------
# gaps
# --------------------------------------------------------------------------------------------


def gap_site():
    d = base_site()
    d["zones"][0]["sl_a"] = [2, 1, 1, 1, 1, 1, 0]
    d["zones"][0]["sl_c"] = [3, 3, 2, 3, 3, 3, 3]
    d["zones"].append({"id": "Y", "kind": "supervisory", "purdue_level": 2,
                       "sl_a": [1, 1, 1, 1, 1, 1, 1]})  # fmt: skip
    d["conduits"] = [{"id": "C", "zones": ["Y", "Z"], "sl_a": [3, 1, 3, 1, 1, 1, 1]}]
    d["countermeasures"] = [
        {"id": "CM-I", "status": "implemented",
         "effects": [{"type": "security_level", "zones": ["Z"], "levels": {"FR7": 1}}]},
        {"id": "CM-A", "status": "candidate",
         "effects": [{"type": "security_level", "zones": ["Z"], "levels": {"FR1": 3, "FR3": 2}},
                     {"type": "security_level", "conduits": ["C"], "levels": {"FR7": 1}}]},
        {"id": "CM-B", "status": "candidate",
         "effects": [{"type": "security_level", "zones": ["Z"], "levels": {"FR3": 3}}]},
    ]  # fmt: skip
    return d


def test_gaps_current_state():
    s = build(gap_site())
    t = target_levels(s, **RRF)  # Z = (3,1,3,1,1,1,1), Y = floor 1, C = Z
    g = gaps(s, t)
    tab = g.table.set_index(["id", "fr"])
    # Z: SL-A (2,1,1,1,1,1,max(0, CM-I 1) = 1)
    assert list(tab.loc["Z", "sl_a"]) == [2, 1, 1, 1, 1, 1, 1]
    assert list(tab.loc["Z", "gap"]) == [1, 0, 2, 0, 0, 0, 0]
    assert list(tab.loc["Z", "capability_gap"]) == [False] * 2 + [True] + [False] * 4
    assert tab.loc[("Y", "FR1"), "sl_c"] is pd.NA
    assert not tab.loc["Y", "capability_gap"].any()
    assert list(tab.loc["C", "gap"]) == [0, 0, 0, 0, 0, 0, 0]  # C's sl_a covers (3,1,3,...)
    assert dict(g.zones_meeting) == {"Z": False, "Y": True, "C": True}
    summ = g.summary.set_index("id")
    assert (summ.loc["Z", "gaps"], summ.loc["Z", "total_gap"], summ.loc["Z", "max_gap"]) == (
        2, 3, 2)  # fmt: skip
    assert summ.loc["Z", "capability_gaps"] == 1
    cl = g.closers.set_index(["countermeasure", "fr"])
    assert bool(cl.loc[("CM-A", "FR1"), "closes"]) is True
    assert bool(cl.loc[("CM-A", "FR3"), "closes"]) is False
    assert cl.loc[("CM-A", "FR3"), "gap_after"] == 1
    assert bool(cl.loc[("CM-B", "FR3"), "closes"]) is True
    assert len(g.closers) == 3  # CM-A's conduit FR7 effect meets no gap


def test_gaps_with_plan_and_unmitigated():
    s = build(gap_site())
    t = target_levels(s, **RRF)
    g = gaps(s, t, plan=["CM-A", "CM-B"])
    assert g.state == "plan" and g.plan == ("CM-A", "CM-B")
    assert g.zones_meeting.all()
    assert g.closers.empty
    u = gaps(s, t, state="unmitigated")
    assert (u.table["sl_a"] == 0).all()
    assert u.table["gap"].sum() == t.zones.to_numpy().sum() + t.conduits.to_numpy().sum()
    with pytest.raises(ValueError, match="unknown countermeasure 'CM-X'"):
        gaps(s, t, plan=["CM-X"])


# --------------------------------------------------------------------------------------------
# model checks: every rule firing and not firing
# --------------------------------------------------------------------------------------------


def lint_site():
    """Enterprise -> DMZ -> control, no findings at all."""
    every = ["FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7"]
    return {
        "site": {"name": "lint"},
        "zones": [
            {"id": "ENT", "kind": "enterprise", "purdue_level": 4},
            {"id": "DMZ", "kind": "dmz", "purdue_level": 3.5},
            {"id": "CTL", "kind": "control", "purdue_level": 1},
        ],
        "conduits": [
            {"id": "C1", "zones": ["ENT", "DMZ"]},
            {"id": "C2", "zones": ["DMZ", "CTL"]},
        ],
        "threat_actors": [{"id": "A", "capability": 4, "attempt_rate": 1}],
        "scenarios": [
            {"id": "S-E", "zone": "ENT", "actor": "A", "frs": every, "rate": 1},
            {"id": "S-D", "zone": "DMZ", "actor": "A", "frs": every, "rate": 1,
             "entry": "C1"},
            {"id": "S-C", "zone": "CTL", "actor": "A", "frs": every, "rate": 1,
             "entry": "C2"},
        ],
    }  # fmt: skip


def checks(d, **levels):
    """model_checks of site ``d``, its SL-T by ``target_levels(**levels)`` if options are given."""
    s = build(d)
    return model_checks(s, target_levels(s, **levels) if levels else None)


def rules(d, **levels):
    return set(checks(d, **levels)["rule"])


def test_checks_clean_site_has_no_findings():
    f = model_checks(build(lint_site()))
    assert list(f.columns) == ["severity", "rule", "subject", "message"]
    assert f.empty


def test_check_conduit_sl_span():
    d = lint_site()
    d["tolerance"] = {"safety": {1: 1e-2}}
    d["scenarios"][2]["consequences"] = {"safety": {"severity": 1}}  # RRF 100 -> CTL 2
    assert "conduit-sl-span" not in rules(d, **RRF)  # DMZ 1 vs CTL 2: span 1
    d["tolerance"] = {"safety": {1: 1e-3}}  # RRF 1000 -> CTL 3
    f = checks(d, **RRF)
    hit = f[f["rule"] == "conduit-sl-span"]
    assert list(hit["subject"]) == ["C2"] and list(hit["severity"]) == ["warning"]
    assert "FR1 1 vs 3" in hit["message"].iloc[0]


def test_check_safety_zone_below_sl3():
    d = lint_site()
    d["zones"][2]["kind"] = "safety"
    f = checks(d, **RRF)
    msg = f.loc[f["rule"] == "safety-zone-below-sl3", "message"].iloc[0]
    assert "FR1 1" in msg and "FR7 1" in msg
    d["tolerance"] = {"safety": {1: 1e-3}}
    d["scenarios"][2]["consequences"] = {"safety": {"severity": 1}}  # SL-T 3 in every FR
    assert "safety-zone-below-sl3" not in rules(d, **RRF)


def test_check_enterprise_reaches_control():
    d = lint_site()
    d["conduits"].append({"id": "C3", "zones": ["ENT", "CTL"]})
    d["scenarios"][2]["entry"] = "C3"
    d["scenarios"].append(
        {"id": "S-X", "zone": "CTL", "actor": "A", "frs": ["FR1"], "rate": 1, "entry": "C2"}
    )
    f = model_checks(build(d))
    hit = f[f["rule"] == "enterprise-reaches-control"]
    assert list(hit["subject"]) == ["ENT->CTL"] and hit["severity"].iloc[0] == "error"
    assert "ENT --C3--> CTL" in hit["message"].iloc[0]
    # through an operations zone (Purdue 3), not a DMZ: still a finding, with the path
    d = lint_site()
    d["zones"][1] = {"id": "DMZ", "kind": "operations", "purdue_level": 3}
    f = model_checks(build(d))
    msg = f.loc[f["rule"] == "enterprise-reaches-control", "message"].iloc[0]
    assert "ENT --C1--> DMZ --C2--> CTL" in msg
    # a zone whose kind says DMZ (no purdue level given) blocks the path
    d["zones"][1] = {"id": "DMZ", "kind": "dmz"}
    assert "enterprise-reaches-control" not in rules(d)


def test_check_zone_without_scenarios():
    d = lint_site()
    d["zones"].append({"id": "EMPTY", "kind": "other"})
    f = model_checks(build(d))
    assert list(f.loc[f["rule"] == "zone-without-scenarios", "subject"]) == ["EMPTY"]


def test_check_conduit_not_crossed():
    d = lint_site()
    del d["scenarios"][1]["entry"]
    f = model_checks(build(d))
    assert list(f.loc[f["rule"] == "conduit-not-crossed", "subject"]) == ["C1"]


def test_check_actor_unused():
    d = lint_site()
    d["threat_actors"].append({"id": "IDLE", "capability": 1, "attempt_rate": 1})
    f = model_checks(build(d))
    assert list(f.loc[f["rule"] == "actor-unused", "subject"]) == ["IDLE"]


def test_checks_sorted_by_severity():
    d = lint_site()
    d["conduits"].append({"id": "C3", "zones": ["ENT", "CTL"]})
    d["threat_actors"].append({"id": "IDLE", "capability": 1, "attempt_rate": 1})
    f = model_checks(build(d))
    assert list(f["severity"]) == ["error", "warning", "warning"]


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def write_site(tmp_path, d):
    import yaml

    p = tmp_path / "site.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return str(p)


def test_cli_levels_prints_tables_and_json(tmp_path):
    import json

    from click.testing import CliRunner

    from riskkit.cli import cli

    d = base_site()
    d["threat_actors"][0]["capability"] = 2
    path = write_site(tmp_path, d)
    res = CliRunner().invoke(cli, ["levels", path])
    assert res.exit_code == 0, res.output
    assert "S1" in res.output and "safety>=3" in res.output
    assert "Security PHA Review" in res.output
    rrf = ["--method", "rrf", "--conduit-rule", "zones_max"]
    res = CliRunner().invoke(cli, ["levels", path, "--json", *rrf])
    out = json.loads(res.output)
    assert out["zones"]["Z"] == {"FR1": 2, "FR2": 1, "FR3": 2, "FR4": 1, "FR5": 1, "FR6": 1,
                                 "FR7": 1}  # fmt: skip
    assert out["flags"][0]["scenario"] == "S1"
    res = CliRunner().invoke(cli, ["levels", path, "--method", "matrix"])
    assert res.exit_code == 1 and "needs a risk_matrix" in res.output


def test_cli_validate_checks(tmp_path):
    from click.testing import CliRunner

    from riskkit.cli import cli

    d = lint_site()
    d["threat_actors"].append({"id": "IDLE", "capability": 1, "attempt_rate": 1})
    res = CliRunner().invoke(cli, ["validate", "--checks", write_site(tmp_path, d)])
    assert res.exit_code == 0, res.output
    assert "[warning] actor-unused: IDLE" in res.output
    res = CliRunner().invoke(cli, ["validate", "--checks", write_site(tmp_path, lint_site())])
    assert "checks: no findings" in res.output


# --------------------------------------------------------------------------------------------
# percentile decision statistic (Monte Carlo engine)
# --------------------------------------------------------------------------------------------


def percentile_site():
    """λ_t = attempts_t x 0.1 x 0.5 with attempts lognormal, 90 % interval [2, 50] /yr.

    The 95th percentile of the attempts is the interval's upper end, 50, so the p95 event rate
    is 50 x 0.05 = 2.5/yr; safety severity 1 w.p. 0.1 -> 0.25/yr against 1e-2: RRF 25, ℓ 2.
    The mean: E[attempts] = exp(mu + sd^2 / 2) = 12.34 -> λ 0.617, RRF 6.17, ℓ 1.
    """
    return {
        "site": {"name": "uncertain"},
        "zones": [{"id": "Z", "kind": "control", "purdue_level": 1}],
        "threat_actors": [{"id": "A", "capability": 4,
                           "attempt_rate": {"dist": "lognormal", "low": 2, "high": 50}}],
        "scenarios": [{"id": "S1", "zone": "Z", "actor": "A", "frs": ["FR1"], "rate_share": 0.1,
                       "vulnerability": 0.5,
                       "consequences": {"safety": {"severity": 1, "probability": 0.1}}}],
        "tolerance": {"safety": {1: 1e-2}},
        "model": {"trials": 20000, "seed": 7},
    }  # fmt: skip


def test_percentile_statistic_uses_the_rate_percentile():
    from scipy import stats

    s = build(percentile_site())
    t = target_levels(s, statistic="p95", **RRF)
    assert t.statistic == "p95"
    # standard error of the sample 95th percentile of the lognormal rate
    sd = (math.log(50) - math.log(2)) / (2 * stats.norm.ppf(0.95))
    x95 = 2.5
    dens = stats.norm.pdf(stats.norm.ppf(0.95)) / (x95 * sd)
    se = math.sqrt(0.95 * 0.05 / 20000) / dens
    assert abs(t.scenarios.loc["S1", "rate"] - x95) <= 4 * se
    assert t.scenarios.loc["S1", "required"] == 2
    assert t.vector("Z")[0] == 2
    m = target_levels(s, **RRF)  # the site's statistic, mean: closed form
    assert m.scenarios.loc["S1", "rate"] == pytest.approx(
        0.05 * math.exp((math.log(2) + math.log(50)) / 2 + sd**2 / 2)
    )
    assert m.vector("Z")[0] == 1


def test_percentile_statistic_from_site_and_given_simulation():
    from riskkit import engine

    d = percentile_site()
    d["model"]["decision_statistic"] = "p95"
    s = build(d)
    sim = engine.simulate(s, state="unmitigated", trials=20000, seed=7)
    a = target_levels(s, sim=sim)
    b = target_levels(s)  # runs its own simulation with the site's trials and seed
    assert a.statistic == "p95"
    assert a.scenarios.loc["S1", "rate"] == b.scenarios.loc["S1", "rate"]
    with pytest.raises(ValueError, match="unmitigated state, a simulation of 'current'"):
        target_levels(s, sim=engine.simulate(s, trials=200, seed=1))


def test_slt_methods_and_the_old_names_still_import():
    import riskkit.levels as levels_pkg
    from riskkit.levels import _KIND_PURDUE, METHODS, SLT_METHODS
    from riskkit.rules import KIND_PURDUE

    assert SLT_METHODS == ("rrf", "matrix", "capability", "minimal") and METHODS is SLT_METHODS
    assert _KIND_PURDUE is KIND_PURDUE  # one map, in riskkit.rules
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        levels_pkg.no_such_name  # noqa: B018
