"""Tests of riskkit.figures: each figure draws exactly the data it is given.

The inputs are small hand-written tables, so every expected trace value is known without
running the code under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from riskkit import figures
from riskkit.figures import money, zone_diagram

FRS = ["FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7"]


def test_money_formats_compactly():
    assert money(1_234_567, "EUR") == "1.23 M EUR"
    assert money(350_000, "EUR") == "350 k EUR"
    assert money(900) == "900"
    assert money(-2.5e9, "USD") == "-2.5 bn USD"
    assert money(float("nan")) == "n/a"


def _zone_boxes(fig: go.Figure):
    return [s for s in fig.layout.shapes if s.layer == "above"]


def test_zone_diagram_places_each_zone_on_its_purdue_layer(make_site, base_site_dict):
    site = make_site(base_site_dict)
    fig = zone_diagram(site)
    boxes = _zone_boxes(fig)
    assert len(boxes) == len(site.zones)
    # Z-OPS (level 3) is drawn above Z-CTRL (level 1): layers are ranked top-down
    centre = {a.text.split("<b>")[1].split("</b>")[0]: a.y for a in fig.layout.annotations}
    assert centre["Z-OPS"] > centre["Z-CTRL"]
    ticks = list(fig.layout.yaxis.ticktext)
    assert ticks[0].startswith("L1") and ticks[-1].startswith("L3")
    # one line per conduit plus the hover markers at the midpoints
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == len(site.conduits)


def test_zone_diagram_colours_zones_by_target(make_site, base_site_dict):
    site = make_site(base_site_dict)
    sl_t = pd.DataFrame(
        [[2] * 7, [1] * 7, [1] * 7], index=["Z-OPS", "Z-CTRL", "C-OPS-CTRL"], columns=FRS
    )
    sl_a = pd.DataFrame(
        [[1] * 7, [1] * 7, [0] * 7], index=["Z-OPS", "Z-CTRL", "C-OPS-CTRL"], columns=FRS
    )
    fig = zone_diagram(site, sl_t, sl_a)
    legend = {t.name for t in fig.data if t.name}
    assert {"meets SL-T", "below SL-T"} <= legend
    colors = {b.fillcolor for b in _zone_boxes(fig)}
    assert colors == {figures._JUDGED_COLORS["meets SL-T"], figures._JUDGED_COLORS["below SL-T"]}
    conduit_line = next(t for t in fig.data if t.mode == "lines")
    assert conduit_line.line.dash == "dash"  # SL-A 0 < SL-T 1 on the conduit


def test_zone_diagram_separates_parallel_conduits(make_site, base_site_dict):
    d = base_site_dict
    d["conduits"].append({"id": "C-2", "zones": ["Z-CTRL", "Z-OPS"]})
    fig = zone_diagram(make_site(d))
    mids = [t for t in fig.data if t.mode == "markers" and t.name == "conduit (hover for details)"]
    xs = list(mids[0].x)
    assert len(xs) == 2 and xs[0] != xs[1]


def test_exceedance_curves_draw_inputs_and_tolerance():
    curve = pd.Series([0.5, 0.1, 0.0], index=[1e3, 1e5, 1e7])
    fig = figures.exceedance_curves({"current": curve}, [(1e6, 0.1), (1e7, 0.01)], "EUR")
    cur = next(t for t in fig.data if t.name == "current")
    np.testing.assert_allclose(cur.x, [1e3, 1e5])  # zero probabilities cannot go on log axes
    np.testing.assert_allclose(cur.y, [0.5, 0.1])
    assert cur.line.color == figures.STATE_COLORS["current"]
    tol = next(t for t in fig.data if t.name == "tolerance")
    assert list(tol.x) == [1e6, 1e7] and list(tol.y) == [0.1, 0.01]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"


def test_exceedance_accepts_a_loss_probability_frame():
    df = pd.DataFrame({"loss": [10.0, 100.0], "probability": [0.3, 0.2]})
    fig = figures.exceedance_curves({"plan": df})
    assert list(fig.data[0].y) == [0.3, 0.2]


def test_ale_by_zone_bars_and_error_bars():
    ale = pd.DataFrame({"unmitigated": [100.0, 50.0], "current": [10.0, 5.0]}, index=["A", "B"])
    se = ale / 10
    fig = figures.ale_by_zone(ale, se, tolerance=20.0, currency="EUR")
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [b.name for b in bars] == ["unmitigated", "current"]
    np.testing.assert_allclose(bars[1].y, [10.0, 5.0])
    np.testing.assert_allclose(bars[0].error_y.array, [20.0, 10.0])  # +-2 SE
    assert any(s.y0 == 20.0 for s in fig.layout.shapes)


def test_severity_frequencies_one_bar_group_per_state_and_tolerance_markers(
    make_site, base_site_dict
):
    site = make_site(base_site_dict)
    cols = [f"{h}_ge{k}" for h in ("safety", "environment") for k in (1, 2, 3, 4)]
    freq = pd.DataFrame(
        [np.arange(8) / 100, np.arange(8) / 1000], index=["unmitigated", "current"], columns=cols
    )
    fig = figures.severity_frequencies(freq, site.tolerance)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(bars) == 4  # 2 states x (safety, environment)
    np.testing.assert_allclose(bars[1].y, [0.0, 0.001, 0.002, 0.003])
    tol = [t for t in fig.data if t.name == "tolerable per scenario"]
    assert list(tol[0].y) == [1e-2, 1e-3, 1e-4, 1e-5]  # the site has no environment table
    assert len(tol) == 1


def _gaps_table():
    rows = []
    for ident, t, a in (
        ("Z1", [2, 2, 1, 1, 1, 1, 3], [1, 2, 1, 0, 1, 1, 1]),
        ("Z2", [1] * 7, [1] * 7),
    ):
        for k, fr in enumerate(FRS):
            rows.append(("zone", ident, fr, t[k], 2, a[k], max(0, t[k] - a[k]), t[k] > 2))
    return pd.DataFrame(
        rows, columns=["kind", "id", "fr", "sl_t", "sl_c", "sl_a", "gap", "capability_gap"]
    )


def test_gap_heatmap_cells_are_gaps_with_target_over_achieved_text():
    fig = figures.gap_heatmap(_gaps_table())
    hm = fig.data[0]
    assert list(hm.y) == ["Z1", "Z2"]
    np.testing.assert_array_equal(hm.z[0], [1, 0, 0, 1, 0, 0, 2])
    np.testing.assert_array_equal(hm.z[1], [0] * 7)
    assert hm.text[0][0] == "2/1"
    assert hm.text[0][6] == "3/1*"  # SL-T 3 above SL-C 2


def test_sl_radar_one_polar_per_zone_with_closed_polygons():
    fig = figures.sl_radar(_gaps_table())
    polars = [k for k in fig.layout if k.startswith("polar")]
    assert len(polars) == 2
    t = next(tr for tr in fig.data if tr.name == "SL-T")
    assert list(t.r) == [2, 2, 1, 1, 1, 1, 3, 2]  # closed: FR1 repeated at the end
    assert list(t.theta)[-1] == "FR1"


def test_frontier_figure_with_var_has_two_panels_and_the_plan():
    pts = pd.DataFrame(
        {
            "annualised_cost": [0, 10, 20],
            "expected_ale": [100.0, 60, 50],
            "var99": [1000.0, 700, 650],
            "members": ["", "A", "A, B"],
        }
    )
    greedy = pd.DataFrame({"annualised_cost": [10, 25], "expected_ale": [60.0, 52]})
    fig = figures.frontier_figure(pts, greedy, plan=(10, 60), current_ale=100.0)
    names = [t.name for t in fig.data]
    assert names.count("optimal plans") == 2  # ALE and VaR99 panels
    assert "greedy sequence" in names and "recommended plan" in names
    rec = next(t for t in fig.data if t.name == "recommended plan")
    assert list(rec.x) == [10] and list(rec.y) == [60]


def test_frontier_figure_without_var_is_one_panel():
    pts = pd.DataFrame({"cost": [0, 10], "expected_ale": [100.0, 60]})
    fig = figures.frontier_figure(pts)
    assert len(fig.data) == 1
    np.testing.assert_allclose(fig.data[0].x, [0, 10])


def test_ranking_bars_keep_order_and_show_rosi():
    r = pd.DataFrame(
        {"delta_ale": [50.0, 20.0], "annualised_cost": [10.0, 30.0], "rosi": [4.0, -0.33]},
        index=pd.Index(["CM-B", "CM-A"], name="cm"),
    )
    fig = figures.ranking_bars(r)
    assert list(fig.data[0].y) == ["CM-B", "CM-A"]
    assert list(fig.data[0].x) == [50.0, 20.0]
    assert fig.data[0].text[0] == "ROSI 4.0"


def test_plan_value_title_states_the_net_saving():
    fig = figures.plan_value(1_000_000, 400_000, 100_000, "EUR")
    assert "net saving of 500 k EUR" in fig.layout.title.text
    assert list(fig.data[1].y) == [0, 100_000]


@pytest.mark.parametrize("before,after", [({"A": 1.0}, {"A": 2.0, "B": 3.0})])
def test_change_bars_cover_zones_of_both_runs(before, after):
    fig = figures.change_bars(pd.Series(before), pd.Series(after))
    assert list(fig.data[0].x) == ["A", "B"]
    assert np.isnan(fig.data[0].y[1])
    assert list(fig.data[1].y) == [2.0, 3.0]
