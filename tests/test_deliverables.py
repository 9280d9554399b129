"""Deliverables a manager can read, trust and print (issue 11).

The formatting layer of the tables, the figures' labels, the quick-look banner, the print
styles, the gap-closing plan beside the recommended one, the explanation of a negative
return, and the refusal of a ``--previous`` run of another site. Expected numbers are computed
here from the library (riskkit.optimize, riskkit.gaps, riskkit.rules), not through the views.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from click.testing import CliRunner

from riskkit import figures, gaps, optimize, report
from riskkit.cli import cli
from riskkit.figures import money
from riskkit.report import format as fmt
from riskkit.report import plans, printing
from riskkit.rules import annualised_cost

FRS = ["FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7"]

# --- the formatting layer ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, shown",
    [
        ("annualised_cost", "Annualised cost [EUR/yr]"),
        ("drop_one", "Reduction lost if dropped from the plan [EUR/yr]"),
        ("shapley", "Fair share of the plan's reduction (Shapley) [EUR/yr]"),
        ("expected_ale", "Expected annual loss, exact [EUR/yr]"),
        ("ale", "Expected annual loss, simulated [EUR/yr]"),
        ("capex", "Up-front cost (capex) [EUR]"),
        ("delta_safety_ge3", "Fewer Safety events of severity 3+ [events/yr]"),
        ("purdue_level", "Purdue level"),
        ("some_new_column", "Some new column"),
        ("FR3", "FR3"),
    ],
)
def test_labels_are_human_with_units(name, shown):
    assert fmt.label(name, "EUR") == shown


def test_styled_table_has_labels_separators_ticks_and_no_exponent():
    df = pd.DataFrame(
        {
            "annualised_cost": [30365.792114, 2.11e6],
            "mandatory": [True, False],
            "rrf": [1234.5, 0.00012],
            "name": ["a " * 60, "<b>x</b>"],
        },
        index=pd.Index(["CM-1", "CM-2"], name="countermeasure"),
    )
    html = report.styled(df, currency="EUR")._repr_html_()
    assert "Annualised cost [EUR/yr]" in html and "annualised_cost" not in html
    assert ">30,366<" in html and ">2,110,000<" in html
    assert ">✓<" in html and ">✗<" in html
    assert "e+0" not in html and "e-0" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html  # escaped
    assert "…" not in html and "..." not in html  # the long name is whole
    # its own scroll box, sticky headers, wrapping text
    assert html.startswith('<div class="rk-table" style="overflow: auto;')
    assert "position: sticky" in html and "white-space: normal" in html


def test_number_never_uses_an_exponent():
    for x in (1e-7, 0.00012, 0.5, 12.345, 1234.5, 2.11e6, 1e12):
        assert "e" not in fmt.number(x), x
    assert fmt.number(1e-7) == "0.0000001"


def test_every_notebook_table_goes_through_the_formatting_layer(repo_root):
    """No notebook displays a raw DataFrame: every display() of a table is styled."""
    for nb in sorted((repo_root / "notebooks").glob("*.py")):
        for line in nb.read_text(encoding="utf-8").splitlines():
            m = re.search(r"display\((.*)\)\s*$", line.strip())
            if not m or m.group(1).startswith(("Markdown(", "HTML(")):
                continue
            arg = m.group(1)
            assert arg.startswith(("report.styled(", "report.register_view(", "report.risk_")), (
                nb.name,
                line,
            )


# --- figures -------------------------------------------------------------------------------


def test_zone_tolerance_line_has_a_legend_entry():
    ale = pd.DataFrame({"current": [10.0, 5.0]}, index=["A", "B"])
    fig = figures.ale_by_zone(ale, tolerance=20.0, currency="EUR")
    entries = [t.name for t in fig.data if t.showlegend is not False]
    assert "tolerable per zone: 20 EUR/yr" in entries
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_ranking_says_top_n_of_m():
    r = pd.DataFrame(
        {"delta_ale": np.arange(24.0, 0, -1), "annualised_cost": np.ones(24)},
        index=[f"CM-{i}" for i in range(24)],
    )
    assert "(the top 20 of 24 candidates)" in figures.ranking_bars(r).layout.title.text
    assert "top" not in figures.ranking_bars(r.head(5)).layout.title.text


def test_scenario_risk_bubbles_sized_by_ale_with_tolerance_lines_and_escaped_hover():
    sc = pd.DataFrame(
        {
            "zone": ["Z1", "Z1", "Z2", "Z2"],
            "event_rate": [0.1, 0.01, 1.0, 0.0],
            "loss_per_event": [1e5, 1e6, 1e3, 1e4],
        },
        index=["S-1", "S-2", "S-3", "S-4"],
    )
    sc["ale"] = sc["event_rate"] * sc["loss_per_event"]
    fig = figures.scenario_risk(
        sc, {"S-1": "<img src=x onerror=alert(1)>"}, tolerance=5e3, exceedance=[(1e6, 0.1)]
    )
    z1 = next(t for t in fig.data if t.name == "Z1")
    np.testing.assert_allclose(z1.marker.size, [1e4, 1e4])
    np.testing.assert_allclose(z1.x, [1e5, 1e6])
    assert "<img" not in json.dumps(fig.to_plotly_json()["data"], default=str)
    names = [t.name for t in fig.data]
    assert any(n.startswith("expected loss = tolerable per zone") for n in names)
    assert any(n.startswith("site exceedance tolerance") for n in names)
    assert "1 of 4 scenarios with no expected loss left out" in fig.layout.title.text
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_compliance_heatmap_marks_met_and_levels_short():
    rows = []
    for ident, t, a in (
        ("Z1", [2, 2, 1, 1, 1, 1, 3], [1, 2, 1, 0, 1, 1, 1]),
        ("Z2", [1] * 7, [1] * 7),
    ):
        for k, fr in enumerate(FRS):
            rows.append(("zone", ident, fr, t[k], a[k], max(0, t[k] - a[k])))
    tab = pd.DataFrame(rows, columns=["kind", "id", "fr", "sl_t", "sl_a", "gap"])
    fig = figures.compliance_heatmap(tab)
    hm = fig.data[0]
    assert list(hm.text[0]) == ["−1", "✓", "✓", "−1", "✓", "✓", "−2"]
    assert list(hm.text[1]) == ["✓"] * 7
    assert "1 of 2 zones meet all" in fig.layout.title.text
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_radar_titles_are_lifted_above_the_fr_labels():
    rows = [("zone", z, fr, 2, 2, 1, 1, False) for z in ("Z1", "Z2") for fr in FRS]
    tab = pd.DataFrame(
        rows, columns=["kind", "id", "fr", "sl_t", "sl_c", "sl_a", "gap", "capability_gap"]
    )
    fig = figures.sl_radar(tab)
    titles = [a for a in fig.layout.annotations if a.text in ("Z1", "Z2")]
    assert len(titles) == 2 and all(a.yshift and a.yshift >= 20 for a in titles)


# --- quick look and print ------------------------------------------------------------------


def test_quick_look_error_is_two_standard_errors_in_percent():
    assert printing.quick_look_error(1000.0, 50.0) == pytest.approx(10.0)
    assert np.isnan(printing.quick_look_error(0.0, 1.0))
    html = printing.quick_look_html(2000, 10.04)
    assert "Quick look: 2,000 simulated years; figures may move by ±10 %" in html


def test_quick_look_banner_uses_the_runs_own_error(tiny_site):
    A = report.Assessment(tiny_site, trials=400, seed=2, fast=True)
    row = A.simulation("current").summary("site").iloc[0]
    x = 200 * row["ale_se"] / row["ale"]
    assert f"figures may move by ±{x:.0f} %" in report.quick_look_banner(A)


def test_export_html_adds_print_css_and_keeps_the_csp(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title")]
    ipynb = tmp_path / "r.ipynb"
    nbformat.write(nb, ipynb)
    text = report.export_html(ipynb, tmp_path / "r.html").read_text(encoding="utf-8")
    head = text[: text.index("</head>")]
    assert 'id="rk-print"' in head and "@page { size: A4" in head
    assert ".modebar" in head and "overflow: visible" in head
    assert "Content-Security-Policy" in head and "style-src &#x27;unsafe-inline&#x27;" in head


def test_pdf_without_chromium_is_a_clear_error(monkeypatch, tmp_path, repo_root):
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it
    monkeypatch.delenv("RISKKIT_CHROMIUM", raising=False)
    with pytest.raises(printing.ChromiumMissing, match="needs headless Chromium"):
        printing.chromium()
    out = tmp_path / "out"
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    res = CliRunner().invoke(cli, ["assess", str(site), "--out", str(out), "--pdf", "--fast"])
    assert res.exit_code == 1
    assert "--pdf needs headless Chromium" in res.output
    assert not out.exists()  # refused before any work


# --- --previous of another site ------------------------------------------------------------


def _previous(tmp_path, site_id):
    folder = tmp_path / "previous"
    folder.mkdir()
    summary = {
        "provenance": {"site_id": site_id, "input_hash": "0" * 64, "finished": "earlier"},
        "site": {"ale": {"current": 1.0}},
        "zones": {},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_previous_of_another_site_is_refused(tmp_path, repo_root, tiny_site, monkeypatch):
    called = []
    monkeypatch.setattr("riskkit.report.run.assess", lambda *a, **k: called.append(k))
    prev = _previous(tmp_path, "another-plant")
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    res = CliRunner().invoke(cli, ["assess", str(site), "--previous", str(prev)])
    assert res.exit_code == 1
    assert "'another-plant'" in res.output and repr(tiny_site.site.slug) in res.output
    assert "--allow-other-site" in res.output
    assert not called


def test_previous_of_another_site_is_accepted_when_allowed(tmp_path, repo_root, monkeypatch):
    called = []

    def fake(*a, **k):
        called.append(k)
        raise ValueError("stop here")

    monkeypatch.setattr("riskkit.report.run.assess", fake)
    prev = _previous(tmp_path, "another-plant")
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    args = ["assess", str(site), "--previous", str(prev), "--allow-other-site"]
    res = CliRunner().invoke(cli, args)
    assert called and called[0]["previous"] == str(prev)
    assert "stop here" in res.output


def test_previous_of_the_same_site_passes(tmp_path, repo_root, tiny_site, monkeypatch):
    called = []
    monkeypatch.setattr(
        "riskkit.report.run.assess",
        lambda *a, **k: called.append(k) or (_ for _ in ()).throw(ValueError("stop")),
    )
    prev = _previous(tmp_path, tiny_site.site.slug)
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    CliRunner().invoke(cli, ["assess", str(site), "--previous", str(prev)])
    assert called


def test_assess_passes_plan_constraints(tmp_path, repo_root, monkeypatch):
    called = []

    def fake(*a, **k):
        called.append(k)
        raise ValueError("stop")

    monkeypatch.setattr("riskkit.report.run.assess", fake)
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    CliRunner().invoke(cli, ["assess", str(site), "--close-gaps", "--meet-tolerance"])
    assert called[0]["constraints"] == ["close_gaps", "meet_tolerance"]


def test_unknown_constraint_is_refused(tiny_site):
    with pytest.raises(ValueError, match="unknown plan constraint 'close_all'"):
        report.Assessment(tiny_site, trials=200, constraints=["close_all"])


# --- compliance and risk side by side (the water site: it has gap closers) ----------------


@pytest.fixture(scope="module")
def W(water_site):
    return report.Assessment(water_site, trials=2000, seed=11)


def test_unclosable_gaps_have_no_usable_closer(W):
    """Each listed gap is open today and no candidate reaches its SL-T (library's gaps)."""
    G = gaps(W.site, W.targets, state="current")
    closing = G.closers[G.closers["closes"]]
    excluded = set(plans.excluded_for_gaps(W))
    stuck = plans.unclosable_gaps(W)
    assert len(stuck) > 0
    for r in stuck.itertuples():
        assert r.gap > 0
        hit = closing[(closing["id"] == r.id) & (closing["fr"] == r.fr)]
        assert set(hit["countermeasure"]) <= excluded
    # and every open gap not listed has a closer that is not excluded
    open_ = G.table[G.table["gap"] > 0]
    listed = set(zip(stuck["id"], stuck["fr"]))
    for r in open_.itertuples():
        if (r.id, r.fr) not in listed:
            hit = closing[(closing["id"] == r.id) & (closing["fr"] == r.fr)]
            assert set(hit["countermeasure"]) - excluded


def test_gap_plan_closes_every_closable_gap_and_is_the_cheapest(W):
    P, within = W.gap_plan
    assert P is not None
    after = gaps(W.site, W.targets, state="plan", plan=P.members).table
    listed = set(zip(plans.unclosable_gaps(W)["id"], plans.unclosable_gaps(W)["fr"]))
    not_listed = np.array([(i, f) not in listed for i, f in zip(after["id"], after["fr"])])
    still = after[(after["gap"] > 0).to_numpy() & not_listed]
    assert still.empty, still
    assert within == (P.annualised_cost <= W.budget + 1e-6)
    if not within:  # the least budget that closes them: a little less cannot
        from riskkit.portfolio import InfeasiblePlan

        with pytest.raises(InfeasiblePlan):
            plans.constrained_optimize(W, P.annualised_cost * 0.98, ("close_gaps",))


def test_headline_levels_sentence_matches_the_numbers(W):
    line = next(
        ln for ln in report.headline_markdown(W).splitlines() if ln.startswith("- **Security")
    )
    n = len(W.site.zones)
    meets = {}
    for st, plan in (("current", None), ("plan", W.plan.members)):
        g = gaps(W.site, W.targets, state=st, plan=plan).summary
        meets[st] = int(g[g["kind"] == "zone"]["meets"].sum())
    assert f"{meets['current']} of {n} zones reach" in line
    assert f"{meets['plan']} of {n} with the plan" in line
    P, within = W.gap_plan
    gz = gaps(W.site, W.targets, state="plan", plan=P.members).summary
    m_gap = int(gz[gz["kind"] == "zone"]["meets"].sum())
    assert f"({len(P.members)} measures, {money(P.annualised_cost, 'EUR')} per year" in line
    assert f"brings {m_gap} of {n} zones to target" in line
    stuck = plans.unclosable_gaps(W)
    assert f" {len(stuck)} gaps (in " in line
    assert "need a countermeasure not yet in the site file" in line
    assert "listed in notebook 3" not in line  # the old, untrue pointer


def test_side_by_side_table_matches_the_library(W):
    df = plans.plans_side_by_side(W)
    assert df.shape[1] == 2
    for col, P in zip(df.columns, (W.plan, W.gap_plan[0])):
        assert df.loc["Measures", col] == ", ".join(P.members)
        assert df.loc["Annualised cost", col] == f"{money(P.annualised_cost, 'EUR')}/yr"
        assert df.loc["Expected annual loss with the plan", col] == (
            f"{money(P.expected_ale, 'EUR')}/yr"
        )
        g = gaps(W.site, W.targets, state="plan", plan=P.members).summary
        m = int(g[g["kind"] == "zone"]["meets"].sum())
        assert df.loc["Zones meeting SL-T in every FR", col] == f"{m} of {len(W.site.zones)}"


def test_negative_return_names_the_mandatory_measure(water_site):
    """The water site's least-cost plan holds the mandatory WM-08 and costs more than it saves."""
    W = report.Assessment(water_site, trials=2000, seed=11)
    P = optimize(water_site, W.budget, trials=2000, seed=11)
    net = P.reduction - P.annualised_cost
    assert net < 0 and "WM-08" in P.members
    text = report.negative_return_markdown(W)
    assert f"**net cost of {money(-net, 'EUR')} per year**" in text
    assert "mandatory measure WM\\-08" in text
    assert f"costs {money(annualised_cost(water_site, 'WM-08'), 'EUR')} per year" in text
    headline = report.headline_markdown(W)
    assert "mandatory measure WM\\-08" in headline


def test_no_negative_return_remark_when_the_plan_pays(tiny_site):
    A = report.Assessment(tiny_site, trials=400, seed=5, budget=60_000)
    assert A.plan.reduction > A.plan.annualised_cost
    assert report.negative_return_markdown(A) is None


def test_constrained_assessment_closes_the_closable_gaps(water_site):
    A = report.Assessment(water_site, trials=2000, seed=11, constraints=["close_gaps"])
    after = gaps(water_site, A.targets, state="plan", plan=A.plan.members).table
    listed = set(zip(plans.unclosable_gaps(A)["id"], plans.unclosable_gaps(A)["fr"]))
    rest = after[[(i, f) not in listed for i, f in zip(after["id"], after["fr"])]]
    assert (rest["gap"] == 0).all()
    assert "constraints" in A.fingerprint()
    assert isinstance(figures.compliance_heatmap(after), go.Figure)


def test_index_page_of_a_quick_look_carries_the_banner():
    from pathlib import Path

    from riskkit.report import run as report_run

    summary = {
        "currency": "EUR",
        "provenance": {"site": "Plant", "trials": 2000, "seed": 7, "fast": True},
        "site": {"ale": {"current": 1000.0}, "ale_se": {"current": 50.0}},
        "plan": {"members": []},
    }
    page = report_run._index_html(summary, [Path("05_summary.py")])
    assert "Quick look: 2,000 simulated years; figures may move by ±10 %" in page
    assert page.index("rk-quick-look") < page.index("<h1>")
    summary["provenance"]["fast"] = False
    assert "Quick look" not in report_run._index_html(summary, [Path("05_summary.py")])
