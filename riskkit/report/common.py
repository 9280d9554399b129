"""Constants and helpers shared by the report modules."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NOTEBOOKS: tuple[tuple[str, str], ...] = (
    ("01_system", "System under consideration"),
    ("02_risk", "Risk assessment"),
    ("03_levels", "Target security levels and gap analysis"),
    ("04_countermeasures", "Countermeasure prioritisation"),
    ("05_summary", "Management summary"),
)
"""The notebooks of an assessment, in order: file stem and title."""


FAST_TRIALS = 2000
"""Trials of a ``fast`` run where none are given."""

_CACHE = ".cache"
"""Name of the folder inside a run folder where the notebooks share results."""


def _jsonable(x: Any) -> Any:
    """Plain JSON types from numpy / pandas scalars and containers."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, np.ndarray, pd.Index)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if x is pd.NA or x is pd.NaT:
        return None
    if isinstance(x, (_dt.date, _dt.datetime, pd.Timestamp)):
        return x.isoformat()
    return x


def _vec_text(v) -> str:
    return "" if v is None else " ".join(str(int(x)) for x in v)


def read_summary(folder: str | os.PathLike) -> dict:
    """The ``summary.json`` of an output folder."""
    p = Path(folder) / "summary.json"
    if not p.is_file():
        raise FileNotFoundError(f"no summary.json in {folder}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{p} is not valid JSON ({e})") from None
    if not (isinstance(data, dict) and isinstance(data.get("zones"), dict)):
        raise ValueError(f"{p} is not the summary.json of a riskkit assess run (no 'zones')")
    return data
