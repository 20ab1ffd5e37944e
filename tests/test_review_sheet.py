"""Spreadsheet round trip: export the queue, fill the decision column, import, with bad rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.review import coding, decisions_frame, export_sheet, import_sheet, review_queue
from nlp_theming.review.sheet import SHEET_COLUMNS, read_sheet
from tests.helpers.review import TRANSCRIPTS


def _fill(sheet: pd.DataFrame, rows: dict[int, str]) -> pd.DataFrame:
    """Set decision cells; keys are spreadsheet row numbers (the header is row 1)."""
    sheet = sheet.copy()
    for row, value in rows.items():
        sheet.loc[row - 2, "decision"] = value
    return sheet


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_round_trip_with_bad_rows(con: sqlite3.Connection, tmp_path: Path, suffix: str) -> None:
    out, n = export_sheet(con, "alice", tmp_path / f"queue.{suffix}")
    assert n == len(review_queue(con))
    sheet = read_sheet(out)
    assert list(sheet.columns) == SHEET_COLUMNS and (sheet.decision == "").all()
    other = next(c for c in ("Hierarchy and voice", "Time and workload") if c != sheet.code[3])
    filled = _fill(sheet, {
        2: "accept", 3: "Reject", 4: "  accept  ", 5: f"change:{other}", 6: "add:Training and development",
        7: "change:No such code", 8: "maybe", 9: "change:Doing the role", 10: "accept",
    })
    filled.loc[10 - 2, "text_check"] = "t-000000000000"  # as if the transcript changed since export
    filled.loc[11 - 2, "decision"] = "accept"
    filled.loc[11 - 2, "text"] = "someone rewrote this cell"
    bad = tmp_path / f"filled.{suffix}"
    if suffix == "csv":
        filled.to_csv(bad, index=False)
    else:
        filled.to_excel(bad, index=False, sheet_name="queue")

    report = import_sheet(con, bad, "alice")
    assert report.recorded == 5
    assert report.blank == len(sheet) - 10
    assert [p.split(":")[0] for p in report.problems] == ["row 7", "row 8", "row 9", "row 10", "row 11"]
    assert "unknown code 'No such code'" in report.problems[0]
    assert "unknown decision 'maybe'" in report.problems[1]
    assert "meta-theme" in report.problems[2]
    assert "changed since the sheet was exported" in report.problems[3]
    assert "'text' cell was edited" in report.problems[4]
    log = decisions_frame(con, "alice")
    assert sorted(log.action) == ["accept", "accept", "add", "change", "reject"]
    applied = {(int(r.segment_id), r.code) for r in coding(con, "alice").itertuples()}
    assert (int(sheet.segment_id[0]), sheet.code[0]) in applied
    assert (int(sheet.segment_id[3]), other) in applied
    assert (int(sheet.segment_id[4]), "Training and development") in applied
    # importing the same sheet again changes nothing
    again = import_sheet(con, bad, "alice")
    assert (again.recorded, again.unchanged) == (0, 5)
    assert len(decisions_frame(con, "alice")) == 5
    # and the valid rows of the import come back out as decided
    left = read_sheet(export_sheet(con, "alice", tmp_path / f"left.{suffix}")[0])
    assert len(left) == len(review_queue(con, "alice", status="pending")) <= len(sheet) - 4
    assert not {(int(r.segment_id), r.code) for r in left.itertuples()} & applied


def test_new_transcript_version_after_export_is_refused_per_row(project: Path, con: sqlite3.Connection,
                                                                 tmp_path: Path) -> None:
    out, _ = export_sheet(con, "bob", tmp_path / "queue.xlsx", document=["north-consultant", "south-manager"])
    sheet = read_sheet(out)
    sheet["decision"] = "accept"
    filled = tmp_path / "filled.xlsx"
    sheet.to_excel(filled, index=False, sheet_name="queue")
    # the north-consultant transcript is corrected and re-ingested: a new version
    original = Path(con.execute("SELECT path FROM documents WHERE name = 'north-consultant'").fetchone()[0])
    source = tmp_path / original.name
    source.write_text(original.read_text().replace("eight years", "nine years"))
    with Project(project) as p:
        assert p.ingest([source]).updated
    report = import_sheet(con, filled, "bob")
    north = sheet.document == "north-consultant"
    assert report.recorded == int((~north).sum())
    assert len(report.problems) == int(north.sum())
    assert all("newer version" in p for p in report.problems)
    rows = sorted(int(p.split(":")[0].split()[1]) for p in report.problems)
    assert rows == [i + 2 for i in sheet.index[north]]


def test_untrusted_text_never_becomes_a_formula(con: sqlite3.Connection, tmp_path: Path) -> None:
    xlsx, _ = export_sheet(con, "alice", tmp_path / "q.xlsx")
    from openpyxl import load_workbook

    ws = load_workbook(xlsx)["queue"]
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)
    assert "<script>" in "".join(str(c.value) for c in ws["D"])  # the text column, as text
    assert set(load_workbook(xlsx).sheetnames) == {"queue", "codebook", "how-to"}
    assert TRANSCRIPTS  # the fixture's transcripts are what was exported


def test_cli_sheet_commands(project: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "q.csv"
    result = runner.invoke(main, ["sheet", "export", str(project), "--coder", "carol", "--out", str(out),
                                  "--site", "South"])
    assert result.exit_code == 0, result.output
    sheet = read_sheet(out)
    assert set(sheet.document) == {"south-consultant", "south-manager"}
    sheet.loc[0, "decision"] = "accept"
    sheet.loc[1, "decision"] = "add:Nonsense"
    sheet.to_csv(out, index=False)
    result = runner.invoke(main, ["sheet", "import", str(project), str(out), "--coder", "carol"])
    assert result.exit_code == 1  # one bad row
    assert "1 decisions recorded for carol" in result.output
    assert "row 3: unknown code 'Nonsense'" in result.output


def test_a_bad_run_id_cell_is_that_rows_problem(con: sqlite3.Connection, tmp_path: Path) -> None:
    sheet = read_sheet(export_sheet(con, "alice", tmp_path / "q.csv")[0])
    filled = _fill(sheet, {2: "accept", 3: "accept", 4: "reject"})
    filled.loc[3 - 2, "run_id"] = "run one"  # a hand-edited cell
    filled.loc[4 - 2, "run_id"] = "inf"
    path = tmp_path / "filled.csv"
    filled.to_csv(path, index=False)
    report = import_sheet(con, path, "alice")
    assert report.recorded == 1
    assert [p.split(":")[0] for p in report.problems] == ["row 3", "row 4"]
    assert "run_id 'run one' is not a number" in report.problems[0]
    assert list(decisions_frame(con, "alice").action) == ["accept"]


def test_csv_guard_adds_and_removes_the_apostrophe(con: sqlite3.Connection, tmp_path: Path) -> None:
    from nlp_theming.tables import formula_safe, formula_safe_frame, formula_unsafe

    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert formula_safe(cell) == "'" + cell and formula_unsafe(formula_safe(cell)) == cell
    assert formula_safe("plain") == "plain" and formula_safe(-1) == -1 and formula_unsafe("'quoted") == "'quoted"
    frame = formula_safe_frame(pd.DataFrame({"=site": ["=A", "B"]}))
    assert list(frame.columns) == ["'=site"] and list(frame["'=site"]) == ["'=A", "B"]


def test_none_in_the_sheet_says_no_code_applies_to_the_passage(con: sqlite3.Connection, tmp_path: Path) -> None:
    from nlp_theming.store.decisions import nothing_applies

    out, _ = export_sheet(con, "alice", tmp_path / "queue.csv")
    sheet = read_sheet(out)
    segment = sheet.segment_id.value_counts().index[0]  # a passage with several rows
    rows = [i + 2 for i in sheet.index[sheet.segment_id == segment]]
    assert len(rows) >= 2 and rows == list(range(rows[0], rows[0] + len(rows)))  # a passage's rows together
    filled = _fill(sheet, {rows[0]: "none", rows[1]: "None", 2 if rows[0] != 2 else rows[-1] + 1: "none: Boards"})
    filled.to_csv(tmp_path / "filled.csv", index=False)
    report = import_sheet(con, tmp_path / "filled.csv", "alice")
    assert report.recorded == 1 and report.unchanged == 1  # one decision for the passage, however many rows say it
    assert len(report.problems) == 1 and "takes no code" in report.problems[0]
    assert list(nothing_applies(con, "alice").segment_id) == [int(segment)]
    again = import_sheet(con, tmp_path / "filled.csv", "alice")
    assert again.recorded == 0 and again.unchanged == 2
