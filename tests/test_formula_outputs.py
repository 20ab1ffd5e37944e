"""Formula injection (issue 15, defect 3), checked on the files themselves: a project whose
transcript, document name, speaker, codes and coders all look like spreadsheet formulas writes
every table the CLI writes (export CSV/XLSX, coded-units, taguette-units, the review sheet,
compare's tables, summarize's tables), and no cell of any of them is a live formula.

All content is SYNTHETIC.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from nlp_theming import Project
from nlp_theming.suggest import SuggestConfig
from nlp_theming.tables import FORMULA_START
from tests.helpers.fuzzing import taguette_db

pytestmark = pytest.mark.slow
EVIL = "=HYPERLINK(\"http://example.invalid\",\"x\")"


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _guarded(path: Path) -> bool:
    """Whether a CSV holds a guarded formula-like cell (an apostrophe before = + - @)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return any(c.startswith("'") and c[1:].startswith(FORMULA_START) for row in csv.reader(fh) for c in row)


def _live_cells(path: Path) -> list[str]:
    """Cells a spreadsheet would run: CSV text starting with = + - @ tab CR (not a number), or an XLSX formula."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [c for row in csv.reader(fh) for c in row if c.startswith(FORMULA_START) and not _number(c)]
    from openpyxl import load_workbook

    book = load_workbook(path)
    return [str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row
            if c.data_type == "f" or (isinstance(c.value, str) and c.value.startswith("=") and c.data_type != "s")]


def test_no_table_the_cli_writes_holds_a_live_formula(tmp_path: Path) -> None:
    transcript = tmp_path / f"{EVIL[:10]}.txt"
    transcript.write_text(
        "SYNTHETIC interview\n\nInterviewer: =1+2 is what the rota said?\n\n"
        f"@Dr Sum: {EVIL} and +44 numbers. -5 hours of leadership time every week, =SUM(A1) of it unpaid.\n\n"
        "Interviewer: And training?\n\n@Dr Sum: -A course on budgets. @coaching helped more than the course.\n",
        encoding="utf-8")
    codebook = tmp_path / "codebook.csv"
    codebook.write_text("code,description\n\"=Time\",time for leadership and workload\n"
                        "\"+Training\",courses and coaching\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    with Project.init(tmp_path / "project") as p:
        assert not p.ingest([transcript]).failed
        p.load_codebook(codebook)
        p.suggest(SuggestConfig(seed=0, discover=False, matcher="zeroshot"))
        doc = p.documents().document.iloc[0]
        spans = tmp_path / "spans.csv"
        spans.write_text("document,start,end,code,coder\n"
                         f"\"{doc}\",40,120,=Time,\"=cmd|' /C calc'!A0\"\n\"{doc}\",40,120,=Time,@ann\n"
                         f"\"{doc}\",130,200,+Training,@ann\n", encoding="utf-8")
        assert not p.import_coding(spans, "spans").problems
        p.export(out / "suggestions.csv")
        p.export(out / "suggestions.xlsx")
        p.coded_units(out / "units.csv")
        p.export_sheet("=me", out / "sheet.csv")
        p.export_sheet("=me", out / "sheet.xlsx")
        p.compare(None, n_boot=20).write(out / "agreement")
        p.summarize(by="document").write(out / "summary", ("csv", "xlsx"))
    tag = taguette_db(tmp_path / "study.sqlite3")
    import sqlite3

    con = sqlite3.connect(tag)
    con.execute("UPDATE documents SET contents = ? WHERE id = 10",
                (f"<p>Interviewer: {EVIL}</p><p>Dr Ahn: Nobody else applied. Café &amp; crème.</p>",))
    con.execute("UPDATE tags SET path = '=Selection' WHERE id = 1")
    con.execute("UPDATE commands SET user_login = '@ann'")
    con.commit()
    con.close()
    Project.taguette_units(tag, out / "taguette-units.csv", out / "taguette-spans.csv")

    tables = sorted(p for p in out.rglob("*") if p.suffix in (".csv", ".xlsx"))
    names = {p.name for p in tables}
    assert {"suggestions.csv", "suggestions.xlsx", "units.csv", "sheet.csv", "sheet.xlsx", "taguette-units.csv",
            "taguette-spans.csv"} <= names
    assert any(p.parent.name == "agreement" for p in tables) and any(p.parent.name == "summary" for p in tables)
    # the hostile content did reach the tables (guarded), or this test could not fail
    reached = [p.name for p in tables if p.suffix == ".csv" and _guarded(p)]
    assert len(reached) >= 5, reached
    live = {str(p.relative_to(out)): cells[:3] for p in tables if (cells := _live_cells(p))}
    assert live == {}
    shutil.rmtree(out)
