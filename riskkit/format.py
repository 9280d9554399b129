"""Plain formatting of numbers and labels, shared by the CLI, the notebooks and the exports.

This module is the cheap half of the formatting layer: it needs neither pandas' Styler nor
plotly, so the ``riskkit`` command imports it without paying for them.
:mod:`riskkit.report.format` re-exports everything here and adds the HTML tables.

- :func:`label`: a column name as a human label with its unit in brackets;
- :func:`number`: at most three significant digits, thousands separators, never an exponent;
- :func:`money_text`: whole units of money with thousands separators;
- :func:`yes_no`: ✓/✗;
- :func:`text_table`: a plain-text table for a terminal, long text wrapped at word
  boundaries instead of cut, ``-`` where a value is missing.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import escape

__all__ = [
    "LABELS",
    "label",
    "is_money",
    "number",
    "money_text",
    "yes_no",
    "is_missing",
    "text_table",
]


def is_missing(x: Any) -> bool:
    """Whether ``x`` is a missing value: None, NaN, ``pandas.NA`` or ``NaT``."""
    if x is None or type(x).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(x, (str, bytes, bool)):
        return False
    try:
        return math.isnan(x)
    except (TypeError, ValueError):
        return False


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
    # 95 % confidence intervals of the tail measures (Simulation.summary(intervals=True))
    **{
        f"{m}{q}_{end}": (f"{'VaR' if m == 'var' else 'ES'} {q} %, 95 % CI {side}", "money")
        for m in ("var", "es")
        for q in (90, 95, 99)
        for end, side in (("lo", "low"), ("hi", "high"))
    },
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
    if is_missing(x):
        return ""
    if isinstance(x, bool) or type(x).__name__ == "bool_":
        return yes_no(x)
    v = float(x)
    if not math.isfinite(v):
        return "∞" if v > 0 else ("-∞" if v < 0 else "")
    if v == int(v) or abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:.3g}"
    if v == 0:
        return "0"
    text = f"{v:.3g}"
    if "e" in text:  # small values: decimal notation, three significant digits
        digits = 2 - math.floor(math.log10(abs(v)))
        text = f"{v:.{digits}f}".rstrip("0")
    return text


def money_text(x) -> str:
    """An amount in whole units with thousands separators (``2,110,000``); empty if missing."""
    if is_missing(x):
        return ""
    v = float(x)
    if not math.isfinite(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:,.0f}"


def yes_no(value) -> str:
    """✓ for true, ✗ for false, empty for missing."""
    if is_missing(value):
        return ""
    return "✓" if bool(value) else "✗"


def text_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    headers: Mapping[str, str] | None = None,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    wrap: Mapping[str, int] | None = None,
    indent: str = "",
) -> str:
    """A plain-text table for a terminal: numbers right-aligned, text wrapped, never cut.

    Parameters
    ----------
    rows : sequence of mappings
        One mapping per row, column name -> value.
    columns : sequence of str
        The columns to show, in order.
    headers : mapping, optional
        Column name -> header text (default: the column name).
    formats : mapping, optional
        Column name -> function from a value to its text. Without one a number goes through
        :func:`number`, a boolean through :func:`yes_no` and anything else through ``str``.
        A missing value (None, NaN) always shows as ``-``.
    wrap : mapping, optional
        Column name -> the widest its text may be [characters]; longer text wraps at word
        boundaries onto continuation lines (a single longer word is kept whole).
    indent : str
        Put before every line.

    Returns
    -------
    str
        The table, header first, without a trailing newline.

    Examples
    --------
    >>> print(text_table([{"id": "A", "cost": 49806.4}], ["id", "cost"]))
    id    cost
    A   49,806
    """
    headers = dict(headers or {})
    formats = dict(formats or {})
    wrap = dict(wrap or {})
    cells: list[list[list[str]]] = []
    numeric = {c: True for c in columns}
    for row in rows:
        line = []
        for c in columns:
            v = row.get(c)
            if is_missing(v):
                text = "-"
            elif c in formats:
                text = formats[c](v)
            elif isinstance(v, bool) or type(v).__name__ == "bool_":
                text = yes_no(v)
            elif isinstance(v, (int, float)) or hasattr(v, "dtype"):
                text = number(v)
            else:
                text = escape.text(v)
                numeric[c] = False
            width = wrap.get(c)
            parts = [text]
            if width:
                parts = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
            line.append(parts or [""])
        cells.append(line)
    titles = [headers.get(c, c) for c in columns]
    widths = [
        max([len(t)] + [len(p) for line in cells for p in line[i]]) for i, t in enumerate(titles)
    ]

    def render(parts: Sequence[str]) -> str:
        out = []
        for i, (c, text) in enumerate(zip(columns, parts)):
            out.append(text.rjust(widths[i]) if numeric[c] else text.ljust(widths[i]))
        return (indent + "  ".join(out)).rstrip()

    lines = [render(titles)]
    for line in cells:
        for k in range(max(len(parts) for parts in line) if line else 1):
            lines.append(render([parts[k] if k < len(parts) else "" for parts in line]))
    return "\n".join(lines)
