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

# unit kinds: "money" [currency], "money/yr" [currency/yr], or a literal unit text
LABELS: dict[str, tuple[str, str | None]] = {
    # risk measures
    "ale": ("Expected annual loss, simulated", "money/yr"),
    "ale_se": ("Its Monte Carlo error (1 SE)", "money/yr"),
    "expected_ale": ("Expected annual loss, exact", "money/yr"),
    "var90": ("1-in-10-year loss (VaR 90 %)", "money"),
    "var95": ("1-in-20-year loss (VaR 95 %)", "money"),
    "var99": ("1-in-100-year loss (VaR 99 %)", "money"),
    "es90": ("Mean of the worst 10 % of years (ES 90 %)", "money"),
    "es95": ("Mean of the worst 5 % of years (ES 95 %)", "money"),
    "es99": ("Mean of the worst 1 % of years (ES 99 %)", "money"),
    "p_zero": ("Share of years without loss", None),
    "ale_unmitigated": ("Expected annual loss, unmitigated", "money/yr"),
    "ale_current": ("Expected annual loss today", "money/yr"),
    "ale_plan": ("Expected annual loss with the plan", "money/yr"),
    "var99_current": ("1-in-100-year loss today", "money"),
    "event_rate": ("Successful attacks", "events/yr"),
    "protection": ("Protection factor", None),
    # costs and plans
    "capex": ("Up-front cost (capex)", "money"),
    "opex": ("Running cost (opex)", "money/yr"),
    "annualised_cost": ("Annualised cost", "money/yr"),
    "lifetime_years": ("Lifetime", "years"),
    "crf": ("Capital recovery factor", "1/yr"),
    "budget": ("Budget", "money/yr"),
    "delta_ale": ("Reduction of expected annual loss", "money/yr"),
    "delta_var99": ("Reduction of 1-in-100-year loss", "money"),
    "reduction": ("Reduction of expected annual loss", "money/yr"),
    "reduction_per_cost": ("Loss removed per unit spent", None),
    "rosi": ("Return on security investment (ROSI)", None),
    "npv": ("Net present value", "money"),
    "standalone": ("Reduction on its own", "money/yr"),
    "drop_one": ("Reduction lost if dropped from the plan", "money/yr"),
    "shapley": ("Fair share of the plan's reduction (Shapley)", "money/yr"),
    "greedy_ale": ("Expected annual loss, greedy sequence", "money/yr"),
    "nesting_cost": ("Extra loss of a nested roadmap", "money/yr"),
    "n_members": ("Measures", None),
    "members": ("Measures in the plan", None),
    "exclusive_group": ("Exclusive group", None),
    "group": ("Exclusive group", None),
    "mandatory": ("Mandatory", None),
    "sl_gaps_closed": ("SL gaps closed", None),
    "rank": ("Rank", None),
    # levels
    "sl_t": ("SL-T", None),
    "sl_c": ("SL-C", None),
    "sl_a": ("SL-A", None),
    "max_sl_t": ("Highest SL-T", None),
    "fr": ("FR", None),
    "meets": ("Meets SL-T", None),
    "gap": ("Gap", "levels"),
    "gaps": ("FRs short of SL-T", None),
    "total_gap": ("Total gap", "levels"),
    "max_gap": ("Largest gap", "levels"),
    "gap_after": ("Gap afterwards", "levels"),
    "capability_gap": ("SL-T above SL-C", None),
    "capability_gaps": ("FRs with SL-T above SL-C", None),
    "closes": ("Closes the gap", None),
    "level": ("Level it brings", None),
    "rrf": ("Required risk reduction factor", None),
    "residual_rrf": ("Reduction still missing (factor)", None),
    "required": ("Level required", None),
    "capped": ("Capped by capability", None),
    "flagged": ("Security PHA review", None),
    "top_driver": ("Main driver", None),
    "dimension": ("Set by", None),
    "differs": ("Methods differ", None),
    "within": ("Within tolerance", None),
    "tolerable": ("Tolerable", None),
    "value": ("Value", None),
    # records
    "purdue_level": ("Purdue level", None),
    "entry_of": ("Entry of scenarios", None),
    "attempt_rate": ("Attempt rate", "attempts/yr"),
    "mean_attempts_per_yr": ("Mean attempts", "attempts/yr"),
    "frs": ("FRs", None),
    "safety_severity": ("Safety severity", None),
    "environment_severity": ("Environmental severity", None),
    "implemented": ("Implemented measures", None),
    "candidates": ("Candidate measures", None),
    "id": ("Id", None),
}
"""Column name -> (human label, unit kind). Unit kinds ``money`` and ``money/yr`` take the
site's currency; anything else is printed as given."""

_MONEY_KINDS = ("money", "money/yr")
_HARM_COL = re.compile(r"^(?:delta_)?(safety|environment)_ge(\d)(_sim)?$")


def _unit(kind: str | None, currency: str | None) -> str:
    if kind is None:
        return ""
    if kind in _MONEY_KINDS:
        cur = currency or "currency"
        return f" [{cur}/yr]" if kind == "money/yr" else f" [{cur}]"
    return f" [{kind}]"


def _known(name: str) -> tuple[str, str | None] | None:
    if name in LABELS:
        return LABELS[name]
    m = _HARM_COL.match(name)
    if m:
        what = "Safety" if m.group(1) == "safety" else "Environmental"
        pre = "Fewer " if name.startswith("delta_") else ""
        text = f"{pre}{what} events of severity {m.group(2)}+"
        return (text + (", simulated" if m.group(3) else ""), "events/yr")
    return None


def label(name, currency: str | None = None) -> str:
    """The human label of a column name, with its unit in brackets (not escaped).

    Parameters
    ----------
    name : str
        A column name such as ``annualised_cost``; a name already meant for people
        (``expected loss today``) is returned with its first letter capitalised.
    currency : str, optional
        The site's currency, for money columns.

    Examples
    --------
    >>> label("annualised_cost", "EUR")
    'Annualised cost [EUR/yr]'
    >>> label("drop_one", "EUR")
    'Reduction lost if dropped from the plan [EUR/yr]'
    """
    n = escape.text(name)
    known = _known(n)
    if known is not None:
        text, kind = known
        return text + _unit(kind, currency)
    if re.fullmatch(r"FR\d", n) or not n:
        return n
    words = n.replace("_", " ")
    return words[:1].upper() + words[1:]


def is_money(name) -> bool:
    """Whether a column holds an amount of money [currency or currency/yr]."""
    known = _known(escape.text(name))
    return known is not None and known[1] in _MONEY_KINDS


def number(x) -> str:
    """A plain number: integers with separators, others with 3 significant digits, no exponent.

    Examples
    --------
    >>> number(30365.792114), number(0.0125), number(1234.5), number(80000.0)
    ('30,366', '0.0125', '1,234', '80,000')
    """
    if x is None or (isinstance(x, (float, np.floating)) and np.isnan(x)):
        return ""
    if isinstance(x, (bool, np.bool_)):
        return yes_no(x)
    v = float(x)
    if not np.isfinite(v):
        return "∞" if v > 0 else ("-∞" if v < 0 else "")
    if v == int(v) or abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:.3g}"
    if v == 0:
        return "0"
    text = f"{v:.3g}"
    if "e" in text:  # small values: decimal notation, three significant digits
        digits = 2 - int(np.floor(np.log10(abs(v))))
        text = f"{v:.{digits}f}".rstrip("0")
    return text


def money_text(x) -> str:
    """An amount in whole units with thousands separators (``2,110,000``); empty if missing."""
    if x is None or (isinstance(x, (float, np.floating)) and np.isnan(x)):
        return ""
    v = float(x)
    if not np.isfinite(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:,.0f}"


def yes_no(value) -> str:
    """✓ for true, ✗ for false, empty for missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return "✓" if bool(value) else "✗"


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
    "overflow: auto; max-width: 100%; max-height: 36em; border: 1px solid #ddd; "
    "margin: 0.5em 0;"
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
