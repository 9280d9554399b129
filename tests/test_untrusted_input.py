"""Hostile and careless site files (issue 17, the input side).

Every case must end in a :class:`riskkit.SiteError` whose problem names the file (and the
record and field where there is one), quickly: never a traceback, a hang or a wrong site.
Each test here fails on the reader before the hardening (it raised, hung, or accepted).
"""

from __future__ import annotations

import os
import shutil
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import REPO_ROOT

from riskkit import SiteError, load_site
from riskkit.io import export_xlsx, read_raw, site_files

TINY = REPO_ROOT / "tests" / "data" / "tiny" / "site.yaml"
TIME_LIMIT = 2.0
"""Longest any hostile case may take [s] (a billion-laughs file is refused in well under 1 s)."""


def refused(path, **limits):
    """The problems of loading ``path``, checked to come quickly and to name the file."""
    start = time.perf_counter()
    with pytest.raises(SiteError) as info:
        load_site(path, **limits)
    took = time.perf_counter() - start
    assert took < TIME_LIMIT, f"took {took:.2f} s"
    problems = info.value.problems
    assert problems and all(p.file for p in problems)
    return problems


def tiny_text() -> str:
    return TINY.read_text(encoding="utf-8")


def with_line(tmp_path, old: str, new: str, name: str = "site.yaml") -> Path:
    text = tiny_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def tiny_folder(tmp_path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(TINY, folder / "site.yaml")
    return folder


# --------------------------------------------------------------------------------------------
# bounded YAML
# --------------------------------------------------------------------------------------------

LAUGHS = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
)


def test_billion_laughs_is_refused_within_a_second(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(tiny_text() + "\nextra:\n  " + LAUGHS.replace("\n", "\n  ") + "\n")
    start = time.perf_counter()
    (p,) = refused(path)
    assert time.perf_counter() - start < 1.0
    assert "more than the limit of 3000000 values" in p.message and p.line is not None


def test_a_small_alias_is_read_as_what_it_stands_for(tmp_path):
    # PyYAML's dumper writes anchors for shared objects: such files stay readable
    path = with_line(tmp_path, "name: Tiny test site", "name: &n Tiny test site\n  description: *n")
    assert load_site(path).site.description == "Tiny test site"


def test_an_alias_that_deepens_past_the_limit_is_refused(tmp_path):
    deep = "[" * 12 + "]" * 12
    text = f"id: &d {deep}\n  description: [[[[[[[[[[*d]]]]]]]]]]"
    (p,) = refused(with_line(tmp_path, "id: tiny", text))
    assert "nesting deeper than" in p.message and p.line == 6


@pytest.mark.parametrize("depth", [30, 5000])
def test_deep_nesting_in_yaml_is_a_problem(tmp_path, depth):
    path = with_line(tmp_path, "id: tiny", "id: " + "[" * depth + "]" * depth)
    (p,) = refused(path)
    assert "nesting deeper than" in p.message and p.line == 5


def test_the_depth_limit_is_adjustable(tmp_path):
    path = with_line(tmp_path, "id: tiny", "id: " + "[" * 30 + "]" * 30)
    problems = refused(path, max_depth=100)  # read now; refused only as a bad id
    assert not any("nesting" in p.message for p in problems)


def test_deep_nesting_in_a_csv_cell_is_a_problem(tmp_path):
    folder = tiny_folder(tmp_path)
    (folder / "zones.csv").write_text("id,kind,name\nZ-X,control," + "[" * 5000 + "\n")
    problems = refused(folder)
    (p,) = [p for p in problems if p.file.endswith("zones.csv")]
    assert (p.record, p.field, p.line) == ("Z-X", "name", 2) and "nesting" in p.message


def test_an_alias_bomb_in_a_csv_cell_is_a_problem(tmp_path):
    folder = tiny_folder(tmp_path)
    cell = '"{' + LAUGHS.replace("\n", ", ") + '}"'
    (folder / "zones.csv").write_text(f"id,kind,name\nZ-X,control,{cell}\n")
    problems = refused(folder)
    assert any(
        p.file.endswith("zones.csv") and "limit of 3000 values" in p.message for p in problems
    )


def test_file_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "site.yaml"
    path.write_text(tiny_text() + "#" * 2000 + "\n")
    (p,) = refused(path, max_bytes=1000)
    assert "more than the limit of 1000" in p.message
    monkeypatch.setenv("RISKKIT_MAX_FILE_BYTES", "1000")
    (p,) = refused(path)
    assert "limit of 1000" in p.message


def test_record_count_limit(tmp_path):
    text = tiny_text().replace(
        "zones:\n",
        "zones:\n" + "".join(f"  - {{id: Z-{i}, kind: control}}\n" for i in range(50)),
        1,
    )
    path = tmp_path / "site.yaml"
    path.write_text(text)
    (p,) = refused(path, max_records=40)
    assert "limit of 40 records" in p.message and p.line is not None


def test_a_50_mb_site_is_refused_quickly(tmp_path):
    path = tmp_path / "site.yaml"
    with path.open("w") as fh:
        fh.write(tiny_text())
        fh.write("#" * 50_000_000)
    (p,) = refused(path)
    assert "bytes, more than the limit" in p.message


# --------------------------------------------------------------------------------------------
# regular files only, and the folder boundary
# --------------------------------------------------------------------------------------------


def test_a_fifo_section_file_is_a_problem_not_a_hang(tmp_path):
    folder = tiny_folder(tmp_path)
    os.mkfifo(folder / "zones.csv")
    problems = refused(folder)
    assert any(p.file.endswith("zones.csv") and "not a regular file" in p.message for p in problems)
    assert folder / "zones.csv" not in site_files(folder)


def test_a_fifo_site_file_is_a_problem(tmp_path):
    os.mkfifo(tmp_path / "site.yaml")
    (p,) = refused(tmp_path / "site.yaml")
    assert "not a regular file" in p.message


@pytest.mark.parametrize("name", ["site.yaml", "zones.csv"])
def test_a_directory_where_a_file_is_expected(tmp_path, name):
    folder = tiny_folder(tmp_path)
    (folder / name).unlink(missing_ok=True)
    (folder / name).mkdir()
    problems = refused(folder)
    assert any(p.file.endswith(name) and "a folder where a file" in p.message for p in problems)


def test_an_unreadable_file_is_a_problem(tmp_path, monkeypatch):
    path = tmp_path / "site.yaml"
    shutil.copy(TINY, path)
    path.chmod(0)
    if os.geteuid() == 0:  # root reads every file: stand in for the permission check
        monkeypatch.setattr("riskkit.io.os.access", lambda *a: False)
    (p,) = refused(path)
    assert "permission denied" in p.message


def test_a_section_link_out_of_the_folder_is_refused(tmp_path):
    folder = tiny_folder(tmp_path)
    secret = tmp_path / "secret.csv"
    secret.write_text("id,kind\nroot:x:0:0,control\n")
    (folder / "threat_actors.csv").symlink_to(secret)
    problems = refused(folder)
    assert any("leads out of the site folder" in p.message for p in problems)
    assert not any("root:x" in str(p) for p in problems)
    assert folder / "threat_actors.csv" not in site_files(folder)
    assert folder / "threat_actors.csv" in site_files(folder, allow_outside_links=True)
    raw = read_raw(folder, allow_outside_links=True)
    assert any(r.get("id") == "root:x:0:0" for r in raw.data["threat_actors"])


def test_a_link_inside_the_folder_is_read(tmp_path):
    folder = tiny_folder(tmp_path)
    (folder / "zones.real").write_text("id,kind\nZ-LINK,control\n")
    (folder / "zones.csv").symlink_to(folder / "zones.real")
    assert any(z.id == "Z-LINK" for z in load_site(folder).zones)


# --------------------------------------------------------------------------------------------
# dates and huge numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2026-13-45", "2026-02-30"])
def test_an_impossible_date_is_a_problem(tmp_path, value):
    path = with_line(tmp_path, "assessed: 2026-11-01", f"assessed: {value}")
    (p,) = refused(path)
    assert (p.record, p.field, p.line) == ("site", "assessed", 7) and value in p.message


def test_a_date_like_name_is_a_problem_naming_the_record(tmp_path):
    path = with_line(tmp_path, "name: Operations", "name: 2026-02-30")
    (p,) = refused(path)
    assert (p.record, p.field) == ("Z-OPS", "name") and "2026-02-30" in p.message


def test_a_5000_digit_integer_is_a_problem(tmp_path):
    path = with_line(tmp_path, "purdue_level: 3", "purdue_level: " + "9" * 5000)
    (p,) = refused(path)
    assert (p.record, p.field) == ("Z-OPS", "purdue_level") and "too large" in p.message
    assert len(p.message) < 300


# --------------------------------------------------------------------------------------------
# strict CSV
# --------------------------------------------------------------------------------------------


def csv_problem(tmp_path, text):
    folder = tiny_folder(tmp_path)
    (folder / "zones.csv").write_text(text)
    return [p for p in refused(folder) if p.file.endswith("zones.csv")]


def test_csv_unbalanced_quote(tmp_path):
    (p,) = csv_problem(tmp_path, 'id,kind,name\nZ-X,control,"Pump\nZ-Y,control,Valve\n')
    assert "unbalanced quote" in p.message and p.line == 2


def test_csv_unbalanced_quote_closed_later(tmp_path):
    text = 'id,kind,name\nZ-X,control,"Pump\nZ-Y,control,Valve\nZ-Z,control,"x"\n'
    (p,) = csv_problem(tmp_path, text)
    assert "unbalanced quote" in p.message and p.line == 2


def test_csv_row_longer_than_the_header(tmp_path):
    (p,) = csv_problem(tmp_path, "id,kind\nZ-X,control,extra\n")
    assert (p.record, p.field, p.line) == ("Z-X", "column 3", 2)
    assert "beyond the header" in p.message and "extra" in p.message


def test_csv_duplicate_column(tmp_path):
    (p,) = csv_problem(tmp_path, "id,kind,kind\nZ-X,control,safety\n")
    assert p.field == "kind" and "given twice" in p.message and p.line == 1


@pytest.mark.parametrize("sep,name", [(";", "semicolons"), ("\t", "tabs")])
def test_csv_wrong_delimiter(tmp_path, sep, name):
    (p,) = csv_problem(tmp_path, f"id{sep}kind\nZ-X{sep}control\n")
    assert name in p.message and p.line == 1


# --------------------------------------------------------------------------------------------
# workbooks
# --------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_book(tmp_path):
    return export_xlsx(load_site(TINY), tmp_path / "t.xlsx")


def set_cell(path, sheet, column, row, value):
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    header = [c.value for c in ws[1]]
    ws.cell(row=row, column=header.index(column) + 1, value=value)
    wb.save(path)


def test_a_formula_cell_is_refused_naming_sheet_cell_record_and_field(tiny_book):
    set_cell(tiny_book, "scenarios", "vulnerability", 2, "=0.3*2")
    (p,) = [p for p in refused(tiny_book) if "formula" in p.message]
    assert p.file == f"{tiny_book}[scenarios]" and p.field == "vulnerability"
    assert p.record == load_site(TINY).scenarios[0].id and "formula cell" in p.message
    assert "=0.3*2" in p.message


def test_a_formula_in_a_key_value_sheet_is_refused(tiny_book):
    wb = openpyxl.load_workbook(tiny_book)
    ws = wb["model"]
    row = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "trials")
    ws.cell(row, 2, value="=1000*5")
    wb.save(tiny_book)
    problems = refused(tiny_book)
    assert any(p.field == "trials" and "formula cell B" in p.message for p in problems)


def test_duplicate_field_and_column_in_sheets(tiny_book):
    wb = openpyxl.load_workbook(tiny_book)
    wb["site"].append(["name", "Other name"])
    ws = wb["zones"]
    ws.cell(row=1, column=ws.max_column + 1, value="kind")
    wb.save(tiny_book)
    problems = refused(tiny_book)
    assert any(p.field == "name" and "given twice" in p.message for p in problems)
    assert any(p.field == "kind" and "given twice" in p.message for p in problems)


@pytest.mark.parametrize("other", ["zones ", " Zones"])
def test_sheets_differing_in_case_or_spaces(tiny_book, other):
    wb = openpyxl.load_workbook(tiny_book)
    wb.create_sheet(other)
    wb.save(tiny_book)
    (p,) = refused(tiny_book)
    assert "differ only in case or spaces" in p.message


def test_a_huge_declared_dimension_is_ignored(tiny_book, tmp_path):
    out = tmp_path / "huge.xlsx"
    with zipfile.ZipFile(tiny_book) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                text = data.decode()
                start = text.index("<dimension ref=")
                end = text.index("/>", start) + 2
                data = (text[:start] + '<dimension ref="A1:XFD1048576"/>' + text[end:]).encode()
            zout.writestr(item, data)
    start = time.perf_counter()
    site = load_site(out)
    assert time.perf_counter() - start < TIME_LIMIT
    assert len(site.zones) == len(load_site(TINY).zones)


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x","y")', "+1 zone", "-dash", "@at"])
def test_export_writes_no_formula_and_names_survive(tmp_path, name):
    text = tiny_text().replace("name: Operations", f"name: '{name}'", 1)
    (tmp_path / "site.yaml").write_text(text)
    site = load_site(tmp_path / "site.yaml")
    out = export_xlsx(site, tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(out)
    assert not [c for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert load_site(out).zones[0].name == name


def test_export_respects_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = export_xlsx(load_site(TINY), tmp_path / "t.xlsx")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_csv_and_sheet_row_limits(tmp_path):
    folder = tiny_folder(tmp_path)
    (folder / "zones.csv").write_text("id,kind\n" + "".join(f"Z-{i},control\n" for i in range(60)))
    problems = refused(folder, max_records=50)
    assert any(
        p.file.endswith("zones.csv") and "limit of 50 records" in p.message for p in problems
    )
    book = export_xlsx(load_site(TINY), tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(book)
    for i in range(60):
        wb["zones"].append([f"Z-{i}", "control"])
    wb.save(book)
    problems = refused(book, max_records=50)
    assert any(p.file.endswith("[zones]") and "limit of 50 records" in p.message for p in problems)
