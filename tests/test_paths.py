"""Attack paths (issue 15): riskkit.paths, the path figures and the summary's paths block.

Hand-computed cases on small sites whose distributions are constants, so that means are the
numbers themselves. Common to every site below (``_site``):

- one actor, capability 4 (no cap binds), 10 attempts/yr; r = 10 per level;
- scenario S-P from the origin zone Z-O to the target Z-T, FR3 only, rate_share 1,
  vulnerability 1: base rate 10/yr; one recovery of 1000 per event;
- lateral FRs FR1, FR2, FR5 (the default). A zone's or conduit's SL-A is ``[b, b, t, 0, b,
  0, 0]``: b in every lateral FR, t in FR3 (``_v``).

A stage (conduit, zone) with levels b_c, b_z crosses with p = 10^-max(b_c, b_z); the stage
into the target uses FR3: p = 10^-max(t_conduit, t_target).

These hand values are for the SL rule r^-min(L, c) with the stronger of zone and conduit
counting (``sl_effect: orders``, ``layering: max``, ``fr_roles: frequency``), which ``_site``
pins explicitly (``ORDERS``); the path composition (products over stages, two-terminal
reliability) is the same under every SL rule, and ``V2`` checks it under the model-v2 options.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from conftest import build

from riskkit import figures, rules
from riskkit.exposure import expected_losses
from riskkit.paths import (
    attack_paths,
    chokepoints,
    has_paths,
    path_credit,
    paths_block,
    paths_markdown,
    substitutes,
)
from riskkit.report import schema

# the SL rule of the hand values below, passed explicitly (the defaults are model v2)
ORDERS = {"sl_effect": "orders", "fr_roles": "frequency", "layering": "max"}
V2 = {"sl_effect": "capability", "fr_roles": "split", "layering": "independent"}


def _v(b: int, t: int = 0) -> list[int]:
    """SL vector with b in the lateral FRs (FR1, FR2, FR5) and t in FR3."""
    return [b, b, t, 0, b, 0, 0]


def _site(zones: dict, conduits: list, *, origin="Z-O", entry=None, extra=None, model=None):
    """A site of zones {id: sl_a}, conduits [(id, a, b, sl_a)] and the scenario S-P."""
    scen = {
        "id": "S-P",
        "zone": "Z-T",
        "actor": "A-X",
        "frs": ["FR3"],
        "rate_share": 1.0,
        "vulnerability": 1.0,
        "consequences": {"recovery": 1000},
    }
    if origin is not None:
        scen["origin"] = origin
    if entry is not None:
        scen["entry"] = entry
    d = {
        "site": {"name": "Path site", "currency": "EUR"},
        "zones": [{"id": z, "kind": "other", "sl_a": v} for z, v in zones.items()],
        "conduits": [{"id": c, "zones": [a, b], "sl_a": v} for c, a, b, v in conduits],
        "threat_actors": [{"id": "A-X", "capability": 4, "attempt_rate": 10}],
        "scenarios": [scen, *(extra or [])],
        "model": {"trials": 1000, "seed": 3, **ORDERS, **(model or {})},
    }
    return build(d)


def _chain():
    """Z-O -C1- Z-A -C2- Z-B -C3- Z-T: stages 10^-2, 10^-1, 10^-1 (FR3 of C3 and Z-T: 1)."""
    zones = {"Z-O": _v(0), "Z-A": _v(1), "Z-B": _v(0), "Z-T": _v(0, 1)}
    conduits = [
        ("C1", "Z-O", "Z-A", _v(2)),
        ("C2", "Z-A", "Z-B", _v(1)),
        ("C3", "Z-B", "Z-T", _v(0)),
    ]
    return zones, conduits


def _parallel():
    """Two disjoint paths: Z-O -C1- Z-A -C2- Z-T (p1 = 0.1 x 0.1) and Z-O -C3- Z-T (p2 = 0.1)."""
    zones = {"Z-O": _v(0), "Z-A": _v(1), "Z-T": _v(0, 1)}
    conduits = [
        ("C1", "Z-O", "Z-A", _v(0)),
        ("C2", "Z-A", "Z-T", _v(0)),
        ("C3", "Z-O", "Z-T", _v(0, 1)),
    ]
    return zones, conduits


def _diamond():
    """Z-O to Z-M over Z-A (C1, C3) or Z-B (C2, C4), then the shared final stage C5 into Z-T.

    Stages: C1 0.1, C3 0.1 (Z-M b = 1), C2 1 (Z-B b = 0, C2 0), C4 0.1, C5 10^-1.
    """
    zones = {"Z-O": _v(0), "Z-A": _v(1), "Z-B": _v(0), "Z-M": _v(1), "Z-T": _v(0, 1)}
    conduits = [
        ("C1", "Z-O", "Z-A", _v(0)),
        ("C2", "Z-O", "Z-B", _v(0)),
        ("C3", "Z-A", "Z-M", _v(0)),
        ("C4", "Z-B", "Z-M", _v(0)),
        ("C5", "Z-M", "Z-T", _v(0)),
    ]
    return zones, conduits


# --------------------------------------------------------------------------------------------
# attack_paths: the closed forms of the issue
# --------------------------------------------------------------------------------------------


def test_chain_of_three_stages_gives_the_product():
    site = _site(*_chain())
    p = attack_paths(site)
    assert len(p) == 1
    row = p.iloc[0]
    assert row["zones"] == ("Z-O", "Z-A", "Z-B", "Z-T")
    assert row["conduits"] == ("C1", "C2", "C3")
    assert row["stages"] == 3
    assert row["probability"] == pytest.approx(1e-2 * 1e-1 * 1e-1, rel=1e-12)
    assert row["reach"] == pytest.approx(1e-4, rel=1e-12)
    assert row["share"] == pytest.approx(1.0)
    # the scenario's expected ALE is 10/yr x reach x 1000, all of it on this path
    assert row["expected_ale"] == pytest.approx(10 * 1e-4 * 1000, rel=1e-9)
    assert p.attrs["path_ale"] == pytest.approx(1.0, rel=1e-9)


def test_two_disjoint_paths_give_one_minus_product_of_misses():
    site = _site(*_parallel())
    p = attack_paths(site)
    p1, p2 = 0.1 * 0.1, 0.1
    reach = 1 - (1 - p1) * (1 - p2)
    assert reach == pytest.approx(0.109)
    assert len(p) == 2
    assert p["reach"].tolist() == pytest.approx([reach, reach], rel=1e-12)
    # ranked by probability: the direct path (enumerated second) comes first
    assert p["conduits"].tolist() == [("C3",), ("C1", "C2")]
    assert p["path"].tolist() == [1, 2]
    assert p["probability"].tolist() == pytest.approx([p2, p1], rel=1e-12)
    # shares partition the success event by the most likely open path
    assert p["share"].tolist() == pytest.approx([p2 / reach, (reach - p2) / reach], rel=1e-12)
    assert p["share"].sum() == pytest.approx(1.0, rel=1e-12)
    ale = expected_losses(site).loc["S-P", "ale"]
    assert ale == pytest.approx(10 * reach * 1000, rel=1e-9)
    assert p["expected_ale"].sum() == pytest.approx(ale, rel=1e-9)


def test_diamond_with_a_shared_final_stage():
    site = _site(*_diamond())
    p = attack_paths(site)
    # by hand: C5 open (0.1) and either branch: 1 - (1 - 0.1 x 0.1)(1 - 1 x 0.1)
    reach = 0.1 * (1 - (1 - 0.01) * (1 - 0.1))
    assert reach == pytest.approx(0.0109)
    assert p["reach"].iloc[0] == pytest.approx(reach, rel=1e-12)
    assert p["conduits"].tolist() == [("C2", "C4", "C5"), ("C1", "C3", "C5")]
    assert p["probability"].tolist() == pytest.approx([0.01, 0.001], rel=1e-12)
    assert p["share"].tolist() == pytest.approx([0.01 / reach, (reach - 0.01) / reach])
    assert expected_losses(site).loc["S-P", "ale"] == pytest.approx(10 * reach * 1000, rel=1e-9)


def test_a_conduit_on_no_path_changes_nothing():
    zones, conduits = _diamond()
    base = attack_paths(_site(zones, conduits))
    # a dead end beyond the target, and a spur off the origin: neither is on a simple path
    more = {**zones, "Z-X": _v(0), "Z-Y": _v(0)}
    conduits2 = [*conduits, ("C9", "Z-T", "Z-X", _v(0)), ("C8", "Z-O", "Z-Y", _v(0))]
    site = _site(more, conduits2)
    p = attack_paths(site)
    cols = ["conduits", "probability", "share", "reach", "expected_ale"]
    pd.testing.assert_frame_equal(p[cols], base[cols])
    ch = chokepoints(site, paths=p)
    assert ch.loc["C9", "paths"] == 0 and ch.loc["C9", "path_share"] == 0.0
    assert ch.loc["C9", "ale_removed_sl4"] == 0.0 and ch.loc["C8", "ale_removed_sl3"] == 0.0


def test_an_origin_adjacent_to_the_target_gives_todays_rate():
    zones = {"Z-O": _v(1), "Z-T": _v(0, 1)}
    conduits = [("C1", "Z-O", "Z-T", _v(0, 2))]
    with_origin = _site(zones, conduits, entry="C1")
    today = _site(zones, conduits, origin=None, entry="C1")
    p = attack_paths(with_origin)
    s = today.scenario("S-P")
    lv = rules.achieved_levels(today, rules.resolve_state(today))
    assert p["reach"].iloc[0] == pytest.approx(
        rules.sl_factor(10, rules.protection_level(s, *lv), 4), rel=1e-12
    )
    a = expected_losses(with_origin).loc["S-P", "ale"]
    assert a == pytest.approx(expected_losses(today).loc["S-P", "ale"], rel=1e-12)
    assert a == pytest.approx(10 * 1e-2 * 1000, rel=1e-12)


def test_path_closed_forms_under_the_v2_options():
    """Capability-aware SL effect and independent layering: the same composition of stages.

    Each stage is the product of its zone's and conduit's pass probabilities from the
    capability table T[L, c] (capped at T[4, c]), the worst lateral FR deciding; the paths
    multiply their stages and two disjoint paths give 1 - (1 - p1)(1 - p2).
    """
    t = rules.sl_effect_table(_site(*_parallel(), model=V2).model)[:, 4]

    def stage(a, b):
        return max(t[a] * t[b], t[4])

    # chain: C1 (2) into Z-A (1), C2 (1) into Z-B (0), C3 into the target in FR3 (0 and 1)
    chain = _site(*_chain(), model=V2)
    want = stage(2, 1) * stage(1, 0) * stage(0, 1)
    assert stage(2, 1) < t[2]  # the second layer counts, unlike under layering: max
    assert attack_paths(chain)["reach"].iloc[0] == pytest.approx(want, rel=1e-12)
    # parallel: Z-O -C1- Z-A -C2- Z-T and Z-O -C3- Z-T
    par = _site(*_parallel(), model=V2)
    p1, p2 = stage(0, 1) * stage(0, 1), stage(1, 1)
    reach = 1 - (1 - p1) * (1 - p2)
    assert attack_paths(par)["reach"].tolist() == pytest.approx([reach, reach], rel=1e-12)
    assert expected_losses(par).loc["S-P", "ale"] == pytest.approx(10 * reach * 1000, rel=1e-9)
    # an origin adjacent to the target: exactly the rate without an origin
    zones = {"Z-O": _v(1), "Z-T": _v(0, 1)}
    conduits = [("C1", "Z-O", "Z-T", _v(0, 2))]
    a = expected_losses(_site(zones, conduits, entry="C1", model=V2)).loc["S-P", "ale"]
    b = expected_losses(_site(zones, conduits, origin=None, entry="C1", model=V2))
    assert a == pytest.approx(b.loc["S-P", "ale"], rel=1e-12)
    assert a == pytest.approx(10 * stage(1, 2) * 1000, rel=1e-12)


def test_an_entry_keeps_the_paths_through_it():
    # parallel site: with entry C2 only the path over Z-A counts
    site = _site(*_parallel(), entry="C2")
    p = attack_paths(site)
    assert p["conduits"].tolist() == [("C1", "C2")]
    assert p["reach"].iloc[0] == pytest.approx(0.01, rel=1e-12)
    assert expected_losses(site).loc["S-P", "ale"] == pytest.approx(10 * 0.01 * 1000)


def test_paths_agree_with_scenario_factors():
    """The reported reach is the path factor the engine and closed forms use."""
    site = _site(*_diamond())
    s = site.scenario("S-P")
    zones, conduits = rules.achieved_levels(site, rules.resolve_state(site))
    f = rules.scenario_factors(site, s, zones, conduits)
    assert attack_paths(site)["reach"].iloc[0] == pytest.approx(f.rate, rel=1e-12)


@pytest.mark.parametrize("model", [ORDERS, V2], ids=["orders", "v2"])
def test_monte_carlo_matches_the_path_closed_form(model):
    from riskkit import simulate

    site = _site(*_parallel(), model=model)
    sim = simulate(site, trials=20000, seed=11)
    ale = attack_paths(site)["expected_ale"].sum()
    got = sim.losses("scenario")["S-P"].to_numpy()
    se = got.std(ddof=1) / math.sqrt(len(got))
    assert abs(got.mean() - ale) < 4 * se, (got.mean(), ale, se)


def test_no_origin_gives_empty_tables_and_no_summary_block(make_site, base_site_dict):
    site = make_site(base_site_dict)
    assert not has_paths(site)
    p = attack_paths(site)
    assert p.empty and "route" in p.columns and p.attrs["path_ale"] == 0.0
    assert path_credit(site).empty
    ch = chokepoints(site)
    assert list(ch.index) == ["C-OPS-CTRL"] and ch.loc["C-OPS-CTRL", "path_share"] == 0.0
    assert "No scenario names an `origin`" in paths_markdown(p)

    class _A:
        pass

    a = _A()
    a.site = site
    assert paths_block(a) is None


def test_origin_equal_to_zone_has_no_paths():
    zones, conduits = _chain()
    site = _site(zones, conduits, origin="Z-T")
    assert not has_paths(site) and attack_paths(site).empty


# --------------------------------------------------------------------------------------------
# chokepoints, credit, substitutes
# --------------------------------------------------------------------------------------------


def test_chokepoint_values_by_hand():
    site = _site(*_chain())
    ch = chokepoints(site)
    # now: 10 x 1e-4 x 1000 = 1.0 /yr. C1 to SL 3 in the lateral FRs: 1e-3 x 0.1 x 0.1.
    assert ch.attrs["site_ale"] == pytest.approx(1.0)
    assert ch.loc["C1", "ale_removed_sl3"] == pytest.approx(1.0 - 0.1, rel=1e-9)
    assert ch.loc["C1", "ale_removed_sl4"] == pytest.approx(1.0 - 0.01, rel=1e-9)
    # C2 (b = max(C2, Z-B) = 1): SL 3 -> 1e-2 x 1e-3 x 0.1
    assert ch.loc["C2", "ale_removed_sl3"] == pytest.approx(1.0 - 0.01, rel=1e-9)
    # C3 enters the target: its lateral FRs do not touch FR3, the scenario's only FR
    assert ch.loc["C3", "ale_removed_sl4"] == pytest.approx(0.0, abs=1e-12)
    # every conduit of a single path carries all of the path-borne risk
    assert ch["path_share"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert ch.index[0] in ("C1", "C2") and ch.index[-1] == "C3"
    assert list(ch.loc["C1", ["barrier", "paths"]]) == [2, 1]


def test_chokepoint_share_splits_parallel_paths():
    site = _site(*_parallel())
    p = attack_paths(site)
    ch = chokepoints(site, paths=p)
    direct = p["share"].iloc[0]
    assert ch.loc["C3", "path_share"] == pytest.approx(direct)
    assert ch.loc["C1", "path_share"] == pytest.approx(1 - direct)
    assert ch.loc["C2", "path_share"] == pytest.approx(1 - direct)


def test_path_credit_by_hand():
    site = _site(*_chain())
    cr = path_credit(site)
    row = cr.loc["S-P"]
    # the door (C3 into Z-T, FR3 level 1) alone: 0.1; over the path: 1e-4
    assert row["door"] == pytest.approx(0.1) and row["door_level"] == 1
    assert row["credit"] == pytest.approx(1e-3, rel=1e-12)
    assert row["credit_levels"] == pytest.approx(3.0, rel=1e-12)


def test_path_credit_against_a_target_level():
    site = _site(*_chain())

    class _T:
        scenarios = pd.DataFrame({"sl_t": [4]}, index=["S-P"])

    row = path_credit(site, targets=_T()).loc["S-P"]
    assert row["sl_t"] == 4 and row["shortfall"] == 3 and row["covered"]


def test_substitutes_finds_an_upstream_conduit():
    site = _site(*_chain())
    fr = ["FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7"]

    class _T:  # SL-T 2 in FR3 for the target: SL-A 1 falls one level short
        zones = pd.DataFrame([[0, 0, 2, 0, 0, 0, 0]], index=["Z-T"], columns=fr)

    sub = substitutes(site, _T())
    # gap closed: 1e-4 -> 1e-5, zone ALE 0.1. C1 at SL 3: 1e-3 x 0.1 x 0.1 = 1e-5: as good.
    row = sub[(sub["conduit"] == "C1") & (sub["conduit_sl"] == 3)].iloc[0]
    assert row["ale_gap_closed"] == pytest.approx(0.1, rel=1e-9)
    assert row["ale_with_conduit"] == pytest.approx(0.1, rel=1e-9)
    assert row["substitutes"] and row["short_frs"] == "FR3"
    # the door C3 is not listed (it is the zone's own entry), and C2 at SL 3 substitutes too
    assert set(sub["conduit"]) == {"C1", "C2"}
    assert sub["substitutes"].all()
    # a target short by three levels (gap closed: 1e-2 x 0.1 x 1e-4): only C2 at SL 4
    # (1e-2 x 1e-4 x 0.1) does as much; C1 at SL 4 leaves 1e-4 x 0.1 x 0.1
    _T.zones = pd.DataFrame([[0, 0, 4, 0, 0, 0, 0]], index=["Z-T"], columns=fr)
    got = substitutes(site, _T()).set_index(["conduit", "conduit_sl"])["substitutes"].to_dict()
    assert got == {("C1", 3): False, ("C1", 4): False, ("C2", 3): False, ("C2", 4): True}


# --------------------------------------------------------------------------------------------
# summary.json block and schema
# --------------------------------------------------------------------------------------------


def test_paths_block_conforms_to_the_schema():
    site = _site(*_diamond())

    class _A:
        pass

    a = _A()
    a.site = site
    block = paths_block(a)
    assert block["scenarios"] == 1 and block["lateral_frs"] == ["FR1", "FR2", "FR5"]
    assert len(block["top_paths"]) == 2 and len(block["chokepoints"]) == 5
    assert block["top_paths"][0]["conduits"] == ["C2", "C4", "C5"]
    assert schema.check(block, schema.SUMMARY_SCHEMA["paths"][1]) == []
    bad = {**block, "scenarios": "one"}
    assert schema.check({"paths": bad}, {"paths": schema.SUMMARY_SCHEMA["paths"]}) == [
        "paths.scenarios: expected int, found str 'one'"
    ]
    assert schema.check({}, {"paths": schema.SUMMARY_SCHEMA["paths"]}) == []


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def _path_table():
    return pd.DataFrame(
        {
            "scenario": ["S-1", "S-2", "S-2"],
            "zones": [("Z-OPS", "Z-CTRL"), ("Z-OPS", "Z-CTRL"), ("Z-OPS", "Z-CTRL")],
            "conduits": [("C-OPS-CTRL",), ("C-OPS-CTRL",), ("C-OPS-CTRL",)],
            "probability": [0.1, 0.01, 0.001],
            "share": [1.0, 0.9, 0.1],
            "expected_ale": [100.0, 600.0, 300.0],
            "risk_share": [0.1, 0.6, 0.3],
        }
    )


def test_attack_path_diagram_draws_the_riskiest_paths_wider(make_site, base_site_dict):
    site = make_site(base_site_dict)
    fig = figures.attack_path_diagram(site, _path_table(), top=2, currency="EUR")
    drawn = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(drawn) == 2  # the top 2 by expected ALE: 600 then 300
    assert drawn[0].line.width == pytest.approx(2 + 16 * 0.6)
    assert drawn[1].line.width == pytest.approx(2 + 16 * 0.3)
    assert drawn[0].name.startswith("S-2") and "(60%)" in drawn[0].name
    # the path runs origin centre -> conduit midpoint -> target centre
    xy, _ = figures._layout_zones(site)
    mx, my = figures._conduit_mids(site, xy)["C-OPS-CTRL"]
    shift = 0.025 * (0 - 0.5)
    assert list(drawn[0].y) == pytest.approx(
        [xy["Z-OPS"][1] + shift, my + shift, xy["Z-CTRL"][1] + shift]
    )
    origin = next(t for t in fig.data if t.name == "origin of an attack path")
    assert len(origin.x) == 1
    assert "top 2 of 3 paths" in fig.layout.title.text


def test_attack_path_diagram_escapes_and_handles_no_paths(make_site, base_site_dict):
    site = make_site(base_site_dict)
    fig = figures.attack_path_diagram(site, attack_paths(site))
    assert isinstance(fig, go.Figure)
    assert not [t for t in fig.data if t.mode == "lines+markers"]
    assert any("no scenario names an origin" in a.text for a in fig.layout.annotations)
    t = _path_table()
    t.loc[0, "scenario"] = "<b>x</b>"
    fig = figures.attack_path_diagram(site, t, top=3)
    names = [d.name for d in fig.data if d.mode == "lines+markers"]
    assert not any("<b>x</b>" in n for n in names)


def test_chokepoint_chart_shows_the_values_given():
    t = pd.DataFrame(
        {
            "zones": ["A - B", "B - C"],
            "path_share": [0.75, 0.25],
            "ale_removed_sl3": [50.0, 10.0],
            "ale_removed_sl4": [90.0, 20.0],
        },
        index=pd.Index(["C-1", "C-2"], name="conduit"),
    )
    fig = figures.chokepoint_chart(t, currency="EUR", top=1)
    sl3, sl4 = fig.data
    assert list(sl3.y) == ["C-1"] and list(sl3.x) == [50.0] and list(sl4.x) == [90.0]
    assert list(sl4.text) == ["75% of path risk"]
    assert "top 1 of 2 conduits" in fig.layout.title.text
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.xaxis.range[0] == pytest.approx(math.log10(50.0) - 0.3)
    assert fig.layout.xaxis.range[1] == pytest.approx(math.log10(90.0) + 0.6)


def test_stage_probabilities_keep_leading_axes():
    """Many SL-A states at once (the optimiser's use): one row of p per state."""
    site = _site(*_chain())
    s = site.scenario("S-P")
    zones, conduits = rules.achieved_levels(site, rules.resolve_state(site))
    z = {k: np.stack([v, v]) for k, v in zones.items()}
    c = {k: np.stack([v, v]) for k, v in conduits.items()}
    c["C1"][1] = _v(3)
    _, stages, index = rules.scenario_paths(site, s)
    p = rules.stage_probabilities(site, s, z, c, stages)
    assert p.shape == (2, 3)
    np.testing.assert_allclose(p[0], [1e-2, 1e-1, 1e-1])
    np.testing.assert_allclose(p[1], [1e-3, 1e-1, 1e-1])
    np.testing.assert_allclose(rules.reach_probability(p, index), [1e-4, 1e-5])


def test_paths_markdown_names_the_riskiest_path_and_chokepoint():
    site = _site(*_chain())
    p = attack_paths(site)
    text = paths_markdown(p, chokepoints(site, paths=p), "EUR")
    assert "1 scenario(s) start from an origin zone, over 1 simple path(s)" in text
    assert "riskiest path is Z\\-O → C1 → Z\\-A → C2 → Z\\-B → C3 → Z\\-T" in text
    # C2 at SL 4 removes the most: 1 - 1e-2 x 1e-4 x 0.1 x 1e4 = 0.999 EUR/yr
    assert "strongest chokepoint is C2" in text and "remove 0.999 EUR/yr" in text
