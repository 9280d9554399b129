"""Tests of riskkit.io: YAML with line numbers, site folders with CSV tables, Excel in and out.

Files are written to ``tmp_path`` with known content, so every expected line number below can
be read off the text in the test.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import shutil
import tempfile
import textwrap
from pathlib import Path

import openpyxl
import pytest
import yaml
from conftest import BASE_SITE, REPO_ROOT, build
from hypothesis import example, given, settings
from hypothesis import strategies as st

from riskkit import SiteError, load_site
from riskkit.io import export_xlsx, file_hash, read_raw, site_to_dict

EXAMPLES = {
    "tiny": REPO_ROOT / "tests" / "data" / "tiny" / "site.yaml",
    "water": REPO_ROOT / "data" / "sites" / "example-water",
    "refinery": REPO_ROOT / "data" / "sites" / "example-refinery",
}

SITE_YAML = textwrap.dedent(
    """\
    site: {name: Line test}
    zones:
      - id: Z-A
        kind: operations
        sl_a: [1, 1, 1, 1, 1, 1, 1]
      - id: Z-B
        kind: control
    conduits:
      - {id: C-AB, zones: [Z-A, Z-B]}
    threat_actors:
      - id: A-1
        capability: 2
        attempt_rate: {dist: lognormal, low: 0.5, high: 5}
    scenarios:
      - id: S-1
        zone: Z-B
        actor: A-1
        frs: [FR1]
        rate_share: 0.5
        consequences:
          production:
            hours:
              dist: pert
              low: 4
              mode: 24
              high: 96
            cost_per_hour: 1000
    tolerance:
      safety: {1: 1.0e-2, 2: 1.0e-3}
      financial:
        per_zone_ale: 100000
    """
)
"""A valid site; the tests below break single lines of it (line numbers are 1-based)."""


def write(tmp_path, text: str, name: str = "site.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def replace_line(text: str, line: int, new: str) -> str:
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


def problems_in(path):
    with pytest.raises(SiteError) as info:
        load_site(path)
    return info.value.problems


def line_of(text: str, fragment: str) -> int:
    """1-based line of the first line containing ``fragment``."""
    for n, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            return n
    raise AssertionError(fragment)


def same_site(a, b) -> bool:
    exclude = {"source", "source_hash"}
    return a.model_dump(exclude=exclude) == b.model_dump(exclude=exclude)


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------


def test_base_yaml_is_valid(tmp_path):
    site = load_site(write(tmp_path, SITE_YAML))
    assert site.scenario("S-1").consequences.production.hours.high == 96
    assert site.source == str(tmp_path / "site.yaml")


@pytest.mark.parametrize(
    ("old", "new", "record", "field"),
    [
        ("        high: 96", "        high: 2", "S-1", "consequences.production.hours.high"),
        ("      cost_per_hour: 1000", "      cost_per_hour: -1", "S-1",
         "consequences.production.cost_per_hour"),
        ("    sl_a: [1, 1, 1, 1, 1, 1, 1]", "    sl_a: [1, 1, 1, 9, 1, 1, 1]", "Z-A", "sl_a[3]"),
        ("    capability: 2", "    capability: 7", "A-1", "capability"),
        ("    actor: A-1", "    actor: A-9", "S-1", "actor"),
        ("    kind: control", "    kind: kontrol", "Z-B", "kind"),
        ("    per_zone_ale: 100000", "    per_zone_ale: -5", "tolerance", "financial.per_zone_ale"),
        ("    rate_share: 0.5", "    rate_shar: 0.5", "S-1", "rate_shar"),
    ],
)  # fmt: skip
def test_problem_names_the_line_of_the_field(tmp_path, old, new, record, field):
    text = SITE_YAML.replace(old, new)
    assert text != SITE_YAML
    (p,) = [p for p in problems_in(write(tmp_path, text)) if (p.record, p.field) == (record, field)]
    assert p.line == line_of(text, new.strip())
    assert str(p).startswith(f"{tmp_path / 'site.yaml'}:{p.line}: {record}: {field}: ")


def test_field_inside_a_flow_mapping_gets_the_line_of_its_record(tmp_path):
    text = SITE_YAML.replace("{id: C-AB, zones: [Z-A, Z-B]}", "{id: C-AB, zones: [Z-A, Z-Q]}")
    (p,) = problems_in(write(tmp_path, text))
    assert (p.record, p.field, p.line) == ("C-AB", "zones[1]", line_of(text, "Z-Q"))


def test_record_level_problem_gets_the_record_line(tmp_path):
    text = SITE_YAML.replace("    rate_share: 0.5\n", "")
    (p,) = problems_in(write(tmp_path, text))
    assert (p.record, p.field) == ("S-1", "rate_share")
    assert p.line == line_of(text, "- id: S-1")


def test_section_problem_gets_the_section_line(tmp_path):
    text = SITE_YAML + "extras: 1\n"
    (p,) = problems_in(write(tmp_path, text))
    assert (p.record, p.field, p.line) == (None, "extras", line_of(text, "extras:"))


def test_problems_are_listed_in_file_order(tmp_path):
    text = SITE_YAML.replace("high: 96", "high: 2").replace("capability: 2", "capability: 0")
    text = text.replace("per_zone_ale: 100000", "per_zone_ale: 0").replace("[1, 1, 1,", "[1, 8, 1,")
    problems = problems_in(write(tmp_path, text))
    lines = [p.line for p in problems]
    assert len(problems) == 4 and lines == sorted(lines)


@pytest.mark.parametrize(
    ("line", "new", "at"),
    [
        (5, "    sl_a: [1, 1, 1, 1, 1, 1, 1", (6, 7)),  # unclosed bracket: found at the next ':'
        (2, "zones:\n  - id: Z-A\n kind: x", (4, 2)),  # dedented key inside a record
        (1, "site: {name: a: b}", (1, 15)),  # ': ' inside a flow mapping value
        (12, "    capability: 'two", (12, 17)),  # unterminated quote: where it opens
    ],
)
def test_yaml_syntax_error_has_line_and_column(tmp_path, line, new, at):
    text = replace_line(SITE_YAML, line, new)
    path = write(tmp_path, text)
    (p,) = problems_in(path)
    assert "YAML syntax error" in p.message and p.hint
    assert (p.line, p.column) == at
    assert str(p).startswith(f"{path}:{at[0]}:{at[1]}: ")


def test_duplicate_yaml_key_is_a_problem_with_both_lines(tmp_path):
    text = SITE_YAML.replace("    capability: 2\n", "    capability: 2\n    capability: 3\n")
    (p,) = problems_in(write(tmp_path, text))
    first = line_of(text, "capability: 2")
    assert (p.record, p.field, p.line) == ("A-1", "capability", first + 1)
    assert f"first on line {first}" in p.message


def test_duplicate_section_is_a_problem(tmp_path):
    text = SITE_YAML + "conduits: []\n"
    problems = problems_in(write(tmp_path, text))
    assert any(p.field == "conduits" and "duplicate key" in p.message for p in problems)


def test_yaml_that_is_not_a_mapping(tmp_path):
    (p,) = problems_in(write(tmp_path, "- just\n- a list\n"))
    assert "mapping of sections" in p.message


def test_empty_yaml_says_what_is_missing(tmp_path):
    problems = problems_in(write(tmp_path, "# nothing yet\n"))
    assert {(p.record, p.field) for p in problems} == {("site", None), ("zones", None)}


def test_non_utf8_file(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_bytes(SITE_YAML.replace("Line test", "Caf\xe9").encode("latin-1"))
    (p,) = problems_in(path)
    assert "UTF-8" in p.message


def test_missing_path_and_unsupported_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_site(tmp_path / "nope.yaml")
    (p,) = problems_in(write(tmp_path, "x", name="site.json"))
    assert "unsupported" in p.message and ".json" in p.message


def test_folder_without_site_yaml(tmp_path):
    (p,) = problems_in(tmp_path)
    assert "no site.yaml" in p.message


# --------------------------------------------------------------------------------------------
# folders with CSV tables
# --------------------------------------------------------------------------------------------

ZONES_CSV = textwrap.dedent(
    """\
    id,name,kind,purdue_level,sl_a,assets
    Z-C,Pump house #2,field,0,"[0, 0, 1, 0, 0, 0, 1]","[PLC-1, HMI-2]"
    Z-D,DMZ,dmz,3.5,,
    """
)
SCENARIOS_CSV = (
    "id,zone,actor,frs,rate_share,vulnerability,consequences.production.hours,"
    "consequences.production.cost_per_hour,consequences.safety.severity\n"
    'S-2,Z-C,A-1,"[FR2, FR5]",0.1,"{dist: pert, low: 0.2, mode: 0.5, high: 0.9}",'
    '"{dist: pert, low: 1, mode: 4, high: 10}",500,2\n'
)
COUNTERMEASURES_CSV = textwrap.dedent(
    """\
    id,status,cost.capex,cost.opex,cost.lifetime_years,mandatory,effects
    CM-1,candidate,1000,100,5,true,"[{type: frequency, scenarios: [S-2], reduction: 0.5}]"
    """
)


def site_folder(tmp_path, name="site", **tables):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "site.yaml").write_text(SITE_YAML, encoding="utf-8")
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def test_folder_appends_csv_rows_nests_dotted_headers_reads_yaml_cells(tmp_path):
    folder = site_folder(
        tmp_path, zones=ZONES_CSV, scenarios=SCENARIOS_CSV, countermeasures=COUNTERMEASURES_CSV
    )
    site = load_site(folder)
    assert [z.id for z in site.zones] == ["Z-A", "Z-B", "Z-C", "Z-D"]  # YAML first, then CSV
    c = site.zone("Z-C")
    assert c.name == "Pump house #2"  # plain text kept whole, '#' is no comment
    assert c.purdue_level == 0 and c.sl_a == (0, 0, 1, 0, 0, 0, 1)
    assert c.assets == ["PLC-1", "HMI-2"]
    d = site.zone("Z-D")
    assert d.purdue_level == 3.5 and d.sl_a is None and d.assets == []  # empty cells: absent
    s2 = site.scenario("S-2")
    assert s2.frs == ["FR2", "FR5"]
    assert s2.vulnerability.dist == "pert" and s2.vulnerability.mode == 0.5
    assert s2.consequences.production.hours.high == 10
    assert s2.consequences.production.cost_per_hour.mean() == 500
    assert s2.consequences.safety.severity == 2
    cm = site.countermeasure("CM-1")
    assert cm.mandatory is True and cm.cost.capex == 1000 and cm.cost.lifetime_years == 5
    assert cm.effects[0].type == "frequency" and cm.effects[0].scenarios == ["S-2"]
    assert site.source == str(folder / "site.yaml")


def test_csv_problem_names_the_csv_file_row_line_and_record(tmp_path):
    zones = ZONES_CSV.replace("Z-D,DMZ,dmz,3.5", "Z-D,DMZ,dmz,9")
    folder = site_folder(tmp_path, zones=zones)
    (p,) = problems_in(folder)
    assert p.file == str(folder / "zones.csv") and p.line == 3
    assert (p.record, p.field) == ("Z-D", "purdue_level") and "9 was given" in p.message
    assert str(p).startswith(f"{folder / 'zones.csv'}:3: Z-D: purdue_level: ")


def test_csv_line_numbers_count_multiline_cells(tmp_path):
    zones = ZONES_CSV.replace("Pump house #2", '"Pump house\nnumber two"').replace(
        "Z-D,DMZ,dmz,3.5", "Z-D,DMZ,dmz,9"
    )
    (p,) = problems_in(site_folder(tmp_path, zones=zones))
    assert p.line == 4  # the header, a two-line row, then Z-D


def test_csv_unreadable_cell_names_the_column(tmp_path):
    scenarios = SCENARIOS_CSV.replace("{dist: pert, low: 0.2,", "{dist: pert, low: [0.2,")
    problems = problems_in(site_folder(tmp_path, scenarios=scenarios))
    p = problems[0]
    assert p.file.endswith("scenarios.csv") and p.line == 2
    assert (p.record, p.field) == ("S-2", "vulnerability") and "cannot read cell" in p.message


def test_csv_references_are_checked_across_files(tmp_path):
    cms = COUNTERMEASURES_CSV.replace("scenarios: [S-2]", "scenarios: [S-7]")
    (p,) = problems_in(site_folder(tmp_path, zones=ZONES_CSV, scenarios=SCENARIOS_CSV,
                                   countermeasures=cms))  # fmt: skip
    assert (p.record, p.field) == ("CM-1", "effects[0].scenarios[0]")
    assert p.file.endswith("countermeasures.csv") and p.line == 2


def test_csv_column_clash_and_headerless_value(tmp_path):
    zones = "id,kind,kind.x\nZ-C,field,1\n"
    (p,) = problems_in(site_folder(tmp_path, zones=zones))
    assert "nests inside" in p.message and p.line == 2
    zones = "id,kind,\nZ-C,field,oops\n"
    (p,) = problems_in(site_folder(tmp_path, name="other", zones=zones))
    assert "without a column header" in p.message


def test_folder_problems_of_yaml_and_csv_come_together(tmp_path):
    folder = site_folder(tmp_path, zones=ZONES_CSV.replace("3.5", "9"))
    text = SITE_YAML.replace("capability: 2", "capability: 9")
    (folder / "site.yaml").write_text(text, encoding="utf-8")
    problems = problems_in(folder)
    assert [p.file for p in problems] == [str(folder / "site.yaml"), str(folder / "zones.csv")]


# --------------------------------------------------------------------------------------------
# hashes
# --------------------------------------------------------------------------------------------


def test_file_hash_is_sha256_of_name_and_bytes(tmp_path):
    path = write(tmp_path, SITE_YAML)
    expected = hashlib.sha256(b"site.yaml\0" + SITE_YAML.encode()).hexdigest()
    assert file_hash([path]) == expected
    assert load_site(path).source_hash == expected


def test_file_hash_is_stable_and_follows_content(tmp_path):
    a = load_site(write(tmp_path, SITE_YAML)).source_hash
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert load_site(write(other, SITE_YAML)).source_hash == a  # location does not matter
    changed = SITE_YAML.replace("Line test", "Line test.")
    assert load_site(write(other, changed)).source_hash != a


def test_folder_hash_covers_the_csv_tables(tmp_path):
    folder = site_folder(tmp_path, zones=ZONES_CSV)
    h1 = load_site(folder).source_hash
    assert load_site(folder).source_hash == h1
    (folder / "zones.csv").write_text(ZONES_CSV.replace("DMZ", "DMZ 2"), encoding="utf-8")
    assert load_site(folder).source_hash != h1


# --------------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_xlsx_round_trip_of_the_examples(tmp_path, name):
    site = load_site(EXAMPLES[name])
    out = export_xlsx(site, tmp_path / f"{name}.xlsx")
    back = load_site(out)
    assert same_site(site, back)
    assert back.source == str(out) and back.source_hash == file_hash([out])
    sheets = openpyxl.load_workbook(out, read_only=True).sheetnames
    assert {"site", "zones", "conduits", "threat_actors", "scenarios", "countermeasures"} <= set(
        sheets
    )


def test_xlsx_round_trip_keeps_awkward_text_and_every_dist_kind(tmp_path):
    d = copy.deepcopy(BASE_SITE)
    d["site"]["assessed"] = "2026-11-01"
    d["site"]["description"] = "line one\nline two: with a colon # and a hash"
    names = ["yes", "12", "[not a list]", "a: b", "Pump #2", "  padded ", "'quoted'", "null"]
    for k, name in enumerate(names):
        d["zones"].append({"id": f"Z-{k}", "name": name, "assets": [name, "x"]})
    d["threat_actors"].append({"id": "A-2", "capability": 3, "attempt_rate": 2,
                               "resources": 3, "knowledge": 2})  # fmt: skip
    specs = [
        {"dist": "pert", "low": 1, "mode": 2, "high": 4, "gamma": 6},
        {"dist": "lognormal", "low": 1, "high": 9, "ci": 0.8},
        {"dist": "triangular", "low": 1, "mode": 2, "high": 3},
        {"dist": "uniform", "low": 1, "high": 3},
        {"dist": "normal", "mean": 5, "sd": 2},
        {"dist": "poisson", "mean": 3},
        {"dist": "empirical", "values": [1, 2, 5], "weights": [1, 1, 2]},
    ]
    for k, spec in enumerate(specs):
        d["scenarios"].append({"id": f"S-{k + 10}", "zone": "Z-OPS", "actor": "A-2",
                               "frs": ["FR1"], "rate": spec,
                               "vulnerability": {"dist": "beta", "a": 2, "b": 5},
                               "consequences": {"other": spec}})  # fmt: skip
    d["risk_matrix"] = {"likelihood": [0.01, 0.1], "consequence": [1e5], "sl": [[0, 1]] * 3}
    site = build(d)
    back = load_site(export_xlsx(site, tmp_path / "awkward.xlsx"))
    assert same_site(site, back)
    assert [z.name for z in back.zones[2:]] == names


def test_xlsx_export_refuses_to_overwrite(tmp_path, tiny_site):
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="does not overwrite"):
        export_xlsx(tiny_site, out)
    assert out.read_bytes() == b"precious"
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


@pytest.mark.parametrize("name", ["out.csv", "out", "out.xls"])
def test_xlsx_export_refuses_another_suffix(tmp_path, tiny_site, name):
    # a workbook written under another name is not what the user asked for, and
    # load_site would refuse it by its suffix
    with pytest.raises(ValueError, match=f"must end in .xlsx, '{name}' was given"):
        export_xlsx(tiny_site, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_site_to_dict_writes_constants_as_bare_numbers(tiny_site):
    data = site_to_dict(tiny_site)
    s3 = next(s for s in data["scenarios"] if s["id"] == "S-3")
    assert s3["vulnerability"] == 0.5
    assert s3["consequences"]["production"]["cost_per_hour"] == 30000
    assert "source" not in data and "source_hash" not in data
    assert same_site(build(yaml.safe_load(yaml.safe_dump(data))), tiny_site)


def _edit_cell(path, sheet, column, row, value):
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    header = [c.value for c in ws[1]]
    if column not in header:
        ws.cell(row=1, column=len(header) + 1, value=column)
        header.append(column)
    ws.cell(row=row, column=header.index(column) + 1, value=value)
    wb.save(path)


def test_xlsx_bad_value_names_the_sheet_row_and_record(tmp_path, tiny_site):
    out = export_xlsx(tiny_site, tmp_path / "t.xlsx")
    _edit_cell(out, "zones", "sl_a", 3, "[1, 1, 1, 1, 1, 1, 6]")
    (p,) = problems_in(out)
    assert p.file == f"{out}[zones]" and p.line == 3
    assert (p.record, p.field) == ("Z-CTRL", "sl_a[6]")
    assert str(p).startswith(f"{out}[zones]:3: Z-CTRL: sl_a[6]: ")


def test_xlsx_unreadable_cell_names_the_sheet_and_column(tmp_path, tiny_site):
    out = export_xlsx(tiny_site, tmp_path / "t.xlsx")
    _edit_cell(out, "scenarios", "vulnerability", 2, "{dist: pert, low: 0.1")
    problems = problems_in(out)
    p = problems[0]
    assert p.file == f"{out}[scenarios]" and p.line == 2
    assert (p.record, p.field) == ("S-1", "vulnerability") and "cannot read cell" in p.message


def test_xlsx_key_value_sheet_problem_names_sheet_and_row(tmp_path, tiny_site):
    out = export_xlsx(tiny_site, tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(out)
    ws = wb["model"]
    row = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "trials")
    ws.cell(row, 2, value=5)
    wb.save(out)
    (p,) = problems_in(out)
    assert (p.file, p.record, p.field, p.line) == (f"{out}[model]", "model", "trials", row)
    assert "5 was given" in p.message


def test_xlsx_unknown_sheet_and_damaged_file(tmp_path, tiny_site):
    out = export_xlsx(tiny_site, tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(out)
    wb.create_sheet("notes")
    wb.save(out)
    (p,) = problems_in(out)
    assert p.file == f"{out}[notes]" and "unknown sheet 'notes'" in p.message
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    (p,) = problems_in(bad)
    assert "cannot open workbook" in p.message


def test_read_raw_of_a_folder_copy_equals_the_yaml(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(EXAMPLES["water"], folder)
    assert read_raw(folder).data == read_raw(folder / "site.yaml").data


# --------------------------------------------------------------------------------------------
# property-based: damaged files give SiteError, never another exception
# --------------------------------------------------------------------------------------------

FILE_PROPS = settings(max_examples=80, deadline=None, database=None)


def _load_text(folder, text: str, csv_text: str | None = None):
    (folder / "site.yaml").write_text(text, encoding="utf-8")
    if csv_text is not None:
        (folder / "zones.csv").write_text(csv_text, encoding="utf-8")
    try:
        return load_site(folder if csv_text is not None else folder / "site.yaml")
    except SiteError as e:
        assert e.problems and all(str(p) for p in e.problems)
        return e


@FILE_PROPS
@given(
    pos=st.integers(0, len(SITE_YAML)),
    cut=st.integers(0, 5),
    insert=st.text(alphabet=" :-[]{},#'\"\n\tx0.", max_size=4),
)
def test_damaged_yaml_text_is_a_site_or_a_site_error(pos, cut, insert):
    text = SITE_YAML[:pos] + insert + SITE_YAML[pos + cut :]
    with tempfile.TemporaryDirectory() as tmp:
        _load_text(Path(tmp), text)


@FILE_PROPS
@given(row=st.integers(1, 2), col=st.integers(0, 5), cell=st.text(max_size=15))
def test_junk_in_a_csv_cell_is_a_site_or_a_site_error(row, col, cell):
    rows = list(csv.reader(io.StringIO(ZONES_CSV)))
    rows[row][col] = cell
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        _load_text(Path(tmp), SITE_YAML, buf.getvalue())


@FILE_PROPS
@given(
    rec=st.sampled_from([("zones", 0), ("scenarios", 0), ("countermeasures", 1)]),
    # no control or line-break characters: YAML itself normalises those in keys
    key=st.text(
        st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
    ),
    value=st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3)),
)
@example(rec=("zones", 0), key="a[b]", value=1)  # once looped forever looking up its line
def test_unknown_field_with_any_name_in_a_yaml_file(rec, key, value):
    """Odd field names ('a[b]', 'x.y', '[') still give a problem with a line, no hang."""
    d = copy.deepcopy(BASE_SITE)
    name = "x" + key
    d[rec[0]][rec[1]][name] = {"nested": [value]}
    text = yaml.safe_dump(d, sort_keys=False, allow_unicode=True)
    with tempfile.TemporaryDirectory() as tmp:
        err = _load_text(Path(tmp), text)
    assert isinstance(err, SiteError)
    (p,) = err.problems
    assert p.message == f"unknown field {name!r}" and p.line is not None
