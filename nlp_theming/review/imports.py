"""Existing human coding enters the decision log as decisions of the coders who made it.

A coded span maps onto the segments it really covers: at least half of the segment, or at
least half of the span (failing both, the segment holding most of it). Each (segment, code)
gets one ``import`` decision carrying the original span, so both segment-level and character-level views can be derived.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import pandas as pd

from ..store import transaction
from ..store.decisions import Decision, DecisionError, imports_in_force, record
from ..store.documents import current_lengths, current_texts, segment_spans
from ..textio import clean_name
from .locate import find_passage


@dataclass
class ImportReport:
    decisions: int = 0
    spans: int = 0
    already: int = 0  # (segment, code) pairs the log already holds from an earlier import of the same span
    problems: list[str] = field(default_factory=list)


def span_segments(segments: pd.DataFrame, start: int, end: int) -> list[int]:
    """Ids of the segments (one document's, columns segment_id/start/end) a span covers."""
    overlap = (segments.end.clip(upper=end) - segments.start.clip(lower=start)).clip(lower=0)
    seg_len = (segments.end - segments.start).clip(lower=1)
    hit = (overlap > 0) & ((overlap >= 0.5 * seg_len) | (overlap >= 0.5 * max(end - start, 1)))
    if not hit.any() and (overlap > 0).any():
        # a short span straddling a boundary belongs where most of it lies
        hit = overlap == overlap.max()
    return segments.loc[hit, "segment_id"].astype(int).tolist()


def import_spans(
    con: sqlite3.Connection,
    spans: pd.DataFrame,
    scheme: str,
    known_codes: set[str] | None = None,
    source: str = "",
) -> ImportReport:
    """Record span coding (document, start, end, code, coder) as ``import`` decisions.

    ``document`` is the document name (current version). Rows naming an unknown document or
    code, or offsets outside the text, are reported and skipped; the rest are recorded. A span
    the log already holds as an import of the same coder (the same file imported again) is
    counted in ``already`` and not recorded twice.
    """
    report = ImportReport()
    held = imports_in_force(con)
    docs = current_lengths(con)
    segs = segment_spans(con, scheme)
    by_doc = {doc_id: frame for doc_id, frame in segs.groupby("document_id")}
    with transaction(con):
        for n, row in enumerate(spans.itertuples(index=False), start=2):
            where = f"{source}row {n}" if source else f"row {n}"
            # names from another tool's file enter here: no control characters in a coder or code
            coder, code = clean_name(row.coder), clean_name(row.code)
            doc = docs.get(str(row.document)) or docs.get(clean_name(row.document))
            if doc is None:
                report.problems.append(f"{where}: unknown document {row.document!r}")
                continue
            doc_id, length = doc
            if not coder:
                report.problems.append(f"{where}: no coder")
                continue
            start, end = int(row.start), int(row.end)
            if not 0 <= start < end <= length:
                report.problems.append(f"{where}: offsets {start}-{end} outside document {row.document!r} (0-{length})")
                continue
            if known_codes is not None and code not in known_codes:
                report.problems.append(f"{where}: unknown code {code!r}")
                continue
            targets = span_segments(by_doc.get(doc_id, segs.iloc[0:0]), start, end)
            if not targets:
                report.problems.append(f"{where}: span {start}-{end} covers no segment of {row.document!r}")
                continue
            report.spans += 1
            for seg_id in targets:
                key = (coder, seg_id, code, start, end)
                if key in held:
                    report.already += 1
                    continue
                held.add(key)
                try:
                    record(
                        con,
                        Decision(
                            coder=coder,
                            action="import",
                            segment_id=seg_id,
                            document_id=doc_id,
                            code=code,
                            start=start,
                            end=end,
                            note=source or None,
                        ),
                    )
                except DecisionError as exc:
                    report.problems.append(f"{where}: {exc}")
                    continue
                report.decisions += 1
    return report


def locate_units(con: sqlite3.Connection, units: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Turn long-format coded units into spans by finding each unit's text in its document.

    The text is found as :func:`~nlp_theming.review.locate.find_passage` finds any passage
    (exactly, normalised, or by its longest run of words). Returns (spans, problems): a unit
    whose document is unknown or whose text is not found in it is reported, not guessed.
    """
    texts = current_texts(con)
    rows, problems = [], []
    # Where the last unit was found, per document and coder: a file lists one coder's units in
    # document order and then the next coder's, who starts again at the top.
    cursor: dict[tuple[str, str], int] = {}
    for n, unit in enumerate(units.itertuples(index=False), start=2):
        text = texts.get(str(unit.document))
        if text is None:
            problems.append(f"row {n}: unknown document {unit.document!r}")
            continue
        needle = str(unit.text or "").strip()
        if not needle or not unit.codes:
            continue
        # units come in document order: search from the last match first, then anywhere
        where = (str(unit.document), str(unit.coder))
        found = find_passage(text, needle, prefer=(cursor.get(where, 0), len(text)))
        if found is None:
            problems.append(f"row {n}: text of unit {unit.unit_id!r} not found in document {unit.document!r}")
            continue
        cursor[where] = found.start
        for code in unit.codes:
            rows.append((unit.document, found.start, found.end, code, unit.coder))
    return pd.DataFrame(rows, columns=["document", "start", "end", "code", "coder"]), problems
