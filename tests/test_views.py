"""Every report view on a site with a payload in every free-text field (issue 17).

Each view's output (Markdown, styled HTML, plotly figure) must hold no raw payload and must
hold its escaped form, so the text still shows literally. The escaping itself is
riskkit.escape (tests/test_escape.py); these tests check that every view calls it.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import BASE_SITE, build
from xss_payloads import PAYLOADS, poison

from riskkit import escape, figures, report

TRIALS, SEED = 200, 3
ALL = list(PAYLOADS.values())


@pytest.fixture(scope="module")
def A():
    site = build(poison(BASE_SITE))
    return report.Assessment(site, trials=TRIALS, seed=SEED, budget=60_000)


def _no_raw(text: str, esc=escape.markdown) -> None:
    """No payload that ``esc`` would change appears unescaped in ``text``.

    (A Markdown link is markup only in Markdown: HTML and plotly show it as it is.)
    """
    raw = [k for k, v in PAYLOADS.items() if esc(v) != v and v in text]
    assert not raw, f"raw payloads {raw} in output"


def _md_has(text: str, *values: str) -> None:
    _no_raw(text)
    for v in values:
        assert escape.markdown(v) in text


def _html_has(text: str, *values: str) -> None:
    _no_raw(text, escape.html)
    for v in values:
        assert escape.html(v) in text


def test_payload_site_carries_the_payloads(A):
    S = A.site
    assert S.name == PAYLOADS["img"] and S.currency == PAYLOADS["script"]
    assert any(cm.exclusive_group == PAYLOADS["td"] for cm in S.candidates)


# --- Markdown ------------------------------------------------------------------------------


def test_provenance_escapes_site_name_and_currency(A):
    _md_has(report.provenance_markdown(A), A.site.name, A.site.currency)


def test_headline_escapes_site_name_and_currency(A):
    _md_has(report.headline_markdown(A), A.site.name, A.site.currency)


def test_plan_markdown_escapes_currency(A):
    assert A.plan.members  # the plan names members, so the member list is exercised too
    _md_has(report.plan_markdown(A), A.site.currency)


def test_levels_tolerance_checks_markdown_have_no_raw_payload(A):
    for text in (
        report.levels_markdown(A),
        report.tolerance_markdown(A.tolerance_check()),
        report.checks_markdown(A.checks),
    ):
        _no_raw(text)


def test_checks_markdown_escapes_severity_words():
    checks = pd.DataFrame({"severity": [PAYLOADS["script"], PAYLOADS["script"]]})
    _md_has(report.checks_markdown(checks), PAYLOADS["script"])


def test_tolerance_markdown_escapes_states_and_tolerance_names():
    tol = pd.DataFrame(
        {
            "state": [PAYLOADS["img"]],
            "tolerance": [PAYLOADS["td"] + " >= 3"],
            "within": [False],
        }
    )
    _md_has(report.tolerance_markdown(tol), PAYLOADS["img"], PAYLOADS["td"])


def test_flags_markdown_escapes_messages():
    flags = pd.DataFrame({"message": [f"scenario {PAYLOADS['md_link']} needs more"]})
    _md_has(report.flags_markdown(flags), PAYLOADS["md_link"])


@pytest.fixture(scope="module")
def tampered_previous(A, tmp_path_factory):
    """A previous run's summary.json with a payload zone key and timestamp."""
    # the fields a previous summary holds (A.summary() needs a site read from a file)
    prev = {
        "provenance": {"input_hash": "0" * 64, "finished": "", "site_id": PAYLOADS["script"]},
        "site": {"ale": {"current": 1000.0}},
        "zones": json.loads(json.dumps(A.zone_summary(), default=str)),
    }
    zid = next(iter(prev["zones"]))
    prev["zones"][PAYLOADS["svg"]] = prev["zones"][zid]
    prev["provenance"]["finished"] = PAYLOADS["img"]
    folder = tmp_path_factory.mktemp("previous")
    (folder / "summary.json").write_text(json.dumps(prev))
    return folder


def test_changes_markdown_escapes_previous_zone_keys_and_timestamp(A, tampered_previous):
    text = report.changes_markdown(A, tampered_previous)
    assert "Zones removed" in text
    # the previous run's site id differs: said, and escaped
    assert "**That run is of another site**" in text
    _md_has(text, PAYLOADS["svg"], PAYLOADS["img"], PAYLOADS["script"], A.site.currency)


def test_changes_markdown_ignores_a_non_numeric_previous_loss(A, tampered_previous, tmp_path):
    prev = json.loads((tampered_previous / "summary.json").read_text())
    prev["site"]["ale"]["current"] = PAYLOADS["script"]
    (tmp_path / "summary.json").write_text(json.dumps(prev))
    text = report.changes_markdown(A, tmp_path)
    assert "then," not in text
    _no_raw(text)


# --- styled tables -------------------------------------------------------------------------


def test_styled_zone_status_escapes_names(A):
    html = report.styled(report.zone_status_view(A)).to_html()
    _html_has(html, *(z.name for z in A.site.zones))


def test_styled_register_escapes_names(A):
    html = report.register_view(A.register()).to_html()
    _html_has(html, *(s.name for s in A.site.scenarios))


def test_styled_top_risks_escapes_names(A):
    html = report.styled(report.top_risks_view(A), hide_index=True).to_html()
    _html_has(html, *(s.name for s in A.site.scenarios))


def test_styled_ranking_escapes_names_and_exclusive_group(A):
    html = report.styled(report.ranking_view(A.ranking), hide_index=True).to_html()
    _html_has(html, PAYLOADS["td"], *(cm.name for cm in A.site.candidates))


def test_styled_escapes_index_headers_and_list_cells():
    df = pd.DataFrame(
        {"members": [[PAYLOADS["img"], "CM-1"]], "ale": [1234.5]},
        index=pd.Index([PAYLOADS["script"]], name="zone"),
    )
    html = report.styled(df).to_html()
    _html_has(html, PAYLOADS["img"], PAYLOADS["script"])
    assert "1,234" in html  # the money column keeps its format


# --- figures -------------------------------------------------------------------------------


def _strings(obj):
    """Every string inside a plotly figure's JSON-able dict."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)
    elif hasattr(obj, "tolist"):
        yield from _strings(obj.tolist())


def _fig_has(fig, *values: str) -> None:
    text = "\n".join(_strings(fig.to_plotly_json()))
    _no_raw(text, escape.plot)
    for v in values:
        assert escape.plot(v) in text, v


def test_zone_diagram_escapes_every_site_string(A):
    S = A.site
    strings = [S.name, *(z.name for z in S.zones), *(c.name for c in S.conduits)]
    strings += [a for z in S.zones for a in z.assets] + [p for c in S.conduits for p in c.protocols]
    _fig_has(figures.zone_diagram(S), *strings)
    t, a = report.level_frames(A)
    _fig_has(figures.zone_diagram(S, t, a, title=f"Zones of {S.name}"), S.name)


BAD = PAYLOADS["script"]
"""An id or label that did not come from a validated site (a tampered summary, a caller)."""


def test_risk_figures_escape_labels_and_currency():
    ale = pd.DataFrame({BAD: [1e4, 2e4]}, index=[PAYLOADS["img"], "Z-2"])
    _fig_has(figures.ale_by_zone(ale, ale / 10, 1e4, BAD, title=BAD), BAD, PAYLOADS["img"])
    curve = pd.Series([0.5, 0.1], index=[1e3, 1e5])
    _fig_has(figures.exceedance_curves({BAD: curve}, [(1e4, 0.1)], BAD, title=BAD), BAD)
    freq = pd.DataFrame({f"safety_ge{k}": [1e-3] for k in (1, 2, 3, 4)}, index=[BAD])
    _fig_has(figures.severity_frequencies(freq, title=BAD), BAD)


def test_level_figures_escape_ids(A):
    table = A.gaps("current").table.copy()
    table["id"] = table["id"].replace({"Z-OPS": BAD})
    _fig_has(figures.sl_radar(table, title=BAD), BAD)
    _fig_has(figures.gap_heatmap(table, title=BAD), BAD)


def test_countermeasure_figures_escape_ids_members_and_currency():
    pts = pd.DataFrame(
        {
            "annualised_cost": [0.0, 1e4],
            "expected_ale": [5e4, 2e4],
            "var99": [1e6, 5e5],
            "members": [[], [PAYLOADS["td"]]],
        }
    )
    fig = figures.frontier_figure(pts, pts, (1e4, 2e4), 5e4, BAD, title=BAD)
    _fig_has(fig, BAD, PAYLOADS["td"])
    rk = pd.DataFrame(
        {"countermeasure": [PAYLOADS["svg"]], "delta_ale": [1e4], "annualised_cost": [1e3]}
    )
    _fig_has(figures.ranking_bars(rk, currency=BAD, title=BAD), BAD, PAYLOADS["svg"])


def test_summary_figures_escape_ids_labels_and_currency():
    _fig_has(figures.plan_value(5e4, 2e4, 1e4, BAD, title=BAD), BAD)
    before = pd.Series({PAYLOADS["svg"]: 1e4})
    fig = figures.change_bars(before, pd.Series({"Z-1": 2e4}), BAD, labels=(BAD, "now"), title=BAD)
    _fig_has(fig, BAD, PAYLOADS["svg"])


def test_start_builds_the_assessment_and_shows_provenance(tmp_path, monkeypatch, repo_root):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    A = report.start(site, TRIALS, SEED, None, "annualised", True, tmp_path)
    assert isinstance(A, report.Assessment)
    assert (A.trials, A.seed, A.fast) == (TRIALS, SEED, True)
    # a fast run is a quick look: its banner first, then the provenance line
    assert len(shown) == 2 and "Tiny test site" in shown[1].data
    assert f"Quick look: {TRIALS:,} simulated years; figures may move by ±" in shown[0].data


def test_start_shows_no_quick_look_banner_for_a_full_run(tmp_path, monkeypatch, repo_root):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    report.start(site, TRIALS, SEED, None, "annualised", False, tmp_path)
    assert len(shown) == 1 and "Quick look" not in shown[0].data
