"""Hostile strings for the report-escaping tests, and a site that carries them everywhere.

Each payload, if it ever ran as script, would set ``document.title`` to :data:`RAN` (built by
concatenation, so the literal payload text never contains it) or ``window.__xss``. The
browser test looks for that mark; the unit tests look for the raw payload in view output.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

RAN = "XSS-RAN"
_JS = "window.__xss=1,document.title=String.fromCharCode(88,83,83)+/-RAN/.source"
"""Script that marks its own execution; no quote, so it fits any attribute unquoted."""

PAYLOADS: dict[str, str] = {
    "img": f"<img src=x onerror={_JS}>",
    "script": f"<script>{_JS}</script>",
    "md_link": f"*[x](javascript:{_JS})*",
    "td": f"</td><script>{_JS}</script>",
    "svg": f'"><svg onload={_JS}>',
    "md_html": f"**b** | `c` # <details open ontoggle={_JS}>",
}
"""Named payloads; each targets a different way text can turn into markup."""

_ORDER = list(PAYLOADS.values())


def _next(i: list[int]) -> str:
    i[0] += 1
    return _ORDER[i[0] % len(_ORDER)]


def poison(data: dict) -> dict:
    """A copy of site data with a payload in every free-text field.

    Free text per the schema: site name, currency and description; names and descriptions of
    zones, conduits, actors, scenarios and countermeasures; zone assets, conduit protocols
    and exclusive groups. Ids cannot carry markup (their pattern is ``[A-Za-z0-9_.-]``).
    """
    d = copy.deepcopy(data)
    i = [-1]
    d["site"]["name"] = PAYLOADS["img"]
    d["site"]["currency"] = PAYLOADS["script"]
    d["site"]["description"] = PAYLOADS["td"]
    # names shown in full (styled tables) first, so that every payload lands in one of them
    cms = sorted(d["countermeasures"], key=lambda cm: cm["status"] != "candidate")
    records = [*d["zones"], *d["scenarios"], *cms, *d["conduits"], *d["threat_actors"]]
    for rec in records:
        rec["name"] = _next(i)
    for rec in records:
        rec["description"] = _next(i)
    for z in d["zones"]:
        z["assets"] = [_next(i), _next(i)]
    for c in d["conduits"]:
        c["protocols"] = [_next(i)]
    for cm in d["countermeasures"]:
        if cm["status"] == "candidate":
            cm["exclusive_group"] = PAYLOADS["td"]
    return d


def tiny_data(repo_root: Path) -> dict:
    """tests/data/tiny/site.yaml as plain data."""
    return yaml.safe_load((repo_root / "tests" / "data" / "tiny" / "site.yaml").read_text())


def write_poisoned_tiny(repo_root: Path, folder: Path) -> Path:
    """The tiny site with payloads in every free-text field, written as ``folder/site.yaml``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(poison(tiny_data(repo_root)), sort_keys=False))
    return path
