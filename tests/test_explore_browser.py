"""`riskkit explore` in a real browser: Voila serves the explorer, Chromium moves a control.

The server runs on a free 127.0.0.1 port with temporary Jupyter config, data and runtime
folders (no token, nothing read from or written to the user's Jupyter set-up) and is always
stopped (its whole process group). Playwright for Python drives Debian's ``chromium``
through ``executable_path`` (no browser download). The page must draw the four figures,
redraw the exceedance curve after a slider moves, load nothing from outside the server and
leave no error in the browser console; a screenshot lands in the test's temporary folder.

Skipped where chromium, Playwright or Voila is absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from riskkit.app import free_port

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()),
    None,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

playwright_sync = pytest.importorskip("playwright.sync_api")
pytest.importorskip("voila")
pytest.importorskip("ipywidgets")

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "data" / "sites" / "example-water"

PLOTS = "Array.from(document.querySelectorAll('.js-plotly-plot'))"
SITE_CURVE = (
    f"JSON.stringify(['x', 'y'].map(k => {PLOTS}[0].data.find(t => t.name === 'what-if')[k]))"
)


def _jupyter_env(tmp: Path) -> dict:
    env = dict(os.environ)
    for name, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(tmp / sub)
    env.pop("JUPYTER_PATH", None)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


@contextlib.contextmanager
def _server(cmd: list[str], env: dict, cwd: Path, log: Path):
    """Start ``cmd`` in its own process group; always kill the whole group afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server stopped ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"no answer from {url} after {timeout:g} s:\n{log.read_text()[-3000:]}")


def _browser(p):
    return p.chromium.launch(
        executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    )


def _watch(page, host: str) -> tuple[list, list]:
    """Collect console errors and requests that leave the server (which are refused)."""
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

    def route(r):
        if r.request.url.startswith(host):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return errors, outside


def test_explore_serves_the_explorer_and_redraws_after_a_control_moves(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "voila.log"
    cmd = [sys.executable, "-m", "riskkit", "explore", str(SITE)]
    cmd += ["--port", str(port), "--no-browser", "--trials", "2000"]
    with _server(cmd, _jupyter_env(tmp_path / "jupyter"), tmp_path, log) as proc:
        _wait_http(url + "voila/static/", proc, log)
        assert url in log.read_text()  # the command prints the page's URL
        with playwright_sync.sync_playwright() as p:
            browser = _browser(p)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1150})
                errors, outside = _watch(page, f"http://127.0.0.1:{port}")
                page.goto(url, wait_until="commit", timeout=60_000)
                # the four figures, the radar and the frontier with their data (computed in
                # the background after the curves)
                page.wait_for_function(
                    f"{PLOTS}.length >= 4 && {PLOTS}.every(g => g.data && g.data.length > 0)",
                    timeout=90_000,
                    polling=250,
                )
                before = page.evaluate(SITE_CURVE)
                html = page.content()
                assert "Explorer(" not in html and "import riskkit" not in html  # no code

                slider = _type_into_slider(page, "consequence x", "3", before)
                assert slider.locator(".widget-readout").inner_text().strip() == "3.00"
                page.wait_for_timeout(500)  # let late messages arrive before the console check
                shot = tmp_path / "explorer.png"
                page.screenshot(path=str(shot), full_page=True)
            finally:
                browser.close()
    assert errors == []
    assert outside == []
    assert shot.stat().st_size > 10_000


def _type_into_slider(page, label: str, value: str, before):
    """Type ``value`` into the readout of the slider labelled ``label``; wait until the site
    curve differs from ``before``. Returns the slider."""
    slider = page.locator(".widget-slider", has_text=label)
    slider.locator(".widget-readout").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")
    page.wait_for_function(f"{SITE_CURVE} !== {before!r}", timeout=60_000, polling=200)
    return slider


def _run_first_code_cell(page, tries: int = 3) -> None:
    """Run the notebook's code cell; answer JupyterLab's "Select Kernel" dialog if it asks
    (it may while the session's kernel is still being chosen)."""
    dialog = page.locator(".jp-Dialog")
    for _ in range(tries):
        if dialog.count():
            # "Select Kernel" (button "Select"), or another dialog JupyterLab raises while
            # the session settles: take its default (accept) button, else dismiss it
            accept = dialog.locator("button.jp-mod-accept")
            if accept.count():
                accept.first.click()
            else:
                page.keyboard.press("Escape")
            dialog.first.wait_for(state="detached", timeout=30_000)
        page.locator(".jp-CodeCell .jp-InputArea-editor").first.click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(
                "document.querySelector('.jp-Dialog') ||"
                " document.querySelector('.jp-CodeCell .jp-InputPrompt')"
                ".textContent.trim() !== '[ ]:'",
                timeout=30_000,
                polling=250,
            )
        except playwright_sync.TimeoutError:
            continue
        if not dialog.count():
            return
    pytest.fail("JupyterLab did not run the explorer's cell")


def test_the_notebook_opens_as_a_notebook_in_jupyterlab_and_runs_the_explorer(tmp_path):
    env = _jupyter_env(tmp_path / "jupyter")
    # the one command the README gives: .py notebooks open as notebooks on double-click
    subprocess.run(
        [sys.executable, "-m", "jupytext_config", "set-default-viewer", "python"],
        env=env,
        check=True,
        capture_output=True,
    )
    # and the notebook starts its kernel without asking (a "Select Kernel" dialog can
    # otherwise take the keystrokes below)
    overrides = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig" / "default_setting_overrides.json"
    settings = json.loads(overrides.read_text(encoding="utf-8"))
    docmanager = settings["@jupyterlab/docmanager-extension:plugin"]
    assert docmanager["defaultViewers"] == {"python": "Jupytext Notebook"}
    docmanager["autoStartDefaultKernel"] = True
    overrides.write_text(json.dumps(settings), encoding="utf-8")
    root = tmp_path / "lab"
    root.mkdir()
    text = (REPO / "notebooks" / "explore.py").read_text(encoding="utf-8")
    old = 'Explorer("../data/sites/example-water")'
    assert old in text
    text = text.replace(old, f"Explorer({str(SITE)!r}, trials=2000)")
    (root / "explore.py").write_text(text, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "lab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}"]
    cmd += ["--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0"]
    cmd += ["--IdentityProvider.token=", f"--ServerApp.root_dir={root}", "--allow-root"]
    cmd += ["--LabApp.extension_manager=readonly"]  # no look-ups on a package index
    with _server(cmd, env, root, log) as proc:
        _wait_http(url + "api/status", proc, log)
        with playwright_sync.sync_playwright() as p:
            browser = _browser(p)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1200})
                errors, outside = _watch(page, f"http://127.0.0.1:{port}")
                page.goto(url + "lab/tree/explore.py", wait_until="commit", timeout=60_000)
                # opened by the Jupytext Notebook viewer: notebook cells, not a text editor
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
                page.wait_for_selector(
                    ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
                )
                _run_first_code_cell(page)
                page.wait_for_function(
                    f"{PLOTS}.length >= 4 && {PLOTS}.every(g => g.data && g.data.length > 0)",
                    timeout=90_000,
                    polling=250,
                )
                before = page.evaluate(SITE_CURVE)
                _type_into_slider(page, "A-CRIME rate x", "2", before)
                page.wait_for_timeout(500)
            finally:
                with contextlib.suppress(Exception):  # for a look after a failure too
                    page.screenshot(path=str(tmp_path / "jupyterlab.png"))
                browser.close()
    assert errors == []
    assert outside == []
