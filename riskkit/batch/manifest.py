"""The batch manifest: ``manifest.json`` and ``manifest.csv``, one row per site."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from ..escape import FORMULA_PREFIXES

MANIFEST_FIELDS = (
    "site_id",
    "input",
    "input_sha256",
    "status",
    "duration_s",
    "output",
    "error",
    "trials",
    "seed",
)
"""Columns of ``manifest.csv`` (and keys of each ``sites`` entry of ``manifest.json``):
site id, input path, SHA-256 of the input files, ``ok`` / ``failed`` / ``skipped``, wall time
of the run [s] (0 for a skipped or invalid site), output folder relative to the batch folder
(the complete run; the ``-FAILED-`` folder of a failed run, if any), error message, trials
and seed."""


def _cell(value):
    """A CSV cell that a spreadsheet program shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith((*FORMULA_PREFIXES, "\t", "\r")):
        return "'" + value
    return "" if value is None else value


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def relative_output(output: str, root: Path) -> str:
    """``output`` relative to the batch folder ``root`` when inside it (POSIX separators)."""
    if not output:
        return ""
    try:
        return Path(output).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(output)


def write_manifest(root: str | os.PathLike, rows: list[dict], info: dict) -> tuple[Path, Path]:
    """Write ``root/manifest.json`` and ``root/manifest.csv``, each replaced atomically.

    Parameters
    ----------
    root : path
        The batch output folder (created if missing).
    rows : list of dict
        One row per site with the keys of :data:`MANIFEST_FIELDS`.
    info : dict
        Batch-level facts stored beside the rows in ``manifest.json`` (options, times).

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The JSON and CSV paths.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = [{k: r.get(k) for k in MANIFEST_FIELDS} for r in rows]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "failed", "skipped")}
    doc = {**info, "counts": counts, "sites": rows}
    jpath, cpath = root / "manifest.json", root / "manifest.csv"
    _atomic_write(jpath, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(v) for k, v in r.items()})
    _atomic_write(cpath, buf.getvalue())
    return jpath, cpath


def read_manifest(root: str | os.PathLike) -> dict:
    """The content of ``root/manifest.json``."""
    return json.loads((Path(root) / "manifest.json").read_text(encoding="utf-8"))
