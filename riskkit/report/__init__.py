"""The deliverables of an assessment: notebooks run by papermill into one output folder.

``riskkit assess SITE`` (:func:`assess`) executes the notebooks of ``notebooks/`` (stored as
jupytext percent-format ``.py`` files, converted at run time) one after the other, each with
the same parameters, and writes into a fresh folder::

    <out>/
      summary.json           machine-readable results and provenance
      index.html             links to the reports, headline numbers
      html/NN_*.html         the reports, without code cells, plotly figures interactive
      notebooks/NN_*.ipynb   the executed notebooks
      tables.xlsx            every table, one sheet each
      tables/*.parquet       the same tables as Parquet
      input/                 the snapshot of the site's files that every step read

The numbers are computed in the notebooks, through :class:`Assessment`: one object that calls
the library (:func:`riskkit.simulate`, :func:`riskkit.target_levels`, :func:`riskkit.gaps`,
:func:`riskkit.prioritize`, :func:`riskkit.optimize`, :func:`riskkit.frontier`) with the run's
parameters, computes each result on first use and keeps it in a cache folder shared by the
notebooks of one run, so the simulation a later notebook shows is the one an earlier notebook
ran. After the last notebook the same object (now reading the cache) writes ``summary.json``
and the tables; anything computed from the same inputs and seed through the library's API
gives the same numbers.

The folder is written atomically: everything goes to ``<out>.partial-XXXX`` and is renamed at
the end. A failing notebook leaves ``<out>-FAILED-<time>`` with the partial executed notebook
and an ``ERROR.txt`` naming the cell and the error, and :class:`AssessError` is raised; an
existing folder is never overwritten. A signal (SIGINT, or SIGTERM within
:func:`sigterm_as_interrupt`) keeps the partial run the same way and raises
:class:`AssessInterrupted`; a full disk or a refused write removes what the run wrote and raises
:class:`OutputError`. The ``summary.json`` schema is :mod:`riskkit.report.schema`.

References
----------
.. [1] IEC 62443-3-2:2020, clauses 4.2-4.7 (ZCR 1-6: the steps the five notebooks follow) and
   clause 4.8 (ZCR 7: documentation of the assessment).
"""

from __future__ import annotations

from ..rules import STATES
from .assessment import Assessment, recommended_budget
from .common import FAST_TRIALS, NOTEBOOKS, read_summary
from .plans import plans_side_by_side, unclosable_view
from .run import (
    AssessError,
    AssessInterrupted,
    AssessResult,
    OutputError,
    SnapshotError,
    assess,
    default_out,
    export_html,
    notebooks_dir,
    sigterm_as_interrupt,
)
from .schema import SummaryError
from .tables import write_tables
from .views import (
    actors_table,
    changes_markdown,
    checks_markdown,
    conduits_table,
    countermeasures_table,
    drivers_view,
    flags_markdown,
    frontier_view,
    headline_markdown,
    inventory_table,
    level_frames,
    levels_markdown,
    methods_view,
    plan_markdown,
    plan_view,
    provenance_markdown,
    ranking_view,
    register_view,
    risk_table,
    rrf_view,
    scenarios_table,
    setup_notebook,
    styled,
    tolerance_markdown,
    top_risks_view,
    zone_status_view,
    zones_table,
)

# isort: split
# --- helper "report": the one-call notebook setup -------------------------------------------
from .views import method_note, negative_return_markdown, quick_look_banner, start

__all__ = [
    "NOTEBOOKS",
    "FAST_TRIALS",
    "STATES",
    "Assessment",
    "AssessError",
    "AssessResult",
    "assess",
    "default_out",
    "notebooks_dir",
    "recommended_budget",
    "setup_notebook",
    "write_tables",
    "export_html",
    "read_summary",
    # views and sentences the notebooks display
    "styled",
    "provenance_markdown",
    "inventory_table",
    "zones_table",
    "conduits_table",
    "actors_table",
    "scenarios_table",
    "countermeasures_table",
    "checks_markdown",
    "risk_table",
    "tolerance_markdown",
    "register_view",
    "level_frames",
    "levels_markdown",
    "drivers_view",
    "flags_markdown",
    "rrf_view",
    "methods_view",
    "headline_markdown",
    "ranking_view",
    "frontier_view",
    "plan_markdown",
    "plan_view",
    "top_risks_view",
    "zone_status_view",
    "changes_markdown",
    "start",
    # compliance and risk side by side, the method note (issue 11)
    "plans_side_by_side",
    "unclosable_view",
    "method_note",
    "negative_return_markdown",
    "quick_look_banner",
    # failures of a run (issue 17) and the summary.json schema
    "AssessInterrupted",
    "OutputError",
    "SnapshotError",
    "SummaryError",
    "sigterm_as_interrupt",
]
