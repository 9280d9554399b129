"""Stored script injection (issue 17): every report of a hostile site, loaded in Chromium.

The tiny site gets a payload in every free-text field (tests/xss_payloads.py): site name,
currency and description; names and descriptions of zones, conduits, actors, scenarios and
countermeasures; assets, protocols and exclusive groups (ids cannot carry markup). The real
assessment runs on it, then each report is loaded in headless Chromium with networking off.
Every payload, had it run, would set ``document.title`` to ``XSS-RAN``; the DOM after scripts
ran must not show that title nor any element or attribute a payload would add, and the
payload text must be visible literally.

Any Content-Security-Policy ``<meta>`` is removed before loading, so the escaping is tested
on its own, not behind the CSP.

Needs Debian's ``chromium``; skipped where it is absent.
"""

from __future__ import annotations

import html as _html
import re
from pathlib import Path

import pytest
from chromium import CHROMIUM, dump_dom
from xss_payloads import PAYLOADS, RAN, write_poisoned_tiny

from riskkit import report

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

_CSP = re.compile(r"<meta[^>]*Content-Security-Policy[^>]*>", re.IGNORECASE)

MARKS = [
    f"<title>{RAN}</title>",  # a payload ran and set the title
    '="window.__xss',  # an event-handler attribute holding a payload (img, svg, details)
    "<script>window.__xss",  # a payload's script element in the DOM
    'href="javascript:',  # a Markdown link turned into a javascript: link
    "<details open",  # an element a payload would add
]
"""Strings in the DOM that show a payload became markup (or ran)."""


def _dom(page: Path, tmp_path: Path) -> str:
    """The DOM of ``page`` after its scripts ran, with any CSP meta removed first."""
    bare = tmp_path / f"bare-{page.name}"
    bare.write_text(_CSP.sub("", page.read_text(encoding="utf-8")), encoding="utf-8")
    return dump_dom(bare, tmp_path / "profile")


def _visible(payload: str) -> str:
    """How a payload shown as text appears in a serialised DOM."""
    return _html.escape(payload, quote=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp("xss")
    site = write_poisoned_tiny(repo_root, tmp / "site")
    res = report.assess(site, out=tmp / "out", trials=200, fast=True)
    return Path(getattr(res, "out", tmp / "out"))


def test_no_payload_runs_in_any_report_and_each_shows_literally(run, tmp_path):
    pages = sorted((run / "html").glob("*.html"))
    assert len(pages) == len(report.NOTEBOOKS)
    seen = set()
    for page in pages:
        dom = _dom(page, tmp_path)
        hits = [m for m in MARKS if m in dom]
        assert not hits, f"{page.name}: {hits}"
        # the site name is in every report's provenance line, shown as text
        assert _visible(PAYLOADS["img"]) in dom, page.name
        seen |= {k for k, v in PAYLOADS.items() if _visible(v) in dom}
    assert seen == set(PAYLOADS), f"never shown literally: {set(PAYLOADS) - seen}"


def test_index_page_runs_no_payload(run, tmp_path):
    dom = _dom(run / "index.html", tmp_path)
    hits = [m for m in MARKS if m in dom]
    assert not hits, hits
    assert _visible(PAYLOADS["script"]) in dom  # the currency, shown as text
