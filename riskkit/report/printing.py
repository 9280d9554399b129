"""Print styles of the HTML reports, the quick-look banner, and the PDF of the summary.

Every HTML report gets :data:`PRINT_CSS` (A4 pages, no plotly toolbar, no scroll boxes, charts
and tables sized to the page), added by :func:`riskkit.report.export_html`; the page's
Content-Security-Policy allows inline styles. :func:`write_pdf` prints an exported report to
PDF with headless Chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "PRINT_CSS",
    "ChromiumMissing",
    "chromium",
    "quick_look_error",
    "quick_look_html",
    "write_pdf",
]

PRINT_CSS = """
@page { size: A4; margin: 14mm 12mm; }
@media print {
  html, body { width: auto !important; margin: 0 !important; font-size: 10pt; }
  .modebar, .modebar-container, .plotly-notifier { display: none !important; }
  .rk-table { overflow: visible !important; max-height: none !important;
              border: none !important; }
  .rk-table table { font-size: 7.5pt; width: 100%; }
  .rk-table th, .rk-table td { max-width: none !important; padding: 0.1em 0.3em !important; }
  .rk-table tr { break-inside: avoid; page-break-inside: avoid; }
  .rk-table thead th { position: static !important; }
  .jp-OutputArea-output, .output_subarea, .jp-RenderedHTMLCommon {
    overflow: visible !important; max-width: 100% !important; }
  .js-plotly-plot, .plotly-graph-div { max-width: 100% !important;
    break-inside: avoid; page-break-inside: avoid; }
  .jp-OutputArea-output:has(.js-plotly-plot) { zoom: 0.75; }
  .js-plotly-plot .main-svg { max-width: 100% !important; height: auto; }
  .jp-OutputArea-child:has(.js-plotly-plot) { break-inside: avoid; page-break-inside: avoid; }
  .rk-quick-look { break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
  ::-webkit-scrollbar { display: none; }
  * { scrollbar-width: none; }
  .jp-Cell, .jp-Notebook { padding: 0 !important; }
}
"""
"""CSS for printing an HTML report on A4 (``@page`` and ``@media print`` rules)."""

PRINT_STYLE = f'<style id="rk-print">{PRINT_CSS}</style>'
""":data:`PRINT_CSS` as a ``<style>`` element, for the ``<head>`` of a report."""


def quick_look_error(ale: float, ale_se: float) -> float:
    """The relative Monte Carlo error of a quick look [%]: two standard errors of the mean.

    Parameters
    ----------
    ale : float
        The simulated expected annual loss of the site [currency/yr].
    ale_se : float
        Its standard error [currency/yr].

    Returns
    -------
    float
        ``200 * ale_se / ale`` (about a 95 % interval), or NaN where ``ale`` is not positive.
    """
    if not (np.isfinite(ale) and ale > 0 and np.isfinite(ale_se)):
        return float("nan")
    return 200.0 * ale_se / ale


def quick_look_html(trials: int, error_pct: float) -> str:
    """The banner a quick-look (``--fast``) report shows at its top."""
    move = (
        f"figures may move by ±{error_pct:.0f} %"
        if np.isfinite(error_pct)
        else "figures may move noticeably"
    )
    return (
        '<div class="rk-quick-look" role="note" style="border:2px solid #d9822b;'
        "background:#fff4e5;padding:0.5em 1em;margin:0.5em 0;font-weight:bold\">"
        f"Quick look: {trials:,} simulated years; {move} in a full run "
        "(two Monte Carlo standard errors of the expected annual loss). "
        "Not for decisions; run without --fast for the figures to sign off."
        "</div>"
    )


class ChromiumMissing(RuntimeError):
    """No headless Chromium to print with."""


def chromium() -> str:
    """The Chromium executable (``RISKKIT_CHROMIUM``, else ``chromium`` on the PATH).

    Raises
    ------
    ChromiumMissing
        Where none is installed, saying how to install it.
    """
    exe = (
        os.environ.get("RISKKIT_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if not exe:
        raise ChromiumMissing(
            "--pdf needs headless Chromium to print the summary, and none was found on the PATH"
            " (install it, e.g. `apt-get install chromium`, or set RISKKIT_CHROMIUM to its path)"
        )
    return exe


def write_pdf(html: str | os.PathLike, pdf: str | os.PathLike, timeout: float = 180) -> Path:
    """Print an HTML report to PDF (A4) with headless Chromium.

    Parameters
    ----------
    html : path
        The exported report (its scripts run first, so the charts are drawn).
    pdf : path
        The PDF to write.
    timeout : float
        Seconds before giving up [s].

    Returns
    -------
    pathlib.Path
        ``pdf``.

    Raises
    ------
    ChromiumMissing
        No Chromium is installed.
    RuntimeError
        Chromium failed or wrote no PDF; the message holds its last output line.
    """
    exe = chromium()
    html, pdf = Path(html).resolve(), Path(pdf).resolve()
    with tempfile.TemporaryDirectory(prefix="riskkit-chromium-") as profile:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--proxy-server=127.0.0.1:9",  # the report works offline; nothing is fetched
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=10000",
            # charts draw at 4/3 of the printable width of A4 (186 mm = 703 px at 96 px/inch)
            # and print at 3/4 (PRINT_CSS), so they fit the page with readable text
            "--window-size=930,1300",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.as_uri(),
        ]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"Chromium did not print {html} within {timeout:g} s") from None
    if res.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        last = (res.stderr or res.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(
            f"Chromium could not print {html} to PDF (exit {res.returncode}): {last[0]}"
        )
    return pdf
