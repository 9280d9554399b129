"""The summary.json schema (riskkit.report.schema): data plus one validator, both directions.

The golden summaries of both example sites conform; every kind of departure (missing field,
wrong type, bool for int, wrong vector length, non-finite number) is found and named.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from riskkit.report import schema

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(params=["example-refinery", "example-water"])
def golden(request):
    data = json.loads((GOLDEN / f"{request.param}.summary.json").read_text())
    # the golden files leave out the versions block (it changes with the environment)
    data["riskkit"] = {"version": "0", "python": "3", "numpy": "2", "pandas": "2"}
    return data


def test_golden_summaries_conform(golden):
    assert schema.check(golden) == []
    assert schema.validate(golden) is golden


def test_run_fields_are_required_in_a_written_summary(golden):
    problems = schema.check(golden, schema.WRITTEN_SCHEMA)
    assert "provenance.finished: missing" in problems and "outputs: missing" in problems


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda d: d.pop("currency"), "currency: missing"),
        (lambda d: d["provenance"].update(trials=True), "provenance.trials: expected int"),
        (lambda d: d["provenance"].update(trials=1.5), "provenance.trials: expected int"),
        (lambda d: d["site"]["ale"].update(current=float("inf")), "site.ale.current"),
        (lambda d: d["site"]["ale"].update(current="1"), "site.ale.current: expected number"),
        (lambda d: d.update(zones=[]), "zones: expected an object"),
        (lambda d: d["plan"].update(members=[{"id": 3}]), "plan.members[0]"),
    ],
)
def test_departures_are_found_and_named(golden, edit, expected):
    bad = copy.deepcopy(golden)
    edit(bad)
    problems = schema.check(bad)
    assert any(p.startswith(expected) for p in problems), problems
    with pytest.raises(schema.SummaryError, match="prev/summary.json: field"):
        schema.validate(bad, source="prev/summary.json")


def test_a_zone_vector_must_hold_seven_ints(golden):
    zid = next(iter(golden["zones"]))
    bad = copy.deepcopy(golden)
    bad["zones"][zid]["sl_t"] = [1, 2, 3, 4, 5, 6]
    assert schema.check(bad) == [f"zones.{zid}.sl_t: expected 7 items, found 6"]
    bad["zones"][zid]["sl_t"] = [1, 2, 3, 4, 5, 6, 7.0]
    assert schema.check(bad)[0].startswith(f"zones.{zid}.sl_t[6]: expected int")


def test_null_is_allowed_only_where_the_schema_says_so(golden):
    ok = copy.deepcopy(golden)
    ok["plan"]["budget"] = None  # "number?": a non-finite number is written as null
    assert schema.check(ok) == []
    bad = copy.deepcopy(golden)
    bad["provenance"]["input_hash"] = None
    assert schema.check(bad) == ["provenance.input_hash: expected str, found NoneType None"]


def test_previous_schema_asks_only_for_what_the_comparison_reads(golden):
    slim = {
        "provenance": {"input_hash": "abc", "finished": "2026-11-01T00:00:00+00:00"},
        "site": {"ale": {"current": 1.0}},
        "zones": {
            "Z": {"ale": {"current": 2.0}, "sl_t": [1] * 7, "meets_target": {"current": True}}
        },
    }
    assert schema.check(slim, schema.PREVIOUS_SCHEMA) == []
    assert schema.check(slim) != []  # but it is not a complete summary
