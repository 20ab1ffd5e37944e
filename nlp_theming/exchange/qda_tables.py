"""Coded-segment tables exported by QDA packages (MAXQDA, ATLAS.ti, NVivo) as spans.

Each package writes its coded passages as a table (CSV or XLSX): the document, the words of the
passage, its code or codes, who coded it and where it lies, as paragraphs, lines or characters.
:func:`read_qda_table` recognises which package wrote a table from its header, with one small
registered :class:`Layout` per table layout (a new layout is one more class), and turns its rows
into :class:`Passage` records. :func:`qda_spans` finds each passage in the project's stored text
(:mod:`nlp_theming.review.locate`) and maps its codes onto the codebook's themes, reporting each
row it cannot use with the file, the row number and why.

Row numbers are the spreadsheet's (the header row's number plus the data rows below it), so a
reported row is the row a person opens in Excel. The layouts, and which documentation each
follows, are described in ``docs/exchange.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pandas as pd

from ..codebook import load_stored_codebook
from ..review.locate import find_passage, matches_at, paragraph_region, resolve_document
from ..store.documents import current_texts
from ..textio import InputError, check_size, header_name, open_workbook, read_text_file, sniff_delimiter

#: How many rows at the top of a sheet are searched for the header (a title row may come first).
HEADER_SEARCH_ROWS = 10
#: Characters either side of a stated character range searched first when the text there differs.
CHAR_SLACK = 200
SPAN_COLUMNS = ["document", "start", "end", "code", "coder", "text"]


class RowError(ValueError):
    """A row that cannot be used; the message says why."""


@dataclass
class Passage:
    """One coded passage as a table states it."""

    row: int
    document: str
    codes: list[str]
    coder: str | None
    text: str
    unit: str | None = None  # "paragraph", "line" or "char"; None: no usable position
    first: int | None = None  # paragraph/line numbers (1-based, inclusive) or character offsets
    last: int | None = None


class Layout:
    """One package's coded-segment table. Subclasses name their columns (normalised header
    names, :func:`~nlp_theming.textio.header_name`), which of them identify the layout, and how
    a row's position reads."""

    name: ClassVar[str]
    package: ClassVar[str]
    #: Every group must have one of its names in the header for the layout to be recognised.
    signature: ClassVar[tuple[tuple[str, ...], ...]]
    #: field -> header names it may have, the preferred first.
    columns: ClassVar[dict[str, tuple[str, ...]]]
    #: What the position columns count.
    unit: ClassVar[str] = "paragraph"

    @classmethod
    def matches(cls, names: list[str] | set[str]) -> bool:
        return all(any(n in names for n in group) for group in cls.signature)

    def get(self, record: dict[str, str], name: str) -> str:
        """The first non-empty cell of a field's columns."""
        return next((record[c].strip() for c in self.columns.get(name, ()) if record.get(c, "").strip()), "")

    def codes(self, record: dict[str, str]) -> list[str]:
        return [self.get(record, "code")] if self.get(record, "code") else []

    def position(self, record: dict[str, str]) -> tuple[str | None, int | None, int | None]:
        first, last = _integer(self.get(record, "first")), _integer(self.get(record, "last"))
        return (self.unit, first, last) if first is not None else (None, None, None)

    def passage(self, row: int, record: dict[str, str]) -> Passage:
        document = self.get(record, "document")
        if not document:
            raise RowError("no document named")
        codes = self.codes(record)
        if not codes:
            raise RowError("no code")
        unit, first, last = self.position(record)
        return Passage(row, document, codes, self.get(record, "coder") or None, self.get(record, "text"),
                       unit, first, last)


LAYOUTS: list[type[Layout]] = []


def register(layout: type[Layout]) -> type[Layout]:
    """Add a layout to those :func:`find_layout` recognises (in the order registered)."""
    LAYOUTS.append(layout)
    return layout


@register
class MaxqdaSegments(Layout):
    """MAXQDA's export of coded segments (Retrieved Segments / Overview of Coded Segments, Excel
    or CSV): one row per segment and code; Beginning/End are paragraph numbers for text."""

    name = "maxqda"
    package = "MAXQDA"
    signature = (("document_name", "dokumentname"), ("code",), ("beginning", "begin", "anfang"),
                 ("segment",))
    columns: ClassVar[dict[str, tuple[str, ...]]] = {
        "document": ("document_name", "dokumentname"),
        "code": ("code",),
        "text": ("segment",),
        "first": ("beginning", "begin", "anfang"),
        "last": ("end", "ende"),
        "coder": ("created_by", "erstellt_von", "modified_by", "author", "autor"),
    }


@register
class AtlasQuotations(Layout):
    """ATLAS.ti's quotation export (Quotation Manager to Excel): one row per quotation with all
    its codes in one cell, one per line; Start/End (or Reference) are paragraphs for text."""

    name = "atlas.ti"
    package = "ATLAS.ti"
    signature = (("quotation_content", "quotation_name", "quotation"), ("document", "document_name"))
    columns: ClassVar[dict[str, tuple[str, ...]]] = {
        "document": ("document", "document_name"),
        "code": ("codes", "code"),
        "text": ("quotation_content", "content", "quotation"),
        "first": ("start",),
        "last": ("end",),
        "reference": ("reference",),
        "coder": ("created_by", "creator", "author", "modified_by"),
    }

    def codes(self, record: dict[str, str]) -> list[str]:
        return list(dict.fromkeys(c.strip() for c in self.get(record, "code").splitlines() if c.strip()))

    def position(self, record: dict[str, str]) -> tuple[str | None, int | None, int | None]:
        unit, first, last = super().position(record)
        if first is None:  # "12 - 13", "¶ 12 – 13", "paragraph 12": the reference column
            first, last = _range(self.get(record, "reference"))
            unit = "paragraph" if first is not None else None
        return unit, first, last


@register
class NvivoCodingSummary(Layout):
    """NVivo's Coding Summary by Code report as a table: one row per coding reference, with
    its character range (e.g. "465 - 823") and, when asked for, the coded text."""

    name = "nvivo-summary"
    package = "NVivo"
    unit = "char"
    signature = (("code", "node", "code_hierarchical_name", "node_hierarchical_name"),
                 ("file", "source", "file_name", "source_name", "file_hierarchical_name"),
                 ("reference_number",), ("coverage",))
    columns: ClassVar[dict[str, tuple[str, ...]]] = {
        "document": ("file", "file_name", "source", "source_name", "file_hierarchical_name"),
        "code": ("code_hierarchical_name", "node_hierarchical_name", "code", "node"),
        "text": ("coded_text", "text", "reference_text", "content"),
        "range": ("character_range", "range", "characters"),
        "coder": ("coded_by", "coded_by_initials", "user", "modified_by"),
    }

    def position(self, record: dict[str, str]) -> tuple[str | None, int | None, int | None]:
        first, last = _range(self.get(record, "range"))
        return ("char", first, last) if first is not None and last is not None else (None, None, None)


@register
class NvivoCodedContent(Layout):
    """NVivo's coded content exported as a table: file or case, code, coverage, the reference's
    text and the paragraphs it spans ("3 - 4", "Paragraphs 3-4")."""

    name = "nvivo-content"
    package = "NVivo"
    signature = (("code", "node", "code_hierarchical_name", "node_hierarchical_name"),
                 ("file", "case", "source", "file_name", "source_name"), ("coverage",),
                 ("reference_text", "coded_content", "coded_text", "text", "content"))
    columns: ClassVar[dict[str, tuple[str, ...]]] = {
        "document": ("file", "file_name", "source", "source_name", "case"),
        "code": ("code_hierarchical_name", "node_hierarchical_name", "code", "node"),
        "text": ("reference_text", "coded_content", "coded_text", "text", "content"),
        "paragraphs": ("paragraphs", "paragraph", "paragraph_range"),
        "coder": ("coded_by", "coded_by_initials", "user", "modified_by"),
    }

    def position(self, record: dict[str, str]) -> tuple[str | None, int | None, int | None]:
        first, last = _range(self.get(record, "paragraphs"))
        return ("paragraph", first, last) if first is not None else (None, None, None)


def find_layout(names: list[str] | set[str]) -> type[Layout] | None:
    """The registered layout whose signature a (normalised) header has, if any."""
    return next((layout for layout in LAYOUTS if layout.matches(names)), None)


def _integer(value: str) -> int | None:
    """A whole number as a spreadsheet writes it ("12", "12.0"); None for times or words."""
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() and 0 <= number < 2**63 else None


def _range(value: str) -> tuple[int | None, int | None]:
    """First and last number of "465 - 823", "¶ 12 – 13", "Paragraphs 3-4" or "7"; (None, None)
    for anything else (times "0:01:02", PDF page references with more numbers)."""
    if ":" in value:
        return None, None
    found = re.findall(r"\d+", value)
    if any(len(n) > 18 for n in found):  # no paragraph or offset has this many digits
        return None, None
    numbers = [int(n) for n in found]
    if len(numbers) == 1:
        return numbers[0], numbers[0]
    if len(numbers) == 2:
        return numbers[0], numbers[1]
    return None, None


# ---- reading the table ------------------------------------------------------------------


@dataclass
class QdaTable:
    layout: type[Layout]
    passages: list[Passage]
    problems: list[str] = field(default_factory=list)


def table_rows(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row number, cells as text) of a CSV file or an XLSX workbook's first sheet
    that has a QDA header within its first rows (else its first sheet)."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        yield from _xlsx_rows(path)
        return
    check_size(path.stat().st_size)
    text = read_text_file(path)
    delimiter = sniff_delimiter(text, accept=lambda names: find_layout(names) is not None)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    yield from enumerate(reader, start=1)


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    book = open_workbook(path)
    try:
        chosen = book.worksheets[0] if book.worksheets else None
        for sheet in book.worksheets:
            top = [[_cell(v) for v in row] for row in sheet.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True)]
            if any(find_layout([header_name(c) for c in row]) for row in top):
                chosen = sheet
                break
        if chosen is None:
            return
        for n, row in enumerate(chosen.iter_rows(values_only=True), start=1):
            yield n, [_cell(v) for v in row]
    except Exception as exc:  # a sheet's XML is parsed as it is read: damage shows here
        raise InputError(f"the workbook is damaged ({type(exc).__name__}: {_first_line(exc)})") from None
    finally:
        book.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def sniff_table(path: str | Path) -> type[Layout] | None:
    """The layout of a QDA coded-segment table, or None when it is not one (or unreadable)."""
    try:
        for n, cells in table_rows(path):
            layout = find_layout([header_name(c) for c in cells])
            if layout is not None or n >= HEADER_SEARCH_ROWS:
                return layout
    except (InputError, OSError, csv.Error, UnicodeDecodeError):
        return None
    return None


def read_qda_table(path: str | Path) -> QdaTable:
    """Read a QDA package's coded-segment table into passages; rows that cannot be read are
    reported (``file: row N: why``) and left out. Raises :class:`InputError` when the file is
    not a table of a known layout."""
    path = Path(path)
    rows = table_rows(path)
    layout = names = None
    try:
        for n, cells in rows:
            names = [header_name(c) for c in cells]
            layout = find_layout(names)
            if layout is not None or n >= HEADER_SEARCH_ROWS:
                break
    except InputError as exc:
        raise InputError(f"{path.name}: {exc}") from None
    except (OSError, csv.Error) as exc:
        raise InputError(f"{path.name}: cannot be read: {exc}") from None
    if layout is None:
        known = ", ".join(f"{lay.package} ({lay.name})" for lay in LAYOUTS)
        raise InputError(f"{path.name}: not a coded-segment table of a known layout ({known})")
    reader = layout()
    table = QdaTable(layout, [])
    for n, cells in rows:
        if not any(c.strip() for c in cells):
            continue  # blank rows, or rows of empty cells a spreadsheet keeps
        record = {name: cells[i] if i < len(cells) else "" for i, name in enumerate(names) if name}
        try:
            table.passages.append(reader.passage(n, record))
        except RowError as exc:
            table.problems.append(f"{path.name}: row {n}: {exc}")
    return table


# ---- locating the passages ----------------------------------------------------------------


@dataclass
class QdaSpans:
    spans: pd.DataFrame  # document, start, end, code, coder, text
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def qda_spans(con: sqlite3.Connection, path: str | Path, coder: str | None = None) -> QdaSpans:
    """The spans of a QDA coded-segment table, found in the project's current documents.

    A row's codes are mapped onto the codebook's themes (a code path's last part names the
    theme); its document is matched by name, without folder or extension if need be. Character
    offsets are used as they are when the text at them is the passage's (0- or 1-based, end
    inclusive or not); otherwise the passage is found by its words, in its stated paragraphs or
    lines first, then in the whole document (:func:`~nlp_theming.review.locate.find_passage`).
    A row with no coder is ``coder``'s, else the package's; with ``coder``, other coders' rows
    are skipped.
    """
    path = Path(path)
    table = read_qda_table(path)
    out = QdaSpans(pd.DataFrame(columns=SPAN_COLUMNS), list(table.problems))
    texts = current_texts(con)
    codebook = load_stored_codebook(con)[1]
    rows: list[tuple] = []
    how: Counter = Counter()
    renamed: dict[str, str] = {}
    worst = 1.0
    for p in table.passages:
        where = f"{path.name}: row {p.row}"
        who = p.coder or coder or table.layout.package
        if coder and who != coder:
            continue
        document = resolve_document(p.document, texts)
        if document is None:
            out.problems.append(f"{where}: unknown document {p.document!r}")
            continue
        if document != p.document:
            renamed[p.document] = document
        codes = []
        for raw in p.codes:
            leaf = codebook.resolve_leaf(raw)
            if leaf is None:
                out.problems.append(f"{where}: unknown code {raw!r} (not a theme of the codebook)")
            else:
                codes.append(leaf)
        if not codes:
            continue
        text = texts[document]
        span, kind, score = _locate(text, p)
        if span is None:
            out.problems.append(f"{where}: {kind} in {document!r}{_stated(p)}: {_preview(p.text)}")
            continue
        how[kind] += 1
        worst = min(worst, score)
        rows += [(document, span[0], span[1], code, who, text[span[0]:span[1]]) for code in codes]
    out.spans = pd.DataFrame(rows, columns=SPAN_COLUMNS).drop_duplicates(ignore_index=True)
    found = sum(how.values())
    out.notes.append(
        f"{path.name}: read as {table.layout.package} coded segments ({table.layout.name}); "
        f"{found} of {len(table.passages)} rows located"
        + (f": {', '.join(f'{n} {k}' for k, n in sorted(how.items()))}" if how else "")
        + (f" (lowest fuzzy score {worst:.2f})" if how["by fuzzy match"] else "")
    )
    if renamed:
        pairs = ", ".join(f"{a!r} as {b!r}" for a, b in sorted(renamed.items()))
        out.notes.append(f"{path.name}: documents matched by name without folder or extension: {pairs}")
    if not any(p.coder for p in table.passages) and table.passages:
        out.notes.append(f"{path.name}: no coder column; the coding is recorded as {coder or table.layout.package!r}")
    return out


def _locate(text: str, p: Passage) -> tuple[tuple[int, int] | None, str, float]:
    """(span, how it was found, score), or (None, why not, 0)."""
    if p.unit == "char" and p.first is not None and p.last is not None:
        if not p.text:  # offsets alone: trusted as they are if they fit the text
            ok = 0 <= p.first < p.last <= len(text)
            return ((p.first, p.last), "at the stated characters", 1.0) if ok else (
                None, f"characters {p.first}-{p.last} outside the text (0-{len(text)})", 0.0)
        for start, end in ((p.first, p.last), (p.first - 1, p.last), (p.first, p.last + 1), (p.first - 1, p.last - 1)):
            if matches_at(text, p.text, start, end):
                return (start, end), "at the stated characters", 1.0
        prefer, stated = (p.first - CHAR_SLACK, p.last + CHAR_SLACK), (p.first, p.last)
    elif p.unit in ("paragraph", "line") and p.first is not None:
        prefer, stated = paragraph_region(text, p.first, p.last), paragraph_region(text, p.first, p.last, slack=0)
    else:
        prefer = stated = None
    if not p.text:
        return None, "no passage text to look for", 0.0
    found = find_passage(text, p.text, prefer, stated)
    if found is None:
        return None, "passage not found", 0.0
    if found.how == "fuzzy":
        return (found.start, found.end), "by fuzzy match", found.score
    if prefer is not None and not found.in_region:
        return (found.start, found.end), "elsewhere than stated", 1.0
    if prefer is None:
        return (found.start, found.end), "by its words", 1.0
    return (found.start, found.end), "near the stated characters" if p.unit == "char" else "at the stated position", 1.0


def _stated(p: Passage) -> str:
    if p.first is None:
        return ""
    unit = {"char": "characters", "paragraph": "paragraphs", "line": "lines"}[p.unit or "paragraph"]
    return f" ({unit} {p.first}-{p.last})" if p.last not in (None, p.first) else f" ({unit[:-1]} {p.first})"


def _preview(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")
