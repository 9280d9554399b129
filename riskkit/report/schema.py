"""The schema of ``summary.json``, as data, and its validator.

One description serves both directions: :func:`riskkit.report.assess` checks the summary it
writes against it (what riskkit writes always conforms), and a ``--previous`` summary is checked
against it before any notebook runs (a file that lacks a field, or holds one of the wrong type,
is refused naming the file and the field).

A schema node is one of:

- a type name: ``"str"``, ``"int"``, ``"number"`` (int or float, not bool), ``"bool"``,
  ``"any"``; with a trailing ``?`` the value may also be ``null`` (``_jsonable`` writes a
  non-finite number as ``null``);
- ``("list", node)``: a list whose items all match ``node``; ``("list", node, n)``: exactly
  ``n`` items;
- ``("map", node)``: an object with any string keys whose values match ``node``;
- a dict: an object that has at least these keys, each matching its node (other keys are
  allowed: the schema only grows);
- ``("optional", node)``, as the value of a dict key: the key may be missing; where present
  its value matches ``node`` (used for blocks that only some sites have, like ``paths``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["SUMMARY_SCHEMA", "PREVIOUS_SCHEMA", "RUN_FIELDS", "SummaryError", "check", "validate"]

_STATES3 = {"unmitigated": "number?", "current": "number?", "plan": "number?"}
_STATES2_VEC = {"current": ("list", "int", 7), "plan": ("list", "int", 7)}
_CI = ("list", "number?", 2)
_STATES3_CI = {"unmitigated": _CI, "current": _CI, "plan": _CI}

_ZONE = {
    "name": "str",
    "kind": "str",
    "scenarios": "int",
    "ale": _STATES3,
    "ale_se": _STATES3,
    "var95": _STATES3,
    "var99": _STATES3,
    "es99": _STATES3,
    "var99_ci": ("optional", _STATES3_CI),
    "es99_ci": ("optional", _STATES3_CI),
    "sl_t": ("list", "int", 7),
    "sl_a": _STATES2_VEC,
    "gap": _STATES2_VEC,
    "meets_target": {"current": "bool", "plan": "bool"},
}

_PATHS = {
    "lateral_frs": ("list", "str"),
    "scenarios": "int",
    "path_ale": "number?",
    "top_paths": (
        "list",
        {
            "scenario": "str",
            "origin": "str",
            "zone": "str",
            "zones": ("list", "str"),
            "conduits": ("list", "str"),
            "probability": "number?",
            "share": "number?",
            "expected_ale": "number?",
            "risk_share": "number?",
        },
    ),
    "chokepoints": (
        "list",
        {
            "conduit": "str",
            "zones": "str",
            "paths": "int",
            "path_share": "number?",
            "ale_removed_sl3": "number?",
            "ale_removed_sl4": "number?",
        },
    ),
}
"""The ``paths`` block of ``summary.json`` (:func:`riskkit.paths.paths_block`)."""

SUMMARY_SCHEMA: dict = {
    "riskkit": {"version": "str", "python": "str", "numpy": "str", "pandas": "str"},
    "provenance": {
        "site": "str",
        "site_id": "str",
        "input_hash": "str",
        "seed": "int",
        "trials": "int",
        "budget": "number?",
        "budget_kind": "str",
        "budget_source": "str",
        "fast": "bool",
        "sl_t_method": "str",
        "decision_statistic": "str",
    },
    "currency": "str",
    "site": {
        "ale": _STATES3,
        "ale_se": _STATES3,
        "var95": _STATES3,
        "var99": _STATES3,
        "es99": _STATES3,
        "var99_ci": ("optional", _STATES3_CI),
        "es99_ci": ("optional", _STATES3_CI),
        "p_zero": _STATES3,
        "harm": ("map", ("map", "number?")),
    },
    "zones": ("map", _ZONE),
    "conduits": ("map", {"zones": ("list", "str"), "sl_t": ("list", "int", 7)}),
    "plan": {
        "members": ("list", {"id": "str", "name": "str", "annualised_cost": "number?"}),
        "budget": "number?",
        "budget_kind": "str",
        "annualised_cost": "number?",
        "expected_ale": "number?",
        "ale": "number?",
        "ale_current": "number?",
        "status": "str",
        "zones_meeting_target": "int",
    },
    "frontier": ("list", {"annualised_cost": "number?", "expected_ale": "number?"}),
    "top_risks": (
        "list",
        {"scenario": "str", "zone": "str", "ale_current": "number?", "ale_plan": "number?"},
    ),
    "flags": ("list", {"scenario": "str", "zone": "str", "reason": "str", "message": "str"}),
    "checks": ("map", "int"),
    "sensitivity": {
        "method": "str",
        "draws": "int",
        "seed": "int",
        "base_ale": "number?",
        "tornado": (
            "list",
            {
                "input": "str",
                "kind": "str",
                "record": "str",
                "low": "number?",
                "high": "number?",
                "swing": "number?",
                "nb_swing": "number?",
            },
        ),
        "evpi": "number?",
        "evpi_se": "number?",
        "best_plan": ("list", "str"),
        "p_best": "number?",
        "evppi": ("list", {"input": "str", "evppi": "number?", "se": "number?"}),
        "fragile": (
            "list",
            {
                "kind": "str",
                "id": "str",
                "fr": "str",
                "sl_t": "int",
                "p_lower": "number",
                "p_higher": "number",
                "driver": "str",
            },
        ),
        "convergence": {"trials": "int", "ale_rel": "number?", "trials_for_1pct": "int"},
    },
    # attack paths (issue 15): only where some scenario names an origin
    "paths": ("optional", _PATHS),
}
"""What :meth:`riskkit.report.Assessment.summary` returns (the in-process summary)."""

RUN_FIELDS: dict = {
    "provenance": {"input": "str", "started": "str", "finished": "str", "previous": "str?"},
    "outputs": {
        "notebooks": ("list", "str"),
        "html": ("list", "str"),
        "tables": ("list", "str"),
        "workbook": "str",
    },
    "timings": ("map", "number"),
}
"""What ``assess`` adds to the summary in ``summary.json`` (timestamps, outputs, timings)."""

PREVIOUS_SCHEMA: dict = {
    "provenance": {"input_hash": "str", "finished": "str"},
    "site": {"ale": {"current": "number"}},
    "zones": (
        "map",
        {
            "ale": {"current": "number"},
            "sl_t": ("list", "int", 7),
            "meets_target": {"current": "bool"},
        },
    ),
}
"""The fields a ``--previous`` summary must hold: those the comparison with it reads."""


class SummaryError(ValueError):
    """A ``summary.json`` does not conform to its schema (message names file and field)."""


def _type_ok(kind: str, value: Any) -> bool:
    if kind.endswith("?"):
        return value is None or _type_ok(kind[:-1], value)
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and math.isfinite(value)
    raise ValueError(f"unknown schema type {kind!r}")


def _describe(node: Any) -> str:
    if isinstance(node, str):
        return node.replace("?", " or null")
    if isinstance(node, tuple):
        n = f" of {node[2]}" if len(node) > 2 else ""
        return f"a list{n} ({_describe(node[1])})" if node[0] == "list" else "an object"
    return "an object"


def check(data: Any, schema: Any = None, path: str = "") -> list[str]:
    """Every place where ``data`` departs from ``schema``.

    Parameters
    ----------
    data : object
        A parsed ``summary.json`` (or a part of it).
    schema : schema node, optional
        Default :data:`SUMMARY_SCHEMA`.
    path : str
        Dotted name of ``data`` (for the messages).

    Returns
    -------
    list of str
        ``"<field>: <what is wrong>"``, empty when ``data`` conforms.
    """
    schema = SUMMARY_SCHEMA if schema is None else schema
    where = path or "(top level)"
    if isinstance(schema, str):
        if _type_ok(schema, data):
            return []
        return [f"{where}: expected {_describe(schema)}, found {type(data).__name__} {data!r:.60}"]
    if isinstance(schema, Mapping):
        if not isinstance(data, Mapping):
            return [f"{where}: expected an object, found {type(data).__name__}"]
        out = []
        for key, sub in schema.items():
            name = f"{path}.{key}" if path else key
            optional = isinstance(sub, tuple) and sub[0] == "optional"
            if optional:
                if key not in data:
                    continue
                sub = sub[1]
            if key not in data:
                out.append(f"{name}: missing")
            else:
                out += check(data[key], sub, name)
        return out
    kind, sub = schema[0], schema[1]
    if kind == "map":
        if not isinstance(data, Mapping):
            return [f"{where}: expected an object, found {type(data).__name__}"]
        return [p for k, v in data.items() for p in check(v, sub, f"{path}.{k}")]
    if not isinstance(data, list):
        return [f"{where}: expected {_describe(schema)}, found {type(data).__name__}"]
    if len(schema) > 2 and len(data) != schema[2]:
        return [f"{where}: expected {schema[2]} items, found {len(data)}"]
    return [p for i, v in enumerate(data) for p in check(v, sub, f"{path}[{i}]")]


def validate(data: Any, schema: Any = None, source: str = "summary.json") -> dict:
    """``data`` if it conforms to ``schema``, else :class:`SummaryError` naming the fields.

    Parameters
    ----------
    data : object
    schema : schema node, optional
        Default :data:`SUMMARY_SCHEMA`.
    source : str
        The file ``data`` came from, named in the message.

    Raises
    ------
    SummaryError
        ``<source>: field <f>: <problem>`` for the first few departures.
    """
    problems = check(data, schema)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise SummaryError(f"{source}: field " + "; field ".join(problems[:3]) + more)
    return data


def merge(*schemas: Mapping) -> dict:
    """The union of dict schemas (nested dicts merged key by key)."""
    out: dict = {}
    for s in schemas:
        for k, v in s.items():
            if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
                out[k] = merge(out[k], v)
            else:
                out[k] = v
    return out


WRITTEN_SCHEMA: dict = merge(SUMMARY_SCHEMA, RUN_FIELDS)
"""What ``summary.json`` of a finished run holds."""
