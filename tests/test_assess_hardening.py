"""Hardening of ``riskkit assess`` (issue 17, the run side).

Each test stands for one finding: a Content-Security-Policy and escaping in the HTML
deliverables, no formula cells in ``tables.xlsx``, one input snapshot for every step, output
faults reported before and during a run, a ``--previous`` summary checked against its schema
before any work, and exit statuses for usage errors and signals. The tests that execute
notebooks use one-cell notebooks (a kernel each, a few seconds) instead of the five reports.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from riskkit import SiteError
from riskkit.cli import cli
from riskkit.report import run as report_run
from riskkit.report.run import OutputError, SnapshotError, export_html
from riskkit.report.tables import write_tables

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "data" / "tiny" / "site.yaml"
GOLDEN = REPO / "tests" / "golden" / "example-water.summary.json"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RISKKIT = Path(sys.executable).parent / "riskkit"
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

PARAMS = """# %% tags=["parameters"]
site = None
trials = None
seed = None
budget = None
budget_kind = "annualised"
out = None
previous = None
fast = False
"""

# what a notebook saw: the site path it was given, the input hash and the current ALE
SEEN = (
    PARAMS
    + """
# %%
import json, pathlib
from riskkit import pipeline
A = pipeline.Assessment.from_parameters(site, trials, seed, budget, budget_kind, fast=fast, out=out)
ale = float(A.simulation("current").summary("site").iloc[0]["ale"])
seen = {{"site": site, "hash": A.site.source_hash, "ale": ale}}
pathlib.Path(out, "seen-{name}.json").write_text(json.dumps(seen))
"""
)


def _books(folder: Path, names, text=PARAMS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        p = folder / f"{n}.py"
        p.write_text(text.format(name=n) if "{name}" in text else text)
        out.append(p)
    return out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


# --------------------------------------------------------------------------------------------
# 1. Content-Security-Policy and escaping of index.html
# --------------------------------------------------------------------------------------------
def _csp(text: str) -> str:
    m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', text)
    assert m, "no Content-Security-Policy meta"
    return m.group(1).replace("&#x27;", "'")


def _report_notebook(tmp_path: Path) -> Path:
    """A notebook with a plotly figure and an HTML output carrying an event-handler payload."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=["Z-OPS", "Z-CTRL"], y=[1, 2]))
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("fig.show()")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/html": fig.to_html(include_plotlyjs=True, full_html=False)}
        ),
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": "<img src=x onerror=\"document.title='pwned'\"><b>PAYLOAD</b>"},
        ),
    ]
    nb.cells = [cell]
    path = tmp_path / "report.ipynb"
    nbformat.write(nb, path)
    return path


def test_export_html_has_a_csp_allowing_only_its_own_inline_scripts(tmp_path):
    html = export_html(_report_notebook(tmp_path), tmp_path / "report.html").read_text()
    csp = _csp(html)
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    scripts = re.search(r"script-src ([^;]*)", csp).group(1).split()
    # no remote source and no blanket inline permission: only hashes of the page's scripts
    assert scripts and all(s.startswith("'sha256-") for s in scripts)
    assert "http" not in csp and "'unsafe-eval'" not in csp
    assert html.index("Content-Security-Policy") < html.index("<script")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_csp_blocks_an_event_handler_and_plotly_still_draws(tmp_path):
    html = export_html(_report_notebook(tmp_path), tmp_path / "report.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9"]
    flags += ["--virtual-time-budget=10000", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", html.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count('class="main-svg"') >= 1  # plotly.js ran
    assert "pwned" not in dom.split("</title>")[0]  # the handler did not
    assert "PAYLOAD" in dom


HOSTILE = "<script>document.title='x'</script><img src=x onerror=alert(1)>"


def test_index_html_escapes_everything_it_shows_and_has_a_csp():
    summary = {
        "currency": HOSTILE,
        "provenance": {
            "site": HOSTILE,
            "input_hash": HOSTILE,
            "seed": HOSTILE,
            "trials": 1000,
            "finished": HOSTILE,
        },
        "riskkit": {"version": HOSTILE},
        "site": {"ale": {"unmitigated": 1.0, "current": 2.0, "plan": 3.0}},
        "plan": {"members": [{"id": HOSTILE}], "annualised_cost": 4.0},
    }
    page = report_run._index_html(summary, [Path("01_system.py")])
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;document.title=&#x27;x&#x27;&lt;/script&gt;" in page
    csp = _csp(page)
    assert "default-src 'none'" in csp and "script-src 'none'" in csp


# --------------------------------------------------------------------------------------------
# 2. No formula cells in tables.xlsx
# --------------------------------------------------------------------------------------------
def test_tables_xlsx_has_no_formula_cells_and_names_survive(tmp_path):
    names = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1+2", "@SUM(A1)", "-3"]
    write_tables({"register": pd.DataFrame({"name": names, "ale": range(5)})}, tmp_path)
    wb = openpyxl.load_workbook(tmp_path / "tables.xlsx")
    kinds = {c.data_type for row in wb["register"].iter_rows() for c in row}
    assert "f" not in kinds
    back = pd.read_excel(tmp_path / "tables.xlsx", sheet_name="register")
    assert back["name"].tolist() == names
    assert pd.read_parquet(tmp_path / "tables" / "register.parquet")["name"].tolist() == names


# --------------------------------------------------------------------------------------------
# 3. One input snapshot; links out of the site folder are refused
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_an_edit_of_the_original_during_the_run_does_not_split_the_deliverables(tmp_path):
    site = tmp_path / "site.yaml"
    shutil.copy(TINY, site)
    books = _books(tmp_path / "books", ["01_a", "02_b"], SEEN)

    def edit_between_notebooks(event, **info):
        if event == "notebook_done" and info["name"] == "01_a":
            text = site.read_text().replace("high: 5}", "high: 500}")  # attempt rate x100
            assert text != site.read_text()
            site.write_text(text)

    res = report_run.assess(
        site,
        tmp_path / "run",
        trials=200,
        seed=3,
        notebooks=books,
        progress=edit_between_notebooks,
    )
    a = json.loads((res.out / "seen-01_a.json").read_text())
    b = json.loads((res.out / "seen-02_b.json").read_text())
    s = json.loads((res.out / "summary.json").read_text())
    assert a["hash"] == b["hash"] == s["provenance"]["input_hash"]
    assert a["ale"] == b["ale"] == s["site"]["ale"]["current"]
    # the notebooks read the run folder's input/ (still named .partial- while they ran)
    seen = Path(b["site"])
    assert seen.name == "site.yaml" and seen.parent.name == "input"
    assert seen.parent.parent.name.startswith("run.partial-")
    assert (res.out / "input" / "site.yaml").read_text() == TINY.read_text()


def _folder_site(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(TINY, folder / "site.yaml")
    return folder


def test_a_link_out_of_the_site_folder_is_refused_before_anything_is_written(tmp_path):
    folder = _folder_site(tmp_path)
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("id,name\nsecret,/etc/shadow content\n")
    (folder / "zones.csv").symlink_to(outside)
    # refused by the loader's folder boundary (riskkit.io) or by the snapshot, whichever
    # looks first; either way before anything is written
    refused = "outside the site folder|out of the site folder"
    with pytest.raises((SnapshotError, SiteError), match=refused):
        report_run.assess(folder, tmp_path / "run")
    assert not (tmp_path / "run").exists() and not _leftovers(tmp_path)
    r = CliRunner().invoke(cli, ["assess", str(folder), "--out", str(tmp_path / "run")])
    assert r.exit_code == 1 and re.search(refused, r.output)
    assert "secret" not in r.output


def test_snapshot_copies_only_site_files_and_links_inside_as_regular_files(tmp_path):
    folder = _folder_site(tmp_path)
    real = folder / "kept" / "site.yaml"
    real.parent.mkdir()
    (folder / "site.yaml").rename(real)
    (folder / "site.yaml").symlink_to(real)
    (folder / "notes.yaml").write_text("not: part of the site\n")
    sources = report_run.snapshot_sources(folder)
    assert [(p, n) for p, n in sources] == [(real.resolve(), "site.yaml")]
    dest = report_run._snapshot(sources, folder, tmp_path / "input")
    assert sorted(p.name for p in dest.iterdir()) == ["site.yaml"]
    assert not (dest / "site.yaml").is_symlink()


# --------------------------------------------------------------------------------------------
# 4. Output faults
# --------------------------------------------------------------------------------------------
def test_a_folder_without_write_permission_is_refused_before_any_work(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    if AS_ROOT:  # chmod does not stop root: simulate what access() reports for other users
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **k: Path(p) != ro and real(p, m, **k))
    else:
        ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="no permission to write in"):
            report_run.assess(TINY, ro / "run", trials=200)
        r = CliRunner().invoke(cli, ["assess", str(TINY), "--out", str(ro / "run")])
    finally:
        ro.chmod(0o755)
    assert r.exit_code == 1 and "no permission to write" in r.output
    assert "Traceback" not in r.output and list(ro.iterdir()) == []


def test_a_parent_that_cannot_be_created_is_reported_as_such(tmp_path, monkeypatch):
    def refuse(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(OutputError) as info:
        report_run.assess(TINY, tmp_path / "a" / "b" / "run", trials=200)
    assert "cannot create the folder" in str(info.value)
    assert "Read-only file system" in str(info.value) and "in the way" not in str(info.value)


def test_too_little_free_space_is_refused_before_any_work(tmp_path):
    with pytest.raises(OutputError, match="MB free"):
        report_run.assess(TINY, tmp_path / "run", trials=200, min_free_mb=1e15)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "where, code", [("export_html", errno.ENOSPC), ("write_tables", errno.EACCES)]
)
def test_a_write_fault_mid_run_removes_the_run_and_keeps_error_txt(
    tmp_path, monkeypatch, where, code
):
    def fault(*a, **k):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(report_run, where, fault)
    books = _books(tmp_path / "books", [stem for stem, _ in report_run.NOTEBOOKS])
    monkeypatch.setattr(report_run, "notebooks_dir", lambda: tmp_path / "books")
    out = tmp_path / "runs" / "run"
    r = CliRunner().invoke(cli, ["assess", str(TINY), "--out", str(out), "--trials", "200"])
    assert books and r.exit_code == 1
    err = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and os.strerror(code) in err[0] and "Traceback" not in r.output
    assert not out.exists() and not _leftovers(out.parent)
    (failed,) = list(out.parent.iterdir())
    assert failed.name.startswith("run-FAILED-")
    assert [p.name for p in failed.iterdir()] == ["ERROR.txt"]
    assert os.strerror(code) in (failed / "ERROR.txt").read_text()


# --------------------------------------------------------------------------------------------
# 5. A --previous summary is checked against the schema before any work
# --------------------------------------------------------------------------------------------
def _previous(tmp_path: Path, damage) -> Path:
    data = json.loads(GOLDEN.read_text())
    data["provenance"]["finished"] = "2026-11-01T10:00:00+00:00"
    damage(data)
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / "summary.json").write_text(json.dumps(data))
    return prev


def _first_zone(d):
    return next(iter(d["zones"].values()))


@pytest.mark.parametrize(
    "damage, field",
    [
        (lambda d: d["provenance"].pop("input_hash"), "provenance.input_hash"),
        (lambda d: d["provenance"].update(finished=20261101), "provenance.finished"),
        (lambda d: d["site"]["ale"].update(current="2.6 M"), "site.ale.current"),
        (lambda d: _first_zone(d)["ale"].pop("current"), ".ale.current"),
        (lambda d: _first_zone(d).update(sl_t=[1, 2, 3]), ".sl_t"),
        (lambda d: _first_zone(d).update(sl_t=[1, 2, 3, 4, 5, 6, "<b>7</b>"]), ".sl_t[6]"),
        (lambda d: _first_zone(d)["meets_target"].update(current=1), ".meets_target.current"),
    ],
)
def test_a_previous_summary_lacking_a_field_is_refused_before_any_work(tmp_path, damage, field):
    prev = _previous(tmp_path, damage)
    with pytest.raises(ValueError) as info:
        report_run.assess(TINY, tmp_path / "run", trials=200, previous=prev)
    msg = str(info.value)
    assert str(prev / "summary.json") in msg and field in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev"]
    r = CliRunner().invoke(
        cli, ["assess", str(TINY), "--out", str(tmp_path / "run"), "--previous", str(prev)]
    )
    assert r.exit_code == 1 and field in r.output and "Traceback" not in r.output


def test_a_conforming_previous_summary_is_accepted(tmp_path):
    prev = _previous(tmp_path, lambda d: None)
    folder, data = report_run.read_previous(prev)
    assert folder == prev.resolve() and data["zones"]


# --------------------------------------------------------------------------------------------
# 6. Exit statuses: usage errors and signals
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["--trials", "0"],
        ["--trials", "-5"],
        ["--seed", "-1"],
        ["--budget", "nan"],
        ["--budget", "-1"],
        ["--budget", "inf"],
    ],
)
def test_usage_errors_exit_2(tmp_path, args):
    r = CliRunner().invoke(cli, ["assess", str(TINY), "--out", str(tmp_path / "run"), *args])
    assert r.exit_code == 2, r.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(not RISKKIT.exists(), reason="the riskkit script is not installed")
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_assess_gives_one_line_and_no_partial_folder(tmp_path, sig, status):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [str(RISKKIT), "assess", str(TINY), "--out", str(out), "--trials", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "TERM": "dumb"},
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("run.partial-*")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no .partial folder appeared"
            time.sleep(0.1)
        time.sleep(1.0)  # inside the first notebook
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and signal.Signals(sig).name in lines[0]
    assert not _leftovers(tmp_path) and not out.exists()
    (failed,) = [p for p in tmp_path.iterdir() if p.name.startswith("run-FAILED-")]
    assert str(failed) in lines[0]
    assert signal.Signals(sig).name in (failed / "ERROR.txt").read_text()
