"""The table writer: every table of the deliverables as xlsx sheets and Parquet files."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..escape import defuse_workbook
from .common import _jsonable


def _cell(v: Any) -> Any:
    if isinstance(v, (list, tuple, set, np.ndarray)):
        return ", ".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(_jsonable(v))
    return v


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """A copy safe for Excel and Parquet: index as columns, lists as text, str column names."""
    out = df.copy()
    if not isinstance(out.index, pd.RangeIndex) or out.index.name is not None:
        out = out.reset_index()
    out.columns = [str(c) for c in out.columns]
    for c in out.columns:
        if out[c].dtype == object:
            vals = out[c].map(_cell)
            kinds = {type(v) for v in vals if v is not None and not pd.isna(v)}
            if len(kinds) > 1 or (kinds and not kinds <= {str, bool, int, float}):
                vals = vals.map(lambda v: None if v is None or pd.isna(v) else str(v))
            out[c] = vals
    return out


def write_tables(tables: Mapping[str, pd.DataFrame], out: str | os.PathLike) -> list[str]:
    """Write tables as ``<out>/tables.xlsx`` (one sheet each) and ``<out>/tables/*.parquet``.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Name (at most 31 characters, the Excel limit) to table.
    out : path
        The output folder.

    Returns
    -------
    list of str
        The table names written.

    Notes
    -----
    No cell of the workbook is a formula: text that begins with ``=`` is stored as text
    (:func:`riskkit.escape.defuse_workbook`), so it shows literally and reads back unchanged.
    """
    out = Path(out)
    for name in tables:
        if len(name) > 31:
            raise ValueError(f"table name {name!r} is longer than Excel's 31 characters")
    (out / "tables").mkdir(parents=True, exist_ok=True)
    names = []
    with pd.ExcelWriter(out / "tables.xlsx", engine="openpyxl") as xl:
        for name, df in tables.items():
            flat = _flat(df)
            flat.to_parquet(out / "tables" / f"{name}.parquet", index=False)
            flat.to_excel(xl, sheet_name=name, index=False)
            names.append(name)
        # a name such as '=HYPERLINK(...)' from a site file is text, never a live formula
        defuse_workbook(xl.book)
    return names
