"""The HTML reports in a real browser: plotly figures must draw offline.

A report notebook's figure is executed through a kernel, exported by
:func:`riskkit.pipeline.export_html` (no code cells, plotly.js inlined), and loaded in headless
Chromium with networking off; the DOM after scripts ran must hold a drawn plot (plotly's
``main-svg`` layer and the trace's points), which only happens when plotly.js ran in the page.

Needs Debian's ``chromium`` (``apt-get install chromium``); skipped where it is absent.
"""

from __future__ import annotations

import nbformat
import pytest
from chromium import CHROMIUM, dump_dom
from nbclient import NotebookClient

from riskkit.pipeline import export_html

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

CELL = """
from riskkit import figures, load_site, report
from riskkit.exposure import expected_losses
report.setup_notebook()
site = load_site({site!r})
df = expected_losses(site, "current").groupby("zone")["ale"].sum().to_frame("current")
fig = figures.zone_diagram(site)
fig.show()
"""


def _dom(html, tmp_path):
    return dump_dom(html, tmp_path / "profile", timeout=120)


def test_exported_report_draws_its_plotly_figure_offline(tmp_path, repo_root):
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL.format(site=str(site)))]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    ipynb = tmp_path / "report.ipynb"
    nbformat.write(nb, ipynb)
    html = export_html(ipynb, tmp_path / "report.html")

    text = html.read_text(encoding="utf-8")
    assert "from riskkit import" not in text  # no code cells
    dom = _dom(html, tmp_path)
    # plotly draws into <svg class="main-svg"> and marks the plot container "js-plotly-plot";
    # neither exists in the file before plotly.js has run
    assert 'class="main-svg"' not in text
    assert "js-plotly-plot" in dom
    assert dom.count('class="main-svg"') >= 1
    # the zones of the tiny site appear as text drawn inside the figure's SVG
    svg = dom[dom.index('class="main-svg"') :]
    for zone in ("Z-OPS", "Z-CTRL"):
        assert zone in svg
