"""Running an assessment: papermill, atomic output folders, HTML export, the index page."""

from __future__ import annotations

import atexit
import base64
import contextlib
import dataclasses
import datetime as _dt
import errno
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .. import escape
from ..io import load_site, site_files
from ..site import Site
from . import printing, schema
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


def _kernel_manager_class(socket_dir: str | os.PathLike | None = None):
    """A kernel manager that talks to the kernel over IPC sockets instead of TCP ports.

    Several runs on one machine (tests, people, processes) cannot collide on ports, and the
    kernel does not warn about unencrypted TCP. The sockets are named by an absolute path:
    ``<socket_dir>/k-<n>`` (default: a fresh private temporary folder per kernel manager), so
    they depend neither on the working directory nor on other runs of the same process. The
    kernel's own stdout and stderr go nowhere: cell output and errors reach the notebook
    through messages, and a kernel interrupted or shut down by a signal would otherwise print
    its internal tracebacks into the terminal.
    """
    import subprocess

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        _rk_base: str | None = None

        def _socket_base(self) -> str | None:
            if self._rk_base is None and os.name == "posix":
                self._rk_base = _ipc_base(socket_dir) or ""
            return self._rk_base or None

        @default("transport")
        def _default_transport(self):
            return "ipc" if self._socket_base() else "tcp"

        @default("ip")
        def _default_ip(self):
            if self.transport != "ipc":
                return super()._ip_default()
            return self._socket_base()

        def client(self, **kw):
            """A kernel client, remembered so :meth:`close_clients` can close its sockets."""
            kc = super().client(**kw)
            self.__dict__.setdefault("_rk_clients", []).append(kc)
            return kc

        def close_clients(self) -> None:
            """Close every client made so far (papermill leaves them open with our kernel)."""
            for kc in self.__dict__.pop("_rk_clients", []):
                with contextlib.suppress(Exception):
                    kc.stop_channels()

        async def start_kernel(self, **kw):
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("stderr", subprocess.DEVNULL)
            return await super()._async_start_kernel(**kw)

    return IPCKernelManager


_SOCKET_PATH_MAX = 100
"""Longest IPC socket path used [characters] (Unix allows about 107 bytes)."""


def _ipc_base(socket_dir) -> str | None:
    """Absolute base path of a kernel's IPC sockets, or None where it would be too long.

    ``socket_dir`` names a folder to create the sockets in; by default a fresh private
    temporary folder (removed when the interpreter exits, if still there).
    """
    if socket_dir is None:
        socket_dir = tempfile.mkdtemp(prefix="rk-ipc-")
        atexit.register(shutil.rmtree, socket_dir, ignore_errors=True)
    base = str(Path(socket_dir).absolute() / "k")
    return base if len(base) + 4 <= _SOCKET_PATH_MAX else None


_EXTERNAL_SCRIPT = re.compile(
    r"<script[^>]*\bsrc=[\"']https?://[^\"']*[\"'][^>]*>\s*</script>", re.IGNORECASE
)


CSP_REPORT = (
    "default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; connect-src 'none'; media-src 'none'; object-src 'none'; "
    "frame-src 'none'; base-uri 'none'; form-action 'none'"
)
"""Content-Security-Policy of an HTML report: ``{scripts}`` is replaced by the SHA-256 hashes
of the page's own inline scripts (plotly.js and the figures), so no other script runs: no
remote script, no inline event handler (``onerror=``), no ``javascript:`` link."""

CSP_INDEX = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)
"""Content-Security-Policy of ``index.html``: no script at all."""

_INLINE_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def _csp_meta(policy: str) -> str:
    return f'<meta http-equiv="Content-Security-Policy" content="{escape.html(policy)}">'


def _with_csp(body: str, local_scripts: bool = False) -> str:
    """``body`` with a CSP ``<meta>`` first in its ``<head>``, allowing its inline scripts.

    ``local_scripts`` also allows scripts loaded from the page's own location (``'self'``):
    the run folder's ``html/plotly.min.js``. Chromium matches ``'self'`` of a ``file://`` page
    against ``file://`` scripts, so the page works from any folder it is copied to; inline
    event handlers and remote scripts stay blocked.
    """
    hashes = sorted(
        {
            "'sha256-"
            + base64.b64encode(hashlib.sha256(m.group(2).encode("utf-8")).digest()).decode()
            + "'"
            for m in _INLINE_SCRIPT.finditer(body)
            if not re.search(r"\bsrc\s*=", m.group(1), re.IGNORECASE)
        }
    )
    sources = (["'self'"] if local_scripts else []) + hashes
    meta = _csp_meta(CSP_REPORT.format(scripts=" ".join(sources) or "'none'"))
    head = re.search(r"<head[^>]*>", body, re.IGNORECASE)
    if head is None:
        return meta + body
    return body[: head.end()] + "\n" + meta + body[head.end() :]


def _with_print_css(body: str) -> str:
    """``body`` with the print styles at the end of its ``<head>``.

    The styles are :data:`riskkit.report.printing.PRINT_CSS`; :data:`CSP_REPORT` allows
    inline styles.
    """
    from .printing import PRINT_STYLE

    end = re.search(r"</head\s*>", body, re.IGNORECASE)
    if end is None:
        return PRINT_STYLE + body
    return body[: end.start()] + PRINT_STYLE + "\n" + body[end.start() :]


PLOTLY_JS = "plotly.min.js"
"""File name of the run's one copy of plotly.js, in ``html/`` beside the reports."""

_BUNDLE_STUB = "<!-- riskkit: plotly.js removed here; the HTML reports load html/plotly.min.js -->"
"""What replaces plotly.js inlined in a saved notebook's output."""


def _plotly_bundle_tag() -> str:
    """plotly.js inlined as plotly's ``notebook`` renderer writes it into an output."""
    from plotly.offline import get_plotlyjs

    return f"<script>{get_plotlyjs()}</script>"


def _strip_plotly_bundle(ipynb: str | os.PathLike) -> bool:
    """Remove plotly.js inlined in the outputs of a saved notebook (about 4.7 MB each).

    The figures keep their plotly mimetype output (drawn by JupyterLab) and their HTML; the
    HTML reports load the run's ``html/plotly.min.js`` instead (:func:`export_html`).

    Returns
    -------
    bool
        Whether anything was removed (the notebook is rewritten only then).
    """
    import nbformat

    nb = nbformat.read(ipynb, as_version=4)
    tag, changed = _plotly_bundle_tag(), False
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            html = o.get("data", {}).get("text/html")
            if isinstance(html, str) and len(html) >= len(tag) and tag in html:
                o["data"]["text/html"] = html.replace(tag, _BUNDLE_STUB)
                changed = True
    if changed:
        nbformat.write(nb, ipynb)
    return changed


def write_plotly_js(folder: str | os.PathLike) -> Path:
    """Copy the installed plotly.js into ``folder`` as :data:`PLOTLY_JS`; its path."""
    from plotly.offline import get_plotlyjs

    path = Path(folder) / PLOTLY_JS
    path.write_text(get_plotlyjs(), encoding="utf-8")
    return path


def export_html(
    ipynb: str | os.PathLike,
    html: str | os.PathLike,
    title: str | None = None,
    plotly_js: str | None = None,
):
    """Export an executed notebook as a self-contained HTML report without code cells.

    Outputs are kept, inputs and prompts dropped, and scripts that would be fetched from the
    internet (require.js, MathJax) removed, so the page works offline. A
    Content-Security-Policy ``<meta>`` (:data:`CSP_REPORT`) lets only the page's own inline
    scripts run, and with ``plotly_js`` the local plotly.js file.

    Parameters
    ----------
    ipynb, html : path
        The executed notebook and the page to write.
    title : str, optional
        The page's title (default: the notebook's stem).
    plotly_js : str, optional
        Relative URL of a plotly.js file beside the page (``"plotly.min.js"`` in a run's
        ``html/``, see :func:`write_plotly_js`): the page loads it with ``<script src>`` and
        inlines no copy. Default: plotly.js is inlined (the page stands alone).
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
    tag = _plotly_bundle_tag()
    if plotly_js is None:
        body = body.replace(_BUNDLE_STUB, tag)  # a stripped notebook gets its copy back
        lib = tag if "Plotly.newPlot" in body and tag not in body else ""
    else:
        body = body.replace(tag, "").replace(_BUNDLE_STUB, "")
        lib = f'<script src="{escape.html(plotly_js)}" charset="utf-8"></script>'
    if lib:
        end = re.search(r"</head\s*>", body, re.IGNORECASE)
        body = lib + body if end is None else body[: end.start()] + lib + body[end.start() :]
    body = _with_csp(_with_print_css(body), local_scripts=plotly_js is not None)
    Path(html).write_text(body, encoding="utf-8")
    return Path(html)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _emit(progress, event: str, **info) -> None:
    if progress is not None:
        progress(event, **info)


MIN_FREE_MB = 100.0
"""Free space [MB] the output folder's file system must offer before a run starts (the
``min_free_mb`` argument of :func:`assess` changes it; a run of the example refinery writes
about 9 MB, 5 MB of it plotly.js)."""

_OUTPUT_FAULTS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM}
"""errno values of a write that failed because of the output side (space, permission)."""


class OutputError(OSError):
    """The output folder cannot be written: no permission, read-only, or too little space.

    Raised before the first notebook when the checks fail, and mid-run on ENOSPC / EACCES
    (after what the run wrote was removed). The message is one line.
    """


class SnapshotError(ValueError):
    """A file of the site cannot be copied safely into the run's ``input/`` snapshot."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like SIGINT's KeyboardInterrupt inside :func:`sigterm_as_interrupt`."""


class AssessInterrupted(KeyboardInterrupt):
    """A signal (SIGINT or SIGTERM) stopped :func:`assess`.

    Attributes
    ----------
    signum : int
        The signal's number; a command exits with 128 + ``signum``.
    folder : pathlib.Path or None
        Where the partial run was kept (``<out>-FAILED-<time>``), or None if it was removed.
    """

    def __init__(self, signum: int, folder: Path | None):
        self.signum = int(signum)
        self.folder = folder
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line: the signal and where the partial run went."""
        name = signal.Signals(self.signum).name
        if self.folder is None:
            return f"interrupted by {name}; the partial run was removed"
        return f"interrupted by {name}; the partial run was kept in {self.folder}"


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises :class:`Terminated` (SIGINT raises KeyboardInterrupt).

    Only in the main thread (elsewhere signal handlers cannot be set); the previous handler is
    restored on leaving.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM until the block ends, then raise them as usual.

    For writes that must not stop half-way (the workbook: an interrupted zip save leaves a
    ZipFile whose finaliser prints a traceback at exit); the interrupt is only delayed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {
        s: signal.signal(s, lambda signum, frame: got.append(signum))
        for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if got:
        raise Terminated() if got[0] == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def _signals_held():
    """Ignore SIGINT and SIGTERM while a failed run is being tidied up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# --------------------------------------------------------------------------------------------
# Checks before anything is written
# --------------------------------------------------------------------------------------------
def snapshot_sources(site_path: str | os.PathLike) -> list[tuple[Path, str]]:
    """The files to copy into a run's ``input/``: (regular file to read, name to give it).

    Only the files that make up the site (:func:`riskkit.io.site_files`) are copied. No
    symbolic link is followed blindly: a link inside a site folder is copied (as the file it
    names) only when its target is a regular file inside the same folder. A site given as one
    file is copied as the regular file it is (or names, if the path given is a link).

    Raises
    ------
    SnapshotError
        A file is a link leading out of the site folder, or not a regular file.
    """
    site_path = Path(site_path)
    root = site_path.resolve() if site_path.is_dir() else None
    out = []
    for f in site_files(site_path):
        src = f.resolve()
        if root is not None and f.is_symlink() and not src.is_relative_to(root):
            raise SnapshotError(
                f"{f} is a symbolic link to {src}, outside the site folder {root}; "
                "riskkit copies only files inside the site folder"
            )
        if not stat.S_ISREG(os.stat(src).st_mode):
            raise SnapshotError(f"{f} is not a regular file; a site is made of regular files")
        out.append((src, f.name))
    return out


def read_previous(previous: str | os.PathLike) -> tuple[Path, dict]:
    """An earlier run folder and its ``summary.json``, checked against the schema.

    Raises
    ------
    FileNotFoundError
        The folder holds no ``summary.json``.
    ValueError
        It is not JSON, or a field that the comparison reads is missing or of the wrong type
        (:class:`riskkit.report.schema.SummaryError`, naming the file and the field).
    """
    folder = Path(previous).resolve()
    if not (folder / "summary.json").is_file():
        raise FileNotFoundError(f"no summary.json in the previous run folder {folder}")
    data = read_summary(folder)
    schema.validate(data, schema.PREVIOUS_SCHEMA, source=str(folder / "summary.json"))
    return folder, data


def check_output(out: Path, min_free_mb: float = MIN_FREE_MB) -> None:
    """Make sure ``out`` can be created and its file system has room, before any work.

    Raises
    ------
    FileExistsError
        ``out`` exists, or a file stands where a folder of its path must go.
    OutputError
        No write permission, a parent that cannot be created, or less than ``min_free_mb``
        [MB] free.
    """
    if out.exists():
        raise FileExistsError(f"{out} exists; riskkit never overwrites a run, choose a new --out")
    anc = out.parent.absolute()
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise FileExistsError(
            f"cannot create the folder {out.parent} for the run: {anc} is a file in the way"
        )
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"no permission to write in {anc}: cannot create the run folder {out}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(
            f"cannot create the folder {out.parent} for the run: {e.strerror}"
        ) from None
    free = shutil.disk_usage(out.parent).free / 1e6
    if free < min_free_mb:
        raise OutputError(
            f"only {free:,.0f} MB free where the run goes ({out.parent}); a run needs at least"
            f" {min_free_mb:,.0f} MB"
        )


# --------------------------------------------------------------------------------------------
# The partial folder of a run
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Run:
    out: Path
    work: Path
    step: str = "setup"


def _is_output_fault(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _OUTPUT_FAULTS:
        return True
    if isinstance(exc, AssessError) and exc.ename in ("OSError", "PermissionError"):
        return any(f"[Errno {n}]" in str(exc.evalue) for n in _OUTPUT_FAULTS)
    return False


def _failed_name(out: Path) -> Path:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    failed, k = out.with_name(f"{out.name}-FAILED-{stamp}"), 1
    while failed.exists():
        k += 1
        failed = out.with_name(f"{out.name}-FAILED-{stamp}-{k}")
    return failed


def _note(folder: Path | None, text: str) -> Path | None:
    """Write ``ERROR.txt`` into ``folder`` (created if needed); None where it cannot be."""
    if folder is None:
        return None
    try:
        folder.mkdir(exist_ok=True)
        (folder / "ERROR.txt").write_text(text + "\n", encoding="utf-8")
    except OSError:
        return None
    return folder


def _tidy(run: _Run, exc: BaseException) -> BaseException:
    """Deal with a failed run's folder; the exception the caller should raise."""
    if _is_output_fault(exc):
        shutil.rmtree(run.work, ignore_errors=True)
        what = exc.strerror if isinstance(exc, OSError) else exc.evalue
        msg = f"cannot write the run into {run.out.parent} (step {run.step}): {what}"
        kept = _note(_failed_name(run.out), msg)
        where = f"; see {kept / 'ERROR.txt'}" if kept else ""
        return OutputError(f"{msg}; what the run wrote was removed{where}")
    failed = _fail(run.work, run.out)
    if isinstance(exc, KeyboardInterrupt):
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        _note(failed, f"interrupted by {signal.Signals(signum).name} in step {run.step}")
        return AssessInterrupted(signum, failed)
    if isinstance(exc, AssessError):
        exc.folder = failed
        exc.args = (exc.describe(),)
        _note(failed, exc.describe())
        return exc
    _note(failed, f"step {run.step} failed: {type(exc).__name__}: {exc}")
    return exc


@contextlib.contextmanager
def partial_run(out: Path):
    """A ``<out>.partial-XXXX`` folder, renamed to ``out`` when the block succeeds.

    On failure the folder becomes ``<out>-FAILED-<time>`` with an ``ERROR.txt`` (a failing
    notebook raises :class:`AssessError` naming it; a signal raises
    :class:`AssessInterrupted`), except on a full disk or a refused write (ENOSPC, EACCES...):
    then what the run wrote is removed and :class:`OutputError` is raised.
    """
    work = Path(tempfile.mkdtemp(prefix=out.name + ".partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(work, 0o777 & ~umask)  # mkdtemp makes it private; the report is not
    run = _Run(out, work)
    try:
        yield run
        if out.exists():
            raise FileExistsError(f"{out} appeared while the run was going; results in {work}")
        os.rename(work, out)
    except BaseException as exc:
        with _signals_held():
            raised = _tidy(run, exc)
        if raised is exc:
            raise
        raise raised from None


@contextlib.contextmanager
def _timed(progress, timings: dict, key: str, label: str):
    """Announce a step, time it into ``timings[key]`` [s] and announce its end."""
    _emit(progress, "step", name=label)
    t0 = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - t0
    _emit(progress, "step_done", name=label, seconds=timings[key])


# --------------------------------------------------------------------------------------------
# The steps of a run
# --------------------------------------------------------------------------------------------
def _snapshot(sources: list[tuple[Path, str]], site_path: Path, dest: Path) -> Path:
    """Copy the site's files into ``dest``; the path to load the snapshot from."""
    dest.mkdir(parents=True, exist_ok=True)
    for src, name in sources:
        shutil.copyfile(src, dest / name)
    return dest if site_path.is_dir() else dest / site_path.name


_RESET = """\
get_ipython().run_line_magic("reset", "-f")
get_ipython().execution_count = 1
import plotly.io
plotly.io.renderers["notebook"].global_init = False
del plotly
"""
"""Run in the kernel before each notebook: forget every name an earlier one defined (the
modules it imported stay loaded, which is the saving), number cells from 1 again, and keep
plotly's ``notebook`` renderer from inlining plotly.js (4.7 MB) into the saved notebook: the
HTML reports load the run's one ``html/plotly.min.js`` (:func:`export_html`), and JupyterLab
draws the figures from their plotly mimetype output."""


_WARM_UP = "import riskkit.report, plotly.io"
"""Sent to a new kernel at once: the imports every notebook needs, done while the run computes
its tables."""


class _Kernel:
    """One kernel for all the notebooks of a run, started in ``cwd``.

    Started on entering, it imports riskkit at once (:data:`_WARM_UP`), while the caller goes
    on with other work; :meth:`reset` prepares it for each notebook. Its IPC sockets live in a
    private temporary folder, named by absolute paths, so runs in threads of one process (or
    in other processes) never share a socket. The kernel is shut down on leaving.
    """

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.km = None
        self.kc = None

    def __enter__(self):
        from jupyter_core.utils import run_sync

        self._sockets = tempfile.TemporaryDirectory(prefix="rk-ipc-")
        try:
            self.km = _kernel_manager_class(self._sockets.name)(kernel_name="python3")
            run_sync(self.km.start_kernel)(cwd=str(self.cwd))
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.execute(_WARM_UP, silent=True, store_history=False)  # no wait for it
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def reset(self, timeout: float = 120) -> None:
        """Prepare the kernel for the next notebook (see :data:`_RESET`).

        A new client each time (the one that sent the warm-up the first time): a client kept
        across papermill's runs stops hearing from the kernel. Only the shell reply is awaited
        (no ``wait_for_ready`` round trips), checking every second that the kernel lives.

        Raises
        ------
        RuntimeError
            The kernel died, did not answer within ``timeout`` [s], or the reset failed.
        """
        from jupyter_core.utils import run_sync

        kc, self.kc = self.kc, None
        if kc is None:
            kc = self.km.client()
            kc.start_channels()
        try:
            msg_id = kc.execute(_RESET, store_history=False)
            reply, t0 = None, time.monotonic()
            while reply is None:
                if time.monotonic() - t0 > timeout:
                    raise RuntimeError(f"the kernel did not answer within {timeout:g} s")
                if not run_sync(self.km.is_alive)():
                    raise RuntimeError("the kernel died before the notebook started")
                with contextlib.suppress(queue.Empty):
                    msg = run_sync(kc.get_shell_msg)(timeout=1)
                    if msg["parent_header"].get("msg_id") == msg_id:
                        reply = msg
        finally:
            kc.stop_channels()
        if reply["content"]["status"] != "ok":
            c = reply["content"]
            raise RuntimeError(
                f"the kernel could not be prepared: {c.get('ename')}: {c.get('evalue')}"
            )

    def __exit__(self, *exc):
        from jupyter_core.utils import run_sync

        try:
            if self.km is not None:
                self.km.close_clients()
            if self.km is not None and self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:
            pass
        finally:
            self._sockets.cleanup()
        return False


def _run_notebook(src: Path, executed: Path, params: dict, kernel: _Kernel, progress, index, count):
    """Execute one notebook with papermill in the run's kernel; the seconds it took.

    Papermill injects the parameters (its ``injected-parameters`` cell) and saves the executed
    notebook; the kernel is the run's, reset first so no name of an earlier notebook is seen.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    name = src.stem
    _emit(progress, "notebook", name=name, index=index, count=count)
    t0 = time.perf_counter()
    nb = _load_notebook(src)
    n_cells = sum(c.cell_type == "code" for c in nb.cells)
    counter = {"n": 0}

    def on_cell(cell=None, cell_index=None, **_):
        if cell is not None and cell.get("cell_type") == "code":
            counter["n"] += 1
            _emit(progress, "cell", name=name, cell=counter["n"], cells=n_cells)

    kernel.reset()
    try:
        pm.execute_notebook(
            nb,
            str(executed),
            parameters=params,
            kernel_name="python3",
            language="python",
            progress_bar=False,
            km=kernel.km,
            # saved once at the end (or at the failing cell), not twice a cell: those saves
            # took as long as the cells
            request_save_on_cell_execute=False,
            on_cell_complete=on_cell,
        )
    except PapermillExecutionError as e:
        if e.ename == "KeyboardInterrupt":  # Ctrl-C reached the kernel too
            raise KeyboardInterrupt() from None
        raise AssessError(name, e.cell_index, e.exec_count, e.source, e.ename, e.evalue) from None
    finally:
        kernel.km.close_clients()
        if executed.is_file():
            _strip_plotly_bundle(executed)
    seconds = time.perf_counter() - t0
    _emit(progress, "notebook_done", name=name, seconds=seconds)
    return seconds


def _export_all(nb_paths: list[Path], work: Path) -> None:
    titles = dict(NOTEBOOKS)
    write_plotly_js(work / "html")
    for src in nb_paths:
        export_html(
            work / "notebooks" / f"{src.stem}.ipynb",
            work / "html" / f"{src.stem}.html",
            title=titles.get(src.stem, src.stem),
            plotly_js=PLOTLY_JS,
        )


def _write_summary(summary: dict, names, work: Path, nb_paths, run_info: dict) -> dict:
    """Complete the summary with the run's data, check it, write it and ``index.html``."""
    summary["provenance"].update(run_info["provenance"], finished=_now())
    summary["outputs"] = {
        "notebooks": [f"notebooks/{p.stem}.ipynb" for p in nb_paths],
        "html": [f"html/{p.stem}.html" for p in nb_paths],
        "tables": [f"tables/{n}.parquet" for n in names],
        "workbook": "tables.xlsx",
    }
    summary["timings"] = {k: round(v, 2) for k, v in run_info["timings"].items()}
    summary = _jsonable(summary)
    schema.validate(summary, schema.WRITTEN_SCHEMA, source="the summary.json being written")
    (work / "index.html").write_text(_index_html(summary, nb_paths), encoding="utf-8")
    # summary.json is written last: a folder holding it is complete
    (work / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return summary


def _notebook_paths(notebooks) -> list[Path]:
    nb_paths = (
        [Path(p) for p in notebooks]
        if notebooks is not None
        else [notebooks_dir() / f"{stem}.py" for stem, _ in NOTEBOOKS]
    )
    for p in nb_paths:
        if not p.is_file():
            raise FileNotFoundError(f"notebook not found: {p}")
    return nb_paths


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
    min_free_mb: float = MIN_FREE_MB,
    pdf: bool = False,
    constraints: Iterable[str] | None = None,
    safety_first: bool = True,  # False before model v2
) -> AssessResult:
    """Run a full assessment of a site into a fresh output folder.

    The site's files are first copied into the run's ``input/`` (:func:`snapshot_sources`),
    and every step (the notebooks, the tables, ``summary.json``) reads that copy: an edit of
    the original during the run cannot split the deliverables.

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
        An earlier output folder; the management summary shows what changed since. Its
        ``summary.json`` is checked against :data:`riskkit.report.schema.PREVIOUS_SCHEMA`
        before any work.
    fast : bool
        Fewer trials (2000 unless given) and a coarser frontier, for a quick look.
    root : path
        Where default output folders go.
    notebooks : iterable of path, optional
        The notebooks to run (default: those of :data:`NOTEBOOKS` in :func:`notebooks_dir`).
    progress : callable, optional
        Called as ``progress(event, **info)`` with events ``start`` (``out``, ``notebooks``,
        ``params``, ``input``: the site path given, whose snapshot ``params['site']`` is),
        ``notebook`` (``name``, ``index``, ``count``), ``cell`` (``name``, ``cell``,
        ``cells``), ``notebook_done`` (``name``, ``seconds``), ``step`` (``name``) and
        ``step_done`` (``name``, ``seconds``).
    min_free_mb : float
        Free space [MB] required where the run goes (default :data:`MIN_FREE_MB`).
    constraints : iterable of str, optional
        Constraints of the recommended plan (``close_gaps``, ``meet_tolerance``), as
        :class:`Assessment` takes them.
    safety_first : bool
        The recommended plan meets every harm tolerance that some plan can meet wherever the
        budget allows (:class:`Assessment`'s ``safety_first``); the management summary says
        first where it does not.
    pdf : bool
        Also print the management summary to ``summary.pdf`` (A4) with headless Chromium
        (:func:`riskkit.report.printing.write_pdf`); Chromium is looked for before any work.

    Returns
    -------
    AssessResult

    Raises
    ------
    SiteError
        The site is invalid (nothing is written).
    SnapshotError
        A site file is a link out of the site folder or not a regular file (nothing written).
    FileExistsError
        ``out`` exists, or a file is in the way of its parent.
    OutputError
        The output cannot be written (permission, space), checked before any work; or a write
        failed mid-run with ENOSPC / EACCES (what the run wrote is removed).
    FileNotFoundError
        The site, a notebook or ``previous/summary.json`` is missing.
    ChromiumMissing
        ``pdf`` is set and no Chromium is installed (nothing is written).
    ValueError
        A bad parameter, or a ``previous`` summary that does not conform to its schema.
    AssessError
        A notebook failed; the partial run is kept in ``<out>-FAILED-<time>``.
    AssessInterrupted
        SIGINT (or SIGTERM, within :func:`sigterm_as_interrupt`); the partial run is kept in
        ``<out>-FAILED-<time>``.
    """
    site_path = Path(site_path)
    sources, probe, previous, nb_paths, out = _preflight(
        site_path,
        out,
        root=root,
        previous=previous,
        notebooks=notebooks,
        pdf=pdf,
        min_free_mb=min_free_mb,
        assessment=dict(
            trials=trials,
            seed=seed,
            budget=budget,
            budget_kind=budget_kind,
            fast=fast,
            constraints=constraints,
            safety_first=safety_first,
        ),
    )
    run_info = {"provenance": {"input": str(site_path), "started": _now()}, "timings": {}}
    run_info["provenance"]["previous"] = str(previous) if previous is not None else None
    timings = run_info["timings"]
    with partial_run(out) as run:
        work = run.work
        run.step = "input"
        snap = _snapshot(sources, site_path, work / "input")
        params = _notebook_params(snap, probe, work, previous)
        _emit(
            progress,
            "start",
            out=out,
            notebooks=[p.stem for p in nb_paths],
            params=params,
            input=site_path,
        )
        (work / "notebooks").mkdir()
        (work / "html").mkdir()
        with _Kernel(work) as kernel:  # it starts and imports riskkit meanwhile
            # every number first, into the cache the notebooks then read
            run.step = "tables"
            with _timed(progress, timings, "tables", "tables and summary.json"):
                names, summary = _compute(snap, probe, work, previous)
            for i, src in enumerate(nb_paths):
                run.step = src.stem
                executed = work / "notebooks" / f"{src.stem}.ipynb"
                timings[src.stem] = _run_notebook(
                    src, executed, params, kernel, progress, i, len(nb_paths)
                )
        run.step = "export"
        with _timed(progress, timings, "export", "HTML reports"):
            _export_all(nb_paths, work)
        summary_html = work / "html" / f"{NOTEBOOKS[-1][0]}.html"
        if pdf and summary_html.is_file():
            run.step = "pdf"
            with _timed(progress, timings, "pdf", "summary.pdf"):
                printing.write_pdf(summary_html, work / "summary.pdf")
        shutil.rmtree(work / _CACHE, ignore_errors=True)
        summary = _write_summary(summary, names, work, nb_paths, run_info)
    return AssessResult(out=out, summary=summary, timings=timings)


def _preflight(site_path: Path, out, *, root, previous, notebooks, pdf, min_free_mb, assessment):
    """Everything checked before a folder exists: snapshot sources, site, parameters, output.

    Returns the files to snapshot, an :class:`Assessment` holding the resolved parameters
    (``probe``), the checked ``previous`` folder, the notebook paths and the output folder.
    """
    sources = snapshot_sources(site_path)  # before the loader reads a file out of the folder
    site = load_site(site_path)  # a broken site fails here, before any folder exists
    probe = Assessment(site, **assessment)  # parameters validated, defaults resolved
    if previous is not None:
        previous, _ = read_previous(previous)
    nb_paths = _notebook_paths(notebooks)
    if pdf:
        printing.chromium()  # a missing Chromium fails here, before any folder exists
    out = Path(out) if out is not None else default_out(site, root)
    check_output(out, min_free_mb)
    return sources, probe, previous, nb_paths, out


def _notebook_params(snap: Path, probe: Assessment, work: Path, previous) -> dict:
    """The parameters injected into every notebook: the snapshot, not the original site."""
    params = {
        "site": str(snap.resolve()),
        "trials": probe.trials,
        "seed": probe.seed,
        "budget": probe.budget_given,
        "budget_kind": probe.budget_kind,
        "out": str(work.resolve()),
        "previous": str(previous) if previous is not None else None,
        "fast": bool(probe.fast),
    }
    if probe.constraints:  # only then, so notebooks without the parameter still run
        params["constraints"] = list(probe.constraints)
    # always, so a notebook's own default (which flips at the merge) never decides it
    params["safety_first"] = bool(probe.safety_first)
    return params


def _compute(snap: Path, probe: Assessment, work: Path, previous) -> tuple[list, dict]:
    """Every table and ``summary.json`` from the snapshot, into the notebooks' shared cache."""
    A = Assessment(
        load_site(snap),  # the snapshot the notebooks read
        trials=probe.trials,
        seed=probe.seed,
        budget=probe.budget_given,
        budget_kind=probe.budget_kind,
        fast=probe.fast,
        cache=work / _CACHE,
        constraints=probe.constraints,
        safety_first=probe.safety_first,
    )
    tables = A.tables(previous)
    with _signals_deferred():  # a workbook is written whole or not at all
        names = write_tables(tables, work)
    return names, A.summary(previous=previous)


def _print_style() -> str:
    from .printing import PRINT_STYLE

    return PRINT_STYLE


def _index_html(summary: dict, nb_paths: list[Path]) -> str:
    """A small landing page: headline numbers and links to the reports.

    Every value shown comes from the summary, hence from the site file: all of it is escaped
    (:func:`riskkit.escape.html`), and the page allows no script (:data:`CSP_INDEX`).
    """
    h = escape.html
    cur = summary.get("currency", "")
    prov = summary.get("provenance", {})
    site = summary.get("site", {})
    plan = summary.get("plan", {})
    titles = dict(NOTEBOOKS)

    def m(x):
        return "n/a" if x is None else h(f"{x:,.0f} {cur}")

    links = "\n".join(
        f'<li><a href="html/{h(p.stem)}.html">{h(titles.get(p.stem, p.stem))}</a>'
        f' (<a href="notebooks/{h(p.stem)}.ipynb">notebook</a>)</li>'
        for p in nb_paths
    )
    ale = site.get("ale", {})
    members = ", ".join(str(x["id"]) for x in plan.get("members", [])) or "none"
    trials = prov.get("trials", 0)
    banner = ""
    if prov.get("fast") and isinstance(trials, int):  # the same banner as every report
        from .printing import quick_look_error, quick_look_html

        se = site.get("ale_se", {}).get("current")
        now = ale.get("current")
        err = float("nan") if now is None or se is None else quick_look_error(now, se)
        banner = quick_look_html(trials, err)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{_csp_meta(CSP_INDEX)}
<title>riskkit assessment: {h(prov.get("site", ""))}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}}
td,th{{padding:0.2em 1em;text-align:right}} th{{text-align:left}}</style>
{_print_style()}</head><body>
{banner}<h1>Security risk assessment: {h(prov.get("site", ""))}</h1>
<p>IEC 62443-3-2 assessment by riskkit {h(summary.get("riskkit", {}).get("version"))};
input SHA-256 <code>{h(str(prov.get("input_hash", ""))[:12])}</code>,
{h(f"{trials:,}" if isinstance(trials, int) else trials)} simulated years,
seed {h(prov.get("seed"))}; finished {h(prov.get("finished", ""))}.</p>
<table>
<tr><th>expected annual loss, unmitigated</th><td>{m(ale.get("unmitigated"))}/yr</td></tr>
<tr><th>expected annual loss, today</th><td>{m(ale.get("current"))}/yr</td></tr>
<tr><th>expected annual loss, with the recommended plan</th><td>{m(ale.get("plan"))}/yr</td></tr>
<tr><th>annualised cost of the plan</th><td>{m(plan.get("annualised_cost"))}/yr</td></tr>
</table>
<p>Recommended plan: {h(members)}.</p>
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
    failed = _failed_name(out)
    os.rename(work, failed)
    return failed
