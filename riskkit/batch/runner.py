"""Running a batch: one killable child process per site, on a local pool or a Dask cluster."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from .. import __version__
from .manifest import relative_output, write_manifest
from .plan import SiteJob, plan_jobs


class BatchError(RuntimeError):
    """The batch as a whole cannot run (e.g. the Dask scheduler cannot be reached)."""


class _Interrupted(BaseException):
    """SIGTERM received by the batch: stop, kill the running sites, write the manifest."""


@dataclasses.dataclass
class BatchResult:
    """What :func:`run_batch` did.

    Attributes
    ----------
    rows : list of dict
        One manifest row per site, in discovery order (:data:`MANIFEST_FIELDS`).
    manifest : pathlib.Path
        ``manifest.json``; ``manifest.csv`` is beside it.
    interrupted : bool
        The batch was stopped (Ctrl-C or SIGTERM) before every site ran; sites not finished
        are ``failed`` with the error ``interrupted``.
    """

    rows: list[dict]
    manifest: Path
    interrupted: bool = False

    def by_status(self, status: str) -> list[dict]:
        """The rows with this status (``ok``, ``failed`` or ``skipped``)."""
        return [r for r in self.rows if r["status"] == status]

    @property
    def failed(self) -> list[dict]:
        """The rows of failed sites."""
        return self.by_status("failed")


# ---------------------------------------------------------------------------------------------
# one site in a child process
# ---------------------------------------------------------------------------------------------

_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()
"""Set while a batch of this process is being stopped: a site starting now is killed at once."""


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (Jupyter kernels run in sessions of their own)."""
    try:
        import psutil
    except ImportError:  # without psutil only the child's process group is killed
        return []
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the child, its process group and every descendant (its kernels)."""
    below = _descendants(proc.pid)
    for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
        try:
            kill()
        except (OSError, AttributeError):  # gone already; no process groups (Windows)
            pass
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def kill_running() -> int:
    """Kill every site still running in this process (their kernels too); return how many."""
    _STOPPING.set()
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        _kill_tree(p)
    return len(procs)


def _mark_killed(out: Path, why: str) -> Path | None:
    """Rename the partial folder of a killed run to ``<out>-FAILED-<time>`` with ERROR.txt."""
    partial = sorted(out.parent.glob(out.name + ".partial-*")) if out.parent.is_dir() else []
    failed = None
    for p in partial:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        failed = out.with_name(f"{out.name}-FAILED-{stamp}")
        k = 1
        while failed.exists():
            k += 1
            failed = out.with_name(f"{out.name}-FAILED-{stamp}-{k}")
        try:
            os.rename(p, failed)
            shutil.rmtree(failed / ".cache", ignore_errors=True)
            (failed / "ERROR.txt").write_text(why + "\n", encoding="utf-8")
        except OSError:
            failed = None
    return failed


def _read_messages(stream, on_event, state: dict) -> None:
    for line in stream:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not isinstance(msg, dict):
            continue
        if "result" in msg:
            state["result"] = msg["result"]
        elif "event" in msg:
            if msg["event"] == "started":
                state["pid"] = msg.get("pid")
            if on_event is not None:
                on_event(msg.pop("event"), **msg)


def _tail(fh, limit: int = 2000) -> str:
    fh.seek(0)
    text = fh.read().decode("utf-8", errors="replace").strip()
    return text[-limit:]


def run_site(
    job: SiteJob,
    timeout: float | None = None,
    on_event: Callable[..., None] | None = None,
) -> dict:
    """Assess one site in a child process and return its manifest row.

    The child (``python -m riskkit.batch.child``) runs :func:`riskkit.report.assess` into
    ``job.out``. It gets a process group of its own; when ``timeout`` passes, the child, its
    group and every process below it (the Jupyter kernel, which runs in a session of its own)
    are killed with SIGKILL, the partial run folder becomes ``<out>-FAILED-<time>`` with an
    ERROR.txt, and the site is ``failed``. Nothing raised by the run escapes: every outcome is
    a row. Callable on a Dask worker (only riskkit needs to be installed there).

    Parameters
    ----------
    job : SiteJob
        A job with status ``run`` (from :func:`plan_jobs`).
    timeout : float, optional
        Wall-time limit of the run [s].
    on_event : callable, optional
        ``on_event(event, **info)`` for the child's progress: ``started`` (``pid``),
        ``notebook`` (``name``, ``index``, ``count``), ``cell`` (``name``, ``cell``,
        ``cells``) and ``step`` (``name``); called from a reader thread.

    Returns
    -------
    dict
        The site's manifest row (output folder absolute; :func:`run_batch` makes it relative).
    """
    payload = {
        "site": str(Path(job.input).resolve()),
        "out": str(Path(job.out).resolve()),
        "trials": job.trials,
        "seed": job.seed,
        "fast": job.fast,
        "notebooks": job.notebooks,
    }
    state: dict = {}
    t0 = time.perf_counter()
    timed_out = False
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "riskkit.batch.child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
                text=True,
                encoding="utf-8",
            )
        except OSError as e:
            return job.row("failed", 0.0, error=f"cannot start the child process: {e}")
        with _LIVE_LOCK:
            _LIVE.add(proc)
        if _STOPPING.is_set():
            _kill_tree(proc)
        try:
            reader = threading.Thread(
                target=_read_messages, args=(proc.stdout, on_event, state), daemon=True
            )
            reader.start()
            try:
                proc.stdin.write(json.dumps(payload))
                proc.stdin.close()
            except OSError:
                pass  # the child died at once; its stderr says why
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_tree(proc)
            reader.join(timeout=10)
        finally:
            if proc.poll() is None:
                _kill_tree(proc)
            with _LIVE_LOCK:
                _LIVE.discard(proc)
            for pipe in (proc.stdin, proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
        duration = time.perf_counter() - t0
        if timed_out:
            why = f"timed out after {timeout:g} s; the run and its kernel were killed"
            failed = _mark_killed(Path(job.out), why)
            return job.row("failed", duration, str(failed or ""), why)
        res = state.get("result")
        if res is None:
            why = f"the run stopped without a result (exit status {proc.returncode})"
            if proc.returncode is not None and proc.returncode < 0:
                why = f"the run was killed by signal {-proc.returncode}"
            tail = _tail(err)
            failed = _mark_killed(Path(job.out), why)
            return job.row(
                "failed", duration, str(failed or ""), why + (f": {tail}" if tail else "")
            )
    return job.row(res.get("status", "failed"), duration, res.get("output"), res.get("error", ""))


# ---------------------------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------------------------


_INTERRUPTED = "interrupted: the batch was stopped"
_UNFINISHED = "not finished: the batch is running this site, has not reached it, or was killed"


def _run_local(jobs: list[SiteJob], workers: int, timeout, emit, record) -> None:
    """Run the sites on a pool of ``workers`` child processes, recording each row as it ends."""

    def one(job: SiteJob) -> dict:
        if _STOPPING.is_set():
            return job.row("failed", error=_INTERRUPTED + " before this site ran")
        emit("site_start", site_id=job.site_id, where="local")

        def fwd(event, **info):
            emit("site_" + event, site_id=job.site_id, **info)

        return run_site(job, timeout, fwd)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="riskkit-batch")
    futures = {pool.submit(one, job): job for job in jobs}
    recorded: set = set()
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for f in done:
                record(futures[f], f.result())
                recorded.add(f)
    except BaseException:
        kill_running()
        pool.shutdown(wait=True, cancel_futures=True)
        for f, job in futures.items():
            if f in recorded:
                continue
            row = f.result() if f.done() and not f.cancelled() else job.row("failed")
            if row["status"] != "ok":  # a run that completed just before the stop stays ok
                row = {**row, "status": "failed", "error": _INTERRUPTED}
            record(job, row)
        raise
    pool.shutdown(wait=True)


def _dask_client(scheduler):
    try:
        from dask.distributed import Client
    except ImportError:
        raise BatchError(
            "--scheduler needs Dask distributed: pip install 'riskkit[batch]'"
        ) from None
    if isinstance(scheduler, Client):
        return scheduler, False
    if not isinstance(scheduler, str) and hasattr(scheduler, "scheduler_address"):
        scheduler = scheduler.scheduler_address  # a cluster object (LocalCluster...)
    try:
        return Client(scheduler, timeout="20s"), True
    except (OSError, TimeoutError, ValueError) as e:
        raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None


def _run_dask(jobs: list[SiteJob], scheduler, timeout, emit, record) -> None:
    """Run the sites as tasks of a Dask cluster, recording each row as it ends.

    ``scheduler`` is an address (``tcp://host:port``), a ``distributed.Client`` or a cluster
    object (e.g. ``LocalCluster``). Each site is one task calling :func:`run_site` on a worker;
    the site paths and the batch folder must be reachable at the same paths there.
    """
    from dask.distributed import as_completed

    client, own = _dask_client(scheduler)
    futures = {}
    try:
        for job in jobs:
            key = f"riskkit-batch-{job.site_id}-{uuid.uuid4().hex[:8]}"
            f = client.submit(run_site, job, timeout, key=key, pure=False, retries=0)
            futures[f] = job
            emit("site_start", site_id=job.site_id, where="cluster")
        seen = set()
        try:
            for f in as_completed(list(futures)):
                job = futures[f]
                try:
                    row = f.result()
                except Exception as e:  # the task itself failed (worker lost, import error)
                    row = job.row("failed", error=f"the Dask task failed: {type(e).__name__}: {e}")
                seen.add(f)
                record(job, row)
        except BaseException:
            # tasks already running on a worker finish there; the others are cancelled
            client.cancel([f for f in futures if f not in seen])
            for f in futures:
                if f not in seen:
                    record(futures[f], futures[f].row("failed", error=_INTERRUPTED))
            raise
    finally:
        if own:
            client.close()


# ---------------------------------------------------------------------------------------------
# the batch
# ---------------------------------------------------------------------------------------------


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def run_batch(
    paths: Iterable[str | os.PathLike],
    out: str | os.PathLike = "reports",
    *,
    workers: int | None = None,
    scheduler=None,
    trials: int | None = None,
    seed: int | None = None,
    fast: bool = False,
    timeout: float | None = None,
    force: bool = False,
    notebooks: Iterable[str | os.PathLike] | None = None,
    progress: Callable[..., None] | None = None,
) -> BatchResult:
    """Assess many sites, each as ``riskkit assess`` does, and write the manifest.

    Sites are found by :func:`discover` and planned by :func:`plan_jobs` (invalid sites fail
    at once; sites with a complete run are skipped unless ``force``). The others run each in
    a child process (:func:`run_site`), ``workers`` at a time on this machine, or as tasks of
    a Dask cluster when ``scheduler`` is given. One site failing does not stop the others.
    ``manifest.json`` / ``manifest.csv`` are rewritten after every site, so an interrupted
    batch leaves an accurate manifest, and a rerun resumes: what finished is skipped.
    Ctrl-C or SIGTERM kills the running sites (and their kernels) and ends the batch.

    Parameters
    ----------
    paths : iterable of path
        Site files, site folders, folders of sites.
    out : path
        Batch folder: ``<out>/<site id>/<date>-<hash>/`` per run, and the manifest.
    workers : int, optional
        Sites run at once on this machine (default: the number of CPUs). Ignored with
        ``scheduler``, where the cluster's worker threads decide.
    scheduler : str or distributed.Client or cluster, optional
        A Dask scheduler address (``tcp://host:port``), a client or a cluster object.
    trials, seed : int, optional
        As ``riskkit assess`` (default: each site's own).
    fast : bool
        As ``riskkit assess --fast``.
    timeout : float, optional
        Wall-time limit per site [s]; a site over it is killed and ``failed``.
    force : bool
        Rerun sites that already have a complete run.
    notebooks : iterable of path, optional
        Notebooks to run instead of the standard five.
    progress : callable, optional
        ``progress(event, **info)``: ``start`` (``total``, ``to_run``, ``out``),
        ``site_start`` (``site_id``, ``where``), ``site_notebook`` / ``site_cell`` /
        ``site_step`` (``site_id`` plus the :func:`riskkit.report.assess` progress fields;
        local pool only), ``site_done`` (``row``) and ``end`` (``result``).

    Returns
    -------
    BatchResult

    Raises
    ------
    BatchError
        The Dask scheduler cannot be reached or Dask is not installed.
    """
    root = Path(out)
    started = _now()
    lock = threading.Lock()

    def emit(event, **info):
        if progress is not None:
            with lock:
                progress(event, **info)

    jobs = plan_jobs(
        paths, root, trials=trials, seed=seed, fast=fast, force=force, notebooks=notebooks
    )
    info = {
        "riskkit": __version__,
        "started": started,
        "finished": None,
        "options": {
            "trials": trials,
            "seed": seed,
            "fast": bool(fast),
            "force": bool(force),
            "timeout": timeout,
            "workers": workers,
            "scheduler": scheduler
            if isinstance(scheduler, str) or scheduler is None
            else type(scheduler).__name__,
        },
    }
    rows: dict[int, dict] = {}
    index = {id(j): i for i, j in enumerate(jobs)}

    def record(job: SiteJob, row: dict) -> None:
        row = {**row, "output": relative_output(row.get("output", ""), root)}
        rows[index[id(job)]] = row
        emit("site_done", row=row)
        manifest()

    def manifest() -> Path:
        ordered = [rows.get(i) or j.row("failed", error=_UNFINISHED) for i, j in enumerate(jobs)]
        return write_manifest(root, ordered, info)[0]

    to_run = [j for j in jobs if j.status == "run"]
    emit("start", total=len(jobs), to_run=len(to_run), out=root)
    for j in jobs:
        if j.status == "skipped":
            record(j, j.row("skipped", output=j.out, error=""))
        elif j.status == "failed":
            record(j, j.row("failed", error=j.error))
    manifest()  # even a batch with nothing to run leaves a manifest

    interrupted = False
    _STOPPING.clear()
    restore = _on_sigterm()
    try:
        if to_run and scheduler is not None:
            _run_dask(to_run, scheduler, timeout, emit, record)
        elif to_run:
            n = max(1, min(workers or os.cpu_count() or 1, len(to_run)))
            _run_local(to_run, n, timeout, emit, record)
    except (KeyboardInterrupt, _Interrupted):
        interrupted = True
    finally:
        restore()
        _STOPPING.clear()
    info["finished"] = _now()
    result = BatchResult(
        rows=[rows[i] for i in range(len(jobs))], manifest=manifest(), interrupted=interrupted
    )
    emit("end", result=result)
    return result


def _on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into :class:`_Interrupted` while the batch runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise _Interrupted()

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, old)
