"""Tests of riskkit.pipeline and ``riskkit assess``: the deliverables folder.

The end-to-end tests execute every notebook on the tiny site with few trials and compare the
numbers of summary.json with the library's own API called directly with the same inputs and
seed (the same numbers, not merely present keys). They start Jupyter kernels and are marked
slow (about a minute together); they run in CI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import riskkit
from riskkit import pipeline
from riskkit.cli import cli
from riskkit.engine import simulate
from riskkit.levels import compare_methods, gaps, target_levels
from riskkit.portfolio import frontier, optimize
from riskkit.report import run as report_run

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "data" / "tiny" / "site.yaml"
FRS = ["FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7"]
TRIALS, SEED = 500, 7


# --------------------------------------------------------------------------------------------
# Fast tests: no kernel
# --------------------------------------------------------------------------------------------


def test_assessment_calls_the_library_with_its_parameters(tiny_site):
    A = pipeline.Assessment(tiny_site, trials=TRIALS, seed=SEED, budget=40_000)
    for st in ("unmitigated", "current"):
        ref = simulate(tiny_site, trials=TRIALS, seed=SEED, state=st).summary("zone")
        pd.testing.assert_frame_equal(A.simulation(st).summary("zone"), ref)
    ref_plan = optimize(tiny_site, 40_000, trials=TRIALS, seed=SEED)
    assert A.plan_members == ref_plan.members
    ref = simulate(tiny_site, trials=TRIALS, seed=SEED, plan=list(ref_plan.members))
    pd.testing.assert_frame_equal(A.simulation("plan").summary("site"), ref.summary("site"))
    T = target_levels(tiny_site, sim=simulate(tiny_site, TRIALS, SEED, state="unmitigated"))
    pd.testing.assert_frame_equal(A.targets.zones, T.zones)
    pd.testing.assert_frame_equal(A.gaps("current").table, gaps(tiny_site, T).table)


def test_parameters_default_to_the_site_model(tiny_site):
    A = pipeline.Assessment(tiny_site)
    assert (A.trials, A.seed) == (tiny_site.model.trials, tiny_site.model.seed)
    assert pipeline.Assessment(tiny_site, fast=True).trials == pipeline.FAST_TRIALS
    assert pipeline.Assessment(tiny_site, fast=True, trials=321).trials == 321


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"budget": -5}, "budget must be >= 0, -5 was given"),
        ({"trials": 0}, "trials must be >= 100, 0 was given"),
        ({"trials": 99}, "trials must be >= 100, 99 was given"),
        ({"budget_kind": "monthly"}, "budget_kind must be 'annualised' or 'capex'"),
        ({"budget_kind": "capex"}, "a capex budget kind needs a budget"),
    ],
)
def test_bad_parameters_are_refused_with_the_value(tiny_site, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pipeline.Assessment(tiny_site, **kwargs)


def test_recommended_budget_minimises_expected_loss_plus_cost():
    pts = pd.DataFrame(
        {"annualised_cost": [0.0, 10.0, 30.0, 60.0], "expected_ale": [100.0, 70.0, 45.0, 40.0]}
    )
    # totals 100, 80, 75, 100
    assert pipeline.recommended_budget(pts) == 30.0


def test_cache_is_shared_and_ignored_for_other_inputs(tiny_site, tmp_path):
    A = pipeline.Assessment(tiny_site, trials=TRIALS, seed=SEED, cache=tmp_path)
    first = A.simulation("current").summary("site")
    assert (tmp_path / "sim-current.pkl").exists()
    B = pipeline.Assessment(tiny_site, trials=TRIALS, seed=SEED, cache=tmp_path)
    pd.testing.assert_frame_equal(B.simulation("current").summary("site"), first)
    C = pipeline.Assessment(tiny_site, trials=TRIALS, seed=SEED + 1, cache=tmp_path)
    assert not (tmp_path / "sim-current.pkl").exists()  # another seed clears the cache
    ref = simulate(tiny_site, trials=TRIALS, seed=SEED + 1).summary("site")
    pd.testing.assert_frame_equal(C.simulation("current").summary("site"), ref)


def test_default_out_is_dated_hashed_and_never_reused(tiny_site, tmp_path):
    import datetime as dt

    day = dt.date(2026, 11, 1)
    first = pipeline.default_out(tiny_site, tmp_path, today=day)
    assert first == tmp_path / "tiny" / f"2026-11-01-{tiny_site.source_hash[:7]}"
    first.mkdir(parents=True)
    second = pipeline.default_out(tiny_site, tmp_path, today=day)
    assert second.name == first.name + "-2"
    (second.parent / (second.name + ".partial-abc")).mkdir()  # a run in progress holds it
    assert pipeline.default_out(tiny_site, tmp_path, today=day).name == first.name + "-3"


def test_write_tables_xlsx_and_parquet_hold_the_same_rows(tmp_path):
    tables = {
        "plain": pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}),
        "indexed": pd.DataFrame({"x": [1.0]}, index=pd.Index(["Z-1"], name="zone")),
        "lists": pd.DataFrame(
            {"frs": [["FR1", "FR2"], ["FR3"]], "n": pd.array([1, None], "Int64")}
        ),
    }
    names = pipeline.write_tables(tables, tmp_path)
    assert names == list(tables)
    book = pd.read_excel(tmp_path / "tables.xlsx", sheet_name=None)
    assert list(book) == names
    for name in names:
        pq = pd.read_parquet(tmp_path / "tables" / f"{name}.parquet")
        assert len(pq) == len(book[name]) == len(tables[name])
    assert list(pd.read_parquet(tmp_path / "tables" / "indexed.parquet").columns) == ["zone", "x"]
    assert pd.read_parquet(tmp_path / "tables" / "lists.parquet")["frs"][0] == "FR1, FR2"
    with pytest.raises(ValueError, match="longer than Excel's 31"):
        pipeline.write_tables({"x" * 32: tables["plain"]}, tmp_path / "other")


def test_export_html_drops_code_and_internet_scripts(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("secret_variable = 42\nprint(secret_variable)")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": '<script src="https://cdn.example.invalid/x.js"></script>'
                "<div class='plotly-graph-div'>figure</div>",
                "text/plain": "fig",
            },
        )
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), cell]
    src = tmp_path / "nb.ipynb"
    nbformat.write(nb, src)
    html = pipeline.export_html(src, tmp_path / "nb.html").read_text()
    assert "plotly-graph-div" in html and "Title" in html
    assert "secret_variable" not in html
    assert not re.search(r"<script[^>]*src=[\"']https?://", html)


def test_broken_site_writes_nothing(tmp_path):
    bad = REPO / "tests" / "data" / "invalid" / "scenario-unknown-zone.yaml"
    with pytest.raises(riskkit.SiteError):
        pipeline.assess(bad, root=tmp_path)
    assert list(tmp_path.iterdir()) == []
    r = CliRunner().invoke(cli, ["assess", str(bad), "--out", str(tmp_path / "x")])
    assert r.exit_code == 1
    assert "unknown zone" in r.output
    assert list(tmp_path.iterdir()) == []


def test_existing_out_and_bad_parameters_are_refused_before_running(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    with pytest.raises(FileExistsError, match="never overwrites"):
        pipeline.assess(TINY, out)
    with pytest.raises(ValueError, match="capex budget kind needs a budget"):
        pipeline.assess(TINY, tmp_path / "new", budget_kind="capex")
    with pytest.raises(FileNotFoundError, match="no summary.json"):
        pipeline.assess(TINY, tmp_path / "new", previous=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    r = CliRunner().invoke(cli, ["assess", str(TINY), "--out", str(out)])
    assert r.exit_code == 1 and "never overwrites" in r.output


@pytest.mark.parametrize(
    "text, message",
    [("{not json", "not valid JSON"), ("[1, 2]", "not the summary.json of a riskkit assess run")],
)
def test_a_damaged_previous_summary_is_refused_before_running(tmp_path, text, message):
    # it used to fail in the last notebook, after minutes, with a JSONDecodeError
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / "summary.json").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        pipeline.assess(TINY, tmp_path / "new", previous=prev)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev"]
    r = CliRunner().invoke(
        cli, ["assess", str(TINY), "--out", str(tmp_path / "x"), "--previous", str(prev)]
    )
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev"]


def test_changes_compare_zone_ale_and_sl_t_with_a_previous_summary(tiny_site):
    A = pipeline.Assessment(tiny_site, trials=TRIALS, seed=SEED, budget=40_000)
    now = A.zone_summary()
    prev = {
        "zones": {
            "Z-OPS": {
                "ale": {"current": now["Z-OPS"]["ale"]["current"] + 1000.0},
                "sl_t": [4, 4, 4, 4, 4, 4, 4],
                "meets_target": {"current": False},
            },
            "Z-OLD": {"ale": {"current": 5.0}, "sl_t": [1] * 7, "meets_target": {"current": True}},
        }
    }
    ch = A.changes(prev)
    assert ch.loc["Z-OPS", "ale_change"] == pytest.approx(-1000.0)
    assert bool(ch.loc["Z-OPS", "sl_t_changed"])
    assert ch.loc["Z-CTRL", "status"] == "new" and ch.loc["Z-OLD", "status"] == "removed"
    assert A.changes(None).empty


# --------------------------------------------------------------------------------------------
# End to end: every notebook on the tiny site
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    events = []
    res = pipeline.assess(
        TINY, root=root, trials=TRIALS, seed=SEED, progress=lambda e, **i: events.append(e)
    )
    return res, events


def _library_results(site, budget=None):
    """What the library's API gives for the tiny site, trials and seed of these tests."""
    sims = {
        st: simulate(site, trials=TRIALS, seed=SEED, state=st) for st in ("unmitigated", "current")
    }
    if budget is None:
        pts = frontier(site, n=20, trials=TRIALS, seed=SEED).points
        budget = float(
            pts.loc[(pts["expected_ale"] + pts["annualised_cost"]).idxmin(), "annualised_cost"]
        )
    plan = optimize(site, budget, trials=TRIALS, seed=SEED)
    sims["plan"] = simulate(site, trials=TRIALS, seed=SEED, plan=list(plan.members))
    T = target_levels(site, sim=sims["unmitigated"])
    G = {"current": gaps(site, T), "plan": gaps(site, T, state="plan", plan=list(plan.members))}
    return sims, T, G, plan, budget


@pytest.mark.slow
def test_assess_writes_the_complete_folder(first_run):
    res, events = first_run
    out = res.out
    assert out.parent.name == "tiny" and re.fullmatch(r"\d{4}-\d\d-\d\d-[0-9a-f]{7}", out.name)
    stems = [s for s, _ in pipeline.NOTEBOOKS]
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == [f"{s}.ipynb" for s in stems]
    assert sorted(p.name for p in (out / "html").iterdir()) == sorted(
        [f"{s}.html" for s in stems] + ["plotly.min.js"]  # one plotly.js for every page
    )
    for f in ("summary.json", "index.html", "tables.xlsx", "input/site.yaml"):
        assert (out / f).is_file(), f
    assert not (out / ".cache").exists()
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no partial folder left
    sheets = pd.read_excel(out / "tables.xlsx", sheet_name=None)
    parquet = sorted(p.stem for p in (out / "tables").glob("*.parquet"))
    assert sorted(sheets) == parquet
    assert {"register", "risk_zones", "sl_t", "gaps_current", "ranking", "frontier"} <= set(parquet)
    assert events.count("notebook_done") == len(stems) and "cell" in events
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(json.dumps(res.summary))
    assert summary["outputs"]["html"] == [f"html/{s}.html" for s in stems]


@pytest.mark.slow
def test_html_reports_have_live_plots_and_no_code(first_run):
    out = first_run[0].out
    for page in (out / "html").glob("*.html"):
        html = page.read_text()
        assert "plotly-graph-div" in html and "Plotly.newPlot" in html, page.name
        # plotly.js comes from the run folder's one copy beside the page: works offline
        assert '<script src="plotly.min.js" charset="utf-8"></script>' in html, page.name
        assert "window.Plotly" not in html, page.name  # not inlined again
        assert not re.search(r"<script[^>]*src=[\"']https?://", html), page.name
        assert "setup_notebook" not in html and "from_parameters" not in html  # no code cells
    assert "window.Plotly" in (out / "html" / "plotly.min.js").read_text(encoding="utf-8")
    executed = nbformat.read(out / "notebooks" / "02_risk.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert f"trials = {TRIALS}" in injected[0].source and f"seed = {SEED}" in injected[0].source


@pytest.mark.slow
def test_summary_json_equals_the_library_api(first_run, tiny_site):
    s = first_run[0].summary
    sims, T, G, plan, budget = _library_results(tiny_site)
    prov = s["provenance"]
    assert prov["input_hash"] == tiny_site.source_hash
    assert (prov["seed"], prov["trials"]) == (SEED, TRIALS)
    assert prov["budget"] == budget and prov["budget_source"] == "least total cost of risk"
    assert s["riskkit"]["version"] == riskkit.__version__
    assert prov["started"] <= prov["finished"]
    for st, sim in sims.items():
        zs = sim.summary("zone")
        for z in tiny_site.zones:
            for col in ("ale", "ale_se", "var95", "var99", "es99"):
                assert s["zones"][z.id][col][st] == zs.at[z.id, col], (z.id, col, st)
        site = sim.summary("site").iloc[0]
        for col in ("ale", "var95", "var99"):
            assert s["site"]["ale" if col == "ale" else col][st] == site[col]
    for z in tiny_site.zones:
        assert s["zones"][z.id]["sl_t"] == [int(v) for v in T.zones.loc[z.id, FRS]]
        for st, g in G.items():
            rows = g.table[(g.table["kind"] == "zone") & (g.table["id"] == z.id)].set_index("fr")
            assert s["zones"][z.id]["sl_a"][st] == [int(rows.at[f, "sl_a"]) for f in FRS]
            assert s["zones"][z.id]["gap"][st] == [int(rows.at[f, "gap"]) for f in FRS]
            assert s["zones"][z.id]["meets_target"][st] == bool(g.zones_meeting[z.id])
    for c in tiny_site.conduits:
        assert s["conduits"][c.id]["sl_t"] == [int(v) for v in T.conduits.loc[c.id, FRS]]
    p = s["plan"]
    assert [m["id"] for m in p["members"]] == list(plan.members)
    assert p["annualised_cost"] == plan.annualised_cost
    assert p["expected_ale"] == plan.expected_ale
    assert p["ale"] == sims["plan"].summary("site").iloc[0]["ale"]
    assert [f["scenario"] for f in s["flags"]] == list(T.flags["scenario"])


@pytest.mark.slow
def test_second_run_with_previous_and_budget(first_run, tiny_site, tmp_path):
    prev = first_run[0].out
    res = pipeline.assess(
        TINY, tmp_path / "second", trials=TRIALS, seed=SEED, budget=30_000, previous=prev
    )
    s = res.summary
    plan = optimize(tiny_site, 30_000, trials=TRIALS, seed=SEED)
    assert [m["id"] for m in s["plan"]["members"]] == list(plan.members)
    assert s["plan"]["budget_source"] == "given"
    ch = s["changes"]
    assert ch["previous"]["input_hash"] == tiny_site.source_hash
    # same input and seed: the current risk and the targets have not moved
    for z in tiny_site.zones:
        assert ch["zones"][z.id]["ale_change"] == 0.0
        assert ch["zones"][z.id]["sl_t_changed"] is False
    html = (res.out / "html" / "05_summary.html").read_text()
    assert "Compared with the assessment of" in html
    assert "changes" in pd.read_excel(res.out / "tables.xlsx", sheet_name=None)


FAILING = """# %% tags=["parameters"]
site = None
out = None

# %%
x = 1

# %%
total = 0
ratio = x / total
"""


@pytest.mark.slow
def test_failing_cell_keeps_a_failed_folder_and_names_the_cell(tmp_path):
    nb = tmp_path / "nb" / "99_failing.py"
    nb.parent.mkdir()
    nb.write_text(FAILING)
    out = tmp_path / "run"
    with pytest.raises(pipeline.AssessError) as info:
        pipeline.assess(TINY, out, trials=TRIALS, notebooks=[nb])
    err = info.value
    assert err.notebook == "99_failing" and err.ename == "ZeroDivisionError"
    assert "ratio = x / total" in str(err) and "ZeroDivisionError" in str(err)
    assert not out.exists()
    (failed,) = [p for p in tmp_path.iterdir() if p.name.startswith("run-FAILED-")]
    assert err.folder == failed
    assert not (failed / "summary.json").exists() and not (failed / "index.html").exists()
    assert "ratio = x / total" in (failed / "ERROR.txt").read_text()
    partial = nbformat.read(failed / "notebooks" / "99_failing.ipynb", as_version=4)
    errors = [
        o
        for c in partial.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert errors and errors[0].ename == "ZeroDivisionError"
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


@pytest.mark.slow
def test_cli_failing_notebook_exits_1_and_prints_cell_and_error(tmp_path, monkeypatch):
    books = tmp_path / "books"
    books.mkdir()
    for stem, _ in pipeline.NOTEBOOKS:
        text = FAILING if stem == "02_risk" else '# %% tags=["parameters"]\nsite = None\n'
        (books / f"{stem}.py").write_text(text)
    monkeypatch.setattr(report_run, "notebooks_dir", lambda: books)
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["assess", str(TINY), "--out", str(out), "--trials", "200"])
    assert r.exit_code == 1
    assert "notebook 02_risk failed in cell" in r.output
    assert "ratio = x / total" in r.output and "ZeroDivisionError: division by zero" in r.output
    assert not out.exists()
    (failed,) = [p for p in tmp_path.iterdir() if p.name.startswith("run-FAILED-")]
    assert str(failed) in r.output
    assert sorted(p.name for p in (failed / "notebooks").iterdir()) == [
        "01_system.ipynb",
        "02_risk.ipynb",
    ]


def test_a_site_without_scenarios_has_an_empty_register_and_a_summary(tiny_site):
    # a new site whose scenarios are not written yet: the reports must still run
    from riskkit.io import site_to_dict
    from riskkit.site import RawSite, build_site

    d = site_to_dict(tiny_site)
    d["scenarios"] = []
    for cm in d["countermeasures"]:
        cm["effects"] = [e for e in cm["effects"] if e["type"] == "security_level"]
    site = build_site(RawSite(data=d, file="<test>", source_hash=tiny_site.source_hash))
    A = pipeline.Assessment(site, trials=100, seed=SEED)
    reg = A.register()
    assert len(reg) == 0 and {"ale_current", "sl_t", "candidates"} <= set(reg.columns)
    s = A.summary()
    assert s["site"]["ale"]["current"] == 0.0


def test_provenance_line_names_version_hash_seed_trials_and_run_date(tiny_site):
    A = pipeline.Assessment(tiny_site, trials=300, seed=11)
    text = pipeline.provenance_markdown(A)
    assert riskkit.__version__ in text
    assert tiny_site.source_hash[:12] in text
    assert "seed 11" in text and "300 simulated years" in text
    assert re.search(r"run \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", text)


def test_methods_view_pivots_compare_methods(refinery_site):
    A = pipeline.Assessment(refinery_site, trials=300, seed=3)
    view = pipeline.methods_view(A)
    long = compare_methods(refinery_site, simulate(refinery_site, 300, 3, state="unmitigated"))
    assert len(view) == len(long) // 7
    for method in ("rrf", "matrix", "capability"):
        for _, row in view.iterrows():
            ref = long[(long["kind"] == row["kind"]) & (long["id"] == row["id"])]
            assert row[method] == " ".join(str(int(x)) for x in ref[method])
    rrf = view.set_index("id")["rrf"]
    T = target_levels(refinery_site, method="rrf")  # the view's rrf column, not the default
    assert rrf["Z-SIS"] == " ".join(str(int(x)) for x in T.zones.loc["Z-SIS"])
