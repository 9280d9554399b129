"""Reading and writing site files: YAML, a folder with CSV tables, and Excel workbooks.

This is the only module that reads site files. It turns each form into the same raw data with
the origin (file and line) of every record, and hands it to :func:`riskkit.site.build_site`
for validation, so all three forms obey the same rules and give the same messages.

Site files are untrusted input: the reader is bounded (file size, record count, values and
nesting depth, counting what YAML aliases stand for), reads only regular files, and by
default refuses section files that are symbolic links leading out of the site folder.
The limits are module-level defaults, overridden by environment variables
(``RISKKIT_MAX_FILE_BYTES``, ``RISKKIT_MAX_RECORDS``, ``RISKKIT_MAX_DEPTH``) and by keyword
arguments of :func:`load_site` and :func:`read_raw`.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io as _io
import math
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .escape import defuse_workbook
from .site import SECTIONS, Problem, RawSite, Site, SiteError, build_site

__all__ = [
    "load_site",
    "read_raw",
    "export_xlsx",
    "site_to_dict",
    "file_hash",
    "site_files",
    "Limits",
    "MAX_FILE_BYTES",
    "MAX_RECORDS",
    "MAX_DEPTH",
]

_SINGLE_SHEETS = ("site", "tolerance", "risk_matrix", "model")

MAX_FILE_BYTES = 50_000_000
"""Default largest site file read [bytes] (env ``RISKKIT_MAX_FILE_BYTES``)."""
MAX_RECORDS = 50_000
"""Default largest number of records over all sections (env ``RISKKIT_MAX_RECORDS``)."""
NODES_PER_RECORD = 60
"""A YAML file may hold at most this many values, mappings and lists per allowed record."""
CELL_RECORDS = 100
"""Most list items of a YAML value inside one table cell."""
CELL_VALUES = 3_000
"""Most values, mappings and lists of a YAML value inside one table cell."""
MAX_DEPTH = 20
"""Default deepest nesting of mappings and lists, in YAML and in table cells (env
``RISKKIT_MAX_DEPTH``)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what the reader accepts.

    Attributes
    ----------
    max_bytes : int
        Largest file read [bytes].
    max_records : int
        Largest number of records over all list sections.
    max_depth : int
        Deepest nesting of mappings and lists.
    allow_outside_links : bool
        Follow section files that are symbolic links leading out of the site folder.
    """

    max_bytes: int = MAX_FILE_BYTES
    max_records: int = MAX_RECORDS
    max_depth: int = MAX_DEPTH
    allow_outside_links: bool = False

    @classmethod
    def resolve(cls, max_bytes=None, max_records=None, max_depth=None, allow_outside_links=False):
        """Limits from keyword arguments, else the environment, else the module defaults."""

        def pick(given, env, default):
            if given is not None:
                return int(given)
            text = os.environ.get(env, "").strip()
            try:
                return int(text) if text else default
            except ValueError:
                raise ValueError(f"{env} must be a whole number, {text!r} was given") from None

        return cls(
            pick(max_bytes, "RISKKIT_MAX_FILE_BYTES", MAX_FILE_BYTES),
            pick(max_records, "RISKKIT_MAX_RECORDS", MAX_RECORDS),
            pick(max_depth, "RISKKIT_MAX_DEPTH", MAX_DEPTH),
            bool(allow_outside_links),
        )


def file_hash(paths: list[Path]) -> str:
    """SHA-256 over the bytes of ``paths`` (sorted by name), as hex."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def _file_problem(p: Path, folder: Path | None, limits: Limits) -> Problem | None:
    """Why ``p`` may not be read as a site file, or None (never opens it)."""
    if folder is not None and p.is_symlink() and not limits.allow_outside_links:
        target = p.resolve()
        if not target.is_relative_to(folder.resolve()):
            return Problem(
                str(p),
                None,
                None,
                "a symbolic link that leads out of the site folder",
                hint="copy the file into the site folder (or allow outside links on purpose)",
            )
    try:
        st = os.stat(p)
    except OSError as e:
        return Problem(str(p), None, None, f"cannot read the file: {e.strerror}")
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a pipe or device)"
        return Problem(str(p), None, None, f"{kind} where a file is expected")
    if not os.access(p, os.R_OK):
        return Problem(str(p), None, None, "cannot read the file: permission denied")
    if st.st_size > limits.max_bytes:
        return Problem(
            str(p),
            None,
            None,
            f"the file has {st.st_size} bytes, more than the limit of {limits.max_bytes}",
            hint="split the site, or raise the limit (RISKKIT_MAX_FILE_BYTES)",
        )
    return None


def _read_bytes(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as e:
        raise SiteError([Problem(str(p), None, None, f"cannot read the file: {e}")]) from None


def _main_file(folder: Path) -> Path:
    main = folder / "site.yaml"
    if not os.path.lexists(main) and os.path.lexists(folder / "site.yml"):
        main = folder / "site.yml"
    return main


def site_files(path: str | os.PathLike, *, allow_outside_links: bool = False) -> list[Path]:
    """The files that make up a site, as the loader reads them.

    A YAML file or a workbook is one file; a folder is its ``site.yaml`` (or ``site.yml``)
    plus the CSV table of each section present (``zones.csv``, ...). Nothing else in the
    folder belongs to the site. Only regular files are listed; symbolic links leading out of
    the folder are left out unless ``allow_outside_links``.

    Parameters
    ----------
    path : str or path-like
        As given to :func:`load_site`.
    allow_outside_links : bool
        List section files that are links leading out of the folder.

    Returns
    -------
    list of Path
        Existing files, the main file first.
    """
    p = Path(path)
    if not p.is_dir():
        return [p]
    limits = Limits(max_bytes=2**62, allow_outside_links=allow_outside_links)
    candidates = [_main_file(p)] + [p / f"{s}.csv" for s in SECTIONS]
    return [f for f in candidates if os.path.lexists(f) and _file_problem(f, p, limits) is None]


def load_site(path: str | os.PathLike, **limits: Any) -> Site:
    """Load and validate a site from a YAML file, a folder, or an ``.xlsx`` workbook.

    Parameters
    ----------
    path : str or path-like
        ``site.yaml``, a folder holding ``site.yaml`` and optional CSV tables, or a workbook.
    **limits
        ``max_bytes``, ``max_records``, ``max_depth``, ``allow_outside_links``: see
        :class:`Limits` (defaults from the environment, else the module constants).

    Returns
    -------
    Site
        The validated site; ``site.source_hash`` is the SHA-256 of the input files.

    Raises
    ------
    SiteError
        Listing every problem, each naming file, record id, field and bad value.
    FileNotFoundError
        Where ``path`` does not exist.
    """
    return build_site(read_raw(path, **limits))


def read_raw(
    path: str | os.PathLike,
    *,
    max_bytes: int | None = None,
    max_records: int | None = None,
    max_depth: int | None = None,
    allow_outside_links: bool = False,
) -> RawSite:
    """Parse a site in any supported form into :class:`~riskkit.site.RawSite` (no validation).

    The keyword arguments bound the input (see :class:`Limits`).
    """
    limits = Limits.resolve(max_bytes, max_records, max_depth, allow_outside_links)
    p = Path(path)
    if not os.path.lexists(p):
        raise FileNotFoundError(f"site not found: {p}")
    if p.is_dir():
        raw = _read_folder(p, limits)
    elif p.suffix.lower() in (".yaml", ".yml", ".xlsx"):
        problem = _file_problem(p, None, limits)
        if problem:
            raise SiteError([problem])
        if p.suffix.lower() == ".xlsx":
            raw = _read_xlsx(p, limits)
        else:
            raw = _read_yaml(p, limits)
            raw.source_hash = file_hash([p])
    else:
        raise SiteError(
            [
                Problem(
                    str(p),
                    None,
                    None,
                    f"unsupported site file type {p.suffix!r}",
                    hint="use a .yaml file, a folder with site.yaml, or an .xlsx workbook",
                )
            ]
        )
    _check_record_count(raw, limits)
    return raw


def _check_record_count(raw: RawSite, limits: Limits) -> None:
    data = raw.data if isinstance(raw.data, dict) else {}
    n = sum(len(v) for v in data.values() if isinstance(v, list))
    if n > limits.max_records:
        raise SiteError(
            [
                Problem(
                    raw.file,
                    None,
                    None,
                    f"the site has {n} records, more than the limit of {limits.max_records}",
                    hint="split the site, or raise the limit (RISKKIT_MAX_RECORDS)",
                )
            ]
        )


# --------------------------------------------------------------------------------------------
# YAML with line numbers, bounded
# --------------------------------------------------------------------------------------------


class _Refused(yaml.MarkedYAMLError):
    """Input the bounded loader does not accept (alias, anchor, depth, unreadable scalar)."""


class _Constructors:
    """Scalar constructors that turn unreadable values into refusals with their mark."""

    def construct_yaml_int(self, node):  # refused input raises _Refused
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise _Refused(
                problem=f"the number {_clip(node.value)} ({len(node.value)} characters) is too"
                " large to read",
                problem_mark=node.start_mark,
            ) from None

    def construct_yaml_timestamp(self, node):  # refused input raises _Refused
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as e:
            raise _Refused(
                problem=f"{node.value!r} is not a valid date ({e}); quote it if it is a name",
                problem_mark=node.start_mark,
            ) from None

    def construct_mapping(self, node, deep=False):
        """A mapping; notes whether any mapping repeats a key (reported after loading)."""
        if not getattr(self, "_duplicates", False) and isinstance(node, yaml.MappingNode):
            keys = [
                k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value != "<<"
            ]
            if len(set(keys)) < len(keys):
                self._duplicates = True
        return super().construct_mapping(node, deep=deep)


class _Loader(_Constructors, yaml.SafeLoader):
    """The pure-Python safe loader with the refusing constructors."""


_CSafe = getattr(yaml, "CSafeLoader", None)
if _CSafe is not None:

    class _CLoader(_Constructors, _CSafe):
        """libyaml's safe loader (several times faster) with the refusing constructors."""

    _FAST: type = _CLoader
else:  # pragma: no cover - libyaml is missing
    _FAST = _Loader

for _cls in {_Loader, _FAST}:
    _cls.add_constructor("tag:yaml.org,2002:int", _cls.construct_yaml_int)
    _cls.add_constructor("tag:yaml.org,2002:timestamp", _cls.construct_yaml_timestamp)

_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _refusal(problem: str, mark, hint: str | None = None) -> _Refused:
    err = _Refused(problem=problem, problem_mark=mark)
    if hint:
        err.hint = hint
    return err


_LIMIT_HINT = "split the site, or raise the limit (RISKKIT_MAX_RECORDS)"


def _prescan(text: str, max_depth: int, max_records: int | None, loader=None) -> None:
    """Refuse alias bombs, deep nesting and too many records before any node is built.

    Runs over the parser's events only (libyaml's where available). An alias counts as the
    values and the depth it stands for, so a "billion laughs" file or a 100,000-level
    nesting is refused at its first offending event, in well under a second.
    """
    max_records, max_nodes = _bounds(max_records)
    frames: list[list] = []  # open collections: [is sequence, anchor, nodes at start, deepest]
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values it stands for, its depth)
    nodes = records = 0
    for event in yaml.parse(text, Loader=loader or _FAST):
        if not isinstance(event, (yaml.AliasEvent, yaml.ScalarEvent, *_OPEN, *_CLOSE)):
            continue
        size, below = (1, 1) if not isinstance(event, yaml.AliasEvent) else anchors[event.anchor]
        if not isinstance(event, _CLOSE):
            nodes += size
            records += len(frames) == 2 and frames[0][0] is False and frames[1][0] is True
            if nodes > max_nodes or records > max_records:
                what = f"{max_nodes} values" if nodes > max_nodes else f"{max_records} records"
                raise _refusal(f"more than the limit of {what}", event.start_mark, _LIMIT_HINT)
            if len(frames) + below > max_depth:
                raise _refusal(f"nesting deeper than {max_depth} levels", event.start_mark)
            if frames:
                frames[-1][3] = max(frames[-1][3], len(frames) + below)
        if isinstance(event, _OPEN):
            level = len(frames) + 1
            frames.append([isinstance(event, yaml.SequenceStartEvent), event.anchor, nodes, level])
        elif isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
            anchors[event.anchor] = (1, 1)
        elif isinstance(event, _CLOSE):
            _, anchor, start, deepest = frames.pop()
            if frames:
                frames[-1][3] = max(frames[-1][3], deepest)
            if anchor is not None:
                anchors[anchor] = (nodes - start + 1, max(deepest - len(frames), 1))


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class _OverLimit(Exception):
    """Raised by the bounded composer's hooks; the event pre-scan then words the refusal."""


class _Bounded(_FAST):  # type: ignore[misc,valid-type]
    """The fast loader, counting nodes, records and depth as it composes (one parse).

    libyaml's composer calls ``descend_resolver`` before it composes each node (not for
    aliases) and ``ascend_resolver`` after, so the bounds of :func:`_prescan` can be checked
    during composition, before anything deeper is read. Only for text without anchors (and so
    without aliases, which the hooks cannot see).
    """

    def __init__(self, text: str, max_depth: int, max_nodes: int, max_records: int):
        super().__init__(text)
        self._parents: list[type] = []
        self._limits = (max_depth, max_nodes, max_records)
        self._counts = [0, 0]  # nodes, records

    def descend_resolver(self, current_node, current_index):
        parents = self._parents
        parents.append(type(current_node))
        counts = self._counts
        counts[0] += 1
        depth = len(parents)
        if depth == 3 and parents[2] is yaml.SequenceNode and parents[1] is yaml.MappingNode:
            counts[1] += 1  # an item of a top-level section list: a record
        max_depth, max_nodes, max_records = self._limits
        if depth > max_depth or counts[0] > max_nodes or counts[1] > max_records:
            raise _OverLimit

    def ascend_resolver(self):
        self._parents.pop()


def _bounds(max_records: int | None) -> tuple[int, int]:
    """The record and value limits :func:`_prescan` applies, as ``(records, values)``."""
    if max_records is None:  # a table cell
        return CELL_RECORDS, CELL_VALUES
    return max_records, NODES_PER_RECORD * max(max_records, 100)


def _compose(text: str, max_depth: int, max_records: int | None = None):
    """A bounded loader over ``text`` and its document's root node (None when empty).

    Text without anchors is parsed once, by libyaml, with the bounds checked as nodes are
    composed; where a bound is passed, :func:`_prescan` finds and words the refusal at its
    event. Text with anchors is pre-scanned first (aliases count as what they stand for). A
    syntax error is reported as the pure-Python loader words it (the messages users know).
    """
    try:
        if "&" not in text and _FAST is not _Loader:
            records, nodes = _bounds(max_records)
            loader = _Bounded(text, max_depth, nodes, records)
            try:
                return loader, loader.get_single_node()
            except _OverLimit:
                loader.dispose()
                _prescan(text, max_depth, max_records)  # raises the refusal at its event
                raise _refusal("more values or nesting than the limits allow", None) from None
        _prescan(text, max_depth, max_records)
        loader = _FAST(text)
        return loader, loader.get_single_node()
    except _Refused:
        raise
    except yaml.YAMLError:
        _prescan(text, max_depth, max_records, _Loader)
        loader = _Loader(text)
        return loader, loader.get_single_node()  # raises the pure loader's syntax error


def _load_text(text: str, max_depth: int) -> Any:
    loader, node = _compose(text, max_depth)
    try:
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def _yaml_syntax_problem(p: Path, e: yaml.MarkedYAMLError) -> Problem:
    mark, ctx = e.problem_mark, e.context_mark
    msg = e.problem or str(e)
    if ctx is not None and e.context:
        msg += f"; {e.context} at line {ctx.line + 1}, column {ctx.column + 1}"
    if ctx is not None and (mark is None or "end of stream" in msg):
        mark = ctx  # an unclosed quote or bracket: point at where it was opened
    if isinstance(e, _Refused):
        msg = e.problem
        hint = getattr(e, "hint", "write every value out in full, as plain YAML")
    else:
        msg = f"YAML syntax error: {msg}"
        hint = (
            "check indentation, colons and brackets near this line; quote text that holds"
            " ': ' or ' #'"
        )
    return Problem(
        str(p),
        None,
        None,
        msg,
        hint=hint,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
    )


def _read_yaml(p: Path, limits: Limits | None = None) -> RawSite:
    limits = limits or Limits()
    try:
        text = _read_bytes(p).decode("utf-8")
    except UnicodeDecodeError as e:
        raise SiteError(
            [
                Problem(
                    str(p),
                    None,
                    None,
                    f"not UTF-8 text (byte {e.start}: {e.object[e.start : e.start + 1]!r})",
                    hint="save the file as UTF-8",
                )
            ]
        ) from None
    try:
        bounds = (limits.max_depth, limits.max_records)
        loader, node = _compose(text, *bounds)
    except yaml.MarkedYAMLError as e:
        raise SiteError([_yaml_syntax_problem(p, e)]) from None
    except yaml.YAMLError as e:
        raise SiteError([Problem(str(p), None, None, f"YAML error: {e}")]) from None
    raw = RawSite(data={}, file=str(p))
    eager = _EAGER_LINES or "&" in text  # anchors: one walk, each shared node once
    labels = _record_origins(node, p, raw) if eager else {}
    try:
        data = None if node is None else loader.construct_document(node)
    except _Refused as e:
        if not eager:  # the tree was walked by the constructor: read it afresh for the lines
            labels = _record_origins(_compose(text, *bounds)[1], p, raw)
        raise SiteError([_located(raw, labels, e)]) from None
    finally:
        duplicates = getattr(loader, "_duplicates", False)
        loader.dispose()
    if not eager:
        if duplicates:  # a problem to report with its lines: read the tree afresh (the
            # constructor flattens merge keys in place)
            _record_origins(_compose(text, *bounds)[1], p, raw)
        else:
            _record_starts(node, p, raw, text)
    raw.data = {} if data is None else data
    return raw


_EAGER_LINES = False
"""Walk every field's line at load time rather than on first use (the tests compare both)."""


def _located(raw: RawSite, labels: dict, e: _Refused) -> Problem:
    """A problem for a scalar the constructor refused, naming its record and field."""
    line = e.problem_mark.line + 1
    rid, fld, file = None, None, raw.file
    for key, (f, start, fields) in raw.origins.items():
        hits = [path for path, n in fields.items() if n == line]
        if hits or start == line:
            rid, file = labels.get(key), f
            fld = max(hits, key=len) if hits else None
            if hits:
                break
    return Problem(file, rid, fld, e.problem, hint="quote it to keep it as text", line=line)


def _record_origins(node, p: Path, raw: RawSite) -> dict:
    """Fill ``raw.origins`` and ``raw.section_lines`` from the node tree; return record labels."""
    labels: dict = {}
    if not isinstance(node, yaml.MappingNode):
        return labels
    _field_lines(node, "", {}, raw, None)  # duplicate section keys
    for knode, vnode in node.value:
        key = knode.value
        raw.section_lines[key] = knode.start_mark.line + 1
        if isinstance(vnode, yaml.SequenceNode):
            for i, item in enumerate(vnode.value):
                fields: dict[str, int] = {}
                labels[(key, i)] = _node_id(item, key, i)
                if isinstance(item, yaml.MappingNode):
                    _field_lines(item, "", fields, raw, labels[(key, i)])
                raw.origins[(key, i)] = (str(p), item.start_mark.line + 1, fields)
        elif isinstance(vnode, yaml.MappingNode):
            fields = {}
            labels[(key, None)] = key
            _field_lines(vnode, "", fields, raw, key)
            raw.origins[(key, None)] = (str(p), knode.start_mark.line + 1, fields)
    return labels


def _record_starts(node, p: Path, raw: RawSite, text: str) -> None:
    """Fill ``raw.origins`` and ``raw.section_lines`` with the line of each record and section.

    The lines of the fields inside a record are found only when a problem asks for them
    (:class:`_FieldLines`), by composing that record's own text again; the document is parsed
    once. Only for a tree without duplicate keys (:func:`_record_origins` reports those).
    """
    if not isinstance(node, yaml.MappingNode):
        return
    source = _Source(text)
    for knode, vnode in node.value:
        key = knode.value
        raw.section_lines[key] = knode.start_mark.line + 1
        if isinstance(vnode, yaml.SequenceNode):
            for i, item in enumerate(vnode.value):
                fields = _FieldLines(source, item) if isinstance(item, yaml.MappingNode) else {}
                raw.origins[(key, i)] = (str(p), item.start_mark.line + 1, fields)
        elif isinstance(vnode, yaml.MappingNode):
            raw.origins[(key, None)] = (
                str(p),
                knode.start_mark.line + 1,
                _FieldLines(source, vnode),
            )


class _Source:
    """The text of a YAML file, split into lines on first use, and its full parse if needed."""

    def __init__(self, text: str):
        self.text = text
        self._lines: list[str] | None = None
        self._spans: dict | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines

    def full_fields(self, start: tuple[int, int]) -> dict[str, int]:
        """Field lines of the mapping that starts at ``start`` (line, column).

        From a full parse of the file: the fallback where a record's text does not read alone.
        """
        if self._spans is None:
            self._spans = {}
            loader = _FAST(self.text)
            try:
                root = loader.get_single_node()
            finally:
                loader.dispose()
            for _, vnode in root.value if isinstance(root, yaml.MappingNode) else []:
                items = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                for item in items:
                    if isinstance(item, yaml.MappingNode):
                        fields: dict[str, int] = {}
                        _field_lines(item, "", fields, RawSite(data={}, file=""), "")
                        mark = item.start_mark
                        self._spans[(mark.line, mark.column)] = fields
        return self._spans.get(start, {})


class _FieldLines(Mapping):
    """The line of each field of one record by dotted path, found on first use.

    The record's text (from its start mark to its end mark, columns kept) is composed alone
    and walked as :func:`_field_lines` walks the whole tree; lines are shifted back to the
    file's. Where that text does not compose to a mapping (a rare flow layout), the lines
    come from one full parse of the file, shared by all records.
    """

    __slots__ = ("_source", "_start", "_end", "_fields")

    def __init__(self, source: _Source, node):
        self._source = source
        self._start = (node.start_mark.line, node.start_mark.column)
        self._end = (node.end_mark.line, node.end_mark.column)
        self._fields: dict[str, int] | None = None

    def _load(self) -> dict[str, int]:
        if self._fields is None:
            self._fields = self._alone()
            if self._fields is None:
                self._fields = self._source.full_fields(self._start)
        return self._fields

    def _alone(self) -> dict[str, int] | None:
        (l0, c0), (l1, c1) = self._start, self._end
        lines = self._source.lines[l0 : l1 + 1]
        if not lines:
            return None
        lines[-1] = lines[-1][:c1] if l1 > l0 else lines[-1][: max(c1, c0)]
        lines[0] = " " * c0 + lines[0][c0:]
        loader = _FAST("\n".join(lines) + "\n")
        try:
            node = loader.get_single_node()
        except yaml.YAMLError:
            return None
        finally:
            loader.dispose()
        if not isinstance(node, yaml.MappingNode) or node.start_mark.column != c0:
            return None
        fields: dict[str, int] = {}
        _field_lines(node, "", fields, RawSite(data={}, file=""), "")
        return {path: line + l0 for path, line in fields.items()}

    def __getitem__(self, key):
        return self._load()[key]

    def __contains__(self, key):
        return key in self._load()

    def __iter__(self):
        return iter(self._load())

    def __len__(self):
        return len(self._load())


def _node_id(item, section: str, index: int) -> str:
    if isinstance(item, yaml.MappingNode):
        for k, v in item.value:
            if getattr(k, "value", None) == "id" and isinstance(v, yaml.ScalarNode) and v.value:
                return str(v.value)
    return f"{section}[{index}]"


def _field_lines(node, prefix: str, fields: dict, raw: RawSite, rid, seen=None) -> None:
    """Record the line of every field below ``node`` by dotted path; report duplicate keys.

    Paths are spelled as :mod:`riskkit.site` names fields: ``a.b`` for mapping keys,
    ``a[0]`` for list positions and integer keys. A node that aliases share is walked once.
    """
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                continue
            key = knode.value
            line = knode.start_mark.line + 1
            if knode.tag.endswith(":int"):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else key
            if key in first and key != "<<":
                raw.problems.append(
                    Problem(
                        raw.file,
                        rid,
                        path,
                        f"duplicate key {key!r} (first on line {first[key]})",
                        hint="YAML keeps only the last value; remove or rename one of them",
                        line=line,
                        column=knode.start_mark.column + 1,
                    )
                )
            first.setdefault(key, line)
            if prefix or rid is not None:
                fields.setdefault(path, line)
                _field_lines(vnode, path, fields, raw, rid, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            fields.setdefault(path, item.start_mark.line + 1)
            _field_lines(item, path, fields, raw, rid, seen)


# --------------------------------------------------------------------------------------------
# Tables (CSV and Excel): dotted headers nest, cells are YAML values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Formula:
    """A workbook formula cell (refused: its value is not what the user sees typed)."""

    coordinate: str
    text: str


def _cell(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """One table cell as a value: empty is None, text is read as YAML (plain text stays text)."""
    if value is None:
        return None
    if isinstance(value, _Formula):
        raise ValueError(
            f"formula cell {value.coordinate} ({_clip(value.text, 40)!r}) is not read;"
            " type the value itself"
        )
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text == "":
        return None
    try:
        parsed = _load_text(text, max_depth)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"cannot read cell {_clip(text, 60)!r}: {problem}") from None
    if isinstance(parsed, str) and text[0] not in "'\"":
        return text  # plain text is kept whole ("Pump #2" is not a comment)
    return parsed


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Build nested mappings from dotted keys (``cost.capex`` -> ``{cost: {capex: ...}}``)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None:
            continue
        parts = key.split(".")
        d = out
        for part in parts[:-1]:
            d = d.setdefault(part, {})
            if not isinstance(d, dict):
                raise ValueError(f"column {key!r} nests inside a value that is not a mapping")
        if isinstance(d.get(parts[-1]), dict):
            raise ValueError(f"column {key!r} clashes with columns {key + '.*'!r}")
        d[parts[-1]] = value
    return out


def _header_problems(header: list[str], file: str, section: str, line: int) -> list[Problem]:
    """Duplicate column names of a table header."""
    out, seen = [], {}
    for col, h in enumerate(header):
        if h and h in seen:
            out.append(
                Problem(
                    file,
                    section,
                    h,
                    f"column {h!r} is given twice (columns {seen[h] + 1} and {col + 1})",
                    hint="keep one column per field",
                    line=line,
                )
            )
        seen.setdefault(h, col)
    return out


def _row_values(header, row, max_depth) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    flat: dict[str, Any] = {}
    bad: list[tuple[str, str]] = []
    for col, v in enumerate(row):
        h = header[col] if col < len(header) else ""
        try:
            value = _cell(v, max_depth)
        except ValueError as e:
            bad.append((h or f"column {col + 1}", str(e)))
            continue
        if not h:
            if value is not None:
                what = "beyond the header" if col >= len(header) else "without a column header"
                bad.append((f"column {col + 1}", f"a value {what}: {_clip(str(v), 40)!r}"))
            continue
        flat[h] = value
    return flat, bad


def _rows_to_records(
    header: list[str],
    rows: list[tuple[int, Any]],
    file: str,
    section: str,
    raw: RawSite,
    start_index: int,
    max_depth: int = MAX_DEPTH,
) -> list[dict[str, Any]]:
    """Turn table rows ``(line, cells)`` into records; cell problems go to ``raw.problems``."""
    header = [str(h).strip() if h is not None else "" for h in header]
    dup = _header_problems(header, file, section, rows[0][0] - 1 if rows else 1)
    if dup:
        raw.problems.extend(dup)
        return []
    records = []
    for line, row in rows:
        flat, bad = _row_values(header, row, max_depth)
        if not bad and all(v is None for v in flat.values()):
            continue
        rid = flat.get("id")
        label = str(rid) if isinstance(rid, (str, int)) and str(rid) else f"{section} row {line}"
        if not bad:
            try:
                rec = _nest(flat)
            except ValueError as e:
                bad.append(("", str(e)))
        for col, msg in bad:
            raw.problems.append(Problem(file, label, col or None, msg, hint=_CELL_HINT, line=line))
        if bad:
            continue
        raw.origins[(section, start_index + len(records))] = (file, line, {})
        records.append(rec)
    return records


_CELL_HINT = (
    "a cell holds a number, text, a list [a, b] or a mapping {dist: pert, low: 1, mode: 2,"
    " high: 3}; quote text with ': ' in it"
)


def _read_folder(folder: Path, limits: Limits | None = None) -> RawSite:
    limits = limits or Limits()
    main = _main_file(folder)
    if not os.path.lexists(main):
        raise SiteError(
            [
                Problem(
                    str(folder),
                    None,
                    None,
                    "the folder has no site.yaml",
                    hint="a site folder holds site.yaml plus optional CSV tables",
                )
            ]
        )
    problem = _file_problem(main, folder, limits)
    if problem:
        raise SiteError([problem])
    raw = _read_yaml(main, limits)
    files = [main]
    for section in SECTIONS:
        csv_path = folder / f"{section}.csv"
        if not os.path.lexists(csv_path):
            continue
        problem = _file_problem(csv_path, folder, limits)
        if problem:
            raw.problems.append(problem)
            continue
        files.append(csv_path)
        rows = _read_csv(csv_path, raw)
        if len(rows) > limits.max_records + 1:
            raw.problems.append(_too_many_rows(str(csv_path), len(rows) - 1, limits))
            continue
        if not rows:
            continue
        existing = raw.data.get(section) or [] if isinstance(raw.data, dict) else None
        if not isinstance(existing, list):
            continue  # build_site reports the section (or the file) itself
        header = rows[0][1]
        recs = _rows_to_records(
            header, rows[1:], str(csv_path), section, raw, len(existing), limits.max_depth
        )
        raw.data[section] = list(existing) + recs
    raw.source_hash = file_hash(files)
    raw.file = str(main)
    return raw


def _too_many_rows(file: str, n: int, limits: Limits) -> Problem:
    return Problem(
        file,
        None,
        None,
        f"{n} rows, more than the limit of {limits.max_records} records",
        hint="split the site, or raise the limit (RISKKIT_MAX_RECORDS)",
    )


def _read_csv(path: Path, raw: RawSite) -> list[tuple[int, list[str]]]:
    """The rows ``(line, cells)`` of a CSV file, strictly; problems go to ``raw.problems``.

    Refused: undecodable text, an unbalanced quote (a value that runs to the end of the file
    or swallows whole lines), and a header that looks separated by ``;`` or tabs.
    """
    try:
        text = _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(b"\n") + 1
        raw.problems.append(_csv_problem(path, line, f"not UTF-8 text: {e.reason}"))
        return []
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(_io.StringIO(text, newline=""), strict=True)
    previous = 0
    try:
        for row in reader:
            problem = _quote_problem(path, previous + 1, reader.line_num, row)
            if problem:
                raw.problems.append(problem)
                return []
            rows.append((previous + 1, row))
            previous = reader.line_num
    except csv.Error as e:
        msg = f"cannot read the CSV file: {e} (an unbalanced quote?)"
        raw.problems.append(_csv_problem(path, previous + 1, msg))
        return []
    if rows and len(rows[0][1]) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in rows[0][1][0]:
                raw.problems.append(
                    _csv_problem(
                        path,
                        1,
                        f"the header {_clip(rows[0][1][0], 60)!r} looks"
                        f" separated by {name}; riskkit reads comma-separated files",
                    )
                )
                return []
    return rows


def _quote_problem(path: Path, first: int, last: int, row: list[str]) -> Problem | None:
    """A quoted value that runs over several lines holding commas: an unbalanced quote."""
    if last > first and any("\n" in c and "," in c for c in row):
        return _csv_problem(
            path,
            first,
            f"a quoted value runs from line {first} to line {last} across commas"
            " (an unbalanced quote?)",
        )
    return None


def _csv_problem(path: Path, line: int, msg: str) -> Problem:
    return Problem(
        str(path), None, None, msg, hint="save it as UTF-8 CSV, separated by commas", line=line
    )


def _read_xlsx(p: Path, limits: Limits | None = None) -> RawSite:
    import openpyxl

    limits = limits or Limits()
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=False)
    except Exception as e:  # openpyxl raises several kinds for a damaged file
        raise SiteError([Problem(str(p), None, None, f"cannot open workbook: {e}")]) from None
    raw = RawSite(data={}, file=str(p))
    try:
        seen: dict[str, str] = {}
        for ws in wb.worksheets:
            key = str(ws.title).strip().lower()
            if key in seen:
                raw.problems.append(
                    Problem(
                        f"{p}[{ws.title}]",
                        None,
                        None,
                        f"sheet {ws.title!r} repeats sheet {seen[key]!r} (names differ only in"
                        " case or spaces)",
                        hint="keep one sheet per section",
                    )
                )
                continue
            seen[key] = str(ws.title)
            _read_sheet(ws, p, raw, limits)
    finally:
        wb.close()
    raw.source_hash = file_hash([p])
    return raw


def _sheet_rows(ws, most: int) -> list[tuple[int, tuple]]:
    """Up to ``most`` rows of a sheet, read to their real extent (not the declared one)."""
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()
    out = []
    for n, row in enumerate(ws.iter_rows()):
        values = tuple(
            _Formula(c.coordinate, str(c.value))
            if getattr(c, "data_type", None) == "f"
            else c.value
            for c in row
        )
        out.append((n + 1, values))
        if len(out) >= most:
            break
    return out


def _read_sheet(ws, p: Path, raw: RawSite, limits: Limits) -> None:
    name = str(ws.title).strip()
    where = f"{p}[{name}]"
    if name not in SECTIONS and name not in _SINGLE_SHEETS:
        raw.problems.append(
            Problem(
                where,
                None,
                None,
                f"unknown sheet {name!r}",
                hint="sheets are " + ", ".join(SECTIONS + _SINGLE_SHEETS),
            )
        )
        return
    rows = _sheet_rows(ws, limits.max_records + 2)
    if len(rows) > limits.max_records + 1:
        raw.problems.append(_too_many_rows(where, len(rows) - 1, limits))
        return
    if name in SECTIONS:
        raw.origins[(name, None)] = (where, 1, {})
        if not rows:
            raw.data[name] = []
            return
        raw.data[name] = _rows_to_records(
            list(rows[0][1]), rows[1:], where, name, raw, 0, limits.max_depth
        )
    else:
        _read_single_sheet(rows, name, where, raw, limits)


def _read_single_sheet(rows, name: str, where: str, raw: RawSite, limits: Limits) -> None:
    """A two-column sheet: dotted field, value (a header row "field, value" is optional)."""
    if rows and rows[0][1] and rows[0][1][0] == "field":
        rows = rows[1:]
    flat: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for line, row in rows:
        if not row or row[0] is None or str(row[0]).strip() == "":
            continue
        key = str(row[0]).strip()
        if key in lines:
            raw.problems.append(
                Problem(
                    where,
                    name,
                    key,
                    f"field {key!r} is given twice (first on row {lines[key]})",
                    hint="keep one row per field",
                    line=line,
                )
            )
            continue
        lines[key] = line
        try:
            flat[key] = _cell(row[1] if len(row) > 1 else None, limits.max_depth)
        except ValueError as e:
            raw.problems.append(Problem(where, name, key, str(e), hint=_CELL_HINT, line=line))
    try:
        raw.data[name] = _nest(flat)
    except ValueError as e:
        raw.problems.append(Problem(where, name, None, str(e)))
        return
    raw.origins[(name, None)] = (where, 1, lines)


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def site_to_dict(site: Site) -> dict[str, Any]:
    """The site as plain data in file form (defaults left out, constants as bare numbers)."""
    data = site.model_dump(
        mode="json",
        exclude_none=True,
        exclude_defaults=True,
        by_alias=True,
        exclude={"source", "source_hash"},
    )
    return _simplify(data)


def _simplify(x: Any) -> Any:
    if isinstance(x, dict):
        # a constant spec (its default dist tag may have been left out) is a bare number
        if "value" in x and set(x) <= {"dist", "value"} and x.get("dist", "constant") == "constant":
            return x["value"]
        return {k: _simplify(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_simplify(v) for v in x]
    return x


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and "dist" not in v and not _is_table(v):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _is_table(v: dict) -> bool:
    # severity tables {1: 1e-2, ...} stay one cell
    return all(isinstance(k, int) or (isinstance(k, str) and k.isdigit()) for k in v)


def _to_cell(v: Any) -> Any:
    """A value as a cell that :func:`_cell` reads back to the same value."""
    if isinstance(v, (dict, list, tuple)):
        return yaml.safe_dump(v, default_flow_style=True, width=10_000).strip()
    if isinstance(v, str):
        if _ISO_DATE.match(v):
            return _dt.date.fromisoformat(v)  # a date cell
        try:
            same = _cell(v) == v
        except ValueError:
            same = False
        if not same:  # text that would read as a number, list, bool... or loses spaces
            return yaml.safe_dump(v, default_style='"', width=10_000).strip()
    return v


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_xlsx(site: Site, out: str | os.PathLike) -> Path:
    """Write ``site`` as an Excel workbook, one sheet per table, atomically.

    Parameters
    ----------
    site : Site
    out : path-like
        Target ``.xlsx``; it must not exist yet (nothing the user has is overwritten).

    Returns
    -------
    Path
        The written file; :func:`load_site` reads it back to an equal site.
    """
    import openpyxl

    out = Path(out)
    if out.suffix.lower() != ".xlsx":
        raise ValueError(f"the workbook name must end in .xlsx, {out.name!r} was given")
    if out.exists():
        raise FileExistsError(f"{out} exists; riskkit does not overwrite files, choose a new name")
    data = site_to_dict(site)
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name in _SINGLE_SHEETS:
        if name not in data:
            continue
        ws = wb.create_sheet(name)
        ws.append(["field", "value"])
        for k, v in _flatten(data[name]).items():
            ws.append([k, _to_cell(v)])
    for section in SECTIONS:
        rows = [_flatten(r) for r in data.get(section, [])]
        ws = wb.create_sheet(section)
        header: list[str] = []
        for r in rows:
            for k in r:
                if k not in header:
                    header.append(k)
        if "id" in header:
            header.remove("id")
            header.insert(0, "id")
        ws.append(header)
        for r in rows:
            ws.append([_to_cell(r.get(h)) for h in header])
    defuse_workbook(wb)  # text that begins with "=" stays text, never a formula
    buf = _io.BytesIO()
    wb.save(buf)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".xlsx")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0600; a saved file follows the umask
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
