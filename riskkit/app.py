"""``riskkit explore``: the what-if explorer served as a standalone web page with Voila.

The page is a two-cell notebook written to a temporary folder (the explorer of one site,
:class:`riskkit.widgets.Explorer`) that Voila runs in a kernel and renders without its code.
The server listens on 127.0.0.1 only. Needs the ``widgets`` extra.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "free_port",
    "explorer_notebook",
    "voila_command",
    "serve",
    "voila_env",
    "LAB_ONLY_EXTENSIONS",
]

LAB_ONLY_EXTENSIONS: tuple[str, ...] = (
    "jupyterlab-jupytext",
    "@voila-dashboards/jupyterlab-preview",
)
"""JupyterLab front-end extensions the explorer page does not load (they need JupyterLab)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def explorer_notebook(site_path: str | os.PathLike, trials: int = 20_000) -> dict:
    """The notebook (nbformat 4, as a dict) that shows the explorer of ``site_path``.

    The path is written as a JSON string literal, so no character of it can become code.
    """
    site = json.dumps(str(Path(site_path).resolve()))
    code = (
        "from riskkit.widgets import Explorer\n"
        f"explorer = Explorer({site}, trials={int(trials)})\n"
        "explorer.view"
    )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": "explorer",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": code,
            }
        ],
    }


TEMPLATES = Path(__file__).parent / "share"
"""Holds ``voila/templates/riskkit``, the explorer page's template (on ``JUPYTER_PATH``)."""


def voila_env(base: dict | None = None) -> dict:
    """The environment of the Voila process, with riskkit's page template on the path.

    ``base`` (default ``os.environ``) with :data:`TEMPLATES` first on ``JUPYTER_PATH``.
    """
    env = dict(os.environ if base is None else base)
    paths = [str(TEMPLATES), *filter(None, env.get("JUPYTER_PATH", "").split(os.pathsep))]
    env["JUPYTER_PATH"] = os.pathsep.join(paths)
    return env


def voila_command(notebook: Path, port: int, open_browser: bool = False) -> list[str]:
    """The Voila command line: 127.0.0.1, the given port (no retries), sources stripped.

    Run it with :func:`voila_env` (it names riskkit's page template).
    """
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={int(port)}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--theme=light",
        "--template=riskkit",
        # JupyterLab plugins that fail to load outside JupyterLab (jupytext's) stay out
        *(f"--VoilaConfiguration.extension_denylist={x}" for x in LAB_ONLY_EXTENSIONS),
    ]
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def serve(
    site_path: str | os.PathLike,
    port: int | None = None,
    open_browser: bool = True,
    trials: int = 20_000,
    echo=print,
) -> int:
    """Run the explorer of ``site_path`` with Voila until it stops (Ctrl-C).

    Parameters
    ----------
    site_path : path-like
        A site file, folder or workbook (validated by the caller).
    port : int, optional
        TCP port on 127.0.0.1; a free one by default.
    open_browser : bool
        Let Voila open the page in the default browser.
    trials : int
        Trials of the explorer [trials].
    echo : callable
        Prints the URL.

    Returns
    -------
    int
        Voila's exit code.
    """
    port = free_port() if port is None else int(port)
    with tempfile.TemporaryDirectory(prefix="riskkit-explore-") as tmp:
        nb = Path(tmp) / "riskkit-explorer.ipynb"
        nb.write_text(json.dumps(explorer_notebook(site_path, trials)), encoding="utf-8")
        echo(f"riskkit explorer of {site_path}: http://127.0.0.1:{port}/  (Ctrl-C stops it)")
        proc = subprocess.Popen(voila_command(nb, port, open_browser), cwd=tmp, env=voila_env())
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            try:
                return proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()
