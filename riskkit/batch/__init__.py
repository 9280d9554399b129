"""Batch reassessments: many sites, each assessed as ``riskkit assess`` does.

A batch finds the sites under the paths it is given (:func:`discover`), plans one run per
site and skips those that already have a complete run with the same input, seed, trials and
riskkit version (:func:`plan_jobs`), runs the others on local worker processes or on a Dask
cluster, each in a child process that a timeout can kill (:func:`run_site`), and writes
``manifest.json`` and ``manifest.csv`` (:func:`write_manifest`). :func:`run_batch` does all
of it; ``riskkit batch`` is its command line.

Layout of the output folder ``DIR``::

    DIR/manifest.json, DIR/manifest.csv
    DIR/<site id>/<YYYY-MM-DD>-<short input hash>/   one complete run (summary.json last)
    DIR/<site id>/<...>-FAILED-<time>/               a failed or killed run (ERROR.txt)
"""

from __future__ import annotations

from .manifest import MANIFEST_FIELDS, read_manifest, write_manifest
from .plan import SiteJob, discover, find_complete, is_complete, plan_jobs
from .runner import BatchError, BatchResult, run_batch, run_site

__all__ = [
    "BatchError",
    "BatchResult",
    "MANIFEST_FIELDS",
    "SiteJob",
    "discover",
    "find_complete",
    "is_complete",
    "plan_jobs",
    "read_manifest",
    "run_batch",
    "run_site",
    "write_manifest",
]
