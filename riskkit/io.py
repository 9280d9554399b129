"""Reading and writing site files: YAML, a folder with CSV tables, and Excel workbooks.

This is the only module that reads site files. It turns each form into the same raw data with
the origin (file and line) of every record, and hands it to :func:`riskkit.site.build_site`
for validation, so all three forms obey the same rules and give the same messages.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io as _io
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .site import SECTIONS, Problem, RawSite, Site, SiteError, build_site

__all__ = ["load_site", "read_raw", "export_xlsx", "site_to_dict", "file_hash", "site_files"]

_SINGLE_SHEETS = ("site", "tolerance", "risk_matrix", "model")


def file_hash(paths: list[Path]) -> str:
    """SHA-256 over the bytes of ``paths`` (sorted by name), as hex."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def site_files(path: str | os.PathLike) -> list[Path]:
    """The files that make up a site, as the loader reads them.

    A YAML file or a workbook is one file; a folder is its ``site.yaml`` (or ``site.yml``)
    plus the CSV table of each section present (``zones.csv``, ...). Nothing else in the
    folder belongs to the site.

    Parameters
    ----------
    path : str or path-like
        As given to :func:`load_site`.

    Returns
    -------
    list of Path
        Existing files, the main file first.
    """
    p = Path(path)
    if not p.is_dir():
        return [p]
    main = p / "site.yaml"
    if not main.exists() and (p / "site.yml").exists():
        main = p / "site.yml"
    out = [main] if main.exists() else []
    out += [p / f"{s}.csv" for s in SECTIONS if (p / f"{s}.csv").exists()]
    return out


def load_site(path: str | os.PathLike) -> Site:
    """Load and validate a site from a YAML file, a folder, or an ``.xlsx`` workbook.

    Parameters
    ----------
    path : str or path-like
        ``site.yaml``, a folder holding ``site.yaml`` and optional CSV tables, or a workbook.

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
    return build_site(read_raw(path))


def read_raw(path: str | os.PathLike) -> RawSite:
    """Parse a site in any supported form into :class:`~riskkit.site.RawSite` (no validation)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"site not found: {p}")
    if p.is_dir():
        return _read_folder(p)
    if p.suffix.lower() in (".yaml", ".yml"):
        raw = _read_yaml(p)
        raw.source_hash = file_hash([p])
        return raw
    if p.suffix.lower() == ".xlsx":
        return _read_xlsx(p)
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


# --------------------------------------------------------------------------------------------
# YAML with line numbers
# --------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe loader; origins are read from the composed node tree, not from the data."""


def _read_yaml(p: Path) -> RawSite:
    try:
        text = p.read_text(encoding="utf-8")
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
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark, ctx = e.problem_mark, e.context_mark
        msg = e.problem or str(e)
        if ctx is not None and e.context:
            msg += f"; {e.context} at line {ctx.line + 1}, column {ctx.column + 1}"
        if ctx is not None and (mark is None or "end of stream" in msg):
            mark = ctx  # an unclosed quote or bracket: point at where it was opened
        raise SiteError(
            [
                Problem(
                    str(p),
                    None,
                    None,
                    f"YAML syntax error: {msg}",
                    hint="check indentation, colons and brackets near this line; quote text"
                    " that holds ': ' or ' #'",
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                )
            ]
        ) from None
    except yaml.YAMLError as e:
        raise SiteError([Problem(str(p), None, None, f"YAML error: {e}")]) from None
    if data is None:
        data = {}
    raw = RawSite(data=data, file=str(p))
    if isinstance(node, yaml.MappingNode):
        _field_lines(node, "", {}, raw, None, set())  # duplicate section keys
        for knode, vnode in node.value:
            key = knode.value
            raw.section_lines[key] = knode.start_mark.line + 1
            if isinstance(vnode, yaml.SequenceNode):
                for i, item in enumerate(vnode.value):
                    fields: dict[str, int] = {}
                    if isinstance(item, yaml.MappingNode):
                        _field_lines(item, "", fields, raw, _node_id(item, key, i), set())
                    raw.origins[(key, i)] = (str(p), item.start_mark.line + 1, fields)
            elif isinstance(vnode, yaml.MappingNode):
                fields = {}
                _field_lines(vnode, "", fields, raw, key, set())
                raw.origins[(key, None)] = (str(p), knode.start_mark.line + 1, fields)
    return raw


def _node_id(item: yaml.MappingNode, section: str, index: int) -> str:
    for k, v in item.value:
        if getattr(k, "value", None) == "id" and isinstance(v, yaml.ScalarNode) and v.value:
            return str(v.value)
    return f"{section}[{index}]"


def _field_lines(node, prefix: str, fields: dict, raw: RawSite, rid, seen_nodes: set) -> None:
    """Record the line of every field below ``node`` by dotted path; report duplicate keys.

    Paths are spelled as :mod:`riskkit.site` names fields: ``a.b`` for mapping keys,
    ``a[0]`` for list positions and integer keys.
    """
    if id(node) in seen_nodes:  # an alias that refers back: walk each node once
        return
    seen_nodes.add(id(node))
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
                _field_lines(vnode, path, fields, raw, rid, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            fields.setdefault(path, item.start_mark.line + 1)
            _field_lines(item, path, fields, raw, rid, seen_nodes)


# --------------------------------------------------------------------------------------------
# Tables (CSV and Excel): dotted headers nest, cells are YAML values
# --------------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """One table cell as a value: empty is None, text is read as YAML (plain text stays text)."""
    if value is None:
        return None
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
        parsed = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"cannot read cell {text!r}: {problem}") from None
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


def _rows_to_records(
    header: list[str],
    rows: list[tuple[int, Any]],
    file: str,
    section: str,
    raw: RawSite,
    start_index: int,
) -> list[dict[str, Any]]:
    """Turn table rows ``(line, cells)`` into records; cell problems go to ``raw.problems``."""
    header = [str(h).strip() if h is not None else "" for h in header]
    records = []
    for line, row in rows:
        flat: dict[str, Any] = {}
        bad: list[tuple[str, str]] = []
        for col, (h, v) in enumerate(zip(header, row)):
            try:
                value = _cell(v)
            except ValueError as e:
                bad.append((h or f"column {col + 1}", str(e)))
                continue
            if not h:
                if value is not None:
                    bad.append((f"column {col + 1}", f"a value without a column header: {v!r}"))
                continue
            flat[h] = value
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


def _read_folder(folder: Path) -> RawSite:
    main = folder / "site.yaml"
    if not main.exists():
        alt = folder / "site.yml"
        main = alt if alt.exists() else main
    if not main.exists():
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
    raw = _read_yaml(main)
    files = [main]
    for section in SECTIONS:
        csv_path = folder / f"{section}.csv"
        if not csv_path.exists():
            continue
        files.append(csv_path)
        rows: list[tuple[int, list[str]]] = []
        try:
            with csv_path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh)
                previous = 0
                for row in reader:
                    rows.append((previous + 1, row))
                    previous = reader.line_num
        except (UnicodeDecodeError, csv.Error) as e:
            raw.problems.append(
                Problem(
                    str(csv_path),
                    None,
                    None,
                    f"cannot read the CSV file: {e}",
                    hint="save it as UTF-8 CSV",
                    line=previous + 1,
                )
            )
            continue
        if not rows:
            continue
        existing = raw.data.get(section) or []
        if not isinstance(existing, list):
            continue  # build_site reports the section itself
        header = rows[0][1]
        recs = _rows_to_records(header, rows[1:], str(csv_path), section, raw, len(existing))
        raw.data[section] = list(existing) + recs
    raw.source_hash = file_hash(files)
    raw.file = str(main)
    return raw


def _read_xlsx(p: Path) -> RawSite:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises several kinds for a damaged file
        raise SiteError([Problem(str(p), None, None, f"cannot open workbook: {e}")]) from None
    raw = RawSite(data={}, file=str(p))
    try:
        for ws in wb.worksheets:
            _read_sheet(ws, p, raw)
    finally:
        wb.close()
    raw.source_hash = file_hash([p])
    return raw


def _read_sheet(ws, p: Path, raw: RawSite) -> None:
    name = str(ws.title).strip()
    rows = [(n + 1, row) for n, row in enumerate(ws.iter_rows(values_only=True))]
    where = f"{p}[{name}]"
    if name in SECTIONS:
        raw.origins[(name, None)] = (where, 1, {})
        if not rows:
            raw.data[name] = []
            return
        raw.data[name] = _rows_to_records(list(rows[0][1]), rows[1:], where, name, raw, 0)
    elif name in _SINGLE_SHEETS:
        # two columns: dotted field, value (a header row "field, value" is optional)
        if rows and rows[0][1] and rows[0][1][0] == "field":
            rows = rows[1:]
        flat: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for line, row in rows:
            if not row or row[0] is None or str(row[0]).strip() == "":
                continue
            key = str(row[0]).strip()
            try:
                flat[key] = _cell(row[1] if len(row) > 1 else None)
            except ValueError as e:
                raw.problems.append(Problem(where, name, key, str(e), hint=_CELL_HINT, line=line))
                continue
            lines[key] = line
        try:
            raw.data[name] = _nest(flat)
        except ValueError as e:
            raw.problems.append(Problem(where, name, None, str(e)))
            return
        raw.origins[(name, None)] = (where, 1, lines)
    else:
        raw.problems.append(
            Problem(
                where,
                None,
                None,
                f"unknown sheet {name!r}",
                hint="sheets are " + ", ".join(SECTIONS + _SINGLE_SHEETS),
            )
        )


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
    buf = _io.BytesIO()
    wb.save(buf)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".xlsx")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
