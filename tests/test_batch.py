"""riskkit batch: discovery, skip of complete runs, manifest, local pool, Dask, timeout, resume.

The slow tests run real assessments of tests/data/tiny at 200 trials (about 25 s each on an
idle 2-core machine); their summary.json must equal a direct ``riskkit assess`` run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from riskkit import __version__
from riskkit.batch import (
    discover,
    find_complete,
    is_complete,
    plan_jobs,
    read_manifest,
    run_batch,
    write_manifest,
)
from riskkit.cli import cli
from riskkit.io import file_hash

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "data" / "tiny" / "site.yaml"
TRIALS, SEED = 200, 5
BROKEN = "site:\n  name: Broken plant\nzones: []\n"


def make_sites(folder: Path) -> Path:
    """A folder of sites: tiny/ (same bytes as tests/data/tiny), tiny-b/ and broken.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    text = TINY.read_text(encoding="utf-8")
    (folder / "tiny").mkdir()
    (folder / "tiny" / "site.yaml").write_text(text, encoding="utf-8")
    (folder / "tiny-b").mkdir()
    assert "  id: tiny\n" in text
    (folder / "tiny-b" / "site.yaml").write_text(
        text.replace("  id: tiny\n", "  id: tiny-b\n"), encoding="utf-8"
    )
    (folder / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    return folder


def rows_by_id(out: Path) -> dict:
    return {r["site_id"]: r for r in read_manifest(out)["sites"]}


def comparable(summary: dict) -> dict:
    """summary.json without what differs between two runs of the same input (times, paths)."""
    s = json.loads(json.dumps(summary))
    s.pop("timings", None)
    for k in ("input", "started", "finished"):
        s["provenance"].pop(k, None)
    return s


def read_summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def invoke(*args):
    return CliRunner().invoke(cli, ["batch", *map(str, args)], catch_exceptions=False)


# ---------------------------------------------------------------------------------------------
# discovery, planning, completeness, manifest (no notebooks)
# ---------------------------------------------------------------------------------------------


def test_discover_files_site_folders_and_folders_of_sites(tmp_path):
    sites = tmp_path / "estate"
    (sites / "b").mkdir(parents=True)
    (sites / "b" / "site.yaml").write_text("x")
    (sites / "a.yaml").write_text("x")
    (sites / "w.xlsx").write_text("x")
    (sites / ".hidden.yaml").write_text("x")
    (sites / "~$w.xlsx").write_text("x")
    (sites / "notes.txt").write_text("x")
    (sites / "not-a-site").mkdir()
    single = tmp_path / "one.yml"
    single.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing"
    found = discover([sites, single, sites / "b", empty, missing])
    assert found == [sites / "a.yaml", sites / "b", sites / "w.xlsx", single, empty, missing]


def test_plan_fails_an_invalid_site_at_once_and_gives_fresh_folders(tmp_path):
    sites = make_sites(tmp_path / "sites")
    twin = tmp_path / "twin" / "tiny"
    twin.mkdir(parents=True)
    (twin / "site.yaml").write_bytes(TINY.read_bytes())
    day = dt.date(2026, 1, 2)
    jobs = plan_jobs([sites, twin.parent], tmp_path / "out", trials=TRIALS, today=day)
    by = {j.input: j for j in jobs}
    broken = by[str(sites / "broken.yaml")]
    assert broken.status == "failed" and broken.site_id == "broken"
    assert "broken.yaml:3" in broken.error and "at least one zone" in broken.error
    h = file_hash([TINY])
    tiny, twin_job = by[str(sites / "tiny")], by[str(twin)]
    assert (tiny.status, tiny.input_sha256, tiny.trials, tiny.seed) == ("run", h, TRIALS, 62443)
    assert Path(tiny.out) == tmp_path / "out" / "tiny" / f"2026-01-02-{h[:7]}"
    # the same site twice in one batch never shares a folder
    assert Path(twin_job.out) == tmp_path / "out" / "tiny" / f"2026-01-02-{h[:7]}-2"
    assert by[str(sites / "tiny-b")].site_id == "tiny-b"
    missing = plan_jobs([tmp_path / "nowhere"], tmp_path / "out")[0]
    assert missing.status == "failed" and "nowhere" in missing.error


def fake_run(folder: Path, h: str, trials=TRIALS, seed=SEED, version=__version__) -> Path:
    """A run folder shaped like a finished assess: outputs listed in summary.json exist."""
    folder.mkdir(parents=True)
    (folder / "notebooks").mkdir()
    (folder / "notebooks" / "01.ipynb").write_text("{}")
    (folder / "tables.xlsx").write_text("x")
    summary = {
        "riskkit": {"version": version},
        "provenance": {
            "input_hash": h,
            "trials": trials,
            "seed": seed,
            "fast": False,
            "budget_source": "least total cost of risk",
            "previous": None,
        },
        "outputs": {"notebooks": ["notebooks/01.ipynb"], "workbook": "tables.xlsx"},
        "zones": {},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_complete_run_detection(tmp_path):
    h = "ab" * 32
    run = fake_run(tmp_path / "tiny" / "2026-01-01-abababa", h)
    assert is_complete(run, h, TRIALS, SEED)
    assert not is_complete(run, h, TRIALS, SEED + 1)
    assert not is_complete(run, h, TRIALS + 1, SEED)
    assert not is_complete(run, "cd" * 32, TRIALS, SEED)
    assert not is_complete(run, h, TRIALS, SEED, fast=True)
    assert not is_complete(run, h, TRIALS, SEED, version="0.0.0")
    for name in ("2026-01-01-x.partial-k2j3", "2026-01-01-x-FAILED-20260101T000000Z"):
        assert not is_complete(fake_run(tmp_path / "tiny" / name, h), h, TRIALS, SEED)
    other = fake_run(tmp_path / "other", h)
    (other / "tables.xlsx").unlink()  # a listed output went missing
    assert not is_complete(other, h, TRIALS, SEED)
    (run / "summary.json").write_text("{not json")
    assert not is_complete(run, h, TRIALS, SEED)
    assert find_complete(tmp_path / "tiny", h, TRIALS, SEED) is None


def test_plan_skips_a_complete_run_unless_forced(tmp_path):
    h = file_hash([TINY])
    out = tmp_path / "out"
    done = fake_run(out / "tiny" / f"2026-01-01-{h[:7]}", h)
    day = dt.date(2026, 1, 1)
    (job,) = plan_jobs([TINY], out, trials=TRIALS, seed=SEED, today=day)
    assert (job.status, Path(job.out)) == ("skipped", done)
    (job,) = plan_jobs([TINY], out, trials=TRIALS, seed=SEED + 1, today=day)
    assert job.status == "run" and Path(job.out).name == f"2026-01-01-{h[:7]}-2"
    (job,) = plan_jobs([TINY], out, trials=TRIALS, seed=SEED, force=True, today=day)
    assert job.status == "run" and Path(job.out).name == f"2026-01-01-{h[:7]}-2"


def test_manifest_json_and_csv_and_no_formulas_in_csv(tmp_path):
    row = {
        "site_id": '=HYPERLINK("http://x")',
        "input": "+1",
        "input_sha256": "ab",
        "status": "failed",
        "duration_s": 1.5,
        "output": "",
        "error": "@bad\nsecond line",
        "trials": None,
        "seed": None,
    }
    jpath, cpath = write_manifest(tmp_path, [row], {"riskkit": __version__})
    doc = json.loads(jpath.read_text())
    assert doc["sites"] == [row] and doc["counts"] == {"ok": 0, "failed": 1, "skipped": 0}
    import csv

    with cpath.open(newline="") as fh:
        (got,) = list(csv.DictReader(fh))
    assert got["site_id"] == '\'=HYPERLINK("http://x")'
    assert got["input"] == "'+1" and got["error"] == "'@bad\nsecond line"
    assert got["duration_s"] == "1.5" and got["status"] == "failed"


def test_cli_batch_of_only_broken_sites_exits_1_naming_them(tmp_path):
    (tmp_path / "broken.yaml").write_text(BROKEN)
    res = invoke(tmp_path / "broken.yaml", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert res.exit_code == 1
    assert "failed: broken, nowhere" in res.output
    rows = rows_by_id(tmp_path / "out")
    assert rows["broken"]["status"] == rows["nowhere"]["status"] == "failed"
    assert "at least one zone" in rows["broken"]["error"]
    assert (tmp_path / "out" / "manifest.csv").read_text().startswith("site_id,input,")


# ---------------------------------------------------------------------------------------------
# real runs
# ---------------------------------------------------------------------------------------------


class DirectRun:
    """``riskkit assess`` of tests/data/tiny started in the background, awaited on first use."""

    def __init__(self, out: Path):
        self.out = out
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "riskkit",
                "assess",
                str(TINY.parent),
                "--out",
                str(out),
                "--trials",
                str(TRIALS),
                "--seed",
                str(SEED),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._summary = None

    def summary(self) -> dict:
        if self._summary is None:
            log, _ = self.proc.communicate(timeout=600)
            assert self.proc.returncode == 0, log
            self._summary = comparable(read_summary(self.out))
        return self._summary


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    run = DirectRun(tmp_path_factory.mktemp("direct") / "run")
    yield run
    if run.proc.poll() is None:
        os.killpg(run.proc.pid, signal.SIGKILL)
        run.proc.wait()


def wait_for(cond, timeout: float, what: str, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the batch ended (status {proc.returncode}) before {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def manifest_status(out: Path, site_id: str):
    try:
        return rows_by_id(out).get(site_id, {}).get("status")
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_local_pool_killed_half_way_resumes_skips_and_force_reruns(tmp_path, direct):
    import psutil

    sites = make_sites(tmp_path / "sites")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "riskkit",
        "batch",
        str(sites),
        "--out",
        str(out),
        "--workers",
        "1",
        "--trials",
        str(TRIALS),
        "--seed",
        str(SEED),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        # 1. kill the batch (SIGTERM) once tiny is done and tiny-b is half-way
        wait_for(lambda: manifest_status(out, "tiny") == "ok", 300, "tiny to finish", proc)
        wait_for(lambda: any((out / "tiny-b").glob("*.partial-*")), 120, "tiny-b to start", proc)
        below = psutil.Process(proc.pid).children(recursive=True)
        assert below, "tiny-b's child process should be running"
        proc.send_signal(signal.SIGTERM)
        log, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1, log
    assert "interrupted" in log and "tiny-b" in log.split("failed:")[-1]
    gone, alive = psutil.wait_procs(below, timeout=15)
    assert not alive, f"processes of the killed site survived: {alive}"
    rows = rows_by_id(out)
    assert rows["tiny"]["status"] == "ok"
    assert rows["tiny-b"]["status"] == "failed" and "interrupted" in rows["tiny-b"]["error"]
    assert not list((out / "tiny-b").glob("*.partial-*"))
    assert list((out / "tiny-b").glob("*-FAILED-*/ERROR.txt"))
    first_tiny = rows["tiny"]["output"]

    # 2. the rerun resumes: tiny skipped, tiny-b runs, the broken site fails again
    res = invoke(sites, "--out", out, "--workers", "2", "--trials", TRIALS, "--seed", SEED)
    assert res.exit_code == 1 and "failed: broken" in res.output
    rows = rows_by_id(out)
    assert rows["tiny"]["status"] == "skipped" and rows["tiny"]["output"] == first_tiny
    assert rows["tiny-b"]["status"] == "ok"
    assert rows["broken"]["status"] == "failed" and "at least one zone" in rows["broken"]["error"]
    assert comparable(read_summary(out / first_tiny)) == direct.summary()
    b = read_summary(out / rows["tiny-b"]["output"])
    assert b["provenance"]["site_id"] == "tiny-b" and b["provenance"]["seed"] == SEED

    # 3. once more: nothing to run
    res = invoke(sites, "--out", out, "--trials", TRIALS, "--seed", SEED)
    assert res.exit_code == 1
    rows = rows_by_id(out)
    assert [rows[s]["status"] for s in ("tiny", "tiny-b")] == ["skipped", "skipped"]

    # 4. --force reruns both, two assessments at once (kernels must not collide)
    res = invoke(
        sites / "tiny",
        sites / "tiny-b",
        "--out",
        out,
        "--workers",
        "2",
        "--trials",
        TRIALS,
        "--seed",
        SEED,
        "--force",
    )
    assert res.exit_code == 0, res.output
    rows = rows_by_id(out)
    assert [rows[s]["status"] for s in ("tiny", "tiny-b")] == ["ok", "ok"], rows
    assert rows["tiny"]["output"] != first_tiny
    assert comparable(read_summary(out / rows["tiny"]["output"])) == direct.summary()


@pytest.mark.slow
def test_dask_local_cluster(tmp_path, direct):
    from dask.distributed import LocalCluster

    sites = make_sites(tmp_path / "sites")
    out = tmp_path / "out"
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        res = invoke(
            sites / "tiny",
            sites / "broken.yaml",
            "--out",
            out,
            "--scheduler",
            cluster.scheduler_address,
            "--trials",
            TRIALS,
            "--seed",
            SEED,
        )
    assert res.exit_code == 1 and "failed: broken" in res.output
    rows = rows_by_id(out)
    assert rows["tiny"]["status"] == "ok" and rows["broken"]["status"] == "failed"
    assert comparable(read_summary(out / rows["tiny"]["output"])) == direct.summary()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_dask_scheduler_and_worker_processes(tmp_path, direct):
    sites = make_sites(tmp_path / "sites")
    out = tmp_path / "out"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    started, logs = [], []
    try:
        for cmd in (
            [
                *dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--dashboard-address",
                "127.0.0.1:0",
            ],
            [
                *dask,
                "worker",
                address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--memory-limit",
                "0",
            ],
        ):
            log = (tmp_path / f"{cmd[3]}.log").open("w")
            logs.append(log)
            started.append(
                subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "riskkit",
                "batch",
                str(sites / "tiny"),
                str(sites / "broken.yaml"),
                "--out",
                str(out),
                "--scheduler",
                address,
                "--trials",
                str(TRIALS),
                "--seed",
                str(SEED),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        for p in started:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        for log in logs:
            log.close()
    assert res.returncode == 1, res.stdout + res.stderr
    assert "failed: broken" in res.stderr
    rows = rows_by_id(out)
    assert rows["tiny"]["status"] == "ok", rows["tiny"]
    assert rows["broken"]["status"] == "failed"
    assert comparable(read_summary(out / rows["tiny"]["output"])) == direct.summary()


HANG = """# %% tags=["parameters"]
site = None

# %%
import time

time.sleep(600)
"""


@pytest.mark.slow
def test_timeout_kills_a_hung_notebook_and_its_kernel(tmp_path):
    import psutil

    nb = tmp_path / "hang.py"
    nb.write_text(HANG)
    seen: dict = {"kernels": []}

    def progress(event, **info):
        if event == "site_started":
            seen["pid"] = info["pid"]
        elif event == "site_cell" and "pid" in seen:  # the kernel is up and about to sleep
            try:
                seen["kernels"] = psutil.Process(seen["pid"]).children(recursive=True)
            except psutil.Error:
                pass

    limit = 15.0
    t0 = time.monotonic()
    result = run_batch(
        [TINY.parent],
        tmp_path / "out",
        trials=TRIALS,
        timeout=limit,
        notebooks=[nb],
        progress=progress,
    )
    took = time.monotonic() - t0
    (row,) = result.rows
    assert row["status"] == "failed" and f"timed out after {limit:g} s" in row["error"]
    assert limit <= row["duration_s"] and took < limit + 20
    assert seen["kernels"], "the hanging kernel was never seen running"
    gone, alive = psutil.wait_procs(seen["kernels"], timeout=10)
    assert not alive, f"kernel processes survived the timeout: {alive}"
    failed = tmp_path / "out" / row["output"]
    assert "-FAILED-" in failed.name and "timed out" in (failed / "ERROR.txt").read_text()
    assert not list((tmp_path / "out" / "tiny").glob("*.partial-*"))
