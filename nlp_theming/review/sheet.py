"""Review in a spreadsheet: export the queue with a blank ``decision`` column, import it back.

A decision cell holds ``accept``, ``reject``, ``change:<code>``, ``add:<code>`` or ``none`` (no
code applies to the passage: a decision on the whole segment, whichever of its rows holds it);
blank means undecided. Each row names its segment by id and carries a check of the segment's text, so a
sheet filled in after the transcript changed is refused row by row, with the row named; the
valid rows are recorded (as one batch, which ``undo`` cancels as a whole).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..store import transaction
from ..store.decisions import NO_CODE, DecisionError, nothing_applies, status_of
from ..store.documents import segment_index
from ..store.memos import memos_frame
from ..tables import add_sheet, formula_unsafe, new_workbook, write_csv
from ..textio import InputError, header_name, open_workbook, read_text_file, sniff_delimiter
from .actions import applicable_codes, latest_codebook, record_decision, record_no_code
from .memos import MemoError, set_memo
from .queue import QueueFilter, queue_page

SHEET_COLUMNS = [
    "decision", "code", "score", "text", "document", "segment", "speaker", "time", "meta_theme", "status", "memo",
    "segment_id", "run_id", "text_check",
]
HOW_TO = [
    "Fill in the 'decision' column, one row per suggested code; leave it blank to decide later.",
    "accept = the code applies to the text; reject = it does not.",
    "change:<code> = the suggested code does not apply but <code> does (e.g. change:Workload).",
    "add:<code> = keep this row's decision open and also apply <code> to the text.",
    "none = no code applies to this text (on any one row of the segment; its other rows may stay blank).",
    "memo = your note on the passage (shown in the review page); edit it to save a new version of it.",
    "Codes must be spelled as in the 'codebook' sheet. Do not edit other columns.",
    "Import with: nlp-theming sheet import PROJECT FILE --coder NAME",
]
@dataclass
class SheetReport:
    recorded: int = 0
    memos: int = 0  # memos written or given a new version
    unchanged: int = 0  # the coder had already decided the same way (a sheet imported twice)
    blank: int = 0
    problems: list[str] = field(default_factory=list)


def text_check(text: str) -> str:
    """A short fingerprint of a segment's text; letters first so no spreadsheet reads it as a number."""
    return "t-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _normal(text: str) -> str:
    return " ".join(str(text).split())


def sheet_frame(con: sqlite3.Connection, coder: str, order: str = "document", status: str | None = "pending",
                queue_filter: QueueFilter | None = None, **filters: object) -> pd.DataFrame:
    """The queue as sheet rows (columns :data:`SHEET_COLUMNS`), ``decision`` blank."""
    queue_filter = queue_filter or QueueFilter.of(order, status=status, **filters)
    rows = queue_page(con, coder, queue_filter).items
    mine = memos_frame(con, coder)
    mine = mine[mine.target == "segment"]
    memo_of = {int(s): t for s, t in zip(mine.segment_id, mine.text, strict=True)}  # the latest wins
    out = pd.DataFrame({
        "decision": "",
        "memo": [memo_of.get(int(s), "") for s in rows.segment_id],
        "code": rows.code,
        "score": rows.score.round(3),
        "text": rows.text,
        "document": rows.document,
        "segment": rows.segment_idx,
        "speaker": rows.speaker.fillna(""),
        "time": [_clock(t) for t in rows.start_time],
        "meta_theme": rows.meta_theme,
        "status": [s if not c else f"{s} (-> {c})" for s, c in zip(rows.status, rows.changed_to, strict=True)],
        "segment_id": rows.segment_id.astype(int),
        "run_id": rows.run_id.astype(int),
        "text_check": [text_check(t) for t in rows.text],
    })
    return out[SHEET_COLUMNS]


def _clock(seconds: float | None) -> str:
    if seconds is None or pd.isna(seconds):
        return ""
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def export_sheet(con: sqlite3.Connection, coder: str, out: str | Path, order: str = "document",
                 status: str | None = "pending", queue_filter: QueueFilter | None = None,
                 progress: bool = False, **filters: object) -> tuple[Path, int]:
    """Write the coder's queue to ``out`` (.xlsx or .csv); returns the path and the number of rows.
    ``progress``: a bar over the rows of an .xlsx (openpyxl takes seconds per 10,000)."""
    out = Path(out)
    frame = sheet_frame(con, coder, order, status, queue_filter, **filters)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        # the apostrophe the guard adds is removed again on import (read_sheet)
        write_csv(frame, out, bom=True)  # the BOM makes Excel read UTF-8
    elif suffix == ".xlsx":
        _write_xlsx(con, frame, out, coder, progress)
    else:
        raise ValueError(f"{out}: the sheet must be .xlsx or .csv")
    return out, len(frame)


def _write_xlsx(con: sqlite3.Connection, frame: pd.DataFrame, out: Path, coder: str, progress: bool = False) -> None:
    from openpyxl.styles import PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    widths = {"decision": 22, "memo": 30, "code": 30, "score": 7, "text": 80, "document": 18, "segment": 8,
              "speaker": 14,
              "time": 9, "meta_theme": 26, "status": 14, "segment_id": 10, "run_id": 7, "text_check": 16}
    wb = new_workbook()
    ws = add_sheet(wb, "queue", frame, widths, wrap_from=80, progress=progress)
    ws["A1"].fill = PatternFill("solid", fgColor="FFF1B8")
    ws.freeze_panes = "B2"
    # a menu for the common answers; other text (change:..., add:...) is still allowed
    menu = DataValidation(type="list", formula1='"accept,reject"', allow_blank=True, showErrorMessage=False)
    ws.add_data_validation(menu)
    if len(frame):
        menu.add(f"A2:A{len(frame) + 1}")
    book = latest_codebook(con)
    codes = pd.DataFrame(
        [(book.top_level(c.code), c.code, c.description) for c in book.leaves],
        columns=["meta_theme", "code", "description"],
    )
    add_sheet(wb, "codebook", codes, {"meta_theme": 30, "code": 34, "description": 90}, wrap_from=200)
    how = pd.DataFrame({f"Review sheet for coder: {coder}": HOW_TO})
    add_sheet(wb, "how-to", how, {f"Review sheet for coder: {coder}": 110}, wrap_from=200)
    wb.save(out)


def read_sheet(path: str | Path) -> pd.DataFrame:
    """A filled sheet as strings (the 'queue' sheet of a workbook, or a CSV)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such sheet")
    if path.suffix.lower() == ".xlsx":
        book = open_workbook(path)  # size and archive checked, like every zip that comes in
        try:
            sheet = book["queue"] if "queue" in book.sheetnames else book.worksheets[0]
            rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        except Exception as exc:  # a sheet's XML is parsed as it is read: damage shows here
            raise InputError(f"{path}: the workbook is damaged ({type(exc).__name__})") from None
        finally:
            book.close()
    elif path.suffix.lower() == ".csv":
        # any encoding and separator a spreadsheet program saves (European Excel writes ';')
        try:
            text = read_text_file(path)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from exc
        sep = sniff_delimiter(text, lambda names: "decision" in names and "segment_id" in names)
        try:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
            rows = [[formula_unsafe(c) for c in row] for row in reader if row]  # blank lines skipped
        except csv.Error as exc:
            raise InputError(f"{path}: not a readable CSV ({exc})") from None
    else:
        raise InputError(f"{path}: the sheet must be .xlsx or .csv")
    frame = _frame(path, rows)
    frame.columns = [header_name(c) for c in frame.columns]
    missing = [c for c in ("decision", "code", "segment_id", "text_check") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not a review sheet (missing columns: {', '.join(missing)})")
    return frame


def _frame(path: Path, rows: list[list[str]]) -> pd.DataFrame:
    """The sheet's rows under its header, as strings. A row with more filled cells than the header
    has columns is refused by its row number (a million cells in one line would make a million
    columns)."""
    if not rows or not any(str(c).strip() for c in rows[0]):
        raise InputError(f"{path}: the sheet is empty")
    header: list[str] = []
    for name in rows[0]:  # a repeated column name gets a suffix, as pandas gives it
        header.append(next(f"{name}.{k}" if k else name for k in range(len(header) + 1)
                           if (f"{name}.{k}" if k else name) not in header))
    width = len(header)
    for n, row in enumerate(rows[1:], start=2):
        if len(row) > width and any(str(c).strip() for c in row[width:]):
            raise InputError(f"{path}: row {n} has {len(row)} cells but the header has {width}")
    return pd.DataFrame([(list(r) + [""] * width)[:width] for r in rows[1:]], columns=header, dtype=str)


_DECISION = re.compile(r"^\s*(accept|reject|change|add|none)\s*(?::\s*(.*?))?\s*$", re.IGNORECASE)


def import_sheet(con: sqlite3.Connection, path: str | Path, coder: str) -> SheetReport:
    """Record the decisions of a filled sheet for ``coder``. Bad rows are reported by row
    number (as the spreadsheet shows it) and skipped; the others are recorded in one batch.
    """
    frame = read_sheet(path)
    report = SheetReport()
    book = latest_codebook(con)
    leaves = set(applicable_codes(book))
    current = segment_index(con)
    mine = status_of(con, coder).set_index(["segment_id", "code"])
    nothing = set(nothing_applies(con, coder).segment_id)
    batch = f"batch:sheet-{uuid.uuid4().hex[:12]}"
    todo: list[tuple] = []
    memo_cells: dict[int, list[tuple[str, str]]] = {}  # segment -> (row, its memo cell) of each of its rows
    for n, row in enumerate(frame.to_dict("records"), start=2):
        where = f"row {n}"
        note = str(row.get("memo", "") or "").strip()
        if note:
            try:
                seg_id = int(float(str(row.get("segment_id", "")).strip()))
            except (ValueError, OverflowError):
                seg_id = -1
            seg = current.get(seg_id)
            if seg is None or not seg[2] or text_check(seg[0]) != str(row.get("text_check", "")).strip():
                report.problems.append(f"{where}: memo not stored: the row's segment is not in this project as it "
                                       f"was exported")
            else:
                memo_cells.setdefault(seg_id, []).append((where, note))
        cell = str(row.get("decision", "")).strip()
        if not cell:
            report.blank += 1
            continue
        match = _DECISION.match(cell)
        if not match:
            report.problems.append(f"{where}: unknown decision {cell!r} (use accept, reject, change:<code>, "
                                   f"add:<code>, none, or leave it blank)")
            continue
        action, target = match.group(1).lower(), (match.group(2) or "").strip()
        code = str(row.get("code", "")).strip()
        try:
            segment_id = int(float(str(row.get("segment_id", "")).strip()))
        except (ValueError, OverflowError):  # "abc", "nan", "inf"
            report.problems.append(f"{where}: segment_id {row.get('segment_id')!r} is not a number")
            continue
        seg = current.get(segment_id)
        if seg is None:
            report.problems.append(f"{where}: segment {segment_id} is not in this project")
            continue
        text, doc, is_current = seg
        if not is_current:
            report.problems.append(f"{where}: {doc!r} has a newer version since the sheet was exported; "
                                   f"export the queue again")
            continue
        if text_check(text) != str(row.get("text_check", "")).strip():
            report.problems.append(f"{where}: the text of segment {segment_id} ({doc!r}) changed since the sheet "
                                   f"was exported; export the queue again")
            continue
        if "text" in row and _normal(row["text"]) and _normal(row["text"]) != _normal(text):
            report.problems.append(f"{where}: the 'text' cell was edited; the sheet cannot move a segment's "
                                   f"boundaries (use the review page)")
            continue
        if action in ("change", "add"):
            if not target:
                report.problems.append(f"{where}: {action} needs a code, e.g. {action}:{next(iter(leaves), 'Code')}")
                continue
            if target not in leaves:
                report.problems.append(f"{where}: unknown code {target!r} in {cell!r}"
                                       + (" (a meta-theme; choose a theme under it)" if target in book else ""))
                continue
        elif target:
            report.problems.append(f"{where}: {action} takes no code ({cell!r})")
            continue
        if action == NO_CODE:
            if segment_id in nothing or any(t[2] == segment_id and t[1] == NO_CODE for t in todo):
                report.unchanged += 1
                continue
        elif code not in book and action != "add":
            report.problems.append(f"{where}: unknown code {code!r} in the 'code' column")
            continue
        if action != NO_CODE and _already(mine, segment_id, code, action, target):
            report.unchanged += 1
            continue
        run = str(row.get("run_id", "")).strip()
        try:
            run_id = int(float(run)) if run else None
        except (ValueError, OverflowError):  # one bad cell is that row's problem, not the whole import's
            report.problems.append(f"{where}: run_id {run!r} is not a number")
            continue
        todo.append((where, action, segment_id, code, target or None, run_id))
    with transaction(con):
        for where, action, segment_id, code, target, run_id in todo:
            try:
                if action == NO_CODE:
                    record_no_code(con, coder, segment_id, batch)
                elif action == "add":
                    record_decision(con, coder, "add", segment_id, target, None, run_id, batch, book)
                else:
                    record_decision(con, coder, action, segment_id, code, target, run_id, batch, book)
            except DecisionError as exc:
                report.problems.append(f"{where}: {exc}")
                continue
            report.recorded += 1
    for segment_id, cells in memo_cells.items():
        # a passage's rows all carry its memo: the first cell that differs from it is the edit
        for where, note in cells:
            try:
                if set_memo(con, coder, "segment", note, segment_id=segment_id) is not None:
                    report.memos += 1
                    break
            except MemoError as exc:
                report.problems.append(f"{where}: memo not stored: {exc}")
                break
    report.problems.sort(key=lambda p: int(p.split(":")[0].split()[1]))
    return report


def _already(mine: pd.DataFrame, segment_id: int, code: str, action: str, target: str) -> bool:
    """Whether the coder's coding already says what the row says (re-importing is harmless)."""
    def state(c: str) -> str | None:
        key = (segment_id, c)
        return mine.loc[key, "status"] if key in mine.index else None

    if action == "accept":
        return state(code) == "accepted"
    if action == "reject":
        return state(code) == "rejected"
    if action == "change":
        return state(code) == "rejected" and state(target) == "accepted"
    return state(target) == "accepted"
