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
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .site import SECTIONS, Problem, RawSite, Site, SiteError, build_site

__all__ = ["load_site", "read_raw", "export_xlsx", "site_to_dict", "file_hash"]

_SINGLE_SHEETS = ("site", "tolerance", "risk_matrix", "model")


def file_hash(paths: list[Path]) -> str:
    """SHA-256 over the bytes of ``paths`` (sorted by name), as hex."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


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
    text = p.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = " ".join(x for x in (e.context, e.problem) if x) or str(e)
        raise SiteError(
            [
                Problem(
                    str(p),
                    None,
                    None,
                    f"YAML syntax error: {msg}",
                    hint="check indentation, colons and brackets near this line",
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
        for knode, vnode in node.value:
            key = knode.value
            raw.section_lines[key] = knode.start_mark.line + 1
            if isinstance(vnode, yaml.SequenceNode):
                for i, item in enumerate(vnode.value):
                    fields = {}
                    if isinstance(item, yaml.MappingNode):
                        for fk, _ in item.value:
                            fields[fk.value] = fk.start_mark.line + 1
                    raw.origins[(key, i)] = (str(p), item.start_mark.line + 1, fields)
    return raw


# --------------------------------------------------------------------------------------------
# Tables (CSV and Excel): dotted headers nest, cells are YAML values
# --------------------------------------------------------------------------------------------


def _cell(value: Any, where: str) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (_dt.datetime,)):
        return value.date()
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text == "":
        return None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: cannot read cell {text!r}: {e}") from None


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
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
        d[parts[-1]] = value
    return out


def _rows_to_records(
    header: list[str],
    rows,
    file: str,
    section: str,
    raw: RawSite,
    start_index: int,
    problems: list[Problem],
    line_offset: int = 2,
):
    records = []
    for n, row in enumerate(rows):
        line = n + line_offset
        flat = {}
        try:
            for h, v in zip(header, row):
                if h:
                    flat[h.strip()] = _cell(v, f"column {h!r}")
            if all(v is None for v in flat.values()):
                continue
            rec = _nest(flat)
        except ValueError as e:
            problems.append(Problem(file, f"{section} row {line}", None, str(e), line=line))
            continue
        raw.origins[(section, start_index + len(records))] = (file, line, {})
        records.append(rec)
    return records


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
    problems: list[Problem] = []
    for section in SECTIONS:
        csv_path = folder / f"{section}.csv"
        if not csv_path.exists():
            continue
        files.append(csv_path)
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:
            reader = list(csv.reader(fh))
        if not reader:
            continue
        existing = raw.data.get(section) or []
        recs = _rows_to_records(
            reader[0], reader[1:], str(csv_path), section, raw, len(existing), problems
        )
        raw.data[section] = list(existing) + recs
    if problems:
        raise SiteError(problems)
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
    problems: list[Problem] = []
    for ws in wb.worksheets:
        name = ws.title.strip()
        rows = list(ws.iter_rows(values_only=True))
        where = f"{p}[{name}]"
        if name in SECTIONS:
            if not rows:
                raw.data[name] = []
                continue
            header = [str(h) if h is not None else "" for h in rows[0]]
            raw.data[name] = _rows_to_records(header, rows[1:], where, name, raw, 0, problems)
        elif name in _SINGLE_SHEETS:
            # two columns: dotted key, value
            flat = {}
            for k, v in rows[1:] if rows and rows[0] and rows[0][0] == "field" else rows:
                if k is None:
                    continue
                try:
                    flat[str(k)] = _cell(v, f"{where} {k}")
                except ValueError as e:
                    problems.append(Problem(where, name, str(k), str(e)))
            raw.data[name] = _nest(flat)
        else:
            problems.append(
                Problem(
                    where,
                    None,
                    None,
                    f"unknown sheet {name!r}",
                    hint="sheets are " + ", ".join(SECTIONS + _SINGLE_SHEETS),
                )
            )
    wb.close()
    if problems:
        raise SiteError(problems)
    raw.source_hash = file_hash([p])
    return raw


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
        if x.get("dist") == "constant" and set(x) <= {"dist", "value"}:
            return x.get("value", 0.0)
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
    if isinstance(v, (dict, list, tuple)):
        return yaml.safe_dump(v, default_flow_style=True, width=10_000).strip()
    return v


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
