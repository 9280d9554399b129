"""The formatting layer of every table a person reads: labels, units, numbers, booleans.

Every notebook table goes through :func:`styled`, which builds a pandas ``Styler``:

- column headers and index names become human labels with their unit in brackets
  (``annualised_cost`` -> "Annualised cost [EUR/yr]"), from :data:`LABELS`;
- money is shown in whole units of the site's currency with thousands separators
  (``2,110,000``, never ``2.11e+06``), other numbers with at most three significant digits
  and no exponent below a billion;
- ``True``/``False`` become ✓/✗;
- text wraps instead of being cut with "…", and the table sits in its own box that scrolls
  sideways when it is wider than the page, with sticky column headers;
- every text cell, index label and header is HTML-escaped (:func:`riskkit.escape.html`),
  since site files are untrusted.

The same labels and number formats are available as plain functions (:func:`label`,
:func:`number`, :func:`yes_no`) for any other text output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from .. import escape

__all__ = ["LABELS", "label", "number", "money_text", "yes_no", "styled", "TableStyler"]

from ..format import (  # noqa: F401  (re-exported: the plain half of the layer)
    _HARM_COL,
    _MONEY_KINDS,
    LABELS,
    _known,
    _unit,
    is_missing,
    is_money,
    label,
    money_text,
    number,
    text_table,
    yes_no,
)


def _html_cell(value) -> str:
    """A text cell: escaped for HTML, lists joined, booleans as ✓/✗, empty where missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return yes_no(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return escape.html(", ".join(escape.text(v) for v in value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return number(value)
    return escape.html(value)


def _money_cell(value) -> str:
    return money_text(value) if isinstance(value, (int, float, np.number)) else _html_cell(value)


def _tolerance_value(value) -> str:
    """A tolerance table's value: money where large, a frequency where small."""
    return _money_cell(value) if abs(float(value)) >= 100 else number(value)


def _cell_format(col: pd.Series):
    """The formatter of one column: ✓/✗, money, a plain number, or escaped text."""
    name = escape.text(col.name).lower()
    if pd.api.types.is_bool_dtype(col) or col.dropna().map(type).isin([bool, np.bool_]).all():
        if len(col.dropna()):
            return _html_cell
    if not pd.api.types.is_numeric_dtype(col):
        return _html_cell
    if name in ("value", "tolerable"):
        return lambda v: "" if pd.isna(v) else _tolerance_value(v)
    if is_money(col.name) or _looks_like_money(name):
        return _money_cell
    return lambda v: "" if pd.isna(v) else number(v)


_MONEY_WORDS = re.compile(r"(^|[_ ])(ale|loss|cost|capex|opex|budget|npv)($|[_ ])")
_NOT_MONEY = ("per_cost", "rosi", "excess", "lost", "share", "gap", "p_zero", "rrf", "seconds")


def _looks_like_money(name: str) -> bool:
    """Money by its name where :data:`LABELS` does not know the column (``ale today``)."""
    if any(w in name for w in _NOT_MONEY):
        return False
    return bool(_MONEY_WORDS.search(name))


TABLE_CSS = [
    {"selector": "", "props": "border-collapse: collapse; font-size: 0.9em;"},
    {
        "selector": "th, td",
        "props": "white-space: normal; overflow-wrap: break-word; max-width: 28em; "
        "padding: 0.25em 0.6em; vertical-align: top; text-overflow: clip;",
    },
    {"selector": "thead th", "props": "background: #f3f3f3; text-align: left;"},
    {"selector": "td", "props": "text-align: right;"},
    {"selector": "th.row_heading", "props": "white-space: nowrap; text-align: left;"},
    {"selector": "td.rk-text", "props": "text-align: left;"},
]
"""Cell styles of every table: text wraps (never cut with "…"), headers stand out."""

BOX_STYLE = (
    "overflow: auto; max-width: 100%; max-height: 36em; border: 1px solid #ddd; margin: 0.5em 0;"
)
"""The scroll box around each table (an inline style, allowed by the report's CSP)."""


class TableStyler(Styler):
    """A pandas Styler whose notebook display is wrapped in its own scroll box.

    The box (class ``rk-table``) scrolls sideways and down when the table is larger than the
    page; the column headers stay visible (``Styler.set_sticky``). Print CSS
    (:data:`riskkit.report.printing.PRINT_CSS`) lets the box grow to its content on paper.
    """

    def _repr_html_(self) -> str:
        inner = super()._repr_html_()
        return f'<div class="rk-table" style="{BOX_STYLE}">{inner}</div>'


def styled(
    df: pd.DataFrame,
    hide_index: bool = False,
    currency: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> TableStyler:
    """A table for a person: human headers with units, readable numbers, escaped text.

    Parameters
    ----------
    df : pandas.DataFrame
        Any table of the reports; column names are looked up in :data:`LABELS`.
    hide_index : bool
        Leave the index out.
    currency : str, optional
        The site's currency, shown in the unit of money columns ([EUR/yr]).
    labels : mapping, optional
        Headers to use instead of :func:`label` for some columns.

    Returns
    -------
    TableStyler
        Money with thousands separators and no decimals, other numbers with three significant
        digits and no exponent, ✓/✗ for booleans; text, index labels and headers are
        HTML-escaped (:func:`riskkit.escape.html`), so a name from a site file shows literally.
    """
    df = df.copy()
    df.columns = [escape.text(c) if not isinstance(c, str) else c for c in df.columns]
    names = dict(labels or {})

    def head(value) -> str:
        return escape.html(names.get(escape.text(value)) or label(value, currency))

    if any(n is not None for n in df.index.names):
        df.index.names = [None if n is None else head(n) for n in df.index.names]
    unique = df.columns.is_unique and df.index.is_unique
    st = TableStyler(df)
    if df.columns.is_unique:
        st = st.format({c: _cell_format(df[c]) for c in df.columns}, na_rep="")
    st = st.format_index(_html_cell, axis=0).format_index(head, axis=1)
    text_cols = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if text_cols and unique:
        classes = pd.DataFrame("", index=df.index, columns=df.columns)
        classes[text_cols] = "rk-text"
        st = st.set_td_classes(classes)
    st = st.set_table_styles(TABLE_CSS, overwrite=False)
    st = st.set_sticky(axis="columns")
    if hide_index:
        st = st.hide(axis="index")
    return st
