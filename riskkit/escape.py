"""Escaping of untrusted text, one helper per output format.

Site files and earlier ``summary.json`` files cross organisations: every string in them (site
name, currency, ids, names, exclusive groups, descriptions) is treated as hostile wherever
riskkit shows it. Every view calls one of these functions on such strings; none of them is
written again elsewhere.

- :func:`html` for HTML built by hand and for pandas Styler cells;
- :func:`markdown` for text placed in Markdown (notebook cells rendered to HTML);
- :func:`plot` for plotly titles, axis labels, legend entries, annotations and hover text;
- :func:`defuse_workbook` for openpyxl workbooks: no cell is ever written as a formula.

References
----------
.. [1] OWASP Cheat Sheet Series, "Cross Site Scripting Prevention" (output encoding by
   context) and "CSV Injection" (formula injection in spreadsheets).
"""

from __future__ import annotations

import html as _html
import re
from typing import Any

__all__ = ["html", "markdown", "plot", "defuse_workbook", "FORMULA_PREFIXES", "text"]

FORMULA_PREFIXES = ("=", "+", "-", "@")
"""First characters that make a spreadsheet program read a typed-in cell as a formula."""

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")


def text(value: Any) -> str:
    """``value`` as a display string (None becomes the empty string)."""
    return "" if value is None else str(value)


def html(value: Any) -> str:
    """Escape text for HTML element content and quoted attribute values.

    ``<``, ``>``, ``&``, ``"`` and ``'`` become character references, so the text shows
    literally and never opens a tag or leaves an attribute.

    Examples
    --------
    >>> html('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return _html.escape(text(value), quote=True)


def markdown(value: Any) -> str:
    r"""Escape text for Markdown: Markdown punctuation backslash-escaped, then HTML-escaped.

    The result renders as the literal text in any CommonMark renderer, including inside
    table cells (``|`` is escaped) and at the start of a line (``#``, ``>``, ``-``, ``+``).
    Newlines become spaces, so a value cannot start a new block. The backslashes come first,
    so the character references that HTML escaping writes (``&#x27;``) stay intact; ``>`` is
    left to HTML escaping (``&gt;`` cannot open a block quote).

    Examples
    --------
    >>> markdown("*bold* <b>x</b>")
    '\\*bold\\* &lt;b&gt;x&lt;/b&gt;'
    """
    s = text(value).replace("\r", " ").replace("\n", " ")
    return _html.escape(_MD_SPECIAL.sub(r"\\\1", s), quote=True)


def plot(value: Any) -> str:
    """Escape text for plotly strings (titles, labels, legend, annotations, hover text).

    plotly renders a subset of HTML tags in these strings and decodes character references,
    so HTML-escaping shows the text literally without letting it add tags or links.
    """
    return _html.escape(text(value), quote=True)


def defuse_workbook(workbook) -> int:
    """Make every formula cell of an openpyxl workbook a plain text cell.

    riskkit never writes formulas: a cell that openpyxl typed as a formula came from a string
    that began with ``=`` (a name such as ``=HYPERLINK(...)``). Typed as text it keeps its
    value, shows literally and survives a round trip.

    Parameters
    ----------
    workbook : openpyxl.Workbook

    Returns
    -------
    int
        The number of cells changed.
    """
    n = 0
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
                    n += 1
    return n
