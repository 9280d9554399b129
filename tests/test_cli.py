"""Tests of the ``riskkit`` command line: help everywhere, validate and export, exit codes.

Most tests run the click group in-process (``CliRunner``); a few start real processes to check
the console script and ``python -m riskkit``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO_ROOT

from riskkit import __version__, load_site
from riskkit.cli import cli

TINY = REPO_ROOT / "tests" / "data" / "tiny" / "site.yaml"
WATER = REPO_ROOT / "data" / "sites" / "example-water"
REFINERY = REPO_ROOT / "data" / "sites" / "example-refinery"
BROKEN = REPO_ROOT / "tests" / "data" / "invalid" / "scenario-unknown-actor.yaml"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_top_level_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0
    assert "IEC 62443" in result.output
    for name in cli.commands:
        assert name in result.output


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("command", sorted(cli.commands))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_has_help(command, flag):
    result = run(command, flag)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cli {command}") or f"{command} [OPTIONS]" in (
        result.output
    )
    doc = cli.commands[command].help or ""
    assert doc.strip(), f"{command} has no docstring"
    assert doc.strip().split()[0] in result.output


@pytest.mark.parametrize("path", [TINY, WATER, REFINERY], ids=["tiny", "water", "refinery"])
def test_validate_prints_the_inventory(path):
    site = load_site(path)
    inv = site.inventory()
    result = run("validate", path)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{path}: OK" in out and site.name in out
    for n, word in [
        (inv["zones"], "zones"),
        (inv["conduits"], "conduits"),
        (inv["threat_actors"], "actors"),
        (inv["scenarios"], "scenarios"),
        (inv["countermeasures"], "countermeasures"),
        (len(site.implemented), "implemented"),
        (len(site.candidates), "candidates"),
    ]:
        assert f"{n} {word}" in out


def test_validate_several_paths_reports_each_and_fails_if_one_fails():
    result = run("validate", TINY, BROKEN, WATER)
    assert result.exit_code == 1
    out = result.output
    assert f"{TINY}: OK" in out and f"{WATER}: OK" in out
    assert f"{BROKEN}: INVALID, 1 problem(s)" in out
    assert "S-01: actor: unknown threat actor 'A-99'" in out


def test_validate_missing_file_and_no_argument():
    result = run("validate", REPO_ROOT / "nope.yaml")
    assert result.exit_code == 1 and "not found" in result.output
    assert run("validate").exit_code == 2  # usage error


def _clean_site(tmp_path):
    """The tiny site with S-2's safety harm at severity 2: no finding under the default SL-T.

    With severity 3 the minimal SL-T of Z-CTRL is 3 in FR2 and FR5 (S-2's safety>=3 tolerance;
    under the capability-aware SL effect level 3 is not capped at the actor's capability 2, as
    the rrf method capped it), against Z-OPS's 1: a conduit-sl-span warning on C-OPS-CTRL.
    """
    import yaml

    d = yaml.safe_load(TINY.read_text())
    d["scenarios"][1]["consequences"]["safety"]["severity"] = 2
    path = tmp_path / "clean.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_validate_checks_option(tmp_path):
    clean = run("validate", "--checks", _clean_site(tmp_path))
    assert clean.exit_code == 0, clean.output
    assert "  checks: no findings" in clean.output and "[error]" not in clean.output
    span = run("validate", "--checks", TINY)  # the model-v2 SL-T of the tiny site spans 1 vs 3
    assert span.exit_code == 0, span.output
    assert "[warning] conduit-sl-span: C-OPS-CTRL" in span.output
    assert "(FR2 1 vs 3, FR5 1 vs 3)" in span.output
    found = run("validate", "--checks", WATER)
    assert found.exit_code == 1, found.output  # an error finding fails, like a linter
    assert (
        "  [error] enterprise-reaches-control: Z-IT->Z-SCADA: enterprise-level zone Z-IT"
        " (Purdue 4) reaches Z-SCADA (Purdue 2) without a DMZ: Z-IT --C-IT-SCADA--> Z-SCADA"
    ) in found.output
    assert "no findings" not in found.output


def test_validate_xlsx_and_folder(tmp_path):
    out = tmp_path / "tiny.xlsx"
    assert run("export", TINY, out).exit_code == 0
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(TINY, folder / "site.yaml")
    result = run("validate", out, folder)
    assert result.exit_code == 0, result.output
    assert result.output.count(": OK  Tiny test site") == 2


def test_export_writes_and_never_overwrites(tmp_path):
    out = tmp_path / "water.xlsx"
    result = run("export", WATER, out)
    assert result.exit_code == 0 and f"wrote {out}" in result.output
    first = out.read_bytes()
    again = run("export", TINY, out)
    assert again.exit_code == 1 and "exists" in again.output
    assert out.read_bytes() == first


def test_export_of_an_invalid_site_fails_with_its_problems(tmp_path):
    out = tmp_path / "x.xlsx"
    result = run("export", BROKEN, out)
    assert result.exit_code == 1
    assert "unknown threat actor 'A-99'" in result.output
    assert isinstance(result.exception, SystemExit)
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# real processes
# --------------------------------------------------------------------------------------------


def test_python_dash_m_riskkit():
    proc = subprocess.run(
        [sys.executable, "-m", "riskkit", "validate", str(TINY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "OK  Tiny test site" in proc.stdout


def test_console_script_on_a_broken_file_has_no_traceback():
    exe = Path(sys.executable).with_name("riskkit")  # installed beside the interpreter
    if not exe.exists():
        pytest.skip("the riskkit console script is not installed in this environment")
    proc = subprocess.run(
        [str(exe), "validate", str(BROKEN)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{BROKEN}:" in proc.stdout and "S-01: actor:" in proc.stdout


def test_export_to_another_suffix_is_a_usage_error(tmp_path):
    out = tmp_path / "site.csv"
    result = run("export", TINY, out)
    assert result.exit_code == 2 and "site.csv" in result.output and ".xlsx" in result.output
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize(
    "args, bad",
    [(["--time-limit", "-1"], "-1"), (["--time-limit", "0"], "0"), (["--top", "-1"], "-1")],
)
def test_plan_refuses_non_positive_time_limit_and_negative_top(args, bad):
    result = run("plan", TINY, *args)
    assert result.exit_code == 2, result.output
    assert bad in result.output and "Traceback" not in result.output


def test_simulate_with_more_trials_than_memory_says_so():
    result = run("simulate", TINY, "--trials", 10**15)
    assert result.exit_code == 1, result.output
    assert "not enough memory" in result.output and "1,000,000,000,000,000" in result.output


def test_simulate_a_plan_breaking_an_exclusive_group_runs_with_a_note(tmp_path):
    # simulate is a what-if tool: it runs the plan, and says the optimiser would not choose it
    text = TINY.read_text(encoding="utf-8")
    for cid in ("CM-2", "CM-3"):
        text = text.replace(f"  - id: {cid}\n", f"  - id: {cid}\n    exclusive_group: g\n")
    site = tmp_path / "site.yaml"
    site.write_text(text, encoding="utf-8")
    result = run("simulate", site, "--trials", 100, "--plan", "CM-2,CM-3")
    assert result.exit_code == 0, result.output
    assert "exclusive group 'g'" in result.output and "CM-2, CM-3" in result.output
    alone = run("simulate", site, "--trials", 100, "--plan", "CM-2")
    assert alone.exit_code == 0 and "exclusive group" not in alone.output


def test_fewer_than_100_trials_are_refused_as_in_the_site_file(tmp_path):
    sim = run("simulate", TINY, "--trials", 99)  # a usage error, as for assess
    assert sim.exit_code == 2 and "trials must be >= 100, 99 was given" in sim.output
    out = tmp_path / "run"
    assess = run("assess", TINY, "--trials", 50, "--out", out)
    assert assess.exit_code == 2 and "50" in assess.output and not out.exists()


def test_export_where_no_file_can_be_written_says_so_without_traceback(tmp_path):
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "a-file" / "site.xlsx"  # its folder is a file
    result = run("export", TINY, out)
    assert result.exit_code == 1, result.output
    assert f"cannot write {out}" in result.output
    assert isinstance(result.exception, SystemExit)  # not an OSError traceback


def test_any_command_out_of_memory_says_so_without_traceback(repo_root):
    # plan simulates its recommended plan; 1e15 trials cannot be allocated on any machine
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "riskkit",
            "plan",
            str(repo_root / "tests/data/tiny/site.yaml"),
            "--budget",
            "1000",
            "--trials",
            "1000000000000000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "not enough memory" in out.stderr
    assert "Traceback" not in out.stderr


def test_assess_out_below_a_file_is_refused_with_the_path(repo_root, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "riskkit",
            "assess",
            str(repo_root / "tests/data/tiny/site.yaml"),
            "--out",
            str(blocker / "run"),
            "--trials",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "afile" in out.stderr and "in the way" in out.stderr
    assert "Traceback" not in out.stderr


def test_simulate_plan_of_an_implemented_countermeasure_says_so(repo_root):
    site = load_site(repo_root / "tests/data/tiny/site.yaml")
    done = site.implemented[0].id
    res = CliRunner().invoke(
        cli,
        [
            "simulate",
            str(repo_root / "tests/data/tiny/site.yaml"),
            "--trials",
            "200",
            "--plan",
            done,
        ],
    )
    assert res.exit_code == 0
    assert f"{done} already implemented" in res.output


# -- validate --checks: exit codes like a linter (issue 11) -----------------------------------


def _warning_only_site(tmp_path):
    """The clean tiny site plus an actor no scenario uses: one warning finding, no error."""
    import yaml

    d = yaml.safe_load(_clean_site(tmp_path).read_text())
    d["threat_actors"].append({"id": "A-IDLE", "capability": 1, "attempt_rate": 1})
    path = tmp_path / "warn.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_validate_checks_with_an_error_finding_says_no_ok_and_exits_1():
    result = run("validate", "--checks", WATER)
    assert result.exit_code == 1, result.output
    head = result.output.splitlines()[0]
    assert "OK" not in head and "FAILED CHECKS, 1 error(s)" in head
    assert "[error] enterprise-reaches-control" in result.output
    # without --checks the same file is valid
    plain = run("validate", WATER)
    assert plain.exit_code == 0 and ": OK  Example water utility" in plain.output


def test_validate_checks_warnings_pass_unless_strict(tmp_path):
    path = _warning_only_site(tmp_path)
    result = run("validate", "--checks", path)
    assert result.exit_code == 0, result.output
    assert ": OK, 1 warning(s)  Tiny test site" in result.output
    assert "[warning] actor-unused: A-IDLE" in result.output
    strict = run("validate", "--checks", "--strict", path)
    assert strict.exit_code == 1, strict.output
    assert "FAILED CHECKS, 0 error(s), 1 warning(s) (--strict)" in strict.output
    assert "OK" not in strict.output.splitlines()[0]
    clean = run("validate", "--checks", "--strict", _clean_site(tmp_path))
    assert clean.exit_code == 0 and ": OK  Tiny test site" in clean.output
    usage = run("validate", "--strict", TINY)
    assert usage.exit_code == 2 and "add --checks" in usage.output


# -- terminal output through the formatting layer (issue 11) -----------------------------------


def test_plan_prints_money_with_separators_and_wraps_names_whole():
    result = run("plan", REFINERY, "--budget", "150000", "--trials", "300", "--seed", "3")
    assert result.exit_code == 0, result.output
    out = result.output
    assert not re.search(r"\d[eE][+-]\d", out), out  # never scientific notation
    assert re.search(r"CM-22 +49,806 ", out)  # cost of CM-22 with a thousands separator
    site = load_site(REFINERY)
    tokens = out.split()
    for cid in ("CM-14", "CM-22", "CM-26"):  # every word of each member's name, whole
        assert all(w in tokens for w in site.countermeasure(cid).name.split()), cid
    assert "more not shown (--top)" in out


def test_plan_warns_on_a_negative_return_naming_the_mandatory_measure():
    result = run("plan", WATER, "--budget", "60000", "--trials", "300", "--seed", "3")
    assert result.exit_code == 0, result.output
    err = " ".join(result.stderr.split())
    assert err.startswith("warning: the plan's return is negative")
    assert "net cost of" in err and "the mandatory measure WM-08" in err
    assert "cost 27,514 EUR/yr" in err
    assert "warning" not in result.stdout
    ok = run("plan", REFINERY, "--budget", "150000", "--trials", "300", "--seed", "3")
    assert "warning" not in ok.stderr


def test_simulate_explains_its_columns_and_uses_one_number_style():
    result = run("simulate", REFINERY, "--trials", "2000", "--seed", "7")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "exact ALE" in out and "closed form" in out and "closed form," in out
    assert not re.search(r"\d[eE][+-]?\d", out), out
    assert "0.0005" in out  # a small frequency in plain notation
    assert "exact ALE" in run("simulate", "--help").output


def test_levels_shows_a_dash_where_nothing_drives_and_no_nan():
    result = run("levels", WATER)
    assert result.exit_code == 0, result.output
    assert not re.search(r"\b(NaN|nan|None)\b", result.output), result.output
    assert re.search(r"zone +Z-DMZ( +1){8} +0 +-$", result.output, re.M), result.output


@pytest.mark.slow
def test_assess_prints_exact_and_simulated_losses_labelled(tmp_path):
    """The closing lines of `assess` say which loss is exact and which simulated (issue 11),
    with the numbers of the run's summary.json."""
    import json

    tiny = Path(__file__).parent / "data" / "tiny" / "site.yaml"
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["assess", str(tiny), "--out", str(out), "--trials", "200"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    p, ale = s["plan"], s["site"]["ale"]
    assert (
        f"expected annual loss (exact): current {p['expected_ale_current']:,.0f},"
        f" with plan {p['expected_ale']:,.0f} EUR/yr"
    ) in r.output
    assert (
        f"simulated annual loss (200 years): unmitigated {ale['unmitigated']:,.0f},"
        f" current {ale['current']:,.0f}, with plan {ale['plan']:,.0f} EUR/yr"
    ) in r.output
