"""Headless Chromium for the browser tests: where it is, how it runs, the DOM it leaves.

Networking is off (a dead proxy), so a report must work offline; the DOM is dumped after the
page's scripts ran (virtual time), which shows what they drew or changed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
"""Debian's chromium (None where it is absent: the browser tests skip)."""

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # any request leaving the machine fails at once: the page must work offline
    "--proxy-server=127.0.0.1:9",
    "--virtual-time-budget=10000",
]


def dump_dom(page: Path, profile: Path, timeout: float = 180) -> str:
    """The serialised DOM of ``page`` after its scripts ran (Chromium's ``--dump-dom``)."""
    out = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return out.stdout
