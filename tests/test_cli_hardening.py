"""Issue 17 for simulate, levels, plan and validate --checks: hostile or extreme input.

- usage errors exit 2 (``--trials 0``, ``--seed -1``, ``--budget nan`` ...);
- no NaN or infinity is ever printed; empty sites get a sentence;
- a site value the engine cannot simulate is a problem naming file, record and field;
- ``rate_share`` summing above 1 for an actor is a lint finding;
- Ctrl-C gives one line and exit 130, no traceback.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO_ROOT

from riskkit.cli import cli

TINY = REPO_ROOT / "tests" / "data" / "tiny" / "site.yaml"
NON_FINITE = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def tiny() -> dict:
    return yaml.safe_load(TINY.read_text(encoding="utf-8"))


def write(tmp_path, data: dict, name: str = "site.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# -- usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["simulate", "plan"])
@pytest.mark.parametrize(
    "args, shown",
    [
        (["--trials", "0"], "0 was given"),
        (["--trials", "-5"], "-5 was given"),
        (["--trials", "99"], "99 was given"),
        (["--seed", "-1"], "-1"),
    ],
)
def test_bad_trials_and_seed_are_usage_errors(command, args, shown):
    result = run(command, TINY, *args)
    assert result.exit_code == 2, result.output
    assert shown in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("budget", ["nan", "inf", "-inf", "-1"])
def test_plan_budget_must_be_finite_and_not_negative(budget):
    result = run("plan", TINY, "--budget", budget, "--trials", 100)
    assert result.exit_code == 2, result.output
    assert f"{budget!r}" in result.output or budget in result.output
    assert "finite amount >= 0" in result.output


def test_plan_budget_kind_and_the_deprecated_kind_print_the_same():
    new = CliRunner().invoke(
        cli, ["plan", str(TINY), "--budget", "50000", "--budget-kind", "capex", "--trials", "100"]
    )
    old = CliRunner().invoke(
        cli, ["plan", str(TINY), "--budget", "50000", "--kind", "capex", "--trials", "100"]
    )
    assert new.exit_code == 0 and old.exit_code == 0, old.output
    assert old.stdout == new.stdout and "capex" in new.stdout
    assert "--kind is deprecated; use --budget-kind" in old.stderr
    assert "deprecated" not in new.stderr
    assert "--kind" not in run("plan", "--help").output  # hidden, still accepted


# -- no NaN or infinity in the output --------------------------------------------------------


def no_candidates():
    d = tiny()
    d["countermeasures"] = [c for c in d["countermeasures"] if c["status"] != "candidate"]
    return d


def no_scenarios():
    d = tiny()
    d["scenarios"] = []
    d["countermeasures"] = [
        c for c in d["countermeasures"] if not any("scenarios" in e for e in c["effects"])
    ]
    return d


def frequency_one_everywhere():
    d = tiny()
    d["countermeasures"].append(
        {
            "id": "CM-9",
            "name": "Everything stopped",
            "status": "implemented",
            "cost": {"capex": 1, "opex": 1, "lifetime_years": 5},
            "effects": [{"type": "frequency", "zones": ["Z-OPS", "Z-CTRL"], "reduction": 1.0}],
        }
    )
    return d


SITES = {
    "no-candidates": no_candidates,
    "no-scenarios": no_scenarios,
    "frequency-1": frequency_one_everywhere,
}
COMMANDS = {
    "simulate": ["simulate", "--trials", "200"],
    "simulate-json": ["simulate", "--trials", "200", "--json", "--level", "scenario"],
    "levels": ["levels"],
    "levels-json": ["levels", "--json"],
    "plan": ["plan", "--trials", "200"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(SITES))
def test_no_nan_or_inf_is_printed(tmp_path, name, command):
    path = write(tmp_path, SITES[name]())
    cmd = COMMANDS[command]
    result = run(cmd[0], path, *cmd[1:])
    assert result.exit_code == 0, result.output
    assert not NON_FINITE.search(result.output), result.output
    assert "Empty DataFrame" not in result.output


def test_plan_without_candidates_says_so(tmp_path):
    result = run("plan", write(tmp_path, no_candidates()), "--trials", 200)
    assert result.exit_code == 0, result.output
    assert "(the site has no candidate countermeasures to rank)" in result.output
    assert "no ROSI: the plan is empty and costs nothing" in result.output


def test_levels_without_scenarios_says_so(tmp_path):
    result = run("levels", write(tmp_path, no_scenarios()))
    assert result.exit_code == 0, result.output
    assert "(no scenario drives an SL-T: every zone is at the floor of 1)" in result.output


def test_overflowing_consequence_names_the_scenario_and_exits_1(tmp_path):
    d = tiny()
    d["scenarios"][0]["consequences"]["recovery"] = 1e308
    path = write(tmp_path, d)
    for args in (["simulate", path, "--trials", 200], ["simulate", path, "--json"]):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert "S-1" in result.output and str(path) in result.output
        assert "Traceback" not in result.output
        assert not NON_FINITE.search(result.stdout), result.stdout


# -- site values the engine cannot simulate --------------------------------------------------


def test_huge_attempt_rate_names_actor_and_field(tmp_path):
    d = tiny()
    d["threat_actors"][0]["attempt_rate"] = 1e9
    path = write(tmp_path, d)
    for cmd in (["simulate", path], ["plan", path, "--trials", 100]):
        result = run(*cmd)
        assert result.exit_code == 1, result.output
        out = result.output
        # refused at validation (with the line) or by the engine's own limit (without)
        assert re.search(rf"{re.escape(str(path))}(:\d+)?: A-CRIME: attempt_rate:", out), out
        assert "not enough memory" not in out and "Traceback" not in out


def test_huge_own_rate_names_the_scenario(tmp_path):
    d = tiny()
    d["scenarios"][2]["rate"] = 1e12
    result = run("simulate", write(tmp_path, d))
    assert result.exit_code == 1, result.output
    assert "S-3: rate:" in result.output


def test_site_trials_beyond_memory_name_the_field(tmp_path):
    d = tiny()
    d["model"]["trials"] = 10**12
    path = write(tmp_path, d)
    result = run("simulate", path)
    assert result.exit_code == 1, result.output
    assert re.search(rf"{re.escape(str(path))}(:\d+)?: model: trials: ", result.output)


def test_bad_decision_statistic_names_the_field(tmp_path):
    d = tiny()
    d["model"]["decision_statistic"] = "p0"
    path = write(tmp_path, d)
    result = run("levels", path)
    assert result.exit_code == 1, result.output
    pattern = rf"{re.escape(str(path))}(:\d+)?: model: decision_statistic:"
    assert re.search(pattern, result.output) and "'p0'" in result.output


# -- lint ------------------------------------------------------------------------------------


def test_rate_share_above_one_is_an_error_finding(tmp_path):
    d = tiny()
    d["scenarios"][1]["rate_share"] = 0.9  # S-1 0.6 + S-2 0.9 = 1.5
    result = run("validate", "--checks", write(tmp_path, d))
    assert result.exit_code == 1, result.output  # an error finding fails the file
    assert (
        "[error] rate-share-above-one: A-CRIME: the rate_share of this actor's scenarios sums"
        " to 1.5 > 1 (S-1 0.6 + S-2 0.9)"
    ) in result.output
    clean = run("validate", "--checks", TINY)  # 0.6 + 0.3 = 0.9: no finding
    assert "rate-share" not in clean.output


# -- interrupts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, target",
    [
        (["simulate", str(TINY), "--trials", "100"], "riskkit.engine.simulate"),
        (["levels", str(TINY)], "riskkit.levels.target_levels"),
        (["plan", str(TINY), "--trials", "100"], "riskkit.portfolio.prioritize"),
    ],
)
def test_ctrl_c_gives_one_line_and_exit_130(monkeypatch, command, target):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupted)
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 130, result.output
    assert result.stderr == "riskkit: interrupted\n"
    assert result.stdout == "" and "Aborted" not in result.output


def test_sigint_to_a_running_simulation(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "riskkit", "simulate", str(TINY), "--trials", "20000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)  # imported and simulating (20 million years take far longer)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err == "riskkit: interrupted\n" and out == ""
