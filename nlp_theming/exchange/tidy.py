"""Tidy tables out of the store: suggestions and the human coding as long tables and files.

One row per (segment, suggested code), with the segment's text, offsets, speaker, times and
its document's metadata as plain columns, so pandas and R read it as it is. Files are written
by :mod:`nlp_theming.tables` (CSV, XLSX, Parquet), so no cell becomes a spreadsheet formula.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from ..store.decisions import coding, nothing_applies
from ..store.runs import suggestion_table
from ..suggest import suggestable_segments
from ..tables import write_table

__all__ = ["coded_units_table", "export_suggestions", "suggestion_table"]


def export_suggestions(con: sqlite3.Connection, out: str | Path, fmt: str | None = None,
                       run_id: int | None = None) -> Path:
    """Write a run's suggestions table (default: the latest run) as CSV, XLSX or Parquet."""
    return write_table(suggestion_table(con, run_id), out, fmt, sheet="suggestions")


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
