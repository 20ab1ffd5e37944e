"""Read and write human coding kept in CSV files.

Two layouts are supported:

* span coding: ``document, start, end, code, coder`` (optional ``text``), one row per highlighted
  passage and code, with character offsets (0-based, end exclusive) into the document's plain text;
* long-format coded units: ``unit_id, document, coder, text, codes``, one row per unit and coder,
  the codes joined by `` | `` ("|" without spaces is read too); an empty ``codes`` cell means the
  coder saw the unit and applied no code.  Extra columns are ignored.

Files are decoded like transcripts (BOMs, UTF-8, UTF-16, cp1252 as Excel writes it), a header that
does not parse with commas is tried with ';' and tabs, and rows of empty cells are skipped.

Problems are reported as :class:`CodedFileError` (a ``ValueError``) naming the file, the line and
the problem, e.g. ``spans.csv: line 4 (row 3): start 12 is not less than end 10``.  Lines count
from the header (line 1); rows count data rows from 1.  Column names match case-insensitively,
ignoring surrounding spaces ("Unit ID" is unit_id).
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from ..tables import GuardedWriter, formula_unsafe
from ..textio import DELIMITERS, InputError, header_name, read_text_file, sniff_delimiter
from ..textio import header_names as text_header_names

__all__ = [
    "CODES_SEPARATOR",
    "UNIT_ALIASES",
    "CodedFileError",
    "CodedUnitsWarning",
    "coded_units_to_codings",
    "header_name",
    "header_names",
    "read_coded_units_csv",
    "read_span_csv",
    "write_coded_units_csv",
    "write_span_csv",
]

SPAN_COLUMNS = ("document", "start", "end", "code", "coder")
UNIT_COLUMNS = ("unit_id", "document", "coder", "text", "codes")
#: Optional columns that place a unit in its interview, for matchers that use context
#: (match.context): who spoke, their role (interviewer or participant), the unit's position in
#: its document (reading order), and the text said just before by someone else (the question).
UNIT_CONTEXT_COLUMNS = ("speaker", "role", "position", "previous_text")
CODES_SEPARATOR = " | "


class CodedFileError(InputError):
    """A coding file that cannot be read: names the file, line/row and the problem."""

    def __init__(self, path: str | Path, line: int, problem: str, row: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.row = row
        self.problem = problem
        where = f"line {line}" if row is None else f"line {line} (row {row})"
        super().__init__(f"{self.path}: {where}: {problem}")


# Header spellings other tools and spreadsheets use for the long-format unit columns; only
# consulted when the canonical name is absent, so a file that has both keeps the canonical one.
UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "unit_id": ("unit", "unitid", "unit_no", "unit_number", "segment_id", "id"),
    "document": ("doc", "document_id", "doc_id", "document_name", "file", "filename", "transcript"),
    "coder": ("annotator", "rater", "coder_id", "annotator_id", "user"),
    "text": ("unit_text", "segment_text", "content", "quote", "utterance"),
    "codes": ("code", "labels", "label", "tags", "tag", "themes", "theme"),
    "speaker": ("interlocutor", "speaker_name", "speaker_label"),
    "role": ("speaker_role",),
    "position": ("order", "segment_idx", "unit_index", "sequence"),
    "previous_text": ("previous", "preceding_text", "question", "prompt"),
}


class CodedUnitsWarning(UserWarning):
    """Something in a coded-units file was repaired rather than refused (e.g. merged duplicate rows)."""


def _decode(path: str | Path) -> str:
    try:
        # The same decoding as transcripts and codebooks: BOMs, UTF-8, UTF-16, cp1252 (Excel).
        return read_text_file(path)
    except InputError as exc:
        raise CodedFileError(path, 1, str(exc)) from None


def header_names(path: str | Path) -> list[str]:
    """The normalised column names of a CSV file's header, whatever its encoding and separator."""
    text = _decode(path)
    return text_header_names(text, sniff_delimiter(text))


def _header_map(names: list[str], wanted: Sequence[str], aliases: dict[str, tuple[str, ...]]) -> dict[int, str]:
    """Column index -> canonical name; a repeated extra column keeps its first occurrence."""
    out: dict[int, str] = {}
    for i, n in enumerate(names):
        if n and (n in wanted or n not in out.values()):
            out[i] = n
    for want in wanted:
        if want in names:
            continue
        alias = next((a for a in aliases.get(want, ()) if a in names and a not in wanted), None)
        if alias is not None:
            out[names.index(alias)] = want
    return out


def _rows(
    path: str | Path,
    required: Sequence[str],
    sep: str,
    aliases: dict[str, tuple[str, ...]] | None = None,
    optional: Sequence[str] = (),
) -> Iterator[tuple[int, int, dict[str, str]]]:
    """Yield (line, row, record) with normalised column names; checks the header. ``optional``
    columns are found like required ones (aliases included) but may be missing from the records."""
    aliases = aliases or {}
    wanted = [*required, *optional]
    text = _decode(path)
    candidates = [sep] + ([d for d in DELIMITERS if d != sep] if sep == "," else [])  # European Excel writes ';'
    reader = names = mapping = None
    for candidate in candidates:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=candidate)
        try:
            header = next(reader)
        except StopIteration:
            raise CodedFileError(path, 1, "file is empty (no header)") from None
        names = [header_name(h) for h in header]
        mapping = _header_map(names, wanted, aliases)
        if all(c in mapping.values() for c in required):
            break
        if candidate == sep:
            first = (reader, names, mapping)
    else:
        reader, names, mapping = first  # report against the declared separator
    dupes = sorted({n for n in wanted if list(mapping.values()).count(n) > 1})
    if dupes:
        raise CodedFileError(path, 1, f"duplicate column(s): {', '.join(dupes)}")
    missing = [c for c in required if c not in mapping.values()]
    if missing:
        raise CodedFileError(
            path, 1, f"missing column(s): {', '.join(missing)} (found: {', '.join(n for n in names if n)})"
        )
    row = 0
    line_end = reader.line_num
    for fields in reader:
        line = line_end + 1  # a quoted field may span lines: report where the record starts
        line_end = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue  # blank line, or a row of empty cells from a spreadsheet
        row += 1
        if len(fields) > len(names) and any(f.strip() for f in fields[len(names) :]):
            raise CodedFileError(path, line, f"{len(fields)} fields but the header has {len(names)}", row)
        # a cell our writers guarded against spreadsheet formulas reads back as written
        record = {n: (formula_unsafe(fields[i]) if i < len(fields) else "") for i, n in mapping.items()}
        yield line, row, record


def _offset(path: str | Path, line: int, row: int, name: str, value: str) -> int:
    v = value.strip()
    if not v:
        raise CodedFileError(path, line, f"{name} is empty", row)
    try:
        number = int(v)
    except ValueError:
        try:
            f = float(v)
        except ValueError:
            raise CodedFileError(path, line, f"{name} {v[:40]!r} is not an integer", row) from None
        # Spreadsheets sometimes write 12 as "12.0"; accept whole numbers only.
        if not math.isfinite(f) or not f.is_integer():
            raise CodedFileError(path, line, f"{name} {v[:40]!r} is not an integer", row) from None
        number = int(f)
    if number < 0:
        raise CodedFileError(path, line, f"{name} {number} is negative", row)
    if number >= 2**63:  # past any text, and past what a table column holds
        raise CodedFileError(path, line, f"{name} of {len(v)} digits is too large", row)
    return number


def _required_text(path: str | Path, line: int, row: int, name: str, value: str) -> str:
    v = value.strip()
    if not v:
        raise CodedFileError(path, line, f"empty {name}", row)
    return v


def read_span_csv(path: str | Path, *, sep: str = ",") -> pd.DataFrame:
    """Read span coding: columns document, start, end, code, coder, optional text.

    Returns a DataFrame with those columns (start/end as int64; text kept verbatim when present).
    Raises :class:`CodedFileError` for missing columns, empty document/code/coder, and offsets that
    are empty, non-integer, negative, or with start >= end.
    """
    records: dict[str, list] = {c: [] for c in SPAN_COLUMNS}
    has_text = False
    for line, row, rec in _rows(path, SPAN_COLUMNS, sep):
        has_text = has_text or "text" in rec
        start = _offset(path, line, row, "start", rec["start"])
        end = _offset(path, line, row, "end", rec["end"])
        if start >= end:
            raise CodedFileError(path, line, f"start {start} is not less than end {end}", row)
        records["document"].append(_required_text(path, line, row, "document", rec["document"]))
        records["start"].append(start)
        records["end"].append(end)
        records["code"].append(_required_text(path, line, row, "code", rec["code"]))
        records["coder"].append(_required_text(path, line, row, "coder", rec["coder"]))
        if "text" in rec:
            records.setdefault("text", []).append(rec["text"])
    df = pd.DataFrame(records)
    df["start"] = df["start"].astype("int64")
    df["end"] = df["end"].astype("int64")
    if has_text and "text" not in df.columns:
        df["text"] = pd.Series(dtype=object)
    return df


def write_span_csv(spans: pd.DataFrame, path: str | Path) -> None:
    """Write span coding (document, start, end, code, coder and text if present) as UTF-8 CSV.

    Validates like :func:`read_span_csv` so that what is written can be read back.
    """
    missing = [c for c in SPAN_COLUMNS if c not in spans.columns]
    if missing:
        raise ValueError(f"spans is missing column(s): {', '.join(missing)}")
    columns = [*SPAN_COLUMNS, *(["text"] if "text" in spans.columns else [])]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = GuardedWriter(fh)
        writer.writerow(columns)
        for i, rec in enumerate(spans[columns].itertuples(index=False), start=1):
            values = dict(zip(columns, rec, strict=True))
            start, end = values["start"], values["end"]
            if not (_is_int(start) and _is_int(end) and 0 <= start < end):
                raise ValueError(f"spans row {i}: bad offsets start={start!r}, end={end!r} (need 0 <= start < end)")
            for name in ("document", "code", "coder"):
                if _blank(values[name]):
                    raise ValueError(f"spans row {i}: empty {name}")
            writer.writerow(["" if _blank(values[c]) else values[c] for c in columns])


def _is_int(v: object) -> bool:
    try:
        return float(v) == int(v)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False


def _blank(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        if pd.isna(v):  # pd.NA, NaT
            return True
    except (TypeError, ValueError):
        pass
    return isinstance(v, str) and not v.strip()


def _split_codes(path: str | Path, line: int, row: int, cell: str) -> list[str]:
    if not cell.strip():
        return []
    parts = [p.strip() for p in cell.split("|")]
    if any(not p for p in parts):
        raise CodedFileError(path, line, f"codes {cell!r} contains an empty code", row)
    return list(dict.fromkeys(parts))  # drop repeats, keep order


def read_coded_units_csv(
    path: str | Path,
    *,
    sep: str = ",",
    notes: list[str] | None = None,
    defaults: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Read long-format coded units: unit_id, document, coder, text, codes (joined by " | ").

    Returns unit_id, document, coder, text and ``codes`` as a list of strings per row (empty list:
    the coder applied no code).  Extra columns are ignored; header variants ("Unit ID", "annotator",
    "code"...) are accepted, and codes may be joined by "|" with or without spaces.  Several rows
    for one (document, unit_id, coder) are one coding: identical ones are dropped silently, others
    merged (the union of their codes) with one note.  The note goes to ``notes`` when a list is
    given, otherwise it is issued as a :class:`CodedUnitsWarning`; ``attrs["merged_units"]`` holds
    the count either way.  Raises :class:`CodedFileError` for missing columns, empty
    unit_id/document/coder and an empty code inside ``codes`` (e.g. "a | | b").

    ``defaults`` names columns that may be missing (``document``, ``coder``) and the value every
    row then takes, with a note: a one-coder file need not name its coder to be evaluated.
    """
    defaults = {k: v for k, v in (defaults or {}).items() if k in ("document", "coder")}
    required = [c for c in UNIT_COLUMNS if c not in defaults]
    out: dict[str, list] = {c: [] for c in (*UNIT_COLUMNS, *UNIT_CONTEXT_COLUMNS)}
    present: set[str] = set()
    first_seen: dict[tuple[str, str, str], tuple[int, int]] = {}  # key -> (line, index in out)
    merged: dict[tuple[str, str, str], list[int]] = {}  # key -> lines, for units whose rows disagreed
    optional = [*defaults, *UNIT_CONTEXT_COLUMNS]
    for line, row, rec in _rows(path, required, sep, UNIT_ALIASES, optional=optional):
        if row == 1:  # the header is known by now: say once which columns took their default
            for column in (c for c in defaults if c not in rec):
                _note(f"{path}: no {column} column; every unit counts as {column} {defaults[column]!r}", notes)
            present = {c for c in UNIT_CONTEXT_COLUMNS if c in rec}
        rec = {**defaults, **rec}
        unit_id = _required_text(path, line, row, "unit_id", rec["unit_id"])
        document = _required_text(path, line, row, "document", rec["document"])
        coder = _required_text(path, line, row, "coder", rec["coder"])
        codes = _split_codes(path, line, row, rec["codes"])
        key = (document, unit_id, coder)
        if key in first_seen:
            # A spreadsheet pasted twice, or one row per code: the same coding, not a conflict.
            first_line, i = first_seen[key]
            if set(codes) != set(out["codes"][i]):
                merged.setdefault(key, [first_line]).append(line)
                out["codes"][i] = list(dict.fromkeys(out["codes"][i] + codes))
            continue
        first_seen[key] = (line, len(out["unit_id"]))
        out["unit_id"].append(unit_id)
        out["document"].append(document)
        out["coder"].append(coder)
        out["text"].append(rec["text"])
        out["codes"].append(codes)
        for column in UNIT_CONTEXT_COLUMNS:
            value = rec.get(column, "").strip() if column != "previous_text" else rec.get(column, "")
            if column == "position" and value:
                value = _position(path, line, row, value)
            out[column].append(value if value != "" else None)
    kept = [*UNIT_COLUMNS, *(c for c in UNIT_CONTEXT_COLUMNS if c in present)]
    df = pd.DataFrame({c: pd.Series(out[c], dtype=object) for c in kept})
    df.attrs["merged_units"] = len(merged)
    if merged:
        (document, unit_id, coder), lines = next(iter(merged.items()))
        note = (
            f"{path}: {len(merged)} units had several rows for one coder; their codes were merged"
            f" (e.g. unit {unit_id!r} of {document!r} by {coder!r}, lines {', '.join(map(str, lines))})"
        )
        _note(note, notes)
    return df


def _position(path: str | Path, line: int, row: int, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise CodedFileError(path, line, f"position {value!r} is not a number", row) from None
    if not math.isfinite(number):
        raise CodedFileError(path, line, f"position {value!r} is not a finite number", row)
    return number


def _note(note: str, notes: list[str] | None) -> None:
    """Say what was repaired: into ``notes`` when the caller collects them, else as a warning."""
    if notes is not None:
        notes.append(note)
    else:
        warnings.warn(note, CodedUnitsWarning, stacklevel=3)


def write_coded_units_csv(units: pd.DataFrame, path: str | Path) -> None:
    """Write long-format coded units; ``codes`` (list per row) is joined with " | "."""
    missing = [c for c in UNIT_COLUMNS if c not in units.columns]
    if missing:
        raise ValueError(f"units is missing column(s): {', '.join(missing)}")
    context = [c for c in UNIT_CONTEXT_COLUMNS if c in units.columns]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = GuardedWriter(fh)
        writer.writerow([*UNIT_COLUMNS, *context])
        for i, rec in enumerate(units[[*UNIT_COLUMNS, *context]].itertuples(index=False), start=1):
            codes = [] if _blank_list(rec.codes) else [str(c) for c in rec.codes]
            for c in codes:
                if not c.strip() or "|" in c:
                    raise ValueError(f"units row {i}: code {c!r} is empty or contains '|'")
            writer.writerow(
                [
                    rec.unit_id,
                    rec.document,
                    rec.coder,
                    "" if _blank(rec.text) else rec.text,
                    CODES_SEPARATOR.join(codes),
                    *("" if _blank(v) else _number(v) for v in rec[len(UNIT_COLUMNS):]),
                ]
            )


def _number(v: object) -> object:
    """Positions read back as floats are written as the integers they are."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _blank_list(v: object) -> bool:
    return v is None or (not isinstance(v, (list, tuple)) and _blank(v))


def coded_units_to_codings(
    units: pd.DataFrame, *, unit_key: Literal["auto", "unit_id", "document"] = "auto"
) -> pd.DataFrame:
    """Tidy codings (unit, coder, code, document) for :mod:`nlp_theming.agreement`.

    One row per code; a row with code None for a coder who applied no code to the unit.  The unit
    label is ``unit_id`` when ids are unique across documents (``unit_key="auto"``, or forced with
    ``"unit_id"``), otherwise ``"<document>/<unit_id>"`` (forced with ``"document"``), so that
    ids numbered per document do not collide.
    """
    if unit_key not in ("auto", "unit_id", "document"):
        raise ValueError("unit_key must be 'auto', 'unit_id' or 'document'")
    ids_unique = units.groupby("unit_id")["document"].nunique().le(1).all()
    if unit_key == "unit_id" and not ids_unique:
        raise ValueError("unit_id values repeat across documents; use unit_key='document'")
    use_doc = unit_key == "document" or (unit_key == "auto" and not ids_unique)
    labels = (units["document"].astype(str) + "/" + units["unit_id"].astype(str)) if use_doc else units["unit_id"]
    rows: list[tuple[object, object, object, object]] = []
    for label, coder, document, codes in zip(labels, units["coder"], units["document"], units["codes"], strict=True):
        codes = [] if _blank_list(codes) else list(codes)
        if codes:
            rows.extend((label, coder, code, document) for code in codes)
        else:
            rows.append((label, coder, None, document))
    df = pd.DataFrame(rows, columns=["unit", "coder", "code", "document"], dtype=object)
    return df
