"""The child process of one batch site: ``python -m riskkit.batch.child`` (internal).

It reads one JSON object from stdin (``site``, ``out``, ``trials``, ``seed``, ``fast``,
``notebooks``), runs :func:`riskkit.report.assess` and writes JSON lines to stdout: progress
events (``{"event": ..., ...}``) and, last, ``{"result": {"status", "output", "error"}}``.
Everything else the run prints, its kernels included, goes to stderr, so stdout carries only
these messages. Exit status 0 when the run is complete, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import sys


def _channel():
    """A private line-buffered stdout for messages; fd 1 itself then points at stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", buffering=1, encoding="utf-8")


def main() -> int:
    """Run one assessment as described on stdin; see the module docstring."""
    chan = _channel()

    def send(msg: dict) -> None:
        chan.write(json.dumps(msg) + "\n")

    def progress(event, **info):
        if event in ("notebook", "step", "cell"):
            keep = ("name", "index", "count", "cell", "cells")
            send({"event": event, **{k: info[k] for k in keep if k in info}})

    job = json.loads(sys.stdin.read())
    send({"event": "started", "pid": os.getpid()})
    from ..report.run import AssessError, assess
    from ..site import SiteError

    try:
        res = assess(
            job["site"],
            job["out"],
            trials=job.get("trials"),
            seed=job.get("seed"),
            fast=bool(job.get("fast")),
            notebooks=job.get("notebooks"),
            progress=progress,
        )
    except AssessError as e:
        folder = str(e.folder) if e.folder is not None else ""
        send({"result": {"status": "failed", "output": folder, "error": e.describe()}})
        return 1
    except SiteError as e:
        problems = "; ".join(str(p) for p in e.problems)
        send({"result": {"status": "failed", "output": "", "error": f"invalid site: {problems}"}})
        return 1
    except Exception as e:  # any other failure of this one site is reported, not raised
        send({"result": {"status": "failed", "output": "", "error": f"{type(e).__name__}: {e}"}})
        return 1
    send({"result": {"status": "ok", "output": str(res.out), "error": ""}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
