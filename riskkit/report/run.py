"""Running an assessment: papermill, atomic output folders, HTML export, the index page."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..io import load_site
from ..site import Site
from .assessment import Assessment
from .common import _CACHE, NOTEBOOKS, _jsonable, read_summary
from .tables import write_tables


class AssessError(RuntimeError):
    """A notebook of an assessment failed.

    Attributes
    ----------
    notebook : str
        The notebook's stem (``02_risk``).
    cell : int or None
        Index of the failing cell in the executed notebook (0-based, as stored).
    exec_count : int or None
        Its execution count (the ``In [n]`` a reader sees).
    source : str
        The cell's code.
    ename, evalue : str
        Exception type and message raised in the kernel.
    folder : pathlib.Path or None
        The ``-FAILED-`` folder kept with the partial executed notebook.
    """

    def __init__(self, notebook, cell, exec_count, source, ename, evalue, folder=None):
        self.notebook = notebook
        self.cell = cell
        self.exec_count = exec_count
        self.source = source or ""
        self.ename = ename
        self.evalue = evalue
        self.folder = folder
        super().__init__(self.describe())

    def describe(self) -> str:
        """Multi-line message: notebook, cell, its code (first lines) and the error."""
        lines = [f"notebook {self.notebook} failed"]
        if self.cell is not None:
            lines[0] += f" in cell {self.cell} (In [{self.exec_count}])"
        src = self.source.strip().splitlines()
        if src:
            lines.append("  cell:")
            lines += [f"    {s}" for s in src[:12]]
            if len(src) > 12:
                lines.append(f"    ... ({len(src) - 12} more lines)")
        lines.append(f"  error: {self.ename}: {self.evalue}")
        if self.folder is not None:
            lines.append(f"  partial results kept in {self.folder}")
        return "\n".join(lines)


@dataclasses.dataclass
class AssessResult:
    """What :func:`assess` produced.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    summary : dict
        The content of ``summary.json``.
    timings : dict
        Seconds per step (notebook stems, ``export``, ``tables``).
    """

    out: Path
    summary: dict
    timings: dict


def notebooks_dir() -> Path:
    """The folder holding the notebooks (``riskkit/notebooks`` when installed, else the repo's)."""
    pkg = Path(__file__).resolve().parent.parent
    for cand in (pkg / "notebooks", pkg.parent / "notebooks"):
        if (cand / f"{NOTEBOOKS[0][0]}.py").exists():
            return cand
    raise FileNotFoundError(
        f"the assessment notebooks were not found beside the package ({pkg.parent / 'notebooks'})"
    )


def default_out(site: Site, root: str | os.PathLike = "reports", today: _dt.date | None = None):
    """``<root>/<site slug>/<YYYY-MM-DD>-<short input hash>``, with -2, -3... if taken.

    Parameters
    ----------
    site : Site
    root : path
    today : datetime.date, optional
        The date in the name (default: today, UTC).
    """
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    short = (site.source_hash or "nohash")[:7]
    base = Path(root) / site.site.slug / f"{today.isoformat()}-{short}"
    cand, k = base, 1
    while cand.exists() or any(cand.parent.glob(cand.name + ".partial-*")):
        k += 1
        cand = base.with_name(f"{base.name}-{k}")
    return cand


def _load_notebook(path: Path):
    """A jupytext percent ``.py`` (or an ``.ipynb``) as an nbformat notebook with a kernel."""
    import jupytext
    import nbformat

    nb = jupytext.read(path) if path.suffix == ".py" else nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.pop("jupytext", None)
    return nb


def _kernel_manager_class():
    """A kernel manager that talks to the kernel over IPC sockets instead of TCP ports.

    Several runs on one machine (tests, people, processes) cannot collide on ports, and the
    kernel does not warn about unencrypted TCP.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc" if os.name == "posix" else "tcp"

    return IPCKernelManager


_EXTERNAL_SCRIPT = re.compile(
    r"<script[^>]*\bsrc=[\"']https?://[^\"']*[\"'][^>]*>\s*</script>", re.IGNORECASE
)


def export_html(ipynb: str | os.PathLike, html: str | os.PathLike, title: str | None = None):
    """Export an executed notebook as a self-contained HTML report without code cells.

    Outputs are kept (plotly figures with plotly.js inlined), inputs and prompts dropped, and
    scripts that would be fetched from the internet (require.js, MathJax) removed, so the page
    works offline.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)
    # papermill's bookkeeping cells carry no content for a reader
    nb.cells = [
        c
        for c in nb.cells
        if "injected-parameters" not in c.get("metadata", {}).get("tags", [])
        and "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])
    ]
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    resources = {"metadata": {"name": title or Path(ipynb).stem}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    body = _EXTERNAL_SCRIPT.sub("", body)
    Path(html).write_text(body, encoding="utf-8")
    return Path(html)


def _copy_input(site_path: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if site_path.is_dir():
        for f in sorted(site_path.iterdir()):
            if f.is_file() and f.suffix.lower() in (".yaml", ".yml", ".csv"):
                shutil.copy2(f, dest / f.name)
    else:
        shutil.copy2(site_path, dest / site_path.name)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _emit(progress, event: str, **info) -> None:
    if progress is not None:
        progress(event, **info)


def assess(
    site_path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    trials: int | None = None,
    seed: int | None = None,
    budget: float | None = None,
    budget_kind: str = "annualised",
    previous: str | os.PathLike | None = None,
    fast: bool = False,
    root: str | os.PathLike = "reports",
    notebooks: Iterable[str | os.PathLike] | None = None,
    progress: Callable[..., None] | None = None,
) -> AssessResult:
    """Run a full assessment of a site into a fresh output folder.

    Parameters
    ----------
    site_path : path
        Site file, site folder or workbook (:func:`riskkit.load_site`).
    out : path, optional
        The output folder; it must not exist. Default: :func:`default_out` under ``root``.
    trials, seed : int, optional
        Monte Carlo trials and seed; default the site's ``model.trials`` and ``model.seed``.
    budget : float, optional
        Budget of the recommended plan [currency/yr, or currency for ``capex``]; default the
        frontier plan with the least total cost of risk.
    budget_kind : {'annualised', 'capex'}
    previous : path, optional
        An earlier output folder; the management summary shows what changed since.
    fast : bool
        Fewer trials (2000 unless given) and a coarser frontier, for a quick look.
    root : path
        Where default output folders go.
    notebooks : iterable of path, optional
        The notebooks to run (default: those of :data:`NOTEBOOKS` in :func:`notebooks_dir`).
    progress : callable, optional
        Called as ``progress(event, **info)`` with events ``start`` (``out``, ``notebooks``),
        ``notebook`` (``name``, ``index``, ``count``), ``cell`` (``name``, ``cell``,
        ``cells``), ``notebook_done`` (``name``, ``seconds``), ``step`` (``name``) and
        ``step_done`` (``name``, ``seconds``).

    Returns
    -------
    AssessResult

    Raises
    ------
    SiteError
        The site is invalid (nothing is written).
    FileExistsError
        ``out`` exists.
    FileNotFoundError
        The site, a notebook or ``previous/summary.json`` is missing.
    AssessError
        A notebook failed; the partial run is kept in ``<out>-FAILED-<time>``.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    site_path = Path(site_path)
    site = load_site(site_path)  # a broken site fails here, before any folder exists
    # validate the parameters (and resolve their defaults) before any folder exists
    probe = Assessment(
        site, trials=trials, seed=seed, budget=budget, budget_kind=budget_kind, fast=fast
    )
    if previous is not None:
        previous = Path(previous).resolve()
        if not (previous / "summary.json").is_file():
            raise FileNotFoundError(f"no summary.json in the previous run folder {previous}")
        read_summary(previous)  # a damaged one fails now, not in the last notebook
    nb_paths = (
        [Path(p) for p in notebooks]
        if notebooks is not None
        else [notebooks_dir() / f"{stem}.py" for stem, _ in NOTEBOOKS]
    )
    for p in nb_paths:
        if not p.is_file():
            raise FileNotFoundError(f"notebook not found: {p}")
    if out is None:
        out = default_out(site, root)
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; riskkit never overwrites a run, choose a new --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileExistsError(
            f"cannot create the folder {out.parent} for the run: {e.strerror}"
            f" ({e.filename} is in the way)"
        ) from None
    work = Path(tempfile.mkdtemp(prefix=out.name + ".partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(work, 0o777 & ~umask)  # mkdtemp makes it private; the report is not
    started = _now()
    timings: dict[str, float] = {}
    params = {
        "site": str(site_path.resolve()),
        "trials": probe.trials,
        "seed": probe.seed,
        "budget": probe.budget_given,
        "budget_kind": budget_kind,
        "out": str(work.resolve()),
        "previous": str(previous) if previous is not None else None,
        "fast": bool(fast),
    }
    _emit(progress, "start", out=out, notebooks=[p.stem for p in nb_paths], params=params)
    current = None
    try:
        (work / "notebooks").mkdir()
        (work / "html").mkdir()
        _copy_input(site_path, work / "input")
        km = _kernel_manager_class()
        for i, src in enumerate(nb_paths):
            current = src.stem
            _emit(progress, "notebook", name=current, index=i, count=len(nb_paths))
            t0 = time.perf_counter()
            nb = _load_notebook(src)
            executed = work / "notebooks" / f"{current}.ipynb"
            n_cells = sum(c.cell_type == "code" for c in nb.cells)
            counter = {"n": 0}

            def on_cell(cell=None, cell_index=None, name=current, n=n_cells, counter=counter, **_):
                if cell is not None and cell.get("cell_type") == "code":
                    counter["n"] += 1
                    _emit(progress, "cell", name=name, cell=counter["n"], cells=n)

            try:
                pm.execute_notebook(
                    nb,
                    str(executed),
                    parameters=params,
                    kernel_name="python3",
                    language="python",
                    cwd=str(work),
                    progress_bar=False,
                    kernel_manager_class=km,
                    on_cell_complete=on_cell,
                )
            except PapermillExecutionError as e:
                raise AssessError(
                    current, e.cell_index, e.exec_count, e.source, e.ename, e.evalue
                ) from None
            timings[current] = time.perf_counter() - t0
            _emit(progress, "notebook_done", name=current, seconds=timings[current])

        current = "export"
        _emit(progress, "step", name="HTML reports")
        t0 = time.perf_counter()
        titles = dict(NOTEBOOKS)
        for src in nb_paths:
            export_html(
                work / "notebooks" / f"{src.stem}.ipynb",
                work / "html" / f"{src.stem}.html",
                title=titles.get(src.stem, src.stem),
            )
        timings["export"] = time.perf_counter() - t0
        _emit(progress, "step_done", name="HTML reports", seconds=timings["export"])

        current = "tables"
        _emit(progress, "step", name="tables and summary.json")
        t0 = time.perf_counter()
        A = Assessment(
            site,
            trials=probe.trials,
            seed=probe.seed,
            budget=probe.budget_given,
            budget_kind=budget_kind,
            fast=fast,
            cache=work / _CACHE,
        )
        names = write_tables(A.tables(previous), work)
        summary = A.summary(previous=previous)
        timings["tables"] = time.perf_counter() - t0
        _emit(progress, "step_done", name="tables and summary.json", seconds=timings["tables"])
        shutil.rmtree(work / _CACHE, ignore_errors=True)
        summary["provenance"].update(
            {
                "input": str(site_path),
                "started": started,
                "finished": _now(),
                "previous": str(previous) if previous is not None else None,
            }
        )
        summary["outputs"] = {
            "notebooks": [f"notebooks/{p.stem}.ipynb" for p in nb_paths],
            "html": [f"html/{p.stem}.html" for p in nb_paths],
            "tables": [f"tables/{n}.parquet" for n in names],
            "workbook": "tables.xlsx",
        }
        summary["timings"] = {k: round(v, 2) for k, v in timings.items()}
        (work / "index.html").write_text(_index_html(summary, nb_paths), encoding="utf-8")
        # summary.json is written last: a folder holding it is complete
        (work / "summary.json").write_text(
            json.dumps(_jsonable(summary), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        if out.exists():
            raise FileExistsError(f"{out} appeared while the run was going; results in {work}")
        os.rename(work, out)
    except BaseException as exc:
        failed = _fail(work, out)
        if isinstance(exc, AssessError):
            exc.folder = failed
            exc.args = (exc.describe(),)
            (failed / "ERROR.txt").write_text(exc.describe() + "\n", encoding="utf-8")
            raise
        if failed is not None:
            (failed / "ERROR.txt").write_text(
                f"step {current} failed: {type(exc).__name__}: {exc}\n", encoding="utf-8"
            )
        raise
    return AssessResult(out=out, summary=summary, timings=timings)


def _index_html(summary: dict, nb_paths: list[Path]) -> str:
    """A small landing page: headline numbers and links to the reports."""
    import html as _h

    cur = summary.get("currency", "")
    prov = summary.get("provenance", {})
    site = summary.get("site", {})
    plan = summary.get("plan", {})
    titles = dict(NOTEBOOKS)

    def m(x):
        return "n/a" if x is None else f"{x:,.0f} {cur}"

    links = "\n".join(
        f'<li><a href="html/{p.stem}.html">{_h.escape(titles.get(p.stem, p.stem))}</a>'
        f' (<a href="notebooks/{p.stem}.ipynb">notebook</a>)</li>'
        for p in nb_paths
    )
    ale = site.get("ale", {})
    members = ", ".join(x["id"] for x in plan.get("members", [])) or "none"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>riskkit assessment: {_h.escape(str(prov.get("site", "")))}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}}
td,th{{padding:0.2em 1em;text-align:right}} th{{text-align:left}}</style></head><body>
<h1>Security risk assessment: {_h.escape(str(prov.get("site", "")))}</h1>
<p>IEC 62443-3-2 assessment by riskkit {_h.escape(str(summary.get("riskkit", {}).get("version")))};
input SHA-256 <code>{_h.escape(str(prov.get("input_hash", ""))[:12])}</code>,
{prov.get("trials", 0):,} simulated years, seed {prov.get("seed")};
finished {_h.escape(str(prov.get("finished", "")))}.</p>
<table>
<tr><th>expected annual loss, unmitigated</th><td>{m(ale.get("unmitigated"))}/yr</td></tr>
<tr><th>expected annual loss, today</th><td>{m(ale.get("current"))}/yr</td></tr>
<tr><th>expected annual loss, with the recommended plan</th><td>{m(ale.get("plan"))}/yr</td></tr>
<tr><th>annualised cost of the plan</th><td>{m(plan.get("annualised_cost"))}/yr</td></tr>
</table>
<p>Recommended plan: {_h.escape(members)}.</p>
<p><b>Start here: <a href="html/05_summary.html">management summary</a></b>
(a five-minute read); the detailed reports follow the steps of IEC 62443-3-2.</p>
<h2>Reports</h2><ol>
{links}
</ol>
<p>Machine-readable results: <a href="summary.json">summary.json</a>; tables:
<a href="tables.xlsx">tables.xlsx</a> and <code>tables/*.parquet</code>;
input: <code>input/</code>.</p>
</body></html>
"""


def _fail(work: Path, out: Path) -> Path | None:
    """Rename a partial run to ``<out>-FAILED-<time>``, without its cache and summary."""
    if not work.exists():
        return None
    shutil.rmtree(work / _CACHE, ignore_errors=True)
    for f in ("summary.json", "index.html"):
        (work / f).unlink(missing_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    failed = out.with_name(f"{out.name}-FAILED-{stamp}")
    k = 1
    while failed.exists():
        k += 1
        failed = out.with_name(f"{out.name}-FAILED-{stamp}-{k}")
    os.rename(work, failed)
    return failed
