"""Fast loading (issue 16): one libyaml parse, field lines found on demand, same messages.

The loader parses a file without anchors once, checking its bounds while libyaml composes,
and finds the line of a field only when a problem asks for it (by composing that record's
own text). These tests check that this gives the same problems, with the same lines, as
walking every field at load time (``riskkit.io._EAGER_LINES``), that the bounds refuse at
the same place as the event pre-scan, and that a generated site loads within 3x of a bare
``yaml.load(..., Loader=yaml.CSafeLoader)`` of the same file.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from riskkit import SiteError, load_site
from riskkit import io as rio

REFINERY = REPO_ROOT / "data" / "sites" / "example-refinery" / "site.yaml"
WATER = REPO_ROOT / "data" / "sites" / "example-water" / "site.yaml"
TINY = REPO_ROOT / "tests" / "data" / "tiny" / "site.yaml"

STYLES = {
    "block": {"default_flow_style": False},
    "leaf-flow": {"default_flow_style": None},
    "flow": {"default_flow_style": True, "width": 60},
}
"""Layouts a site file is written in: block, flow for innermost collections, all flow."""


def outcome(path: Path, eager: bool, monkeypatch):
    """The problems of loading ``path`` (or "ok"), with field lines eager or on demand."""
    monkeypatch.setattr(rio, "_EAGER_LINES", eager)
    try:
        load_site(path)
    except SiteError as e:
        return e.problems
    return "ok"


def leaves(x, path=()):
    """Every scalar of a nested structure with its path of keys and indices."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, (*path, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, (*path, i))
    else:
        yield path


def put(d, path, value):
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


BAD = ["???", -7, 1e9, [1, "x"], {"oops": 1}, None]
"""Values that break whatever field they replace (or leave it valid: both are compared)."""


def _record_leaves(d):
    out = []
    for sec, rows in d.items():
        if isinstance(rows, list):
            for i, row in enumerate(rows):
                out += [(sec, i, *p) for p in leaves(row)]
        elif isinstance(rows, dict):
            out += [(sec, *p) for p in leaves(rows)]
    return out


REFINERY_DICT = yaml.safe_load(REFINERY.read_text(encoding="utf-8"))
REFINERY_LEAVES = _record_leaves(REFINERY_DICT)


@pytest.mark.parametrize("style", STYLES)
def test_every_problem_of_many_broken_fields_has_the_eager_line(tmp_path, monkeypatch, style):
    """Break every 7th field of the refinery at once: lazy lines equal eager lines."""
    d = copy.deepcopy(REFINERY_DICT)
    for k, path in enumerate(REFINERY_LEAVES[::7]):
        put(d, path, copy.deepcopy(BAD[k % len(BAD)]))
    path = tmp_path / "site.yaml"
    text = yaml.safe_dump(d, sort_keys=False, **STYLES[style])
    assert "&" not in text  # no anchors: the lines are found on demand
    path.write_text(text, encoding="utf-8")
    lazy = outcome(path, False, monkeypatch)
    assert lazy != "ok" and len(lazy) > 20
    assert lazy == outcome(path, True, monkeypatch)
    # the lines are field lines, not only record lines (in the block layout every field
    # has its own line)
    if style == "block":
        records = {o[1] for o in rio.read_raw(path).origins.values()}
        assert sum(p.line not in records for p in lazy) > len(lazy) // 2


@settings(max_examples=30, deadline=None, database=None)
@given(
    where=st.sampled_from(REFINERY_LEAVES),
    bad=st.sampled_from(BAD),
    style=st.sampled_from(sorted(STYLES)),
)
def test_a_broken_field_anywhere_has_the_eager_line(where, bad, style):
    d = copy.deepcopy(REFINERY_DICT)
    put(d, where, bad)
    text = yaml.safe_dump(d, sort_keys=False, **STYLES[style])
    assert "&" not in text
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        path = Path(tmp) / "site.yaml"
        path.write_text(text, encoding="utf-8")
        assert outcome(path, False, mp) == outcome(path, True, mp)


@settings(max_examples=40, deadline=None, database=None)
@given(
    pos=st.integers(0, 4000),
    cut=st.integers(0, 6),
    insert=st.text(alphabet=" :-[]{},#'\"\n\tx0.|>!", max_size=5),
)
def test_damaged_text_gives_the_same_problems_both_ways(pos, cut, insert):
    """Odd layouts (the record's text read alone may not parse): still the eager lines."""
    base = WATER.read_text(encoding="utf-8")
    pos = pos % len(base)
    text = base[:pos] + insert + base[pos + cut :]
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        path = Path(tmp) / "site.yaml"
        path.write_text(text, encoding="utf-8")
        assert outcome(path, False, mp) == outcome(path, True, mp)


def test_a_record_that_does_not_read_alone_falls_back_to_the_whole_file(tmp_path, monkeypatch):
    """A flow record whose text alone is not a mapping still gets its field's line."""
    text = TINY.read_text(encoding="utf-8")
    zones = yaml.safe_load(text)["zones"]
    flow = yaml.safe_dump(zones, default_flow_style=True, width=30)
    start = text.index("zones:")
    end = text.index("\n", text.index("conduits:") - 1)
    head, tail = text[:start], text[end:]
    broken = flow.replace("control", "kontrol", 1)
    assert broken != flow
    path = tmp_path / "site.yaml"
    path.write_text(head + "zones: " + broken.replace("\n", "\n ") + tail, encoding="utf-8")
    lazy = outcome(path, False, monkeypatch)
    assert lazy == outcome(path, True, monkeypatch)
    (p,) = [p for p in lazy if p.field == "kind"]
    assert "kontrol" in path.read_text().splitlines()[p.line - 1]


def test_duplicate_keys_and_anchors_are_reported_as_before(tmp_path, monkeypatch):
    text = TINY.read_text(encoding="utf-8").replace(
        "name: Tiny test site", "name: &n Tiny test site\n  description: *n\n  name: again"
    )
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    lazy = outcome(path, False, monkeypatch)
    assert any("duplicate key 'name'" in p.message for p in lazy)
    assert lazy == outcome(path, True, monkeypatch)


def test_a_merge_key_is_not_a_duplicate(tmp_path, monkeypatch):
    text = TINY.read_text(encoding="utf-8").replace(
        "name: Tiny test site", "<<: {name: Merged, description: from the merge}\n  name: Own"
    )
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    site = load_site(path)
    assert (site.site.name, site.site.description) == ("Own", "from the merge")


# --------------------------------------------------------------------------------------------
# one parse, bounds checked as libyaml composes
# --------------------------------------------------------------------------------------------


def test_a_file_without_anchors_is_parsed_once(monkeypatch):
    calls = []
    monkeypatch.setattr(rio, "_prescan", lambda *a, **k: calls.append(a))
    load_site(REFINERY)
    assert calls == []


def test_a_file_with_anchors_is_prescanned(tmp_path, monkeypatch):
    calls = []
    real = rio._prescan
    monkeypatch.setattr(rio, "_prescan", lambda *a, **k: calls.append(a) or real(*a, **k))
    text = TINY.read_text(encoding="utf-8").replace("name: Tiny", "name: &n Tiny")
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    load_site(path)
    assert len(calls) == 1


def _deep(text):
    return text.replace("id: tiny", "id: " + "[" * 25 + "]" * 25)


def _records(text):
    rows = "".join(f"  - {{id: Z-{i}, kind: control}}\n" for i in range(60))
    return text.replace("zones:\n", "zones:\n" + rows, 1)


def _values(text):
    return text.replace("id: tiny", "id: tiny\n  notes: [" + ", ".join(["x"] * 6_100) + "]")


@pytest.mark.parametrize(
    ("make", "limits"),
    [(_deep, {}), (_records, {"max_records": 40}), (_values, {"max_records": 100})],
    ids=["depth", "records", "values"],
)
def test_a_bound_passed_while_composing_is_refused_as_the_prescan_words_it(tmp_path, make, limits):
    text = make(TINY.read_text(encoding="utf-8"))
    assert "&" not in text
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SiteError) as info:
        load_site(path, **limits)
    (p,) = info.value.problems
    full = rio.Limits.resolve(**limits)
    with pytest.raises(rio._Refused) as pre:
        rio._prescan(text, full.max_depth, full.max_records)
    assert p == rio._yaml_syntax_problem(path, pre.value)
    assert "limit" in p.message or "nesting" in p.message
