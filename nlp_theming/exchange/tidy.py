"""Tidy tables out of the store: suggestions and the human coding as long tables and files.

One row per (segment, suggested code), with the segment's text, offsets, speaker, times, its
document's metadata and the memos on it as plain columns, so pandas and R read it as it is.
The memos themselves are a table too (:func:`memos_table`). Files are written
by :mod:`nlp_theming.tables` (CSV, XLSX, Parquet), so no cell becomes a spreadsheet formula.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ..review.memos import search_memos
from ..store.decisions import coding, nothing_applies
from ..store.documents import current_document_ids, segment_texts
from ..store.memos import memos_frame
from ..store.runs import require_run, run_counts, suggestion_table
from ..suggest import suggestable_segments
from ..tables import check_xlsx_rows, table_format, write_csv_blocks, write_table

__all__ = ["coded_units_table", "export_memos", "export_suggestions", "memos_table", "suggestion_blocks",
           "suggestion_table", "suggestions_with_memos"]

#: how several memos share one cell: "ana: text | bo: text"
MEMO_SEPARATOR = " | "


#: current documents per block of a streamed export: a few hundred thousand rows at most
DOCUMENTS_PER_BLOCK = 500


def export_suggestions(con: sqlite3.Connection, out: str | Path, fmt: str | None = None,
                       run_id: int | None = None, progress: bool = False) -> Path:
    """Write a run's suggestions table (default: the latest run) as CSV, XLSX or Parquet, with a
    ``memo`` column (:func:`suggestions_with_memos`); ``progress``: a bar over an XLSX's rows.

    A CSV is written in blocks of documents (:func:`suggestion_blocks`), so a run of millions of
    rows never sits in memory whole; its bytes are those of the whole table written at once."""
    fmt = table_format(out, fmt)
    if fmt == "csv":
        return write_csv_blocks(suggestion_blocks(con, run_id), out)
    if fmt == "xlsx":  # say so before reading millions of rows that a sheet cannot hold
        check_xlsx_rows(run_counts(con, require_run(con, run_id))[1], "suggestions")
    return write_table(suggestions_with_memos(con, run_id), out, fmt, sheet="suggestions", progress=progress)


def suggestions_with_memos(con: sqlite3.Connection, run_id: int | None = None) -> pd.DataFrame:
    """The suggestion table with ``memo``: the memos in force on each row's passage and on
    decisions about its code there, as ``coder: text`` joined by :data:`MEMO_SEPARATOR`."""
    return _with_memos(suggestion_table(con, run_id), _memo_lines(con))


def suggestion_blocks(con: sqlite3.Connection, run_id: int | None = None,
                      documents_per_block: int = DOCUMENTS_PER_BLOCK) -> Iterator[pd.DataFrame]:
    """:func:`suggestions_with_memos` in blocks of current documents, in its row order (documents
    by name); at least one block, empty when the run has no rows."""
    run_id = require_run(con, run_id)
    memos = _memo_lines(con)
    ids = current_document_ids(con)  # by name, the table's first sort key
    for start in range(0, max(len(ids), 1), documents_per_block):
        yield _with_memos(suggestion_table(con, run_id, document_ids=ids[start:start + documents_per_block]), memos)


def _memo_lines(con: sqlite3.Connection) -> tuple[dict[int, list[str]], dict[tuple[int, str], list[str]]]:
    """The memos in force as lines, by passage and by (passage, code) of a decision."""
    memos = memos_frame(con)
    memos = memos[memos.segment_id.notna() & memos.target.isin(["segment", "decision"])]
    on_segment: dict[int, list[str]] = {}
    on_code: dict[tuple[int, str], list[str]] = {}
    for m in memos.itertuples(index=False):
        line = f"{m.coder}: {m.text}"
        if m.target == "segment" or not isinstance(m.code, str):
            on_segment.setdefault(int(m.segment_id), []).append(line)
        else:
            on_code.setdefault((int(m.segment_id), m.code), []).append(line)
    return on_segment, on_code


def _with_memos(table: pd.DataFrame, memos: tuple[dict, dict]) -> pd.DataFrame:
    on_segment, on_code = memos
    if "turn_idx" in table:
        # NULL for text before any speaker: as a nullable integer a block writes 3, never 3.0
        table["turn_idx"] = table["turn_idx"].astype("Int64")
    table["memo"] = [MEMO_SEPARATOR.join(on_segment.get(int(s), []) + on_code.get((int(s), c), []))
                     for s, c in zip(table.segment_id, table.code, strict=True)]
    return table


def memos_table(con: sqlite3.Connection, q: str = "", history: bool = False) -> pd.DataFrame:
    """Every memo in force (``history``: every version), newest first; ``q``: those holding every
    word of it. Columns: memo, version, at, coder, target, about, document, segment_id, code,
    decision_id, text, and ``passage`` (the text of the passage it is on, if any)."""
    if history:
        frame = memos_frame(con, history=True).iloc[::-1].reset_index(drop=True)
        frame["about"] = frame.target
    else:
        frame = search_memos(con, q)
    ids = [int(s) for s in frame.segment_id.dropna()]
    texts = segment_texts(con, ids) if ids else {}
    frame["passage"] = [texts.get(int(s), "") if not pd.isna(s) else "" for s in frame.segment_id]
    cols = ["memo", "version", "at", "coder", "target", "about", "document", "segment_id", "code", "decision_id",
            "text", "passage"]
    return frame[cols]


def export_memos(con: sqlite3.Connection, out: str | Path, q: str = "", history: bool = False) -> Path:
    """Write :func:`memos_table` as CSV, XLSX or Parquet (by the file's extension)."""
    return write_table(memos_table(con, q, history), out, None, sheet="memos")


def coded_units_table(con: sqlite3.Connection, scheme: str, coders: list[str] | None = None) -> pd.DataFrame:
    """The human coding as long-format units, the file ``evaluate`` reads: every participant
    segment of every document a coder coded, with its context (speaker, role, position in the
    document and the turn before it), as ``suggest`` sees them."""
    current = coding(con)
    # a document where the coder only said "no code applies" was coded all the same
    nothing = nothing_applies(con)
    if coders:
        current = current[current.coder.isin(coders)]
        nothing = nothing[nothing.coder.isin(coders)]
    segs = suggestable_segments(con, scheme)
    rows = []
    documents = pd.concat([current[["coder", "document_id"]], nothing[["coder", "document_id"]]])
    for coder, docs in documents.groupby("coder", sort=True):
        theirs = current[current.coder == coder]
        codes = theirs.groupby("segment_id").code.apply(lambda c: sorted(set(c)))
        for seg in segs[segs.document_id.isin(docs.document_id)].itertuples(index=False):
            rows.append(
                (f"{seg.document}-{seg.segment_idx:04d}", seg.document, coder, seg.text, codes.get(seg.segment_id, []),
                 seg.speaker, seg.speaker_role, seg.segment_idx, seg.previous_text or None)
            )
    return pd.DataFrame(rows, columns=["unit_id", "document", "coder", "text", "codes", "speaker", "role", "position",
                                       "previous_text"])
