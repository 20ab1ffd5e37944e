"""The one way tables leave nlp-theming: CSV, XLSX and Parquet writers with the formula guard.

Transcripts are untrusted text. A spreadsheet program runs a CSV cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return as a formula (``=HYPERLINK(...)`` can send data
away), and openpyxl writes a string starting with ``=`` as a live formula. Every table output
of the package goes through this module, so no output can forget the guard:

* CSV: such a cell gets a leading apostrophe, which :func:`formula_unsafe` removes again when
  one of our readers reads the file back.
* XLSX: every string cell, headers included, is typed as text; characters XML cannot hold are
  dropped.
* Parquet keeps values as they are: it is read by programs, not spreadsheets.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd

from .progress import bar

FORMATS = ("csv", "xlsx", "parquet")
#: Rows of an XLSX sheet, its header included: Excel opens no more.
XLSX_MAX_ROWS = 1_048_576
#: Spreadsheet programs run a CSV cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: object) -> object:
    """A CSV cell no spreadsheet runs as a formula: a leading apostrophe when a string starts
    with = + - @ tab or CR. Other values pass unchanged."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def formula_unsafe(value: object) -> object:
    """Undo :func:`formula_safe` on a cell read back from a CSV."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def formula_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`formula_safe` on every cell, headers included (a site may be named "=...")."""
    out = frame.copy(deep=False)
    for i, dtype in enumerate(frame.dtypes):
        # only a column that can hold text can hold a formula: numbers pass untouched, and
        # skipping them saves a Python call per cell on millions of rows
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype) or isinstance(
                dtype, pd.CategoricalDtype):
            out.isetitem(i, frame.iloc[:, i].map(formula_safe))
    out.columns = [formula_safe(str(c)) for c in frame.columns]
    return out


def formula_unsafe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`formula_unsafe` on every cell and header of a frame read from one of our CSVs."""
    out = frame.map(formula_unsafe)
    out.columns = [formula_unsafe(str(c)) for c in frame.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, *, bom: bool = False) -> Path:
    """Write ``frame`` as a guarded UTF-8 CSV (with a BOM when Excel is the expected reader)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    formula_safe_frame(frame).to_csv(path, index=False, encoding="utf-8-sig" if bom else "utf-8")
    return path


def write_csv_blocks(blocks: Iterable[pd.DataFrame], path: str | Path, *, bom: bool = False) -> Path:
    """Write frames one after another as one guarded UTF-8 CSV, holding one block in memory at a
    time: the same bytes as :func:`write_csv` of their concatenation when the blocks agree on
    their columns' types. The first block's columns (and header) are the file's; a later block is
    put in that order. No block at all writes an empty file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: list | None = None
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        for block in blocks:
            first = columns is None
            if columns is None:
                columns = list(block.columns)
            formula_safe_frame(block[columns]).to_csv(fh, index=False, header=first)
    return path


class GuardedWriter:
    """``csv.writer`` whose every row passes through :func:`formula_safe` (for row-by-row writers)."""

    def __init__(self, fh: IO[str], **kwargs: Any) -> None:
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([formula_safe(v) for v in row])


def _xlsx_value(value: object) -> object:
    import numpy as np
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None:
        return None
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple | set | dict):
        return ILLEGAL_CHARACTERS_RE.sub("", str(value))  # a list of codes is text in a cell
    try:
        if pd.isna(value):  # type: ignore[arg-type]
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    return value


def add_sheet(workbook: Any, title: str, frame: pd.DataFrame, widths: Mapping[str, int] | None = None,
              wrap_from: int = 40, progress: bool = False) -> Any:
    """Append ``frame`` to an openpyxl ``workbook`` as a sheet whose text cells are never formulas.

    ``widths``: column widths by name (others fit their first 200 values, at most 50);
    columns at least ``wrap_from`` wide wrap their text; ``progress``: a bar over the rows (openpyxl
    takes seconds per 10,000). Returns the worksheet.
    """
    from openpyxl.styles import Alignment, Font, PatternFill

    check_xlsx_rows(len(frame), title)
    ws = workbook.create_sheet(title)
    ws.append([_xlsx_value(str(c)) for c in frame.columns])
    rows = bar(len(frame), f"xlsx {title}", "row", progress)
    for values in frame.itertuples(index=False):
        ws.append([_xlsx_value(v) for v in values])
        rows.update(1)
    rows.close()
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text that starts with "=" stays text, never a formula
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E8EEF6")
    ws.freeze_panes = "A2"
    for i, col in enumerate(frame.columns, start=1):
        letter = ws.cell(row=1, column=i).column_letter
        width = (widths or {}).get(str(col))
        if width is None:
            values = [len(str(v)) for v in frame[col].head(200) if _xlsx_value(v) is not None]
            width = min(max(8, max([len(str(col)), *values]) + 2), 50)
        ws.column_dimensions[letter].width = width
        if width >= wrap_from:
            for cell in ws[letter][1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    return ws


def check_xlsx_rows(n_rows: int, what: str = "table") -> None:
    """A clear ValueError when ``n_rows`` rows (header not counted) would not fit one XLSX sheet."""
    if n_rows >= XLSX_MAX_ROWS:
        raise ValueError(f"{what}: {n_rows:,} rows, and an XLSX sheet holds at most {XLSX_MAX_ROWS - 1:,}; "
                         "write .csv or .parquet instead")


def new_workbook() -> Any:
    """An empty openpyxl workbook (no default sheet) for :func:`add_sheet`."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    return wb


def write_xlsx(sheets: pd.DataFrame | Mapping[str, pd.DataFrame], path: str | Path,
               widths: Mapping[str, int] | None = None, progress: bool = False) -> Path:
    """Write one frame (sheet "table") or several (title -> frame) as a guarded workbook."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(sheets, pd.DataFrame):
        sheets = {"table": sheets}
    wb = new_workbook()
    for title, frame in sheets.items():
        add_sheet(wb, title, frame, widths, progress=progress)
    wb.save(path)
    return path


def table_format(path: str | Path, fmt: str | None = None, allowed: Sequence[str] = FORMATS) -> str:
    """The format asked for, else the file's extension; a clear error for anything else."""
    fmt = (fmt or Path(path).suffix.lstrip(".") or "csv").lower()
    if fmt not in allowed:
        raise ValueError(f"unknown table format {fmt!r}; choose one of {', '.join(allowed)}")
    return fmt


def write_table(frame: pd.DataFrame, path: str | Path, fmt: str | None = None, sheet: str = "table",
                progress: bool = False) -> Path:
    """Write one table as CSV, XLSX or Parquet (from ``fmt`` or the extension), guarded."""
    fmt = table_format(path, fmt)
    path = Path(path)
    if fmt == "csv":
        return write_csv(frame, path)
    if fmt == "xlsx":
        return write_xlsx({sheet: frame}, path, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def json_safe(obj: Any) -> Any:
    """A value JSON can hold: frames as lists of records, numpy scalars and arrays as Python
    values, NaN and missing values as None, anything else unknown as its string."""
    import math

    import numpy as np

    if isinstance(obj, pd.DataFrame):
        return [json_safe(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | np.ndarray | pd.Series):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return None if not math.isfinite(float(obj)) else float(obj)
    if obj is None or (not isinstance(obj, str) and pd.isna(obj)):
        return None
    return obj if isinstance(obj, str) else str(obj)
