"""One kernel for the notebooks of an assessment, and kernels of concurrent runs apart.

``assess`` runs all its notebooks in one kernel (issue 13): the kernel starts once, each
notebook gets papermill's injected parameters, and a reset between notebooks keeps the names
of one notebook from leaking into the next. The kernel's IPC sockets are absolute paths of
the run's own, so two assessments in threads of one process do not meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path

import nbformat
import pytest

from riskkit import report
from riskkit.report import run as report_run

FIRST = """# %% tags=["parameters"]
site = None
out = None

# %%
import json, os
leaked_name = "from the first notebook"
with open(os.path.join(out, "first.json"), "w") as f:
    json.dump({"pid": os.getpid(), "cwd": os.getcwd()}, f)
"""

SECOND = """# %% tags=["parameters"]
site = None
out = None

# %%
import json, os
with open(os.path.join(out, "second.json"), "w") as f:
    json.dump(
        {"pid": os.getpid(), "cwd": os.getcwd(), "leaked": "leaked_name" in dir()}, f
    )
"""


@pytest.fixture(scope="module")
def two_notebooks(tmp_path_factory):
    d = tmp_path_factory.mktemp("nbs")
    (d / "01_first.py").write_text(FIRST, encoding="utf-8")
    (d / "02_second.py").write_text(SECOND, encoding="utf-8")
    return [d / "01_first.py", d / "02_second.py"]


def _run(site, out, notebooks, kept):
    """assess into ``out``; keeps what the notebooks recorded (the cache folder goes)."""
    res = report.assess(site, out=out, notebooks=notebooks, trials=200, seed=3)
    kept[str(out)] = {
        n: json.loads((res.out / f"{n}.json").read_text()) for n in ("first", "second")
    }
    return res


def test_notebooks_share_one_kernel_and_no_names(repo_root, tmp_path, two_notebooks):
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    kept = {}
    res = _run(site, tmp_path / "run", two_notebooks, kept)
    first, second = kept[str(tmp_path / "run")].values()
    assert first["pid"] == second["pid"]  # one kernel for both notebooks
    assert second["leaked"] is False  # the first notebook's names are gone
    for name in ("01_first", "02_second"):
        nb = nbformat.read(res.out / "notebooks" / f"{name}.ipynb", as_version=4)
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and "trials = 200" in injected[0].source
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1)), counts  # In [1], In [2], ...


def test_kernel_sockets_are_absolute_paths_of_the_run(tmp_path):
    km = report_run._kernel_manager_class(tmp_path)(kernel_name="python3")
    assert km.transport == "ipc"
    assert Path(km.ip).is_absolute() and Path(km.ip).parent == tmp_path.absolute()
    other = report_run._kernel_manager_class()(kernel_name="python3")
    assert Path(other.ip).is_absolute() and Path(other.ip).parent != Path(km.ip).parent


def test_two_assessments_in_threads_of_one_process(repo_root, tmp_path, two_notebooks):
    """Each run's kernel works in its own folder and answers only its own run."""
    site = repo_root / "tests" / "data" / "tiny" / "site.yaml"
    kept, errors = {}, []

    def go(k):
        try:
            _run(site, tmp_path / f"run-{k}", two_notebooks, kept)
        except BaseException as e:
            errors.append(e)
        finally:
            # the thread's event loop, made by jupyter_core for the kernel's messages
            with contextlib.suppress(RuntimeError):
                asyncio.get_event_loop_policy().get_event_loop().close()

    threads = [threading.Thread(target=go, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert len(kept) == 2
    pids = set()
    for out, rec in kept.items():
        # the kernel ran in the run's own (partial, then renamed) folder
        assert Path(rec["first"]["cwd"]).name.startswith(Path(out).name + ".partial-")
        assert rec["first"]["pid"] == rec["second"]["pid"]
        pids.add(rec["first"]["pid"])
    assert len(pids) == 2
