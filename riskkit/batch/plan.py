"""Which sites a batch runs: discovery, the identity of a run, and what is already done."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
from collections.abc import Iterable
from pathlib import Path

from .. import __version__
from ..io import file_hash, load_site, site_files
from ..site import SiteError

SITE_SUFFIXES = (".yaml", ".yml", ".xlsx")
"""File types that hold a whole site."""

_DEFAULT_BUDGET = "least total cost of risk"
"""``provenance.budget_source`` of a run without a budget (a batch never gives one)."""


@dataclasses.dataclass
class SiteJob:
    """One site of a batch: what to run, or why it is not run.

    Attributes
    ----------
    site_id : str
        The site's folder name in the batch output (``site.id``, else a slug of its name;
        for a site that does not load, the file or folder name).
    input : str
        The path as discovered (a file or a site folder).
    input_sha256 : str or None
        SHA-256 of the site's files (as :func:`riskkit.io.file_hash`); None if unreadable.
    trials, seed : int or None
        The resolved Monte Carlo trials and seed (the site's defaults unless given).
    fast : bool
        Whether the run is a ``--fast`` run.
    out : str or None
        The output folder of the run to do, or of the complete run found (``skipped``).
    status : {'run', 'skipped', 'failed'}
        ``run`` for a site still to run; ``failed`` when it cannot run (invalid site).
    error : str
        Why it failed.
    notebooks : list of str or None
        Notebooks to run instead of the standard five (tests and custom pipelines).
    """

    site_id: str
    input: str
    input_sha256: str | None = None
    trials: int | None = None
    seed: int | None = None
    fast: bool = False
    out: str | None = None
    status: str = "run"
    error: str = ""
    notebooks: list[str] | None = None

    def row(self, status: str, duration: float = 0.0, output: str | None = None, error=""):
        """The manifest row of this site with the given outcome (see :data:`MANIFEST_FIELDS`)."""
        return {
            "site_id": self.site_id,
            "input": self.input,
            "input_sha256": self.input_sha256 or "",
            "status": status,
            "duration_s": round(float(duration), 2),
            "output": output or "",
            "error": error,
            "trials": self.trials,
            "seed": self.seed,
        }


def _is_site_folder(p: Path) -> bool:
    return (p / "site.yaml").is_file() or (p / "site.yml").is_file()


def discover(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The sites named by ``paths``, in order, each once.

    Each path is a site file (``.yaml``, ``.yml``, ``.xlsx``), a site folder (one holding
    ``site.yaml``) or a folder of sites, whose site files and site folders (one level down,
    sorted by name, hidden entries and Excel lock files ``~$*`` ignored) are the sites. A path
    that does not exist, or a folder without any site, is returned as given, so that the batch
    reports it as a failed site instead of losing it.

    Parameters
    ----------
    paths : iterable of path

    Returns
    -------
    list of pathlib.Path
    """
    found: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            found.append(p)

    for raw in paths:
        p = Path(raw)
        if not p.is_dir() or _is_site_folder(p):
            add(p)
            continue
        inner = [
            c
            for c in sorted(p.iterdir(), key=lambda c: c.name)
            if not c.name.startswith((".", "~$"))
            and (
                (c.is_file() and c.suffix.lower() in SITE_SUFFIXES)
                or (c.is_dir() and _is_site_folder(c))
            )
        ]
        for c in inner or [p]:
            add(c)
    return found


def _fallback_id(p: Path) -> str:
    name = p.name if p.is_dir() or not p.suffix else p.stem
    if name.lower() in ("site", "") and p.parent.name:
        name = p.parent.name
    return name or "site"


def _input_hash(p: Path) -> str | None:
    try:
        files = site_files(p)
        return file_hash(files) if files and all(f.is_file() for f in files) else None
    except OSError:
        return None


def is_complete(
    folder: str | os.PathLike,
    input_sha256: str,
    trials: int,
    seed: int,
    fast: bool = False,
    version: str = __version__,
) -> bool:
    """Whether ``folder`` holds a complete batch-equivalent run of this input.

    ``assess`` writes ``summary.json`` last into a temporary ``.partial-`` folder and then
    renames it, so a run folder with a readable ``summary.json`` is complete. It counts when
    its provenance names the same input hash, trials, seed, ``fast`` flag and riskkit version,
    without a budget or a previous run (which a batch never gives), and every output it lists
    is still there.

    Parameters
    ----------
    folder : path
    input_sha256 : str
    trials, seed : int
    fast : bool
    version : str
        The riskkit version (default: this one).

    Returns
    -------
    bool
    """
    folder = Path(folder)
    if ".partial-" in folder.name or "-FAILED-" in folder.name:
        return False
    try:
        s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        prov, outputs = s["provenance"], s["outputs"]
        same = (
            prov.get("input_hash") == input_sha256
            and prov.get("trials") == trials
            and prov.get("seed") == seed
            and bool(prov.get("fast")) == bool(fast)
            and prov.get("budget_source") == _DEFAULT_BUDGET
            and prov.get("previous") is None
            and s["riskkit"]["version"] == version
        )
        files = [
            f for group in outputs.values() for f in ([group] if isinstance(group, str) else group)
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return same and all((folder / f).is_file() for f in files)


def find_complete(site_dir: str | os.PathLike, input_sha256: str, trials, seed, fast=False):
    """The newest complete run in ``site_dir`` (see :func:`is_complete`), or None.

    Returns
    -------
    pathlib.Path or None
    """
    site_dir = Path(site_dir)
    if not site_dir.is_dir():
        return None
    runs = [d for d in site_dir.iterdir() if d.is_dir()]
    runs.sort(key=lambda d: (d.stat().st_mtime, d.name), reverse=True)
    for d in runs:
        if is_complete(d, input_sha256, trials, seed, fast):
            return d
    return None


def _fresh_out(site_dir: Path, name: str, reserved: set[Path]) -> Path:
    """``site_dir/name``, or ``name-2``, ``-3``... if taken on disk or by this batch."""
    cand, k = site_dir / name, 1
    while cand.exists() or cand in reserved or any(site_dir.glob(cand.name + ".partial-*")):
        k += 1
        cand = site_dir / f"{name}-{k}"
    reserved.add(cand)
    return cand


def _site_error(e: SiteError, path: Path) -> str:
    problems = getattr(e, "problems", None) or [e]
    return f"invalid site, {len(problems)} problem(s): " + "; ".join(str(p) for p in problems)


def plan_jobs(
    paths: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    trials: int | None = None,
    seed: int | None = None,
    fast: bool = False,
    force: bool = False,
    notebooks: Iterable[str | os.PathLike] | None = None,
    today: _dt.date | None = None,
) -> list[SiteJob]:
    """One :class:`SiteJob` per discovered site: to run, skipped, or failed before running.

    Every site is loaded and validated here, so an invalid site fails at once (with its
    problems in ``error``) and never reaches a worker. A site with a complete run in
    ``out/<site id>/`` (:func:`find_complete`) is ``skipped`` unless ``force``; the others get
    a fresh folder ``out/<site id>/<YYYY-MM-DD>-<short hash>`` (``-2``, ``-3``... if taken).

    Parameters
    ----------
    paths : iterable of path
        Site files, site folders and folders of sites (:func:`discover`).
    out : path
        The batch output folder.
    trials, seed : int, optional
        As ``riskkit assess`` (default: each site's ``model.trials`` and ``model.seed``).
    fast : bool
    force : bool
        Run sites that already have a complete run.
    notebooks : iterable of path, optional
        Notebooks to run instead of the standard five.
    today : datetime.date, optional
        The date in the folder names (default: today, UTC).

    Returns
    -------
    list of SiteJob
    """
    from ..report.assessment import Assessment

    out = Path(out)
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    nbs = [str(Path(n).resolve()) for n in notebooks] if notebooks is not None else None
    reserved: set[Path] = set()
    jobs = []
    for path in discover(paths):
        job = SiteJob(
            site_id=_fallback_id(path),
            input=str(path),
            input_sha256=_input_hash(path),
            fast=bool(fast),
            notebooks=nbs,
        )
        jobs.append(job)
        try:
            site = load_site(path)
            probe = Assessment(site, trials=trials, seed=seed, fast=fast)
        except SiteError as e:
            job.status, job.error = "failed", _site_error(e, path)
            continue
        except (OSError, ValueError) as e:
            job.status, job.error = "failed", f"{path}: {e}"
            continue
        job.site_id = site.site.slug
        job.input_sha256 = site.source_hash
        job.trials, job.seed = probe.trials, probe.seed
        site_dir = out / job.site_id
        done = (
            None
            if force
            else find_complete(site_dir, site.source_hash, probe.trials, probe.seed, fast)
        )
        if done is not None:
            job.status, job.out = "skipped", str(done)
            continue
        name = f"{today.isoformat()}-{(site.source_hash or 'nohash')[:7]}"
        job.out = str(_fresh_out(site_dir, name, reserved))
    return jobs
