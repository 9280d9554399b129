"""Tests of riskkit.site: every validation rule, messages a person can act on, and robustness.

Each rule is tested on the minimal valid site of ``conftest.BASE_SITE`` with one field broken,
asserting that the :class:`SiteError` names the record id, the field and the bad value. The
files of ``tests/data/invalid/`` go through the ``riskkit validate`` command. Property-based
tests (hypothesis) feed random malformed records and check that the only exception is
``SiteError``.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BASE_SITE, REPO_ROOT, build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskkit import Site, SiteError, load_site
from riskkit.cli import cli
from riskkit.site import FRS, Problem, RawSite, build_site

INVALID_DIR = REPO_ROOT / "tests" / "data" / "invalid"
INVALID_FILES = sorted(INVALID_DIR.glob("*.yaml"))


def problems_of(d: dict) -> list[Problem]:
    """The problems of site data ``d``; fails the test if ``d`` is valid."""
    with pytest.raises(SiteError) as info:
        build(d)
    assert isinstance(info.value, ValueError)
    return info.value.problems


def find(problems: list[Problem], record, field) -> Problem:
    """The problem about ``record`` / ``field``; fails with the list where there is none."""
    for p in problems:
        if p.record == record and p.field == field:
            return p
    listing = "\n".join(f"  {p.record!r} {p.field!r}: {p.message}" for p in problems)
    raise AssertionError(f"no problem for {record!r} {field!r} among:\n{listing}")


def broken(mutate) -> dict:
    d = copy.deepcopy(BASE_SITE)
    mutate(d)
    return d


def S(d, i=0):  # short accessors keep the rule table readable
    return d["scenarios"][i]


def CM(d, i=1):
    return d["countermeasures"][i]


# --------------------------------------------------------------------------------------------
# the valid base and the Site object
# --------------------------------------------------------------------------------------------


def test_base_site_is_valid_and_lookups_work():
    site = build(BASE_SITE)
    assert isinstance(site, Site)
    assert site.inventory() == {
        "zones": 2,
        "conduits": 1,
        "threat_actors": 1,
        "scenarios": 2,
        "countermeasures": 2,
    }
    assert site.zone("Z-CTRL").kind == "control"
    assert site.conduit("C-OPS-CTRL").zones == ("Z-OPS", "Z-CTRL")
    assert site.actor("A-CRIME").capability == 2
    assert site.scenario("S-2").entry == "C-OPS-CTRL"
    assert [c.id for c in site.candidates] == ["CM-2"]
    assert [c.id for c in site.implemented] == ["CM-1"]
    assert [s.id for s in site.scenarios_in("Z-OPS")] == ["S-1"]
    assert site.name == "Base test site" and site.currency == "EUR"
    with pytest.raises(KeyError, match="Z-NOPE.*known: Z-OPS, Z-CTRL"):
        site.zone("Z-NOPE")


def test_bare_numbers_become_constants_and_defaults_apply():
    site = build(BASE_SITE)
    s2 = site.scenario("S-2")
    assert s2.vulnerability.dist == "constant" and s2.vulnerability.mean() == 0.5
    assert s2.rate_share is None and s2.rate.dist == "uniform"
    assert site.model.sl_reduction_per_level == 10 and site.model.discount_rate == 0.08
    assert site.countermeasure("CM-1").mandatory is False


def test_frs_may_be_a_comma_separated_string():
    d = broken(lambda d: S(d).update(frs="FR1, FR7"))
    assert build(d).scenario("S-1").frs == ["FR1", "FR7"]


def test_site_error_is_a_value_error_listing_every_problem():
    d = broken(lambda d: d["zones"][0].update(sl_a=[9] * 7))
    with pytest.raises(ValueError, match=r"7 problems in the site") as info:
        build(d)
    err = info.value
    assert isinstance(err, SiteError) and len(err.problems) == 7
    assert [p.field for p in err.problems] == [f"sl_a[{k}]" for k in range(7)]
    assert all(str(p) in str(err) for p in err.problems)


def test_problem_text_shows_file_line_record_field_message_hint():
    p = Problem("site.yaml", "S-1", "rate_share", "too big, 1.5 was given", "use 0..1", 12, 3)
    assert str(p) == "site.yaml:12:3: S-1: rate_share: too big, 1.5 was given (hint: use 0..1)"


# --------------------------------------------------------------------------------------------
# every rule, one case each: (mutation, record, field, fragments the message must contain)
# --------------------------------------------------------------------------------------------

RULES = [
    # ids
    pytest.param(
        lambda d: d["scenarios"].append(copy.deepcopy(S(d))),
        "S-1",
        "id",
        ["duplicate", "S-1"],
        id="duplicate-id",
    ),
    pytest.param(
        lambda d: d["conduits"][0].update(id="Z-OPS"),
        "Z-OPS",
        "id",
        ["duplicate", "zones"],
        id="duplicate-id-across-kinds",
    ),
    pytest.param(
        lambda d: d["zones"][0].update(id="bad id!"),
        "bad id!",
        "id",
        ["'bad id!'"],
        id="id-pattern",
    ),
    pytest.param(
        lambda d: d["zones"][0].pop("id"), "zones[0]", "id", ["required"], id="id-missing"
    ),
    # conduits
    pytest.param(
        lambda d: d["conduits"][0].update(zones=["Z-OPS", "Z-NOPE"]),
        "C-OPS-CTRL",
        "zones[1]",
        ["unknown zone", "Z-NOPE"],
        id="conduit-unknown-zone",
    ),
    pytest.param(
        lambda d: d["conduits"][0].update(zones=["Z-OPS"]),
        "C-OPS-CTRL",
        "zones",
        ["exactly two", "['Z-OPS']"],
        id="conduit-one-zone",
    ),
    pytest.param(
        lambda d: d["conduits"][0].update(zones=["Z-OPS", "Z-CTRL", "Z-OPS"]),
        "C-OPS-CTRL",
        "zones",
        ["exactly two", "3 were given"],
        id="conduit-three-zones",
    ),
    pytest.param(
        lambda d: d["conduits"][0].update(zones=["Z-OPS", "Z-OPS"]),
        "C-OPS-CTRL",
        "zones",
        ["different", "Z-OPS"],
        id="conduit-self-loop",
    ),
    # SL values and vectors
    pytest.param(
        lambda d: d["zones"][0].update(sl_a=[1, 1, 5, 1, 1, 1, 1]),
        "Z-OPS",
        "sl_a[2]",
        ["4", "5 was given"],
        id="sl-above-4",
    ),
    pytest.param(
        lambda d: d["conduits"][0].update(sl_a=[1, -1, 1, 0, 1, 0, 1]),
        "C-OPS-CTRL",
        "sl_a[1]",
        ["-1 was given"],
        id="sl-negative",
    ),
    pytest.param(
        lambda d: d["zones"][1].update(sl_c=[2] * 6),
        "Z-CTRL",
        "sl_c",
        ["7 entries", "6 were"],
        id="sl-vector-short",
    ),
    pytest.param(
        lambda d: d["conduits"][0].update(sl_c=[2] * 8),
        "C-OPS-CTRL",
        "sl_c",
        ["7 entries", "8 were"],
        id="sl-vector-long",
    ),
    pytest.param(
        lambda d: d["zones"][0].update(sl_a=[1, 1, "high", 1, 1, 1, 1]),
        "Z-OPS",
        "sl_a[2]",
        ["'high'"],
        id="sl-not-a-number",
    ),
    pytest.param(
        lambda d: CM(d, 0)["effects"][0].update(levels={"FR5": 5}),
        "CM-1",
        "effects[0].levels.FR5",
        ["5 was given"],
        id="effect-level-above-4",
    ),
    # FR tags
    pytest.param(
        lambda d: S(d).update(frs=["FR1", "FR8"]),
        "S-1",
        "frs",
        ["FR1..FR7", "FR8"],
        id="scenario-fr-tag",
    ),
    pytest.param(lambda d: S(d).update(frs=[]), "S-1", "frs", ["at least 1"], id="scenario-no-frs"),
    pytest.param(
        lambda d: CM(d, 0)["effects"][0].update(levels={"FR0": 2}),
        "CM-1",
        "effects[0].levels.FR0",
        ["'FR0' was given"],
        id="effect-fr-tag",
    ),
    # distribution specs
    pytest.param(
        lambda d: S(d).update(vulnerability={"dist": "pert", "low": 0.6, "mode": 0.5, "high": 0.8}),
        "S-1",
        "vulnerability.mode",
        ["mode must be >= low", "0.5 was given"],
        id="pert-low-above-mode",
    ),
    pytest.param(
        lambda d: S(d)["consequences"]["production"].update(
            hours={"dist": "pert", "low": 4, "mode": 24, "high": 12}
        ),
        "S-1",
        "consequences.production.hours.high",
        ["high must be >= mode", "12"],
        id="pert-mode-above-high",
    ),
    pytest.param(
        lambda d: S(d, 1)["consequences"].update(
            equipment={"dist": "triangular", "low": 5, "mode": 1, "high": 9}
        ),
        "S-2",
        "consequences.equipment.mode",
        ["mode must be >= low"],
        id="triangular-order",
    ),
    pytest.param(
        lambda d: S(d, 1).update(rate={"dist": "uniform", "low": 0.3, "high": 0.1}),
        "S-2",
        "rate.high",
        ["high must be >= low"],
        id="uniform-order",
    ),
    pytest.param(
        lambda d: d["threat_actors"][0].update(
            attempt_rate={"dist": "lognormal", "low": 5, "high": 5}
        ),
        "A-CRIME",
        "attempt_rate.high",
        ["high must be > low", "5.0 was given"],
        id="lognormal-equal-bounds",
    ),
    pytest.param(
        lambda d: d["threat_actors"][0].update(
            attempt_rate={"dist": "lognormal", "low": 0, "high": 5}
        ),
        "A-CRIME",
        "attempt_rate.low",
        ["greater than 0", "0 was given"],
        id="lognormal-low-zero",
    ),
    pytest.param(
        lambda d: d["threat_actors"][0].update(
            attempt_rate={"dist": "empirical", "values": [1, 2], "weights": [1]}
        ),
        "A-CRIME",
        "attempt_rate.weights",
        ["one entry per value"],
        id="empirical-weights",
    ),
    pytest.param(
        lambda d: S(d).update(vulnerability={"dist": "gaussian", "mean": 0.5}),
        "S-1",
        "vulnerability",
        ["unknown dist 'gaussian'", "pert"],
        id="unknown-dist",
    ),
    pytest.param(
        lambda d: S(d).update(vulnerability={"low": 0.1, "high": 0.2}),
        "S-1",
        "vulnerability",
        ["needs a 'dist' key"],
        id="dist-key-missing",
    ),
    pytest.param(
        lambda d: S(d).update(vulnerability="likely"),
        "S-1",
        "vulnerability",
        ["'likely' was given"],
        id="dist-text",
    ),
    pytest.param(
        lambda d: S(d).update(vulnerability={"dist": "pert", "low": 0.1, "mode": 0.2}),
        "S-1",
        "vulnerability.high",
        ["required"],
        id="dist-parameter-missing",
    ),
    pytest.param(
        lambda d: S(d).update(vulnerability={"dist": "beta", "a": 1, "b": 2, "c": 3}),
        "S-1",
        "vulnerability.c",
        ["unknown field 'c'"],
        id="dist-unknown-parameter",
    ),
    # probabilities in [0, 1]
    pytest.param(
        lambda d: S(d).update(rate_share=1.5),
        "S-1",
        "rate_share",
        ["1.5 was given"],
        id="rate-share-above-1",
    ),
    pytest.param(
        lambda d: S(d).update(rate_share=-0.1),
        "S-1",
        "rate_share",
        ["-0.1 was given"],
        id="rate-share-negative",
    ),
    pytest.param(
        lambda d: S(d, 1).update(vulnerability=1.2),
        "S-2",
        "vulnerability",
        ["[0, 1]", "1.2 was given"],
        id="vulnerability-constant-above-1",
    ),
    pytest.param(
        lambda d: S(d).update(vulnerability={"dist": "pert", "low": 0.5, "mode": 0.9, "high": 1.2}),
        "S-1",
        "vulnerability",
        ["[0, 1]", "[0.5, 1.2]"],
        id="vulnerability-pert-reaches-1.2",
    ),
    pytest.param(
        lambda d: S(d).update(vulnerability={"dist": "normal", "mean": 0.5, "sd": 0.1}),
        "S-1",
        "vulnerability",
        ["[0, 1]", "inf"],
        id="vulnerability-unbounded",
    ),
    pytest.param(
        lambda d: CM(d)["effects"][1].update(reduction=1.4),
        "CM-2",
        "effects[1].reduction",
        ["[0, 1]", "1.4"],
        id="reduction-above-1",
    ),
    pytest.param(
        lambda d: S(d, 1)["consequences"]["safety"].update(probability=1.3),
        "S-2",
        "consequences.safety.probability",
        ["1.3 was given"],
        id="harm-probability",
    ),
    pytest.param(
        lambda d: d["tolerance"]["financial"].update(exceedance=[[1e6, 2]]),
        "tolerance",
        "financial.exceedance[0][1]",
        ["2 was given"],
        id="exceedance-probability",
    ),
    # negative rates and money
    pytest.param(
        lambda d: d["threat_actors"][0].update(attempt_rate=-2),
        "A-CRIME",
        "attempt_rate",
        ["negative", "-2 was given"],
        id="negative-attempt-rate",
    ),
    pytest.param(
        lambda d: S(d, 1).update(rate={"dist": "uniform", "low": -0.1, "high": 0.3}),
        "S-2",
        "rate",
        ["negative", "-0.1"],
        id="negative-scenario-rate",
    ),
    pytest.param(
        lambda d: CM(d)["cost"].update(capex=-5),
        "CM-2",
        "cost.capex",
        ["-5 was given"],
        id="negative-capex",
    ),
    pytest.param(
        lambda d: CM(d)["cost"].update(opex=-1),
        "CM-2",
        "cost.opex",
        ["-1 was given"],
        id="negative-opex",
    ),
    pytest.param(
        lambda d: S(d)["consequences"]["production"].update(cost_per_hour=-20000),
        "S-1",
        "consequences.production.cost_per_hour",
        ["negative", "-20000"],
        id="negative-cost-per-hour",
    ),
    pytest.param(
        lambda d: S(d, 1)["consequences"].update(
            equipment={"dist": "normal", "mean": 1e5, "sd": 5e4, "low": -1e5}
        ),
        "S-2",
        "consequences.equipment",
        ["negative", "-100000"],
        id="negative-money-normal",
    ),
    pytest.param(
        lambda d: CM(d)["cost"].update(lifetime_years=0.5),
        "CM-2",
        "cost.lifetime_years",
        ["0.5 was given"],
        id="lifetime-below-1",
    ),
    pytest.param(
        lambda d: d["threat_actors"][0].update(attempt_rate=math.nan),
        "A-CRIME",
        "attempt_rate",
        ["finite", "nan"],
        id="nan-rate",
    ),
    pytest.param(
        lambda d: CM(d)["cost"].update(capex=math.inf),
        "CM-2",
        "cost.capex",
        ["finite", "inf"],
        id="infinite-capex",
    ),
    # references
    pytest.param(
        lambda d: S(d).update(zone="Z-NOPE"),
        "S-1",
        "zone",
        ["unknown zone 'Z-NOPE'"],
        id="scenario-unknown-zone",
    ),
    pytest.param(
        lambda d: S(d).update(actor="A-NOPE"),
        "S-1",
        "actor",
        ["unknown threat actor 'A-NOPE'"],
        id="scenario-unknown-actor",
    ),
    pytest.param(
        lambda d: S(d, 1).update(entry="C-NOPE"),
        "S-2",
        "entry",
        ["unknown conduit 'C-NOPE'"],
        id="scenario-unknown-entry",
    ),
    pytest.param(
        lambda d: (
            d["zones"].append({"id": "Z-DMZ", "kind": "dmz"}),
            S(d, 1).update(zone="Z-DMZ"),
        ),
        "S-2",
        "entry",
        ["C-OPS-CTRL", "not the scenario's zone 'Z-DMZ'"],
        id="entry-not-touching-zone",
    ),
    pytest.param(
        lambda d: CM(d)["effects"][1].update(scenarios=["S-9"]),
        "CM-2",
        "effects[1].scenarios[0]",
        ["unknown scenario 'S-9'"],
        id="effect-unknown-scenario",
    ),
    pytest.param(
        lambda d: CM(d)["effects"][2].update(zones=["Z-OPS", "Z-9"]),
        "CM-2",
        "effects[2].zones[1]",
        ["unknown zone 'Z-9'"],
        id="effect-unknown-zone",
    ),
    pytest.param(
        lambda d: CM(d, 0)["effects"][0].update(conduits=["C-9"]),
        "CM-1",
        "effects[0].conduits[0]",
        ["unknown conduit 'C-9'"],
        id="effect-unknown-conduit",
    ),
    pytest.param(
        lambda d: CM(d)["effects"][1].update(scenarios=[]),
        "CM-2",
        "effects[1]",
        ["targets nothing"],
        id="effect-targets-nothing",
    ),
    pytest.param(
        lambda d: CM(d)["effects"].append({"type": "firmware", "zones": ["Z-OPS"]}),
        "CM-2",
        "effects[3]",
        ["'firmware'"],
        id="effect-unknown-type",
    ),
    pytest.param(
        lambda d: CM(d)["effects"][2].update(category="reputation"),
        "CM-2",
        "effects[2].category",
        ["'reputation' was given"],
        id="effect-unknown-category",
    ),
    # exclusive groups
    pytest.param(
        lambda d: (
            CM(d).update(mandatory=True),
            d["countermeasures"].append(
                {"id": "CM-3", "exclusive_group": "segmentation", "mandatory": True}
            ),
        ),
        "CM-3",
        "mandatory",
        ["'segmentation'", "2 mandatory", "CM-2", "CM-3"],
        id="exclusive-two-mandatory",
    ),
    pytest.param(
        lambda d: (
            CM(d).update(mandatory=True),
            d["countermeasures"].append(
                {"id": "CM-3", "exclusive_group": "segmentation", "status": "implemented"}
            ),
        ),
        "CM-2",
        "mandatory",
        ["'segmentation'", "['CM-3'] implemented"],
        id="exclusive-mandatory-vs-implemented",
    ),
    # one rate
    pytest.param(
        lambda d: S(d).update(rate=0.2),
        "S-1",
        "rate",
        ["exactly one", "both"],
        id="rate-and-rate-share",
    ),
    pytest.param(
        lambda d: S(d).pop("rate_share"),
        "S-1",
        "rate_share",
        ["exactly one", "neither"],
        id="rate-missing",
    ),
    # ranges and enumerations
    pytest.param(
        lambda d: d["threat_actors"][0].update(capability=5),
        "A-CRIME",
        "capability",
        ["5 was given"],
        id="capability-above-4",
    ),
    pytest.param(
        lambda d: d["threat_actors"][0].update(resources=0),
        "A-CRIME",
        "resources",
        ["0 was given"],
        id="resources-below-1",
    ),
    pytest.param(
        lambda d: S(d, 1)["consequences"]["safety"].update(severity=5),
        "S-2",
        "consequences.safety.severity",
        ["5 was given"],
        id="severity-above-4",
    ),
    pytest.param(
        lambda d: d["zones"][0].update(kind="office"),
        "Z-OPS",
        "kind",
        ["'office' was given", "'dmz'"],
        id="zone-kind",
    ),
    pytest.param(
        lambda d: d["zones"][0].update(purdue_level=6),
        "Z-OPS",
        "purdue_level",
        ["6 was given"],
        id="purdue-level",
    ),
    pytest.param(
        lambda d: CM(d).update(status="planned"),
        "CM-2",
        "status",
        ["'planned' was given"],
        id="countermeasure-status",
    ),
    # tolerance, risk matrix, model settings
    pytest.param(
        lambda d: d["tolerance"]["safety"].update({5: 1e-6}),
        "tolerance",
        "safety[5]",
        ["5 was given"],
        id="tolerance-class-5",
    ),
    pytest.param(
        lambda d: d["tolerance"]["safety"].update({0: 1e-1}),
        "tolerance",
        "safety[0]",
        ["0 was given"],
        id="tolerance-class-0",
    ),
    pytest.param(
        lambda d: d["tolerance"]["safety"].update({2: -1e-3}),
        "tolerance",
        "safety[2]",
        ["-0.001 was given"],
        id="tolerance-frequency-negative",
    ),
    pytest.param(
        lambda d: d["tolerance"]["safety"].update({3: 1e-2}),
        "tolerance",
        "safety",
        ["must not grow", "class 3"],
        id="tolerance-frequency-grows",
    ),
    pytest.param(
        lambda d: d["tolerance"]["financial"].update(exceedance=[[1e7, 0.01], [1e6, 0.1]]),
        "tolerance",
        "financial.exceedance",
        ["ascending"],
        id="exceedance-order",
    ),
    pytest.param(
        lambda d: d["tolerance"]["financial"].update(per_zone_ale=0),
        "tolerance",
        "financial.per_zone_ale",
        ["0 was given"],
        id="per-zone-ale-zero",
    ),
    pytest.param(
        lambda d: d.update(
            risk_matrix={"likelihood": [0.01, 0.1], "consequence": [1e5], "sl": [[0, 1], [1, 2]]}
        ),
        "risk_matrix",
        "sl",
        ["3 x 2 table"],
        id="risk-matrix-shape",
    ),
    pytest.param(
        lambda d: d.update(
            risk_matrix={"likelihood": [0.1, 0.01], "consequence": [1e5], "sl": [[0, 1]] * 3}
        ),
        "risk_matrix",
        "likelihood",
        ["strictly ascending"],
        id="risk-matrix-thresholds",
    ),
    pytest.param(
        lambda d: d["model"].update(discount_rate=1.5),
        "model",
        "discount_rate",
        ["1.5 was given"],
        id="discount-rate",
    ),
    pytest.param(
        lambda d: d["model"].update(sl_reduction_per_level=1),
        "model",
        "sl_reduction_per_level",
        ["1 was given"],
        id="sl-reduction-per-level",
    ),
    pytest.param(
        lambda d: d["model"].update(decision_statistic="median"),
        "model",
        "decision_statistic",
        ["'median' was given"],
        id="decision-statistic",
    ),
    # structure
    pytest.param(
        lambda d: S(d).update(vulnerabilty=0.5),
        "S-1",
        "vulnerabilty",
        ["unknown field 'vulnerabilty'"],
        id="unknown-field",
    ),
    pytest.param(lambda d: d.pop("site"), "site", None, ["missing"], id="site-missing"),
    pytest.param(
        lambda d: d["site"].pop("name"), "site", "name", ["required"], id="site-name-missing"
    ),
    pytest.param(lambda d: d.update(zones=[]), "zones", None, ["at least one zone"], id="no-zones"),
    pytest.param(
        lambda d: d.update(zones={"Z-OPS": {}}),
        "zones",
        None,
        ["list of records", "dict"],
        id="section-not-a-list",
    ),
    pytest.param(
        lambda d: d["conduits"].append("C-2"),
        "conduits[1]",
        None,
        ["mapping", "'C-2'"],
        id="record-not-a-mapping",
    ),
    pytest.param(
        lambda d: S(d).update(consequences="big"),
        "S-1",
        "consequences",
        ["mapping", "'big'"],
        id="consequences-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("mutate", "record", "field", "fragments"), RULES)
def test_rule(mutate, record, field, fragments):
    problems = problems_of(broken(mutate))
    p = find(problems, record, field)
    for text in fragments:
        assert text in p.message, f"{text!r} not in {p.message!r}"
    assert p.file == "<test>"


def test_unknown_section_names_the_section():
    d = broken(lambda d: d.update(scenario=[]))
    p = find(problems_of(d), None, "scenario")
    assert "unknown section 'scenario'" in p.message and "scenarios" in p.hint


def test_unknown_field_suggests_the_right_spelling():
    d = broken(lambda d: S(d).update(vulnerabilty=0.5))
    assert "did you mean 'vulnerability'?" in find(problems_of(d), "S-1", "vulnerabilty").hint


def test_site_data_that_is_not_a_mapping():
    with pytest.raises(SiteError, match="mapping of sections, got list"):
        build_site(RawSite(data=[1, 2], file="<test>"))


def test_each_rule_case_reports_one_problem_only():
    """A single broken field does not cascade into unrelated problems."""
    counts = {}
    for case in RULES:
        mutate = case.values[0]
        with pytest.raises(SiteError) as info:
            build(broken(mutate))
        counts[case.id] = len(info.value.problems)
    many = {k: n for k, n in counts.items() if n != 1}
    # renaming or removing a record leaves its references dangling, and those are reported too
    assert many == {
        "duplicate-id-across-kinds": 3,  # + scenario entry and CM-1 effect lose C-OPS-CTRL
        "id-pattern": 4,  # + the conduit, a scenario and an effect lose Z-OPS
        "id-missing": 4,
        "conduit-unknown-zone": 2,  # + S-2's entry conduit no longer touches Z-CTRL
        "no-zones": 7,  # + every zone reference
    }


def test_every_problem_in_one_pass():
    def mutate(d):
        d["zones"][0]["sl_a"] = [1, 1, 1, 1, 1, 1, 7]
        d["conduits"][0]["zones"] = ["Z-NOPE", "Z-CTRL"]
        S(d)["rate_share"] = 2
        S(d, 1)["actor"] = "A-NOPE"
        CM(d)["cost"]["capex"] = -1
        CM(d)["effects"][1]["scenarios"] = ["S-9"]
        d["model"]["discount_rate"] = -0.1

    problems = problems_of(broken(mutate))
    got = {(p.record, p.field) for p in problems}
    assert got == {
        ("Z-OPS", "sl_a[6]"),
        ("C-OPS-CTRL", "zones[0]"),
        ("S-1", "rate_share"),
        ("S-2", "actor"),
        ("CM-2", "cost.capex"),
        ("CM-2", "effects[1].scenarios[0]"),
        ("model", "discount_rate"),
    }


def test_a_broken_record_still_counts_for_references():
    """A zone with a bad field is still a known zone: no false 'unknown zone' for it."""
    d = broken(lambda d: d["zones"][1].update(sl_a=[5] * 7, colour="red"))
    problems = problems_of(d)
    assert all(p.record == "Z-CTRL" for p in problems)


def test_broken_entry_conduit_does_not_crash_the_cross_checks():
    d = broken(lambda d: d["conduits"][0].update(sl_a=[1, -1, 1, 0, 1, 0, 1]))
    problems = problems_of(d)
    assert [(p.record, p.field) for p in problems] == [("C-OPS-CTRL", "sl_a[1]")]


def test_two_implemented_members_and_one_mandatory_are_fine():
    d = broken(lambda d: CM(d, 0).update(exclusive_group="segmentation", mandatory=True))
    assert build(d).countermeasure("CM-1").mandatory


# --------------------------------------------------------------------------------------------
# the broken files of tests/data/invalid/, through the CLI
# --------------------------------------------------------------------------------------------


def _expectation(path: Path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    m = re.match(r"#\s*expect:\s*(\S+)\s+(.+?)\s*$", first)
    assert m, f"{path.name}: first line must be '# expect: <id> <field>', got {first!r}"
    return m.group(1), m.group(2)


def test_invalid_folder_is_populated():
    assert len(INVALID_FILES) >= 40


@pytest.mark.parametrize("path", INVALID_FILES, ids=[p.stem for p in INVALID_FILES])
def test_invalid_file(path):
    a, b = _expectation(path)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    out = result.output
    assert result.exit_code == 1, out
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in out
    assert str(path) in out and "INVALID" in out

    with pytest.raises(SiteError) as info:
        load_site(path)
    problems = info.value.problems
    assert len(problems) == 1, "\n".join(map(str, problems))  # each file breaks one rule
    p = problems[0]
    assert p.file == str(path)
    if a == "syntax":
        line = int(b.split()[-1])
        assert p.line == line and p.column is not None
        assert f"{path}:{line}:{p.column}:" in out and "syntax" in p.message
        return
    record = None if a == "-" else a
    field = None if b == "-" else b
    assert (p.record, p.field) == (record, field), str(p)
    for part in (record, field):
        if part:
            assert f": {part}:" in out
    assert p.line is not None, "every problem of a YAML file has a line"


# --------------------------------------------------------------------------------------------
# property-based: random malformed input gives SiteError, never another exception
# --------------------------------------------------------------------------------------------

junk_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "FR1", "FR9", "pert", "Z-OPS", "S-1", "-1", "1e999", "nan", "  "]),
    st.dates(),
)
junk = st.recursive(
    junk_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=8),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers(0, 9)), inner, max_size=4),
        st.fixed_dictionaries(
            {"dist": st.sampled_from(["pert", "lognormal", "uniform", "normal", "beta", "x"])},
            optional={"low": inner, "mode": inner, "high": inner, "mean": inner, "sd": inner},
        ),
    ),
    max_leaves=10,
)


def _paths(x, prefix=()):
    """Every path into nested dicts/lists, containers and leaves alike."""
    out = []
    if isinstance(x, dict):
        items = x.items()
    elif isinstance(x, list):
        items = enumerate(x)
    else:
        return out
    for k, v in items:
        out.append((*prefix, k))
        out += _paths(v, (*prefix, k))
    return out


def _at(d, path):
    for k in path:
        d = d[k]
    return d


ALL_PATHS = _paths(BASE_SITE)
LEAF_PATHS = [p for p in ALL_PATHS if not isinstance(_at(BASE_SITE, p), (dict, list))]
SECTION_NAMES = ["zones", "conduits", "threat_actors", "scenarios", "countermeasures"]
RECORD_PATHS = [(sec, i) for sec in SECTION_NAMES for i in range(len(BASE_SITE[sec]))]
REQUIRED = {
    "zones": ["id"],
    "conduits": ["id", "zones"],
    "threat_actors": ["id", "capability", "attempt_rate"],
    "scenarios": ["id", "zone", "actor", "frs"],
    "countermeasures": ["id"],
}

PROPS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _outcome(d):
    """Build ``d``: a Site, or the SiteError; any other exception fails the test."""
    try:
        return build(d)
    except SiteError as e:
        assert e.problems, "a SiteError lists at least one problem"
        for p in e.problems:
            assert isinstance(p.message, str) and p.message
            str(p)
        return e


@PROPS
@given(path=st.sampled_from(ALL_PATHS), value=junk)
def test_junk_in_any_field_is_a_site_or_a_site_error(path, value):
    d = copy.deepcopy(BASE_SITE)
    _at(d, path[:-1])[path[-1]] = value
    _outcome(d)


@PROPS
@given(path=st.sampled_from(LEAF_PATHS), value=junk)
def test_a_mapping_where_a_value_belongs_is_a_site_error(path, value):
    d = copy.deepcopy(BASE_SITE)
    _at(d, path[:-1])[path[-1]] = {"junk": value}
    err = _outcome(d)
    assert isinstance(err, SiteError)
    if path[0] in REQUIRED:  # a problem of that record, named by its id or its position
        label = f"{path[0]}[{path[1]}]" if path[2] == "id" else BASE_SITE[path[0]][path[1]]["id"]
        assert any(p.record == label for p in err.problems), [str(p) for p in err.problems]


@PROPS
@given(
    rec=st.sampled_from(RECORD_PATHS),
    data=st.data(),
)
def test_a_missing_required_field_is_a_site_error(rec, data):
    sec, i = rec
    fld = data.draw(st.sampled_from(REQUIRED[sec]))
    d = copy.deepcopy(BASE_SITE)
    del d[sec][i][fld]
    err = _outcome(d)
    assert isinstance(err, SiteError)
    assert any(p.field == fld and "required" in p.message for p in err.problems)


@PROPS
@given(rec=st.sampled_from(RECORD_PATHS), key=st.text(min_size=1, max_size=10), value=junk)
def test_an_unknown_field_is_a_site_error_naming_it(rec, key, value):
    sec, i = rec
    d = copy.deepcopy(BASE_SITE)
    name = "x_" + key
    d[sec][i][name] = value
    err = _outcome(d)
    assert isinstance(err, SiteError)
    assert any(p.message == f"unknown field {name!r}" for p in err.problems)


@PROPS
@given(rec=st.sampled_from(RECORD_PATHS), rid=st.one_of(st.text(max_size=20), junk_scalars))
def test_random_ids(rec, rid):
    sec, i = rec
    d = copy.deepcopy(BASE_SITE)
    d[sec][i]["id"] = rid
    _outcome(d)


@PROPS
@given(
    a=st.sampled_from(RECORD_PATHS),
    b=st.sampled_from(RECORD_PATHS),
    rid=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,10}", fullmatch=True),
)
def test_a_shared_id_is_a_duplicate(a, b, rid):
    if a == b:
        return
    d = copy.deepcopy(BASE_SITE)
    d[a[0]][a[1]]["id"] = rid
    d[b[0]][b[1]]["id"] = rid
    err = _outcome(d)
    assert isinstance(err, SiteError)
    assert any("duplicate id" in p.message and p.record == rid for p in err.problems)


@PROPS
@given(
    section=st.sampled_from(SECTION_NAMES),
    record=st.dictionaries(st.text(max_size=8), junk, max_size=5),
)
def test_a_random_record_appended(section, record):
    d = copy.deepcopy(BASE_SITE)
    d[section].append(record)
    _outcome(d)


@PROPS
@given(doc=st.dictionaries(st.sampled_from([*BASE_SITE, "zone", 3]), junk, max_size=6))
def test_a_random_document(doc):
    _outcome(doc)


@settings(max_examples=40, deadline=None, database=None)
@given(
    fr=st.lists(st.sampled_from([*FRS, "FR0", "FR8", "fr1", 1]), min_size=1, max_size=8),
    levels=st.lists(st.integers(-2, 6), min_size=7, max_size=7),
)
def test_sl_and_fr_rules_match_their_definition(fr, levels):
    d = copy.deepcopy(BASE_SITE)
    S(d)["frs"] = fr
    d["zones"][0]["sl_a"] = levels
    result = _outcome(d)
    valid = all(f in FRS for f in fr) and all(0 <= x <= 4 for x in levels)
    assert isinstance(result, Site) == valid


# ---------------------------------------------------------------------------------------------
# read-only records (issue 11): an assignment is refused with the supported way to change a site
# ---------------------------------------------------------------------------------------------


def test_assigning_a_field_of_a_loaded_site_is_refused_with_the_supported_way(make_site):
    from riskkit.engine import simulate
    from riskkit.site import ReadOnlySiteError

    site = make_site(copy.deepcopy(BASE_SITE))
    before = site.threat_actors[0].attempt_rate
    with pytest.raises(ReadOnlySiteError) as err:
        site.threat_actors[0].attempt_rate = 10.0
    msg = str(err.value)
    assert "read-only" in msg and "attempt_rate" in msg and "A-CRIME" in msg
    assert "riskkit.what_if" in msg and "site file" in msg
    assert isinstance(err.value, AttributeError)
    assert site.threat_actors[0].attempt_rate == before
    for record, name in [(site, "model"), (site.zones[0], "sl_a"), (site.model, "trials")]:
        with pytest.raises(ReadOnlySiteError, match="riskkit.what_if"):
            setattr(record, name, None)
    with pytest.raises(ReadOnlySiteError):
        del site.countermeasures[0].cost
    # the site is unchanged and still simulates; the lookups still work
    assert simulate(site, trials=100, seed=1).summary("site")["ale"].iloc[0] >= 0
    assert site.actor("A-CRIME") is site.threat_actors[0]


def test_what_if_is_the_supported_way_to_change_an_actor_rate(make_site):
    import riskkit

    site = make_site(copy.deepcopy(BASE_SITE))
    changed = riskkit.what_if(site, actor_rate={"A-CRIME": 2.0})
    assert changed is not site
    assert changed.threat_actors[0].attempt_rate.mean() == pytest.approx(
        2.0 * site.threat_actors[0].attempt_rate.mean()
    )
