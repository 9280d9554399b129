"""Tests of riskkit.escape: the one helper that escapes untrusted text for every output.

Each function is checked on hand-written cases (what the escaped text must be) and on a list
of hostile payloads: the escaped text must hold no markup character that could open a tag,
an attribute or a Markdown construct, and rendering it must give back the literal text.
"""

from __future__ import annotations

import html as _html

import openpyxl
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from xss_payloads import PAYLOADS

from riskkit import escape

HOSTILE = [
    *PAYLOADS.values(),
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "[click](javascript:alert(1))",
    "![x](x onerror=alert(1))",
    "<a href='javascript:alert(1)'>x</a>",
    "# heading\n> quote\n- item",
    "| a | b |\n|---|---|",
    "`code` **bold** _it_ ~~strike~~",
    "&lt;script&gt; already escaped",
    "$x$ {braces} \\backslash",
]
"""Payloads tried against every escaping function."""


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("plain text", "plain text"),
        ("<b>", "&lt;b&gt;"),
        ('a "q" & b', "a &quot;q&quot; &amp; b"),
        ("it's", "it&#x27;s"),
        (None, ""),
        (12.5, "12.5"),
    ],
)
def test_html_cases(raw, expected):
    assert escape.html(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("plain", "plain"),
        ("*bold*", "\\*bold\\*"),
        ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
        ("a|b", "a\\|b"),
        ("[x](y)", "\\[x\\]\\(y\\)"),
        ("line1\nline2", "line1 line2"),
        (None, ""),
    ],
)
def test_markdown_cases(raw, expected):
    assert escape.markdown(raw) == expected


@pytest.mark.parametrize("payload", HOSTILE)
def test_html_leaves_no_markup(payload):
    out = escape.html(payload)
    assert not set(out) & set("<>\"'")
    assert _html.unescape(out) == payload


@pytest.mark.parametrize("payload", HOSTILE)
def test_plot_leaves_no_markup(payload):
    out = escape.plot(payload)
    assert not set(out) & set("<>\"'")
    assert _html.unescape(out) == payload


def _rendered_text(md: str) -> str:
    """The text a reader sees when the notebook exporter renders Markdown ``md``."""
    out = markdown2html_mistune(md).strip()
    assert out.startswith("<p>") and out.endswith("</p>"), out  # one plain paragraph
    inner = out[3:-4]
    assert "<" not in inner, f"markup in rendered Markdown: {out}"
    return _html.unescape(inner)


@pytest.mark.parametrize("payload", HOSTILE)
def test_markdown_renders_literally(payload):
    """Rendered by nbconvert's Markdown renderer, the escaped text is one plain paragraph
    that reads as the payload (newlines become spaces)."""
    expected = " ".join(payload.replace("\r", " ").split("\n"))
    assert _rendered_text(escape.markdown(payload)) == expected


def test_markdown_apostrophe_renders_literally():
    assert _rendered_text(escape.markdown("it's <b>")) == "it's <b>"


def test_markdown_apostrophe_is_still_safe():
    """An apostrophe renders as text: the result is one paragraph with no attributes."""
    from html.parser import HTMLParser

    tags = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, attrs))

    P().feed(markdown2html_mistune(escape.markdown("x' onerror='alert(1)")))
    assert tags == [("p", [])]


def test_text_of_none_and_numbers():
    assert escape.text(None) == ""
    assert escape.text(3) == "3"


def test_defuse_workbook_turns_formulas_into_text():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = '=HYPERLINK("http://example.invalid","x")'
    ws["A2"] = "plain"
    ws["A3"] = 5
    assert ws["A1"].data_type == "f"
    assert escape.defuse_workbook(wb) == 1
    assert ws["A1"].data_type == "s"
    assert ws["A1"].value == '=HYPERLINK("http://example.invalid","x")'
    assert ws["A3"].value == 5
    assert escape.defuse_workbook(wb) == 0
